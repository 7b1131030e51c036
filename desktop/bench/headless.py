"""Headless figures: onnxruntime ceiling, end-to-end pipeline rate, memory over many slices.

``python -m desktop.bench.headless rss MODEL FILE_LIST SLICES [table|core]`` runs the memory
profile in a fresh process (so the other measurements do not inflate its peak) and prints
JSON; rows are kept as the results table keeps them (``table``, the default) or as the
pipeline yields them (``core``: every row with its thumbnail array).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from desktop.bench.machine import rss_mb
from desktop.core.classifier import Classifier, default_threads
from desktop.core.model_spec import INPUT_NAME, OUTPUT_CAM, OUTPUT_LOGITS, OUTPUT_OOD
from desktop.core.pipeline import Pipeline
from desktop.core.preprocess import to_batch
from desktop.core.readers import read_slices
from desktop.core.results import SliceResult

BATCH_SIZES = (1, 8, 16, 32, 64)
_OUTPUTS = [OUTPUT_LOGITS, OUTPUT_CAM, OUTPUT_OOD]


def input_tensor(clf: Classifier, files: Sequence[Path], n: int) -> np.ndarray:
    """Pre-made network inputs (the app's preprocessing) for up to ``n`` slices."""
    slices: list[np.ndarray] = [s.pixels for f in files[:n] for s in read_slices(f)][:n]
    return to_batch(slices, clf.spec.preprocessing)


def ceiling_thread_counts() -> list[int]:
    """onnxruntime thread counts the ceiling tries: one, the app's default, every core (<= 4)."""
    cores = os.cpu_count() or 1
    return sorted({1, default_threads(cores), max(1, min(4, cores))})


def ort_rate(
    clf: Classifier, x: np.ndarray, batch: int, min_images: int, min_s: float
) -> tuple[float, float]:
    """(images/s, process CPU ms per image) of ``session.run`` alone on ``batch``-sized runs."""
    reps = max(1, -(-batch // len(x)))
    pool = np.concatenate([x] * reps) if reps > 1 else x
    starts = itertools.cycle(range(0, len(pool) - batch + 1, batch))
    clf.session.run(_OUTPUTS, {INPUT_NAME: pool[:batch]})  # warm-up
    done, t0, c0 = 0, time.perf_counter(), time.process_time()
    while done < min_images or time.perf_counter() - t0 < min_s:
        i = next(starts)
        clf.session.run(_OUTPUTS, {INPUT_NAME: pool[i : i + batch]})
        done += batch
    return done / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / done


def ort_ceiling(
    clf: Classifier, x: np.ndarray, batch_sizes: Sequence[int] = BATCH_SIZES, min_s: float = 2.0
) -> dict[str, Any]:
    """The best images/s over batch sizes, and each size's rate."""
    runs = {b: ort_rate(clf, x, b, min_images=min(len(x), 4 * b), min_s=min_s) for b in batch_sizes}
    rates = {b: r for b, (r, _) in runs.items()}
    best = max(rates, key=lambda b: rates[b])
    return {
        "img_s": rates[best],
        "batch": best,
        "by_batch": {str(b): round(r, 1) for b, r in rates.items()},
        "cpu_ms_per_img": round(runs[best][1], 2),
    }


def end_to_end(pipeline: Pipeline, files: Sequence[Path]) -> dict[str, Any]:
    """Files -> rows through the real pipeline (decode, preprocess, infer, thumbnails)."""
    list(pipeline.run(files[:2]))  # warm-up (thread pool, first session run)
    t0, c0 = time.perf_counter(), time.process_time()
    rows = sum(1 for _ in pipeline.run(files))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"img_s": rows / dt, "rows": rows, "seconds": dt, "cpu_ms_per_img": 1000 * cpu / rows}


def rss_profile(
    pipeline: Pipeline,
    files: Sequence[Path],
    slices: int,
    every: int = 1000,
    keep: Callable[[SliceResult], None] | None = None,
) -> dict[str, Any]:
    """RSS every ``every`` rows over ``slices`` rows (files cycled), every row kept.

    ``keep`` receives each row (default: a list of the pipeline's rows as they come;
    the benchmark passes :class:`desktop.bench.table_rows.TableRows`, which keeps them
    as the results table does). Growth per 1000 is the least-squares slope after the
    first 1000 rows, so it includes what the kept rows hold.
    """
    kept: list[SliceResult] = []
    store = keep if keep is not None else kept.append
    samples: list[tuple[int, float]] = [(0, rss_mb()[0])]
    source = itertools.islice(itertools.cycle(files), max(1, slices))
    t0 = time.perf_counter()
    rows = 0
    for row in pipeline.run(source):
        store(row)
        rows += 1
        if rows % every == 0:
            samples.append((rows, rss_mb()[0]))
        if rows >= slices:
            break
    dt = time.perf_counter() - t0
    tail = [(n, m) for n, m in samples if n >= every]
    slope = (
        float(np.polyfit([n for n, _ in tail], [m for _, m in tail], 1)[0]) * 1000
        if len(tail) >= 2
        else float("nan")
    )
    if keep is None:
        row_bytes = sum(
            (r.thumbnail.nbytes if r.thumbnail is not None else 0)
            + (r.cam.nbytes if r.cam is not None else 0)
            for r in kept
        ) / max(1, len(kept))
    else:
        row_bytes = float(getattr(keep, "array_bytes_per_row", lambda: float("nan"))())
    return {
        "peak_rss_mb": rss_mb()[1],
        "rss_growth_mb_per_1000": slope,
        "samples": [[n, round(m, 1)] for n, m in samples],
        "rows": rows,
        "array_bytes_per_row": round(row_bytes) if np.isfinite(row_bytes) else None,
        "img_s": rows / dt,
    }


def _rss_main(argv: list[str]) -> int:
    model, listing, n = Path(argv[0]), Path(argv[1]), int(argv[2])
    how = argv[3] if len(argv) > 3 else "table"
    files = [Path(line) for line in listing.read_text(encoding="utf-8").splitlines() if line]
    pipeline = Pipeline(Classifier.load(model))
    keep: Callable[[SliceResult], None] | None = None
    if how == "table":  # rows as the results table keeps them (imports Qt)
        from desktop.bench.table_rows import TableRows

        keep = TableRows()
    out = rss_profile(pipeline, files, n, keep=keep)
    out["rows_kept_as"] = how
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "rss":
        sys.exit(_rss_main(sys.argv[2:]))
    sys.exit("usage: python -m desktop.bench.headless rss MODEL FILE_LIST SLICES [table|core]")

"""Training and inference cost of a network at several input sizes (no full training).

    OMP_NUM_THREADS=2 .venv/bin/python scripts/size_cost.py --arch efficientnet_b0 \
        --sizes 96 112 128 --steps 20 --out /tmp/size_cost.json

Per size: ``python -m training train`` for ``--steps`` steps of batch 64 (one epoch capped
with ``--steps-per-epoch``; seconds per step from the run's history, first step included,
extrapolated to a full epoch of the cached train split), then an UNTRAINED network exported
in the app's contract (``scripts/export_untrained.py``) timed with onnxruntime at batch 32
(all outputs: logits, CAM, OOD score). The load average is recorded next to the numbers;
on a shared machine, ``--threads 1`` and the CPU-second figures are the load-robust ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from desktop.core.classifier import Classifier  # noqa: E402
from training.cache import DEFAULT_CACHE_DIR, load_cache  # noqa: E402
from training.train import get_args_parser, main  # noqa: E402


def onnx_rate(
    path: Path, size: int, batch: int, threads: int, seconds: float
) -> tuple[float, float]:
    """(images per wall second, per CPU second of this process) of the exported file."""
    clf = Classifier.load(path, threads=threads)
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    clf.outputs(x)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while n < 3 * batch or time.perf_counter() - t0 < seconds:
        clf.outputs(x)
        n += batch
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def measure(args: argparse.Namespace, size: int, work: Path) -> dict[str, object]:
    load0 = os.getloadavg()[0]
    out_dir = work / f"train_{size}"
    targs = get_args_parser().parse_args(
        [
            *("--arch", args.arch, "--size", str(size), "--epochs", "1"),
            *("--steps-per-epoch", str(args.steps), "--batch-size", "64"),
            *("--threads", str(args.threads), "--cache-dir", str(args.cache_dir)),
            *("--output-dir", str(out_dir), "--quiet"),
        ]
    )
    row = main(targs)["history"][0]
    n_train = len(
        load_cache(Path(targs.manifest), Path(targs.data_root), args.cache_dir, size).indices(
            "train"
        )
    )
    steps_full = n_train // 64  # the training loop drops the last partial batch
    s_step = row["train_seconds"] / row["steps"]
    onnx_path = work / f"untrained_{size}.onnx"
    from scripts.export_untrained import main as export

    export([str(onnx_path), "--arch", args.arch, "--size", str(size)])
    img_s, img_cpu_s = onnx_rate(onnx_path, size, 32, args.threads, args.seconds)
    return {
        "size": size,
        "train_steps_measured": row["steps"],
        "train_seconds_per_step": s_step,
        "train_cpu_seconds_per_step": row["train_cpu_seconds"] / row["steps"],
        "train_img_s": 64 / s_step,
        "train_seconds_per_epoch_extrapolated": s_step * steps_full,
        "steps_per_full_epoch": steps_full,
        "onnx_img_s_batch32": img_s,
        "onnx_img_per_cpu_second_batch32": img_cpu_s,
        "threads": args.threads,
        "load_avg_1min_before": load0,
        "load_avg_1min_after": os.getloadavg()[0],
    }


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="efficientnet_b0")
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 112, 128])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=15.0, help="onnxruntime timing window")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--merge-into", type=Path, default=None, help="add as a key to this JSON")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in args.sizes:
            rows.append(measure(args, s, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    result = {"arch": args.arch, "command": " ".join(sys.argv), "rows": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    if args.merge_into is not None:
        merge(args.merge_into, f"size_cost_{args.arch}_{args.threads}thread", result)
    return 0


def merge(path: Path, key: str, value: object) -> None:
    """Add ``value`` under ``key`` to the JSON object in ``path`` (created if missing)."""
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[key] = value
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(cli())

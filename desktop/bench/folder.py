"""Figures on a real folder (issue 17 item 1): decoding, network, end to end, naive loop.

All in one run, on the folder's own files, through the app's own code:

- ``decode_cpu_ms``: :func:`desktop.core.pipeline.read_into` (the readers, thumbnail, the
  network input and the slice's std, exactly what a reader thread does) on one thread,
  process CPU ms per slice;
- ``network_cpu_ms``: ``session.run`` alone on those inputs, the least CPU per slice over a
  few batch sizes and thread counts (which ones is reported);
- ``end_to_end_cpu_ms`` / ``end_to_end_img_s``: the CLI's pipeline (``Pipeline(clf,
  batch_size=16)``) over the files;
- ``naive_img_s``: what a script writer would run with the same model file: for each file,
  Pillow decode, grey, resize to the input size, one ``session.run`` per image with default
  session options (images only: Pillow does not read DICOM or NIfTI).

Files are grouped by kind (images, DICOM, NIfTI); the images give the top-level figures and
each other kind present gets the same figures under its own name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from desktop.bench.headless import BATCH_SIZES, ceiling_thread_counts, end_to_end, ort_rate
from desktop.core.classifier import Classifier
from desktop.core.pipeline import Pipeline, _Stream, read_into
from desktop.core.preprocess import decode_target
from desktop.core.readers import FileKind, kind_of

#: the figures of issue 17 item 1 (per kind of file)
FOLDER_KEYS = (
    "decode_cpu_ms",
    "network_cpu_ms",
    "end_to_end_cpu_ms",
    "end_to_end_img_s",
    "naive_img_s",
)
#: the CLI's batch size (``desktop.cli``)
CLI_BATCH = 16


def group_by_kind(files: Sequence[Path]) -> dict[str, list[Path]]:
    """The files by kind (``image``, ``dicom``, ``nifti``), as the readers see them."""
    out: dict[str, list[Path]] = {}
    for f in files:
        with open(f, "rb") as fh:
            kind = kind_of(f, fh.read(512))
        if kind is not None:
            out.setdefault(kind.value, []).append(f)
    return out


def model_precision(model: Path) -> str:
    """``int8`` when the graph holds quantised operators, else ``fp32``."""
    import onnx

    ops = {n.op_type for n in onnx.load(str(model), load_external_data=False).graph.node}
    quant = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"}
    return "int8" if ops & quant else "fp32"


def decode(clf: Classifier, files: Sequence[Path]) -> tuple[np.ndarray, dict[str, Any]]:
    """The network inputs of every slice of ``files`` and the CPU the app's reader spent."""
    inputs: list[np.ndarray] = []
    target = decode_target(clf.spec.preprocessing)  # as the pipeline decodes
    t0, c0 = time.perf_counter(), time.process_time()
    for f in files:
        stream = _Stream(f, 1 << 30)  # room for every slice: nothing waits
        read_into(stream, clf.prepare, target)
        items, _ = stream.take(0.0)
        inputs.extend(i.net_input for i in items if hasattr(i, "net_input"))
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    n = max(1, len(inputs))
    p = clf.spec.preprocessing
    x = (
        np.stack(inputs)
        if inputs
        else np.zeros((0, p.channels, p.input_size, p.input_size), np.float32)
    )
    return x, {"slices": len(inputs), "cpu_ms": 1000 * cpu / n, "wall_ms": 1000 * wall / n}


def network(
    model: Path, x: np.ndarray, seconds: float, batch_sizes: Sequence[int] = BATCH_SIZES
) -> dict[str, Any]:
    """``session.run`` alone on ``x``: CPU ms and images/s per thread count and batch size."""
    runs: dict[str, dict[str, float]] = {}
    for t in ceiling_thread_counts():
        clf = Classifier.load(model, threads=t)
        for b in batch_sizes:
            rate, cpu = ort_rate(clf, x, b, min_images=min(len(x), 4 * b), min_s=seconds)
            runs[f"t{t}_b{b}"] = {"threads": t, "batch": b, "img_s": rate, "cpu_ms": cpu}
    least = min(runs.values(), key=lambda r: r["cpu_ms"])
    fastest = max(runs.values(), key=lambda r: r["img_s"])
    return {
        "cpu_ms": least["cpu_ms"],
        "threads": int(least["threads"]),
        "batch": int(least["batch"]),
        "best_img_s": fastest["img_s"],
        "best_img_s_at": f"threads {int(fastest['threads'])}, batch {int(fastest['batch'])}",
        "runs": {
            k: {"img_s": round(r["img_s"], 1), "cpu_ms": round(r["cpu_ms"], 2)}
            for k, r in runs.items()
        },
    }


def naive(model: Path, files: Sequence[Path], input_size: int, channels: int) -> dict[str, Any]:
    """The plain loop: Pillow decode, grey, resize, one default ``session.run`` per image."""
    import onnxruntime as ort
    from PIL import Image

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def one(f: Path) -> None:
        with Image.open(f) as im:
            g = im.convert("L").resize((input_size, input_size))
        a = np.asarray(g, dtype=np.float32) / 255.0
        x = np.repeat(((a - 0.5) / 0.5)[None, None], channels, axis=1)
        session.run(None, {name: x})

    one(files[0])  # warm-up, as end_to_end has
    t0, c0 = time.perf_counter(), time.process_time()
    for f in files:
        one(f)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"img_s": len(files) / dt, "cpu_ms": 1000 * cpu / len(files), "images": len(files)}


def kind_figures(
    model: Path, files: Sequence[Path], kind: str, seconds: float, batch_sizes: Sequence[int]
) -> dict[str, Any]:
    """The figures of one kind of file, and their details."""
    clf = Classifier.load(model)
    p = clf.spec.preprocessing
    x, dec = decode(clf, files)
    net = network(model, x, seconds, batch_sizes) if len(x) else {}
    e2e = end_to_end(Pipeline(clf, batch_size=CLI_BATCH), files)
    out: dict[str, Any] = {
        "files": len(files),
        "slices": dec["slices"],
        "decode_cpu_ms": dec["cpu_ms"],
        "network_cpu_ms": net.get("cpu_ms"),
        "end_to_end_cpu_ms": e2e["cpu_ms_per_img"],
        "end_to_end_img_s": e2e["img_s"],
        "naive_img_s": None,
        "details": {"decode": dec, "network": net, "end_to_end": e2e},
    }
    if kind == FileKind.IMAGE.value:
        nv = naive(model, files, p.input_size, p.channels)
        out["naive_img_s"] = nv["img_s"]
        out["details"]["naive"] = nv
    out.update(ratios(out))
    return out


def ratios(fig: dict[str, Any]) -> dict[str, float | None]:
    """The two goals of issue 17: end-to-end CPU over decode + network (<= 1.10), and
    end-to-end rate over the naive loop's (>= 3)."""
    d, n, e = fig.get("decode_cpu_ms"), fig.get("network_cpu_ms"), fig.get("end_to_end_cpu_ms")
    r, nv = fig.get("end_to_end_img_s"), fig.get("naive_img_s")
    return {
        "overhead_ratio": e / (d + n) if d and n and e else None,
        "speedup_vs_naive": r / nv if r and nv else None,
    }


def folder_figures(
    model: Path,
    files: Sequence[Path],
    seconds: float = 2.0,
    batch_sizes: Sequence[int] = BATCH_SIZES,
) -> dict[str, Any]:
    """Every kind's figures; the top level holds the images' (else the first kind's)."""
    groups = group_by_kind(files)
    res: dict[str, Any] = {"model_precision": model_precision(model), "kinds": {}}
    for kind, members in groups.items():
        res["kinds"][kind] = kind_figures(model, members, kind, seconds, batch_sizes)
    main = FileKind.IMAGE.value if FileKind.IMAGE.value in groups else next(iter(groups), None)
    if main is not None:
        top = res["kinds"][main]
        res.update({k: top[k] for k in (*FOLDER_KEYS, "overhead_ratio", "speedup_vs_naive")})
        res["main_kind"] = main
    return res

"""int8 and fp16 variants of an app model: speed, and accuracy against fp32 on the test split.

    .venv/bin/python scripts/quantize_eval.py models/brain_tumor_effnet_lite0.onnx \
        [--manifest training/splits/manifest.csv] [--data-root ../shared/data] \
        [--out-dir /tmp/quant] [--json OUT.json] [--limit N] [--calibration 128]

* int8: onnxruntime static quantization (QDQ, per-channel int8 weights, uint8
  activations, Conv layers only: the heads stay fp32), calibrated on slices of the
  manifest's *train* split read and preprocessed exactly as the app does
  (``desktop.core.readers`` + ``desktop.core.preprocess.to_batch``);
* fp16: ``onnxruntime.transformers.float16`` with fp32 inputs/outputs.

Each variant keeps the model's metadata, so it loads with ``Classifier.load`` and is
evaluated through ``Classifier.predict`` (the app's own path) on the rows with
``split == test`` whose label is one of the model's classes. The int8 model may ship
only if its accuracy stays within 0.3 points of fp32 (issue 6). Variants are written
to ``--out-dir`` (never into models/).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import onnx  # noqa: E402

from desktop.core.classifier import Classifier  # noqa: E402
from desktop.core.model_spec import INPUT_NAME  # noqa: E402
from desktop.core.preprocess import to_batch  # noqa: E402
from desktop.core.readers import ReadError, read_slices  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHIP_TOLERANCE_POINTS = 0.3


def manifest_rows(manifest: Path, split: str) -> list[dict[str, str]]:
    with open(manifest, newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["split"] == split]


def first_slice(path: Path) -> np.ndarray | None:
    try:
        return next(iter(read_slices(path))).pixels
    except (ReadError, StopIteration):
        return None


def copy_metadata(src: Path, dst: Path) -> None:
    """The app contract lives in metadata_props: carry it over to a variant."""
    a, b = onnx.load(str(src)), onnx.load(str(dst))
    keep = {p.key for p in b.metadata_props}
    for p in a.metadata_props:
        if p.key not in keep:
            b.metadata_props.add(key=p.key, value=p.value)
    onnx.save(b, str(dst))


def make_int8(src: Path, dst: Path, calib: np.ndarray) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter([{INPUT_NAME: calib[i : i + 16]} for i in range(0, len(calib), 16)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    pre = dst.with_name(dst.stem + ".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    quantize_static(
        str(pre),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        op_types_to_quantize=["Conv"],
    )
    pre.unlink(missing_ok=True)
    copy_metadata(src, dst)


def make_fp16(src: Path, dst: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    copy_metadata(src, dst)


def speed(clf: Classifier, x: np.ndarray, seconds: float) -> dict[str, float]:
    out = {}
    for b in (16, 32):
        xb = np.concatenate([x] * (-(-b // len(x))))[:b]
        clf.predict_batch(xb)
        n, t0 = 0, time.perf_counter()
        while n < 2 * b or time.perf_counter() - t0 < seconds:
            clf.predict_batch(xb)
            n += b
        out[str(b)] = n / (time.perf_counter() - t0)
    return out


def accuracy(clf: Classifier, slices: list[np.ndarray], labels: list[int]) -> dict[str, Any]:
    preds: list[int] = []
    for i in range(0, len(slices), 32):
        preds += [p.top for p in clf.predict(slices[i : i + 32])]
    y, p = np.asarray(labels), np.asarray(preds)
    k = len(clf.spec.class_names)
    recalls = [float((p[y == c] == c).mean()) if (y == c).any() else float("nan") for c in range(k)]
    return {
        "accuracy": float((y == p).mean()),
        "balanced_accuracy": float(np.nanmean(recalls)),
        "predictions": preds,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--manifest", type=Path, default=REPO / "training" / "splits" / "manifest.csv")
    ap.add_argument("--data-root", type=Path, default=REPO / ".." / "shared" / "data")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/brain_mri_quant"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N test rows")
    ap.add_argument("--calibration", type=int, default=128, help="train slices to calibrate on")
    ap.add_argument("--seconds", type=float, default=3.0, help="per timed speed figure")
    args = ap.parse_args(argv)
    if args.out_dir.resolve() == (REPO / "models").resolve():
        ap.error("write variants outside models/")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = Classifier.load(args.model)
    names = list(fp32.spec.class_names)
    prep = fp32.spec.preprocessing

    train = manifest_rows(args.manifest, "train")
    step = max(1, len(train) // max(1, args.calibration))
    cal = [
        s
        for r in train[::step][: args.calibration]
        if (s := first_slice(args.data_root / r["path"])) is not None
    ]
    calib = to_batch(cal, prep)

    test = [r for r in manifest_rows(args.manifest, "test") if r["label"] in names]
    if args.limit:
        test = test[: args.limit]
    slices, labels, unread = [], [], 0
    for r in test:
        s = first_slice(args.data_root / r["path"])
        if s is None:
            unread += 1
            continue
        slices.append(s)
        labels.append(names.index(r["label"]))
    print(f"test slices: {len(slices)} (unreadable {unread}); calibration slices: {len(cal)}")

    int8_path = args.out_dir / (args.model.stem + ".int8.onnx")
    fp16_path = args.out_dir / (args.model.stem + ".fp16.onnx")
    make_int8(args.model, int8_path, calib)
    make_fp16(args.model, fp16_path)

    report: dict[str, Any] = {"model": str(args.model), "test_slices": len(slices), "variants": {}}
    ref: list[int] | None = None
    for name, path in (("fp32", args.model), ("int8", int8_path), ("fp16", fp16_path)):
        clf = fp32 if name == "fp32" else Classifier.load(path)
        acc = accuracy(clf, slices, labels)
        preds = acc.pop("predictions")
        ref = preds if ref is None else ref
        acc["agreement_with_fp32"] = float(np.mean(np.asarray(preds) == np.asarray(ref)))
        acc["img_s_by_batch"] = speed(clf, calib[:32], args.seconds)
        acc["size_mb"] = path.stat().st_size / 2**20
        report["variants"][name] = acc
    base = report["variants"]["fp32"]["accuracy"]
    print(
        f"\n{'variant':<8}{'acc %':>8}{'bal acc %':>11}{'agree %':>9}"
        f"{'img/s b16':>11}{'b32':>8}{'MB':>7}"
    )
    for name, v in report["variants"].items():
        s = v["img_s_by_batch"]
        print(
            f"{name:<8}{100 * v['accuracy']:>8.2f}{100 * v['balanced_accuracy']:>11.2f}"
            f"{100 * v['agreement_with_fp32']:>9.2f}"
            f"{s['16']:>11.1f}{s['32']:>8.1f}{v['size_mb']:>7.1f}"
        )
    for name in ("int8", "fp16"):
        drop = 100 * (base - report["variants"][name]["accuracy"])
        ok = drop <= SHIP_TOLERANCE_POINTS
        report["variants"][name]["accuracy_drop_points"] = drop
        report["variants"][name]["may_ship"] = ok
        print(
            f"{name}: accuracy {-drop:+.2f} points vs fp32 -> "
            + ("may ship" if ok else "do not ship")
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

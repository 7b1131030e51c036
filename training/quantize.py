"""int8 copy of an app model (issue 17 item 3), and whether it may ship.

``python -m training quantize --model M --out M_int8.onnx [--method minmax|percentile|entropy|all]``

* static quantisation, QDQ format (onnxruntime.quantization): int8 weights per output
  channel, uint8 activations, on the ``Conv`` layers (the logits, heat-map and OOD heads
  stay float: they are a small part of the work and the OOD score compares features with
  fixed statistics);
* calibrated on ``--calibration`` slices of the manifest's *train* split, evenly spaced,
  read and preprocessed exactly as the app does (:mod:`desktop.core.inference`);
* the int8 file keeps the model's metadata (preprocessing, classes, temperature,
  thresholds), with ``provenance.model_precision = "int8"`` and ``provenance.quantization``
  (method, calibration slices, the fp32 file's sha256), and gets its ``.sha256`` beside it;
* both files are then run over the test split through the app's path
  (:mod:`training.variants`): accuracy, macro-F1, firm-call coverage and error with the
  model's own thresholds, largest probability change.

The int8 model may ship when accuracy drops by at most :data:`MAX_ACCURACY_DROP_POINTS`
and its firm-call error stays at most :data:`MAX_FIRM_ERROR` (issue 17). With
``--method all`` every method is written (``<out stem>.<method>.onnx``) and the one that
passes with the highest accuracy is copied to ``--out``. This command never writes into
``models/`` unless ``--out`` says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from training.manifest import DEFAULT_DATA_ROOT, DEFAULT_MANIFEST, DEFAULT_ONNX

if TYPE_CHECKING:
    from desktop.core.classifier import Classifier

#: most accuracy (percentage points on the test split) int8 may lose against fp32
MAX_ACCURACY_DROP_POINTS = 0.5
#: most error among the int8 model's firm (``ok``) calls on the test split
MAX_FIRM_ERROR = 0.01
#: onnxruntime's calibration methods by our names
METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
#: the graph's operators that are quantised
OP_TYPES = ("Conv",)
#: which Conv layers may stay float (:func:`float_convs`)
KEEP_FLOAT = ("none", "depthwise", "ends", "depthwise+ends")


def calibration_inputs(
    clf: Classifier, manifest: Path, data_root: Path, n: int
) -> NDArray[np.float32]:
    """N x C x S x S network inputs of ``n`` train-split slices (evenly spaced), as the app
    makes them."""
    from desktop.core.inference import prepare, prepare_batch
    from training.inputs import read_slice
    from training.variants import split_rows

    prep = clf.spec.preprocessing
    items = []
    for r in split_rows(manifest, "train", n):
        s = read_slice(r.file(data_root), prep)
        if s is not None:
            items.append(prepare(s.pixels, prep, s.colour))
    return prepare_batch(items, prep)


def float_convs(model: Path, keep: str) -> list[str]:
    """Names of the Conv nodes that stay float: ``none``; ``depthwise`` (group > 1);
    ``ends`` (the first and the last Conv); ``depthwise+ends``."""
    import onnx

    convs = [n for n in onnx.load(str(model)).graph.node if n.op_type == "Conv"]
    if keep not in KEEP_FLOAT:
        raise ValueError(f"keep_float must be one of {', '.join(KEEP_FLOAT)}")
    out: list[str] = []
    if "depthwise" in keep:
        out += [n.name for n in convs if any(a.name == "group" and a.i > 1 for a in n.attribute)]
    if "ends" in keep and convs:
        out += [convs[0].name, convs[-1].name]
    return sorted(set(out))


def _name_nodes(model: Path) -> None:
    """Give every unnamed node a name (layers are kept float by name)."""
    import onnx

    m = onnx.load(str(model))
    unnamed = [(i, n) for i, n in enumerate(m.graph.node) if not n.name]
    for i, n in unnamed:
        n.name = f"{n.op_type}_node{i}"
    if unnamed:
        onnx.save(m, str(model))


def quantize(
    src: Path,
    dst: Path,
    calib: NDArray[np.float32],
    method: str = "minmax",
    batch: int = 16,
    keep_float: str = "none",
) -> None:
    """Write the int8 (QDQ) copy of ``src`` to ``dst``, calibrated on ``calib`` (in whole
    batches of ``batch``: a remainder is left out)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from desktop.core.classifier import Classifier, file_sha256
    from desktop.core.model_spec import INPUT_NAME
    from training.onnx_io import write_spec

    # equal batches: the histogram calibrators stack them (a short last batch breaks that)
    calib = calib[: max(batch, len(calib) - len(calib) % batch)]
    batch = min(batch, len(calib))

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter(
                [{INPUT_NAME: calib[i : i + batch]} for i in range(0, len(calib), batch)]
            )

        def get_next(self) -> dict[str, NDArray[np.float32]] | None:
            return next(self.batches, None)

    dst.parent.mkdir(parents=True, exist_ok=True)
    pre = dst.with_name(dst.stem + ".pre.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # a line per rescaled weight channel otherwise
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        _name_nodes(pre)
        excluded = float_convs(pre, keep_float)
        quantize_static(
            str(pre),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            op_types_to_quantize=list(OP_TYPES),
            nodes_to_exclude=excluded,
            calibrate_method=getattr(CalibrationMethod, METHODS[method]),
            # histograms are gathered a few batches at a time (flat memory)
            extra_options={"CalibMaxIntermediateOutputs": 4},
        )
    finally:
        root.setLevel(level)
        pre.unlink(missing_ok=True)
    spec = Classifier.load(src).spec
    provenance = dict(spec.provenance)
    provenance["model_precision"] = "int8"
    provenance["quantization"] = {
        "format": "QDQ static (onnxruntime.quantization)",
        "weights": "int8 per output channel",
        "activations": "uint8",
        "op_types": list(OP_TYPES),
        "float_convs": keep_float,
        "calibration_method": METHODS[method],
        "calibration_slices": int(len(calib)),
        "calibration_split": "train",
        "fp32_file": Path(src).name,
        "fp32_sha256": file_sha256(Path(src)),
    }
    write_spec(dst, replace(spec, provenance=provenance))


def study(
    model: Path,
    out: Path,
    manifest: Path,
    data_root: Path,
    methods: list[str],
    n_calibration: int = 320,
    limit: int = 0,
    keep_float: str = "none",
) -> dict[str, Any]:
    """Quantise with each method, evaluate every file on the test split, decide."""
    from desktop.core.classifier import Classifier
    from training.onnx_io import write_sidecar
    from training.variants import compare, score, split_rows, summary

    fp32 = Classifier.load(model)
    calib = calibration_inputs(fp32, manifest, data_root, n_calibration)
    rows = split_rows(manifest, "test", limit)
    ref = score(fp32, rows, data_root)
    res: dict[str, Any] = {
        "model": Path(model).name,
        "model_sha256": fp32.sha256,
        "input_size": fp32.spec.preprocessing.input_size,
        "calibration_slices_read": int(len(calib)),
        "float_convs": keep_float,
        "rule": {
            "max_accuracy_drop_points": MAX_ACCURACY_DROP_POINTS,
            "max_firm_error": MAX_FIRM_ERROR,
        },
        "fp32": summary(ref),
        "int8": {},
    }
    for method in methods:
        path = out if len(methods) == 1 else out.with_name(f"{out.stem}.{method}.onnx")
        quantize(Path(model), path, calib, method, keep_float=keep_float)
        s = score(Classifier.load(path), rows, data_root)
        fig = summary(s)
        drop = 100 * (res["fp32"]["accuracy"] - fig["accuracy"])
        fig.update(
            {
                "file": str(path),
                "size_mb": path.stat().st_size / 2**20,
                "accuracy_drop_points": drop,
                "change": compare(ref, s),
                "may_ship": bool(
                    drop <= MAX_ACCURACY_DROP_POINTS and fig["firm_error"] <= MAX_FIRM_ERROR
                ),
            }
        )
        res["int8"][method] = fig
    passing = {m: f for m, f in res["int8"].items() if f["may_ship"]}
    best = max(passing, key=lambda m: passing[m]["accuracy"]) if passing else None
    res["chosen"] = best
    if best is not None and len(methods) > 1:
        shutil.copyfile(Path(passing[best]["file"]), out)
        write_sidecar(out)
    return res


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=DEFAULT_ONNX, help="fp32 ONNX model file")
    p.add_argument("--out", type=Path, required=True, help="the int8 file to write")
    p.add_argument("--method", default="minmax", choices=(*METHODS, "all"))
    p.add_argument(
        "--calibration", type=int, default=320, help="train slices to calibrate on (x 16)"
    )
    p.add_argument(
        "--keep-float",
        default="none",
        choices=KEEP_FLOAT,
        help="Conv layers left in float: depthwise (group > 1), ends (first and last)",
    )
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--limit", type=int, default=0, help="at most N test rows, evenly spaced")
    p.add_argument("--json", type=Path, help="write the full result here")


def run(args: argparse.Namespace) -> int:
    if Path(args.out).resolve() == Path(args.model).resolve():
        raise SystemExit("--out must not be the fp32 model itself")
    methods = list(METHODS) if args.method == "all" else [args.method]
    res = study(
        args.model,
        args.out,
        args.manifest,
        args.data_root,
        methods,
        args.calibration,
        args.limit,
        args.keep_float,
    )
    if args.json:
        args.json.write_text(json.dumps(res, indent=2), encoding="utf-8")
    f = res["fp32"]
    print(
        f"{res['model']} ({res['input_size']} px), test split {f['n']} rows "
        f"({f['n_labelled']} labelled), calibrated on {res['calibration_slices_read']} train "
        "slices (whole batches of 16)\n"
        f"{'':<12}{'acc %':>8}{'macro-F1':>10}{'firm cov %':>12}{'firm err %':>12}"
        f"{'max dp':>8}{'top chg':>9}"
    )
    print(
        f"{'fp32':<12}{100 * f['accuracy']:>8.2f}{f['macro_f1']:>10.4f}"
        f"{100 * f['firm_coverage']:>12.2f}{100 * f['firm_error']:>12.2f}"
    )
    for m, g in res["int8"].items():
        c = g["change"]
        print(
            f"{'int8 ' + m:<12}{100 * g['accuracy']:>8.2f}{g['macro_f1']:>10.4f}"
            f"{100 * g['firm_coverage']:>12.2f}{100 * g['firm_error']:>12.2f}"
            f"{c['max_abs_prob_change']:>8.3f}{c['top_class_changed']:>9d}"
            f"  {'may ship' if g['may_ship'] else 'do not ship'}"
        )
    print(f"chosen: {res['chosen'] or 'none (keep fp32)'}")
    return 0

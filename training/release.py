"""Commands of the back half: calibrate, export, evaluate, report, and release (all four).

Argument definitions only import light modules, so ``python -m training --help`` stays
fast; each runner imports torch/onnx when it runs. Registered in ``training.__main__``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from training.manifest import DEFAULT_DATA_ROOT, DEFAULT_MANIFEST

DEFAULT_ONNX = Path("models/brain_tumor_effnet_b0.onnx")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="split manifest CSV (default: the checkpoint's training manifest, else "
        "training/splits/manifest.csv)",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder of the sources' images (default: the checkpoint's, else ../shared/data)",
    )


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill unset --manifest/--data-root/--cache from the checkpoint's training arguments."""
    train_args: dict[str, Any] = {}
    if getattr(args, "checkpoint", None) is not None:
        import torch

        ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        a = ckpt.get("args") or {}
        train_args = a if isinstance(a, dict) else vars(a)
    fill = {
        "manifest": ("manifest", DEFAULT_MANIFEST),
        "data_root": ("data_root", DEFAULT_DATA_ROOT),
        "cache": ("cache_dir", None),
    }
    for attr, (key, default) in fill.items():
        if hasattr(args, attr) and getattr(args, attr) is None:
            value = train_args.get(key)
            path = Path(value) if value else default
            if attr == "cache" and (path is None or not Path(path).is_dir()):
                path = None
            setattr(args, attr, path)
    return args


def _calibration_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="decode cache folder (training.cache): training features are read from it "
        "(faster); validation images are always decoded through the app's own path",
    )
    p.add_argument(
        "--max-error",
        type=float,
        default=0.01,
        help="error rate allowed among accepted calls; sets the 'uncertain' threshold",
    )
    p.add_argument(
        "--ood-percentile",
        type=float,
        default=99.5,
        help="percentile of validation OOD scores used as the 'unsupported' threshold",
    )
    p.add_argument(
        "--max-train",
        type=int,
        default=3000,
        help="training images used for the OOD class means and covariance",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)


def add_calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="training checkpoint (.pt)")
    _common(p)
    _calibration_args(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="calibration file (default <checkpoint>.calibration.pt; .json beside)",
    )


def run_calibrate(args: argparse.Namespace) -> int:
    resolve(args)
    from training.calibrate import calibrate

    s = calibrate(args)
    keys = (
        "temperature",
        "val_ece_before",
        "val_ece_after",
        "uncertain",
        "ood_threshold",
        "probes_all_unsupported",
    )
    print(json.dumps({k: s[k] for k in keys}, indent=2))
    for name, p in s["probes"].items():
        print(f"  probe {name:34s} ood={p['score']:12.3f} unsupported={p['unsupported']}")
    return 0


def add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="training checkpoint (.pt)")
    p.add_argument("--out", type=Path, default=DEFAULT_ONNX, help="ONNX file to write")
    p.add_argument(
        "--calibration",
        type=Path,
        default=None,
        help="output of 'calibrate' (default <checkpoint>.calibration.pt if present)",
    )
    _common(p)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument(
        "--blank-std",
        type=float,
        default=0.01,
        help="image std (0-1 units) below which a slice is blank",
    )


def run_export(args: argparse.Namespace) -> int:
    resolve(args)
    from training.export import default_calibration, export_checkpoint

    cal = args.calibration or default_calibration(args.checkpoint)
    if cal is None:
        print("warning: no calibration file; exporting with T=1 and no OOD threshold")
    s = export_checkpoint(
        args.checkpoint, args.out, cal, args.manifest, args.data_root, args.opset, args.blank_std
    )
    print(json.dumps({k: s[k] for k in ("onnx", "sha256", "parity", "calibrated")}, indent=2))
    return 0


def add_evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=DEFAULT_ONNX, help="exported ONNX file")
    _common(p)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("models"),
        help="folder for report.json (and figures/ with --figures)",
    )
    p.add_argument("--name", default=None, help="run name in comparison tables")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws for the intervals")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--figures", action="store_true", help="also write figures + MODEL_CARD.md")


def run_evaluate(args: argparse.Namespace) -> int:
    resolve(args)
    from training.evaluate import evaluate_model

    rep = evaluate_model(
        args.model,
        args.manifest,
        args.data_root,
        args.n_boot,
        batch_size=args.batch_size,
        name=args.name,
    )
    path = write_report(rep, args.out)
    if args.figures:
        write_card(rep, [rep], args.out)
    _print_headline(rep, path)
    return 0


def add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runs",
        type=Path,
        nargs="+",
        required=True,
        help="report.json files; the first is the bundled model, all go in the "
        "comparison table (e.g. models/report.json runs/baseline/report.json ...)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("models"), help="folder for MODEL_CARD.md and figures/"
    )


def run_report(args: argparse.Namespace) -> int:
    runs = [json.loads(Path(r).read_text()) for r in args.runs]
    card = write_card(runs[0], runs, args.out)
    print(f"wrote {card} and {args.out / 'figures'}")
    return 0


def add_release_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="training checkpoint (.pt)")
    _common(p)
    _calibration_args(p)
    p.add_argument("--out", type=Path, default=Path("models"), help="output folder")
    p.add_argument("--onnx-name", default=DEFAULT_ONNX.name)
    p.add_argument("--name", default=None, help="run name in comparison tables")
    p.add_argument(
        "--compare",
        type=Path,
        nargs="*",
        default=[],
        help="report.json of other runs for the comparison table",
    )
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--blank-std", type=float, default=0.01)


def run_release(args: argparse.Namespace) -> int:
    """calibrate -> export -> evaluate -> metrics into the metadata -> figures + card."""
    resolve(args)
    from training.calibrate import calibrate
    from training.export import export_checkpoint
    from training.onnx_io import read_spec, write_sidecar, write_spec

    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / args.onnx_name
    cal_path = Path(args.checkpoint).with_suffix(".calibration.pt")  # beside it, not in git
    cal_args = argparse.Namespace(**{**vars(args), "out": cal_path})
    run_calibrate_summary = calibrate(cal_args)
    print(f"[{time.time() - t0:5.0f}s] calibrated: T={run_calibrate_summary['temperature']:.3f}")
    ex = export_checkpoint(
        args.checkpoint,
        onnx_path,
        cal_path,
        args.manifest,
        args.data_root,
        blank_std=args.blank_std,
        strict=False,
    )
    if not ex["parity"]["ok"]:
        print(f"WARNING: ONNX/PyTorch parity failed: {ex['parity']} (recorded in report.json)")
    print(f"[{time.time() - t0:5.0f}s] exported {onnx_path}; parity {ex['parity']}")
    from training.evaluate import evaluate_model

    rep = evaluate_model(onnx_path, args.manifest, args.data_root, args.n_boot, name=args.name)
    spec = read_spec(onnx_path)
    spec.provenance["test_metrics"] = headline(rep)
    write_spec(onnx_path, spec)  # metrics into the metadata; the graph is unchanged
    # the app refuses a model whose sidecar hash differs (a damaged or swapped file)
    rep["model"]["sha256"] = write_sidecar(onnx_path)
    rep["export_parity"] = ex["parity"]
    path = write_report(rep, args.out)
    others = [json.loads(Path(r).read_text()) for r in args.compare]
    write_card(rep, [rep, *others], args.out)
    _print_headline(rep, path)
    print(f"[{time.time() - t0:5.0f}s] done: {onnx_path}, {path}, {args.out / 'MODEL_CARD.md'}")
    return 0


def headline(rep: dict[str, Any]) -> dict[str, Any]:
    """The few numbers that go into the ONNX metadata and the console."""
    m = rep["test"]["metrics"]
    keys = ("accuracy", "macro_f1", "tumour_called_no_tumor", "no_tumor_called_tumour")
    out: dict[str, Any] = {k: {"value": m[k]["value"], "ci95": m[k]["ci95"]} for k in keys}
    out.update(
        n_test=rep["test"]["n"],
        ece_calibrated=rep["test"].get("ece_calibrated"),
        coverage=rep["test"].get("uncertain", {}).get("coverage"),
        all_probes_unsupported=rep["all_probes_unsupported"],
        manifest_sha256=rep["manifest"]["sha256"],
    )
    return out


def write_report(rep: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    path.write_text(json.dumps(rep, indent=1, sort_keys=False, allow_nan=True) + "\n")
    return path


#: in MODEL_CARD.md, everything after this line is written by people (training notes,
#: studies) and survives regeneration of the card by ``release`` and ``report``
HAND_WRITTEN = "<!-- written by hand below this line: kept when the card is regenerated -->"


def write_card(rep: dict[str, Any], runs: list[dict[str, Any]], out: Path) -> Path:
    from training.card import model_card
    from training.figures import write_figures

    write_figures(rep, out / "figures")
    card = out / "MODEL_CARD.md"
    text = model_card(rep, runs)
    old = card.read_text(encoding="utf-8") if card.is_file() else ""
    if HAND_WRITTEN in old:
        kept = old.split(HAND_WRITTEN, 1)[1].lstrip("\n")
        text = f"{text.rstrip()}\n\n{HAND_WRITTEN}\n{kept}"
    card.write_text(text, encoding="utf-8")
    return card


def _print_headline(rep: dict[str, Any], path: Path) -> None:
    print(json.dumps(headline(rep), indent=1))
    if not rep["manifest"]["same_as_training"]:
        print("WARNING: evaluated on a manifest other than the one the model was trained with")
    bad = [n for n, v in rep["ood_probes"].items() if not v["unsupported"]]
    print(f"probes not unsupported: {bad or 'none'}; evaluation {rep['seconds']}s; wrote {path}")


COMMANDS = {
    "calibrate": (
        "fit temperature, 'uncertain' threshold and OOD score on a checkpoint",
        add_calibrate_args,
        run_calibrate,
    ),
    "export": (
        "export a checkpoint to ONNX (contract + metadata), checker and parity",
        add_export_args,
        run_export,
    ),
    "evaluate": (
        "evaluate an exported ONNX on the test split through the app's path",
        add_evaluate_args,
        run_evaluate,
    ),
    "report": (
        "figures + MODEL_CARD.md from one or more report.json files",
        add_report_args,
        run_report,
    ),
    "release": (
        "calibrate -> export -> evaluate -> report in one go",
        add_release_args,
        run_release,
    ),
}

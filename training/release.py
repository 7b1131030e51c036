"""``release``: calibrate -> export -> evaluate -> metrics into the metadata -> figures +
model card, and the report/card writers the ``evaluate`` and ``report`` commands share.
The command line is in :mod:`training.cli`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from training.calibrate import calibrate
from training.card import model_card
from training.case_eval import fit_and_measure
from training.evaluate import evaluate_model
from training.export import export_checkpoint
from training.figures import write_figures
from training.manifest import read_manifest
from training.onnx_io import read_spec, write_sidecar, write_spec


def release(args: argparse.Namespace) -> Path:
    """calibrate -> export -> evaluate -> metrics into the metadata -> figures + card.

    ``args``: the ``release`` command's arguments, paths already resolved; returns the
    report's path.
    """
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

    rep = evaluate_model(onnx_path, args.manifest, args.data_root, args.n_boot, name=args.name)
    spec = read_spec(onnx_path)
    if any(r.case for r in read_manifest(args.manifest)):  # volume sources: the case rule
        spec, rep["cases"] = fit_and_measure(onnx_path, args.manifest, args.data_root, spec)
        print(f"[{time.time() - t0:5.0f}s] case rule {rep['cases']['rule']}")
    spec.provenance["test_metrics"] = headline(rep)
    write_spec(onnx_path, spec)  # metrics and case rule into the metadata; graph unchanged
    # the app refuses a model whose sidecar hash differs (a damaged or swapped file)
    rep["model"]["sha256"] = write_sidecar(onnx_path)
    rep["export_parity"] = ex["parity"]
    path = write_report(rep, args.out)
    others = [json.loads(Path(r).read_text()) for r in args.compare]
    write_card(rep, [rep, *others], args.out)
    print_headline(rep, path)
    print(f"[{time.time() - t0:5.0f}s] done: {onnx_path}, {path}, {args.out / 'MODEL_CARD.md'}")
    return path


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
    if rep.get("cases"):
        t = rep["cases"]["test"]
        out["cases"] = {
            k: t[k] for k in ("sensitivity", "specificity", "tumour_cases", "tumour_free_cases")
        }
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

    write_figures(rep, out / "figures")
    card = out / "MODEL_CARD.md"
    text = model_card(rep, runs)
    old = card.read_text(encoding="utf-8") if card.is_file() else ""
    if HAND_WRITTEN in old:
        kept = old.split(HAND_WRITTEN, 1)[1].lstrip("\n")
        text = f"{text.rstrip()}\n\n{HAND_WRITTEN}\n{kept}"
    card.write_text(text, encoding="utf-8")
    return card


def print_headline(rep: dict[str, Any], path: Path) -> None:
    print(json.dumps(headline(rep), indent=1))
    if not rep["manifest"]["same_as_training"]:
        print("WARNING: evaluated on a manifest other than the one the model was trained with")
    bad = [n for n, v in rep["ood_probes"].items() if not v["unsupported"]]
    print(f"probes not unsupported: {bad or 'none'}; evaluation {rep['seconds']}s; wrote {path}")

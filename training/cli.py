"""``python -m training <command>``: every subcommand of the training package.

Commands live in :data:`COMMANDS` (name -> (help, add_arguments, run)). Argument
definitions import only light modules, so ``python -m training --help`` stays fast; each
runner imports torch/onnx when it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from training.manifest import DEFAULT_DATA_ROOT, DEFAULT_MANIFEST, DEFAULT_ONNX, read_manifest
from training.train import add_logits_args, add_train_args, run_predict_logits, run_train

if TYPE_CHECKING:
    from training.dedup import Clusters, Fingerprints, Pairs

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help="folder whose sub-folders are sources (default ../shared/data)",
    )


def _dedup_args(p: argparse.ArgumentParser) -> None:
    from training.dedup import (
        DEFAULT_MAX_CLUSTER,
        DEFAULT_SIZE,
        DEFAULT_SOFT_MAX_CLUSTER,
        DEFAULT_SOFT_THRESHOLD,
        DEFAULT_THRESHOLD,
    )

    _data_args(p)
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"near-duplicate similarity threshold (default {DEFAULT_THRESHOLD})",
    )
    p.add_argument(
        "--soft",
        type=float,
        default=DEFAULT_SOFT_THRESHOLD,
        help="pairs in [soft, threshold) join clusters unless labels contradict or the "
        f"cluster would exceed --soft-max-cluster (default {DEFAULT_SOFT_THRESHOLD})",
    )
    p.add_argument("--soft-max-cluster", type=int, default=DEFAULT_SOFT_MAX_CLUSTER)
    p.add_argument(
        "--loose",
        type=float,
        default=None,
        help="extra, looser threshold reported in the leakage audit (default soft-0.02)",
    )
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="fingerprint size in pixels")
    p.add_argument(
        "--max-cluster",
        type=int,
        default=DEFAULT_MAX_CLUSTER,
        help=f"refuse merges beyond this cluster size (default {DEFAULT_MAX_CLUSTER})",
    )


def _split_args(p: argparse.ArgumentParser) -> None:
    _dedup_args(p)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("training/splits"),
        help="output folder for manifest.csv and audit.json",
    )
    p.add_argument("--seed", type=int, default=0)


def _index(args: argparse.Namespace) -> int:
    from training.data import count_by, default_roots, index_roots

    records = index_roots(default_roots(args.data_root))
    print(json.dumps(count_by(records, "source", "subset", "label"), indent=1))
    print(f"{len(records)} images")
    return 0


def _fingerprint_and_pair(args: argparse.Namespace) -> tuple[Fingerprints, Pairs, float]:
    from training.data import default_roots, index_roots
    from training.dedup import compute_fingerprints, similar_pairs

    records = index_roots(default_roots(args.data_root))
    with tqdm(total=len(records), desc="decode", unit="img") as bar:
        fps = compute_fingerprints(records, size=args.size, progress=bar.update)
    loose = args.loose if args.loose is not None else args.soft - 0.02
    floor = min(loose, args.soft, args.threshold)
    with tqdm(total=len(fps.records), desc="compare", unit="img") as bar:
        pairs = similar_pairs(fps.thumbs, floor=floor, progress=bar.update)
    return fps, pairs, loose


def _clusters(args: argparse.Namespace, fps: Fingerprints, pairs: Pairs) -> tuple[Clusters, ...]:
    """(hard clusters at --threshold, after the guarded soft merges)."""
    from training.dedup import cluster, soft_merge

    hard = cluster(len(fps.records), pairs, args.threshold, fps.content_hash, args.max_cluster)
    labels = [r.label for r in fps.records]
    soft = soft_merge(hard, pairs, args.soft, args.threshold, labels, args.soft_max_cluster)
    return hard, soft


def _dedup(args: argparse.Namespace) -> int:
    from training.dedup import size_histogram

    fps, pairs, _ = _fingerprint_and_pair(args)
    hard, soft = _clusters(args, fps, pairs)
    for name, cl in (("threshold", hard), ("soft merges", soft)):
        print(
            f"{name}: {max(cl.ids, default=-1) + 1} clusters, {cl.refused} pairs refused, "
            f"sizes {size_histogram(cl.ids)}"
        )
    return 0


def _split(args: argparse.Namespace) -> int:
    """The honest split (training.yardstick): the held-back sets' protocol."""
    from desktop.core.classifier import file_sha256
    from training.data import default_roots, index_roots
    from training.split import write_manifest
    from training.yardstick import audit, honest_split

    records = index_roots(default_roots(args.data_root))
    with tqdm(total=len(records), desc="decode", unit="img") as bar:
        result = honest_split(records, seed=args.seed, progress=bar.update)
    sha = [file_sha256(r.path) for r in tqdm(result.records, desc="sha256", unit="img")]
    args.out.mkdir(parents=True, exist_ok=True)
    write_manifest(
        args.out / "manifest.csv",
        result.records,
        result.clusters,
        result.splits,
        sha,
        result.content_hash,
        result.conflicts,
    )
    report = {"seed": args.seed} | audit(result)
    (args.out / "audit.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    dropped = report["dropped_from_train_near_heldout"]
    print(
        f"{report['images']} images, {report['clusters']} clusters; {dropped['count']} train "
        f"slices dropped (>= 0.95 to a held-out slice)"
    )
    print(f"wrote {args.out / 'manifest.csv'} and {args.out / 'audit.json'}")
    return 0


def _split_clusters(args: argparse.Namespace) -> int:
    """The earlier split (soft-merged 32 px clusters, 70/15/15 by cluster); kept for studies."""
    from desktop.core.classifier import file_sha256
    from training.split import assign_splits, build_audit, write_manifest

    fps, pairs, loose = _fingerprint_and_pair(args)
    hard, soft = _clusters(args, fps, pairs)
    ids = soft.ids
    splits, conflicts = assign_splits(fps.records, ids, seed=args.seed)
    sha = [file_sha256(r.path) for r in tqdm(fps.records, desc="sha256", unit="img")]
    args.out.mkdir(parents=True, exist_ok=True)
    write_manifest(
        args.out / "manifest.csv", fps.records, ids, splits, sha, fps.content_hash, conflicts
    )
    settings = {
        "threshold": args.threshold,
        "soft_threshold": args.soft,
        "loose_threshold": loose,
        "max_cluster": args.max_cluster,
        "soft_max_cluster": args.soft_max_cluster,
        "fingerprint_size": args.size,
        "seed": args.seed,
        "pairs_refused_by_size_cap": hard.refused,
        "soft_pairs_refused": soft.refused,
        "clusters_at_threshold": max(hard.ids, default=-1) + 1,
    }
    thresholds = sorted({args.threshold, args.soft, loose}, reverse=True)
    audit = settings | build_audit(
        fps.records, ids, splits, conflicts, pairs, thresholds, fps.dropped
    )
    (args.out / "audit.json").write_text(json.dumps(audit, indent=1) + "\n", encoding="utf-8")
    print(f"{len(fps.records)} images, {audit['clusters']} clusters, {len(conflicts)} conflicting")
    print(f"leakage: {json.dumps(audit['leakage'])}")
    print(f"wrote {args.out / 'manifest.csv'} and {args.out / 'audit.json'}")
    return 0


def _verify_args(p: argparse.ArgumentParser) -> None:
    _data_args(p)
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)


def _verify(args: argparse.Namespace) -> int:
    from training.split import verify_files

    rows = read_manifest(args.manifest)
    with tqdm(total=len(rows), desc="sha256", unit="img") as bar:
        bad = verify_files(rows, args.data_root, progress=bar.update)
    for m in bad:
        print(f"{m.reason}: {m.rel_path}")
    print(f"{len(rows) - len(bad)}/{len(rows)} files match the manifest")
    return 1 if bad else 0


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
    from training import release as release_mod
    from training.evaluate import evaluate_model

    rep = evaluate_model(
        args.model,
        args.manifest,
        args.data_root,
        args.n_boot,
        batch_size=args.batch_size,
        name=args.name,
    )
    path = release_mod.write_report(rep, args.out)
    if args.figures:
        release_mod.write_card(rep, [rep], args.out)
    release_mod.print_headline(rep, path)
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
    from training import release as release_mod

    runs = [json.loads(Path(r).read_text()) for r in args.runs]
    card = release_mod.write_card(runs[0], runs, args.out)
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
    from training.release import release

    release(args)
    return 0


def _study(module: str, attr: str) -> Callable[[Any], Any]:
    """``training.<module>.<attr>``, imported when called (the modules keep their top light)."""

    def call(arg: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"training.{module}"), attr)(arg)

    return call


COMMANDS: dict[str, Command] = {
    "index": ("count the labelled images under --data-root", _data_args, _index),
    "dedup": ("find near-duplicate clusters and print their sizes", _dedup_args, _dedup),
    "split": (
        "the honest split (held-back protocol; volume sources by patient): manifest + audit",
        _split_args,
        _split,
    ),
    "split-clusters": (
        "the earlier split (soft-merged clusters, 70/15/15): manifest + audit (studies)",
        _split_args,
        _split_clusters,
    ),
    "verify": ("check the files still match the manifest's sha256", _verify_args, _verify),
    "train": ("train a network on the cached manifest", add_train_args, run_train),
    "predict-logits": (
        "teacher logits over the whole cache (for --kd-teacher)",
        add_logits_args,
        run_predict_logits,
    ),
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
    ),  # fmt: skip
    "release": (
        "calibrate -> export -> evaluate -> report in one go",
        add_release_args,
        run_release,
    ),  # fmt: skip
    "draft-parity": (
        "probabilities and accuracy with large JPEGs decoded whole vs at reduced size (issue 17)",
        _study("draft_parity", "add_args"),
        _study("draft_parity", "run"),
    ),
    "quantize": (
        "int8 (static QDQ) copy of a model, evaluated against it on the test split (issue 17)",
        _study("quantize", "add_args"),
        _study("quantize", "run"),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    return COMMANDS[args.command][2](args)

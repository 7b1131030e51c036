"""``python -m training <command>``: the training package's command line.

Commands live in :data:`COMMANDS` (name -> (help, add_arguments, run)); another module
adds one by inserting an entry, e.g. ``COMMANDS["train"] = (help, add_args, main)``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

if TYPE_CHECKING:
    from training.dedup import Clusters, Fingerprints, Pairs

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-root",
        type=Path,
        default=Path("../shared/data"),
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
    from training.data import default_roots, file_sha256, index_roots
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
    from training.data import file_sha256
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
    p.add_argument("--manifest", type=Path, default=Path("training/splits/manifest.csv"))


def _verify(args: argparse.Namespace) -> int:
    from training.split import load_manifest, verify_files

    rows = load_manifest(args.manifest, args.data_root)
    with tqdm(total=len(rows), desc="sha256", unit="img") as bar:
        bad = verify_files(rows, progress=bar.update)
    for m in bad:
        print(f"{m.reason}: {m.rel_path}")
    print(f"{len(rows) - len(bad)}/{len(rows)} files match the manifest")
    return 1 if bad else 0


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
    # "train", "calibrate", "export", "evaluate": added by their modules
}

from training.train import add_logits_args, add_train_args, run_predict_logits, run_train  # noqa: E402

COMMANDS["train"] = ("train a network on the cached manifest", add_train_args, run_train)
COMMANDS["predict-logits"] = (
    "teacher logits over the whole cache (for --kd-teacher)",
    add_logits_args,
    run_predict_logits,
)

from training.release import COMMANDS as BACK_COMMANDS  # noqa: E402

COMMANDS.update(BACK_COMMANDS)  # calibrate, export, evaluate, report, release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())

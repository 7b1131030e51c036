"""Provenance of an exported model: code version, date, training runs, data, calibration.

Written into the ONNX metadata (``ModelSpec.provenance``) and read back by the model
card's Reproduce section (:mod:`training.reproduce`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

from desktop.core.classifier import file_sha256
from training.manifest import REPO_ROOT, counts, read_manifest


def git_version() -> str:
    try:
        run = subprocess.run
        head = run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
        dirty = run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "") or "unknown"


def provenance(
    manifest: Path | None, ckpt: dict[str, Any], calibration: dict[str, Any] | None
) -> dict[str, Any]:
    """Training data summary, manifest hash, calibration summary, code version, date."""
    out: dict[str, Any] = {
        "code_version": git_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "epoch": ckpt.get("epoch"),
        "training_args": _plain(ckpt.get("args")),
        # earlier stages of a model trained in several runs (``--init`` a checkpoint)
        "earlier_stages": [
            {**s, "args": _plain(s.get("args")), **_stage_inputs(s.get("args"))}
            for s in _chain_of(ckpt)
        ],
        # the last stage's distillation teacher and manifest (for the card's commands)
        **_stage_inputs(ckpt.get("args")),
        "intended_use": "research only, not for diagnosis",
    }
    if ckpt.get("pretrained"):  # ImageNet weights from a package: name, version, sha256
        out["pretrained"] = dict(ckpt["pretrained"])
    if manifest is not None and Path(manifest).is_file():
        rows = read_manifest(Path(manifest))
        out["manifest"] = {"file": Path(manifest).name, "sha256": file_sha256(Path(manifest))}
        out["training_data"] = {
            "images_by_split": counts(rows, "split"),
            "train_by_source_label": counts(
                [r for r in rows if r.split == "train"], "source", "label"
            ),
            "patients_by_split_source": {k: len(v) for k, v in sorted(_patients(rows).items())},
        }
    if calibration is not None:
        s = calibration.get("summary", {})
        out["calibration"] = {
            k: s[k]
            for k in (
                "temperature",
                "val_ece_before",
                "val_ece_after",
                "uncertain",
                "ood_threshold",
                "ood_rule",
                "uncertain_rule",
            )
            if k in s
        }
    return out


def _patients(rows: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in rows:
        if r.case:
            out.setdefault(f"{r.split}/{r.source}", set()).add(r.case)
    return out


def _stage_inputs(args: Any) -> dict[str, Any]:
    """What a training run read besides its ``--init``: the manifest's sha256 and, for
    knowledge distillation, the teacher run whose ``predict-logits`` output it used
    (found as ``best.pth`` beside the logits file, while that exists)."""
    d = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    out = _manifest_sha(d)
    logits = d.get("kd_teacher")
    if logits:
        out["teacher"] = _teacher(Path(logits))
    return out


def _manifest_sha(args: dict[str, Any]) -> dict[str, Any]:
    """``{"manifest_sha256": ...}`` of a run's manifest while the file exists, else ``{}``."""
    manifest = args.get("manifest")
    if manifest and Path(manifest).is_file():
        return {"manifest_sha256": file_sha256(Path(manifest))}
    return {}


def _teacher(logits: Path) -> dict[str, Any]:
    """The run(s) behind a teacher logits file: ``LOGITS.json`` (written by
    ``predict-logits``) names the checkpoints; older files: ``best.pth`` beside them."""
    import torch

    teacher: dict[str, Any] = {"logits": str(logits)}
    try:
        record = json.loads(logits.with_suffix(".json").read_text())
        paths = [Path(c) for c in record["checkpoints"]]
        teacher["combine"] = record.get("combine")
    except (OSError, ValueError, KeyError, TypeError):
        paths = [logits.with_name("best.pth")]
    members = []
    for ckpt in paths:
        if ckpt.is_file():
            t = torch.load(ckpt, map_location="cpu", weights_only=False)
            member = {
                "checkpoint": str(ckpt),
                "args": _plain(t.get("args")),
                "epoch": t.get("epoch"),
            }
            members.append({**member, **_manifest_sha(member["args"])})
    if members:
        teacher["members"] = members
    return teacher


def _chain_of(ckpt: dict[str, Any]) -> list[dict[str, Any]]:
    """The earlier stages of a checkpoint: read again from its ``--init`` file while that
    exists (complete even for checkpoints saved before chains were recorded), else the
    chain recorded at training time."""
    from training.train import warm_start_chain

    args = ckpt.get("args") or {}
    d = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    init = d.get("init")
    if init and Path(init).is_file():
        return warm_start_chain(init)
    return list(ckpt.get("init_chain") or [])


def _plain(args: Any) -> dict[str, Any]:
    """Training arguments as JSON-safe values (paths and the like as strings)."""
    d = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    ok = (str, int, float, bool, type(None))
    return {str(k): v if isinstance(v, ok) else str(v) for k, v in sorted(d.items())}

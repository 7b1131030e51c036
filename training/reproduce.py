"""The model card's Reproduce section: the commands that trained a released model.

Reads the provenance recorded in the ONNX metadata (:mod:`training.provenance`) and the
training command's own argument parser, so the commands are what ``train`` accepts.
"""

from __future__ import annotations

import argparse
from typing import Any

from desktop.core.classifier import file_sha256
from training.manifest import DEFAULT_MANIFEST
from training.train import get_args_parser

#: the split manifest as committed, written so in the card's commands
COMMITTED_MANIFEST = "training/splits/manifest.csv"


def committed_manifest_sha256() -> str | None:
    return file_sha256(DEFAULT_MANIFEST) if DEFAULT_MANIFEST.is_file() else None


def train_command(args: dict[str, Any] | None) -> str:
    """``python -m training train`` with the arguments of a run that differ from the defaults.

    Paths to machine-local files (cache, output, checkpoints, teacher logits) are kept as
    they were: they say what was used, and are placeholders on another machine.
    """
    if not args:
        return "python -m training train ...        # (arguments not recorded)"
    parts = ["python -m training train"]
    for action in get_args_parser()._actions:
        k = action.dest
        if k not in args or k == "help":
            continue
        v, flag = args[k], action.option_strings[0] if action.option_strings else ""
        if isinstance(action, argparse.BooleanOptionalAction):
            if v != action.default:
                parts.append(flag if v else f"--no-{flag[2:]}")
        elif action.nargs == 0:  # store_true
            if v:
                parts.append(flag)
        elif v is not None and str(v) != str(action.default):
            parts.append(f"{flag} {v}")
    return " ".join(parts)


def train_commands(mdl: dict[str, Any], manifest_sha256: str | None = None) -> str:
    """One training command per stage, oldest first (a model trained in several runs),
    each distillation teacher's own commands before the first stage that used it.

    A manifest whose sha256 is the committed one's is written as its path in the
    repository (it was a copy of it on the training machine).
    """
    final = {k: mdl.get(k) for k in ("teacher", "manifest_sha256")}
    stages = [
        *reversed(mdl.get("earlier_stages") or []),
        {"args": mdl.get("training_args"), **final},
    ]
    lines: list[str] = []
    teachers_done: set[str] = set()

    def portable(st: dict[str, Any]) -> dict[str, Any] | None:
        args = st.get("args")
        if args and manifest_sha256 and st.get("manifest_sha256") == manifest_sha256:
            return {**args, "manifest": COMMITTED_MANIFEST}
        return args

    for i, st in enumerate(stages, 1):
        t = st.get("teacher") or {}
        if t and str(t.get("logits")) not in teachers_done:
            teachers_done.add(str(t.get("logits")))
            members = t.get("members") or []
            kind = "an ensemble, mean of logits" if len(members) > 1 else "one network"
            lines.append(f"# distillation teacher ({kind}): {t['logits']}")
            for m in members:
                lines.append(train_command(portable(m)))
            if members:
                ckpts = " ".join(m["checkpoint"] for m in members)
                lines.append(
                    f"python -m training predict-logits --checkpoint {ckpts} --out {t['logits']}"
                )
            else:
                lines.append("# (the teacher's run was not on this machine at release)")
        head = f"# stage {i} of {len(stages)}\n" if len(stages) > 1 else ""
        lines.append(head + train_command(portable(st)))
    return "\n".join(lines)

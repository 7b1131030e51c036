"""The ``calibrate`` command: temperature, the ``uncertain`` threshold and the OOD scorer
of a checkpoint, fitted on the validation split (maths in :mod:`training.calibration`).

Network outputs come from a temporary ONNX export loaded by the app's
:class:`~desktop.core.classifier.Classifier` (about 3x eager PyTorch on 2 cores), on
inputs made by the app's own path; the probes' statuses come from the app's rule,
:func:`desktop.core.decide.decide`, with the thresholds just fitted.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm import tqdm

from desktop.core.decide import decide
from desktop.core.inference import prepare
from desktop.core.model_spec import CLASS_NAMES, OUTPUT_LOGITS, Preprocessing, Thresholds
from desktop.core.preprocess import normalise
from training.cache import load_cache
from training.calibration import (
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    nll,
    softmax,
)
from training.inputs import iter_batches, load_checkpoint, prefetch, read_grey
from training.manifest import K, ManifestRow, Split, read_manifest
from training.onnx_io import LEVEL, MAX_COLOUR, FeatureWrapper, build_spec, export_onnx, load
from training.ood import MultiLevelScorer, head_all
from training.probes import all_probes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Collected:
    """Network outputs over a list of manifest rows (labels: manifest encoding)."""

    logits: NDArray[np.float32]
    vectors: tuple[NDArray[np.float32], ...]  #: OOD feature vectors, one array per level
    labels: NDArray[np.int64]
    rows: tuple[ManifestRow, ...]


Runner = Callable[[NDArray[np.float32]], tuple[NDArray[np.float32], list[NDArray[np.float32]]]]


def feature_runner(model: nn.Module, prep: Preprocessing) -> Runner:
    """x -> (logits, OOD vectors) through a temporary export loaded by the app's Classifier.

    Falls back to PyTorch if the temporary export fails.
    """
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "features.onnx"
            x = torch.zeros(2, prep.channels, prep.input_size, prep.input_size)
            with torch.no_grad():
                n_levels = len(head_all(model.eval(), x)[2])
            export_onnx(FeatureWrapper(model), build_spec(prep, "features"), path, extra=n_levels)
            clf = load(path)
    except Exception as exc:  # noqa: BLE001 - any export failure: use PyTorch instead
        log.warning("feature export failed (%s); computing features with PyTorch", exc)

        def run_torch(
            x: NDArray[np.float32],
        ) -> tuple[NDArray[np.float32], list[NDArray[np.float32]]]:
            with torch.inference_mode():
                lg, _, vs = head_all(model, torch.from_numpy(x))
            return lg.numpy(), [v.numpy() for v in vs]

        return run_torch

    names = [OUTPUT_LOGITS, *(LEVEL.format(i) for i in range(n_levels))]

    def run_onnx(x: NDArray[np.float32]) -> tuple[NDArray[np.float32], list[NDArray[np.float32]]]:
        lg, *vs = clf.run(names, x)
        return lg, vs

    return run_onnx


def _gather(
    runner: Runner, batches: Iterable[tuple[Any, NDArray[np.float32]]], total: int, desc: str
) -> tuple[list[Any], NDArray[np.float32], tuple[NDArray[np.float32], ...]]:
    keys: list[Any] = []
    logits: list[NDArray[np.float32]] = []
    vectors: list[list[NDArray[np.float32]]] = []
    for key, x in tqdm(prefetch(batches), total=total, desc=desc, leave=False):
        lg, vs = runner(x)
        keys.extend(key)
        logits.append(lg)
        vectors.append(vs)
    if not logits:
        raise SystemExit(f"no {desc} image could be read")
    levels = tuple(np.concatenate([v[i] for v in vectors]) for i in range(len(vectors[0])))
    return keys, np.concatenate(logits), levels


def collect(
    runner: Runner,
    rows: Sequence[ManifestRow],
    data_root: Path,
    prep: Preprocessing,
    batch_size: int = 64,
    desc: str = "",
) -> Collected:
    """Logits and pooled features of every readable row, through the app's preprocessing."""
    batches = iter_batches(rows, data_root, prep, batch_size)
    kept, logits, pooled = _gather(runner, batches, -(-len(rows) // batch_size), desc)
    labels = np.array([r.label_index for r in kept], dtype=np.int64)
    return Collected(logits, pooled, labels, tuple(kept))


def collect_cached(
    runner: Runner, args: argparse.Namespace, prep: Preprocessing, paths: set[str]
) -> Collected:
    """Like :func:`collect` for the rows in ``paths``, from ``training.cache`` images."""
    cache = load_cache(args.manifest, args.data_root, args.cache, prep.input_size)
    idx = [i for i, p in enumerate(cache.paths) if p in paths]
    bs = args.batch_size

    def batches() -> Iterator[tuple[list[int], NDArray[np.float32]]]:
        for s in range(0, len(idx), bs):
            part = idx[s : s + bs]
            imgs = cache.images[part].astype(np.float32) / 255.0
            yield part, np.stack([normalise(g, prep) for g in imgs])

    kept, logits, pooled = _gather(runner, batches(), -(-len(idx) // bs), "training (cache)")
    return Collected(logits, pooled, cache.labels[kept].astype(np.int64), ())


def probe_table(
    model: nn.Module,
    scorer: MultiLevelScorer,
    prep: Preprocessing,
    thresholds: Thresholds,
    temperature: float,
    brains: Sequence[NDArray[np.float32]] = (),
) -> dict[str, dict[str, Any]]:
    """Every probe's per-level OOD scores and the app's status for it (:func:`decide`)."""
    probes = all_probes(brains)
    names = list(probes)
    items = [prepare(probes[n].pixels, prep, probes[n].colour) for n in names]
    with torch.inference_mode():
        x = torch.from_numpy(np.stack([i.tensor for i in items]))
        logits, _, vectors = head_all(model, x)
        levels = scorer.levels(vectors).numpy()
    probs = softmax(logits.numpy(), temperature)
    out = {}
    for n, item, row, pr in zip(names, items, levels, probs, strict=True):
        score = float(row.max())
        v = decide(pr, score, item.checks, thresholds, CLASS_NAMES)
        out[n] = {
            "score": score,
            "levels": [float(s) for s in row],
            "status": v.status.value,
            "message": v.message,
            "unsupported": v.status.value == "unsupported",
        }
    return out


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    """Fit temperature, thresholds and the OOD scorer; save them to ``args.out``."""
    model, prep, ckpt = load_checkpoint(args.checkpoint)
    rows = read_manifest(args.manifest)
    val_rows = [r for r in rows if r.split is Split.VAL]
    train_rows = [r for r in rows if r.split is Split.TRAIN and r.label_index < K]
    rng = np.random.default_rng(args.seed)
    if len(train_rows) > args.max_train:
        pick = np.sort(rng.choice(len(train_rows), args.max_train, replace=False))
        train_rows = [train_rows[i] for i in pick]
    if not val_rows or not train_rows:
        raise SystemExit(f"manifest {args.manifest} has no validation or training rows")
    runner = feature_runner(model, prep)
    val = collect(runner, val_rows, args.data_root, prep, args.batch_size, "validation")
    if args.cache is not None:  # training features from the decode cache (faster)
        train = collect_cached(runner, args, prep, {r.path for r in train_rows})
    else:
        train = collect(runner, train_rows, args.data_root, prep, args.batch_size, "training")
    lab = val.labels < K
    logits, labels = val.logits[lab], val.labels[lab]
    temperature = fit_temperature(logits, labels)
    probs = softmax(logits, temperature)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    choice = choose_threshold(conf, correct, args.max_error)
    scorer, shrink = MultiLevelScorer.fit(
        list(train.vectors), train.labels, list(val.vectors), args.ood_percentile
    )
    val_scores = scorer.score(list(val.vectors))
    ood_threshold = float(np.percentile(val_scores, args.ood_percentile))
    brains = [
        g
        for r in val_rows[:: max(1, len(val_rows) // 3)][:3]
        if (g := read_grey(Path(args.data_root) / r.path)) is not None
    ]
    thresholds = Thresholds(
        uncertain=choice.threshold,
        ood_score=ood_threshold,
        blank_std=getattr(args, "blank_std", Thresholds.blank_std),
        max_colour=MAX_COLOUR,
    )
    probes = probe_table(model, scorer, prep, thresholds, temperature, brains)
    summary: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "arch": ckpt["arch"],
        "n_val": int(len(val.rows)),
        "n_val_labelled": int(lab.sum()),
        "n_train_features": int(len(train.labels)),
        "temperature": temperature,
        "val_nll_before": nll(logits, labels, 1.0),
        "val_nll_after": nll(logits, labels, temperature),
        "val_ece_before": expected_calibration_error(softmax(logits), labels),
        "val_ece_after": expected_calibration_error(probs, labels),
        "val_accuracy": float(correct.mean()),
        "uncertain_rule": f"smallest threshold >= 0.5 with validation error of accepted "
        f"calls <= {args.max_error:g}",
        "uncertain": asdict(choice),
        "ood_rule": f"{args.ood_percentile:g}th percentile of validation OOD scores",
        "ood_threshold": ood_threshold,
        "ood_shrinkage": shrink,
        "val_ood_percentiles": {
            str(q): float(np.percentile(val_scores, q)) for q in (50, 90, 99, 99.5, 100)
        },
        "ood_levels": [int(v.shape[1]) for v in val.vectors],
        "probes": probes,
    }
    summary["probes_all_unsupported"] = all(p["unsupported"] for p in summary["probes"].values())
    out = Path(args.out or Path(args.checkpoint).with_suffix(".calibration.pt"))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "temperature": temperature,
            "uncertain": choice.threshold,
            "ood_threshold": ood_threshold,
            "ood_state": scorer.state_dict(),
            "summary": summary,
        },
        out,
    )
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def load_calibration(path: Path) -> tuple[dict[str, Any], MultiLevelScorer]:
    """(the saved calibration dict, its OOD scorer)."""
    cal = torch.load(Path(path), map_location="cpu", weights_only=False)
    return cal, MultiLevelScorer.from_state(cal["ood_state"])

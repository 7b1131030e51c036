"""Calibration: temperature scaling, the ``uncertain`` threshold and the OOD score.

* temperature: one scalar T fitted on validation logits by minimising the NLL of
  softmax(logits / T) (golden-section search on log T; NLL is unimodal there);
* ECE: 15 equal-width confidence bins, |accuracy - confidence| weighted by bin size;
* ``uncertain``: the smallest threshold on the calibrated top probability at which the
  error rate of the accepted validation calls is <= ``max_error`` (default 1%), never
  below ``floor`` (0.5); coverage and error rate at it are reported;
* OOD: see :mod:`training.ood`; its threshold is a percentile of validation scores.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
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

from desktop.core.model_spec import Preprocessing
from desktop.core.preprocess import normalise, to_batch
from training.inputs import (
    ManifestRow,
    iter_batches,
    load_checkpoint,
    prefetch,
    read_grey,
    read_manifest,
)
from training.ood import MultiLevelScorer, head_all
from training.probes import all_probes

log = logging.getLogger(__name__)
ECE_BINS = 15


def softmax(logits: NDArray[np.floating], temperature: float = 1.0) -> NDArray[np.float64]:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: NDArray[np.floating], labels: NDArray[np.integer], temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(logits / T)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(z)), labels]))


def fit_temperature(
    logits: NDArray[np.floating],
    labels: NDArray[np.integer],
    bounds: tuple[float, float] = (0.01, 100.0),
    tol: float = 1e-5,
) -> float:
    """The temperature minimising validation NLL (golden-section search on log T)."""
    labels = np.asarray(labels, dtype=np.int64)
    a, b = math.log(bounds[0]), math.log(bounds[1])
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return math.exp((a + b) / 2)


def expected_calibration_error(
    probs: NDArray[np.floating], labels: NDArray[np.integer], n_bins: int = ECE_BINS
) -> float:
    """ECE with ``n_bins`` equal-width bins (lo, hi] on the top probability."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def reliability_bins(
    probs: NDArray[np.floating], labels: NDArray[np.integer], n_bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per-bin (lo, hi, count, confidence, accuracy) for a reliability diagram."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        m = bins == b
        out.append(
            {
                "lo": b / n_bins,
                "hi": (b + 1) / n_bins,
                "count": int(m.sum()),
                "confidence": float(conf[m].mean()) if m.any() else float("nan"),
                "accuracy": float(correct[m].mean()) if m.any() else float("nan"),
            }
        )
    return out


@dataclass(frozen=True)
class ThresholdChoice:
    """The ``uncertain`` threshold and what it does on the data it was chosen on."""

    threshold: float
    coverage: float  #: fraction of calls accepted (confidence >= threshold)
    error_rate: float  #: error rate among the accepted calls
    target_met: bool  #: False when no threshold reached ``max_error``


def coverage_error(
    conf: NDArray[np.floating], correct: NDArray[np.bool_], threshold: float
) -> tuple[float, float]:
    """(coverage, error rate of accepted calls) at ``threshold``."""
    acc = np.asarray(conf) >= threshold
    if not acc.any():
        return 0.0, 0.0
    return float(acc.mean()), float(1.0 - np.asarray(correct)[acc].mean())


def choose_threshold(
    conf: NDArray[np.floating],
    correct: NDArray[np.bool_],
    max_error: float = 0.01,
    floor: float = 0.5,
) -> ThresholdChoice:
    """Smallest threshold (>= floor) whose accepted calls err at most ``max_error``.

    Candidates are the observed confidences; if none meets the target, the candidate with
    the lowest error rate (ties: the lower threshold) is returned with target_met=False.
    """
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    order = np.argsort(-conf, kind="stable")
    c_sorted, ok_sorted = conf[order], correct[order]
    errors = np.cumsum(~ok_sorted)  # errors among the top-i+1 most confident
    n_acc = np.arange(1, len(conf) + 1)
    err_rate = errors / n_acc
    # a threshold equal to c_sorted[i] accepts every call with conf >= it: use the last tie
    last_of_tie = np.r_[c_sorted[1:] != c_sorted[:-1], True]
    valid = last_of_tie & (c_sorted >= floor)
    if not valid.any():
        cov, err = coverage_error(conf, correct, floor)
        return ThresholdChoice(floor, cov, err, err <= max_error)
    idx = np.flatnonzero(valid)
    good = idx[err_rate[idx] <= max_error]
    met = good.size > 0
    # sorted by falling confidence: the last good index is the smallest threshold
    i = int(good[-1]) if met else int(idx[::-1][np.argmin(err_rate[idx][::-1])])
    t = float(max(c_sorted[i], floor))
    cov, err = coverage_error(conf, correct, t)
    return ThresholdChoice(t, cov, err, met)


# --------------------------------------------------------------------------- command

VAL_SPLITS = ("val", "validation")


@dataclass(frozen=True)
class Collected:
    """Network outputs over a list of manifest rows (labels: -1 = partial ``tumor``)."""

    logits: NDArray[np.float32]
    vectors: tuple[NDArray[np.float32], ...]  #: OOD feature vectors, one array per level
    labels: NDArray[np.int64]
    rows: tuple[ManifestRow, ...]


Runner = Callable[[NDArray[np.float32]], tuple[NDArray[np.float32], list[NDArray[np.float32]]]]


class _LogitsAndVectors(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, _, vectors = head_all(self.model, x)
        return (logits, *vectors)


def feature_runner(model: nn.Module, prep: Preprocessing) -> Runner:
    """x -> (logits, OOD vectors) through onnxruntime (about 3x eager PyTorch on 2 cores).

    Falls back to PyTorch if the temporary export fails.
    """
    from training.export import session, torch_export

    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "features.onnx"
            x = torch.zeros(2, prep.channels, prep.input_size, prep.input_size)
            with torch.no_grad():
                n_levels = len(head_all(model.eval(), x)[2])
            names = ["logits", *(f"level{i}" for i in range(n_levels))]
            torch_export(_LogitsAndVectors(model), x, path, names)
            sess = session(path)
    except Exception as exc:  # noqa: BLE001 - any export failure: use PyTorch instead
        log.warning("feature export failed (%s); computing features with PyTorch", exc)

        def run_torch(x: NDArray[np.float32]) -> tuple[NDArray[np.float32], list]:
            with torch.inference_mode():
                lg, _, vs = head_all(model, torch.from_numpy(x))
            return lg.numpy(), [v.numpy() for v in vs]

        return run_torch

    def run_ort(x: NDArray[np.float32]) -> tuple[NDArray[np.float32], list]:
        lg, *vs = sess.run(None, {"image": x})
        return lg, vs

    return run_ort


def _gather(
    runner: Runner, batches: Iterable[tuple[Any, NDArray[np.float32]]], total: int, desc: str
) -> tuple[list[Any], NDArray[np.float32], tuple[NDArray[np.float32], ...]]:
    keys, logits, vectors = [], [], []
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
    from training.cache import load_cache

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


def probe_scores(
    model: nn.Module,
    scorer: MultiLevelScorer,
    probes: dict[str, NDArray[np.float32]],
    prep: Preprocessing,
) -> dict[str, list[float]]:
    """Per-level normalised OOD scores of every probe image (app preprocessing)."""
    names = list(probes)
    with torch.inference_mode():
        x = torch.from_numpy(to_batch([probes[n] for n in names], prep))
        _, _, vectors = head_all(model, x)
        levels = scorer.levels(vectors).numpy()
    return {n: [float(v) for v in row] for n, row in zip(names, levels, strict=True)}


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    """Fit temperature, thresholds and the OOD scorer; save them to ``args.out``."""
    model, prep, ckpt = load_checkpoint(args.checkpoint)
    rows = read_manifest(args.manifest)
    val_rows = [r for r in rows if r.split in VAL_SPLITS]
    train_rows = [r for r in rows if r.split == "train" and r.label_index >= 0]
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
    lab = val.labels >= 0
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
    probes = probe_scores(model, scorer, all_probes(brains), prep)
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
        "probes": {
            n: {"score": max(s), "levels": s, "unsupported": max(s) > ood_threshold}
            for n, s in probes.items()
        },
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

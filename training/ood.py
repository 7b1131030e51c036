"""Out-of-distribution score: Mahalanobis distances at several depths of the network.

Per level, the squared Mahalanobis distance (divided by the feature count F) of a
feature vector to the nearest class mean, with one covariance shared by the classes and
shrunk towards a multiple of the identity (Ledoit-Wolf), fitted on training features of
the four labelled classes. Levels: the globally pooled last feature map (penultimate
features) and, because those alone let photographs, noise and documents through,
channel means and standard deviations of two intermediate stages of ``model.features``
(texture statistics, as in Mahalanobis/Gram-matrix OOD detectors), and the coarse 8 x 8
layout of the input itself (a brain slice is a bright oval on black; measured: with the
network levels alone a from-scratch EfficientNet-B0 let the cat, hot-dog and portrait
photographs through, with the layout level the cat and the hot dog are caught; colour
photographs are also refused before the network by ``Thresholds.max_colour``). Each level's score is
divided by its validation 99.5th percentile and the score is the maximum over levels.
All constants are buffers, so the ONNX export computes the score inside the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn


def ledoit_wolf(x: NDArray[np.floating]) -> tuple[NDArray[np.float64], float]:
    """Shrunk covariance of centred rows ``x`` (n x p) and the shrinkage used."""
    x = np.asarray(x, dtype=np.float64)
    n, p = x.shape
    s = x.T @ x / n
    mu = np.trace(s) / p
    d2 = float(np.sum((s - mu * np.eye(p)) ** 2))
    b2_bar = float((np.sum(np.sum(x * x, axis=1) ** 2) - n * np.sum(s * s)) / n**2)
    shrink = 1.0 if d2 <= 0 else float(np.clip(min(b2_bar, d2) / d2, 1e-3, 1.0))
    return (1.0 - shrink) * s + shrink * mu * np.eye(p), shrink


class MahalanobisScorer(nn.Module):
    """Pooled features (N x F) -> min over classes of squared Mahalanobis distance / F."""

    def __init__(self, centres: torch.Tensor, whiten: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("whiten", whiten.float())  # F x F, precision = W W^T
        self.register_buffer("centres", centres.float())  # K x F, class means @ W

    whiten: torch.Tensor
    centres: torch.Tensor

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        z = pooled @ self.whiten
        d = ((z.unsqueeze(1) - self.centres.unsqueeze(0)) ** 2).sum(dim=2)
        return torch.amin(d, dim=1) / self.whiten.shape[0]

    @classmethod
    def fit(
        cls, features: NDArray[np.floating], labels: NDArray[np.integer]
    ) -> tuple[MahalanobisScorer, float]:
        """Class means and a shared shrunk covariance from labelled features (n x F)."""
        f = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        classes = np.unique(labels)
        means = np.stack([f[labels == k].mean(axis=0) for k in classes])
        centred = f - means[np.searchsorted(classes, labels)]
        cov, shrink = ledoit_wolf(centred)
        whiten = np.linalg.cholesky(np.linalg.inv(cov))  # lower L with L L^T = precision
        scorer = cls(torch.from_numpy(means @ whiten), torch.from_numpy(whiten))
        return scorer, shrink

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> MahalanobisScorer:
        return cls(state["centres"], state["whiten"])

    def score(self, features: NDArray[np.floating]) -> NDArray[np.float32]:
        with torch.no_grad():
            out = self(torch.as_tensor(np.asarray(features, np.float32)))
        return np.asarray(out.numpy(), dtype=np.float32)


def forward_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The network's last feature map (every network of :mod:`training.models` has one)."""
    return cast(Callable[[torch.Tensor], torch.Tensor], model.forward_features)(x)


def classifier_linear(model: nn.Module) -> nn.Linear:
    """The network's final linear layer (pooled features -> logits)."""
    return cast(nn.Linear, model.classifier_linear)


def head_outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(logits, pooled features, feature map) the way the exported graph computes them."""
    fmap = forward_features(model, x)
    pooled = fmap.mean(dim=(2, 3))
    return classifier_linear(model)(pooled), pooled, fmap


def tap_modules(model: nn.Module) -> list[nn.Module]:
    """Two intermediate stages of ``model.features`` (at 40% and 70% depth), if it has one."""
    feats = getattr(model, "features", None)
    if not isinstance(feats, nn.Sequential) or len(feats) < 4:
        return []
    n = len(feats)
    return [feats[i] for i in sorted({int(n * 0.4), int(n * 0.7)} - {n - 1})]


def moments(t: torch.Tensor) -> torch.Tensor:
    """N x C x h x w -> N x 2C: channel means and standard deviations over h, w."""
    m = t.mean(dim=(2, 3))
    v = (t * t).mean(dim=(2, 3)) - m * m
    return torch.cat([m, torch.sqrt(torch.clamp(v, min=0.0) + 1e-6)], dim=1)


def head_all(
    model: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """(logits, feature map, OOD vectors = [input layout, intermediate moments..., pooled])."""
    taps: list[torch.Tensor] = []
    handles = [
        m.register_forward_hook(lambda _m, _i, out: taps.append(out)) for m in tap_modules(model)
    ]
    try:
        fmap = forward_features(model, x)
    finally:
        for h in handles:
            h.remove()
    pooled = fmap.mean(dim=(2, 3))
    vectors = [layout(x), *(moments(t) for t in taps), pooled]
    return classifier_linear(model)(pooled), fmap, vectors


def layout(x: torch.Tensor, grid: int = 8) -> torch.Tensor:
    """N x C x S x S input -> N x grid*grid: the slice's coarse layout (first channel)."""
    n, _, s, _ = x.shape
    k = s // grid
    return torch.nn.functional.avg_pool2d(x[:, :1], k, k).reshape(n, -1)


class MultiLevelScorer(nn.Module):
    """max over levels of (level score / its validation percentile)."""

    scales: torch.Tensor

    def __init__(self, scorers: list[MahalanobisScorer], scales: torch.Tensor) -> None:
        super().__init__()
        self.scorers = nn.ModuleList(scorers)
        self.register_buffer("scales", scales.float())

    def levels(self, vectors: list[torch.Tensor]) -> torch.Tensor:
        """N x L normalised per-level scores."""
        s = [sc(v) for sc, v in zip(self.scorers, vectors, strict=True)]
        return torch.stack(s, dim=1) / self.scales

    def forward(self, vectors: list[torch.Tensor]) -> torch.Tensor:
        return torch.amax(self.levels(vectors), dim=1)

    @classmethod
    def fit(
        cls,
        train: list[NDArray[np.floating]],
        labels: NDArray[np.integer],
        val: list[NDArray[np.floating]],
        percentile: float = 99.5,
    ) -> tuple[MultiLevelScorer, list[float]]:
        """One Mahalanobis scorer per level; scales = validation percentiles per level."""
        fitted = [MahalanobisScorer.fit(f, labels) for f in train]
        scorers = [sc for sc, _ in fitted]
        scales = [
            max(1e-6, float(np.percentile(sc.score(v), percentile)))
            for sc, v in zip(scorers, val, strict=True)
        ]
        return cls(scorers, torch.tensor(scales)), [sh for _, sh in fitted]

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> MultiLevelScorer:
        n = len(state["scales"])
        scorers = [
            MahalanobisScorer(state[f"scorers.{i}.centres"], state[f"scorers.{i}.whiten"])
            for i in range(n)
        ]
        return cls(scorers, state["scales"])

    def score(self, vectors: list[NDArray[np.floating]]) -> NDArray[np.float32]:
        with torch.no_grad():
            out = self([torch.as_tensor(np.asarray(v, np.float32)) for v in vectors])
        return np.asarray(out.numpy(), dtype=np.float32)

    def level_scores(self, vectors: list[NDArray[np.floating]]) -> NDArray[np.float32]:
        with torch.no_grad():
            return self.levels(
                [torch.as_tensor(np.asarray(v, np.float32)) for v in vectors]
            ).numpy()

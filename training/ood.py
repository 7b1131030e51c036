"""Out-of-distribution score: Mahalanobis distance of pooled penultimate features.

Squared Mahalanobis distance (divided by the feature count F) of the globally pooled
last feature map to the nearest class mean, with one covariance shared by the classes
and shrunk towards a multiple of the identity (Ledoit-Wolf), fitted on training
features of the four labelled classes. The constants are buffers of an ``nn.Module``,
so the ONNX export computes the score inside the graph.
"""

from __future__ import annotations

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
            return self(torch.as_tensor(np.asarray(features, np.float32))).numpy()


def head_outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(logits, pooled features, feature map) the way the exported graph computes them."""
    fmap = model.forward_features(x)
    pooled = fmap.mean(dim=(2, 3))
    return model.classifier_linear(pooled), pooled, fmap

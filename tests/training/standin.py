"""A tiny stand-in network and a synthetic labelled data set for the back-half tests.

``TinyNet`` follows the contract of ``training.models``: ``forward_features(x) -> N x F x
h x w``, ``classifier_linear`` (an ``nn.Linear``) and ``forward = linear(mean(features))``;
it uses the EfficientNet ingredients the exporter must handle (BatchNorm, SiLU,
squeeze-excitation). ``make_dataset`` writes PNG slices in class folders of three sources
and a manifest with the columns of ``training/splits/manifest.csv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from desktop.core.model_spec import CLASS_NAMES
from tests.phantoms import slice_image

FEATURES = 12


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False),
            nn.BatchNorm2d(8),
            nn.SiLU(),
            nn.Conv2d(8, FEATURES, 3, 2, 1, bias=False),
            nn.BatchNorm2d(FEATURES),
            nn.SiLU(),
        )
        self.se = nn.Sequential(nn.Conv2d(FEATURES, 4, 1), nn.SiLU(), nn.Conv2d(4, FEATURES, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(FEATURES, num_classes))
        for m in self.modules():  # non-trivial BN statistics so eval mode matters
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        with torch.no_grad():
            self.classifier[1].weight.mul_(20.0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return f * torch.sigmoid(self.se(f.mean(dim=(2, 3), keepdim=True)))

    @property
    def classifier_linear(self) -> nn.Linear:
        return self.classifier[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x).mean(dim=(2, 3)))


def make_dataset(root: Path, per_class: int = 6, seed: int = 0) -> Path:
    """PNG slices under root/<source>/... and root/manifest.csv; returns the manifest path."""
    rng = np.random.default_rng(seed)
    plan = [
        ("figshare", "", ("glioma", "meningioma", "pituitary")),
        ("br35h", "", ("no_tumor", "tumor")),
        ("sartaj", "Training", CLASS_NAMES),
        ("sartaj", "Testing", CLASS_NAMES),
    ]
    rows = []
    cluster = 0
    splits = ("train", "train", "val", "val", "test", "test")
    for source, subset, labels in plan:
        for label in labels:
            for i in range(per_class):
                rel = "/".join(p for p in (source, subset, label, f"{label}_{i}.png") if p)
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / rel), slice_image(label, rng))
                split = splits[i % len(splits)]
                # Sartaj Testing images 0-3 are near-copies of Sartaj Training ones
                if subset == "Testing" and i < 4:
                    cid = f"st{label}{i}"
                else:
                    cid = str(cluster)
                    cluster += 1
                if subset == "Training" and i < 4:
                    cid = f"st{label}{i}"
                rows.append([rel, source, subset, label, cid, split, "", "", "0"])
    # clusters must not cross splits: the copies take the split of their Training twin
    split_of = {r[4]: r[5] for r in rows if r[2] == "Training"}
    for r in rows:
        if r[2] == "Testing" and r[4] in split_of:
            r[5] = split_of[r[4]]
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "path",
                "source",
                "subset",
                "label",
                "cluster",
                "split",
                "sha256",
                "content_hash",
                "conflict",
            ]
        )
        w.writerows(rows)
    return manifest

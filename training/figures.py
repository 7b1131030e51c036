"""Figures of an evaluation report: confusion matrices and reliability diagrams (PNG)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from desktop.core.model_spec import CLASS_NAMES  # noqa: E402

ROW_NAMES = (*CLASS_NAMES, "tumor (type unknown)")


def _matrix(block: dict[str, Any]) -> np.ndarray:
    return np.vstack([np.asarray(block["confusion"]), np.asarray(block["partial_tumor_predicted"])])


def _plot_confusion(ax: Any, block: dict[str, Any], title: str) -> None:
    m = _matrix(block)
    rows = m.sum(axis=1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros(m.shape, float), where=rows > 0)
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(m):
        ax.text(
            j,
            i,
            str(int(v)),
            ha="center",
            va="center",
            color="white" if frac[i, j] > 0.6 else "black",
            fontsize=8,
        )
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(ROW_NAMES)), ROW_NAMES, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = block["metrics"]["accuracy"]["value"]
    ax.set_title(f"{title} (n={block['n']}, acc {acc:.3f})", fontsize=9)


def _plot_reliability(ax: Any, block: dict[str, Any], title: str) -> None:
    bins = block.get("reliability") or []
    ok = [b for b in bins if b["count"] > 0]
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    if ok:
        centres = [(b["lo"] + b["hi"]) / 2 for b in ok]
        ax.bar(
            centres,
            [b["accuracy"] for b in ok],
            width=1 / len(bins),
            alpha=0.6,
            edgecolor="black",
            label="accuracy",
        )
        ax.plot(
            [b["confidence"] for b in ok],
            [b["accuracy"] for b in ok],
            "o-",
            ms=3,
            color="C3",
            label="mean confidence",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("calibrated confidence")
    ax.set_ylabel("accuracy")
    ece = block.get("ece_calibrated", float("nan"))
    ax.set_title(f"{title} (ECE {ece:.3f}, n={block.get('n_labelled', 0)})", fontsize=9)


def _grid(blocks: dict[str, dict[str, Any]], plot: Any, path: Path) -> Path:
    n = len(blocks)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    for ax, (title, block) in zip(axes.ravel(), blocks.items(), strict=False):
        plot(ax, block, title)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.subplots_adjust(left=0.16, right=0.97, bottom=0.14, top=0.93, wspace=0.55, hspace=0.5)
    fig.savefig(path, dpi=100)  # fixed margins: tight_layout costs more than the drawing
    plt.close(fig)
    return path


def write_figures(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Confusion matrices and reliability diagrams, overall and by source (PNG)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labelled = {"test (all sources)": report["test"]}
    labelled.update({f"test: {s}": b for s, b in report["by_source"].items()})
    with_rel = {k: v for k, v in labelled.items() if v.get("reliability")}
    paths = [
        _grid(
            {"test (all sources)": report["test"]}, _plot_confusion, out_dir / "confusion_test.png"
        ),
        _grid(labelled, _plot_confusion, out_dir / "confusion_by_source.png"),
        _grid(
            {"test (all sources)": report["test"]},
            _plot_reliability,
            out_dir / "reliability_test.png",
        ),
        _grid(with_rel, _plot_reliability, out_dir / "reliability_by_source.png"),
        _grid(
            {"Sartaj Testing folder": report["sartaj_testing"]},
            _plot_confusion,
            out_dir / "confusion_sartaj_testing.png",
        ),
    ]
    return paths

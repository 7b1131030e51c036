"""Shortcut ablation: the train switches change behaviour; the by-source analysis is right."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from training.augment import AugmentConfig, augment
from training.cache import Cache
from training.manifest import PARTIAL
from training.studies.ablation import (
    by_source,
    called_meningioma,
    json_safe,
    markdown,
    metric_labels,
    paired_difference,
    source_probe,
)
from training.train import Sampling, augment_config, get_args_parser, sampling_weights

G, M, N, P = 0, 1, 2, 3  # glioma, meningioma, no_tumor, pituitary


def _cache(sources: list[str], labels: list[int]) -> Cache:
    n = len(sources)
    return Cache(
        images=np.zeros((n, 4, 4), np.uint8),
        labels=np.array(labels, dtype=np.int64),
        sources=np.array(sources),
        subsets=np.array([""] * n),
        splits=np.array(["train"] * n),
        paths=tuple(str(i) for i in range(n)),
        size=4,
    )


def test_sampling_weights_balanced_vs_uniform() -> None:
    cache = _cache(["br35h"] * 6 + ["figshare"] * 2, [N] * 6 + [G] * 2)
    idx = np.arange(8)
    bal = sampling_weights(cache, idx, Sampling.BALANCED)
    uni = sampling_weights(cache, idx, Sampling.UNIFORM)
    # balanced: each (source, label) group draws the same total weight
    assert bal[:6].sum().item() == pytest.approx(bal[6:].sum().item())
    assert bal[6].item() == pytest.approx(3 * bal[0].item())
    assert torch.equal(uni, torch.ones(8, dtype=torch.double))


def test_switch_defaults_are_the_recipe_and_parse() -> None:
    default = get_args_parser().parse_args([])
    assert default.sampling == "label_source" and default.intensity_aug is True
    cfg = augment_config(default)
    assert (
        cfg.intensity and cfg.p_skull_strip == 0.3 and cfg.p_window == 0.2 and cfg.p_aniso == 0.15
    )
    off = get_args_parser().parse_args(["--sampling", "uniform", "--no-intensity-aug"])
    assert off.sampling == "uniform" and not augment_config(off).intensity


def test_intensity_switch_changes_only_intensity() -> None:
    x = torch.rand(5, 1, 32, 32) * 0.8 + 0.1
    still = AugmentConfig(
        hflip=0, vflip=0, rotate_deg=0, scale=(1, 1), shift=0, p_blur=0, p_noise=0, p_lowres=0
    )
    on = augment(x, torch.Generator().manual_seed(0), still)
    off = augment(
        x, torch.Generator().manual_seed(0), AugmentConfig(**{**still.__dict__, "intensity": False})
    )
    torch.testing.assert_close(off, x, atol=1e-5, rtol=0)  # nothing else is on
    assert (on - x).abs().mean() > 0.01
    # with the full recipe, the same seed gives the same geometry: outputs differ, masks agree
    full_on = augment(x, torch.Generator().manual_seed(1))
    full_off = augment(x, torch.Generator().manual_seed(1), AugmentConfig(intensity=False))
    assert not torch.equal(full_on, full_off)
    assert ((full_on > 0.05) == (full_off > 0.05)).float().mean() > 0.9


def test_metric_labels_keep_the_one_encoding() -> None:
    assert metric_labels(np.array([0, 2, PARTIAL])).tolist() == [0, 2, PARTIAL]


def test_called_meningioma_by_hand() -> None:
    y = np.array([PARTIAL, PARTIAL, PARTIAL, PARTIAL, G, P, M, N])
    p = np.array([M, M, M, G, M, P, M, M])
    out = called_meningioma(y, p)
    assert out["type_unknown"] == {"n": 4, "rate": 0.75}
    assert out["glioma_pituitary"] == {"n": 2, "rate": 0.5}  # true meningioma, no_tumor excluded
    assert called_meningioma(np.array([N]), np.array([M]))["type_unknown"]["rate"] is None


def test_by_source_splits_rows() -> None:
    y = np.array([G, P, N, N, PARTIAL, PARTIAL])
    p = np.array([G, G, N, M, M, N])
    src = np.array(["figshare", "figshare", "br35h", "br35h", "br35h", "br35h"])
    out = by_source(y, p, src, np.arange(6), n_boot=50)
    assert set(out) == {"all", "figshare", "br35h"}
    assert out["figshare"]["accuracy"]["value"] == pytest.approx(0.5)
    assert out["br35h"]["accuracy"]["value"] == pytest.approx(0.5)
    assert out["br35h"]["tumour_called_no_tumor"]["value"] == pytest.approx(0.5)
    assert out["br35h"]["type_unknown"]["rate"] == pytest.approx(0.5)
    assert out["all"]["n"] == 6


def test_paired_difference() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    wrong = (y + 1) % 4
    same = paired_difference(y, y, y, np.arange(200), n_boot=100)
    assert same["accuracy"]["value"] == 0 and same["accuracy"]["ci95"] == [0.0, 0.0]
    half = np.where(np.arange(200) % 2 == 0, y, wrong)
    d = paired_difference(y, y, half, np.arange(200), n_boot=200)
    assert d["accuracy"]["value"] == pytest.approx(0.5)
    lo, hi = d["accuracy"]["ci95"]
    assert 0.4 < lo < 0.5 < hi < 0.6
    assert np.isnan(d["type_unknown_called_meningioma"]["value"])  # no type-unknown rows
    yu = np.array([PARTIAL] * 10 + [G] * 10)
    pa = np.array([M] * 8 + [G] * 2 + [G] * 10)
    pb = np.array([M] * 3 + [G] * 7 + [G] * 10)
    du = paired_difference(yu, pa, pb, np.arange(20), n_boot=100)["type_unknown_called_meningioma"]
    assert du["value"] == pytest.approx(0.5) and du["ci95"][0] > 0


def test_source_probe_separable_vs_random() -> None:
    rng = np.random.default_rng(0)
    src = np.array(["a"] * 150 + ["b"] * 50)
    sep = rng.normal(size=(200, 8)) + (src == "b")[:, None] * 3.0
    assert source_probe(sep[::2], src[::2], sep[1::2], src[1::2])["balanced_accuracy"] > 0.95
    noise = rng.normal(size=(200, 8))
    r = source_probe(noise[::2], src[::2], noise[1::2], src[1::2])
    assert 0.25 < r["balanced_accuracy"] < 0.75 and r["chance"] == 0.5
    assert source_probe(noise[::2], src[::2], noise[1::2], src[1::2]) == r  # deterministic


def test_markdown_renders_every_run() -> None:
    y = np.array([G, P, N, PARTIAL, M, N])
    p = np.array([G, M, N, M, M, G])
    src = np.array(["figshare", "sartaj", "sartaj", "br35h", "sartaj", "br35h"])
    block = by_source(y, p, src, np.arange(6), n_boot=20)
    probe = {"no_tumor_sartaj_vs_br35h": {"balanced_accuracy": 0.9}}
    run = {
        "sampling": "uniform",
        "intensity_aug": False,
        "test": block,
        "source_probe": {"test": probe},
    }
    text = markdown({"runs": {"none": run}}, "test")
    assert "| none | uniform | off |" in text and "| none | br35h | 2 |" in text
    assert "nan" not in text  # figshare has no no_tumor slices: shown as n/a
    safe = json_safe({"runs": {"none": run}})
    json.dumps(safe, allow_nan=False)  # strict JSON
    assert markdown(safe, "test") == text  # the saved record renders the same tables

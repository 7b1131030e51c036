"""Temperature scaling, ECE, the uncertain threshold, the Mahalanobis OOD score, probes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.calibration import (
    choose_threshold,
    coverage_error,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
    softmax,
)
from training.ood import MahalanobisScorer, MultiLevelScorer, ledoit_wolf, moments
from training.probes import distorted_probes, document_page, shuffled_tiles, synthetic_probes


def _sample_labels(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random((len(probs), 1))
    return (probs.cumsum(axis=1) < u).sum(axis=1)


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_temperature_recovered_from_synthetic_logits(true_t: float) -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(0, 3, (20000, 4))  # calibrated logits
    labels = _sample_labels(softmax(base), rng)
    observed = base * true_t  # an over/under-confident network: T must undo the factor
    t = fit_temperature(observed, labels)
    assert t == pytest.approx(true_t, rel=0.05)
    assert nll(observed, labels, t) <= nll(observed, labels, 1.0) + 1e-12


def test_temperature_lowers_ece_of_overconfident_logits() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(0, 2, (5000, 4))
    labels = _sample_labels(softmax(base), rng)
    over = base * 3.0
    t = fit_temperature(over, labels)
    before = expected_calibration_error(softmax(over), labels)
    after = expected_calibration_error(softmax(over, t), labels)
    assert after < 0.03 < before


def test_ece_hand_made_case() -> None:
    # bin (0.6, 0.667]: 2 calls at 0.65, 1 right -> |0.5 - 0.65| = 0.15, weight 2/4
    # bin (0.933, 1]: 2 calls at 0.95, both right -> |1 - 0.95| = 0.05, weight 2/4
    probs = np.array(
        [[0.65, 0.35, 0, 0], [0.65, 0.35, 0, 0], [0.95, 0.05, 0, 0], [0.05, 0.95, 0, 0]]
    )
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.5 * 0.15 + 0.5 * 0.05)
    bins = reliability_bins(probs, labels)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert [b["count"] for b in bins if b["count"]] == [2, 2]


def test_ece_zero_when_confidence_matches_accuracy() -> None:
    probs = np.tile([0.75, 0.25, 0.0, 0.0], (8, 1))
    labels = np.array([0, 0, 0, 1, 0, 0, 0, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)


def test_threshold_is_smallest_meeting_the_error_target() -> None:
    conf = np.array([0.99, 0.98, 0.97, 0.96, 0.9, 0.8, 0.7, 0.6, 0.55, 0.52])
    correct = np.array([1, 1, 1, 1, 1, 0, 1, 0, 1, 0], dtype=bool)
    c = choose_threshold(conf, correct, max_error=0.0)
    assert c.threshold == pytest.approx(0.9) and c.target_met
    assert (c.coverage, c.error_rate) == (pytest.approx(0.5), pytest.approx(0.0))
    c = choose_threshold(conf, correct, max_error=0.2)  # 0.7 accepts 7 calls with 1 error
    assert c.threshold == pytest.approx(0.7)
    assert c.error_rate == pytest.approx(1 / 7) and c.coverage == pytest.approx(0.7)
    assert coverage_error(conf, correct, c.threshold) == (c.coverage, c.error_rate)


def test_threshold_floor_and_unmet_target() -> None:
    conf = np.array([0.3, 0.35, 0.4, 0.45])  # all below the floor of 0.5
    c = choose_threshold(conf, np.ones(4, bool))
    assert c.threshold == 0.5 and c.coverage == 0.0
    conf = np.array([0.9, 0.8, 0.7])
    c = choose_threshold(conf, np.array([False, True, True]), max_error=0.01)
    assert not c.target_met and c.error_rate == pytest.approx(1 / 3)


def test_mahalanobis_larger_for_far_points_and_respects_covariance() -> None:
    rng = np.random.default_rng(3)
    f = 16
    scale = np.ones(f)
    scale[0] = 10.0  # feature 0 varies a lot within classes, the others little
    means = rng.normal(0, 5, (4, f))
    labels = np.repeat(np.arange(4), 300)
    feats = means[labels] + rng.normal(0, 1, (1200, f)) * scale
    scorer, shrink = MahalanobisScorer.fit(feats, labels)
    assert 0 < shrink <= 1
    inside = scorer.score(means + rng.normal(0, 1, (4, f)) * scale)
    far = scorer.score(means + 30.0)
    assert far.min() > 10 * inside.max()
    along_wide = means[0] + np.eye(f)[0] * 20  # 2 sd along the wide axis
    along_narrow = means[0] + np.eye(f)[1] * 20  # 20 sd along a narrow one
    s = scorer.score(np.stack([along_wide, along_narrow]))
    assert s[1] > 20 * s[0]


def test_mahalanobis_matches_numpy_and_is_a_buffer_module() -> None:
    rng = np.random.default_rng(4)
    feats, labels = rng.normal(0, 1, (400, 6)), np.repeat(np.arange(4), 100)
    scorer, _ = MahalanobisScorer.fit(feats, labels)
    assert {n for n, _ in scorer.named_buffers()} == {"whiten", "centres"}
    assert not list(scorer.parameters())
    means = np.stack([feats[labels == k].mean(0) for k in range(4)])
    cov, _ = ledoit_wolf(feats - means[labels])
    prec = np.linalg.inv(cov)
    x = rng.normal(0, 2, (5, 6))
    d = np.einsum("nkf,fg,nkg->nk", x[:, None] - means, prec, x[:, None] - means)
    np.testing.assert_allclose(scorer.score(x), d.min(1) / 6, rtol=1e-4)
    again = MahalanobisScorer.from_state(scorer.state_dict())
    t = torch.as_tensor(x, dtype=torch.float32)
    torch.testing.assert_close(again(t), scorer(t))


def test_multi_level_score_is_max_of_normalised_levels() -> None:
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(4), 100)
    train = [rng.normal(0, 1, (400, 6)), rng.normal(0, 1, (400, 10))]
    val = [rng.normal(0, 1, (200, 6)), rng.normal(0, 1, (200, 10))]
    scorer, shrinks = MultiLevelScorer.fit(train, labels, val, percentile=99.0)
    assert len(shrinks) == 2
    per_level = scorer.level_scores(val)
    assert np.mean(per_level[:, 0] > 1) == pytest.approx(0.01, abs=0.006)  # scale = p99
    np.testing.assert_allclose(scorer.score(val), per_level.max(axis=1), rtol=1e-6)
    odd = [rng.normal(0, 1, (5, 6)), rng.normal(0, 1, (5, 10)) + 8.0]  # odd in level 1 only
    assert np.all(scorer.score(odd) > 5) and np.all(scorer.level_scores(odd)[:, 0] < 3)
    again = MultiLevelScorer.from_state(scorer.state_dict())
    np.testing.assert_allclose(again.score(odd), scorer.score(odd))


def test_moments_are_channel_mean_and_std() -> None:
    t = torch.randn(2, 3, 5, 7) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1) + 4.0
    m = moments(t)
    torch.testing.assert_close(m[:, :3], t.mean(dim=(2, 3)))
    torch.testing.assert_close(m[:, 3:], t.std(dim=(2, 3), unbiased=False), rtol=1e-3, atol=1e-3)


def test_probes_are_grey_unit_images() -> None:
    brain = np.zeros((120, 100), np.float32)
    brain[30:90, 20:80] = 0.7
    probes = {**synthetic_probes(), **distorted_probes([brain])}
    assert {"blank_black", "noise_uniform", "document", "brain0_inverted"} <= set(probes)
    for name, img in probes.items():
        assert img.ndim == 2 and img.dtype == np.float32, name
        assert img.min() >= 0.0 and img.max() <= 1.0, name
    page = document_page()
    assert page.mean() > 0.85 and page.min() < 0.2  # white page with dark text
    tiles = shuffled_tiles(np.arange(36, dtype=np.float32).reshape(6, 6), tiles=3, seed=1)
    assert sorted(tiles.ravel()) == list(range(36)) and not np.array_equal(
        tiles, np.arange(36).reshape(6, 6)
    )

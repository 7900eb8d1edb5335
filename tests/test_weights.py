"""Algorithm 1's importance weights are unbiased for the scheme that draws the points (issue 12,
item 0): points drawn without replacement (successive sampling) weighted by Des Raj's estimator,
and the fallback branch (fewer positive scores than points). Each test also shows that the
i.i.d. weight 1 / (s p) on the same draws is biased, so the check has the power to fail."""

from __future__ import annotations

import numpy as np
import pytest

from coreset_bench.samplers._sensitivity import (DRAW_SCHEME, desraj_weights, draw_proportional,
                                                 sensitivity_sampling)


def _errors(total: float, estimates: list[float]) -> tuple[float, float]:
    """Mean relative error of the estimates and its standard error."""
    rel = np.asarray(estimates) / total - 1.0
    return float(rel.mean()), float(rel.std(ddof=1) / np.sqrt(len(rel)))


def test_desraj_weights_on_a_small_case_match_the_exact_expectation():
    """Every ordered draw of 2 out of 3 items enumerated: the expectation of sum_S w l is the
    total, exactly (not only within noise)."""
    p = np.array([0.5, 0.3, 0.2])
    loss = np.array([1.0, 7.0, 2.5])
    expected = 0.0
    for a in range(3):
        for b in range(3):
            if a == b:
                continue
            prob = p[a] * p[b] / (1 - p[a])
            w = desraj_weights(p[[a, b]])
            expected += prob * (w @ loss[[a, b]])
    assert expected == pytest.approx(loss.sum(), rel=1e-12)


@pytest.mark.parametrize("tail", ["smooth", "heavy"])
def test_weights_of_draws_without_replacement_are_unbiased(tail):
    rng = np.random.default_rng(0)
    n, s = 1000, 510                                      # s / n = 0.51, as in the issue
    loss = rng.gamma(2.0, size=n) if tail == "smooth" else rng.pareto(1.5, size=n) + 0.01
    scores = loss * rng.uniform(0.5, 1.5, size=n)         # a score close to, not equal to, l
    new, old = [], []
    for seed in range(3000):
        drawn, w = draw_proportional(scores, s, np.random.default_rng(seed))
        assert len(np.unique(drawn)) == s and (w > 0).all()
        new.append(w @ loss[drawn])
        old.append((1.0 / (s * scores[drawn] / scores.sum())) @ loss[drawn])
    mean, se = _errors(loss.sum(), new)
    assert abs(mean) < 3 * se, (mean, se)
    old_mean, old_se = _errors(loss.sum(), old)
    assert abs(old_mean) > 3 * old_se and abs(old_mean) > 0.01   # the i.i.d. weight: biased


def test_the_fallback_branch_is_unbiased():
    """80 positive scores, 200 points to draw: the 80 are taken with weight 1, the 120 others
    come uniformly from the 920 zero-score items, each standing for 920 / 120 of them."""
    rng = np.random.default_rng(1)
    n, s = 1000, 200
    loss = rng.gamma(2.0, size=n)
    scores = np.zeros(n)
    scores[rng.choice(n, 80, replace=False)] = rng.uniform(1, 2, size=80)
    new, old = [], []
    p = scores / scores.sum()
    for seed in range(3000):
        drawn, w = draw_proportional(scores, s, np.random.default_rng(seed))
        assert len(np.unique(drawn)) == s
        np.testing.assert_array_equal(w[:80], 1.0)
        np.testing.assert_allclose(w[80:], 920 / 120)
        new.append(w @ loss[drawn])
        old.append((np.where(scores[drawn] > 0, 1 / (s * np.maximum(p[drawn], 1e-300)), 0)
                    + np.where(scores[drawn] > 0, 0, 1.0 / s * 920)) @ loss[drawn])
    mean, se = _errors(loss.sum(), new)
    assert abs(mean) < 3 * se, (mean, se)
    old_mean, old_se = _errors(loss.sum(), old)            # the former weights: far off
    assert old_mean < -3 * old_se and old_mean < -0.3


def test_algorithm_1_estimates_the_total_loss_without_bias():
    """The issue's case: 2,000 blob points in 16 dims, k'' = 40, a smooth loss of the position;
    the clustering fixed (shared memo), 1,000 sampling seeds; sum_S w l over the selection
    (centers with weight 1) estimates the loss summed over every candidate."""
    rng = np.random.default_rng(2)
    centers = rng.normal(0, 5, size=(10, 16))
    x = (centers[rng.integers(0, 10, 2000)] + rng.normal(size=(2000, 16))).astype(np.float32)
    loss = 1.0 + np.sin(x[:, 0]) ** 2 + 0.05 * (x[:, 1] ** 2)
    memo: dict = {}
    estimates = []
    for seed in range(1000):
        sel = sensitivity_sampling(x, 40 + 1000, n_clusters=40, oracle=lambda idx: loss[idx],
                                   rng=np.random.default_rng(seed),
                                   cluster_rng=np.random.default_rng(99), memo=memo)
        assert sel.info["draw_scheme"] == DRAW_SCHEME
        estimates.append(sel.weights @ loss[sel.indices])
    mean, se = _errors(loss.sum(), estimates)
    assert abs(mean) < 3 * se, (mean, se)

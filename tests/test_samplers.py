"""Sampler invariants (every registered sampler) and per-method correctness."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from coreset_bench import samplers
from coreset_bench.config import CONF_DIR, group_option
from coreset_bench.errors import ConfigError
from coreset_bench.samplers import Inputs, _sensitivity
from coreset_bench.samplers.entropy import entropy
from coreset_bench.samplers.kcenter import kcenter_greedy
from coreset_bench.samplers.least_confidence import least_confidence
from coreset_bench.samplers.margin import margin

CLASSIFICATION = samplers.names("classification")


def sampler_params(name: str) -> dict:
    cfg = group_option("sampler", name)   # as Hydra composes it (grad.yaml starts from loss)
    cfg.pop("name")
    return cfg


def synthetic_inputs(m=300, d=6, k_warm=20, budget=100, seed=0) -> Inputs:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(m, d)).astype(np.float32)
    logits = rng.normal(size=(m, 10))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    losses = rng.gamma(2.0, size=m)
    return Inputs(n_candidates=m, budget=budget, n_warm=k_warm, embeddings=emb,
                  initial_embeddings=rng.normal(size=(k_warm, d)), probs=probs,
                  oracle=lambda idx: losses[idx])


def test_every_sampler_has_a_config_and_the_reverse():
    files = sorted(p.stem for p in (CONF_DIR / "sampler").glob("*.yaml"))
    assert files == sorted([*samplers.SAMPLERS, "plugin"])   # plugin: a user's file (_plugins)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_invariants_on_synthetic_inputs(name):
    spec = samplers.get(name)
    inputs = synthetic_inputs()
    n_select = inputs.budget - inputs.n_warm
    a = spec.select(inputs, n_select, np.random.default_rng(7), **sampler_params(name))
    b = spec.select(inputs, n_select, np.random.default_rng(7), **sampler_params(name))
    idx = np.asarray(a.indices)
    assert len(idx) == n_select
    assert len(np.unique(idx)) == n_select
    assert idx.min() >= 0 and idx.max() < inputs.n_candidates
    np.testing.assert_array_equal(idx, b.indices)  # same rng -> same indices
    if a.weights is not None:
        assert len(a.weights) == n_select and np.all(a.weights > 0)
    assert a.n_inferences >= 0


@pytest.mark.parametrize("name", ["uniform", "loss", "grad"])
def test_random_samplers_depend_on_the_rng(name):
    spec = samplers.get(name)
    inputs = synthetic_inputs()
    picks = [tuple(spec.select(inputs, 50, np.random.default_rng(s), **sampler_params(name)).indices)
             for s in range(3)]
    assert len(set(picks)) > 1


def test_n_inferences_per_method():
    inputs = synthetic_inputs(m=300, budget=100)
    n = {name: samplers.get(name).select(inputs, 80, np.random.default_rng(0),
                                         **sampler_params(name)).n_inferences
         for name in CLASSIFICATION}
    assert n["uniform"] == 0 and n["kcenter"] == 0
    assert n["loss"] == n["grad"] == 20  # k'' = round(0.2 * 100)
    assert n["margin"] == n["entropy"] == n["least_confidence"] == 300


def brute_force_kcenter(x, initial, n_select):
    """Textbook farthest-first traversal with full pairwise distances."""
    centers = [c for c in initial]
    chosen = []
    for _ in range(n_select):
        best, best_d = None, -1.0
        for i in range(len(x)):
            if i in chosen:
                continue
            d = min(float(np.sum((x[i] - c) ** 2)) for c in centers)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
        centers.append(x[best])
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kcenter_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3))
    initial = rng.normal(size=(4, 3))
    sel = kcenter_greedy(x, 15, initial_centers=initial, rng=rng)
    assert list(sel.indices) == brute_force_kcenter(x, list(initial), 15)


def test_kcenter_without_initial_centers_starts_at_random():
    x = np.random.default_rng(0).normal(size=(50, 2))
    firsts = {int(kcenter_greedy(x, 3, initial_centers=None,
                                 rng=np.random.default_rng(s)).indices[0]) for s in range(10)}
    assert len(firsts) > 1


def test_kcenter_handles_duplicate_points():
    x = np.zeros((10, 2))
    sel = kcenter_greedy(x, 10, initial_centers=np.zeros((1, 2)), rng=np.random.default_rng(0))
    assert sorted(sel.indices) == list(range(10))


def test_snap_to_points_gives_distinct_nearest_points():
    x = np.array([[0.0, 0], [0.1, 0], [5, 5], [5.1, 5], [10, 10]])
    # two centers closest to the same point 0: the second must take its nearest free point
    centers = np.array([[0.0, 0], [-0.01, 0], [5.05, 5]])
    out = _sensitivity.snap_to_points(x, centers)
    assert len(set(out)) == 3
    assert out[0] == 0 and out[1] == 1 and out[2] in (2, 3)


def test_extrapolation_is_loss_of_center_plus_lambda_distance():
    x = np.array([[0.0, 0], [1, 0], [10, 0], [12, 0]])
    centers = np.array([0, 2])
    losses = np.array([0.5, 2.0])
    scores, lam, cost = _sensitivity.extrapolate(x, centers, losses, 0.25)
    # A = {x0, x2}: x1 -> x0 at distance^2 1; x3 -> x2 at distance^2 4
    np.testing.assert_allclose(scores, [0.5, 0.5 + 0.25, 2.0, 2.0 + 0.25 * 4])
    assert lam == 0.25 and cost == 5.0


def test_auto_lambda_balances_the_two_terms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    centers = np.arange(10)
    losses = rng.gamma(2.0, size=10)
    scores, lam, cost = _sensitivity.extrapolate(x, centers, losses, "auto")
    assign, _ = _sensitivity.nearest(x, x[centers])
    assert lam * cost == pytest.approx(losses[assign].sum())
    assert scores.sum() == pytest.approx(2 * losses[assign].sum())


def test_draw_probabilities_are_proportional_to_scores():
    scores = np.array([1.0, 2.0, 3.0, 4.0, 0.0])
    counts = np.zeros(5)
    trials = 20000
    rng = np.random.default_rng(123)
    for _ in range(trials):
        idx, w = _sensitivity.draw_proportional(scores, 1, rng)
        counts[idx[0]] += 1
        # one draw: Des Raj's weight is 1 / p of the drawn point (Horvitz-Thompson)
        np.testing.assert_allclose(w, scores.sum() / scores[idx])
    expected = trials * scores / scores.sum()
    # within 5 binomial standard deviations; a zero score is never drawn
    sd = np.sqrt(trials * (scores / scores.sum()) * (1 - scores / scores.sum()))
    assert np.all(np.abs(counts - expected) <= 5 * sd + 1e-9)
    assert counts[4] == 0


def test_sensitivity_sampling_draws_by_extrapolated_loss():
    """End to end through Algorithm 1: points near a high-loss center are drawn far more often."""
    rng = np.random.default_rng(0)
    low = rng.normal(0, 0.1, size=(200, 2))
    high = rng.normal(10, 0.1, size=(200, 2))
    x = np.vstack([low, high]).astype(np.float32)
    true_loss = np.r_[np.full(200, 0.01), np.full(200, 1.0)]
    sel = _sensitivity.sensitivity_sampling(x, 60, n_clusters=2, oracle=lambda i: true_loss[i],
                                            lam=0.0, rng=rng)
    sampled = sel.indices[2:]
    assert np.mean(sampled >= 200) > 0.9  # expected 1.0 / 1.01 ~ 0.99
    assert sel.n_inferences == 2 and sel.info["lambda"] == 0.0


def test_draw_falls_back_to_uniform_when_too_few_positive_scores():
    idx, _ = _sensitivity.draw_proportional(np.array([0.0, 1.0, 0.0, 0.0]), 3,
                                            np.random.default_rng(0))
    assert 1 in idx and len(set(idx)) == 3


def test_uncertainty_samplers_pick_the_right_rows():
    probs = np.array([
        [0.98, 0.01, 0.01],   # confident
        [0.50, 0.495, 0.005], # smallest margin (0.005)
        [0.34, 0.33, 0.33],   # least confident, highest entropy (margin 0.01)
        [0.70, 0.20, 0.10],
    ])
    rng = np.random.default_rng(0)
    assert list(margin(probs, 1, rng=rng).indices) == [1]
    assert list(least_confidence(probs, 1, rng=rng).indices) == [2]
    assert list(entropy(probs, 1, rng=rng).indices) == [2]
    # entropies: 0.10, 0.72, 1.10, 0.80 nats
    assert list(entropy(probs, 2, rng=rng).indices) == [2, 3]


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_too_many_points_is_a_clear_error(name):
    inputs = synthetic_inputs(m=30, budget=40, k_warm=5)
    with pytest.raises(ConfigError, match="exceeds"):
        samplers.get(name).select(inputs, 31, np.random.default_rng(0), **sampler_params(name))


def test_sensitivity_validation_rejects_impossible_budgets():
    with pytest.raises(ConfigError, match="k''"):
        _sensitivity.validate(2, 1)
    with pytest.raises(ConfigError, match="lam"):
        _sensitivity.validate(100, 80, lam=-1)
    _sensitivity.validate(100, 80, lam="auto")


def test_unknown_sampler_lists_choices():
    with pytest.raises(ConfigError) as err:
        samplers.get("lossy")
    assert "lossy" in str(err.value)
    for name in itertools.islice(CLASSIFICATION, 3):
        assert name in str(err.value)

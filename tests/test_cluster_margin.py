"""Cluster-Margin (Citovsky et al., NeurIPS 2021): the picks follow Algorithm 2's sampling step
(k_m lowest margins, clusters sorted by size ascending, round-robin, one random point per
cluster per pass) on a hand-made pool whose clusters and margin set are known."""

from __future__ import annotations

import re

import numpy as np
import pytest

from coreset_bench import samplers
from coreset_bench.errors import ConfigError
from coreset_bench.samplers import Inputs
from coreset_bench.samplers.cluster_margin import (cluster_margin, margins,
                                                   n_margin_candidates, round_robin, validate)
from coreset_bench.samplers.margin import margin

# Four well-separated groups in the plane (spread <= 1, centers >= 100 apart). The 10 low-margin
# points: 2 in A, 3 in B, 5 in C. D holds one decoy with the lowest top-1 probability but a
# larger margin (least confidence would take it, margin does not); the confident points and the
# near miss (the 11th smallest margin) lie inside A and C.
CENTERS = {"A": (0.0, 0.0), "B": (100.0, 0.0), "C": (0.0, 100.0), "D": (100.0, 100.0)}
LOW = ["A"] * 2 + ["B"] * 3 + ["C"] * 5
OTHERS = [("D", (0.4, 0.2, 0.2, 0.2)),       # margin 0.2, top-1 0.4
          ("A", (0.95, 0.03, 0.01, 0.01)),   # confident
          ("C", (0.95, 0.03, 0.01, 0.01)),
          ("C", (0.95, 0.03, 0.01, 0.01)),
          ("A", (0.5, 0.35, 0.15, 0.0))]     # margin 0.15: just outside the k_m = 10 set


def hand_made_pool():
    """(embeddings, probs, group of each row, indices of the 10 low-margin rows)."""
    rng = np.random.default_rng(123)
    groups, probs = [], []
    for i, g in enumerate(LOW):
        m = 0.01 * (i + 1)                       # margins 0.01 .. 0.10, top-1 0.5
        groups.append(g)
        probs.append((0.5, 0.5 - m, m, 0.0))
    for g, p in OTHERS:
        groups.append(g)
        probs.append(p)
    emb = np.array([CENTERS[g] for g in groups]) + rng.uniform(-0.5, 0.5, size=(len(groups), 2))
    order = rng.permutation(len(groups))         # rows not grouped by cluster
    groups = np.array(groups)[order]
    low = np.flatnonzero(np.isin(order, np.arange(len(LOW))))
    return emb[order].astype(np.float32), np.array(probs)[order], groups, low


def test_hand_made_margins_are_as_designed():
    emb, probs, groups, low = hand_made_pool()
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert set(np.argsort(margins(probs))[:10]) == set(low)
    assert groups[np.argmin(probs.max(1))] == "D"   # the decoy: least confident, not low margin


@pytest.mark.parametrize("seed", range(10))
def test_picks_go_round_robin_from_the_smallest_cluster(seed):
    emb, probs, groups, low = hand_made_pool()
    # k_m = 1.25 * 8 = 10; epsilon 5 separates the groups and joins each group's points
    sel = cluster_margin(emb, probs, 8, rng=np.random.default_rng(seed), margin_frac=1.25,
                         epsilon=5.0)
    # clusters among the margin set: A (2) < B (3) < C (5); passes: ABC, ABC, BC (C left over)
    assert list(groups[sel.indices]) == ["A", "B", "C", "A", "B", "C", "B", "C"]
    assert set(sel.indices) <= set(low)                        # only the k_m lowest margins
    assert sel.info["k_m"] == 10 and sel.info["n_clusters"] == 3
    assert sel.info["epsilon"] == 5.0 and sel.info["epsilon_rule"] == "given"
    assert sel.n_inferences == len(probs)


def test_random_within_a_cluster_and_reproducible():
    emb, probs, groups, low = hand_made_pool()

    def picks(seed):
        return tuple(cluster_margin(emb, probs, 8, rng=np.random.default_rng(seed),
                                    epsilon=5.0).indices)

    assert picks(3) == picks(3)                                # same seed, same picks
    runs = [picks(s) for s in range(30)]
    c_picks = {frozenset(i for i in r if groups[i] == "C") for r in runs}
    assert len(c_picks) > 1                                    # which 3 of C's 5: random
    c_low = {i for i in low if groups[i] == "C"}
    assert set().union(*c_picks) == c_low                      # every C candidate can come up
    assert {r[0] for r in runs} == {i for i in low if groups[i] == "A"}   # A's first: random
    assert {tuple(groups[list(r)]) for r in runs} == {("A", "B", "C", "A", "B", "C", "B", "C")}


def test_k_m_equal_to_n_select_is_margin_sampling():
    emb, probs, _, _ = hand_made_pool()
    sel = cluster_margin(emb, probs, 8, rng=np.random.default_rng(0), margin_frac=1.0,
                         epsilon=5.0)
    ref = margin(probs, 8, rng=np.random.default_rng(0))
    assert set(sel.indices) == set(ref.indices)


def test_auto_epsilon_finds_the_clusters():
    emb, probs, groups, low = hand_made_pool()
    # k_m = 10 candidates, at most 3 clusters: the three groups, one pick each, smallest first
    sel = cluster_margin(emb, probs, 3, rng=np.random.default_rng(0), margin_frac=10 / 3)
    assert sel.info["k_m"] == 10 and sel.info["n_clusters"] == 3
    assert list(groups[sel.indices]) == ["A", "B", "C"]
    assert 0 < sel.info["epsilon"] < 100 / 2 and sel.info["epsilon_rule"] == "auto"
    med = cluster_margin(emb, probs, 8, rng=np.random.default_rng(0), epsilon="median_nn")
    assert 0 < med.info["epsilon"] < 2 and med.info["epsilon_rule"] == "median_nn"


def test_hac_on_the_pool_counts_cluster_sizes_among_the_margin_set():
    emb, probs, groups, low = hand_made_pool()
    # the pool HAC puts the confident points and the near miss in A and C, but the clusters
    # are sorted by their members among the k_m candidates: still A < B < C
    sel = cluster_margin(emb, probs, 8, rng=np.random.default_rng(0), epsilon=5.0,
                         hac_on="pool")
    assert list(groups[sel.indices]) == ["A", "B", "C", "A", "B", "C", "B", "C"]
    assert sel.info["hac_on"] == "pool" and sel.info["hac_points"] == len(emb)
    assert not sel.info["hac_subsampled"]


@pytest.mark.parametrize("hac_on", ["margin", "pool"])
def test_subsampled_hac(hac_on):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(400, 5)).astype(np.float32)
    probs = rng.dirichlet(np.ones(10), size=400)
    sel = cluster_margin(emb, probs, 100, rng=np.random.default_rng(1), margin_frac=2.0,
                         hac_on=hac_on, hac_max_points=60)
    k_m = 200
    assert sel.info["hac_subsampled"] and sel.info["hac_points"] == 60
    assert sel.info["n_clusters"] <= 60
    assert len(np.unique(sel.indices)) == 100
    assert set(sel.indices) <= set(np.argsort(margins(probs))[:k_m])


def literal_round_robin(labels, k_t, rng):
    """Algorithm 2's sampling step as written: sort clusters ascending by size, then take one
    random point from each cluster in turn until k_t points."""
    clusters = [list(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    clusters.sort(key=len)
    picked, i = [], 0
    while len(picked) < k_t:
        c = clusters[i % len(clusters)]
        if c:
            picked.append(c.pop(int(rng.integers(len(c)))))
        i += 1
    return picked


@pytest.mark.parametrize("seed", range(5))
def test_round_robin_matches_the_pseudo_code(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 12, size=int(rng.integers(20, 80))) * 7   # any label values
    sizes = {c: int(np.sum(labels == c)) for c in np.unique(labels)}
    for k_t in (1, len(sizes), len(labels) // 2, len(labels)):
        ours = round_robin(labels, k_t, np.random.default_rng(seed))
        ref = literal_round_robin(labels, k_t, np.random.default_rng(seed))
        assert len(ours) == k_t and len(set(ours)) == k_t
        # the same cluster sizes in the same order; a cluster of unique size as often
        assert [sizes[labels[i]] for i in ours] == [sizes[labels[i]] for i in ref]
        for c in sizes:
            if list(sizes.values()).count(sizes[c]) == 1:
                assert np.sum(labels[ours] == c) == np.sum(labels[ref] == c)
        # pass-major order: pick t is in pass j = earlier picks of its cluster; passes never go
        # back, sizes ascend within a pass, and every full pass visits each cluster with > j
        # members once
        count, passes = {}, []
        for i in ours:
            passes.append(count.get(labels[i], 0))
            count[labels[i]] = passes[-1] + 1
        assert passes == sorted(passes)
        for j in set(passes):
            in_pass = [labels[i] for i, q in zip(ours, passes) if q == j]
            assert [sizes[c] for c in in_pass] == sorted(sizes[c] for c in in_pass)
            assert len(set(in_pass)) == len(in_pass)
            if j < max(passes):
                assert set(in_pass) == {c for c in sizes if sizes[c] > j}


@pytest.mark.parametrize("n_select", [0, 1, 37, 120, 300])
@pytest.mark.parametrize("params", [{}, {"epsilon": "median_nn"}, {"hac_on": "pool"},
                                    {"margin_frac": 4.0, "epsilon": 0.5}])
def test_invariants(n_select, params):
    rng = np.random.default_rng(n_select)
    emb = rng.normal(size=(300, 8)).astype(np.float32)
    probs = rng.dirichlet(np.ones(10), size=300)
    sel = cluster_margin(emb, probs, n_select, rng=np.random.default_rng(7), **params)
    idx = np.asarray(sel.indices)
    assert len(idx) == n_select and len(np.unique(idx)) == n_select
    assert idx.dtype.kind == "i" and (n_select == 0 or (idx.min() >= 0 and idx.max() < 300))
    k_m = n_margin_candidates(n_select, 300, params.get("margin_frac", 1.25))
    assert set(idx) <= set(np.argsort(margins(probs), kind="stable")[:k_m])
    again = cluster_margin(emb, probs, n_select, rng=np.random.default_rng(7), **params)
    np.testing.assert_array_equal(idx, again.indices)


def test_registered_with_its_config():
    from coreset_bench import select

    spec = samplers.get("cluster_margin", "classification")
    assert set(spec.needs) == {"embeddings", "probs"} and "NeurIPS 2021" in spec.citation
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(200, 4))
    probs = rng.dirichlet(np.ones(3), size=200)
    sel = select("cluster_margin", emb, 40, probs=probs, rng=np.random.default_rng(0))
    assert len(np.unique(sel.indices)) == 40
    assert sel.info["margin_frac"] == 1.25 and sel.info["hac_on"] == "margin"
    inputs = Inputs(n_candidates=200, budget=50, n_warm=10, embeddings=emb, probs=probs)
    assert spec.select(inputs, 40, np.random.default_rng(0)).info["k_m"] == 50


@pytest.mark.parametrize("params,needle", [
    ({"margin_frac": 0.5}, "sampler.margin_frac=0.5"),
    ({"margin_frac": "ten"}, "sampler.margin_frac='ten'"),
    ({"margin_frac": True}, "sampler.margin_frac=True"),
    ({"epsilon": -1.0}, "sampler.epsilon=-1.0"),
    ({"epsilon": "big"}, "sampler.epsilon='big'"),
    ({"epsilon": float("nan")}, "sampler.epsilon=nan"),
    ({"hac_on": "everything"}, "sampler.hac_on='everything'"),
    ({"hac_max_points": 1}, "sampler.hac_max_points=1"),
    ({"hac_max_points": 100.0}, "sampler.hac_max_points=100.0"),
])
def test_bad_params_are_config_errors(params, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)) as err:
        validate(100, 80, **params)
    assert "\n" not in str(err.value)
    emb = np.zeros((10, 2))
    probs = np.full((10, 2), 0.5)
    with pytest.raises(ConfigError):
        cluster_margin(emb, probs, 5, rng=np.random.default_rng(0), **params)


def test_too_many_points_is_a_clear_error():
    with pytest.raises(ConfigError, match="exceeds"):
        cluster_margin(np.zeros((5, 2)), np.full((5, 2), 0.5), 6, rng=np.random.default_rng(0))

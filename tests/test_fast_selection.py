"""The fast k-center and k-means of issue 8 against their references (exactness, quality)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from coreset_bench.errors import ConfigError
from coreset_bench.samplers import _kmeans, _sensitivity
from coreset_bench.samplers._centers import Centers, GroupedCenters
from coreset_bench.samplers.kcenter import kcenter_greedy, kcenter_greedy_reference


def clustered(n: int, d: int, k: int, seed: int) -> np.ndarray:
    """Points around k centers (like embeddings: far from uniform), float32."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 4
    return (centers[rng.integers(k, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_centers_keep_exact_nearest_distances(seed):
    x = clustered(1500, 16, 12, seed)
    rng = np.random.default_rng(seed)
    state = Centers(x, 60)
    state.bulk(x[rng.choice(len(x), 10, replace=False)])
    state.reorder()
    for _ in range(50):
        state.add(x[rng.integers(len(x))] + rng.normal(size=16).astype(np.float32))
    c = state.centers[:state.m].astype(np.float64)
    brute = ((state.x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
    np.testing.assert_allclose(state.dist, brute.min(1), rtol=1e-9, atol=1e-9)
    assert state.read < 50 * len(x)  # pruning skipped some distance computations


@pytest.mark.parametrize("pretest", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_pruned_kcenter_picks_what_the_float64_reference_picks(seed, pretest):
    """With the float32 center pre-test (the default) and without it (the version it sped up,
    kept for ``bench engine``): the reference's picks."""
    x = clustered(3000, 32, 20, seed)
    init = x[np.random.default_rng(seed).choice(len(x), 40, replace=False)] + 0.01
    fast = kcenter_greedy(x, 300, initial_centers=init, rng=np.random.default_rng(0), pretest=pretest)
    ref = kcenter_greedy_reference(x, 300, initial_centers=init, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(fast.indices, ref.indices)
    assert 0 < fast.info["distance_fraction"] < 0.5


def test_pruned_kcenter_without_initial_centers_and_with_duplicates():
    x = clustered(500, 8, 5, 3)
    a = kcenter_greedy(x, 50, initial_centers=None, rng=np.random.default_rng(4))
    b = kcenter_greedy_reference(x, 50, initial_centers=None, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a.indices, b.indices)
    for init in (None, x[:3]):   # nothing to pick: nothing picked, as the reference
        assert len(kcenter_greedy(x, 0, initial_centers=init, rng=np.random.default_rng(4)).indices) == 0
    dup = np.repeat(x[:5], 4, axis=0)  # 20 rows, 5 distinct: later picks are all at distance 0
    picks = kcenter_greedy(dup, 12, initial_centers=dup[:1], rng=np.random.default_rng(0)).indices
    ref = kcenter_greedy_reference(dup, 12, initial_centers=dup[:1], rng=np.random.default_rng(0)).indices
    assert len(np.unique(picks)) == 12
    np.testing.assert_array_equal(picks, ref)


def _grouped_dist(g: GroupedCenters) -> np.ndarray:
    """Each point's stored distance, by original index, from the grouped layout (which must
    hold every point exactly once)."""
    live = g.sid[:g.top] >= 0
    ids = g.sid[:g.top][live]
    assert np.array_equal(np.sort(ids), np.arange(g.n))
    assert g.seg_len[:g.m].sum() == g.n
    out = np.empty(g.n)
    out[ids] = g.sd[:g.top][live]
    return out


@pytest.mark.parametrize("first_bulk", [1, 5, 10**6])
def test_grouped_centers_keep_the_exact_distances_through_compaction_and_growth(first_bulk):
    """k-center's layout: initial centers by one product or (bulk_limit=0) a few then one by
    one in spread-out order; then many additions, which fill the spare slots (compaction) and,
    from one center, outgrow them (growth). Every point stays filed once, at its exact
    nearest-center distance, and the farthest point is the brute-force one."""
    x = clustered(800, 16, 10, 5)
    rng = np.random.default_rng(5)
    g = GroupedCenters(x, x[rng.choice(len(x), 30, replace=False)], 300, first_bulk=first_bulk,
                       bulk_limit=0, spare=100)
    slots0 = len(g.sd)
    for step in range(200):
        i, row = g.farthest()
        c = g.centers[:g.m].astype(np.float64)
        brute = ((x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1).min(1)
        np.testing.assert_allclose(_grouped_dist(g), brute, rtol=1e-9, atol=1e-9)
        assert brute[i] == brute.max() and i == np.flatnonzero(brute == brute.max())[0]
        g.add(row if step % 2 else row + rng.normal(size=16).astype(np.float32))
    lone = GroupedCenters(x, x[:1], 10, spare=10)   # all in one cluster: the second center
    lone.add(x[int(np.argmax(((x - x[0]) ** 2).sum(1)))])   # takes more than the spare slots
    _grouped_dist(lone)
    assert len(lone.sd) > len(x) + 10
    assert len(g.sd) == slots0 and g.read < 200 * len(x)


@pytest.mark.parametrize("trials", [1, 0])
def test_kmeans_plusplus_seeds_are_distinct_and_reproducible(trials):
    x = clustered(2000, 16, 30, 5)
    a = _kmeans.kmeans_plusplus(x, 60, np.random.default_rng(1), n_local_trials=trials)
    b = _kmeans.kmeans_plusplus(x, 60, np.random.default_rng(1), n_local_trials=trials)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 60
    # seeding covers the clusters: far better than 60 uniform points
    def cost(idx):
        return ((x[:, None, :] - x[idx][None]) ** 2).sum(-1).min(1).sum()
    uniform = np.random.default_rng(1).choice(len(x), 60, replace=False)
    assert cost(a) < cost(uniform)


@pytest.mark.parametrize("d", [16, 200])
def test_marked_seeding_gives_the_reference_seeds_bit_for_bit(d):
    """Adding the chosen candidate at the points its trial marked (the default) instead of
    testing every point again (``add``, the reference path the published rows were made with):
    the same seeds, distances and assignments, over many steps past the dense start."""
    x = clustered(3000, d, 50, 3)
    for seed in range(3):
        a = _kmeans.kmeans_plusplus(x, 150, np.random.default_rng(seed))
        b = _kmeans.kmeans_plusplus(x, 150, np.random.default_rng(seed), marked=False)
        np.testing.assert_array_equal(a, b)
    from coreset_bench.samplers._centers import Centers

    one, two = Centers(x, 40), Centers(x, 40)
    one.bulk(x[:5])
    two.bulk(x[:5])
    rng = np.random.default_rng(4)
    for _ in range(30):
        cands = x[rng.choice(len(x), 6, replace=False)] + rng.normal(size=(6, d)).astype(np.float32)
        g1, g2 = one.gains(cands), two.gains(cands)
        np.testing.assert_array_equal(g1, g2)
        t = int(np.argmax(g1))
        one.add_marked(t)
        two.add(cands[t])
        np.testing.assert_array_equal(one.dist, two.dist)
        np.testing.assert_array_equal(one.assign, two.assign)
    assert one.read < two.read
    one.gains(x[:3])
    one.add(x[5])                      # the state changed: the marks no longer describe it
    with pytest.raises(ValueError, match="marks of a gains call"):
        one.add_marked(0)


def test_fast_kmeans_inertia_is_close_to_scikit_learn():
    """Well-separated clusters, as many as k: the case where the greedy seeding matters."""
    x = clustered(4000, 32, 40, 6)
    ours, plain, ref = [], [], []
    for seed in range(3):
        _, inertia, iters = _kmeans.kmeans(x, 40, np.random.default_rng(seed), iters=20)
        assert 1 <= iters <= 20
        ours.append(inertia)
        plain.append(_kmeans.kmeans(x, 40, np.random.default_rng(seed), iters=20, n_local_trials=1)[1])
        ref.append(KMeans(40, random_state=seed).fit(x).inertia_)
    assert np.mean(ours) <= 1.01 * np.mean(ref)
    assert np.mean(plain) > 1.1 * np.mean(ref)  # why the greedy variant is the default


def test_kmeans_choice_is_validated_and_recorded():
    with pytest.raises(ConfigError, match="valid choices: fast, sklearn"):
        _sensitivity.validate(100, 80, kmeans="faiss")
    with pytest.raises(ConfigError, match="lloyd_iters"):
        _sensitivity.validate(100, 80, lloyd_iters=0)
    x = clustered(600, 8, 6, 0)
    rng = np.random.default_rng(0)
    for method in ("fast", "sklearn"):
        sel = _sensitivity.sensitivity_sampling(
            x, 100, n_clusters=20, oracle=lambda idx: np.ones(len(idx)), rng=rng, kmeans=method)
        assert sel.info["kmeans_iters"] >= 1 and sel.info["kmeans_inertia"] > 0


def test_kmeans_sklearn_is_scikit_learns_own_fit():
    """kmeans=sklearn: scikit-learn's KMeans with the config's n_init / max_iter and a seed drawn
    from the run's generator, its centers snapped to points; the fast path lands near it."""
    x = clustered(600, 8, 6, 0)
    knobs = _sensitivity.kmeans_knobs()
    centers, info = _sensitivity.cluster_points(x, 20, np.random.default_rng(7), kmeans="sklearn")
    seed = int(np.random.default_rng(7).integers(0, 2**31 - 1))
    km = KMeans(n_clusters=20, n_init=knobs["kmeans_n_init"], max_iter=knobs["kmeans_max_iter"],
                random_state=seed).fit(x)
    np.testing.assert_array_equal(centers, _sensitivity.snap_to_points(x, km.cluster_centers_.astype(x.dtype)))
    assert info["kmeans_iters"] == km.n_iter_ and info["kmeans_inertia"] == pytest.approx(km.inertia_)
    _, fast = _sensitivity.cluster_points(x, 20, np.random.default_rng(7), kmeans="fast")
    assert fast["kmeans_inertia"] <= 1.05 * km.inertia_


def test_snapping_in_row_blocks_picks_what_one_pass_picks(monkeypatch):
    """Large pools snap centers to points walking the rows in blocks (O(block) memory); the
    result is the one-pass result (the path every paper-sized pool still takes)."""
    from coreset_bench.samplers import _sensitivity

    rng = np.random.default_rng(3)
    x = rng.normal(size=(5000, 16)).astype(np.float32)
    centers = x[rng.choice(5000, 300, replace=False)] + rng.normal(0, 0.3, (300, 16)).astype(np.float32)
    one_pass = _sensitivity.snap_to_points(x, centers)
    monkeypatch.setattr(_sensitivity, "SNAP_SINGLE_PASS", 0)
    monkeypatch.setattr(_sensitivity, "SNAP_BLOCK", 300 * 700)      # 700-row blocks
    np.testing.assert_array_equal(_sensitivity.snap_to_points(x, centers), one_pass)
    assert len(np.unique(one_pass)) == 300


def test_kmeans_on_a_subsample_is_recorded_and_selects_validly():
    from coreset_bench import select

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(6000, 8)).astype(np.float32)
    losses = rng.gamma(2.0, size=6000)
    full = select("loss", emb, 400, oracle=lambda i: losses[i], rng=np.random.default_rng(1))
    sub = select("loss", emb, 400, oracle=lambda i: losses[i], rng=np.random.default_rng(1),
                 kmeans_sample=1000)
    assert sub.info["kmeans_sample"] == 1000 and "kmeans_sample" not in full.info
    assert len(np.unique(sub.indices)) == 400 and sub.n_inferences == 80   # k'' = 0.2 * 400
    # an O(1)-approximate clustering: its cost on all points stays near the full fit's
    assert sub.info["kmeans_cost"] < 1.25 * full.info["kmeans_cost"]
    from coreset_bench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"sampler.kmeans_sample=0 must be a positive integer or null"):
        select("loss", emb, 400, oracle=lambda i: losses[i], rng=rng, kmeans_sample=0)

"""BADGE (issue 12, item 3): factorised gradient-embedding distances equal the explicit ones,
the first pick is the largest gradient norm, a toy case is covered cluster by cluster, memory
stays O(n (C + d)), and it runs as an extra Figure 4 row."""

from __future__ import annotations

import tracemalloc

import numpy as np

from coreset_bench import select, store
from coreset_bench.samplers.badge import badge, gradient_embedding_sq_norms

from conftest import run_cli


def _explicit(h: np.ndarray, p: np.ndarray) -> np.ndarray:
    a = np.eye(p.shape[1])[p.argmax(1)] - p
    return (a[:, :, None] * h[:, None, :]).reshape(len(h), -1)     # n x (C d), the definition


def test_the_first_pick_and_the_norms_match_the_explicit_gradient_embeddings():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(300, 6)).astype(np.float32)
    p = rng.dirichlet(np.ones(4), size=300)
    g = _explicit(h.astype(np.float64), p)
    np.testing.assert_allclose(gradient_embedding_sq_norms(p, h.astype(np.float64)),
                               (g ** 2).sum(1), rtol=1e-10)
    sel = badge(h, p, 30, rng=np.random.default_rng(1))
    assert sel.indices[0] == np.argmax((g ** 2).sum(1)) and len(set(sel.indices)) == 30
    assert sel.n_inferences == 300


def test_the_draws_follow_d2_on_the_explicit_embeddings():
    """The second pick's distribution over 4,000 seeds matches squared distances to the first
    pick computed on the materialised gradient embeddings (chi-square, 8 points)."""
    from scipy import stats

    rng = np.random.default_rng(2)
    h = rng.normal(size=(8, 3))
    p = rng.dirichlet(np.ones(3), size=8)
    g = _explicit(h, p)
    first = int(np.argmax((g ** 2).sum(1)))
    d2 = ((g - g[first]) ** 2).sum(1)
    counts = np.bincount([badge(h, p, 2, rng=np.random.default_rng(s)).indices[1]
                          for s in range(4000)], minlength=8)
    expected = 4000 * d2 / d2.sum()
    keep = expected > 0
    assert counts[~keep].sum() == 0
    assert stats.chisquare(counts[keep], expected[keep]).pvalue > 1e-3


def test_badge_covers_every_cluster_of_a_toy_case():
    """Five well-separated clusters, every point equally uncertain: ten picks reach all five,
    for every seed tried."""
    rng = np.random.default_rng(3)
    centers = rng.normal(0, 20, size=(5, 8))
    label = np.repeat(np.arange(5), 200)
    h = centers[label] + rng.normal(size=(1000, 8))
    p = np.tile([0.6, 0.3, 0.1], (1000, 1))
    for seed in range(20):
        sel = select("badge", h, 10, probs=p, rng=np.random.default_rng(seed))
        assert set(label[sel.indices]) == set(range(5))


def test_badge_never_builds_the_gradient_embeddings():
    """60,000 x 64 embeddings, 10 classes: the explicit g would take 60,000 x 640 x 8 bytes =
    307 MB; BADGE's peak extra memory stays a few n x (C + d) arrays."""
    rng = np.random.default_rng(4)
    h = rng.normal(size=(60_000, 64)).astype(np.float32)
    p = rng.dirichlet(np.ones(10), size=60_000)
    tracemalloc.start()
    badge(h, p, 20, rng=np.random.default_rng(0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 60_000 * (10 + 64) * 8 * 2.5      # < 89 MB, against 307 MB for g alone


def test_badge_is_an_extra_figure4_row_and_refuses_regression(tmp_path):
    out = run_cli("run", "-m", "samplers=[uniform,badge]", "budget=100", "seed=0,1",
                  f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    frame = store.load(tmp_path)
    assert set(frame["sampler"]) == {"uniform", "badge"} and (frame["status"] == "ok").all()
    badge_rows = frame[frame["sampler"] == "badge"]
    assert (badge_rows["n_inferences"] == 1347 - 20).all()     # every candidate's probabilities
    bad = run_cli("run", "dataset=gas_sensor_drift", "sampler=badge", f"results_dir={tmp_path / 'r'}")
    assert bad.returncode == 2
    assert "sampler 'badge' does not do regression; valid samplers for a regression dataset: " \
           in bad.stderr and len(bad.stderr.strip().splitlines()) == 1

"""Sensitivity sampling, Algorithm 1 of "Sensitivity Sampling for Coreset-Based Data Selection"
as run in its section 5.2; shared by the ``loss`` and ``grad`` samplers.

1. k''-means on the candidates' embeddings; each center is replaced by its nearest candidate,
   distinct points (the set A). ``kmeans=fast`` (default): k-means++ seeding (pruned, exact)
   and at most ``lloyd_iters`` Lloyd iterations (``_kmeans``); ``kmeans=sklearn``:
   scikit-learn's ``KMeans`` with ``kmeans_n_init`` / ``kmeans_max_iter`` (the paper's, the
   reference). Both run on one thread.
2. The model is queried only at A: l(a) for a in A (``oracle``).
3. Every candidate e gets l~(e) = l(A(e)) + lambda * ||e - A(e)||^2, A(e) its nearest point of A.
4. The remaining n_select - k'' points are drawn from the other candidates with probability
   proportional to l~, without replacement (successive draws), and weighted by Des Raj's
   estimator for that scheme (``desraj_weights``: unbiased, unlike the i.i.d. weight
   1 / (s p_i) without replacement). The k'' points of A join the selection (they were labelled
   to be queried), with weight 1.

Large pools (``kmeans_sample=m``, no config file sets it: ``+sampler.kmeans_sample=100000``):
step 1 fits the k-means on m candidates drawn uniformly (the paper asks only for an
O(1)-approximate clustering), then snaps the centers to the full candidate set; the row records
``kmeans_sample`` and the full data's clustering cost, so its price in cost is visible.

lambda is not given by the paper. ``lam="auto"`` (the default) picks the lambda that makes
lambda * sum_e ||e - A(e)||^2 equal to sum_e l(A(e)), i.e. both terms weigh the same in total;
a number fixes it (0 = loss only). ``lam_scale=c`` (no config sets it: ``+sampler.lam_scale=10``
or ``sampler_params``) multiplies the resolved lambda, for the ablations' 0.1x and 10x auto.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..errors import ConfigError
from . import _kmeans
from ._base import Selection, as_2d, balance_weight, check_n_select, nearest, squared_distances


# Above this many distance entries per block (256 centers x n rows), snapping walks the rows in
# blocks of SNAP_BLOCK entries instead (O(block) memory: 16 MiB per float32 block); below it,
# the original path (bit-identical selections for every pool of the paper: 256 x 60,000 = 15.4 M
# <= 2^24).
SNAP_SINGLE_PASS = 1 << 24
SNAP_BLOCK = 1 << 22


def _nearest_rows(x: np.ndarray, centers: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    """For each center, its nearest row of ``x`` (lowest index on ties)."""
    first = np.empty(len(centers), dtype=np.int64)
    if 256 * len(x) <= SNAP_SINGLE_PASS:
        for start in range(0, len(centers), 256):
            first[start:start + 256] = squared_distances(x, centers[start:start + 256],
                                                         x_sq).argmin(0)
        return first
    rows = max(1, SNAP_BLOCK // max(len(centers), 1))
    best = np.full(len(centers), np.inf)
    for start in range(0, len(x), rows):
        d = squared_distances(x[start:start + rows], centers, x_sq[start:start + rows])
        arg = d.argmin(0)
        val = d[arg, np.arange(len(centers))]
        better = val < best                      # strict: an earlier row wins a tie
        best[better], first[better] = val[better], arg[better] + start
    return first


def snap_to_points(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """For each center, the index of its nearest row of ``x``; all indices distinct.

    A center whose nearest row is already taken by an earlier center gets its nearest free row.
    """
    if len(centers) > len(x):
        raise ValueError(f"{len(centers)} centers cannot snap to {len(x)} distinct points")
    x_sq = np.einsum("ij,ij->i", x, x)
    first = _nearest_rows(x, centers, x_sq)
    if len(np.unique(first)) == len(first):
        return first
    taken = np.zeros(len(x), dtype=bool)
    out = np.empty_like(first)
    for j, c in enumerate(centers):
        if not taken[first[j]]:
            out[j] = first[j]
        else:
            d = squared_distances(x, c[None, :], x_sq)[:, 0]
            d[taken] = np.inf
            out[j] = int(np.argmin(d))
        taken[out[j]] = True
    return out


def resolve_lambda(lam: float | str, l_hat: np.ndarray, v: np.ndarray) -> float:
    return balance_weight("lam", lam, l_hat, v)


# How the sampled points are drawn and weighted (rows: ``sampler_info.draw_scheme``).
DRAW_SCHEME = "successive_desraj"


def desraj_weights(p_drawn: np.ndarray) -> np.ndarray:
    """Importance weights of points drawn one after another without replacement, each with
    probability proportional to p among the points not yet drawn (successive sampling), in the
    order they were drawn: Des Raj's estimator (Des Raj 1956; Cochran, "Sampling Techniques",
    section 9A.6) of a total T = sum_i l_i over the population of p,

        z_1 = l_1 / p_1,   z_j = sum_{m<j} l_m + l_j (1 - p_1 - ... - p_{j-1}) / p_j,
        T^ = (1/s) sum_j z_j = sum_j w_j l_j,   w_j = ((1 - P_{j-1}) / p_j + s - j) / s,

    is exactly unbiased (each z_j is, given the first j - 1 draws), whereas 1 / (s p_j), the
    weight of i.i.d. draws, is biased low without replacement. ``p_drawn``: the drawn points'
    probabilities (of the full population, summing to 1 over it), in draw order."""
    p_drawn = np.asarray(p_drawn, dtype=np.float64)
    s = len(p_drawn)
    left = np.clip(1.0 - np.concatenate([[0.0], np.cumsum(p_drawn)[:-1]]), 0.0, None)
    return (left / p_drawn + (s - 1 - np.arange(s))) / s


def draw_proportional(scores: np.ndarray, n: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct indices drawn with probability proportional to ``scores``, and their
    importance weights: sum_S w_i l_i is an unbiased estimate of sum_i l_i over all items.

    With at least ``n`` positive scores: successive sampling (numpy's ``choice`` without
    replacement returns the draws in order) with Des Raj's weights (``desraj_weights``).
    Otherwise every positive-score item is taken (weight 1) and the rest is filled uniformly
    without replacement from the zero-score items (weight |zeros| / fill size each).
    """
    positive = np.flatnonzero(scores > 0)
    total = scores.sum()
    if len(positive) >= n and total > 0:
        p = scores / total
        drawn = rng.choice(len(scores), size=n, replace=False, p=p)
        return drawn, desraj_weights(p[drawn])
    zeros = np.flatnonzero(scores <= 0)
    fill = rng.choice(zeros, size=n - len(positive), replace=False)
    weights = np.concatenate([np.ones(len(positive)),
                              np.full(len(fill), len(zeros) / max(len(fill), 1))])
    return np.concatenate([positive, fill]), weights


KMEANS = ("fast", "sklearn")
# Algorithm 1's k-means knobs: their defaults live in conf/sampler/loss.yaml (grad.yaml starts
# from it); a function here given None for one takes that value (``kmeans_knobs``).
KMEANS_KNOBS = ("kmeans", "kmeans_n_init", "kmeans_max_iter", "lloyd_iters", "kmeans_trials")
_KNOB_DEFAULTS: dict = {}


def kmeans_knobs(**given) -> dict:
    """The k-means knobs: each one given (not None), else the config's default."""
    if not _KNOB_DEFAULTS:
        from ..config import group_option

        loss = group_option("sampler", "loss")
        _KNOB_DEFAULTS.update({k: loss[k] for k in KMEANS_KNOBS})
    return {k: _KNOB_DEFAULTS[k] if given.get(k) is None else given[k] for k in KMEANS_KNOBS}


def cluster_points(x: np.ndarray, n_clusters: int, rng: np.random.Generator, *,
                   kmeans: str | None = None, kmeans_n_init: int | str | None = None,
                   kmeans_max_iter: int | None = None, lloyd_iters: int | None = None,
                   kmeans_trials: int | None = None, kmeans_sample: int | None = None
                   ) -> tuple[np.ndarray, dict]:
    """Step 1: k-means on ``x`` (or on ``kmeans_sample`` of its rows drawn uniformly), each
    center snapped to a distinct row of ``x`` (indices into ``x``); also returns what the
    clustering reports (iterations, inertia on the data it was fitted on)."""
    knobs = kmeans_knobs(kmeans=kmeans, kmeans_n_init=kmeans_n_init, kmeans_max_iter=kmeans_max_iter,
                         lloyd_iters=lloyd_iters, kmeans_trials=kmeans_trials)
    kmeans, kmeans_n_init, kmeans_max_iter, lloyd_iters, kmeans_trials = knobs.values()
    fit_on, info = x, {}
    if kmeans_sample is not None and kmeans_sample < len(x):
        rows = np.sort(rng.choice(len(x), size=max(int(kmeans_sample), n_clusters), replace=False))
        fit_on, info = x[rows], {"kmeans_sample": int(len(rows))}
    if kmeans == "sklearn":
        from sklearn.cluster import KMeans   # here: the sweep's own process never needs it
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            km = KMeans(n_clusters=n_clusters, n_init=kmeans_n_init, max_iter=kmeans_max_iter,
                        random_state=int(rng.integers(0, 2**31 - 1))).fit(fit_on)
        centers = km.cluster_centers_
        info.update(kmeans_iters=int(km.n_iter_), kmeans_inertia=float(km.inertia_))
    else:
        centers, inertia, iters = _kmeans.kmeans(fit_on, n_clusters, rng, iters=lloyd_iters,
                                                 n_local_trials=kmeans_trials)
        info.update(kmeans_iters=iters, kmeans_inertia=inertia)
    return snap_to_points(x, np.asarray(centers, x.dtype)), info


def extrapolate(x: np.ndarray, centers: np.ndarray, losses: np.ndarray, lam: float | str,
                lam_scale: float = 1.0, *,
                assignment: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, float, float]:
    """Step 3: l~(e) = l(A(e)) + lam * ||e - A(e)||^2 for every row e of ``x``, lam resolved
    (``auto``) and then multiplied by ``lam_scale`` (the ablations' 0.1x and 10x auto).
    ``assignment``: ``nearest(x, x[centers])`` when the caller has it already.

    Returns l~, the lambda used, and the clustering cost sum_e ||e - A(e)||^2.
    """
    assign, v = assignment if assignment is not None else nearest(x, x[centers])
    l_hat = losses[assign]
    lam_used = resolve_lambda(lam, l_hat, v) * float(lam_scale)
    return l_hat + lam_used * v, lam_used, float(v.sum())


def sensitivity_sampling(embeddings: np.ndarray, n_select: int, *, n_clusters: int,
                         oracle: Callable[[np.ndarray], np.ndarray], lam: float | str = "auto",
                         rng: np.random.Generator, kmeans: str | None = None,
                         kmeans_n_init: int | str | None = None, kmeans_max_iter: int | None = None,
                         lloyd_iters: int | None = None, kmeans_trials: int | None = None,
                         kmeans_sample: int | None = None, lam_scale: float | None = None,
                         cluster_rng: np.random.Generator | None = None,
                         memo: dict | None = None) -> Selection:
    """Algorithm 1 on candidate ``embeddings`` (m, d).

    Parameters
    ----------
    n_select : total points to return, including the ``n_clusters`` queried center points.
    n_clusters : k'', the number of k-means centers (model queries).
    oracle : maps an index array into ``embeddings`` to non-negative per-example losses.
    lam : Hoelder constant lambda, or ``"auto"`` (see module docstring).
    cluster_rng : seeds the k-means (default: ``rng``); with ``memo``, a clustering computed
        from the same ``cluster_rng`` seed and parameters is reused (``loss`` and ``grad`` of
        one group share it).

    Returns
    -------
    Selection
        The k'' center points followed by the sampled points (in draw order); ``weights`` are
        1 for the centers and ``draw_proportional``'s for the sampled points, so that
        sum_S w l is an unbiased estimate of the loss summed over all candidates;
        ``n_inferences`` = k''.
    """
    x = as_2d("embeddings", embeddings)
    check_n_select(n_select, len(x))
    if not 1 <= n_clusters <= n_select:
        raise ConfigError(f"n_clusters={n_clusters} must be between 1 and n_select={n_select}")
    timings = {}
    opts = kmeans_knobs(kmeans=kmeans, kmeans_n_init=kmeans_n_init, kmeans_max_iter=kmeans_max_iter,
                        lloyd_iters=lloyd_iters, kmeans_trials=kmeans_trials)
    if kmeans_sample is not None:   # absent otherwise: the memo keys of default runs unchanged
        opts["kmeans_sample"] = kmeans_sample
    key = ("kmeans", n_clusters, *map(str, opts.values()))
    if memo is not None and key in memo:
        centers, km_info, timings["cluster"] = memo[key]  # its own cost, reported again
    else:
        t0 = time.perf_counter()
        centers, km_info = cluster_points(x, n_clusters, cluster_rng or rng, **opts)
        timings["cluster"] = time.perf_counter() - t0
        if memo is not None:
            memo[key] = (centers, km_info, timings["cluster"])

    t0 = time.perf_counter()
    losses = np.asarray(oracle(centers), dtype=np.float64)
    timings["query"] = time.perf_counter() - t0
    if losses.shape != (n_clusters,) or not np.all(np.isfinite(losses)) or losses.min() < 0:
        raise ValueError("oracle must return one finite non-negative loss per queried point")

    t0 = time.perf_counter()
    scores, lam_used, cost = extrapolate(x, centers, losses, lam,
                                         1.0 if lam_scale is None else lam_scale)
    timings["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rest = np.setdiff1d(np.arange(len(x)), centers)
    n_rest = n_select - n_clusters
    drawn, w_drawn = draw_proportional(scores[rest], n_rest, rng)
    indices = np.concatenate([centers, rest[drawn]])
    weights = np.concatenate([np.ones(n_clusters), w_drawn])
    timings["sample"] = time.perf_counter() - t0
    return Selection(indices=indices, weights=weights, n_inferences=n_clusters, timings=timings,
                     info={"lambda": lam_used, "n_clusters": n_clusters, "kmeans_cost": cost,
                           "draw_scheme": DRAW_SCHEME, **km_info})


def n_clusters_for(budget: int, cluster_frac: float) -> int:
    """k'' = round(cluster_frac * k) (the paper: 0.2 k)."""
    return int(round(cluster_frac * budget))


def validate(budget: int, n_select: int, *, cluster_frac: float = 0.2, lam: float | str = "auto",
             kmeans: str | None = None, lloyd_iters: int | None = None, kmeans_trials: int | None = None,
             kmeans_max_iter: int | None = None, kmeans_sample: int | None = None,
             lam_scale: float | None = None, **_: object) -> None:
    """Reject, before any training, budgets for which Algorithm 1 has no valid k'' and bad
    k-means options."""
    kmeans, _, kmeans_max_iter, lloyd_iters, kmeans_trials = kmeans_knobs(
        kmeans=kmeans, kmeans_max_iter=kmeans_max_iter, lloyd_iters=lloyd_iters,
        kmeans_trials=kmeans_trials).values()
    if kmeans not in KMEANS:
        raise ConfigError(f"sampler.kmeans={kmeans!r} is not valid; valid choices: {', '.join(KMEANS)}")
    for key, value, low in (("kmeans_trials", kmeans_trials, 0), ("lloyd_iters", lloyd_iters, 1),
                            ("kmeans_max_iter", kmeans_max_iter, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"sampler.{key}={value!r} must be an integer >= {low}")
    if kmeans_sample is not None and (not isinstance(kmeans_sample, int)
                                      or isinstance(kmeans_sample, bool) or kmeans_sample < 1):
        raise ConfigError(f"sampler.kmeans_sample={kmeans_sample!r} must be a positive integer "
                          "or null")
    if lam_scale is not None and (isinstance(lam_scale, bool) or not isinstance(lam_scale, (int, float))
                                  or not 0 < lam_scale < float("inf")):
        raise ConfigError(f"sampler.lam_scale={lam_scale!r} must be a positive number (a "
                          "multiple of the resolved lambda) or null")
    if not 0 < cluster_frac < 1:
        raise ConfigError(f"sampler.cluster_frac={cluster_frac} must be in (0, 1)")
    k2 = n_clusters_for(budget, cluster_frac)
    if k2 < 1:
        raise ConfigError(f"budget={budget} gives k''=round({cluster_frac}*{budget})=0 cluster "
                          f"centers; use budget >= {int(np.ceil(0.5 / cluster_frac))}")
    if k2 > n_select:
        raise ConfigError(f"budget={budget}: k''={k2} cluster centers exceed the {n_select} points "
                          f"left after the warm start")
    if lam != "auto":
        resolve_lambda(lam, np.zeros(1), np.zeros(1))


def select(inputs, n_select: int, rng: np.random.Generator, *, cluster_frac: float = 0.2,
           lam: float | str = "auto", kmeans: str | None = None, kmeans_n_init: int | str | None = None,
           kmeans_max_iter: int | None = None, lloyd_iters: int | None = None, kmeans_trials: int | None = None,
           kmeans_sample: int | None = None, lam_scale: float | None = None) -> Selection:
    """Adapter from the protocol's ``Inputs`` (embeddings + oracle) to Algorithm 1; the
    clustering is seeded by the group, so ``loss`` and ``grad`` of a group share it."""
    cluster_rng = (np.random.default_rng([inputs.group_seed, 1])
                   if inputs.group_seed is not None else None)
    return sensitivity_sampling(
        inputs.embeddings, n_select, n_clusters=n_clusters_for(inputs.budget, cluster_frac),
        oracle=inputs.oracle, lam=lam, rng=rng, kmeans=kmeans, kmeans_n_init=kmeans_n_init,
        kmeans_max_iter=kmeans_max_iter, lloyd_iters=lloyd_iters, kmeans_trials=kmeans_trials,
        kmeans_sample=kmeans_sample, lam_scale=lam_scale, cluster_rng=cluster_rng,
        memo=inputs.memo)

"""Cluster-Margin (Citovsky, DeSalvo, Gentile, Karydas, Rajagopalan, Rostamizadeh & Kumar,
"Batch Active Learning at Scale", NeurIPS 2021, Algorithms 1 and 2). Not in the paper this
project reproduces: an extra baseline that mixes uncertainty (margin) and diversity (HAC).

The paper's algorithm, per round of batch active learning:

1. (once) Hierarchical agglomerative clustering of the pool's embeddings, average linkage,
   merging while the average-linkage distance is at most a threshold epsilon (Algorithm 1).
2. The k_m unlabelled points with the smallest margin (top-1 minus top-2 class probability).
3. Group them by cluster, keeping only these k_m points in each cluster; sort the clusters by
   size, ascending.
4. Round-robin over the sorted clusters: from each cluster in turn draw one point uniformly at
   random (without replacement), skipping emptied clusters, until k_t points are drawn.

Here there is a single round (k_t = ``n_select``), and the clustering is one step of it:

- ``hac_on="margin"`` (default): the HAC runs on the k_m margin candidates only. For one
  round this changes only which points the average-linkage distances are averaged over (the
  paper averages over the whole pool, then keeps the margin points); it is O(k_m^2) instead
  of O(m^2) (60,000 points would need a 14 GB distance matrix).
- ``hac_on="pool"``: the paper's reading, the HAC runs on all candidates; above
  ``hac_max_points`` on a uniform subsample of them, every other point joining the cluster
  of its nearest subsampled point (with ``hac_on="margin"`` the same cap applies to k_m).

The row records what was done (``sampler_info.hac_on``, ``hac_points``, ``hac_subsampled``).
Distances are Euclidean on the embeddings. Algorithm 1 is average-linkage HAC stopped once
no two clusters are within epsilon; here scipy's exact average linkage, cut at epsilon
(``fcluster(..., criterion="distance")``), gives those flat clusters.

epsilon (``epsilon``): the paper fixes it per dataset to get clusters of a chosen size; it has
no value that carries over to other embeddings. ``"auto"`` (default) takes the smallest
threshold at which the k_m margin candidates fall into at most ``n_select`` clusters, i.e. a
mean cluster size of k_m / n_select = ``margin_frac``: the first round-robin pass then takes
one point from (nearly) every cluster. ``"median_nn"``: the median distance of a clustered
point to its nearest other clustered point. A number: the threshold itself, in embedding
units. The resolved value is recorded (``sampler_info.epsilon``).
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from ..errors import ConfigError
from ._base import (SamplerSpec, Selection, as_2d, check_n_select, nearest, select_lowest,
                    squared_distances)

HAC_ON = ("margin", "pool")
EPSILON_RULES = ("auto", "median_nn")


def margins(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 class probability of every row of ``probs`` (m, C)."""
    if probs.shape[1] < 2:
        raise ValueError(f"probs needs at least 2 classes, got {probs.shape[1]}")
    top2 = np.sort(np.partition(probs, -2, axis=1)[:, -2:], axis=1)
    return top2[:, 1] - top2[:, 0]


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_params(*, margin_frac: float, epsilon: float | str, hac_on: str,
                 hac_max_points: int) -> None:
    """ConfigError naming the first invalid parameter."""
    if not _is_number(margin_frac) or not 1 <= margin_frac < float("inf"):
        raise ConfigError(f"sampler.margin_frac={margin_frac!r} must be a number >= 1 "
                          "(k_m = margin_frac * n_select margin candidates)")
    if not (epsilon in EPSILON_RULES
            or (_is_number(epsilon) and 0 <= epsilon < float("inf"))):
        raise ConfigError(f"sampler.epsilon={epsilon!r} must be 'auto', 'median_nn' or a "
                          "number >= 0")
    if hac_on not in HAC_ON:
        raise ConfigError(f"sampler.hac_on={hac_on!r} is not valid; valid choices: "
                          f"{', '.join(HAC_ON)}")
    if not isinstance(hac_max_points, numbers.Integral) or isinstance(hac_max_points, bool) \
            or hac_max_points < 2:
        raise ConfigError(f"sampler.hac_max_points={hac_max_points!r} must be an integer >= 2")


def n_margin_candidates(n_select: int, n_candidates: int, margin_frac: float) -> int:
    """k_m = ceil(margin_frac * n_select), at most the number of candidates."""
    return int(min(n_candidates, np.ceil(margin_frac * n_select - 1e-9)))


def round_robin(labels: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
    """Algorithm 2's sampling step on points with cluster ``labels``: clusters sorted by size
    (ascending; equal sizes in random order), then one point drawn at random from each
    cluster in turn, emptied clusters skipped, until ``n_select`` points.

    Returns positions into ``labels``, in pick order. Vectorised: a point's pass is its rank
    in a random order of its cluster, and the picks are ordered by (pass, cluster position).
    """
    labels = np.asarray(labels)
    check_n_select(n_select, len(labels))
    _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    position = np.empty(len(sizes), dtype=np.int64)
    position[np.lexsort((rng.random(len(sizes)), sizes))] = np.arange(len(sizes))
    shuffled = rng.permutation(len(labels))             # random order within each cluster
    by_cluster = shuffled[np.argsort(inverse[shuffled], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(len(labels), dtype=np.int64)
    rank[by_cluster] = np.arange(len(labels)) - np.repeat(starts, sizes)
    order = np.lexsort((position[inverse], rank))
    return order[:n_select]


def _median_nn_distance(x: np.ndarray, chunk: int = 1024) -> float:
    """Median over the rows of ``x`` of the Euclidean distance to the nearest other row."""
    x_sq = np.einsum("ij,ij->i", x, x)
    best = np.empty(len(x))
    for start in range(0, len(x), chunk):
        d = squared_distances(x[start:start + chunk], x, x_sq[start:start + chunk])
        d[np.arange(len(d)), np.arange(start, start + len(d))] = np.inf
        best[start:start + chunk] = d.min(axis=1)
    return float(np.sqrt(np.median(best)))


def _auto_epsilon(tree: np.ndarray, to_margin: np.ndarray, n_select: int) -> float:
    """The smallest merge height of ``tree`` at which the margin candidates (their clustered
    point: ``to_margin``) fall into at most ``n_select`` clusters (0 if they already do)."""
    from scipy.cluster.hierarchy import fcluster

    def n_clusters(t: float) -> int:
        return len(np.unique(fcluster(tree, t, criterion="distance")[to_margin]))

    heights = np.sort(tree[:, 2])
    if n_clusters(0.0) <= n_select:
        return 0.0
    lo, hi = 0, len(heights) - 1        # at the top height there is one cluster
    while lo < hi:
        mid = (lo + hi) // 2
        if n_clusters(heights[mid]) <= n_select:
            hi = mid
        else:
            lo = mid + 1
    return float(heights[lo])


def cluster_margin(embeddings: np.ndarray, probs: np.ndarray, n_select: int, *,
                   rng: np.random.Generator, margin_frac: float = 1.25,
                   epsilon: float | str = "auto", hac_on: str = "margin",
                   hac_max_points: int = 5000) -> Selection:
    """``n_select`` candidates by Cluster-Margin (one round).

    Parameters
    ----------
    embeddings : (m, d) candidate embeddings (clustered, Euclidean distance).
    probs : (m, C) class probabilities of the candidates (their inferences).
    margin_frac : k_m = ceil(margin_frac * n_select) lowest-margin candidates (at most m).
    epsilon : HAC distance threshold: a number, ``"auto"`` or ``"median_nn"`` (module doc).
    hac_on : ``"margin"`` (HAC on the k_m candidates) or ``"pool"`` (on all candidates).
    hac_max_points : at most this many points enter the HAC; beyond it a uniform subsample,
        the others joining their nearest subsampled point's cluster.

    Returns
    -------
    Selection
        Distinct indices into the candidates, in pick order (round-robin order), all among
        the k_m lowest-margin candidates. ``info``: the resolved parameters.
    """
    check_params(margin_frac=margin_frac, epsilon=epsilon, hac_on=hac_on,
                 hac_max_points=hac_max_points)
    x = as_2d("embeddings", embeddings)
    p = as_2d("probs", probs)
    if len(p) != len(x):
        raise ValueError(f"probs has {len(p)} rows for {len(x)} embeddings")
    check_n_select(n_select, len(x))
    if n_select == 0:
        return Selection(indices=np.empty(0, dtype=np.int64), n_inferences=len(p))
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    k_m = n_margin_candidates(n_select, len(x), margin_frac)
    cand = select_lowest(margins(p), k_m, rng)          # sorted indices, ties at random
    timings["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    source = cand if hac_on == "margin" else np.arange(len(x))
    subsampled = len(source) > hac_max_points
    hac_idx = np.sort(rng.choice(source, hac_max_points, replace=False)) if subsampled \
        else source
    pts = np.asarray(x[hac_idx], dtype=np.float64)
    # to_margin[j]: the clustered point whose cluster margin candidate j joins
    if not subsampled and hac_on == "margin":
        to_margin = np.arange(k_m)
    else:
        where = np.full(len(x), -1, dtype=np.int64)
        where[hac_idx] = np.arange(len(hac_idx))
        to_margin = where[cand]
        loose = to_margin < 0
        if loose.any():
            to_margin[loose] = nearest(np.asarray(x[cand[loose]], dtype=np.float64), pts)[0]
    if len(pts) >= 2:
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(pts, method="average", metric="euclidean")
        if epsilon == "auto":
            eps = _auto_epsilon(tree, to_margin, n_select)
        elif epsilon == "median_nn":
            eps = _median_nn_distance(pts)
        else:
            eps = float(epsilon)
        labels = fcluster(tree, eps, criterion="distance")[to_margin]
    else:   # 0 or 1 point: nothing to merge
        eps = 0.0 if isinstance(epsilon, str) else float(epsilon)
        labels = np.zeros(k_m, dtype=np.int64)
    timings["cluster"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    picks = round_robin(labels, n_select, rng)
    indices = cand[picks]
    timings["sample"] = time.perf_counter() - t0

    sizes = np.unique(labels, return_counts=True)[1]
    return Selection(
        indices=indices, n_inferences=len(p), timings=timings,
        info={"margin_frac": float(margin_frac), "k_m": int(k_m),
              "epsilon_rule": epsilon if isinstance(epsilon, str) else "given",
              "epsilon": float(eps), "hac_on": hac_on, "hac_points": int(len(hac_idx)),
              "hac_subsampled": bool(subsampled), "n_clusters": int(len(sizes)),
              "largest_cluster": int(sizes.max(initial=0)),
              "linkage": "average", "distance": "euclidean"})


def validate(budget: int, n_select: int, *, margin_frac: float = 1.25,
             epsilon: float | str = "auto", hac_on: str = "margin", hac_max_points: int = 5000,
             **_: object) -> None:
    """Reject bad parameters before any training."""
    check_params(margin_frac=margin_frac, epsilon=epsilon, hac_on=hac_on,
                 hac_max_points=hac_max_points)


def select(inputs, n_select: int, rng: np.random.Generator, *, margin_frac: float = 1.25,
           epsilon: float | str = "auto", hac_on: str = "margin",
           hac_max_points: int = 5000) -> Selection:
    """Adapter from the protocol's ``Inputs`` (embeddings + probabilities)."""
    return cluster_margin(inputs.embeddings, inputs.probs, n_select, rng=rng,
                          margin_frac=margin_frac, epsilon=epsilon, hac_on=hac_on,
                          hac_max_points=hac_max_points)


SPEC = SamplerSpec(
    name="cluster_margin",
    needs=("embeddings", "probs"),
    select=select,
    validate=validate,
    citation="Citovsky, DeSalvo, Gentile, Karydas, Rajagopalan, Rostamizadeh & Kumar, "
             "NeurIPS 2021 (Cluster-Margin, Algorithms 1-2); not in the paper",
)

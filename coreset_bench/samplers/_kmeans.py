"""k-means for Algorithm 1: greedy k-means++ seeding, then Lloyd iterations (the algorithm of
scikit-learn's ``KMeans`` defaults, which the paper used), made fast for this workload.

- Seeding: k-means++ (Arthur & Vassilvitskii 2007): each next seed drawn with probability
  proportional to D^2. ``n_local_trials=1`` (our default) is that original algorithm;
  scikit-learn's greedy variant draws 2 + ln k candidates per step and keeps the one lowering
  the potential most (``n_local_trials=None``). Distances are updated exactly with the
  triangle-inequality pruning of ``_centers`` instead of a pass over all points. On MNIST
  embeddings (k = 400) the greedy variant costs about 2.5x the seeding time and ends, after
  Lloyd, about 0.1% lower in inertia.
- Lloyd: assignment by chunked float32 matrix products (||c||^2 - 2 x.c), centroid update by a
  sparse sum. Stopping rule (recorded in the rows): stop when an iteration lowers the inertia by
  less than ``tol`` (relative), or after ``max_iter`` iterations. scikit-learn's own rule (center
  shift below 1e-4 of the data variance) runs 80-90 iterations on MNIST embeddings, the last
  ones changing the inertia by under 0.01%.

``method="sklearn"`` in the samplers keeps scikit-learn's ``KMeans`` selectable as the reference.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._centers import Centers


def kmeans_plusplus(x: np.ndarray, k: int, rng: np.random.Generator,
                    n_local_trials: int | None = None, dense_steps: int = 32) -> np.ndarray:
    """Greedy k-means++: indices of the ``k`` seed points (rows of ``x``).

    The first ``dense_steps`` seeds (few, wide clusters: pruning would read almost every
    point) are chosen with full matrix products; the rest with the pruned ``Centers``."""
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the {n} points")
    trials = n_local_trials or 2 + int(np.log(k))  # None or 0: the greedy variant
    state = Centers(x, k)
    seeds = np.empty(k, np.int64)
    seeds[0] = int(rng.integers(n))
    xt = np.ascontiguousarray(state.x.T)
    x_sq = np.einsum("ij,ij->i", state.x, state.x).astype(np.float64)
    dist = np.maximum(x_sq - 2.0 * (state.x @ state.x[seeds[0]]) + x_sq[seeds[0]], 0.0)
    n_dense = min(k, dense_steps)
    for c in range(1, n_dense):
        cum = np.cumsum(dist)
        cand = np.minimum(np.searchsorted(cum, rng.random(trials) * cum[-1], side="right"), n - 1)
        d = (state.x[cand] @ xt).astype(np.float64)
        d *= -2.0
        d += x_sq
        d += x_sq[cand, None]
        np.maximum(d, 0.0, out=d)
        np.minimum(d, dist, out=d)
        best = int(np.argmin(d.sum(axis=1)))
        seeds[c] = cand[best]
        dist = d[best]
    state.bulk(state.x[seeds[:n_dense]])
    for c in range(n_dense, k):
        cum = np.cumsum(state.dist)
        if not cum[-1] > 0:  # every point already is a center: take unused ones
            rest = np.setdiff1d(np.arange(n), seeds[:c])
            seeds[c:] = rest[:k - c]
            break
        cand = np.searchsorted(cum, rng.random(trials) * cum[-1], side="right")
        cand = np.minimum(cand, n - 1)
        best = int(cand[0]) if trials == 1 else int(cand[int(np.argmax(state.gains(state.x[cand])))])
        seeds[c] = best
        state.add(state.x[best])
    return seeds


def assign(x: np.ndarray, centers: np.ndarray, x_sq: np.ndarray, chunk: int = 4096
           ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest center of each row and its squared distance (float32 products)."""
    labels = np.empty(len(x), np.int64)
    dmin = np.empty(len(x), np.float64)
    c = centers.astype(np.float32, copy=False)
    c_sq = np.einsum("ij,ij->i", c, c)
    ct = np.ascontiguousarray(c.T)
    for s in range(0, len(x), chunk):
        d = x[s:s + chunk] @ ct
        d *= -2.0
        d += c_sq
        lab = d.argmin(axis=1)
        labels[s:s + chunk] = lab
        dmin[s:s + chunk] = d[np.arange(len(lab)), lab] + x_sq[s:s + chunk]
    return labels, np.maximum(dmin, 0.0)


def lloyd(x: np.ndarray, centers: np.ndarray, *, max_iter: int, tol: float
          ) -> tuple[np.ndarray, float, int]:
    """Lloyd iterations from ``centers``; returns (centers, inertia, iterations run).

    An empty cluster gets the point farthest from its center (as scikit-learn does)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    x_sq = np.einsum("ij,ij->i", x, x)
    centers = np.array(centers, dtype=np.float32)
    k, n = len(centers), len(x)
    labels, d = assign(x, centers, x_sq)
    inertia = float(d.sum())
    it = 0
    while it < max_iter:
        counts = np.bincount(labels, minlength=k)
        sums = sp.csr_matrix((np.ones(n, np.float32), (labels, np.arange(n))), shape=(k, n)) @ x
        new = np.asarray(sums, dtype=np.float32)
        full = counts > 0
        new[full] /= counts[full, None]
        if not full.all():
            far = np.argsort(-d)[: int((~full).sum())]
            new[~full] = x[far]
        centers = new
        it += 1
        labels, d = assign(x, centers, x_sq)
        previous, inertia = inertia, float(d.sum())
        if previous - inertia <= tol * previous:
            break
    return centers, inertia, it


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, *, max_iter: int = 300,
           tol: float = 5e-4, n_local_trials: int | None = 1) -> tuple[np.ndarray, float, int]:
    """k-means++ seeding then Lloyd: (centers, inertia, Lloyd iterations)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    seeds = kmeans_plusplus(x, k, rng, n_local_trials=n_local_trials)
    return lloyd(x, x[seeds], max_iter=max_iter, tol=tol)

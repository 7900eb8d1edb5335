"""Greedy k-center coreset (Sener & Savarese, "Active Learning for Convolutional Neural
Networks: A Core-Set Approach", ICLR 2018), the paper's [SS18] baseline.

Farthest-first traversal on the embeddings, starting from the warm-start points as centers.
Memory is O(n): each candidate's nearest center and squared distance to it (never a budget x n
distance matrix).

``kcenter_greedy`` updates those distances with the triangle-inequality pruning of
``_centers.GroupedCenters`` (float32 data, float64 sums, the points stored grouped by nearest
center): after each pick it visits only the clusters the new center can take points from and
reads only the candidates it can be nearer to, about 2-13% of them on MNIST embeddings and 1%
at n = 1M, as streams; it picks the same points as ``kcenter_greedy_reference`` (one float64
pass over all candidates per pick), up to exact ties.
"""

from __future__ import annotations

import time

import numpy as np

from ._base import SamplerSpec, Selection, as_2d, check_n_select, squared_distances
from ._centers import GroupedCenters


def kcenter_greedy(embeddings: np.ndarray, n_select: int, *,
                   initial_centers: np.ndarray | None, rng: np.random.Generator,
                   pretest: bool = True) -> Selection:
    """Greedy k-center on ``embeddings`` (m, d) given ``initial_centers`` (k', d).

    Each step picks the candidate farthest from every center chosen so far (ties: lowest
    index). With no initial centers, the first pick is uniform at random (``rng``); otherwise
    the method is deterministic.

    Parameters
    ----------
    pretest
        True (default): a float32 center-to-center sum rules most clusters out before the
        float64 one decides the rest; False: the float64 one alone (the version before it,
        kept so ``bench engine`` can time both; the same picks).

    Returns
    -------
    Selection
        ``n_select`` distinct indices into ``embeddings``, in pick order; no inference used.
        ``info["distance_fraction"]``: distance computations per pick over the candidates.
    """
    x = as_2d("embeddings", embeddings)
    check_n_select(n_select, len(x))
    t0 = time.perf_counter()
    init = None
    if initial_centers is not None and len(initial_centers):
        init = as_2d("initial_centers", initial_centers)
        if init.shape[1] != x.shape[1]:
            raise ValueError(f"initial_centers have {init.shape[1]} dims, embeddings {x.shape[1]}")
    picks = np.empty(n_select, dtype=np.int64)
    picked = np.zeros(len(x), dtype=bool)
    if n_select == 0:
        return Selection(indices=picks, timings={"sample": time.perf_counter() - t0},
                         info={"distance_fraction": 0.0})
    if init is None:   # the first pick is uniform at random, then the first center
        picks[0] = int(rng.integers(len(x)))
        picked[picks[0]] = True
        init, first = x[picks[0]][None, :], 1
    else:
        first = 0
    state = GroupedCenters(x, init, len(init) + n_select, pretest=pretest)
    t_assign = time.perf_counter() - t0
    read0 = state.read
    for t in range(first, n_select):
        i, row = state.farthest()
        if picked[i]:  # every candidate left is at distance 0 (duplicates): lowest index
            i = int(np.flatnonzero(~picked)[0])
            row = np.asarray(x[i], np.float32)
        picks[t] = i
        picked[i] = True
        state.add(row)
    frac = (state.read - read0) / max(n_select * len(x), 1)
    # timings: "assign" (the points filed under the initial centers) is part of "sample"
    return Selection(indices=picks, timings={"sample": time.perf_counter() - t0,
                                             "assign": t_assign},
                     info={"distance_fraction": float(frac)})


def kcenter_greedy_reference(embeddings: np.ndarray, n_select: int, *,
                   initial_centers: np.ndarray | None, rng: np.random.Generator,
                   chunk: int = 256) -> Selection:
    """The plain float64 version of ``kcenter_greedy`` (one pass over all candidates per pick),
    kept to check it and to benchmark it (``coreset-bench bench engine``)."""
    x = as_2d("embeddings", embeddings).astype(np.float64, copy=False)
    check_n_select(n_select, len(x))
    t0 = time.perf_counter()
    x_sq = np.einsum("ij,ij->i", x, x)
    min_d = np.full(len(x), np.inf)
    if initial_centers is not None and len(initial_centers):
        centers = as_2d("initial_centers", initial_centers).astype(np.float64, copy=False)
        if centers.shape[1] != x.shape[1]:
            raise ValueError(f"initial_centers have {centers.shape[1]} dims, embeddings {x.shape[1]}")
        for start in range(0, len(centers), chunk):  # O(m * chunk) memory
            d = squared_distances(x, centers[start:start + chunk], x_sq)
            np.minimum(min_d, d.min(axis=1), out=min_d)
    picks = np.empty(n_select, dtype=np.int64)
    for t in range(n_select):
        if t == 0 and not np.isfinite(min_d).any():
            i = int(rng.integers(len(x)))
        else:
            i = int(np.argmax(min_d))
        picks[t] = i
        d_new = x_sq - 2.0 * (x @ x[i]) + x_sq[i]
        np.minimum(min_d, d_new, out=min_d)
        min_d[i] = -np.inf  # never picked twice, even with duplicate points
    return Selection(indices=picks, timings={"sample": time.perf_counter() - t0})


SPEC = SamplerSpec(
    name="kcenter",
    needs=("embeddings",),
    select=lambda inputs, n_select, rng: kcenter_greedy(
        inputs.embeddings, n_select, initial_centers=inputs.initial_embeddings, rng=rng),
    citation="Sener & Savarese, ICLR 2018",
)

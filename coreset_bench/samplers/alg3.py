"""Algorithm 3 of "Sensitivity Sampling for Coreset-Based Data Selection" (appendix B.3,
Theorem 6): r-round adaptive sensitivity sampling. Not in the paper's experiments.

The text leaves the data-selection use open; our reading (stated in the report):

1. A prefix clustering ordering: the k-means++ seeding order (D^2 sampling, the first point
   uniform) of k'' = round(cluster_frac * k) candidates, so every prefix is a k-means++ seeding
   (an O(log k)-approximation in expectation; the paper asks for O(1), which no fast ordering
   guarantees for every prefix).
2. Round i = 1..r queries the loss at the next k''/r prefix points (their labels are bought:
   k'' labels in all, as Algorithm 1), A_i = the first i k''/r of the ordering, and the current
   model's losses at A_i give l~_i(e) = l(A_i(e)) + lambda ||e - A_i(e)||^2 (lambda = auto per
   round); (n_select - k'') / r more candidates are drawn without replacement proportional to
   l~_i among those not yet labelled.
3. Between rounds the model is retrained on everything labelled so far (warm start, the prefix
   and the drawn points), the adaptivity that makes rounds worth having: with one fixed model
   the last round's A would be the same k''-prefix whatever r, and earlier rounds could only
   use coarser clusterings. Re-evaluating the new model on already labelled prefix points
   costs forward passes (``info["forward_passes"]``), not labels.

With r = 1 this is Algorithm 1 as run (``loss``) with the k-means++ ordering in place of
k-means: given the same clustering it draws from the same distribution (tested). The final
training set has the same size k; ``weights`` are left undefined (each round's draws estimate a
different model's loss), so ``train.weighted=true`` trains it unweighted.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..errors import ConfigError
from ._base import SamplerSpec, Selection, as_2d, check_n_select, squared_distances
from ._sensitivity import draw_proportional, extrapolate, n_clusters_for


def kmeanspp_order(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The first ``n`` points of a k-means++ seeding of ``x`` (D^2 sampling), in order."""
    order = np.empty(n, dtype=np.int64)
    x_sq = np.einsum("ij,ij->i", x, x)
    d2 = np.full(len(x), np.inf)
    order[0] = rng.integers(len(x))
    for j in range(1, n):
        np.minimum(d2, squared_distances(x, x[order[j - 1]][None, :], x_sq)[:, 0], out=d2)
        d2[order[:j]] = 0.0
        total = d2.sum()
        order[j] = (rng.choice(len(x), p=d2 / total) if total > 0
                    else rng.choice(np.setdiff1d(np.arange(len(x)), order[:j])))
    return order


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def adaptive_sensitivity(embeddings: np.ndarray, n_select: int, *, n_clusters: int, rounds: int,
                         oracle: Callable[[np.ndarray], np.ndarray],
                         retrain: Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]] | None,
                         rng: np.random.Generator, lam: float | str = "auto",
                         order: np.ndarray | None = None,
                         order_rng: np.random.Generator | None = None) -> Selection:
    """Algorithm 3 on candidate ``embeddings`` (m, d).

    Parameters
    ----------
    n_select : points to return (the k'' prefix points included).
    n_clusters : k'', the labels bought for the clustering, over all rounds.
    rounds : r.
    oracle : the current model's per-example loss at candidate indices (round 1).
    retrain : called after rounds 1..r-1 with every labelled candidate so far; returns the
        retrained model's oracle. None: keep one model (the non-adaptive reading).
    order : a prefix ordering to use (default: ``kmeanspp_order`` with ``order_rng``).

    Returns
    -------
    Selection
        The k'' prefix points, then each round's draws; ``n_inferences`` = k'' (labels).
    """
    x = as_2d("embeddings", embeddings)
    check_n_select(n_select, len(x))
    if not 1 <= n_clusters <= n_select:
        raise ConfigError(f"n_clusters={n_clusters} must be between 1 and n_select={n_select}")
    if not 1 <= rounds <= n_clusters:
        raise ConfigError(f"sampler.rounds={rounds} must be between 1 and k''={n_clusters}")
    timings = {"cluster": 0.0, "query": 0.0, "score": 0.0, "sample": 0.0, "retrain": 0.0}
    t0 = time.perf_counter()
    if order is None:
        order = kmeanspp_order(x, n_clusters, order_rng or rng)
    timings["cluster"] = time.perf_counter() - t0
    queries, draws = _split(n_clusters, rounds), _split(n_select - n_clusters, rounds)
    # never drawn: the whole ordering (a later round labels those points anyway) and earlier draws
    taken = np.zeros(len(x), dtype=bool)
    taken[order] = True
    drawn_all, lambdas, forward = [], [], 0
    current = oracle
    for i in range(rounds):
        prefix = order[:sum(queries[:i + 1])]
        t0 = time.perf_counter()
        losses = np.asarray(current(prefix), dtype=np.float64)
        timings["query"] += time.perf_counter() - t0
        forward += len(prefix)
        if losses.shape != (len(prefix),) or not np.all(np.isfinite(losses)) or losses.min() < 0:
            raise ValueError("oracle must return one finite non-negative loss per queried point")
        t0 = time.perf_counter()
        scores, lam_used, _ = extrapolate(x, prefix, losses, lam)
        timings["score"] += time.perf_counter() - t0
        lambdas.append(lam_used)
        t0 = time.perf_counter()
        rest = np.flatnonzero(~taken)
        picked, _ = draw_proportional(scores[rest], draws[i], rng)
        picked = rest[picked]
        taken[picked] = True
        drawn_all.append(picked)
        timings["sample"] += time.perf_counter() - t0
        if i < rounds - 1 and retrain is not None:
            t0 = time.perf_counter()
            current = retrain(np.sort(np.concatenate([prefix, *drawn_all])))
            timings["retrain"] += time.perf_counter() - t0
    indices = np.concatenate([order, *drawn_all])
    return Selection(indices=indices, n_inferences=n_clusters, timings=timings,
                     info={"rounds": rounds, "n_clusters": n_clusters, "lambda": lambdas,
                           "forward_passes": forward, "queries_per_round": queries,
                           "draws_per_round": draws, "retrained": retrain is not None})


def validate(budget: int, n_select: int, *, rounds: int = 2, cluster_frac: float = 0.2,
             lam: float | str = "auto", **_: object) -> None:
    if not 0 < cluster_frac < 1:
        raise ConfigError(f"sampler.cluster_frac={cluster_frac} must be in (0, 1)")
    k2 = n_clusters_for(budget, cluster_frac)
    if k2 < 1 or k2 > n_select:
        raise ConfigError(f"budget={budget}: k''={k2} cluster centers must be between 1 and the "
                          f"{n_select} points left after the warm start")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= k2:
        raise ConfigError(f"sampler.rounds={rounds!r} must be an integer between 1 and k''={k2} "
                          f"(round(cluster_frac * budget): each round queries k''/r new points)")


def select(inputs, n_select: int, rng: np.random.Generator, *, rounds: int = 2,
           cluster_frac: float = 0.2, lam: float | str = "auto") -> Selection:
    order_rng = (np.random.default_rng([inputs.group_seed, 3]) if inputs.group_seed is not None
                 else None)
    return adaptive_sensitivity(
        inputs.embeddings, n_select, n_clusters=n_clusters_for(inputs.budget, cluster_frac),
        rounds=rounds, oracle=inputs.oracle, retrain=inputs.retrain, rng=rng, lam=lam,
        order_rng=order_rng)


SPEC = SamplerSpec(
    name="alg3",
    needs=("embeddings", "loss_oracle", "retrain"),
    select=select,
    validate=validate,
    citation="Sensitivity Sampling for Coreset-Based Data Selection, Algorithm 3 (appendix B.3); "
             "not in the paper's experiments",
)

"""k-medoids sensitivity sampling for regression: the paper's variant of Algorithm 2 as run in
section 5.1 (k-medoids instead of k-median, zeta -> infinity): p_i proportional to the
Euclidean distance from row a_i to its medoid; no label is used.

k-medoids by FasterPAM (Schubert & Rousseeuw, "Fast and eager k-medoids clustering",
Information Systems 2021), from the ``kmedoids`` package, with k = round(cluster_frac * n)
(the paper: 10% of the training rows). The clustering depends on the seed, not on the sample
size: the protocol caches it per (dataset, seed, k) and reuses it across the size grid.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import Distribution, RegressionMethod, SamplerSpec, as_2d

INITS = ("random", "first", "build")


def fit_medoids(a: np.ndarray, n_medoids: int, *, rng: np.random.Generator,
                init: str = "random", max_iter: int = 100, n_cpu: int = 1) -> dict:
    """FasterPAM on the Euclidean distances of the rows of ``a``.

    ``n_cpu=1`` (default) keeps the result a function of the seed alone; the runtime
    benchmark passes -1 (all cores, as BLAS uses for the leverage scores).

    Returns ``medoids`` (k,) row indices, ``labels`` (n,) the medoid index of every row (into
    ``medoids``) and ``dist`` (n,) its distance to that medoid.
    """
    a = as_2d("A", a)
    if not 1 <= n_medoids <= len(a):
        raise ConfigError(f"k-medoids: k={n_medoids} must be between 1 and the {len(a)} rows")
    import kmedoids as _kmedoids   # here, as every heavy import of a sampler: a sweep's own
    from sklearn.metrics import pairwise_distances   # process lists the samplers, never runs one

    diss = pairwise_distances(a, metric="euclidean")
    result = _kmedoids.fasterpam(diss, n_medoids, max_iter=max_iter, init=init,
                                 random_state=int(rng.integers(0, 2**31 - 1)), n_cpu=n_cpu)
    medoids = np.asarray(result.medoids, dtype=np.int64)
    # assign every row to its nearest medoid (FasterPAM's labels, recomputed for clarity)
    to_medoids = diss[:, medoids]
    labels = to_medoids.argmin(axis=1)
    return {"medoids": medoids, "labels": labels,
            "dist": to_medoids[np.arange(len(a)), labels], "loss": np.float64(result.loss)}


def n_medoids_for(n_rows: int, cluster_frac: float) -> int:
    return max(1, int(round(cluster_frac * n_rows)))


def validate_prepare(*, cluster_frac: float = 0.1, init: str = "random", max_iter: int = 100,
                     **_: object) -> None:
    if not 0 < cluster_frac <= 1:
        raise ConfigError(f"sampler.cluster_frac={cluster_frac} must be in (0, 1]")
    if init not in INITS:
        raise ConfigError(f"sampler.init={init!r} is not valid; valid choices: {', '.join(INITS)}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ConfigError(f"sampler.max_iter={max_iter!r} must be a positive integer")


def prepare(a: np.ndarray, *, rng: np.random.Generator, cluster_frac: float = 0.1,
            init: str = "random", max_iter: int = 100) -> dict:
    return fit_medoids(a, n_medoids_for(len(a), cluster_frac), rng=rng, init=init,
                       max_iter=max_iter)


def distance_distribution(dist: np.ndarray) -> np.ndarray:
    total = dist.sum()
    return dist / total if total > 0 else np.full(len(dist), 1.0 / len(dist))


def _distribution(prepared: dict, a: np.ndarray, *, query) -> Distribution:
    return Distribution(p=distance_distribution(prepared["dist"]),
                        info={"n_medoids": len(prepared["medoids"]),
                              "kmedoids_cost": float(prepared["dist"].sum())})


SPEC = SamplerSpec(
    name="kmedoids",
    citation="Sensitivity Sampling for Coreset-Based Data Selection, section 5.1 (Algorithm 2, "
             "zeta -> inf); FasterPAM: Schubert & Rousseeuw 2021",
    regression=RegressionMethod(distribution=_distribution, prepare=prepare,
                                prepare_params=("cluster_frac", "init", "max_iter"),
                                stage="cluster", validate=validate_prepare),
)

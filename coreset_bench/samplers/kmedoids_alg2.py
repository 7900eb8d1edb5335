"""Algorithm 2 of the paper with a finite zeta (beyond the paper's experiments, which take
zeta -> infinity; see ``kmedoids.py``).

1. k-medoids on the rows of A (shared with ``kmedoids``: same cache entry).
2. Query b at the medoids only; a^_i, b^_i = the medoid of row i and its label.
3. x0 = least squares on the medoids, each weighted by its cluster size.
4. p_i proportional to zeta ||a_i - a^_i|| + (<a^_i, x0> - b^_i)^2.

``zeta = "auto"`` (default; the paper gives no value) picks the zeta for which
zeta * sum_i ||a_i - a^_i|| equals sum_i (<a^_i, x0> - b^_i)^2, so both terms weigh the same.
"""

from __future__ import annotations

import numpy as np

from . import kmedoids
from ._base import Distribution, RegressionMethod, SamplerSpec, balance_weight


def resolve_zeta(zeta: float | str, dist: np.ndarray, v: np.ndarray) -> float:
    return balance_weight("zeta", zeta, v, dist)


def alg2_distribution(prepared: dict, a: np.ndarray, *, query, zeta: float | str = "auto"
                      ) -> Distribution:
    medoids, labels, dist = prepared["medoids"], prepared["labels"], prepared["dist"]
    b_med = np.asarray(query(medoids), dtype=np.float64)
    sizes = np.bincount(labels, minlength=len(medoids)).astype(np.float64)
    sw = np.sqrt(sizes)
    x0 = np.linalg.lstsq(a[medoids] * sw[:, None], b_med * sw, rcond=None)[0]
    residual = (a[medoids] @ x0 - b_med) ** 2          # per medoid
    v = residual[labels]                                 # v(a_i, x0) for every row
    zeta_used = resolve_zeta(zeta, dist, v)
    scores = zeta_used * dist + v
    total = scores.sum()
    p = scores / total if total > 0 else np.full(len(a), 1.0 / len(a))
    return Distribution(p=p, n_inferences=len(medoids),
                        info={"zeta": zeta_used, "n_medoids": len(medoids)})


def validate(*, zeta: float | str = "auto", **params: object) -> None:
    resolve_zeta(zeta, np.ones(1), np.ones(1))
    kmedoids.validate_prepare(**params)


SPEC = SamplerSpec(
    name="kmedoids_alg2",
    citation="Sensitivity Sampling for Coreset-Based Data Selection, Algorithm 2 (finite zeta)",
    regression=RegressionMethod(distribution=alg2_distribution, prepare=kmedoids.prepare,
                                prepare_params=("cluster_frac", "init", "max_iter"),
                                stage="cluster", validate=validate),
)

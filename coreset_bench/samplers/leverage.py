"""Leverage-score sampling for linear regression (Drineas, Mahoney & Muthukrishnan, 2006;
the paper's section 5.1 baseline): p_i proportional to the statistical leverage of row i.

Exact scores via a column-pivoted thin QR (rank-revealing): with A P = Q R, the leverage of
row i is ||Q_i,:r||^2 over the first r = rank(A) columns of Q, so the scores sum to the rank.
"""

from __future__ import annotations

import numpy as np

from ._base import Distribution, RegressionMethod, SamplerSpec, as_2d


def leverage_scores(a: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """Leverage scores of the rows of ``a`` (n, d): diag of the hat matrix A (A^T A)^+ A^T."""
    a = as_2d("A", a)
    import scipy.linalg

    q, r, _ = scipy.linalg.qr(a, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    if rtol is None:
        rtol = max(a.shape) * np.finfo(a.dtype).eps
    rank = int(np.sum(diag > rtol * diag[0])) if diag.size and diag[0] > 0 else 0
    return np.einsum("ij,ij->i", q[:, :rank], q[:, :rank])


def _prepare(a: np.ndarray, *, rng: np.random.Generator) -> dict:
    return {"scores": leverage_scores(a)}


def _distribution(prepared: dict, a: np.ndarray, *, query) -> Distribution:
    scores = prepared["scores"]
    return Distribution(p=scores / scores.sum(), info={"rank": float(scores.sum())})


SPEC = SamplerSpec(
    name="leverage",
    citation="Drineas, Mahoney & Muthukrishnan, SODA 2006 (leverage-score sampling)",
    regression=RegressionMethod(distribution=_distribution, prepare=_prepare, seeded=False,
                                stage="leverage"),
)

"""Uniform sampling: the simplest data-selection baseline (paper sections 5.1 and 5.2).

Classification: k - k' candidates without replacement. Regression: s rows i.i.d. with
p_i = 1/n (each weighted n/s, as every regression sampler's rows are weighted 1/(s p_i)).
"""

from __future__ import annotations

import time

import numpy as np

from ._base import Distribution, RegressionMethod, SamplerSpec, Selection, check_n_select


def uniform(n_candidates: int, n_select: int, *, rng: np.random.Generator) -> Selection:
    """Pick ``n_select`` of ``n_candidates`` uniformly without replacement.

    Returns
    -------
    Selection
        Sorted unique indices in ``[0, n_candidates)``; no model inference used.
    """
    check_n_select(n_select, n_candidates)
    t0 = time.perf_counter()
    indices = np.sort(rng.choice(n_candidates, size=n_select, replace=False))
    return Selection(indices=indices, timings={"sample": time.perf_counter() - t0})


def uniform_distribution(prepared: dict, a: np.ndarray, *, query) -> Distribution:
    """p_i = 1/n over the n rows of ``a``; no label queried."""
    return Distribution(p=np.full(len(a), 1.0 / len(a)))


SPEC = SamplerSpec(
    name="uniform",
    citation="baseline",
    select=lambda inputs, n_select, rng: uniform(inputs.n_candidates, n_select, rng=rng),
    regression=RegressionMethod(distribution=uniform_distribution, seeded=False),
)

"""Uniform sampling: the simplest data-selection baseline (paper section 5.2, appendix C)."""

from __future__ import annotations

import time

import numpy as np

from ._base import Inputs, SamplerSpec, Selection, check_n_select


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


SPEC = SamplerSpec(
    name="uniform",
    task="classification",
    needs=(),
    select=lambda inputs, n_select, rng: uniform(inputs.n_candidates, n_select, rng=rng),
    citation="baseline",
)

"""Least-confidence sampling (Lewis & Gale, 1994; paper appendix C, Figure 4): the candidates
whose most probable class has the smallest probability."""

from __future__ import annotations

import numpy as np

from ._base import SamplerSpec, Selection, as_2d, select_lowest


def least_confidence(probs: np.ndarray, n_select: int, *, rng: np.random.Generator) -> Selection:
    """``n_select`` rows of ``probs`` (m, C) with the smallest maximum probability."""
    p = as_2d("probs", probs)
    return Selection(indices=select_lowest(p.max(axis=1), n_select, rng), n_inferences=len(p))


SPEC = SamplerSpec(
    name="least_confidence",
    needs=("probs",),
    select=lambda inputs, n_select, rng: least_confidence(inputs.probs, n_select, rng=rng),
    citation="Lewis & Gale, SIGIR 1994; paper appendix C",
)

"""Entropy sampling (Shannon-entropy uncertainty; Settles, 2009 survey; paper appendix C,
Figure 4): the candidates whose predicted class distribution has the largest entropy."""

from __future__ import annotations

import numpy as np

from ._base import SamplerSpec, Selection, as_2d, select_lowest


def entropy(probs: np.ndarray, n_select: int, *, rng: np.random.Generator) -> Selection:
    """``n_select`` rows of ``probs`` (m, C) with the largest entropy -sum p log p."""
    p = as_2d("probs", probs)
    h = -np.sum(p * np.log(np.clip(p, 1e-12, None)), axis=1)
    return Selection(indices=select_lowest(-h, n_select, rng), n_inferences=len(p))


SPEC = SamplerSpec(
    name="entropy",
    needs=("probs",),
    select=lambda inputs, n_select, rng: entropy(inputs.probs, n_select, rng=rng),
    citation="Settles, Active Learning Literature Survey, 2009; paper appendix C",
)

"""Margin sampling (Scheffer et al., 2001; as benchmarked in DISTIL and the paper's appendix C,
Figure 4): the candidates with the smallest gap between the two most probable classes."""

from __future__ import annotations

import numpy as np

from ._base import SamplerSpec, Selection, as_2d, select_lowest


def margin(probs: np.ndarray, n_select: int, *, rng: np.random.Generator) -> Selection:
    """``n_select`` rows of ``probs`` (m, C) with the smallest top-1 minus top-2 probability."""
    p = as_2d("probs", probs)
    top2 = np.sort(np.partition(p, -2, axis=1)[:, -2:], axis=1)
    scores = top2[:, 1] - top2[:, 0]
    return Selection(indices=select_lowest(scores, n_select, rng), n_inferences=len(p))


SPEC = SamplerSpec(
    name="margin",
    needs=("probs",),
    select=lambda inputs, n_select, rng: margin(inputs.probs, n_select, rng=rng),
    citation="Scheffer, Decomain & Wrobel, 2001 (margin); paper appendix C",
)

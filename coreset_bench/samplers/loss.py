"""Loss-based sensitivity sampling ("loss"; paper section 5.2, Algorithm 1).

l(e) = cross-entropy of the warm-start model on example e with its true label, queried only at
the k'' cluster-center points and extrapolated to every candidate. Algorithm in
``_sensitivity.py``.
"""

from . import _sensitivity
from ._base import SamplerSpec

SPEC = SamplerSpec(
    name="loss",
    needs=("embeddings", "loss_oracle"),
    select=_sensitivity.select,
    validate=_sensitivity.validate,
    citation="Sensitivity Sampling for Coreset-Based Data Selection, Algorithm 1 (loss-based)",
)

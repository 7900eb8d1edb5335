"""Gradient-based sensitivity sampling ("grad"; paper section 5.2, Algorithm 1).

l(e) = squared L2 norm of the gradient of the loss on e w.r.t. all model parameters, queried
only at the k'' cluster-center points and extrapolated to every candidate. Algorithm in
``_sensitivity.py``.
"""

from . import _sensitivity
from ._base import SamplerSpec

SPEC = SamplerSpec(
    name="grad",
    needs=("embeddings", "grad_oracle"),
    select=_sensitivity.select,
    validate=_sensitivity.validate,
    citation="Sensitivity Sampling for Coreset-Based Data Selection, Algorithm 1 (gradient-based)",
)

"""The samplers as a library: ``coreset_bench.select`` on your own arrays, no config, no model.

Example (embeddings from any encoder, a loss oracle from any model)::

    import numpy as np
    from coreset_bench import select

    emb = np.random.default_rng(0).normal(size=(10_000, 64)).astype(np.float32)
    losses = np.random.default_rng(1).gamma(2.0, size=10_000)
    sel = select("loss", emb, 500, oracle=lambda idx: losses[idx],
                 rng=np.random.default_rng(0))
    sel.indices   # 500 distinct row indices into emb
    sel.weights   # their importance weights (sensitivity samplers), else None
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .config import CONF_DIR, group_option
from .errors import ConfigError

# What each kind of input means, for the error naming a missing one.
_NEEDS_ARG = {
    "embeddings": "embeddings (an (n, d) array)",
    "probs": "probs= (an (n, C) array of class probabilities)",
    "loss_oracle": "oracle= (a function from row indices to per-example losses)",
    "grad_oracle": "oracle= (a function from row indices to squared gradient norms)",
}


def defaults(method: str) -> dict[str, Any]:
    """The default parameters of sampler ``method`` (its ``conf/sampler/<method>.yaml``)."""
    if not (CONF_DIR / "sampler" / f"{method}.yaml").is_file():
        return {}
    params = group_option("sampler", method)
    params.pop("name", None)
    return params


def select(method: str, embeddings: np.ndarray | None, n_select: int, *,
           rng: np.random.Generator, oracle: Callable[[np.ndarray], np.ndarray] | None = None,
           probs: np.ndarray | None = None, initial_embeddings: np.ndarray | None = None,
           budget: int | None = None, **params: Any):
    """Select ``n_select`` of the ``n`` rows with a classification sampler.

    Parameters
    ----------
    method : str
        A sampler name: ``uniform``, ``kcenter``, ``loss``, ``grad`` (Algorithm 1 of the
        paper), ``entropy``, ``margin``, ``least_confidence``, ``badge`` (not in the paper; needs
        ``probs``) (see ``coreset_bench.samplers``).
    embeddings : ndarray of shape (n, d) or None
        One row per candidate (e.g. from a frozen pretrained encoder). Needed by ``kcenter``,
        ``loss`` and ``grad``; may be None for the others.
    n_select : int
        How many rows to select (0 <= n_select <= n).
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same selection.
    oracle : callable, optional
        ``oracle(idx) -> ndarray (len(idx),)``: the model's per-example loss (``loss``) or
        squared gradient norm (``grad``) at rows ``idx``. Algorithm 1 calls it only at its
        k'' cluster centers (``Selection.n_inferences`` counts the calls' rows).
    probs : ndarray of shape (n, C), optional
        Class probabilities, for the uncertainty samplers.
    initial_embeddings : ndarray of shape (k', d), optional
        Already labelled points (the warm start): ``kcenter`` starts from them as centers.
    budget : int, optional
        The total budget k the method sizes itself by (Algorithm 1 fits
        k'' = round(cluster_frac * k) centers). Default: ``n_select + k'``.
    **params
        The sampler's parameters (defaults from ``conf/sampler/<method>.yaml``, e.g.
        ``cluster_frac=0.2``, ``lam="auto"``, ``kmeans="fast"`` for ``loss``).

    Returns
    -------
    Selection
        ``indices`` (n_select distinct row indices), ``weights`` (importance weights where the
        method defines them, else None), ``n_inferences``, ``timings`` (seconds per stage) and
        ``info`` (resolved parameters).

    Raises
    ------
    ConfigError
        An unknown method or parameter, a missing input, or an impossible ``n_select``; the
        message names the bad value and the valid choices.
    """
    from . import samplers
    from .protocols._params import split_params
    from .samplers._base import Inputs

    spec = samplers.get(method, "classification")
    sizes = {name: len(a) for name, a in (("embeddings", embeddings), ("probs", probs))
             if a is not None}
    if len(set(sizes.values())) > 1:
        raise ConfigError(f"embeddings has {sizes['embeddings']} rows but probs has "
                          f"{sizes['probs']}; give one row per candidate in both")
    for need in spec.needs:
        if need == "retrain":   # optional here: without it, one model for every round
            continue
        given = {"embeddings": embeddings, "probs": probs, "loss_oracle": oracle,
                 "grad_oracle": oracle}[need]
        if given is None:
            raise ConfigError(f"sampler {method!r} needs {_NEEDS_ARG[need]}")
    if not sizes:
        raise ConfigError(f"sampler {method!r} needs embeddings or probs (one row per "
                          "candidate) to know how many candidates there are")
    n = next(iter(sizes.values()))
    if not isinstance(n_select, (int, np.integer)) or isinstance(n_select, bool) \
            or not 0 <= n_select <= n:
        raise ConfigError(f"n_select={n_select!r} must be an integer in [0, {n}]")
    n_warm = 0 if initial_embeddings is None else len(initial_embeddings)
    budget = n_select + n_warm if budget is None else int(budget)
    merged = {**defaults(method), **params}
    split_params(method, merged, (), [spec.select])   # unknown parameters: one clear error
    if spec.validate is not None:
        spec.validate(budget, n_select, **merged)
    inputs = Inputs(n_candidates=n, budget=budget, n_warm=n_warm, embeddings=embeddings,
                    initial_embeddings=initial_embeddings, probs=probs, oracle=oracle)
    sel = spec.select(inputs, int(n_select), rng, **merged)
    sel.indices = np.asarray(sel.indices, dtype=np.int64)
    return sel

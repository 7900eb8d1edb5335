"""What every sampler returns, and the checks and helpers they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError


@dataclass
class Selection:
    """Indices picked by a sampler, into the array of candidates it was given.

    ``weights`` (same length, positive) are importance weights where the method defines them;
    ``n_inferences`` counts model outputs the method consumed; ``timings`` are seconds per
    internal stage (cluster, query, score, sample); ``info`` holds resolved parameters.
    """

    indices: np.ndarray
    weights: np.ndarray | None = None
    n_inferences: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """What the protocol computed about the candidates (pool minus the warm-start set).

    Only the fields a sampler lists in ``SamplerSpec.needs`` are filled.
    ``embeddings``: (m, d) candidate embeddings; ``initial_embeddings``: (k', d) warm-start
    embeddings; ``probs``: (m, C) class probabilities; ``oracle``: maps candidate indices to the
    model's per-example loss (or squared gradient norm).
    ``group_seed`` and ``memo`` let samplers of one group share work that depends only on the
    group (Algorithm 1's clustering is the same for ``loss`` and ``grad``): results stored in
    ``memo`` must be a function of the inputs and ``group_seed`` alone.
    """

    n_candidates: int
    budget: int
    n_warm: int
    embeddings: np.ndarray | None = None
    initial_embeddings: np.ndarray | None = None
    probs: np.ndarray | None = None
    oracle: Callable[[np.ndarray], np.ndarray] | None = None
    group_seed: int | None = None
    memo: dict | None = None
    # ``retrain(labelled)``: train a fresh model on the warm start and the candidates
    # ``labelled``, return its loss oracle (adaptive samplers, e.g. Algorithm 3).
    retrain: Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]] | None = None


NEEDS = ("embeddings", "probs", "loss_oracle", "grad_oracle", "retrain")


@dataclass
class Distribution:
    """A regression sampler's output: sampling probabilities over the training rows.

    ``n_inferences`` counts labels the method queried; ``info`` holds resolved parameters.
    """

    p: np.ndarray
    n_inferences: int = 0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RegressionMethod:
    """How a sampler serves the regression track (rows drawn i.i.d. from ``p``).

    ``prepare(A, *, rng, **params) -> dict`` is the expensive part that does not depend on the
    sample size (a clustering, leverage scores); the protocol caches its output per
    (dataset, seed if ``seeded``, prepare parameters) and reuses it across the size grid.
    ``distribution(prepared, A, *, query, **params) -> Distribution``; ``query(idx)`` returns
    the labels b of rows ``idx`` (each call counts as label queries).
    ``stage`` names the timing column of ``prepare`` (``time_<stage>``).
    """

    distribution: Callable[..., Distribution]
    prepare: Callable[..., dict] | None = None
    prepare_params: tuple[str, ...] = ()
    seeded: bool = True
    stage: str = "prepare"
    validate: Callable[..., None] | None = None


@dataclass(frozen=True)
class SamplerSpec:
    """Registry entry of one sampler, for one or both tasks.

    Classification: ``select(inputs, n_select, rng, **params) -> Selection``, with ``needs``
    naming what the protocol must compute, and ``validate(budget, n_select, **params)``
    (optional) raising ConfigError before any training. Regression: ``regression``.
    ``params`` are the keys of ``conf/sampler/<name>.yaml`` other than ``name``.
    """

    name: str
    citation: str
    select: Callable[..., Selection] | None = None
    needs: tuple[str, ...] = ()
    validate: Callable[..., None] | None = None
    regression: RegressionMethod | None = None

    def __post_init__(self) -> None:
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"sampler {self.name}: unknown needs {sorted(unknown)}")

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(t for t, f in (("classification", self.select),
                                    ("regression", self.regression)) if f is not None)


class ContractError(RuntimeError):
    """A sampler's output breaks the contract (a failed row naming the problem, never ok)."""


def check_selection(sel: Any, n_select: int, n_candidates: int, name: str) -> np.ndarray:
    """The indices of ``sel`` as int64 if it keeps the contract: a Selection of ``n_select``
    distinct integer indices in [0, n_candidates), weights (if any) one per index, finite and
    >= 0. Otherwise ContractError with one line naming the problem."""
    def broke(problem: str) -> ContractError:
        return ContractError(f"sampler {name} broke the contract: {problem}")

    if not isinstance(sel, Selection):
        raise broke(f"select returned a {type(sel).__name__}, not a Selection")
    idx = np.asarray(sel.indices)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise broke(f"indices must be a 1-D integer array, got {idx.dtype} of shape {idx.shape}")
    if len(idx) != n_select:
        raise broke(f"returned {len(idx)} indices, wanted {n_select}")
    outside = idx[(idx < 0) | (idx >= n_candidates)]
    if len(outside):
        raise broke(f"{len(outside)} indices outside 0..{n_candidates - 1} (e.g. {int(outside[0])})")
    values, counts = np.unique(idx, return_counts=True)
    if len(values) != len(idx):
        raise broke(f"{int((counts - 1).sum())} duplicate indices (e.g. {int(values[counts > 1][0])})")
    if sel.weights is not None:
        w = np.asarray(sel.weights, dtype=np.float64)
        if w.shape != idx.shape:
            raise broke(f"weights have shape {w.shape}, the indices {idx.shape}")
        bad = int((~np.isfinite(w)).sum())
        if bad:
            raise broke(f"{bad} weights are NaN or infinite")
        if (w < 0).any():
            raise broke(f"{int((w < 0).sum())} weights are negative (e.g. {float(w[w < 0][0])})")
    return idx.astype(np.int64)


def on_embeddings(fn: Callable[..., Selection], *, hidden: tuple[str, ...] = ()
                  ) -> Callable[..., Selection]:
    """The ``select(inputs, n_select, rng, **params)`` of a method written on arrays,
    ``fn(embeddings, n_select, *, initial_embeddings, rng, **params)``: its parameters are
    ``fn``'s keyword parameters (their defaults declared once, there), less ``hidden`` ones
    (test hooks, e.g. a clustering passed in), which the command line cannot set."""
    import inspect

    drop = {"initial_embeddings", "rng", *hidden}

    def select(inputs: Inputs, n_select: int, rng: np.random.Generator, **params: Any) -> Selection:
        return fn(inputs.embeddings, n_select, initial_embeddings=inputs.initial_embeddings,
                  rng=rng, **params)

    head = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for name in ("inputs", "n_select", "rng")]
    keep = [p for p in inspect.signature(fn).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name not in drop]
    select.__signature__ = inspect.Signature(head + keep)   # what split_params checks against
    select.__doc__ = f"{fn.__name__} on the candidates' embeddings (see ``on_embeddings``)."
    return select


def check_n_select(n_select: int, n_candidates: int) -> None:
    if not isinstance(n_select, (int, np.integer)) or n_select < 0:
        raise ConfigError(f"n_select={n_select!r} must be a non-negative integer")
    if n_select > n_candidates:
        raise ConfigError(f"n_select={n_select} exceeds the {n_candidates} candidates")


def as_2d(name: str, array: np.ndarray | None) -> np.ndarray:
    if array is None:
        raise ValueError(f"{name} is required")
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf")
    return array


def with_labelled(embeddings: np.ndarray, initial_embeddings: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(candidates, labelled points) as float64 2-D arrays of the same width; the labelled set
    (k', d) is empty when there is none."""
    x = as_2d("embeddings", embeddings).astype(np.float64)
    init = np.empty((0, x.shape[1]))
    if initial_embeddings is not None and len(initial_embeddings):
        init = as_2d("initial_embeddings", initial_embeddings).astype(np.float64)
        if init.shape[1] != x.shape[1]:
            raise ValueError(f"initial_embeddings have {init.shape[1]} dims, embeddings "
                             f"{x.shape[1]}")
    return x, init


def select_lowest(scores: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``n_select`` smallest scores; ties broken at random (reproducibly)."""
    check_n_select(n_select, len(scores))
    order = np.lexsort((rng.random(len(scores)), scores))
    return np.sort(order[:n_select])


def squared_distances(x: np.ndarray, centers: np.ndarray, x_sq: np.ndarray | None = None
                      ) -> np.ndarray:
    """(len(x), len(centers)) squared Euclidean distances, clipped at 0 against rounding."""
    if x_sq is None:
        x_sq = np.einsum("ij,ij->i", x, x)
    c_sq = np.einsum("ij,ij->i", centers, centers)
    d = x_sq[:, None] - 2.0 * (x @ centers.T) + c_sq[None, :]
    return np.maximum(d, 0.0, out=d)


def nearest(x: np.ndarray, centers: np.ndarray, chunk: int = 4096
            ) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``x``: index of the nearest center and the squared distance to it.

    Works in row chunks so memory stays O(chunk * len(centers)).
    """
    which = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), chunk):
        d = squared_distances(x[start:start + chunk], centers)
        which[start:start + chunk] = d.argmin(axis=1)
        dist[start:start + chunk] = d[np.arange(len(d)), which[start:start + chunk]]
    return which, dist



def balance_weight(name: str, value: float | str, main: np.ndarray, penalty: np.ndarray) -> float:
    """The weight w of ``penalty`` in ``main + w * penalty``: a number >= 0, or for ``"auto"``
    the w for which w * sum(penalty) = sum(main), so both terms weigh the same in total
    (Algorithm 1's lambda and Algorithm 2's zeta, neither given by the paper)."""
    if value == "auto":
        total = float(np.sum(penalty))
        return float(np.sum(main)) / total if total > 0 else 0.0
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = float("nan")
    if not np.isfinite(weight) or weight < 0:
        raise ConfigError(f"sampler.{name}={value!r} must be 'auto' or a number >= 0")
    return weight

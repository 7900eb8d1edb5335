"""Training engines: how the protocol's models are trained, queried and evaluated.

- ``keras_fit``: one model at a time through Keras ``fit`` / ``evaluate`` (the reference path;
  runs on the ``tensorflow`` or the ``jax`` backend).
- ``vmap``: all models of a call trained together, ``jax.vmap`` over models and ``lax.scan`` over
  optimizer steps (``models.vmap``; ``jax`` backend only).

Both run the same recipe on the same Keras architecture with the same seeds: the initial
weights come from the Keras builder seeded with the model's seed; the fit seed drives Keras'
shuffle (keras_fit) or the numpy permutations of the vmap plan. Backends draw different initial
weights from one seed, so engine and backend are part of a run's identity (recorded in every
row, hashed into the run_key).

``engine=auto`` / ``backend=auto`` pick per model family, from ``coreset-bench bench engine``
on this 2-core CPU: the MLP trains 5-10x faster per model with ``vmap`` on JAX than with Keras
``fit`` on TensorFlow; the CNN trains about 10x slower under JAX's CPU convolutions than under
TensorFlow's oneDNN, so it keeps ``keras_fit`` on ``tensorflow``.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from . import backend as _backend
from .vmap import FitSpec

ENGINES = ("keras_fit", "vmap")
ENGINE_BACKENDS = {"keras_fit": ("tensorflow", "jax"), "vmap": ("jax",)}
AUTO = {"mlp": ("vmap", "jax"), "linear": ("vmap", "jax"), "cnn": ("keras_fit", "tensorflow"),
        "cnn_distil": ("keras_fit", "tensorflow")}

__all__ = ["ENGINES", "FitSpec", "resolve", "get"]


def resolve(engine: str, backend: str, model: str) -> tuple[str, str]:
    """(engine, backend) with ``auto`` resolved for ``model``; ConfigError naming the valid
    choices for an unknown name, an incompatible pair or a backend that is not installed."""
    if engine != "auto" and engine not in ENGINES:
        raise ConfigError(f"engine={engine!r} is not valid; valid choices: auto, {', '.join(ENGINES)}")
    if backend != "auto" and backend not in _backend.BACKENDS:
        raise ConfigError(f"backend={backend!r} is not valid; valid choices: auto, "
                          f"{', '.join(_backend.BACKENDS)}")
    auto_engine, auto_backend = AUTO.get(model, ("keras_fit", "tensorflow"))
    if engine == "auto":
        engine = auto_engine if backend in ("auto", auto_backend) else next(
            e for e in ENGINES if backend in ENGINE_BACKENDS[e])
    if backend == "auto":
        backend = auto_backend if auto_backend in ENGINE_BACKENDS[engine] else ENGINE_BACKENDS[engine][0]
    if backend not in ENGINE_BACKENDS[engine]:
        raise ConfigError(f"engine={engine} cannot run on backend={backend}; valid backends for "
                          f"{engine}: {', '.join(ENGINE_BACKENDS[engine])}")
    _backend.check(backend)
    return engine, backend


class KerasFit:
    """The reference engine: ``models.build`` + ``models.fit`` per model."""

    name = "keras_fit"

    def __init__(self, backend: str, model_cfg: Mapping[str, Any], input_shape, num_classes: int,
                 recipe: Mapping[str, Any]):
        self.backend = backend
        self.model_cfg = dict(model_cfg)
        self.input_shape, self.num_classes, self.recipe = tuple(input_shape), num_classes, recipe
        _backend.activate(backend)

    def _build(self, seed: int):
        from . import build

        cfg = dict(self.model_cfg)
        return build(cfg.pop("name"), self.input_shape, self.num_classes, seed=seed, **cfg)

    def train(self, x: np.ndarray, y: np.ndarray, specs: Sequence[FitSpec]) -> list:
        from . import fit

        out = []
        for s in specs:
            model = self._build(s.init_seed)
            fit(model, x[s.rows], y[s.rows], self.recipe, seed=s.fit_seed, sample_weight=s.weights)
            out.append(model)
        return out

    def evaluate(self, handles: Sequence, x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
        from . import evaluate

        return [evaluate(m, x, y) for m in handles]

    def embed(self, handle, x: np.ndarray, *, with_probs: bool = False):
        from . import embed

        return embed(handle, x, with_probs=with_probs)

    def per_example_loss(self, handle, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from . import per_example_loss

        return per_example_loss(handle, x, y)

    def grad_sqnorm(self, handle, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.backend == "tensorflow":
            from . import per_example_grad_sqnorm

            return per_example_grad_sqnorm(handle, x, y)
        from . import vmap

        cfg = dict(self.model_cfg)
        a = vmap.arch(cfg.pop("name"), cfg, self.input_shape, self.num_classes)
        weights = [np.asarray(v.value) for v in handle.trainable_variables]
        return a.grad_sqnorm(vmap.Model(a, weights), x, y)


class Vmap:
    """Every ``train`` call trains its models together (``models.vmap``)."""

    name = "vmap"
    backend = "jax"

    def __init__(self, backend: str, model_cfg: Mapping[str, Any], input_shape, num_classes: int,
                 recipe: Mapping[str, Any]):
        from . import vmap

        _backend.activate("jax", with_tensorflow=False)
        cfg = dict(model_cfg)
        self.arch = vmap.arch(cfg.pop("name"), cfg, input_shape, num_classes)
        self.recipe = recipe

    def train(self, x: np.ndarray, y: np.ndarray, specs: Sequence[FitSpec]) -> list:
        return self.arch.train(x, y, specs, self.recipe)

    def evaluate(self, handles: Sequence, x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
        return self.arch.evaluate(handles, x, y)

    def embed(self, handle, x: np.ndarray, *, with_probs: bool = False):
        return self.arch.embed(handle, x, with_probs=with_probs)

    def per_example_loss(self, handle, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.arch.per_example_loss(handle, x, y)

    def grad_sqnorm(self, handle, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.arch.grad_sqnorm(handle, x, y)


def get(engine: str, backend: str, model_cfg: Mapping[str, Any], input_shape, num_classes: int,
        recipe: Mapping[str, Any]):
    """The engine object for resolved ``engine`` / ``backend`` (activates the backend)."""
    t0 = time.perf_counter()
    cls = {"keras_fit": KerasFit, "vmap": Vmap}[engine]
    out = cls(backend, model_cfg, input_shape, num_classes, recipe)
    out.setup_seconds = time.perf_counter() - t0
    return out

"""Data-selection methods: one module per method, each citing its paper.

A sampler module defines ``SPEC = SamplerSpec(...)`` and a pure function over numpy arrays with
an explicit ``np.random.Generator``. Modules in this package are discovered automatically, so a
new method is one file here plus ``conf/sampler/<name>.yaml``.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import ConfigError
from ._base import Distribution, Inputs, RegressionMethod, SamplerSpec, Selection


def _discover() -> dict[str, SamplerSpec]:
    found: dict[str, SamplerSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if spec is not None:
            found[spec.name] = spec
    return dict(sorted(found.items()))


SAMPLERS: dict[str, SamplerSpec] = _discover()


def names(task: str | None = None) -> list[str]:
    return [n for n, s in SAMPLERS.items() if task is None or task in s.tasks]


def get(name: str, task: str | None = None) -> SamplerSpec:
    """The sampler ``name``; a ConfigError naming the valid choices if it is unknown or is
    not a sampler for ``task``."""
    spec = SAMPLERS.get(name)
    if spec is None:
        raise ConfigError(f"unknown sampler {name!r}; valid choices: {', '.join(names())}")
    if task is not None and task not in spec.tasks:
        raise ConfigError(f"sampler {name!r} does not do {task}; valid samplers for a "
                          f"{task} dataset: {', '.join(names(task))}")
    return spec


__all__ = ["Distribution", "Inputs", "RegressionMethod", "SamplerSpec", "Selection", "SAMPLERS",
           "get", "names"]

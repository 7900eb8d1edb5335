"""Matching a sampler config's keys to the keyword parameters of the functions that take them."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Mapping

from ..errors import ConfigError


def keyword_params(fn: Callable) -> list[str]:
    """Names of ``fn``'s keyword-only parameters, except the ones the protocol supplies."""
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name not in ("rng", "query")]


def split_params(sampler: str, params: Mapping[str, Any], first_keys: Iterable[str],
                 functions: Iterable[Callable]) -> tuple[dict, dict]:
    """(params named in ``first_keys``, the rest); ConfigError for keys no function takes."""
    accepted = sorted({name for fn in functions for name in keyword_params(fn)})
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"sampler {sampler}: unknown parameter(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(accepted) or 'none'}")
    first = {k: v for k, v in params.items() if k in set(first_keys)}
    return first, {k: v for k, v in params.items() if k not in first}

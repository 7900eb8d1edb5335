"""Per-component random streams (benchopt style).

Every random choice of a run draws from a generator derived from (seed, component, *keys) via
``np.random.SeedSequence``, so adding a sampler or a stage never changes another component's
draws, and all samplers of one (dataset, seed, budget) group share the same warm start.
Nothing here touches global state.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _entropy(parts: tuple[object, ...]) -> list[int]:
    words = []
    for part in parts:
        digest = hashlib.sha256(str(part).encode()).digest()
        words.append(int.from_bytes(digest[:8], "little"))
    return words


def rng_for(seed: int, component: str, *keys: object) -> np.random.Generator:
    """The generator of ``component`` for run seed ``seed`` (and optional extra keys)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *_entropy((component, *keys))]))


def int_seed_for(seed: int, component: str, *keys: object) -> int:
    """A 31-bit integer seed for libraries that want one (Keras, scikit-learn)."""
    return int(rng_for(seed, component, *keys).integers(0, 2**31 - 1))

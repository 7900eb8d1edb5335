"""scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): the embedded default dataset.

It ships inside scikit-learn, so demos and fast tests need no download. The split into pool and
evaluation set is stratified and fixed by ``split_seed`` (not by the run seed).
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ..errors import ConfigError


def manifest() -> list:
    return []


def load(*, eval_fraction: float = 0.25, split_seed: int = 0) -> dict:
    if not 0.0 < eval_fraction < 1.0:
        raise ConfigError(f"dataset.eval_fraction={eval_fraction} must be in (0, 1)")
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)  # pixel values are 0..16
    y = bunch.target.astype(np.int64)
    x_pool, x_eval, y_pool, y_eval = train_test_split(
        x, y, test_size=eval_fraction, stratify=y, random_state=split_seed)
    return dict(x_pool=x_pool, y_pool=y_pool, x_eval=x_eval, y_eval=y_eval, num_classes=10,
                choices={"eval_split": "test", "eval_fraction": eval_fraction,
                         "split_seed": split_seed})

"""A seeded synthetic linear-regression set, embedded (no download): for demos and fast tests.

Rows come from a mixture of ``n_clusters`` Gaussian blobs with cluster-dependent scale, so
rows differ in leverage and in distance to their cluster's medoid (uniform, leverage and
k-medoids sampling then behave differently). b = A x* + noise; an intercept column is added.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def manifest() -> list:
    return []


def load(*, n_rows: int = 3000, n_features: int = 10, n_clusters: int = 8, noise: float = 0.5,
         val_fraction: float = 0.2, data_seed: int = 0) -> dict:
    if n_rows < 10 or n_features < 1 or n_clusters < 1 or noise < 0:
        raise ConfigError("synthetic_regression needs n_rows >= 10, n_features >= 1, "
                          "n_clusters >= 1 and noise >= 0")
    rng = np.random.default_rng(data_seed)
    centers = rng.normal(0, 3, size=(n_clusters, n_features))
    scales = rng.uniform(0.2, 2.0, size=n_clusters)
    label = rng.integers(0, n_clusters, size=n_rows)
    x = centers[label] + rng.normal(size=(n_rows, n_features)) * scales[label, None]
    coef = rng.normal(size=n_features)
    y = x @ coef + 1.0 + noise * rng.normal(size=n_rows)
    n_val = int(round(val_fraction * n_rows))
    a = np.c_[x, np.ones(n_rows)]
    return dict(x_pool=a[n_val:], y_pool=y[n_val:], x_eval=a[:n_val], y_eval=y[:n_val],
                choices={"n_rows": n_rows, "n_features": n_features, "noise": noise,
                         "data_seed": data_seed, "val_fraction": val_fraction})

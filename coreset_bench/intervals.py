"""The 95% t interval of a mean, shared by ``coreset-bench results`` and the report (kept out of
``report`` so the quick summary does not import matplotlib)."""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats


def ci95(values: pd.Series) -> tuple[float, float]:
    """(low, high) of the 95% t interval of the mean; NaN with fewer than two values."""
    v = values.dropna().to_numpy(dtype=float)
    if len(v) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)

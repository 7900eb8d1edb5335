"""The project's statistics, in one place: the 95% t interval of a mean, the paired test over
seeds that ``coreset-bench results``, the report's claims, its Theorem 5 section and its
investigations all use, and a multiple-testing correction. Kept out of ``report`` so the quick
summary does not import matplotlib.

The paired test (``paired``, ``paired_by_seed``) has one set of rules, stated once here:

- pairs with a NaN on either side are dropped; ``n`` counts the pairs left;
- the mean difference and its 95% t interval (``ci95`` of a - b) need 2 pairs (NaN below);
- the p value needs ``MIN_PAIRS`` = 5 pairs: below that it is NaN (shown as '-' / "not enough
  data"). Why 5: a two-sided Wilcoxon signed-rank test on n pairs cannot give a p value below
  ``smallest_p(n)`` = 2 / 2**n (exact distribution, every difference of one sign; above 50 pairs
  the normal approximation's, e.g. 3.9e-18 at n = 100), i.e. 0.5,
  0.25 and 0.125 for n = 2, 3, 4: such a p says nothing. With n = 5 the smallest is 0.0625,
  so p < ALPHA = 0.05 first becomes reachable at n = 6; 5 is kept because the report has
  always used it (its tables and verdicts are unchanged), and a p of 0.0625 is still a number
  worth showing;
- when every difference is zero (``np.allclose(diff, 0)``) p = 1.0 (scipy would fail or give
  NaN: nothing is left to rank);
- otherwise ``scipy.stats.wilcoxon(diff)`` with scipy's defaults, two-sided: zero_method
  "wilcox" (zero differences are dropped before ranking), no continuity correction,
  method "auto": the exact null distribution when there are no ties and no zeros and at most
  50 pairs; with ties or zeros an exact permutation test over all 2**n sign flips when n <= 13,
  the normal approximation (tie-corrected variance) above that; the normal approximation for
  more than 50 pairs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
MIN_PAIRS = 5


def ci95(values) -> tuple[float, float]:
    """(low, high) of the 95% t interval of the mean of ``values`` (NaN dropped); NaN with
    fewer than two values."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


@dataclass(frozen=True)
class Paired:
    """A paired comparison a - b over seeds (rules: the module docstring)."""

    n: int                # pairs (NaN pairs dropped)
    mean_a: float
    mean_b: float
    mean_diff: float      # mean of a - b (NaN without pairs)
    ci_low: float         # 95% t interval of the mean difference (NaN below 2 pairs)
    ci_high: float
    p_value: float        # two-sided Wilcoxon signed-rank p (NaN below MIN_PAIRS pairs)
    rank_biserial: float  # effect size in [-1, 1] over the non-zero differences: + means a > b

    @property
    def tested(self) -> bool:
        """Whether there were enough pairs for a p value."""
        return not math.isnan(self.p_value)


def wilcoxon_p(diff) -> float:
    """The p value of the paired rule on differences already aligned and free of NaN: NaN
    below MIN_PAIRS, 1.0 when all are zero, else scipy's two-sided Wilcoxon signed-rank p."""
    d = np.asarray(diff, dtype=float)
    if len(d) < MIN_PAIRS:
        return math.nan
    if np.allclose(d, 0):
        return 1.0
    return float(stats.wilcoxon(d).pvalue)


def paired(a, b) -> Paired:
    """The paired test of ``a`` against ``b``, two aligned sequences (position i of each is one
    pair, e.g. one seed): differences a - b, rules in the module docstring."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired needs two aligned 1-d sequences; got shapes {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    diff = x - y
    low, high = ci95(diff)
    nz = diff[diff != 0]
    ranks = stats.rankdata(np.abs(nz))
    rbc = float((ranks[nz > 0].sum() - ranks[nz < 0].sum()) / ranks.sum()) if len(nz) else 0.0
    return Paired(len(diff), float(x.mean()), float(y.mean()), float(diff.mean()), low, high,
                  wilcoxon_p(diff), rbc)


def by_seed(rows: pd.DataFrame, metric: str) -> pd.Series:
    """``rows[metric]`` indexed by the rows' ``seed`` (``rows.set_index("seed")[metric]``)."""
    return rows[metric].set_axis(pd.Index(rows["seed"], name="seed"))


def paired_by_seed(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> Paired:
    """``paired`` on ``metric`` of two row sets matched by their ``seed`` column (inner join,
    in ``a``'s order; seeds in only one of them are left out)."""
    both = (by_seed(a, metric).to_frame("a")          # (not set_index: it copies every column)
            .join(by_seed(b, metric).to_frame("b"), how="inner"))
    return paired(both["a"].to_numpy(float), both["b"].to_numpy(float))


@functools.lru_cache(maxsize=None)
def smallest_p(n: int) -> float:
    """The smallest two-sided p the paired test on ``n`` pairs can give: all differences of one
    sign, no ties or zeros. Up to 50 pairs scipy's exact distribution, min(1, 2 / 2**n); above,
    its normal approximation (as ``wilcoxon_p`` then computes it: 3.9e-18 at n = 100, not
    2 / 2**100)."""
    if n < 1:
        return 1.0
    if n <= 50:
        return min(1.0, 2.0 / 2.0 ** n)
    return float(stats.wilcoxon(np.arange(1.0, n + 1)).pvalue)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p values, in the input's order: the i-th smallest of
    the m non-NaN p values becomes max over j <= i of (m - j + 1) p_(j), capped at 1 (so the
    adjusted values keep the p values' order). NaN stays NaN and does not count in m. Reject
    at level alpha where the adjusted p < alpha."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out

"""``coreset-bench report results_dir=DIR baseline=NAME``: a comparison report for any rows.

Where the paper's report judges the paper's claims, this one compares whatever datasets, models,
samplers and budgets DIR holds against one baseline sampler (default ``uniform``). The metric is
the accuracy for classification rows (higher is better) and the validation 1 - R^2
(``r2_error_val``) for regression rows (lower is better). Only ``status == "ok"`` rows enter a
statistic; failed rows are counted, never averaged. Every statistic comes from
``coreset_bench.stats`` (95% t interval, the paired Wilcoxon rule over seeds, Holm).

Sections (each a table in ``tables/*.{md,csv,tex}``, most with a figure in ``figures/``):

- ``curve``: mean per (dataset, model, sampler, budget) with its 95% t interval and seed count;
- ``paired``: each method minus the baseline, paired by seed within (dataset, model, budget);
  Holm-adjusted p values, the family being one (dataset, model): all methods x budgets;
  fewer than ``MIN_PAIRS`` paired seeds -> no p value, "too few seeds" instead;
- ``win_tie_loss``: per method over (dataset, model, budget) cells, win = significantly better
  after Holm, loss = significantly worse, tie = tested, not significant;
- ``ranks``: average rank per method over the complete (dataset, model, budget) cells (rank 1 =
  best mean), Friedman test (chi-square and Iman-Davenport F) and the Nemenyi critical
  difference (Demsar 2006), refused as "too few cells" below ``MIN_CELLS``;
- ``auc_table``: area under the budget curve per seed (trapezoid over the budgets every method
  has, normalized by the budget range: the curve's average height), mean with its 95% t interval
  over seeds and the paired difference from the baseline (Holm over methods per dataset, model);
- ``labels_saved``: per method and budget, the budget the baseline needs to reach the method's
  mean (linear interpolation on the baseline's mean curve, first crossing; "beyond the grid" /
  "below the grid" outside it), its interval = the same map applied to the ends of the method's
  95% t interval of the mean (the baseline curve's own noise is not included).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats as sps  # noqa: E402

from ..stats import ALPHA, MIN_PAIRS, ci95, holm, paired_by_seed, smallest_p  # noqa: E402
from . import figures, tables  # noqa: E402

# The datasets of the paper's experiments: rows of these only get the paper's report by default.
PAPER_DATASETS = frozenset({"mnist", "fashion_mnist", "cifar10", "gas_sensor_drift"})
# Demsar (2006, section 3.2.2): Friedman's statistic follows its chi-square (and the
# Iman-Davenport F) approximation "as a rule of a thumb" for N > 10 data sets; below that the
# report shows the average ranks as a description and runs no test.
MIN_CELLS = 11
CELL = ["dataset", "model", "budget"]
FAMILY = ["dataset", "model"]
KEYS = ["dataset", "model", "sampler", "budget"]
METRIC_TEXT = {"accuracy": "accuracy (higher is better)",
               "r2_error_val": "validation 1 - R^2 (lower is better)"}
TOO_FEW = "too few seeds"


def _error(message: str):
    from .build import ReportError   # lazy: build imports this module lazily too

    return ReportError(message)


# -- the rows, scored ----------------------------------------------------------------------

def scored(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with ``metric`` (accuracy, or r2_error_val for regression rows), ``value`` (that
    metric) and ``sign`` (+1 when higher is better, -1 when lower is): ``score = sign * value``
    is higher-is-better for every row. Columns dataset, model, sampler, budget, seed, status."""
    frame = rows.copy()
    if "model" not in frame:
        frame["model"] = "-"
    task = frame["task"] if "task" in frame else pd.Series("classification", index=frame.index)
    acc = frame["accuracy"] if "accuracy" in frame else pd.Series(math.nan, index=frame.index)
    r2 = frame["r2_error_val"] if "r2_error_val" in frame else pd.Series(math.nan, index=frame.index)
    regression = (task == "regression") | (acc.isna() & r2.notna())
    frame["metric"] = np.where(regression, "r2_error_val", "accuracy")
    frame["value"] = np.where(regression, r2, acc).astype(float)
    frame["sign"] = np.where(regression, -1.0, 1.0)
    frame["budget"] = frame["budget"].astype(int)
    return frame[[*KEYS, "seed", "status", "metric", "value", "sign"]]


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["status"] == "ok") & frame["value"].notna()]


def _order(samplers, baseline: str) -> list[str]:
    """The baseline first, then the samplers in the figures' order."""
    return [baseline, *[s for s in figures._ordered(set(samplers)) if s != baseline]]


# -- statistics (pure functions on frames: the unit tests' targets) --------------------------

def curve(frame: pd.DataFrame) -> pd.DataFrame:
    """One line per (dataset, model, sampler, budget): metric, seeds (ok, metric present),
    failed (rows not ok: counted, never averaged), mean and its 95% t interval."""
    ok = _ok(frame)
    failed = frame[frame["status"] != "ok"].groupby(KEYS).size()
    out = []
    for key, cell in frame.groupby(KEYS, sort=True):
        values = ok.loc[ok.index.intersection(cell.index), "value"].to_numpy(float)
        low, high = ci95(values)
        out.append({**dict(zip(KEYS, key)), "metric": cell["metric"].iloc[0],
                    "seeds": len(values), "failed": int(failed.get(key, 0)),
                    "mean": float(values.mean()) if len(values) else math.nan,
                    "ci95_low": low, "ci95_high": high})
    return pd.DataFrame(out, columns=[*KEYS, "metric", "seeds", "failed", "mean", "ci95_low",
                                      "ci95_high"])


def _verdict(n: int, p_adj: float, diff: float, sign: float) -> str:
    if n < MIN_PAIRS:
        return f"{TOO_FEW} ({n} paired < {MIN_PAIRS})"
    if not p_adj < ALPHA:
        return "tie"
    return "win" if diff * sign > 0 else "loss"


def paired(frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each method minus the baseline per (dataset, model, budget), paired by seed
    (``stats.paired_by_seed``); ``p_holm``: Holm over the family of one (dataset, model), i.e.
    every method x budget tested there. ``verdict``: win / loss (Holm p < ALPHA, by the
    metric's direction), tie, or too few seeds (fewer than MIN_PAIRS pairs: no p value)."""
    ok = _ok(frame)
    out = []
    for (dataset, model, budget), cell in ok.groupby(CELL, sort=True):
        base = cell[cell["sampler"] == baseline]
        for sampler in _order(cell["sampler"].unique(), baseline)[1:]:
            part = cell[cell["sampler"] == sampler]
            if part.empty:
                continue
            r = paired_by_seed(part, base, "value")
            out.append({"dataset": dataset, "model": model, "sampler": sampler,
                        "budget": int(budget), "metric": part["metric"].iloc[0],
                        "sign": float(part["sign"].iloc[0]), "pairs": r.n,
                        "mean_method": r.mean_a, "mean_baseline": r.mean_b,
                        "diff": r.mean_diff, "diff_ci95_low": r.ci_low,
                        "diff_ci95_high": r.ci_high, "p_raw": r.p_value,
                        "smallest_possible_p": smallest_p(r.n) if r.n else math.nan})
    cols = ["dataset", "model", "sampler", "budget", "metric", "sign", "pairs", "mean_method",
            "mean_baseline", "diff", "diff_ci95_low", "diff_ci95_high", "p_raw",
            "smallest_possible_p", "p_holm", "family_tests", "verdict"]
    table = pd.DataFrame(out, columns=[c for c in cols if c not in ("p_holm", "family_tests",
                                                                      "verdict")])
    table["p_holm"] = math.nan
    table["family_tests"] = 0
    for _, idx in table.groupby(FAMILY).groups.items():
        table.loc[idx, "p_holm"] = holm(table.loc[idx, "p_raw"].to_numpy(float))
        table.loc[idx, "family_tests"] = int(table.loc[idx, "p_raw"].notna().sum())
    table["verdict"] = pd.Series([_verdict(n, p, d, s) for n, p, d, s in
                                  zip(table["pairs"], table["p_holm"], table["diff"],
                                      table["sign"])], index=table.index, dtype=object)
    return table[cols]


def win_tie_loss(paired_table: pd.DataFrame) -> pd.DataFrame:
    """Per method: cells won, tied, lost against the baseline (after Holm) and cells with too
    few seeds to test, over (dataset, model, budget) cells."""
    out = []
    for sampler, part in paired_table.groupby("sampler", sort=False):
        v = part["verdict"].astype(str)
        out.append({"sampler": sampler, "win": int((v == "win").sum()),
                    "tie": int((v == "tie").sum()), "loss": int((v == "loss").sum()),
                    TOO_FEW: int(v.str.startswith(TOO_FEW).sum()), "cells": len(part)})
    return pd.DataFrame(out, columns=["sampler", "win", "tie", "loss", TOO_FEW, "cells"])


def rank_cells(curve_table: pd.DataFrame) -> tuple[pd.DataFrame, list[str], int]:
    """Ranks per complete (dataset, model, budget) cell (every method with a mean there): one
    line per cell, one column per method, rank 1 = best mean (ties share the average rank).
    Returns (ranks, methods, cells left out because a method is missing there)."""
    have = curve_table[curve_table["mean"].notna()]
    methods = sorted(have["sampler"].unique())
    score = (have.assign(score=have["mean"] * np.where(have["metric"] == "r2_error_val", -1, 1))
             .pivot_table(index=CELL, columns="sampler", values="score"))
    complete = score.dropna()
    ranks = pd.DataFrame(sps.rankdata(-complete.to_numpy(float), axis=1) if len(complete) else
                         np.empty((0, len(methods))), index=complete.index, columns=score.columns)
    return ranks[methods], methods, len(score) - len(complete)


def _method_sets(curve_table: pd.DataFrame) -> dict[tuple, list[tuple]]:
    """{methods: [(dataset, model), ...]}: the (dataset, model) pairs grouped by the set of
    methods with a mean there (the union over budgets); largest groups first."""
    have = curve_table[curve_table["mean"].notna()]
    sets: dict[tuple, list[tuple]] = {}
    for fam, part in have.groupby(FAMILY, sort=True):
        sets.setdefault(tuple(sorted(part["sampler"].unique())), []).append(fam)
    return dict(sorted(sets.items(), key=lambda kv: -len(kv[1])))


def friedman_nemenyi(ranks: pd.DataFrame, alpha: float = ALPHA) -> dict:
    """Demsar (2006) on a cells x methods rank table: average ranks, Friedman's chi-square
    (scipy.stats.friedmanchisquare, with its tie correction) and Iman-Davenport's F with their
    p values, and the Nemenyi critical difference CD = q_alpha sqrt(k (k + 1) / (6 N)), q_alpha =
    studentized_range.ppf(1 - alpha, k, inf) / sqrt(2). ``tested``: k >= 3 and N >= MIN_CELLS;
    ``note`` says why not otherwise. ``differ``: the F test rejects at ``alpha``."""
    n, k = ranks.shape
    avg = ranks.mean().sort_values() if n else pd.Series(dtype=float)
    res = {"cells": n, "methods": k, "average_rank": avg, "chi2": math.nan, "p_chi2": math.nan,
           "F": math.nan, "p_F": math.nan, "q_alpha": math.nan, "cd": math.nan,
           "tested": False, "differ": False, "note": ""}
    if k >= 2 and n >= 1:
        res["q_alpha"] = float(sps.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))
        res["cd"] = res["q_alpha"] * math.sqrt(k * (k + 1) / (6.0 * n))
    if k < 3:
        res["note"] = (f"{k} method(s): the Friedman test needs at least 3; see the paired "
                       "differences instead")
        return res
    if n < 2:
        res["note"] = f"too few cells for the test ({n} complete cell)"
        return res
    chi2, p_chi2 = sps.friedmanchisquare(*[ranks[c].to_numpy(float) for c in ranks.columns])
    if not np.isfinite(chi2):   # every method tied in every cell: nothing to test
        res["note"] = "every method has the same rank in every cell: nothing to test"
        return res
    res["chi2"], res["p_chi2"] = float(chi2), float(p_chi2)
    denom = n * (k - 1) - chi2
    res["F"] = float((n - 1) * chi2 / denom) if denom > 0 else math.inf
    res["p_F"] = float(sps.f.sf(res["F"], k - 1, (k - 1) * (n - 1))) if denom > 0 else 0.0
    if n < MIN_CELLS:
        res["note"] = (f"too few cells for the test: {n} complete (dataset, model, budget) cells, "
                       f"and the Friedman / Iman-Davenport approximation needs more than "
                       f"{MIN_CELLS - 1} (Demsar 2006); the average ranks describe, they do not "
                       "test (the statistics are shown for reference only)")
        return res
    res["tested"] = True
    res["differ"] = bool(res["p_F"] < alpha)
    return res


def cliques(avg: pd.Series, cd: float) -> list[list[str]]:
    """Maximal runs of methods (in average-rank order) whose ranks differ by less than CD
    (Nemenyi: not significantly different); single methods are not listed."""
    names, r = list(avg.index), avg.to_numpy(float)
    out: list[list[str]] = []
    last = -1
    for i in range(len(r)):
        j = max(j for j in range(i, len(r)) if r[j] - r[i] < cd)
        if j > i and j > last:
            out.append(names[i:j + 1])
            last = j
    return out


# numpy >= 2 names it trapezoid, numpy 1.x trapz (pyproject allows both)
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


def auc(budgets, values) -> float:
    """Area under the curve ``values`` against ``budgets`` (trapezoid, in budget order),
    divided by the budget range: the curve's average height. NaN with fewer than 2 budgets or
    any NaN value."""
    b = np.asarray(budgets, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(b) < 2 or np.isnan(v).any() or b.max() == b.min():
        return math.nan
    order = np.argsort(b)
    return float(_trapezoid(v[order], b[order]) / (b.max() - b.min()))


def auc_per_seed(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Per (dataset, model, sampler, seed): the AUC over the budgets every sampler of that
    (dataset, model) has ok rows at (its ``grid``); a seed missing one of them is left out.
    Returns (the AUC rows, {(dataset, model): grid})."""
    ok = _ok(frame)
    out, grids = [], {}
    for (dataset, model), part in ok.groupby(FAMILY, sort=True):
        per = part.groupby("sampler")["budget"].apply(set)
        grid = sorted(set.intersection(*per)) if len(per) else []
        grids[(dataset, model)] = grid
        if len(grid) < 2:
            continue
        on = part[part["budget"].isin(grid)]
        for (sampler, seed), runs in on.groupby(["sampler", "seed"]):
            curve_ = runs.groupby("budget")["value"].mean()
            if len(curve_) == len(grid):
                out.append({"dataset": dataset, "model": model, "sampler": sampler, "seed": seed,
                            "metric": runs["metric"].iloc[0], "sign": float(runs["sign"].iloc[0]),
                            "auc": auc(curve_.index, curve_.to_numpy())})
    return (pd.DataFrame(out, columns=["dataset", "model", "sampler", "seed", "metric", "sign",
                                       "auc"]), grids)


def auc_table(frame: pd.DataFrame, baseline: str) -> tuple[pd.DataFrame, dict]:
    """Per (dataset, model, sampler): the AUC's mean over seeds with its 95% t interval, and the
    paired difference from the baseline's (by seed) with Holm over the methods of one
    (dataset, model)."""
    per_seed, grids = auc_per_seed(frame)
    out = []
    for (dataset, model), part in per_seed.groupby(FAMILY, sort=True):
        base = part[part["sampler"] == baseline]
        for sampler in _order(part["sampler"].unique(), baseline):
            mine = part[part["sampler"] == sampler]
            low, high = ci95(mine["auc"])
            line = {"dataset": dataset, "model": model, "sampler": sampler,
                    "metric": mine["metric"].iloc[0], "sign": float(mine["sign"].iloc[0]),
                    "budgets": ", ".join(str(b) for b in grids[(dataset, model)]),
                    "seeds": len(mine), "auc": float(mine["auc"].mean()), "auc_ci95_low": low,
                    "auc_ci95_high": high, "pairs": 0, "diff": math.nan,
                    "diff_ci95_low": math.nan, "diff_ci95_high": math.nan, "p_raw": math.nan}
            if sampler != baseline and not base.empty:
                r = paired_by_seed(mine, base, "auc")
                line.update(pairs=r.n, diff=r.mean_diff, diff_ci95_low=r.ci_low,
                            diff_ci95_high=r.ci_high, p_raw=r.p_value)
            out.append(line)
    table = pd.DataFrame(out, columns=["dataset", "model", "sampler", "metric", "sign", "budgets",
                                       "seeds", "auc", "auc_ci95_low", "auc_ci95_high", "pairs",
                                       "diff", "diff_ci95_low", "diff_ci95_high", "p_raw"])
    table["p_holm"] = math.nan
    for _, idx in table.groupby(FAMILY).groups.items():
        table.loc[idx, "p_holm"] = holm(table.loc[idx, "p_raw"].to_numpy(float))
    table["verdict"] = [("" if s == baseline else _verdict(n, p, d, sg)) for s, n, p, d, sg in
                        zip(table["sampler"], table["pairs"], table["p_holm"], table["diff"],
                            table["sign"])]
    return table, grids


def budget_to_reach(budgets, means, level: float) -> float:
    """The smallest budget at which the piecewise-linear curve (``budgets``, ``means``;
    higher is better) first reaches ``level``: linear interpolation between the two budgets
    around the first crossing. ``-inf`` when the curve's first point is already above the level
    (below the grid: fewer than its smallest budget suffice, by how much is unknown), ``+inf``
    when it never reaches it (beyond the grid), NaN for a NaN level."""
    if level is None or math.isnan(level):
        return math.nan
    b = np.asarray(budgets, dtype=float)
    m = np.asarray(means, dtype=float)
    order = np.argsort(b)
    b, m = b[order], m[order]
    keep = ~np.isnan(m)
    b, m = b[keep], m[keep]
    if len(b) == 0:
        return math.nan
    if m[0] >= level:
        return float(b[0]) if m[0] == level else -math.inf
    for i in range(1, len(b)):
        if m[i] >= level:
            return float(b[i - 1] + (level - m[i - 1]) * (b[i] - b[i - 1]) / (m[i] - m[i - 1]))
    return math.inf


def labels_saved(curve_table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per (dataset, model, method, budget): the budget the baseline needs to reach the method's
    mean (``budget_to_reach`` on the baseline's mean curve), its interval (the same map of the
    ends of the method's 95% t interval of the mean), labels saved = needed - budget and the
    ratio needed / budget (> 1: the method needs fewer labels)."""
    have = curve_table[curve_table["mean"].notna()]
    out = []
    for (dataset, model), part in have.groupby(FAMILY, sort=True):
        base = part[part["sampler"] == baseline].sort_values("budget")
        if base.empty:
            continue
        sign = -1.0 if part["metric"].iloc[0] == "r2_error_val" else 1.0
        grid, base_score = base["budget"].to_numpy(float), sign * base["mean"].to_numpy(float)
        for sampler in _order(part["sampler"].unique(), baseline)[1:]:
            for line in part[part["sampler"] == sampler].sort_values("budget").itertuples():
                ends = sorted(sign * np.array([line.ci95_low, line.ci95_high]))
                need = budget_to_reach(grid, base_score, sign * line.mean)
                out.append({"dataset": dataset, "model": model, "sampler": sampler,
                            "budget": int(line.budget), "seeds": int(line.seeds),
                            "mean": line.mean, "baseline_budget_needed": need,
                            "needed_low": budget_to_reach(grid, base_score, ends[0]),
                            "needed_high": budget_to_reach(grid, base_score, ends[1]),
                            "labels_saved": need - line.budget,
                            "ratio": need / line.budget,
                            "baseline_grid": f"{int(grid.min())}-{int(grid.max())}"})
    return pd.DataFrame(out, columns=["dataset", "model", "sampler", "budget", "seeds", "mean",
                                      "baseline_budget_needed", "needed_low", "needed_high",
                                      "labels_saved", "ratio", "baseline_grid"])


def seeds_needed(tests: int, alpha: float = ALPHA) -> int:
    """The fewest paired seeds with which the smallest p of one test, times ``tests`` (Holm's
    first step), can fall below ``alpha``; at least MIN_PAIRS."""
    n = MIN_PAIRS
    while tests * smallest_p(n) >= alpha:
        n += 1
    return n


# -- figures --------------------------------------------------------------------------------

def _family_order(table: pd.DataFrame) -> list[tuple]:
    """(dataset, model) panels in the figures' dataset order (the paper's), then by name."""
    return sorted(table.groupby(FAMILY).groups, key=lambda k: (figures.dataset_rank(k[0]), k))


def _panels(keys: list[tuple]) -> tuple:
    fig, axes = plt.subplots(1, len(keys), figsize=(4.8 * len(keys), 3.8), squeeze=False)
    return fig, axes[0]


def _panel_title(dataset: str, model: str, n_models: int) -> str:
    name = figures.TITLES.get(dataset, dataset)
    return f"{name}, {model}" if n_models > 1 else name


def _legend(fig, axes, order: list[str]) -> None:
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    labels = [figures.LABELS.get(s, s) for s in order if figures.LABELS.get(s, s) in seen]
    fig.legend([seen[x] for x in labels], labels, loc="lower center", ncol=min(len(labels), 6),
               fontsize=8, bbox_to_anchor=(0.5, -0.02), frameon=False)


def curve_figure(curve_table: pd.DataFrame, baseline: str):
    """One panel per (dataset, model): mean over seeds with its 95% t interval (band), per
    sampler; the baseline dashed."""
    have = curve_table[curve_table["mean"].notna()]
    keys = _family_order(have)
    fig, axes = _panels(keys)
    models = have.groupby("dataset")["model"].nunique()
    order = _order(have["sampler"].unique(), baseline)
    for ax, (dataset, model) in zip(axes, keys):
        part = have[(have["dataset"] == dataset) & (have["model"] == model)]
        for sampler in order:
            s = part[part["sampler"] == sampler].sort_values("budget")
            if s.empty:
                continue
            color = figures.COLORS.get(sampler)
            ax.plot(s["budget"], s["mean"], marker="o", markersize=4, color=color,
                    linestyle="--" if sampler == baseline else "-",
                    label=figures.LABELS.get(sampler, sampler))
            ax.fill_between(s["budget"], s["ci95_low"].fillna(s["mean"]),
                            s["ci95_high"].fillna(s["mean"]), alpha=0.12, color=color)
        figures._budget_axis(ax, sorted(part["budget"].unique()))
        if part["metric"].iloc[0] == "r2_error_val":
            ax.set_yscale("log")
        ax.set_xlabel("budget (labelled points)")
        ax.set_ylabel(METRIC_TEXT.get(part["metric"].iloc[0], part["metric"].iloc[0]))
        lo, hi = part["seeds"].min(), part["seeds"].max()
        seeds = f"{lo} seeds per point" if lo == hi else f"{lo}-{hi} seeds per point"
        ax.set_title(f"{_panel_title(dataset, model, models[dataset])} ({seeds})", fontsize=10)
        ax.grid(alpha=0.3)
    _legend(fig, axes, order)
    fig.text(0.5, 1.0, "mean over seeds, band = 95% t interval of the mean", ha="center",
             va="bottom", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def paired_figure(paired_table: pd.DataFrame, baseline: str):
    """One panel per (dataset, model): each method's mean paired difference from the baseline
    with its 95% interval; filled markers where significant after Holm, hollow otherwise."""
    keys = _family_order(paired_table)
    fig, axes = _panels(keys)
    models = paired_table.groupby("dataset")["model"].nunique()
    order = _order(paired_table["sampler"].unique(), baseline)
    for ax, (dataset, model) in zip(axes, keys):
        part = paired_table[(paired_table["dataset"] == dataset) & (paired_table["model"] == model)]
        budgets = sorted(part["budget"].unique())
        for i, sampler in enumerate(order[1:]):
            s = part[(part["sampler"] == sampler) & part["diff"].notna()].sort_values("budget")
            if s.empty:
                continue
            color = figures.COLORS.get(sampler)
            x = s["budget"] * (1 + 0.03 * (i - (len(order) - 2) / 2))   # side by side
            err = np.vstack([s["diff"] - s["diff_ci95_low"], s["diff_ci95_high"] - s["diff"]])
            ax.errorbar(x, s["diff"], yerr=np.nan_to_num(err), color=color, marker="none",
                        linestyle="-", linewidth=1, capsize=2,
                        label=figures.LABELS.get(sampler, sampler))
            sig = s["verdict"].isin(["win", "loss"]).to_numpy()
            ax.scatter(x[sig], s["diff"][sig], color=color, zorder=3, s=22)
            ax.scatter(x[~sig], s["diff"][~sig], facecolors="white", edgecolors=color, zorder=3,
                       s=22)
        ax.axhline(0.0, color="black", linewidth=0.8)
        figures._budget_axis(ax, budgets)
        ax.set_xlabel("budget (labelled points)")
        ax.set_ylabel(f"method - {baseline} ({part['metric'].iloc[0]})")
        ax.set_title(_panel_title(dataset, model, models[dataset]), fontsize=10)
        ax.grid(alpha=0.3)
    _legend(fig, axes, order[1:])
    fig.text(0.5, 1.0, "mean paired difference over seeds, bars = 95% t interval; filled = "
             f"significant after Holm (p < {ALPHA}), hollow = not (or too few seeds)",
             ha="center", va="bottom", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def cd_figure(result: dict):
    """Demsar's critical-difference diagram: average ranks on an axis (1 = best, left), the CD
    as a bar, and thick lines joining methods not significantly different (only drawn when the
    Friedman test was run and rejected; else the title says why)."""
    avg: pd.Series = result["average_rank"]
    k = max(len(avg), 2)
    groups = cliques(avg, result["cd"]) if result["differ"] else []
    top = -0.3 - 0.1 * len(groups)          # the labels start below the clique bars
    half = (len(avg) + 1) // 2
    fig, ax = plt.subplots(figsize=(7, 1.4 + 0.3 * half + 0.1 * len(groups)))
    ax.set_xlim(0.7, k + 0.3)
    ax.set_ylim(top - 0.4 * half - 0.1, 1.3)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.12, color="black", linewidth=1)
        ax.text(r, 0.2, str(r), ha="center", va="bottom", fontsize=8)
    for i, (name, r) in enumerate(avg.items()):
        left = i < half
        y = top - 0.4 * (i if left else len(avg) - 1 - i)
        x_end = 0.8 if left else k + 0.2
        ax.plot([r, r, x_end], [0, y, y], color=figures.COLORS.get(name, "black"), linewidth=1)
        ax.text(x_end + (-0.03 if left else 0.03), y,
                f"{figures.LABELS.get(name, name)} ({r:.2f})", ha="right" if left else "left",
                va="center", fontsize=8)
    if not math.isnan(result["cd"]):
        ax.hlines(0.85, 1, 1 + result["cd"], color="black", linewidth=1.5)
        ax.text(1 + result["cd"] / 2, 0.95, f"CD = {result['cd']:.2f}", ha="center",
                va="bottom", fontsize=8)
    for j, group in enumerate(groups):
        ax.hlines(-0.15 - 0.1 * j, avg[group[0]] - 0.03, avg[group[-1]] + 0.03, color="black",
                  linewidth=3)
    if result["tested"]:
        state = (f"Friedman / Iman-Davenport p = {result['p_F']:.3g}: "
                 + ("methods differ; joined = no significant difference (Nemenyi)"
                    if result["differ"] else "no difference detected (Nemenyi not applied)"))
    else:
        state = f"Not tested: {result['note'].split(':')[0]}"
    ax.set_title(f"Average rank over {result['cells']} cells (1 = best). {state}", fontsize=8)
    fig.tight_layout()
    return fig


# -- the report -----------------------------------------------------------------------------

def _p_text(p: float, n: int) -> str:
    if n < MIN_PAIRS:
        return f"{TOO_FEW} ({n} < {MIN_PAIRS})"
    return "—" if math.isnan(p) else f"{p:.4f}"


def _budget_text(value: float, grid: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if value == math.inf:
        return f"beyond the grid (> {grid.split('-')[-1]})"
    if value == -math.inf:
        return f"below the grid (< {grid.split('-')[0]})"
    return f"{value:.0f}"


def _saved_text(need: float, budget: int, grid: str, ratio: bool) -> str:
    """labels saved (need - budget) or the ratio need / budget; a bound outside the grid."""
    if isinstance(need, float) and math.isnan(need):
        return "—"
    lo, hi = (float(x) for x in grid.split("-"))
    value, op = ((need, "") if np.isfinite(need) else (hi, "> ") if need > 0 else (lo, "< "))
    return f"{op}{value / budget:.2f}" if ratio else f"{op}{value - budget:.0f}"


def _write(numeric: pd.DataFrame, display: pd.DataFrame, stem: Path, digits: int = 4) -> list[Path]:
    """csv from the numbers, md and tex from the display copy (words where numbers are not)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    numeric.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(tables.to_markdown(display, digits))
    stem.with_suffix(".tex").write_text(tables.to_latex(display, digits))
    return [stem.with_suffix(s) for s in (".md", ".csv", ".tex")]


def is_paper_rows(rows: pd.DataFrame) -> bool:
    """Whether every row is of one of the paper's datasets (the default report is then the
    paper's)."""
    return not rows.empty and set(rows["dataset"].unique()) <= PAPER_DATASETS


def check_baseline(rows: pd.DataFrame, baseline: str | None) -> str:
    """The baseline to use, or a ReportError naming the samplers present."""
    present = figures._ordered(set(rows["sampler"].unique()))
    if baseline is None:
        if "uniform" in present:
            return "uniform"
        raise _error(f"no uniform rows to compare against; samplers present: {', '.join(present)}"
                     f"; choose one with baseline=NAME")
    if baseline not in present:
        raise _error(f"baseline {baseline!r} has no rows here; valid baselines: "
                     f"{', '.join(present)}")
    return baseline


def build(rows: pd.DataFrame, *, results_dir: str | Path, baseline: str | None,
          out: str | Path | None = None, experiment: str | None = None,
          damaged: int = 0) -> Path:
    """Write the comparison report of ``rows`` against ``baseline`` (None: uniform, the
    default); return the path of its ``index.md``."""
    t0 = time.perf_counter()
    defaulted = baseline is None
    baseline = check_baseline(rows, baseline)
    frame = scored(rows)
    if _ok(frame).empty:
        raise _error(f"no ok rows with an accuracy or validation 1 - R^2 under {results_dir}")
    out = Path(out) if out is not None else Path(results_dir) / "report"
    tdir, fdir = out / "tables", out / "figures"
    fdir.mkdir(parents=True, exist_ok=True)
    tdir.mkdir(parents=True, exist_ok=True)
    link = lambda p: p.relative_to(out).as_posix()  # noqa: E731
    samplers = _order(frame["sampler"].unique(), baseline)

    curve_t = curve(frame)
    pair_t = paired(frame, baseline)
    wtl = win_tie_loss(pair_t)
    rank_groups = []
    for methods, fams in _method_sets(curve_t).items():
        sub = curve_t.set_index(FAMILY).loc[fams].reset_index()
        sub = sub[sub["sampler"].isin(methods)]
        ranks, _, left_out = rank_cells(sub)
        names = sorted({d for d, _ in fams})
        rank_groups.append({"name": ", ".join(names), "ranks": ranks, "left_out": left_out,
                            "result": friedman_nemenyi(ranks)})
    auc_t, grids = auc_table(frame, baseline)
    saved = labels_saved(curve_t, baseline)

    ok = _ok(frame)
    cell_seeds = ok.groupby(KEYS)["seed"].nunique()
    families = pair_t.groupby(FAMILY).agg(tests=("sampler", "size"),
                                          pairs_min=("pairs", "min"), pairs_max=("pairs", "max"))
    too_few = int(pair_t["verdict"].astype(str).str.startswith(TOO_FEW).sum())
    metrics = sorted(set(frame["metric"]))
    cmd = (f"coreset-bench report results_dir={results_dir} baseline={baseline}"
           f"{f' experiment={experiment}' if experiment else ''} out={out}")
    head = [
        f"# Comparison report: {len(samplers) - 1} method(s) against `{baseline}`\n",
        f"Generated by `{cmd}` from {len(rows)} result rows ({int((rows['status'] == 'ok').sum())} "
        f"ok, {int((rows['status'] != 'ok').sum())} failed: failed rows are counted, never "
        f"averaged){f'; {damaged} damaged row file(s) skipped' if damaged else ''}. "
        f"Datasets: {', '.join(sorted(frame['dataset'].unique()))}; methods: "
        f"{', '.join(samplers)}; baseline: `{baseline}`"
        f"{' (the default: choose another with baseline=NAME)' if defaulted else ''}. "
        f"{tables.code_commits(rows)}\n",
        f"- **Metric**: {'; '.join(METRIC_TEXT[m] for m in metrics)}.",
        f"- **Seeds per cell** (ok runs per dataset, model, method, budget): "
        f"{int(cell_seeds.min())}-{int(cell_seeds.max())}"
        if cell_seeds.min() != cell_seeds.max() else
        f"- **Seeds per cell** (ok runs per dataset, model, method, budget): {int(cell_seeds.min())}",
        f"- **Paired test**: each method minus `{baseline}` on the same seeds, two-sided Wilcoxon "
        f"signed-rank (`coreset_bench.stats.paired`); a p value needs {MIN_PAIRS} paired seeds, "
        f"and with n pairs no p can be below 2 / 2^n ({smallest_p(MIN_PAIRS):.4f} at "
        f"n = {MIN_PAIRS}).",
        f"- **Correction**: Holm, one family per (dataset, model) over all methods x budgets "
        f"tested there; significant = Holm-adjusted p < {ALPHA}. The AUC differences form their "
        "own family per (dataset, model), over methods."]
    for (dataset, model), fam in families.iterrows():
        need = seeds_needed(int(fam["tests"]))
        state = ("enough" if fam["pairs_min"] >= need else
                 "not enough for any difference to be significant" if fam["pairs_max"] < need else
                 "enough in some cells only")
        lo, hi = int(fam["pairs_min"]), int(fam["pairs_max"])
        head.append(f"  - {dataset} / {model}: {int(fam['tests'])} comparisons with "
                    f"{lo if lo == hi else f'{lo}-{hi}'} paired seeds; after Holm a "
                    f"difference can be significant only with >= {need} paired seeds: {state}.")
    if len(samplers) == 1:
        head.append("- **Only the baseline has rows**: nothing to compare; run other samplers on "
                    "the same seeds (`sampler=...`) or choose another baseline=NAME.")
    if too_few:
        head.append(f"- **Too few seeds to tell**: {too_few} of {len(pair_t)} comparisons have "
                    f"fewer than {MIN_PAIRS} paired seeds; they show \"{TOO_FEW}\" instead of a p "
                    f"value and count neither as win nor tie nor loss. Re-run with more seeds "
                    f"(e.g. `'seed=range(0,10)'`).")
    head.append("")
    body: list[str] = []

    # 1. the curves
    rank = {s: i for i, s in enumerate(samplers)}
    curve_t = (curve_t.assign(_o=curve_t["sampler"].map(rank))
               .sort_values(["dataset", "model", "_o", "budget"]).drop(columns="_o")
               .reset_index(drop=True))
    disp = curve_t.copy()
    paths = _write(curve_t, disp, tdir / "curve")
    png, _ = figures.save(curve_figure(curve_t, baseline), fdir / "curve")
    body += ["## Metric against budget\n",
             "Mean over ok seeds with the 95% t interval of the mean (NaN with one seed), seeds "
             f"and failed runs per cell ([csv]({link(paths[1])})).\n",
             f"![metric against budget]({link(png)})\n", tables.to_markdown(disp)]

    # 2. paired differences
    if not pair_t.empty:
        disp = pair_t.drop(columns=["sign", "metric"]).copy()
        disp["p_raw"] = [_p_text(p, n) for p, n in zip(pair_t["p_raw"], pair_t["pairs"])]
        disp["p_holm"] = [_p_text(p, n) for p, n in zip(pair_t["p_holm"], pair_t["pairs"])]
        paths = _write(pair_t, disp, tdir / "paired")
        png, _ = figures.save(paired_figure(pair_t, baseline), fdir / "paired")
        body += [f"## Paired difference from `{baseline}`\n",
                 f"Per (dataset, model, budget): `diff` = mean over seeds of (method - {baseline}) "
                 "on the seeds both have (`pairs`), its 95% t interval, the Wilcoxon p (`p_raw`), "
                 "the smallest p that many pairs allow, and the Holm-adjusted p (`p_holm`, family "
                 f"= the (dataset, model): `family_tests` tests). `verdict`: win / loss = "
                 f"significantly better / worse after Holm (p_holm < {ALPHA}), tie = tested, not "
                 f"significant, \"{TOO_FEW}\" = fewer than {MIN_PAIRS} pairs: no p value, nothing "
                 f"can be told ([csv]({link(paths[1])})).\n",
                 f"![paired differences]({link(png)})\n", tables.to_markdown(disp)]

        # 3. win / tie / loss
        paths = _write(wtl, wtl, tdir / "win_tie_loss")
        body += ["## Wins, ties and losses\n",
                 f"Per method over (dataset, model, budget) cells against `{baseline}`: win = "
                 f"significantly better after Holm, loss = significantly worse, tie = tested and "
                 f"not significant; \"{TOO_FEW}\" cells are not counted as ties "
                 f"([csv]({link(paths[1])})).\n", tables.to_markdown(wtl)]

    # 4. ranks, one analysis per set of methods (datasets run with the same samplers)
    body += ["## Average rank and critical difference\n",
             "Each complete (dataset, model, budget) cell ranks the methods by their mean "
             "(1 = best; ties share the average rank); the table is the average over cells. "
             "Datasets run with different sets of methods are ranked separately (one group per "
             "set); a cell where one of its group's methods has no ok run is left out. Test: "
             "Friedman (chi-square and Iman-Davenport F), then the Nemenyi critical difference "
             f"CD = q_{ALPHA} sqrt(k (k + 1) / (6 N)) (Demsar 2006), needing k >= 3 methods and "
             f"N >= {MIN_CELLS} cells. The cells of one dataset at different budgets are not "
             "independent data sets, as the test assumes: read it as a summary.\n"]
    rank_lines, cell_frames = [], []
    for i, group in enumerate(rank_groups):
        fr, avg, name = group["result"], group["result"]["average_rank"], group["name"]
        rank_lines += [{"group": name, "sampler": s, "average_rank": float(r),
                        "cells": fr["cells"], "cells_left_out": group["left_out"],
                        "friedman_p": fr["p_chi2"], "iman_davenport_p": fr["p_F"],
                        "cd": fr["cd"], "tested": fr["tested"]} for s, r in avg.items()]
        cell_frames.append(group["ranks"].reset_index().assign(group=name))
        stats_line = (f"N = {fr['cells']} cells, k = {fr['methods']} methods; Friedman chi2 = "
                      f"{fr['chi2']:.3f} (p = {fr['p_chi2']:.4g}), Iman-Davenport F = "
                      f"{fr['F']:.3f} (p = {fr['p_F']:.4g}); CD = {fr['cd']:.3f} "
                      f"(q = {fr['q_alpha']:.3f}).")
        if len(rank_groups) > 1:
            body.append(f"### {name}\n")
        body.append(tables.to_markdown(pd.DataFrame({"sampler": list(avg.index),
                                                     "average_rank": avg.to_numpy(float)}), 3))
        if group["left_out"]:
            body.append(f"{group['left_out']} cell(s) left out: a method had no ok run there.\n")
        if fr["tested"]:
            groups = cliques(avg, fr["cd"]) if fr["differ"] else []
            body.append(("**The methods differ** (Iman-Davenport p < " f"{ALPHA}). "
                         if fr["differ"] else "**No difference detected** (Iman-Davenport p >= "
                         f"{ALPHA}; Nemenyi not applied). ") + stats_line
                        + (" Not significantly different (average ranks within CD): "
                           + "; ".join("{" + ", ".join(g) + "}" for g in groups) + "."
                           if groups else "") + "\n")
        else:
            body.append(f"**Not tested: {fr['note']}.** "
                        + (stats_line if not math.isnan(fr["chi2"]) else "") + "\n")
        if len(avg):
            stem = "critical_difference" + (f"_{i + 1}" if i else "")
            png, _ = figures.save(cd_figure(fr), fdir / stem)
            body.append(f"![critical difference {name}]({link(png)})\n")
    rank_frame = pd.DataFrame(rank_lines, columns=["group", "sampler", "average_rank", "cells",
                                                   "cells_left_out", "friedman_p",
                                                   "iman_davenport_p", "cd", "tested"])
    paths = _write(rank_frame, rank_frame, tdir / "ranks", 3)
    cells = pd.concat(cell_frames) if cell_frames else pd.DataFrame()
    c_paths = _write(cells, cells, tdir / "ranks_per_cell", 2)
    body.append(f"Tables: [average ranks]({link(paths[0])}) ([csv]({link(paths[1])})), "
                f"[ranks per cell]({link(c_paths[0])}).\n")

    # 5. AUC
    if not auc_t.empty:
        disp = auc_t.drop(columns=["sign"]).copy()
        disp["p_raw"] = [("" if s == baseline else _p_text(p, n)) for s, p, n in
                         zip(auc_t["sampler"], auc_t["p_raw"], auc_t["pairs"])]
        disp["p_holm"] = [("" if s == baseline else _p_text(p, n)) for s, p, n in
                          zip(auc_t["sampler"], auc_t["p_holm"], auc_t["pairs"])]
        paths = _write(auc_t, disp, tdir / "auc")
        body += ["## Area under the budget curve\n",
                 "Per seed, the trapezoid area under the metric against the budget (linear axis), "
                 "over the budgets every method of that (dataset, model) has (`budgets`), divided "
                 "by their range: the curve's average height, in the metric's units. Mean over "
                 "the seeds that have every budget, 95% t interval over seeds, paired difference "
                 f"from `{baseline}` by seed with Holm over the methods of one (dataset, model) "
                 f"([csv]({link(paths[1])})).\n", tables.to_markdown(disp)]
    short = [f"{d} / {m}" for (d, m), g in grids.items() if len(g) < 2]
    if short:
        body.append(f"No AUC for {', '.join(short)}: fewer than 2 budgets common to every "
                    "method.\n")

    # 6. labels saved
    if not saved.empty:
        disp = saved.copy()
        for col in ("baseline_budget_needed", "needed_low", "needed_high"):
            disp[col] = [_budget_text(v, g) for v, g in zip(saved[col], saved["baseline_grid"])]
        disp["labels_saved"] = [_saved_text(v, b, g, False) for v, b, g in
                                zip(saved["baseline_budget_needed"], saved["budget"],
                                    saved["baseline_grid"])]
        disp["ratio"] = [_saved_text(v, b, g, True) for v, b, g in
                         zip(saved["baseline_budget_needed"], saved["budget"],
                             saved["baseline_grid"])]
        paths = _write(saved, disp, tdir / "labels_saved")
        body += ["## Labels saved\n",
                 f"For each method and budget: the budget `{baseline}` needs to reach the "
                 "method's mean (`baseline_budget_needed`: linear interpolation on the baseline's "
                 "mean curve at the first budget where it reaches that level; \"beyond the "
                 "grid\" when its curve never does within the budgets run, \"below the grid\" "
                 "when it already does at its smallest budget), `labels_saved` = needed - budget "
                 "(negative: the method needs more labels) and `ratio` = needed / budget. "
                 "Interval [`needed_low`, `needed_high`]: the same interpolation applied to the "
                 "ends of the method's 95% t interval of the mean; it leaves out the noise of "
                 f"the baseline's own curve (see its intervals in the first table) "
                 f"([csv]({link(paths[1])})).\n", tables.to_markdown(disp)]

    body.append(f"\n_Built in {time.perf_counter() - t0:.1f} s._\n")
    path = out / "index.md"
    path.write_text("\n".join(head + body))
    return path


__all__ = ["ALPHA", "MIN_CELLS", "MIN_PAIRS", "PAPER_DATASETS", "auc", "auc_per_seed",
           "auc_table", "budget_to_reach", "build", "check_baseline", "cliques", "curve",
           "friedman_nemenyi", "is_paper_rows", "labels_saved", "paired", "rank_cells",
           "scored", "seeds_needed", "win_tie_loss"]

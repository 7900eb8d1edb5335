"""A quick text summary of result rows (the full report is a separate module): per cell the
mean with its 95% t interval, and each sampler's paired difference from uniform (same seeds,
so the shared warm start cancels out) with its 95% interval and Wilcoxon p value (the paired
test of ``coreset_bench.stats``, the report's: p needs ``MIN_PAIRS`` paired seeds, the
interval two)."""

from __future__ import annotations

import math

import pandas as pd

from .. import store
from ..stats import MIN_PAIRS, ci95, paired_by_seed

KEYS = ["dataset", "model", "sampler", "budget"]
ORDER = ["uniform", "kcenter", "loss", "grad", "margin", "least_confidence", "entropy", "badge",
         "typiclust", "probcover", "cluster_margin", "alg3",
         "leverage", "kmedoids", "kmedoids_alg2"]


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """One line per (dataset, model, sampler, budget) over ok rows (failed rows are counted,
    never averaged): seeds, mean and 95% interval of the metric (accuracy, or validation
    1 - R^2 for regression), the paired difference from uniform, selection time."""
    metric = "accuracy" if "accuracy" in frame and frame["accuracy"].notna().any() else "r2_error_val"
    if metric not in frame:  # only failed rows so far
        frame = frame.assign(**{metric: float("nan")})
    if "time_selection" not in frame:
        frame = frame.assign(time_selection=float("nan"))
    ok = frame[(frame["status"] == "ok") & frame[metric].notna()]
    failed = frame[frame["status"] != "ok"].groupby(KEYS).size()
    out = []
    for key, cell in ok.groupby(KEYS):
        v = cell[metric].to_numpy(float)
        low, high = ci95(v)
        line = {**dict(zip(KEYS, key)), "seeds": int(cell["seed"].nunique()),
                "failed": int(failed.get(key, 0)), f"{metric}_mean": float(v.mean()),
                "ci95_low": low, "ci95_high": high}
        dataset, model, sampler, budget = key
        base = ok[(ok["dataset"] == dataset) & (ok["model"] == model) & (ok["budget"] == budget)
                  & (ok["sampler"] == "uniform")]
        r = paired_by_seed(cell, base, metric)
        if sampler != "uniform" and r.n >= 2:   # p is NaN (printed '-') below MIN_PAIRS pairs
            line.update(vs_uniform=r.mean_diff, vs_uniform_low=r.ci_low,
                        vs_uniform_high=r.ci_high, p_vs_uniform=r.p_value)
        else:
            line.update(vs_uniform=math.nan, vs_uniform_low=math.nan, vs_uniform_high=math.nan,
                        p_vs_uniform=math.nan)
        line["time_selection_s"] = float(cell["time_selection"].mean())
        out.append(line)
    for key, count in failed.items():  # cells where every run failed
        if not any(tuple(line[k] for k in KEYS) == key for line in out):
            out.append({**dict(zip(KEYS, key)), "seeds": 0, "failed": int(count)})
    table = pd.DataFrame(out)
    rank = {s: i for i, s in enumerate(ORDER)}
    table["_order"] = table["sampler"].map(lambda s: rank.get(s, len(ORDER)))
    return (table.sort_values(["dataset", "model", "budget", "_order", "sampler"])
            .drop(columns="_order").reset_index(drop=True))


def summary_table(results_dir: str) -> str | None:
    frame = store.load(results_dir)
    if frame.empty:
        return None
    if "thm5.s" in frame:   # a Theorem 5 study: errors of the estimators, not accuracies
        from . import theory

        table = theory.table(theory.long(theory.load(results_dir)))
        cols = ["dataset", "budget", "s", "seeds", "abs_err_iid", "abs_err_wor", "abs_err_uniform",
                "bound", "wor_minus_uniform", "p_wor_vs_uniform", "bias_wor"]
        return (table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
                + "\n\nabs_err_*: mean |sum_S w l / sum_D l - 1| over seeds (iid: Algorithm 1 as "
                  "stated; wor: as the experiments draw; uniform: n/s weights). bound: Theorem 5's "
                  "eps (1 + 2 lambda Phi / sum l). wor_minus_uniform: mean paired difference of "
                  "|error| from uniform's, p its Wilcoxon p value (needs >= "
                  f"{MIN_PAIRS} seeds: '-' with fewer). bias_wor: mean signed error.")
    table = summarise(frame)
    return (table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
            + "\n\nci95: 95% t interval of the mean over seeds. vs_uniform: mean paired difference "
              "from uniform over the same seeds, [vs_uniform_low, vs_uniform_high] its 95% "
              "interval, p_vs_uniform its Wilcoxon signed-rank p value (needs >= "
              f"{MIN_PAIRS} paired seeds: '-' with fewer).")

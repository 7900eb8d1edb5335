"""A quick text summary of result rows (the full report is a separate module)."""

from __future__ import annotations

import pandas as pd

from . import results

KEYS = ["dataset", "model", "sampler", "budget"]


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and seed count of accuracy and selection time per (dataset, model, sampler,
    budget), over ok rows; failed rows are counted, never averaged."""
    ok = frame[frame["status"] == "ok"]
    failed = frame[frame["status"] != "ok"].groupby(KEYS).size().rename("failed")
    stats = ok.groupby(KEYS).agg(
        seeds=("seed", "nunique"), accuracy_mean=("accuracy", "mean"),
        accuracy_std=("accuracy", "std"), time_selection_s=("time_selection", "mean"),
        time_total_s=("time_total", "mean"), n_inferences=("n_inferences", "median"))
    out = stats.join(failed, how="outer").fillna({"failed": 0, "seeds": 0})
    out = out.astype({"failed": int, "seeds": int})
    out["n_inferences"] = out["n_inferences"].round().astype("Int64")
    return out.reset_index()


def summary_table(results_dir: str) -> str | None:
    frame = results.load(results_dir)
    if frame.empty:
        return None
    return summarise(frame).to_string(index=False, float_format=lambda v: f"{v:.4f}")

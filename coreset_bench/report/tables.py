"""Summary tables: mean, std, 95% confidence interval and seed count per cell.

The interval is the t interval of the mean over seeds (mean +- t_{0.975, n-1} s / sqrt(n)); a
cell with one seed has no interval (NaN), never a made-up one. Only ``status == "ok"`` rows
enter the statistics; the number of seeds per cell is always shown.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..stats import ci95  # noqa: F401  (re-exported: tables.ci95)

KEYS = ["dataset", "sampler", "budget"]
METRICS = {"classification": ["accuracy"], "regression": ["r2_error_train", "r2_error_val"]}
STAGES = {
    "classification": ["warm_train", "embed", "cluster", "query", "score", "sample",
                       "final_train", "eval"],
    "regression": ["cluster", "leverage", "query", "sample", "fit", "eval"],
}



def summary(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One line per (dataset, sampler, budget): seeds, mean, std, ci95_low, ci95_high, median
    (beside the mean: a few exploding runs move a mean, not a median)."""
    ok = rows[rows["status"] == "ok"]
    out = []
    for key, cell in ok.groupby(KEYS, sort=True):
        v = cell[metric]
        low, high = ci95(v)
        out.append({**dict(zip(KEYS, key)), "seeds": int(cell["seed"].nunique()),
                    "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                    "ci95_low": low, "ci95_high": high, "median": float(v.median())})
    return pd.DataFrame(out, columns=[*KEYS, "seeds", "mean", "std", "ci95_low", "ci95_high",
                                      "median"])


def runtime(rows: pd.DataFrame, task: str) -> pd.DataFrame:
    """Mean seconds per stage (and selection / total) per (dataset, sampler, budget)."""
    ok = rows[rows["status"] == "ok"]
    cols = [f"time_{s}" for s in STAGES[task] if f"time_{s}" in ok] + \
           [c for c in ("time_selection", "time_total") if c in ok]
    table = ok.groupby(KEYS)[cols].mean().reset_index()
    table.insert(len(KEYS), "seeds", ok.groupby(KEYS)["seed"].nunique().to_numpy())
    return table


def _fmt(v, digits: int = 4, missing: str = "—") -> str:
    if isinstance(v, (float, np.floating)):
        return missing if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def to_markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v, digits) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


def to_latex(frame: pd.DataFrame, digits: int = 4) -> str:
    """A self-contained ``tabular`` (booktabs rules), one row per line."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in frame.columns)
    lines = [f"\\begin{{tabular}}{{{align}}}", "\\toprule",
             " & ".join(_tex_escape(str(c)) for c in frame.columns) + " \\\\", "\\midrule"]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(_tex_escape(_fmt(v, digits, "--")) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def code_commits(rows: pd.DataFrame) -> str:
    """Which code the rows came from, for a report's header: each commit (short) with its row
    count, uncommitted changes flagged, and the rows written before rows recorded a commit."""
    commit = rows["code_commit"] if "code_commit" in rows else pd.Series([None] * len(rows), rows.index)
    dirty = rows["code_dirty"] if "code_dirty" in rows else pd.Series([None] * len(rows), rows.index)
    parts, unknown = [], []
    for sha, group in rows.groupby(commit.fillna(""), sort=True):
        if not sha:
            unknown = [f"not recorded ({len(group)} rows, written before rows named their commit)"]
            continue
        n_dirty = int((dirty.loc[group.index] == True).sum())  # noqa: E712 (None/NaN are not True)
        parts.append(f"{sha[:10]} ({len(group)} rows{f', {n_dirty} with uncommitted changes' if n_dirty else ''})")
    return "Code: " + "; ".join(parts + unknown) + "."

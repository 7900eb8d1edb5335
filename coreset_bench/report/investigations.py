"""The report's "Investigations" section: where a paper number or claim disagrees with ours,
the runs that look for why.

- Ablations (``results_dir/ablations/<experiment>/``, one results_dir per ablation config,
  ``conf/experiment/abl_*.yaml``): each changes one thing; its rows are paired by seed and size
  with uniform in the same directory and with the unchanged method in the main rows.
- Checks written by scripts (``results_dir/investigations/<name>.csv`` with an optional
  ``<name>.md`` beside it: the script's own description and conclusion, computed from the
  numbers; ``*_per_seed.csv`` are the scripts' raw values, not shown), e.g.
  ``scripts/investigate_fashion.py``, ``scripts/investigate_cifar_eval.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from scipy import stats

from .. import results
from . import paper, tables

METRICS = ("r2_error_val", "r2_error_train")


def regression_ablation(name: str, rows: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """One line per (sampler, size): medians of 1 - R^2, the paired test against uniform in the
    ablation, and the unchanged method's median (main rows, same seeds)."""
    out = []
    ok = rows[rows["status"] == "ok"]
    for (sampler, budget), cell in ok.groupby(["sampler", "budget"]):
        if sampler == "uniform":
            continue
        line = {"ablation": name, "sampler": sampler, "s": int(budget),
                "seeds": int(cell["seed"].nunique())}
        for metric in METRICS:
            short = "val" if metric.endswith("val") else "train"
            r = paper.paired(rows, metric, sampler, "uniform", dataset=cell["dataset"].iloc[0],
                             budget=budget)
            med = float(cell[metric].median())
            uni = paper.median_of(ok, metric, "uniform", budget)
            line[f"median_{short}"] = med
            line[f"uniform_{short}"] = uni
            line[f"vs_uniform_{short}"] = ("—" if r is None else
                                           f"{paper.versus(med, uni, r.p_value)} (p={r.p_value:.2g})")
            line[f"unchanged_{short}"] = paper.median_of(base, metric, sampler, budget,
                                                         dataset=cell["dataset"].iloc[0],
                                                         seeds=set(cell["seed"]))
        out.append(line)
    return pd.DataFrame(out)


def classification_ablation(name: str, rows: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """One line per (sampler, budget): mean accuracy, paired against uniform in the ablation
    and against the unchanged method in the main rows (same dataset, budget and seeds)."""
    out = []
    ok = rows[rows["status"] == "ok"]
    for (dataset, sampler, budget), cell in ok.groupby(["dataset", "sampler", "budget"]):
        if sampler == "uniform":
            continue
        line = {"ablation": name, "dataset": dataset, "sampler": sampler, "budget": int(budget),
                "seeds": int(cell["seed"].nunique()), "accuracy": float(cell["accuracy"].mean())}
        r = paper.paired(rows, "accuracy", sampler, "uniform", dataset=dataset, budget=budget)
        line["vs_uniform"] = "—" if r is None else f"{r.mean_diff:+.4f} (p={r.p_value:.2g})"
        unchanged = base[(base["status"] == "ok") & (base["dataset"] == dataset)
                         & (base["sampler"] == sampler) & (base["budget"] == budget)
                         & base["seed"].isin(set(cell["seed"]))]
        both = (cell.set_index("seed")["accuracy"].to_frame("a")
                .join(unchanged.set_index("seed")["accuracy"].to_frame("b"), how="inner"))
        line["unchanged"] = float(both["b"].mean()) if len(both) else float("nan")
        if len(both) >= paper.MIN_PAIRS:
            diff = both["a"] - both["b"]
            p = 1.0 if (diff == 0).all() else float(stats.wilcoxon(diff).pvalue)
            line["vs_unchanged"] = f"{diff.mean():+.4f} (p={p:.2g}, n={len(both)})"
        else:
            line["vs_unchanged"] = "—"
        r = paper.paired(rows, "accuracy", sampler, "loss", dataset=dataset, budget=budget)
        line["vs_loss"] = ("—" if sampler == "loss" or r is None
                           else f"{r.mean_diff:+.4f} (p={r.p_value:.2g})")
        out.append(line)
    return pd.DataFrame(out)


def section(results_dir: str | Path, base: pd.DataFrame, write_table, link) -> list[str]:
    """Markdown lines of the section (empty when there is nothing to show)."""
    root = Path(results_dir)
    lines: list[str] = []
    checks = sorted(p for p in (root / "investigations").glob("*.csv")
                    if not p.stem.endswith("_per_seed")) if (root / "investigations").is_dir() else []
    for csv in checks:
        frame = pd.read_csv(csv)
        note = csv.with_suffix(".md")
        lines += [f"### {csv.stem.replace('_', ' ')}\n",
                  note.read_text().strip() + "\n" if note.is_file() else "",
                  tables.to_markdown(frame)]
    abl_root = root / "ablations"
    frames, clf_frames = [], []
    for d in sorted(p for p in abl_root.iterdir() if p.is_dir()) if abl_root.is_dir() else []:
        rows = results.load(d)
        if rows.empty or "task" not in rows:
            continue
        if (rows["task"] == "classification").any() and "accuracy" in rows:
            clf_frames.append(classification_ablation(
                d.name, rows[rows["task"] == "classification"], base))
        if (rows["task"] == "regression").any():
            frames.append(regression_ablation(d.name, rows[rows["task"] == "regression"], base))
    if clf_frames:
        abl = pd.concat(clf_frames, ignore_index=True)
        paths = write_table(abl, "ablations_classification")
        lines += ["### Algorithm 1's knobs and Algorithm 3's rounds on MNIST\n",
                  "Each ablation (`conf/experiment/abl_mnist_*.yaml`: lambda, k'', k', weighted "
                  "training; `alg3_mnist_r*.yaml`: Algorithm 3 with r rounds beside Algorithm 1), rows in "
                  f"`{abl_root.as_posix()}/<name>/`) changes one thing the paper leaves open. Mean "
                  "accuracy over seeds; `vs_uniform`: mean paired difference from uniform in the "
                  "same ablation (Wilcoxon p); `unchanged`: the method as run in the main rows "
                  "(lambda = auto, k'' = 0.2 k, k' = 0.2 k, unweighted) on the same seeds, and "
                  "`vs_unchanged` the paired difference from it; `vs_loss`: the paired "
                  "difference from Algorithm 1 (`loss`) in the same directory "
                  f"([csv]({link(paths[1])})).\n",
                  tables.to_markdown(abl)]
    if frames:
        abl = pd.concat(frames, ignore_index=True)
        bullets = _kmedoids_at_largest_s(abl, base)
        paths = write_table(abl, "ablations_regression")
        lines += ["### Gas sensor ablations (k-medoids against uniform at large s)\n",
                  "Each ablation (`conf/experiment/abl_gas_*.yaml`, rows in "
                  f"`{abl_root.as_posix()}/<name>/`) changes one thing. Medians of 1 - R^2 over "
                  "seeds; `vs_uniform`: paired Wilcoxon against uniform in the same ablation "
                  f"(alpha {paper.ALPHA}); `unchanged`: the method's median in the Figure 1 rows "
                  f"on the same seeds ([csv]({link(paths[1])})).\n",
                  tables.to_markdown(abl), *bullets]
    return lines


def _kmedoids_at_largest_s(abl: pd.DataFrame, base: pd.DataFrame) -> list[str]:
    """Computed summary: does each ablation remove k-medoids' loss to uniform at its largest s?"""
    km = abl[abl["sampler"] == "kmedoids"]
    if km.empty:
        return []
    out = ["", "k-medoids against uniform at each ablation's largest s (computed from the table; "
               "`Figure 1 rows`: the unchanged method, all seeds):", ""]
    s = int(km["s"].max())
    fig1 = []
    for metric, short in (("r2_error_val", "val"), ("r2_error_train", "train")):
        r = paper.paired(base, metric, "kmedoids", "uniform", dataset="gas_sensor_drift", budget=s)
        if r is not None:
            meds = [paper.median_of(base, metric, name, s, dataset="gas_sensor_drift")
                    for name in ("kmedoids", "uniform")]
            fig1.append(f"{short} {paper.versus(*meds, r.p_value)}")
    if fig1:
        out.append(f"- Figure 1 rows, s = {s}: {', '.join(fig1)}")
    for line in km[km["s"] == s].to_dict("records"):
        states = [line["vs_uniform_val"].split(" ")[0], line["vs_uniform_train"].split(" ")[0]]
        gone = "WORSE" not in states
        out.append(f"- {line['ablation']}: val {states[0]}, train {states[1]}"
                   f" -> {'no longer worse than uniform' if gone else 'still worse than uniform'}")
    return out + [""]

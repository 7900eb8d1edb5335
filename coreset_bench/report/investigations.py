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

from .. import stats, store
from ..store import published
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
        line["unchanged"] = float(unchanged["accuracy"].mean()) if len(unchanged) else float("nan")
        u = stats.paired_by_seed(cell, unchanged, "accuracy")
        line["vs_unchanged"] = ("—" if not u.tested
                                else f"{u.mean_diff:+.4f} (p={u.p_value:.2g}, n={u.n})")
        r = paper.paired(rows, "accuracy", sampler, "loss", dataset=dataset, budget=budget)
        line["vs_loss"] = ("—" if sampler == "loss" or r is None
                           else f"{r.mean_diff:+.4f} (p={r.p_value:.2g})")
        out.append(line)
    return pd.DataFrame(out)


ALG3_READING = (
    "Our reading of Algorithm 3 (appendix B.3; `samplers/alg3.py`), where the text leaves the "
    "data-selection use open: the prefix clustering ordering is the k-means++ seeding order of "
    "k'' = 0.2 k candidates (every prefix is a k-means++ seeding, an O(log k)-approximation in "
    "expectation, not the O(1) the paper asks for); round i queries the next k''/r prefix points "
    "and draws (k - k_warm - k'')/r candidates without replacement proportional to "
    "l~_i(e) = l(A_i(e)) + lambda ||e - A_i(e)||^2, with A_i the first i k''/r prefix points and "
    "lambda = auto per round; between rounds the model is retrained on everything labelled so "
    "far (without that, one fixed model makes the last round's A the same whatever r). Equal "
    "budget k and equal labels for the clustering (k'') for every r; re-evaluating the retrained "
    "model on labelled points costs forward passes, not labels.")


def algorithm3(dirs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One line per (dataset, budget, r): Algorithm 3's mean accuracy, paired against Algorithm 1
    (``loss``) in its own directory and against Algorithm 3 with r = 1 (any directory), by seed."""
    runs = pd.concat([d for d in dirs.values()], ignore_index=True)
    runs = runs[(runs["status"] == "ok") & (runs["sampler"] == "alg3")]
    if runs.empty:
        return pd.DataFrame()
    runs = runs.assign(rounds=runs["sampler.rounds"].astype(int))
    out = []
    for name, rows in dirs.items():
        mine = rows[(rows["status"] == "ok") & (rows["sampler"] == "alg3")]
        for (dataset, budget, rounds), cell in mine.groupby(
                ["dataset", "budget", mine["sampler.rounds"].astype(int)]):
            line = {"experiment": name, "dataset": dataset, "budget": int(budget),
                    "rounds": int(rounds), "seeds": int(cell["seed"].nunique()),
                    "accuracy": float(cell["accuracy"].mean())}
            r = paper.paired(rows, "accuracy", "alg3", "loss", dataset=dataset, budget=budget)
            nan = float("nan")
            line.update(loss_accuracy=nan if r is None else r.mean_b,
                        vs_loss=nan if r is None else r.mean_diff,
                        p_vs_loss=nan if r is None else r.p_value)
            one = runs[(runs["rounds"] == 1) & (runs["dataset"] == dataset)
                       & (runs["budget"] == budget)]
            r1 = stats.paired_by_seed(cell, one, "accuracy") if rounds != 1 else None
            line.update(vs_r1=nan if r1 is None or not r1.tested else r1.mean_diff,
                        p_vs_r1=nan if r1 is None else r1.p_value)
            line["labels_clustering"] = int(round(cell["n_inferences"].mean()))   # k'' per run
            if "sampler_info.forward_passes" in cell:
                line["forward_passes"] = int(round(cell["sampler_info.forward_passes"].mean()))
            if "time_selection" in cell:
                line["time_selection_s"] = float(cell["time_selection"].mean())
            out.append(line)
    return pd.DataFrame(out).sort_values(["dataset", "budget", "rounds"], ignore_index=True)


def _alg3_summary(table: pd.DataFrame) -> list[str]:
    """Computed from the table: does any r beat r = 1 or Algorithm 1? Paired p, Holm over every
    comparison of the table (p_holm)."""
    tests = [(i, col, ref) for i, line in enumerate(table.to_dict("records"))
             for col, ref in (("vs_r1", "r = 1"), ("vs_loss", "Algorithm 1"))
             if not pd.isna(line[col]) and not pd.isna(line[f"p_{col}"])]
    lines = table.to_dict("records")
    adjusted = dict(zip([(i, col) for i, col, _ in tests],
                        stats.holm([lines[i][f"p_{col}"] for i, col, _ in tests])))
    out = ["", f"Computed from the table (paired Wilcoxon, Holm over its {len(tests)} comparisons, "
               f"alpha {stats.ALPHA}):", ""]
    for (dataset, budget), cell in table.groupby(["dataset", "budget"]):
        parts = []
        for i in cell.index:
            line = lines[table.index.get_loc(i)]
            for col, ref in (("vs_r1", "r = 1"), ("vs_loss", "Algorithm 1")):
                key = (table.index.get_loc(i), col)
                if key not in adjusted:
                    continue
                diff, p = line[col], adjusted[key]
                verdict = (("better than" if diff > 0 else "worse than") if p < stats.ALPHA
                           else "no different from")
                parts.append(f"r = {line['rounds']} {verdict} {ref} ({diff:+.4f}, Holm p={p:.2g})")
        out.append(f"- {dataset}, k = {budget}: " + "; ".join(parts))
    return out + [""]


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
    found = published.parts(root, "ablations")
    as_files = any(p.is_file() for p in found.values())
    where = f"{abl_root.as_posix()}/<name>{published.SUFFIX if as_files else '/'}"
    frames, clf_frames, alg3_dirs = [], [], {}
    for name, d in found.items():
        rows = store.load(d)
        if rows.empty or "task" not in rows:
            continue
        if (rows["sampler"] == "alg3").any():
            alg3_dirs[name] = rows
            continue
        if (rows["task"] == "classification").any() and "accuracy" in rows:
            clf_frames.append(classification_ablation(
                name, rows[rows["task"] == "classification"], base))
        if (rows["task"] == "regression").any():
            frames.append(regression_ablation(name, rows[rows["task"] == "regression"], base))
    if clf_frames:
        abl = pd.concat(clf_frames, ignore_index=True)
        paths = write_table(abl, "ablations_classification")
        lines += ["### Algorithm 1's knobs on MNIST\n",
                  "Each ablation (`conf/experiment/abl_mnist_*.yaml`: lambda, k'', k', weighted "
                  "training), rows in "
                  f"`{where}`) changes one thing the paper leaves open. Mean "
                  "accuracy over seeds; `vs_uniform`: mean paired difference from uniform in the "
                  "same ablation (Wilcoxon p); `unchanged`: the method as run in the main rows "
                  "(lambda = auto, k'' = 0.2 k, k' = 0.2 k, unweighted) on the same seeds, and "
                  "`vs_unchanged` the paired difference from it; `vs_loss`: the paired "
                  "difference from Algorithm 1 (`loss`) in the same directory "
                  f"([csv]({link(paths[1])})).\n",
                  tables.to_markdown(abl)]
    alg3 = algorithm3(alg3_dirs) if alg3_dirs else pd.DataFrame()
    if not alg3.empty:
        paths = write_table(alg3, "algorithm3")
        lines += ["### Algorithm 3: r rounds at equal budget (not in the paper's experiments)\n",
                  ALG3_READING + "\n",
                  "Rows in `" + where.replace("<name>", "alg3_*") + "` (`conf/experiment/alg3_*.yaml`: "
                  "Algorithm 3, Algorithm 1 and uniform on the same seeds and warm starts). Mean "
                  "accuracy over seeds; `vs_loss`: mean paired difference from Algorithm 1 (`loss`, "
                  "k-means clustering, one round) in the same directory, `p_vs_loss` its Wilcoxon "
                  "p; `vs_r1`, `p_vs_r1`: the same against Algorithm 3 with r = 1 on the same "
                  "seeds; `labels_clustering`: "
                  "the k'' labels bought for the clusterings; `forward_passes`: per-example loss "
                  "evaluations (each round re-evaluates its model on the whole prefix so far); "
                  f"`time_selection_s`: seconds of selection, retraining included ([csv]({link(paths[1])})).\n",
                  tables.to_markdown(alg3), *_alg3_summary(alg3)]
    if frames:
        abl = pd.concat(frames, ignore_index=True)
        bullets = _kmedoids_at_largest_s(abl, base)
        paths = write_table(abl, "ablations_regression")
        lines += ["### Gas sensor ablations (k-medoids against uniform at large s)\n",
                  "Each ablation (`conf/experiment/abl_gas_*.yaml`, rows in "
                  f"`{where}`) changes one thing. Medians of 1 - R^2 over "
                  "seeds; `vs_uniform`: paired Wilcoxon against uniform in the same ablation "
                  f"(alpha {stats.ALPHA}); `unchanged`: the method's median in the Figure 1 rows "
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

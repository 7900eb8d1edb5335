"""``coreset-bench report``: tables, figures and the paper comparison from result rows.

Writes into ``<results_dir>/report/`` (or ``out``): ``index.md`` linking everything,
``tables/*.{md,csv,tex}``, ``figures/*.{png,pdf}``. Cells show how many seeds they hold; an
incomplete sweep is reported as such, never padded; failed rows are counted, never averaged.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from .. import store
from ..errors import UserError
from . import figures, investigations, paper, tables, theory

# Recorded choices the paper does not fix (or that the local data forced), with why.
NOT_FIXED = {
    "sampler.lam": "lambda of Algorithm 1's l~ (not given by the paper)",
    "sampler.kmeans_n_init": "k-means restarts (scikit-learn default; the paper names sklearn only)",
    "sampler.kmeans_max_iter": "k-means iteration cap (scikit-learn default; the paper names sklearn only)",
    "sampler.kmeans": "k-means implementation: fast (ours: same seeding, capped Lloyd) or sklearn (the paper's)",
    "sampler.lloyd_iters": "Lloyd iterations of kmeans=fast (a faster stopping rule than scikit-learn's)",
    "sampler.kmeans_trials": "k-means++ candidates per step of kmeans=fast (0: scikit-learn's greedy rule)",
    "engine": "training engine: vmap trains a group's models together (same recipe); keras_fit = Keras fit",
    "backend": "Keras backend (changes the initial weights drawn from a seed, not the recipe)",
    "sampler.zeta": "zeta of Algorithm 2 (the paper's experiments take zeta -> inf)",
    "sampler.init": "FasterPAM initialisation (not given)",
    "sampler.max_iter": "FasterPAM iterations (not given)",
    "dataset.eval_split": "evaluation split; train_holdout for CIFAR-10 (forced: the mirror has 1,000 of 10,000 test images)",
    "dataset.holdout_size": "size of the held-out evaluation part of the CIFAR-10 train set",
    "dataset.holdout_seed": "seed of the CIFAR-10 hold-out draw (not given)",
    "dataset.layout": "file format of the CIFAR-10 mirror (the same images either way)",
    "dataset.batches": "gas sensor batches (forced: the mirror lacks batches 7 and 10)",
    "dataset.n_rows": "gas rows in the batches kept (follows from dataset.batches)",
    "dataset.preprocess_method": "gas feature preprocessing (not given; plain standardization breaks)",
    "dataset.clip_quantiles": "clipping percentiles of the gas preprocessing",
    "dataset.split_seed": "seed of the fixed train/validation split (not given)",
    "dataset.val_fraction": "validation share of the gas data (not given)",
    "dataset.max_pool": "pool subset (smoke tests only)",
    "dataset.max_eval": "evaluation subset (smoke tests only)",
    "model.conv_filters": "CNN filters per layer: DISTIL's network (the paper: three conv layers, sizes not given)",
    "model.dense_units": "CNN dense widths: DISTIL's network (the paper: three dense layers, sizes not given)",
    "model.kernel_size": "CNN kernel size: DISTIL's (not given)",
    "train.weighted": "importance-weighted final training (off: the paper trains unweighted)",
    "train.jit_compile": "XLA compilation of Keras fit's step (speed only; off)",
    "budget": "budget / sample-size grid (the paper's x-axis values are not in its text)",
}
# What the paper fixes (appendix C, sections 5.1 and 5.2), checked against the rows: key ->
# {task: (value as the rows show it, where the paper says so)}. A row with another value is a
# deviation and needs its NOT_FIXED line.
_CLF = "classification"
FIXED_BY_PAPER = {
    "train.epochs": {_CLF: ("10", "appendix C: 10 epochs")},
    "train.batch_size": {_CLF: ("32", "appendix C: batch size 32")},
    "train.learning_rate": {_CLF: ("0.001", "appendix C: Adam, learning rate 1e-3")},
    "train.optimizer": {_CLF: ("adam", "appendix C: Adam, learning rate 1e-3")},
    "model.hidden_units": {_CLF: ("128", "appendix C: one 128-dimensional hidden layer (MNIST, Fashion-MNIST)")},
    "warm_start_frac": {_CLF: ("0.2", "section 5.2: k' = 0.2 k")},
    "sampler.cluster_frac": {_CLF: ("0.2", "section 5.2: k'' = 0.2 k (Algorithm 1)"),
                             "regression": ("0.1", "section 5.1: clusters = 10% of the training rows")},
}
# Choices of the analysis (the verdicts), not of the runs: they are in no row, listed here.
ANALYSIS_CHOICES = [
    {"choice": "verdicts: 'relatively small' budgets", "value": "the 2 smallest of each dataset",
     "why": "section 5.2 says 'relatively small' without a number"},
    {"choice": "verdicts: 'almost as good as leverage'", "value": "1 - R^2 within 1.25x of leverage's (non-inferiority)",
     "why": "section 5.1 gives no margin"},
    {"choice": "verdicts: selection time", "value": "with and without the embedding and clustering",
     "why": "appendix C calls the metric and clustering pre-computed; Figure 3 does not say what it timed"},
    {"choice": "verdicts: Table 1 sizes", "value": "the paper's sizes this machine can run (n = 5,000)",
     "why": "n = 10,000-30,000 need more memory than the 24 GiB here"},
    {"choice": "verdicts: tests", "value": "two-sided paired Wilcoxon, Holm per claim, alpha 0.05",
     "why": "the paper reports means of 100 runs without tests"},
]
CHOICE_PREFIXES = ("dataset.", "sampler.", "model.", "train.", "warm_start_frac", "engine", "backend")
SKIP_CHOICES = {"dataset.name", "sampler.name", "model.name"}
NO_REASON = "NO REASON RECORDED"


class ReportError(UserError):
    """Nothing to report, or a bad report argument."""


def _write_table(frame: pd.DataFrame, stem: Path, digits: int = 4) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    # six significant digits: the last digits of a float (BLAS, scipy, platform) are not the
    # result, and a regenerated report must equal the committed one
    frame.to_csv(stem.with_suffix(".csv"), index=False, float_format="%.6g")
    stem.with_suffix(".md").write_text(tables.to_markdown(frame, digits))
    stem.with_suffix(".tex").write_text(tables.to_latex(frame, digits))
    return [stem.with_suffix(s) for s in (".md", ".csv", ".tex")]


def _show(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():  # ints that pandas widened beside NaN
        return str(int(value))
    return str(value)


def _choices(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every recorded choice in the rows, split in two: what the paper does not fix (or the
    data forced), each with why, and what it fixes, with where it says so."""
    from . import paper

    free, fixed = [], []
    extra = set(paper.EXTRA_BASELINES)
    for col in sorted(rows.columns):
        if not col.startswith(CHOICE_PREFIXES) or col in SKIP_CHOICES:
            continue
        values = rows[col].dropna().map(_show)
        for value, count in values.value_counts().sort_index().items():
            part = rows.loc[values.index[values == value]]
            datasets = ", ".join(sorted(part["dataset"].unique()))
            tasks = set(part["task"]) if "task" in part else {_CLF}
            fixed_as = [FIXED_BY_PAPER.get(col, {}).get(t) for t in tasks]
            if fixed_as and all(f is not None and f[0] == value for f in fixed_as):
                fixed.append({"setting": col, "value": value, "datasets": datasets,
                              "rows": int(count),
                              "where the paper fixes it": "; ".join(sorted({f[1] for f in fixed_as}))})
                continue
            methods = sorted(set(part["sampler"]))
            if col.startswith("sampler.") and set(methods) <= extra:
                why = (f"setting of {', '.join(methods)} (not in the paper): the default of its "
                       f"authors' code (conf/sampler/)")
            else:
                why = NOT_FIXED.get(col, NO_REASON)
                papers = sorted({f"{f[0]} ({f[1]})" for f in fixed_as if f is not None})
                if papers:
                    why = f"{why}; the paper's value: {', '.join(papers)}"
            free.append({"choice": col, "value": value, "datasets": datasets,
                         "rows": int(count), "why": why})
    for task, part in rows.groupby("task"):
        grid = ", ".join(str(b) for b in sorted(part["budget"].unique()))
        free.append({"choice": f"budget ({task})", "value": grid,
                     "datasets": ", ".join(sorted(part["dataset"].unique())), "rows": len(part),
                     "why": NOT_FIXED["budget"]})
    free += [{**c, "datasets": "", "rows": 0} for c in ANALYSIS_CHOICES]
    return pd.DataFrame(free), pd.DataFrame(fixed)


def _completeness(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby(["dataset", "sampler"])
    out = g.agg(budgets=("budget", "nunique"), rows=("run_key", "count"),
                failed=("status", lambda s: int((s != "ok").sum())))
    seeds = rows[rows["status"] == "ok"].groupby(["dataset", "sampler", "budget"])["seed"].nunique()
    seeds = seeds.groupby(["dataset", "sampler"]).agg(["min", "max"])
    out["seeds_min"], out["seeds_max"] = seeds["min"], seeds["max"]
    return out.reset_index()


def _filter_experiment(rows: pd.DataFrame, experiment: str | None) -> pd.DataFrame:
    if not experiment:
        return rows
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from ..config import CONF_DIR, options

    if experiment not in options("experiment"):
        raise ReportError(f"unknown experiment {experiment!r}; valid choices: "
                          f"{', '.join(options('experiment'))}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config",
                                             overrides=[f"experiment={experiment}"],
                                             return_hydra_config=True))
    keep = (rows["dataset"] == cfg["dataset"]["name"])
    if cfg.get("samplers"):
        keep &= rows["sampler"].isin(cfg["samplers"])
    params = (cfg["hydra"]["sweeper"] or {}).get("params") or {}
    if "budget" in params:
        keep &= rows["budget"].astype(str).isin(str(params["budget"]).split(","))
    return rows[keep]


def _provenance(rows: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: rows, seeds, where the models ran, summed run time (job-seconds), the span
    from the first run's start to the last one's end, and the package versions found."""
    out = []
    for dataset, part in rows.groupby("dataset"):
        col = lambda name: part[name] if name in part else pd.Series([None] * len(part))  # noqa: E731
        started = pd.to_datetime(col("started_at"), utc=True, errors="coerce")
        finished = pd.to_datetime(col("finished_at"), utc=True, errors="coerce")
        device = col("device").fillna("cpu")
        versions = col("versions").dropna().map(
            lambda v: ", ".join(f"{k} {v[k]}" for k in ("keras", "jax", "tensorflow-cpu",
                                                         "scikit-learn", "numpy") if k in v)
            if isinstance(v, dict) else str(v))
        out.append({"dataset": dataset, "rows": len(part),
                    "seeds": int(part["seed"].nunique()),
                    "device": "; ".join(f"{d} ({n})" for d, n in device.value_counts().items()),
                    "job_hours": float(part["time_total"].sum()) / 3600 if "time_total" in part else math.nan,
                    "first_start_to_last_end_h": (
                        float((finished.max() - started.min()).total_seconds()) / 3600
                        if started.notna().any() and finished.notna().any() else math.nan),
                    "hosts": int(part["hostname"].nunique()) if "hostname" in part else 0,
                    "versions": "; ".join(sorted(set(versions)))})
    return pd.DataFrame(out)


def _failed(rows: pd.DataFrame) -> pd.DataFrame:
    bad = rows[rows["status"] != "ok"]
    if bad.empty:
        return bad
    err = bad["error"].astype(str).str.slice(0, 90) if "error" in bad else ""
    return (bad.assign(error=err).groupby(["dataset", "budget", "seed", "error"])["sampler"]
            .count().rename("runs").reset_index())


def _missing_parts(results_dir, have_table1: bool) -> list[str]:
    """The parts of the reproduction with no rows or tables under ``results_dir``, one line
    each with the command that makes them: every ``conf/experiment/thm5_*``, ``abl_*`` and
    ``alg3_*`` (their own ``results_dir``: ``theory/`` and ``ablations/``), Table 1 and the
    checks."""
    from ..config import options
    from ..store import published

    root = Path(results_dir)
    have = {**published.parts(root, "theory"), **published.parts(root, "ablations")}
    names = [e for e in options("experiment") if e.startswith(("thm5_", "abl_", "alg3_"))]
    lacking = [e for e in names if e not in have]
    out = []
    if lacking:
        out.append("- " + ", ".join(f"`{e}`" for e in lacking) + ": `coreset-bench run -m "
                   "experiment=NAME` for each" + (" (thm5_cifar10 on a GPU: "
                                                  "scripts/gpu_cifar10.py)" if "thm5_cifar10" in lacking else ""))
    if not have_table1:
        out.append("- Table 1's benchmark: `coreset-bench bench table1`")
    if not any((root / "investigations").glob("*.csv")):
        out.append("- the checks: `python scripts/investigate_fashion.py 16 2000 results`")
    if out:
        out.append("- then `python scripts/publish_reproduction.py results` (or `make reproduce`, "
                   "which runs every part, publishes the rows and writes the report)")
    return out


def build(results_dir: str | Path = "results", *, experiment: str | None = None,
          out: str | Path | None = None, baseline: str | None = None) -> Path:
    """Write the report; return the path of its ``index.md``. The paper's reproduction report
    when every row is of the paper's datasets and no ``baseline`` is given; otherwise the
    comparison report against ``baseline`` (default uniform): ``compare.build``."""
    rows = store.load(results_dir)
    damaged = int(rows.attrs.get("damaged", 0))
    if rows.empty:
        raise ReportError(f"no result rows under {Path(results_dir) / store.ROWS}; run "
                          f"`coreset-bench run ...` first")
    rows = _filter_experiment(rows, experiment)
    if rows.empty:
        raise ReportError(f"no rows of experiment={experiment} under {results_dir}")
    every = rows   # studies (Theorem 5) have their own section, not accuracies
    if "study.name" in rows:
        rows = rows[rows["study.name"].isna()].reset_index(drop=True)
    from . import compare   # any rows, against a baseline (docs/reproduction: the paper's)
    published = out is not None and Path(out).resolve().parts[-2:] == ("docs", "reproduction")
    if not rows.empty and (baseline is not None or not (compare.is_paper_rows(every) or published)):
        return compare.build(rows, results_dir=results_dir, baseline=baseline, out=out,
                             experiment=experiment, damaged=damaged)
    out = Path(out) if out is not None else Path(results_dir) / "report"
    tdir, fdir = out / "tables", out / "figures"
    for d in (tdir, fdir):   # the report's own folders: a table or figure it no longer makes goes
        for old in d.glob("*.*") if d.is_dir() else []:
            if old.suffix in (".md", ".csv", ".tex", ".png", ".pdf"):
                old.unlink()
        d.mkdir(parents=True, exist_ok=True)
    link = lambda p: p.relative_to(out).as_posix()  # noqa: E731
    seeds = sorted(every["seed"].unique())
    head: list[str] = [
        "# Reproduction report: *Sensitivity Sampling for Coreset-Based Data Selection*\n",
        f"Generated by `coreset-bench report results_dir={results_dir} out={out}`"
        f"{f' experiment={experiment}' if experiment else ''} from {len(every)} result rows "
        f"({int((every['status'] == 'ok').sum())} ok, {int((every['status'] != 'ok').sum())} failed: "
        f"failed rows are counted, never averaged)"
        f"{f'; {damaged} damaged row file(s) skipped' if damaged else ''}, seeds {seeds[0]}..{seeds[-1]}. Every cell "
        "states its number of seeds; intervals are 95% t intervals of the mean; each claim is "
        "judged by a family of paired Wilcoxon signed-rank tests over seeds, Holm-corrected "
        f"together (family-wise alpha = {paper.ALPHA}). "
        f"{tables.code_commits(every)}\n"]
    body: list[str] = []

    def csv_table(frame: pd.DataFrame, name: str, text: str) -> list[str]:
        """``text``, a link to the table's csv, and the table (written under tables/)."""
        path = _write_table(frame, tdir / name)[1]
        return [f"{text} ([csv]({link(path)})):\n", tables.to_markdown(frame)]

    clf = rows[rows["task"] == "classification"] if "task" in rows else rows.iloc[0:0]
    if not clf.empty:
        comp = paper.comparison_k2000(rows)
        comp = comp[comp["seeds"] > 0]
        if not comp.empty:
            c_paths = _write_table(comp, tdir / "paper_k2000")
            body += ["## Figure 2b: the paper's k = 2000 accuracies beside ours\n",
                     f"Paper: mean of 100 runs. ([csv]({link(c_paths[1])}), "
                     f"[tex]({link(c_paths[2])}))\n", tables.to_markdown(comp)]
            diffs = paper.differences_k2000(rows)
            if not diffs.empty:
                body += csv_table(
                    diffs, "paper_k2000_differences",
                    "Each sampler's difference from uniform at k = 2000: the paper's (from the "
                    "means above) beside ours (mean paired difference over seeds, 95% interval). "
                    "Where the absolute accuracies disagree, this shows whether the effects still "
                    "reproduce")
        acc = tables.summary(clf, "accuracy")
        paths = _write_table(acc, tdir / "accuracy")
        rt = tables.runtime(clf, "classification")
        rt_paths = _write_table(rt, tdir / "runtime_classification", 3)
        body += ["## Classification (Figures 2a, 3 and 4)\n",
                 f"Accuracy per dataset, sampler and budget: [{link(paths[0])}]({link(paths[0])}) "
                 f"([csv]({link(paths[1])}), [tex]({link(paths[2])})); runtime per stage: "
                 f"[{link(rt_paths[0])}]({link(rt_paths[0])}).\n"]
        from . import compare

        fig2 = [s for s in ("uniform", "kcenter", "loss", "grad") if s in set(acc["sampler"])]
        for name, samplers in (("fig2", fig2), ("fig4", list(figures.LABELS))):
            present = [s for s in samplers if s in set(acc["sampler"])]
            if not present:
                continue
            png, _ = figures.save(figures.metric_vs_budget(
                acc[acc["sampler"].isin(present)], samplers=present, ylabel="accuracy",
                bands=name == "fig2"), fdir / f"{name}_accuracy")
            body.append(f"![{name}_accuracy]({link(png)})\n")
            # Holm over the methods this figure shows (its own family of tests)
            mine = compare.paired(compare.scored(clf[clf["sampler"].isin(present)]), "uniform")
            if not mine.empty:
                png, _ = figures.save(compare.paired_figure(mine, "uniform"),
                                      fdir / f"{name}_differences")
                body.append(f"![{name}_differences]({link(png)})\n")
        for sampler, cited in paper.EXTRA_BASELINES.items():
            extra, extra_summary = paper.extra_baseline(rows, sampler)
            if extra.empty:
                continue
            name = cited.split(" (")[0]
            body += [*csv_table(
                extra, f"{sampler}_vs_figure4",
                f"{cited[:-1]}; **not in the paper**, an extra row of Figure 4: "
                f"`samplers/{sampler}.py`) against each Figure 4 method on the same seeds and warm "
                f"starts: mean paired accuracy difference ({name} - method) and win / tie / LOSS "
                f"(Wilcoxon, Holm over this table's tests, adjusted p < {paper.ALPHA})"),
                *extra_summary, ""]
        body += ["Figure 3: selection time per run (the warm start, final training and "
                 "evaluation excluded), loss, grad and [SS18] k-center as in the paper, the other "
                 "methods marked; one panel per dataset and device (see [Where and how "
                 "long](#where-and-how-long): parallel workers shared each machine's cores); "
                 f"per stage: [{link(rt_paths[0])}]({link(rt_paths[0])}).\n"]
        if "time_selection" in clf and clf["time_selection"].notna().any():
            png, _ = figures.save(figures.selection_time(clf), fdir / "fig3_selection_time")
            body.append(f"![fig3_selection_time]({link(png)})\n")

    reg = rows[rows["task"] == "regression"] if "task" in rows else rows.iloc[0:0]
    if not reg.empty:
        body.append("## Regression (Figure 1)\n")
        for dataset, part in reg.groupby("dataset"):
            train, val = (tables.summary(part, m) for m in ("r2_error_train", "r2_error_val"))
            p_train = _write_table(train, tdir / f"r2_error_train_{dataset}")
            p_val = _write_table(val, tdir / f"r2_error_val_{dataset}")
            ref = part[part["status"] == "ok"]
            reference = ({"train": float(ref["ref_r2_error_train"].iloc[0]),
                          "validation": float(ref["ref_r2_error_val"].iloc[0])} if len(ref) else {})
            png, _ = figures.save(figures.regression_panels(train, val, reference, ref),
                                  fdir / f"fig1_{dataset}")
            body += [f"### {dataset}\n",
                     f"Full-data least-squares fit (reference line): 1 - R^2 = "
                     f"{reference.get('train', float('nan')):.4f} train, "
                     f"{reference.get('validation', float('nan')):.4f} validation. The figure "
                     "plots medians with the interquartile band (a few runs explode: see the "
                     f"tables' means); 1 - R^2: [train]({link(p_train[0])}), "
                     f"[validation]({link(p_val[0])}).\n",
                     f"![fig1 {dataset}]({link(png)})\n"]
        rt = tables.runtime(reg, "regression")
        rt_paths = _write_table(rt, tdir / "runtime_regression", 3)
        body.append(f"Runtime per stage: [{link(rt_paths[0])}]({link(rt_paths[0])}).\n")

    bench_csv = Path(results_dir) / "bench" / "table1.csv"
    bench = pd.read_csv(bench_csv) if bench_csv.is_file() else None
    if bench is not None and not bench.empty:
        b_paths = _write_table(bench, tdir / "table1_benchmark", 3)
        png, _ = figures.save(figures.table1_ratio(bench), fdir / "table1_ratio")
        body += ["## Table 1: leverage scores vs k-medoids runtime\n",
                 f"From `{bench_csv.as_posix()}` (`coreset-bench bench table1`): "
                 f"[{link(b_paths[0])}]({link(b_paths[0])})\n",
                 tables.to_markdown(bench, 3), f"![table1]({link(png)})\n"]

    claims = [  # (the claim in a few words, its verdict)
        ("loss and grad perform best at small budgets (section 5.2, Figure 2)",
         paper.claim_sensitivity_beats_uniform_at_small_budgets(rows)),
        ("Algorithm 1 outperforms the other methods (abstract, Figure 4)",
         paper.claim_alg1_beats_other_methods(rows)),
        ("[SS18] k-center is worse than uniform on Fashion-MNIST (Figure 2b)",
         paper.claim_kcenter_worse_on_fashion(rows)),
        ("loss-based sampling is the fastest of loss, grad and [SS18] (section 5.2, Figure 3)",
         paper.claim_loss_fastest(rows)),
        ("margin, least confidence and entropy are not runtime efficient (Figure 4's methods)",
         paper.claim_uncertainty_not_runtime_efficient(rows)),
        ("k-medoids is almost as good as leverage and better than uniform (section 5.1, Figure 1)",
         paper.claim_kmedoids_close_to_leverage(rows)),
        ("k-medoids (k = 0.2 n) is faster than leverage scores (Table 1, section 5.1)",
         paper.claim_kmedoids_faster(bench, rows)),
    ]
    verdicts = [v for _, v in claims]
    glance = pd.DataFrame({"claim of the paper": [c for c, _ in claims],
                           "verdict": [v.verdict for v in verdicts]})
    head += ["## Verdicts at a glance\n", tables.to_markdown(glance),
             "Each verdict's paired tests are under [Claims in detail](#claims-in-detail).\n"]
    body.append("## Claims in detail\n")
    for i, v in enumerate(verdicts):
        body.append(f"- **{v.verdict}** — {v.claim}")
        body += [f"  - {e}" for e in v.evidence]
        if v.table is not None and not v.table.empty:
            _write_table(v.table, tdir / f"claim_{i + 1}")
            body += ["", tables.to_markdown(v.table)]
        body.append("")

    thm5 = theory.section(results_dir, lambda frame, name: _write_table(frame, tdir / name), link,
                          fdir)
    if thm5:
        body += thm5
    inv = investigations.section(results_dir, rows,
                                 lambda frame, name: _write_table(frame, tdir / name), link)
    if inv:
        body += ["## Investigations\n", *inv]
    missing = _missing_parts(results_dir, bench is not None and not bench.empty)
    if missing:
        body += ["## Not in this report yet\n",
                 f"Parts of `make reproduce` with no rows under `{results_dir}`: their sections "
                 "are left out rather than filled from elsewhere.\n", *missing, ""]

    choices, fixed = _choices(every)
    ch_paths = _write_table(choices, tdir / "choices")
    body += ["## Choices not fixed by the paper, and forced deviations\n",
             f"Every recorded choice the paper leaves open (or the data forced), the values found "
             f"in the rows, the datasets they belong to and why ([csv]({link(ch_paths[1])})):\n",
             tables.to_markdown(choices)]
    if not fixed.empty:
        fx_paths = _write_table(fixed, tdir / "fixed_by_paper")
        body += [f"The settings the paper fixes, as found in the rows ([csv]({link(fx_paths[1])})):\n",
                 tables.to_markdown(fixed)]
    comp_paths = _write_table(_completeness(every), tdir / "completeness")
    body += ["## Completeness\n", tables.to_markdown(pd.read_csv(comp_paths[1]))]
    failed = _failed(every)
    if not failed.empty:
        f_paths = _write_table(failed, tdir / "failed_runs")
        body += ["Failed runs (recorded with their error; a re-run of the same command retries "
                 f"them) ([csv]({link(f_paths[1])})):\n", tables.to_markdown(failed)]
    prov = _provenance(every)
    p_paths = _write_table(prov, tdir / "provenance", 2)
    body += ["## Where and how long\n",
             "Per dataset: where the models ran (`device` column of the rows), summed run time "
             "(job-hours: parallel workers overlap), the span from the first run's start to the "
             f"last run's end (includes pauses between sweeps) and package versions "
             f"([csv]({link(p_paths[1])})):\n", tables.to_markdown(prov, 2)]
    path = out / "index.md"
    path.write_text("\n".join(head + body))
    readme = out.resolve().parent.parent / "README.md"
    if out.resolve().parts[-2:] == ("docs", "reproduction") and readme.is_file():
        sync_readme(readme, path)   # the published report: README's headline follows it
    return path


HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


def headline(index_md: str, base: str = "") -> str:
    """The headline findings of a generated report ``index.md``: its header line (rows, seeds)
    and its "## Verdicts at a glance" section (as a level-3 heading). ``base`` (e.g. ``docs/reproduction``) prefixes
    the section's relative links so they resolve from another folder."""
    lines = index_md.splitlines()
    header = next((line for line in lines if line.startswith("Generated by ")), None)
    if header is None or "## Verdicts at a glance" not in lines:
        raise ReportError("no report header or '## Verdicts at a glance' section in index.md")
    start = lines.index("## Verdicts at a glance")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    section = ["### Verdicts at a glance", *lines[start + 1:end]]   # one level down: an excerpt
    text = "\n".join([header, "", *section]).strip() + "\n"
    if base:
        index = f"{base.rstrip('/')}/index.md"
        text = re.sub(r"\]\(#", f"]({index}#", text)
        text = re.sub(r"\]\((?![a-z]+:|/|#|" + re.escape(base) + r")", f"]({base.rstrip('/')}/", text)
    return text


def sync_readme(readme_path: str | Path, index_path: str | Path) -> bool:
    """Rewrite README's block between the headline markers with ``headline(index.md)``;
    return whether the file changed."""
    readme_path, index_path = Path(readme_path), Path(index_path)
    text = readme_path.read_text()
    if HEADLINE_START not in text or HEADLINE_END not in text:
        raise ReportError(f"{readme_path} has no {HEADLINE_START} ... {HEADLINE_END} block")
    base = Path(os.path.relpath(index_path.resolve().parent, readme_path.resolve().parent)).as_posix()
    before, rest = text.split(HEADLINE_START, 1)
    _, after = rest.split(HEADLINE_END, 1)
    new = (f"{before}{HEADLINE_START}\n{headline(index_path.read_text(), base)}"
           f"{HEADLINE_END}{after}")
    if new != text:
        readme_path.write_text(new)
    return new != text


def cli_options(args: list[str]) -> dict[str, Any]:
    allowed = {"results_dir", "experiment", "out", "baseline"}
    opts: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in allowed:
            raise ReportError(f"unknown argument {arg!r}; valid: results_dir=DIR, "
                              "experiment=NAME, out=DIR, baseline=SAMPLER")
        opts[key] = value
    return opts

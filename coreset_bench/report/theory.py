"""The report's Theorem 5 section (rows of ``study=thm5`` under ``results_dir/theory/thm5_*``):
relative error of each estimator of the total loss against the sample size s, paired over seeds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import store
from ..store import published
from ..stats import ALPHA, MIN_PAIRS, holm, paired, smallest_p
from ..protocols.theory import ESTIMATORS
from . import tables

LABELS = {"iid": "Alg. 1 as stated (i.i.d., 1/(s p))", "wor": "Alg. 1 as run (w/o repl., Des Raj)",
          "uniform": "uniform (n/s)"}


def load(results_dir: str | Path) -> pd.DataFrame:
    """Every ok Theorem 5 row under ``results_dir/theory/thm5_*`` (or in ``results_dir``
    itself when it holds them); ``results_dir`` may be a published rows folder."""
    root = Path(results_dir)
    dirs = [root] + [p for name, p in published.parts(root, "theory").items()
                     if name.startswith("thm5_")]
    frames = [f for f in (store.load(d) for d in dirs) if not f.empty and "thm5.s" in f]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    return rows[(rows["status"] == "ok") & rows["thm5.s"].notna()].reset_index(drop=True)


def long(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per (row, s): the signed relative errors of the three estimators and the bound."""
    out = []
    for _, r in rows.iterrows():
        for i, s in enumerate(r["thm5.s"]):
            out.append({"dataset": r["dataset"], "budget": int(r["budget"]), "seed": int(r["seed"]),
                        "s": int(s), "bound": float(r["thm5.bound"][i]),
                        **{e: float(r[f"thm5.err_{e}"][i]) for e in ESTIMATORS}})
    return pd.DataFrame(out)


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, budget, s): mean |relative error| of each estimator, the bound, the mean
    signed error of each (its bias; 0 for an unbiased estimator), and the paired comparison of
    the sensitivity estimators' |error| with uniform's on the same seeds."""
    out = []
    for (dataset, budget, s), g in frame.groupby(["dataset", "budget", "s"]):
        line = {"dataset": dataset, "budget": budget, "s": s, "seeds": int(g["seed"].nunique())}
        for e in ESTIMATORS:
            line[f"abs_err_{e}"] = float(g[e].abs().mean())
        line["bound"] = float(g["bound"].mean())
        line["iid_within_bound"] = float((g["iid"].abs() <= g["bound"]).mean())
        for e in ESTIMATORS:
            line[f"bias_{e}"] = float(g[e].mean())
        for e in ("iid", "wor"):
            r = paired(g[e].abs().to_numpy(), g["uniform"].abs().to_numpy())  # one row: one pair
            line.update({f"{e}_minus_uniform": r.mean_diff, f"{e}_minus_uniform_low": r.ci_low,
                         f"{e}_minus_uniform_high": r.ci_high, f"p_{e}_vs_uniform": r.p_value,
                         f"{e}_beats_uniform": float((g[e].abs() < g["uniform"].abs()).mean())})
        out.append(line)
    return pd.DataFrame(out)


def terms(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, budget): the bound's terms and how far the data are from the Hoelder
    assumption, medians over seeds."""
    out = []
    for (dataset, budget), g in rows.groupby(["dataset", "budget"]):
        total, lam, phi = g["thm5.total_loss"], g["thm5.lambda"], g["thm5.phi"]
        out.append({"dataset": dataset, "budget": budget, "seeds": int(g["seed"].nunique()),
                    "queries_k2": int(g["thm5.n_queries"].iloc[0]),
                    "candidates": int(g["thm5.n_candidates"].median()),
                    "sum_loss": float(total.median()), "lambda_auto": float(lam.median()),
                    "phi": float(phi.median()),
                    "two_lambda_phi_over_sum_loss": float((2 * lam * phi / total).median()),
                    "lambda_holder": float(g["thm5.lambda_holder"].median()),
                    "holder_violations_at_auto": float(g["thm5.holder_violations"].median())})
    return pd.DataFrame(out)


def summary(tab: pd.DataFrame, alpha: float = ALPHA) -> list[str]:
    """Computed from ``table``: per (dataset, budget), the sample sizes at which each
    sensitivity estimator is more / less accurate than uniform (paired Wilcoxon p < alpha) and
    how often Algorithm 1's i.i.d. error stayed within the bound."""
    out = [f"Computed from the table (paired Wilcoxon on |error|, Holm over the two estimators x "
           f"every s of each dataset and k, alpha {alpha}):", ""]
    for (dataset, budget), g in tab.groupby(["dataset", "budget"]):
        parts = []
        adjusted = holm(pd.concat([g["p_wor_vs_uniform"], g["p_iid_vs_uniform"]]).to_numpy(float))
        p_holm = {"wor": adjusted[:len(g)], "iid": adjusted[len(g):]}
        for e, name in (("wor", "as run"), ("iid", "as stated")):
            sig = g[p_holm[e] < alpha]
            better = sig.loc[sig[f"{e}_minus_uniform"] < 0, "s"].tolist()
            worse = sig.loc[sig[f"{e}_minus_uniform"] > 0, "s"].tolist()
            bits = ([f"more accurate than uniform at s = {', '.join(map(str, better))}"] if better else []) + \
                   ([f"less accurate at s = {', '.join(map(str, worse))}"] if worse else [])
            parts.append(f"{name} " + (", ".join(bits) if bits else "no different from uniform at any s"))
        within = g["iid_within_bound"]
        parts.append(f"the i.i.d. error within the bound in {within.min():.0%}-{within.max():.0%} "
                     "of seeds per s")
        lo, hi = int(g["seeds"].min()), int(g["seeds"].max())
        few = (f" (no p value below {MIN_PAIRS} paired seeds; the two-sided signed-rank test "
               f"cannot reach p < {alpha} on {hi} seeds: its smallest p is {smallest_p(hi):.3g})"
               if smallest_p(hi) >= alpha else "")
        out.append(f"- {dataset}, k = {budget} ({lo if lo == hi else f'{lo}-{hi}'} seeds): "
                   + "; ".join(parts) + few)
    return out + [""]


def figure(frame: pd.DataFrame):
    """A grid: one row per dataset, one column per budget; |relative error| against s
    (log-log), median over seeds with the 10-90% band per estimator, and Theorem 5's bound (mean
    over seeds, dashed). Colours are the samplers' of every figure: both Algorithm 1 variants
    in loss's (solid: as stated, dotted: as run), uniform in uniform's."""
    import matplotlib.pyplot as plt

    from .figures import COLORS, TITLES

    datasets = list(dict.fromkeys(frame["dataset"]))
    budgets = sorted(frame["budget"].unique())
    fig, axes = plt.subplots(len(datasets), len(budgets), figsize=(4.4 * len(budgets), 3.3 * len(datasets)),
                             squeeze=False, sharex=True)
    style = {"iid": (COLORS["loss"], "-"), "wor": (COLORS["loss"], ":"),
             "uniform": (COLORS["uniform"], "-")}
    for r, dataset in enumerate(datasets):
        for c, budget in enumerate(budgets):
            ax = axes[r][c]
            g = frame[(frame["dataset"] == dataset) & (frame["budget"] == budget)]
            if g.empty:
                ax.set_visible(False)
                continue
            for e in ESTIMATORS:
                color, line = style[e]
                q = g.assign(a=g[e].abs()).groupby("s")["a"].quantile([0.1, 0.5, 0.9]).unstack()
                ax.plot(q.index, q[0.5], marker="o", markersize=3, color=color, linestyle=line,
                        label=LABELS[e])
                ax.fill_between(q.index, q[0.1], q[0.9], color=color, alpha=0.12)
            b = g.groupby("s")["bound"].mean()
            ax.plot(b.index, b.values, "k--", linewidth=1,
                    label="Theorem 5 bound (eps (1 + 2 lambda Phi / sum l))")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{TITLES.get(dataset, dataset)}, k = {budget} ({g['seed'].nunique()} seeds)",
                         fontsize=9)
            ax.grid(alpha=0.3)
            if r == len(datasets) - 1:
                ax.set_xlabel("sample size s")
            if c == 0:
                ax.set_ylabel("|sum_S w l / sum_D l - 1|", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.01))
    fig.text(0.5, 1.0, "median over seeds, band = 10th-90th percentile", ha="center",
             va="bottom", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def section(results_dir: str | Path, write_table, link, fdir: Path) -> list[str]:
    """Markdown lines of the report's Theorem 5 section (empty when no rows exist)."""
    from . import figures

    rows = load(results_dir)
    if rows.empty:
        return []
    frame = long(rows)
    tab, ter = table(frame), terms(rows)
    t_paths, r_paths = write_table(tab, "thm5_errors"), write_table(ter, "thm5_terms")
    png, _ = figures.save(figure(frame), fdir / "thm5_relative_error")
    brief = tab[["dataset", "budget", "s", "seeds", "abs_err_iid", "abs_err_wor",
                 "abs_err_uniform", "bound", "wor_minus_uniform", "p_wor_vs_uniform",
                 "wor_beats_uniform", "bias_wor"]]
    return [
        "## Theorem 5 on real embeddings (not in the paper's experiments)\n",
        "Rows of `coreset-bench run -m experiment=thm5_<dataset>` (`protocols/theory.py`): the "
        "warm-start model's true loss on every candidate (measured only), the `loss` sampler's "
        "clustering (k'' = 0.2 k queries, lambda = auto), and per sample size s the relative "
        "error of the estimate of the total loss: Algorithm 1 as stated (s i.i.d. draws, "
        "weights 1/(s p)), as the experiments run it (the k'' centers plus s draws without "
        "replacement, Des Raj's weights; it also counts the centers' known losses, so it uses k'' "
        "more labelled points than s) and uniform (weights n/s). Both sensitivity variants pay "
        "k'' label queries for the clustering on top of s. `*_minus_uniform`: mean "
        "paired difference of |error| from uniform's on the same seeds (negative: more "
        f"accurate), Wilcoxon p (from {MIN_PAIRS} seeds); `*_beats_uniform`: share of seeds "
        "where it is; `bias_*`: mean "
        f"signed error ([csv]({link(t_paths[1])})).\n",
        tables.to_markdown(brief), *summary(tab), f"![thm5]({link(png)})\n",
        "The bound's terms (medians over seeds): the total loss, lambda, the clustering cost "
        "Phi, 2 lambda Phi / sum l (how much the additive term inflates the bound), the "
        "smallest lambda for which |l(e) - l(A(e))| <= lambda ||e - A(e)||^2 holds at every "
        "candidate (the Hoelder inequalities the proof uses), and the share of candidates that "
        f"violate them at lambda = auto ([csv]({link(r_paths[1])})):\n",
        tables.to_markdown(ter)]

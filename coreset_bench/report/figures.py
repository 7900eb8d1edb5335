"""Paper-style figures (matplotlib, PNG and PDF). Each function returns the Figure so tests
can check its axes, labels and legend entries; ``save`` writes both formats."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .paper_values import PAPER_TABLE1_RATIOS  # noqa: E402

LABELS = {"uniform": "uniform", "kcenter": "[SS18] k-center", "loss": "loss (Alg. 1)",
          "grad": "grad (Alg. 1)", "margin": "margin", "least_confidence": "least confidence",
          "entropy": "entropy", "leverage": "leverage", "kmedoids": "k-medoids",
          "kmedoids_alg2": "k-medoids, Alg. 2 (finite zeta)"}
# One colour per sampler in every figure (matplotlib's tab10, in the paper's order).
COLORS = {name: f"C{i}" for i, name in enumerate(LABELS)}
# Baselines beyond the paper: after the paper's samplers in every figure, marked in the legend.
LABELS["badge"] = "BADGE (not in the paper)"
COLORS["badge"] = "k"
LABELS["alg3"] = "Alg. 3, r rounds (not in the paper's experiments)"
COLORS["alg3"] = "0.5"
for _name, _label, _color in (("typiclust", "TypiClust", "m"), ("probcover", "ProbCover", "y"),
                              ("cluster_margin", "Cluster-Margin", "c")):
    LABELS[_name], COLORS[_name] = f"{_label} (not in the paper)", _color
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
          "digits": "digits (8x8)", "gas_sensor_drift": "gas sensor drift",
          "synthetic_regression": "synthetic regression"}


def dataset_rank(dataset: str) -> tuple:
    """Sort key: the paper's dataset order (``TITLES``), unknown datasets after, by name."""
    order = list(TITLES)
    return (order.index(dataset) if dataset in order else len(order), dataset)


def save(fig, path_stem: Path) -> list[Path]:
    paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return paths


def _budget_axis(ax, budgets) -> None:
    """Log x axis labelled with the budgets actually run (no colliding minor labels)."""
    ax.set_xscale("log")
    ax.set_xticks(list(budgets))
    ax.set_xticklabels([str(int(b)) for b in budgets], fontsize=8)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _ordered(samplers) -> list[str]:
    """Samplers in the paper's order (uniform first), unknown ones last."""
    known = list(LABELS)
    return sorted(samplers, key=lambda s: (known.index(s) if s in known else len(known), s))


def _seed_note(summary: pd.DataFrame) -> str:
    lo, hi = summary["seeds"].min(), summary["seeds"].max()
    return f"{lo} seeds per point" if lo == hi else f"{lo}-{hi} seeds per point"


# Below this many seeds (and fewer than the panel's best-covered line) a line is drawn dotted
# with hollow markers and its seed count written beside it.
FEW_SEEDS = 20


def metric_vs_budget(summary: pd.DataFrame, *, samplers: list[str], ylabel: str,
                     xlabel: str = "budget k (labelled points)", title: str = "",
                     bands: bool = True):
    """One panel per dataset: mean over seeds with a one-std band (``bands``), per sampler
    (Figure 2a / 4 / 1 style). ``summary`` is ``tables.summary`` output."""
    datasets = sorted(dict.fromkeys(summary["dataset"]), key=dataset_rank)
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        part = summary[summary["dataset"] == dataset]
        for sampler in samplers:
            s = part[part["sampler"] == sampler].sort_values("budget")
            if s.empty:
                continue
            color = COLORS.get(sampler)
            few = s["seeds"].min() < min(FEW_SEEDS, part["seeds"].max())
            ax.plot(s["budget"], s["mean"], marker="o", markersize=3 if few else 4, color=color,
                    linestyle=":" if few else "-", linewidth=0.9 if few else 1.5,
                    markerfacecolor="white" if few else color, label=LABELS.get(sampler, sampler))
            if few:   # a line of a handful of seeds must not read like the 100-seed ones
                lo, hi = int(s["seeds"].min()), int(s["seeds"].max())
                last = s.iloc[-1]
                ax.annotate(f"{lo if lo == hi else f'{lo}-{hi}'} seeds", (last["budget"], last["mean"]),
                            xytext=(3, 0), textcoords="offset points", fontsize=6, color=color,
                            va="center")
            if bands:
                std = s["std"].fillna(0.0)
                ax.fill_between(s["budget"], s["mean"] - std, s["mean"] + std, alpha=0.12, color=color)
        _budget_axis(ax, sorted(part["budget"].unique()))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{TITLES.get(dataset, dataset)} ({_seed_note(part)})")
        ax.grid(alpha=0.3)
    seen: dict[str, object] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    labels = [LABELS.get(s, s) for s in samplers if LABELS.get(s, s) in seen]
    handles = [seen[label] for label in labels]
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=8,
               bbox_to_anchor=(0.5, -0.02), frameon=False)
    fig.text(0.5, 1.0, "mean over seeds, band = one standard deviation (as in the paper)" if bands
             else "mean over seeds (the paired differences from uniform, with intervals, are in "
                  "the next figure)", ha="center", va="bottom", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    if title:
        fig.suptitle(title)
    return fig


def regression_panels(train: pd.DataFrame, val: pd.DataFrame, reference: dict[str, float],
                      rows: pd.DataFrame | None = None):
    """Figure 1 style: 1 - R^2 vs sample size, train and validation panels, with the full-data
    fit as a reference line. With ``rows`` (the ok result rows): the median over seeds with the
    interquartile band, since a few runs explode and a mean +- std band then covers decades;
    without: the mean with a one-std band."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, summary, split in ((axes[0], train, "train"), (axes[1], val, "validation")):
        metric = "r2_error_train" if split == "train" else "r2_error_val"
        for sampler in ("uniform", "leverage", "kmedoids", "kmedoids_alg2"):
            s = summary[summary["sampler"] == sampler].sort_values("budget")
            if s.empty:
                continue
            color = COLORS[sampler]
            if rows is not None:
                q = (rows[rows["sampler"] == sampler].groupby("budget")[metric]
                     .quantile([0.25, 0.5, 0.75]).unstack())
                ax.plot(q.index, q[0.5], marker="o", markersize=4, color=color, label=LABELS[sampler])
                ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.12, color=color)
                continue
            ax.plot(s["budget"], s["mean"], marker="o", color=color, label=LABELS[sampler])
            std = s["std"].fillna(0.0)
            ax.fill_between(s["budget"], (s["mean"] - std).clip(lower=1e-4), s["mean"] + std,
                            alpha=0.2, color=color)
        ref = reference.get(split)
        if ref is not None:
            ax.axhline(ref, color="black", linestyle="--", linewidth=1, label="full-data fit")
        _budget_axis(ax, sorted(summary["budget"].unique()))
        ax.set_yscale("log")
        ax.set_xlabel("sample size s")
        ax.set_ylabel(f"1 - R^2 ({split}), " + ("median; band: 25th-75th percentile" if rows is not None
                                                 else "mean; band: +-1 std"), fontsize=8)
        ax.set_title(f"{split} ({_seed_note(summary)})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# Figure 3's methods (the paper compares the selection time of these three); the others are
# drawn thin and dashed, marked in the legend.
FIGURE3 = ("loss", "grad", "kcenter")


def selection_time(rows: pd.DataFrame):
    """Figure 3 style: selection time (warm start, final training and evaluation excluded) per
    budget, mean over seeds with its 95% t interval, one panel per (dataset, device) so that
    no axis mixes devices; loss, grad and [SS18] bold, the other methods thin and dashed."""
    from ..stats import ci95

    ok = rows[(rows["status"] == "ok") & rows["time_selection"].notna()].copy()
    ok["device"] = ok["device"].fillna("cpu") if "device" in ok else "cpu"
    ok = ok[ok["sampler"] != "uniform"]   # nothing to time
    keys = sorted(ok.groupby(["dataset", "device"]).groups, key=lambda k: (dataset_rank(k[0]), k))
    ncols = min(3, len(keys))
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.8 * nrows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    samplers = _ordered(set(ok["sampler"]))
    for ax, (dataset, device) in zip(flat, keys):
        part = ok[(ok["dataset"] == dataset) & (ok["device"] == device)]
        for sampler in samplers:
            g = part[part["sampler"] == sampler].groupby("budget")["time_selection"]
            if not len(g):
                continue
            mean = g.mean()
            ci = g.apply(lambda v: pd.Series(ci95(v), index=["low", "high"])).unstack()
            main = sampler in FIGURE3
            label = LABELS.get(sampler, sampler) + ("" if main else " [not in Figure 3]")
            ax.errorbar(mean.index, mean.values,
                        yerr=[(mean - ci["low"]).fillna(0).clip(lower=0).values,
                              (ci["high"] - mean).fillna(0).clip(lower=0).values],
                        color=COLORS.get(sampler), marker="o" if main else ".",
                        markersize=4 if main else 3, linewidth=2 if main else 0.8,
                        linestyle="-" if main else "--", capsize=2, label=label)
        _budget_axis(ax, sorted(part["budget"].unique()))
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="both", labelsize=7)
        ax.set_xlabel("budget k (labelled points)")
        ax.set_ylabel("selection time per run, s")
        seeds = part.groupby(["sampler", "budget"])["seed"].nunique()
        lo, hi = int(seeds.min()), int(seeds.max())
        ax.set_title(f"{TITLES.get(dataset, dataset)} on {device} "
                     f"({lo if lo == hi else f'{lo}-{hi}'} seeds)", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in flat[len(keys):]:
        ax.set_visible(False)
    seen: dict[str, object] = {}
    for ax in flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=min(len(seen), 4),
               fontsize=8, bbox_to_anchor=(0.5, -0.02), frameon=False)
    fig.text(0.5, 1.0, "Figure 3: selection time, mean over seeds with its 95% t interval; "
             "one device per panel (parallel workers shared the machine)", ha="center",
             va="bottom", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.06 + 0.02 * -(-len(seen) // 4), 1, 1))
    return fig


def table1_ratio(bench: pd.DataFrame):
    """Table 1 benchmark: leverage / k-medoids runtime ratio vs n, ours beside the paper's."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(bench["n"], bench["ratio"], marker="o", label=f"measured here ({int(bench['cores'].iloc[0])} cores)")
    ax.plot(list(PAPER_TABLE1_RATIOS), list(PAPER_TABLE1_RATIOS.values()), marker="s",
            linestyle="--", label="paper (24-CPU VM)")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("n (X is n x n)")
    ax.set_ylabel("leverage time / k-medoids time")
    ax.set_title("Table 1: k-medoids speed-up over leverage scores")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

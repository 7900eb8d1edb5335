"""The paper's numbers and claims, and how our rows bear on them.

Claims are judged with paired Wilcoxon signed-rank tests over seeds: samplers of one
(dataset, budget, seed) share the warm start (and the regression samplers the data split), so
the pairs are real. Each claim is one family of tests, Holm-corrected together (``judge``); a
test is "as claimed" when its adjusted p < ALPHA and both its ranks and its mean difference
have the claimed sign ("MIXED" when those two disagree). A
claim "holds" when every test of its family is; "holds in part" says which held, method by
method (loss and grad are judged each on its own, never the better of the two); "does not
hold" when none did (for a claim of two halves, when they hold together at no size); "not
enough seeds to tell" when no test was significant and some could not have been; "not enough
data" without a test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# the paired test and its rules live in coreset_bench.stats (paper.ALPHA, paper.MIN_PAIRS and
# paper.Paired are those names, kept for the report's modules)
from ..stats import (ALPHA, MIN_PAIRS, Paired, by_seed, ci95, holm,  # noqa: F401
                     paired_by_seed, smallest_p)
from .paper_values import PAPER_K2000

# "close to leverage": k-medoids' 1 - R^2 below this factor times leverage's, paired by seed (a
# non-inferiority margin of ours; the paper says "almost as good" without a number).
CLOSE_FACTOR = 1.25


def paired(rows: pd.DataFrame, metric: str, a: str, b: str, *, dataset: str,
           budget) -> Paired | None:
    """``stats.paired_by_seed`` of sampler ``a`` against ``b`` on the ok rows of one (dataset,
    budget); None when there are too few pairs for a p value (``stats.MIN_PAIRS``)."""
    rows = rows[list(dict.fromkeys(("status", "dataset", "budget", "sampler", "seed", metric)))]
    ok = rows[(rows["status"] == "ok") & (rows["dataset"] == dataset) & (rows["budget"] == budget)]
    r = paired_by_seed(ok[ok["sampler"] == a], ok[ok["sampler"] == b], metric)
    return r if r.tested else None


@dataclass
class Verdict:
    claim: str
    verdict: str  # holds | does not hold | holds in part: ... | not enough data
    evidence: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None  # the paired tests behind it, one line per test


def _describe(label: str, r: Paired, metric: str) -> str:
    return (f"{label}: {metric} {r.mean_a:.4f} vs {r.mean_b:.4f}, mean paired difference "
            f"{r.mean_diff:+.4f}, Wilcoxon p = {r.p_value:.3g}, rank-biserial {r.rank_biserial:+.2f}, "
            f"n = {r.n} seeds")


def cells(rows: pd.DataFrame) -> dict:
    """The rows of each (dataset, budget), split in one pass. ``paired`` and ``_test`` filter
    what they are given to one (dataset, budget) anyway; given that cell's rows instead of all
    of them, they return the same, without a pass over every row per test (most of a report's
    time on the published rows)."""
    if rows.empty or "budget" not in rows:
        return {}
    return dict(iter(rows.groupby(["dataset", "budget"], sort=False)))


def _cell(split: dict, rows: pd.DataFrame, dataset: str, budget) -> pd.DataFrame:
    return split.get((dataset, budget), rows.iloc[0:0])


def _budgets(rows: pd.DataFrame, dataset: str) -> list:
    return sorted(rows.loc[rows["dataset"] == dataset, "budget"].unique())


DATASETS = ("mnist", "fashion_mnist", "cifar10")
FIGURE4_OTHERS = ("uniform", "kcenter", "margin", "least_confidence", "entropy")
UNCERTAINTY = ("margin", "least_confidence", "entropy")
ALG1 = ("loss", "grad")
# "relatively small" numbers of samples (section 5.2): our reading, the two smallest budgets
SMALL_BUDGETS = 2
# Methods not in the paper, run as extra rows of Figure 4 and kept out of its claims:
# sampler -> (how the report names and cites it).
EXTRA_BASELINES = {
    "badge": "BADGE (Ash et al., ICLR 2020)",
    "typiclust": "TypiClust (Hacohen, Dekel & Weinshall, ICML 2022)",
    "probcover": "ProbCover (Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022)",
    "cluster_margin": "Cluster-Margin (Citovsky et al., NeurIPS 2021)",
}
AS_CLAIMED, OPPOSITE, MIXED, NOT_SIGNIFICANT = "as claimed", "OPPOSITE", "MIXED", "not significant"


@dataclass
class Test:
    """One paired test of a claim: ``a`` - ``margin`` x ``b`` of ``metric`` in one cell, with
    the direction the claim asserts (``better`` = "higher" or "lower"); ``median`` is the median
    paired difference."""
    fields: dict
    r: Paired
    better: str
    median: float = math.nan
    mean_b: float = math.nan   # b's own mean (r.mean_b is margin x b's)


def _test(rows: pd.DataFrame, metric: str, a: str, b: str, dataset: str, budget, better: str,
          margin: float = 1.0, **fields) -> Test | None:
    """The paired test a - margin * b on one (dataset, budget); None without a p value.
    ``margin`` != 1 makes it a non-inferiority test (a within margin x b)."""
    if metric not in rows:
        return None
    rows = rows[list(dict.fromkeys(("status", "dataset", "budget", "sampler", "seed", metric)))]
    ok = rows[(rows["status"] == "ok") & (rows["dataset"] == dataset) & (rows["budget"] == budget)]
    mine, other = ok[ok["sampler"] == a], ok[ok["sampler"] == b]
    mean_b = float(other[other["seed"].isin(mine["seed"])][metric].mean()) if len(other) else math.nan
    if margin != 1.0:
        other = other.assign(**{metric: other[metric] * margin})
    r = paired_by_seed(mine, other, metric)
    if not r.tested:
        return None
    both = by_seed(mine, metric) - by_seed(other, metric)
    extra = {"margin": margin} if margin != 1.0 else {}
    return Test({"dataset": dataset, "budget": int(budget), "method": a, "against": b, **fields,
                 **extra}, r, better, float(both.dropna().median()), mean_b)


def _reachable(tests: list[Test], alpha: float) -> list[bool]:
    """Whether each test could be significant after Holm at best: ordered by seeds (most
    first, as their smallest p are), a test at step j of m is compared with alpha / (m - j)."""
    m = len(tests)
    ns = sorted((t.r.n for t in tests), reverse=True)
    return [smallest_p(t.r.n) * (m - ns.index(t.r.n)) < alpha for t in tests]


def judge(tests: list[Test], alpha: float = ALPHA) -> pd.DataFrame:
    """The claim's family of tests, Holm-corrected together: one line per test with the mean
    and median paired difference, the mean's 95% interval, the rank-biserial effect, the raw
    and Holm-adjusted p, and the outcome: "as claimed" (adjusted p < alpha, and both the
    ranks, which the Wilcoxon test weighs, and the mean point the claimed way), "OPPOSITE"
    (both the other way), "MIXED" (significant, but the ranks and the mean disagree: a few
    large differences against many small ones) or "not significant". ``reachable``: whether
    the test could be significant after the correction at all, given its seeds."""
    if not tests:
        return pd.DataFrame()
    adjusted = holm([t.r.p_value for t in tests])
    out = []
    for t, p_adj, reach in zip(tests, adjusted, _reachable(tests, alpha)):
        sign = 1.0 if t.better == "higher" else -1.0
        ranks, mean = sign * t.r.rank_biserial, sign * t.r.mean_diff
        outcome = (NOT_SIGNIFICANT if not p_adj < alpha else AS_CLAIMED if ranks > 0 and mean >= 0
                   else OPPOSITE if ranks < 0 and mean <= 0 else MIXED)
        b_mean = t.mean_b if t.fields.get("margin") else t.r.mean_b
        out.append({**t.fields, "mean_a": t.r.mean_a, "mean_b": b_mean,
                    "diff": t.r.mean_diff, "ci95_low": t.r.ci_low, "ci95_high": t.r.ci_high,
                    "median_diff": t.median, "rank_biserial": t.r.rank_biserial,
                    "seeds": t.r.n, "p": t.r.p_value, "p_holm": float(p_adj),
                    "outcome": outcome, "reachable": reach})
    return pd.DataFrame(out)


def _too_few(table: pd.DataFrame) -> str | None:
    """The verdict when no test was significant either way and some could not have been."""
    if (table["outcome"] != NOT_SIGNIFICANT).any() or table["reachable"].all():
        return None
    n = int((~table["reachable"]).sum())
    return (f"not enough seeds to tell ({n} of {len(table)} tests cannot reach significance "
            "after the correction)")


def family_line(table: pd.DataFrame, alpha: float = ALPHA) -> str:
    """How the family was tested: its size, seeds, the correction and the smallest p such a
    family can reach."""
    m = len(table)
    n_lo, n_hi = int(table["seeds"].min()), int(table["seeds"].max())
    seeds = f"{n_lo}" if n_lo == n_hi else f"{n_lo}-{n_hi}"
    if m == 1:
        return (f"one paired Wilcoxon signed-rank test over {seeds} seeds (alpha = {alpha}; no "
                f"correction needed); with {n_lo} seeds the smallest p it can give is "
                f"{smallest_p(n_lo):.2g}")
    unreachable = int((~table["reachable"]).sum())
    reach = ("every test can reach significance" if not unreachable else
             f"{unreachable} test(s) cannot reach significance after the correction, whatever "
             "their data")
    return (f"{m} paired Wilcoxon signed-rank tests over {seeds} seeds, Holm-corrected together "
            f"(family-wise alpha = {alpha}); the smallest p a test of {n_lo} seeds can give is "
            f"{smallest_p(n_lo):.2g} (x {m} at Holm's first step: {m * smallest_p(n_lo):.2g}): "
            f"{reach}")


def _counts(part: pd.DataFrame) -> str:
    n = {o: int((part["outcome"] == o).sum()) for o in (AS_CLAIMED, OPPOSITE, MIXED, NOT_SIGNIFICANT)}
    return (f"{n[AS_CLAIMED]} of {len(part)} as claimed"
            + (f", {n[NOT_SIGNIFICANT]} not significant" if n[NOT_SIGNIFICANT] else "")
            + (f", {n[OPPOSITE]} opposite" if n[OPPOSITE] else "")
            + (f", {n[MIXED]} mixed" if n[MIXED] else ""))


def _cells(part: pd.DataFrame, outcome: str) -> str:
    """The cells of ``part`` with ``outcome``, grouped: 'margin on mnist at k = 2000, 3000; ...'."""
    bad = part[part["outcome"] == outcome]
    out = []
    for (against, dataset), g in bad.groupby(["against", "dataset"], sort=False):
        out.append(f"{against} on {dataset} at k = {', '.join(str(b) for b in g['budget'])}")
    return "; ".join(out)


def _per_method(table: pd.DataFrame, methods, by_dataset: bool = True) -> tuple[str, list[str]]:
    """One verdict for several methods judged each on its own: 'holds' when every test of every
    method is as claimed; else per method how many held (and on which datasets every test did,
    when by_dataset). Also the evidence lines naming the cells that went the other way (or
    were mixed)."""
    notes = []
    for method in methods:
        part = table[table["method"] == method]
        for outcome, what in ((OPPOSITE, "significantly the other way"),
                              (MIXED, "significant with ranks and mean disagreeing")):
            if (part["outcome"] == outcome).any():
                notes.append(f"{method}: {what} against {_cells(part, outcome)}")
    if (table["outcome"] == AS_CLAIMED).all():
        return "holds", notes
    if _too_few(table):
        return _too_few(table), notes
    if not (table["outcome"] == AS_CLAIMED).any():
        lost = int((table["outcome"] == OPPOSITE).sum())
        return ("does not hold" + (f" ({lost} of {len(table)} tests significant the other way)"
                                   if lost else " (no test significant)")), notes
    parts = []
    for method in methods:
        part = table[table["method"] == method]
        if part.empty:
            continue
        held = [d for d, g in part.groupby("dataset", sort=False) if (g["outcome"] == AS_CLAIMED).all()]
        parts.append(f"{method} {_counts(part)}"
                     + (f" (every test on {', '.join(held)})" if by_dataset and held else ""))
    return "holds in part: " + "; ".join(parts), notes


def _not_enough(claim: str, what: str = "") -> Verdict:
    return Verdict(claim, "not enough data", [f"needs >= {MIN_PAIRS} paired seeds{what}"])


def claim_sensitivity_beats_uniform_at_small_budgets(rows: pd.DataFrame) -> Verdict:
    """Section 5.2: "the loss- and gradient-based sampling algorithms from algorithm 1 perform
    best when the number of samples is relatively small", among Figure 2's methods."""
    claim = ("loss- and gradient-based sampling (Algorithm 1) perform best when the number of "
             "samples is relatively small (section 5.2, Figure 2): each judged on its own against "
             f"Figure 2's other methods (uniform, [SS18] k-center) at each dataset's "
             f"{SMALL_BUDGETS} smallest budgets, higher accuracy")
    tests, split = [], cells(rows)
    for dataset in DATASETS:
        for budget in _budgets(rows, dataset)[:SMALL_BUDGETS]:
            cell = _cell(split, rows, dataset, budget)
            for method in ALG1:
                for other in ("uniform", "kcenter"):
                    tests.append(_test(cell, "accuracy", method, other, dataset, budget, "higher"))
    table = judge([t for t in tests if t is not None])
    if table.empty:
        return _not_enough(claim)
    verdict, opposite = _per_method(table, ALG1)
    return Verdict(claim, verdict, [family_line(table), *opposite], table)


def claim_alg1_beats_other_methods(rows: pd.DataFrame) -> Verdict:
    """The abstract's "outperforms state-of-the-art methods", on Figure 4's methods: loss and
    grad each against each other method, at every budget, one Holm family."""
    claim = ("Algorithm 1 outperforms the other data-selection methods (abstract; Figure 4: "
             "uniform, [SS18] k-center, margin, least confidence, entropy): loss and grad each "
             "judged on its own against each method at every dataset and budget, higher accuracy")
    tests, split = [], cells(rows)
    for dataset in DATASETS:
        for budget in _budgets(rows, dataset):
            cell = _cell(split, rows, dataset, budget)
            for method in ALG1:
                for other in FIGURE4_OTHERS:
                    tests.append(_test(cell, "accuracy", method, other, dataset, budget, "higher"))
    table = judge([t for t in tests if t is not None])
    if table.empty:
        return _not_enough(claim)
    verdict, opposite = _per_method(table, ALG1, by_dataset=False)
    return Verdict(claim, verdict, [family_line(table), *opposite], table)


def claim_kcenter_worse_on_fashion(rows: pd.DataFrame) -> Verdict:
    claim = ("[SS18] k-center is worse than uniform on Fashion-MNIST (Figure 2b: "
             f"{PAPER_K2000['kcenter']['fashion_mnist']:.4f} vs "
             f"{PAPER_K2000['uniform']['fashion_mnist']:.4f} at k = 2000); one test, lower accuracy")
    t = _test(rows, "accuracy", "kcenter", "uniform", "fashion_mnist", 2000, "lower")
    if t is None:
        return _not_enough(claim, " on fashion_mnist at k = 2000")
    table = judge([t])
    verdict = _too_few(table) or {AS_CLAIMED: "holds", OPPOSITE: "does not hold (the opposite)",
                                  MIXED: "does not hold (ranks and mean disagree)",
                                  NOT_SIGNIFICANT: "does not hold (not significant)"}[table["outcome"].iloc[0]]
    return Verdict(claim, verdict, [family_line(table),
                                    _describe("fashion_mnist k=2000 kcenter - uniform", t.r, "accuracy")],
                   table)


# Selection time without what the paper counts as precomputed ("a pre-computed metric and
# clustering that is not updated during the sampling process", appendix C): the embedding and
# Algorithm 1's k''-means.
ONLINE = "time_online"
TIME_READINGS = (("time_selection", "selection time"),
                 (ONLINE, "selection time without the embedding and the clustering (the paper's "
                          "'pre-computed metric and clustering')"))


def _with_online_time(rows: pd.DataFrame) -> pd.DataFrame:
    if "time_selection" not in rows:
        return rows
    pre = sum(rows[c].fillna(0.0) for c in ("time_cluster", "time_embed") if c in rows)
    return rows.assign(**{ONLINE: rows["time_selection"] - pre})


def _runtime_claim(rows: pd.DataFrame, claim: str, pairs, methods_of, samplers) -> Verdict:
    """A runtime claim judged in both readings of selection time, each its own Holm family:
    ``pairs`` (a, b, better) per dataset and budget; ``methods_of`` names a test's method."""
    rows = _with_online_time(rows)
    verdicts, evidence, tables = [], [], []
    split = cells(rows)
    for metric, reading in TIME_READINGS:
        tests = [_test(_cell(split, rows, dataset, budget), metric, a, b, dataset, budget, better,
                       time=metric)
                 for dataset in DATASETS for budget in _budgets(rows, dataset)
                 for a, b, better in pairs]
        table = judge([t for t in tests if t is not None])
        if table.empty:
            continue
        named = table.assign(method=[methods_of(r) for r in table.to_dict("records")])
        verdict, notes = _per_method(named, list(dict.fromkeys(named["method"])), by_dataset=False)
        verdicts.append(f"{'with' if metric == 'time_selection' else 'without'} the clustering: {verdict}")
        evidence += [f"{reading}: {family_line(table)}", *notes]
        tables.append(table)
    if not tables:
        return _not_enough(claim)
    return Verdict(claim, "; ".join(verdicts), evidence + _devices(rows, samplers),
                   pd.concat(tables, ignore_index=True))


def claim_loss_fastest(rows: pd.DataFrame) -> Verdict:
    """Section 5.2: "based on the runtime comparison in figures 2 and 3, the loss-based
    algorithm performs best in terms of runtime"; Figure 3 compares loss, grad and [SS18]."""
    claim = ("the loss-based algorithm performs best in terms of runtime (section 5.2, Figure 3: "
             "among loss, grad and [SS18] k-center): loss's selection time (warm start and final "
             "training excluded, as in Figure 3) against grad's and k-center's at every dataset "
             "and budget, lower time; judged with the embedding and clustering counted, and "
             "without them (the paper calls them pre-computed)")
    return _runtime_claim(rows, claim, [("loss", "grad", "lower"), ("loss", "kcenter", "lower")],
                          lambda r: f"against {r['against']}", ("loss", "grad", "kcenter"))


def claim_uncertainty_not_runtime_efficient(rows: pd.DataFrame) -> Verdict:
    """Appendix (Figure 4's methods): margin, least confidence and entropy "require an
    inference call for each data point ... and so are not considered runtime efficient"."""
    claim = ("margin, least confidence and entropy sampling are not runtime efficient (Figure 4's "
             "list of methods: an inference per data point): judged as slower than Algorithm 1 "
             "(loss) in selection time at every dataset and budget, with the embedding and "
             "clustering counted and without them")
    verdict = _runtime_claim(rows, claim, [(m, "loss", "higher") for m in UNCERTAINTY],
                             lambda r: r["method"], (*UNCERTAINTY, "loss"))
    ok = rows[rows["status"] == "ok"]
    if "n_inferences" in ok and verdict.table is not None:
        inf = ok[ok["sampler"].isin((*UNCERTAINTY, "loss"))].groupby("sampler")["n_inferences"].mean()
        verdict.evidence.insert(0, "the premise holds: mean inferences per run "
                                + ", ".join(f"{s} {inf[s]:,.0f}" for s in (*UNCERTAINTY, "loss") if s in inf))
    return verdict


def _devices(rows: pd.DataFrame, samplers) -> list[str]:
    """Where the timed rows ran (times are only compared within a device)."""
    if "device" not in rows:
        return []
    ok = rows[(rows["status"] == "ok") & rows["sampler"].isin(samplers)]
    out = []
    for dataset in DATASETS:
        devices = sorted(set(ok.loc[ok["dataset"] == dataset, "device"].fillna("cpu")))
        if devices:
            out.append(f"{dataset}: timed on {', '.join(devices)} (each test pairs runs of one job)")
    return out


def median_of(rows: pd.DataFrame, metric: str, sampler: str, budget, *,
              dataset: str | None = None, seeds=None) -> float:
    """Median of ``metric`` over the ok rows of one (sampler, budget) cell (NaN if none)."""
    keep = (rows["status"] == "ok") & (rows["sampler"] == sampler) & (rows["budget"] == budget)
    if dataset is not None:
        keep &= rows["dataset"] == dataset
    if seeds is not None:
        keep &= rows["seed"].isin(seeds)
    cell = rows.loc[keep, metric]
    return float(cell.median()) if len(cell) else math.nan


def versus(median: float, reference: float, p_value: float) -> str:
    """better / WORSE / tie for an error metric (lower is better), by a paired test's p."""
    if p_value < ALPHA:
        return "better" if median < reference else "WORSE" if median > reference else "tie"
    return "tie"


def _figure1_family(rows: pd.DataFrame, method: str) -> pd.DataFrame:
    """Both halves of Figure 1's claim for one method, at every s and on both errors, one Holm
    family: better than uniform (paired error difference below 0) and within CLOSE_FACTOR of
    leverage (non-inferiority: error - CLOSE_FACTOR x leverage's error below 0)."""
    tests = []
    split = cells(rows)
    for budget in _budgets(rows, "gas_sensor_drift"):
        cell = _cell(split, rows, "gas_sensor_drift", budget)
        for metric in ("r2_error_train", "r2_error_val"):
            tests.append(_test(cell, metric, method, "uniform", "gas_sensor_drift", budget,
                               "lower", error=metric, part="better than uniform"))
            tests.append(_test(cell, metric, method, "leverage", "gas_sensor_drift", budget,
                               "lower", margin=CLOSE_FACTOR, error=metric,
                               part=f"within {CLOSE_FACTOR}x of leverage"))
    table = judge([t for t in tests if t is not None])
    if table.empty:
        return table
    table = table.rename(columns={"budget": "s"}).drop(columns="dataset")
    ok = rows[(rows["status"] == "ok") & (rows["dataset"] == "gas_sensor_drift")]
    med = ok.groupby(["sampler", "budget"])[["r2_error_train", "r2_error_val"]].median()
    for col, who in (("median_method", None), ("median_leverage", "leverage"),
                     ("median_uniform", "uniform")):
        table[col] = [med.loc[(who or r["method"], r["s"]), r["error"]] for r in table.to_dict("records")]
    return table


def _figure1_summary(table: pd.DataFrame, method: str) -> tuple[list[int], list[str], list[str]]:
    """(sizes where both halves hold on both errors, a phrase per half, notes on the sizes
    that went the other way)."""
    bits, notes = [], []
    for half, g in table.groupby("part", sort=False):
        s_ok = sorted(int(s) for s, h in g.groupby("s") if (h["outcome"] == AS_CLAIMED).all())
        s_bad = sorted(int(s) for s, h in g.groupby("s") if (h["outcome"] == OPPOSITE).any())
        bits.append(f"{half} at {'s = ' + ', '.join(map(str, s_ok)) if s_ok else 'no s'}")
        if s_bad:
            what = ("worse than uniform" if half == "better than uniform" else
                    f"above {CLOSE_FACTOR}x leverage's error")
            notes.append(f"{method} is significantly {what} at s = {', '.join(map(str, s_bad))} "
                         "(on at least one of the two errors)")
    whole = sorted(int(s) for s, g in table.groupby("s") if (g["outcome"] == AS_CLAIMED).all())
    return whole, bits, notes


def claim_kmedoids_close_to_leverage(rows: pd.DataFrame) -> Verdict:
    """Both halves of section 5.1's claim for the paper's method (Algorithm 2 with zeta -> inf:
    k-medoids sampling, ``kmedoids``), one Holm family; Algorithm 2 with a finite zeta
    (``kmedoids_alg2``, not what Figure 1 ran) judged the same way, apart, as context.
    Wilcoxon ranks the paired differences, so the few runs that explode at small s do not
    dominate as they would a mean (where they disagree, the outcome is MIXED)."""
    claim = ("k-medoids sampling is almost as good as leverage-score sampling and better than "
             "uniform (section 5.1, Figure 1; the paper's method: Algorithm 2 with zeta -> inf, "
             "i.e. k-medoids sampling): 1 - R^2 on the train and validation data at every s; "
             "'better than uniform': paired error difference below 0; 'almost as good as "
             f"leverage': error below {CLOSE_FACTOR} x leverage's (a non-inferiority margin the "
             "paper does not give); the claim holds at a size when both halves hold on both errors")
    table = _figure1_family(rows, "kmedoids")
    if table.empty:
        return _not_enough(claim, " on gas_sensor_drift")
    whole, bits, notes = _figure1_summary(table, "kmedoids")
    if (table["outcome"] == AS_CLAIMED).all():
        verdict = "holds"
    elif _too_few(table):
        verdict = _too_few(table)
    elif whole:
        verdict = f"holds in part: at s = {', '.join(map(str, whole))}; " + "; ".join(bits)
    else:
        verdict = "does not hold at any s (both halves together): " + "; ".join(bits)
    ni = table[table["part"] != "better than uniform"]
    ratio = ni["median_method"] / ni["median_leverage"]
    evidence = [family_line(table),
                f"median 1 - R^2 of k-medoids over leverage's: {ratio.min():.2f}-{ratio.max():.2f}x",
                *notes]
    context = _figure1_family(rows, "kmedoids_alg2")
    if not context.empty:
        c_whole, c_bits, _ = _figure1_summary(context, "kmedoids_alg2")
        evidence.append("context, not the paper's method: Algorithm 2 with a finite zeta "
                        "(kmedoids_alg2), its own Holm family: " + "; ".join(c_bits)
                        + (f"; both halves at s = {', '.join(map(str, c_whole))}" if c_whole else ""))
        table = pd.concat([table, context], ignore_index=True)
    return Verdict(claim, verdict, evidence, table)


def claim_kmedoids_faster(bench: pd.DataFrame | None, rows: pd.DataFrame | None = None) -> Verdict:
    """Table 1 (n x n i.i.d. normal matrices, k = 0.2 n) and section 5.1 ("drastically faster"
    on the regression data), judged apart: the benchmark by its measured ratio, the regression
    rows by paired tests of selection time over seeds at every s."""
    claim = ("computing a k-medoids clustering (k = 0.2 n) is faster than computing all leverage "
             "scores (Table 1, on n x n N(0, 1) matrices; section 5.1: 'drastically faster' on "
             "the regression data): the benchmark's ratio at the paper's sizes this machine can "
             "run, and k-medoids' selection time against leverage's on the gas rows at every s, "
             "lower time")
    evidence, parts = [], []
    if bench is not None and not bench.empty:
        papers = bench[bench["paper_ratio"].notna()] if "paper_ratio" in bench else bench.iloc[0:0]
        judged = papers if not papers.empty else bench
        sizes = ", ".join(str(int(n)) for n in judged["n"])
        evidence.append(f"Table 1's setting, judged at n = {sizes} ({'the paper' if not papers.empty else 'none of the paper'}'s "
                        "sizes; its 10,000-30,000 need more memory than this machine has; one timing "
                        "each): " + "; ".join(
                            f"n={int(r.n)}: leverage {r.leverage_s:.2f} s, k-medoids {r.kmedoids_s:.2f} s, "
                            f"ratio {r.ratio:.2f}" + (f" (paper {r.paper_ratio:.2f})" if pd.notna(r.paper_ratio) else "")
                            for r in bench.itertuples()))
        parts.append(("holds" if (judged["ratio"] > 1).all() else "does not hold")
                     + " on n x n matrices (Table 1)")
    table = pd.DataFrame()
    if rows is not None:
        tests = [_test(rows, "time_selection", "kmedoids", "leverage", "gas_sensor_drift", b, "lower")
                 for b in _budgets(rows, "gas_sensor_drift")]
        table = judge([t for t in tests if t is not None])
        if not table.empty:
            evidence.append(family_line(table))
            evidence.append(f"gas rows: k-medoids {table['mean_a'].mean():.3f} s, leverage "
                            f"{table['mean_b'].mean():.3f} s per selection (mean over s)")
            state = ("holds" if (table["outcome"] == AS_CLAIMED).all() else _too_few(table) or
                     f"does not hold ({_counts(table)})")
            parts.append(f"{state} on the gas data (section 5.1)")
            table = table.rename(columns={"budget": "s"})
    if not parts:
        return Verdict(claim, "not enough data", ["run `coreset-bench bench table1` first"])
    return Verdict(claim, "; ".join(parts), evidence, table)


def extra_baseline(rows: pd.DataFrame, sampler: str = "badge") -> tuple[pd.DataFrame, list[str]]:
    """A method that is not in the paper (BADGE) against every Figure 4 method, per dataset and
    budget, paired by seed: its mean accuracy and ``+diff win/tie/LOSS`` per method (Holm over
    the table's tests, adjusted p < ALPHA; context, not a verdict); and a computed summary
    against Algorithm 1."""
    ok = rows[rows["status"] == "ok"] if "accuracy" in rows else rows.iloc[0:0]
    table, tests, split = [], [], cells(ok)
    for dataset in DATASETS:
        for budget in _budgets(ok, dataset):
            cell = _cell(split, ok, dataset, budget)
            mine = cell[cell["sampler"] == sampler]
            if mine.empty:
                continue
            line = {"dataset": dataset, "budget": int(budget), "seeds": int(mine["seed"].nunique()),
                    "accuracy": float(mine["accuracy"].mean())}
            for other in ("loss", "grad", *FIGURE4_OTHERS):
                r = paired(cell, "accuracy", sampler, other, dataset=dataset, budget=budget)
                line[other] = "—"
                if r is not None:
                    tests.append((len(table), other, dataset, int(budget), r))
            table.append(line)
    against_alg1: dict = {}
    for (i, other, dataset, budget, r), p_adj in zip(tests, holm([t[-1].p_value for t in tests])):
        state = ("tie" if not p_adj < ALPHA else "win" if r.rank_biserial > 0 and r.mean_diff >= 0
                 else "LOSS" if r.rank_biserial < 0 and r.mean_diff <= 0 else "mixed")
        table[i][other] = f"{r.mean_diff:+.4f} {state}"
        if other in ("loss", "grad"):
            against_alg1.setdefault(dataset, []).append((budget, other, state, r))
    summary = []
    for dataset, found in against_alg1.items():
        n = sorted({r.n for *_, r in found})
        parts = []
        for method in ("loss", "grad"):
            won = [str(b) for b, m, state, _ in found if m == method and state == "win"]
            lost = [str(b) for b, m, state, _ in found if m == method and state == "LOSS"]
            bits = ([f"beats {method} at k = {', '.join(won)}"] if won else []) + \
                   ([f"loses to {method} at k = {', '.join(lost)}"] if lost else [])
            parts.append("; ".join(bits) if bits else f"no difference from {method}")
        seeds = str(n[0]) if n[0] == n[-1] else f"{n[0]}-{n[-1]}"
        summary.append(f"- {dataset} ({seeds} paired seeds): {sampler} " + "; ".join(parts))
    for dataset in dict.fromkeys(line["dataset"] for line in table):
        if dataset not in against_alg1:
            summary.append(f"- {dataset}: {sampler} has too few paired seeds (needs >= {MIN_PAIRS})")
        if "device" in ok:   # same run keys, other hardware: same indices, other float rounding
            here = ok[ok["dataset"] == dataset]
            mine = sorted(set(here.loc[here["sampler"] == sampler, "device"].dropna()))
            rest = sorted(set(here.loc[here["sampler"] != sampler, "device"].dropna()))
            if mine and rest and mine != rest:
                summary.append(
                    f"- {dataset}: the {sampler} rows ran on {', '.join(mine)}, the other methods' "
                    f"on {', '.join(rest)}: same seeds and warm-start points, but the warm-start "
                    "models differ by floating-point rounding between devices")
    return pd.DataFrame(table), summary


def comparison_k2000(rows: pd.DataFrame) -> pd.DataFrame:
    """The paper's k = 2000 accuracies beside ours (mean, CI, seeds, paper inside CI?)."""
    out = []
    ok = rows[(rows["status"] == "ok") & (rows["budget"] == 2000)]
    for dataset in DATASETS:
        for sampler, per_dataset in PAPER_K2000.items():
            paper_value = per_dataset[dataset]
            cell = ok[(ok["sampler"] == sampler) & (ok["dataset"] == dataset)]["accuracy"]
            low, high = ci95(cell) if len(cell) else (math.nan, math.nan)
            inside = "—" if math.isnan(low) else ("yes" if low <= paper_value <= high else "no")
            out.append({"dataset": dataset, "sampler": sampler, "paper": paper_value,
                        "ours_mean": float(cell.mean()) if len(cell) else math.nan,
                        "ours_std": float(cell.std(ddof=1)) if len(cell) > 1 else math.nan,
                        "ci95_low": low, "ci95_high": high, "seeds": int(len(cell)),
                        "paper_in_ci": inside})
    return pd.DataFrame(out)


def differences_k2000(rows: pd.DataFrame) -> pd.DataFrame:
    """Each sampler's difference from uniform at k = 2000, the paper's (from its Figure 2b
    means) beside ours (mean paired difference over seeds, 95% t interval): where the absolute
    accuracies differ (another model size, evaluation split or data), the effects may still
    reproduce."""
    out = []
    ok = rows[(rows["status"] == "ok") & (rows["budget"] == 2000)]
    for dataset in DATASETS:
        uni = ok[(ok["dataset"] == dataset) & (ok["sampler"] == "uniform")].set_index("seed")["accuracy"] \
            if "accuracy" in ok else pd.Series(dtype=float)
        for sampler, per_dataset in PAPER_K2000.items():
            if sampler == "uniform":
                continue
            paper_diff = per_dataset[dataset] - PAPER_K2000["uniform"][dataset]
            mine = ok[(ok["dataset"] == dataset) & (ok["sampler"] == sampler)].set_index("seed")["accuracy"] \
                if "accuracy" in ok else pd.Series(dtype=float)
            diff = (mine - uni).dropna()
            if len(diff) < 2:
                continue
            low, high = ci95(diff)
            out.append({"dataset": dataset, "sampler": sampler, "paper_minus_uniform": paper_diff,
                        "ours_minus_uniform": float(diff.mean()), "ci95_low": low, "ci95_high": high,
                        "seeds": int(len(diff)),
                        "paper_in_ci": "yes" if low <= paper_diff <= high else "no",
                        "same_sign": "yes" if np.sign(paper_diff) == np.sign(diff.mean()) else "no"})
    return pd.DataFrame(out)

"""The comparison report (``coreset-bench report baseline=...``): known answers for the AUC, the
labels-saved interpolation, the ranks and the critical difference on hand-made frames; then a
real digits sweep reported end to end, and a 3-seed one that must say it cannot tell."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from coreset_bench.report import compare
from coreset_bench.stats import MIN_PAIRS, holm

from conftest import run_cli


def rows(cells: dict, *, dataset="digits", task="classification", metric="accuracy",
         model="mlp") -> pd.DataFrame:
    """Result rows from {(sampler, budget): [value by seed]} (a None value: a failed run)."""
    out = []
    for (sampler, budget), values in cells.items():
        for seed, v in enumerate(values):
            out.append({"dataset": dataset, "model": model, "sampler": sampler, "budget": budget,
                        "seed": seed, "status": "ok" if v is not None else "failed",
                        metric: math.nan if v is None else v, "task": task})
    return pd.DataFrame(out)


# -- the area under the budget curve --------------------------------------------------------

def test_auc_is_the_trapezoid_divided_by_the_budget_range():
    # (0.5 + 0.7) / 2 * 100 + (0.7 + 0.9) / 2 * 200 = 60 + 160 = 220, over the range 300
    assert compare.auc([100, 200, 400], [0.5, 0.7, 0.9]) == pytest.approx(220 / 300)
    assert compare.auc([400, 100, 200], [0.9, 0.5, 0.7]) == pytest.approx(220 / 300)  # any order
    assert compare.auc([100, 300], [0.8, 0.8]) == pytest.approx(0.8)     # a flat curve: its height
    assert math.isnan(compare.auc([100], [0.5]))
    assert math.isnan(compare.auc([100, 200], [0.5, math.nan]))


def test_auc_per_seed_uses_the_common_budgets_and_leaves_out_incomplete_seeds():
    frame = compare.scored(pd.concat([
        rows({("uniform", 100): [0.5, 0.5], ("uniform", 200): [0.7, 0.7],
              ("uniform", 400): [0.9, None],                               # seed 1 failed at 400
              ("loss", 100): [0.6, 0.6], ("loss", 200): [0.8, 0.8]}),      # loss lacks 400
    ]))
    per_seed, grids = compare.auc_per_seed(frame)
    assert grids[("digits", "mlp")] == [100, 200]                          # common to both
    got = per_seed.set_index(["sampler", "seed"])["auc"]
    assert got[("uniform", 0)] == pytest.approx(0.6) and got[("loss", 1)] == pytest.approx(0.7)
    table, _ = compare.auc_table(frame, "uniform")
    loss = table.set_index("sampler").loc["loss"]
    assert loss["diff"] == pytest.approx(0.1) and loss["pairs"] == 2
    assert loss["verdict"].startswith("too few seeds") and math.isnan(loss["p_raw"])


# -- labels saved: the budget the baseline needs -------------------------------------------

def test_budget_to_reach_interpolates_linearly_and_says_when_off_the_grid():
    b, m = [100, 200, 400], [0.5, 0.7, 0.9]
    assert compare.budget_to_reach(b, m, 0.6) == pytest.approx(150)
    assert compare.budget_to_reach(b, m, 0.8) == pytest.approx(300)
    assert compare.budget_to_reach(b, m, 0.5) == 100 and compare.budget_to_reach(b, m, 0.9) == 400
    assert compare.budget_to_reach(b, m, 0.95) == math.inf      # beyond the grid
    assert compare.budget_to_reach(b, m, 0.4) == -math.inf      # below the grid
    assert math.isnan(compare.budget_to_reach(b, m, math.nan))
    # a curve that dips: the first crossing counts
    assert compare.budget_to_reach([100, 200, 400], [0.5, 0.8, 0.7], 0.75) == pytest.approx(
        100 + 0.25 / 0.3 * 100)


def test_labels_saved_by_hand_both_directions():
    curve = pd.DataFrame([
        # accuracy: uniform 0.5 / 0.7 / 0.9 at 100 / 200 / 400; loss 0.8 at 200, interval 0.7-0.9
        *({"dataset": "d", "model": "m", "sampler": "uniform", "budget": b, "metric": "accuracy",
           "seeds": 5, "failed": 0, "mean": v, "ci95_low": v, "ci95_high": v}
          for b, v in ((100, 0.5), (200, 0.7), (400, 0.9))),
        {"dataset": "d", "model": "m", "sampler": "loss", "budget": 200, "metric": "accuracy",
         "seeds": 5, "failed": 0, "mean": 0.8, "ci95_low": 0.7, "ci95_high": 0.9},
        # 1 - R^2, lower is better: uniform 0.5 / 0.3 / 0.1; leverage 0.2 at 100 (0.15-0.25)
        *({"dataset": "r", "model": "m", "sampler": "uniform", "budget": b,
           "metric": "r2_error_val", "seeds": 5, "failed": 0, "mean": v, "ci95_low": v,
           "ci95_high": v} for b, v in ((100, 0.5), (200, 0.3), (400, 0.1))),
        {"dataset": "r", "model": "m", "sampler": "leverage", "budget": 100,
         "metric": "r2_error_val", "seeds": 5, "failed": 0, "mean": 0.2, "ci95_low": 0.15,
         "ci95_high": 0.25},
    ])
    saved = compare.labels_saved(curve, "uniform").set_index("dataset")
    acc = saved.loc["d"]
    assert acc["baseline_budget_needed"] == pytest.approx(300)
    assert (acc["needed_low"], acc["needed_high"]) == (pytest.approx(200), pytest.approx(400))
    assert acc["labels_saved"] == pytest.approx(100) and acc["ratio"] == pytest.approx(1.5)
    reg = saved.loc["r"]
    assert reg["baseline_budget_needed"] == pytest.approx(300)         # error 0.2: midway 200-400
    assert (reg["needed_low"], reg["needed_high"]) == (pytest.approx(250), pytest.approx(350))
    assert compare._saved_text(math.inf, 400, "100-400", False) == "> 0"
    assert compare._budget_text(-math.inf, "100-400") == "below the grid (< 100)"


# -- ranks, Friedman, Nemenyi --------------------------------------------------------------

def _curve(scores: dict, n_cells: int, metric="accuracy") -> pd.DataFrame:
    """A curve table: one cell per budget 1..n_cells, each method's mean fixed."""
    return pd.DataFrame([{"dataset": "d", "model": "m", "sampler": s, "budget": b, "metric": metric,
                          "seeds": 5, "failed": 0, "mean": v(b) if callable(v) else v,
                          "ci95_low": math.nan, "ci95_high": math.nan}
                         for s, v in scores.items() for b in range(1, n_cells + 1)])


def test_ranks_friedman_and_critical_difference_by_hand():
    # 12 cells, always a > b > c > d: ranks 1, 2, 3, 4
    ranks, methods, left_out = compare.rank_cells(
        _curve({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}, 12))
    assert methods == ["a", "b", "c", "d"] and left_out == 0 and len(ranks) == 12
    res = compare.friedman_nemenyi(ranks)
    assert list(res["average_rank"].items()) == [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]
    # chi2 = 12 N / (k (k+1)) * (sum R_j^2 - k (k+1)^2 / 4) = 12*12/20 * (30 - 25) = 36
    assert res["chi2"] == pytest.approx(36.0)
    assert res["F"] == math.inf and res["p_F"] == 0.0     # perfect agreement
    # Demsar (2006) Table 5(a): q_0.05 = 2.569 for k = 4; CD = q sqrt(k (k+1) / (6 N))
    assert res["q_alpha"] == pytest.approx(2.569, abs=1e-3)
    assert res["cd"] == pytest.approx(2.569 * math.sqrt(20 / 72), abs=1e-3)
    assert res["tested"] and res["differ"]
    # 1 apart < CD = 1.354: neighbours are not significantly different, a and d are
    assert compare.cliques(res["average_rank"], res["cd"]) == [["a", "b"], ["b", "c"], ["c", "d"]]


def test_friedman_with_ties_and_an_iman_davenport_f_by_hand():
    # 11 cells: a best everywhere; b and c tie (2.5 each) in the 11 cells
    ranks, _, _ = compare.rank_cells(_curve({"a": 0.9, "b": 0.5, "c": 0.5}, 11))
    res = compare.friedman_nemenyi(ranks)
    assert dict(res["average_rank"]) == {"a": 1.0, "b": 2.5, "c": 2.5}
    assert res["tested"] and res["differ"]


def test_too_few_cells_or_methods_are_said_not_tested():
    ranks, _, _ = compare.rank_cells(_curve({"a": 0.9, "b": 0.8, "c": 0.7}, 3))
    res = compare.friedman_nemenyi(ranks)
    assert not res["tested"] and "too few cells for the test" in res["note"]
    assert dict(res["average_rank"]) == {"a": 1.0, "b": 2.0, "c": 3.0}   # still described
    two, _, _ = compare.rank_cells(_curve({"a": 0.9, "b": 0.8}, 20))
    assert "needs at least 3" in compare.friedman_nemenyi(two)["note"]


def test_ranks_put_the_lowest_error_first_and_leave_out_incomplete_cells():
    curve = _curve({"uniform": 0.5, "leverage": 0.2, "kmedoids": 0.3}, 4, metric="r2_error_val")
    curve = curve[~((curve["sampler"] == "kmedoids") & (curve["budget"] == 4))]
    ranks, _, left_out = compare.rank_cells(curve)
    assert left_out == 1 and len(ranks) == 3
    assert dict(ranks.mean()) == {"kmedoids": 2.0, "leverage": 1.0, "uniform": 3.0}


def test_datasets_run_with_other_methods_are_ranked_in_their_own_group():
    curve = pd.concat([_curve({"uniform": 0.5, "loss": 0.6, "kcenter": 0.4}, 2),
                       _curve({"uniform": 0.5, "leverage": 0.2}, 2, metric="r2_error_val")
                       .assign(dataset="gas")])
    sets = compare._method_sets(curve)
    assert sets == {("kcenter", "loss", "uniform"): [("d", "m")],
                    ("leverage", "uniform"): [("gas", "m")]}


# -- paired differences, Holm, wins --------------------------------------------------------

def test_paired_holm_is_per_dataset_and_model_and_wins_follow_the_direction():
    rng = np.random.default_rng(0)
    base = rng.normal(0.7, 0.05, 8)
    noise = lambda: rng.normal(0, 0.002, 8)  # noqa: E731
    frame = compare.scored(pd.concat([
        rows({("uniform", 100): list(base), ("uniform", 200): list(base + 0.1),
              ("loss", 100): list(base + 0.05 + noise()), ("loss", 200): list(base + 0.1 + noise()),
              ("kcenter", 100): list(base - 0.05 + noise()), ("kcenter", 200): list(base + 0.1)}),
        rows({("uniform", 100): list(base), ("loss", 100): list(base - 0.05 + noise())},
             dataset="other"),
        rows({("uniform", 50): list(base), ("leverage", 50): list(base - 0.05 + noise())},
             dataset="gas", task="regression", metric="r2_error_val"),
    ]))
    table = compare.paired(frame, "uniform")
    for _, fam in table.groupby(["dataset", "model"]):
        assert np.allclose(fam["p_holm"], holm(fam["p_raw"]), equal_nan=True)
    digits = table[table["dataset"] == "digits"].set_index(["sampler", "budget"])
    assert (digits["family_tests"] == 4).all()
    assert (digits["p_holm"] >= digits["p_raw"]).all()
    assert digits.loc[("loss", 100), "verdict"] == "win"
    assert digits.loc[("kcenter", 100), "verdict"] == "loss"
    assert digits.loc[("kcenter", 200), "verdict"] == "tie"          # identical: p = 1
    # one test in its own family: Holm leaves it alone; 8 pairs: p = 2 / 2^8
    other = table[table["dataset"] == "other"].iloc[0]
    assert other["p_holm"] == pytest.approx(other["p_raw"]) == pytest.approx(2 / 2 ** 8)
    assert table[table["dataset"] == "gas"].iloc[0]["verdict"] == "win"   # lower error wins
    wtl = compare.win_tie_loss(table).set_index("sampler")
    assert wtl.loc["loss", ["win", "tie", "loss"]].tolist() == [1, 1, 1]


def test_seeds_needed_after_holm():
    assert compare.seeds_needed(1) == 6      # 2 / 2^5 = 0.0625, 2 / 2^6 = 0.031
    assert compare.seeds_needed(9) == 9      # 9 * 2 / 2^8 = 0.07, 9 * 2 / 2^9 = 0.035


def test_which_report_by_default():
    assert compare.is_paper_rows(rows({("uniform", 100): [0.5]}, dataset="mnist"))
    assert not compare.is_paper_rows(pd.concat([rows({("uniform", 100): [0.5]}, dataset="mnist"),
                                                rows({("uniform", 100): [0.5]})]))
    assert compare.check_baseline(rows({("uniform", 100): [0.5]}), None) == "uniform"
    with pytest.raises(compare._error("").__class__, match="samplers present: loss; choose"):
        compare.check_baseline(rows({("loss", 100): [0.5]}), None)


# -- end to end: a real sweep, the command line ---------------------------------------------

@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """experiment=compare on digits, budgets 100, 200, 400, seeds 0-5 (72 runs), and a copy of
    its seeds 0-2 only."""
    folder = tmp_path_factory.mktemp("compare")
    full = folder / "full"
    out = run_cli("run", "-m", "experiment=compare", "dataset=digits", "budget=100,200,400",
                  "seed=range(0,6)", f"results_dir={full}")
    assert out.returncode == 0, out.stderr[-3000:]
    few = folder / "few"
    (few / "rows").mkdir(parents=True)
    for path in (full / "rows").glob("*.json"):
        if json.loads(path.read_text())["seed"] < 3:
            shutil.copy(path, few / "rows" / path.name)
    return full, few


def test_the_comparison_report_end_to_end(swept):
    full, _ = swept
    out = run_cli("report", f"results_dir={full}", "baseline=uniform")
    assert out.returncode == 0, out.stderr[-3000:]
    rep = full / "report"
    text = (rep / "index.md").read_text()
    assert text.startswith("# Comparison report: 3 method(s) against `uniform`")
    assert "Reproduction report" not in text and "Sensitivity Sampling" not in text
    assert "Verdicts at a glance" not in text
    for name in ("curve", "paired", "win_tie_loss", "ranks", "auc", "labels_saved"):
        for ext in ("md", "csv"):
            assert (rep / "tables" / f"{name}.{ext}").stat().st_size > 0, name
    for name in ("curve", "paired", "critical_difference"):
        assert (rep / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "Holm, one family per (dataset, model)" in text and "Seeds per cell" in text
    # Holm applied: adjusted >= raw, and equal to holm() over the family
    paired = pd.read_csv(rep / "tables" / "paired.csv")
    assert len(paired) == 9 and (paired["pairs"] == 6).all()
    assert (paired["p_holm"] >= paired["p_raw"] - 1e-12).all()
    assert np.allclose(paired["p_holm"], holm(paired["p_raw"]))
    # ranks: 4 methods over 3 cells, the ranks sum to k (k + 1) / 2; too few cells for the test
    ranks = pd.read_csv(rep / "tables" / "ranks.csv")
    assert set(ranks["sampler"]) == {"uniform", "kcenter", "loss", "grad"}
    assert ranks["average_rank"].sum() == pytest.approx(10.0) and (ranks["cells"] == 3).all()
    assert (ranks["group"] == "digits").all() and not ranks["tested"].any()
    assert "too few cells for the test" in text
    saved = pd.read_csv(rep / "tables" / "labels_saved.csv")
    assert {"baseline_budget_needed", "needed_low", "needed_high", "labels_saved"} <= set(saved)
    assert len(saved) == 9 and "## Labels saved" in text
    auc = pd.read_csv(rep / "tables" / "auc.csv")
    assert (auc["seeds"] == 6).all() and auc["auc"].between(0, 1).all()
    # 6 seeds, 9 tests: Holm makes nothing significant whatever the data, and the header says so
    assert "significant only with >= 9 paired seeds" in text


def test_the_default_report_of_non_paper_rows_compares_against_uniform(swept, tmp_path):
    full, _ = swept
    out = run_cli("report", f"results_dir={full}", f"out={tmp_path / 'rep'}")
    assert out.returncode == 0, out.stderr[-3000:]
    text = (tmp_path / "rep" / "index.md").read_text()
    assert text.startswith("# Comparison report") and "the default: choose another" in text


def test_a_few_seeds_say_they_cannot_tell(swept):
    _, few = swept
    out = run_cli("report", f"results_dir={few}", "baseline=uniform")
    assert out.returncode == 0, out.stderr[-3000:]
    text = (few / "report" / "index.md").read_text()
    assert f"too few seeds (3 < {MIN_PAIRS})" in text
    assert "**Too few seeds to tell**: 9 of 9 comparisons" in text
    paired = pd.read_csv(few / "report" / "tables" / "paired.csv")
    assert paired["p_raw"].isna().all() and paired["p_holm"].isna().all()
    assert paired["verdict"].str.startswith("too few seeds").all()
    wtl = pd.read_csv(few / "report" / "tables" / "win_tie_loss.csv")
    assert (wtl[["win", "tie", "loss"]] == 0).all().all() and (wtl["too few seeds"] == 3).all()


def test_a_baseline_not_in_the_rows_is_one_line_and_exit_2(swept, tmp_path):
    full, _ = swept
    out = run_cli("report", f"results_dir={full}", "baseline=margin")
    assert out.returncode == 2
    assert out.stderr.strip() == ("coreset-bench: error: baseline 'margin' has no rows here; "
                                  "valid baselines: uniform, kcenter, loss, grad")
    no_uniform = tmp_path / "no_uniform"
    (no_uniform / "rows").mkdir(parents=True)
    for path in (full / "rows").glob("*.json"):
        if json.loads(path.read_text())["sampler"] != "uniform":
            shutil.copy(path, no_uniform / "rows" / path.name)
    out = run_cli("report", f"results_dir={no_uniform}")
    assert out.returncode == 2
    assert out.stderr.strip() == ("coreset-bench: error: no uniform rows to compare against; "
                                  "samplers present: kcenter, loss, grad; choose one with "
                                  "baseline=NAME")
    assert run_cli("report", f"results_dir={no_uniform}", "baseline=kcenter").returncode == 0

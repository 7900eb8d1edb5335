"""The report: numbers by hand, honest intervals, paired tests, figures, files, messages."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from coreset_bench import store
from coreset_bench.report import build as report
from coreset_bench.report import figures, paper, tables

from conftest import run_cli


def frame(cells: dict, *, task="classification", metric="accuracy", dataset="mnist") -> pd.DataFrame:
    """Rows from {(sampler, budget): [values by seed]}."""
    out = []
    for (sampler, budget), values in cells.items():
        for seed, v in enumerate(values):
            out.append({"dataset": dataset, "model": "mlp", "sampler": sampler, "budget": budget,
                        "seed": seed, "status": "ok", metric: v, "task": task,
                        "run_key": f"{dataset}-{sampler}-{budget}-{seed}", "n_inferences": 0})
    return pd.DataFrame(out)


def test_summary_equals_a_hand_computation():
    rows = frame({("uniform", 100): [0.5, 0.7, 0.9]})
    rows.loc[len(rows)] = {**rows.iloc[0].to_dict(), "seed": 9, "status": "failed",
                           "accuracy": float("nan")}
    s = tables.summary(rows, "accuracy").iloc[0]
    assert s["seeds"] == 3 and s["mean"] == pytest.approx(0.7)
    assert s["std"] == pytest.approx(0.2)              # sqrt(((-.2)^2 + 0 + .2^2) / 2)
    half = 4.302652729911275 * 0.2 / math.sqrt(3)      # t_{0.975, 2}
    assert s["ci95_low"] == pytest.approx(0.7 - half) and s["ci95_high"] == pytest.approx(0.7 + half)


def test_one_seed_has_no_interval_and_is_not_padded():
    s = tables.summary(frame({("uniform", 100): [0.8]}), "accuracy").iloc[0]
    assert s["seeds"] == 1 and math.isnan(s["std"]) and math.isnan(s["ci95_low"])
    assert "| mnist | uniform | 100 | 1 | 0.8000 | — | — | — |" in tables.to_markdown(
        tables.summary(frame({("uniform", 100): [0.8]}), "accuracy"))


def test_interval_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    widths = []
    for n in (5, 20, 80):
        s = tables.summary(frame({("uniform", 100): list(rng.normal(0.8, 0.02, n))}), "accuracy").iloc[0]
        widths.append(s["ci95_high"] - s["ci95_low"])
    assert widths[0] > widths[1] > widths[2]


def test_wilcoxon_pairs_by_seed():
    rng = np.random.default_rng(1)
    base = rng.normal(0.8, 0.05, 12)                   # large between-seed spread
    better = base + 0.01 + rng.normal(0, 0.002, 12)    # small, consistent per-seed gain
    rows = frame({("loss", 250): list(better), ("uniform", 250): list(base)})
    paired = paper.paired(rows, "accuracy", "loss", "uniform", dataset="mnist", budget=250)
    assert paired.n == 12 and paired.p_value < 0.001 and paired.rank_biserial == 1.0
    shuffled = rows.copy()
    mask = shuffled["sampler"] == "uniform"
    shuffled.loc[mask, "seed"] = rng.permutation(shuffled.loc[mask, "seed"].to_numpy())
    broken = paper.paired(shuffled, "accuracy", "loss", "uniform", dataset="mnist", budget=250)
    assert broken.p_value > 10 * paired.p_value        # the pairing is what makes it significant


def test_claims_need_enough_pairs():
    rows = frame({("loss", 250): [0.8, 0.81], ("uniform", 250): [0.79, 0.8]})
    verdict = paper.claim_sensitivity_beats_uniform_at_small_budgets(rows)
    assert verdict.verdict == "not enough data"


def test_claim_verdicts_follow_the_data():
    rng = np.random.default_rng(2)
    base = rng.normal(0.8, 0.03, 10)
    good = frame({("loss", 250): list(base + 0.02), ("grad", 250): list(base + 0.015),
                  ("uniform", 250): list(base)})
    assert paper.claim_sensitivity_beats_uniform_at_small_budgets(good).verdict == "holds"
    bad = frame({("loss", 250): list(base - 0.02), ("grad", 250): list(base - 0.015),
                 ("uniform", 250): list(base)})
    assert paper.claim_sensitivity_beats_uniform_at_small_budgets(bad).verdict.startswith("does not hold")


def test_comparison_table_puts_the_paper_beside_ours():
    rows = frame({("uniform", 2000): [0.912, 0.914, 0.913, 0.911, 0.915]})
    comp = paper.comparison_k2000(rows)
    line = comp[(comp["dataset"] == "mnist") & (comp["sampler"] == "uniform")].iloc[0]
    assert line["paper"] == 0.9130 and line["seeds"] == 5 and line["paper_in_ci"] == "yes"
    assert comp[comp["dataset"] == "cifar10"]["seeds"].eq(0).all()  # no data: shown as 0 seeds


def test_figure_has_one_panel_per_dataset_with_labels_and_legend():
    rows = pd.concat([frame({("uniform", b): [0.8, 0.82] for b in (250, 500)}),
                      frame({("loss", b): [0.81, 0.83] for b in (250, 500)}, dataset="cifar10")])
    fig = figures.metric_vs_budget(tables.summary(rows, "accuracy"), samplers=["uniform", "loss"],
                                   ylabel="accuracy")
    axes = {a.get_title(): a for a in fig.get_axes()}
    assert sorted(axes) == ["CIFAR-10 (2 seeds per point)", "MNIST (2 seeds per point)"]
    assert {a.get_ylabel() for a in axes.values()} == {"accuracy"}
    assert {a.get_xlabel() for a in axes.values()} == {"budget k (labelled points)"}
    # one legend for the figure, samplers in the paper's order, one colour each across panels
    [legend] = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["uniform", "loss (Alg. 1)"]
    colours = {line.get_label(): line.get_color() for a in axes.values() for line in a.get_lines()}
    assert colours == {"uniform": figures.COLORS["uniform"], "loss (Alg. 1)": figures.COLORS["loss"]}


def test_latex_is_a_well_formed_tabular():
    tex = tables.to_latex(pd.DataFrame({"sampler": ["least_confidence", "a&b"], "mean": [0.5, np.nan]}))
    lines = tex.strip().splitlines()
    assert lines[0] == r"\begin{tabular}{lr}" and lines[-1] == r"\end{tabular}"
    body = [l for l in lines if l.endswith(r"\\")]
    assert all(l.count("&") - l.count(r"\&") == 1 for l in body)
    assert r"least\_confidence" in tex and r"a\&b" in tex and "--" in tex


def write_rows(results_dir, rows: pd.DataFrame) -> None:
    for row in rows.to_dict("records"):
        store.write_row(results_dir, row)


def test_build_writes_tables_figures_and_index(tmp_path):
    rng = np.random.default_rng(3)
    base = rng.normal(0.8, 0.03, 12)
    rows = frame({(s, b): list(base + d + 0.01 * i + rng.normal(0, 0.002, 12)) for i, b in enumerate((250, 2000))
                  for s, d in (("uniform", 0), ("kcenter", -0.01), ("loss", 0.01), ("grad", 0.01))})
    for stage in ("warm_train", "embed", "cluster", "query", "score", "sample", "final_train", "eval"):
        rows[f"time_{stage}"] = 0.1
    rows["time_selection"], rows["time_total"] = 0.5, 1.0
    rows["sampler.lam"] = "auto"
    write_rows(tmp_path, rows)
    index = report.build(tmp_path)
    text = index.read_text()
    assert "## Figure 2b: the paper's k = 2000 accuracies beside ours" in text
    assert "| mnist | uniform | 0.913" in text
    assert "sampler.lam" in text and "not given by the paper" in text
    # the verdicts come first, one line per claim of the paper, each backed by paired tests
    glance = text[text.index("## Verdicts at a glance"):text.index("## Figure 2b")]
    assert glance.count("\n| ") == 8 and "| loss and grad perform best at small budgets" in glance
    assert "holds" in glance and "## Claims in detail" in text and "## Where and how long" in text
    for name in ("fig2_accuracy", "fig2_differences", "fig4_accuracy", "fig3_selection_time"):
        assert (tmp_path / "report/figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / "report/figures" / f"{name}.pdf").read_bytes()[:4] == b"%PDF"
    for table in ("accuracy", "runtime_classification", "paper_k2000", "choices", "completeness"):
        for ext in ("md", "csv", "tex"):
            assert (tmp_path / "report/tables" / f"{table}.{ext}").stat().st_size > 0


def test_empty_results_dir_gives_a_clear_message(tmp_path):
    out = run_cli("report", f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip() == (f"coreset-bench: error: no result rows under {tmp_path}/rows; "
                                  "run `coreset-bench run ...` first")
    bad = run_cli("report", "colour=blue")
    assert bad.returncode == 2 and "unknown argument 'colour=blue'" in bad.stderr


def test_experiment_filter(tmp_path):
    rows = pd.concat([frame({("uniform", 250): [0.8] * 5}), frame({("uniform", 250): [0.5] * 5},
                                                                  dataset="digits")])
    write_rows(tmp_path, rows)
    report.build(tmp_path, experiment="fig2_mnist")
    acc = pd.read_csv(tmp_path / "report/tables/accuracy.csv")
    assert set(acc["dataset"]) == {"mnist"}
    with pytest.raises(report.ReportError, match="unknown experiment 'fig7'"):
        report.build(tmp_path, experiment="fig7")


def test_results_summary_gives_the_paired_difference_from_uniform_by_hand():
    from coreset_bench.report.summary import summarise

    rows = frame({("uniform", 100): [0.50, 0.60, 0.70, 0.80], ("loss", 100): [0.52, 0.61, 0.73, 0.80]})
    rows["time_selection"] = 0.1
    table = summarise(rows).set_index("sampler")
    diffs = np.array([0.02, 0.01, 0.03, 0.0])
    half = 3.182446305284263 * diffs.std(ddof=1) / 2          # t_{0.975, 3} * s / sqrt(4)
    loss = table.loc["loss"]
    assert loss["vs_uniform"] == pytest.approx(diffs.mean())
    assert loss["vs_uniform_low"] == pytest.approx(diffs.mean() - half)
    assert loss["vs_uniform_high"] == pytest.approx(diffs.mean() + half)
    assert math.isnan(table.loc["uniform", "vs_uniform"])      # uniform is the reference
    assert list(table.index) == ["uniform", "loss"]            # the paper's order


def test_ablation_rows_are_paired_with_uniform_and_the_unchanged_method(tmp_path):
    from coreset_bench.report import investigations

    main = frame({("uniform", 150): [2.0] * 6, ("kmedoids", 150): [1.0] * 6},
                 task="regression", metric="r2_error_val", dataset="gas_sensor_drift")
    main["r2_error_train"] = main["r2_error_val"]
    abl = frame({("uniform", 150): [2.0, 2.1, 2.2, 2.3, 2.4, 2.5],
                 ("kmedoids", 150): [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]},
                task="regression", metric="r2_error_val", dataset="gas_sensor_drift")
    abl["r2_error_train"] = abl["r2_error_val"] + 1.0
    write_rows(tmp_path / "ablations" / "abl_gas_mix10", abl)
    lines = investigations.section(tmp_path, main, lambda f, name: [tmp_path / f"{name}.md",
                                                                    tmp_path / f"{name}.csv"],
                                   lambda p: p.name)
    [line] = investigations.regression_ablation("abl_gas_mix10", abl, main).to_dict("records")
    assert line["median_val"] == pytest.approx(0.75) and line["uniform_val"] == pytest.approx(2.25)
    assert line["vs_uniform_val"].startswith("better (p=0.03")  # all 6 pairs better: 2/2^6
    assert line["unchanged_val"] == 1.0 and line["seeds"] == 6
    assert any("abl_gas_mix10" in text for text in lines)


def test_differences_from_uniform_are_paired_and_compared_with_the_paper():
    base = np.array([0.90, 0.91, 0.92, 0.905, 0.915])
    rows = frame({("uniform", 2000): list(base), ("loss", 2000): list(base + [0.007, 0.008, 0.0075, 0.0068, 0.0077])})
    [line] = paper.differences_k2000(rows).to_dict("records")
    assert line["dataset"] == "mnist" and line["sampler"] == "loss" and line["seeds"] == 5
    assert line["paper_minus_uniform"] == pytest.approx(0.9203 - 0.9130)
    assert line["ours_minus_uniform"] == pytest.approx(0.0074)
    assert line["paper_in_ci"] == "yes" and line["same_sign"] == "yes"


def test_badge_is_paired_with_every_figure4_method_and_kept_out_of_the_paper_claims():
    base = [0.80 + 0.002 * i for i in range(8)]
    cells = {("uniform", 500): base, ("loss", 500): [v + 0.01 for v in base],
             ("grad", 500): [v + 0.03 for v in base], ("kcenter", 500): [v - 0.05 for v in base],
             ("badge", 500): [v + 0.02 for v in base]}
    rows = pd.concat([frame(cells), frame({("badge", 500): [0.3, 0.31]}, dataset="cifar10")],
                     ignore_index=True)
    table, summary = paper.extra_baseline(rows, "badge")
    line = table[table["dataset"] == "mnist"].iloc[0]
    assert line["seeds"] == 8 and line["accuracy"] == pytest.approx(np.mean(base) + 0.02)
    assert line["loss"] == "+0.0100 win" and line["grad"] == "-0.0100 LOSS"
    assert line["uniform"] == "+0.0200 win" and line["margin"] == "—"   # no margin rows
    assert summary[0] == "- mnist (8 paired seeds): badge beats loss at k = 500; loses to grad at k = 500"
    assert summary[1] == "- cifar10: badge has too few paired seeds (needs >= 5)"
    verdict = paper.claim_alg1_beats_other_methods(rows)          # BADGE is not one of them
    assert "badge" not in verdict.table.columns
    assert not any("ran on" in line for line in summary)
    rows["device"] = np.where(rows["sampler"] == "badge", "cpu", "gpu:X")
    assert paper.extra_baseline(rows, "badge")[1][1] == (
        "- mnist: the badge rows ran on cpu, the other methods' on gpu:X: same seeds and "
        "warm-start points, but the warm-start models differ by floating-point rounding between "
        "devices")

"""The Theorem 5 check (issue 12, item 1): each estimator is unbiased on synthetic data with a
known total, for the scheme that draws it; the study runs from the CLI, is summarised by
`results` and the report, and refuses what it cannot do in one line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coreset_bench import store
from coreset_bench.protocols.theory import ESTIMATORS, eps_for, theorem5

from conftest import run_cli


def test_eps_matches_the_theorems_sample_size():
    for s in (10, 100, 1000, 30000):
        eps = eps_for(s)
        assert eps ** -2 * (2 + 2 * eps / 3) == pytest.approx(s)
        assert math.ceil(eps ** -2 * (2 + 2 * eps / 3) - 1e-9) == s


def test_every_estimator_of_the_total_loss_is_unbiased():
    """2,000 blob points, k'' = 40 queries (one clustering), a smooth loss: over 600 seeds the mean signed
    relative error of the i.i.d. (1/(s p)), without-replacement (Des Raj) and uniform (n/s)
    estimates is within 3 standard errors of 0 at every s, and the i.i.d. one stays inside
    Theorem 5's bound at least 1 - 1/e of the time (here l is smooth, lambda = auto)."""
    rng = np.random.default_rng(3)
    centers = rng.normal(0, 5, size=(8, 16))
    x = (centers[rng.integers(0, 8, 2000)] + rng.normal(size=(2000, 16))).astype(np.float32)
    loss = 0.5 + np.sin(x[:, 0]) ** 2 + 0.02 * x[:, 1] ** 2
    grid = [20, 200, 1500]
    errors = {e: [] for e in ESTIMATORS}
    within, memo = [], {}
    for seed in range(600):
        out, queried = theorem5(x, loss, n_clusters=40, s_grid=grid, seed=seed, budget=200,
                                cluster_rng=np.random.default_rng(7), memo=memo)
        assert len(np.unique(queried)) == 40
        for e in ESTIMATORS:
            errors[e].append(out[f"thm5.err_{e}"])
        within.append(np.abs(out["thm5.err_iid"]) <= np.asarray(out["thm5.bound"]))
    assert out["thm5.total_loss"] == pytest.approx(loss.sum())
    for e in ESTIMATORS:
        err = np.asarray(errors[e])
        mean, se = err.mean(0), err.std(0, ddof=1) / np.sqrt(len(err))
        assert (np.abs(mean) < 3 * se).all(), (e, mean, se)
    assert (np.mean(within, axis=0) >= 1 - 1 / math.e).all()
    # the sensitivity estimator is the more accurate here: its l~ tracks l closely
    assert np.abs(errors["iid"]).mean() < np.abs(errors["uniform"]).mean()


def test_the_coverage_check_fails_where_the_theorems_assumption_does():
    """The bound check above has teeth: with a loss that jumps (2% of the points 40 higher, at
    random) and lambda = 0, the Hoelder condition the theorem assumes fails for most points and
    the i.i.d. error leaves the bound more often than 1/e of the time at s = 200 and 1500; with
    lambda = auto on the same loss the condition holds again for over 90% of the points and the
    coverage is back above 1 - 1/e."""
    rng = np.random.default_rng(3)
    centers = rng.normal(0, 5, size=(8, 16))
    x = (centers[rng.integers(0, 8, 2000)] + rng.normal(size=(2000, 16))).astype(np.float32)
    loss = 0.5 + np.sin(x[:, 0]) ** 2 + 40.0 * (np.random.default_rng(1).random(2000) < 0.02)
    for lam, fails in ((0.0, True), ("auto", False)):
        within, memo = [], {}
        for seed in range(300):
            out, _ = theorem5(x, loss, n_clusters=40, s_grid=[200, 1500], seed=seed, budget=200,
                              lam=lam, cluster_rng=np.random.default_rng(7), memo=memo)
            within.append(np.abs(out["thm5.err_iid"]) <= np.asarray(out["thm5.bound"]))
        coverage = np.mean(within, axis=0)
        if fails:
            assert out["thm5.holder_violations"] > 0.5
            assert (coverage < 1 - 1 / math.e).all(), coverage
        else:
            assert out["thm5.holder_violations"] < 0.1
            assert (coverage >= 1 - 1 / math.e).all(), coverage


def test_the_study_runs_from_the_cli_and_is_summarised(tmp_path):
    out = run_cli("run", "-m", "experiment=thm5_mnist", "dataset=digits", "study.s=[50,200]",
                  "budget=100", "seed=0,1,2", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "runs ok=3 skipped=0 failed=0" in out.stderr
    frame = store.load(tmp_path)
    row = frame.iloc[0]
    assert row["study.name"] == "thm5" and row["sampler"] == "loss" and "accuracy" not in frame
    assert row["thm5.s"] == [50, 200] and row["thm5.n_queries"] == 20 and row["n_inferences"] == 20
    assert row["thm5.n_candidates"] == 1347 - 20 and row["thm5.lambda_holder"] > 0
    table = run_cli("results", str(tmp_path))
    assert table.returncode == 0 and "abs_err_wor" in table.stdout and "digits" in table.stdout
    again = run_cli("run", "-m", "experiment=thm5_mnist", "dataset=digits", "study.s=[50,200]",
                    "budget=100", "seed=0,1,2", f"results_dir={tmp_path}")
    assert "runs ok=0 skipped=3 failed=0" in again.stderr
    report = run_cli("report", f"results_dir={tmp_path}", f"out={tmp_path / 'rep'}")
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "rep" / "index.md").read_text()
    assert "## Theorem 5 on real embeddings" in text
    assert (tmp_path / "rep" / "figures" / "thm5_relative_error.png").is_file()


@pytest.mark.parametrize("args,message", [
    (["dataset=gas_sensor_drift"], "study=thm5 needs a classification dataset (a model and its "
     "per-example losses); dataset=gas_sensor_drift is a regression dataset"),
    (["dataset=digits", "sampler=kcenter"],
     "study=thm5 uses sampler=loss's parameters (cluster_frac, lam, kmeans); got sampler=kcenter"),
    (["dataset=digits", "study.s=[0,10]"],
     "study.s=[0, 10] must be a list of positive integers (sample sizes)"),
    (["dataset=digits", "study.s=[5000]"],
     "study.s=5000 exceeds the 1307 candidates left after the k''=20 centers"),
    (["dataset=digits", "study.name=thm6"], "study.name='thm6' is not valid; valid choices: thm5"),
])
def test_bad_study_input_gives_one_line(tmp_path, args, message):
    out = run_cli("run", "experiment=thm5_mnist", *args, "budget=100", f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip() == "coreset-bench: error: " + message
    assert not list((tmp_path / "rows").glob("*.json"))


def test_the_summary_names_the_sample_sizes_where_an_estimator_beats_uniform():
    import pandas as pd

    from coreset_bench.report import theory as report

    lines = []
    for seed in range(12):
        jitter = 1e-4 * (seed + 1)
        for s, wor in ((100, 0.01), (1000, 0.05)):   # wor beats uniform (0.03) at 100 only
            lines.append({"dataset": "mnist", "budget": 500, "seed": seed, "s": s,
                          "bound": 0.04, "iid": 0.03 + (-1) ** seed * 1e-3,   # a tie
                          "wor": wor + jitter, "uniform": 0.03})
    summary = "\n".join(report.summary(report.table(pd.DataFrame(lines))))
    assert ("- mnist, k = 500 (12 seeds): as run more accurate than uniform at s = 100, "
            "less accurate at s = 1000; as stated no different from uniform at any s; "
            "the i.i.d. error within the bound in 100%-100%") in summary


def test_the_theorem5_figure_is_a_grid_in_the_samplers_colours():
    """One row per dataset, one column per budget (not a strip of panels); Algorithm 1's
    estimators in loss's colour, uniform's in uniform's, as in every other figure."""
    import pandas as pd

    from coreset_bench.report import figures
    from coreset_bench.report import theory as report

    lines = [{"dataset": d, "budget": b, "seed": seed, "s": s, "bound": 0.1, "iid": 0.02,
              "wor": 0.01, "uniform": 0.03}
             for d in ("mnist", "fashion_mnist") for b in (500, 2000) for seed in range(3)
             for s in (100, 1000)]
    fig = report.figure(pd.DataFrame(lines))
    axes = [a for a in fig.get_axes() if a.get_visible()]
    assert len(axes) == 4
    rows = {round(a.get_position().y0, 2) for a in axes}
    cols = {round(a.get_position().x0, 2) for a in axes}
    assert len(rows) == 2 and len(cols) == 2
    colours = {line.get_label(): line.get_color() for line in axes[0].get_lines()}
    assert colours[report.LABELS["uniform"]] == figures.COLORS["uniform"]
    assert colours[report.LABELS["iid"]] == colours[report.LABELS["wor"]] == figures.COLORS["loss"]

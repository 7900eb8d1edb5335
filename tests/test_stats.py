"""coreset_bench.stats, the one home of the project's statistics: each rule of the paired test,
the t interval, the smallest reachable p, Holm's correction, and one rule at every call site."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from coreset_bench import stats
from coreset_bench.report import investigations, paper, summary, theory


# --- the rules -----------------------------------------------------------------------------

def test_the_rule_constants():
    assert stats.ALPHA == 0.05 and stats.MIN_PAIRS == 5
    assert paper.ALPHA is stats.ALPHA and paper.MIN_PAIRS is stats.MIN_PAIRS
    assert paper.Paired is stats.Paired


def test_four_pairs_have_no_p_value_five_have_one():
    a = np.array([0.52, 0.61, 0.73, 0.80, 0.66])
    b = np.array([0.50, 0.60, 0.70, 0.79, 0.61])
    four = stats.paired(a[:4], b[:4])
    assert four.n == 4 and math.isnan(four.p_value) and not four.tested
    assert four.mean_diff == pytest.approx(np.mean(a[:4] - b[:4]))
    assert not math.isnan(four.ci_low) and four.ci_low < four.mean_diff < four.ci_high  # kept
    five = stats.paired(a, b)
    assert five.n == 5 and five.tested
    assert five.p_value == pytest.approx(0.0625)      # all five of one sign: 2 / 2**5


def test_one_pair_has_a_mean_but_no_interval_and_no_pairs_nothing():
    one = stats.paired([0.6], [0.5])
    assert one.n == 1 and one.mean_diff == pytest.approx(0.1)
    assert math.isnan(one.ci_low) and math.isnan(one.ci_high) and math.isnan(one.p_value)
    none = stats.paired([], [])
    assert none.n == 0 and math.isnan(none.mean_diff) and math.isnan(none.p_value)


def test_pairs_with_a_nan_are_dropped():
    r = stats.paired([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0], [0.0, 0.0, 0.0, np.nan, 0.0, 0.0, 0.0])
    assert r.n == 5 and r.mean_a == pytest.approx(21 / 5) and r.p_value == pytest.approx(0.0625)


def test_misaligned_inputs_are_refused():
    with pytest.raises(ValueError, match="aligned"):
        stats.paired([1.0, 2.0], [1.0])


def test_all_zero_differences_give_p_one():
    a = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.4])
    assert stats.paired(a, a.copy()).p_value == 1.0
    assert stats.paired(a, a + 1e-12).p_value == 1.0           # np.allclose(diff, 0)
    assert math.isnan(stats.paired(a[:4], a[:4]).p_value)      # the minimum comes first
    r = stats.paired(a, a.copy())
    assert r.mean_diff == 0.0 and r.rank_biserial == 0.0


def test_a_known_wilcoxon_p_value_by_hand():
    # n = 6, no ties: W- = 6 (rank of -6); 14 of the 2**6 sign patterns give W <= 6, so the
    # two-sided exact p is 2 * 14 / 64
    diff = np.array([1.0, 2.0, 3.0, 4.0, 5.0, -6.0])
    r = stats.paired(diff, np.zeros(6))
    assert r.p_value == pytest.approx(28 / 64)
    assert r.p_value == pytest.approx(scipy_stats.wilcoxon(diff).pvalue)
    assert r.rank_biserial == pytest.approx((15 - 6) / 21)


def test_ties_use_scipys_exact_permutation_distribution():
    # |d| = 1, 1, 2, 3, 4, 5: mid-ranks 1.5, 1.5, 3, 4, 5, 6; W- = 4. Sign patterns with W- <= 4:
    # {}, {1.5}, {1.5'}, {1.5, 1.5'}, {3}, {4} = 6 of 64, two-sided 12 / 64
    diff = np.array([1.0, 1.0, 2.0, -3.0, 4.0, 5.0])
    r = stats.paired(diff, np.zeros(6))
    assert r.p_value == pytest.approx(12 / 64)
    assert r.p_value == pytest.approx(scipy_stats.wilcoxon(diff).pvalue)


def test_zero_differences_are_dropped_before_ranking():
    with_zero = stats.paired([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, -6.0], np.zeros(7))
    assert with_zero.n == 7 and with_zero.p_value == pytest.approx(28 / 64)   # as without it


def test_ci95_equals_a_hand_computation():
    low, high = stats.ci95(pd.Series([1.0, 2.0, 3.0, 4.0, None]))   # NaN dropped
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2                   # t_{0.975, 3} s / sqrt(4)
    assert low == pytest.approx(2.5 - half) and high == pytest.approx(2.5 + half)
    assert stats.ci95(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx((low, high))
    assert all(math.isnan(v) for v in stats.ci95([3.0]))
    r = stats.paired([2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0])
    assert (r.ci_low, r.ci_high) == pytest.approx((low, high))


def test_smallest_p():
    assert [stats.smallest_p(n) for n in (1, 2, 4, 5, 6)] == [1.0, 0.5, 0.125, 0.0625, 0.03125]
    for n in [*range(1, 11), 50, 51, 61, 100]:   # reached by n differences of one sign, no ties
        assert stats.smallest_p(n) == pytest.approx(scipy_stats.wilcoxon(np.arange(1.0, n + 1)).pvalue)
    assert stats.smallest_p(5) > stats.ALPHA > stats.smallest_p(6)


def test_holm_on_a_known_example():
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_is_monotone_capped_and_passes_nan_through():
    assert stats.holm([0.04, 0.045]) == pytest.approx([0.08, 0.08])     # not 0.045: monotone
    assert stats.holm([0.5, 0.6, 0.01]) == pytest.approx([1.0, 1.0, 0.03])
    out = stats.holm([0.01, np.nan, 0.04])                               # m = 2
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert stats.holm([]).shape == (0,)
    assert np.isnan(stats.holm([np.nan])).all()


def test_paired_by_seed_matches_by_seed_not_position():
    a = pd.DataFrame({"seed": [4, 3, 2, 1, 0, 9], "accuracy": [0.54, 0.53, 0.52, 0.51, 0.50, 0.0]})
    b = pd.DataFrame({"seed": [0, 1, 2, 3, 4, 7], "accuracy": [0.40, 0.41, 0.42, 0.43, 0.44, 1.0]})
    r = stats.paired_by_seed(a, b, "accuracy")
    assert r.n == 5 and r.mean_diff == pytest.approx(0.10) and r.p_value == pytest.approx(0.0625)


# --- one rule everywhere ------------------------------------------------------------------

DIFFS = [0.02, 0.01, 0.0, 0.02, -0.01, 0.03, 0.01, 0.04, 0.02]   # a zero and ties


def _pairs(n, zero=False):
    b = 0.5 + 0.01 * np.arange(n)
    a = b.copy() if zero else b + np.array(DIFFS[:n])
    return a, b


def _rows(n, zero=False):
    a, b = _pairs(n, zero)
    return pd.DataFrame(
        [{"dataset": "mnist", "model": "mlp", "budget": 500, "seed": i, "status": "ok",
          "sampler": s, "accuracy": v[i], "time_selection": 0.1, "n_inferences": 0,
          "sampler.rounds": 1}
         for s, v in (("loss", a), ("uniform", b)) for i in range(n)])


def _p_everywhere(n, zero=False) -> dict[str, float]:
    a, b = _pairs(n, zero)
    rows = _rows(n, zero)
    out = {"stats": stats.paired(a, b).p_value}
    table = summary.summarise(rows).set_index("sampler")
    out["summary"] = table.loc["loss", "p_vs_uniform"]
    r = paper.paired(rows, "accuracy", "loss", "uniform", dataset="mnist", budget=500)
    out["paper"] = math.nan if r is None else r.p_value
    th = pd.DataFrame([{"dataset": "mnist", "budget": 500, "seed": i, "s": 100, "bound": 1.0,
                        "iid": b[i], "wor": a[i], "uniform": b[i]} for i in range(n)])
    out["theory"] = theory.table(th)["p_wor_vs_uniform"].iloc[0]
    # investigations: Algorithm 3 with r = 2 (values a) against r = 1 (values b) by seed, and
    # against Algorithm 1 (loss, values b) through paper.paired
    alg3 = lambda rounds, v: pd.DataFrame(   # noqa: E731
        [{"dataset": "mnist", "budget": 500, "seed": i, "status": "ok", "sampler": "alg3",
          "sampler.rounds": rounds, "accuracy": v[i], "n_inferences": 10} for i in range(n)]
        + [{"dataset": "mnist", "budget": 500, "seed": i, "status": "ok", "sampler": "loss",
            "accuracy": b[i]} for i in range(n)])
    line = investigations.algorithm3({"r1": alg3(1, b), "r2": alg3(2, a)}).iloc[1]
    out["investigations_vs_r1"] = line["p_vs_r1"]
    out["investigations_vs_loss"] = line["p_vs_loss"]
    return out


@pytest.mark.parametrize("n", [2, 4, 5, 6, 9])
def test_every_call_site_gives_the_same_p_for_the_same_pairs(n):
    ps = _p_everywhere(n)
    if n < stats.MIN_PAIRS:
        assert all(math.isnan(p) for p in ps.values()), ps
    else:
        a, b = _pairs(n)
        expected = scipy_stats.wilcoxon(a - b).pvalue
        assert all(p == pytest.approx(expected, rel=1e-12) for p in ps.values()), ps


@pytest.mark.parametrize("n", [4, 6])
def test_every_call_site_gives_p_one_for_identical_pairs(n):
    ps = _p_everywhere(n, zero=True)
    assert all((math.isnan(p) if n < stats.MIN_PAIRS else p == 1.0) for p in ps.values()), ps


def test_results_prints_a_dash_for_p_below_five_pairs_and_keeps_the_interval(monkeypatch):
    rows = _rows(4)
    monkeypatch.setattr(summary.store, "load", lambda _: rows)
    text = summary.summary_table("unused")
    loss = summary.summarise(rows).set_index("sampler").loc["loss"]
    assert math.isnan(loss["p_vs_uniform"]) and not math.isnan(loss["vs_uniform_low"])
    [line] = [x for x in text.splitlines() if " loss " in x]
    assert line.rstrip().split()[-2] == "-"           # p_vs_uniform, before time_selection_s
    assert "needs >= 5 paired seeds" in text

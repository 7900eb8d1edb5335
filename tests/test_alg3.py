"""Algorithm 3 (issue 12, item 2): with r = 1 it is Algorithm 1 given the same clustering; with
r rounds it queries k''/r new points per round, retrains between rounds on everything labelled,
and keeps the budget; bad rounds give one line."""

from __future__ import annotations

import numpy as np
import pytest

from coreset_bench import store
from coreset_bench.samplers._sensitivity import sensitivity_sampling
from coreset_bench.samplers.alg3 import adaptive_sensitivity, kmeanspp_order

from conftest import run_cli


def _data(n=1500, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(6, d))
    x = (centers[rng.integers(0, 6, n)] + rng.normal(size=(n, d))).astype(np.float32)
    loss = 0.2 + np.abs(np.sin(x[:, 0])) + 0.05 * x[:, 1] ** 2
    return x, loss


def test_one_round_is_algorithm_1_given_the_same_clustering():
    x, loss = _data()
    order = kmeanspp_order(x, 30, np.random.default_rng(5))
    opts = dict(kmeans="fast", kmeans_n_init="auto", kmeans_max_iter=300, lloyd_iters=20,
                kmeans_trials=0)
    memo = {("kmeans", 30, *map(str, opts.values())): (order, {}, 0.0)}   # the same A
    for seed in range(5):
        a = adaptive_sensitivity(x, 200, n_clusters=30, rounds=1, oracle=lambda i: loss[i],
                                 retrain=None, rng=np.random.default_rng(seed), order=order)
        b = sensitivity_sampling(x, 200, n_clusters=30, oracle=lambda i: loss[i],
                                 rng=np.random.default_rng(seed), memo=memo)
        np.testing.assert_array_equal(a.indices, b.indices)


def test_rounds_query_the_prefix_and_retrain_on_everything_labelled():
    x, loss = _data()
    calls = []

    def retrain(labelled):
        calls.append(np.array(labelled))
        factor = len(calls) + 1.0
        return lambda idx: factor * loss[idx]        # a "retrained" model: other losses

    order = kmeanspp_order(x, 40, np.random.default_rng(1))
    sel = adaptive_sensitivity(x, 240, n_clusters=40, rounds=4, oracle=lambda i: loss[i],
                               retrain=retrain, rng=np.random.default_rng(2), order=order)
    assert len(np.unique(sel.indices)) == 240 and sel.n_inferences == 40
    np.testing.assert_array_equal(sel.indices[:40], order)          # the k'' labels: the prefix
    assert sel.info["queries_per_round"] == [10] * 4 and sel.info["draws_per_round"] == [50] * 4
    assert sel.info["forward_passes"] == 10 + 20 + 30 + 40          # prefixes re-evaluated
    assert len(calls) == 3                                           # between rounds only
    for r, labelled in enumerate(calls, start=1):                    # prefix + draws so far
        assert set(labelled) == set(order[:10 * r]) | set(sel.indices[40:40 + 50 * r])


def test_the_kmeanspp_order_spreads_over_the_clusters():
    x, _ = _data(seed=3)
    rng = np.random.default_rng(3)
    centers = rng.normal(0, 4, size=(6, 8))
    label = np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    order = kmeanspp_order(x, 12, np.random.default_rng(0))
    assert len(set(order)) == 12 and len(set(label[order])) == 6


@pytest.mark.parametrize("rounds,message", [
    ("0", "sampler.rounds=0 must be an integer between 1 and k''=20 (round(cluster_frac * "
          "budget): each round queries k''/r new points)"),
    ("21", "sampler.rounds=21 must be an integer between 1 and k''=20"),
])
def test_bad_rounds_give_one_line(tmp_path, rounds, message):
    out = run_cli("run", "sampler=alg3", f"sampler.rounds={rounds}", "budget=100",
                  f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("coreset-bench: error: " + message)
    assert not list((tmp_path / "rows").glob("*.json"))


def test_algorithm_3_runs_beside_algorithm_1_with_retraining(tmp_path):
    out = run_cli("run", "-m", "samplers=[loss,alg3]", "++sampler_params={alg3: {rounds: 3}}",
                  "budget=150", "seed=0,1", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    frame = store.load(tmp_path)
    alg3 = frame[frame["sampler"] == "alg3"]
    assert len(alg3) == 2 and (alg3["status"] == "ok").all()
    assert (alg3["n_inferences"] == 30).all() and (alg3["time_retrain"] > 0).all()
    assert (alg3["sampler.rounds"] == 3).all() and (alg3["n_selected"] == 120).all()
    bad = run_cli("run", "dataset=gas_sensor_drift", "sampler=alg3", f"results_dir={tmp_path / 'r'}")
    assert bad.returncode == 2 and "sampler 'alg3' does not do regression" in bad.stderr


def test_the_report_pairs_each_r_with_r1_and_with_algorithm_1_by_seed():
    import pandas as pd

    from coreset_bench.report.investigations import _alg3_summary, algorithm3

    def rows(rounds, alg3_acc, loss_acc):
        return pd.DataFrame(
            [{"dataset": "mnist", "budget": 500, "seed": i, "status": "ok", "sampler": "alg3",
              "sampler.rounds": rounds, "accuracy": alg3_acc + 0.001 * i, "n_inferences": 100,
              "sampler_info.forward_passes": 100 * rounds, "time_selection": 1.0}
             for i in range(8)]
            + [{"dataset": "mnist", "budget": 500, "seed": i, "status": "ok", "sampler": s,
                "accuracy": acc + 0.001 * i}
               for s, acc in (("loss", loss_acc), ("uniform", 0.80)) for i in range(8)])

    r2 = rows(2, 0.86, 0.85)
    r2.loc[(r2["sampler"] == "alg3") & (r2["seed"] == 7), "status"] = "failed"  # not paired
    table = algorithm3({"alg3_mnist_r1": rows(1, 0.85, 0.85), "alg3_mnist_r2": r2})
    one, two = table.to_dict("records")
    assert (one["rounds"], two["rounds"]) == (1, 2) and two["seeds"] == 7
    assert one["vs_loss"] == pytest.approx(0.0) and one["p_vs_loss"] == 1.0
    assert np.isnan(one["vs_r1"])                                 # r = 1 is the reference
    assert two["vs_r1"] == pytest.approx(0.01) and two["p_vs_r1"] < 0.05
    assert two["vs_loss"] == pytest.approx(0.01) and two["forward_passes"] == 200
    summary = "\n".join(_alg3_summary(table))
    assert "r = 2 better than r = 1 (+0.0100" in summary
    assert "r = 1 no different from Algorithm 1 (+0.0000, Holm p=1)" in summary

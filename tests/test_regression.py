"""The regression track: leverage scores, k-medoids sampling, weighted least squares, the gas
loader on the mirror, the medoid cache, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coreset_bench.job import execute as job
from coreset_bench import data, samplers, store
from coreset_bench.config import CONF_DIR
from coreset_bench.data import gas_sensor_drift as gas
from coreset_bench.errors import ConfigError, DataError
from coreset_bench.protocols import regression as reg
from coreset_bench.samplers import kmedoids as km
from coreset_bench.samplers.kmedoids_alg2 import alg2_distribution
from coreset_bench.samplers.leverage import leverage_scores

from conftest import run_cli

LOCAL_BATCHES = "dataset.batches=[1,2,3,4,5,6,8,9]"
REGRESSION = samplers.names("regression")


def config(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def test_regression_samplers_are_registered():
    assert REGRESSION == ["kmedoids", "kmedoids_alg2", "leverage", "uniform"]


@pytest.mark.parametrize("shape,rank", [((30, 5), 5), ((12, 12), 12), ((25, 6), 3)])
def test_leverage_scores_match_the_hat_matrix_and_sum_to_the_rank(shape, rank):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(shape[0], rank)) @ rng.normal(size=(rank, shape[1]))  # rank-deficient if rank < cols
    hat = a @ np.linalg.pinv(a.T @ a) @ a.T
    scores = leverage_scores(a)
    np.testing.assert_allclose(scores, np.diag(hat), atol=1e-10)
    assert scores.sum() == pytest.approx(rank)


def test_fit_medoids_distances_are_to_the_nearest_medoid():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 4))
    prepared = km.fit_medoids(a, 20, rng=np.random.default_rng(0))
    medoids = prepared["medoids"]
    assert len(np.unique(medoids)) == 20
    brute = np.linalg.norm(a[:, None, :] - a[medoids][None, :, :], axis=2)
    np.testing.assert_allclose(prepared["dist"], brute.min(axis=1), atol=1e-10)
    assert np.all(prepared["dist"][medoids] == 0)


def test_kmedoids_probabilities_are_the_distances_normalised():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 3))
    prepared = km.prepare(a, rng=np.random.default_rng(0), cluster_frac=0.1)
    dist = samplers.get("kmedoids").regression.distribution(prepared, a, query=None)
    np.testing.assert_allclose(dist.p, prepared["dist"] / prepared["dist"].sum())
    assert np.all(dist.p[prepared["medoids"]] == 0)  # a medoid is never drawn (zeta -> inf)
    assert dist.n_inferences == 0                    # no label used


def test_algorithm2_queries_only_the_medoids_and_mixes_both_terms():
    rng = np.random.default_rng(3)
    a = np.c_[rng.normal(size=(400, 3)), np.ones(400)]
    b = a @ np.array([1.0, -2.0, 0.5, 3.0]) + rng.normal(size=400)
    prepared = km.prepare(a, rng=np.random.default_rng(0), cluster_frac=0.05)
    asked = []

    def query(idx):
        asked.append(np.asarray(idx).copy())
        return b[idx]

    out = alg2_distribution(prepared, a, query=query, zeta=2.0)
    np.testing.assert_array_equal(np.concatenate(asked), prepared["medoids"])
    assert out.n_inferences == 20 and out.info["zeta"] == 2.0
    # p is proportional to zeta * dist + (<a^_i, x0> - b^_i)^2
    medoids, labels = prepared["medoids"], prepared["labels"]
    sizes = np.bincount(labels, minlength=len(medoids)).astype(float)
    x0 = np.linalg.lstsq(a[medoids] * np.sqrt(sizes)[:, None], b[medoids] * np.sqrt(sizes),
                         rcond=None)[0]
    expected = 2.0 * prepared["dist"] + ((a[medoids] @ x0 - b[medoids]) ** 2)[labels]
    np.testing.assert_allclose(out.p, expected / expected.sum())
    with pytest.raises(ConfigError, match="zeta"):
        alg2_distribution(prepared, a, query=query, zeta=-1)


@pytest.mark.parametrize("mix", [0.0, 0.3])
@pytest.mark.parametrize("name", REGRESSION)
def test_importance_weighted_objective_is_unbiased_over_rows_it_can_draw(name, mix):
    """E[sum_S w_i (<a_i,x> - b_i)^2] = sum over rows with p'_i > 0 of (<a_i,x> - b_i)^2, any x
    (and likewise for the Gram matrix), for the rows and weights the protocol itself draws
    (``regression.draw``; with a uniform mixture the weights must follow the mixed p'). That is
    ||Ax - b||^2 whenever every p'_i > 0; the paper's k-medoids variant gives its medoids p = 0,
    so without a mixture it misses exactly their share."""
    ds = data.load("synthetic_regression", n_rows=600, n_features=4)
    a, b = ds.x_pool, ds.y_pool
    method = samplers.get(name, "regression").regression
    prepared = method.prepare(a, rng=np.random.default_rng(0)) if method.prepare else {}
    p = method.distribution(prepared, a, query=lambda i: b[i]).p
    x = np.random.default_rng(9).normal(size=a.shape[1])
    residual2 = (a @ x - b) ** 2
    rng = np.random.default_rng(5)
    s, draws = 40, 4000
    estimates, grams = [], np.zeros((a.shape[1], a.shape[1]))
    for _ in range(draws):
        idx, w, drawn_from = reg.draw(p, s, rng, uniform_mix=mix)
        estimates.append(np.sum(w * residual2[idx]))
        grams += (a[idx] * w[:, None]).T @ a[idx]
    reachable = drawn_from > 0
    estimates = np.asarray(estimates)
    stderr = estimates.std() / np.sqrt(draws)
    assert abs(estimates.mean() - residual2[reachable].sum()) < 4 * stderr
    gram = a[reachable].T @ a[reachable]
    np.testing.assert_allclose(grams / draws, gram, rtol=0.1, atol=0.05 * np.abs(gram).max())
    if name == "kmedoids" and mix == 0:
        assert (~reachable).sum() == len(prepared["medoids"])  # exactly the medoids
    else:
        assert reachable.all()


def test_weighted_lstsq_solves_the_weighted_problem_and_reports_rank():
    rng = np.random.default_rng(0)
    a, b, w = rng.normal(size=(50, 4)), rng.normal(size=50), rng.uniform(0.5, 2, size=50)
    x, rank = reg.weighted_lstsq(a, b, w)
    w_matrix = np.diag(w)
    np.testing.assert_allclose(x, np.linalg.solve(a.T @ w_matrix @ a, a.T @ w_matrix @ b))
    assert rank == 4
    _, rank_small = reg.weighted_lstsq(a[:2], b[:2], w[:2])
    assert rank_small == 2


def test_gas_loader_on_the_mirror(mirror):
    rows = {b: len(gas.parse_batch(mirror / "gas_sensor_drift" / f"batch{b}.dat")[1])
            for b in (1, 2, 3, 4, 5, 6, 8, 9)}
    assert rows == {b: gas.ROWS[b] for b in rows}  # SOURCES.md row counts
    ds = data.load("gas_sensor_drift", batches=[1, 2, 3, 4, 5, 6, 8, 9])
    assert ds.task == "regression"
    assert ds.x_pool.shape[1] == 129 and np.all(ds.x_pool[:, -1] == 1.0)  # 128 + intercept
    assert ds.n_pool + len(ds.y_eval) == 6697 and len(ds.y_eval) == round(0.2 * 6697)
    y = np.r_[ds.y_pool, ds.y_eval]
    assert y.min() >= 5 and y.max() <= 1000
    assert ds.choices["batches"] == [1, 2, 3, 4, 5, 6, 8, 9]
    assert ds.choices["preprocess_method"] == "clip_standardize"
    # standardized with training statistics only: training columns have mean 0
    np.testing.assert_allclose(ds.x_pool[:, :-1].mean(0), 0, atol=1e-9)


def test_gas_full_data_reference_fit(mirror):
    ds = data.load("gas_sensor_drift", batches=[1, 2, 3, 4, 5, 6, 8, 9])
    ref = reg.reference_fit(ds)
    assert 0.05 < ref["ref_r2_error_train"] < 0.1 and 0.1 < ref["ref_r2_error_val"] < 0.25


@pytest.mark.parametrize("batches,match", [([1, 11], "1..10"), ([], "empty"), ("x", "1..10")])
def test_bad_batches(batches, match):
    with pytest.raises(ConfigError, match=match):
        data.load("gas_sensor_drift", batches=batches)


def test_missing_batch_names_the_file_and_the_batches_present(mirror):
    with pytest.raises(DataError) as err:
        data.load("gas_sensor_drift", batches=[1, 7])
    msg = str(err.value)
    assert "batch7.dat" in msg and gas._SHA256[7] in msg
    assert "dataset.batches=[1,2,3,4,5,6,8,9]" in msg


def test_nan_is_rejected_with_row_and_column(tmp_path):
    good = "1;10.0 " + " ".join(f"{j}:1.0" for j in range(1, 129))
    bad = "1;10.0 " + " ".join(f"{j}:{'nan' if j == 5 else '1.0'}" for j in range(1, 129))
    path = tmp_path / "batch1.dat"
    path.write_text(f"{good}\n{good}\n{bad}\n")
    with pytest.raises(DataError, match="batch1.dat line 3: feature 5 is nan"):
        gas.parse_batch(path)


def test_gas_preprocess_options():
    with pytest.raises(ConfigError, match="valid choices: clip_standardize, standardize, signed_log1p"):
        gas.preprocess(np.ones((3, 2)), np.ones((2, 2)), "robust")


@pytest.mark.parametrize("name", REGRESSION)
def test_one_real_gas_run_per_sampler(mirror, tmp_path, name):
    [row] = job.execute(config("dataset=gas_sensor_drift", LOCAL_BATCHES, f"sampler={name}",
                                "budget=300", f"results_dir={tmp_path}"))
    assert row["status"] == "ok" and row["task"] == "regression" and row["model"] == "linear"
    assert 0 < row["r2_error_train"] < 10 and 0 < row["r2_error_val"] < 100
    assert row["dataset.batches"] == [1, 2, 3, 4, 5, 6, 8, 9]
    assert "train.epochs" not in row  # the classification recipe is not part of regression rows
    assert row["n_inferences"] == (536 if name == "kmedoids_alg2" else 0)  # 10% of 5358 medoids


def test_medoid_cache_is_hit_for_the_second_size_of_a_seed(tmp_path, monkeypatch):
    calls = []
    original = km.fit_medoids

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(km, "fit_medoids", counting)
    rows = [job.execute(config("dataset=synthetic_regression", "sampler=kmedoids", f"budget={s}",
                                  f"seed={seed}", f"results_dir={tmp_path}"))[0]
            for s, seed in ((100, 0), (200, 0), (100, 1))]
    assert len(calls) == 2                                   # seed 0 once, seed 1 once
    assert [r["prepared_cache_hit"] for r in rows] == [False, True, False]
    assert rows[1]["time_cluster"] == rows[0]["time_cluster"]  # the true cost, reported again
    [alg2] = job.execute(config("dataset=synthetic_regression", "sampler=kmedoids_alg2",
                                 "budget=300", f"results_dir={tmp_path}"))
    assert alg2["prepared_cache_hit"] and len(calls) == 2     # same medoids as kmedoids


def test_sizes_below_the_column_count_give_the_min_norm_solution(tmp_path):
    [row] = job.execute(config("dataset=synthetic_regression", "sampler=uniform", "budget=5",
                                f"results_dir={tmp_path}"))
    assert row["status"] == "ok" and row["min_norm_solution"] is True and row["fit_rank"] <= 5


def test_same_seed_same_rows(tmp_path):
    [a] = job.execute(config("dataset=synthetic_regression", "sampler=leverage", "budget=50",
                                f"results_dir={tmp_path / 'a'}"))
    [b] = job.execute(config("dataset=synthetic_regression", "sampler=leverage", "budget=50",
                                f"results_dir={tmp_path / 'b'}"))
    assert a["selection_sha1"] == b["selection_sha1"] and a["r2_error_val"] == b["r2_error_val"]


@pytest.mark.parametrize("overrides,match", [
    (("dataset=synthetic_regression", "sampler=kcenter"),
     "sampler 'kcenter' does not do regression; valid samplers for a regression dataset: "
     "kmedoids, kmedoids_alg2, leverage, uniform"),
    (("sampler=leverage",),
     "sampler 'leverage' does not do classification; valid samplers for a classification "
     "dataset: alg3, badge, cluster_margin, entropy, grad, kcenter, least_confidence, loss, "
     "margin, probcover, typiclust, uniform"),
    (("dataset=synthetic_regression", "budget=5000"), "budget=5000 exceeds the 2400 training rows"),
    (("dataset=synthetic_regression", "budget=0"), "budget=0 must be a positive integer"),
    (("dataset=synthetic_regression", "sampler=kmedoids_alg2", "sampler.zeta=-1"), "zeta=-1"),
    (("dataset=synthetic_regression", "sampler=kmedoids", "sampler.init=kmeans"),
     "init='kmeans' is not valid; valid choices: random, first, build"),
    (("dataset=synthetic_regression", "model=mlp"), "model 'mlp' is not a regression model"),
])
def test_regression_bad_input(tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match):
        job.execute(config(*overrides, f"results_dir={tmp_path}"))
    assert store.load(tmp_path).empty


def test_cli_refuses_a_classification_sampler_on_gas(tmp_path):
    out = run_cli("run", "dataset=synthetic_regression", "sampler=margin", f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip().endswith("valid samplers for a regression dataset: kmedoids, "
                                       "kmedoids_alg2, leverage, uniform")


def test_draw_ablation_knobs_mix_in_uniform_and_drop_the_weights(tmp_path):
    """uniform_mix leaves no row at probability 0 (the medoids); weighting=none gives equal
    weights; the default run keeps its identity (the knobs are in no sampler config)."""
    base = ("dataset=synthetic_regression", "sampler=kmedoids", "budget=300")
    [plain] = job.execute(config(*base, f"results_dir={tmp_path / 'a'}"))
    [mixed] = job.execute(config(*base, "+sampler.uniform_mix=0.5", f"results_dir={tmp_path / 'b'}"))
    [flat] = job.execute(config(*base, "+sampler.weighting=none", f"results_dir={tmp_path / 'c'}"))
    assert plain["n_zero_probability"] > 0 and mixed["n_zero_probability"] == 0
    assert "sampler.uniform_mix" not in plain and mixed["sampler.uniform_mix"] == 0.5
    assert flat["max_weight_share"] == pytest.approx(1 / 300)
    assert plain["max_weight_share"] > 1 / 300
    assert len({plain["run_key"], mixed["run_key"], flat["run_key"]}) == 3
    # same draws as before the knobs existed: only the knob changes the run
    assert flat["selection_sha1"] == plain["selection_sha1"]


@pytest.mark.parametrize("knob,match", [
    ("+sampler.uniform_mix=1.5", r"sampler.uniform_mix=1.5 must be a number in \[0, 1\]"),
    ("+sampler.weighting=sqrt", "sampler.weighting='sqrt' is not valid; valid choices: importance, none"),
])
def test_draw_ablation_bad_values(tmp_path, knob, match):
    with pytest.raises(ConfigError, match=match):
        job.execute(config("dataset=synthetic_regression", "sampler=leverage", "budget=50", knob,
                              f"results_dir={tmp_path}"))
    assert store.load(tmp_path).empty


def test_a_damaged_cache_entry_is_moved_aside_and_recomputed(tmp_path, caplog):
    cache = reg.PreparedCache(tmp_path / "cache" / "prepared")
    state, _, hit = cache.get_or_compute("k", lambda: {"medoids": np.arange(3)})
    assert not hit
    entry = tmp_path / "cache" / "prepared" / "k.npz"
    entry.write_bytes(entry.read_bytes()[:40])                    # truncated (e.g. a full disk)
    fresh = reg.PreparedCache(tmp_path / "cache" / "prepared")    # another process: no memory
    state, _, hit = fresh.get_or_compute("k", lambda: {"medoids": np.arange(3)})
    assert not hit and state["medoids"].tolist() == [0, 1, 2]
    [moved] = (tmp_path / "quarantine" / "prepared").iterdir()
    assert moved.name.startswith("k.npz.") and len(moved.read_bytes()) == 40
    assert any("damaged cache entry" in r.getMessage() for r in caplog.records)
    assert reg.PreparedCache(tmp_path / "cache" / "prepared").get_or_compute(
        "k", lambda: {"medoids": np.arange(9)})[2]                # the recomputed entry is used


def test_the_mixed_draw_is_unbiased_for_the_total_over_every_row():
    """Known total: sum_S w f estimates sum_i f_i. Without mixing, the rows at probability 0
    (k-medoids' medoids) are never drawn and their share is missing; any uniform_mix > 0
    weights by the distribution actually drawn from and recovers the whole total."""
    rng = np.random.default_rng(0)
    n, s, reps = 200, 50, 4000
    f = rng.gamma(2.0, 1.0, n)
    p = rng.random(n)
    p[:20] = 0.0                                          # 20 rows the sampler can never draw
    p /= p.sum()
    for mix, expected in ((0.0, f[20:].sum()), (0.1, f.sum()), (0.5, f.sum())):
        est = np.empty(reps)
        for r in range(reps):
            idx, w, _ = reg.draw(p, s, rng, uniform_mix=mix)
            est[r] = np.sum(w * f[idx])
        se = est.std(ddof=1) / np.sqrt(reps)
        assert abs(est.mean() - expected) < 4 * se, (mix, est.mean(), expected, se)
    assert abs(f.sum() - f[20:].sum()) > 20 * se               # the two totals are far apart
    idx, w, _ = reg.draw(p, s, rng, uniform_mix=0.1, weighting="none")
    assert np.all(w == 1.0)


def test_a_cell_whose_row_was_quarantined_takes_another_variant(tmp_path):
    base = ("dataset=synthetic_regression", "sampler=kmedoids", "budget=100", f"results_dir={tmp_path}")
    [first] = job.execute(config(*base))
    with pytest.raises(ConfigError, match="made with other choices"):   # the cell is taken
        job.execute(config(*base, "+sampler.uniform_mix=0.5"))
    path = store.row_path(tmp_path, first["run_key"])
    path.write_text("{")                                              # damaged ...
    assert store.read_row(tmp_path, first["run_key"]) is None        # ... and quarantined
    [variant] = job.execute(config(*base, "+sampler.uniform_mix=0.5"))
    assert variant["status"] == "ok" and variant["run_key"] != first["run_key"]

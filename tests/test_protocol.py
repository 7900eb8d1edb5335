"""The classification protocol on real data: warm start, selection, training, rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coreset_bench.job import execute as job
from coreset_bench import data, samplers, store
from coreset_bench.config import CONF_DIR
from coreset_bench.config import train_recipe
from coreset_bench.errors import ConfigError
from coreset_bench.models import engines
from coreset_bench.protocols import classification as clf

from test_samplers import sampler_params

RECIPE = train_recipe()   # conf/config.yaml, the one home of the recipe


def engine_for(ds, model_cfg, train_cfg):
    """The engine a job of ``model_cfg`` gets (the one activation sequence, ``clf.start``)."""
    engine, backend = engines.resolve("auto", "auto", model_cfg["name"])
    cfg = {"engine": engine, "backend": backend, "model": model_cfg, "train": train_cfg,
           "budget": 100, "warm_start_frac": 0.2}
    return clf.start(ds, cfg)[0]
CLASSIFICATION = samplers.names("classification")


def config(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(scope="module")
def digits_group():
    ds = data.load("digits")
    engine = engine_for(ds, {"name": "mlp", "hidden_units": 128}, RECIPE)
    return clf.prepare_group(ds, budget=100, seed=0, engine=engine, warm_start_frac=0.2,
                             needs={"embeddings", "probs"})


def test_group_is_a_uniform_warm_start_of_round_02k(digits_group):
    g = digits_group
    assert len(g.warm) == 20 and len(np.unique(g.warm)) == 20
    assert len(g.candidates) == g.dataset.n_pool - 20
    assert not set(g.warm) & set(g.candidates)
    assert g.embeddings.shape == (g.dataset.n_pool, 128)
    assert g.probs.shape == (len(g.candidates), 10)
    np.testing.assert_allclose(g.probs.sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_selection_invariants_on_a_real_group(digits_group, name):
    g = digits_group
    spec = samplers.get(name)
    a = clf.select(g, spec, sampler_params(name))
    b = clf.select(g, spec, sampler_params(name))
    assert len(a.indices) == 80 and len(np.unique(a.indices)) == 80      # k - k'
    assert a.indices.min() >= 0 and a.indices.max() < g.dataset.n_pool   # pool indices
    assert not set(a.indices) & set(g.warm)                              # disjoint from warm start
    np.testing.assert_array_equal(a.indices, b.indices)                  # same seed, same picks


def test_loss_oracle_queries_only_the_centers(digits_group, monkeypatch):
    queried = []
    original = digits_group.engine.per_example_loss

    def counting(model, x, y, **kw):
        queried.append(len(x))
        return original(model, x, y, **kw)

    monkeypatch.setattr(digits_group.engine, "per_example_loss", counting)
    sel = clf.select(digits_group, samplers.get("loss"), sampler_params("loss"))
    assert queried == [20] and sel.n_inferences == 20  # k'' = round(0.2 * 100)


def test_the_warm_start_is_shared_across_samplers_and_differs_across_seeds():
    ds = data.load("digits")
    engine = engine_for(ds, {"name": "mlp"}, RECIPE)
    warm = [clf.prepare_group(ds, budget=50, seed=s, engine=engine, warm_start_frac=0.2,
                              needs=set()).warm for s in (0, 0, 1)]
    np.testing.assert_array_equal(warm[0], warm[1])
    assert not np.array_equal(warm[0], warm[2])


@pytest.mark.parametrize("budget,match", [(5000, "exceeds the pool"), (2, "k'=round"),
                                          (0, "positive integer")])
def test_impossible_budgets(budget, match):
    with pytest.raises(ConfigError, match=match):
        clf.warm_start_size(budget, 1347, 0.2)


def test_same_seed_twice_gives_identical_indices_and_metrics(tmp_path):
    rows = []
    for i in range(2):
        cfg = config("sampler=grad", "budget=150", "seed=4", f"results_dir={tmp_path / str(i)}")
        rows.append(job.execute(cfg)[0])
    a, b = rows
    assert a["status"] == b["status"] == "ok"
    assert a["run_key"] == b["run_key"]
    assert a["selection_sha1"] == b["selection_sha1"]
    assert a["accuracy"] == b["accuracy"] and a["loss"] == b["loss"]
    np.testing.assert_array_equal(store.read_selection(tmp_path / "0", a["run_key"]),
                                  store.read_selection(tmp_path / "1", b["run_key"]))
    [other] = job.execute(config("sampler=grad", "budget=150", "seed=5",
                                    f"results_dir={tmp_path / '0'}"))
    assert other["selection_sha1"] != a["selection_sha1"]


def test_row_contents_and_skip_on_rerun(tmp_path):
    cfg = config("sampler=loss", "budget=100", f"results_dir={tmp_path}")
    [row] = job.execute(cfg)
    for column in ["dataset", "model", "sampler", "budget", "seed", "accuracy", "loss", "status",
                   "run_key", "n_inferences", "time_warm_train", "time_embed", "time_cluster",
                   "time_query", "time_score", "time_sample", "time_final_train", "time_eval",
                   "sampler.lam", "sampler_info.lambda", "dataset.eval_split", "train.epochs"]:
        assert column in row, column
    assert row["model"] == "mlp" and row["n_inferences"] == 20 and 0 < row["accuracy"] <= 1
    assert row["time_cluster"] > 0 and row["time_query"] > 0
    assert job.execute(cfg) == [None]                       # ok row exists: skipped
    [forced] = job.execute({**cfg, "force": True})
    assert forced is not None and forced["run_key"] == row["run_key"]
    assert len(store.load(tmp_path)) == 1                    # replaced, not duplicated


def test_a_failed_run_is_recorded_as_failed_and_retried(tmp_path, monkeypatch):
    cfg = config("budget=60", f"results_dir={tmp_path}")

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure in final training")

    monkeypatch.setattr(clf, "train_and_evaluate", boom)
    [row] = job.execute(cfg)
    assert row["status"] == "failed" and "simulated failure" in row["error"]
    assert "Traceback" in row["traceback"]
    stored = json.loads(store.row_path(tmp_path, row["run_key"]).read_text())
    assert stored["status"] == "failed" and "accuracy" not in stored
    monkeypatch.undo()
    [retried] = job.execute(cfg)                             # a failed row is not "done"
    assert retried["status"] == "ok"
    frame = store.load(tmp_path)
    assert frame["status"].tolist() == ["ok"]


def test_classification_sampler_on_unknown_task_and_bad_params(tmp_path):
    with pytest.raises(ConfigError, match="unknown parameter"):
        job.execute({**config("sampler=loss", f"results_dir={tmp_path}"),
                        "sampler": {"name": "loss", "lamda": 1}})
    assert store.load(tmp_path).empty


@pytest.mark.parametrize("override,match", [
    ("train.optimizer=sgd", "train.optimizer='sgd' is not valid; valid choices: adam"),
    ("train.epochs=0", "train.epochs=0 must be a positive integer"),
    ("train.learning_rate=-1", "train.learning_rate=-1 must be a positive number"),
    ("+model.hidden_units=0", "model mlp:.*units"),
    ("+model.depth=3", "model mlp:.*depth"),
    ("seed=-1", "seed=-1 must be a non-negative integer"),
])
def test_bad_recipe_and_model_fail_before_training_and_write_nothing(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        job.execute(config(override, f"results_dir={tmp_path}"))
    assert store.load(tmp_path).empty


def test_weighted_training_trains_on_the_importance_weights_under_its_own_run_key(tmp_path, monkeypatch):
    """train.weighted=true: same selection as the unweighted run, trained with the sampler's
    weights (warm start 1, normalised to mean 1), keyed apart by how the weights are computed."""
    specs = []
    real = clf.final_spec
    monkeypatch.setattr(clf, "final_spec", lambda *a, **k: specs.append(real(*a, **k)) or specs[-1])
    [plain] = job.execute(config("sampler=loss", "budget=100", f"results_dir={tmp_path / 'a'}"))
    [weighted] = job.execute(config("sampler=loss", "budget=100", "train.weighted=true",
                                    f"results_dir={tmp_path / 'b'}"))
    assert plain["status"] == weighted["status"] == "ok" and weighted["train.weighted"] is True
    assert weighted["run_key"] != plain["run_key"]
    assert weighted["train.weight_scheme"] == plain["sampler_info.draw_scheme"]
    assert "train.weight_scheme" not in plain
    assert weighted["selection_sha1"] == plain["selection_sha1"]
    unweighted_spec, weighted_spec = specs
    assert unweighted_spec.weights is None
    np.testing.assert_array_equal(weighted_spec.rows, unweighted_spec.rows)
    w = weighted_spec.weights
    assert np.isclose(w.mean(), 1.0) and w.std() > 0.05 and np.all(w > 0)
    assert weighted["loss"] != plain["loss"]     # the weights reached the training


def test_mnist_run_end_to_end(mirror, tmp_path):
    [row] = job.execute(config("dataset=mnist", "sampler=loss", "budget=300", "seed=0",
                                f"results_dir={tmp_path}"))
    assert row["status"] == "ok"
    assert row["n_pool"] == 60000 and row["n_eval"] == 10000 and row["k_warm"] == 60
    assert row["n_inferences"] == 60
    assert row["accuracy"] > 0.6  # 300 labelled MNIST digits; about 0.8 expected
    frame = store.load(tmp_path)
    assert len(frame) == 1 and frame.loc[0, "dataset"] == "mnist"


def test_cifar10_cnn_trains_end_to_end_in_ci(mirror, tmp_path):
    """The CIFAR-10 path at CI size: the real files, the default network, a small hold-out."""
    [row] = job.execute(config("dataset=cifar10", "dataset.eval_split=train_holdout",
                               "dataset.holdout_size=1000", "sampler=uniform", "budget=60",
                               "train.epochs=2", f"results_dir={tmp_path}"))
    assert row["status"] == "ok" and row["model"] == "cnn_distil", row.get("error")
    assert row["n_pool"] == 49000 and row["n_eval"] == 1000 and row["k_warm"] == 12
    assert 0.05 < row["accuracy"] < 0.5 and np.isfinite(row["loss"])


@pytest.mark.slow
def test_cifar10_cnn_run_end_to_end(mirror, tmp_path):
    """CIFAR-10 with its default CNN (DISTIL's) on the train-holdout split (the mirror's test set is partial)."""
    [row] = job.execute(config("dataset=cifar10", "dataset.eval_split=train_holdout",
                                  "sampler=loss", "budget=500", f"results_dir={tmp_path}"))
    assert row["status"] == "ok" and row["model"] == "cnn_distil"
    assert row["n_pool"] == 40000 and row["n_eval"] == 10000
    assert row["dataset.eval_split"] == "train_holdout"
    assert 0.15 < row["accuracy"] < 0.6  # 500 labelled images, 10 epochs; chance is 0.1

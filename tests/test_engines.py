"""Training engines: the vmap engine runs the Keras recipe; choices are validated and recorded."""

from __future__ import annotations

import numpy as np
import pytest

from coreset_bench.job import execute as job
from coreset_bench import data
from coreset_bench.config import train_recipe
from coreset_bench.errors import ConfigError
from coreset_bench.models import backend, engines, vmap

from test_protocol import config

RECIPE = train_recipe()   # conf/config.yaml, the one home of the recipe


def test_batch_plan_is_one_permutation_per_epoch_with_a_partial_last_batch():
    idx, w, count = vmap.batch_plan(70, 32, 3, np.random.default_rng(0))
    assert idx.shape == (9, 32) and count.tolist() == [32, 32, 6] * 3
    for e in range(3):
        seen = np.concatenate([idx[3 * e + b, :int(count[3 * e + b])] for b in range(3)])
        assert sorted(seen) == list(range(70))                   # every point once per epoch
        assert w[3 * e + 2, 6:].sum() == 0                       # padding weighs nothing
    weighted = vmap.batch_plan(70, 32, 1, np.random.default_rng(0), np.arange(70) + 1.0)[1]
    assert sorted(weighted[weighted > 0]) == list(range(1, 71))


def test_vmap_steps_equal_keras_fit_steps_from_the_same_weights():
    """Two epochs of one full batch: both engines see the same batches (order inside a batch
    does not change a mean), so Adam must land on the same weights."""
    ds = data.load("digits")
    rows = np.arange(64)
    recipe = {**RECIPE, "batch_size": 64, "epochs": 2}
    spec = engines.FitSpec(rows, init_seed=3, fit_seed=4)
    fit_engine = engines.get("keras_fit", "jax", {"name": "mlp", "hidden_units": 16},
                             ds.x_pool.shape[1:], 10, recipe)
    [keras_model] = fit_engine.train(ds.x_pool, ds.y_pool, [spec])
    vm = engines.get("vmap", "jax", {"name": "mlp", "hidden_units": 16}, ds.x_pool.shape[1:], 10,
                     recipe)
    [ours] = vm.train(ds.x_pool, ds.y_pool, [spec])
    for a, b in zip(ours.params, [np.asarray(v.value) for v in keras_model.trainable_variables]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    acc_k, loss_k = fit_engine.evaluate([keras_model], ds.x_eval, ds.y_eval)[0]
    acc_v, loss_v = vm.evaluate([ours], ds.x_eval, ds.y_eval)[0]
    assert acc_k == pytest.approx(acc_v, abs=2e-3) and loss_k == pytest.approx(loss_v, rel=1e-4)


@pytest.mark.parametrize("cfg", [
    {"name": "cnn", "conv_filters": [4, 8, 8], "kernel_size": 3, "dense_units": [16, 8]},
    {"name": "cnn_distil", "conv_filters": [4, 8, 8], "kernel_size": 3, "dense_units": [16, 8]},
])
def test_vmap_cnn_steps_equal_keras_fit_steps_from_the_same_weights(cfg):
    """The CNNs as the MLP above: two full-batch epochs from the same initial weights land on the
    same weights and the same evaluation under both engines (CIFAR-10's path on the GPU)."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 32, 32, 3), dtype=np.float32)
    y = rng.integers(10, size=64)
    recipe = {**RECIPE, "batch_size": 64, "epochs": 2}
    spec = engines.FitSpec(np.arange(64), init_seed=3, fit_seed=4)
    fit_engine = engines.get("keras_fit", "jax", cfg, x.shape[1:], 10, recipe)
    [keras_model] = fit_engine.train(x, y, [spec])
    vm = engines.get("vmap", "jax", cfg, x.shape[1:], 10, recipe)
    [ours] = vm.train(x, y, [spec])
    for a, b in zip(ours.params, [np.asarray(v.value) for v in keras_model.trainable_variables]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    acc_k, loss_k = fit_engine.evaluate([keras_model], x, y)[0]
    acc_v, loss_v = vm.evaluate([ours], x, y)[0]
    assert acc_k == pytest.approx(acc_v, abs=1 / 64) and loss_k == pytest.approx(loss_v, rel=1e-4)


def test_models_trained_together_equal_models_trained_alone():
    ds = data.load("digits")
    vm = engines.get("vmap", "jax", {"name": "mlp", "hidden_units": 32}, ds.x_pool.shape[1:], 10,
                     {**RECIPE, "epochs": 2})
    rng = np.random.default_rng(0)
    specs = [engines.FitSpec(np.sort(rng.choice(ds.n_pool, 100, replace=False)), 10 + i, 20 + i)
             for i in range(3)]
    together = vm.train(ds.x_pool, ds.y_pool, specs)
    alone = vm.train(ds.x_pool, ds.y_pool, specs[1:2])[0]
    assert not np.allclose(together[0].params[0], together[1].params[0])  # independent models
    for a, b in zip(together[1].params, alone.params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("engine,backend_,match", [
    ("fast", "auto", "engine='fast' is not valid; valid choices: auto, keras_fit, vmap"),
    ("auto", "torch", "backend='torch' is not valid; valid choices: auto, jax, tensorflow"),
    ("vmap", "tensorflow", "engine=vmap cannot run on backend=tensorflow; valid backends for vmap: jax"),
])
def test_bad_engine_or_backend_is_one_clear_error(engine, backend_, match):
    with pytest.raises(ConfigError, match=match):
        engines.resolve(engine, backend_, "mlp")


def test_a_backend_that_is_not_installed_is_refused(monkeypatch):
    monkeypatch.setattr(backend, "installed", lambda name: name != "jax")
    with pytest.raises(ConfigError, match="backend=jax is not installed"):
        engines.resolve("vmap", "auto", "mlp")


def test_auto_picks_per_model_family():
    assert engines.resolve("auto", "auto", "mlp") == ("vmap", "jax")
    assert engines.resolve("auto", "auto", "cnn") == ("keras_fit", "tensorflow")
    assert engines.resolve("keras_fit", "auto", "mlp") == ("keras_fit", "jax")
    assert engines.resolve("auto", "tensorflow", "mlp") == ("keras_fit", "tensorflow")


def test_engine_and_backend_are_recorded_and_part_of_the_run_identity(tmp_path):
    keys = {}
    for engine in ("vmap", "keras_fit"):
        cfg = config("budget=40", f"engine={engine}", f"results_dir={tmp_path / engine}")
        [row] = job.execute(cfg)
        assert row["status"] == "ok" and row["engine"] == engine and row["backend"]
        keys[engine] = row["run_key"]
    assert keys["vmap"] != keys["keras_fit"]


def test_bad_engine_on_the_command_line_exits_2_with_nothing_recorded(tmp_path):
    from conftest import run_cli

    out = run_cli("run", "engine=turbo", f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "coreset-bench: error: engine='turbo' is not valid; valid choices: auto, keras_fit, vmap")
    assert not (tmp_path / "rows").exists() or not list((tmp_path / "rows").iterdir())


def test_vmap_trains_the_cnn_too():
    """The CNN's list-valued parameters, image inputs, and two models together."""
    rng = np.random.default_rng(0)
    x = rng.random((96, 32, 32, 3), dtype=np.float32)
    y = rng.integers(10, size=96)
    cfg = {"name": "cnn", "conv_filters": [4, 8, 8], "kernel_size": 3, "dense_units": [16, 8]}
    vm = engines.get("vmap", "jax", cfg, x.shape[1:], 10, {**RECIPE, "epochs": 1})
    specs = [engines.FitSpec(np.arange(0, 64), 1, 2), engines.FitSpec(np.arange(32, 96), 3, 4)]
    models = vm.train(x, y, specs)
    emb, probs = vm.embed(models[0], x[:10], with_probs=True)
    assert emb.shape == (10, 8) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert len(vm.evaluate(models, x, y)) == 2
    assert vm.grad_sqnorm(models[1], x[:3], y[:3]).shape == (3,)


def test_evaluation_passes_held_to_their_memory_give_the_same_scores(monkeypatch):
    """An evaluation pass of many models is cut into fewer rows (vmap.EVAL_BYTES); the scores do
    not depend on the cut."""
    rng = np.random.default_rng(1)
    x = rng.random((300, 32, 32, 3), dtype=np.float32)
    y = rng.integers(10, size=300)
    cfg = {"name": "cnn_distil", "conv_filters": [4, 8, 8], "kernel_size": 3, "dense_units": [16, 8]}
    vm = engines.get("vmap", "jax", cfg, x.shape[1:], 10, {**RECIPE, "epochs": 1})
    models = vm.train(x, y, [engines.FitSpec(np.arange(0, 64), 1, 2), engines.FitSpec(np.arange(64, 128), 3, 4)])
    whole = vm.evaluate(models, x, y)
    arch = vmap.arch("cnn_distil", {k: v for k, v in cfg.items() if k != "name"}, x.shape[1:], 10)
    monkeypatch.setattr(vmap, "EVAL_BYTES", arch.activation_bytes * 2 * 64)   # 64 rows a pass
    assert arch.eval_rows(2) == 64 and arch.eval_rows(1) == 128
    cut = vm.evaluate(models, x, y)
    for (acc_a, loss_a), (acc_b, loss_b) in zip(whole, cut):
        assert acc_a == acc_b and loss_a == pytest.approx(loss_b, rel=1e-6)

"""Every config group option composes, and what the configs say matches what the code accepts."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coreset_bench import data, models, samplers
from coreset_bench.config import CONF_DIR, options, resolve_model
from coreset_bench.protocols import classification as clf
from coreset_bench.protocols import regression as reg
from coreset_bench.job.plan import identity
from coreset_bench.store import run_key


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def test_defaults_are_the_embedded_dataset():
    cfg = composed()
    assert cfg["dataset"]["name"] == "digits"
    assert cfg["model"]["name"] == "auto" and cfg["sampler"]["name"] == "uniform"
    assert cfg["budget"] == 200 and cfg["seed"] == 0
    assert cfg["train"] == {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32,
                            "epochs": 10, "weighted": False, "jit_compile": False}


@pytest.mark.parametrize("group", ["dataset", "model", "sampler"])
def test_every_option_composes_and_its_name_is_the_file_name(group):
    assert options(group), f"no options in conf/{group}"
    for option in options(group):
        cfg = composed(f"{group}={option}")
        assert cfg[group]["name"] == option


def test_every_dataset_option_is_a_registered_dataset():
    assert options("dataset") == data.names()


def test_every_model_option_builds():
    for option in options("model"):
        if option == "auto":  # resolved per dataset
            continue
        cfg = composed(f"model={option}")
        params = dict(cfg["model"])
        name = params.pop("name")
        shape = (32, 32, 3) if name.startswith("cnn") else (8, 8)
        model = models.build(name, shape, 10, seed=0, **params)
        assert model.get_layer(models.EMBEDDING) is not None


@pytest.mark.parametrize("sampler", samplers.names("classification"))
def test_every_classification_sampler_config_is_accepted(sampler):
    cfg = composed(f"sampler={sampler}", "budget=1000")
    params = dict(cfg["sampler"])
    spec = samplers.get(params.pop("name"))
    clf.check_params(spec, 1000, 800, params)  # raises on a key the sampler does not take


@pytest.mark.parametrize("sampler", samplers.names("regression"))
def test_every_regression_sampler_config_is_accepted(sampler):
    cfg = composed("dataset=synthetic_regression", f"sampler={sampler}", "budget=100")
    params = dict(cfg["sampler"])
    spec = samplers.get(params.pop("name"), "regression")
    ds = data.load("synthetic_regression")
    reg.validate(spec, ds, 100, params)


def test_experiments_compose():
    for option in options("experiment"):
        cfg = composed(f"experiment={option}")
        assert cfg["dataset"]["name"] in data.names()


def test_model_auto_resolves_to_the_papers_model_and_shares_the_run_key():
    auto = composed("dataset=cifar10")
    explicit = composed("dataset=cifar10", "model=cnn_distil")
    entry = data.entry("cifar10")
    auto["model"] = resolve_model(auto["model"], entry.default_model)
    explicit["model"] = resolve_model(explicit["model"], entry.default_model)
    assert auto["model"]["name"] == "cnn_distil"
    assert run_key(identity(auto)) == run_key(identity(explicit))
    assert resolve_model({"name": "auto"}, "mlp")["name"] == "mlp"


def test_run_key_ignores_where_results_go_but_not_what_is_run():
    a = composed("results_dir=/tmp/a")
    b = composed("results_dir=/tmp/b", "force=true")
    c = composed("sampler=loss", "sampler.lam=0.5")
    d = composed("sampler=loss")
    assert run_key(identity(a)) == run_key(identity(b))
    assert run_key(identity(c)) != run_key(identity(d))
    assert run_key(identity(composed("seed=1"))) != run_key(identity(a))


def test_cnn_distil_is_distils_cifarnet():
    """DISTIL's CifarNet: 3x3 convs of 64/128/256, each pooled (2x2x256 = 1,024 features, its
    ``64 * 4 * 4``), dense 128 then a 256-wide embedding; 537,610 parameters, as in PyTorch."""
    params = dict(composed("model=cnn_distil")["model"])
    model = models.build(params.pop("name"), (32, 32, 3), 10, seed=0, **params)
    assert model.get_layer(models.EMBEDDING).output.shape[-1] == 256
    flat = [layer for layer in model.layers if layer.__class__.__name__ == "Flatten"][0]
    assert flat.output.shape[-1] == 1024
    # conv: 3*64*9+64 + 64*128*9+128 + 128*256*9+256; dense: 1024*128+128 + 128*256+256 + 256*10+10
    assert model.count_params() == 1792 + 73856 + 295168 + 131200 + 33024 + 2570


def test_the_cnns_are_named_after_their_option():
    for option in ("cnn", "cnn_distil"):
        params = dict(composed(f"model={option}")["model"])
        assert models.build(params.pop("name"), (32, 32, 3), 10, seed=0, **params).name == option


SUITE_CELLS = {   # cell -> (the paper experiment whose rows it shares, its overrides)
    "digits_k100": ("compare", ["budget=100"]),
    "mnist_k1000": ("fig4_mnist", ["budget=1000"]),
    "fashion_mnist_k250": ("fig4_fashion_mnist", ["budget=250"]),
    "cifar10_k1000": ("fig4_cifar10", ["budget=1000", "engine=vmap", "backend=jax"]),
    "gas_s2000": ("fig1_gas", ["budget=2000"]),
}


@pytest.mark.parametrize("cell", sorted(SUITE_CELLS))
def test_the_suite_s_cells_share_the_published_experiments_run_keys(cell):
    """experiment=suite reuses the rows the repository publishes: a cell's runs have the run keys
    of the same runs of the paper experiment (or experiment=compare) they come from."""
    from coreset_bench.job.plan import plan

    experiment, overrides = SUITE_CELLS[cell]
    suite = plan(composed("experiment=suite", f"+suite_cell={cell}", "seed=3"))
    every = ["samplers=[uniform,kcenter,loss,grad,margin,least_confidence,entropy,badge,typiclust,"
             "probcover,cluster_margin]"] if experiment == "compare" else []   # compare lists four
    other = plan(composed(f"experiment={experiment}", *overrides, "seed=3", *every))
    keys = {r.name: r.key for r in other.runs}
    assert suite.runs and all(keys[r.name] == r.key for r in suite.runs), cell
    assert set(options("suite_cell")) >= set(SUITE_CELLS)


def test_a_sampler_chosen_beside_a_samplers_list_joins_the_group():
    from coreset_bench.job.plan import plan

    names = [r.name for r in plan(composed("experiment=compare", "sampler=badge")).runs]
    assert names == ["uniform", "kcenter", "loss", "grad", "badge"]
    names = [r.name for r in plan(composed("experiment=compare", "sampler=kcenter")).runs]
    assert names == ["uniform", "kcenter", "loss", "grad"]            # listed already: once
    names = [r.name for r in plan(composed("experiment=fig1_gas", "sampler=badge")).runs]
    assert names == ["uniform", "leverage", "kmedoids", "kmedoids_alg2"]   # not a regression method


def test_the_published_suite_rows_hold_every_built_in_run_of_the_suite():
    """`experiment=suite sampler=plugin ...` computes only the plugin's runs: every built-in run
    of every cell and seed of the suite is in docs/reproduction/rows/suite/suite.jsonl.gz."""
    import yaml
    from coreset_bench.job.plan import plan
    from coreset_bench.store import published

    suite = yaml.safe_load((CONF_DIR / "experiment" / "suite.yaml").read_text())
    params = suite["hydra"]["sweeper"]["params"]
    cells = params["+suite_cell"].split(",")
    start, stop = (int(v) for v in params["seed"].removeprefix("range(").rstrip(")").split(","))
    keys = {row["run_key"] for row in published.read(CONF_DIR.parent / suite["published"])}
    missing = []
    for cell in cells:
        cfg = composed("experiment=suite", f"+suite_cell={cell}")
        for seed in range(start, stop):
            missing += [(cell, seed, r.name) for r in plan({**cfg, "seed": seed}).runs
                        if r.key not in keys]
    assert sorted(cells) == options("suite_cell") and stop - start == 20
    assert not missing, f"{len(missing)} built-in runs of the suite are not published, e.g. {missing[:3]}"

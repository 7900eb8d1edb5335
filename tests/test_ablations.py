"""The MNIST ablations of Algorithm 1's knobs (issue 12, item 4): the configs compose to the
one change each names, lam_scale scales the resolved lambda (and is checked), and the report
pairs an ablation with uniform and with the unchanged method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coreset_bench.config import CONF_DIR
from coreset_bench.errors import ConfigError
from coreset_bench.report.investigations import classification_ablation
from coreset_bench.samplers._sensitivity import sensitivity_sampling, validate


def _cfg(name: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="config", overrides=[f"experiment={name}"]))


DEFAULT = _cfg("fig2_mnist")


@pytest.mark.parametrize("name,changed", [
    ("abl_mnist_lam0", {"sampler_params": {"loss": {"lam": 0}, "grad": {"lam": 0}}}),
    ("abl_mnist_lam01x", {"sampler_params": {"loss": {"lam_scale": 0.1}, "grad": {"lam_scale": 0.1}}}),
    ("abl_mnist_lam10x", {"sampler_params": {"loss": {"lam_scale": 10.0}, "grad": {"lam_scale": 10.0}}}),
    ("abl_mnist_k2_01", {"sampler_params": {"loss": {"cluster_frac": 0.1}, "grad": {"cluster_frac": 0.1}}}),
    ("abl_mnist_k2_04", {"sampler_params": {"loss": {"cluster_frac": 0.4}, "grad": {"cluster_frac": 0.4}}}),
    ("abl_mnist_warm01", {"warm_start_frac": 0.1}),
    ("abl_mnist_warm04", {"warm_start_frac": 0.4}),
    ("abl_mnist_weighted", {"train": {**DEFAULT["train"], "weighted": True}}),
])
def test_each_ablation_changes_one_thing(name, changed):
    cfg = _cfg(name)
    assert cfg["results_dir"] == f"results/ablations/{name}"
    assert cfg["samplers"] == ["uniform", "loss", "grad"] and cfg["dataset"]["name"] == "mnist"
    for key, value in changed.items():
        assert cfg[key] == value
    same = {k for k in DEFAULT if k not in changed and k not in ("results_dir", "samplers")}
    assert {k: cfg[k] for k in same} == {k: DEFAULT[k] for k in same}


def test_lam_scale_multiplies_the_resolved_lambda():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype(np.float32)
    loss = rng.gamma(2.0, size=400)
    lams = [sensitivity_sampling(x, 60, n_clusters=20, oracle=lambda i: loss[i], lam_scale=c,
                                 rng=np.random.default_rng(1), cluster_rng=np.random.default_rng(2)
                                 ).info["lambda"] for c in (None, 0.1, 10.0)]
    assert lams[1] == pytest.approx(0.1 * lams[0]) and lams[2] == pytest.approx(10 * lams[0])
    with pytest.raises(ConfigError, match=r"sampler.lam_scale=-1 must be a positive number"):
        validate(500, 400, lam_scale=-1)


def test_the_report_pairs_an_ablation_with_uniform_and_the_unchanged_method():
    seeds = range(8)
    ablation = pd.DataFrame(
        [{"dataset": "mnist", "sampler": s, "budget": 500, "seed": i, "status": "ok",
          "accuracy": 0.80 + 0.001 * i + (0.02 if s == "loss" else 0.0)}
         for s in ("uniform", "loss") for i in seeds])
    base = pd.DataFrame([{"dataset": "mnist", "sampler": "loss", "budget": 500, "seed": i,
                          "status": "ok", "accuracy": 0.81 + 0.001 * i} for i in range(20)])
    table = classification_ablation("abl_x", ablation, base)
    line = table.iloc[0]
    assert line["sampler"] == "loss" and line["seeds"] == 8
    assert line["accuracy"] == pytest.approx(0.8235)
    assert line["vs_uniform"].startswith("+0.0200 (p=")
    assert line["unchanged"] == pytest.approx(0.8135)          # the same 8 seeds only
    assert line["vs_unchanged"].startswith("+0.0100 (p=") and "n=8" in line["vs_unchanged"]

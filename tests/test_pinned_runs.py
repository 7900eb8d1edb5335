"""Run keys are a contract with every published row: these runs' keys and selections were
computed on main 1c5406b, before the restructuring of issue 19, and must not change unless a
change of identity is made on purpose (then these values change in the same commit, with why).

One run group per kind of row: Figure 2 on MNIST, Figure 1 on the gas data, the comparison on
a user's npz file, a Theorem 5 study row and a weighted-training ablation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from conftest import run_cli

NPZ_SHA256 = "318cb7bd52dda531b160b745837d0e8dc0135efc09e680ff18ce49310d4a8c8f"

# name -> (overrides, {sampler: (run_key, selection_sha1)})
PINNED = {
    "fig2_mnist": (["experiment=fig2_mnist", "budget=250", "seed=0"], {
        "uniform": ("3b3ab143075ce179", "95814a1593251a3ff958160a05e49f313271d4a6"),
        "kcenter": ("d7a6c0bbb0b971a6", "c10cd72b3ef94eb7e6f0bbac08d99ec26dc90e1f"),
        "loss": ("1411262a57815939", "5f49fba43938cd207c05e9028278e36ae853542b"),
        "grad": ("93f885f86c0af903", "700ddda37af9d8a28786ef7483a3482e31f209b0"),
    }),
    "fig1_gas": (["experiment=fig1_gas", "budget=150", "seed=0"], {
        "uniform": ("578f3697c29eb6e0", "2303e1ba1dbe0f342904dfd1dc113fd519eb2150"),
        "leverage": ("65ed60f7784aafbf", "c16fb0f989517efb1a9e0bc87e03dc07f63beda4"),
        "kmedoids": ("2dcdf603554b791a", "b3bd875ba0e9d4b67a82996fe5b640e158d6b3ac"),
        "kmedoids_alg2": ("878c5d8f4368c7ae", "9e38cab8e531165b3fa287d98a9916f2b3e0d1d4"),
    }),
    "npz": (["experiment=compare", "dataset=npz", "dataset.path={npz}", "budget=60", "seed=1"], {
        "uniform": ("39810103cd6752ad", "d0bf2d588b3d751d09dd5f475141b3d8576e13b3"),
        "kcenter": ("a5c21ae31859fd57", "52f6440163289733184de3e2b2411ef783a02fcb"),
        "loss": ("1bf3b73948294739", "0f78897305f0c567bd1f9069453b8398e86c3e16"),
        "grad": ("171e8ec8aa6497dd", "20947afd801af38d0f4978444347d96e669a0271"),
    }),
    "thm5": (["experiment=thm5_mnist", "budget=500", "seed=0", "study.s=[100,300]"], {
        "loss": ("bcac8cec18743138", "c7dcca8d7c8894d08c1a38ab159775976eb95761"),
    }),
    "weighted": (["experiment=abl_mnist_weighted", "budget=500", "seed=0"], {
        "uniform": ("972ee0254a4b5a67", "31550070221b5f8266382035558ee7babe2d952c"),
        "loss": ("b55e5557ffb70354", "8413d891b3129c71e3c33ea01c7c2b354fb32725"),
        "grad": ("2d9ed75569a7e949", "69e9762a7fe6445ca6e089b7732099875919d7a5"),
    }),
}


@pytest.fixture(scope="module")
def npz_file(tmp_path_factory) -> Path:
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    x = (d.images[order] / 16).astype(np.float32)[..., None]
    y = d.target[order]
    path = tmp_path_factory.mktemp("pinned") / "my_digits.npz"
    np.savez(path, x_train=x[:1400], y_train=y[:1400], x_test=x[1400:], y_test=y[1400:])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == NPZ_SHA256   # the same file as then
    return path


@pytest.mark.parametrize("name", list(PINNED))
def test_run_keys_and_selections_are_those_of_the_published_code(name, npz_file, mirror, tmp_path):
    overrides, expected = PINNED[name]
    args = [a.format(npz=npz_file) for a in overrides]
    out = run_cli("run", *args, f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(p.read_text()) for p in (tmp_path / "rows").glob("*.json")]
    got = {r["sampler"]: (r["run_key"], r["selection_sha1"]) for r in rows if r["status"] == "ok"}
    assert got == expected

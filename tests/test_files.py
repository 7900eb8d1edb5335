"""Bring your own data (issue 11): dataset=npz / dataset=table from a generated file, their
one-line errors, identity by content, mapping back to source rows; the samplers as a library."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from coreset_bench import store

from conftest import REPO, run_cli


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory) -> Path:
    """A user's own images and labels: digits shuffled into an .npz with a test split."""
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    x, y = (d.images / 16.0).astype(np.float32)[order], d.target[order]
    path = tmp_path_factory.mktemp("user") / "my_digits.npz"
    np.savez(path, x_train=x[:1400], y_train=y[:1400], x_test=x[1400:], y_test=y[1400:])
    return path


def test_the_figure2_comparison_on_your_own_npz_in_one_command(digits_npz, tmp_path):
    out = run_cli("run", "-m", "experiment=compare", "dataset=npz", f"dataset.path={digits_npz}",
                  "budget=100,200", "seed=0,1", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "runs ok=16 skipped=0 failed=0" in out.stderr
    frame = store.load(tmp_path)
    assert set(frame["dataset"]) == {"my_digits.npz"}
    assert set(frame["sampler"]) == {"uniform", "kcenter", "loss", "grad"}
    row = frame.iloc[0]
    assert row["dataset.sha256"] == __import__("hashlib").sha256(digits_npz.read_bytes()).hexdigest()
    assert row["n_pool"] == 1400 and row["n_eval"] == 397 and row["dataset.eval_split"] == "test"
    # the selection maps back to the file's rows: with an x_test, pool index == row of x_train
    chosen = store.read_selection(tmp_path, row["run_key"])
    assert row["source_rows"] == chosen.tolist()
    table = run_cli("results", str(tmp_path))
    assert table.returncode == 0 and "my_digits.npz" in table.stdout and "vs_uniform" in table.stdout


def test_the_docs_your_own_data_commands_run_as_written(tmp_path):
    """docs/own-data.md's shell block for your own data, line by line, in a fresh folder."""
    import os
    import shlex
    import subprocess

    page = (REPO / "docs" / "own-data.md").read_text()
    block = page[page.index("# stand-ins for your files"):]
    block = block[:block.index("```")]
    commands = [re.sub(r"\s+# .*$", "", line) for line in block.splitlines()
                if line.strip() and not line.startswith("#")]
    assert len(commands) == 8
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        out = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, f"{shlex.quote(command)}: {out.stderr[-1500:]}"
    assert "runs ok=30 skipped=0 failed=0" in out.stderr          # the table sweep, last
    assert set(store.load(tmp_path / "results" / "mine")["sampler"]) == {
        "uniform", "kcenter", "loss", "grad"}
    assert len(store.load(tmp_path / "results" / "mine")) == 120
    emb = store.load(tmp_path / "results" / "emb")
    assert len(emb) == 120 and set(emb["model"]) == {"linear"} and (emb["status"] == "ok").all()
    assert np.load(tmp_path / "my_emb.npy").shape == (1400, 128)


def test_the_file_content_not_its_path_identifies_runs(digits_npz, tmp_path):
    args = ("run", "sampler=uniform", "dataset=npz", "budget=60", f"results_dir={tmp_path}")
    assert run_cli(*args, f"dataset.path={digits_npz}").returncode == 0
    moved = tmp_path / "elsewhere" / digits_npz.name
    moved.parent.mkdir()
    moved.write_bytes(digits_npz.read_bytes())
    again = run_cli(*args, f"dataset.path={moved}")          # same bytes: the run is done
    assert again.returncode == 0 and len(store.load(tmp_path)) == 1
    with np.load(digits_npz) as npz:
        arrays = dict(npz)
    arrays["y_train"] = arrays["y_train"][::-1].copy()
    np.savez(moved, **arrays)                                # changed in place: never reused
    changed = run_cli(*args, f"dataset.path={moved}")
    assert changed.returncode == 2
    assert "already has a row for my_digits.npz-mlp-uniform-60-0 made with other choices " \
           "(dataset.sha256" in changed.stderr


def test_a_held_out_split_maps_selections_back_to_source_rows(tmp_path):
    d = load_digits()
    path = tmp_path / "all.npz"
    np.savez(path, x_train=d.data.astype(np.float32) / 16, y_train=d.target)
    out = run_cli("run", "sampler=kcenter", "dataset=npz", f"dataset.path={path}", "budget=80",
                  f"results_dir={tmp_path / 'r'}")
    assert out.returncode == 0, out.stderr[-2000:]
    row = store.load(tmp_path / "r").iloc[0]
    assert row["dataset.eval_split"] == "held_out" and row["n_eval"] == 360   # ceil(0.2 * 1797), as scikit-learn rounds
    from coreset_bench import data

    ds = data.load("npz", path=str(path))
    chosen = store.read_selection(tmp_path / "r", row["run_key"])
    source = np.asarray(row["source_rows"])
    np.testing.assert_array_equal(source, ds.pool_rows[chosen])
    np.testing.assert_array_equal(d.data[source] / 16, ds.x_pool[chosen])   # the user's rows


def _npz(tmp_path, name="bad.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


X = np.zeros((50, 4), np.float32)
Y = np.arange(50) % 5


@pytest.mark.parametrize("make,message", [
    (lambda t: None, "dataset=npz needs dataset.path=FILE (arrays x_train, y_train and x_test, y_test)"),
    (lambda t: t / "missing.npz", "dataset.path={t}/missing.npz: no such file"),
    (lambda t: _npz(t, x=X, y=Y),
     "{t}/bad.npz lacks array(s) x_train, y_train; it has: x, y (needed: x_train, y_train, and "
     "x_test, y_test or neither)"),
    (lambda t: _npz(t, x_train=X, y_train=Y[:40]), "{t}/bad.npz: x_train has 50 rows but y_train has 40"),
    (lambda t: _npz(t, x_train=X, y_train=Y + 0.5),
     "{t}/bad.npz: y_train must hold integer labels 0..C-1, got dtype float64"),
    (lambda t: _npz(t, x_train=X, y_train=Y * 2),
     "{t}/bad.npz: labels must be 0..C-1 with every class in y_train; class(es) 1, 3, 5, 7 of 0..8 are absent"),
    (lambda t: _npz(t, x_train=np.full((50, 4), np.nan, np.float32), y_train=Y),
     "{t}/bad.npz: x_train has 200 NaN or infinite value(s)"),
    (lambda t: _npz(t, x_train=X, y_train=Y, x_test=X),
     "{t}/bad.npz has only one of x_test, y_test; give both or neither"),
    (lambda t: _npz(t, x_train=X, y_train=Y, x_test=X[:, :3], y_test=Y),
     "{t}/bad.npz: x_test rows have shape (3,), x_train rows (4,)"),
])
def test_bad_npz_files_give_one_line(tmp_path, make, message):
    path = make(tmp_path)
    args = ["run", "dataset=npz", "budget=20", f"results_dir={tmp_path / 'r'}"]
    if path is not None:
        args.append(f"dataset.path={path}")
    out = run_cli(*args)
    assert out.returncode == 2
    assert out.stderr.strip() == "coreset-bench: error: " + message.format(t=tmp_path)
    assert not list((tmp_path / "r" / "rows").glob("*.json"))


def test_a_budget_above_your_pool_gives_one_line(digits_npz, tmp_path):
    out = run_cli("run", "dataset=npz", f"dataset.path={digits_npz}", "budget=5000",
                  f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip() == "coreset-bench: error: budget=5000 exceeds the pool of 1400 points"


@pytest.fixture()
def house_csv(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 3 + 0.1 * rng.normal(size=600)
    path = tmp_path / "houses.csv"
    pd.DataFrame({"rooms": x[:, 0], "age": x[:, 1], "dist": x[:, 2], "price": y}).to_csv(path, index=False)
    return path


def test_a_regression_table_runs_every_regression_sampler(house_csv, tmp_path):
    out = run_cli("run", "-m", "dataset=table", f"dataset.path={house_csv}", "dataset.target=price",
                  "sampler=uniform,leverage,kmedoids", "budget=40", "seed=0,1",
                  f"results_dir={tmp_path / 'r'}")
    assert out.returncode == 0, out.stderr[-2000:]
    frame = store.load(tmp_path / "r")
    assert len(frame) == 6 and set(frame["status"]) == {"ok"}
    assert set(frame["dataset"]) == {"houses.csv"} and frame.iloc[0]["n_pool"] == 480
    assert (frame["r2_error_val"] < 0.05).all()         # a linear target is learnt from 40 rows
    assert frame.iloc[0]["dataset.features"] == ["rooms", "age", "dist"]


@pytest.mark.parametrize("extra,message", [
    ((), "dataset=table needs dataset.target=COLUMN (the column to predict)"),
    (("dataset.target=cost",), "{p} has no column 'cost' (dataset.target); columns: rooms, age, dist, price"),
    (("dataset.target=price", "dataset.features=[rooms,size]"), "{p} has no column(s) size (dataset.features)"),
])
def test_bad_tables_give_one_line(house_csv, tmp_path, extra, message):
    out = run_cli("run", "dataset=table", f"dataset.path={house_csv}", *extra, "budget=20",
                  f"results_dir={tmp_path / 'r'}")
    assert out.returncode == 2
    assert out.stderr.strip() == "coreset-bench: error: " + message.format(p=house_csv)


def test_a_table_with_missing_values_gives_one_line(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,y\n1,2,3\n4,,6\n7,8,9\n1,1,1\n2,2,2\n")
    out = run_cli("run", "dataset=table", f"dataset.path={path}", "dataset.target=y", "budget=2",
                  f"results_dir={tmp_path / 'r'}")
    assert out.returncode == 2
    assert out.stderr.strip() == (f"coreset-bench: error: {path}: 1 row(s) have missing (NaN) or "
                                  "infinite values in the features or the target")


# -- fixed embeddings ----------------------------------------------------------------------

def test_fixed_embeddings_from_a_file_drive_the_selection(digits_npz, tmp_path):
    """dataset.embeddings=FILE.npy replaces the warm-start model's embeddings: k-center on the
    file's embeddings and on a column-permuted copy (same distances) picks the same points,
    under different run keys (each file's sha256); without the file it picks others."""
    from sklearn.decomposition import PCA

    with np.load(digits_npz) as npz:
        x = npz["x_train"].reshape(1400, -1)
    emb = PCA(12, random_state=0).fit_transform(x).astype(np.float32)
    np.save(tmp_path / "emb.npy", emb)
    np.save(tmp_path / "emb_perm.npy", emb[:, ::-1].copy())
    picks, keys = {}, {}
    for name in ("emb.npy", "emb_perm.npy", None):
        out_dir = tmp_path / f"r_{name}"
        extra = [f"dataset.embeddings={tmp_path / name}"] if name else []
        out = run_cli("run", "sampler=kcenter", "dataset=npz", f"dataset.path={digits_npz}",
                      *extra, "budget=100", f"results_dir={out_dir}")
        assert out.returncode == 0, out.stderr[-2000:]
        row = store.load(out_dir).iloc[0]
        picks[name] = store.read_selection(out_dir, row["run_key"]).tolist()
        keys[name] = row["run_key"]
        if name:
            assert row["time_embed"] == 0.0 and row["dataset.embeddings"] == str(tmp_path / name)
            assert len(row["dataset.embeddings_sha256"]) == 64
    assert picks["emb.npy"] == picks["emb_perm.npy"] != picks[None]
    assert len({keys["emb.npy"], keys["emb_perm.npy"], keys[None]}) == 3


def test_a_built_in_dataset_takes_fixed_embeddings_per_pool_point(tmp_path):
    emb = np.random.default_rng(0).normal(size=(1347, 5)).astype(np.float32)   # digits' pool
    np.save(tmp_path / "e.npy", emb)
    out = run_cli("run", "sampler=loss", f"+dataset.embeddings={tmp_path / 'e.npy'}", "budget=60",
                  f"results_dir={tmp_path / 'r'}")
    assert out.returncode == 0, out.stderr[-2000:]
    np.save(tmp_path / "short.npy", emb[:100])
    bad = run_cli("run", "sampler=loss", f"+dataset.embeddings={tmp_path / 'short.npy'}",
                  "budget=60", f"results_dir={tmp_path / 'r2'}")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (f"coreset-bench: error: {tmp_path / 'short.npy'} has 100 "
                                  "embedding rows for 1347 pool points")
    missing = run_cli("run", f"+dataset.embeddings={tmp_path / 'nope.npy'}", "budget=60",
                      f"results_dir={tmp_path / 'r3'}")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (f"coreset-bench: error: dataset.embeddings="
                                      f"{tmp_path / 'nope.npy'}: no such file")


# -- the samplers as a library -------------------------------------------------------------

def test_the_docs_library_example_runs_as_written():
    page = (REPO / "docs" / "own-data.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    [example] = [b for b in blocks if "from coreset_bench import select" in b]
    namespace: dict = {}
    exec(compile(example, "docs/own-data.md", "exec"), namespace)   # noqa: S102 - the docs' own code
    sel = namespace["sel"]
    assert len(sel.indices) == 500 and len(np.unique(sel.indices)) == 500
    assert sel.weights is not None and (sel.weights > 0).all()
    assert sel.n_inferences == 200                           # k'' = 0.2 * 1000 centers queried


@pytest.mark.parametrize("method", ["uniform", "kcenter", "loss", "grad", "entropy", "margin",
                                    "least_confidence", "badge"])
def test_select_gives_distinct_indices_and_repeats_with_the_same_seed(method):
    from coreset_bench import select

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(2000, 16)).astype(np.float32)
    probs = rng.dirichlet(np.ones(5), size=2000)
    losses = rng.gamma(2.0, size=2000)
    kw = dict(oracle=lambda idx: losses[idx], probs=probs)
    a = select(method, emb, 100, rng=np.random.default_rng(7), **kw)
    b = select(method, emb, 100, rng=np.random.default_rng(7), **kw)
    assert len(np.unique(a.indices)) == 100 and a.indices.max() < 2000
    np.testing.assert_array_equal(a.indices, b.indices)


@pytest.mark.parametrize("call,message", [
    (dict(method="loss"), "sampler 'loss' needs oracle= (a function from row indices to per-example losses)"),
    (dict(method="margin"), "sampler 'margin' needs probs= (an (n, C) array of class probabilities)"),
    (dict(method="nope"), "unknown sampler 'nope'; valid choices: "),
    (dict(method="leverage"), "sampler 'leverage' does not do classification"),
    (dict(method="uniform", n_select=101), "n_select=101 must be an integer in [0, 100]"),
    (dict(method="loss", oracle=len, lamb=1), "sampler loss: unknown parameter(s) lamb; valid: "),
])
def test_select_bad_input_names_the_value(call, message):
    from coreset_bench import select
    from coreset_bench.errors import ConfigError

    call = {"n_select": 10, **call}
    with pytest.raises(ConfigError, match=re.escape(message)):
        select(call.pop("method"), np.zeros((100, 3)), call.pop("n_select"),
               rng=np.random.default_rng(0), **call)

"""Bring your own data, part 2 (issue 11): embeddings + a label file (dataset=npy) with a linear
probe (model=linear), exporting a model's embeddings (coreset-bench embed), a UCI dataset by id
(dataset=uci, through a stand-in ucimlrepo: this machine is offline)."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from coreset_bench import store

from conftest import run_cli

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Path:
    """A user's precomputed embeddings (digits' pixels stand in) and their labels as class
    names in a .csv with a header line."""
    x, y = load_digits(return_X_y=True)
    folder = tmp_path_factory.mktemp("user")
    np.save(folder / "emb.npy", (x / 16).astype(np.float32))
    pd.DataFrame({"label": NAMES[y]}).to_csv(folder / "labels.csv", index=False)
    np.save(folder / "labels.npy", y)
    return folder


def test_the_figure2_comparison_on_embeddings_and_a_label_file_in_one_command(embedded, tmp_path):
    out = run_cli("run", "-m", "experiment=compare", "dataset=npy",
                  f"dataset.path={embedded / 'emb.npy'}", f"dataset.labels={embedded / 'labels.csv'}",
                  "train.learning_rate=0.01", "budget=100", "seed=0,1", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "runs ok=8 skipped=0 failed=0" in out.stderr
    frame = store.load(tmp_path)
    assert set(frame["sampler"]) == {"uniform", "kcenter", "loss", "grad"}
    row = frame.iloc[0]
    assert row["dataset"] == "emb.npy" and row["model"] == "linear"       # a linear probe
    assert row["dataset.classes"] == sorted(NAMES.tolist())                # names -> 0..9
    assert row["dataset.labels_sha256"] == hashlib.sha256(
        (embedded / "labels.csv").read_bytes()).hexdigest()
    assert row["n_pool"] + row["n_eval"] == 1797 and row["dataset.eval_split"] == "held_out"
    assert frame["accuracy"].min() > 0.5      # the probe learns (chance is 0.1)
    x, y = load_digits(return_X_y=True)
    source = np.asarray(row["source_rows"])    # back to the user's rows, labels intact
    chosen = store.read_selection(tmp_path, row["run_key"])
    assert len(source) == len(chosen) == 100
    from coreset_bench import data

    ds = data.load("npy", path=str(embedded / "emb.npy"), labels=str(embedded / "labels.csv"))
    np.testing.assert_array_equal(ds.x_pool[chosen], (x[source] / 16).astype(np.float32))
    assert [ds.choices["classes"][c] for c in ds.y_pool[chosen]] == NAMES[y[source]].tolist()


def test_a_test_split_of_embeddings_and_class_names_is_evaluated_on(tmp_path):
    """dataset.test_path / dataset.test_labels: the evaluation split (names numbered with the
    training names); all four files' sha256 are in the row, and a test class unknown to the
    training labels is refused."""
    x, y = load_digits(return_X_y=True)
    np.save(tmp_path / "tr.npy", (x[:1500] / 16).astype(np.float32))
    np.save(tmp_path / "te.npy", (x[1500:] / 16).astype(np.float32))
    (tmp_path / "tr.txt").write_text("".join(f"{n}\n" for n in NAMES[y[:1500]]))
    (tmp_path / "te.txt").write_text("".join(f"{n}\n" for n in NAMES[y[1500:]]))
    files = [f"dataset.path={tmp_path / 'tr.npy'}", f"dataset.labels={tmp_path / 'tr.txt'}",
             f"dataset.test_path={tmp_path / 'te.npy'}"]
    out = run_cli("run", "sampler=uniform", "dataset=npy", *files,
                  f"dataset.test_labels={tmp_path / 'te.txt'}", "budget=100",
                  f"results_dir={tmp_path / 'r'}")
    assert out.returncode == 0, out.stderr[-2000:]
    row = store.load(tmp_path / "r").iloc[0]
    assert row["n_pool"] == 1500 and row["n_eval"] == 297 and row["dataset.eval_split"] == "test"
    assert all(len(row[f"dataset.{k}"]) == 64 for k in
               ("sha256", "labels_sha256", "test_sha256", "test_labels_sha256"))
    (tmp_path / "te2.txt").write_text("".join(f"{n}\n" for n in ["eleven"] * 297))
    bad = run_cli("run", "sampler=uniform", "dataset=npy", *files,
                  f"dataset.test_labels={tmp_path / 'te2.txt'}", "budget=100",
                  f"results_dir={tmp_path / 'r2'}")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (f"coreset-bench: error: {tmp_path / 'te2.txt'}: class(es) "
                                  f"'eleven' are not in the training labels ({tmp_path / 'tr.txt'})")


def test_the_linear_probe_embeds_with_the_features_themselves():
    """model=linear's embedding (what kcenter / loss / grad cluster) is the input, flattened,
    on both engines."""
    from coreset_bench.models import engines
    from coreset_bench.models.vmap import FitSpec

    x = np.random.default_rng(0).normal(size=(64, 4, 3)).astype(np.float32)
    y = np.arange(64) % 3
    recipe = {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 16, "epochs": 1}
    for engine, framework in (("vmap", "jax"), ("keras_fit", "jax")):
        eng = engines.get(engine, framework, {"name": "linear"}, (4, 3), 3, recipe)
        model = eng.train(x, y, [FitSpec(np.arange(32), 1, 2)])[0]
        emb, probs = eng.embed(model, x, with_probs=True)
        np.testing.assert_allclose(emb, x.reshape(64, -1))
        assert probs.shape == (64, 3) and np.allclose(probs.sum(1), 1)


def test_moving_the_files_keeps_runs_and_changing_the_labels_does_not(embedded, tmp_path):
    args = ("run", "sampler=uniform", "dataset=npy", "budget=60", f"results_dir={tmp_path / 'r'}")
    first = run_cli(*args, f"dataset.path={embedded / 'emb.npy'}",
                    f"dataset.labels={embedded / 'labels.npy'}")
    assert first.returncode == 0, first.stderr[-2000:]
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("emb.npy", "labels.npy"):
        (moved / name).write_bytes((embedded / name).read_bytes())
    again = run_cli(*args, f"dataset.path={moved / 'emb.npy'}", f"dataset.labels={moved / 'labels.npy'}")
    assert again.returncode == 0 and len(store.load(tmp_path / "r")) == 1   # skipped
    np.save(moved / "labels.npy", np.load(moved / "labels.npy")[::-1].copy())
    changed = run_cli(*args, f"dataset.path={moved / 'emb.npy'}",
                      f"dataset.labels={moved / 'labels.npy'}")
    assert changed.returncode == 2
    assert "already has a row for emb.npy-linear-uniform-60-0 made with other choices " \
           "(dataset.labels_sha256" in changed.stderr


X = np.zeros((40, 3), np.float32)


def _files(t: Path, labels, name="labels.txt", x=X):
    np.save(t / "x.npy", x)
    if isinstance(labels, str):
        (t / name).write_text(labels)
    else:
        np.save(t / name, labels)
    return [f"dataset.path={t / 'x.npy'}", f"dataset.labels={t / name}"]


@pytest.mark.parametrize("make,message", [
    (lambda t: [f"dataset.path={_files(t, 'a')[0].split('=')[1]}"],
     "dataset=npy needs dataset.labels=FILE (.npy or .txt or .csv)"),
    (lambda t: _files(t, "".join(f"{i % 4}\n" for i in range(39))),
     "{t}/x.npy has 40 rows but {t}/labels.txt has 39 labels"),
    (lambda t: _files(t, "y\n" + "".join(f"c{i % 4}\n" for i in range(39)), "labels.csv"),
     "{t}/x.npy has 40 rows but {t}/labels.csv has 39 labels (after its header line)"),
    (lambda t: _files(t, "".join(f"{i % 4},1\n" for i in range(40))),
     "{t}/labels.txt: a label file holds one label per line, found 2 columns"),
    (lambda t: _files(t, np.arange(40).reshape(20, 2), "labels.npy"),
     "{t}/labels.npy: labels must be 1-D (one per example), got shape (20, 2)"),
    (lambda t: _files(t, "".join(f"{2 * (i % 4)}\n" for i in range(40))),
     "{t}/x.npy: labels must be 0..C-1 with every class in {t}/labels.txt; class(es) 1, 3, 5 "
     "of 0..6 are absent"),
    (lambda t: _files(t, "".join(f"{i % 4}\n" for i in range(40)), x=np.full((40, 3), np.inf, np.float32)),
     "{t}/x.npy: the features has 120 NaN or infinite value(s)"),
    (lambda t: [*_files(t, "".join(f"{i % 4}\n" for i in range(40))), f"dataset.test_path={t / 'x.npy'}"],
     "dataset=npy: give both dataset.test_path and dataset.test_labels, or neither (then "
     "eval_fraction of the rows is held out)"),
    (lambda t: [f"dataset.path={t / 'x.txt'}", f"dataset.labels={t / 'x.txt'}"]
     if (t / "x.txt").write_text("1\n") else None,
     "dataset.path={t}/x.txt: dataset=npy reads .npy files here"),
])
def test_bad_embedding_files_give_one_line(tmp_path, make, message):
    out = run_cli("run", "dataset=npy", "budget=20", f"results_dir={tmp_path / 'r'}", *make(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip() == "coreset-bench: error: " + message.format(t=tmp_path)
    assert not list((tmp_path / "r" / "rows").glob("*.json"))


# -- coreset-bench embed ----------------------------------------------------------------------

def test_exported_embeddings_reproduce_the_runs_own_selection(tmp_path):
    """`embed` writes the warm-start model's embedding of every row of the user's file, held-out
    rows included: fed back as dataset.embeddings, k-center and Algorithm 1 pick exactly what
    the run picks from the model itself."""
    x, y = load_digits(return_X_y=True)
    path = tmp_path / "all.npz"
    np.savez(path, x_train=(x / 16).astype(np.float32), y_train=y)    # held-out eval split
    common = ("dataset=npz", f"dataset.path={path}", "budget=120", "seed=2")
    out = run_cli("embed", *common, f"out={tmp_path / 'e.npy'}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"wrote {tmp_path / 'e.npy'}: 1797 x 128 float32 embeddings "
                                 "(source file rows) of all.npz by the mlp warm-start model "
                                 "(budget=120, seed=2, 24 training points)")
    emb = np.load(tmp_path / "e.npy")
    info = json.loads((tmp_path / "e.json").read_text())
    assert emb.shape == (1797, 128) and info["sha256"] == hashlib.sha256(
        (tmp_path / "e.npy").read_bytes()).hexdigest()
    assert np.isfinite(emb).all() and len(np.unique(emb, axis=0)) > 1700   # every row embedded
    picks = {}
    for name, extra in (("model", []), ("file", [f"dataset.embeddings={tmp_path / 'e.npy'}"])):
        run = run_cli("run", "-m", *common, *extra, "samplers=[kcenter,loss]",
                      f"results_dir={tmp_path / name}")
        assert run.returncode == 0, run.stderr[-2000:]
        frame = store.load(tmp_path / name).sort_values("sampler")
        picks[name] = frame["selection_sha1"].tolist()
        assert (frame["time_embed"] == 0.0).all() == (name == "file")
    assert picks["model"] == picks["file"]


@pytest.mark.parametrize("args,message", [
    (["dataset=gas_sensor_drift", "out=x.npy"],
     "dataset=gas_sensor_drift is a regression dataset: it has no model to embed with (embed "
     "needs a classification dataset)"),
    (["dataset=digits"], "embed needs out=FILE.npy (once): where to write the embeddings"),
    (["dataset=digits", "out=x.csv"], "out=x.csv: embeddings are written as a .npy file"),
    (["dataset=digits", "+dataset.max_pool=100", "out=x.npy"],
     "dataset.max_pool=100 cannot be used with embed (it writes the model's embedding of every "
     "example of the full dataset)"),
    (["dataset=digitz", "out=x.npy"],
     "unknown dataset 'digitz'; valid choices: cifar10, digits, fashion_mnist, gas_sensor_drift, "
     "mnist, npy, npz, synthetic_regression, table, uci"),
])
def test_embed_bad_input_gives_one_line(tmp_path, args, message):
    out = run_cli("embed", *[a.replace("x.", f"{tmp_path}/x.") for a in args])
    assert out.returncode == 2
    assert out.stderr.strip() == "coreset-bench: error: " + message.replace("x.", f"{tmp_path}/x.")
    assert not list(tmp_path.iterdir())


# -- dataset=uci ------------------------------------------------------------------------------

FAKE_UCIMLREPO = '''
"""A stand-in for ucimlrepo (tests run offline): serves {table} as dataset 9, counting calls."""
import os
from types import SimpleNamespace

import pandas as pd


class DatasetNotFoundError(Exception):
    pass


def fetch_ucirepo(name=None, id=None):
    with open(os.environ["FAKE_UCI_CALLS"], "a") as fh:
        fh.write(f"{{id}}\\n")
    if os.environ.get("FAKE_UCI_OFFLINE"):
        raise ConnectionError("Error connecting to server")
    if id != 9:
        raise DatasetNotFoundError(f"dataset with id {{id}} not found")
    frame = pd.read_csv({table!r})
    roles = ["ID"] + ["Feature"] * (frame.shape[1] - 2) + ["Target"]
    return SimpleNamespace(
        data=SimpleNamespace(original=frame), metadata={{"name": "Auto MPG (stand-in)"}},
        variables=pd.DataFrame({{"name": list(frame.columns), "role": roles}}))
'''


@pytest.fixture()
def fake_uci(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    table = tmp_path / "source.csv"
    pd.DataFrame({"car": np.arange(300), "weight": x[:, 0], "hp": x[:, 1], "year": x[:, 2],
                  "mpg": x @ np.array([-2.0, -1.0, 0.5]) + 20}).to_csv(table, index=False)
    pkg = tmp_path / "fake" / "ucimlrepo"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(FAKE_UCIMLREPO.format(table=str(table))))
    (pkg / "fetch.py").write_text("from . import DatasetNotFoundError, fetch_ucirepo\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")]),
           "CORESET_BENCH_DATA": str(tmp_path / "data"), "CORESET_BENCH_DOWNLOAD": "auto",
           "FAKE_UCI_CALLS": str(tmp_path / "calls")}
    return env


def test_a_uci_dataset_is_fetched_once_cached_with_its_sha256_and_read_offline(fake_uci, tmp_path):
    args = ("run", "-m", "dataset=uci", "dataset.id=9", "samplers=[uniform,leverage]", "budget=40",
            "seed=0,1", f"results_dir={tmp_path / 'r'}")
    out = run_cli(*args, env=fake_uci)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "runs ok=4 skipped=0 failed=0" in out.stderr
    assert (tmp_path / "calls").read_text() == "9\n"          # fetched once, for the whole sweep
    cache = tmp_path / "data" / "uci" / "9"
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["sha256"] == hashlib.sha256((cache / "data.csv").read_bytes()).hexdigest()
    assert meta["targets"] == ["mpg"] and meta["ids"] == ["car"]
    row = store.load(tmp_path / "r").iloc[0]
    assert row["dataset"] == "uci_9" and row["task"] == "regression"
    assert row["dataset.sha256"] == meta["sha256"] and row["dataset.target"] == "mpg"
    assert row["dataset.features"] == ["weight", "hp", "year"]    # the id column is not a feature
    assert row["r2_error_val"] < 0.05                             # a linear target, learnt
    offline = run_cli(*args, env={**fake_uci, "FAKE_UCI_OFFLINE": "1"})    # from the cache
    assert offline.returncode == 0 and "runs ok=0 skipped=4 failed=0" in offline.stderr
    assert (tmp_path / "calls").read_text() == "9\n"
    with open(cache / "data.csv", "a") as fh:                     # the cache damaged
        fh.write("1,2,3,4,5\n")
    damaged = run_cli(*args, env=fake_uci)
    assert damaged.returncode == 2
    last = damaged.stderr.strip().splitlines()[-1]
    assert last.startswith(f"coreset-bench: error: {cache / 'data.csv'} does not match the sha256 "
                           "recorded when it was fetched")
    assert last.endswith(f"delete {cache} to fetch it again")


@pytest.mark.parametrize("extra,message", [
    ({"FAKE_UCI_OFFLINE": "1"},
     "dataset=uci dataset.id=9 is not cached under {t}/data/uci/9 and the UCI repository cannot "
     "be reached (Error connecting to server); run it once online, or give the table as "
     "dataset=table dataset.path=FILE.csv"),
    ({"CORESET_BENCH_DOWNLOAD": "never"},
     "dataset=uci dataset.id=9 is not cached under {t}/data/uci/9 and downloads are off "
     "(CORESET_BENCH_DOWNLOAD=never)"),
])
def test_a_uci_dataset_offline_without_a_cache_gives_one_line(fake_uci, tmp_path, extra, message):
    out = run_cli("run", "dataset=uci", "dataset.id=9", "budget=40", f"results_dir={tmp_path / 'r'}",
                  env={**fake_uci, **extra})
    assert out.returncode == 2
    assert out.stderr.strip() == "coreset-bench: error: " + message.format(t=tmp_path)
    assert not list((tmp_path / "r" / "rows").glob("*.json"))


@pytest.mark.parametrize("args,message", [
    ([], "dataset.id=None must be a positive integer (the dataset's id in the UCI repository, "
         "e.g. dataset.id=9 for Auto MPG)"),
    (["dataset.id=7"], "dataset.id=7: dataset with id 7 not found"),
    (["dataset.id=9", "dataset.target=nope"],
     "{t}/data/uci/9/data.csv has no column 'nope' (dataset.target); columns: car, weight, hp, "
     "year, mpg"),
])
def test_bad_uci_input_gives_one_line(fake_uci, tmp_path, args, message):
    out = run_cli("run", "dataset=uci", *args, "budget=40", f"results_dir={tmp_path / 'r'}",
                  env=fake_uci)
    assert out.returncode == 2
    assert out.stderr.strip() == "coreset-bench: error: " + message.format(t=tmp_path)

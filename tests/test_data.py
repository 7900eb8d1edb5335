"""Loaders on the real mirror, checksum failures, the parsed-array cache, downloads."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import time

import numpy as np
import pytest

from coreset_bench import data
from coreset_bench.data import _store, cifar10, mnist
from coreset_bench.errors import ConfigError, DataError

from conftest import run_cli

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_from_the_mirror(mirror):
    ds = data.load("mnist")
    assert ds.x_pool.shape == (60000, 28, 28) and ds.x_eval.shape == (10000, 28, 28)
    assert ds.x_pool.dtype == np.float32 and 0.0 == ds.x_pool.min() and ds.x_pool.max() == 1.0
    assert np.bincount(ds.y_pool).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(ds.y_eval).tolist() == MNIST_TEST_COUNTS
    assert ds.choices == {"eval_split": "test"}


def test_second_mnist_load_comes_from_the_cache(mirror, monkeypatch):
    first = data.load("mnist")
    calls = []
    monkeypatch.setattr(mnist, "read_idx", lambda p: calls.append(p))
    monkeypatch.setattr(_store, "_digest", lambda *a: calls.append(a))
    second = data.load("mnist")
    assert calls == []  # neither parsed nor hashed again
    np.testing.assert_array_equal(first.x_pool, second.x_pool)


def test_fashion_mnist_from_the_mirror(mirror):
    ds = data.load("fashion_mnist")
    assert np.bincount(ds.y_pool).tolist() == [6000] * 10
    assert np.bincount(ds.y_eval).tolist() == [1000] * 10


def test_cifar10_train_holdout_split(mirror):
    ds = data.load("cifar10", eval_split="train_holdout")
    assert ds.x_pool.shape == (40000, 32, 32, 3) and ds.x_eval.shape == (10000, 32, 32, 3)
    counts = np.bincount(np.r_[ds.y_pool, ds.y_eval])
    assert counts.tolist() == [5000] * 10  # the full canonical train set, split in two
    # canonical per-channel mean of the train set (SOURCES.md)
    mean = np.concatenate([ds.x_pool, ds.x_eval]).reshape(-1, 3).mean(0, dtype=np.float64)
    np.testing.assert_allclose(mean, [0.49139968, 0.48215841, 0.44653091], atol=1e-6)
    again = data.load("cifar10", eval_split="train_holdout")
    np.testing.assert_array_equal(ds.y_eval, again.y_eval)  # fixed, seed-independent
    assert ds.choices["eval_split"] == "train_holdout" and ds.choices["holdout_seed"] == 0


def test_cifar10_incomplete_test_set_is_an_error_not_a_substitute(mirror):
    with pytest.raises(DataError) as err:
        data.load("cifar10")
    msg = str(err.value)
    assert "test_batch.bin" in msg and "CORESET_BENCH_DATA" in msg and "train_holdout" in msg


def test_cifar10_bad_option():
    with pytest.raises(ConfigError, match="eval_split='validation'.*test, train_holdout"):
        data.load("cifar10", eval_split="validation")


def test_cifar_binary_and_pickle_parsers_agree(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=7).astype(np.uint8)
    pixels = rng.integers(0, 256, size=(7, 3072)).astype(np.uint8)
    (tmp_path / "b.bin").write_bytes(np.hstack([labels[:, None], pixels]).tobytes())
    with open(tmp_path / "b.pkl", "wb") as fh:
        pickle.dump({b"data": pixels, b"labels": labels.tolist()}, fh)
    xb, yb = cifar10._read_bin(tmp_path / "b.bin")
    xp, yp = cifar10._read_pickle(tmp_path / "b.pkl")
    np.testing.assert_array_equal(xb, xp)
    np.testing.assert_array_equal(yb, yp)
    assert xb.shape == (7, 32, 32, 3)
    # channel-major records: pixel (0,0) of image 0 is (R[0], G[0], B[0])
    assert tuple(xb[0, 0, 0]) == (pixels[0, 0], pixels[0, 1024], pixels[0, 2048])


@pytest.fixture
def mnist_copy(mirror, tmp_path, monkeypatch):
    """A writable copy of the MNIST files, used as the data directory."""
    shutil.copytree(mirror / "mnist", tmp_path / "mnist")
    monkeypatch.setenv("CORESET_BENCH_DATA", str(tmp_path))
    monkeypatch.setenv("CORESET_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "mnist"


def _corrupt(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_corrupted_file_is_rejected_with_file_and_expected_checksum(mnist_copy):
    target = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    _corrupt(target)
    with pytest.raises(DataError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert str(target) in msg
    assert "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6" in msg
    assert "CORESET_BENCH_DATA" in msg and "\n" not in msg


def test_corruption_after_caching_is_still_caught(mnist_copy):
    data.load("mnist")  # parsed and cached
    target = mnist_copy / "train-labels-idx1-ubyte.gz"
    time.sleep(0.01)
    _corrupt(target)
    with pytest.raises(DataError, match="checksum mismatch"):
        data.load("mnist")


def test_missing_file_names_file_and_checksum(mnist_copy):
    (mnist_copy / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        data.load("mnist")
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    assert "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in str(err.value)


def test_missing_file_is_downloaded_and_verified(mirror, tmp_path, monkeypatch):
    """The download path, against a local file:// URL (no network here)."""
    source = tmp_path / "remote" / "t10k-labels-idx1-ubyte.gz"
    source.parent.mkdir()
    shutil.copy(mirror / "mnist" / source.name, source)
    monkeypatch.setenv("CORESET_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CORESET_BENCH_DOWNLOAD", "auto")
    spec = _store.FileSpec(source.name, sha256=mnist._FILES["mnist"]["test_labels"][1],
                           urls=("file:///nonexistent/x.gz", source.as_uri()))
    [path] = _store.ensure("mnist", [spec])
    assert path.read_bytes() == source.read_bytes()
    _corrupt(source)
    path.unlink()
    with pytest.raises(DataError, match="checksum mismatch"):
        _store.ensure("mnist", [spec])


def test_idx_parser_rejects_non_idx(tmp_path):
    bad = tmp_path / "x.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="IDX"):
        mnist.read_idx(bad)


def test_digits_split_is_fixed_and_stratified():
    a, b = data.load("digits"), data.load("digits")
    np.testing.assert_array_equal(a.y_eval, b.y_eval)
    assert a.n_pool == 1347 and len(a.y_eval) == 450
    assert a.x_pool.max() == 1.0 and a.x_pool.dtype == np.float32


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="unknown dataset 'mnsit'; valid choices: cifar10, "
                                          "digits, fashion_mnist, gas_sensor_drift, mnist"):
        data.load("mnsit")


def test_data_verify_cli(mirror):
    ok = run_cli("data", "verify", "mnist", "fashion_mnist")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "mnist: complete (4 files verified)" in ok.stdout
    incomplete = run_cli("data", "verify", "cifar10")
    assert incomplete.returncode == 1
    assert "cifar10: incomplete (1 of 6 files missing)" in incomplete.stdout
    assert "missing   cifar-10-batches-bin/test_batch.bin" in incomplete.stdout


def test_data_verify_cli_reports_mismatch(mnist_copy):
    _corrupt(mnist_copy / "t10k-labels-idx1-ubyte.gz")
    out = run_cli("data", "verify", "mnist", env={"CORESET_BENCH_DATA": str(mnist_copy.parent)})
    assert out.returncode == 1
    assert "CHECKSUM MISMATCH" in out.stdout and "expected sha256 f7ae60f9" in out.stdout


def test_a_process_reuses_its_last_built_in_dataset_read_only_and_reloads_when_files_change(
        tmp_path, monkeypatch):
    """A sweep worker's next job gets the dataset it loaded last (no decompressing again); its
    arrays are read-only, so no job can change what the next one sees; other options, another
    data folder or a changed file load afresh."""
    a = data.load("digits")
    assert data.load("digits") is a
    with pytest.raises(ValueError, match="read-only"):
        a.x_pool[0, 0] = 1.0
    assert data.load("digits", max_pool=100) is not a
    src = os.environ["CORESET_BENCH_DATA"]
    mirror = tmp_path / "mirror"
    shutil.copytree(os.path.join(src, "mnist"), mirror / "mnist")
    monkeypatch.setenv("CORESET_BENCH_DATA", str(mirror))
    m1 = data.load("mnist", max_pool=500, max_eval=100)
    assert data.load("mnist", max_pool=500, max_eval=100) is m1
    some = next(p for p in (mirror / "mnist").rglob("*") if p.is_file())
    os.utime(some, ns=(time.time_ns(), time.time_ns()))   # touched: reloaded and re-verified
    assert data.load("mnist", max_pool=500, max_eval=100) is not m1

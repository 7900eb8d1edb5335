"""CIFAR-10 (Krizhevsky, 2009) from the binary (``*.bin``) or the python-pickle version.

Evaluation split (``eval_split``):

- ``test`` (the paper's): the official 10,000 test images. Needs ``test_batch.bin`` or the
  python ``test_batch``; an incomplete copy is an error, never silently replaced.
- ``train_holdout``: a fixed held-out ``holdout_size`` of the 50,000 training images, drawn with
  ``holdout_seed`` (independent of the run seed); the rest is the pool. For mirrors without the
  full test set. The choice is recorded in every row.

Checksums: the training ``.bin`` files by the sha256 of the mirror's SOURCES.md; the python
pickles by the md5 digests torchvision publishes; the python archive by the sha256 Keras uses.
No digest of ``test_batch.bin`` is published, so only its size and label range are checked.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ._store import FileSpec, data_dir, fetch_archive, load_verified

NAME = "cifar10"
BIN = "cifar-10-batches-bin"
PY = "cifar-10-batches-py"
_RECORD = 3073
_BIN_SIZE = 10000 * _RECORD
_BIN_TRAIN = [
    FileSpec(f"{BIN}/data_batch_{i}.bin", sha256=h, size=_BIN_SIZE) for i, h in enumerate([
        "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
        "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
        "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
        "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
        "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
    ], start=1)]
_BIN_TEST = FileSpec(f"{BIN}/test_batch.bin", size=_BIN_SIZE)
_PY_TRAIN = [
    FileSpec(f"{PY}/data_batch_{i}", md5=h) for i, h in enumerate([
        "c99cafc152244af753f735de768cd75f", "d4bba439e000b95fd0a9bffe97cbabec",
        "54ebc095f3ab1f0389bbae665268c751", "634d18415352ddfa80567beed471001a",
        "482c414d41f54cd18b22e5b47cb7c3cb",
    ], start=1)]
_PY_TEST = FileSpec(f"{PY}/test_batch", md5="40351d587109b95175f43aff81a1287e")
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
EVAL_SPLITS = ("test", "train_holdout")
LAYOUTS = ("auto", "bin", "python")
_HINT = ("the official test set is incomplete on this mirror? use dataset.eval_split=train_holdout "
         "to evaluate on a fixed held-out part of the train set")


def _specs(layout: str, with_test: bool) -> list[FileSpec]:
    if layout == "bin":
        return _BIN_TRAIN + ([_BIN_TEST] if with_test else [])
    return _PY_TRAIN + ([_PY_TEST] if with_test else [])


def _present(specs: list[FileSpec]) -> bool:
    root = data_dir() / NAME
    return all((root / s.relpath).is_file() for s in specs)


def _best_layout(with_test: bool) -> str | None:
    """The complete layout, else the one whose training files are there, else None."""
    for need_test in (with_test, False):
        for candidate in ("bin", "python"):
            if _present(_specs(candidate, need_test)):
                return candidate
    return None


def _choose_layout(layout: str, with_test: bool) -> str:
    if layout not in LAYOUTS:
        raise ConfigError(f"dataset.layout={layout!r} is not valid; valid choices: {', '.join(LAYOUTS)}")
    if layout != "auto":
        return layout
    best = _best_layout(with_test)
    if best is None:  # nothing here: fetch the python version, as Keras does
        fetch_archive(NAME, ARCHIVE_URL, ARCHIVE_SHA256,
                      lambda m: m if m.startswith(PY + "/") else None)
        best = "python"
    return best


def manifest(eval_split: str = "test") -> list[FileSpec]:
    """Files a complete copy needs, in the layout present (binary when neither is)."""
    with_test = eval_split == "test"
    return _specs(_best_layout(with_test) or "bin", with_test)


def _read_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % _RECORD:
        raise DataError(f"{path}: size {raw.size} is not a multiple of the {_RECORD}-byte record")
    raw = raw.reshape(-1, _RECORD)
    labels = raw[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path}: label byte {labels.max()} outside 0..9; the file is corrupted")
    return raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _read_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as fh:  # unpickled only after its md5 matched the published digest
        batch = pickle.load(fh, encoding="bytes")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(batch[b"labels"], np.int64)


def load(*, eval_split: str = "test", holdout_size: int = 10000, holdout_seed: int = 0,
         layout: str = "auto") -> dict:
    if eval_split not in EVAL_SPLITS:
        raise ConfigError(f"dataset.eval_split={eval_split!r} is not valid; valid choices: "
                          f"{', '.join(EVAL_SPLITS)}")
    with_test = eval_split == "test"
    layout = _choose_layout(layout, with_test)
    read = _read_bin if layout == "bin" else _read_pickle

    def parse(paths: list[Path]) -> dict[str, np.ndarray]:
        parts = [read(p) for p in paths]
        train = parts[:5]
        out = {"x_train": np.concatenate([x for x, _ in train]),
               "y_train": np.concatenate([y for _, y in train])}
        if with_test:
            out["x_test"], out["y_test"] = parts[5]
        return out

    arrays = load_verified(NAME, _specs(layout, with_test), {"layout": layout}, parse,
                           hint=_HINT if with_test else "")
    x, y = arrays["x_train"], arrays["y_train"]
    choices = {"eval_split": eval_split, "layout": layout}
    if with_test:
        x_pool, y_pool, x_eval, y_eval = x, y, arrays["x_test"], arrays["y_test"]
    else:
        if not 0 < holdout_size < len(x):
            raise ConfigError(f"dataset.holdout_size={holdout_size} must be in 1..{len(x) - 1}")
        order = np.random.default_rng(holdout_seed).permutation(len(x))
        held, pool = np.sort(order[:holdout_size]), np.sort(order[holdout_size:])
        x_pool, y_pool, x_eval, y_eval = x[pool], y[pool], x[held], y[held]
        choices.update(holdout_size=holdout_size, holdout_seed=holdout_seed)
    return dict(x_pool=x_pool.astype(np.float32) / 255.0, y_pool=y_pool,
                x_eval=x_eval.astype(np.float32) / 255.0, y_eval=y_eval, num_classes=10,
                choices=choices)

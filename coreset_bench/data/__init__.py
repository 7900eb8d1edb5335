"""Datasets: ``load(name, **options)`` returns the train pool and the evaluation split.

Classification datasets give pixels as float32 in [0, 1] and integer labels. Every option that
changes the data (evaluation split, held-out size, ...) is echoed in ``Dataset.choices`` so the
protocol records it in each result row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from . import cifar10, digits, files, gas_sensor_drift, mnist, synthetic_regression, uci
from ._store import FileStatus, check, data_dir


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str  # "classification" or "regression"
    x_pool: np.ndarray
    y_pool: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    num_classes: int | None = None
    choices: dict[str, Any] = field(default_factory=dict)
    # Each pool row's row number in the user's source file (file datasets; None otherwise).
    pool_rows: np.ndarray | None = None
    # Fixed (n_pool, d) embeddings for selection (``dataset.embeddings=FILE.npy``), used instead
    # of the warm-start model's; None: the model's.
    embeddings: np.ndarray | None = None

    @property
    def n_pool(self) -> int:
        return int(self.x_pool.shape[0])


@dataclass(frozen=True)
class _Entry:
    load: Callable[..., dict]
    manifest: Callable[..., list]  # FileSpecs a complete copy needs ([] for embedded data)
    task: str
    default_model: str | None = None  # the paper's model for this dataset (model=auto)
    # The user's file's identity (its sha256), added to the run's identity; None: built-in data.
    fingerprint: Callable[[dict], dict] | None = None


REGISTRY: dict[str, _Entry] = {
    "digits": _Entry(digits.load, digits.manifest, "classification", "mlp"),
    "mnist": _Entry(mnist.loader("mnist"), mnist.manifest("mnist"), "classification", "mlp"),
    "fashion_mnist": _Entry(mnist.loader("fashion_mnist"), mnist.manifest("fashion_mnist"),
                            "classification", "mlp"),
    "cifar10": _Entry(cifar10.load, cifar10.manifest, "classification", "cnn_distil"),
    "gas_sensor_drift": _Entry(gas_sensor_drift.load, gas_sensor_drift.manifest, "regression",
                               "linear"),
    "synthetic_regression": _Entry(synthetic_regression.load, synthetic_regression.manifest,
                                   "regression", "linear"),
    # your own files (data/files.py)
    "npz": _Entry(files.load_npz, lambda: [], "classification", "mlp",
                  lambda opts: files.fingerprint("npz", opts)),
    "table": _Entry(files.load_table, lambda: [], "regression", "linear",
                    lambda opts: files.fingerprint("table", opts)),
    # a UCI repository dataset by id, fetched once with ucimlrepo and cached (data/uci.py)
    "uci": _Entry(uci.load, lambda: [], "regression", "linear", uci.fingerprint),
    # features (e.g. a frozen encoder's embeddings) + a label file; a linear probe by default
    "npy": _Entry(files.load_npy, lambda: [], "classification", "linear", files.npy_fingerprint),
}
# A user's file, by config key, and the key of its sha256 in the run's identity: the digest
# identifies the run, the file's location does not.
FILE_DIGESTS = {"path": "sha256", "embeddings": "embeddings_sha256",
                **{key: digest for key, (_, digest) in files.NPY_FILES.items()}}

def label(name: str, options: dict[str, Any]) -> str:
    """The ``dataset`` value of result rows: the dataset's name, or for a file dataset the
    file's name (``my_data.npz``), so rows of two files never share a cell or a table line;
    ``uci_<id>`` for a UCI dataset."""
    if name == "uci":
        return f"uci_{options.get('id')}"
    if entry(name).fingerprint is not None and options.get("path"):
        return Path(str(options["path"])).name
    return name


def fingerprint(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """What identifies the user's files of a run: ``sha256`` of a file dataset's file and
    ``embeddings_sha256`` of a fixed-embeddings file (one-line errors if missing); {} for a
    built-in dataset without them."""
    found = entry(name)
    out = found.fingerprint(options) if found.fingerprint is not None else {}
    if options.get("embeddings"):
        out["embeddings_sha256"] = files.embeddings_fingerprint(options["embeddings"])
    return out


def names() -> list[str]:
    return sorted(REGISTRY)


def builtin_names() -> list[str]:
    """The datasets shipped or mirrored (not read from a user's file)."""
    return [n for n in names() if REGISTRY[n].fingerprint is None]


def entry(name: str) -> _Entry:
    if name not in REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; valid choices: {', '.join(names())}")
    return REGISTRY[name]


def _subset(n: int, limit: int | None, what: str, stream: int) -> np.ndarray | None:
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ConfigError(f"dataset.{what}={limit!r} must be a positive integer or null")
    if limit >= n:
        return None
    # fixed, seed-independent subset (the run seed never changes the data)
    return np.sort(np.random.default_rng([20240611, stream]).choice(n, limit, replace=False))


# The last built-in dataset this process loaded, its arrays read-only: a sweep worker's next
# jobs reuse it (MNIST: 0.6 s a job of decompressing and converting otherwise). Keyed by the
# data folder, the options and the files' sizes and mtimes, as the on-disk cache is.
_LAST: dict[tuple, Dataset] = {}


def _memo_key(name: str, found: _Entry, options: dict[str, Any]) -> tuple | None:
    if found.fingerprint is not None or options.get("embeddings"):
        return None   # a user's files: their digests are checked on every load
    root = data_dir() / name
    stats = []
    for spec in found.manifest():
        try:
            st = (root / spec.relpath).stat()
        except OSError:
            return None
        stats.append((spec.relpath, st.st_size, st.st_mtime_ns))
    return (str(root), name, repr(sorted(options.items(), key=lambda kv: kv[0])), tuple(stats))


def load(name: str, *, max_pool: int | None = None, max_eval: int | None = None,
         **options: Any) -> Dataset:
    """Load dataset ``name``; ``options`` are the dataset config's keys (see ``conf/dataset``).

    ``embeddings`` (a .npy path; ``+dataset.embeddings=FILE`` for the built-in datasets) gives
    fixed embeddings for selection: one row per training example, in the order of the file's
    ``x_train`` rows (``npz``) or of the pool (built-in datasets).

    ``max_pool`` / ``max_eval`` keep a fixed random subset of the pool / evaluation split (for
    smoke tests and quick looks; recorded in ``choices``).
    """
    found = entry(name)
    key = _memo_key(name, found, {**options, "max_pool": max_pool, "max_eval": max_eval})
    if key is not None and key in _LAST:
        return _LAST[key]
    ds = _load(found, name, max_pool, max_eval, options)
    if key is not None:
        for value in vars(ds).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
        _LAST.clear()
        _LAST[key] = ds
    return ds


def _load(found: _Entry, name: str, max_pool: int | None, max_eval: int | None,
          options: dict[str, Any]) -> Dataset:
    emb_path = options.pop("embeddings", None)
    emb_sha = options.pop("embeddings_sha256", None)
    parts = found.load(**options)
    if emb_path:
        parts["embeddings"] = files.load_embeddings(emb_path, emb_sha, len(parts["x_pool"]),
                                                    parts.get("pool_rows"),
                                                    parts["choices"].get("n_rows"))
        parts["choices"] = {**parts["choices"], "embeddings": str(emb_path),
                            "embeddings_sha256": files.sha256(emb_path)}
    for prefix, limit, what, stream in (("x_pool", max_pool, "max_pool", 0),
                                        ("x_eval", max_eval, "max_eval", 1)):
        keep = _subset(len(parts[prefix]), limit, what, stream)
        if keep is not None:
            y = "y_" + prefix[2:]
            parts[prefix], parts[y] = parts[prefix][keep], parts[y][keep]
            for aligned in ("pool_rows", "embeddings"):
                if prefix == "x_pool" and parts.get(aligned) is not None:
                    parts[aligned] = parts[aligned][keep]
            parts["choices"] = {**parts["choices"], what: limit}
    return Dataset(name=label(name, options), task=found.task, **parts)


def verify(name: str) -> list[FileStatus]:
    """Hash every file a complete copy of ``name`` needs (no download, no cache)."""
    return [check(name, spec) for spec in entry(name).manifest()]


__all__ = ["Dataset", "load", "verify", "names", "data_dir"]

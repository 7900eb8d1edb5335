"""Your own data from a file, no code: ``dataset=npz`` (classification) and ``dataset=table``
(regression).

``npz``: one ``.npz`` with ``x_train`` (n, ...) numeric and ``y_train`` (n,) integer labels
0..C-1, and either ``x_test``/``y_test`` (the evaluation split) or neither (then a stratified
``eval_fraction`` of the training rows is held out, fixed by ``split_seed``). Images, tabular
features or precomputed embeddings all work: the MLP flattens whatever shape it gets.

``table``: a ``.csv`` or ``.parquet`` with a numeric ``target`` column; the features are
``features`` (default: every other column), a ``val_fraction`` of the rows is the validation
split, and an intercept column is appended (``intercept: true``) as for the built-in sets.

The file's sha256 is part of every run's identity (``dataset.sha256``), and its path is not, so
changing the file never reuses old rows and moving it does. Every problem is one line naming
the file and what is wrong. ``Dataset.choices["pool_rows"]`` is each pool row's row number in
the source file (``x_train`` or the table), so a selection maps back to the user's records.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError

_SHA: dict[tuple, str] = {}
# kind -> (file suffixes, what the file must hold: for the missing-path message)
_KINDS = {"npz": ((".npz",), "arrays x_train, y_train and x_test, y_test"),
          "table": ((".csv", ".parquet"), "a .csv or .parquet with a target column")}
NPZ_ARRAYS = ("x_train", "y_train")
_LABEL_SUFFIXES = (".npy", ".txt", ".csv")


def sha256(path: str | os.PathLike) -> str:
    """The file's sha256 (memoised per path, size and mtime within the process)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        _SHA[key] = h.hexdigest()
    return _SHA[key]


def _file(key: str, value: Any, suffixes: Sequence[str], *, missing: str, reads: str) -> Path:
    """The existing file ``key=value`` names, with one of ``suffixes``; one line otherwise."""
    if value in (None, "", "null"):
        raise ConfigError(missing)
    p = Path(str(value)).expanduser()
    if not p.is_file():
        raise DataError(f"{key}={value}: no such file")
    if p.suffix.lower() not in suffixes:
        raise ConfigError(f"{key}={value}: {reads.format(' or '.join(suffixes))}")
    return p


def _existing(kind: str, path: Any, suffixes: Sequence[str], example: str) -> Path:
    key = "dataset.embeddings" if kind == "embeddings" else "dataset.path"
    what = "embeddings are" if kind == "embeddings" else f"dataset={kind} reads"
    return _file(key, path, suffixes, missing=f"dataset={kind} needs dataset.path=FILE ({example})",
                 reads=what + " {} files")


def fingerprint(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """What identifies the data of a file dataset: its sha256 (checked before any run)."""
    suffixes, example = _KINDS[kind]
    return {"sha256": sha256(_existing(kind, options.get("path"), suffixes, example))}


def _check_same_file(path: Path, expected: str | None) -> str:
    found = sha256(path)
    if expected is not None and expected != found:
        raise DataError(f"dataset.path={path} changed while the sweep ran (sha256 {found[:12]}..., "
                        f"expected {expected[:12]}...); re-run to use the new file")
    return found


def _labels(path: Path, name: str, y: np.ndarray) -> np.ndarray:
    if y.ndim != 1:
        raise DataError(f"{path}: {name} must be 1-D (one label per row), got shape {y.shape}")
    if y.dtype.kind in "iu":
        labels = y.astype(np.int64)
    elif y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        labels = y.astype(np.int64)
    elif y.dtype.kind == "b":
        labels = y.astype(np.int64)
    else:
        raise DataError(f"{path}: {name} must hold integer labels 0..C-1, got dtype {y.dtype}")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{path}: {name} must hold integer labels 0..C-1, found {labels.min()}")
    return labels


def _features(path: Path, name: str, x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "iufb":
        raise DataError(f"{path}: {name} must be numeric, got dtype {x.dtype}")
    if x.ndim < 2:
        raise DataError(f"{path}: {name} must have one row per example (2-D or more), got "
                        f"shape {x.shape}")
    x = x.astype(np.float32)
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise DataError(f"{path}: {name} has {bad} NaN or infinite value(s)")
    return x


def load_npz(*, path: str | None = None, sha256: str | None = None, eval_fraction: float = 0.2,
             split_seed: int = 0) -> dict:
    p = _existing("npz", path, *_KINDS["npz"])
    found = _check_same_file(p, sha256)
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"dataset.path={path} is not a readable .npz file ({exc})") from None
    missing = [k for k in NPZ_ARRAYS if k not in arrays]
    if missing:
        raise DataError(f"{p} lacks array(s) {', '.join(missing)}; it has: "
                        f"{', '.join(sorted(arrays)) or 'none'} (needed: x_train, y_train, and "
                        "x_test, y_test or neither)")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{p} has only one of x_test, y_test; give both or neither")
    parts = {}
    for split in ("train", "test"):
        if f"x_{split}" not in arrays:
            continue
        x = _features(p, f"x_{split}", arrays[f"x_{split}"])
        y = _labels(p, f"y_{split}", arrays[f"y_{split}"])
        if len(x) != len(y):
            raise DataError(f"{p}: x_{split} has {len(x)} rows but y_{split} has {len(y)}")
        parts[split] = (x, y)
    choices = {"path": str(p), "sha256": found}
    return _classification(p, parts, choices, eval_fraction, split_seed)


def _classification(p: Path, parts: dict, choices: dict, eval_fraction: float,
                    split_seed: int, names: tuple[str, str, str] = ("x_train", "y_train", "x_test")
                    ) -> dict:
    """The pool and evaluation split of a classification file: ``parts["train"]`` = (x, y) and
    optionally ``parts["test"]``; without a test split a stratified ``eval_fraction`` of the
    training rows is held out (fixed by ``split_seed``)."""
    x, y = parts["train"]
    if "test" in parts and parts["test"][0].shape[1:] != x.shape[1:]:
        raise DataError(f"{p}: {names[2]} rows have shape {parts['test'][0].shape[1:]}, "
                        f"{names[0]} rows {x.shape[1:]}")
    num_classes = int(max(labels.max(initial=0) for _, labels in parts.values())) + 1
    absent = sorted(set(range(num_classes)) - set(np.unique(y).tolist()))
    if absent:
        raise DataError(f"{p}: labels must be 0..C-1 with every class in {names[1]}; class(es) "
                        f"{', '.join(map(str, absent[:10]))} of 0..{num_classes - 1} are absent")
    choices = {**choices, "num_classes": num_classes, "n_rows": int(len(x))}
    if "test" in parts:
        x_eval, y_eval = parts["test"]
        pool_rows = np.arange(len(x))
        choices["eval_split"] = "test"
    else:
        if not 0.0 < eval_fraction < 1.0:
            raise ConfigError(f"dataset.eval_fraction={eval_fraction} must be in (0, 1)")
        from sklearn.model_selection import train_test_split

        rows = np.arange(len(x))
        try:
            pool_rows, eval_rows = train_test_split(rows, test_size=eval_fraction, stratify=y,
                                                    random_state=split_seed)
        except ValueError as exc:
            raise DataError(f"{p}: cannot hold out eval_fraction={eval_fraction} stratified "
                            f"by class ({exc})") from None
        pool_rows, eval_rows = np.sort(pool_rows), np.sort(eval_rows)
        x_eval, y_eval = x[eval_rows], y[eval_rows]
        x, y = x[pool_rows], y[pool_rows]
        choices.update(eval_split="held_out", eval_fraction=eval_fraction, split_seed=split_seed)
    return dict(x_pool=x, y_pool=y, x_eval=x_eval, y_eval=y_eval, num_classes=num_classes,
                choices=choices, pool_rows=pool_rows)


# dataset=npy: the files it reads, by config key -> (suffixes, the digest key in the identity)
NPY_FILES = {"path": ((".npy",), "sha256"), "labels": (_LABEL_SUFFIXES, "labels_sha256"),
             "test_path": ((".npy",), "test_sha256"),
             "test_labels": (_LABEL_SUFFIXES, "test_labels_sha256")}


def _npy_file(key: str, value: Any) -> Path:
    suffixes = NPY_FILES[key][0]
    return _file(f"dataset.{key}", value, suffixes,
                 missing=f"dataset=npy needs dataset.{key}=FILE ({' or '.join(suffixes)})",
                 reads="dataset=npy reads {} files here")


def npy_fingerprint(options: dict[str, Any]) -> dict[str, Any]:
    """sha256 of each file of a ``dataset=npy`` run (features, labels, optional test pair)."""
    if bool(options.get("test_path")) != bool(options.get("test_labels")):
        raise ConfigError("dataset=npy: give both dataset.test_path and dataset.test_labels, or "
                          "neither (then eval_fraction of the rows is held out)")
    return {digest: sha256(_npy_file(key, options.get(key)))
            for key, (_, digest) in NPY_FILES.items()
            if key in ("path", "labels") or options.get(key)}


def _read_labels(p: Path) -> np.ndarray:
    """One label per example from a .npy (1-D), a .txt (one per line) or a .csv (one column with
    a header line): integers 0..C-1 or class names (strings). A first line that is not an
    integer above integer labels is a header in either text format."""
    if p.suffix.lower() == ".npy":
        try:
            y = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{p} is not a readable .npy file ({exc})") from None
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DataError(f"{p}: labels must be 1-D (one per example), got shape {y.shape}")
        return y.astype(str) if y.dtype.kind in "US" else y
    import pandas as pd

    try:
        frame = pd.read_csv(p, header=None, dtype=str, skip_blank_lines=True,
                            keep_default_na=False)
    except Exception as exc:   # pandas raises many parser error types
        raise DataError(f"{p} is not a readable label file ({type(exc).__name__}: {exc})") from None
    if frame.shape[1] != 1:
        raise DataError(f"{p}: a label file holds one label per line, found {frame.shape[1]} "
                        "columns")
    values = [v.strip() for v in frame.iloc[:, 0].tolist()]
    integers = [_is_int(v) for v in values]
    if values and (p.suffix.lower() == ".csv" and not all(integers)
                   or not integers[0] and all(integers[1:])):
        values = values[1:]    # the header line
    if values and all(_is_int(v) for v in values):
        return np.array([int(v) for v in values], dtype=np.int64)
    return np.array(values, dtype=str)


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def load_npy(*, path: str | None = None, labels: str | None = None, test_path: str | None = None,
             test_labels: str | None = None, eval_fraction: float = 0.2, split_seed: int = 0,
             **digests: str) -> dict:
    """Features (e.g. a frozen encoder's embeddings) from a .npy and labels from a second file;
    labels that are class names are numbered in sorted order (``choices["classes"]``)."""
    given = {"path": path, "labels": labels, "test_path": test_path, "test_labels": test_labels}
    found = npy_fingerprint(given)
    for key, (_, digest) in NPY_FILES.items():
        if digest in found and digests.get(digest) not in (None, found[digest]):
            raise DataError(f"dataset.{key}={given[key]} changed while the sweep ran (sha256 "
                            f"{found[digest][:12]}..., expected {digests[digest][:12]}...); re-run "
                            "to use the new file")
    raw = {}
    for split, (xk, yk) in (("train", ("path", "labels")), ("test", ("test_path", "test_labels"))):
        if not given[xk]:
            continue
        px, py = _npy_file(xk, given[xk]), _npy_file(yk, given[yk])
        try:
            x = np.load(px, allow_pickle=False, mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"dataset.{xk}={given[xk]} is not a readable .npy file ({exc})") from None
        y = _read_labels(py)
        if len(x) != len(y):
            header = " (after its header line)" if py.suffix.lower() == ".csv" else ""
            raise DataError(f"{px} has {len(x)} rows but {py} has {len(y)} labels{header}")
        raw[split] = (px, x, py, y)
    names = [y for *_, y in raw.values()]
    classes = None
    if any(y.dtype.kind == "U" for y in names):
        if not all(y.dtype.kind == "U" for y in names):
            raise DataError(f"{raw['train'][2]}: the training and test labels must both be "
                            "integers or both be class names")
        classes = sorted(set(raw["train"][3].tolist()))
        if "test" in raw:
            unknown = sorted(set(raw["test"][3].tolist()) - set(classes))
            if unknown:
                raise DataError(f"{raw['test'][2]}: class(es) {', '.join(map(repr, unknown[:5]))} "
                                f"are not in the training labels ({raw['train'][2]})")
    parts = {}
    for split, (px, x, py, y) in raw.items():
        if classes is not None:
            y = np.searchsorted(np.array(classes), y)
        parts[split] = (_features(px, "the features", np.asarray(x)), _labels(py, "labels", y))
    choices: dict[str, Any] = {"path": str(given["path"]), **found}
    if classes is not None:
        choices["classes"] = classes
    return _classification(raw["train"][0], parts, choices, eval_fraction, split_seed,
                           ("training features", str(raw["train"][2]), "test_path"))


def load_table(*, path: str | None = None, sha256: str | None = None, target: str | None = None,
               features: Sequence[str] | None = None, val_fraction: float = 0.2,
               split_seed: int = 0, intercept: bool = True) -> dict:
    import pandas as pd

    p = _existing("table", path, *_KINDS["table"])
    found = _check_same_file(p, sha256)
    if not target:
        raise ConfigError("dataset=table needs dataset.target=COLUMN (the column to predict)")
    try:
        frame = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p)
    except ImportError:
        raise DataError(f"reading {p} needs pyarrow (pip install pyarrow), or give a .csv") from None
    except Exception as exc:   # pandas raises many parser error types
        raise DataError(f"dataset.path={path} is not a readable table ({type(exc).__name__}: "
                        f"{exc})") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if target not in columns:
        raise DataError(f"{p} has no column {target!r} (dataset.target); columns: "
                        f"{', '.join(columns)}")
    feats = list(features) if features else [c for c in columns if c != target]
    unknown = [c for c in feats if c not in columns]
    if unknown:
        raise DataError(f"{p} has no column(s) {', '.join(unknown)} (dataset.features)")
    non_numeric = [c for c in [*feats, target] if frame[c].dtype.kind not in "iufb"]
    if non_numeric:
        raise DataError(f"{p}: column(s) {', '.join(non_numeric)} are not numeric; choose "
                        "numeric ones with dataset.features=[...]")
    values = frame[[*feats, target]].to_numpy(dtype=np.float64)
    bad_rows = int((~np.isfinite(values)).any(axis=1).sum())
    if bad_rows:
        raise DataError(f"{p}: {bad_rows} row(s) have missing (NaN) or infinite values in the "
                        "features or the target")
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"dataset.val_fraction={val_fraction} must be in (0, 1)")
    n = len(values)
    n_val = int(round(val_fraction * n))
    if n_val < 1 or n - n_val < 2:
        raise DataError(f"{p}: {n} rows are too few for val_fraction={val_fraction}")
    order = np.random.default_rng(split_seed).permutation(n)
    val_rows, pool_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    a = values[:, :-1]
    if intercept:
        a = np.c_[a, np.ones(n)]
    b = values[:, -1]
    return dict(x_pool=a[pool_rows], y_pool=b[pool_rows], x_eval=a[val_rows], y_eval=b[val_rows],
                choices={"path": str(p), "sha256": found, "target": target, "n_rows": n,
                         "features": feats, "val_fraction": val_fraction,
                         "split_seed": split_seed, "intercept": intercept},
                pool_rows=pool_rows)


def embeddings_fingerprint(path: Any) -> str:
    return sha256(_existing("embeddings", path, (".npy",), "a .npy of one row per example"))


def load_embeddings(path: Any, expected_sha: str | None, n_pool: int,
                    pool_rows: np.ndarray | None, n_source: int | None = None) -> np.ndarray:
    """Fixed embeddings for selection from a .npy: (n, d) numeric, finite, one row per training
    example: per pool row, or per source row (``n_source`` of them) when ``pool_rows`` maps the
    pool to the source file's rows."""
    p = _existing("embeddings", path, (".npy",), "a .npy of one row per example")
    _check_same_file(p, expected_sha)
    try:
        emb = np.load(p, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"dataset.embeddings={path} is not a readable .npy file ({exc})") from None
    if emb.ndim != 2:
        raise DataError(f"{p}: embeddings must be 2-D (one row per example), got shape {emb.shape}")
    want = n_pool if pool_rows is None else n_source
    if len(emb) != want:
        where = "pool points" if pool_rows is None else "rows of the data file"
        raise DataError(f"{p} has {len(emb)} embedding rows for {want} {where}")
    x = _features(p, "the embeddings", np.asarray(emb if pool_rows is None else emb[pool_rows]))
    return np.ascontiguousarray(x)

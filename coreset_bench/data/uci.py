"""``dataset=uci dataset.id=N [dataset.target=COLUMN]``: a UCI Machine Learning Repository
dataset by id, for the regression track, fetched with ``ucimlrepo`` (Kelly, Longjohn & Nottingham,
https://github.com/uci-ml-repo/ucimlrepo).

The first use fetches the dataset's table (``data.original``: ids, features and targets as the
repository serves them) and caches it as ``<data_dir>/uci/<id>/data.csv`` with ``meta.json``
(name, target columns, sha256, fetch time). Every later use reads the cache, checked against
that sha256, and never goes online; the sha256 joins the run's identity as for
``dataset=table``, whose loader reads the file (features: every numeric column but the target
and the id columns, or ``dataset.features``; a held-out ``val_fraction``; an intercept).
Offline without a cache, or with ``CORESET_BENCH_DOWNLOAD=never``: one line saying so.
"""

from __future__ import annotations

import datetime as _dt
import json
import socket
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, DataError
from . import files
from ._store import data_dir, downloads_enabled

TIMEOUT_S = 60


def _check_id(uci_id: Any) -> int:
    if isinstance(uci_id, bool) or not isinstance(uci_id, int) or uci_id < 1:
        raise ConfigError(f"dataset.id={uci_id!r} must be a positive integer (the dataset's id in "
                          "the UCI repository, e.g. dataset.id=9 for Auto MPG)")
    return uci_id


def folder(uci_id: int) -> Path:
    return data_dir() / "uci" / str(uci_id)


def _fetch(uci_id: int, where: Path) -> dict[str, Any]:
    """Fetch with ucimlrepo and write the cache (table first, then meta.json, both atomic)."""
    from ..store import atomic_write_bytes

    if not downloads_enabled():
        raise DataError(f"dataset=uci dataset.id={uci_id} is not cached under {where} and "
                        "downloads are off (CORESET_BENCH_DOWNLOAD=never)")
    try:
        from ucimlrepo import fetch_ucirepo
        from ucimlrepo.fetch import DatasetNotFoundError
    except ImportError:
        raise DataError("dataset=uci needs the ucimlrepo package (pip install ucimlrepo)") from None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_S)
    try:
        repo = fetch_ucirepo(id=uci_id)
    except DatasetNotFoundError as exc:
        raise DataError(f"dataset.id={uci_id}: {exc}") from None
    except (ConnectionError, OSError) as exc:
        raise DataError(f"dataset=uci dataset.id={uci_id} is not cached under {where} and the UCI "
                        f"repository cannot be reached ({exc}); run it once online, or give the "
                        "table as dataset=table dataset.path=FILE.csv") from None
    finally:
        socket.setdefaulttimeout(previous)
    frame = repo.data.original
    roles = repo.variables if repo.variables is not None else None
    by_role = ({r: [str(n) for n in roles[roles["role"] == r]["name"]] for r in ("ID", "Target")}
               if roles is not None and len(roles) else {"ID": [], "Target": []})
    csv = where / "data.csv"
    atomic_write_bytes(csv, frame.to_csv(index=False).encode())
    meta = {"id": uci_id, "name": str(repo.metadata.get("name", "")),
            "targets": by_role["Target"], "ids": by_role["ID"],
            "columns": [str(c) for c in frame.columns], "n_rows": int(len(frame)),
            "sha256": files.sha256(csv),
            "fetched_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": f"https://archive.ics.uci.edu/dataset/{uci_id}"}
    atomic_write_bytes(where / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    return meta


def _fetch_once(uci_id: int, where: Path) -> None:
    """Fetch under an exclusive lock beside the cache folder: the parallel workers of a sweep
    fetch the dataset once; the others wait and read the cache."""
    import fcntl

    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        lock = open(where.parent / f".{where.name}.lock", "w")
    except OSError:   # a read-only data folder: _fetch says what is missing
        _fetch(uci_id, where)
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:   # no locks on this filesystem: each worker may fetch once
            pass
        if not ((where / "data.csv").is_file() and (where / "meta.json").is_file()):
            _fetch(uci_id, where)


def cached(uci_id: Any) -> tuple[Path, dict[str, Any]]:
    """The cached table of dataset ``uci_id`` and its meta.json (fetched on first use)."""
    uci_id = _check_id(uci_id)
    where = folder(uci_id)
    csv, meta_path = where / "data.csv", where / "meta.json"
    if not (csv.is_file() and meta_path.is_file()):
        _fetch_once(uci_id, where)
    try:
        meta = json.loads(meta_path.read_text())
        expected = meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{meta_path} is damaged ({exc}); delete {where} to fetch it again") from None
    found = files.sha256(csv)
    if found != expected:
        raise DataError(f"{csv} does not match the sha256 recorded when it was fetched "
                        f"({found[:12]}... vs {expected[:12]}...); delete {where} to fetch it again")
    return csv, meta


def fingerprint(options: dict[str, Any]) -> dict[str, Any]:
    return {"sha256": cached(options.get("id"))[1]["sha256"]}


def load(*, id: Any = None, sha256: str | None = None, target: str | None = None,
         features: Sequence[str] | None = None, val_fraction: float = 0.2, split_seed: int = 0,
         intercept: bool = True) -> dict:
    csv, meta = cached(id)
    if not target:
        if len(meta["targets"]) != 1:
            raise ConfigError(f"dataset=uci dataset.id={id} ({meta['name']}) needs "
                              f"dataset.target=COLUMN; the repository's target column(s): "
                              f"{', '.join(meta['targets']) or 'none'}; columns: "
                              f"{', '.join(meta['columns'])}")
        target = meta["targets"][0]
    if not features:   # every column but the target and the id columns (the table checks types)
        features = [c for c in meta["columns"] if c != target and c not in meta["ids"]]
    parts = files.load_table(path=str(csv), sha256=sha256, target=target, features=features,
                             val_fraction=val_fraction, split_seed=split_seed, intercept=intercept)
    parts["choices"] = {**parts["choices"], "uci_id": meta["id"], "uci_name": meta["name"],
                        "fetched_at": meta["fetched_at"]}
    return parts

"""Tidy result rows: one JSON file per run, written atomically; ``load`` returns a DataFrame.

Layout under ``results_dir``::

    rows/<run_key>.json          one row (status ok or failed); replaced atomically on re-run
    selections/<run_key>.npy     the selected pool indices of the run

A row file appears only through ``os.replace`` of a fully written temporary file in the same
directory, so a killed run leaves either no row or a complete one; temporary files are named
``.*.tmp`` and ignored by ``load``.

A row file that does not parse, is not a JSON object, lacks a required column, or whose run_key
is not its file name (a half-copied or foreign file) is damaged: ``read_row`` (the sweep's
"is it done?" check) moves it aside to ``quarantine/rows/`` inside results_dir, never deleting
it, warns with one line naming it and the reason, and treats the run as not done, so a resume
re-runs it; ``load`` (``results``, ``report``) skips it with the same line and counts it in
``frame.attrs["damaged"]``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

ROWS = "rows"
SELECTIONS = "selections"
CELLS = "cells"
CELL_FIELDS = ("dataset", "model", "sampler", "budget", "seed")
QUARANTINE = "quarantine"
# Columns a row file must have to count as a row.
REQUIRED_COLUMNS = ("dataset", "model", "sampler", "budget", "seed", "status", "run_key")

log = logging.getLogger(__name__)


class DamagedRow(ValueError):
    """A row file that is not a row (the message says why)."""

# Columns every row has, in this order at the front of ``load``'s frame.
CORE_COLUMNS = [
    "dataset", "model", "sampler", "budget", "seed", "status", "accuracy", "loss",
    "n_inferences", "run_key",
]


def run_key(identity: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit key of a run's identity (every choice that can change its result)."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def cell_name(cell: Mapping[str, Any]) -> str:
    """File-safe name of a (dataset, model, sampler, budget, seed) cell."""
    return "-".join(str(cell[f]) for f in CELL_FIELDS)


def cell_owner(results_dir: str | os.PathLike, cell: Mapping[str, Any]) -> str | None:
    """The run_key whose row occupies this cell in ``results_dir``, if any."""
    try:
        return (Path(results_dir) / CELLS / cell_name(cell)).read_text().strip() or None
    except FileNotFoundError:
        return None


def check_writable(results_dir: str | os.PathLike) -> None:
    """Raise OSError with the reason if rows cannot be written under ``results_dir``."""
    rows = Path(results_dir) / ROWS
    rows.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=rows, prefix=".probe.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)


def row_path(results_dir: str | os.PathLike, key: str) -> Path:
    return Path(results_dir) / ROWS / f"{key}.json"


def parse_row(path: Path) -> dict[str, Any]:
    """The row in ``path``; DamagedRow (with the reason) if it is not a valid row file;
    FileNotFoundError if there is none."""
    raw = path.read_bytes()
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DamagedRow(f"does not parse as JSON ({len(raw)} bytes; {exc})") from None
    if not isinstance(row, dict):
        raise DamagedRow(f"is a JSON {type(row).__name__}, not a row object")
    missing = [c for c in REQUIRED_COLUMNS if c not in row]
    if missing:
        raise DamagedRow(f"lacks the column(s) {', '.join(missing)}")
    if row["run_key"] != path.stem:
        raise DamagedRow(f"holds run_key {row['run_key']!r}, not its file name's {path.stem!r}")
    return row


def warn_damaged(path: Path, reason: str, action: str) -> None:
    log.warning("damaged row file %s: %s; %s", path, reason, action)


def quarantine(results_dir: str | os.PathLike, path: Path) -> Path:
    """Move ``path`` to ``results_dir/quarantine/<its folder>/`` (a timestamp keeps every copy)."""
    dest_dir = Path(results_dir) / QUARANTINE / path.parent.name
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"
    os.replace(path, dest)
    return dest


def read_row(results_dir: str | os.PathLike, key: str) -> dict[str, Any] | None:
    """The row of ``key``, or None if there is none; a damaged file is quarantined (warned,
    never deleted) and counts as none, so the run is done again."""
    path = row_path(results_dir, key)
    try:
        return parse_row(path)
    except FileNotFoundError:
        return None
    except DamagedRow as exc:
        try:
            dest = quarantine(results_dir, path)
            warn_damaged(path, str(exc), f"moved to {dest}; the run counts as not done")
        except FileNotFoundError:   # another worker moved it first
            pass
        return None


def has_ok_row(results_dir: str | os.PathLike, key: str) -> bool:
    row = read_row(results_dir, key)
    return row is not None and row.get("status") == "ok"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_row(results_dir: str | os.PathLike, row: Mapping[str, Any]) -> Path:
    """Write ``row`` as ``rows/<run_key>.json`` atomically and return its path; the row's cell
    (dataset, model, sampler, budget, seed) is marked as holding this run_key."""
    path = row_path(results_dir, row["run_key"])
    data = json.dumps(dict(row), sort_keys=True, indent=1, default=_jsonable).encode()
    atomic_write_bytes(path, data)
    atomic_write_bytes(Path(results_dir) / CELLS / cell_name(row), row["run_key"].encode())
    return path


def selection_sha1(indices: np.ndarray) -> str:
    """The digest a row records of its selection (``selection_sha1``)."""
    return hashlib.sha1(np.asarray(indices, np.int64).tobytes()).hexdigest()


def write_selection(results_dir: str | os.PathLike, key: str, indices: np.ndarray) -> Path:
    path = Path(results_dir) / SELECTIONS / f"{key}.npy"
    buf = io.BytesIO()
    np.save(buf, np.asarray(indices, dtype=np.int64))
    atomic_write_bytes(path, buf.getvalue())
    return path


def read_selection(results_dir: str | os.PathLike, key: str) -> np.ndarray:
    return np.load(Path(results_dir) / SELECTIONS / f"{key}.npy")


def load(results_dir: str | os.PathLike = "results") -> pd.DataFrame:
    """All rows under ``results_dir`` as one DataFrame (empty, with the core columns, if none)."""
    rows_dir = Path(results_dir) / ROWS
    records, damaged = [], 0
    if rows_dir.is_dir():
        for path in sorted(rows_dir.glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                records.append(parse_row(path))
            except FileNotFoundError:   # moved or replaced while listing
                continue
            except DamagedRow as exc:
                damaged += 1
                warn_damaged(path, str(exc), "skipped")
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        frame = pd.DataFrame(columns=CORE_COLUMNS)
    else:
        front = [c for c in CORE_COLUMNS if c in frame.columns]
        frame = frame[front + [c for c in frame.columns if c not in front]]
    frame.attrs["damaged"] = damaged
    if damaged:
        log.warning("%d damaged row file(s) under %s skipped", damaged, rows_dir)
    return frame

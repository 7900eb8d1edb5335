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
``frame.attrs["damaged"]``. A selection file that does not load or whose sha1 is not its row's
is quarantined the same way (to ``quarantine/selections/``) and the run counts as not done.

Writes that fail (full disk, read-only or unwritable path) raise ``StoreError`` naming the path
and the cause; the temporary file is removed, so nothing partial is left.

Concurrent sweeps: see ``claims`` (one process at a time per cell).
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

from ..errors import StoreError

ROWS = "rows"
SELECTIONS = "selections"
CELLS = "cells"
CELL_FIELDS = ("dataset", "model", "sampler", "budget", "seed")
QUARANTINE = "quarantine"
# Columns a row file must have to count as a row.
REQUIRED_COLUMNS = ("dataset", "model", "sampler", "budget", "seed", "status", "run_key")

log = logging.getLogger(__name__)
# Files get the permissions of a plain open() (0666 less the umask), not mkstemp's 0600, so a
# results_dir shared by a group stays readable by it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


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


def check_writable(results_dir: str | os.PathLike, probe_bytes: int = 0) -> None:
    """Raise OSError with the reason if rows cannot be written under ``results_dir``; with
    ``probe_bytes`` (the CLI uses 16 KiB, a few rows) a full disk is found before any run."""
    rows = Path(results_dir) / ROWS
    rows.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=rows, prefix=".probe.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if probe_bytes:
                fh.write(b"\0" * probe_bytes)
                fh.flush()
                os.fsync(fh.fileno())
    finally:
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
    dest = dest_dir / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
    except FileNotFoundError:   # another worker moved it first (callers treat it as gone)
        raise
    except OSError as exc:
        raise StoreError(dest, exc) from exc
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


def selection_path(results_dir: str | os.PathLike, key: str) -> Path:
    return Path(results_dir) / SELECTIONS / f"{key}.npy"


def selection_problem(results_dir: str | os.PathLike, row: Mapping[str, Any]) -> str | None:
    """Why the selection file of an ok row is not sound (missing though the row says it was
    saved, does not load, or its sha1 is not the row's), or None. Rows written with
    ``save_selection=false`` (``selection_saved`` false) have none; rows older than that column
    are not faulted for a missing one, nor rows imported from published files (``published``:
    those files carry ``selection_sha1`` but not the indices; see ``store.published``)."""
    path = selection_path(results_dir, row["run_key"])
    if not path.is_file():
        return "is missing" if row.get("selection_saved") and not row.get("published") else None
    try:
        chosen = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        return f"does not load ({type(exc).__name__}: {exc})"
    digest, recorded = selection_sha1(chosen), row.get("selection_sha1")
    if recorded is not None and digest != recorded:
        return f"has sha1 {digest}, its row says {recorded}"
    return None


def has_ok_row(results_dir: str | os.PathLike, key: str) -> bool:
    """Is the run ``key`` done: an ok row, and its sound selection file? A damaged row or
    selection file is quarantined (warned, never deleted) and the run is not done."""
    row = read_row(results_dir, key)
    if row is None or row.get("status") != "ok":
        return False
    problem = selection_problem(results_dir, row)
    if problem is None:
        return True
    path = selection_path(results_dir, key)
    if problem == "is missing":
        log.warning("selection file %s is missing; the run counts as not done", path)
        return False
    try:
        dest = quarantine(results_dir, path)
        log.warning("damaged selection file %s: %s; moved to %s; the run counts as not done",
                    path, problem, dest)
    except FileNotFoundError:   # another worker moved it first
        pass
    return False


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file in its folder and ``os.replace``: readers see the
    old file or the whole new one. A failed write (e.g. ENOSPC, EROFS, EACCES) removes the
    temporary file and raises StoreError naming ``path`` and the cause."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise StoreError(path, exc) from exc
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_row(results_dir: str | os.PathLike, row: Mapping[str, Any]) -> Path:
    """Write ``row`` as ``rows/<run_key>.json`` atomically and return its path; the row's cell
    (dataset, model, sampler, budget, seed) is marked as holding this run_key first, so a kill
    between the two writes leaves a marker without its row (a free cell), never the reverse."""
    path = row_path(results_dir, row["run_key"])
    data = json.dumps(dict(row), sort_keys=True, indent=1, default=_jsonable).encode()
    atomic_write_bytes(Path(results_dir) / CELLS / cell_name(row), row["run_key"].encode())
    atomic_write_bytes(path, data)
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
    return np.load(selection_path(results_dir, key))


def load(results_dir: str | os.PathLike = "results") -> pd.DataFrame:
    """All rows under ``results_dir`` as one DataFrame (empty, with the core columns, if none).
    ``results_dir`` may also be a published rows file or a folder of them (``store.published``)."""
    from . import published

    rows_dir = Path(results_dir) / ROWS
    records, damaged = [], 0
    if published.is_published(results_dir):
        records = published.read(results_dir)
    elif rows_dir.is_dir():
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

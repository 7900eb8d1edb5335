"""Published rows: the rows behind a report, as files a repository can hold.

A published file is gzip-compressed JSON lines, one row per line exactly as its row file holds it
(keys sorted), lines ordered by run_key, gzip header without a time stamp: publishing the same
rows twice gives the same bytes. Selections are not in it (they are the bulk: tens of MB per
experiment); each row keeps ``selection_sha1``, the digest of its selected indices.

- ``publish(results_dir, path, where)``: the ok rows of ``results_dir`` matching ``where`` (column
  -> allowed values) written to ``path`` (``docs/reproduction/rows/<experiment>.jsonl.gz``).
- ``read(path)``: the rows of one file, or of every ``*.jsonl.gz`` in a folder.
- ``import_rows(paths, results_dir)``: each published row becomes a row file of
  ``results_dir`` (with its cell marker) unless the run is done there already, marked
  ``published: <file name>``; the store counts such a row as done without its selection file
  (``rows.selection_problem``), so a sweep on a fresh clone resumes from the published rows and
  runs only what they lack. A row whose cell holds another identity is left out and counted.
  A folder's parts import the same way into the results layout (``parts``).

A folder of published rows mirrors a results directory: its top-level files are the main rows
(``results/``), ``theory/<name>.jsonl.gz`` and ``ablations/<name>.jsonl.gz`` those of
``results/theory/<name>/`` and ``results/ablations/<name>/`` (experiments with their own
``results_dir``), ``bench/*.csv`` and ``investigations/*.{csv,md}`` the tables that benchmarks
and check scripts write there. ``coreset-bench report results_dir=<folder>`` reads it as it
reads a results directory.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import UserError
from . import rows as _rows

SUFFIX = ".jsonl.gz"
# Sub-folders holding one experiment per entry: results/<sub>/<name>/ <-> <rows>/<sub>/<name>.jsonl.gz
SUBDIRS = ("theory", "ablations")
# Sub-folders of tables written by benchmarks and check scripts, copied as they are.
TABLE_DIRS = ("bench", "investigations")


def is_published(path: str | os.PathLike) -> bool:
    """A published file, or a folder of them (and no ``rows/`` of a results directory)."""
    p = Path(path)
    if p.is_file():
        return p.name.endswith(SUFFIX)
    return p.is_dir() and not (p / _rows.ROWS).is_dir() and any(p.glob(f"*{SUFFIX}"))


def files(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    return [p] if p.is_file() else sorted(p.glob(f"*{SUFFIX}"))


def parts(root: str | os.PathLike, sub: str) -> dict[str, Path]:
    """The experiments under ``root/sub`` (``SUBDIRS``), name -> path, of a results directory
    (``<name>/`` folders) or of a published folder (``<name>.jsonl.gz`` files); either path is
    what ``store.load`` reads."""
    base = Path(root) / sub
    if not base.is_dir():
        return {}
    out = {p.name[:-len(SUFFIX)]: p for p in sorted(base.glob(f"*{SUFFIX}")) if p.is_file()}
    out.update({p.name: p for p in sorted(base.iterdir()) if p.is_dir()})
    return dict(sorted(out.items()))


def read(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a file or folder, each run once (files may share rows: an experiment's rows
    include another's, e.g. Figure 4's hold Figure 2's); a line that is not a row is an error."""
    out: dict[str, dict[str, Any]] = {}
    for f in files(path):
        try:
            with gzip.open(f, "rt", encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    missing = [c for c in _rows.REQUIRED_COLUMNS if c not in row]
                    if missing:
                        raise UserError(f"published rows {f}, line {n}: not a row (no {missing[0]})")
                    out.setdefault(row["run_key"], row)
        except (OSError, EOFError, json.JSONDecodeError) as exc:
            raise UserError(f"published rows {f} do not read ({type(exc).__name__}: {exc})") from None
    return list(out.values())


def encode(records: Iterable[Mapping[str, Any]]) -> bytes:
    lines = [json.dumps(dict(r), sort_keys=True, default=_rows._jsonable)
             for r in sorted(records, key=lambda r: r["run_key"])]
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(("\n".join(lines) + ("\n" if lines else "")).encode())
    return buf.getvalue()


def matches(row: Mapping[str, Any], where: Mapping[str, Iterable[Any]]) -> bool:
    return all(str(row.get(col)) in {str(v) for v in allowed} for col, allowed in where.items())


def publish(results_dir: str | os.PathLike, path: str | os.PathLike,
            where: Mapping[str, Iterable[Any]] | None = None, keys: set[str] | None = None,
            keep: bool = False) -> int:
    """Write the ok rows of ``results_dir`` matching ``where`` (and whose run key is in ``keys``,
    when given) to ``path``; their number. ``keep``: the rows ``path`` already holds stay (those
    of ``results_dir`` replace them by run key), so the file never shrinks."""
    records = {}
    if keep and Path(path).is_file():
        records = {r["run_key"]: r for r in read(path)}
    for f in sorted((Path(results_dir) / _rows.ROWS).glob("*.json")):
        if f.name.startswith("."):
            continue
        try:
            row = _rows.parse_row(f)
        except (_rows.DamagedRow, FileNotFoundError):
            continue
        if (row.get("status") == "ok" and matches(row, where or {})
                and (keys is None or row["run_key"] in keys)):
            row.pop("published", None)
            records[row["run_key"]] = row
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _rows.atomic_write_bytes(Path(path), encode(records.values()))
    return len(records)


def import_rows(path: str | os.PathLike, results_dir: str | os.PathLike) -> dict[str, int]:
    """Published rows of ``path`` into ``results_dir``: counts of imported, already done there,
    and left out (their cell holds another identity). A folder brings its parts too:
    ``theory/`` and ``ablations/`` files into ``results_dir/<sub>/<name>/``, and the tables of
    ``bench/`` and ``investigations/`` where ``results_dir`` has none of that name."""
    counts = _import_files(files(path), results_dir)
    root = Path(path)
    if root.is_dir():
        for sub in SUBDIRS:
            for name, f in parts(root, sub).items():
                if f.is_file():
                    for k, v in _import_files([f], Path(results_dir) / sub / name).items():
                        counts[k] += v
        for sub in TABLE_DIRS:
            for f in sorted((root / sub).glob("*")) if (root / sub).is_dir() else []:
                target = Path(results_dir) / sub / f.name
                if f.suffix in (".csv", ".md") and not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _rows.atomic_write_bytes(target, f.read_bytes())
                    counts["tables"] = counts.get("tables", 0) + 1
    return counts


def _import_files(paths: list[Path], results_dir: str | os.PathLike) -> dict[str, int]:
    counts = {"imported": 0, "present": 0, "conflict": 0}
    for f in paths:
        for row in read(f):   # a row in two files is imported from the first, found done after
            key = row["run_key"]
            if _rows.has_ok_row(results_dir, key):
                counts["present"] += 1
                continue
            owner = _rows.cell_owner(results_dir, row)
            if owner not in (None, key):
                counts["conflict"] += 1
                continue
            _rows.write_row(results_dir, {**row, "published": f.name})
            counts["imported"] += 1
    return counts

"""``coreset-bench results check [--repair]``: is a results directory consistent?

Problems (exit 1): a row file that is not a row (``rows.parse_row``); an ok row without its
selection file (unless it was run with ``save_selection=false``), with an unreadable one, or
with one whose sha1 is not the row's ``selection_sha1`` (``rows.selection_problem``); a
(dataset, model, sampler, budget, seed) cell holding rows of more than one identity. Listed but
not problems: orphan selection files and cell markers (their row is gone), left-over temporary
files of killed writers, runs in progress (held claims), claim files of killed processes, and
what is in ``quarantine/``.

``repair`` mends what can be mended without choosing between results: every damaged row file,
and every ok row whose saved selection is missing or damaged (with that selection file), is
moved to ``quarantine/`` (never deleted; a resume re-runs those runs); claim files no process
holds, cell markers whose row is gone and temporary files of killed writers (older than
``STALE_TMP_SECONDS``) are removed. It is safe beside running sweeps: it mends a cell only under
that cell's claim. A cell holding rows of two identities stays a problem (which one is right is
the user's call), and so does an ok row older than the ``selection_saved`` column without a
selection file (it may have been run with ``save_selection=false``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import claims, rows


@dataclass
class Report:
    rows: int = 0
    ok: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems


def _row_files(root: Path) -> list[Path]:
    return [p for p in sorted((root / rows.ROWS).glob("*.json")) if not p.name.startswith(".")]


# A temporary file younger than this may belong to a writer still at work (a row, a selection,
# check_writable's probe): repair leaves it.
STALE_TMP_SECONDS = 600


def repair(results_dir: str | Path) -> list[str]:
    """Quarantine damaged files, remove stale claims, cell markers and temporary files (see the
    module docstring); one line per action. Safe beside running sweeps: a cell is mended only
    under its own claim (a cell another process holds is left alone), a claim file only when it
    can be claimed, a temporary file only when older than STALE_TMP_SECONDS."""
    import time

    root, done = Path(results_dir), []

    def move(path: Path, why: str) -> None:
        try:
            done.append(f"quarantined {path} ({why}) -> {rows.quarantine(root, path)}")
        except FileNotFoundError:
            pass

    for path in _row_files(root):
        try:
            row = rows.parse_row(path)
        except rows.DamagedRow as exc:
            move(path, str(exc))   # a file written atomically never is half a row: not in flight
            continue
        except FileNotFoundError:
            continue
        if row["status"] != "ok":
            continue
        if rows.selection_problem(root, row) is None:   # None: the store counts it as done
            continue
        held = claims.claim(root, rows.cell_name(row))   # None: another process runs the cell
        if held is None:          # (a forced re-run writes the selection first): not ours to judge
            continue
        try:
            problem = rows.selection_problem(root, row)   # again, under the cell's claim
            if problem is None:
                continue
            sel = rows.selection_path(root, row["run_key"])
            if sel.is_file():
                move(sel, f"selection {problem}")
            move(path, f"its selection {problem}; the run counts as not done")
        finally:
            held.release()
    keys = {p.stem for p in _row_files(root)}
    for marker in sorted((root / rows.CELLS).glob("*")):
        if not marker.is_file() or marker.name.startswith(".") or \
                marker.read_text().strip() in keys:
            continue
        held = claims.claim(root, marker.name)   # None: a run of this cell is writing its row now
        if held is None:
            continue
        try:
            if marker.read_text().strip() not in keys:   # again, under the cell's claim
                marker.unlink(missing_ok=True)
                done.append(f"removed cell marker {marker} (its row is gone; the cell is free)")
        finally:
            held.release()
    for lock in sorted((root / claims.CLAIMS).glob("*.lock")):
        held = claims.claim(root, lock.stem)   # None: a live process holds it
        if held is not None:
            held.release()                      # unlinks the file (waiters retry, see claims)
            done.append(f"removed claim file {lock} (no process held it)")
    now = time.time()
    for folder in (rows.ROWS, rows.SELECTIONS, rows.CELLS):
        for tmp in sorted((root / folder).glob(".*.tmp")):
            try:
                if now - tmp.stat().st_mtime < STALE_TMP_SECONDS:
                    continue
                tmp.unlink()
            except FileNotFoundError:
                continue
            done.append(f"removed temporary file {tmp} (left by a killed writer)")
    return done


def check(results_dir: str | Path, *, repair_first: bool = False) -> Report:
    root = Path(results_dir)
    rep = Report(repaired=repair(root) if repair_first else [])
    by_cell: dict[str, set[str]] = {}
    keys = set()
    for path in _row_files(root):
        try:
            row = rows.parse_row(path)
        except rows.DamagedRow as exc:
            rep.problems.append(f"damaged row file {path}: {exc}")
            continue
        rep.rows += 1
        keys.add(row["run_key"])
        by_cell.setdefault(rows.cell_name(row), set()).add(row["run_key"])
        if row["status"] != "ok":
            continue
        rep.ok += 1
        sel = rows.selection_path(root, row["run_key"])
        if not sel.is_file() and "selection_saved" not in row:
            rep.problems.append(f"ok row {path} has no selection file {sel} (or was run with "
                                "save_selection=false)")
            continue
        problem = rows.selection_problem(root, row)
        if problem is not None:
            rep.problems.append(f"selection file {sel} {problem}")
    for cell, owners in sorted(by_cell.items()):
        if len(owners) > 1:
            rep.problems.append(f"cell {cell} holds rows of {len(owners)} identities: "
                                f"{', '.join(sorted(owners))} (keep one: --repair will not choose)")
    orphans = [p for p in sorted((root / rows.SELECTIONS).glob("*.npy")) if p.stem not in keys]
    if orphans:
        rep.notes.append(f"{len(orphans)} orphan selection file(s) without a row, e.g. {orphans[0]}")
    stale = [p for p in sorted((root / rows.CELLS).glob("*"))
             if p.is_file() and p.read_text().strip() not in keys]
    if stale:
        rep.notes.append(f"{len(stale)} cell marker(s) whose row is gone (the cell is free), "
                         f"e.g. {stale[0]}")
    temps = [p for d in (rows.ROWS, rows.SELECTIONS, rows.CELLS)
             for p in sorted((root / d).glob(".*.tmp"))]
    if temps:
        rep.notes.append(f"{len(temps)} temporary file(s) of killed writers, e.g. {temps[0]}")
    locks = sorted((root / claims.CLAIMS).glob("*.lock"))
    held = [(p, who) for p in locks if (who := claims.claim_holder(p))]
    if held:
        rep.notes.append(f"{len(held)} run(s) in progress now, e.g. {held[0][0].stem} by "
                         f"{held[0][1]}")
    if len(locks) > len(held):
        rep.notes.append(f"{len(locks) - len(held)} claim file(s) left by killed processes "
                         "(free; reused by the next run of their cell)")
    quarantined = sorted(p for p in (root / rows.QUARANTINE).rglob("*") if p.is_file())
    if quarantined:
        rep.notes.append(f"{len(quarantined)} quarantined file(s) under {root / rows.QUARANTINE} "
                         f"(kept for inspection; their runs were or will be re-run)")
    return rep

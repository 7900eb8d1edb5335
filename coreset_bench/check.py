"""``coreset-bench results check``: is a results directory consistent?

Problems (exit 1): a row file that is not a row (``results.parse_row``); an ok row without its
selection file (unless it was run with ``save_selection=false``), with an unreadable one, or
with one whose sha1 is not the row's ``selection_sha1`` (``results.selection_problem``); a (dataset, model, sampler, budget, seed) cell holding rows of more than
one identity. Listed but not problems: orphan selection files and cell markers (their row is
gone), left-over temporary files of killed writers, runs in progress (held claims), claim files
of killed processes, and what is in ``quarantine/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from . import results


@dataclass
class Report:
    rows: int = 0
    ok: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems


def check(results_dir: str | Path) -> Report:
    root = Path(results_dir)
    rep = Report()
    by_cell: dict[str, set[str]] = {}
    keys = set()
    for path in sorted((root / results.ROWS).glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            row = results.parse_row(path)
        except results.DamagedRow as exc:
            rep.problems.append(f"damaged row file {path}: {exc}")
            continue
        rep.rows += 1
        keys.add(row["run_key"])
        by_cell.setdefault(results.cell_name(row), set()).add(row["run_key"])
        if row["status"] != "ok":
            continue
        rep.ok += 1
        sel = results.selection_path(root, row["run_key"])
        if not sel.is_file() and "selection_saved" not in row:
            rep.problems.append(f"ok row {path} has no selection file {sel} (or was run with "
                                "save_selection=false)")
            continue
        problem = results.selection_problem(root, row)
        if problem is not None:
            rep.problems.append(f"selection file {sel} {problem}")
    for cell, owners in sorted(by_cell.items()):
        if len(owners) > 1:
            rep.problems.append(f"cell {cell} holds rows of {len(owners)} identities: "
                                f"{', '.join(sorted(owners))}")
    orphans = [p for p in sorted((root / results.SELECTIONS).glob("*.npy")) if p.stem not in keys]
    if orphans:
        rep.notes.append(f"{len(orphans)} orphan selection file(s) without a row, e.g. {orphans[0]}")
    stale = [p for p in sorted((root / results.CELLS).glob("*"))
             if p.is_file() and p.read_text().strip() not in keys]
    if stale:
        rep.notes.append(f"{len(stale)} cell marker(s) whose row is gone (the cell is free), "
                         f"e.g. {stale[0]}")
    temps = [p for d in (results.ROWS, results.SELECTIONS, results.CELLS)
             for p in sorted((root / d).glob(".*.tmp"))]
    if temps:
        rep.notes.append(f"{len(temps)} temporary file(s) of killed writers, e.g. {temps[0]}")
    claims = sorted((root / results.CLAIMS).glob("*.lock"))
    held = [(p, who) for p in claims if (who := results.claim_holder(p))]
    if held:
        rep.notes.append(f"{len(held)} run(s) in progress now, e.g. {held[0][0].stem} by "
                         f"{held[0][1]}")
    if len(claims) > len(held):
        rep.notes.append(f"{len(claims) - len(held)} claim file(s) left by killed processes "
                         "(free; reused by the next run of their cell)")
    quarantined = sorted(p for p in (root / results.QUARANTINE).rglob("*") if p.is_file())
    if quarantined:
        rep.notes.append(f"{len(quarantined)} quarantined file(s) under {root / results.QUARANTINE} "
                         f"(kept for inspection; their runs were or will be re-run)")
    return rep

"""The one storage transaction of a job: ``claimed(results_dir, runs)``.

Before a job trains anything, the store (1) checks that rows can be written and that no cell
(dataset, model, sampler, budget, seed) already holds a row made with other choices, (2) leaves
out the runs that already have an ok row and a sound selection (unless ``force``), (3) claims
the cells of the others in one global order (waiting for a cell another process holds, or
leaving it to that process), then (4) looks again under the claims, since another process may
have filled a cell meanwhile. The job runs what is left (``Claimed.mine``) and writes each row
with ``rows.write_row``; the claims are released when the ``with`` block ends, however it ends.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from ..errors import ConfigError
from . import claims, rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    """What the store knows of a planned run: its key, its cell, and its identity flattened to
    row columns (to name what differs from a row already in the cell)."""

    key: str
    cell: Mapping[str, Any]
    columns: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cell_name(self) -> str:
        return rows.cell_name(self.cell)


@dataclass
class Claimed:
    mine: list[str]             # run keys this process holds and must run now
    busy: set[str]              # run keys another live process is running (left to it)
    done: set[str]              # run keys that already had an ok row (skipped)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(old) & set(new) if old[k] != new[k] and "." in k)
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:5]) or "run_key"


def check_cells(results_dir: str | os.PathLike, runs: list[Run]) -> None:
    """ConfigError if rows cannot be written, or if a cell already holds a row made with other
    choices (mixing them would make every table ambiguous); nothing is overwritten."""
    try:
        rows.check_writable(results_dir)
    except OSError as exc:
        raise ConfigError(f"results_dir={results_dir} is not writable: {exc.strerror or exc}") from None
    for run in runs:
        owner = rows.cell_owner(results_dir, run.cell)
        if owner is None or owner == run.key:
            continue
        old = rows.read_row(results_dir, owner)
        if old is None:   # the row that owned the cell is gone (deleted, or quarantined as damaged)
            continue
        raise ConfigError(
            f"results_dir={results_dir} already has a row for {run.cell_name} made with "
            f"other choices ({_differences(old, run.columns)}); use another results_dir for this "
            "variant")


@contextmanager
def claimed(results_dir: str | os.PathLike, runs: list[Run], *, force: bool = False,
            wait: bool = True) -> Iterator[Claimed]:
    """Check, skip the done, claim the rest (see the module docstring); yields ``Claimed``."""
    check_cells(results_dir, runs)
    todo = [r for r in runs if force or not rows.has_ok_row(results_dir, r.key)]
    done = {r.key for r in runs} - {r.key for r in todo}
    for r in runs:
        if r.key in done:
            log.info("skip sampler=%s budget=%s seed=%s run_key=%s (ok row exists)",
                     r.cell["sampler"], r.cell["budget"], r.cell["seed"], r.key)
    held: dict[str, claims.Claim] = {}
    busy: set[str] = set()
    try:
        for r in sorted(todo, key=lambda r: r.cell_name):  # one global order: no deadlock
            hold = claims.claim(results_dir, r.cell_name)
            if hold is None and wait:
                log.info("waiting for %s: another process is running it (%s)", r.cell_name,
                         claims.claim_holder(claims.claim_path(results_dir, r.cell_name)))
                hold = claims.claim(results_dir, r.cell_name, wait=True)
            if hold is None:
                log.info("leave %s to the process running it (%s)", r.cell_name,
                         claims.claim_holder(claims.claim_path(results_dir, r.cell_name)))
                busy.add(r.key)
            else:
                held[r.key] = hold
        mine = [r for r in todo if r.key in held]
        if mine:  # under the claims: the cell may have been filled while we looked
            check_cells(results_dir, mine)
            filled = {r.key for r in mine if not force and rows.has_ok_row(results_dir, r.key)}
            done |= filled
            mine = [r for r in mine if r.key not in filled]
        yield Claimed(mine=[r.key for r in mine], busy=busy, done=done)
    finally:
        for hold in held.values():
            hold.release()

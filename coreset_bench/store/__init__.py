"""The results store: one JSON row per run, its selection, claims on cells, and the check.

- ``rows``: tidy rows written atomically, damaged files quarantined, ``load`` as a DataFrame.
- ``claims``: one process at a time per (dataset, model, sampler, budget, seed) cell (``flock``).
- ``transaction``: ``claimed(results_dir, runs)``, the one storage transaction of a job.
- ``check``: ``coreset-bench results check [--repair]``.
- ``published``: rows as files a repository holds (``docs/reproduction/rows/``), and their import.

Callers use the names below (``store.load``, ``store.claimed``...), not the submodules.
"""

from .claims import CLAIMS, Claim, claim, claim_holder, claim_path
from .rows import (CELL_FIELDS, CELLS, CORE_COLUMNS, QUARANTINE, REQUIRED_COLUMNS, ROWS,
                   SELECTIONS, DamagedRow, atomic_write_bytes, cell_name, cell_owner,
                   check_writable, has_ok_row, load, parse_row, quarantine, read_row,
                   read_selection, row_path, run_key, selection_path, selection_problem,
                   selection_sha1, warn_damaged, write_row, write_selection)
from .transaction import Claimed, Run, check_cells, claimed
from . import published

__all__ = [
    "CELL_FIELDS", "CELLS", "CLAIMS", "CORE_COLUMNS", "QUARANTINE", "REQUIRED_COLUMNS", "ROWS",
    "SELECTIONS", "Claim", "Claimed", "DamagedRow", "Run", "atomic_write_bytes", "cell_name",
    "cell_owner", "check_cells", "check_writable", "claim", "claim_holder", "claim_path",
    "claimed", "has_ok_row", "published", "load", "parse_row", "quarantine", "read_row", "read_selection",
    "row_path", "run_key", "selection_path", "selection_problem", "selection_sha1",
    "warn_damaged", "write_row", "write_selection",
]

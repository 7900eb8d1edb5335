"""The sweep tally shared by the sweeper plugin (``hydra_plugins/coreset_bench_sweeper``) and
the CLI, and grid arithmetic."""

from __future__ import annotations

import math
from typing import Any, Dict

from hydra.core.override_parser.overrides_parser import OverridesParser

# Aggregated over the sweep in the main process; read by the CLI for the exit code.
# ``lost``: runs of jobs whose cluster task ended without finishing them (``lost_reasons``: why,
# as SLURM said); the next pass of the same command does them.
SUMMARY: Dict[str, Any] = {"ok": 0, "skipped": 0, "failed": 0, "jobs": 0, "user_error": None,
                           "lost": 0, "lost_jobs": 0, "lost_reasons": []}


def reset_summary() -> None:
    SUMMARY.update(ok=0, skipped=0, failed=0, jobs=0, user_error=None, lost=0, lost_jobs=0,
                   lost_reasons=[])


def count_jobs(params: Dict[str, str]) -> int:
    """Number of jobs a sweep over ``params`` (Hydra sweep syntax values) expands to."""
    parser = OverridesParser.create()
    overrides = parser.parse_overrides([f"{k}={v}" for k, v in params.items()])
    return math.prod(len(list(o.sweep_string_iterator())) if o.is_sweep_override() else 1
                     for o in overrides)

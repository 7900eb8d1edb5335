"""One job, from a composed config to rows: plan, claim, run the protocol, write each row.

``execute(cfg)`` validates everything first (bad input raises a UserError before anything is
trained or written), skips runs whose run_key already has an ok row (unless ``force``), and
writes exactly one row per remaining run: ``status="ok"`` with metrics, or ``status="failed"``
with the error and traceback.

Concurrent processes on one results_dir: the store's one transaction (``store.claimed``) claims
each run's cell before it is trained and releases it once its row is written. A cell another
live process holds is left to it: ``execute`` waits for it (``claim_wait=true``, the default of
a single run) or returns ``BUSY`` for it (sweeps, which come back to such jobs at the end with
``claim_wait=true``); after a wait the run is skipped if the other process finished it. No run
is done twice.

A row is assembled in one place (``finish``): the run's identity and provenance, the columns
the protocol knew before the work (``Outcome.extras``), then the work's own columns.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import os
import platform
import socket
import subprocess
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import __version__, data, store
from ..errors import UserError
from ..models import backend
from ..protocols import Job, Outcome
from . import interrupts
from .plan import Planned, flatten, plan, split

log = logging.getLogger(__name__)

# execute()'s entry for a run whose cell another process is running (claim_wait=false).
BUSY = "busy"
# Timing columns that are not a stage of the run (left out of time_total).
NOT_STAGES = ("time_total", "time_wall", "time_group", "time_selection")


def versions() -> dict[str, str]:
    out = {"coreset_bench": __version__, "python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "scipy", "keras", "tensorflow-cpu", "tensorflow",
                 "jax", "jaxlib", "kmedoids"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The code's commit and whether the tree had uncommitted changes to tracked files.

    ``CORESET_BENCH_COMMIT`` (and ``CORESET_BENCH_DIRTY``, 0/1) when set, by whoever copied the
    tree elsewhere (a lent machine's copy can carry a stale ``.git``); else ``git`` in the
    package's checkout; else unknown (None)."""
    if os.environ.get("CORESET_BENCH_COMMIT"):
        dirty = os.environ.get("CORESET_BENCH_DIRTY")
        return {"code_commit": os.environ["CORESET_BENCH_COMMIT"],
                "code_dirty": None if dirty is None else dirty == "1"}
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"code_commit": commit, "code_dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"code_commit": None, "code_dirty": None}


def execute(cfg: Mapping[str, Any], wait: bool | None = None) -> list[dict[str, Any] | str | None]:
    """Run one job; one entry per sampler: its row, None where an ok row already existed, or
    ``BUSY`` where another process holds its cell and ``wait`` (default: ``claim_wait``, true
    when absent) is false."""
    job_plan = plan(cfg)
    results_dir = cfg["results_dir"]
    wait = bool(cfg.get("claim_wait", True)) if wait is None else wait
    rows: dict[str, dict] = {}
    with store.claimed(results_dir, [p.stored() for p in job_plan.runs],
                       force=bool(cfg.get("force", False)), wait=wait) as held:
        mine = [p for p in job_plan.runs if p.key in held.mine]
        if mine:
            rows = _execute(job_plan, mine, results_dir, save=cfg.get("save_selection", True))
    return [BUSY if p.key in held.busy else rows.get(p.key) for p in job_plan.runs]


def _execute(job_plan, todo: list[Planned], results_dir: str, save: bool) -> dict[str, dict]:
    """Run the (claimed, not done) runs ``todo`` of a job; their rows by run_key."""
    dataset_name, dataset_opts = split(todo[0].cfg["dataset"], "dataset")  # with its sha256
    ds = data.load(dataset_name, **dataset_opts)
    job = Job(todo[0].cfg, job_plan.task, ds, results_dir)
    extras = job_plan.protocol.validate(job, todo)
    rows = {}
    for outcome in job_plan.protocol.run(job, todo):
        rows[outcome.run.key] = finish(job, job_plan.protocol, outcome, extras, save)
    return rows


def base_row(p: Planned, task: str, ds: data.Dataset, extras: Mapping[str, Any]) -> dict[str, Any]:
    """A row's identity and provenance columns, before its work."""
    cfg = p.cfg
    _, dataset_opts = split(cfg["dataset"], "dataset")
    row: dict[str, Any] = {
        "dataset": ds.name, "model": cfg["model"]["name"], "sampler": p.name,
        "budget": cfg["budget"], "seed": cfg["seed"], "task": task, "run_key": p.key,
        "n_pool": ds.n_pool, "n_eval": int(len(ds.x_eval)), **extras,
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(), "versions": versions(),
        "device": backend.device(), **code_version(),
    }
    row.update(flatten("", {k: v for k, v in p.ident.items()
                            if k not in ("dataset", "budget", "seed")}, {}))
    row.update({f"dataset.{k}": v for k, v in dataset_opts.items()})
    row.update({f"dataset.{k}": v for k, v in ds.choices.items()})  # resolved values win
    row.update(p.columns)
    return row


def finish(job: Job, protocol, outcome: Outcome, extras: Mapping[str, Any],
           save_selection: bool) -> dict[str, Any]:
    """Run the outcome's work (-> columns, chosen indices) and write its row, ok or failed. For
    a file dataset the row also lists the chosen rows' numbers in the source file."""
    interrupts.check()   # a Ctrl-C or SIGTERM that was swallowed during an earlier run stops here
    row = base_row(outcome.run, job.task, job.ds, {**extras, **outcome.extras})
    try:
        out, chosen = outcome.work()
        row.update(out)
        row["selection_sha1"] = store.selection_sha1(chosen)
        if job.ds.pool_rows is not None:
            row["source_rows"] = np.asarray(job.ds.pool_rows)[np.asarray(chosen)].tolist()
        row["status"] = "ok"
        row["selection_saved"] = bool(save_selection)
        if save_selection:
            store.write_selection(job.results_dir, row["run_key"], chosen)
    except UserError:
        raise  # bad input found late: one line, no row (see app.main)
    except Exception as exc:  # a failure of the run, recorded as such (never as ok)
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    # time_total: the run's cost had it run alone (the sum of its stages, shared ones included,
    # so it is comparable between group and single mode); time_wall: this row's own wall time.
    row["time_wall"] = time.perf_counter() - outcome.started
    row["time_total"] = float(sum(v for k, v in row.items()
                                  if k.startswith("time_") and k not in NOT_STAGES))
    row["finished_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    store.write_row(job.results_dir, row)
    where = f"dataset={row['dataset']} sampler={row['sampler']} budget={row['budget']} seed={row['seed']}"
    if row["status"] == "ok":
        log.info("done %s %s n_inferences=%d time_selection=%.2fs time_total=%.2fs", where,
                 protocol.describe(row), row["n_inferences"], row["time_selection"],
                 row["time_total"])
    else:
        log.error("FAILED %s error=%s (row written with status=failed)", where, row["error"])
    return row

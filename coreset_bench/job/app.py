"""The Hydra application behind ``coreset-bench run``.

Configs live in ``conf/`` at the repository root (the package is installed in editable mode,
see the Makefile). Each job composes dataset / model / sampler(s) / budget (+ experiment) and
calls ``job.execute.execute``; it returns a summary ``{"ok", "skipped", "failed", "busy"}`` that the
sweeper (``coreset_bench.job.sweep``) aggregates, whichever launcher ran the job. ``busy`` counts
runs another process was running: a single run waits for them, a sweep job leaves them and the
sweeper launches the job again at the end with ``claim_wait=true``.

Bad input: in a single run, one line on stderr and exit code 2; in a sweep, the job returns the
message and the sweeper stops with it.
"""

from __future__ import annotations

import logging
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ..config import CONF_DIR
from ..errors import UserError

STATE = {"ok": 0, "skipped": 0, "failed": 0, "busy": 0}
log = logging.getLogger("coreset_bench")


def job_threads(threads: int | str) -> int:
    """Threads one job may use: ``threads``, or for ``auto`` the cores divided among the
    launcher's parallel workers (so 2 workers on 2 cores get 1 thread each)."""
    if threads != "auto":
        return int(threads)
    cores = len(os.sched_getaffinity(0))  # the CPUs this process may use (SLURM, taskset)
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:   # a SLURM task without CPU binding sees every core
        cores = min(cores, int(slurm))
    workers = 1
    try:
        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            n_jobs = OmegaConf.select(hc.launcher, "n_jobs", default=1)
            workers = cores if n_jobs in (None, -1) else max(1, int(n_jobs))
    except ValueError:  # not inside a Hydra job
        pass
    return max(1, cores // workers)


def limit_threads(n: int) -> None:
    """Cap this process's BLAS/OpenMP threads now, and TensorFlow's when it is imported (it
    reads TF_NUM_*_THREADS then; a value set by the user in the environment wins)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(n))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1" if n == 1 else "2")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> dict:
    from . import execute as runner  # heavy imports only once a job really runs

    logging.raiseExceptions = False   # (in workers too) a log file on a full disk is not fatal
    plain = OmegaConf.to_container(cfg, resolve=True)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    summary = {"ok": 0, "skipped": 0, "failed": 0, "busy": 0}
    try:
        limit_threads(job_threads(plain.get("threads", "auto")))
        rows = runner.execute(plain, wait=not multirun or bool(plain.get("claim_wait")))
    except UserError as exc:
        if multirun:
            return {**summary, "user_error": str(exc)}
        print(f"coreset-bench: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for row in rows:
        summary["skipped" if row is None else "busy" if row == runner.BUSY else
                "ok" if row["status"] == "ok" else "failed"] += 1
    if plain.get("samplers"):  # group mode: rows align with ``samplers`` (then a joined sampler)
        names = plain["samplers"] if isinstance(plain["samplers"], list) else [plain["samplers"]]
        from .plan import joined_sampler
        # a joined sampler that does not do this dataset's task is not run (the bar counted it)
        summary["planned"] = len(names) + (joined_sampler(plain) is not None)
        summary["not_run"] = summary["planned"] - len(rows)
        if summary["busy"]:   # a busy joined sampler is retried by its sampler= override
            summary["busy_samplers"] = [n for n, row in zip(names, rows) if row == runner.BUSY]
    for key in STATE:
        STATE[key] += summary[key]
    return summary

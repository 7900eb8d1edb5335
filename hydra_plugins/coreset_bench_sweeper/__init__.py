"""The sweeper of ``coreset-bench run -m`` (a Hydra plugin: Hydra instantiates sweepers only
from the ``hydra_plugins`` namespace package).

Hydra's basic sweeper (grid expansion from ``hydra.sweeper.params`` and the command line) plus
a progress bar and a failure tally. Jobs go to the configured Hydra launcher (in-process,
joblib, submitit ...) in batches, so the bar moves and the tally grows whichever launcher runs
them: ``batch_size_per_worker`` jobs per parallel worker per batch. Each job returns
``{"ok", "skipped", "failed"}`` (see ``coreset_bench.job.app.main``); a job that reports bad
input (or a result file that cannot be written) stops the sweep after its batch. Cluster
launchers (submitit_slurm) get every job in one batch, since batches would serialise the queue.

A job whose runs another process was running (``busy``: a second sweep or a SLURM array on the
same results_dir) is launched once more at the end with ``claim_wait=true``: it then waits for
those runs and skips the ones the other process finished, so the sweep ends with its whole grid
done and no run done twice.
"""


import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from tqdm import tqdm

from coreset_bench.errors import StoreError, UserError
from coreset_bench.job.sweep import SUMMARY, reset_summary

log = logging.getLogger(__name__)


@dataclass
class ProgressSweeperConf:
    _target_: str = "hydra_plugins.coreset_bench_sweeper.ProgressSweeper"
    max_batch_size: Optional[int] = None
    batch_size_per_worker: int = 2
    params: Optional[Dict[str, str]] = field(default=None)
    # Outer loops of the grid, outermost first (the other keys keep Hydra's order inside).
    # Seed-major by default: a sweep stopped early (time limit, preemption) leaves whole seeds,
    # every budget and sampler of each, so its rows are a smaller but complete paired design.
    order: List[str] = field(default_factory=lambda: ["seed"])


ConfigStore.instance().store(group="hydra/sweeper", name="progress", node=ProgressSweeperConf,
                             provider="coreset_bench")


class ProgressSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None,
                 params: Optional[Dict[str, str]] = None, batch_size_per_worker: int = 2,
                 order: Optional[List[str]] = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.batch_size_per_worker = batch_size_per_worker
        self.order = list(order or [])
        self._composed: set = set()   # override strings of jobs composed by validate_batch_is_legal

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Hydra's check that each job of the batch composes, before it is launched, made only
        for the jobs that bring an override not composed yet in this sweep: composition fails
        on a value (an unknown group option, a key the chosen group lacks), and each value is
        composed at least once, while each composition is about 0.1 s of the sweep's own
        process, between batches, with the workers waiting (a 500-job sweep composes about 100,
        not 500). A conflict that only a pair of values makes (a field whose type depends on
        another group's choice) is met when that job starts, in its worker: a failed job, never
        a wrong row."""
        fresh, seen = [], set(self._composed)
        for job in batch:
            if not set(job) <= seen:
                fresh.append(job)
                seen.update(job)
        super().validate_batch_is_legal(fresh)
        self._composed = seen

    def _ordered(self, jobs: List[List[str]]) -> List[List[str]]:
        """``jobs`` (Hydra's grid) re-nested so that the keys of ``order`` are the outer loops,
        each value keeping its position in its own sweep list."""
        if not self.order:
            return jobs
        rank: Dict[str, Dict[str, int]] = {key: {} for key in self.order}

        def value(job: List[str], key: str) -> Optional[str]:
            for override in job:
                name, _, val = override.partition("=")
                if name.lstrip("+~") == key:
                    return val
            return None

        for job in jobs:
            for key in self.order:
                rank[key].setdefault(value(job, key), len(rank[key]))
        return sorted(jobs, key=lambda job: tuple(rank[k][value(job, k)] for k in self.order))

    @staticmethod
    def _longest_first(batch: List[List[str]]) -> List[List[str]]:
        """A batch's jobs, largest budget first (stable otherwise): workers take jobs in this
        order, so the long ones start first and fewer wait at the batch's end (the classic
        longest-processing-time rule; a job's cost grows with its budget). Rows never depend
        on the order."""
        def budget(job: List[str]) -> float:
            for override in job:
                name, _, val = override.partition("=")
                if name.lstrip("+~") == "budget":
                    try:
                        return float(val)
                    except ValueError:
                        return 0.0
            return 0.0

        return sorted(batch, key=lambda job: -budget(job))

    def _workers(self) -> int:
        n_jobs = OmegaConf.select(self.config, "hydra.launcher.n_jobs", default=1)
        return len(os.sched_getaffinity(0)) if n_jobs in (None, -1) else max(1, int(n_jobs))

    def _batch_size(self, n_jobs: int) -> int:
        """Jobs per launch: a few per worker for local pools (the bar moves), one for the
        in-process launcher, all at once for cluster launchers (they queue them)."""
        if self.max_batch_size:
            return self.max_batch_size
        launcher = OmegaConf.select(self.config, "hydra.launcher", default={}) or {}
        if "n_jobs" in launcher:
            return self._workers() * self.batch_size_per_worker
        if str(launcher.get("_target_", "")).endswith("BasicLauncher"):
            return 1
        return max(1, n_jobs)

    def _runs_per_job(self) -> int:
        samplers = OmegaConf.select(self.config, "samplers", default=None)
        if not samplers:
            return 1
        from coreset_bench.job.plan import joined_sampler   # sampler=... beside the list joins it
        cfg = {"samplers": list(samplers), "sampler": OmegaConf.to_container(
            OmegaConf.select(self.config, "sampler", default={}) or {}, resolve=False)}
        return len(samplers) + (joined_sampler(cfg) is not None)

    @staticmethod
    def _retry(job: List[str], busy_samplers: Optional[List[str]]) -> List[str]:
        """The overrides that run again, waiting this time, only the runs of ``job`` another
        process was running: in group mode its busy samplers (the others are counted already;
        rows and run keys do not depend on the group's make-up)."""
        drop = {"claim_wait"} | ({"samplers"} if busy_samplers else set())
        kept = [o for o in job if o.partition("=")[0].lstrip("+~") not in drop]
        extra = [f"samplers=[{','.join(busy_samplers)}]"] if busy_samplers else []
        return kept + extra + ["claim_wait=true"]

    def _import_published(self) -> None:
        """``published=FILE|FOLDER``: its rows become rows of results_dir first (once per sweep),
        so that the sweep runs only what they lack."""
        where = OmegaConf.select(self.config, "published", default=None)
        if not where:
            return
        from coreset_bench.config import CONF_DIR
        from coreset_bench.store import published

        path = Path(str(where))
        path = path if path.is_absolute() else CONF_DIR.parent / path
        if not published.files(path):
            SUMMARY["user_error"] = (f"published={where}: no published rows there ({path}: a "
                                     f"{published.SUFFIX} file or a folder of them)")
            return
        results_dir = str(OmegaConf.select(self.config, "results_dir"))
        try:
            counts = published.import_rows(path, results_dir)
        except UserError as exc:   # a line that is not a row: one line naming the file and line
            SUMMARY["user_error"] = str(exc)
            return
        except OSError as exc:     # results_dir not writable
            SUMMARY["user_error"] = str(StoreError(exc.filename or results_dir, exc))
            return
        log.info("published rows %s -> %s: %d imported, %d there already", path, results_dir,
                 counts["imported"], counts["present"])

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        params_conf = self._parse_config()
        params_conf.extend(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(params_conf)
        jobs = self._ordered(self.split_arguments(overrides, None)[0])
        size = self._batch_size(len(jobs))
        self.overrides = [self._longest_first(jobs[i:i + size]) for i in range(0, len(jobs), size)]
        per_job = self._runs_per_job()   # a job's own count corrects the bar as it ends
        total = len(jobs) * per_job
        reset_summary()
        self._import_published()
        if SUMMARY["user_error"]:
            return []
        launcher = OmegaConf.select(self.config, "hydra.launcher", default={}) or {}
        where = (f"{self._workers()} worker(s)" if "n_jobs" in launcher or str(
            launcher.get("_target_", "")).endswith("BasicLauncher") else "on the cluster")
        log.info("sweep: %d jobs x %d sampler(s) = %d runs, %s", len(jobs), per_job, total, where)
        returns = []
        initial_job_idx = 0
        busy_jobs: List[List[str]] = []
        with tqdm(total=total, unit="run", desc="sweep", dynamic_ncols=True) as bar:
            job_dirs = f"the job folders under {OmegaConf.select(self.config, 'hydra.sweep.dir')}"

            def take(overrides: List[str], r: Any) -> None:
                """One job's result into the tally and the bar."""
                try:
                    summary = r.return_value  # re-raises if the job itself crashed
                except OSError as exc:
                    SUMMARY["user_error"] = SUMMARY["user_error"] or str(
                        StoreError(exc.filename or job_dirs, exc))
                    return
                SUMMARY["jobs"] += 1
                if summary.get("lost"):   # its cluster task ended without finishing it
                    SUMMARY["lost"] += per_job
                    SUMMARY["lost_jobs"] += 1
                    SUMMARY["lost_reasons"].append(summary.get("lost_reason", "unknown"))
                    bar.update(per_job)
                    return
                if summary.get("planned", per_job) != per_job:   # a cell with its own samplers
                    bar.total += summary["planned"] - per_job
                for key in ("ok", "skipped", "failed"):
                    SUMMARY[key] += summary.get(key, 0)
                bar.update(sum(summary.get(k, 0) for k in ("ok", "skipped", "failed", "not_run")))
                if summary.get("busy"):
                    busy_jobs.append(self._retry(overrides, summary.get("busy_samplers")))
                if summary.get("user_error") and not SUMMARY["user_error"]:
                    SUMMARY["user_error"] = summary["user_error"]
                bar.set_postfix(ok=SUMMARY["ok"], skipped=SUMMARY["skipped"],
                                failed=SUMMARY["failed"], refresh=False)

            def launch(batch: List[List[str]]) -> None:
                nonlocal initial_job_idx
                taken: set = set()
                crashed: List[BaseException] = []
                if hasattr(self.launcher, "on_results"):
                    # a launcher that returns a whole batch at once (a cluster's) reports each
                    # finished task's jobs as they come: the bar moves meanwhile. A crashed job
                    # is raised once every task has ended, as with the other launchers (raising
                    # now would cancel the tasks still running).
                    def early(positions: List[int], results: List[Any]) -> None:
                        for pos, r in zip(positions, results):
                            taken.add(pos)
                            try:
                                take(batch[pos], r)
                            except Exception as exc:
                                crashed.append(exc)

                    self.launcher.on_results = early
                try:
                    results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
                except OSError as exc:   # Hydra's own job files (a full disk, read-only)
                    SUMMARY["user_error"] = str(StoreError(exc.filename or job_dirs, exc))
                    return
                except UserError as exc:  # a launcher setting (hydra.launcher.jobs_per_task=0)
                    SUMMARY["user_error"] = str(exc)
                    return
                if crashed:
                    raise crashed[0]
                for pos, (overrides, r) in enumerate(zip(batch, results)):
                    if pos not in taken:
                        take(overrides, r)
                initial_job_idx += len(batch)
                returns.append(results)

            while not self.is_done() and not SUMMARY["user_error"]:
                batch = self.get_job_batch()
                self.validate_batch_is_legal(batch)
                launch(batch)
            if busy_jobs and not SUMMARY["user_error"]:
                log.info("%d job(s) had runs another process was running; waiting for them",
                         len(busy_jobs))
                retry, busy_jobs = busy_jobs, []
                for i in range(0, len(retry), size):
                    launch(retry[i:i + size])
                    if SUMMARY["user_error"]:
                        break
        return returns

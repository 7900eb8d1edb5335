"""The SLURM launcher of ``coreset-bench run -m ... hydra/launcher=slurm`` (a Hydra plugin).

Hydra's submitit launcher runs one Hydra job (one group of runs) per SLURM array task, so
every task pays a fresh interpreter, the imports, the dataset and JIT compilation for a few
seconds of work, and it follows its tasks with ``sacct``, which prints a warning per poll where
SLURM keeps no accounting (as small clusters often do), and waits forever for a task that was
cancelled there. This launcher, built on it (same options, same ``submitit`` folder):

- **Several jobs per array task** (``jobs_per_task``; not part of any run key): a task runs its
  jobs one after the other in one process. ``auto`` gives every array slot one task: the slots
  are ``array_parallelism``, or fewer where ``sinfo`` says the partition has fewer CPUs for
  ``cpus_per_task``; at least ``min_jobs_per_task`` jobs a task. Jobs are dealt to tasks round
  robin from the sweeper's largest-budget-first batch, so every task gets a mix of sizes.
- **Status from what the tasks wrote and from ``squeue``**, never ``sacct``: a task is done
  when its result file is there; a task that ``squeue`` no longer lists and that left no result
  (``scancel``, killed at its time limit, its node lost) is reported as *not finished*, with
  SLURM's own line from its log; its jobs' finished runs are kept (rows are written one by one,
  atomically) and the next pass of the same command does the rest.
- **Preemption and time limits**: submitit's signal handler requeues a preempted task (the
  requeued task skips the runs that already have rows); a task it does not requeue (the
  time-limit notice with ``max_num_timeout=0``) stops with a ``BaseException``, so the run in
  flight is never recorded as a failed row.
"""

import logging
import math
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


@dataclass
class BatchedSlurmQueueConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.coreset_bench_launcher.BatchedSlurmLauncher"
    # jobs (groups of runs) one array task runs in one process: an int, or "auto"
    jobs_per_task: Any = "auto"
    # the least jobs per task "auto" chooses (start-up is then a small share of a task)
    min_jobs_per_task: int = 4
    # seconds between looks at the result files and squeue
    poll_s: float = 2.0
    # seconds a task may be absent from squeue without a result file before it counts as lost
    # (a shared filesystem can show a result file late)
    lost_after_s: float = 20.0


ConfigStore.instance().store(group="hydra/launcher", name="coreset_bench_slurm",
                             node=BatchedSlurmQueueConf, provider="coreset_bench")

OWN_KEYS = ("jobs_per_task", "min_jobs_per_task", "poll_s", "lost_after_s")


class TaskStopped(BaseException):
    """The task was told to stop (a time-limit notice it is not requeued for). A BaseException:
    a run it interrupts is not recorded (runs record only ``Exception``s as failed rows)."""


def jobs_per_task(setting: Any, n_jobs: int, slots: int, least: int) -> int:
    """``setting`` (an int, or "auto": one task per slot, at least ``least`` jobs each)."""
    if str(setting) != "auto":
        try:
            value = int(setting)
        except (TypeError, ValueError):
            value = 0
        if value < 1:
            from coreset_bench.errors import ConfigError
            raise ConfigError(f"hydra.launcher.jobs_per_task={setting!r}: a positive whole "
                              f"number or auto")
        return value
    return max(1, min(n_jobs, max(least, math.ceil(n_jobs / max(1, slots)))))


def deal(items: Sequence[Any], size: int) -> List[List[Any]]:
    """``items`` dealt round robin into ceil(len / size) tasks (each gets a mix of the sorted
    batch's large and small jobs)."""
    n_tasks = max(1, math.ceil(len(items) / size))
    return [list(items[t::n_tasks]) for t in range(n_tasks)]


def partition_slots(partition: Optional[str], cpus_per_task: Optional[int]) -> Optional[int]:
    """How many tasks of ``cpus_per_task`` CPUs the partition holds at once (``sinfo``), or
    None if sinfo does not answer."""
    cmd = ["sinfo", "-h", "-o", "%C"] + (["-p", partition] if partition else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    total = 0
    for line in out.split():
        parts = line.split("/")   # allocated/idle/other/total
        if len(parts) == 4 and parts[3].isdigit():
            total += int(parts[3])
    return max(1, total // max(1, int(cpus_per_task or 1))) if total else None


def queue_states(job_ids: Sequence[str]) -> Optional[Dict[str, str]]:
    """``squeue``'s state of each listed array task (``"<job>_<task>"``), or None if squeue
    does not answer. Finished tasks are not listed."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    if not arrays:
        return {}
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        # an array whose tasks have all left the queue can make squeue say "Invalid job id"
        if "Invalid job id" in out.stderr:
            return {}
        return None
    states = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


_SLURM_LINE = re.compile(r"\*\*\* .*(CANCELLED|TIME LIMIT|PREEMPT|NODE FAIL).* \*\*\*")


def why_lost(job: Any) -> str:
    """SLURM's own line from the task's log (cancelled, time limit, ...), else a generic one."""
    for path in (job.paths.stderr, job.paths.stdout):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        found = [m.group(0) for m in _SLURM_LINE.finditer(text)]
        if found:   # the job's line (its step's says the same), not an earlier requeue's
            final = [f for f in found if "DUE TO JOB REQUEUE" not in f] or found
            jobs = [f for f in final if f.startswith("*** JOB ")] or final
            return "SLURM: " + jobs[-1].strip("* ").strip()
        if "TaskStopped" in text or "not requeued" in text:
            return "stopped at its time-limit notice (not requeued)"
    return "it left the queue without a result (cancelled, or killed)"


_IMPORTED = time.monotonic()


def process_age() -> float:
    """Seconds since this process started (the interpreter's own start-up included)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])   # field 22, starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


class BatchedSlurmLauncher(SlurmLauncher):
    def __init__(self, **params: Any) -> None:
        own = {k: params.pop(k) for k in OWN_KEYS if k in params}
        super().__init__(**params)
        self.own = {**{k: getattr(BatchedSlurmQueueConf, k) for k in OWN_KEYS}, **own}
        # set by the sweeper: called with (positions in the batch, JobReturns) as tasks finish
        self.on_results: Optional[Any] = None
        # the last launch's tasks: their count and wall times (process start to last job's end)
        self.task_seconds: List[float] = []

    def __getstate__(self) -> Dict[str, Any]:
        """What goes to the tasks: not the sweeper's callback (its bar, its closures)."""
        return {**self.__dict__, "on_results": None}

    # --- in the array task -------------------------------------------------------------------

    def __call__(self, jobs: List[tuple], singleton_state: Dict[type, Any]) -> List[JobReturn]:  # type: ignore[override]
        """Run this task's jobs one after the other (one interpreter, imports and caches)."""
        self._guard_time_limit_notice()
        out = [SlurmLauncher.__call__(self, overrides, key, num, jid, singleton_state)
               for overrides, key, num, jid in jobs]
        wall = process_age()
        for ret in out:
            ret.task_seconds = wall   # read back by the sweep's process (its log, bench sweep)
        return out

    @staticmethod
    def _guard_time_limit_notice() -> None:
        """submitit's handler of the time-limit / preemption signal raises an ``Exception``
        when it does not requeue the task; raised inside a run, that would be recorded as the
        run's failure. Re-raise it as ``TaskStopped`` (not recorded)."""
        import submitit

        name = submitit.slurm.slurm.SlurmJobEnvironment.USR_SIG   # "USR2"
        usr = getattr(signal, name if name.startswith("SIG") else f"SIG{name}", None)
        handler = signal.getsignal(usr) if usr is not None else None
        if not callable(handler):
            return

        def guarded(signum, frame):
            try:
                handler(signum, frame)
            except Exception as exc:   # submitit's UncompletedJobError: not requeued
                raise TaskStopped(str(exc)) from None

        signal.signal(usr, guarded)

    # --- in the sweep's process --------------------------------------------------------------

    def _executor(self) -> Any:
        import submitit

        params = dict(self.params)
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init["slurm_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster="slurm", **init)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and len(job_overrides) > 0
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        params = [(list(o), "hydra.sweep.dir", initial_job_idx + i, f"job_id_for_{initial_job_idx + i}")
                  for i, o in enumerate(job_overrides)]
        n = len(params)
        slots = self.params.get("array_parallelism") or n
        if str(self.own["jobs_per_task"]) == "auto":
            fits = partition_slots(self.params.get("partition"), self.params.get("cpus_per_task"))
            slots = min(slots, fits) if fits else slots
        size = jobs_per_task(self.own["jobs_per_task"], n, slots, int(self.own["min_jobs_per_task"]))
        tasks = deal(params, size)
        log.info("SLURM: %d job(s) in %d array task(s), up to %d a task (sweep dir %s)", n,
                 len(tasks), max(len(t) for t in tasks), sweep_dir)
        for task_no, task in enumerate(tasks):
            for overrides, _, idx, _ in task:
                log.debug("\ttask %d: #%d : %s", task_no, idx, " ".join(filter_overrides(overrides)))
        state = Singleton.get_state()
        submitted = self._executor().map_array(self, tasks, [state] * len(tasks))
        position = {idx: idx - initial_job_idx for _, _, idx, _ in params}

        def returns_of(t: int, outcome: Any) -> List[JobReturn]:
            if isinstance(outcome, list):
                return outcome
            return [_lost_return(overrides, outcome) for overrides, _, _, _ in tasks[t]]

        def finished(t: int, outcome: Any) -> None:
            if self.on_results is not None:
                self.on_results([position[idx] for _, _, idx, _ in tasks[t]], returns_of(t, outcome))

        outcomes = self._wait(submitted, finished)
        returns: Dict[int, JobReturn] = {}
        for t, outcome in enumerate(outcomes):
            for (_, _, idx, _), ret in zip(tasks[t], returns_of(t, outcome)):
                returns[idx] = ret
        self.task_seconds = [float(getattr(o[0], "task_seconds", float("nan")))
                             for o in outcomes if isinstance(o, list) and o]
        if self.task_seconds:
            log.info("SLURM tasks: %d finished, wall %.1f s in all, %.1f s on average (process "
                     "start to its last job's end)", len(self.task_seconds),
                     sum(self.task_seconds), sum(self.task_seconds) / len(self.task_seconds))
        return [returns[initial_job_idx + i] for i in range(n)]

    def _wait(self, jobs: Sequence[Any], finished: Any) -> List[Any]:
        """Each task's list of JobReturns, or for a task that ended without one the reason;
        ``finished(task, outcome)`` as each ends."""
        poll = float(self.own["poll_s"])
        grace = float(self.own["lost_after_s"])
        outcomes: List[Any] = [None] * len(jobs)
        pending = set(range(len(jobs)))
        absent_since: Dict[int, float] = {}
        squeue_quiet = True
        while pending:
            states = queue_states([jobs[i].job_id for i in pending])
            if states is None and squeue_quiet:
                log.warning("squeue does not answer; following the tasks by their result files")
                squeue_quiet = False
            now = time.monotonic()
            for i in sorted(pending):
                job = jobs[i]
                if Path(job.paths.result_pickle).exists():
                    outcomes[i] = _read_result(job)
                    pending.discard(i)
                    finished(i, outcomes[i])
                elif states is None or job.job_id in states:
                    absent_since.pop(i, None)
                elif now - absent_since.setdefault(i, now) >= grace:
                    outcomes[i] = why_lost(job)
                    log.warning("SLURM task %s ended without finishing: %s", job.job_id, outcomes[i])
                    pending.discard(i)
                    finished(i, outcomes[i])
            if pending:
                time.sleep(poll)
        return outcomes


def _read_result(job: Any) -> Any:
    """The task's JobReturns, or (it failed outside any run) its error's last line."""
    try:
        outcome, value = job._get_outcome_and_result()   # reads the result file, no sacct
    except Exception as exc:   # an unreadable result file
        return f"its result could not be read: {exc}"
    if outcome == "success":
        return value
    lines = [line for line in str(value).strip().splitlines() if line.strip()]
    if "TaskStopped" in str(value) or "not requeued" in str(value):
        return "stopped at its time-limit notice (not requeued)"
    return f"it failed: {lines[-1] if lines else value}"


def _lost_return(overrides: List[str], reason: str) -> JobReturn:
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = {"ok": 0, "skipped": 0, "failed": 0, "busy": 0, "lost": 1, "lost_reason": reason}
    return ret

"""The SLURM launcher of ``coreset-bench run -m ... hydra/launcher=slurm`` (a Hydra plugin).

Hydra's submitit launcher runs one Hydra job (one group of runs) per SLURM array task, so
every task pays a fresh interpreter, the imports, the dataset and JIT compilation for a few
seconds of work, and it follows its tasks with ``sacct``, which prints a warning per poll where
SLURM keeps no accounting (as small clusters often do), and waits forever for a task that was
cancelled there. This launcher, built on it (same options, same ``submitit`` folder):

- **Several jobs per array task** (``jobs_per_task``; not part of any run key): a task runs its
  jobs one after the other in one process. ``auto`` gives every array slot one task: the slots
  are ``array_parallelism``, or fewer where ``sinfo`` says the partition has fewer CPUs for
  ``cpus_per_task``; but at least ``min_jobs_per_task`` jobs a task (then fewer tasks than
  slots: start-up is paid less often, at the cost of some parallelism). Jobs are dealt to tasks
  round robin from the sweeper's largest-budget-first batch, so every task gets a mix of sizes.
- **Status from what the tasks wrote and from ``squeue``**, never ``sacct``: a task is done
  when its result file is there; a task writes a progress file after each job, so a task that
  ``squeue`` no longer lists and that left no result (``scancel``, killed at its time limit,
  its node lost) still reports the jobs it finished; the others are reported as *not
  finished*, with SLURM's own line from its log. Rows are written one by one, atomically, so
  their finished runs are kept and the next pass of the same command does the rest.
- **Preemption and time limits**: submitit's signal handler requeues a preempted task (the
  requeued task skips the runs that already have rows); a task it does not requeue (the
  time-limit notice after ``max_num_timeout`` requeues) stops its job at once with a
  ``BaseException``, so the run in flight is never recorded as a failed row, and returns what
  it finished.
- **Interrupted sweep**: Ctrl-C or SIGTERM of the sweep's process cancels its array
  (``scancel``); the rows written so far are kept.
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
    # the least jobs per task "auto" chooses (start-up paid once per that many jobs: a small
    # share of a task for MNIST-sized jobs of seconds, not for the demo's jobs of 0.25 s)
    min_jobs_per_task: int = 4
    # seconds between looks at the result files and squeue
    poll_s: float = 2.0
    # seconds a task may be absent from squeue without a result file before it counts as lost
    # (a shared filesystem can show a result file late)
    lost_after_s: float = 60.0


ConfigStore.instance().store(group="hydra/launcher", name="coreset_bench_slurm",
                             node=BatchedSlurmQueueConf, provider="coreset_bench")

OWN_KEYS = ("jobs_per_task", "min_jobs_per_task", "poll_s", "lost_after_s")


class TaskStopped(BaseException):
    """The task was told to stop (a time-limit notice it is not requeued for). A BaseException:
    a run it interrupts is not recorded (runs record only ``Exception``s as failed rows)."""


def jobs_per_task(setting: Any, n_jobs: int, slots: int, least: int) -> int:
    """``setting`` (an int, or "auto": one task per slot, at least ``least`` jobs each)."""
    if str(setting) != "auto":
        value = 0
        if not isinstance(setting, bool):
            try:
                value = int(setting) if float(setting) == int(float(setting)) else 0
            except (TypeError, ValueError, OverflowError):
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
    """How many tasks of ``cpus_per_task`` CPUs the partition (or the default one) holds at once:
    its allocated + idle CPUs (``sinfo``), or None if sinfo does not answer."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P %C"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    cpus = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        name, counts = parts[0], parts[1].split("/")   # allocated/idle/other/total
        mine = name.rstrip("*") == partition if partition else name.endswith("*")
        if mine and len(counts) == 4 and counts[0].isdigit() and counts[1].isdigit():
            cpus += int(counts[0]) + int(counts[1])
    return max(1, cpus // max(1, int(cpus_per_task or 1))) if cpus else None


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


_SLURM_LINE = re.compile(r"\*\*\* .*(CANCELLED|TIME LIMIT|PREEMPT|NODE FAIL|OUT_OF_MEMORY|OOM).* \*\*\*")
STOPPED = "stopped at its time-limit notice (not requeued)"


def why_lost(job: Any) -> str:
    """SLURM's own line from the task's log (cancelled, time limit, ...) after its last
    requeue, else a generic one."""
    for path in (job.paths.stderr, job.paths.stdout):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        requeues = [m.end() for m in re.finditer(r".*DUE TO JOB REQUEUE.*\n?", text)]
        last = text[requeues[-1]:] if requeues else text   # the last attempt's own lines
        found = [m.group(0) for m in _SLURM_LINE.finditer(last)]
        if found:   # the job's line (its step's says the same)
            jobs = [f for f in found if f.startswith("*** JOB ")] or found
            return "SLURM: " + jobs[-1].strip("* ").strip()
        if "TaskStopped" in last or "not requeued" in last:
            return STOPPED
        if "User defined signal 2" in last:   # the notice came before submitit could catch it
            return "stopped by its time-limit or preemption notice (USR2) during start-up"
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
        """Run this task's jobs one after the other (one interpreter, imports and caches),
        writing what is finished to the task's progress file after each job."""
        import submitit

        stopped = self._guard_time_limit_notice()
        progress = Path(submitit.JobEnvironment().paths.folder) / PROGRESS
        out: List[JobReturn] = []
        for overrides, key, num, jid in jobs:
            if stopped:
                break
            try:
                out.append(SlurmLauncher.__call__(self, overrides, key, num, jid, singleton_state))
            except TaskStopped:
                stopped.append(True)
                break
            except Exception as exc:   # outside the job's own function (its config): this job only
                ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
                ret.return_value = exc
                out.append(ret)
            _write_progress(progress, out)
        wall = process_age()
        for ret in out:
            ret.task_seconds = wall   # read back by the sweep's process (its log, bench sweep)
        if stopped:
            out += [_lost_return(o, STOPPED) for o, _, _, _ in jobs[len(out):]]
        return out

    @staticmethod
    def _guard_time_limit_notice() -> List[bool]:
        """submitit's handler of the time-limit / preemption signal raises an ``Exception``
        when it does not requeue the task; raised inside a run, that would be recorded as the
        run's failure. Re-raise it as ``TaskStopped`` (not recorded), and note it in the list
        returned (checked between jobs, should the exception be swallowed where it landed)."""
        import submitit

        stopped: List[bool] = []
        name = submitit.slurm.slurm.SlurmJobEnvironment.USR_SIG   # "USR2"
        usr = getattr(signal, name if name.startswith("SIG") else f"SIG{name}", None)
        handler = signal.getsignal(usr) if usr is not None else None
        if not callable(handler):
            return stopped

        def guarded(signum, frame):
            try:
                handler(signum, frame)
            except Exception as exc:   # submitit's UncompletedJobError: not requeued
                stopped.append(True)
                raise TaskStopped(str(exc)) from None

        signal.signal(usr, guarded)
        return stopped

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
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
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
            done, reason = outcome if isinstance(outcome, tuple) else ([], outcome)
            return done + [_lost_return(o, reason) for o, _, _, _ in tasks[t][len(done):]]

        def finished(t: int, outcome: Any) -> None:
            if self.on_results is not None:
                self.on_results([position[idx] for _, _, idx, _ in tasks[t]], returns_of(t, outcome))

        try:
            outcomes = self._wait(submitted, finished)
        except BaseException:   # Ctrl-C, SIGTERM, an error: the array does not run on alone
            arrays = sorted({j.job_id.split("_")[0] for j in submitted})
            subprocess.run(["scancel", *arrays], capture_output=True, timeout=60)
            log.warning("cancelled the SLURM array %s; the rows written so far are kept",
                        ",".join(arrays))
            raise
        returns: Dict[int, JobReturn] = {}
        for t, outcome in enumerate(outcomes):
            for (_, _, idx, _), ret in zip(tasks[t], returns_of(t, outcome)):
                returns[idx] = ret
        self.task_seconds = [float(getattr(o[0], "task_seconds", float("nan")))
                             for o in outcomes if isinstance(o, list) and o
                             and not _is_lost(o[-1])]
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
                    if _refreshed_exists(job):   # a shared filesystem showed it late
                        outcomes[i] = _read_result(job)
                        pending.discard(i)
                        finished(i, outcomes[i])
                        continue
                    reason = why_lost(job)
                    outcomes[i] = _partial(job, reason)
                    log.warning("SLURM task %s ended without finishing: %s", job.job_id, reason)
                    pending.discard(i)
                    finished(i, outcomes[i])
            if pending:
                time.sleep(poll)
        return outcomes


def _is_lost(ret: JobReturn) -> bool:
    value = getattr(ret, "_return_value", None)
    return isinstance(value, dict) and bool(value.get("lost"))


def _read_result(job: Any) -> Any:
    """The task's JobReturns, or (it failed outside its jobs) what its progress file says it
    finished and its error's last line (see ``_partial``)."""
    try:
        outcome, value = job._get_outcome_and_result()   # reads the result file, no sacct
    except Exception as exc:   # an unreadable result file
        return _partial(job, f"its result could not be read: {exc}")
    if outcome == "success":
        return value
    return _partial(job, _error_reason(value))


def _error_reason(value: Any) -> str:
    lines = [line for line in str(value).strip().splitlines() if line.strip()]
    if "TaskStopped" in str(value) or "not requeued" in str(value):
        return STOPPED
    return f"it failed: {lines[-1] if lines else value}"


PROGRESS = "jobs_done.pkl"   # in a task's submitit folder: the JobReturns of its finished jobs


def _write_progress(path: Path, returns: List[JobReturn]) -> None:
    import cloudpickle

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            cloudpickle.dump(returns, f)
        os.replace(tmp, path)
    except OSError as exc:   # the report is then coarser, the rows are unaffected
        log.warning("could not write %s: %s", path, exc)


def _refreshed_exists(job: Any) -> bool:
    folder = Path(job.paths.folder)
    try:   # make an NFS client look again (as submitit does)
        folder.chmod(folder.stat().st_mode)
        os.listdir(folder)
    except OSError:
        pass
    return Path(job.paths.result_pickle).exists()


def _partial(job: Any, reason: str) -> Any:
    """A lost task's outcome: the JobReturns of the jobs its progress file says it finished
    (then ``reason`` for the rest), or just ``reason``."""
    import pickle

    try:
        with open(Path(job.paths.folder) / PROGRESS, "rb") as f:
            done = pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return reason
    return (done, reason) if isinstance(done, list) and done else reason


def _lost_return(overrides: List[str], reason: str) -> JobReturn:
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = {"ok": 0, "skipped": 0, "failed": 0, "busy": 0, "lost": 1, "lost_reason": reason}
    return ret

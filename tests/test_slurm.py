"""The cluster path against a real SLURM: ``scripts/local_slurm.sh`` brings up a single-node
cluster (root and apt, or the binaries, needed: otherwise one line says why the module is
skipped), then sweeps go through ``hydra/launcher=slurm`` as a user's would.

A plugin sampler that sleeps makes tasks last long enough to be hit mid-sweep while using no
CPU. Checked: every run ok and once; a running task requeued (``scontrol requeue``) and one
cancelled (``scancel``) mid-sweep, then the same command again, give exactly the grid; a task
stopped at its time limit leaves no failed or partial row and is redone on the next pass; no
``sacct`` warning anywhere (this cluster keeps no accounting)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from test_faults import CLI, rows_on_disk, summary_line, temp_files, wait_for

SCRIPT = REPO / "scripts" / "local_slurm.sh"
SLEEPY = '''
import time

import numpy as np

from coreset_bench.samplers import SamplerSpec, Selection


def select(inputs, n_select, rng, *, seconds: float = 2.0):
    time.sleep(seconds)
    return Selection(indices=np.sort(rng.choice(inputs.n_candidates, n_select, replace=False)))


SPEC = SamplerSpec(name="sleepy", select=select, citation="a test's sampler")
'''


@pytest.fixture(scope="module")
def cluster():
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("a local SLURM needs root on Linux (scripts/local_slurm.sh)")
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        pytest.skip("no slurm-wlm here and no apt-get to install it (scripts/local_slurm.sh)")
    ours = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode != 0
    out = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    if out.returncode == 3:
        pytest.skip(out.stderr.strip().splitlines()[-1])
    assert out.returncode == 0, out.stdout + out.stderr    # the script itself broke: a failure
    yield
    if ours:   # started here: stopped here (a cluster that was up is left as it was)
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=120)


def sweep_args(tmp_path: Path, *extra: str, seeds: str = "0,1,2,3,4,5") -> list[str]:
    plugin = tmp_path / "sleepy.py"
    plugin.write_text(textwrap.dedent(SLEEPY))
    return ["run", "-m", "--plugins", str(plugin), "samplers=[uniform,sleepy]", "budget=20,40",
            f"seed={seeds}", "hydra/launcher=slurm", "hydra.launcher.partition=debug",
            "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
            "hydra.launcher.lost_after_s=3", f"results_dir={tmp_path / 'res'}", *extra]


def grid(seeds) -> set[tuple]:
    return {(s, b, seed) for s in ("uniform", "sleepy") for b in (20, 40) for seed in seeds}


def cells(rows: list[dict]) -> set[tuple]:
    """(sampler, budget, seed) of each row; a plugin's name without its source key."""
    return {(r["sampler"].split("@")[0], r["budget"], r["seed"]) for r in rows}


def tasks_running() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-t", "R", "-o", "%i"], capture_output=True,
                         text=True).stdout
    return out.split()


def pending() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-t", "PD", "-o", "%i"], capture_output=True,
                         text=True).stdout
    return out.split()


def assert_exactly(results: Path, expected: set[tuple]) -> None:
    rows = rows_on_disk(results)
    assert len(rows) == len(expected) and cells(rows) == expected    # every run once
    assert {r["status"] for r in rows} == {"ok"}
    assert not temp_files(results)
    check = run_cli("results", "check", str(results))
    assert check.returncode == 0 and "consistent" in check.stdout, check.stdout


def test_a_sweep_through_slurm_runs_every_run_once_without_sacct_noise(cluster, tmp_path):
    out = run_cli(*sweep_args(tmp_path, "+sampler_params={sleepy:{seconds:0.1}}", seeds="0,1"),
                  process=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert summary_line(out.stderr) == "coreset-bench: runs ok=8 skipped=0 failed=0"
    assert "sacct" not in out.stderr and "status may be inaccurate" not in out.stderr
    # 4 jobs, jobs_per_task=auto (at least 4 a task): one array task
    assert len(list((tmp_path / "res").rglob(".submitit/*/*_result.pkl"))) == 1
    assert_exactly(tmp_path / "res", grid(range(2)))
    # jobs_per_task and the launcher are in no run key: the same grid run locally has the same keys
    local = run_cli(*[a for a in sweep_args(tmp_path, "+sampler_params={sleepy:{seconds:0.1}}",
                                           seeds="0,1") if not a.startswith(("hydra", "results_dir"))],
                    "hydra/launcher=basic", f"results_dir={tmp_path / 'local'}")
    assert local.returncode == 0, local.stderr[-3000:]
    assert ({r["run_key"] for r in rows_on_disk(tmp_path / "local")}
            == {r["run_key"] for r in rows_on_disk(tmp_path / "res")})
    again = run_cli(*sweep_args(tmp_path, "+sampler_params={sleepy:{seconds:0.1}}", seeds="0,1"),
                    process=True)
    assert summary_line(again.stderr) == "coreset-bench: runs ok=0 skipped=8 failed=0"


def test_a_task_requeued_and_one_cancelled_mid_sweep_then_a_rerun_give_exactly_the_grid(cluster, tmp_path):
    # 8 jobs, 2 a task: 4 array tasks of 2 x 4 s of sleep, 2 running at a time. A task outlives
    # the 5 s (KillWait) SLURM gives it between SIGTERM and SIGKILL (submitit lets a task go on
    # at SIGTERM)
    args = sweep_args(tmp_path, "hydra.launcher.jobs_per_task=2",
                      "+sampler_params={sleepy:{seconds:4}}", seeds="0,1,2,3")
    proc = subprocess.Popen([*CLI, *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    hit: dict[str, str] = {}

    def two_running() -> bool:
        running = tasks_running()
        return len(running) >= 2 or proc.poll() is not None

    wait_for(two_running, timeout=300, what="two running SLURM tasks")
    time.sleep(2)                      # inside their first job
    requeue, cancel = tasks_running()[:2]
    hit["requeue"] = requeue
    hit["cancel"] = cancel
    subprocess.run(["scontrol", "requeue", requeue], check=True)
    subprocess.run(["scancel", cancel], check=True)
    # SLURM holds a requeued job back for a while (its begin time); let it start again at once
    wait_for(lambda: requeue in pending(), timeout=120, what="the requeued task back in the queue")
    subprocess.run(["scontrol", "update", f"JobId={requeue}", "StartTime=now"], check=True)
    _, err = proc.communicate(timeout=600)
    assert "sacct" not in err and "Traceback" not in err
    # the cancelled task's 2 jobs are reported, its finished runs kept; nothing else is lost
    assert proc.returncode == 1, err[-3000:]
    # (2, or 1 if its first job ended in the 5 s between SIGTERM and SIGKILL: its progress file)
    assert re.search(r"[12] job\(s\) were not finished: their cluster task ended first "
                     r"\(SLURM: JOB ", err), err[-3000:]
    assert " CANCELLED AT " in err and "DUE TO JOB REQUEUE" not in err
    assert "re-run the same command to do the rest" in err
    first = rows_on_disk(tmp_path / "res")
    assert {r["status"] for r in first} == {"ok"} and len(first) == len(cells(first)) < 16
    kept = {p.name: p.read_bytes() for p in (tmp_path / "res" / "rows").glob("*.json")}
    # the requeued task ran again: its log has two starts
    logs = list((tmp_path / "res").rglob(f"{requeue}_0_log.out"))
    assert logs and logs[0].read_text().count("Starting with JobEnvironment") >= 2, hit
    again = run_cli(*args, process=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary_line(again.stderr) == (
        f"coreset-bench: runs ok={16 - len(first)} skipped={len(first)} failed=0")
    assert_exactly(tmp_path / "res", grid(range(4)))
    final = {p.name: p.read_bytes() for p in (tmp_path / "res" / "rows").glob("*.json")}
    assert {k: final.get(k) for k in kept} == kept       # the rerun never rewrote a row


def test_a_task_stopped_at_its_time_limit_leaves_no_row_half_done_and_is_redone(cluster, tmp_path):
    # one task of 8 jobs of 3 s of sleep (about 30 s) and a 1-minute limit: its notice (USR2,
    # signal_delay_s = 40 s before the limit; "up to 60 s earlier", says SLURM) comes 0-20 s in.
    # Before submitit's handler is in place the signal ends the process; after it, the task
    # stops its job at once and reports the jobs it finished. Either way: no failed or partial
    # row, and the next pass does the rest.
    seeds = "0,1,2,3"
    args = sweep_args(tmp_path, "hydra.launcher.jobs_per_task=8", "hydra.launcher.timeout_min=1",
                      "hydra.launcher.signal_delay_s=40", "hydra.launcher.max_num_timeout=0",
                      "+sampler_params={sleepy:{seconds:3}}", seeds=seeds)
    first = run_cli(*args, process=True)
    assert first.returncode == 1, first.stderr[-3000:]
    done = rows_on_disk(tmp_path / "res")
    assert len(done) < 16 and {r["status"] for r in done} <= {"ok"}, done
    assert not temp_files(tmp_path / "res")
    whole = sum(1 for job in {(r["budget"], r["seed"]) for r in done}
                if sum((r["budget"], r["seed"]) == job for r in done) == 2)
    reasons = ("stopped at its time-limit notice", "time-limit or preemption notice (USR2)",
               "DUE TO TIME LIMIT")
    assert any(r in first.stderr for r in reasons), first.stderr[-3000:]
    assert f"{8 - whole} job(s) were not finished" in first.stderr, first.stderr[-3000:]
    runs = [line for line in first.stderr.splitlines() if line.startswith("coreset-bench: runs")]
    assert runs == [f"coreset-bench: runs ok={2 * whole} skipped=0 failed=0 "
                    f"not finished={2 * (8 - whole)}"], first.stderr[-3000:]
    again = run_cli(*sweep_args(tmp_path, "+sampler_params={sleepy:{seconds:3}}", seeds=seeds),
                    process=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary_line(again.stderr) == (
        f"coreset-bench: runs ok={16 - len(done)} skipped={len(done)} failed=0")
    assert_exactly(tmp_path / "res", grid(range(4)))


def test_bad_jobs_per_task_is_one_line(tmp_path):   # refused before anything is submitted
    out = run_cli(*sweep_args(tmp_path, "hydra.launcher.jobs_per_task=0", seeds="0"), process=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "coreset-bench: error: hydra.launcher.jobs_per_task=0: a positive whole number or auto")


# -- without a cluster: how jobs are dealt to tasks, and what a lost task says ----------------

def test_jobs_per_task_auto_gives_each_array_slot_one_task_of_at_least_the_minimum():
    from hydra_plugins.coreset_bench_launcher import deal, jobs_per_task

    assert jobs_per_task("auto", 30, slots=2, least=4) == 15      # the demo on 2 CPUs: 2 tasks
    assert jobs_per_task("auto", 500, slots=64, least=4) == 8     # fig2_mnist, 64 slots
    assert jobs_per_task("auto", 6, slots=64, least=4) == 4       # few jobs: still 4 a task
    assert jobs_per_task("auto", 3, slots=64, least=4) == 3
    assert jobs_per_task(5, 30, slots=2, least=4) == 5
    tasks = deal(list(range(10)), 4)                              # round robin over the batch
    assert tasks == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(sum(tasks, [])) == list(range(10))


@pytest.mark.parametrize("bad", [0, -2, "many", None, True, 2.5])
def test_a_bad_jobs_per_task_names_the_value_and_the_choices(bad):
    from coreset_bench.errors import ConfigError
    from hydra_plugins.coreset_bench_launcher import jobs_per_task

    with pytest.raises(ConfigError, match=r"jobs_per_task=.*: a positive whole number or auto"):
        jobs_per_task(bad, 10, slots=2, least=4)


def test_a_lost_task_is_explained_by_slurm_s_own_line(tmp_path):
    from types import SimpleNamespace

    from hydra_plugins.coreset_bench_launcher import why_lost

    err, out = tmp_path / "t_log.err", tmp_path / "t_log.out"
    job = SimpleNamespace(paths=SimpleNamespace(stderr=err, stdout=out))
    assert "left the queue without a result" in why_lost(job)      # no log at all
    err.write_text("slurmstepd: error: *** JOB 63 ON vm CANCELLED AT 2026-12-01T07:49:46 DUE TO JOB REQUEUE ***\n"
                   "slurmstepd: error: *** STEP 63.0 ON vm CANCELLED AT 2026-12-01T07:55:00 ***\n"
                   "slurmstepd: error: *** JOB 63 ON vm CANCELLED AT 2026-12-01T07:55:00 ***\n")
    assert why_lost(job) == "SLURM: JOB 63 ON vm CANCELLED AT 2026-12-01T07:55:00"
    err.write_text("slurmstepd: error: *** JOB 70 ON vm CANCELLED AT 2026-12-01T08:00:00 DUE TO TIME LIMIT ***\n")
    assert why_lost(job) == "SLURM: JOB 70 ON vm CANCELLED AT 2026-12-01T08:00:00 DUE TO TIME LIMIT"
    err.write_text("Traceback ...\nhydra_plugins.coreset_bench_launcher.TaskStopped: Job not requeued\n")
    assert why_lost(job) == "stopped at its time-limit notice (not requeued)"
    # requeued at its time limit (max_num_timeout), then stopped: the last attempt's reason
    err.write_text("slurmstepd: error: *** JOB 71 ON vm CANCELLED AT 2026-12-01T08:00:00 DUE TO JOB REQUEUE ***\n"
                   "Traceback ...\nhydra_plugins.coreset_bench_launcher.TaskStopped: Job not requeued\n")
    assert why_lost(job) == "stopped at its time-limit notice (not requeued)"
    err.write_text("srun: error: vm: task 0: User defined signal 2\n")
    assert "notice (USR2) during start-up" in why_lost(job)


def test_a_lost_task_reports_the_jobs_its_progress_file_says_it_finished(tmp_path):
    """A task killed after some of its jobs: those count as done (from the progress file the
    task writes after each job), only the rest as not finished; the sweeper tallies each once."""
    from types import SimpleNamespace

    from hydra.core.utils import JobReturn, JobStatus

    from hydra_plugins.coreset_bench_launcher import PROGRESS, _partial, _write_progress

    folder = tmp_path / "task"
    folder.mkdir()
    job = SimpleNamespace(paths=SimpleNamespace(folder=folder))
    assert _partial(job, "why") == "why"                          # no progress file: all lost
    done = JobReturn(overrides=["seed=0"], status=JobStatus.COMPLETED)
    done.return_value = {"ok": 2, "skipped": 0, "failed": 0, "busy": 0}
    _write_progress(folder / PROGRESS, [done])
    finished, reason = _partial(job, "why")
    assert reason == "why" and finished[0].return_value == done.return_value
    assert not list(folder.glob(".*.tmp"))


def test_bench_sweep_refuses_a_bad_slurm_choice_in_one_line():
    out = run_cli("bench", "sweep", "slurm=maybe")
    assert out.returncode == 2
    assert out.stderr.strip() == ("coreset-bench: error: slurm='maybe' is not valid; valid "
                                  "choices: auto, true, false")

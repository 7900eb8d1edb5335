"""Sweep throughput (``coreset-bench bench sweep``): runs per minute of a small MNIST grid under
each launcher mode, measured one after the other in one process, and the projected wall time of
the full Figure 2 sweep on MNIST; with ``slurm=true`` (or ``auto`` where ``sinfo`` answers) the
demo sweep through the local launcher and through SLURM (one job per task, and
``jobs_per_task=auto``) side by side: wall time, runs per second, start-up per task."""

from __future__ import annotations

import os
import time
from pathlib import Path


SWEEP_GRID = ("dataset=mnist", "samplers=[uniform,kcenter,loss,grad]", "budget=250,500",
              "seed=0,1")
SWEEP_MODES = {  # name -> extra overrides
    "1 worker, shared warm start": ("hydra.launcher.n_jobs=1",),
    "2 workers, shared warm start": ("hydra.launcher.n_jobs=2",),
    "1 worker, warm start per sampler": ("hydra.launcher.n_jobs=1", "share_group=false"),
}
FIG2_BUDGETS = (250, 500, 1000, 2000, 3000)


def job_durations(rows):
    """Each job's (dataset, budget, seed) duration: its group preparation (``time_group``) plus
    each sampler's own wall time."""
    return rows.groupby(["dataset", "budget", "seed"]).apply(
        lambda g: g["time_group"].iloc[0] + g["time_wall"].sum(), include_groups=False)


def _run_sweep(overrides: tuple[str, ...], results_dir: Path) -> float:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "coreset_bench.cli", "run", "-m", *overrides,
           f"results_dir={results_dir}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sweep failed ({' '.join(overrides)}):\n{proc.stderr[-3000:]}")
    return wall


def sweep_throughput(*, project: bool = True, echo=print) -> dict:
    """Runs per minute of a fixed small MNIST grid (4 samplers x 2 budgets x 2 seeds = 16 runs)
    under each mode, measured one after the other in fresh results dirs; then (``project``)
    the full MNIST Figure 2 sweep (100 seeds x 4 samplers x 5 budgets) projected from one
    seed of it run with 2 workers."""
    import tempfile

    from ..store import load

    n_runs = 16
    out: dict = {"modes": {}}
    echo(f"sweep throughput: {' '.join(SWEEP_GRID)} ({n_runs} runs), {os.cpu_count()} cores")
    for name, extra in SWEEP_MODES.items():
        with tempfile.TemporaryDirectory() as tmp:
            wall = _run_sweep((*SWEEP_GRID, *extra), Path(tmp))
        out["modes"][name] = {"seconds": wall, "runs_per_min": 60 * n_runs / wall}
        echo(f"  {name:34s} {wall:7.1f} s   {60 * n_runs / wall:6.1f} runs/min", flush=True)
    m = out["modes"]
    out["parallel_speedup"] = m["2 workers, shared warm start"]["runs_per_min"] / \
        m["1 worker, shared warm start"]["runs_per_min"]
    out["sharing_speedup"] = m["1 worker, shared warm start"]["runs_per_min"] / \
        m["1 worker, warm start per sampler"]["runs_per_min"]
    echo(f"  ratio 2 workers / 1 worker: {out['parallel_speedup']:.2f}x; "
         f"shared / per-sampler warm start: {out['sharing_speedup']:.2f}x")
    if not project:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        budgets = ",".join(map(str, FIG2_BUDGETS))
        wall = _run_sweep(("experiment=fig2_mnist", "seed=0", f"budget={budgets}",
                           "hydra.launcher.n_jobs=2"), Path(tmp))
        rows = load(tmp)
    jobs = job_durations(rows).groupby("budget").sum()   # one seed: one job per budget
    per_seed = float(jobs.sum())
    out["fig2_mnist_seconds_per_seed_one_worker"] = per_seed
    out["fig2_mnist_projected_hours"] = 100 * per_seed / 2 / 3600
    out["fig2_mnist_one_seed_wall"] = wall
    echo(f"fig2_mnist, seed 0, 5 budgets, 2 workers: {wall:.0f} s wall; job durations sum to "
         f"{per_seed:.0f} s ({', '.join(f'k={b}: {s:.0f}s' for b, s in jobs.items())})")
    echo(f"projected full fig2_mnist sweep (100 seeds x 4 samplers x 5 budgets, 2 workers): "
         f"{60 * out['fig2_mnist_projected_hours']:.0f} min (target: 20 min; measured end to end: "
         f"see docs/speed.md)")
    return out


DEMO_GRID = ("experiment=demo",)   # 30 jobs x 7 samplers = 210 runs on the digits


def slurm_available() -> bool:
    import shutil
    import subprocess

    if not shutil.which("sinfo"):
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _job_seconds(results_dir: Path) -> float:
    """The work of the runs themselves, summed over the jobs (``job_durations``)."""
    from ..store import load

    return float(job_durations(load(results_dir)).sum())


def _task_seconds(results_dir: Path) -> list[float]:
    """Each SLURM task's wall time (process start to its last job's end), read back from the
    tasks' result files (the launcher stores it with each job's return)."""
    import pickle

    walls = []
    for path in Path(results_dir).rglob(".submitit/*/*_result.pkl"):
        with open(path, "rb") as f:
            outcome, value = pickle.load(f)
        if outcome == "success" and value:
            walls.append(float(getattr(value[0], "task_seconds", float("nan"))))
    return walls


def launcher_comparison(partition: str, where: str = "results/bench/launchers", *,
                        echo=print) -> dict:
    """``experiment=demo`` with the local launcher (joblib, every core) and through SLURM, one
    job per task and ``jobs_per_task=auto``, one after the other in fresh results dirs under
    ``where`` (removed afterwards).
    Per process, the seconds not in a run: (process-seconds - the runs' own job-seconds) /
    processes, where a SLURM task's process-seconds are its wall time (process start to its last
    job's end: with one job a task, that task's start-up and harness), a local worker's the
    sweep's wall time (its start-up, harness and idle waits)."""
    import tempfile

    cores = len(os.sched_getaffinity(0))
    slurm = ("hydra/launcher=slurm", f"hydra.launcher.partition={partition}",
             "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2")
    modes = {f"local (joblib, {cores} workers)": (),
             "SLURM, 1 job a task": (*slurm, "hydra.launcher.jobs_per_task=1"),
             "SLURM, jobs_per_task=auto": slurm}
    n_runs = 210
    out: dict = {}
    echo(f"launchers: {' '.join(DEMO_GRID)} ({n_runs} runs), partition {partition}, {cores} cores; "
         f"per process, the seconds not in a run: a SLURM task's start-up (interpreter, imports, "
         f"data, JIT) and harness; a local worker's start-up, harness and idle wait for a batch")
    Path(where).mkdir(parents=True, exist_ok=True)   # the nodes must see it: not /tmp
    for name, extra in modes.items():
        with tempfile.TemporaryDirectory(dir=where) as tmp:
            wall = _run_sweep((*DEMO_GRID, *extra), Path(tmp))
            work = _job_seconds(Path(tmp))
            tasks = _task_seconds(Path(tmp)) if extra else [wall] * cores
        startup = (sum(tasks) - work) / len(tasks)
        out[name] = {"seconds": wall, "runs_per_s": n_runs / wall, "processes": len(tasks),
                     "overhead_per_process_s": startup, "job_seconds": work}
        echo(f"  {name:30s} {wall:7.1f} s  {n_runs / wall:6.2f} runs/s  {len(tasks):3d} "
             f"process(es), {startup:5.1f} s each not in a run", flush=True)
    local = out[f"local (joblib, {cores} workers)"]["seconds"]
    for name in list(modes)[1:]:
        out[name]["over_local"] = out[name]["seconds"] / local
        echo(f"  {name} / local: {out[name]['seconds'] / local:.2f}x wall time")
    return out

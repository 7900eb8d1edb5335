"""The results store under faults (issue 10): damaged files, concurrent sweeps, failed writes,
preemption. Each test injects one fault as a user would meet it and asserts the exact outcome:
which rows exist, that every file parses, the exit code and the one-line message."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from coreset_bench import store

from conftest import REPO, run_cli

CLI = [sys.executable, "-m", "coreset_bench.cli"]


def rows_on_disk(results_dir: Path) -> list[dict]:
    """Every row file, parsed (json.loads raises on a damaged one)."""
    return [json.loads(p.read_text()) for p in sorted((Path(results_dir) / "rows").glob("*.json"))]


def cells(rows: list[dict]) -> set[tuple]:
    return {(r["sampler"], r["budget"], r["seed"]) for r in rows}


def temp_files(results_dir: Path) -> list[Path]:
    return [p for p in Path(results_dir).rglob(".*.tmp")]


def summary_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.startswith("coreset-bench: ")][-1]


def wait_for(predicate, timeout: float = 300, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -- 1. damaged selection files -----------------------------------------------------------

REG_SWEEP = ("run", "-m", "dataset=synthetic_regression", "sampler=uniform,leverage",
             "budget=50", "seed=0,1", "hydra.launcher.n_jobs=1")


def test_a_damaged_selection_file_is_quarantined_and_its_run_redone(tmp_path):
    assert run_cli(*REG_SWEEP, f"results_dir={tmp_path}").returncode == 0
    sels = sorted((tmp_path / "selections").glob("*.npy"))
    truncated, foreign = sels[0], sels[1]
    truncated.write_bytes(truncated.read_bytes()[:40])
    np.save(foreign, np.arange(50, dtype=np.int64))            # loads, but not this run's
    assert run_cli("results", "check", str(tmp_path)).returncode == 1
    out = run_cli(*REG_SWEEP, f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert summary_line(out.stderr) == "coreset-bench: runs ok=2 skipped=2 failed=0"
    log = out.stdout + out.stderr
    assert f"damaged selection file {truncated}: does not load" in log
    assert f"damaged selection file {foreign}: has sha1" in log
    assert len(list((tmp_path / "quarantine" / "selections").iterdir())) == 2
    check = run_cli("results", "check", str(tmp_path))
    assert check.returncode == 0, check.stdout
    assert "4 rows (4 ok), 0 problem(s): consistent" in check.stdout


# -- 2. concurrent writers ----------------------------------------------------------------

CLF_SWEEP = ("run", "-m", "samplers=[uniform,kcenter]", "budget=30,40", "seed=0,1,2,3",
             "hydra.launcher.n_jobs=1")
CLF_GRID = {(s, b, seed) for s in ("uniform", "kcenter") for b in (30, 40) for seed in range(4)}


def counts(line: str) -> dict[str, int]:
    return {k: int(v) for k, v in (part.split("=") for part in line.split("runs ")[1].split())}


def test_two_concurrent_sweeps_finish_the_grid_without_running_a_cell_twice(tmp_path):
    procs = [subprocess.Popen([*CLI, *CLF_SWEEP, f"results_dir={tmp_path}"], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs[0][-2000:] + errs[1][-2000:]
    tallies = [counts(summary_line(e)) for e in errs]
    for tally in tallies:          # each sweep accounts for the whole grid ...
        assert tally["ok"] + tally["skipped"] == len(CLF_GRID) and tally["failed"] == 0
    assert tallies[0]["ok"] + tallies[1]["ok"] == len(CLF_GRID)   # ... and no run was done twice
    rows = rows_on_disk(tmp_path)                                  # every file parses
    assert len(rows) == len(CLF_GRID) and cells(rows) == CLF_GRID
    assert {r["status"] for r in rows} == {"ok"}
    assert not list((tmp_path / "claims").iterdir()) and not temp_files(tmp_path)
    assert run_cli("results", "check", str(tmp_path)).returncode == 0


HOLDER = textwrap.dedent("""
    import sys
    from coreset_bench import store
    held = store.claim(sys.argv[1], sys.argv[2])
    print("held" if held else "busy", flush=True)
    sys.stdin.readline()          # hold until told (or killed)
    held.release()
""")


def hold(results_dir: Path, cell: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(results_dir), cell], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_claim_left_by_a_killed_process_does_not_block_the_cell(tmp_path):
    cell = "digits-mlp-uniform-30-0"
    holder = hold(tmp_path, cell)
    path = store.claim_path(tmp_path, cell)
    assert f" pid {holder.pid} since " in store.claim_holder(path)   # held, and by whom
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert path.exists() and store.claim_holder(path) is None    # left behind, but free
    out = run_cli("run", "budget=30", "seed=0", f"results_dir={tmp_path}", timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [r["status"] for r in rows_on_disk(tmp_path)] == ["ok"]
    assert not path.exists()


def test_a_sweep_leaves_a_cell_another_process_runs_and_comes_back_to_it(tmp_path):
    holder = hold(tmp_path, "digits-mlp-kcenter-30-0")
    sweep = subprocess.Popen([*CLI, "run", "-m", "samplers=[uniform,kcenter]", "budget=30",
                              "seed=0,1", "hydra.launcher.n_jobs=1", f"results_dir={tmp_path}"],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: len(rows_on_disk(tmp_path)) == 3, what="the free cells' rows")
    time.sleep(2)
    assert sweep.poll() is None                   # waiting for the held cell, not done, not failed
    assert ("kcenter", 30, 0) not in cells(rows_on_disk(tmp_path))
    holder.stdin.write("\n")
    holder.stdin.flush()                           # the other process gives it up (no row)
    holder.wait()
    out, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, out[-2000:]
    assert "leave digits-mlp-kcenter-30-0 to the process running it" in out
    assert "1 job(s) had runs another process was running; waiting for them" in out
    # the retry ran only the busy sampler: each run counted once
    assert summary_line(out) == "coreset-bench: runs ok=4 skipped=0 failed=0"
    assert cells(rows_on_disk(tmp_path)) == {(s, 30, seed) for s in ("uniform", "kcenter")
                                              for seed in (0, 1)}


# -- 3. writes that fail ------------------------------------------------------------------

FAIL_AFTER = textwrap.dedent("""
    import errno, os, sys
    real_fsync, written, limit = os.fsync, [], int(sys.argv[1])
    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if "/rows/." in path and "/rows/.probe." not in path:   # a row's temporary file
            if len(written) == limit:
                raise OSError(errno.{errno}, os.strerror(errno.{errno}))
            written.append(path)
        return real_fsync(fd)
    os.fsync = fsync
    from coreset_bench import cli
    sys.exit(cli.main(sys.argv[2:]))
""")


@pytest.mark.parametrize("code,reason", [("ENOSPC", "No space left on device"),
                                         ("EROFS", "Read-only file system")])
def test_a_write_that_fails_mid_sweep_stops_it_with_one_line_and_resume_completes(tmp_path, code,
                                                                                   reason):
    sweep = ("run", "-m", "samplers=[uniform,kcenter]", "budget=30", "seed=0,1,2",
             "hydra/launcher=basic", f"results_dir={tmp_path}")
    grid = {(s, 30, seed) for s in ("uniform", "kcenter") for seed in range(3)}
    first = subprocess.run([sys.executable, "-c", FAIL_AFTER.replace("{errno}", code), "3", *sweep],
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    assert first.returncode == 2, first.stderr[-2000:]
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith(f"coreset-bench: error: cannot write {tmp_path}/rows/")
    assert f".json: {reason}; rows written so far are kept" in last
    assert "Traceback" not in first.stderr
    rows = rows_on_disk(tmp_path)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"ok"}   # the 4th was in flight
    assert not temp_files(tmp_path)
    second = run_cli(*sweep)
    assert second.returncode == 0, second.stderr[-2000:]
    assert summary_line(second.stderr) == "coreset-bench: runs ok=3 skipped=3 failed=0"
    assert cells(rows_on_disk(tmp_path)) == grid


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs user+mount namespaces (unshare -rm) to "
                    "mount a small tmpfs; the injected-failure test above runs everywhere")
@pytest.mark.parametrize("where,size", [("rows", "32k"), ("", "100k")])
def test_a_really_full_disk_and_a_read_only_filesystem(tmp_path, where, size):
    """A small tmpfs on results_dir/rows (8 rows fit: a row write fails) or on results_dir
    itself (rows, selections and Hydra's job folders share it): the sweep stops on ENOSPC with
    one line, leaves no temporary file, and completes once the filesystem grows; remounted
    read-only, a run is refused with one line. All inside a private mount namespace (no root
    needed)."""
    root = tmp_path / "res"
    mount = root / where
    mount.mkdir(parents=True)
    sweep = " ".join([*CLI, "run", "-m", "'samplers=[uniform,kcenter]'", "budget=30,40",
                      "seed=0,1,2,3", "hydra.launcher.n_jobs=1", f"results_dir={root}"])
    script = textwrap.dedent(f"""
        set -u
        mount -t tmpfs -o size={size} tmpfs {mount}
        {sweep} > {tmp_path}/first.out 2> {tmp_path}/first.err; echo $? > {tmp_path}/first.rc
        (ls -A {root}/rows; find {root} -name '.*.tmp') > {tmp_path}/first.ls
        mount -o remount,size=8m {mount}
        {sweep} > {tmp_path}/second.out 2> {tmp_path}/second.err; echo $? > {tmp_path}/second.rc
        cp -r {root}/rows {tmp_path}/final_rows
        mount -o remount,ro {mount}
        {" ".join(CLI)} run budget=50 results_dir={root} 2> {tmp_path}/ro.err; echo $? > {tmp_path}/ro.rc
    """)
    subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", script],
                   cwd=REPO, check=True, timeout=900)
    read = lambda name: (tmp_path / name).read_text()     # noqa: E731
    assert read("first.rc").strip() == "2", read("first.err")[-2000:]
    last = read("first.err").strip().splitlines()[-1]
    assert last.startswith(f"coreset-bench: error: cannot write {root}/") or last.startswith(
        f"coreset-bench: error: cannot write the job folders under {root}/hydra/multirun/"), last
    assert ": No space left on device; rows written so far are kept" in last
    assert "Traceback" not in read("first.err")
    first = read("first.ls").split()
    assert all(name.endswith(".json") for name in first)   # no temporary file left anywhere
    assert read("second.rc").strip() == "0", read("second.err")[-2000:]
    assert summary_line(read("second.err")) == (
        f"coreset-bench: runs ok={16 - len(first)} skipped={len(first)} failed=0")
    final = [json.loads(p.read_text()) for p in (tmp_path / "final_rows").glob("*.json")]
    assert cells(final) == CLF_GRID and {r["status"] for r in final} == {"ok"}
    assert read("ro.rc").strip() == "2"
    assert read("ro.err").strip() == (f"coreset-bench: error: results_dir={root} is not writable: "
                                      "Read-only file system")


# -- 4. preemption ------------------------------------------------------------------------

@pytest.mark.parametrize("launcher", ["joblib", "basic"])
def test_sigterm_stops_a_sweep_cleanly_and_resume_completes(tmp_path, launcher):
    sweep = ("run", "-m", "samplers=[uniform,kcenter]", "budget=30,40,50", "seed=0,1,2,3",
             f"hydra/launcher={launcher}", f"results_dir={tmp_path}")
    grid = {(s, b, seed) for s in ("uniform", "kcenter") for b in (30, 40, 50) for seed in range(4)}
    proc = subprocess.Popen([*CLI, *sweep], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(list((tmp_path / "rows").glob("*.json"))) >= 4, what="4 rows")
    before = {p.name: p.read_bytes() for p in (tmp_path / "rows").glob("*.json")}
    proc.send_signal(signal.SIGTERM)          # what SLURM sends before it kills a job
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    # joblib's resource tracker, a process of its own, may still warn after our last line
    lines = [line for line in err.strip().splitlines() if "resource_tracker" not in line]
    assert lines[-1] == (
        "coreset-bench: terminated (SIGTERM); finished rows are kept, the runs in flight were "
        "not recorded; re-run the same command to resume")
    partial = rows_on_disk(tmp_path)
    assert 4 <= len(partial) < len(grid) and {r["status"] for r in partial} == {"ok"}
    kept = {p.name: p.read_bytes() for p in (tmp_path / "rows").glob("*.json")}
    assert {k: kept.get(k) for k in before} == before     # every row finished before it, as it was
    time.sleep(3)
    assert len(rows_on_disk(tmp_path)) == len(partial)    # no worker goes on writing
    assert not temp_files(tmp_path)
    out = run_cli(*sweep)
    assert out.returncode == 0, out.stderr[-2000:]
    assert summary_line(out.stderr) == (
        f"coreset-bench: runs ok={len(grid) - len(partial)} skipped={len(partial)} failed=0")
    assert cells(rows_on_disk(tmp_path)) == grid
    final = {p.name: p.read_bytes() for p in (tmp_path / "rows").glob("*.json")}
    assert {k: final.get(k) for k in kept} == kept        # the resume skipped them, never rewrote
    check = run_cli("results", "check", str(tmp_path))
    assert check.returncode == 0 and "consistent" in check.stdout, check.stdout


def test_submitit_requeue_after_preemption_resumes_the_job(tmp_path):
    """submitit (the SLURM launcher's engine) checkpoints and requeues a job on its preemption
    signal (USR2); submitit_local does the same on this machine. The requeued job skips the
    rows its first attempt wrote and the run in flight is redone, never recorded half-done."""
    sweep = ("run", "-m", "samplers=[uniform,kcenter,loss]", "share_group=false", "budget=100",
             "seed=0", "train.epochs=40", "hydra/launcher=submitit_local",
             f"results_dir={tmp_path}")
    proc = subprocess.Popen([*CLI, *sweep], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)

    def job_processes() -> list[int]:
        found = []
        for d in Path("/proc").iterdir():
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0") if d.name.isdigit() else []
            except OSError:
                continue
            if b"submitit.core._submit" in argv and any(str(tmp_path).encode() in a for a in argv):
                found.append(int(d.name))
        return found

    wait_for(lambda: len(rows_on_disk(tmp_path)) >= 1, what="the first row")
    first = rows_on_disk(tmp_path)
    assert len(first) == 1, "the preemption should land before the job's last row"
    pids = job_processes()
    assert pids, "the job's process was not found"
    for pid in pids:
        os.kill(pid, signal.SIGUSR2)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert summary_line(err) == "coreset-bench: runs ok=2 skipped=1 failed=0"
    logs = "".join(p.read_text() for p in tmp_path.rglob("*_log.*"))
    assert "this job is preempted" in logs and "Requeued job" in logs
    rows = rows_on_disk(tmp_path)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"ok"}
    assert first[0] in rows                               # the first attempt's row stayed as it was

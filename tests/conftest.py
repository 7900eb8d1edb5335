"""Shared fixtures. Tests read the real data mirror at ../shared/data (as CI does) and use a
private array cache, so they never depend on the developer's own cache or on the network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MIRROR = Path(os.environ.get("CORESET_BENCH_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def _hermetic_env(tmp_path_factory):
    os.environ["CORESET_BENCH_CACHE"] = str(tmp_path_factory.mktemp("array-cache"))
    os.environ["CORESET_BENCH_DOWNLOAD"] = "never"
    os.environ.setdefault("CORESET_BENCH_DATA", str(MIRROR))
    yield


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The real data mirror; its absence is a failure, not a skip (CI always has it)."""
    if not (MIRROR / "mnist").is_dir():
        pytest.fail(f"data mirror not found at {MIRROR}; set CORESET_BENCH_DATA")
    return MIRROR


def run_cli(*args: str, env: dict | None = None, timeout: int = 600,
            cwd: Path | None = None, process: bool | None = None) -> subprocess.CompletedProcess:
    """Run ``coreset-bench`` as a user would from a shell: its exit code, stdout and stderr.

    In this process (``cli.main`` with stdout / stderr captured, the environment, working
    directory, argv, logging and Hydra's global state restored afterwards): a fresh interpreter
    costs seconds of imports per call. ``process=True`` (or ``CORESET_BENCH_TEST_SUBPROCESS=1``
    for every call) spawns ``python -m coreset_bench.cli`` instead, where what is tested is the
    process itself (its first imports, its signal handling, ``timeout``). An in-process sweep
    (``-m``) that names no launcher setting runs its jobs in this process too (``n_jobs=1``);
    the tests of the parallel path name theirs (``hydra.launcher.n_jobs=...``,
    ``hydra/launcher=...``), and the smoke sweep and the docs' commands run as a user's shell."""
    if process is None:   # a PYTHONPATH of the test's own (fake packages) needs a new interpreter
        process = os.environ.get("CORESET_BENCH_TEST_SUBPROCESS") == "1" or "PYTHONPATH" in (env or {})
    if process:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "coreset_bench.cli", *args], cwd=cwd or REPO,
                              env=full_env, capture_output=True, text=True, timeout=timeout)
    args = list(args)
    if "-m" in args and IN_PROCESS_JOBS and not any(a.startswith(("hydra.launcher", "hydra/launcher"))
                                                     for a in args):
        # a sweep's jobs in this process too (joblib with one job runs them here): spawning
        # workers costs seconds of imports per call; tests of the parallel path name n_jobs
        args.append("hydra.launcher.n_jobs=1")
    return _run_in_process(args, env or {}, cwd or REPO)


# CORESET_BENCH_TEST_WORKERS=1: every in-process sweep keeps the launcher's default workers.
IN_PROCESS_JOBS = os.environ.get("CORESET_BENCH_TEST_WORKERS") != "1"


class _Unclosable:
    """``stream`` for a handler whose close() must not close it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._stream.write(text)

    def flush(self):
        pass

    def close(self):
        pass


def _run_in_process(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    import contextlib
    import io
    import logging
    import traceback

    from hydra.core.global_hydra import GlobalHydra

    from coreset_bench import cli

    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv[:]
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out, err = io.StringIO(), io.StringIO()
    # Hydra's logging set-up closes every handler ever made (logging.shutdown of
    # logging._handlerList); a handler made by an earlier test (absl's, at Keras' import) holds
    # the stream pytest captured that test with, which must not be closed: it writes here meanwhile
    streams = {}
    for ref in list(logging._handlerList):
        h = ref()
        if (isinstance(h, logging.StreamHandler) and not type(h).__module__.startswith("_pytest")
                and h.stream not in (sys.__stderr__, sys.__stdout__)):
            try:
                old = h.stream
                h.stream = _Unclosable(err)
            except AttributeError:   # a read-only stream (logging's own stderr fallback)
                continue
            streams[h] = old
    os.environ.update({k: str(v) for k, v in env.items()})
    os.chdir(cwd)
    for handler in saved_handlers:   # pytest's capture: without it, warnings reach stderr as they would
        root.removeHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(args)
            except SystemExit as exc:
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:   # what the interpreter would print before exiting with 1
                traceback.print_exc()
                rc = 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        for handler in root.handlers[:]:
            if handler not in saved_handlers:
                root.removeHandler(handler)
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)
        for h, stream in streams.items():
            h.stream = stream
        GlobalHydra.instance().clear()
        # a sweep's worker processes outlive it in joblib's reusable executor, with this call's
        # environment and state: the next call gets fresh ones, as a new command would
        from joblib.externals.loky import reusable_executor
        if reusable_executor._executor is not None:
            reusable_executor._executor.shutdown(wait=True, kill_workers=True)
    return subprocess.CompletedProcess(["coreset-bench", *args], rc, out.getvalue(), err.getvalue())

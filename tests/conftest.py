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
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``coreset-bench`` in a subprocess, as a user would from a shell."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "coreset_bench.cli", *args], cwd=cwd or REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout)

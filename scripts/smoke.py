#!/usr/bin/env python3
"""`make smoke`: the CI smoke sweeps (experiment=smoke and smoke_gas) in a temporary results
directory, twice. The first pass must finish every run ok; the second must skip them all and
write nothing (resume). Exits non-zero on any violation."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENTS = {"smoke": 28, "smoke_gas": 16}  # expected runs: jobs x samplers


def sweep(results_dir: Path, experiment: str) -> None:
    cmd = [sys.executable, "-m", "coreset_bench.cli", "run", "-m", f"experiment={experiment}",
           f"results_dir={results_dir}"]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    print(f"  {experiment}: exit {proc.returncode} in {time.time() - t0:.0f}s  ({tail})", flush=True)
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"smoke: experiment={experiment} failed")


def snapshot(results_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (results_dir / "rows").glob("*.json")}


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from coreset_bench.store import load

    with tempfile.TemporaryDirectory(prefix="coreset-bench-smoke-") as tmp:
        results_dir = Path(tmp)
        print("smoke: first pass")
        for experiment in EXPERIMENTS:
            sweep(results_dir, experiment)
        rows = load(results_dir)
        expected = sum(EXPERIMENTS.values())
        if len(rows) != expected or set(rows["status"]) != {"ok"}:
            raise SystemExit(f"smoke: expected {expected} ok rows, got {len(rows)} "
                             f"({rows['status'].value_counts().to_dict()})")
        before = snapshot(results_dir)
        print("smoke: second pass (must add nothing)")
        for experiment in EXPERIMENTS:
            sweep(results_dir, experiment)
        after = snapshot(results_dir)
        if after != before:
            raise SystemExit(f"smoke: the second pass wrote rows ({len(after)} files, "
                             f"{sum(after[k] != before.get(k) for k in after)} changed)")
        print(f"smoke: ok ({expected} runs; the second pass added and rewrote nothing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

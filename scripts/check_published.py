"""Check published rows by making some of them again: runs of an experiment's grid (a few seeds
and budgets) are re-run with this checkout into a fresh folder and compared, run key by run
key, with the published file: the same selected indices (``selection_sha1``) and the same
metrics, to the last digit. Check rows on the kind of device that made them (the rows say which:
``device``): CIFAR-10's were made on a GPU, whose floating point differs from a CPU's.

    python scripts/check_published.py EXPERIMENT FILE [--seeds 0] [--budgets 250,2000] [OVERRIDE ...]

e.g. ``python scripts/check_published.py fig4_mnist docs/reproduction/rows/fig4_mnist.jsonl.gz
--seeds 0 --budgets 250,2000 'samplers=[uniform,kcenter,loss,grad]'``. Exit 0 when every
re-made row matches its published copy, 1 when one differs, 2 on bad input.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coreset_bench.store import published
from coreset_bench.store import rows as _rows

METRICS = ("accuracy", "loss", "r2_error_train", "r2_error_val")


def compare(made: list[dict], ref: dict[str, dict]) -> tuple[list[str], int, int]:
    """(one line per re-made row that differs from its published copy, rows compared, rows
    with no published copy)."""
    bad, compared, missing = [], 0, 0
    for row in made:
        old = ref.get(row["run_key"])
        if old is None:
            missing += 1
            continue
        compared += 1
        diffs = [f"selection {old.get('selection_sha1')} -> {row.get('selection_sha1')}"
                 for _ in [0] if old.get("selection_sha1") != row.get("selection_sha1")]
        diffs += [f"{m} {old[m]!r} -> {row[m]!r}" for m in METRICS
                  if m in old and m in row and old[m] != row[m]]
        if diffs:
            bad.append(f"{row['sampler']} k={row['budget']} seed={row['seed']} "
                       f"({row['run_key']}): " + "; ".join(diffs))
    return bad, compared, missing


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="check_published.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("experiment")
    ap.add_argument("file")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--budgets", default=None, help="comma list (default: the experiment's)")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_intermixed_args(argv)
    if not published.is_published(a.file):
        print(f"check_published: {a.file!r} is not a published rows file", file=sys.stderr)
        return 2
    ref = {r["run_key"]: r for r in published.read(a.file)}
    with tempfile.TemporaryDirectory(prefix="check-published-") as tmp:
        cmd = [str(Path(sys.executable).parent / "coreset-bench"), "run", "-m",
               f"experiment={a.experiment}", f"seed={a.seeds}", f"results_dir={tmp}",
               *([f"budget={a.budgets}"] if a.budgets else []), *a.overrides]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode not in (0, 1):
            print(f"check_published: the re-run failed ({out.returncode}): {out.stderr[-1500:]}",
                  file=sys.stderr)
            return 2
        made = [r for r in (_rows.parse_row(p) for p in sorted((Path(tmp) / _rows.ROWS).glob("*.json")))
                if r.get("status") == "ok"]
        seconds = time.perf_counter() - t0
    bad, compared, missing = compare(made, ref)
    print(f"check_published: {len(made)} runs made again in {seconds:.0f} s; {compared} compared "
          f"with {a.file}: {compared - len(bad)} identical (selection and metrics), {len(bad)} "
          f"differ; {missing} not in the file")
    for line in bad:
        print(f"  DIFFERS {line}")
    return 1 if bad or not compared else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

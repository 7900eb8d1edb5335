"""Statistical equivalence of two engines' results (issue 8): per sampler and budget, mean
accuracy under each, the difference and its paired 95% t interval over the common seeds.

    python scripts/equivalence.py OLD_RESULTS_DIR NEW_RESULTS_DIR [--tol 0.003]

A cell passes when |difference| <= tol or the interval contains 0. Exit 1 if any cell fails.
Repeat the comparison of the closing note with:

    coreset-bench run -m experiment=fig2_mnist 'seed=range(0,20)' budget=1000,2000 \\
        engine=keras_fit backend=tensorflow \\
        '+sampler_params={loss:{kmeans:sklearn},grad:{kmeans:sklearn}}' results_dir=results/eq_old
    coreset-bench run -m experiment=fig2_mnist 'seed=range(0,20)' budget=1000,2000 \\
        results_dir=results/eq_new
    python scripts/equivalence.py results/eq_old results/eq_new
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from coreset_bench.stats import ci95
from coreset_bench.store import load


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--tol", type=float, default=0.003)
    args = ap.parse_args(argv)
    frames = []
    for label, path in (("old", args.old), ("new", args.new)):
        rows = load(path)
        rows = rows[rows["status"] == "ok"]
        frames.append(rows.assign(which=label))
    old, new = frames
    keys = ["sampler", "budget", "seed"]
    both = old[keys + ["accuracy"]].merge(new[keys + ["accuracy"]], on=keys, suffixes=("_old", "_new"))
    engines = {w: sorted(f"{e}/{b}" for e, b in set(zip(f["engine"], f["backend"])))
               for w, f in (("old", old), ("new", new))}
    print(f"old: {args.old} ({', '.join(engines['old'])}); new: {args.new} ({', '.join(engines['new'])})")
    print("| sampler | budget | seeds | old mean | new mean | new - old | 95% CI | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    failed = 0
    for (sampler, budget), g in both.groupby(["sampler", "budget"]):
        d = g["accuracy_new"] - g["accuracy_old"]
        n = len(d)
        lo, hi = ci95(d) if n > 1 else (-np.inf, np.inf)   # one seed: no interval, no verdict
        ok = abs(d.mean()) <= args.tol or lo <= 0 <= hi
        failed += not ok
        print(f"| {sampler} | {budget} | {n} | {g['accuracy_old'].mean():.4f} | "
              f"{g['accuracy_new'].mean():.4f} | {d.mean():+.4f} | [{lo:+.4f}, {hi:+.4f}] | "
              f"{'equivalent' if ok else 'DIFFERENT'} |")
    print(f"{failed} cell(s) outside tolerance {args.tol} with an interval excluding 0")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

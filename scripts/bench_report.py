#!/usr/bin/env python3
"""Time `coreset-bench report` on 10,000 synthetic result rows (the size of the full
classification sweep): writes the rows into a temporary results dir with the real row writer,
then builds the report and prints the seconds. Usage: python scripts/bench_report.py [N]"""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np


def main() -> int:
    from coreset_bench import store
    from coreset_bench.report import build as report

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rng = np.random.default_rng(0)
    samplers = ["uniform", "kcenter", "loss", "grad", "margin", "least_confidence", "entropy"]
    budgets = [250, 500, 1000, 2000, 3000]
    datasets = ["mnist", "fashion_mnist", "cifar10"]
    cells = [(d, s, b) for d in datasets for s in samplers for b in budgets]
    stages = ["warm_train", "embed", "cluster", "query", "score", "sample", "final_train", "eval"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i in range(n):
            d, s, b = cells[i % len(cells)]
            seed = i // len(cells)
            row = {"dataset": d, "model": "mlp", "sampler": s, "budget": b, "seed": seed,
                   "task": "classification", "status": "ok", "run_key": f"{i:016x}",
                   "accuracy": float(rng.normal(0.85, 0.02)), "loss": 0.4, "n_inferences": 0,
                   "sampler.lam": "auto", "dataset.eval_split": "test", "train.epochs": 10,
                   **{f"time_{st}": float(rng.uniform(0, 2)) for st in stages},
                   "time_selection": 1.0, "time_total": 5.0}
            store.write_row(tmp, row)
        print(f"wrote {n} rows in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        report.build(tmp)
        print(f"report on {n} rows: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

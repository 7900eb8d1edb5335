"""The paper's Table 1, measured side by side in one process (never a timed unit test). X is n x n with i.i.d. N(0, 1) entries; time (a) all leverage
scores of X (the ``leverage`` sampler's pivoted thin QR) and (b) a k-medoids clustering with
k = 0.2 n (the ``kmedoids`` sampler's Euclidean distances + FasterPAM, all cores, as BLAS uses
for the QR), and report their ratio beside the paper's (24-CPU VM).
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..report.paper_values import PAPER_TABLE1
DEFAULT_GRID = (1000, 2000, 5000)
PAPER_GRID = tuple(PAPER_TABLE1)


def memory_needed(n: int) -> int:
    """Peak bytes of one size, estimated: X, and the larger of the QR (copy of X, Q, R) and
    k-medoids (the n x n distances and the n x 0.2n distances to the medoids), float64."""
    return int(8 * n * n * (1 + max(3.0, 1 + 0.2)))


def memory_available() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _gib(b: float) -> str:
    return f"{b / 2**30:.1f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def table1(sizes=DEFAULT_GRID, *, seed: int = 0, out: str | os.PathLike | None = None,
           cluster_frac: float = 0.2, echo=print) -> list[dict]:
    from ..samplers.kmedoids import fit_medoids
    from ..samplers.leverage import leverage_scores

    sizes = [int(n) for n in sizes]
    if any(n < 10 for n in sizes):
        raise ConfigError(f"n={min(sizes)} is too small; table1 sizes must be >= 10")
    have = memory_available()
    for n in sizes:  # refuse before starting anything
        if memory_needed(n) > have:
            raise ConfigError(f"n={n} needs about {_gib(memory_needed(n))} of memory and "
                              f"{_gib(have)} is available; choose a smaller n")
    rows = []
    echo(f"Table 1: leverage scores vs k-medoids (k = {cluster_frac:g} n) on n x n N(0,1); "
         f"{os.cpu_count()} cores here, the paper used a 24-CPU VM")
    for n in sizes:
        echo(f"n={n}: needs about {_gib(memory_needed(n))} (available "
             f"{_gib(memory_available())}) ...", flush=True)
        x = np.random.default_rng(seed).standard_normal((n, n))
        t0 = time.perf_counter()
        scores = leverage_scores(x)
        t_lev = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit_medoids(x, max(1, int(round(cluster_frac * n))), rng=np.random.default_rng(seed),
                    n_cpu=-1)
        t_km = time.perf_counter() - t0
        paper = PAPER_TABLE1.get(n)
        row = {"n": n, "k": int(round(cluster_frac * n)), "leverage_s": t_lev, "kmedoids_s": t_km,
               "ratio": t_lev / t_km, "leverage_sum": float(scores.sum()),
               "paper_leverage_s": paper[0] if paper else None,
               "paper_kmedoids_s": paper[1] if paper else None,
               "paper_ratio": paper[0] / paper[1] if paper else None, "cores": os.cpu_count()}
        rows.append(row)
        paper_txt = (f"paper: {paper[0]:.2f} s vs {paper[1]:.2f} s, ratio {paper[0] / paper[1]:.2f}"
                     if paper else "paper: not in its grid (its ratios are 1.86-2.38)")
        echo(f"n={n}: leverage {t_lev:.2f} s, k-medoids {t_km:.2f} s, "
             f"ratio leverage/k-medoids {row['ratio']:.2f}  ({paper_txt})", flush=True)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        echo(f"wrote {out}")
    return rows

"""``coreset-bench bench scale``: selection time and peak memory of the samplers on large pools.

Synthetic clustered embeddings (float32, ``n`` x ``d``, 100 Gaussian clusters of unequal
spread), budget k = 1% of n with a 20% warm start (the protocol's k'), so each sampler picks
0.8 k points; Algorithm 1 fits k'' = 0.2 k centers. Each (n, sampler) runs in a fresh process,
so its memory is its own: the peak resident set is reset once the data exist (Linux
``clear_refs``) and read after the selection (``VmHWM``); ``peak_mib`` is that peak less the
process's footprint before the data existed (interpreter, libraries, a warm-up call), i.e. the
embeddings, the sampler's other inputs and its working memory, given beside the embeddings'
size. Every sampler runs in one invocation, side by side, and a run that exceeds
``time_limit`` seconds is stopped and reported as such (never left out).

The floor, counted: k-center's greedy picks read about picks x (fraction of rows the pruning
cannot skip) x n x d x 4 bytes; the bench measures this machine's read bandwidth (one pass of
``x @ v`` over the embeddings) and prints the picks' time over that bound (``picks_over_bound``)
and the whole selection's, which also files every point under the k' warm-start centers
(``over_bound``; that step's own floor is a plain product's n x k' x d x 2 FLOP). Algorithm 1's floor
is its clustering plus two nearest-center passes (snap, extrapolate): 2 x n x k'' x d x 2 FLOP.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from ..config import defaults

N_CLUSTERS = 100


def embeddings(n: int, d: int, seed: int = 0) -> np.ndarray:
    """n x d float32 points around N_CLUSTERS centers, written block by block (no float64
    copy of the whole array, so the process's memory floor is the array itself)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(N_CLUSTERS, d)).astype(np.float32)
    spread = rng.uniform(0.5, 2.0, size=N_CLUSTERS).astype(np.float32)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65536):
        m = min(65536, n - start)
        label = rng.integers(0, N_CLUSTERS, size=m)
        x[start:start + m] = (centers[label]
                              + rng.standard_normal((m, d), dtype=np.float32) * spread[label, None])
    return x


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM its peak)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _child(n: int, d: int, method: str, params: dict) -> dict:
    """One measurement, in this (fresh) process."""
    from ..api import select

    tiny = embeddings(500, d, seed=9)   # warm-up: imports and first-call costs are not timed
    select(method, tiny, 40, budget=50, rng=np.random.default_rng(0),
           oracle=lambda idx: np.ones(len(idx)), probs=np.full((500, 10), 0.1),
           initial_embeddings=tiny[:10] if method == "kcenter" else None)
    floor_kib = _status_kib("VmRSS")
    x = embeddings(n, d)
    rng = np.random.default_rng(1)
    k = max(10, n // 100)
    k_warm = int(round(defaults("warm_start_frac") * k))
    warm = rng.choice(n, size=k_warm, replace=False)
    direction = rng.normal(size=d).astype(np.float32)
    kw: dict = dict(budget=k, rng=np.random.default_rng(2), **params)
    if method == "kcenter":
        kw["initial_embeddings"] = x[warm]
    if method in ("loss", "grad"):
        kw["oracle"] = lambda idx: np.abs(x[idx] @ direction).astype(np.float64)
    if method in ("margin", "entropy", "least_confidence"):
        logits = np.empty((n, 10), dtype=np.float32)
        w = rng.normal(size=(d, 10)).astype(np.float32) / np.sqrt(d)
        for start in range(0, n, 65536):
            logits[start:start + 65536] = x[start:start + 65536] @ w
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        kw["probs"] = logits
    _reset_peak()   # the peak from here on is the selection's (data generation excluded)
    base_kib = _status_kib("VmRSS")
    t0 = time.perf_counter()
    sel = select(method, x, k - k_warm, **kw)
    seconds = time.perf_counter() - t0
    peak_kib = max(_status_kib("VmHWM"), base_kib)
    # peak_mib: what the run holds beyond the interpreter and libraries (the embeddings, the
    # sampler's inputs such as probs, and its working memory)
    return {"seconds": seconds, "peak_mib": (peak_kib - floor_kib) / 1024,
            "n_selected": int(len(sel.indices)), "timings": sel.timings,
            "info": {k: v for k, v in sel.info.items() if isinstance(v, (int, float, str))}}


def read_bandwidth(n: int, d: int) -> float:
    """Bytes per second of one ``x @ v`` pass over an n x d float32 array (best of 3)."""
    x = embeddings(min(n, 1_000_000), d)
    v = np.ones(d, dtype=np.float32)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        x @ v
        best = min(best, time.perf_counter() - t0)
    return x.nbytes / best


def measure(n: int, d: int, method: str, params: dict, time_limit: float) -> dict:
    code = ("import json, sys; from coreset_bench.bench.scale import _child; "
            "print(json.dumps(_child(*json.loads(sys.argv[1]))))")
    try:
        out = subprocess.run([sys.executable, "-c", code, json.dumps([n, d, method, params])],
                             capture_output=True, text=True, timeout=time_limit)
    except subprocess.TimeoutExpired:
        return {"status": f"stopped after {time_limit:.0f} s"}
    if out.returncode != 0:
        return {"status": "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return {"status": "ok", **json.loads(out.stdout.strip().splitlines()[-1])}


METHODS = ("uniform", "margin", "kcenter", "loss")


def variants(n: int, kmeans_sample: int) -> list[tuple[str, str, dict]]:
    out = [("uniform", "uniform", {}), ("margin", "margin", {}),
           ("kcenter", "kcenter", {}), ("loss (full k-means)", "loss", {})]
    if kmeans_sample < n:
        out.append((f"loss (k-means on {kmeans_sample:,})", "loss",
                    {"kmeans_sample": kmeans_sample}))
    return out


def run(sizes=(100_000, 300_000, 1_000_000), d: int = 128, kmeans_sample: int = 50_000,
        time_limit: float = 600.0, samplers=None, out: str | None = None) -> list[dict]:
    import pandas as pd

    rows = []
    bandwidth = read_bandwidth(max(sizes), d)
    print(f"read bandwidth (x @ v over float32 embeddings): {bandwidth / 1e9:.1f} GB/s; "
          f"{os.cpu_count()} CPUs; each run in a fresh process, stopped after {time_limit:.0f} s",
          flush=True)
    for n in sizes:
        emb_mib = n * d * 4 / 2**20
        k = max(10, n // 100)
        for label, method, params in variants(n, kmeans_sample):
            if samplers is not None and method not in samplers:
                continue
            print(f"n={n:,} d={d} k={k:,}: {label} ...", end=" ", flush=True)
            m = measure(n, d, method, params, time_limit)
            row = {"n": n, "d": d, "budget": k, "sampler": label, "status": m["status"],
                   "seconds": m.get("seconds"), "peak_mib": m.get("peak_mib"),
                   "embeddings_mib": emb_mib,
                   "peak_over_embeddings": (m["peak_mib"] / emb_mib if "peak_mib" in m else None)}
            info = m.get("info", {})
            if method == "kcenter" and "distance_fraction" in info:
                picks = k - int(round(defaults("warm_start_frac") * k))
                bytes_read = picks * info["distance_fraction"] * n * d * 4
                assign = m["timings"].get("assign", 0.0)
                row["bound_seconds"] = bytes_read / bandwidth
                row["picks_seconds"] = m["seconds"] - assign
                row["picks_over_bound"] = row["picks_seconds"] / row["bound_seconds"]
                row["over_bound"] = m["seconds"] / row["bound_seconds"]
                row["note"] = (f"picks read {info['distance_fraction']:.1%} of the rows each: "
                               f"{bytes_read / 1e9:.0f} GB in all; filing the points under the "
                               f"{k - picks:,} warm-start centers {assign:.1f} s (a plain product: "
                               f"{2 * n * (k - picks) * d / 1e9:.0f} GFLOP)")
            if method == "loss" and m["status"] == "ok":
                row["note"] = (f"k''={info.get('n_clusters')}, clustering cost "
                               f"{info.get('kmeans_cost', float('nan')):.4g}, cluster "
                               f"{m['timings'].get('cluster', float('nan')):.1f} s")
            rows.append(row)
            print(m["status"] if m["status"] != "ok" else
                  f"{m['seconds']:.1f} s, peak {m['peak_mib']:.0f} MiB "
                  f"({row['peak_over_embeddings']:.2f}x the embeddings)", flush=True)
    frame = pd.DataFrame(rows)
    print()
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        frame.to_csv(out, index=False)
        print(f"\nwritten: {out}")
    return rows

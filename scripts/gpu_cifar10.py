"""Every CIFAR-10 experiment on one lent GPU, in one time-boxed command (issue 21 and 22).

Steps, each resuming from what ``RESULTS`` already holds (the published rows of
``docs/reproduction/rows/`` are imported into it first):

1. With ``--compare-seeds 20`` (done on 2026-11-30, published; skipped by default): the network
   comparison of issue 22: uniform and loss at k = 2000, with the paper's-size CNN
   (``model=cnn``, ours) and DISTIL's CifarNet (``model=cnn_distil``), same split.
2. The network for the 100-seed rows, by a rule fixed before the run: ``cnn_distil`` when, for
   both samplers, its mean is at most half as far from the paper's Figure 2b value as ``cnn``'s
   (``--model`` forces one). The decision and its numbers go to ``RESULTS/network_choice.json``.
3. Figure 4 (its samplers include Figure 2's and every extra baseline), seeds 0-99 seed-major,
   first without the ``--late`` samplers (TypiClust and ProbCover: their CPU-bound selection is
   six times all the others' together), then the Theorem 5 check, then the late samplers, until
   ``--seconds`` is spent (a stop leaves whole rows; the next run resumes).

Workers and GPU memory: one process per worker shares the GPU; each gets a fixed share of the
device (``XLA_PYTHON_CLIENT_MEM_FRACTION``, no preallocation), at least the model's footprint:
weights, Adam state and gradients of a group's models twice; 1.5 times the largest forward pass
(an evaluation pass of all the group's models is held to ``vmap.EVAL_BYTES`` of layer outputs,
an embedding pass of one model is ``EVAL_CHUNK`` rows); the pool and hold-out on the device.
The worker count is the smaller of (CPU cores - 1) and what the device's memory holds at that
share. Measured (2026-11-30, one H200): before evaluation passes were held to EVAL_BYTES, 11
DISTIL CNNs on 2,048 rows asked for 6.04 GiB and 119 runs of the first pass failed with
out-of-memory in 14 GiB shares (all redone on the next pass); a failed pass is rerun once here.

    CORESET_BENCH_DATA=DATA python scripts/gpu_cifar10.py RESULTS --seconds 500
    # a CPU trial of the whole script (tiny): --seeds 2 --budgets 250 --compare-seeds 2 --device cpu
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GIB = 1024 ** 3
# Jobs per worker in one launcher batch. A batch ends when its slowest job does; with the
# default 2, 2026-12-01's 15 workers finished a 30-job batch every 57-75 s while its jobs' rows
# account for about 16 s each (13 s of runs + 2.5 s of shared warm start): longer batches wait
# less on their stragglers.
BATCH_PER_WORKER = 8
# The workers' environment; this driver itself keeps off the GPU (building a model to count its
# footprint would otherwise take JAX's default 75% of the device).
CHILD_ENV = dict(os.environ)
os.environ["JAX_PLATFORMS"] = "cpu"


def device_memory_bytes(device: str) -> int:
    if device == "cpu":
        return 0
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) * 1024 ** 2


def footprint_bytes(model: str, n_models: int) -> int:
    """Device memory one worker needs for a group of ``n_models`` models (see the docstring)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from coreset_bench.config import group_option
    from coreset_bench.models import build
    from coreset_bench.models.vmap import EVAL_BYTES, EVAL_CHUNK, activation_bytes

    params = dict(group_option("model", model))
    net = build(params.pop("name"), (32, 32, 3), 10, seed=0, **params)
    row = activation_bytes(net)
    weights = net.count_params() * 4 * 4 * n_models           # weights, grads, Adam m and v
    pool = 50_000 * 32 * 32 * 3 * 4                             # the pool and hold-out on the device
    forward = max(min(EVAL_BYTES, row * EVAL_CHUNK * n_models), row * EVAL_CHUNK)
    return int(1.5 * forward + 2 * weights + pool)


def plan_workers(model: str, n_models: int, device: str, workers: int | None) -> tuple[int, float]:
    cores = os.cpu_count() or 1
    if device == "cpu":
        return workers or max(1, cores), 0.0
    total = device_memory_bytes(device)
    need = footprint_bytes(model, n_models)
    fit = int(0.9 * total // need)
    n = workers or max(1, min(cores - 1, fit))
    share = min(0.9 / n, 0.9)
    if share * total < need:
        sys.exit(f"gpu_cifar10: {n} workers get {share * total / GIB:.1f} GiB each, "
                 f"the model needs {need / GIB:.1f} GiB; use fewer workers")
    print(f"gpu_cifar10: {total / GIB:.0f} GiB device, footprint of {model} x {n_models} models "
          f"{need / GIB:.2f} GiB -> {n} workers, {share:.3f} of the device each", flush=True)
    return n, share


def sweep(args: list[str], *, workers: int, share: float, deadline: float, log: Path) -> int:
    """One ``coreset-bench run -m`` sweep, stopped with SIGINT at the deadline."""
    left = deadline - time.time()
    if left < 20:
        print(f"gpu_cifar10: no time left for {' '.join(args)}", flush=True)
        return 124
    # Compiled XLA programs shared by the workers through a disk cache (each worker otherwise
    # compiles the same training and evaluation steps itself).
    env = dict(CHILD_ENV, PYTHONUNBUFFERED="1", JAX_COMPILATION_CACHE_DIR=str(log.parent / "xla_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="1")
    if share:
        env.update(XLA_PYTHON_CLIENT_PREALLOCATE="false", XLA_PYTHON_CLIENT_MEM_FRACTION=f"{share:.3f}")
    cmd = [sys.executable, "-m", "coreset_bench.cli", "run", "-m", *args,
           f"hydra.launcher.n_jobs={workers}", f"hydra.sweeper.batch_size_per_worker={BATCH_PER_WORKER}"]
    print("gpu_cifar10: " + " ".join(cmd[2:]), flush=True)
    t0 = time.time()
    with open(log, "a") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            rc = proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
    print(f"gpu_cifar10: rc={rc} in {time.time() - t0:.0f} s", flush=True)
    return rc


def choose_network(results: Path, compare_seeds: int, budget: int, forced: str | None) -> str:
    from coreset_bench.report.paper_values import PAPER_K2000
    from coreset_bench.store import rows as store_rows

    df = store_rows.load(results)
    df = df[(df["status"] == "ok") & (df["dataset"].astype(str).str.startswith("cifar10"))
            & (df["budget"] == budget) & (df["seed"] < compare_seeds)]
    out: dict = {"rule": "cnn_distil if, for uniform and loss, |mean - paper| <= 0.5 |mean_cnn - paper|",
                 "seeds": compare_seeds, "budget": budget, "means": {}}
    closer = []
    for sampler in ("uniform", "loss"):
        paper = PAPER_K2000[sampler]["cifar10"]
        m = {model: df[(df["model"] == model) & (df["sampler"] == sampler)]["accuracy"]
             for model in ("cnn", "cnn_distil")}
        out["means"][sampler] = {model: {"mean": float(v.mean()), "n": int(len(v))} for model, v in m.items()}
        out["means"][sampler]["paper"] = paper
        gap = {model: abs(float(v.mean()) - paper) for model, v in m.items()}
        closer.append(all(len(v) for v in m.values()) and gap["cnn_distil"] <= 0.5 * gap["cnn"])
    out["choice"] = forced or ("cnn_distil" if all(closer) else "cnn")
    out["forced"] = bool(forced)
    (results / "network_choice.json").write_text(json.dumps(out, indent=1))
    print("gpu_cifar10: " + json.dumps(out), flush=True)
    return out["choice"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--seconds", type=float, default=540)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--budgets", default="250,500,1000,2000,3000")
    ap.add_argument("--compare-seeds", type=int, default=0,
                    help="seeds of the network comparison (done on 2026-11-30 with 20 and published; 0: skip)")
    ap.add_argument("--compare-budget", type=int, default=2000, help="(the paper's values are at 2000)")
    ap.add_argument("--model", choices=["cnn", "cnn_distil"], default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--device", choices=["gpu", "cpu"], default="gpu")
    ap.add_argument("--late", default="typiclust,probcover",
                    help="samplers run only after every other sampler's seeds and the Theorem 5 check "
                         "(their selection is CPU-bound: ProbCover 42 s, TypiClust 14 s a run on "
                         "256-wide embeddings, against about 9 s for all the others together)")
    a = ap.parse_args()
    deadline = time.time() + a.seconds
    results = Path(a.results).resolve()
    results.mkdir(parents=True, exist_ok=True)
    log = results / "gpu_cifar10.log"
    common = ["engine=vmap", "backend=jax"]
    published = REPO / "docs" / "reproduction" / "rows"
    if published.is_dir():   # resume from the committed rows: only what they lack runs
        from coreset_bench.store import published as pub
        print(f"gpu_cifar10: published rows: {pub.import_rows(published, results)}", flush=True)

    workers, share = plan_workers("cnn_distil", 2, a.device, a.workers)
    if a.compare_seeds:
        sweep(["experiment=fig4_cifar10", "samplers=[uniform,loss]", f"budget={a.compare_budget}", "model=cnn,cnn_distil",
               f"seed=range(0,{a.compare_seeds})", *common, f"results_dir={results}"],
              workers=workers, share=share, deadline=deadline, log=log)
        model = choose_network(results, a.compare_seeds, a.compare_budget, a.model)
    else:
        model = a.model or "cnn_distil"   # CIFAR-10's default since the comparison

    import yaml
    samplers = yaml.safe_load((REPO / "conf/experiment/fig4_cifar10.yaml").read_text())["samplers"]
    late = [x for x in a.late.split(",") if x]
    unknown = sorted(set(late) - set(samplers))
    if unknown:
        sys.exit(f"gpu_cifar10: --late {','.join(unknown)}: not samplers of fig4_cifar10 "
                 f"({', '.join(samplers)})")
    early = [x for x in samplers if x not in late]
    workers, share = plan_workers(model, len(samplers), a.device, a.workers)
    fig4 = ["experiment=fig4_cifar10", f"model={model}", f"budget={a.budgets}",
            f"seed=range(0,{a.seeds})", *common, f"results_dir={results}"]
    # 1. every sampler but the late ones, all seeds (a run's key does not depend on which other
    #    samplers share its job, so the late ones join the same rows' jobs later)
    first = fig4 + [f"samplers=[{','.join(early)}]"] if late else fig4
    rc = sweep(first, workers=workers, share=share, deadline=deadline - 30, log=log)
    if rc == 1:   # some runs failed (exit 1): one more pass redoes them
        rc = sweep(first, workers=workers, share=share, deadline=deadline - 30, log=log)
    # 2. the Theorem 5 check
    if rc == 0:
        rc = sweep(["experiment=thm5_cifar10", f"model={model}", f"seed=range(0,{a.seeds})", *common,
                    f"results_dir={results}/theory"], workers=workers, share=share,
                   deadline=deadline - 30, log=log)
    # 3. the late samplers, seed-major, until the time is spent (their jobs skip finished runs)
    if late and rc in (0, 1):
        sweep(fig4, workers=workers, share=share, deadline=deadline, log=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# How the CIFAR-10 rows of docs/reproduction/ were made: Figure 4's sweep (its samplers include
# Figure 2's, and rows are keyed per sampler, so it fills both figures) on one GPU machine. The
# models are trained by the vmap engine on JAX's GPU backend; selection (k-means, k-center) runs
# on the CPU cores, one worker per core. Rows record device=gpu:<name>, engine=vmap, backend=jax.
#
#   CORESET_BENCH_DATA=/path/to/data scripts/gpu_cifar_sweep.sh RESULTS_DIR SECONDS [WORKERS]
#
# SECONDS bounds the sweep (it stops with SIGINT; rows already written stay). Sweeps run
# seed-major, so a sweep stopped early leaves whole seeds; running the script again resumes
# (and retries failed rows).
#
# Measured on one H200 with 16 CPU cores (2026-11-26): 14 workers ran all 3,500 runs (100 seeds)
# in 507 s, but 70 runs (10 jobs) failed with GPU out-of-memory: 14 processes, each growing its
# own allocator, while one evaluated 7 CNNs on 2,048-image chunks (a 1.92 GiB buffer). A second
# pass with 6 workers retried 56 of them without a failure before its time was up. Hence the
# default of 8 workers.
set -u
results=${1:?results dir}; seconds=${2:?time limit in seconds}; workers=${3:-8}
export XLA_PYTHON_CLIENT_PREALLOCATE=false   # several worker processes share one GPU
export PYTHONUNBUFFERED=1
start=$(date +%s)
timeout -k 30 -s INT "$seconds" python3 -m coreset_bench.cli run -m experiment=fig4_cifar10 \
    engine=vmap backend=jax results_dir="$results" hydra.launcher.n_jobs="$workers"
rc=$?
echo "gpu_cifar_sweep: rc=$rc wall=$(( $(date +%s) - start ))s workers=$workers"
exit $rc

"""``coreset-bench bench engine``: the vectorized engine against the reference paths, measured
side by side in one process on real data (never a timed unit test).

1. Training, per model: the ``vmap`` engine (N models at once, JAX) against ``keras_fit``
   (Keras ``fit`` one model at a time, TensorFlow), MLP on MNIST at k points; optionally the
   CNN on CIFAR-10 (smaller k and fewer epochs: one JAX CNN model on this CPU takes minutes).
   Every timing excludes compilation (one untimed warm-up call per shape).
2. k-means for Algorithm 1 on real MNIST warm-start embeddings (k'' = 0.2 k centers): the
   ``fast`` k-means against scikit-learn's ``KMeans`` defaults, time and inertia per seed;
   then its seeding against the reference seeding path (the same seeds, timed in turn).
3. k-center (greedy, warm-start centers) at budget k: the pruned version, the same without its
   float32 center pre-test (the version before it, the same picks), against the float64
   reference and against the memory-bandwidth bound (one pass over the float32 embeddings per
   pick, measured here as a matrix-vector product plus the running minimum).
4. ProbCover's purity radius and ball graph on the same embeddings: one pass over all pairs
   against the two passes it replaced (``probcover=false`` skips it).

All on one thread (``threadpoolctl`` and single-threaded XLA), as each sweep worker runs.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..config import defaults, group_option, train_recipe

def _subsets(n_pool: int, k: int, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n_pool, k, replace=False)) for _ in range(n)]


def _train_time(engine, ds, k: int, n_models: int, together: bool) -> tuple[float, list[float]]:
    from ..models.engines import FitSpec

    specs = [FitSpec(r, 1000 + i, 2000 + i) for i, r in enumerate(_subsets(ds.n_pool, k, n_models, 7))]
    t0 = time.perf_counter()
    if together:
        trained = engine.train(ds.x_pool, ds.y_pool, specs)
    else:
        trained = [engine.train(ds.x_pool, ds.y_pool, [s])[0] for s in specs]
    seconds = (time.perf_counter() - t0) / n_models
    return seconds, [acc for acc, _ in engine.evaluate(trained, ds.x_eval, ds.y_eval)]


def training(ds, model_cfg: dict, k: int, recipe: dict, n_list=(1, 4, 8), echo=print) -> list[dict]:
    from ..models import engines

    rows = []
    ref = engines.get("keras_fit", "tensorflow", model_cfg, ds.x_pool.shape[1:], ds.num_classes, recipe)
    _train_time(ref, ds, min(k, 64), 1, False)  # warm-up: graph tracing
    t_ref, acc_ref = _train_time(ref, ds, k, 2, False)
    rows.append({"what": f"train {model_cfg['name']} k={k}", "method": "keras_fit tensorflow",
                 "n_models": 1, "seconds_per_model": t_ref, "mean_accuracy": float(np.mean(acc_ref)),
                 "speedup": 1.0})
    echo(f"  keras_fit (tensorflow), one at a time: {t_ref:7.3f} s/model  "
         f"acc {np.mean(acc_ref):.4f}", flush=True)
    vm = engines.get("vmap", "jax", model_cfg, ds.x_pool.shape[1:], ds.num_classes, recipe)
    for n in n_list:
        _train_time(vm, ds, min(k, 64), n, True)  # compile this N (one shape serves every k)
        t, acc = _train_time(vm, ds, k, n, True)
        rows.append({"what": f"train {model_cfg['name']} k={k}", "method": "vmap jax",
                     "n_models": n, "seconds_per_model": t, "mean_accuracy": float(np.mean(acc)),
                     "speedup": t_ref / t})
        echo(f"  vmap (jax), {n} models together:     {t:7.3f} s/model  acc {np.mean(acc):.4f}"
             f"  {t_ref / t:5.1f}x", flush=True)
    return rows


def warm_embeddings(ds, budget: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(candidate embeddings, warm-start embeddings) as a real run of ``budget`` makes them."""
    from ..models import engines
    from ..protocols.classification import prepare_group

    eng = engines.get("vmap", "jax", group_option("model", "mlp"), ds.x_pool.shape[1:],
                      ds.num_classes, train_recipe())
    g = prepare_group(ds, budget=budget, seed=seed, engine=eng,
                      warm_start_frac=defaults("warm_start_frac"), needs={"embeddings"})
    return g.embeddings[g.candidates], g.embeddings[g.warm]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def kmeans(x: np.ndarray, n_clusters: int, seeds: int, echo=print, **fast) -> list[dict]:
    from sklearn.cluster import KMeans

    from ..samplers import _kmeans
    from ..samplers._sensitivity import kmeans_knobs

    fast = {"iters": kmeans_knobs()["lloyd_iters"], **fast}   # the sampler's default cap
    _kmeans.kmeans(x[:2000], 8, np.random.default_rng(0), **fast)  # numba compile (cached)
    rows = []
    for s in range(seeds):
        t_sk, km = _timed(lambda: KMeans(n_clusters=n_clusters, random_state=s).fit(x))
        t_f, (_, inertia, iters) = _timed(
            lambda: _kmeans.kmeans(x, n_clusters, np.random.default_rng(s), **fast))
        rows.append({"seed": s, "sklearn_s": t_sk, "sklearn_iters": int(km.n_iter_),
                     "sklearn_inertia": float(km.inertia_), "fast_s": t_f, "fast_iters": iters,
                     "fast_inertia": inertia})
        echo(f"  seed {s}: sklearn {t_sk:6.2f} s ({km.n_iter_} it, inertia {km.inertia_:.5g}) | "
             f"fast {t_f:5.2f} s ({iters} it, inertia {inertia:.5g})  {t_sk / t_f:4.1f}x  "
             f"inertia {inertia / km.inertia_ - 1:+.2%}", flush=True)
    return rows


def seeding(x: np.ndarray, n_clusters: int, seeds: int, echo=print) -> list[dict]:
    """Greedy k-means++ seeding, the default (marked) path against the reference path, timed in
    turn on the same seeds: the seeds must be the same, bit for bit."""
    from ..samplers import _kmeans

    x = np.ascontiguousarray(x, dtype=np.float32)
    for marked in (True, False):   # numba compile (cached)
        _kmeans.kmeans_plusplus(x[:2000], 40, np.random.default_rng(0), marked=marked)
    rows = []
    for s in range(seeds):
        t_ref, ref = _timed(lambda: _kmeans.kmeans_plusplus(x, n_clusters, np.random.default_rng(s),
                                                            marked=False))
        t_new, new = _timed(lambda: _kmeans.kmeans_plusplus(x, n_clusters, np.random.default_rng(s)))
        same = bool(np.array_equal(ref, new))
        rows.append({"seed": s, "reference_s": t_ref, "marked_s": t_new, "same_seeds": same})
        echo(f"  seed {s}: reference {t_ref:5.2f} s | marked {t_new:5.2f} s  {t_ref / t_new:4.2f}x"
             f"  same seeds: {same}", flush=True)
    return rows


# Cheaper k-means settings measured beside the default (issue 21): one k-means++ candidate per
# step instead of scikit-learn's 2 + ln k'' greedy trials, and/or fewer Lloyd iterations.
KMEANS_VARIANTS = {"1 trial, 20 it": {"n_local_trials": 1, "iters": 20},
                   "greedy, 10 it": {"iters": 10},
                   "1 trial, 15 it": {"n_local_trials": 1, "iters": 15},
                   "1 trial, 10 it": {"n_local_trials": 1, "iters": 10}}


def kmeans_variants(x: np.ndarray, n_clusters: int, reference: list[dict], echo=print) -> list[dict]:
    """Each of ``KMEANS_VARIANTS`` beside the default fast k-means, timed in turn on the same
    seeds; inertia against scikit-learn's from ``reference`` (the rows of ``kmeans``)."""
    from ..samplers import _kmeans
    from ..samplers._sensitivity import kmeans_knobs

    default = {"iters": kmeans_knobs()["lloyd_iters"]}
    rows = []
    for ref in reference:
        s = ref["seed"]
        t_d, (_, in_d, _) = _timed(lambda: _kmeans.kmeans(x, n_clusters, np.random.default_rng(s), **default))
        for name, kw in KMEANS_VARIANTS.items():
            t_v, (_, in_v, it) = _timed(lambda: _kmeans.kmeans(x, n_clusters, np.random.default_rng(s), **kw))
            rows.append({"seed": s, "variant": name, "default_s": t_d, "variant_s": t_v,
                         "iters": it, "inertia_vs_sklearn": in_v / ref["sklearn_inertia"] - 1,
                         "default_inertia_vs_sklearn": in_d / ref["sklearn_inertia"] - 1})
    for name in KMEANS_VARIANTS:
        mine = [r for r in rows if r["variant"] == name]
        ratio = np.mean([r["variant_s"] for r in mine]) / np.mean([r["default_s"] for r in mine])
        echo(f"  {name:15s}: {ratio:.2f} of the default's time; mean inertia "
             f"{np.mean([r['inertia_vs_sklearn'] for r in mine]):+.2%} vs sklearn (default "
             f"{np.mean([r['default_inertia_vs_sklearn'] for r in mine]):+.2%}), {len(mine)} seeds",
             flush=True)
    return rows


def kcenter(x: np.ndarray, init: np.ndarray, n_select: int, echo=print) -> dict:
    from ..samplers.kcenter import kcenter_greedy, kcenter_greedy_reference

    kcenter_greedy(x[:500], 5, initial_centers=init[:3], rng=None)  # numba compile (cached)
    x32 = np.ascontiguousarray(x, np.float32)
    probe = x32[:64]
    min_d = np.full(len(x32), np.inf, np.float32)
    x_sq = np.einsum("ij,ij->i", x32, x32)

    def one_pass(c):
        d = x_sq - 2.0 * (x32 @ c)
        np.minimum(min_d, d, out=min_d)

    t0 = time.perf_counter()
    for c in probe:
        one_pass(c)
    bound = (time.perf_counter() - t0) / len(probe)
    # the default and the same pruning without its float32 center pre-test (the version before
    # it), alternated twice (the faster of each pair of runs), then the plain float64 reference
    times: dict = {True: [], False: []}
    picks: dict = {}
    for pretest in (False, True, False, True):
        t, sel = _timed(lambda: kcenter_greedy(x, n_select, initial_centers=init, rng=None,
                                               pretest=pretest))
        times[pretest].append(t)
        picks[pretest] = sel
    new, old = picks[True], picks[False]
    t_new, t_old = min(times[True]), min(times[False])
    t_ref, ref = _timed(lambda: kcenter_greedy_reference(x, n_select, initial_centers=init, rng=None))
    same = bool(np.array_equal(new.indices, ref.indices) and np.array_equal(old.indices, ref.indices))
    row = {"n": len(x), "d": x.shape[1], "n_init": len(init), "picks": n_select,
           "pruned_s": t_new, "no_pretest_s": t_old, "reference_s": t_ref,
           "bound_s": bound * n_select,
           "bound_ms_per_pick": 1e3 * bound, "pruned_ms_per_pick": 1e3 * t_new / n_select,
           "reference_ms_per_pick": 1e3 * t_ref / n_select, "same_picks": same,
           "distance_fraction": new.info["distance_fraction"]}
    echo(f"  {n_select} picks from {len(x)} x {x.shape[1]} ({len(init)} warm-start centers): "
         f"pruned {t_new:.2f} s ({row['pruned_ms_per_pick']:.2f} ms/pick, reads "
         f"{row['distance_fraction']:.1%} of the points per pick) | without the float32 "
         f"center pre-test {t_old:.2f} s | reference float64 "
         f"{t_ref:.2f} s ({row['reference_ms_per_pick']:.2f} ms/pick) | bandwidth bound "
         f"{row['bound_ms_per_pick']:.2f} ms/pick | pruned/bound {t_new / (bound * n_select):.2f} | "
         f"same picks: {same}", flush=True)
    return row


def probcover(x: np.ndarray, init: np.ndarray, echo=print) -> dict:
    """ProbCover's purity radius and ball graph on real embeddings: the one-pass CPU path
    against the two passes (r(x), then the graph) it replaced, same values checked."""
    from sklearn.cluster import KMeans

    from ..samplers import probcover as pc

    f = np.concatenate([init, x]).astype(np.float64)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    labels = KMeans(10, n_init=10, random_state=0).fit_predict(f.astype(np.float32))
    pc.radius_and_graph(f[:600], labels[:600], 0.95, None)   # numba compile (cached)
    t1, (r2, delta2, (indptr, indices), passes) = _timed(
        lambda: pc.radius_and_graph(f, labels, 0.95, None))

    def two():
        r = pc.nearest_other_cluster_sq(f, labels)
        d2 = pc.purity_delta2(r, 0.95, None)
        return r, d2, *pc.delta_graph(f, d2)

    t2, (r2b, delta2b, indptr_b, indices_b) = _timed(two)
    same = bool(np.array_equal(r2, r2b) and delta2 == delta2b and np.array_equal(indptr, indptr_b)
                and np.array_equal(indices, indices_b))
    flop = 2 * len(f) ** 2 * f.shape[1]
    row = {"n": len(f), "d": f.shape[1], "one_pass_s": t1, "two_passes_s": t2, "passes": passes,
           "same": same, "edges": int(len(indices)), "gflop_per_pass": flop / 1e9}
    echo(f"  n={len(f)} d={f.shape[1]}: one pass {t1:.1f} s ({passes} pass(es)) | two passes "
         f"{t2:.1f} s | {t2 / t1:.2f}x | delta {np.sqrt(delta2):.4f}, {len(indices):,} edges, "
         f"same r(x), delta and graph: {same} | a pass is {flop / 1e9:.0f} GFLOP", flush=True)
    return row


def run(*, k_train: int = 2000, k_cluster: int = 2000, k_center: int = 3000, seeds: int = 3,
        cnn: bool = False, probcover_part: bool = True, kmeans_variants_part: bool = False,
        echo=print) -> dict:
    from threadpoolctl import threadpool_limits

    from .. import data
    from ..models import backend

    threadpool_limits(1)
    backend.quiet_environment()
    out: dict = {}
    mnist = data.load("mnist")
    echo(f"[1] training, MNIST MLP 784-128-10, k={k_train}, Adam, batch 32, 10 epochs "
         f"(1 thread, compile excluded)")
    out["train_mlp"] = training(mnist, group_option("model", "mlp"), k_train, train_recipe(),
                                echo=echo)
    if cnn:
        cifar = data.load("cifar10", eval_split="train_holdout", max_eval=2000)
        echo("[1b] training, CIFAR-10 CNN, k=500, 2 epochs (JAX convolutions are slow on CPU)")
        out["train_cnn"] = training(cifar, group_option("model", "cnn"), 500,
                                    {**train_recipe(), "epochs": 2}, n_list=(1, 4), echo=echo)
    k2 = int(round(group_option("sampler", "loss")["cluster_frac"] * k_cluster))
    x, _ = warm_embeddings(mnist, k_cluster)
    echo(f"[2] k-means, k''={k2} on {len(x)} real MNIST warm-start embeddings (budget "
         f"{k_cluster}): fast (k-means++ + 20 Lloyd iterations) vs scikit-learn KMeans defaults")
    out["kmeans"] = kmeans(x, k2, seeds, echo=echo)
    r = out["kmeans"]
    t_sk = np.mean([row["sklearn_s"] for row in r])
    t_f = np.mean([row["fast_s"] for row in r])
    in_sk = np.mean([row["sklearn_inertia"] for row in r])
    in_f = np.mean([row["fast_inertia"] for row in r])
    echo(f"  mean over {seeds} seeds: sklearn {t_sk:.2f} s, fast {t_f:.2f} s: {t_sk / t_f:.1f}x "
         f"faster; mean inertia {in_f / in_sk - 1:+.2%} vs sklearn", flush=True)
    echo(f"[2a] its k-means++ seeding (k''={k2}): the default against the reference path")
    out["seeding"] = seeding(x, k2, seeds, echo=echo)
    r = out["seeding"]
    echo(f"  mean over {seeds} seeds: {np.mean([row['reference_s'] for row in r]) / np.mean([row['marked_s'] for row in r]):.2f}x "
         f"faster, same seeds in {sum(row['same_seeds'] for row in r)} of {seeds}", flush=True)
    if kmeans_variants_part:
        echo(f"[2b] cheaper k-means settings beside the default, same {seeds} seeds (time ratio "
             "measured in turn; inertia against scikit-learn's above)")
        out["kmeans_variants"] = kmeans_variants(x, k2, r, echo=echo)
    x3, init3 = warm_embeddings(mnist, k_center)
    echo(f"[3] k-center at budget {k_center} on real MNIST warm-start embeddings")
    out["kcenter"] = kcenter(x3, init3, k_center - len(init3), echo=echo)
    if probcover_part:
        echo("[4] ProbCover's radius (purity 0.95, 10 k-means clusters) and ball graph on the "
             "same embeddings")
        out["probcover"] = probcover(x3, init3, echo=echo)
    return out

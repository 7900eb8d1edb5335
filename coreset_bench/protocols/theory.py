"""The Theorem 5 check (``study=thm5``; ``experiment=thm5_mnist`` and friends): does the weighted
sample of Algorithm 1 estimate the total loss of the data as the theorem says, on real
embeddings and a real model's losses, and better than uniform sampling?

Theorem 5 (paper section 3.2.1, proof in appendix B.2): with A an O(1)-approximate clustering
(k queries), p_e = (l^(e) + lambda v(e)) / (lambda Phi + sum_x l^(x)) and s i.i.d. draws from p
weighted 1 / (s p_e), Delta(S) = |sum_D l - sum_S w l| <= eps (sum_D l + 2 lambda Phi) with
probability >= 1 - 1/e when s = ceil(eps^-2 (2 + 2 eps / 3)) and l is (z, lambda)-Hoelder in the
embeddings (here z = 2, as the experiments' l~ uses squared distances).

One run = (dataset, seed, budget k), the protocol's steps 1-3 (warm start k' = 0.2 k, the
warm-start model M0, its embeddings of the pool); D = the candidates (pool minus warm start).
Then, for measuring only (never given to a sampler), M0's true loss on every candidate (one
full inference). The clustering is the ``loss`` sampler's of that group (k'' = 0.2 k centers,
snapped to candidates, the same seed), lambda its ``lam`` (``auto``). For every s of the grid:

- ``iid``: Algorithm 1 exactly as stated: s i.i.d. draws from p over D, weights 1 / (s p_e);
- ``wor``: the variant the experiments use: the k'' centers (their losses known, weight 1) and
  s more candidates drawn without replacement proportional to l~, with Des Raj's weights
  (``samplers._sensitivity.draw_proportional``);
- ``uniform``: s candidates uniformly without replacement, weights |D| / s.

Each gives the signed relative error sum_S w l / sum_D l - 1 (Delta(S) / sum_D l is its absolute
value). The row also holds the bound's terms: sum_D l, lambda, Phi (the clustering's cost
sum_e v(e)), eps(s) and the bound relative to the total, eps (1 + 2 lambda Phi / sum_D l); and
how far the Hoelder assumption is from the data: the smallest lambda for which
|l(e) - l(A(e))| <= lambda v(e) holds for every candidate (the two inequalities the proof uses)
and the share of candidates that violate it at the lambda used.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from ..samplers._base import nearest
from ..samplers._sensitivity import (DRAW_SCHEME, cluster_points, draw_proportional, extrapolate,
                                     n_clusters_for)
from ..seeding import int_seed_for, rng_for
from . import Job
from .classification import Classification, Outcome, prepare_group

STUDIES = ("thm5",)
ESTIMATORS = ("iid", "wor", "uniform")
SAMPLER = "loss"   # the sampler whose parameters (cluster_frac, lam, kmeans) the study uses


def eps_for(s: int) -> float:
    """The eps of Theorem 5 for sample size s: the root of s = eps^-2 (2 + 2 eps / 3)."""
    # s eps^2 - (2/3) eps - 2 = 0
    return float((2.0 / 3.0 + np.sqrt(4.0 / 9.0 + 8.0 * s)) / (2.0 * s))


def check(study: Mapping[str, Any], task: str, dataset: str, sampler: str) -> list[int]:
    """ConfigError for a study that cannot run; returns its s grid."""
    name = study.get("name")
    if name not in STUDIES:
        raise ConfigError(f"study.name={name!r} is not valid; valid choices: {', '.join(STUDIES)}")
    if task != "classification":
        raise ConfigError(f"study={name} needs a classification dataset (a model and its "
                          f"per-example losses); dataset={dataset} is a regression dataset")
    if sampler != SAMPLER:
        raise ConfigError(f"study={name} uses sampler={SAMPLER}'s parameters (cluster_frac, lam, "
                          f"kmeans); got sampler={sampler}")
    grid = study.get("s")
    if (not isinstance(grid, (list, tuple)) or not grid
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in grid)):
        raise ConfigError(f"study.s={grid!r} must be a list of positive integers (sample sizes)")
    return sorted(set(int(v) for v in grid))


def theorem5(emb: np.ndarray, losses: np.ndarray, *, n_clusters: int, s_grid: Sequence[int],
             seed: int, budget: int, lam: float | str = "auto", lam_scale: float = 1.0,
             cluster_rng: np.random.Generator, kmeans_opts: Mapping[str, Any] | None = None,
             memo: dict | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """The estimators' relative errors on candidates ``emb`` with true ``losses``; also the
    clustering's centers (indices into ``emb``: the k'' points Algorithm 1 queries). ``memo``
    keeps the clustering for calls that share it (``cluster_rng`` is then used once)."""
    n = len(emb)
    too_big = [s for s in s_grid if s > n - n_clusters]
    if too_big:
        raise ConfigError(f"study.s={too_big[0]} exceeds the {n - n_clusters} candidates left "
                          f"after the k''={n_clusters} centers")
    losses = np.asarray(losses, dtype=np.float64)
    t0 = time.perf_counter()
    if memo is not None and "clustering" in memo:
        centers, km_info = memo["clustering"]
    else:
        centers, km_info = cluster_points(emb, n_clusters, cluster_rng, **dict(kmeans_opts or {}))
        if memo is not None:
            memo["clustering"] = centers, km_info
    assign, v = nearest(emb, emb[centers])
    scores, lam_used, phi = extrapolate(emb, centers, losses[centers], lam, lam_scale,
                                        assignment=(assign, v))
    t_cluster = time.perf_counter() - t0
    total = float(losses.sum())
    p = scores / scores.sum()
    # the proof's two inequalities, l <= l^ + lambda v and l^ <= l + lambda v, per candidate
    gap = np.abs(losses - losses[centers][assign])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(v > 0, gap / v, np.where(gap > 0, np.inf, 0.0))
    rest = np.setdiff1d(np.arange(n), centers)
    known = float(losses[centers].sum())
    errors = {name: [] for name in ESTIMATORS}
    for s in s_grid:
        r = rng_for(seed, "thm5", "iid", budget, s)
        idx = r.choice(n, size=s, replace=True, p=p)
        errors["iid"].append(float((losses[idx] / (s * p[idx])).sum() / total - 1.0))
        drawn, w = draw_proportional(scores[rest], s, rng_for(seed, "thm5", "wor", budget, s))
        errors["wor"].append(float((known + w @ losses[rest[drawn]]) / total - 1.0))
        idx = rng_for(seed, "thm5", "uniform", budget, s).choice(n, size=s, replace=False)
        errors["uniform"].append(float(n / s * losses[idx].sum() / total - 1.0))
    eps = [eps_for(s) for s in s_grid]
    out = {"thm5.s": list(s_grid), **{f"thm5.err_{k}": v for k, v in errors.items()},
           "thm5.eps": eps, "thm5.bound": [e * (1.0 + 2.0 * lam_used * phi / total) for e in eps],
           "thm5.total_loss": total, "thm5.lambda": float(lam_used), "thm5.phi": float(phi),
           "thm5.lambda_holder": float(ratio.max()),
           "thm5.holder_violations": float(np.mean(ratio > lam_used)),
           "thm5.n_candidates": int(n), "thm5.n_queries": int(n_clusters),
           "thm5.draw_scheme_wor": DRAW_SCHEME, "thm5.time_cluster": t_cluster,
           **{f"thm5.{k}": v for k, v in km_info.items()}}
    return out, centers


def run(group, params: Mapping[str, Any], study: Mapping[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """One Theorem 5 run on a prepared group: (row columns, the labelled pool indices: warm
    start and the k'' queried centers)."""
    ds, cand = group.dataset, group.candidates
    s_grid = sorted(set(int(v) for v in study["s"]))
    t0 = time.perf_counter()
    losses = group.engine.per_example_loss(group.model, ds.x_pool[cand], ds.y_pool[cand])
    t_losses = time.perf_counter() - t0
    kmeans_opts = {k: params[k] for k in ("kmeans", "kmeans_n_init", "kmeans_max_iter",
                                          "lloyd_iters", "kmeans_trials", "kmeans_sample")
                   if k in params}
    group_seed = int_seed_for(group.seed, "group_clustering", group.budget)
    out, centers = theorem5(
        group.embeddings[cand], losses,
        n_clusters=n_clusters_for(group.budget, params["cluster_frac"]),
        s_grid=s_grid, seed=group.seed, budget=group.budget, lam=params["lam"],
        lam_scale=params.get("lam_scale") or 1.0,
        cluster_rng=np.random.default_rng([group_seed, 1]), kmeans_opts=kmeans_opts)
    out.update({"thm5.time_true_losses": t_losses, "time_warm_train": group.timings["warm_train"],
                "time_embed": group.timings["embed"], "time_cluster": out["thm5.time_cluster"],
                "time_selection": group.timings["embed"] + out["thm5.time_cluster"],
                "n_inferences": int(len(centers))})
    return out, np.sort(np.concatenate([group.warm, cand[centers]]))


class Theorem5(Classification):
    """``study=thm5``: the warm start and the loss sampler's clustering as in Algorithm 1, then
    the Theorem 5 check instead of a final training (``run`` above)."""

    def prepare(self, cfg: dict, task: str, dataset: str, samplers: list[str]) -> dict:
        for sampler in samplers:
            check(cfg["study"], task, dataset, sampler)
        return super().prepare(cfg, task, dataset, samplers)

    def run(self, job: Job, todo: list):
        def study(p):   # inside the row's work: a failure is a failed row, not a crash
            group = prepare_group(job.ds, budget=job.budget, seed=job.seed,
                                  engine=job.state["engine"],
                                  warm_start_frac=job.cfg["warm_start_frac"], needs={"embeddings"})
            return run(group, p.params, job.cfg["study"])

        for p in todo:
            yield Outcome(p, lambda p=p: study(p))

    def describe(self, row: Mapping[str, Any]) -> str:
        return "thm5 |error| at s=" + ", ".join(
            f"{s}: iid {abs(a):.4f} wor {abs(b):.4f} uniform {abs(c):.4f}" for s, a, b, c in
            zip(row["thm5.s"], row["thm5.err_iid"], row["thm5.err_wor"], row["thm5.err_uniform"]))

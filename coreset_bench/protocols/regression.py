"""The paper's regression protocol (section 5.1, Algorithm 2, appendix C; PROTOCOL.md).

One run = (dataset, sampler, sample size s = budget, seed):

1. The sampler's size-independent part (k-medoids clustering, leverage scores) is computed,
   or taken from the cache: it depends on the data and the seed (leverage: on the data only),
   never on s, so one seed's clustering serves the whole size grid.
2. The sampler turns it into probabilities p over the n training rows (Algorithm 2 queries
   labels at the medoids here).
3. s rows are drawn i.i.d. from p, each weighted 1/(s p_i).
4. Weighted least squares on the sample (minimum-norm solution when the sample has fewer
   independent rows than columns; the row says so).
5. Metrics: 1 - R^2 on the full training set and on the validation set, beside the full-data
   fit's values (the reference line).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import store
from ..data import Dataset
from ..errors import ConfigError
from ..samplers import SamplerSpec
from ..seeding import rng_for
from . import Job, Outcome
from ._params import split_params

log = logging.getLogger(__name__)

STAGES = ("cluster", "leverage", "query", "sample", "fit", "eval")
# Keys of the top-level config that the regression track does not use (kept out of run keys).
UNUSED_KEYS = ("train", "warm_start_frac", "engine", "backend")


def r2_error(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> float:
    """1 - R^2 = ||A x - b||^2 / ||b - mean(b)||^2."""
    return float(np.sum((a @ x - b) ** 2) / np.sum((b - b.mean()) ** 2))


def weighted_lstsq(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, int]:
    """argmin_x sum_i w_i (<a_i, x> - b_i)^2 (minimum norm if rank-deficient) and the rank."""
    sw = np.sqrt(w)
    x, _, rank, _ = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)
    return x, int(rank)


def check_budget(budget: Any, n_rows: int) -> None:
    if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or budget < 1:
        raise ConfigError(f"budget={budget!r} must be a positive integer (the sample size s)")
    if budget > n_rows:
        raise ConfigError(f"budget={budget} exceeds the {n_rows} training rows")


class PreparedCache:
    """Size-independent sampler state, cached in memory and under ``<results_dir>/cache``.

    Keyed by the dataset's identity, the seed (for seeded methods), the prepare function and
    its parameters. Entries are written atomically; the time the computation took is stored
    with them so every row can report the true cost of its clustering.
    """

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) if root is not None else None
        self.memory: dict[str, tuple[dict, float]] = {}
        self.hits = 0
        self.misses = 0

    def key(self, dataset_id: Mapping[str, Any], seed: int | None, fn_name: str,
            params: Mapping[str, Any]) -> str:
        blob = json.dumps([dataset_id, seed, fn_name, dict(params)], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def get_or_compute(self, key: str, compute) -> tuple[dict, float, bool]:
        """(state, seconds the computation took, whether it came from the cache)."""
        if key in self.memory:
            self.hits += 1
            return (*self.memory[key], True)
        path = self.root / f"{key}.npz" if self.root is not None else None
        if path is not None and path.is_file():
            try:
                with np.load(path) as npz:
                    state = {k: npz[k] for k in npz.files if k != "__seconds__"}
                    seconds = float(npz["__seconds__"])
                self.memory[key] = (state, seconds)
                self.hits += 1
                return state, seconds, True
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                # damaged entry (e.g. truncated by a full disk): moved aside, recomputed
                try:
                    dest = store.quarantine(self.root.parent.parent, path)
                    log.warning("damaged cache entry %s: %s; moved to %s, recomputing", path,
                                f"{type(exc).__name__}: {exc}", dest)
                except FileNotFoundError:
                    pass
        t0 = time.perf_counter()
        state = compute()
        seconds = time.perf_counter() - t0
        self.misses += 1
        self.memory[key] = (state, seconds)
        if path is not None:
            buf = io.BytesIO()
            np.savez(buf, __seconds__=seconds, **state)
            store.atomic_write_bytes(path, buf.getvalue())
        return state, seconds, False


_CACHES: dict[str, PreparedCache] = {}


def cache_for(results_dir: str | os.PathLike) -> PreparedCache:
    root = str(Path(results_dir) / "cache" / "prepared")
    if root not in _CACHES:
        _CACHES[root] = PreparedCache(root)
    return _CACHES[root]


# Ablation knobs of the draw, accepted by every regression sampler (issue 9: why k-medoids
# loses to uniform at large s). They are in no sampler config, so default runs keep their
# identity; an ablation sets them, e.g. ``+sampler_params={kmedoids:{uniform_mix:0.5}}``, and they
# are then part of its run_key and recorded as ``sampler.<name>``.
#   uniform_mix  a in [0, 1]: draw from (1 - a) p + a / n (defensive mixture; a > 0 leaves no row
#                with probability 0, bounding every weight by n / (s a)).
#   weighting    importance (1 / (s p_i), the paper's estimator) or none (plain least squares
#                on the drawn rows: biased, but without the weights' variance).
DRAW_DEFAULTS = {"uniform_mix": 0.0, "weighting": "importance"}
WEIGHTINGS = ("importance", "none")


def draw_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the draw knobs with defaults, the sampler's own params); ConfigError on a bad value."""
    knobs = {**DRAW_DEFAULTS, **{k: params[k] for k in DRAW_DEFAULTS if k in params}}
    mix = knobs["uniform_mix"]
    if isinstance(mix, bool) or not isinstance(mix, (int, float)) or not 0 <= mix <= 1:
        raise ConfigError(f"sampler.uniform_mix={mix!r} must be a number in [0, 1]")
    if knobs["weighting"] not in WEIGHTINGS:
        raise ConfigError(f"sampler.weighting={knobs['weighting']!r} is not valid; valid choices: "
                          f"{', '.join(WEIGHTINGS)}")
    return knobs, {k: v for k, v in params.items() if k not in DRAW_DEFAULTS}


def draw(p: np.ndarray, budget: int, rng: np.random.Generator, *, uniform_mix: float = 0.0,
         weighting: str = "importance") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``budget`` rows drawn i.i.d. from ``p`` mixed with uniform (``uniform_mix``), and their
    weights: 1 / (budget p'_i) for the distribution p' actually drawn from (so sum_S w f is
    unbiased for sum_i f_i over every row with p'_i > 0), or 1 with ``weighting="none"``.
    Returns (indices, weights, p')."""
    if uniform_mix > 0:
        p = (1.0 - uniform_mix) * p + uniform_mix / len(p)
    idx = rng.choice(len(p), size=budget, replace=True, p=p)
    w = 1.0 / (budget * p[idx]) if weighting == "importance" else np.ones(budget)
    return idx, w, p


def validate(spec: SamplerSpec, ds: Dataset, budget: int, params: Mapping[str, Any]) -> dict:
    check_budget(budget, ds.n_pool)
    method = spec.regression
    _, params = draw_params(params)
    split_params(spec.name, params, method.prepare_params,
                 [f for f in (method.prepare, method.distribution) if f is not None])
    if method.validate is not None:
        method.validate(**params)
    return {"n_cols": int(ds.x_pool.shape[1])}


def reference_fit(ds: Dataset) -> dict[str, float]:
    """The full-data least-squares fit's 1 - R^2: the reference line of every report."""
    x, _ = weighted_lstsq(ds.x_pool, ds.y_pool, np.ones(len(ds.y_pool)))
    return {"ref_r2_error_train": r2_error(ds.x_pool, ds.y_pool, x),
            "ref_r2_error_val": r2_error(ds.x_eval, ds.y_eval, x)}


def run(ds: Dataset, spec: SamplerSpec, params: Mapping[str, Any], *, budget: int, seed: int,
        dataset_id: Mapping[str, Any], cache: PreparedCache) -> tuple[dict[str, Any], np.ndarray]:
    """Steps 1-5; returns the row's columns and the drawn row indices (with repeats)."""
    method = spec.regression
    a, b = ds.x_pool, ds.y_pool
    knobs, params = draw_params(params)
    prep_params, dist_params = split_params(
        spec.name, params, method.prepare_params,
        [f for f in (method.prepare, method.distribution) if f is not None])
    out: dict[str, Any] = {f"time_{s}": 0.0 for s in STAGES}

    prepared, cache_hit = {}, False
    if method.prepare is not None:
        fn_name = f"{method.prepare.__module__}.{method.prepare.__qualname__}"
        key = cache.key(dataset_id, seed if method.seeded else None, fn_name, prep_params)
        rng = rng_for(seed if method.seeded else 0, "prepare", fn_name)
        prepared, seconds, cache_hit = cache.get_or_compute(
            key, lambda: method.prepare(a, rng=rng, **prep_params))
        out[f"time_{method.stage}"] = seconds
        log.info("stage=%s cache_hit=%s seconds=%.2f", method.stage, cache_hit, seconds)
    out["prepared_cache_hit"] = cache_hit

    queried = []

    def query(idx: np.ndarray) -> np.ndarray:
        queried.append(len(idx))
        return b[np.asarray(idx)]

    t0 = time.perf_counter()
    dist = method.distribution(prepared, a, query=query, **dist_params)
    out["time_query"] = time.perf_counter() - t0
    p = np.asarray(dist.p, dtype=np.float64)
    if p.shape != (len(a),) or not np.all(np.isfinite(p)) or p.min() < 0 \
            or not np.isclose(p.sum(), 1.0):
        raise RuntimeError(f"sampler {spec.name} returned an invalid distribution")

    t0 = time.perf_counter()
    idx, w, p = draw(p, budget, rng_for(seed, "sampler", spec.name, budget), **knobs)
    n_zero = int(np.sum(p == 0))
    out["time_sample"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    x, rank = weighted_lstsq(a[idx], b[idx], w)
    out["time_fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["r2_error_train"] = r2_error(a, b, x)
    out["r2_error_val"] = r2_error(ds.x_eval, ds.y_eval, x)
    out["time_eval"] = time.perf_counter() - t0
    out.update(reference_fit(ds))
    out["n_unique"] = int(len(np.unique(idx)))
    # rows the sampler can never draw (the paper's k-medoids variant: its medoids)
    out["n_zero_probability"] = n_zero
    out["max_weight_share"] = float(w.max() / w.sum())  # 1/s for equal weights
    out["fit_rank"] = rank
    out["min_norm_solution"] = bool(rank < a.shape[1])
    out["n_inferences"] = int(sum(queried))
    out["time_selection"] = float(sum(out[f"time_{s}"] for s in ("cluster", "leverage", "query",
                                                                    "sample")))
    out.update({f"sampler_info.{k}": v for k, v in dist.info.items()})
    return out, idx


class Regression:
    """Steps 1-5 above, one run after the other (the clustering cached across sizes)."""

    def identity(self, ident: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in ident.items() if k not in UNUSED_KEYS}

    def prepare(self, cfg: dict, task: str, dataset: str, samplers: list[str]) -> dict:
        return cfg

    def validate(self, job: Job, todo: list) -> dict[str, Any]:
        return [validate(p.spec, job.ds, job.budget, p.params) for p in todo][0]

    def run(self, job: Job, todo: list):
        for p in todo:
            yield Outcome(p, lambda p=p: run(
                job.ds, p.spec, p.params, budget=job.budget, seed=job.seed,
                dataset_id=p.ident["dataset"], cache=cache_for(job.results_dir)))

    def describe(self, row: Mapping[str, Any]) -> str:
        return f"r2_error_train={row['r2_error_train']:.4f} r2_error_val={row['r2_error_val']:.4f}"

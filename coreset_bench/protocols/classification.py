"""The paper's neural-network protocol (section 5.2, appendix C; ../shared/PROTOCOL.md).

One run = (dataset, sampler, budget k, seed):

1. k' = round(warm_start_frac * k) pool points drawn uniformly (the warm-start set).
2. Train the warm-start model M0 on them.
3. Embed the pool with M0 (last hidden layer); class probabilities of the candidates if the
   sampler needs them.
4. The sampler picks k - k' of the candidates (pool minus warm start).
5. Train a fresh model on the k points; evaluate it on the evaluation split.

Steps 1-3 depend only on (dataset, seed, k), never on the sampler: they form a ``Group`` that
several samplers can share (the paired design). Each component draws from its own seeded
stream (``seeding.rng_for``), so every sampler of a group sees the same warm start and the
same initial weights of the final model.

Models are trained, queried and evaluated by an engine (``models.engines``): ``keras_fit``
trains one model at a time, ``vmap`` trains the final models of every sampler of a group
together (step 5 takes all the group's selections at once).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .. import models
from ..data import Dataset
from ..models.engines import FitSpec
from ..errors import ConfigError, UserError
from ..samplers import Inputs, SamplerSpec, Selection
from ..samplers._base import check_selection
from ..seeding import int_seed_for, rng_for
from . import Job, Outcome
from ._params import split_params

log = logging.getLogger(__name__)

STAGES = ("warm_train", "embed", "cluster", "query", "score", "sample", "retrain", "final_train",
          "eval")
SELECTION_STAGES = ("embed", "cluster", "query", "score", "sample", "retrain")


def warm_start_size(budget: int, n_pool: int, warm_start_frac: float) -> int:
    """k' = round(frac * k), validated: 1 <= k' < k <= n_pool."""
    if not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ConfigError(f"budget={budget!r} must be a positive integer")
    if budget > n_pool:
        raise ConfigError(f"budget={budget} exceeds the pool of {n_pool} points")
    if not 0 < warm_start_frac < 1:
        raise ConfigError(f"warm_start_frac={warm_start_frac} must be in (0, 1)")
    k_warm = int(round(warm_start_frac * budget))
    if k_warm < 1:
        raise ConfigError(f"budget={budget} gives k'=round({warm_start_frac}*{budget})=0 "
                          f"warm-start points; use budget >= {int(np.ceil(0.5 / warm_start_frac))}")
    if k_warm >= budget:
        raise ConfigError(f"budget={budget} leaves no points to select after {k_warm} warm-start points")
    return k_warm


@dataclass
class Group:
    """Everything a run computes before the sampler, shared by all samplers of a group."""

    dataset: Dataset
    budget: int
    seed: int
    warm: np.ndarray        # pool indices of the warm-start set (sorted)
    candidates: np.ndarray  # pool indices of everything else (sorted)
    model: Any              # the trained warm-start model M0 (a handle of ``engine``)
    engine: Any = None      # models.engines object that trained M0 and trains the final models
    embeddings: np.ndarray | None = None  # (n_pool, d)
    probs: np.ndarray | None = None       # (n_candidates, C)
    timings: dict[str, float] = field(default_factory=dict)
    memo: dict = field(default_factory=dict)  # work samplers of the group share (clustering)


def prepare_group(ds: Dataset, *, budget: int, seed: int, engine: Any,
                  warm_start_frac: float, needs: set[str]) -> Group:
    """Steps 1-3: warm-start set, M0, and the embeddings / probabilities ``needs`` asks for."""
    k_warm = warm_start_size(budget, ds.n_pool, warm_start_frac)
    warm = np.sort(rng_for(seed, "warm_start", budget).choice(ds.n_pool, k_warm, replace=False))
    candidates = np.setdiff1d(np.arange(ds.n_pool), warm)
    timings = {}

    t0 = time.perf_counter()
    spec = FitSpec(warm, int_seed_for(seed, "warm_model", budget), int_seed_for(seed, "warm_fit", budget))
    m0 = engine.train(ds.x_pool, ds.y_pool, [spec])[0]
    timings["warm_train"] = time.perf_counter() - t0
    log.info("stage=warm_train k_warm=%d seconds=%.2f", k_warm, timings["warm_train"])

    group = Group(ds, budget, seed, warm, candidates, m0, engine=engine, timings=timings)
    if "embeddings" in needs and ds.embeddings is not None:   # fixed, from the user's file
        group.embeddings = ds.embeddings
        timings["embed"] = 0.0
    elif "embeddings" in needs:
        t0 = time.perf_counter()
        group.embeddings, _ = engine.embed(m0, ds.x_pool)
        timings["embed"] = time.perf_counter() - t0
        log.info("stage=embed n=%d seconds=%.2f", ds.n_pool, timings["embed"])
    if "probs" in needs:
        # The model's outputs on every candidate: these are the sampler's model queries.
        t0 = time.perf_counter()
        _, group.probs = engine.embed(m0, ds.x_pool[candidates], with_probs=True)
        timings["query"] = time.perf_counter() - t0
        log.info("stage=query n=%d seconds=%.2f", len(candidates), timings["query"])
    return group


def sampler_inputs(group: Group, spec: SamplerSpec) -> Inputs:
    ds, cand = group.dataset, group.candidates
    oracle = None
    if "loss_oracle" in spec.needs:
        def oracle(idx: np.ndarray) -> np.ndarray:
            return group.engine.per_example_loss(group.model, ds.x_pool[cand[idx]],
                                                 ds.y_pool[cand[idx]])
    elif "grad_oracle" in spec.needs:
        def oracle(idx: np.ndarray) -> np.ndarray:
            return group.engine.grad_sqnorm(group.model, ds.x_pool[cand[idx]],
                                            ds.y_pool[cand[idx]])
    retrain = None
    if "retrain" in spec.needs:
        rounds = iter(range(1, 1 << 30))

        def retrain(labelled: np.ndarray):
            """A fresh model on the warm start + candidates ``labelled`` (seeded per round)."""
            r = next(rounds)
            rows = np.sort(np.concatenate([group.warm, cand[labelled]]))
            model = group.engine.train(ds.x_pool, ds.y_pool, [FitSpec(
                rows, int_seed_for(group.seed, "adaptive_model", group.budget, r),
                int_seed_for(group.seed, "adaptive_fit", group.budget, r))])[0]
            return lambda idx: group.engine.per_example_loss(model, ds.x_pool[cand[idx]],
                                                             ds.y_pool[cand[idx]])
    emb = group.embeddings
    return Inputs(
        n_candidates=len(cand), budget=group.budget, n_warm=len(group.warm),
        embeddings=None if emb is None else emb[cand],
        initial_embeddings=None if emb is None else emb[group.warm],
        probs=group.probs, oracle=oracle, memo=group.memo, retrain=retrain,
        group_seed=int_seed_for(group.seed, "group_clustering", group.budget))


def validate(ds: Dataset, budget: int, *, model_cfg: Mapping[str, Any],
             train_cfg: Mapping[str, Any], warm_start_frac: float) -> dict[str, Any]:
    """Job-level checks before any training (budget, recipe, model); ConfigError naming the bad
    value. Per-sampler parameters are checked by ``check_params``."""
    k_warm = warm_start_size(budget, ds.n_pool, warm_start_frac)
    models.check_recipe(train_cfg)
    model_params = {k: v for k, v in model_cfg.items() if k != "name"}
    models.build(model_cfg["name"], ds.x_pool.shape[1:], ds.num_classes, seed=0, **model_params)
    return {"k_warm": k_warm}


def _ours(fn) -> bool:
    """Is ``fn`` the package's own (a built-in sampler's), not a plugin's?"""
    return str(getattr(fn, "__module__", "")).startswith("coreset_bench.")


def check_params(spec: SamplerSpec, budget: int, n_select: int, params: Mapping[str, Any]) -> None:
    """Unknown sampler parameters and impossible budgets fail before any training."""
    split_params(spec.name, params, (), [spec.select])
    if spec.validate is None:
        return
    try:
        spec.validate(budget, n_select, **params)
    except UserError:
        raise
    except Exception as exc:   # a plugin's validate that fails: its fault, said in one line
        if _ours(spec.validate):
            raise   # a built-in's: a bug of ours, with its traceback
        raise ConfigError(f"sampler {spec.name}: its validate raised {type(exc).__name__}: "
                          f"{exc}") from None


def select(group: Group, spec: SamplerSpec, params: Mapping[str, Any]) -> Selection:
    """Step 4: run the sampler on the group's candidates; indices are returned into the pool."""
    n_select = group.budget - len(group.warm)
    rng = rng_for(group.seed, "sampler", spec.name, group.budget)
    try:
        sel = spec.select(sampler_inputs(group, spec), n_select, rng, **params)
    except UserError as exc:   # raised by a plugin's select: its fault, a failed row
        if _ours(spec.select):
            raise
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from exc
    idx = check_selection(sel, n_select, len(group.candidates), spec.name)
    sel.indices = group.candidates[idx]
    return sel


def final_spec(group: Group, selection: Selection, train_cfg: Mapping[str, Any]) -> FitSpec:
    """Step 5's training set: warm start + selection in canonical (sorted) order, the optional
    importance weights, and the seeds every sampler of the group shares."""
    chosen = np.concatenate([group.warm, selection.indices])
    weights = None
    if train_cfg.get("weighted", False):
        w = np.ones(len(chosen))
        if selection.weights is not None:
            w[len(group.warm):] = selection.weights
        weights = w / w.mean()
    order = np.argsort(chosen, kind="stable")  # canonical order: the fit's shuffle then decides
    return FitSpec(chosen[order], int_seed_for(group.seed, "final_model", group.budget),
                   int_seed_for(group.seed, "final_fit", group.budget),
                   None if weights is None else weights[order])


def train_and_evaluate(group: Group, selections: list[Selection], *,
                       train_cfg: Mapping[str, Any]) -> list[dict[str, float]]:
    """Step 5 for every selection at once: fresh models on warm start + selection, evaluated on
    the evaluation split. The engine may train them together; each row reports its share of
    the training and evaluation time (the total divided by the number of models)."""
    ds, n = group.dataset, len(selections)
    specs = [final_spec(group, sel, train_cfg) for sel in selections]
    t0 = time.perf_counter()
    trained = group.engine.train(ds.x_pool, ds.y_pool, specs)
    t_train = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    scores = group.engine.evaluate(trained, ds.x_eval, ds.y_eval)
    t_eval = (time.perf_counter() - t0) / n
    return [{"accuracy": acc, "loss": loss, "time_final_train": t_train, "time_eval": t_eval,
             "n_models_trained_together": n} for acc, loss in scores]


def selection_columns(group: Group, spec: SamplerSpec, sel: Selection) -> dict[str, Any]:
    """The row's columns of step 4. The group's timings are attributed as the sampler would
    have paid them alone: the warm start always, the embedding and the probability pass only
    if it needs them."""
    timings = {"warm_train": group.timings["warm_train"]}
    if "embeddings" in spec.needs:
        timings["embed"] = group.timings["embed"]
    if "probs" in spec.needs:
        timings["query"] = group.timings["query"]
    for stage, seconds in sel.timings.items():
        timings[stage] = timings.get(stage, 0.0) + seconds
    out: dict[str, Any] = {f"time_{s}": float(timings.get(s, 0.0)) for s in STAGES
                           if s not in ("final_train", "eval")}
    out["time_selection"] = float(sum(timings.get(s, 0.0) for s in SELECTION_STAGES))
    out["n_inferences"] = int(sel.n_inferences)
    out["n_selected"] = int(len(sel.indices))
    out.update({f"sampler_info.{k}": v for k, v in sel.info.items()})
    return out



def start(ds: Dataset, cfg: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The one activation sequence of a classification job (``cfg``: a planned run's config,
    engine and backend resolved): activate the backend, check the job (``validate``), build the
    engine. Returns (engine, the job's row columns)."""
    from ..models import backend as framework, engines

    framework.activate(cfg["backend"], with_tensorflow=cfg["engine"] != "vmap")
    extras = validate(ds, cfg["budget"], model_cfg=cfg["model"], train_cfg=cfg["train"],
                      warm_start_frac=cfg["warm_start_frac"])
    engine = engines.get(cfg["engine"], cfg["backend"], cfg["model"], ds.x_pool.shape[1:],
                         ds.num_classes, cfg["train"])
    return engine, extras


class Classification:
    """Steps 1-5 above for a job's samplers, sharing one group (``share_group``)."""

    def identity(self, ident: dict[str, Any]) -> dict[str, Any]:
        train = ident.get("train")
        if isinstance(train, Mapping) and train.get("weighted"):
            # weighted runs are keyed by how the importance weights are computed: the i.i.d.
            # weights 1 / (s p) of earlier versions were biased without replacement (issue 12)
            from ..samplers._sensitivity import DRAW_SCHEME

            ident = {**ident, "train": {**train, "weight_scheme": DRAW_SCHEME}}
        return ident

    def prepare(self, cfg: dict, task: str, dataset: str, samplers: list[str]) -> dict:
        from ..models.engines import resolve as resolve_engine   # resolved before keying

        engine, backend = resolve_engine(str(cfg.get("engine", "auto")),
                                         str(cfg.get("backend", "auto")), cfg["model"]["name"])
        return {**cfg, "engine": engine, "backend": backend}

    def validate(self, job: Job, todo: list) -> dict[str, Any]:
        job.state["engine"], extras = start(job.ds, job.cfg)
        for p in todo:
            check_params(p.spec, job.budget, job.budget - extras["k_warm"], p.params)
        return extras

    def run(self, job: Job, todo: list):
        share = job.cfg.get("share_group", True)
        for batch in ([todo] if share else [[p] for p in todo]):
            needs = set().union(*(p.spec.needs for p in batch))
            t0 = time.perf_counter()
            try:
                group = prepare_group(job.ds, budget=job.budget, seed=job.seed,
                                      engine=job.state["engine"],
                                      warm_start_frac=job.cfg["warm_start_frac"], needs=needs)
                group_error = None
            except UserError:
                raise
            except Exception as exc:  # every run of the group fails with the same cause
                group, group_error = None, exc
            extras = {"group_size": len(batch), "time_group": time.perf_counter() - t0}
            yield from _run_batch(batch, group, group_error, extras, job.cfg["train"])

    def describe(self, row: Mapping[str, Any]) -> str:
        return f"accuracy={row['accuracy']:.4f}"


def _run_batch(batch: list, group: Group | None, group_error: Exception | None,
               extras: dict[str, Any], train_cfg: Mapping[str, Any]):
    """Steps 4-5 for the samplers of one group: every sampler selects, then the engine trains
    and evaluates all their final models in one call. A sampler that fails gets a failed row
    and the others go on; a failure of the shared training fails the rows it would have made."""
    done: dict[str, Any] = {}    # run_key -> (columns, chosen, seconds) or the exception
    if group_error is not None:
        err = RuntimeError(f"preparing the group (warm start, embeddings) failed: "
                           f"{type(group_error).__name__}: {group_error}")
        err.__cause__ = group_error
        done = {p.key: err for p in batch}
    selections = {}
    for p in batch:
        if p.key in done:
            continue
        t0 = time.perf_counter()
        try:
            sel = select(group, p.spec, p.params)
            selections[p.key] = sel
            done[p.key] = (selection_columns(group, p.spec, sel),
                           np.sort(np.concatenate([group.warm, sel.indices])),
                           time.perf_counter() - t0)
        except UserError:
            raise
        except Exception as exc:
            done[p.key] = exc
    if selections:
        t0 = time.perf_counter()
        try:
            outs = train_and_evaluate(group, list(selections.values()), train_cfg=train_cfg)
        except UserError:
            raise
        except Exception as exc:
            outs = [exc] * len(selections)
        share = (time.perf_counter() - t0) / len(selections)
        for key, out in zip(selections, outs):
            if isinstance(out, Exception):
                done[key] = out
            else:
                cols, chosen, seconds = done[key]
                done[key] = ({**cols, **out}, chosen, seconds + share)
    for p in batch:
        result = done[p.key]
        seconds = 0.0 if isinstance(result, Exception) else result[2]

        def work(result=result):
            if isinstance(result, Exception):
                raise result
            return result[0], result[1]

        yield Outcome(p, work, extras, started=time.perf_counter() - seconds)

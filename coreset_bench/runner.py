"""One job: a group of runs sharing (dataset, seed, budget), from a composed config to rows.

A job runs one sampler (``sampler=...``) or several (``samplers=[...]``, the paired design):
every sampler of a classification group shares one warm-start model, its pool embeddings and
predictions (``share_group=false`` recomputes them per sampler, for comparison). Each sampler
gets its own run_key, the same whichever way it was run, so resume works across both modes.

``execute(cfg)`` validates everything first (bad input raises a UserError before anything is
trained or written), skips runs whose run_key already has an ok row (unless ``force``), and
writes exactly one row per remaining run: ``status="ok"`` with metrics, or ``status="failed"``
with the error and traceback.

Concurrent processes on one results_dir: each run's cell is claimed (``results.claim``) before
it is trained and released once its row is written. A cell another live process holds is left
to it: ``execute`` waits for it (``claim_wait=true``, the default of a single run) or returns
``BUSY`` for it (sweeps, which come back to such jobs at the end with ``claim_wait=true``);
after a wait the run is skipped if the other process finished it. No run is done twice.
"""

from __future__ import annotations

import datetime as _dt
import logging
import platform
import socket
import time
import traceback
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Mapping

import numpy as np
import yaml

from . import __version__, data, interrupts, results, samplers
from .config import CONF_DIR, MODELS_BY_TASK, options, resolve_model
from .errors import ConfigError, UserError
from .models import backend
from .protocols import regression as reg
from .samplers import SamplerSpec

log = logging.getLogger(__name__)

# Keys that say where and how to run, not what: they are not part of a run's identity.
OPERATIONAL_KEYS = ("results_dir", "force", "save_selection", "samplers", "sampler_params",
                    "share_group", "threads", "claim_wait", "hydra")
# execute()'s entry for a run whose cell another process is running (claim_wait=false).
BUSY = "busy"
UNUSED_BY_TASK = {"classification": (), "regression": reg.UNUSED_KEYS}


def identity(cfg: Mapping[str, Any], task: str = "classification") -> dict[str, Any]:
    """Every config choice that can change a run's result (hashed into the run_key). A file
    dataset is identified by its content (``dataset.sha256``), not by where it lies."""
    drop = set(OPERATIONAL_KEYS) | set(UNUSED_BY_TASK[task])
    out = {k: v for k, v in cfg.items() if k not in drop}
    if out.get("study") is None:   # absent from every run key but a study's
        out.pop("study", None)
    train = out.get("train")
    if task == "classification" and isinstance(train, Mapping) and train.get("weighted"):
        # weighted runs are keyed by how the importance weights are computed: the i.i.d.
        # weights 1 / (s p) of earlier versions were biased without replacement (issue 12)
        from .samplers._sensitivity import DRAW_SCHEME

        out["train"] = {**train, "weight_scheme": DRAW_SCHEME}
    ds = out.get("dataset")
    if isinstance(ds, Mapping):   # a file's location gives way to its sha256
        where = {k for k, digest in data.FILE_DIGESTS.items() if digest in ds}
        out["dataset"] = {k: v for k, v in ds.items() if k not in where}
    return out


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def _versions() -> dict[str, str]:
    out = {"coreset_bench": __version__, "python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "scipy", "keras", "tensorflow-cpu", "tensorflow",
                 "jax", "jaxlib", "kmedoids"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _split(section: Mapping[str, Any], group: str) -> tuple[str, dict[str, Any]]:
    section = dict(section)
    if "name" not in section:
        raise ConfigError(f"config group {group} has no 'name'")
    return str(section.pop("name")), section


def sampler_configs(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sampler configs of this job: ``sampler``, or each of ``samplers`` read from
    ``conf/sampler/<name>.yaml`` and updated with ``sampler_params.<name>``."""
    names = cfg.get("samplers")
    if not names:
        return [dict(cfg["sampler"])]
    if isinstance(names, str):
        names = [names]
    valid = options("sampler")
    extra = cfg.get("sampler_params") or {}
    for name in [*names, *extra]:
        if name not in valid:
            raise ConfigError(f"unknown sampler {name!r}; valid choices: {', '.join(valid)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"samplers={list(names)} lists a sampler twice")
    out = []
    for name in names:
        base = yaml.safe_load((CONF_DIR / "sampler" / f"{name}.yaml").read_text())
        base.update(extra.get(name) or {})
        out.append(base)
    return out


@dataclass
class Planned:
    cfg: dict[str, Any]       # the job config with this run's sampler
    key: str
    ident: dict[str, Any]
    name: str
    params: dict[str, Any]
    spec: SamplerSpec


def plan(cfg: Mapping[str, Any]) -> tuple[str, list[Planned]]:
    """The task and the runs of a job, with their run keys; ConfigError on bad names."""
    dataset_name, dataset_opts = _split(cfg["dataset"], "dataset")
    entry = data.entry(dataset_name)  # ConfigError naming the valid datasets
    task = entry.task
    found = data.fingerprint(dataset_name, {k: v for k, v in dataset_opts.items()
                                            if k not in data.FILE_DIGESTS.values()})
    if found:   # the file's content joins the identity (load checks it is still the same)
        cfg = {**cfg, "dataset": {**cfg["dataset"], **found}}
    cfg = {**cfg, "model": resolve_model(cfg["model"], entry.default_model)}
    if cfg["model"]["name"] not in MODELS_BY_TASK[task]:
        raise ConfigError(f"model {cfg['model']['name']!r} is not a {task} model; valid models "
                          f"for {dataset_name}: auto, {', '.join(MODELS_BY_TASK[task])}")
    if task == "classification":  # resolved before keying, like model=auto
        from .models.engines import resolve as resolve_engine

        engine, backend = resolve_engine(str(cfg.get("engine", "auto")),
                                         str(cfg.get("backend", "auto")), cfg["model"]["name"])
        cfg = {**cfg, "engine": engine, "backend": backend}
    seed = cfg["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    if cfg.get("study") is not None:
        from .protocols import theory

        for s_cfg in sampler_configs(cfg):
            theory.check(cfg["study"], task, dataset_name, str(s_cfg.get("name")))
    planned = []
    for s_cfg in sampler_configs(cfg):
        run_cfg = {**cfg, "sampler": s_cfg}
        ident = identity(run_cfg, task)
        name, params = _split(s_cfg, "sampler")
        planned.append(Planned(run_cfg, results.run_key(ident), ident, name, params,
                               samplers.get(name, task)))
    return task, planned


def _base_row(p: Planned, task: str, ds: data.Dataset, extras: dict) -> dict[str, Any]:
    cfg = p.cfg
    _, dataset_opts = _split(cfg["dataset"], "dataset")
    row: dict[str, Any] = {
        "dataset": ds.name, "model": cfg["model"]["name"], "sampler": p.name,
        "budget": cfg["budget"], "seed": cfg["seed"], "task": task, "run_key": p.key,
        "n_pool": ds.n_pool, "n_eval": int(len(ds.x_eval)), **extras,
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(), "versions": _versions(),
        "device": backend.device(),
    }
    row.update(flatten("", {k: v for k, v in p.ident.items()
                            if k not in ("dataset", "budget", "seed")}, {}))
    row.update({f"dataset.{k}": v for k, v in dataset_opts.items()})
    row.update({f"dataset.{k}": v for k, v in ds.choices.items()})  # resolved values win
    return row


def _finish(row: dict[str, Any], results_dir, t_start: float, work: Callable[[], tuple],
            save_selection: bool, pool_rows: np.ndarray | None = None) -> dict[str, Any]:
    """Run ``work`` (-> columns, chosen indices) and write the row, ok or failed. For a file
    dataset (``pool_rows``) the row also lists the chosen rows' numbers in the source file."""
    interrupts.check()   # a Ctrl-C or SIGTERM that was swallowed during an earlier run stops here
    try:
        out, chosen = work()
        row.update(out)
        row["selection_sha1"] = results.selection_sha1(chosen)
        if pool_rows is not None:
            row["source_rows"] = np.asarray(pool_rows)[np.asarray(chosen)].tolist()
        row["status"] = "ok"
        row["selection_saved"] = bool(save_selection)
        if save_selection:
            results.write_selection(results_dir, row["run_key"], chosen)
    except UserError:
        raise  # bad input found late: one line, no row (see app.main)
    except Exception as exc:  # a failure of the run, recorded as such (never as ok)
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    # time_total: the run's cost had it run alone (the sum of its stages, shared ones included,
    # so it is comparable between group and single mode); time_wall: this row's own wall time.
    row["time_wall"] = time.perf_counter() - t_start
    row["time_total"] = float(sum(v for k, v in row.items() if k.startswith("time_") and
                                  k not in ("time_total", "time_wall", "time_group",
                                            "time_selection")))
    row["finished_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    results.write_row(results_dir, row)
    where = f"dataset={row['dataset']} sampler={row['sampler']} budget={row['budget']} seed={row['seed']}"
    if row["status"] == "ok":
        if "thm5.s" in row:
            metrics = "thm5 |error| at s=" + ", ".join(
                f"{s}: iid {abs(a):.4f} wor {abs(b):.4f} uniform {abs(c):.4f}" for s, a, b, c in
                zip(row["thm5.s"], row["thm5.err_iid"], row["thm5.err_wor"], row["thm5.err_uniform"]))
        elif row["task"] == "classification":
            metrics = f"accuracy={row['accuracy']:.4f}"
        else:
            metrics = (f"r2_error_train={row['r2_error_train']:.4f} "
                       f"r2_error_val={row['r2_error_val']:.4f}")
        log.info("done %s %s n_inferences=%d time_selection=%.2fs time_total=%.2fs", where, metrics,
                 row["n_inferences"], row["time_selection"], row["time_total"])
    else:
        log.error("FAILED %s error=%s (row written with status=failed)", where, row["error"])
    return row


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(old) & set(new) if old[k] != new[k] and "." in k)
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:5]) or "run_key"


def _cell(p: Planned) -> dict[str, Any]:
    name, opts = _split(p.cfg["dataset"], "dataset")
    return {"dataset": data.label(name, opts), "model": p.cfg["model"]["name"],
            "sampler": p.name, "budget": p.cfg["budget"], "seed": p.cfg["seed"]}


def check_results_dir(results_dir: str, planned: list[Planned]) -> None:
    """ConfigError if rows cannot be written, or if a cell already holds a row made with other
    choices (mixing them would make every table ambiguous); nothing is overwritten."""
    try:
        results.check_writable(results_dir)
    except OSError as exc:
        raise ConfigError(f"results_dir={results_dir} is not writable: {exc.strerror or exc}") from None
    for p in planned:
        cell = _cell(p)
        owner = results.cell_owner(results_dir, cell)
        if owner is None or owner == p.key:
            continue
        old = results.read_row(results_dir, owner)
        if old is None:   # the row that owned the cell is gone (deleted, or quarantined as damaged)
            continue
        new = flatten("", {k: v for k, v in p.ident.items() if k not in ("budget", "seed")}, {})
        raise ConfigError(
            f"results_dir={results_dir} already has a row for {results.cell_name(cell)} made with "
            f"other choices ({_differences(old, new)}); use another results_dir for this variant")


def execute(cfg: Mapping[str, Any], wait: bool | None = None) -> list[dict[str, Any] | str | None]:
    """Run one job; one entry per sampler: its row, None where an ok row already existed, or
    ``BUSY`` where another process holds its cell and ``wait`` (default: ``claim_wait``, true
    when absent) is false."""
    task, planned = plan(cfg)
    results_dir = cfg["results_dir"]
    check_results_dir(results_dir, planned)
    force = cfg.get("force", False)
    wait = bool(cfg.get("claim_wait", True)) if wait is None else wait
    todo = [p for p in planned if force or not results.has_ok_row(results_dir, p.key)]
    for p in planned:
        if p not in todo:
            log.info("skip sampler=%s budget=%s seed=%s run_key=%s (ok row exists)", p.name,
                     cfg["budget"], cfg["seed"], p.key)
    claims: dict[str, results.Claim] = {}
    busy: set[str] = set()
    rows: dict[str, dict] = {}
    try:
        for p in sorted(todo, key=lambda p: results.cell_name(_cell(p))):  # one global order
            name = results.cell_name(_cell(p))
            held = results.claim(results_dir, name)
            if held is None and wait:
                log.info("waiting for %s: another process is running it (%s)", name,
                         results.claim_holder(results.claim_path(results_dir, name)))
                held = results.claim(results_dir, name, wait=True)
            if held is None:
                log.info("leave %s to the process running it (%s)", name,
                         results.claim_holder(results.claim_path(results_dir, name)))
                busy.add(p.key)
            else:
                claims[p.key] = held
        mine = [p for p in todo if p.key in claims]
        if mine:  # under the claims: the cell may have been filled while we looked
            check_results_dir(results_dir, mine)
            mine = [p for p in mine if force or not results.has_ok_row(results_dir, p.key)]
        if mine:
            rows = _execute(cfg, task, mine, results_dir)
    finally:
        for held in claims.values():
            held.release()
    return [BUSY if p.key in busy else rows.get(p.key) for p in planned]


def _execute(cfg: Mapping[str, Any], task: str, todo: list[Planned],
             results_dir: str) -> dict[str, dict]:
    """Run the (claimed, not done) runs ``todo`` of a job; their rows by run_key."""
    dataset_name, dataset_opts = _split(todo[0].cfg["dataset"], "dataset")  # with its sha256
    ds = data.load(dataset_name, **dataset_opts)
    budget, seed = cfg["budget"], cfg["seed"]
    save = cfg.get("save_selection", True)
    rows: dict[str, dict] = {}
    if task == "regression":
        for p in todo:
            extras = reg.validate(p.spec, ds, budget, p.params)
            row, t0 = _base_row(p, task, ds, extras), time.perf_counter()
            rows[p.key] = _finish(row, results_dir, t0, lambda p=p: reg.run(
                ds, p.spec, p.params, budget=budget, seed=seed,
                dataset_id=p.ident["dataset"], cache=reg.cache_for(results_dir)), save,
                ds.pool_rows)
    else:
        from .models import backend as framework, engines
        from .protocols import classification as clf  # imports no framework until activated

        model_cfg, train_cfg = todo[0].cfg["model"], cfg["train"]
        engine_name, backend_name = todo[0].cfg["engine"], todo[0].cfg["backend"]
        framework.activate(backend_name)
        job_extras = clf.validate(ds, budget, model_cfg=model_cfg, train_cfg=train_cfg,
                                  warm_start_frac=cfg["warm_start_frac"])
        for p in todo:
            clf.check_params(p.spec, budget, budget - job_extras["k_warm"], p.params)
        engine = engines.get(engine_name, backend_name, model_cfg, ds.x_pool.shape[1:],
                             ds.num_classes, train_cfg)
        if cfg.get("study") is not None:   # a study of the selection, no final training
            from .protocols import theory

            def study(p: Planned):   # inside _finish: a failure is a failed row, not a crash
                group = clf.prepare_group(ds, budget=budget, seed=seed, engine=engine,
                                          warm_start_frac=cfg["warm_start_frac"],
                                          needs={"embeddings"})
                return theory.run(group, p.params, cfg["study"])

            for p in todo:
                row, t0 = _base_row(p, task, ds, job_extras), time.perf_counter()
                rows[p.key] = _finish(row, results_dir, t0, lambda p=p: study(p), save,
                                      ds.pool_rows)
            return rows
        share = cfg.get("share_group", True)
        batches = [todo] if share else [[p] for p in todo]
        for batch in batches:
            needs = set().union(*(p.spec.needs for p in batch))
            t0 = time.perf_counter()
            try:
                group = clf.prepare_group(ds, budget=budget, seed=seed, engine=engine,
                                          warm_start_frac=cfg["warm_start_frac"], needs=needs)
                group_error = None
            except UserError:
                raise
            except Exception as exc:  # every run of the group fails with the same cause
                group, group_error = None, exc
            t_group = time.perf_counter() - t0
            rows.update(_run_batch(batch, group, group_error, task, ds, results_dir, save,
                                   {**job_extras, "group_size": len(batch), "time_group": t_group},
                                   train_cfg))
    return rows


def _run_batch(batch: list[Planned], group, group_error: Exception | None, task: str,
               ds: data.Dataset, results_dir: str, save: bool, extras: dict,
               train_cfg: Mapping[str, Any]) -> dict[str, dict]:
    """Steps 4-5 for the samplers of one group: every sampler selects, then the engine trains
    and evaluates all their final models in one call. A sampler that fails gets a failed row
    and the others go on; a failure of the shared training fails the rows it would have made."""
    from .protocols import classification as clf

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
            sel = clf.select(group, p.spec, p.params)
            selections[p.key] = sel
            done[p.key] = (clf.selection_columns(group, p.spec, sel),
                           np.sort(np.concatenate([group.warm, sel.indices])),
                           time.perf_counter() - t0)
        except UserError:
            raise
        except Exception as exc:
            done[p.key] = exc
    if selections:
        t0 = time.perf_counter()
        try:
            outs = clf.train_and_evaluate(group, list(selections.values()), train_cfg=train_cfg)
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
    rows = {}
    for p in batch:
        result = done[p.key]
        seconds = 0.0 if isinstance(result, Exception) else result[2]

        def work(result=result):
            if isinstance(result, Exception):
                raise result
            return result[0], result[1]

        row = _base_row(p, task, ds, extras)
        rows[p.key] = _finish(row, results_dir, time.perf_counter() - seconds, work, save,
                              ds.pool_rows)
    return rows

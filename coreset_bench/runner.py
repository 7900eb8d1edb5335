"""One job: a group of runs sharing (dataset, seed, budget), from a composed config to rows.

A job runs one sampler (``sampler=...``) or several (``samplers=[...]``, the paired design):
every sampler of a classification group shares one warm-start model, its pool embeddings and
predictions (``share_group=false`` recomputes them per sampler, for comparison). Each sampler
gets its own run_key, the same whichever way it was run, so resume works across both modes.

``execute(cfg)`` validates everything first (bad input raises a UserError before anything is
trained or written), skips runs whose run_key already has an ok row (unless ``force``), and
writes exactly one row per remaining run: ``status="ok"`` with metrics, or ``status="failed"``
with the error and traceback.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
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

from . import __version__, data, results, samplers
from .config import CONF_DIR, MODELS_BY_TASK, options, resolve_model
from .errors import ConfigError, UserError
from .protocols import regression as reg
from .samplers import SamplerSpec

log = logging.getLogger(__name__)

# Keys that say where and how to run, not what: they are not part of a run's identity.
OPERATIONAL_KEYS = ("results_dir", "force", "save_selection", "samplers", "sampler_params",
                    "share_group", "threads", "hydra")
UNUSED_BY_TASK = {"classification": (), "regression": reg.UNUSED_KEYS}


def identity(cfg: Mapping[str, Any], task: str = "classification") -> dict[str, Any]:
    """Every config choice that can change a run's result (hashed into the run_key)."""
    drop = set(OPERATIONAL_KEYS) | set(UNUSED_BY_TASK[task])
    return {k: v for k, v in cfg.items() if k not in drop}


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
                 "kmedoids"):
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
    dataset_name, _ = _split(cfg["dataset"], "dataset")
    entry = data.entry(dataset_name)  # ConfigError naming the valid datasets
    task = entry.task
    cfg = {**cfg, "model": resolve_model(cfg["model"], entry.default_model)}
    if cfg["model"]["name"] not in MODELS_BY_TASK[task]:
        raise ConfigError(f"model {cfg['model']['name']!r} is not a {task} model; valid models "
                          f"for {dataset_name}: auto, {', '.join(MODELS_BY_TASK[task])}")
    seed = cfg["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
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
    }
    row.update(flatten("", {k: v for k, v in p.ident.items()
                            if k not in ("dataset", "budget", "seed")}, {}))
    row.update({f"dataset.{k}": v for k, v in dataset_opts.items()})
    row.update({f"dataset.{k}": v for k, v in ds.choices.items()})  # resolved values win
    return row


def _finish(row: dict[str, Any], results_dir, t_start: float, work: Callable[[], tuple],
            save_selection: bool) -> dict[str, Any]:
    """Run ``work`` (-> columns, chosen indices) and write the row, ok or failed."""
    try:
        out, chosen = work()
        row.update(out)
        row["selection_sha1"] = hashlib.sha1(np.asarray(chosen, np.int64).tobytes()).hexdigest()
        row["status"] = "ok"
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
        metrics = (f"accuracy={row['accuracy']:.4f}" if row["task"] == "classification" else
                   f"r2_error_train={row['r2_error_train']:.4f} r2_error_val={row['r2_error_val']:.4f}")
        log.info("done %s %s n_inferences=%d time_selection=%.2fs time_total=%.2fs", where, metrics,
                 row["n_inferences"], row["time_selection"], row["time_total"])
    else:
        log.error("FAILED %s error=%s (row written with status=failed)", where, row["error"])
    return row


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(old) & set(new) if old[k] != new[k] and "." in k)
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:5]) or "run_key"


def check_results_dir(results_dir: str, planned: list[Planned]) -> None:
    """ConfigError if rows cannot be written, or if a cell already holds a row made with other
    choices (mixing them would make every table ambiguous); nothing is overwritten."""
    try:
        results.check_writable(results_dir)
    except OSError as exc:
        raise ConfigError(f"results_dir={results_dir} is not writable: {exc.strerror or exc}") from None
    for p in planned:
        cell = {"dataset": p.cfg["dataset"]["name"], "model": p.cfg["model"]["name"],
                "sampler": p.name, "budget": p.cfg["budget"], "seed": p.cfg["seed"]}
        owner = results.cell_owner(results_dir, cell)
        if owner is None or owner == p.key:
            continue
        old = results.read_row(results_dir, owner) or {}
        new = flatten("", {k: v for k, v in p.ident.items() if k not in ("budget", "seed")}, {})
        raise ConfigError(
            f"results_dir={results_dir} already has a row for {results.cell_name(cell)} made with "
            f"other choices ({_differences(old, new)}); use another results_dir for this variant")


def execute(cfg: Mapping[str, Any]) -> list[dict[str, Any] | None]:
    """Run one job; one entry per sampler: its row, or None where an ok row already existed."""
    task, planned = plan(cfg)
    results_dir = cfg["results_dir"]
    check_results_dir(results_dir, planned)
    force = cfg.get("force", False)
    todo = [p for p in planned if force or not results.has_ok_row(results_dir, p.key)]
    for p in planned:
        if p not in todo:
            log.info("skip sampler=%s budget=%s seed=%s run_key=%s (ok row exists)", p.name,
                     cfg["budget"], cfg["seed"], p.key)
    if not todo:
        return [None] * len(planned)

    dataset_name, dataset_opts = _split(cfg["dataset"], "dataset")
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
                dataset_id=p.ident["dataset"], cache=reg.cache_for(results_dir)), save)
    else:
        from .protocols import classification as clf  # imports TensorFlow: only when needed

        model_cfg, train_cfg = todo[0].cfg["model"], cfg["train"]
        job_extras = clf.validate(ds, budget, model_cfg=model_cfg, train_cfg=train_cfg,
                                  warm_start_frac=cfg["warm_start_frac"])
        for p in todo:
            clf.check_params(p.spec, budget, budget - job_extras["k_warm"], p.params)
        share = cfg.get("share_group", True)
        batches = [todo] if share else [[p] for p in todo]
        for batch in batches:
            needs = set().union(*(p.spec.needs for p in batch))
            t0 = time.perf_counter()
            try:
                group = clf.prepare_group(ds, budget=budget, seed=seed, model_cfg=model_cfg,
                                          train_cfg=train_cfg,
                                          warm_start_frac=cfg["warm_start_frac"], needs=needs)
                group_error = None
            except UserError:
                raise
            except Exception:  # every run of the group fails with the same cause
                group, group_error = None, traceback.format_exc()
            t_group = time.perf_counter() - t0
            for p in batch:
                row = _base_row(p, task, ds, {**job_extras, "group_size": len(batch),
                                              "time_group": t_group})

                def work(p=p):
                    if group is None:
                        raise RuntimeError("preparing the group (warm start, embeddings) failed:\n"
                                           + group_error)
                    return clf.run_in_group(group, p.spec, p.params, model_cfg=model_cfg,
                                            train_cfg=train_cfg)

                rows[p.key] = _finish(row, results_dir, time.perf_counter(), work, save)
    return [rows.get(p.key) for p in planned]

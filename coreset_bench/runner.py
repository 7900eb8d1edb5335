"""One run from a composed config to one result row.

``execute(cfg)`` validates the config (bad input raises a UserError before anything is
trained or written), skips the run if its run_key already has an ok row (unless ``force``),
runs the protocol of the dataset's task, and writes exactly one row: ``status="ok"`` with
metrics, or ``status="failed"`` with the error and traceback.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import platform
import socket
import time
import traceback
from importlib import metadata
from typing import Any, Mapping

import numpy as np

from . import __version__, data, results, samplers
from .config import MODELS_BY_TASK, resolve_model
from .errors import ConfigError, UserError
from .protocols import regression as reg

log = logging.getLogger(__name__)

# Keys that say where and how to run, not what: they are not part of the run's identity.
OPERATIONAL_KEYS = ("results_dir", "force", "save_selection")
UNUSED_BY_TASK = {"classification": (), "regression": reg.UNUSED_KEYS}


def identity(cfg: Mapping[str, Any], task: str = "classification") -> dict[str, Any]:
    """Every config choice that can change a run's result (hashed into the run_key)."""
    drop = set(OPERATIONAL_KEYS) | {"hydra"} | set(UNUSED_BY_TASK[task])
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


def _split(cfg: Mapping[str, Any], group: str) -> tuple[str, dict[str, Any]]:
    section = dict(cfg[group])
    if "name" not in section:
        raise ConfigError(f"config group {group} has no 'name'")
    return str(section.pop("name")), section


def execute(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """Run one experiment; return its row, or None if an ok row already existed."""
    dataset_name, dataset_opts = _split(cfg, "dataset")
    entry = data.entry(dataset_name)  # ConfigError naming the valid datasets
    task = entry.task
    cfg = {**cfg, "model": resolve_model(cfg["model"], entry.default_model)}
    model_cfg = dict(cfg["model"])
    if model_cfg["name"] not in MODELS_BY_TASK[task]:
        raise ConfigError(f"model {model_cfg['name']!r} is not a {task} model; valid models for "
                          f"{dataset_name}: auto, {', '.join(MODELS_BY_TASK[task])}")
    ident = identity(cfg, task)
    key = results.run_key(ident)
    results_dir = cfg["results_dir"]
    sampler_name, sampler_params = _split(cfg, "sampler")
    budget, seed = cfg["budget"], cfg["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    spec = samplers.get(sampler_name, task)
    where = f"dataset={dataset_name} sampler={sampler_name} budget={budget} seed={seed}"

    if not cfg.get("force", False) and results.has_ok_row(results_dir, key):
        log.info("skip %s run_key=%s (ok row exists; force=true re-runs)", where, key)
        return None

    ds = data.load(dataset_name, **dataset_opts)
    if task == "classification":
        from .protocols import classification as clf  # imports TensorFlow: only when needed

        extras = clf.validate(spec, ds, budget, sampler_params, model_cfg=model_cfg,
                              train_cfg=cfg["train"], warm_start_frac=cfg["warm_start_frac"])
    else:
        extras = reg.validate(spec, ds, budget, sampler_params)

    row: dict[str, Any] = {
        "dataset": dataset_name, "model": model_cfg["name"], "sampler": sampler_name,
        "budget": budget, "seed": seed, "task": task, "run_key": key,
        "n_pool": ds.n_pool, "n_eval": int(len(ds.x_eval)), **extras,
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(), "versions": _versions(),
    }
    row.update(flatten("", {k: v for k, v in ident.items()
                            if k not in ("dataset", "budget", "seed")}, {}))
    row.update({f"dataset.{k}": v for k, v in dataset_opts.items()})
    row.update({f"dataset.{k}": v for k, v in ds.choices.items()})  # resolved values win
    t_start = time.perf_counter()
    log.info("start %s run_key=%s", where, key)
    try:
        if task == "classification":
            out, chosen = clf.run(ds, spec, sampler_params, budget=budget, seed=seed,
                                  model_cfg=model_cfg, train_cfg=cfg["train"],
                                  warm_start_frac=cfg["warm_start_frac"])
        else:
            out, chosen = reg.run(ds, spec, sampler_params, budget=budget, seed=seed,
                                  dataset_id=ident["dataset"], cache=reg.cache_for(results_dir))
        row.update(out)
        row["selection_sha1"] = hashlib.sha1(np.asarray(chosen, np.int64).tobytes()).hexdigest()
        row["status"] = "ok"
        if cfg.get("save_selection", True):
            results.write_selection(results_dir, key, chosen)
    except UserError:
        raise  # bad input found late: one line, no row (see app.main)
    except Exception as exc:  # a failure of the run, recorded as such (never as ok)
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    row["time_total"] = time.perf_counter() - t_start
    row["finished_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    results.write_row(results_dir, row)
    if row["status"] == "ok":
        metrics = (f"accuracy={row['accuracy']:.4f} loss={row['loss']:.4f}" if task == "classification"
                   else f"r2_error_train={row['r2_error_train']:.4f} "
                        f"r2_error_val={row['r2_error_val']:.4f}")
        log.info("done %s %s n_inferences=%d time_selection=%.2fs time_total=%.2fs", where,
                 metrics, row["n_inferences"], row["time_selection"], row["time_total"])
    else:
        log.error("FAILED %s error=%s (row written with status=failed)", where, row["error"])
    return row

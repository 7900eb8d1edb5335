"""``coreset-bench embed``: export a model's pool embeddings to a .npy, to reuse them as fixed
embeddings for selection (``+dataset.embeddings=FILE``) or anywhere else.

The model is the warm-start model M0 of the run the same overrides describe (dataset, model,
budget, seed, engine, ...: ``k' = round(warm_start_frac * budget)`` uniform points, the
protocol's steps 1-3), so ``coreset-bench embed dataset=mnist budget=1000 seed=3 out=e.npy``
gives exactly the embeddings that run's samplers see. The file holds one float32 row per
training example in the order ``dataset.embeddings`` expects: per pool point for the built-in
datasets; per row of the user's file (``x_train`` of an npz, the features of an npy, held-out
evaluation rows included) for file datasets. A JSON beside it records where it came from.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

USAGE = """usage: coreset-bench embed out=FILE.npy [OVERRIDES...]

Trains the warm-start model of the run the overrides describe (same syntax and defaults as
`coreset-bench run`: dataset, model, budget, seed, engine, ...) and writes its embedding of
every training example (last hidden layer; float32, one row per pool point, or per row of your
file for dataset=npz / dataset=npy) to FILE.npy, with FILE.json (dataset, model, seed, sha256).
Use them for selection with +dataset.embeddings=FILE.npy (dataset.embeddings= for npz).
  coreset-bench embed dataset=mnist budget=1000 seed=0 out=mnist_emb.npy
"""


def compose(overrides: list[str]) -> dict[str, Any]:
    """The run config the overrides describe (as ``coreset-bench run`` would compose it)."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from ..config import CONF_DIR

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except HydraException as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None
    return OmegaConf.to_container(cfg, resolve=True)


def export(overrides: list[str], out: str) -> dict[str, Any]:
    """Write the embeddings and their provenance; returns the provenance."""
    from .. import data, store
    from ..protocols import classification as clf
    from .plan import plan, split

    target = Path(out)
    if target.suffix.lower() != ".npy":
        raise ConfigError(f"out={out}: embeddings are written as a .npy file")
    cfg = compose(overrides)
    job_plan = plan(cfg)
    task, planned = job_plan.task, job_plan.runs
    name, opts = split(planned[0].cfg["dataset"], "dataset")
    if task != "classification":
        raise ConfigError(f"dataset={name} is a regression dataset: it has no model to embed "
                          "with (embed needs a classification dataset)")
    for key in ("embeddings", "max_pool", "max_eval"):
        if opts.get(key) not in (None, ""):
            raise ConfigError(f"dataset.{key}={opts[key]} cannot be used with embed (it writes "
                              "the model's embedding of every example of the full dataset)")
    ds = data.load(name, **opts)
    run_cfg = planned[0].cfg
    engine, _ = clf.start(ds, run_cfg)
    group = clf.prepare_group(ds, budget=cfg["budget"], seed=cfg["seed"], engine=engine,
                              warm_start_frac=cfg["warm_start_frac"], needs={"embeddings"})
    emb = group.embeddings
    if ds.pool_rows is not None:   # a file dataset: one row per row of the user's file
        n_rows = int(ds.choices["n_rows"])
        full = np.empty((n_rows, emb.shape[1]), np.float32)
        full[ds.pool_rows] = emb
        held_out = np.setdiff1d(np.arange(n_rows), ds.pool_rows)
        if len(held_out):   # the held-out evaluation rows, in file order (data/files.py)
            full[held_out], _ = engine.embed(group.model, ds.x_eval)
        emb = full
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(emb, dtype=np.float32))
    store.atomic_write_bytes(target, buf.getvalue())
    from ..data.files import sha256

    info = {"file": target.name, "sha256": sha256(target), "shape": list(emb.shape),
            "rows": "source file rows" if ds.pool_rows is not None else "pool points",
            "dataset": ds.name, "model": run_cfg["model"], "engine": run_cfg["engine"],
            "backend": run_cfg["backend"], "budget": cfg["budget"], "seed": cfg["seed"],
            "warm_start_points": int(len(group.warm)), "train": cfg["train"],
            "dataset_options": {k: v for k, v in opts.items()},
            "time_warm_train": group.timings["warm_train"], "time_embed": group.timings["embed"]}
    store.atomic_write_bytes(target.with_suffix(".json"),
                               (json.dumps(info, indent=2, default=str) + "\n").encode())
    return info

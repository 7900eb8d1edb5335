"""A job's plan: its runs, their identities and run keys, before anything is loaded or trained.

A job is a group of runs sharing (dataset, seed, budget): one sampler (``sampler=...``) or
several (``samplers=[...]``, the paired design; a sampler chosen with ``sampler=`` beside such a
list joins the group, so ``experiment=compare sampler=plugin sampler.path=mine.py`` runs yours
beside the experiment's). Each run gets its own run_key, the same
whichever way it was run, so resume works across both modes. The run key hashes the run's
identity: every config choice that can change its result (``identity``); where and how it runs
(``OPERATIONAL_KEYS``) and what its protocol does not use are left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from .. import data, protocols, samplers, store
from ..config import MODELS_BY_TASK, default_choice, group_option, options, resolve_model
from ..errors import ConfigError
from ..samplers import SamplerSpec, _plugins

log = logging.getLogger(__name__)

# Keys that say where and how to run, not what: they are not part of a run's identity.
OPERATIONAL_KEYS = ("results_dir", "force", "save_selection", "published", "samplers", "sampler_params",
                    "share_group", "threads", "claim_wait", "hydra")


def split(section: Mapping[str, Any], group: str) -> tuple[str, dict[str, Any]]:
    """(name, options) of a config group's section (``dataset``, ``sampler``)."""
    section = dict(section)
    if "name" not in section:
        raise ConfigError(f"config group {group} has no 'name'")
    return str(section.pop("name")), section


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    """Nested config -> dotted row columns (``train.epochs``); lists stay lists."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def identity(cfg: Mapping[str, Any], task: str = "classification") -> dict[str, Any]:
    """Every config choice that can change a run's result (hashed into the run_key). A file
    dataset is identified by its content (``dataset.sha256``), not by where it lies."""
    out = {k: v for k, v in cfg.items() if k not in OPERATIONAL_KEYS}
    if out.get("study") is None:   # absent from every run key but a study's
        out.pop("study", None)
    out = protocols.get(task, out.get("study")).identity(out)
    ds = out.get("dataset")
    if isinstance(ds, Mapping):   # a file's location gives way to its sha256
        where = {k for k, digest in data.FILE_DIGESTS.items() if digest in ds}
        out["dataset"] = {k: v for k, v in ds.items() if k not in where}
    return out


def joined_sampler(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """With a group (``samplers=[...]``), the sampler chosen with ``sampler=`` when it is not the
    primary config's default and not in the list already: it joins the group (the experiments
    list their samplers; ``sampler=plugin sampler.path=mine.py`` or ``sampler=badge`` adds one)."""
    names = cfg.get("samplers")
    chosen = dict(cfg.get("sampler") or {})
    name = chosen.get("name")
    if not names or not name or name == default_choice("sampler"):
        return None
    listed = [names] if isinstance(names, str) else list(names)
    return None if name in listed else chosen


def sampler_configs(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sampler configs of this job: ``sampler``, or each of ``samplers`` read from
    ``conf/sampler/<name>.yaml`` and updated with ``sampler_params.<name>``, then the
    ``joined_sampler`` if there is one."""
    names = cfg.get("samplers")
    if not names:
        return [dict(cfg["sampler"])]
    if isinstance(names, str):
        names = [names]
    valid = options("sampler")
    extra = cfg.get("sampler_params") or {}
    plugins = _plugins.registered() if set([*names, *extra]) - set(valid) else {}
    for name in [*names, *extra]:
        if name not in valid and name not in plugins:
            raise ConfigError(f"unknown sampler {name!r}; valid choices: "
                              f"{', '.join([*valid, *plugins])}")
    if len(set(names)) != len(names):
        raise ConfigError(f"samplers={list(names)} lists a sampler twice")
    out = []
    for name in names:
        base = group_option("sampler", name) if name in valid else {"name": name}
        base.update(extra.get(name) or {})
        out.append(base)
    joined = joined_sampler(cfg)
    return out + [joined] if joined else out


def does_task(s_cfg: Mapping[str, Any], task: str) -> bool:
    """Whether the sampler of ``s_cfg`` (a built-in or a plugin) selects for ``task``."""
    name, params = split(s_cfg, "sampler")
    found = _plugins.resolve(name, params)
    spec = found[0].spec if found is not None else samplers.SAMPLERS.get(name)
    return spec is None or task in spec.tasks   # unknown: resolve_sampler says so


def resolve_sampler(s_cfg: Mapping[str, Any], task: str
                    ) -> tuple[dict[str, Any], SamplerSpec, dict[str, Any]]:
    """(the sampler config its runs are keyed by, its spec, row columns kept out of the key).
    A plugin (``sampler=plugin sampler.path=F``, or a registered name) is keyed by its name,
    its parameters (its select's defaults, then the config's) and its source's sha256, never
    by its path; its rows say ``sampler=<name>@<sha256[:8]>``."""
    name, params = split(s_cfg, "sampler")
    found = _plugins.resolve(name, params)
    if found is None:
        return dict(s_cfg), samplers.get(name, task), {}
    plugin, params = found
    if task not in plugin.spec.tasks:
        raise ConfigError(f"plugin {plugin.source}: sampler {plugin.spec.name!r} does not do "
                          f"{task} (SPEC has no {'select' if task == 'classification' else 'regression'})")
    keyed = {"name": plugin.label, **plugin.defaults(), **params, "sha256": plugin.sha256}
    return keyed, plugin.spec, {"sampler.path": str(plugin.source)}


@dataclass
class Planned:
    cfg: dict[str, Any]       # the job config with this run's sampler
    key: str
    ident: dict[str, Any]
    name: str
    params: dict[str, Any]
    spec: SamplerSpec
    columns: dict[str, Any] = field(default_factory=dict)   # row columns kept out of the key

    @property
    def cell(self) -> dict[str, Any]:
        """(dataset, model, sampler, budget, seed): one row per cell in a results_dir."""
        name, opts = split(self.cfg["dataset"], "dataset")
        return {"dataset": data.label(name, opts), "model": self.cfg["model"]["name"],
                "sampler": self.name, "budget": self.cfg["budget"], "seed": self.cfg["seed"]}

    def stored(self) -> store.Run:
        """This run as the store sees it (key, cell, identity as row columns)."""
        columns = flatten("", {k: v for k, v in self.ident.items() if k not in ("budget", "seed")}, {})
        return store.Run(self.key, self.cell, columns)


@dataclass
class Plan:
    task: str
    protocol: Any             # protocols.Protocol
    runs: list[Planned]


def plan(cfg: Mapping[str, Any]) -> Plan:
    """The task, protocol and runs of a job, with their run keys; ConfigError on bad names."""
    dataset_name, dataset_opts = split(cfg["dataset"], "dataset")
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
    seed = cfg["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    proto = protocols.get(task, cfg.get("study"))
    s_cfgs = sampler_configs(cfg)
    joined = joined_sampler(cfg)
    if joined is not None and not does_task(joined, task):
        # a suite's regression cell and a classification-only method of yours: that cell runs
        # the built-ins alone (said once per job in the log)
        what = joined.get("path") or joined.get("name")
        log.info("sampler %s does not do %s: not run on %s", what, task, dataset_name)
        s_cfgs = s_cfgs[:-1]
    cfg = proto.prepare(cfg, task, dataset_name, [str(s.get("name")) for s in s_cfgs])
    runs = []
    for s_cfg in s_cfgs:
        s_cfg, spec, columns = resolve_sampler(s_cfg, task)
        run_cfg = {**cfg, "sampler": s_cfg}
        ident = identity(run_cfg, task)
        name, params = split(s_cfg, "sampler")
        if columns:   # a plugin: its sha256 is its version, not a parameter of its select
            params.pop("sha256")
        runs.append(Planned(run_cfg, store.run_key(ident), ident, name, params, spec, columns))
    return Plan(task, proto, runs)

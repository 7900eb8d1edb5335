"""Experiment protocols: the layer that talks to models and data and calls the samplers.

A protocol turns a job's claimed runs into row columns. Each one is a class with

- ``identity(ident) -> ident``: its say on run keys (drop the config keys it does not use, add
  what it derives, e.g. classification's ``train.weight_scheme`` for weighted runs);
- ``prepare(cfg, task, dataset, samplers) -> cfg``: checks and choices resolved before the runs are
  keyed (e.g. ``engine=auto`` -> the engine); ConfigError on a job that cannot run;
- ``validate(job, todo) -> dict``: job-level checks before anything is trained, and the columns
  every row of the job gets;
- ``run(job, todo)``: yields one ``Outcome`` per run, whose ``work()`` returns (columns, the
  chosen indices) or raises (a failed row);
- ``describe(row) -> str``: the metrics of an ok row in the log line.

The job layer (``coreset_bench.job``) plans, claims, assembles and writes the rows; adding a
protocol means a module here and a line in ``PROTOCOLS``.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol as _Interface

import numpy as np

# a task, or "study:<name>" (``study.name``: a study of the selection instead of the task's
# final training) -> "module:Class"
PROTOCOLS = {
    "classification": "classification:Classification",
    "regression": "regression:Regression",
    "study:thm5": "theory:Theorem5",
}


@dataclass
class Job:
    """One job's shared state: its config, the loaded dataset, where rows go."""

    cfg: Mapping[str, Any]
    task: str
    ds: Any                       # data.Dataset
    results_dir: str
    state: dict = field(default_factory=dict)   # what the protocol keeps between its steps

    @property
    def budget(self) -> int:
        return self.cfg["budget"]

    @property
    def seed(self) -> int:
        return self.cfg["seed"]


@dataclass
class Outcome:
    """One run's result as the protocol hands it to the job layer."""

    run: Any                                           # the planned run (job.plan.Planned)
    work: Callable[[], tuple[dict[str, Any], np.ndarray]]
    extras: dict[str, Any] = field(default_factory=dict)   # columns known before the work
    started: float = field(default_factory=time.perf_counter)


class Protocol(_Interface):
    def identity(self, ident: dict) -> dict: ...
    def prepare(self, cfg: dict, task: str, dataset: str, samplers: list[str]) -> dict: ...
    def validate(self, job: Job, todo: list) -> dict[str, Any]: ...
    def run(self, job: Job, todo: list) -> Iterator[Outcome]: ...
    def describe(self, row: Mapping[str, Any]) -> str: ...


def get(task: str, study: Mapping[str, Any] | None = None) -> Protocol:
    """The protocol of a task, or of the study ``study`` (ConfigError naming the valid studies);
    a study's ``prepare`` checks that it fits the task."""
    from ..errors import ConfigError

    key = task
    if study is not None:
        key = f"study:{study.get('name')}"
        if key not in PROTOCOLS:
            studies = sorted(k.split(":", 1)[1] for k in PROTOCOLS if k.startswith("study:"))
            raise ConfigError(f"study.name={study.get('name')!r} is not valid; valid choices: "
                              f"{', '.join(studies)}")
    module, cls = PROTOCOLS[key].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)()

"""The Hydra application behind ``coreset-bench run``.

Configs live in ``conf/`` at the repository root (the package is installed in editable mode,
see the Makefile). Each job composes dataset / model / sampler / budget (+ experiment) and
calls ``runner.execute``. Bad input ends the process with one line and exit code 2; a failed
run is recorded and counted in ``STATE`` so the CLI can exit non-zero after a sweep.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from .config import CONF_DIR
from .errors import UserError

STATE = {"ok": 0, "skipped": 0, "failed": 0}
log = logging.getLogger("coreset_bench")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    from . import runner  # heavy imports (TensorFlow) only once a job really runs

    plain = OmegaConf.to_container(cfg, resolve=True)
    try:
        row = runner.execute(plain)
    except UserError as exc:
        print(f"coreset-bench: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if row is None:
        STATE["skipped"] += 1
    else:
        STATE["ok" if row["status"] == "ok" else "failed"] += 1

"""Where the Hydra configs live, and resolution of choices that depend on other choices."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

# conf/ at the repository root; the package is installed in editable mode (see Makefile).
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

# The models each task can run (``model=auto`` picks the dataset's paper model among them).
# ``linear`` is a softmax (logistic-regression) head for classification, e.g. a linear probe on
# precomputed embeddings, and weighted least squares for regression.
MODELS_BY_TASK = {"classification": ("cnn", "linear", "mlp"), "regression": ("linear",)}


def options(group: str) -> list[str]:
    """The options of a config group: the names of its YAML files."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def resolve_model(model_cfg: Mapping[str, Any], default_model: str) -> dict[str, Any]:
    """``model=auto`` -> the dataset's paper model with its config file's parameters; keys
    given beside ``auto`` (``+model.hidden_units=64``) still win."""
    model_cfg = dict(model_cfg)
    if model_cfg.get("name") != "auto":
        return model_cfg
    resolved = yaml.safe_load((CONF_DIR / "model" / f"{default_model}.yaml").read_text())
    extra = {k: v for k, v in model_cfg.items() if k != "name"}
    return {**resolved, **extra}

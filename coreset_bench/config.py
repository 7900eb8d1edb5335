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
MODELS_BY_TASK = {"classification": ("cnn", "cnn_distil", "linear", "mlp"), "regression": ("linear",)}


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


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def defaults(*keys: str) -> Any:
    """A default of ``conf/config.yaml`` (its one home), e.g. ``defaults("train")`` is the
    training recipe of every model (paper appendix C), ``defaults("warm_start_frac")``."""
    value: Any = _yaml(CONF_DIR / "config.yaml")
    for key in keys:
        value = value[key]
    return value


def default_choice(group: str) -> str:
    """The option of ``group`` that ``conf/config.yaml``'s defaults list chooses (``sampler`` ->
    ``uniform``)."""
    for entry in defaults("defaults"):
        if isinstance(entry, dict) and group in entry:
            return str(entry[group])
    raise KeyError(group)


def train_recipe() -> dict[str, Any]:
    """The training recipe of conf/config.yaml (optimizer, learning_rate, batch_size, epochs),
    for code that trains outside a job (benchmarks, scripts, tests)."""
    return {k: v for k, v in defaults("train").items()
            if k in ("optimizer", "learning_rate", "batch_size", "epochs")}


def group_option(group: str, name: str) -> dict[str, Any]:
    """The config of ``conf/<group>/<name>.yaml`` as Hydra composes it: an option may start from
    another option of its group (``defaults: [loss, _self_]``) and override some keys."""
    cfg = _yaml(CONF_DIR / group / f"{name}.yaml")
    entries = list(cfg.pop("defaults", None) or [])
    if "_self_" not in entries:   # Hydra's rule: the option's own keys come last
        entries.append("_self_")
    out: dict[str, Any] = {}
    for entry in entries:
        out.update(cfg if entry == "_self_" else group_option(group, str(entry)))
    return out

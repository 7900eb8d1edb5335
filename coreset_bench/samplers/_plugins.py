"""Your own sampler on the bench, without touching the package (docs/plugins.md).

A plugin is a Python file (or a module of an installed package) that defines, like a built-in
sampler module, ``SPEC = SamplerSpec(name=..., select=..., needs=..., citation=...)`` with a
pure ``select(inputs, n_select, rng, **params) -> Selection``. Three ways in:

- one file: ``sampler=plugin sampler.path=my_method.py`` (its parameters: ``+sampler.KEY=VALUE``);
- a folder of files or single files, named with ``--plugins PATH`` (or ``CORESET_BENCH_PLUGINS``,
  ``:``-separated): each plugin is then ``sampler=<its SPEC.name>``, beside the built-ins in one
  sweep (``-m sampler=uniform,kcenter,mine``, or ``samplers=[uniform,mine]``);
- an installed package with an entry point in the group ``coreset_bench.samplers`` (the value
  names a module that defines SPEC): ``sampler=<entry point name>``.

Identity: a plugin's runs are keyed by its name, its parameters and the sha256 of its source,
not by its path. Its rows say ``sampler = <name>@<first 8 hex digits of the sha256>``, so an
edited file makes new runs in new cells and every table keeps the versions apart; the row also
records ``sampler.sha256`` and ``sampler.path``.

Faults are the plugin's, never the harness's: a file that does not import, or has no valid SPEC,
is one ConfigError line naming the file and the error (nothing recorded); an exception inside
``select`` or an output that breaks the contract is a failed row (see ``protocols``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._base import SamplerSpec

ENTRY_POINT_GROUP = "coreset_bench.samplers"
ENV = "CORESET_BENCH_PLUGINS"
FILE_OPTION = "plugin"          # sampler=plugin sampler.path=FILE
# Names Hydra would read as something other than a string, or that the template itself uses.
RESERVED = ("null", "none", "true", "false", "yes", "no", "on", "off", "nan", "inf", FILE_OPTION)


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin: its SPEC and where its source is."""

    spec: SamplerSpec
    source: Path
    sha256: str

    @property
    def label(self) -> str:
        """The ``sampler`` value of its rows: name@version."""
        return f"{self.spec.name}@{self.sha256[:8]}"

    def defaults(self) -> dict[str, Any]:
        """Keyword parameters of its ``select`` with their defaults (the plugin's own config), as
        JSON values (what a command line can give back: the run key must not depend on the way
        in); ConfigError for a default that is not one (an object, a callable)."""
        if self.spec.select is None:
            return {}
        out = {}
        for p in inspect.signature(self.spec.select).parameters.values():
            if p.kind is not p.KEYWORD_ONLY or p.default is p.empty or p.name in ("rng", "query"):
                continue
            try:
                out[p.name] = json.loads(json.dumps(p.default, allow_nan=False))
            except (TypeError, ValueError):
                raise ConfigError(f"plugin {self.source}: the default of parameter {p.name} "
                                  f"({p.default!r}) is not a number, string, bool, None or list of "
                                  "them; give it such a default") from None
        return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spec_of(module: Any, where: str) -> SamplerSpec:
    spec = getattr(module, "SPEC", None)
    if spec is None:
        raise ConfigError(f"{where} defines no SPEC; a sampler plugin sets SPEC = SamplerSpec(name=..., "
                          "select=..., citation=...) (template: coreset-bench new-sampler NAME)")
    if not isinstance(spec, SamplerSpec):
        raise ConfigError(f"{where}: SPEC is a {type(spec).__name__}, not a "
                          "coreset_bench.samplers.SamplerSpec")
    if not str(spec.name).isidentifier() or str(spec.name).lower() in RESERVED:
        raise ConfigError(f"{where}: SPEC.name={spec.name!r} must be a Python identifier (letters, "
                          f"digits, '_'; not a digit first) and not one of {', '.join(RESERVED)}")
    if spec.select is None and spec.regression is None:
        raise ConfigError(f"{where}: SPEC has neither select (classification) nor regression")
    if spec.select is not None and not callable(spec.select):
        raise ConfigError(f"{where}: SPEC.select is a {type(spec.select).__name__}, not a function")
    return spec


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (a plugin's message may span several)."""
    return " ".join(str(exc).split())


_LOADED: dict[tuple[str, str], Plugin] = {}


def load_file(path: str | os.PathLike) -> Plugin:
    """The plugin in a Python file; ConfigError (one line) if it is missing, does not import or
    has no valid SPEC. Loaded once per content."""
    where = Path(path).expanduser()
    if not where.is_file():
        raise ConfigError(f"sampler.path={path}: no such file (a plugin is a .py file defining SPEC)")
    where = where.resolve()
    digest = _sha256(where)
    key = (str(where), digest)
    if key in _LOADED:
        return _LOADED[key]
    name = f"coreset_bench_plugin_{digest[:16]}"
    module_spec = importlib.util.spec_from_file_location(name, where)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"sampler.path={path}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's code: one line naming the file and the error
        sys.modules.pop(name, None)
        line = next((f"line {f.lineno}" for f in reversed(_frames(exc)) if f.filename == str(where)),
                    "")
        raise ConfigError(f"plugin {path} does not import ({line + ': ' if line else ''}"
                          f"{type(exc).__name__}: {one_line(exc)})") from None
    plugin = Plugin(_spec_of(module, f"plugin {path}"), where, digest)
    _LOADED[key] = plugin
    return plugin


def _frames(exc: BaseException):
    import traceback

    if isinstance(exc, SyntaxError) and exc.filename:
        return [traceback.FrameSummary(exc.filename, exc.lineno or 0, "")]
    return traceback.extract_tb(exc.__traceback__)


def load_module(module_name: str, where: str) -> Plugin:
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        raise ConfigError(f"{where}: module {module_name} does not import "
                          f"({type(exc).__name__}: {one_line(exc)})") from None
    source = Path(inspect.getsourcefile(module) or "")
    if not source.is_file():
        raise ConfigError(f"{where}: module {module_name} has no source file to identify it by")
    return Plugin(_spec_of(module, where), source, _sha256(source))


def _paths() -> list[Path]:
    out = []
    for item in filter(None, os.environ.get(ENV, "").split(os.pathsep)):
        path = Path(item).expanduser()
        if path.is_dir():
            out += sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
        else:
            out.append(path)
    return out


def registered() -> dict[str, Plugin]:
    """Plugins named by ``CORESET_BENCH_PLUGINS`` and installed entry points, by SPEC.name.
    ConfigError for one that does not load, or a name taken twice or by a built-in."""
    from . import SAMPLERS

    found: dict[str, Plugin] = {}
    where: dict[str, str] = {}

    def add(plugin: Plugin, origin: str) -> None:
        name = plugin.spec.name
        if name in SAMPLERS or name == FILE_OPTION:
            raise ConfigError(f"{origin}: SPEC.name={name!r} is a built-in sampler's name; "
                              "choose another")
        if name in found and found[name].source != plugin.source:
            raise ConfigError(f"{origin}: SPEC.name={name!r} is also the name of {where[name]}")
        found[name], where[name] = plugin, origin

    for path in _paths():
        add(load_file(path), f"plugin {path}")
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        add(load_module(ep.value.split(":")[0], f"entry point {ep.name} ({ep.value})"),
            f"entry point {ep.name}")
    return found


def resolve(name: str, params: dict[str, Any]) -> tuple[Plugin, dict[str, Any]] | None:
    """The plugin a sampler config names (``plugin`` + ``path``, or a registered name) and its
    parameters without ``path``; None for a built-in."""
    if name == FILE_OPTION:
        params = dict(params)
        path = params.pop("path", None)
        if path in (None, "", "???"):
            raise ConfigError("sampler=plugin needs sampler.path=FILE.py (a file defining SPEC)")
        return load_file(path), params
    plugins = registered() if name not in _builtin_names() else {}
    if name in plugins:
        return plugins[name], dict(params)
    return None


def _builtin_names() -> set[str]:
    from . import SAMPLERS

    return set(SAMPLERS)


def _yaml_value(value: Any) -> str:
    """A JSON value as YAML that OmegaConf reads back unchanged (strings double-quoted, their
    ``${`` escaped so they are never interpolations)."""
    if isinstance(value, str):
        return json.dumps(value.replace("${", "\\${"))
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    return json.dumps(value)


def write_options(conf_root: str | os.PathLike) -> Path | None:
    """Hydra options ``<conf_root>/sampler/<name>.yaml`` for the registered plugins (name and
    their select's defaults), so ``sampler=<name>`` composes like a built-in; the folder to put
    on Hydra's search path, or None when there are no plugins."""
    plugins = registered()
    if not plugins:
        return None
    root = Path(conf_root)
    (root / "sampler").mkdir(parents=True, exist_ok=True)
    for name, plugin in plugins.items():
        lines = [f"{json.dumps(key)}: {_yaml_value(value)}" for key, value in
                 {"name": name, **plugin.defaults()}.items()]
        text = (f"# Generated by coreset-bench from {plugin.source} (sha256 {plugin.sha256[:12]}...)\n"
                + "\n".join(lines) + "\n")
        target = root / "sampler" / f"{name}.yaml"
        if not target.is_file() or target.read_text() != text:
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, target)
    return root


TEMPLATE = '''"""{name}: a data-selection method for coreset-bench (docs/plugins.md).

Run it beside the built-ins:
    coreset-bench run -m experiment=compare sampler=plugin sampler.path={name}.py   # one method
    coreset-bench run -m --plugins {name}.py experiment=compare 'samplers=[uniform,kcenter,{name}]'
    coreset-bench report results_dir=results baseline=uniform

As written it is D^2 sampling (the k-means++ seeding rule, Arthur & Vassilvitskii, SODA 2007) on
the warm-start model's embeddings, starting from the already-labelled points: each pick is drawn
with probability proportional to its squared distance to the nearest point chosen so far,
raised to the power ``spread / 2`` (2 = the classic rule). Replace ``{name}`` with your method.

The contract (the same as every built-in sampler's):
- ``select(inputs, n_select, rng, **params) -> Selection``: a pure function of its inputs and
  of ``rng`` (a numpy Generator: the only source of randomness; same seed, same picks);
- ``inputs`` holds only what ``needs`` asks for: ``embeddings`` (m, d) of the candidates and
  ``initial_embeddings`` (k', d) of the labelled warm-start points ("embeddings"), ``probs``
  (m, C) class probabilities ("probs"), ``oracle(idx)`` per-example losses ("loss_oracle");
- return ``n_select`` distinct indices into the m candidates; optional ``weights`` (one per
  index, finite, >= 0); ``n_inferences``: model outputs you used; ``info``: what to record in
  the row (``sampler_info.<key>``);
- keyword parameters with defaults are the method's parameters: set them on the command line
  with ``sampler.KEY=VALUE`` (``+sampler.KEY=VALUE`` with ``sampler=plugin``); they, the name
  and the sha256 of this file key its runs: edit the file and you get new runs.
"""

from __future__ import annotations

import numpy as np

from coreset_bench.samplers import SamplerSpec, Selection


def {name}(embeddings: np.ndarray, labelled: np.ndarray, n_select: int,
        rng: np.random.Generator, spread: float = 2.0) -> np.ndarray:
    """D^2 sampling: ``n_select`` distinct rows of ``embeddings``."""
    x = np.asarray(embeddings, dtype=np.float32)
    d2 = np.full(len(x), np.inf) if len(labelled) else np.ones(len(x))
    for point in np.asarray(labelled, dtype=np.float32):   # squared distance to the labelled set
        d2 = np.minimum(d2, ((x - point) ** 2).sum(1))
    chosen = []
    for _ in range(n_select):
        w = np.power(np.maximum(d2, 0.0), spread / 2.0)
        w[chosen] = 0.0
        p = w / w.sum() if w.sum() > 0 else None
        if p is None:   # every candidate coincides with a chosen point: uniform over the rest
            free = np.setdiff1d(np.arange(len(x)), chosen)
            i = int(rng.choice(free))
        else:
            i = int(rng.choice(len(x), p=p))
        chosen.append(i)
        d2 = np.minimum(d2, ((x - x[i]) ** 2).sum(1))
    return np.asarray(chosen, dtype=np.int64)


def select(inputs, n_select: int, rng: np.random.Generator, *, spread: float = 2.0) -> Selection:
    labelled = inputs.initial_embeddings if inputs.initial_embeddings is not None else \\
        np.empty((0, inputs.embeddings.shape[1]))
    idx = {name}(inputs.embeddings, labelled, n_select, rng, spread=spread)
    return Selection(indices=idx, info={{"spread": spread}})


SPEC = SamplerSpec(
    name="{name}",
    needs=("embeddings",),
    select=select,
    citation="D^2 sampling (Arthur & Vassilvitskii, SODA 2007); replace with your method's paper",
)
'''


def template(name: str) -> str:
    """The source of a runnable plugin called ``name`` (``coreset-bench new-sampler NAME``)."""
    import builtins
    import keyword

    from . import SAMPLERS

    taken = {"np", "select", "SPEC", "SamplerSpec", "Selection", "annotations"}
    if (not name.isidentifier() or name.startswith("_") or keyword.iskeyword(name)
            or name in taken or hasattr(builtins, name) or name.lower() in RESERVED):
        raise ConfigError(f"new-sampler {name!r}: the name must be a Python identifier (letters, "
                          "digits, '_'; not starting with a digit or '_'), not a keyword, a builtin "
                          f"or one of {', '.join(sorted(taken | set(RESERVED)))}")
    if name in SAMPLERS:
        raise ConfigError(f"new-sampler {name!r}: a built-in sampler has that name; choose another")
    return TEMPLATE.format(name=name)

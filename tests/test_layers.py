"""The package's layers: an import may only go down (or stay in its own room), never up.

    0  errors, seeding, config, stats     foundations (no coreset_bench import but each other)
    1  store                              result rows, claims, the storage transaction, check
    2  data, samplers, models             datasets, pure selection functions, training engines
    3  protocols                          the experiment steps (talk to models, call samplers)
    4  job                                plan, claim, run a protocol, write rows; the Hydra app
    5  report, bench, api                 read rows back, benchmarks, the library entry point
    6  cli, __init__                      the command line; the package's front door
                                          (``from coreset_bench import select``, __version__)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "coreset_bench"
LAYERS = {"errors": 0, "seeding": 0, "config": 0, "stats": 0, "__init__": 6, "store": 1,
          "data": 2, "samplers": 2, "models": 2, "protocols": 3, "job": 4, "report": 5,
          "bench": 5, "api": 5, "cli": 6}


def _imports(path: Path):
    """(line, top-level room imported) for every coreset_bench import in ``path``."""
    rel = path.relative_to(PACKAGE)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(rel.parts[:-1])[:len(rel.parts) - node.level]
            target = base + (node.module.split(".") if node.module else [])
            rooms = [target[0]] if target else [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("coreset_bench"):
            parts = node.module.split(".")
            rooms = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            rooms = [a.name.split(".")[1] for a in node.names
                     if a.name.startswith("coreset_bench.")]
        else:
            continue
        for room in rooms:
            yield node.lineno, room.removesuffix(".py")


def test_every_module_has_a_layer_and_no_import_runs_back_up():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        room = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        assert room in LAYERS, f"{path}: give the new room {room!r} a layer in this test"
        for line, target in _imports(path):
            if target == room or target == "__version__":
                continue
            assert target in LAYERS, f"{path}:{line} imports unknown room {target!r}"
            if LAYERS[target] > LAYERS[room]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} ({room}, layer {LAYERS[room]}) "
                              f"imports {target} (layer {LAYERS[target]})")
    assert upward == []


def test_at_most_eight_modules_at_the_top():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 8, top


def test_results_imports_no_plotting_library(tmp_path):
    """`coreset-bench results` is the quick look: it must not pay for matplotlib (the report's)."""
    import subprocess
    import sys

    from test_results import _ok

    _ok(tmp_path, "a")
    code = ("import sys; from coreset_bench import cli; rc = cli.main(['results', sys.argv[1]]); "
            "assert rc == 0, rc; print(sorted(m for m in ('matplotlib', 'keras', 'tensorflow', "
            "'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"

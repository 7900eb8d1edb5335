"""Your own method on the bench (issue 20): a sampler from a file or an installed package runs
like a built-in, is keyed by its source, and its faults are failed rows or one line, never the
harness's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from coreset_bench import store
from conftest import run_cli

FARTHEST = '''"""Farthest-first traversal from a random start (Gonzalez 1985), as a user would write it."""
import numpy as np
from coreset_bench.samplers import SamplerSpec, Selection


def select(inputs, n_select, rng, *, start_from_labelled: bool = False):
    x = inputs.embeddings
    first = int(rng.integers(len(x)))
    d = ((x - x[first]) ** 2).sum(1)
    chosen = [first]
    while len(chosen) < n_select:
        i = int(np.argmax(d))
        chosen.append(i)
        d = np.minimum(d, ((x - x[i]) ** 2).sum(1))
    return Selection(indices=np.array(chosen), info={"first": first})


SPEC = SamplerSpec(name="farthest", needs=("embeddings",), select=select,
                   citation="Gonzalez 1985, farthest-first traversal")
'''


def _rows(results_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results_dir / "rows").glob("*.json"))]


@pytest.fixture()
def plugin(tmp_path) -> Path:
    path = tmp_path / "mine" / "farthest.py"     # outside the repository
    path.parent.mkdir()
    path.write_text(FARTHEST)
    return path


def test_a_plugin_file_runs_beside_built_ins_and_is_keyed_by_its_source(plugin, tmp_path):
    out_dir = tmp_path / "res"
    sweep = ("run", "-m", "--plugins", str(plugin), "experiment=compare",
             "samplers=[uniform,kcenter,loss,farthest]", "budget=60,100", "seed=0,1",
             f"results_dir={out_dir}")
    out = run_cli(*sweep)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = _rows(out_dir)
    assert len(rows) == 16 and {r["status"] for r in rows} == {"ok"}
    mine = [r for r in rows if r["sampler"].startswith("farthest@")]
    assert len(mine) == 4 and {r["sampler.path"] for r in mine} == {str(plugin.resolve())}
    first_version = mine[0]["sampler"]
    assert first_version == f"farthest@{mine[0]['sampler.sha256'][:8]}"
    assert all(r["sampler.start_from_labelled"] is False for r in mine)   # its defaults, keyed

    moved = tmp_path / "elsewhere.py"                 # the path is not part of the key
    moved.write_text(plugin.read_text())
    again = run_cli("run", "-m", "experiment=compare", "sampler=plugin", f"sampler.path={moved}",
                    "samplers=null", "budget=60,100", "seed=0,1", f"results_dir={out_dir}")
    assert again.returncode == 0 and "skipped=4" in again.stderr, again.stderr[-2000:]

    plugin.write_text(FARTHEST.replace("first = int(rng.integers(len(x)))", "first = 0"))
    edited = run_cli(*sweep)                          # an edited file: new runs, new cells
    assert edited.returncode == 0, edited.stderr[-3000:]
    labels = sorted({r["sampler"] for r in _rows(out_dir) if r["sampler"].startswith("farthest@")})
    assert len(labels) == 2 and first_version in labels
    assert "skipped=12" in edited.stderr              # the built-ins were not re-run
    check = run_cli("results", "check", str(out_dir))
    assert check.returncode == 0, check.stdout

    table = run_cli("results", str(out_dir))          # each version its own line
    assert table.returncode == 0 and all(label in table.stdout for label in labels)


FAULTS = {   # plugin name -> (body of its select, what its failed row's error says)
    "raises": ("raise ValueError('my bug at step 3')", "ValueError: my bug at step 3"),
    "dups": ("return Selection(indices=np.array([0, 0] + list(range(2, n_select))))",
             "ContractError: sampler dups broke the contract: 1 duplicate indices (e.g. 0)"),
    "short": ("return Selection(indices=np.arange(n_select - 1))",
              "broke the contract: returned 47 indices, wanted 48"),
    "outside": ("return Selection(indices=np.arange(n_select) + 10**6)",
                "broke the contract: 48 indices outside 0..1334 (e.g. 1000000)"),
    "negative": ("return Selection(indices=np.arange(n_select), weights=-np.ones(n_select))",
                 "broke the contract: 48 weights are negative (e.g. -1.0)"),
    "notfinite": ("return Selection(indices=np.arange(n_select), weights=np.full(n_select, np.nan))",
            "broke the contract: 48 weights are NaN or infinite"),
    "floats": ("return Selection(indices=np.arange(n_select) * 1.0)",
               "broke the contract: indices must be a 1-D integer array, got float64"),
}


def test_a_faulty_plugin_is_a_failed_row_and_the_sweep_goes_on(tmp_path):
    folder = tmp_path / "plugins"          # a folder of plugins, all in one paired sweep
    folder.mkdir()
    for name, (body, _) in FAULTS.items():
        (folder / f"{name}.py").write_text(
            "import numpy as np\nfrom coreset_bench.samplers import SamplerSpec, Selection\n"
            f"def select(inputs, n_select, rng):\n    {body}\n"
            f"SPEC = SamplerSpec(name='{name}', needs=('embeddings',), select=select, citation='-')\n")
    out = run_cli("run", "-m", "--plugins", str(folder), f"samplers=[uniform,{','.join(FAULTS)}]",
                  "budget=60", f"results_dir={tmp_path / 'res'}")
    assert out.returncode == 1, out.stderr[-2000:]               # failed runs: exit 1, not 2
    assert f"runs ok=1 skipped=0 failed={len(FAULTS)}" in out.stderr
    rows = {r["sampler"].split("@")[0]: r for r in _rows(tmp_path / "res")}
    assert rows["uniform"]["status"] == "ok"
    for name, (_, error) in FAULTS.items():
        bad = rows[name]
        assert bad["status"] == "failed" and "\n" not in bad["error"]
        assert error in bad["error"], (name, bad["error"])
        assert "Traceback" in bad["traceback"]


@pytest.mark.parametrize("source,message", [
    ("import not_a_module_anywhere\n", "does not import (line 1: ModuleNotFoundError: No module "
                                       "named 'not_a_module_anywhere')"),
    ("def select(:\n", "does not import (line 1: SyntaxError"),
    ("x = 1\n", "defines no SPEC"),
    ("SPEC = 3\n", "SPEC is a int, not a coreset_bench.samplers.SamplerSpec"),
])
def test_a_plugin_that_does_not_load_is_one_line_and_nothing_is_recorded(tmp_path, source, message):
    path = tmp_path / "nope.py"
    path.write_text(source)
    for args in (("run", "sampler=plugin", f"sampler.path={path}"),
                 ("run", "-m", "--plugins", str(path), "sampler=uniform", "budget=60,80")):
        out = run_cli(*args, f"results_dir={tmp_path / 'res'}")
        assert out.returncode == 2, out.stderr[-2000:]
        line = out.stderr.strip().splitlines()[-1]
        assert line.startswith("coreset-bench: error: ") and message in line and "nope.py" in line
        assert "Traceback" not in out.stderr
    assert store.load(tmp_path / "res").empty
    missing = run_cli("run", "-m", "--plugins", str(tmp_path / "absent.py"), "sampler=uniform")
    assert missing.returncode == 2 and "--plugins" in missing.stderr and "absent.py" in missing.stderr


def test_a_plugin_s_validate_that_fails_is_one_line_before_anything_is_trained(tmp_path):
    path = tmp_path / "picky.py"
    path.write_text(FARTHEST.replace(
        "SPEC = SamplerSpec(name=\"farthest\", needs=(\"embeddings\",), select=select,",
        "def validate(budget, n_select, **params):\n    raise KeyError('needs more')\n\n\n"
        "SPEC = SamplerSpec(name=\"farthest\", needs=(\"embeddings\",), select=select, "
        "validate=validate,"))
    out = run_cli("run", "sampler=plugin", f"sampler.path={path}", "budget=60",
                  f"results_dir={tmp_path / 'res'}")
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "coreset-bench: error: sampler farthest: its validate raised KeyError: 'needs more'")
    assert store.load(tmp_path / "res").empty


def test_the_new_sampler_template_runs_as_is(tmp_path):
    out = run_cli("new-sampler", "diverse", cwd=tmp_path)
    assert out.returncode == 0 and (tmp_path / "diverse.py").is_file(), out.stderr
    again = run_cli("new-sampler", "diverse", cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr
    assert run_cli("new-sampler", "9lives", cwd=tmp_path).returncode == 2
    ran = run_cli("run", "sampler=plugin", f"sampler.path={tmp_path / 'diverse.py'}", "budget=60",
                  "+sampler.spread=1.0", f"results_dir={tmp_path / 'res'}")
    assert ran.returncode == 0, ran.stderr[-2000:]
    [row] = _rows(tmp_path / "res")
    assert row["status"] == "ok" and row["sampler"].startswith("diverse@")
    assert row["sampler.spread"] == 1.0 and row["sampler_info.spread"] == 1.0


def test_an_installed_plugin_is_a_sampler_by_its_entry_point_name(tmp_path):
    """An installed package's entry point in coreset_bench.samplers: sampler=<name> as a built-in."""
    site = tmp_path / "site"
    (site / "my_pkg").mkdir(parents=True)
    (site / "my_pkg" / "__init__.py").write_text("")
    (site / "my_pkg" / "far.py").write_text(FARTHEST)
    info = site / "my_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[coreset_bench.samplers]\nfarthest = my_pkg.far\n")
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = run_cli("run", "-m", "sampler=uniform,farthest", "budget=60",
                  f"results_dir={tmp_path / 'res'}", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    names = sorted(r["sampler"].split("@")[0] for r in _rows(tmp_path / "res"))
    assert names == ["farthest", "uniform"]


def test_a_plugin_is_keyed_the_same_whichever_way_it_is_named(tmp_path):
    """Its defaults reach the run key unchanged through Hydra's options (a string like '1e-3'
    stays a string, '${x}' is not an interpolation), so `sampler=plugin sampler.path=F` and
    `--plugins F sampler=<name>` make the same runs."""
    path = tmp_path / "knobs.py"
    path.write_text(FARTHEST.replace("start_from_labelled: bool = False",
                                     "start_from_labelled: bool = False, lr: str = '1e-3', "
                                     "note: str = '${x}', sizes: list = [1, 2.5], off: object = None")
                    .replace('name="farthest"', 'name="knobs"'))
    one = run_cli("run", "sampler=plugin", f"sampler.path={path}", "budget=60",
                  f"results_dir={tmp_path / 'a'}")
    two = run_cli("run", "--plugins", str(path), "sampler=knobs", "budget=60",
                  f"results_dir={tmp_path / 'b'}")
    assert one.returncode == 0 and two.returncode == 0, (one.stderr[-1500:], two.stderr[-1500:])
    [a], [b] = _rows(tmp_path / "a"), _rows(tmp_path / "b")
    assert a["run_key"] == b["run_key"] and a["selection_sha1"] == b["selection_sha1"]
    assert (b["sampler.lr"], b["sampler.note"], b["sampler.sizes"]) == ("1e-3", "${x}", [1, 2.5])


def test_sampler_plugin_beside_an_experiment_joins_its_group_and_published_rows_are_not_rerun(
        plugin, tmp_path):
    """The one-file way (``experiment=compare sampler=plugin sampler.path=F``) runs the plugin
    beside the experiment's samplers; with ``published=`` the built-ins' rows come from a
    published file and only the plugin runs; a regression experiment leaves a classification
    plugin out; a published path with no rows is one line."""
    built_ins = tmp_path / "built_ins"
    grid = ("budget=60", "seed=0")
    first = run_cli("run", "-m", "experiment=compare", *grid, f"results_dir={built_ins}")
    assert first.returncode == 0, first.stderr[-2000:]
    rows_file = tmp_path / "published.jsonl.gz"
    assert run_cli("results", "publish", str(built_ins), "--to", str(rows_file)).returncode == 0

    mine = tmp_path / "mine_res"
    out = run_cli("run", "-m", "experiment=compare", "sampler=plugin", f"sampler.path={plugin}",
                  f"published={rows_file}", *grid, f"results_dir={mine}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok=1 skipped=4 failed=0" in out.stderr, out.stderr[-2000:]
    rows = _rows(mine)
    assert sorted(r["sampler"].split("@")[0] for r in rows) == ["farthest", "grad", "kcenter", "loss",
                                                               "uniform"]
    assert {r.get("published") for r in rows if not r["sampler"].startswith("farthest")} == \
        {rows_file.name}

    gas = run_cli("run", "-m", "experiment=smoke_gas", "sampler=plugin", f"sampler.path={plugin}",
                  "budget=100", "seed=0", f"results_dir={tmp_path / 'gas'}")
    assert gas.returncode == 0, gas.stderr[-2000:]
    assert "ok=4 skipped=0 failed=0" in gas.stderr
    job_logs = "".join(f.read_text() for f in (tmp_path / "gas" / "hydra").rglob("*.log"))
    assert f"sampler {plugin} does not do regression: not run on gas_sensor_drift" in job_logs
    assert not any(r["sampler"].startswith("farthest") for r in _rows(tmp_path / "gas"))

    missing = run_cli("run", "-m", "experiment=compare", f"published={tmp_path / 'nothing'}", *grid,
                      f"results_dir={tmp_path / 'none'}")
    assert missing.returncode == 2 and "published=" in missing.stderr and "no published rows" in missing.stderr
    assert not (tmp_path / "none" / "rows").exists() or not _rows(tmp_path / "none")
    import gzip
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b"not a row\n"))
    broken = run_cli("run", "-m", "experiment=compare", f"published={bad}", *grid,
                     f"results_dir={tmp_path / 'none'}")
    assert broken.returncode == 2 and f"published rows {bad} do not read" in broken.stderr
    assert not (tmp_path / "none" / "rows").exists() or not _rows(tmp_path / "none")

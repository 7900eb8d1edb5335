"""The command line as a user meets it: help, one-line errors, exit codes, resume."""

from __future__ import annotations

import subprocess
import sys

import pytest

from coreset_bench import store
from coreset_bench.config import options

from conftest import REPO, run_cli


def test_help_lists_the_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("run", "data verify", "results"):
        assert command in out.stdout


@pytest.mark.parametrize("override,needle", [
    ("sampler=kcentre", "unknown sampler 'kcentre'; valid choices: "
                        + ", ".join(options("sampler"))),
    ("dataset=mnsit", "unknown dataset 'mnsit'; valid choices: cifar10, digits, fashion_mnist, "
                      "gas_sensor_drift, mnist, npy, npz, synthetic_regression, table, uci"),
    ("model=resnet", "unknown model 'resnet'; valid choices: auto, cnn, cnn_distil, linear, mlp"),
    ("experiment=fig9", "unknown experiment 'fig9'; valid choices: "
                        + ", ".join(p.stem for p in sorted((REPO / "conf" / "experiment").glob("*.yaml")))),
    ("budget=-5", "budget='-5' is not valid; budget takes a positive integer"),
])
def test_bad_names_give_one_line_and_exit_2(tmp_path, override, needle):
    out = run_cli("run", "-m", override, f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip() == f"coreset-bench: error: {needle}"
    assert store.load(tmp_path).empty


def test_unknown_command():
    out = run_cli("frobnicate")
    assert out.returncode == 2 and "valid commands: run, data, results" in out.stderr


def test_run_writes_rows_and_resumes(tmp_path):
    args = ("run", "-m", "sampler=uniform,kcenter", "budget=50", f"results_dir={tmp_path}")
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    frame = store.load(tmp_path)
    assert sorted(frame["sampler"]) == ["kcenter", "uniform"] and set(frame["status"]) == {"ok"}
    second = run_cli(*args)
    assert second.returncode == 0
    assert "runs ok=0 skipped=2 failed=0" in second.stderr
    assert len(store.load(tmp_path)) == 2
    table = run_cli("results", str(tmp_path))
    assert table.returncode == 0 and "kcenter" in table.stdout and "accuracy_mean" in table.stdout


def test_budget_larger_than_the_pool_is_rejected_before_training(tmp_path):
    out = run_cli("run", "budget=5000", f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert "coreset-bench: error: budget=5000 exceeds the pool of 1347 points" in out.stderr
    assert "Traceback" not in out.stderr
    assert store.load(tmp_path).empty  # nothing recorded


def test_failed_run_gives_exit_1_and_a_failed_row(tmp_path):
    """A run that raises mid-way (injected here) is recorded as failed; the exit code says so."""
    script = (
        "import sys\n"
        "from coreset_bench.protocols import classification as clf\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('simulated failure')\n"
        "clf.train_and_evaluate = boom\n"
        "from coreset_bench import cli\n"
        f"sys.exit(cli.main(['run', '-m', 'hydra/launcher=basic', 'sampler=uniform,loss', "
        f"'budget=40', 'results_dir={tmp_path}']))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "runs ok=0 skipped=0 failed=2" in out.stderr  # the sweep went on after a failure
    frame = store.load(tmp_path)
    assert frame["status"].tolist() == ["failed", "failed"]
    assert frame["error"].str.contains("simulated failure").all()


def test_results_on_an_empty_dir(tmp_path):
    out = run_cli("results", str(tmp_path))
    assert out.returncode == 2 and "no result rows" in out.stderr
    missing = run_cli("results", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_a_normal_run_starts_quietly(tmp_path, backend):
    """No TensorFlow/absl INFO, oneDNN notice or JAX plugin lines on a normal run; on JAX (the
    vmap engine) TensorFlow is not even imported (about 5 s of every new process)."""
    modules = tmp_path / "modules.txt"   # what the process had imported when it ended
    code = "\n".join(["import atexit, sys",
                      "path = sys.argv[1]",
                      "atexit.register(lambda: open(path, 'w').write(' '.join(sys.modules)))",
                      "from coreset_bench.cli import main",
                      "sys.exit(main(sys.argv[2:]))"])
    out = subprocess.run([sys.executable, "-c", code, str(modules), "run", "budget=40",
                          f"backend={backend}", f"results_dir={tmp_path / 'r'}"], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = set(modules.read_text().split())
    assert "keras" in imported and ("tensorflow" in imported) == (backend == "tensorflow")
    printed = out.stdout + out.stderr
    for noise in ("absl::InitializeLog", "cpu_feature_guard", "oneDNN custom operations",
                  "Unable to initialize backend", "I0000", "W0000"):
        assert noise not in printed, printed
    assert "done dataset=digits sampler=uniform budget=40" in printed


@pytest.mark.parametrize("command", ["report", "bench"])
def test_every_command_has_help(command):
    out = run_cli(command, "--help")
    assert out.returncode == 0 and out.stdout.startswith(f"usage: coreset-bench {command}")

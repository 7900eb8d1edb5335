"""Sweeps: grid expansion, paired groups, resume after a kill, failures, launchers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coreset_bench.job import execute as job
from coreset_bench import store
from coreset_bench.config import CONF_DIR, options
from coreset_bench.errors import ConfigError
from coreset_bench.protocols import classification as clf
from coreset_bench.job.sweep import count_jobs

from conftest import REPO, run_cli


def composed(*overrides: str, with_hydra: bool = False) -> dict:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides), return_hydra_config=with_hydra)
    return OmegaConf.to_container(cfg, resolve=not with_hydra)


@pytest.mark.parametrize("experiment,jobs,samplers", [
    ("fig2_mnist", 500, 4), ("fig2_fashion_mnist", 500, 4), ("fig2_cifar10", 500, 4),
    ("fig4_mnist", 500, 11), ("fig4_fashion_mnist", 500, 11), ("fig4_cifar10", 500, 11),
    ("fig1_gas", 800, 4), ("smoke", 4, 7), ("smoke_gas", 4, 4), ("demo", 30, 7),
])
def test_grid_expansion_counts(experiment, jobs, samplers):
    cfg = composed(f"experiment={experiment}", with_hydra=True)
    assert count_jobs(cfg["hydra"]["sweeper"]["params"]) == jobs
    assert len(cfg["samplers"]) == samplers


def test_the_classification_figures_are_16500_runs():
    """Figure 4's seven samplers and four extra rows, not in the paper (BADGE, TypiClust,
    ProbCover, Cluster-Margin) x 5 budgets x 100 seeds x 3 datasets; Figure 2's samplers are a
    subset of Figure 4's."""
    total = 0
    for name in ("fig4_mnist", "fig4_fashion_mnist", "fig4_cifar10"):
        cfg = composed(f"experiment={name}", with_hydra=True)
        total += count_jobs(cfg["hydra"]["sweeper"]["params"]) * len(cfg["samplers"])
    assert total == 100 * 11 * 5 * 3


def test_every_experiment_is_listed_and_composes():
    assert set(options("experiment")) >= {"fig1_gas", "fig2_mnist", "fig4_cifar10", "smoke"}
    cifar = composed("experiment=fig2_cifar10")
    assert cifar["dataset"]["eval_split"] == "train_holdout"  # forced by the mirror, recorded


def counting_prepare_group(monkeypatch):
    calls = []
    original = clf.prepare_group

    def counting(*args, **kwargs):
        calls.append(kwargs.get("needs"))
        return original(*args, **kwargs)

    monkeypatch.setattr(clf, "prepare_group", counting)
    return calls


def test_warm_start_is_trained_once_per_group(tmp_path, monkeypatch):
    calls = counting_prepare_group(monkeypatch)
    cfg = composed("budget=60", "samplers=[uniform,kcenter,loss,margin]", f"results_dir={tmp_path}")
    rows = job.execute(cfg)
    assert len(calls) == 1 and calls[0] == {"embeddings", "probs", "loss_oracle"}
    assert [r["sampler"] for r in rows] == ["uniform", "kcenter", "loss", "margin"]
    assert {r["group_size"] for r in rows} == {4} and {r["status"] for r in rows} == {"ok"}
    assert job.execute(cfg) == [None] * 4 and len(calls) == 1  # all done: no warm start at all


def test_unshared_groups_recompute_and_give_the_same_rows(tmp_path, monkeypatch):
    calls = counting_prepare_group(monkeypatch)
    shared = job.execute(composed("budget=60", "samplers=[kcenter,loss]",
                                     f"results_dir={tmp_path / 'a'}"))
    unshared = job.execute(composed("budget=60", "samplers=[kcenter,loss]", "share_group=false",
                                       f"results_dir={tmp_path / 'b'}"))
    single = job.execute(composed("budget=60", "sampler=loss", f"results_dir={tmp_path / 'c'}"))
    assert len(calls) == 1 + 2 + 1
    for a, b in zip(shared, unshared):
        assert a["run_key"] == b["run_key"] and a["selection_sha1"] == b["selection_sha1"]
        assert a["accuracy"] == b["accuracy"]
    assert single[0]["run_key"] == shared[1]["run_key"]          # same run, whichever mode
    assert single[0]["accuracy"] == shared[1]["accuracy"]


def test_group_mode_resumes_only_the_missing_samplers(tmp_path, monkeypatch):
    job.execute(composed("budget=60", "sampler=uniform", f"results_dir={tmp_path}"))
    calls = counting_prepare_group(monkeypatch)
    rows = job.execute(composed("budget=60", "samplers=[uniform,margin]", f"results_dir={tmp_path}"))
    assert rows[0] is None and rows[1]["status"] == "ok"
    assert calls == [{"probs"}]  # only what the missing sampler needs


def test_sampler_params_apply_per_sampler_in_group_mode(tmp_path):
    rows = job.execute(composed("budget=60", "samplers=[loss,grad]",
                                   "+sampler_params={loss: {lam: 0.0}}", f"results_dir={tmp_path}"))
    assert rows[0]["sampler.lam"] == 0.0 and rows[0]["sampler_info.lambda"] == 0.0
    assert rows[1]["sampler.lam"] == "auto"


@pytest.mark.parametrize("overrides,match", [
    (("samplers=[uniform,kcentre]",), "unknown sampler 'kcentre'"),
    (("samplers=[uniform,uniform]",), "lists a sampler twice"),
    (("samplers=[uniform,leverage]",), "'leverage' does not do classification"),
])
def test_group_bad_input(tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match):
        job.execute(composed(*overrides, f"results_dir={tmp_path}"))
    assert store.load(tmp_path).empty


def test_rows_made_with_other_choices_are_not_mixed(tmp_path):
    job.execute(composed("sampler=loss", "budget=60", f"results_dir={tmp_path}"))
    before = sorted(p.read_bytes() for p in (tmp_path / "rows").glob("*.json"))
    with pytest.raises(ConfigError, match=r"already has a row for digits-mlp-loss-60-0 made with "
                                          r"other choices \(sampler.lam: 'auto' -> 0.5\)"):
        job.execute(composed("sampler=loss", "budget=60", "sampler.lam=0.5",
                                f"results_dir={tmp_path}"))
    assert sorted(p.read_bytes() for p in (tmp_path / "rows").glob("*.json")) == before


def test_unwritable_results_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = run_cli("run", f"results_dir={blocker / 'x'}")
    assert out.returncode == 2
    assert out.stderr.strip() == f"coreset-bench: error: results_dir={blocker / 'x'} is not writable: Not a directory"


SWEEP = ("run", "-m", "samplers=[uniform,kcenter]", "budget=30,40,50", "seed=0,1,2,3")
GRID = {(s, b, seed) for s in ("uniform", "kcenter") for b in (30, 40, 50) for seed in range(4)}


def _snapshot(results_dir) -> dict[str, bytes]:
    """The finished row files, name -> bytes (a row file appears only complete)."""
    return {p.name: p.read_bytes() for p in (results_dir / "rows").glob("*.json")}


def _rows_on_disk(results_dir):
    rows = [json.loads(p.read_text()) for p in (results_dir / "rows").glob("*.json")]
    return [(r["sampler"], r["budget"], r["seed"], r["status"]) for r in rows]


def test_sweep_killed_midway_resumes_to_exactly_the_grid(tmp_path):
    """SIGKILL the whole sweep (main process and workers) part-way, then re-run it."""
    cmd = [sys.executable, "-m", "coreset_bench.cli", *SWEEP, f"results_dir={tmp_path}"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((tmp_path / "rows").glob("*.json"))) < 4:
        time.sleep(0.2)
    before = _snapshot(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _rows_on_disk(tmp_path)
    assert 4 <= len(partial) < len(GRID), "the kill should land part-way"
    assert {r[3] for r in partial} == {"ok"}   # a killed run leaves no row, never a bad one
    after_kill = _snapshot(tmp_path)
    assert {k: after_kill.get(k) for k in before} == before   # every finished row kept as it was

    out = run_cli(*SWEEP, f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    rows = _rows_on_disk(tmp_path)               # every file parses
    assert len(rows) == len(GRID)                # no duplicates ...
    assert {r[:3] for r in rows} == GRID         # ... and nothing missing
    assert {r[3] for r in rows} == {"ok"}
    assert f"ok={len(GRID) - len(partial)} skipped={len(partial)} failed=0" in out.stderr
    final = _snapshot(tmp_path)
    assert {k: final.get(k) for k in after_kill} == after_kill   # skipped, never rewritten
    check = run_cli("results", "check", str(tmp_path))
    assert check.returncode == 0 and "consistent" in check.stdout, check.stdout


def test_ctrl_c_stops_cleanly_and_keeps_finished_rows(tmp_path):
    cmd = [sys.executable, "-m", "coreset_bench.cli", *SWEEP, "hydra/launcher=basic",
           f"results_dir={tmp_path}"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((tmp_path / "rows").glob("*.json"))) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted; finished rows are kept" in err
    assert {r[3] for r in _rows_on_disk(tmp_path)} == {"ok"}


def test_a_failing_run_is_recorded_and_retried_on_the_next_pass(tmp_path):
    inject = (
        "import sys\n"
        "from coreset_bench.protocols import classification as clf\n"
        "original = clf.train_and_evaluate\n"
        "def flaky(group, selection, **kw):\n"
        "    if group.seed == 1:\n"
        "        raise RuntimeError('simulated failure')\n"
        "    return original(group, selection, **kw)\n"
        "clf.train_and_evaluate = flaky\n"
        "from coreset_bench import cli\n"
        f"sys.exit(cli.main(['run', '-m', 'hydra/launcher=basic', 'budget=30', 'seed=0,1,2', "
        f"'results_dir={tmp_path}']))\n")
    first = subprocess.run([sys.executable, "-c", inject], cwd=REPO, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 1 and "runs ok=2 skipped=0 failed=1" in first.stderr
    frame = store.load(tmp_path).sort_values("seed")
    assert frame["status"].tolist() == ["ok", "failed", "ok"]
    assert "simulated failure" in frame.iloc[1]["traceback"]
    second = run_cli("run", "-m", "budget=30", "seed=0,1,2", f"results_dir={tmp_path}")
    assert second.returncode == 0 and "runs ok=1 skipped=2 failed=0" in second.stderr
    assert set(store.load(tmp_path)["status"]) == {"ok"}


def test_submitit_local_launcher_runs_a_two_job_sweep(tmp_path):
    out = run_cli("run", "-m", "hydra/launcher=submitit_local", "seed=0,1", "budget=30",
                  f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "runs ok=2 skipped=0 failed=0" in out.stderr
    assert sorted(store.load(tmp_path)["seed"]) == [0, 1]


def test_a_bad_value_in_a_sweep_stops_it_with_one_line(tmp_path):
    out = run_cli("run", "-m", "budget=50,5000", f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "coreset-bench: error: budget=5000 exceeds the pool of 1347 points")


def test_loss_and_grad_of_a_group_share_one_clustering(tmp_path, monkeypatch):
    from coreset_bench.samplers import _sensitivity

    fits = []
    original = _sensitivity.cluster_points
    monkeypatch.setattr(_sensitivity, "cluster_points",
                        lambda *a, **k: fits.append(1) or original(*a, **k))
    loss, grad = job.execute(composed("budget=80", "samplers=[loss,grad]", f"results_dir={tmp_path}"))
    assert len(fits) == 1
    assert loss["sampler_info.kmeans_cost"] == grad["sampler_info.kmeans_cost"]
    assert loss["time_cluster"] == grad["time_cluster"] > 0  # each row reports the real cost


def test_rows_do_not_depend_on_the_number_of_workers(tmp_path):
    """threads=auto gives 1 worker 2 threads and 2 workers 1 thread each: same rows."""
    frames = {}
    for n_jobs in (1, 2):
        out = run_cli("run", "-m", "samplers=[uniform,kcenter,loss,grad]", "budget=60", "seed=0,1",
                      f"hydra.launcher.n_jobs={n_jobs}", f"results_dir={tmp_path / str(n_jobs)}")
        assert out.returncode == 0, out.stderr[-2000:]
        frames[n_jobs] = store.load(tmp_path / str(n_jobs)).set_index("run_key").sort_index()
    a, b = frames[1], frames[2]
    assert list(a.index) == list(b.index) and len(a) == 8
    assert a["accuracy"].tolist() == b["accuracy"].tolist()
    assert a["selection_sha1"].tolist() == b["selection_sha1"].tolist()


def test_sweeps_are_seed_major_so_a_stopped_sweep_leaves_whole_seeds():
    from hydra_plugins.coreset_bench_sweeper import ProgressSweeper, ProgressSweeperConf

    grid = [[f"budget={b}", f"seed={s}"] for b in (250, 500) for s in (0, 1, 2)]  # Hydra's order
    assert ProgressSweeperConf().order == ["seed"]
    ordered = ProgressSweeper(order=["seed"])._ordered(grid)
    assert ordered == [[f"budget={b}", f"seed={s}"] for s in (0, 1, 2) for b in (250, 500)]
    assert ProgressSweeper(order=[])._ordered(grid) == grid
    # a key the grid does not sweep leaves Hydra's order as it was
    assert ProgressSweeper(order=["model"])._ordered(grid) == grid


def test_a_damaged_row_is_rerun_by_the_sweep_and_skipped_by_results_and_report(tmp_path):
    """A half-copied row file (e.g. an interrupted rsync) costs one run, not the sweep."""
    args = ("run", "-m", "dataset=synthetic_regression", "sampler=uniform,leverage", "budget=50",
            "seed=0,1", f"results_dir={tmp_path}", "hydra.launcher.n_jobs=1")
    assert run_cli(*args).returncode == 0
    victim = sorted((tmp_path / "rows").glob("*.json"))[0]
    good = victim.read_text()
    victim.write_text(good[: len(good) // 2])                 # truncated
    for command in (("results", str(tmp_path)), ("report", f"results_dir={tmp_path}")):
        out = run_cli(*command)
        assert out.returncode == 0, out.stderr
        assert f"damaged row file {victim}: does not parse as JSON" in out.stderr
        assert "1 damaged row file(s)" in out.stderr
    again = run_cli(*args)
    assert again.returncode == 0 and "runs ok=1 skipped=3 failed=0" in again.stderr
    assert json.loads(victim.read_text())["status"] == "ok"   # re-run, same key
    assert len(list((tmp_path / "quarantine" / "rows").iterdir())) == 1
    assert len(store.load(tmp_path)) == 4


def test_a_batch_starts_its_largest_budgets_first():
    """Workers take a batch's jobs in order: largest budget first (fewer idle at its end)."""
    from hydra_plugins.coreset_bench_sweeper import ProgressSweeper

    batch = [["seed=0", "budget=250"], ["seed=0", "budget=3000"], ["seed=1", "+budget=500"],
             ["seed=1", "budget=3000"], ["seed=2"]]
    assert ProgressSweeper._longest_first(batch) == [
        ["seed=0", "budget=3000"], ["seed=1", "budget=3000"], ["seed=1", "+budget=500"],
        ["seed=0", "budget=250"], ["seed=2"]]


def test_the_sweeper_composes_beforehand_only_jobs_that_bring_a_new_override():
    """Hydra's pre-launch composition, once per new override (each is ~0.1 s between batches,
    while the workers wait); a bad value still meets it before its job is launched."""
    from types import SimpleNamespace

    from hydra_plugins.coreset_bench_sweeper import ProgressSweeper

    composed = []

    class Loader:
        def load_sweep_config(self, master_config, sweep_overrides):
            if "dataset=mnsit" in sweep_overrides:
                raise ValueError("unknown dataset 'mnsit'")
            composed.append(sweep_overrides)

    sweeper = ProgressSweeper()
    sweeper.hydra_context, sweeper.config = SimpleNamespace(config_loader=Loader()), object()
    sweeper.validate_batch_is_legal([["seed=0", "budget=1"], ["seed=1", "budget=1"]])
    sweeper.validate_batch_is_legal([["seed=0", "budget=1"], ["seed=1", "budget=2"],
                                     ["seed=0", "budget=2"]])
    assert composed == [["seed=0", "budget=1"], ["seed=1", "budget=1"], ["seed=1", "budget=2"]]
    with pytest.raises(ValueError, match="mnsit"):
        sweeper.validate_batch_is_legal([["seed=0", "budget=1", "dataset=mnsit"]])

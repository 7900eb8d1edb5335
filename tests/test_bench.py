"""The Table 1 benchmark's mechanics (its timings are measured by running it, not asserted)."""

from __future__ import annotations

import csv

import numpy as np

import pytest

from coreset_bench.bench import table1 as bench
from coreset_bench.errors import ConfigError

from conftest import run_cli


def test_table1_rows_and_csv(tmp_path):
    out = tmp_path / "t1.csv"
    lines = []
    rows = bench.table1([30, 50], out=out, echo=lambda *a, **k: lines.append(a[0]))
    assert [r["n"] for r in rows] == [30, 50] and [r["k"] for r in rows] == [6, 10]
    for r in rows:
        assert r["ratio"] == pytest.approx(r["leverage_s"] / r["kmedoids_s"])
        assert r["leverage_sum"] == pytest.approx(r["n"])  # a square Gaussian matrix has full rank
    with open(out) as fh:
        stored = list(csv.DictReader(fh))
    assert [int(r["n"]) for r in stored] == [30, 50]
    assert any("ratio leverage/k-medoids" in line for line in lines)


def test_table1_prints_the_papers_numbers_beside_its_grid():
    assert bench.PAPER_TABLE1[5000] == (36.62, 19.74)
    assert bench.PAPER_GRID == (5000, 10000, 20000, 30000)


def test_table1_refuses_a_size_that_does_not_fit_before_starting(monkeypatch):
    monkeypatch.setattr(bench, "memory_available", lambda: 10 * 2**30)
    lines = []
    with pytest.raises(ConfigError, match=r"n=30000 needs about 26.8 GiB of memory and 10.0 GiB"):
        bench.table1([100, 30000], echo=lambda *a, **k: lines.append(a[0]))
    assert lines == []  # nothing was started


@pytest.mark.parametrize("args,needle", [
    (("table1", "n=abc"), "n='abc' is not valid; give comma-separated integers"),
    (("table1", "grid=huge"), "grid='huge' is not valid; valid choices: default, paper"),
    (("table1", "size=5"), "unknown argument 'size=5'"),
    (("table9",), "unknown benchmark 'table9'; valid: table1, sweep"),
    (("sweep", "project=maybe"), "project='maybe' is not valid"),
])
def test_bench_cli_bad_input(args, needle):
    out = run_cli("bench", *args)
    assert out.returncode == 2 and needle in out.stderr


def test_bench_engine_rejects_bad_arguments():
    out = run_cli("bench", "engine", "seeds=0")
    assert out.returncode == 2 and "seeds='0' must be a positive integer" in out.stderr
    out = run_cli("bench", "engine", "gpu=yes")
    assert out.returncode == 2 and "unknown argument 'gpu=yes'" in out.stderr


def test_bench_engine_kcenter_and_kmeans_parts_on_small_data():
    from coreset_bench.bench import engine as bench_engine

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(8, 16))[rng.integers(8, size=1500)] * 3
         + rng.normal(size=(1500, 16))).astype(np.float32)
    row = bench_engine.kcenter(x, x[:20] + 0.1, 100, echo=lambda *a, **k: None)
    assert row["same_picks"] and row["bound_s"] > 0 and 0 < row["distance_fraction"] < 1
    assert row["no_pretest_s"] > 0 and row["pruned_s"] > 0
    [km] = bench_engine.kmeans(x, 8, 1, echo=lambda *a, **k: None)
    assert km["fast_inertia"] <= 1.05 * km["sklearn_inertia"]
    [sd] = bench_engine.seeding(x, 60, 1, echo=lambda *a, **k: None)
    assert sd["same_seeds"] and sd["reference_s"] > 0 and sd["marked_s"] > 0
    lines = []
    variants = bench_engine.kmeans_variants(x, 8, [km], echo=lambda line, **k: lines.append(line))
    assert {v["variant"] for v in variants} == set(bench_engine.KMEANS_VARIANTS)
    assert all(v["iters"] <= bench_engine.KMEANS_VARIANTS[v["variant"]]["iters"] for v in variants)
    assert all(v["variant_s"] > 0 and v["inertia_vs_sklearn"] > -0.05 for v in variants)
    assert len(lines) == len(bench_engine.KMEANS_VARIANTS) and "of the default's time" in lines[0]
    pc = bench_engine.probcover(x[100:], x[:100], echo=lambda *a, **k: None)
    assert pc["same"] and pc["passes"] in (1, 2) and pc["edges"] > len(x)


def test_bench_scale_measures_every_sampler_side_by_side(tmp_path):
    out_csv = tmp_path / "scale.csv"
    out = run_cli("bench", "scale", "n=3000", "d=8", "kmeans_sample=1000", f"out={out_csv}")
    assert out.returncode == 0, out.stderr[-2000:]
    import pandas as pd

    frame = pd.read_csv(out_csv)
    assert frame["sampler"].tolist() == ["uniform", "margin", "kcenter", "loss (full k-means)",
                                         "loss (k-means on 1,000)"]
    assert (frame["status"] == "ok").all() and (frame["seconds"] > 0).all()
    assert (frame["peak_mib"] > 0).all() and frame["budget"].eq(30).all()
    kc = frame.loc[frame["sampler"] == "kcenter"].iloc[0]
    assert kc["over_bound"] >= kc["picks_over_bound"] > 0
    assert "warm-start centers" in kc["note"]
    only = tmp_path / "kcenter.csv"
    out = run_cli("bench", "scale", "n=3000", "d=8", "samplers=kcenter", f"out={only}")
    assert out.returncode == 0 and pd.read_csv(only)["sampler"].tolist() == ["kcenter"]


@pytest.mark.parametrize("arg,message", [
    ("n=10", "n='10' is not valid; give comma-separated integers >= 1000"),
    ("d=0", "d='0' must be a positive integer"),
    ("size=5", "unknown argument 'size=5'; valid: n=N[,N...], d=INT, kmeans_sample=INT, "
               "time_limit=SECONDS, samplers=NAME[,NAME...], out=PATH"),
    ("samplers=kcenter,badge", "samplers='kcenter,badge': unknown badge; valid choices: "
                               "uniform, margin, kcenter, loss"),
])
def test_bench_scale_bad_input_gives_one_line(arg, message):
    out = run_cli("bench", "scale", arg)
    assert out.returncode == 2 and out.stderr.strip() == f"coreset-bench: error: {message}"

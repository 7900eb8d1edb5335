"""Result rows: atomic files, one per run_key, a DataFrame from ``load``."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from coreset_bench import results


def row(key, **extra):
    return {"run_key": key, "dataset": "digits", "model": "mlp", "sampler": "uniform",
            "budget": 10, "seed": 0, "status": "ok", "accuracy": 0.5, "loss": 1.0,
            "n_inferences": 0, **extra}


def test_write_and_load_round_trip(tmp_path):
    results.write_row(tmp_path, row("a", time_embed=np.float64(0.5)))
    results.write_row(tmp_path, row("b", seed=1))
    frame = results.load(tmp_path)
    assert list(frame.columns[:10]) == results.CORE_COLUMNS
    assert sorted(frame["run_key"]) == ["a", "b"] and frame["time_embed"].iloc[0] == 0.5


def test_rewrite_replaces_the_row(tmp_path):
    results.write_row(tmp_path, row("a", status="failed"))
    assert not results.has_ok_row(tmp_path, "a")
    results.write_row(tmp_path, row("a"))
    assert results.has_ok_row(tmp_path, "a") and len(results.load(tmp_path)) == 1


def test_partial_temporary_files_are_ignored(tmp_path):
    results.write_row(tmp_path, row("a"))
    (tmp_path / "rows" / ".b.json.123.tmp").write_text('{"run_key": "b", "sta')  # killed writer
    assert results.load(tmp_path)["run_key"].tolist() == ["a"]


def test_no_temporary_file_is_left_behind(tmp_path):
    results.write_row(tmp_path, row("a"))
    results.write_selection(tmp_path, "a", np.arange(5))
    leftovers = [p for p in (tmp_path).rglob(".*") if p.is_file()]
    assert leftovers == []
    np.testing.assert_array_equal(results.read_selection(tmp_path, "a"), np.arange(5))


def test_empty_results_dir_gives_an_empty_frame(tmp_path):
    frame = results.load(tmp_path / "nothing")
    assert frame.empty and list(frame.columns) == results.CORE_COLUMNS


def test_run_key_is_order_independent_and_sensitive_to_values():
    a = results.run_key({"x": 1, "y": {"b": 2, "a": 3}})
    assert a == results.run_key({"y": {"a": 3, "b": 2}, "x": 1})
    assert a != results.run_key({"x": 1, "y": {"b": 2, "a": 4}})
    assert len(a) == 16 and all(c in "0123456789abcdef" for c in a)
    assert os.sep not in a


DAMAGED = {
    "truncated": ('{"run_key": "x", "dataset": "dig', "does not parse as JSON"),
    "not an object": ("[1, 2, 3]", "is a JSON list, not a row object"),
    "core column missing": ('{"run_key": "x", "dataset": "digits"}',
                            "lacks the column(s) model, sampler, budget, seed, status"),
    "foreign key": (None, "holds run_key 'other', not its file name's 'x'"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_row_file_is_quarantined_and_counts_as_not_done(tmp_path, case, caplog):
    import json

    text, reason = DAMAGED[case]
    results.write_row(tmp_path, row("a"))
    path = tmp_path / "rows" / "x.json"
    path.write_text(text if text is not None else json.dumps(row("other")))
    # results / report: skipped with one line, counted, the file left where it is
    frame = results.load(tmp_path)
    assert frame["run_key"].tolist() == ["a"] and frame.attrs["damaged"] == 1
    assert any(f"damaged row file {path}: {reason}" in r.getMessage() for r in caplog.records)
    assert path.exists()
    # the sweep's check: moved aside (never deleted), the run is not done
    caplog.clear()
    assert results.read_row(tmp_path, "x") is None and not results.has_ok_row(tmp_path, "x")
    [moved] = (tmp_path / "quarantine" / "rows").iterdir()
    assert moved.name.startswith("x.json.") and not path.exists()
    assert moved.read_text() == (text if text is not None else json.dumps(row("other")))
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"damaged row file {path}: {reason}") and "not done" in line


def _ok(tmp_path, key, seed=0, **extra):
    chosen = np.arange(5) + seed
    results.write_selection(tmp_path, key, chosen)
    sha = results.selection_sha1(chosen)
    results.write_row(tmp_path, row(key, seed=seed, selection_sha1=sha, **extra))


def test_results_check_finds_each_inconsistency(tmp_path):
    from conftest import run_cli

    _ok(tmp_path, "a")
    _ok(tmp_path, "b", seed=1)
    out = run_cli("results", "check", str(tmp_path))
    assert out.returncode == 0 and out.stdout.strip().endswith("2 rows (2 ok), 0 problem(s): consistent")
    results.write_selection(tmp_path, "b", np.arange(7))                 # selection swapped
    (tmp_path / "rows" / "c.json").write_text('{"run_key": "c"')        # damaged row
    _ok(tmp_path, "d", sampler="loss")                                  # same cell as ...
    _ok(tmp_path, "e", sampler="loss", lam=0.5)                         # ... another identity
    np.save(tmp_path / "selections" / "zzz.npy", np.arange(3))           # orphan
    out = run_cli("results", "check", str(tmp_path))
    assert out.returncode == 1 and "NOT consistent" in out.stdout
    problems = [l for l in out.stdout.splitlines() if l.startswith("problem: ")]
    assert len(problems) == 3
    assert any("selections/b.npy has sha1" in p and "its row says" in p for p in problems)
    assert any("rows/c.json: does not parse as JSON" in p for p in problems)
    assert any("cell digits-mlp-loss-10-0 holds rows of 2 identities: d, e" in p for p in problems)
    assert "note: 1 orphan selection file(s) without a row" in out.stdout
    assert run_cli("results", "check", str(tmp_path / "nope")).returncode == 2


def test_results_export_writes_every_row(tmp_path):
    import pandas as pd

    from conftest import run_cli

    _ok(tmp_path, "a", versions={"numpy": "2"})
    _ok(tmp_path, "b", seed=1)
    out = run_cli("results", "export", str(tmp_path), "--to", str(tmp_path / "rows.csv"))
    assert out.returncode == 0 and out.stdout.strip() == f"2 rows written to {tmp_path / 'rows.csv'}"
    frame = pd.read_csv(tmp_path / "rows.csv")
    assert sorted(frame["run_key"]) == ["a", "b"] and '"numpy": "2"' in frame["versions"].dropna().iloc[0]
    bad = run_cli("results", "export", str(tmp_path), "--to", str(tmp_path / "rows.xlsx"))
    assert bad.returncode == 2 and "must end in .csv or .parquet" in bad.stderr


def test_a_cell_claim_is_exclusive_until_released(tmp_path):
    first = results.claim(tmp_path, "cell")
    assert first is not None and results.claim(tmp_path, "cell") is None     # held: refused
    holder = results.claim_holder(results.claim_path(tmp_path, "cell"))
    assert holder.startswith(f"{socket.gethostname()} pid {os.getpid()} since ")
    first.release()
    assert not results.claim_path(tmp_path, "cell").exists()
    again = results.claim(tmp_path, "cell")
    assert again is not None
    again.release()


def test_results_check_lists_runs_in_progress(tmp_path):
    from coreset_bench.check import check

    _ok(tmp_path, "a")
    held = results.claim(tmp_path, "digits-mlp-uniform-10-1")
    try:
        notes = check(tmp_path).notes
    finally:
        held.release()
    assert any(n.startswith("1 run(s) in progress now, e.g. digits-mlp-uniform-10-1 by ")
               for n in notes)

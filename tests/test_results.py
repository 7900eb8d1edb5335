"""Result rows: atomic files, one per run_key, a DataFrame from ``load``."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from coreset_bench import store


def row(key, **extra):
    return {"run_key": key, "dataset": "digits", "model": "mlp", "sampler": "uniform",
            "budget": 10, "seed": 0, "status": "ok", "accuracy": 0.5, "loss": 1.0,
            "n_inferences": 0, **extra}


def test_write_and_load_round_trip(tmp_path):
    store.write_row(tmp_path, row("a", time_embed=np.float64(0.5)))
    store.write_row(tmp_path, row("b", seed=1))
    frame = store.load(tmp_path)
    assert list(frame.columns[:10]) == store.CORE_COLUMNS
    assert sorted(frame["run_key"]) == ["a", "b"] and frame["time_embed"].iloc[0] == 0.5


def test_rewrite_replaces_the_row(tmp_path):
    store.write_row(tmp_path, row("a", status="failed"))
    assert not store.has_ok_row(tmp_path, "a")
    store.write_row(tmp_path, row("a"))
    assert store.has_ok_row(tmp_path, "a") and len(store.load(tmp_path)) == 1


def test_partial_temporary_files_are_ignored(tmp_path):
    store.write_row(tmp_path, row("a"))
    (tmp_path / "rows" / ".b.json.123.tmp").write_text('{"run_key": "b", "sta')  # killed writer
    assert store.load(tmp_path)["run_key"].tolist() == ["a"]


def test_no_temporary_file_is_left_behind(tmp_path):
    store.write_row(tmp_path, row("a"))
    store.write_selection(tmp_path, "a", np.arange(5))
    leftovers = [p for p in (tmp_path).rglob(".*") if p.is_file()]
    assert leftovers == []
    np.testing.assert_array_equal(store.read_selection(tmp_path, "a"), np.arange(5))


def test_empty_results_dir_gives_an_empty_frame(tmp_path):
    frame = store.load(tmp_path / "nothing")
    assert frame.empty and list(frame.columns) == store.CORE_COLUMNS


def test_run_key_is_order_independent_and_sensitive_to_values():
    a = store.run_key({"x": 1, "y": {"b": 2, "a": 3}})
    assert a == store.run_key({"y": {"a": 3, "b": 2}, "x": 1})
    assert a != store.run_key({"x": 1, "y": {"b": 2, "a": 4}})
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
    store.write_row(tmp_path, row("a"))
    path = tmp_path / "rows" / "x.json"
    path.write_text(text if text is not None else json.dumps(row("other")))
    # results / report: skipped with one line, counted, the file left where it is
    frame = store.load(tmp_path)
    assert frame["run_key"].tolist() == ["a"] and frame.attrs["damaged"] == 1
    assert any(f"damaged row file {path}: {reason}" in r.getMessage() for r in caplog.records)
    assert path.exists()
    # the sweep's check: moved aside (never deleted), the run is not done
    caplog.clear()
    assert store.read_row(tmp_path, "x") is None and not store.has_ok_row(tmp_path, "x")
    [moved] = (tmp_path / "quarantine" / "rows").iterdir()
    assert moved.name.startswith("x.json.") and not path.exists()
    assert moved.read_text() == (text if text is not None else json.dumps(row("other")))
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"damaged row file {path}: {reason}") and "not done" in line


def _ok(tmp_path, key, seed=0, **extra):
    chosen = np.arange(5) + seed
    store.write_selection(tmp_path, key, chosen)
    sha = store.selection_sha1(chosen)
    store.write_row(tmp_path, row(key, seed=seed, selection_sha1=sha, **extra))


def test_results_check_finds_each_inconsistency(tmp_path):
    from conftest import run_cli

    _ok(tmp_path, "a")
    _ok(tmp_path, "b", seed=1)
    out = run_cli("results", "check", str(tmp_path))
    assert out.returncode == 0 and out.stdout.strip().endswith("2 rows (2 ok), 0 problem(s): consistent")
    store.write_selection(tmp_path, "b", np.arange(7))                 # selection swapped
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
    first = store.claim(tmp_path, "cell")
    assert first is not None and store.claim(tmp_path, "cell") is None     # held: refused
    holder = store.claim_holder(store.claim_path(tmp_path, "cell"))
    assert holder.startswith(f"{socket.gethostname()} pid {os.getpid()} since ")
    first.release()
    assert not store.claim_path(tmp_path, "cell").exists()
    again = store.claim(tmp_path, "cell")
    assert again is not None
    again.release()


def test_results_check_lists_runs_in_progress(tmp_path):
    from coreset_bench.store.check import check

    _ok(tmp_path, "a")
    held = store.claim(tmp_path, "digits-mlp-uniform-10-1")
    try:
        notes = check(tmp_path).notes
    finally:
        held.release()
    assert any(n.startswith("1 run(s) in progress now, e.g. digits-mlp-uniform-10-1 by ")
               for n in notes)


def test_results_check_repair_mends_what_a_resume_leaves(tmp_path):
    """Issue 19: garbage saved as a row beside finished runs belongs to no planned run, so no
    resume ever quarantines it and `results check` stayed NOT consistent; --repair mends it."""
    from conftest import run_cli

    _ok(tmp_path, "a")
    _ok(tmp_path, "b", seed=1)
    (tmp_path / "rows" / "0000000000000000.json").write_bytes(b"\x00garbage")   # no run of ours
    _ok(tmp_path, "c", seed=2, selection_saved=True)
    (tmp_path / "selections" / "c.npy").unlink()                              # ok row, lost selection
    (tmp_path / "cells").mkdir(exist_ok=True)
    (tmp_path / "cells" / "digits-mlp-uniform-10-9").write_text("gone")         # marker, no row
    (tmp_path / "rows" / ".a.json.123.tmp").write_text("{")                     # a killed writer's
    os.utime(tmp_path / "rows" / ".a.json.123.tmp", (1e9, 1e9))                 # ... long ago
    (tmp_path / "rows" / ".b.json.124.tmp").write_text("{")                     # one at work: kept
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "digits-mlp-uniform-10-7.lock").write_text("pid 1")  # a killed holder's
    held = store.claim(tmp_path, "digits-mlp-uniform-10-8")                     # a live one ...
    (tmp_path / "cells" / "digits-mlp-uniform-10-8").write_text("in-flight")    # ... writing
    try:
        before = run_cli("results", "check", str(tmp_path))
        assert before.returncode == 1 and "NOT consistent" in before.stdout
        out = run_cli("results", "check", "--repair", str(tmp_path))
        assert out.returncode == 0, out.stdout
        assert out.stdout.strip().endswith("2 rows (2 ok), 0 problem(s): consistent")
        repaired = [l for l in out.stdout.splitlines() if l.startswith("repaired: ")]
        assert len(repaired) == 6, repaired      # 2 quarantined, 2 markers, 1 claim, 1 tmp
        assert store.claim_path(tmp_path, "digits-mlp-uniform-10-8").exists()  # never a live claim
        assert (tmp_path / "cells" / "digits-mlp-uniform-10-8").exists()         # nor its cell
        assert (tmp_path / "rows" / ".b.json.124.tmp").exists()                   # nor a young tmp
    finally:
        held.release()
    quarantined = sorted(p.name.split(".")[0] for p in (tmp_path / "quarantine").rglob("*.json*"))
    assert quarantined == ["0000000000000000", "c"]                           # kept, never deleted
    assert not (tmp_path / "cells" / "digits-mlp-uniform-10-9").exists()
    assert not (tmp_path / "claims" / "digits-mlp-uniform-10-7.lock").exists()
    assert not (tmp_path / "rows" / ".a.json.123.tmp").exists()
    assert run_cli("results", "check", str(tmp_path)).returncode == 0


def test_results_check_repair_does_not_choose_between_identities(tmp_path):
    from coreset_bench.store.check import check

    _ok(tmp_path, "d", sampler="loss")
    _ok(tmp_path, "e", sampler="loss", lam=0.5)
    rep = check(tmp_path, repair_first=True)
    assert not rep.consistent and rep.repaired == []
    assert any("holds rows of 2 identities: d, e (keep one: --repair will not choose)" in p
               for p in rep.problems)
    assert sorted(p.stem for p in (tmp_path / "rows").glob("*.json")) == ["d", "e"]


def test_the_store_transaction_skips_done_runs_and_leaves_held_cells(tmp_path):
    cell = {"dataset": "digits", "model": "mlp", "sampler": "uniform", "budget": 10}
    done, todo, other = (store.Run(k, {**cell, "seed": s}) for k, s in (("a", 0), ("b", 1), ("c", 2)))
    _ok(tmp_path, "a")
    with store.claimed(tmp_path, [done, todo, other], wait=False) as first:
        assert first.mine == ["b", "c"] and first.done == {"a"} and not first.busy
        with store.claimed(tmp_path, [todo], wait=False) as second:   # another worker's view
            assert second.mine == [] and second.busy == {"b"}
    with store.claimed(tmp_path, [todo], wait=False) as third:          # released on exit
        assert third.mine == ["b"]
    with store.claimed(tmp_path, [done], force=True) as forced:
        assert forced.mine == ["a"]
    foreign = store.Run("z", {**cell, "seed": 0}, {"sampler.lam": 0.5})
    with pytest.raises(Exception, match="already has a row for digits-mlp-uniform-10-0 made with "
                                        "other choices"):
        with store.claimed(tmp_path, [foreign]):
            pass

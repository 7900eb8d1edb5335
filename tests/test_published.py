"""Published rows (docs/reproduction/rows/*.jsonl.gz): same bytes for the same rows, readable by
`results` and `report`, and a fresh results directory resumes from them (issue 22)."""

from __future__ import annotations

import gzip
import json

from conftest import run_cli

from coreset_bench import store
from coreset_bench.store import published


def test_a_fresh_results_dir_resumes_from_published_rows(tmp_path):
    made, fresh = tmp_path / "made", tmp_path / "fresh"
    sweep = ("run", "-m", "sampler=uniform,kcenter", "budget=40,60", "seed=0")
    out = run_cli(*sweep, f"results_dir={made}")
    assert out.returncode == 0, out.stderr[-2000:]
    # a failed row is not published
    bad = dict(json.loads(next((made / "rows").glob("*.json")).read_text()), status="failed")
    bad["run_key"] = "f" * 16
    store.write_row(made, bad)

    pub = tmp_path / "rows" / "demo.jsonl.gz"
    out = run_cli("results", "publish", str(made), "--to", str(pub), "--where", "sampler=uniform,kcenter")
    assert out.returncode == 0 and "4 ok rows written" in out.stdout, out.stderr
    first = pub.read_bytes()
    assert run_cli("results", "publish", str(made), "--to", str(pub)).returncode == 0
    assert pub.read_bytes() == first                      # same rows, same bytes
    lines = gzip.decompress(first).decode().splitlines()
    keys = [json.loads(line)["run_key"] for line in lines]
    assert keys == sorted(keys) and len(keys) == 4
    # what the published file holds is the rows as written, selection digest included
    on_disk = {r["run_key"]: r for r in (json.loads(p.read_text()) for p in (made / "rows").glob("*.json"))}
    for line in lines:
        r = json.loads(line)
        assert r == on_disk[r["run_key"]] and r["selection_sha1"]

    table = run_cli("results", str(pub))
    assert table.returncode == 0 and "kcenter" in table.stdout and "accuracy_mean" in table.stdout
    folder = run_cli("results", str(pub.parent))
    assert folder.returncode == 0 and folder.stdout == table.stdout

    out = run_cli("results", "import", str(pub.parent), str(fresh))
    assert out.returncode == 0 and "4 rows imported, 0 already done" in out.stdout, out.stdout
    assert not (fresh / "selections").exists()            # the indices stay out of the repository
    assert all(store.has_ok_row(fresh, k) for k in keys)  # done without their selection files
    again = run_cli(*sweep, "seed=0,1", f"results_dir={fresh}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "runs ok=4 skipped=4 failed=0" in again.stderr  # only seed 1 ran
    assert run_cli("results", "check", str(fresh)).returncode == 0
    second = run_cli("results", "import", str(pub), str(fresh))
    assert "0 rows imported, 4 already done there" in second.stdout


def test_bad_published_input_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "x.jsonl.gz").write_bytes(b"not gzip")
    out = run_cli("results", "import", str(tmp_path / "nothing"), str(tmp_path / "r"))
    assert out.returncode == 2 and "is not a published rows file" in out.stderr
    out = run_cli("results", "publish", str(tmp_path / "nothing"), "--to", str(tmp_path / "a.jsonl.gz"))
    assert out.returncode == 2 and "no result rows under" in out.stderr
    assert published.is_published(tmp_path / "x.jsonl.gz")
    out = run_cli("results", str(tmp_path / "x.jsonl.gz"))
    assert out.returncode != 0 and "do not read" in out.stderr and "Traceback" not in out.stderr


def test_rows_record_the_codes_commit(tmp_path, monkeypatch):
    """Every row names the commit it ran on and whether the tree had uncommitted changes; a copy
    of the tree without a trustworthy .git is told by CORESET_BENCH_COMMIT / _DIRTY."""
    import subprocess

    from coreset_bench.job import execute

    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=execute.Path(execute.__file__).parents[2])
    execute.code_version.cache_clear()
    monkeypatch.delenv("CORESET_BENCH_COMMIT", raising=False)
    if head.returncode == 0:
        assert execute.code_version()["code_commit"] == head.stdout.strip()
        assert execute.code_version()["code_dirty"] in (True, False)
    execute.code_version.cache_clear()
    monkeypatch.setenv("CORESET_BENCH_COMMIT", "abc123")
    monkeypatch.setenv("CORESET_BENCH_DIRTY", "0")
    try:
        assert execute.code_version() == {"code_commit": "abc123", "code_dirty": False}
        out = run_cli("run", "budget=30", f"results_dir={tmp_path}")
        assert out.returncode == 0, out.stderr[-2000:]
        [row] = [json.loads(p.read_text()) for p in (tmp_path / "rows").glob("*.json")]
        assert row["code_commit"] == "abc123" and row["code_dirty"] is False
    finally:
        execute.code_version.cache_clear()


def test_a_report_header_names_the_commits_its_rows_came_from():
    import pandas as pd

    from coreset_bench.report.tables import code_commits

    rows = pd.DataFrame({"code_commit": ["a" * 40, "a" * 40, "b" * 40, None],
                         "code_dirty": [False, True, False, None]})
    assert code_commits(rows) == (
        "Code: aaaaaaaaaa (2 rows, 1 with uncommitted changes); bbbbbbbbbb (1 rows); "
        "not recorded (1 rows, written before rows named their commit).")
    assert code_commits(pd.DataFrame({"seed": [0]})).startswith("Code: not recorded (1 rows")


def test_a_folder_of_published_files_counts_a_shared_row_once(tmp_path):
    rows = [{"run_key": f"{i:016x}", "dataset": "digits", "model": "mlp", "sampler": "uniform",
             "budget": 10, "seed": i, "status": "ok", "accuracy": 0.5} for i in range(3)]
    (tmp_path / "a.jsonl.gz").write_bytes(published.encode(rows[:2]))
    (tmp_path / "b.jsonl.gz").write_bytes(published.encode(rows[1:]))   # row 1 in both
    assert len(store.load(tmp_path)) == 3
    counts = published.import_rows(tmp_path, tmp_path / "res")
    assert counts == {"imported": 3, "present": 1, "conflict": 0}
    (tmp_path / "c.jsonl.gz").write_bytes(published.encode([{"run_key": "x"}]))
    out = run_cli("results", str(tmp_path))
    assert out.returncode == 2 and "c.jsonl.gz, line 1: not a row (no dataset)" in out.stderr


def test_a_rows_folder_imports_into_the_results_layout_and_the_report_reads_it_in_place(tmp_path):
    """docs/reproduction/rows/ mirrors results/: theory/ and ablations/ files go to
    results/<sub>/<name>/, bench/ and investigations/ tables are copied; the report reads the
    folder itself (Theorem 5 and ablation parts included) as it reads a results directory."""
    made = tmp_path / "made"
    assert run_cli("run", "-m", "sampler=uniform,kcenter", "budget=40", "seed=0,1,2,3,4",
                   f"results_dir={made}").returncode == 0
    rows = tmp_path / "rows"
    published.publish(made, rows / "main.jsonl.gz")
    keys = {r["run_key"] for r in published.read(rows / "main.jsonl.gz")}
    one = sorted(keys)[:1]
    assert published.publish(made, rows / "ablations" / "abl_x.jsonl.gz", keys=set(one)) == 1
    (rows / "bench").mkdir()
    (rows / "bench" / "table1.csv").write_text("n,ratio\n1000,2.0\n")
    assert set(published.parts(rows, "ablations")) == {"abl_x"}
    fresh = tmp_path / "fresh"
    out = run_cli("results", "import", str(rows), str(fresh))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("11 rows imported, 0 already done there, 0 left out "
                                       "(their cell holds another identity); 1 table(s) copied")
    assert store.has_ok_row(fresh / "ablations" / "abl_x", one[0])
    assert (fresh / "bench" / "table1.csv").read_text() == "n,ratio\n1000,2.0\n"
    assert set(published.parts(fresh, "ablations")) == {"abl_x"}   # a folder there
    assert len(store.load(rows)) == 10 and len(store.load(fresh)) == 10


def test_check_published_makes_runs_again_and_finds_them_identical_or_not(tmp_path):
    """scripts/check_published.py: the same runs made again with this checkout have the same
    selections and metrics as their published copies; a tampered copy is reported, exit 1."""
    import subprocess
    import sys

    made = tmp_path / "made"
    assert run_cli("run", "-m", "experiment=demo", "seed=0", "budget=100", "samplers=[uniform,kcenter]",
                   f"results_dir={made}").returncode == 0
    pub = tmp_path / "demo.jsonl.gz"
    assert published.publish(made, pub) == 2
    script = [sys.executable, "scripts/check_published.py", "demo", str(pub), "--seeds", "0",
              "--budgets", "100", "samplers=[uniform,kcenter]"]
    out = subprocess.run(script, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 compared with" in out.stdout and "2 identical (selection and metrics), 0 differ" in out.stdout
    # a copy that differs is reported (the comparison itself, without making the runs again)
    sys.path.insert(0, "scripts")
    try:
        from check_published import compare
    finally:
        sys.path.remove("scripts")
    rows = published.read(pub)
    tampered = {r["run_key"]: dict(r) for r in rows}
    tampered[rows[0]["run_key"]]["accuracy"] += 0.01
    bad, compared, missing = compare(rows, tampered)
    assert compared == 2 and missing == 0 and len(bad) == 1 and "accuracy" in bad[0]
    assert compare(rows, {})[1:] == (0, 2)


def test_the_publish_script_plans_exactly_the_run_keys_of_a_committed_part():
    """scripts/publish_reproduction.py publishes a part as its experiment's planned run keys: for
    a committed part they are exactly the keys in its file (none missing, none extra)."""
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "scripts"))
    try:
        from publish_reproduction import _makefile_list, planned
    finally:
        sys.path.remove(str(repo / "scripts"))
    keys, results_dir = planned("abl_gas_batches6", [])
    committed = {r["run_key"] for r in published.read(repo / "docs/reproduction/rows/ablations/abl_gas_batches6.jsonl.gz")}
    assert results_dir == "results/ablations/abl_gas_batches6" and keys == committed and len(keys) == 180
    assert "abl_gas_batches6" in _makefile_list("ABLATIONS") and "thm5_mnist" in _makefile_list("THEORY")


def test_the_publish_script_refuses_an_unknown_part_with_one_line():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "scripts/publish_reproduction.py", "results", "--only", "fig9"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("publish_reproduction: unknown part 'fig9'; valid parts: fig1_gas,")
    assert len(out.stderr.strip().splitlines()) == 1

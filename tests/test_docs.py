"""The README and docs/ stay true: the headline findings are the generated report's, and every
`coreset-bench ...` / `make ...` line of their code blocks runs as written.

Each command is checked cheaply but for real: `make X` -> X is a target `make help` lists;
`coreset-bench run ...` -> run with `--cfg job` appended (Hydra composes the config and exits
without running; a sweep (-m) is composed once per value of its comma lists, since Hydra
refuses --cfg with -m); `results` -> run on a copy of real rows; `data verify` -> run;
`report`, `bench`, `embed` -> `--help` as written, else their arguments parsed by their own
parsers (embed's overrides composed by `run --cfg job`). Blocks marked `<!-- test: run -->`
just above run fully, line by line, in a temporary folder (keep them demo-sized).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, run_cli

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]   # not docs/reproduction/
RUN_MARK = "<!-- test: run -->"
BIN = Path(sys.executable).parent
CLI = BIN / "coreset-bench"


@dataclass(frozen=True)
class Block:
    path: Path
    line: int          # 1-based line of the opening fence
    lang: str
    lines: tuple[str, ...]
    runnable: bool


def code_blocks(path: Path) -> list[Block]:
    out, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        runnable = i > 0 and lines[i - 1].strip() == RUN_MARK
        out.append(Block(path, i + 1, fence.group(1), tuple(lines[i + 1:end]), runnable))
        i = end + 1
    return out


def command_lines(block: Block) -> list[str]:
    """The block's shell commands, trailing comments stripped."""
    if block.lang not in ("sh", "bash", "shell", "console"):
        return []
    stripped = (re.sub(r"\s+#\s.*$", "", line).strip() for line in block.lines)
    return [line for line in stripped if line and not line.startswith("#")]


BLOCKS = [b for path in DOCS for b in code_blocks(path)]
COMMANDS = [(b, c) for b in BLOCKS if not b.runnable for c in command_lines(b)
            if c.startswith(("coreset-bench ", "make "))]


def _id(item) -> str:
    block, command = item
    return f"{block.path.relative_to(REPO)}:{block.line}:{command[:60]}"


def _by(kind: str) -> list:
    return [pytest.param(b, c, id=_id((b, c))) for b, c in COMMANDS
            if shlex.split(c)[:2] == ["coreset-bench", kind] or (kind == "make" and c.startswith("make "))]


def _env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _cli(args: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def test_the_docs_have_commands_of_every_kind():
    kinds = {shlex.split(c)[1] if c.startswith("coreset-bench") else "make" for _, c in COMMANDS}
    assert kinds == {"run", "results", "report", "bench", "data", "embed", "make"}
    assert any(b.runnable for b in BLOCKS)
    assert {p.name for p in DOCS} >= {"README.md", "usage.md", "own-data.md", "results-store.md",
                                      "speed.md", "layout.md"}


# -- README: short, its first screen, the generated headline ---------------------------------

def _make_help() -> dict[str, str]:
    out = subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return dict(re.match(r"\s*make (\S+)\s+(.*)$", line).groups()
                for line in out.stdout.splitlines() if line.strip())


def test_the_readme_is_short_and_its_first_screen_has_the_two_commands():
    readme = (REPO / "README.md").read_text().splitlines()
    assert len(readme) < 150
    first = "\n".join(readme[:40])
    targets = _make_help()
    shown = re.findall(r"^make (\w[\w-]*)\s+# (.*)$", first, flags=re.M)
    assert [t for t, _ in shown] == ["demo", "test"]
    for target, comment in shown:          # the same words as `make help`
        assert comment == targets[target], (target, comment, targets[target])


def test_the_readme_headline_is_the_published_report_s():
    from coreset_bench.report.build import HEADLINE_END, HEADLINE_START, headline

    readme = (REPO / "README.md").read_text()
    block = readme.split(HEADLINE_START, 1)[1].split(HEADLINE_END, 1)[0].strip("\n")
    index = (REPO / "docs" / "reproduction" / "index.md").read_text()
    assert block + "\n" == headline(index, "docs/reproduction"), \
        "README's headline drifted from docs/reproduction/index.md: run `make report`"
    assert "seeds 0..99" in block.splitlines()[0]
    assert "### Verdicts at a glance" in block and "| claim of the paper | verdict |" in block


def test_sync_readme_rewrites_only_the_block(tmp_path):
    from coreset_bench.report.build import ReportError, headline, sync_readme

    index = tmp_path / "docs" / "reproduction" / "index.md"
    index.parent.mkdir(parents=True)
    index.write_text("# Report\n\nGenerated by `x` from 4 rows, seeds 0..2. More.\n\n"
                     "## Verdicts at a glance\n\n| claim | verdict |\n|---|---|\n| a | holds |\n\n"
                     "See [details](#details) and [a table](tables/t.md).\n\n## Details\n\nno\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- headline:start -->\nold\n<!-- headline:end -->\nrest\n")
    assert sync_readme(readme, index) is True
    text = readme.read_text()
    assert text.startswith("intro\n<!-- headline:start -->\nGenerated by `x` from 4 rows, seeds 0..2.")
    assert "(docs/reproduction/index.md#details)" in text and "(docs/reproduction/tables/t.md)" in text
    assert "## Details" not in text and "\nold\n" not in text and text.endswith("<!-- headline:end -->\nrest\n")
    assert sync_readme(readme, index) is False                      # idempotent
    assert headline(index.read_text()).startswith("Generated by `x`")
    readme.write_text("no markers\n")
    with pytest.raises(ReportError):
        sync_readme(readme, index)


# -- make ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("block", "command"), _by("make"))
def test_a_make_command_names_a_target(block, command):
    targets = [a for a in shlex.split(command)[1:] if "=" not in a and not a.startswith("-")]
    assert targets and set(targets) <= set(_make_help()), command


# -- coreset-bench run: composed by Hydra (--cfg job) ----------------------------------------

def compositions(args: list[str]) -> list[list[str]]:
    """`run` arguments to check with --cfg job: as written without -m; with -m, once per value
    of its longest comma list (a=x,y,z), the others and any range(...) cycled along."""
    if not any(a in ("-m", "--multirun") for a in args):
        return [args]
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep

    args = [a for a in args if a not in ("-m", "--multirun")]
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    parsed = dict(zip(overrides, OverridesParser.create().parse_overrides(overrides)))
    sweeps = {a: list(o.sweep_string_iterator()) for a, o in parsed.items() if o.is_sweep_override()}
    n = max([len(sweeps[a]) for a in sweeps if isinstance(parsed[a].value(), ChoiceSweep)] or [1])
    return [[f"{parsed[a].get_key_element()}={sweeps[a][i % len(sweeps[a])]}" if a in sweeps else a
             for a in args] for i in range(n)]


def test_compositions_cover_every_swept_value():
    assert compositions(["dataset=mnist", "seed=1"]) == [["dataset=mnist", "seed=1"]]
    got = compositions(["-m", "sampler=uniform,loss,grad", "budget=1,2", "seed=range(0,100)"])
    assert got == [["sampler=uniform", "budget=1", "seed=0"], ["sampler=loss", "budget=2", "seed=1"],
                   ["sampler=grad", "budget=1", "seed=2"]]


@pytest.mark.parametrize(("block", "command"), _by("run"))
def test_a_run_command_composes(block, command, tmp_path):
    """In this process (``run_cli``): what is checked is Hydra's composition, not a shell's
    start-up (the runnable blocks below run as a user's shell does): 51 compositions, 3 s of
    imports each as processes."""
    args = shlex.split(command)[2:]
    if any(a in ("--help", "-h") for a in args):
        out = run_cli("run", *args, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        return
    for overrides in compositions(args):
        out = run_cli("run", *overrides, "--cfg", "job", cwd=tmp_path)
        assert out.returncode == 0, f"{shlex.join(overrides)}: {out.stderr[-2000:]}"
        assert "budget:" in out.stdout and not list(tmp_path.iterdir())   # composed, ran nothing


# -- blocks that run fully -------------------------------------------------------------------

@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    """Every runnable block, line by line, in one fresh folder (shared with the tests below)."""
    folder = tmp_path_factory.mktemp("docs-run")
    for block in (b for b in BLOCKS if b.runnable):
        for command in command_lines(block):
            out = subprocess.run(command, shell=True, cwd=folder, env=_env(), capture_output=True,
                                 text=True, timeout=300)
            assert out.returncode == 0, f"{block.path.name}:{block.line}: {command}: {out.stderr[-2000:]}"
    return folder


def test_the_runnable_blocks_run_as_written(ran):
    from coreset_bench import store

    rows = store.load(ran / "results" / "first")
    assert len(rows) == 2 and (rows["status"] == "ok").all()
    assert (ran / "rows.csv").is_file() and (ran / "results" / "first" / "report" / "index.md").is_file()
    mine = store.load(ran / "results" / "mine")          # docs/plugins.md: a plugin, end to end
    assert len(mine) == 24 and (mine["status"] == "ok").all()
    label = next(s for s in mine["sampler"].unique() if s.startswith("mine@"))
    assert label in (ran / "results" / "mine" / "report" / "index.md").read_text()


def test_a_report_into_docs_reproduction_rewrites_that_readme_s_headline(ran, tmp_path):
    from coreset_bench.report.build import headline

    readme = tmp_path / "README.md"
    readme.write_text("# mine\n<!-- headline:start -->\n<!-- headline:end -->\n")
    out = _cli(["report", f"results_dir={ran / 'results' / 'first'}", "out=docs/reproduction"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    index = (tmp_path / "docs" / "reproduction" / "index.md").read_text()
    assert headline(index, "docs/reproduction") in readme.read_text()
    assert "seeds 0..0" in readme.read_text()


# -- results, report, bench, data, embed -----------------------------------------------------

@pytest.mark.parametrize(("block", "command"), _by("results"))
def test_a_results_command_runs_on_real_rows(block, command, ran, tmp_path):
    args = shlex.split(command)[2:]
    rest = args[1:] if args and args[0] in ("check", "export") else args
    positional = [a for i, a in enumerate(rest) if not a.startswith("-")
                  and (i == 0 or rest[i - 1] != "--to")]
    for folder in positional or ["results"]:    # stand-in rows where the command reads them
        shutil.copytree(ran / "results" / "first", tmp_path / folder, dirs_exist_ok=True)
    out = _cli(["results", *args], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize(("block", "command"), _by("report"))
def test_a_report_command_parses(block, command, tmp_path):
    from coreset_bench.config import options
    from coreset_bench.report.build import cli_options

    args = shlex.split(command)[2:]
    if args[:1] in (["--help"], ["-h"]):
        assert _cli(["report", *args], tmp_path).returncode == 0
        return
    opts = cli_options(args)
    assert opts.get("experiment", "demo") in options("experiment")


@pytest.mark.parametrize(("block", "command"), _by("bench"))
def test_a_bench_command_parses(block, command, tmp_path, monkeypatch):
    from coreset_bench import bench
    from coreset_bench.bench import engine, scale, table1, throughput

    args = shlex.split(command)[2:]
    if args[:1] in (["--help"], ["-h"]):
        out = _cli(["bench", *args], tmp_path)
        assert out.returncode == 0 and "table1" in out.stdout
        return
    calls = []
    for module, name in ((table1, "table1"), (engine, "run"), (scale, "run"),
                         (throughput, "sweep_throughput"), (throughput, "launcher_comparison")):
        monkeypatch.setattr(module, name, lambda *a, _n=name, **k: calls.append((_n, a, k)))
    monkeypatch.setattr(throughput, "slurm_available", lambda: True)   # as on a cluster
    bench.run(args)                       # the real argument parsing, the benchmark stubbed
    expected = {"table1": ["table1"], "engine": ["run"], "scale": ["run"]}.get(args[0])
    if args[0] == "sweep":
        expected = (["sweep_throughput"] if "launchers=false" not in args else []) + (
            ["launcher_comparison"] if any(a in args for a in ("slurm=true", "slurm=auto")) else [])
    assert [name for name, _, _ in calls] == expected


@pytest.mark.parametrize(("block", "command"), _by("data"))
def test_a_data_command_runs(block, command, tmp_path):
    out = _cli(shlex.split(command)[1:], tmp_path)
    assert out.returncode in (0, 1) and "error" not in out.stderr, out.stderr[-2000:]  # 1: incomplete mirror
    assert "data directory:" in out.stdout


@pytest.mark.parametrize(("block", "command"), _by("embed"))
def test_an_embed_command_parses(block, command, tmp_path):
    args = shlex.split(command)[2:]
    if args[:1] in (["--help"], ["-h"]):
        out = _cli(["embed", *args], tmp_path)
        assert out.returncode == 0 and "out=FILE.npy" in out.stdout
        return
    outs = [a for a in args if a.startswith("out=")]
    assert len(outs) == 1 and outs[0].endswith(".npy")
    overrides = [a for a in args if not a.startswith("out=")]
    out = _cli(["run", *overrides, "--cfg", "job"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]


# -- python blocks, and the layout page -------------------------------------------------------

@pytest.mark.parametrize("block", [pytest.param(b, id=f"{b.path.relative_to(REPO)}:{b.line}")
                                   for b in BLOCKS if b.lang == "python"])
def test_a_python_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile("\n".join(block.lines), str(block.path), "exec"), {})   # noqa: S102


def test_the_layout_page_lists_every_module():
    layout = (REPO / "docs" / "layout.md").read_text()
    tree = layout.split("```", 2)[1]
    package = REPO / "coreset_bench"
    for path in sorted(package.rglob("*.py")):
        if path.name != "__init__.py" and "__pycache__" not in path.parts:
            assert re.search(rf"(?<![\w.]){re.escape(path.name)}\b", tree), path.relative_to(REPO)
    for folder in sorted(p for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert f"  {folder.name}/" in tree, folder.name
    listed = set(re.findall(r"\b(\w+\.py)\b", tree))
    present = {p.name for d in ("coreset_bench", "hydra_plugins", "scripts")
               for p in (REPO / d).rglob("*.py")}
    assert listed <= present, listed - present


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#+ (.*)$", path.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_the_links_between_the_pages_resolve():
    for page in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            assert dest.exists(), f"{page.name}: {target}"
            if anchor and dest.suffix == ".md":
                assert anchor in _anchors(dest), f"{page.name}: {target}"

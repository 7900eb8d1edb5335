"""``coreset-bench``: a thin dispatcher over the Hydra app and a few utility commands."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from .job import interrupts
from .config import options

USAGE = """usage: coreset-bench <command> [args]

commands:
  run [--plugins PATH] [OVERRIDES...]
                           one experiment, or a sweep with -m (Hydra syntax); --plugins: your
                           sampler files (or a folder of them), then sampler=<its name>
                           e.g. coreset-bench run dataset=mnist sampler=loss budget=2000 seed=3
                                coreset-bench run -m experiment=demo
                           coreset-bench run --help   lists config groups and options
  new-sampler NAME         write NAME.py, a sampler plugin that runs as is (docs/plugins.md)
  data verify [NAME...]    check a dataset's files and checksums (default: all datasets);
                           exit 0 only if every requested dataset is complete
  embed out=FILE.npy [OVERRIDES...]
                           write the warm-start model's embeddings of the dataset (same overrides
                           as run) for reuse: +dataset.embeddings=FILE.npy
  results [DIR]            summary table of the rows in DIR (default results): mean, 95% interval,
                           seeds, paired difference from uniform with its interval and p value
  results check [DIR] [--repair]
                           is DIR consistent (rows parse, selections match, one identity per
                           cell)? lists orphans and quarantined files; exit 0 only if so;
                           --repair first quarantines damaged files, removes stale claims
  results export DIR --to FILE.csv|FILE.parquet
                           every row as one table for pandas or R
  report [results_dir=results] [baseline=SAMPLER] [experiment=NAME] [out=DIR]
                           tables and figures -> DIR (default results_dir/report): the paper's
                           report on its rows, else every method compared with the baseline
  bench table1 [n=1000,2000,5000 | grid=paper] [seed=0] [out=results/bench/table1.csv]
                           the paper's Table 1: leverage scores vs k-medoids runtime, side by side
  bench sweep [project=true|false]
                           sweep throughput: 1 vs 2 workers, shared vs per-sampler warm start,
                           and the projected wall time of the full MNIST Figure 2 sweep
  bench scale [n=100000,300000,1000000] [d=128] [kmeans_sample=50000] [time_limit=600]
                           selection time and peak memory of every sampler on large pools
  bench engine [k_train=2000] [k_cluster=2000] [k_center=3000] [seeds=3] [cnn=false]
                           the vectorized engine vs the reference paths, side by side: training
                           per model (vmap/jax vs keras_fit/tensorflow), k-means vs scikit-learn
                           (time, inertia), k-center vs float64 reference and bandwidth bound

Data is read from $CORESET_BENCH_DATA (default ~/.cache/coreset-bench/data).
"""

GROUPS = ("dataset", "model", "sampler", "experiment")


def _fail(message: str) -> int:
    print(f"coreset-bench: error: {message}", file=sys.stderr)
    return 2


def check_overrides(args: list[str]) -> str | None:
    """One-line message for an unknown group option or a non-integer budget, else None.

    Hydra's own errors for these are multi-line; this check runs before Hydra and handles
    plain values and comma-separated sweeps (other sweep forms are left to Hydra). ``budget``
    is also checked per value because Hydra would only fail on it inside the job.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    candidates = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
    except HydraException:
        return None  # Hydra reports syntax errors itself
    for override in parsed:
        key = override.key_or_group
        if (key not in GROUPS and key != "budget") or override.is_delete():
            continue
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                continue
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        valid = options(key) if key in GROUPS else []
        if key == "sampler" and not set(values) <= set(valid):
            from .errors import UserError
            from .samplers import _plugins

            try:
                valid += list(_plugins.registered())   # --plugins / CORESET_BENCH_PLUGINS
            except UserError as exc:
                return str(exc)
        for value in values:
            if key == "budget":
                if not value.isdigit() or int(value) < 1:
                    return f"budget={value!r} is not valid; budget takes a positive integer"
            elif value not in valid and not (key == "experiment" and value == "null"):
                return f"unknown {key} {value!r}; valid choices: {', '.join(valid)}"
    return None


def take_plugins(args: list[str]) -> tuple[list[str], list[str]]:
    """(args without ``--plugins PATH`` / ``--plugins=PATH``, the paths)."""
    rest, paths, it = [], [], iter(args)
    for arg in it:
        if arg == "--plugins":
            paths.append(next(it, ""))
        elif arg.startswith("--plugins="):
            paths.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return rest, paths


def use_plugins(args: list[str]) -> list[str]:
    """Register ``--plugins`` paths (through CORESET_BENCH_PLUGINS, so launcher workers see them
    too) and put their generated Hydra options on the search path; UserError on a bad one."""
    from .errors import ConfigError
    from .samplers import _plugins

    args, paths = take_plugins(args)
    for path in paths:
        if not path or not Path(path).exists():
            raise ConfigError(f"--plugins {path!r}: no such file or folder (a .py plugin file, or a "
                              "folder of them)")
    if paths:
        known = [p for p in os.environ.get(_plugins.ENV, "").split(os.pathsep) if p]
        os.environ[_plugins.ENV] = os.pathsep.join([str(Path(p).resolve()) for p in paths] + known)
    results_dir = _results_dir(args)
    try:
        conf = _plugins.write_options(Path(results_dir) / "hydra" / "plugin_conf")
    except OSError as exc:
        raise ConfigError(f"results_dir={results_dir} is not writable: {exc.strerror or exc}") from None
    if conf is not None:
        if any(a.startswith("hydra.searchpath") for a in args):
            raise ConfigError("--plugins cannot be combined with hydra.searchpath=...: name the "
                              "plugins with sampler=plugin sampler.path=FILE instead")
        args = [*args, f"hydra.searchpath=['file://{conf.resolve()}']"]
    return args


def _results_dir(args: list[str]) -> str:
    for arg in args:
        if arg.startswith("results_dir="):
            return arg.split("=", 1)[1]
    return "results"


def _terminated() -> int:
    print("coreset-bench: terminated (SIGTERM); finished rows are kept, the runs in flight "
          "were not recorded; re-run the same command to resume", file=sys.stderr)
    return 143


def cmd_run(args: list[str]) -> int:
    from .errors import UserError

    try:
        args = use_plugins(args)
    except UserError as exc:
        return _fail(str(exc))
    message = check_overrides(args)
    if message:
        return _fail(message)
    if not any(a in ("--help", "-h", "--cfg", "-c", "--info", "--hydra-help") for a in args):
        from .store import check_writable

        results_dir = _results_dir(args)
        try:  # Hydra writes its logs there before any job runs
            check_writable(results_dir, probe_bytes=16384)
        except OSError as exc:
            return _fail(f"results_dir={results_dir} is not writable: {exc.strerror or exc}")
    from .job import app, sweep

    app.STATE.update(ok=0, skipped=0, failed=0, busy=0)
    sweep.reset_summary()
    # joblib's resource tracker (a process of its own, started with this environment) warns on
    # stderr when a worker it tracked is gone, e.g. after a SIGTERM: after our last line
    quiet = "ignore:resource_tracker:UserWarning"
    if quiet not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))
    sys.argv = ["coreset-bench run", *args]
    previous = interrupts.install()
    logging.raiseExceptions = False   # a log file on a full disk: no traceback per message
    try:
        app.main()
        interrupts.check()   # an interrupt swallowed during the last run still counts
    except KeyboardInterrupt:
        print("coreset-bench: interrupted; finished rows are kept, re-run the same command to "
              "resume", file=sys.stderr)
        return 130
    except interrupts.Terminated:
        return _terminated()
    except SystemExit:
        # Hydra reports an exception as exit 1; when a signal arrived first, that exception is
        # its doing (it landed inside Hydra's own config code between two jobs): the signal's exit
        if interrupts.received() == signal.SIGTERM:
            return _terminated()
        if interrupts.received() == signal.SIGINT:
            print("coreset-bench: interrupted; finished rows are kept, re-run the same command "
                  "to resume", file=sys.stderr)
            return 130
        raise
    finally:
        interrupts.restore(previous)
    multirun = any(a in ("-m", "--multirun") for a in args)
    state = sweep.SUMMARY if multirun else app.STATE
    if multirun and state["user_error"]:
        return _fail(state["user_error"])
    if multirun or state["ok"] + state["failed"] + state["skipped"] > 1:
        lost = f" not finished={state['lost']}" if multirun and state["lost"] else ""
        print(f"coreset-bench: runs ok={state['ok']} skipped={state['skipped']} "
              f"failed={state['failed']}{lost}", file=sys.stderr)
    if multirun and state["lost"]:
        reasons = sorted(set(state["lost_reasons"]))
        print(f"coreset-bench: {state['lost_jobs']} job(s) were not finished: their cluster "
              f"task ended first ({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''}); "
              f"their finished runs are kept: re-run the same command to do the rest",
              file=sys.stderr)
    return 1 if state["failed"] or (multirun and state["lost"]) else 0


def cmd_data(args: list[str]) -> int:
    from . import data

    parser = argparse.ArgumentParser(prog="coreset-bench data")
    sub = parser.add_subparsers(dest="action", required=True)
    verify = sub.add_parser("verify", help="check files and checksums")
    builtin = data.builtin_names()
    verify.add_argument("names", nargs="*", help=f"datasets (default: all): {', '.join(builtin)}")
    ns = parser.parse_args(args)
    names = ns.names or builtin
    unknown = [n for n in names if n not in builtin]
    if unknown:
        return _fail(f"unknown dataset {unknown[0]!r}; valid choices: {', '.join(builtin)}")
    print(f"data directory: {data.data_dir()} (set CORESET_BENCH_DATA to change)")
    all_ok = True
    for name in names:
        statuses = data.verify(name)
        if not statuses:
            print(f"{name}: complete (embedded in a dependency, nothing to verify)")
            continue
        bad = [s for s in statuses if not s.ok]
        all_ok &= not bad
        if not bad:
            print(f"{name}: complete ({len(statuses)} files verified)")
        elif any(s.state == "mismatch" for s in bad):
            print(f"{name}: CHECKSUM MISMATCH")
        else:
            print(f"{name}: incomplete ({len(bad)} of {len(statuses)} files missing)")
        for status in statuses:
            print(f"  {status.describe()}")
    return 0 if all_ok else 1


def cmd_results_check(args: list[str]) -> int:
    from .store.check import check

    parser = argparse.ArgumentParser(prog="coreset-bench results check",
                                     description="Is a results directory consistent? Exit 0 only if so.")
    parser.add_argument("results_dir", nargs="?", default="results")
    parser.add_argument("--repair", action="store_true",
                        help="first quarantine damaged files and remove stale claims, cell "
                             "markers and temporary files (a cell with two identities stays)")
    ns = parser.parse_args(args)
    if not Path(ns.results_dir).is_dir():
        return _fail(f"results directory {ns.results_dir!r} does not exist")
    rep = check(ns.results_dir, repair_first=ns.repair)
    for line in rep.repaired:
        print(f"repaired: {line}")
    for line in rep.problems:
        print(f"problem: {line}")
    for line in rep.notes:
        print(f"note: {line}")
    print(f"{ns.results_dir}: {rep.rows} rows ({rep.ok} ok), {len(rep.problems)} problem(s): "
          f"{'consistent' if rep.consistent else 'NOT consistent'}")
    return 0 if rep.consistent else 1


def cmd_results_export(args: list[str]) -> int:
    from . import store

    parser = argparse.ArgumentParser(prog="coreset-bench results export",
                                     description="All rows of a results directory as one table file.")
    parser.add_argument("results_dir")
    parser.add_argument("--to", required=True, help="output file: .csv or .parquet (needs pyarrow)")
    ns = parser.parse_args(args)
    if not Path(ns.results_dir).is_dir():
        return _fail(f"results directory {ns.results_dir!r} does not exist")
    suffix = Path(ns.to).suffix
    if suffix not in (".csv", ".parquet"):
        return _fail(f"--to {ns.to!r}: the file name must end in .csv or .parquet")
    frame = store.load(ns.results_dir)
    if frame.empty:
        return _fail(f"no result rows under {ns.results_dir}/rows")
    # nested columns (versions, lists) as JSON text, so every tool reads them
    import json

    for col in frame.columns:
        if frame[col].map(lambda v: isinstance(v, (dict, list))).any():
            frame[col] = frame[col].map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)
    if suffix == ".parquet":
        try:
            frame.to_parquet(ns.to, index=False)
        except ImportError:
            return _fail("--to *.parquet needs pyarrow (pip install pyarrow); or use --to FILE.csv")
    else:
        frame.to_csv(ns.to, index=False)
    print(f"{len(frame)} rows written to {ns.to}")
    return 0


def cmd_results_publish(args: list[str]) -> int:
    from .store import published

    parser = argparse.ArgumentParser(
        prog="coreset-bench results publish",
        description="The ok rows of a results directory as one published file (gzipped JSON "
                    "lines, the same bytes for the same rows; selections not included).")
    parser.add_argument("results_dir")
    parser.add_argument("--to", required=True, help="output file, ending in .jsonl.gz")
    parser.add_argument("--where", action="append", default=[], metavar="COLUMN=V1,V2",
                        help="keep rows whose COLUMN is one of the values (repeatable)")
    ns = parser.parse_args(args)
    if not (Path(ns.results_dir) / "rows").is_dir():
        return _fail(f"no result rows under {ns.results_dir!r}/rows")
    if not ns.to.endswith(published.SUFFIX):
        return _fail(f"--to {ns.to!r}: the file name must end in {published.SUFFIX}")
    where = {}
    for item in ns.where:
        col, sep, values = item.partition("=")
        if not sep or not col or not values:
            return _fail(f"--where {item!r}: write COLUMN=VALUE[,VALUE...]")
        where[col] = values.split(",")
    n = published.publish(ns.results_dir, ns.to, where)
    print(f"{n} ok rows written to {ns.to} ({Path(ns.to).stat().st_size / 1024:.0f} KiB)")
    return 0


def cmd_results_import(args: list[str]) -> int:
    from .errors import UserError
    from .store import published

    parser = argparse.ArgumentParser(
        prog="coreset-bench results import",
        description="Published rows (a .jsonl.gz file or a folder of them, with its theory/, "
                    "ablations/, bench/ and investigations/ parts) into a results directory, so "
                    "a sweep there runs only what they lack.")
    parser.add_argument("published")
    parser.add_argument("results_dir", nargs="?", default="results")
    ns = parser.parse_args(args)
    if not published.is_published(ns.published):
        return _fail(f"{ns.published!r} is not a published rows file (*{published.SUFFIX}) "
                     "or a folder of them")
    try:
        counts = published.import_rows(ns.published, ns.results_dir)
    except UserError as exc:
        return _fail(str(exc))
    print(f"{ns.results_dir}: {counts['imported']} rows imported, {counts['present']} already "
          f"done there, {counts['conflict']} left out (their cell holds another identity)"
          + (f"; {counts['tables']} table(s) copied" if counts.get("tables") else ""))
    return 0


def cmd_results(args: list[str]) -> int:
    from .errors import UserError
    from .report.summary import summary_table
    from .store import published

    if args and args[0] == "check":
        return cmd_results_check(args[1:])
    if args and args[0] == "export":
        return cmd_results_export(args[1:])
    if args and args[0] == "publish":
        return cmd_results_publish(args[1:])
    if args and args[0] == "import":
        return cmd_results_import(args[1:])
    parser = argparse.ArgumentParser(prog="coreset-bench results")
    parser.add_argument("results_dir", nargs="?", default="results",
                        help="a results directory, a published rows file or a folder of them")
    ns = parser.parse_args(args)
    if not Path(ns.results_dir).is_dir() and not published.is_published(ns.results_dir):
        return _fail(f"results directory {ns.results_dir!r} does not exist")
    try:
        table = summary_table(ns.results_dir)
    except UserError as exc:
        return _fail(str(exc))
    if table is None:
        return _fail(f"no result rows under {ns.results_dir}/rows; run `coreset-bench run` first")
    print(table)
    return 0


def cmd_bench(args: list[str]) -> int:
    from . import bench
    from .errors import UserError

    if _wants_help(args):
        print(bench.HELP, end="")
        return 0
    try:
        bench.run(args)
    except UserError as exc:
        return _fail(str(exc))
    return 0


REPORT_HELP = """usage: coreset-bench report [results_dir=DIR] [baseline=SAMPLER] [experiment=NAME] [out=DIR]

Tables (md/csv/tex) and figures (png/pdf) from the result rows of DIR (default: results), written
to OUT (default: DIR/report), index.md linking them.

baseline=SAMPLER: a comparison report of every method in DIR against SAMPLER, for any datasets,
models and budgets (accuracy; validation 1 - R^2 for regression): metric against budget with 95%
t intervals, paired differences from the baseline over seeds (Wilcoxon, Holm-corrected per
dataset and model), wins / ties / losses, average ranks with Friedman / Nemenyi (critical
difference diagram), area under the budget curve, labels saved (docs/compare.md).
Without baseline=: the paper's reproduction report when every row is of the paper's datasets
(mnist, fashion_mnist, cifar10, gas_sensor_drift): verdicts on its claims, Figure 2b beside ours,
Figures 1-4, Table 1 (if `coreset-bench bench table1` has run), investigations, choices and
deviations, completeness, where and how long; any other rows: the comparison report against
uniform. experiment=NAME keeps the rows of one recipe.
The published reproduction: coreset-bench report results_dir=results out=docs/reproduction
"""

def _wants_help(args: list[str]) -> bool:
    return bool(args) and args[0] in ("-h", "--help", "help")


def cmd_report(args: list[str]) -> int:
    from .errors import UserError
    from .report import build as report

    if _wants_help(args):
        print(REPORT_HELP, end="")
        return 0
    try:
        opts = report.cli_options(args)
        results_dir = opts.get("results_dir", "results")
        if not Path(results_dir).exists():
            return _fail(f"results directory {results_dir!r} does not exist")
        index = report.build(results_dir, experiment=opts.get("experiment"), out=opts.get("out"),
                             baseline=opts.get("baseline"))
    except UserError as exc:
        return _fail(str(exc))
    print(f"report written: {index}")
    return 0


def cmd_embed(args: list[str]) -> int:
    from .errors import UserError
    from .job import embed

    if _wants_help(args) or not args:
        print(embed.USAGE, end="")
        return 0 if args else 2
    outs = [a.split("=", 1)[1] for a in args if a.startswith("out=")]
    if len(outs) != 1 or not outs[0]:
        return _fail("embed needs out=FILE.npy (once): where to write the embeddings")
    overrides = [a for a in args if not a.startswith("out=")]
    message = check_overrides(overrides)
    if message:
        return _fail(message)
    try:
        info = embed.export(overrides, outs[0])
    except UserError as exc:
        return _fail(str(exc))
    n, d = info["shape"]
    print(f"wrote {outs[0]}: {n} x {d} float32 embeddings ({info['rows']}) of {info['dataset']} "
          f"by the {info['model']['name']} warm-start model (budget={info['budget']}, "
          f"seed={info['seed']}, {info['warm_start_points']} training points); sha256 "
          f"{info['sha256'][:12]}...; provenance in {Path(outs[0]).with_suffix('.json')}")
    return 0


def cmd_new_sampler(args: list[str]) -> int:
    from .errors import UserError
    from .samplers import _plugins

    if _wants_help(args) or len(args) != 1:
        print("usage: coreset-bench new-sampler NAME\n\nWrites NAME.py, a sampler plugin that runs "
              "as is (D^2 sampling on the embeddings), with the contract in its docstring; see "
              "docs/plugins.md.")
        return 0 if _wants_help(args) else 2
    name = args[0]
    target = Path(f"{name}.py")
    try:
        text = _plugins.template(name)
    except UserError as exc:
        return _fail(str(exc))
    if target.exists():
        return _fail(f"{target} exists; choose another NAME or move it away")
    target.write_text(text)
    print(f"wrote {target}: try it with\n  coreset-bench run -m experiment=compare "
          f"sampler=plugin sampler.path={target}\n  coreset-bench run -m --plugins {target} "
          f"experiment=compare 'samplers=[uniform,kcenter,{name}]'")
    return 0


COMMANDS = {"run": cmd_run, "data": cmd_data, "results": cmd_results, "report": cmd_report,
            "bench": cmd_bench, "embed": cmd_embed, "new-sampler": cmd_new_sampler}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        return _fail(f"unknown command {command!r}; valid commands: {', '.join(COMMANDS)}")
    return COMMANDS[command](rest)


if __name__ == "__main__":
    sys.exit(main())

"""``coreset-bench``: a thin dispatcher over the Hydra app and a few utility commands."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import interrupts
from .config import options

USAGE = """usage: coreset-bench <command> [args]

commands:
  run [OVERRIDES...]       one experiment, or a sweep with -m (Hydra syntax)
                           e.g. coreset-bench run dataset=mnist sampler=loss budget=2000 seed=3
                                coreset-bench run -m experiment=demo
                           coreset-bench run --help   lists config groups and options
  data verify [NAME...]    check a dataset's files and checksums (default: all datasets);
                           exit 0 only if every requested dataset is complete
  embed out=FILE.npy [OVERRIDES...]
                           write the warm-start model's embeddings of the dataset (same overrides
                           as run) for reuse: +dataset.embeddings=FILE.npy
  results [DIR]            summary table of the rows in DIR (default results): mean, 95% interval,
                           seeds, paired difference from uniform with its interval and p value
  results check [DIR]      is DIR consistent (rows parse, selections match, one identity per
                           cell)? lists orphans and quarantined files; exit 0 only if so
  results export DIR --to FILE.csv|FILE.parquet
                           every row as one table for pandas or R
  report [results_dir=results] [experiment=NAME] [out=DIR]
                           tables, figures, paper comparison -> DIR (default results_dir/report)
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
        for value in values:
            if key == "budget":
                if not value.isdigit() or int(value) < 1:
                    return f"budget={value!r} is not valid; budget takes a positive integer"
            elif value not in options(key) and not (key == "experiment" and value == "null"):
                return f"unknown {key} {value!r}; valid choices: {', '.join(options(key))}"
    return None


def _results_dir(args: list[str]) -> str:
    for arg in args:
        if arg.startswith("results_dir="):
            return arg.split("=", 1)[1]
    return "results"


def cmd_run(args: list[str]) -> int:
    message = check_overrides(args)
    if message:
        return _fail(message)
    if not any(a in ("--help", "-h", "--cfg", "-c", "--info", "--hydra-help") for a in args):
        from .results import check_writable

        results_dir = _results_dir(args)
        try:  # Hydra writes its logs there before any job runs
            check_writable(results_dir, probe_bytes=16384)
        except OSError as exc:
            return _fail(f"results_dir={results_dir} is not writable: {exc.strerror or exc}")
    from . import app

    from . import sweep

    app.STATE.update(ok=0, skipped=0, failed=0, busy=0)
    sweep.reset_summary()
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
        print("coreset-bench: terminated (SIGTERM); finished rows are kept, the runs in flight "
              "were not recorded; re-run the same command to resume", file=sys.stderr)
        return 143
    finally:
        interrupts.restore(previous)
    multirun = any(a in ("-m", "--multirun") for a in args)
    state = sweep.SUMMARY if multirun else app.STATE
    if multirun and state["user_error"]:
        return _fail(state["user_error"])
    if multirun or state["ok"] + state["failed"] + state["skipped"] > 1:
        print(f"coreset-bench: runs ok={state['ok']} skipped={state['skipped']} "
              f"failed={state['failed']}", file=sys.stderr)
    return 1 if state["failed"] else 0


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
    from .check import check

    parser = argparse.ArgumentParser(prog="coreset-bench results check",
                                     description="Is a results directory consistent? Exit 0 only if so.")
    parser.add_argument("results_dir", nargs="?", default="results")
    ns = parser.parse_args(args)
    if not Path(ns.results_dir).is_dir():
        return _fail(f"results directory {ns.results_dir!r} does not exist")
    rep = check(ns.results_dir)
    for line in rep.problems:
        print(f"problem: {line}")
    for line in rep.notes:
        print(f"note: {line}")
    print(f"{ns.results_dir}: {rep.rows} rows ({rep.ok} ok), {len(rep.problems)} problem(s): "
          f"{'consistent' if rep.consistent else 'NOT consistent'}")
    return 0 if rep.consistent else 1


def cmd_results_export(args: list[str]) -> int:
    from . import results

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
    frame = results.load(ns.results_dir)
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


def cmd_results(args: list[str]) -> int:
    from .summary import summary_table

    if args and args[0] == "check":
        return cmd_results_check(args[1:])
    if args and args[0] == "export":
        return cmd_results_export(args[1:])
    parser = argparse.ArgumentParser(prog="coreset-bench results")
    parser.add_argument("results_dir", nargs="?", default="results")
    ns = parser.parse_args(args)
    if not Path(ns.results_dir).is_dir():
        return _fail(f"results directory {ns.results_dir!r} does not exist")
    table = summary_table(ns.results_dir)
    if table is None:
        return _fail(f"no result rows under {ns.results_dir}/rows; run `coreset-bench run` first")
    print(table)
    return 0


def _key_values(args: list[str], allowed: dict[str, str]) -> dict[str, str]:
    out = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in allowed:
            raise ValueError(f"unknown argument {arg!r}; valid: "
                             + ", ".join(f"{k}={v}" for k, v in allowed.items()))
        out[key] = value
    return out


def cmd_bench(args: list[str]) -> int:
    from . import bench
    from .errors import UserError

    if _wants_help(args):
        print(BENCH_HELP, end="")
        return 0
    if not args or args[0] not in ("table1", "sweep", "engine", "scale"):
        return _fail(f"unknown benchmark {args[0] if args else ''!r}; valid: table1, sweep, "
                     "engine, scale")
    if args[0] == "scale":
        from . import bench_scale

        try:
            opts = _key_values(args[1:], {"n": "N[,N...]", "d": "INT", "kmeans_sample": "INT",
                                          "time_limit": "SECONDS", "out": "PATH"})
            for key in ("d", "kmeans_sample", "time_limit"):
                if key in opts and (not opts[key].isdigit() or int(opts[key]) < 1):
                    raise ValueError(f"{key}={opts[key]!r} must be a positive integer")
            if "n" in opts and not all(v.isdigit() and int(v) >= 1000 for v in opts["n"].split(",")):
                raise ValueError(f"n={opts['n']!r} is not valid; give comma-separated integers "
                                 ">= 1000")
        except ValueError as exc:
            return _fail(str(exc))
        bench_scale.run(sizes=tuple(int(v) for v in opts.get("n", "100000,300000,1000000").split(",")),
                        d=int(opts.get("d", 128)), kmeans_sample=int(opts.get("kmeans_sample", 50000)),
                        time_limit=float(opts.get("time_limit", 600)),
                        out=opts.get("out", "results/bench/scale.csv"))
        return 0
    if args[0] == "engine":
        from . import bench_engine

        spec = {"k_train": "INT", "k_cluster": "INT", "k_center": "INT", "seeds": "INT",
                "cnn": "true|false"}
        try:
            opts = _key_values(args[1:], spec)
            for key, value in opts.items():
                if key == "cnn":
                    if value not in ("true", "false"):
                        raise ValueError(f"cnn={value!r} is not valid; valid: true, false")
                elif not value.isdigit() or int(value) < 1:
                    raise ValueError(f"{key}={value!r} must be a positive integer")
        except ValueError as exc:
            return _fail(str(exc))
        kwargs = {k: (v == "true") if k == "cnn" else int(v) for k, v in opts.items()}
        try:
            bench_engine.run(**kwargs)
        except UserError as exc:
            return _fail(str(exc))
        return 0
    if args[0] == "sweep":
        try:
            opts = _key_values(args[1:], {"project": "true|false"})
            if opts.get("project", "true") not in ("true", "false"):
                raise ValueError(f"project={opts['project']!r} is not valid; valid: true, false")
        except ValueError as exc:
            return _fail(str(exc))
        bench.sweep_throughput(project=opts.get("project", "true") == "true")
        return 0
    try:
        opts = _key_values(args[1:], {"n": "N[,N...]", "grid": "default|paper", "seed": "INT",
                                      "out": "PATH"})
        if "n" in opts and "grid" in opts:
            raise ValueError("give n=... or grid=..., not both")
        grid = opts.get("grid", "default")
        if grid not in ("default", "paper"):
            raise ValueError(f"grid={grid!r} is not valid; valid choices: default, paper")
        if "n" in opts and not all(v.isdigit() for v in opts["n"].split(",")):
            raise ValueError(f"n={opts['n']!r} is not valid; give comma-separated integers")
        sizes = ([int(v) for v in opts["n"].split(",")] if "n" in opts
                 else bench.PAPER_GRID if grid == "paper" else bench.DEFAULT_GRID)
        if not opts.get("seed", "0").isdigit():
            raise ValueError(f"seed={opts['seed']!r} must be a non-negative integer")
        seed = int(opts.get("seed", 0))
        bench.table1(sizes, seed=seed, out=opts.get("out", "results/bench/table1.csv"))
    except ValueError as exc:
        return _fail(str(exc))
    except UserError as exc:
        return _fail(str(exc))
    return 0


REPORT_HELP = """usage: coreset-bench report [results_dir=DIR] [experiment=NAME] [out=DIR]

Tables (md/csv/tex), figures (png/pdf) and the paper comparison from the result rows of DIR
(default: results), written to OUT (default: DIR/report): verdicts on the paper's claims (paired
Wilcoxon tests over seeds), Figure 2b beside ours, Figures 1-4, Table 1 (if `coreset-bench bench
table1` has run), investigations (DIR/ablations/*, DIR/investigations/*.csv), choices and
deviations, completeness, where and how long. experiment=NAME keeps the rows of one recipe.
The published reproduction: coreset-bench report results_dir=results out=docs/reproduction
"""

BENCH_HELP = """usage: coreset-bench bench {table1,sweep,engine,scale} [KEY=VALUE ...]

  table1 [n=1000,2000,5000 | grid=paper] [seed=0] [out=results/bench/table1.csv]
         Table 1: leverage scores vs k-medoids runtime on n x n data
  sweep [project=true|false]
         sweep throughput, projected fig2_mnist wall time
  engine [k_train=2000] [k_cluster=2000] [k_center=3000] [seeds=3] [cnn=false]
         training engines, k-means and k-center vs their references
  scale [n=100000,300000,1000000] [d=128] [kmeans_sample=50000] [time_limit=600]
        [out=results/bench/scale.csv]
         each sampler's selection time and peak memory on synthetic embeddings, budget 1% of n
Each prints ratios measured side by side in one run (see README, "Speed").
"""


def _wants_help(args: list[str]) -> bool:
    return bool(args) and args[0] in ("-h", "--help", "help")


def cmd_report(args: list[str]) -> int:
    from . import report
    from .errors import UserError

    if _wants_help(args):
        print(REPORT_HELP, end="")
        return 0
    try:
        opts = report.cli_options(args)
        results_dir = opts.get("results_dir", "results")
        if not Path(results_dir).is_dir():
            return _fail(f"results directory {results_dir!r} does not exist")
        index = report.build(results_dir, experiment=opts.get("experiment"), out=opts.get("out"))
    except UserError as exc:
        return _fail(str(exc))
    print(f"report written: {index}")
    return 0


def cmd_embed(args: list[str]) -> int:
    from . import embed
    from .errors import UserError

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


COMMANDS = {"run": cmd_run, "data": cmd_data, "results": cmd_results, "report": cmd_report,
            "bench": cmd_bench, "embed": cmd_embed}


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

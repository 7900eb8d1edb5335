"""Benchmarks, each printing ratios measured side by side in one run (never timed unit tests).

- ``table1``: the paper's Table 1, leverage scores vs k-medoids runtime.
- ``throughput``: sweep throughput (``bench sweep``) and the projected fig2_mnist wall time.
- ``engine``: the vectorized engine, k-means and k-center against their reference paths.
- ``scale``: every sampler's selection time and peak memory on large pools.

``run(args)`` parses ``coreset-bench bench NAME [KEY=VALUE ...]`` and runs one; a ConfigError
with one line naming the bad value and the valid ones.
"""

from __future__ import annotations

from ..errors import ConfigError

NAMES = ("table1", "sweep", "engine", "scale")

HELP = """usage: coreset-bench bench {table1,sweep,engine,scale} [KEY=VALUE ...]

  table1 [n=1000,2000,5000 | grid=paper] [seed=0] [out=results/bench/table1.csv]
         Table 1: leverage scores vs k-medoids runtime on n x n data
  sweep [project=true|false] [launchers=true|false] [slurm=false|true|auto] [partition=debug]
        [dir=results/bench/launchers]
         sweep throughput, projected fig2_mnist wall time; slurm=true (auto: where sinfo
         answers): the demo sweep through the local launcher and SLURM side by side, in dir
         (on a filesystem the nodes share)
  engine [k_train=2000] [k_cluster=2000] [k_center=3000] [seeds=3] [cnn=false]
         [probcover=true] [kmeans_variants=false]
         training engines, k-means, k-center and ProbCover's passes vs their references;
         kmeans_variants=true: cheaper k-means settings (one k-means++ trial, fewer Lloyd
         iterations) beside the default
  scale [n=100000,300000,1000000] [d=128] [kmeans_sample=50000] [time_limit=600]
        [samplers=uniform,margin,kcenter,loss] [out=results/bench/scale.csv]
         each sampler's selection time and peak memory on synthetic embeddings, budget 1% of n
Each prints ratios measured side by side in one run (see docs/speed.md).
"""


def _key_values(args: list[str], allowed: dict[str, str]) -> dict[str, str]:
    out = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in allowed:
            raise ConfigError(f"unknown argument {arg!r}; valid: "
                             + ", ".join(f"{k}={v}" for k, v in allowed.items()))
        out[key] = value
    return out


def _positive(opts: dict[str, str], *keys: str) -> None:
    for key in keys:
        if key in opts and (not opts[key].isdigit() or int(opts[key]) < 1):
            raise ConfigError(f"{key}={opts[key]!r} must be a positive integer")


def _flag(opts: dict[str, str], key: str, default: str) -> bool:
    value = opts.get(key, default)
    if value not in ("true", "false"):
        raise ConfigError(f"{key}={value!r} is not valid; valid: true, false")
    return value == "true"


def run(args: list[str]) -> None:
    """Run the benchmark ``args[0]`` with its KEY=VALUE options."""
    if not args or args[0] not in NAMES:
        raise ConfigError(f"unknown benchmark {args[0] if args else ''!r}; valid: "
                         f"{', '.join(NAMES)}")
    name, rest = args[0], args[1:]
    if name == "scale":
        from . import scale

        opts = _key_values(rest, {"n": "N[,N...]", "d": "INT", "kmeans_sample": "INT",
                                  "time_limit": "SECONDS", "samplers": "NAME[,NAME...]",
                                  "out": "PATH"})
        only = opts["samplers"].split(",") if "samplers" in opts else None
        bad = sorted(set(only or ()) - set(scale.METHODS))
        if bad:
            raise ConfigError(f"samplers={opts['samplers']!r}: unknown {', '.join(bad)}; valid "
                              f"choices: {', '.join(scale.METHODS)}")
        _positive(opts, "d", "kmeans_sample", "time_limit")
        if "n" in opts and not all(v.isdigit() and int(v) >= 1000 for v in opts["n"].split(",")):
            raise ConfigError(f"n={opts['n']!r} is not valid; give comma-separated integers >= 1000")
        scale.run(sizes=tuple(int(v) for v in opts.get("n", "100000,300000,1000000").split(",")),
                  d=int(opts.get("d", 128)), kmeans_sample=int(opts.get("kmeans_sample", 50000)),
                  time_limit=float(opts.get("time_limit", 600)), samplers=only,
                  out=opts.get("out", "results/bench/scale.csv"))
    elif name == "engine":
        from . import engine

        opts = _key_values(rest, {"k_train": "INT", "k_cluster": "INT", "k_center": "INT",
                                  "seeds": "INT", "cnn": "true|false",
                                  "probcover": "true|false", "kmeans_variants": "true|false"})
        _positive(opts, "k_train", "k_cluster", "k_center", "seeds")
        kwargs = {k: int(v) for k, v in opts.items() if k not in ("cnn", "probcover", "kmeans_variants")}
        if "kmeans_variants" in opts:
            kwargs["kmeans_variants_part"] = _flag(opts, "kmeans_variants", "false")
        if "cnn" in opts:
            kwargs["cnn"] = _flag(opts, "cnn", "false")
        if "probcover" in opts:
            kwargs["probcover_part"] = _flag(opts, "probcover", "true")
        engine.run(**kwargs)
    elif name == "sweep":
        from . import throughput

        opts = _key_values(rest, {"project": "true|false", "launchers": "true|false",
                                  "slurm": "auto|true|false", "partition": "NAME",
                                  "dir": "PATH"})
        slurm = opts.get("slurm", "false")
        if slurm not in ("auto", "true", "false"):
            raise ConfigError(f"slurm={slurm!r} is not valid; valid choices: auto, true, false")
        if slurm == "true" and not throughput.slurm_available():
            raise ConfigError("slurm=true: sinfo does not answer here (no SLURM; "
                              "scripts/local_slurm.sh starts one, see docs/cluster.md)")
        if _flag(opts, "launchers", "true"):
            throughput.sweep_throughput(project=_flag(opts, "project", "true"))
        if slurm == "true" or (slurm == "auto" and throughput.slurm_available()):
            throughput.launcher_comparison(opts.get("partition", "debug"),
                                           opts.get("dir", "results/bench/launchers"))
        elif slurm == "auto":
            print("launchers: no SLURM here (sinfo does not answer): the SLURM comparison is "
                  "left out (scripts/local_slurm.sh starts one, see docs/cluster.md)")
    else:
        from . import table1

        opts = _key_values(rest, {"n": "N[,N...]", "grid": "default|paper", "seed": "INT",
                                  "out": "PATH"})
        if "n" in opts and "grid" in opts:
            raise ConfigError("give n=... or grid=..., not both")
        grid = opts.get("grid", "default")
        if grid not in ("default", "paper"):
            raise ConfigError(f"grid={grid!r} is not valid; valid choices: default, paper")
        if "n" in opts and not all(v.isdigit() for v in opts["n"].split(",")):
            raise ConfigError(f"n={opts['n']!r} is not valid; give comma-separated integers")
        sizes = ([int(v) for v in opts["n"].split(",")] if "n" in opts
                 else table1.PAPER_GRID if grid == "paper" else table1.DEFAULT_GRID)
        if not opts.get("seed", "0").isdigit():
            raise ConfigError(f"seed={opts['seed']!r} must be a non-negative integer")
        table1.table1(sizes, seed=int(opts.get("seed", 0)),
                      out=opts.get("out", "results/bench/table1.csv"))

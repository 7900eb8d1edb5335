"""Publish the reproduction's rows: each part of ``make reproduce`` from a results directory into
``docs/reproduction/rows/`` (the layout ``coreset_bench/store/published.py`` describes), so the
report (``make report``) and a fresh clone's resume read them.

A part's file holds exactly the ok rows of its experiment's grid (every budget and seed its
config sweeps, every sampler it runs): the run keys are planned from the config, so rows of other
runs made in the same results directory (a single run, another study) never slip in; nor do
rows outside the grid (seeds beyond the config's range, CIFAR-10 rows of another engine or
backend). A part's file keeps every row it already holds (``publish(..., keep=True)``: a results
directory that lacks them, e.g. one not imported first, cannot shrink it); a row made again
replaces its published copy. Publishing the same rows gives the same bytes.

    python scripts/publish_reproduction.py [RESULTS] [--to DIR] [--only NAME ...]

Parts: the figures (fig1_gas, fig4_mnist, fig4_fashion_mnist: Figure 2's rows are Figure 4's;
fig4_cifar10 with the published rows' engine=vmap backend=jax), ``theory/thm5_*`` and
``ablations/*`` (each experiment's own ``results_dir``), and the tables of ``bench/`` (Table 1)
and ``investigations/`` (check scripts).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coreset_bench.config import CONF_DIR
from coreset_bench.job.plan import plan
from coreset_bench.store import published

REPO = Path(__file__).resolve().parents[1]
# part -> (experiment, extra overrides); the file is <part>.jsonl.gz under the rows folder
FIGURES = {
    "fig1_gas": ("fig1_gas", []),
    "fig4_mnist": ("fig4_mnist", []),
    "fig4_fashion_mnist": ("fig4_fashion_mnist", []),
    "fig4_cifar10": ("fig4_cifar10", ["engine=vmap", "backend=jax"]),
}


def _makefile_list(name: str) -> list[str]:
    """A list variable of the Makefile (ABLATIONS, THEORY): one home for the parts' names."""
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    found = re.search(rf"^{name}\s*:=\s*(.*)$", text, re.M)
    if not found:
        raise SystemExit(f"publish_reproduction: no {name} := ... in the Makefile")
    return found.group(1).split()


def _grid(value) -> list[int]:
    text = str(value)
    if text.startswith("range("):
        return list(range(*(int(v) for v in text[6:-1].split(","))))
    return [int(v) for v in text.split(",")]


def planned(experiment: str, overrides: list[str]) -> tuple[set[str], str]:
    """The run keys of an experiment's whole grid, and its results_dir."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        base = compose(config_name="config", overrides=[f"experiment={experiment}", *overrides],
                       return_hydra_config=True)
        params = OmegaConf.to_container(base.hydra.sweeper.params) or {}
        results_dir = str(base.results_dir)
        keys: set[str] = set()
        budgets = _grid(params["budget"]) if "budget" in params else [base.budget]
        seeds = _grid(params["seed"]) if "seed" in params else [base.seed]
        for budget in budgets:
            cfg = OmegaConf.to_container(compose(
                config_name="config", overrides=[f"experiment={experiment}", *overrides,
                                                 f"budget={budget}"]), resolve=True)
            for seed in seeds:
                keys |= {r.key for r in plan({**cfg, "seed": seed}).runs}
    return keys, results_dir


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="publish_reproduction.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", default="results")
    ap.add_argument("--to", default=str(REPO / "docs" / "reproduction" / "rows"))
    ap.add_argument("--only", nargs="*", help="part names (fig4_mnist, thm5_mnist, abl_gas_mix10, ...)")
    a = ap.parse_args(argv)
    results, dest = Path(a.results), Path(a.to)
    parts = [(name, exp, extra, results, dest / f"{name}{published.SUFFIX}")
             for name, (exp, extra) in FIGURES.items()]
    for sub, names in (("theory", _makefile_list("THEORY")), ("ablations", _makefile_list("ABLATIONS"))):
        parts += [(name, name, [], None, dest / sub / f"{name}{published.SUFFIX}") for name in names]
    known = [p[0] for p in parts] + list(published.TABLE_DIRS)
    unknown = [n for n in a.only or [] if n not in known]
    if unknown:
        print(f"publish_reproduction: unknown part {unknown[0]!r}; valid parts: {', '.join(known)}",
              file=sys.stderr)
        return 2
    for name, exp, extra, source, path in parts:
        if a.only and name not in a.only:
            continue
        t0 = time.perf_counter()
        keys, own_dir = planned(exp, extra)
        if source is None:   # an experiment with its own results_dir: results/<sub>/<name> -> RESULTS/<sub>/<name>
            source = (results / own_dir.removeprefix("results/") if own_dir.startswith("results/")
                      else Path(own_dir))
        if not (source / "rows").is_dir():
            print(f"{name}: no rows under {source}; not published")
            continue
        before = len(published.read(path)) if path.is_file() else 0
        n = published.publish(source, path, keys=keys, keep=True)
        print(f"{name}: {n} of {len(keys)} planned runs published to {path} ({n - before:+d}; "
              f"{path.stat().st_size / 1024:.0f} KiB, {time.perf_counter() - t0:.1f} s)")
    for sub in published.TABLE_DIRS:
        if a.only and sub not in a.only:
            continue
        for f in sorted((results / sub).glob("*")) if (results / sub).is_dir() else []:
            if f.suffix in (".csv", ".md") and not f.stem.endswith("_per_seed"):
                (dest / sub).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest / sub / f.name)
                print(f"{sub}/{f.name}: copied")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

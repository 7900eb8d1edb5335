"""Issue 22: CIFAR-10 with our CNN (model=cnn) against DISTIL's (model=cnn_distil), from the
published rows. Writes docs/investigations/cifar10_network.md (the numbers are computed here).

    python scripts/investigate_cifar_network.py [docs/reproduction/rows/investigations/cifar10_network.jsonl.gz]
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coreset_bench import stats, store  # noqa: E402
from coreset_bench.report.paper_values import PAPER_K2000  # noqa: E402

OUT = REPO / "docs/investigations/cifar10_network.md"


def main(path: str) -> None:
    df = store.load(path)
    df = df[df["status"] == "ok"]
    lines = [
        "# CIFAR-10: our CNN against DISTIL's (issue 22)", "",
        f"Made by `python scripts/investigate_cifar_network.py {path}` from the published rows.",
        "", "The paper says its CIFAR-10 setup \"largely follow[s]\" DISTIL. DISTIL's network",
        "(decile-team/distil, `distil/utils/models/cifar10net.py`): 3x3 convolutions of 64, 128",
        "and 256 filters, each followed by 2x2 max pooling, dense layers of 128 and 256 (the",
        "embedding), 537,610 parameters; ours (`model=cnn`, PROTOCOL.md's sizes): 32, 64, 64",
        "filters, no pooling after the last, dense 128 and 64. Not taken from DISTIL: its training",
        "augmentation (random crop with 4-pixel padding, horizontal flip) and its normalisation by",
        "channel means; both networks here see pixels / 255 without augmentation, like every model",
        "of the harness. Same split (train hold-out of 10,000, pool 40,000), k = 2000, warm start",
        "k' = 400, engine=vmap on JAX, one H200 GPU. Paired by seed (the seed fixes the warm-start",
        "points, the selection's randomness and each model's initialisation seed).", "",
        "| sampler | seeds | cnn | cnn_distil | paper (Fig. 2b) | distil - cnn [95% CI] | p (Wilcoxon) |",
        "|---|---|---|---|---|---|---|",
    ]
    for sampler in ("uniform", "loss"):
        wide = df[df["sampler"] == sampler].pivot(index="seed", columns="model", values="accuracy").dropna()
        test = stats.paired(wide["cnn_distil"].to_numpy(), wide["cnn"].to_numpy())
        lines.append(f"| {sampler} | {test.n} | {test.mean_b:.4f} | {test.mean_a:.4f} | "
                     f"{PAPER_K2000[sampler]['cifar10']:.4f} | {test.mean_diff:+.4f} "
                     f"[{test.ci_low:+.4f}, {test.ci_high:+.4f}] | {test.p_value:.2g} |")
    commits = sorted(set(df["code_commit"].dropna()))
    devices = sorted(set(df["device"].dropna()))
    lines += ["", f"Rows: {len(df)} ({', '.join(devices)}; code {', '.join(c[:10] for c in commits)}).",
              "", "Decision rule, fixed before the run (`scripts/gpu_cifar10.py`): DISTIL's network",
              "becomes the CIFAR-10 default if, for both samplers, its mean is at most half as far",
              "from the paper's value as ours. It is: `model=auto` is `cnn_distil` on CIFAR-10 since.",
              ""]
    OUT.write_text("\n".join(lines))
    print(OUT.read_text())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/reproduction/rows/investigations/cifar10_network.jsonl.gz")

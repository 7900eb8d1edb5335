"""Numbers published in *Sensitivity Sampling for Coreset-Based Data Selection* (the only
place they are written down; the benchmark and the report print ours beside them)."""

# Figure 2b: validation accuracy at k = 2000, mean of 100 runs.
PAPER_K2000 = {
    "uniform": {"mnist": 0.9130, "fashion_mnist": 0.8091, "cifar10": 0.4587},
    "kcenter": {"mnist": 0.9134, "fashion_mnist": 0.7692, "cifar10": 0.4491},
    "loss": {"mnist": 0.9203, "fashion_mnist": 0.8140, "cifar10": 0.4590},
    "grad": {"mnist": 0.9207, "fashion_mnist": 0.8107, "cifar10": 0.4598},
}

# Table 1 (seconds on a 24-CPU VM): n -> (all leverage scores, k-medoids with k = 0.2 n).
PAPER_TABLE1 = {5000: (36.62, 19.74), 10000: (250.64, 105.29), 20000: (1890.73, 858.5),
                30000: (6098.31, 2712.09)}
PAPER_TABLE1_RATIOS = {n: lev / km for n, (lev, km) in PAPER_TABLE1.items()}

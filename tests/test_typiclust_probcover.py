"""TypiClust and ProbCover (samplers/typiclust.py, samplers/probcover.py): invariants, small
hand-checked cases, and agreement with the authors' code on a fixed embedding set.

The AUTHORS_* lists at the bottom are the picks of the authors' own selection code
(github.com/avihu111/TypiClust at commit 4097a71: deep-al/pycls/al/typiclust.py
``TypiClust.select_samples`` and deep-al/pycls/al/prob_cover.py ``ProbCover.construct_graph`` +
``select_samples``, run unmodified under numpy 2.4, pandas 3.1, faiss-cpu 1.15; faiss's
``index_cpu_to_all_gpus`` replaced by the identity, and for prob_cover.py the four torch calls
replaced by numpy with torch's float32 ``cdist`` formula). Their objects were built without
``__init__``: features = ``blobs(...)`` L2-normalised (their ``load_features``), lSet =
``arange(n_lab)``, uSet = ``arange(n_lab, n)``, and, in place of their k-means (which is not
seeded), ``clusters`` = the clustering below (TypiClust), ``delta`` = the delta our purity rule
gives on ``lloyd(x, 10, seed=2)`` rounded down to a multiple of 0.001 (ProbCover; the pair
distance nearest to it is 5.9e-7 away, and both graphs have the same edge count). The same
inputs go to our functions here (``labels=``), so the picks must be equal, in order.
"""

from __future__ import annotations

import numpy as np
import pytest

from coreset_bench import samplers
from coreset_bench.config import group_option
from coreset_bench.errors import ConfigError
from coreset_bench.samplers import Inputs
from coreset_bench.samplers.probcover import probcover
from coreset_bench.samplers.typiclust import typiclust

NAMES = ["typiclust", "probcover"]


def params(name: str) -> dict:
    cfg = group_option("sampler", name)
    cfg.pop("name")
    return cfg


# -- the fixed embedding set and clusterings of the comparison ---------------------------------

def blobs(n=2000, d=16, k=10, seed=0, scale=2.0) -> np.ndarray:
    """Gaussian blobs from numpy's default_rng alone (the same on every platform)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * scale
    y = rng.integers(k, size=n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32)


def _unit(x):
    f = x.astype(np.float64)
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def voronoi(x, k, seed) -> np.ndarray:
    """A clustering any implementation can redo: nearest of k anchor rows (normalised), the
    anchors drawn without replacement by default_rng(seed)."""
    f = _unit(x)
    anchors = f[np.random.default_rng(seed).choice(len(f), k, replace=False)]
    return np.stack([((f - a) ** 2).sum(1) for a in anchors], axis=1).argmin(1)


def lloyd(x, k, seed, iters=20) -> np.ndarray:
    """voronoi() refined by plain Lloyd iterations."""
    f = _unit(x)
    lab = voronoi(x, k, seed)
    for _ in range(iters):
        centers = np.stack([f[lab == c].mean(0) for c in range(k)])
        lab = np.stack([((f - a) ** 2).sum(1) for a in centers], axis=1).argmin(1)
    return lab


# -- invariants -------------------------------------------------------------------------------

def small_inputs(m=400, d=8, k_warm=20, seed=0) -> Inputs:
    rng = np.random.default_rng(seed)
    emb = np.concatenate([rng.normal(size=(m // 2, d)), rng.normal(size=(m - m // 2, d)) + 4])
    return Inputs(n_candidates=m, budget=k_warm + 60, n_warm=k_warm,
                  embeddings=emb.astype(np.float32),
                  initial_embeddings=rng.normal(size=(k_warm, d)).astype(np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_a_config_and_a_citation(name):
    spec = samplers.get(name, "classification")
    assert spec.needs == ("embeddings",) and "2022" in spec.citation
    spec.validate(1000, 800, **params(name))            # the yaml's defaults are valid


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_select", [0, 1, 60, 400])
def test_invariants(name, n_select):
    spec, inputs = samplers.get(name), small_inputs()
    a = spec.select(inputs, n_select, np.random.default_rng(3), **params(name))
    b = spec.select(inputs, n_select, np.random.default_rng(3), **params(name))
    idx = np.asarray(a.indices)
    assert len(idx) == n_select and len(np.unique(idx)) == n_select
    assert n_select == 0 or (idx.min() >= 0 and idx.max() < inputs.n_candidates)
    np.testing.assert_array_equal(idx, b.indices)       # same seed, same picks
    assert a.n_inferences == 0 and a.weights is None
    assert set(a.timings) <= {"cluster", "score", "sample"}


@pytest.mark.parametrize("name", NAMES)
def test_without_a_warm_start(name):
    x = small_inputs().embeddings
    fn = typiclust if name == "typiclust" else probcover
    sel = fn(x, 30, initial_embeddings=None, rng=np.random.default_rng(0))
    assert len(np.unique(sel.indices)) == 30


@pytest.mark.parametrize("name", NAMES)
def test_more_than_the_candidates_is_a_config_error(name):
    with pytest.raises(ConfigError, match="exceeds"):
        samplers.get(name).select(small_inputs(m=30), 31, np.random.default_rng(0),
                                  **params(name))


@pytest.mark.parametrize("name,key,value,match", [
    ("typiclust", "k_nn", 0, r"sampler.k_nn=0 must be an integer >= 1"),
    ("typiclust", "max_clusters", 2.5, r"sampler.max_clusters=2.5 must be an integer >= 1"),
    ("typiclust", "min_cluster_size", -1, r"min_cluster_size=-1 must be an integer >= 0"),
    ("typiclust", "minibatch_size", True, r"minibatch_size=True must be an integer >= 1"),
    ("typiclust", "typicality_distance", "cosine", r"valid choices: squared, euclidean"),
    ("typiclust", "cluster_order", "random", r"valid choices: dynamic, static"),
    ("typiclust", "normalize", "yes", r"sampler.normalize='yes' must be true or false"),
    ("probcover", "delta", -0.5, r"sampler.delta=-0.5 must be a number > 0, or null"),
    ("probcover", "delta", 0, r"sampler.delta=0 must be a number > 0"),
    ("probcover", "purity_threshold", 1.5, r"purity_threshold=1.5 must be in \(0, 1\]"),
    ("probcover", "purity_threshold", 0, r"purity_threshold=0 must be in \(0, 1\]"),
    ("probcover", "n_classes", 1, r"sampler.n_classes=1 must be an integer >= 2"),
    ("probcover", "n_classes", 2.5, r"sampler.n_classes=2.5 must be an integer >= 2"),
    ("probcover", "n_classes", None, r"needs the number of k-means clusters"),
    ("probcover", "delta_step", 0, r"sampler.delta_step=0 must be a number > 0, or null"),
    ("probcover", "kmeans_n_init", 0, r"sampler.kmeans_n_init=0 must be an integer >= 1"),
])
def test_bad_parameters_are_one_line_config_errors(name, key, value, match):
    with pytest.raises(ConfigError, match=match) as err:
        samplers.get(name).validate(1000, 800, **{**params(name), key: value})
    assert "\n" not in str(err.value)


def test_probcover_n_classes_may_be_null_with_a_given_delta():
    samplers.get("probcover").validate(100, 80, **{**params("probcover"), "n_classes": None,
                                                   "delta": 0.5})
    sel = probcover(small_inputs().embeddings, 10, initial_embeddings=None,
                    rng=np.random.default_rng(0), delta=0.5, n_classes=None)
    assert sel.info["purity"] is None and sel.info["delta_rule"] == "given"


# -- hand-checked cases -----------------------------------------------------------------------

# TypiClust on points of a line (normalize=False, the clustering given). Clusters (id: size,
# labelled): A 0: 7, 0; B 1: 9, 1; C 2: 8, 0; D 3: 4 (too small, never picked); E 4: 6, 1.
LINE = [0, 1, 1.5, 2, 4, 7, 11, 16]
A, C, B, E, D = LINE[:7], LINE, [100 + p for p in LINE], [200 + p for p in LINE[:5]], \
    [300, 301, 302, 303]
CANDS = np.array(A + C + B + E + D, dtype=np.float64)[:, None]     # A 0-6, C 7-14, B 15-22,
CAND_LABELS = [0] * 7 + [2] * 8 + [1] * 8 + [4] * 5 + [3] * 4      # E 23-27, D 28-31
LABELLED = np.array([[101.5], [201.0]])                            # one in B, one in E


@pytest.mark.parametrize("order,expected", [
    # dynamic: C (0 labelled, largest), A (0), then all have >= 1: B (9 points), then C again
    # (1 labelled, 8 points) before A (7) and E (6, 2 labelled by then)
    ("dynamic", [9, 1, 17, 10]),
    # static (the authors' loop): the order C, A, B, E is fixed at the start
    ("static", [9, 1, 17, 25]),
])
def test_typiclust_by_hand(order, expected):
    # most typical, K = min(20, n // 2) nearest neighbours, mean squared distance:
    # C (8 points, K=4): 1.5 -> (.25+.25+2.25+6.25)/4 = 2.25 beats 2 (2.31) and 1 (2.81): idx 9
    # A (7, K=3): 1 -> (.25+1+1)/3 = .75 beats 1.5 (.92): idx 1
    # B: as C, the labelled point 101.5 not among the neighbours: 101.5, idx 17
    # C again (7 left: 0 1 2 4 7 11 16, K=3): 2 -> (1+4+4)/3 = 3 beats 1 (11/3): idx 10
    # E (5 unlabelled, K=2): 201.5 -> (.25+.25)/2: idx 25
    labels = np.array([1, 4] + CAND_LABELS)
    sel = typiclust(CANDS, 4, initial_embeddings=LABELLED, rng=np.random.default_rng(0),
                    normalize=False, labels=labels, cluster_order=order)
    assert list(sel.indices) == expected


def test_typicality_distance_squared_is_their_code_euclidean_the_papers_formula():
    # one cluster -1.5 0 1.5 4.3 4.4, K = 2: 0 has neighbours at 1.5 and 1.5, 4.3 at 0.1 and
    # 2.8. Squared: 0 -> 2.25, 4.3 -> 3.925 (4.4: 4.21); euclidean: 4.3 -> 1.45, 0 -> 1.5.
    x = np.array([-1.5, 0.0, 1.5, 4.3, 4.4])[:, None]
    picks = {dist: list(typiclust(x, 1, initial_embeddings=None, rng=np.random.default_rng(0),
                                  normalize=False, labels=np.zeros(5, int), min_cluster_size=0,
                                  typicality_distance=dist).indices)
             for dist in ("squared", "euclidean")}
    assert picks == {"squared": [1], "euclidean": [3]}


def test_typiclust_small_clusters_are_used_only_when_nothing_else_is_left():
    x = np.array([[0.0], [0.1], [5.0], [5.1]])
    sel = typiclust(x, 4, initial_embeddings=None, rng=np.random.default_rng(0),
                    normalize=False, labels=np.array([0, 0, 1, 1]))
    assert sorted(sel.indices) == [0, 1, 2, 3]
    assert sel.info["picks_ignoring_min_cluster_size"] == 4


# ProbCover on a line, delta = 1 (x covers y iff |x - y| < 1), the warm start at 0.
PC = np.array([0.5, 1.2, 5.0, 5.4, 5.8, 6.2, 10.0, 10.3, 20.0])[:, None]


def test_probcover_by_hand():
    # 0 covers {0, .5}. Degrees (new points covered): .5: {1.2} 1; 1.2: 1; 5: 3; 5.4: {5, 5.4,
    # 5.8, 6.2} 4; 5.8: 4; 6.2: 3; 10: 2; 10.3: 2; 20: 1. Greedy: 5.4 (tie with 5.8, lowest
    # index), then 10, then .5 (covers 1.2), then 20; everything is covered: 2 at random.
    sel = probcover(PC, 6, initial_embeddings=np.array([[0.0]]), rng=np.random.default_rng(0),
                    delta=1.0, normalize=False, n_classes=None)
    assert list(sel.indices[:4]) == [3, 6, 0, 8]
    assert set(sel.indices[4:]) <= {1, 2, 4, 5, 7} and len(set(sel.indices)) == 6
    assert sel.info["random_picks"] == 2 and sel.info["coverage"] == 1.0
    assert sel.info["n_edges"] == 26     # 10 self-loops + 8 pairs both ways
    tails = {tuple(probcover(PC, 9, initial_embeddings=np.array([[0.0]]), delta=1.0,
                             rng=np.random.default_rng(s), normalize=False,
                             n_classes=None).indices[4:]) for s in range(5)}
    assert len(tails) > 1                 # the random tail follows the rng


def test_probcover_purity_rule_by_hand():
    # clusters {0, 1, 2} and {5, 6}: distance to the nearest point of the other cluster
    # r = 5, 4, 3, 3, 4. purity(delta) = #{r >= delta} / 5 (ball: distance < delta).
    x = np.array([[0.0], [1.0], [2.0], [5.0], [6.0]])
    kw = dict(initial_embeddings=None, rng=np.random.default_rng(0), normalize=False,
              labels=np.array([0, 0, 0, 1, 1]))
    sel = probcover(x, 1, purity_threshold=0.6, **kw)     # 3 of 5 pure: delta = 4
    assert sel.info["delta"] == pytest.approx(4.0) and sel.info["purity"] == pytest.approx(0.6)
    sel = probcover(x, 1, purity_threshold=1.0, **kw)     # all pure: delta = 3
    assert sel.info["delta"] == pytest.approx(3.0) and sel.info["purity"] == 1.0
    sel = probcover(x, 1, purity_threshold=0.6, delta_step=1.5, **kw)   # 4 -> 3.0
    assert sel.info["delta"] == pytest.approx(3.0) and sel.info["purity"] == 1.0
    # radius 3: 0, 1 and 2 each cover {0, 1, 2} (|5 - 2| = 3 is not < 3), 5 and 6 cover
    # {5, 6}: the first of the three
    assert list(sel.indices) == [0]


def test_probcover_purity_of_a_given_delta_is_measured_on_its_balls():
    x = np.array([[0.0], [1.0], [2.0], [5.0], [6.0]])
    sel = probcover(x, 1, initial_embeddings=None, rng=np.random.default_rng(0),
                    normalize=False, labels=np.array([0, 0, 0, 1, 1]), delta=3.5)
    assert sel.info["purity"] == pytest.approx(0.6)       # balls of 2 and 5 are mixed


def test_probcover_delta_is_the_largest_with_purity_at_least_alpha():
    x = blobs()
    lab = lloyd(x, 10, seed=2)
    sel = probcover(x[40:], 5, initial_embeddings=x[:40], rng=np.random.default_rng(0),
                    labels=lab)
    f = _unit(x)
    d = np.sqrt(np.maximum((f * f).sum(1)[:, None] + (f * f).sum(1)[None] - 2 * f @ f.T, 0))
    np.fill_diagonal(d, 0)

    def purity(delta):
        return np.mean([(lab[d[i] < delta] == lab[i]).all() for i in range(len(f))])

    delta = sel.info["delta"]      # the supremum, to 1e-9 (float64 distances differ ~1e-16)
    assert purity(delta * (1 - 1e-9)) >= 0.95 > purity(delta * (1 + 1e-9))
    assert sel.info["purity"] >= 0.95


# -- agreement with the authors' code -------------------------------------------------------

TYPI_CASES = {  # name: (n points, n labelled, n_select, clusters = min(labelled + n_select, 500))
    "T1": (2000, 40, 60, 100),
    "T2": (2000, 0, 30, 30),
    "T3": (4000, 300, 300, 500),
}


@pytest.mark.parametrize("case", TYPI_CASES)
def test_typiclust_matches_the_authors_given_the_same_clustering(case):
    n, n_lab, n_select, n_clusters = TYPI_CASES[case]
    x = blobs(n)
    labels = voronoi(x, n_clusters, seed=1)
    theirs = globals()[f"AUTHORS_TYPICLUST_{case}"]
    run = dict(initial_embeddings=x[:n_lab], rng=np.random.default_rng(0), labels=labels)
    static = typiclust(x[n_lab:], n_select, cluster_order="static", **run)
    assert list(static.indices + n_lab) == theirs
    # the default (dynamic) order is the same while clusters without a labelled point last
    dynamic = typiclust(x[n_lab:], n_select, **run)
    size, count = np.bincount(labels), np.bincount(labels[:n_lab], minlength=n_clusters)
    fresh = int(((size > 5) & (count == 0)).sum())
    agree = min(fresh, n_select)
    assert list(dynamic.indices[:agree] + n_lab) == theirs[:agree]
    assert {"T1": 55, "T2": 30, "T3": 118}[case] == agree


PROB_CASES = {  # name: (blobs(...) arguments, n labelled, n_select, delta)
    "P1": (dict(), 40, 100, 0.65),
    "P2": (dict(), 0, 50, 0.65),
    "P3": (dict(d=8, k=10, seed=3, scale=1.0), 40, 300, 0.355),
}


@pytest.mark.parametrize("case", PROB_CASES)
def test_probcover_matches_the_authors_given_the_same_delta(case):
    kwargs, n_lab, n_select, delta = PROB_CASES[case]
    x = blobs(**kwargs)
    sel = probcover(x[n_lab:], n_select, initial_embeddings=x[:n_lab],
                    rng=np.random.default_rng(0), labels=lloyd(x, 10, seed=2), delta_step=0.001)
    assert sel.info["delta"] == pytest.approx(delta)
    theirs = globals()[f"AUTHORS_PROBCOVER_{case}"]
    greedy = n_select - sel.info["random_picks"]
    assert greedy == len(theirs)
    assert list(sel.indices[:greedy] + n_lab) == theirs
    # past full coverage their argmax returns index 0 (a labelled point) again and again; ours
    # are distinct random candidates
    assert len(np.unique(sel.indices)) == n_select


# The authors' picks (indices into the n points, labelled first), produced as the module
# docstring says; their ProbCover lists stop where everything is covered (P1: 52 of 100).
AUTHORS_TYPICLUST_T1 = [
    1342, 292, 705, 1956, 575, 1849, 1681, 1853, 1777, 303, 1632, 1959, 230, 791, 899, 1876,
    955, 1732, 1035, 1246, 1971, 1503, 465, 1078, 279, 1584, 1014, 1822, 1857, 1484, 1635, 714,
    563, 490, 517, 1957, 660, 1420, 1846, 416, 113, 66, 1595, 1611, 1809, 130, 1915, 1207, 981,
    487, 1653, 1463, 1569, 876, 1875, 784, 1039, 823, 1802, 78,
]

AUTHORS_TYPICLUST_T2 = [
    1105, 1876, 524, 1777, 1331, 306, 557, 1342, 279, 230, 1591, 380, 292, 654, 1566, 575,
    1484, 823, 1786, 1912, 872, 368, 182, 173, 755, 981, 1933, 658, 703, 1696,
]

AUTHORS_TYPICLUST_T3 = [
    3276, 3288, 1424, 1836, 657, 2835, 333, 3946, 2187, 3039, 2950, 3908, 3965, 2814, 3754,
    2324, 2088, 2787, 2678, 3331, 3376, 3315, 3071, 349, 474, 3051, 1383, 1124, 3748, 1119,
    918, 2058, 2740, 1637, 3870, 593, 770, 1984, 3006, 1940, 2425, 889, 1010, 1477, 1625, 2313,
    3660, 532, 3174, 1766, 3993, 2645, 824, 832, 3833, 1699, 1354, 2913, 3055, 2460, 1788,
    2781, 1597, 2170, 1281, 2110, 1353, 2218, 716, 1996, 3950, 1710, 2533, 1656, 3554, 1647,
    3787, 2771, 772, 2928, 2790, 2611, 3091, 2112, 3476, 2188, 3479, 2216, 2139, 2817, 3948,
    2392, 3262, 3636, 3205, 3703, 3451, 3637, 1292, 3936, 899, 2886, 2656, 1441, 3038, 3223,
    2689, 826, 2193, 2657, 3143, 2401, 3898, 1826, 1043, 3360, 956, 630, 1867, 905, 3872, 1692,
    3701, 568, 3730, 694, 1778, 2603, 690, 1151, 1236, 1616, 2658, 3745, 1531, 2223, 1777,
    1126, 955, 2881, 1154, 3881, 3934, 2768, 3624, 2605, 3248, 3056, 1046, 2341, 1702, 1012,
    2621, 3798, 3958, 864, 1158, 2380, 1596, 1504, 3694, 3968, 3459, 2977, 1547, 1177, 2456,
    950, 1318, 2965, 763, 1444, 3344, 2573, 3555, 2864, 2156, 3036, 3777, 1466, 1070, 3815,
    3213, 1460, 439, 2894, 1542, 3047, 3022, 373, 1732, 1173, 2793, 1181, 1257, 348, 3327,
    1240, 933, 1703, 3239, 3487, 1416, 2454, 2079, 806, 1289, 2759, 2721, 2301, 3979, 2934,
    2525, 2796, 3778, 2587, 692, 3688, 1917, 1523, 3320, 3032, 410, 1435, 2951, 1555, 1792,
    3784, 1044, 590, 2355, 415, 2545, 729, 412, 2584, 1094, 3119, 735, 3225, 1172, 1830, 335,
    1023, 3450, 2600, 1891, 2490, 930, 2512, 1500, 3093, 1040, 550, 3024, 2748, 1601, 3992,
    3198, 1946, 1877, 2350, 368, 2542, 634, 611, 2194, 1349, 470, 1057, 742, 3014, 3121, 620,
    1347, 308, 3990, 2567, 3562, 1372, 2540, 639, 1580, 3452, 2808, 3805, 3614, 2925, 2623,
    2738, 1150, 2666, 3500, 2402, 451, 2448, 3604, 3316, 2980, 3666,
]

AUTHORS_PROBCOVER_P1 = [
    955, 279, 1105, 1081, 524, 1258, 1043, 1174, 91, 274, 45, 328, 586, 604, 883, 609, 751,
    162, 186, 306, 534, 900, 1076, 56, 76, 146, 147, 150, 337, 440, 496, 634, 687, 807, 55, 60,
    118, 160, 189, 311, 465, 508, 719, 761, 765, 880, 884, 911, 1123, 1161, 1320, 1330,
]

AUTHORS_PROBCOVER_P2 = [
    1876, 524, 292, 1017, 1331, 1081, 282, 1105, 1342, 955, 1043, 872, 1258, 683, 1039, 919,
    82, 266, 1570, 691, 464, 1114, 306, 465, 607, 1776, 604, 609, 896, 12, 87, 221, 1076, 1204,
    60, 119, 314, 440, 1032, 1089, 1701, 56, 73, 76, 88, 118, 134, 160, 189, 311,
]

AUTHORS_PROBCOVER_P3 = [
    918, 395, 838, 863, 152, 1527, 1634, 127, 380, 798, 1136, 192, 251, 446, 976, 1237, 1810,
    115, 270, 471, 824, 898, 1314, 276, 523, 681, 777, 894, 1015, 1276, 1360, 1366, 1576, 1660,
    1695, 1768, 1881, 128, 186, 189, 400, 426, 467, 474, 617, 624, 691, 699, 714, 716, 778,
    785, 788, 907, 1010, 1017, 1157, 1295, 1349, 1401, 1579, 1700, 1782, 1987, 80, 94, 110,
    120, 149, 179, 236, 245, 289, 320, 340, 356, 360, 370, 387, 429, 438, 549, 551, 611, 616,
    640, 641, 650, 654, 666, 724, 760, 831, 836, 870, 934, 959, 991, 1037, 1039, 1071, 1074,
    1088, 1100, 1132, 1147, 1149, 1158, 1182, 1217, 1219, 1231, 1255, 1261, 1265, 1356, 1396,
    1448, 1519, 1529, 1569, 1583, 1617, 1667, 1684, 1713, 1730, 1742, 1792, 1888, 1920, 45, 55,
    56, 63, 78, 82, 87, 89, 91, 96, 105, 106, 117, 125, 136, 138, 169, 174, 177, 178, 180, 196,
    199, 206, 209, 220, 222, 238, 240, 249, 254, 256, 259, 268, 275, 278, 283, 291, 301, 311,
    315, 317, 321, 329, 330, 350, 353, 355, 358, 359, 364, 373, 376, 378, 379, 398, 411, 422,
    432, 450, 457, 466, 475, 496, 508, 510, 513, 515, 518, 525, 535, 548, 561, 562, 566, 578,
    579, 593, 639, 647, 675, 678, 689, 695, 698, 705, 710, 720, 730, 736, 744, 747, 754, 787,
    789, 801, 812, 821, 845, 859, 867, 868, 872, 923, 932, 946, 966, 978, 1008, 1034, 1040,
    1054, 1066, 1077, 1087, 1146, 1152, 1181, 1186, 1192, 1194, 1202, 1208, 1212, 1220, 1228,
    1235, 1240, 1251, 1268, 1277, 1278, 1290, 1293, 1300, 1310, 1346, 1364, 1369, 1382, 1425,
    1429, 1449, 1465, 1492, 1506, 1811, 1838, 41, 42, 44, 47, 49, 50, 51, 52, 53, 54, 57, 58,
    59, 60, 61, 64, 66, 67, 72, 73, 75,
]


def test_probcover_s_passes_on_jax_give_the_numpy_path_s_radius_graph_and_picks(monkeypatch):
    """The JAX path of ProbCover's two O(n^2 d) passes (used on a GPU worker) decides every pair
    in float64 as the numpy path does: same r(x), same balls, same picks, with exact ties
    (duplicated points) and more rows than one device block."""
    from coreset_bench.samplers import probcover as pc

    rng = np.random.default_rng(3)
    centers = rng.normal(size=(6, 12)) * 3
    x = centers[rng.integers(6, size=1500)] + rng.normal(size=(1500, 12))
    x[700:760] = x[100:160]                       # exact duplicates: ties within the bound
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(4, size=len(x))
    labels[700:760] = (labels[100:160] + 1) % 4   # a duplicate in another cluster: r(x) = 0
    x[800:860] = x[100:160]                       # and a third copy in a third cluster: two
    labels[800:860] = (labels[100:160] + 2) % 4   # nearest points tie (the row-by-row rule)
    calls = []
    block = pc._Blocks.block
    monkeypatch.setattr(pc._Blocks, "block", lambda self, s, e: calls.append(e - s) or block(self, s, e))
    monkeypatch.setattr(pc, "DEVICE_BLOCK_ROWS", 256)
    out = {}
    for path in ("numpy", "jax"):
        monkeypatch.setenv("CORESET_BENCH_SELECT_DEVICE", path)
        r2 = pc.nearest_other_cluster_sq(x, labels)
        delta2 = float(np.quantile(r2[r2 > 0], 0.3))
        indptr, indices = pc.delta_graph(x, delta2)
        sel = pc.probcover(x[200:], 40, initial_embeddings=x[:200], rng=np.random.default_rng(1),
                           labels=labels, delta_step=None)
        out[path] = (r2, delta2, indptr, indices, sel.indices, sel.info["delta"])
    a, b = out["numpy"], out["jax"]
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and (a[0] == 0).sum() >= 60
    assert np.array_equal(a[2], b[2]) and np.array_equal(a[3], b[3]) and len(a[3]) > 2 * len(x)
    assert np.array_equal(a[4], b[4]) and a[5] == b[5]
    assert calls.count(1) >= 60    # the JAX path decided the tied rows one by one


@pytest.mark.parametrize("margin,passes", [(4.0, 1), (-50.0, 2)])
def test_probcover_s_one_pass_gives_the_two_passes_radius_graph_and_picks(monkeypatch, margin,
                                                                          passes):
    """On the CPU the purity rule's r(x), its delta and the graph come from one pass over all
    pairs (the radius bounded first from a sample of rows): the same values as the two passes,
    with exact ties (duplicates across clusters), several blocks, and (margin < 0) a bound
    that falls short, where the graph takes the second pass."""
    from coreset_bench.samplers import probcover as pc

    rng = np.random.default_rng(5)
    centers = rng.normal(size=(6, 12)) * 3
    which = rng.integers(6, size=1500)
    x = centers[which] + rng.normal(size=(1500, 12))
    x[700:720] = x[100:120]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = which % 4
    labels[700:720] = (labels[100:120] + 1) % 4   # duplicates in another cluster: r(x) = 0
    monkeypatch.setenv("CORESET_BENCH_SELECT_DEVICE", "numpy")
    monkeypatch.setattr(pc, "BLOCK_ENTRIES", 300 * len(x))   # 5 blocks of rows
    for step in (None, 0.05):
        r2 = pc.nearest_other_cluster_sq(x, labels)
        need = int(np.ceil(0.95 * len(x)))
        delta2 = float(-np.partition(-r2, need - 1)[need - 1])
        if step is not None:
            delta2 = (np.floor(np.sqrt(delta2) / step + 1e-9) * step) ** 2
        indptr, indices = pc.delta_graph(x, delta2)
        r2_1, delta2_1, (indptr_1, indices_1), n_passes = pc.radius_and_graph(
            x, labels, 0.95, step, sample=200, margin=margin)
        if step is None:   # (rounded down, delta may fit under the bound either way)
            assert n_passes == passes
        assert delta2_1 == delta2 and np.array_equal(r2_1, r2)
        assert np.array_equal(indptr_1, indptr) and np.array_equal(indices_1, indices)
        assert len(indices) > len(x) + 500 and (r2 == 0).sum() >= 20
    kw = dict(initial_embeddings=x[:200], labels=labels, delta_step=None)
    one = pc.probcover(x[200:], 40, rng=np.random.default_rng(1), **kw)
    monkeypatch.setenv("CORESET_BENCH_SELECT_DEVICE", "jax")   # the two-pass path
    two = pc.probcover(x[200:], 40, rng=np.random.default_rng(1), **kw)
    assert np.array_equal(one.indices, two.indices) and one.info["delta"] == two.info["delta"]
    assert (one.info["passes"], two.info["passes"]) == (1, 2)

"""TypiClust (Hacohen, Dekel & Weinshall, "Active Learning on a Budget: Opposite Strategies Suit
High and Low Budgets", ICML 2022). Not in the paper's experiments: a low-budget baseline.

The labelled (warm-start) points and the candidates are clustered together by k-means into
``min(k' + n_select, max_clusters)`` clusters. Each pick takes, among the clusters of more than
``min_cluster_size`` points that still hold an unpicked candidate, the one with the fewest
labelled points (warm start and picks so far), the largest on ties (then the lowest cluster
id), and from it the unlabelled point of highest typicality

    typicality(x) = 1 / (mean distance from x to its K nearest neighbours + 1e-5),

the neighbours taken among that cluster's still-unlabelled points, K = min(k_nn, n_c // 2).

The authors' rules (their code, avihu111/TypiClust, ``deep-al/pycls/al/typiclust.py``), kept
as parameters with their values as defaults: at most 500 clusters; scikit-learn ``KMeans`` up
to 50 clusters, ``MiniBatchKMeans(batch_size=5000)`` above (restarts: scikit-learn's defaults
of the time, 10 and 3); clusters of at most 5 points are skipped; K = 20; features
L2-normalised first; the "distance" is the squared L2 distance (faiss ``IndexFlatL2``, as their
code computes it; ``typicality_distance: euclidean`` gives the paper's formula).

Where their code and the rule above part: (1) the authors sort the clusters once and cycle
through that order (``cluster_order: static`` does that); the default ``dynamic`` chooses the
cluster again after every pick (fewest labelled, counting the picks). The two agree whenever at
least ``n_select`` eligible clusters hold no labelled point (the usual case: there are
k' + n_select clusters); past that, ``static`` moves on to clusters that had one labelled point
(then two, ...) before coming back to the ones just picked from. (2) Where their code fails
(no cluster of more than ``min_cluster_size`` points has a candidate left; the cycle reaching an
exhausted cluster) the size rule is dropped, or the exhausted cluster skipped. A cluster with
one candidate left gets it (their code: the first index).

Memory: per pick, one cluster's unlabelled points against themselves, in row chunks.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import ConfigError
from ._base import SamplerSpec, Selection, check_n_select, on_embeddings, with_labelled

DISTANCES = ("squared", "euclidean")
ORDERS = ("dynamic", "static")


def _knn_mean_distance(x: np.ndarray, k: int, squared: bool) -> np.ndarray:
    """Mean (squared) L2 distance of each row of ``x`` to its ``k`` nearest other rows (row
    blocks of at most 2^24 distances)."""
    chunk = max(16, (1 << 24) // max(len(x), 1))
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty(len(x))
    for start in range(0, len(x), chunk):
        block = x[start:start + chunk]
        d = sq[start:start + chunk, None] + sq[None, :] - 2.0 * (block @ x.T)
        np.maximum(d, 0.0, out=d)
        d[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf   # not itself
        near = np.partition(d, k - 1, axis=1)[:, :k]
        out[start:start + chunk] = (near if squared else np.sqrt(near)).mean(axis=1)
    return out


def cluster_labels(x: np.ndarray, n_clusters: int, rng: np.random.Generator, *,
                   kmeans_max_clusters: int = 50, minibatch_size: int = 5000,
                   kmeans_n_init: int = 10, minibatch_n_init: int = 3) -> tuple[np.ndarray, str]:
    """The authors' clustering: ``KMeans`` up to ``kmeans_max_clusters`` clusters, else
    ``MiniBatchKMeans``; seeded from ``rng``. Returns (labels, which)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    seed = int(rng.integers(2**31 - 1))
    if n_clusters <= kmeans_max_clusters:
        km = KMeans(n_clusters=n_clusters, n_init=kmeans_n_init, random_state=seed)
        which = "KMeans"
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=minibatch_size,
                             n_init=minibatch_n_init, random_state=seed)
        which = "MiniBatchKMeans"
    return km.fit_predict(x).astype(np.int64), which


def typiclust(embeddings: np.ndarray, n_select: int, *, initial_embeddings: np.ndarray | None,
              rng: np.random.Generator, max_clusters: int = 500, kmeans_max_clusters: int = 50,
              minibatch_size: int = 5000, kmeans_n_init: int = 10, minibatch_n_init: int = 3,
              min_cluster_size: int = 5, k_nn: int = 20, typicality_distance: str = "squared",
              normalize: bool = True, cluster_order: str = "dynamic",
              labels: np.ndarray | None = None) -> Selection:
    """``n_select`` candidates (rows of ``embeddings``, (m, d)) by TypiClust.

    ``initial_embeddings`` (k', d): the already-labelled points. ``labels`` (optional, k' + m
    cluster ids of the labelled points then the candidates) replaces the k-means step, e.g. to
    compare with another implementation given the same clustering.

    Returns
    -------
    Selection
        distinct indices into ``embeddings``, in pick order; ``info``: the resolved parameters,
        the number of clusters and the k-means used.
    """
    x, init = with_labelled(embeddings, initial_embeddings)
    check_n_select(n_select, len(x))
    check_params(max_clusters=max_clusters, kmeans_max_clusters=kmeans_max_clusters,
                 minibatch_size=minibatch_size, kmeans_n_init=kmeans_n_init,
                 minibatch_n_init=minibatch_n_init, min_cluster_size=min_cluster_size,
                 k_nn=k_nn, typicality_distance=typicality_distance, normalize=normalize,
                 cluster_order=cluster_order)
    n_lab = len(init)
    feats = np.concatenate([init, x])
    if normalize:
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        feats = feats / np.where(norms > 0, norms, 1.0)
    n_clusters = min(n_lab + n_select, max_clusters)
    info = {"n_clusters": n_clusters, "max_clusters": max_clusters, "k_nn": k_nn,
            "min_cluster_size": min_cluster_size, "typicality_distance": typicality_distance,
            "normalize": bool(normalize), "cluster_order": cluster_order}
    t0 = time.perf_counter()
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(feats),) or labels.min(initial=0) < 0:
            raise ValueError(f"labels must be {len(feats)} non-negative cluster ids "
                             "(labelled points first, then the candidates)")
        info["kmeans"] = "given"
    elif n_select == 0:
        labels = np.zeros(len(feats), dtype=np.int64)
        info["kmeans"] = "none"
    else:
        labels, info["kmeans"] = cluster_labels(
            feats.astype(np.float32), n_clusters, rng, kmeans_max_clusters=kmeans_max_clusters,
            minibatch_size=minibatch_size, kmeans_n_init=kmeans_n_init,
            minibatch_n_init=minibatch_n_init)
    t_cluster = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_ids = int(labels.max(initial=-1)) + 1
    size = np.bincount(labels, minlength=n_ids)
    count = np.bincount(labels[:n_lab], minlength=n_ids)       # labelled points per cluster
    cand_labels = labels[n_lab:]
    left = np.bincount(cand_labels, minlength=n_ids)            # unpicked candidates per cluster
    big = size > min_cluster_size
    order = np.argsort(cand_labels, kind="stable")              # candidates grouped by cluster
    starts = np.concatenate([[0], np.cumsum(np.bincount(cand_labels, minlength=n_ids))])
    taken = np.zeros(len(x), dtype=bool)
    picks = np.empty(n_select, dtype=np.int64)
    relaxed = 0
    cycle = None
    if cluster_order == "static":   # the authors' loop: one order, cycled through
        ids = np.flatnonzero(big) if big.any() else np.flatnonzero(size > 0)
        cycle = ids[np.lexsort((ids, -size[ids], count[ids]))]
    for t in range(n_select):
        if cycle is not None:
            c = next((int(cycle[(t + j) % len(cycle)]) for j in range(len(cycle))
                      if left[cycle[(t + j) % len(cycle)]] > 0), None)
            if c is None:                                       # only skipped clusters remain
                cycle = None
        if cycle is None:
            ok = big & (left > 0)
            if not ok.any():                                    # only small clusters remain
                ok = left > 0
                relaxed += 1
            ids = np.flatnonzero(ok)
            c = int(ids[np.lexsort((ids, -size[ids], count[ids]))[0]])
        members = order[starts[c]:starts[c + 1]]
        members = members[~taken[members]]                      # ascending candidate index
        k = min(k_nn, len(members) // 2)
        if k == 0:
            i = int(members[0])
        else:
            mean_d = _knn_mean_distance(feats[n_lab + members], k,
                                        typicality_distance == "squared")
            i = int(members[np.argmax(1.0 / (mean_d + 1e-5))])
        picks[t] = i
        taken[i] = True
        count[c] += 1
        left[c] -= 1
    info["picks_ignoring_min_cluster_size"] = relaxed
    return Selection(indices=picks, timings={"cluster": t_cluster,
                                             "sample": time.perf_counter() - t0}, info=info)


def _int_at_least(key: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"sampler.{key}={value!r} must be an integer >= {low}")


def check_params(*, max_clusters=500, kmeans_max_clusters=50, minibatch_size=5000,
                 kmeans_n_init=10, minibatch_n_init=3, min_cluster_size=5, k_nn=20,
                 typicality_distance="squared", normalize=True, cluster_order="dynamic") -> None:
    for key, value, low in (("max_clusters", max_clusters, 1),
                            ("kmeans_max_clusters", kmeans_max_clusters, 0),
                            ("minibatch_size", minibatch_size, 1),
                            ("kmeans_n_init", kmeans_n_init, 1),
                            ("minibatch_n_init", minibatch_n_init, 1),
                            ("min_cluster_size", min_cluster_size, 0), ("k_nn", k_nn, 1)):
        _int_at_least(key, value, low)
    if typicality_distance not in DISTANCES:
        raise ConfigError(f"sampler.typicality_distance={typicality_distance!r} is not valid; "
                          f"valid choices: {', '.join(DISTANCES)}")
    if not isinstance(normalize, bool):
        raise ConfigError(f"sampler.normalize={normalize!r} must be true or false")
    if cluster_order not in ORDERS:
        raise ConfigError(f"sampler.cluster_order={cluster_order!r} is not valid; valid choices: "
                          f"{', '.join(ORDERS)}")


SPEC = SamplerSpec(
    name="typiclust",
    needs=("embeddings",),
    select=on_embeddings(typiclust, hidden=("labels",)),
    validate=lambda budget, n_select, **params: check_params(**params),   # before training
    citation="Hacohen, Dekel & Weinshall, ICML 2022 (TypiClust); not in the paper",
)

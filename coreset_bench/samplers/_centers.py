"""Exact nearest-center bookkeeping with triangle-inequality pruning (numba), shared by greedy
k-center (farthest-first traversal) and k-means++ seeding.

Both algorithms add centers one at a time and after each addition need every point's distance
to its nearest center. The plain way reads all n points (n * d floats) per added center, which
is memory-bound. Here every point p remembers its nearest center a(p) and squared distance
dist[p]. When a candidate center c is tried, p cannot get closer to c than to a(p) if
||c - C_a(p)|| >= 2 ||p - C_a(p)|| (Elkan 2003, Lemma 1), so only the points with
dist[p] > ||c - C_a(p)||^2 / 4 and (||p|| - ||c||)^2 < dist[p] are read; the tests are a
sequential pass over small arrays (about 24 bytes per point instead of 4 d). The result is exact: the same nearest centers and
distances as the full pass.

Distances are computed directly as sum((p - c)^2) with float64 accumulation from float32
data: half the bytes of a float64 copy, and at least as accurate as the
||p||^2 - 2 p.c + ||c||^2 expansion of the reference implementations (so picks agree with
them except at exact ties).

Many centers at once (k-center's warm-start centers, the first k-means++ seeds) go through
``Centers.bulk``: one chunked matrix product assigns every point.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_FM = {"reassoc", "contract"}  # lets the d-term sums vectorize; results stay deterministic


@njit(cache=True, fastmath=_FM)
def _sqdist(x, i, c):
    s = 0.0
    for t in range(x.shape[1]):
        diff = np.float64(x[i, t]) - np.float64(c[t])
        s += diff * diff
    return s


@njit(cache=True, fastmath=_FM)
def _sqdist32(x, i, c):
    """float32 sums: only to rank candidate centers (k-means++'s greedy trials), never stored."""
    s = np.float32(0.0)
    for t in range(x.shape[1]):
        diff = x[i, t] - c[t]
        s += diff * diff
    return s


@njit(cache=True, fastmath=_FM)
def _quarter_gaps2(centers, m, c):
    """||c - C_j||^2 / 4 for the first m centers."""
    out = np.empty(m)
    for j in range(m):
        s = 0.0
        for t in range(centers.shape[1]):
            diff = np.float64(centers[j, t]) - np.float64(c[t])
            s += diff * diff
        out[j] = 0.25 * s
    return out


@njit(cache=True, fastmath=_FM)
def _norm(c):
    s = 0.0
    for t in range(len(c)):
        s += np.float64(c[t]) * np.float64(c[t])
    return np.sqrt(s)


@njit(cache=True)
def try_centers(x, norms, centers, m, cands, dist, assign):
    """For each candidate: sum over points of max(0, dist_p - ||p - c||^2), how much it would
    lower k-means++'s potential; one pass, each point read once for all candidates."""
    k = len(cands)
    q = np.empty((k, m))
    for t in range(k):
        q[t] = _quarter_gaps2(centers, m, cands[t])
    cn = np.empty(k)
    for t in range(k):
        cn[t] = _norm(cands[t])
    gains = np.zeros(k)
    for p in range(len(dist)):
        a = assign[p]
        for t in range(k):
            if dist[p] > q[t, a] and (norms[p] - cn[t]) ** 2 < dist[p]:
                d = _sqdist32(x, p, cands[t])
                if d < dist[p]:
                    gains[t] += dist[p] - d
    return gains


@njit(cache=True)
def add_center(x, norms, index, centers, m, c, dist, assign):
    """Make ``c`` center number ``m`` (sets ``centers[m]``) and move the points it is nearest
    to. Returns (points read, position of the point now farthest from its center; among ties
    the one with the lowest ``index``)."""
    for t in range(x.shape[1]):
        centers[m, t] = c[t]
    q = _quarter_gaps2(centers, m, c)
    cn = _norm(c)
    read = 0
    far = -1
    top = -1.0
    for p in range(len(dist)):
        if dist[p] > q[assign[p]] and (norms[p] - cn) ** 2 < dist[p]:
            read += 1
            d = _sqdist(x, p, c)
            if d < dist[p]:
                dist[p] = d
                assign[p] = m
        if dist[p] > top or (dist[p] == top and index[p] < index[far]):
            top = dist[p]
            far = p
    return read, far


@njit(cache=True, fastmath=_FM)
def _exact_dist(x, centers, assign, out):
    for p in range(len(assign)):
        out[p] = _sqdist(x, p, centers[assign[p]])


class Centers:
    """n points (float32, (n, d)) and a growing set of at most ``capacity`` centers.

    ``reorder()`` stores the points grouped by nearest center (positions != original indices:
    ``index[pos]`` is the original index): the points one new center reads are then mostly
    neighbours in memory, which halves the cost of a k-center pick here (the reads are
    latency-bound gathers otherwise)."""

    def __init__(self, x: np.ndarray, capacity: int):
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        n, d = self.x.shape
        self.norms = np.empty(n)
        for s in range(0, n, 65536):   # row blocks: no float64 copy of the whole array
            x64 = self.x[s:s + 65536].astype(np.float64)
            self.norms[s:s + 65536] = np.sqrt(np.einsum("ij,ij->i", x64, x64))
        self.centers = np.zeros((max(capacity, 1), d), np.float32)
        self.m = 0
        self.dist = np.full(n, np.inf)
        self.assign = np.zeros(n, np.int64)
        self.index = np.arange(n, dtype=np.int64)
        self.far = 0
        self.read = 0  # distance computations so far (the plain method does n per center)

    def _check(self, extra: int) -> None:
        if self.m + extra > len(self.centers):
            raise ValueError(f"more than {len(self.centers)} centers")

    def add(self, c: np.ndarray) -> None:
        if self.m == 0:
            self.bulk(np.asarray(c)[None, :])
            return
        self._check(1)
        read, self.far = add_center(self.x, self.norms, self.index, self.centers, self.m, np.asarray(c, np.float32),
                                    self.dist, self.assign)
        self.read += read
        self.m += 1

    def bulk(self, centers: np.ndarray, chunk: int = 2048) -> None:
        """Add many centers at once: a chunked float64 product finds every point's nearest
        center among all centers so far, then its distance is recomputed directly."""
        centers = np.asarray(centers, np.float32)
        self._check(len(centers))
        new_m = self.m + len(centers)
        self.centers[self.m:new_m] = centers
        c64 = self.centers[:new_m].astype(np.float64)
        c_sq = np.einsum("ij,ij->i", c64, c64)
        for s in range(0, len(self.x), chunk):
            d = self.x[s:s + chunk].astype(np.float64) @ c64.T
            d *= -2.0
            d += c_sq
            self.assign[s:s + chunk] = d.argmin(axis=1)
        self.m = new_m
        _exact_dist(self.x, self.centers, self.assign, self.dist)
        top = self.dist.max() if len(self.dist) else 0.0
        self.far = int(np.flatnonzero(self.dist == top)[np.argmin(self.index[self.dist == top])]) \
            if len(self.dist) else 0
        self.read += len(self.x) * len(centers)

    def reorder(self) -> None:
        """Group the points by nearest center in memory (see the class docstring)."""
        order = np.argsort(self.assign, kind="stable")
        for name in ("x", "norms", "dist", "assign", "index"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[order]))
        top = self.dist.max() if len(self.dist) else 0.0
        self.far = int(np.flatnonzero(self.dist == top)[np.argmin(self.index[self.dist == top])]) \
            if len(self.dist) else 0

    def gains(self, cands: np.ndarray) -> np.ndarray:
        """How much adding each row of ``cands`` would lower sum(dist) (nothing is changed),
        in one pass over the points."""
        return try_centers(self.x, self.norms, self.centers, self.m, np.ascontiguousarray(cands, np.float32),
                           self.dist, self.assign)

    def farthest(self) -> int:
        """Position of the point farthest from its nearest center (lowest original index among
        ties); ``index[pos]`` is its original index, ``x[pos]`` its vector."""
        return int(self.far)

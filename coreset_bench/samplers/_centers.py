"""Exact nearest-center bookkeeping with triangle-inequality pruning (numba), shared by greedy
k-center (farthest-first traversal) and k-means++ seeding.

Both algorithms add centers one at a time and after each addition need every point's distance
to its nearest center. The plain way reads all n points (n * d floats) per added center, which
is memory-bound. Here every point p remembers its nearest center a(p) and squared distance
dist[p]. When a candidate center c is tried, p cannot get closer to c than to a(p) if
||c - C_a(p)|| >= 2 ||p - C_a(p)|| (Elkan 2003, Lemma 1), so only the points with
dist[p] > ||c - C_a(p)||^2 / 4 are read; the test itself is a sequential pass over two small
arrays (16 bytes per point instead of 4 d). The result is exact: the same nearest centers and
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


@njit(cache=True)
def try_center(x, centers, m, c, dist, assign):
    """Sum over points of max(0, dist_p - ||p - c||^2): how much ``c`` would lower the total
    squared distance (k-means++'s potential), reading only the points that can move."""
    q = _quarter_gaps2(centers, m, c)
    gain = 0.0
    for p in range(len(dist)):
        if dist[p] > q[assign[p]]:
            d = _sqdist(x, p, c)
            if d < dist[p]:
                gain += dist[p] - d
    return gain


@njit(cache=True)
def try_centers(x, centers, m, cands, dist, assign):
    """``try_center`` for several candidates in one pass (each point read once for all)."""
    k = len(cands)
    q = np.empty((k, m))
    for t in range(k):
        q[t] = _quarter_gaps2(centers, m, cands[t])
    gains = np.zeros(k)
    for p in range(len(dist)):
        a = assign[p]
        for t in range(k):
            if dist[p] > q[t, a]:
                d = _sqdist(x, p, cands[t])
                if d < dist[p]:
                    gains[t] += dist[p] - d
    return gains


@njit(cache=True)
def add_center(x, centers, m, c, dist, assign):
    """Make ``c`` center number ``m`` (sets ``centers[m]``) and move the points it is nearest
    to. Returns (points read, index of the point now farthest from its center, lowest index
    among ties)."""
    for t in range(x.shape[1]):
        centers[m, t] = c[t]
    q = _quarter_gaps2(centers, m, c)
    read = 0
    far = -1
    top = -1.0
    for p in range(len(dist)):
        if dist[p] > q[assign[p]]:
            read += 1
            d = _sqdist(x, p, c)
            if d < dist[p]:
                dist[p] = d
                assign[p] = m
        if dist[p] > top:
            top = dist[p]
            far = p
    return read, far


@njit(cache=True, fastmath=_FM)
def _exact_dist(x, centers, assign, out):
    for p in range(len(assign)):
        out[p] = _sqdist(x, p, centers[assign[p]])


class Centers:
    """n points (float32, (n, d)) and a growing set of at most ``capacity`` centers."""

    def __init__(self, x: np.ndarray, capacity: int):
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        n, d = self.x.shape
        self.centers = np.zeros((max(capacity, 1), d), np.float32)
        self.m = 0
        self.dist = np.full(n, np.inf)
        self.assign = np.zeros(n, np.int64)
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
        read, self.far = add_center(self.x, self.centers, self.m, np.asarray(c, np.float32),
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
        self.far = int(np.argmax(self.dist)) if len(self.dist) else 0
        self.read += len(self.x) * len(centers)

    def gain(self, c: np.ndarray) -> float:
        """How much adding ``c`` would lower sum(dist) (nothing is changed)."""
        return try_center(self.x, self.centers, self.m, np.asarray(c, np.float32), self.dist,
                          self.assign)

    def gains(self, cands: np.ndarray) -> np.ndarray:
        """``gain`` of each row of ``cands``, in one pass over the points."""
        return try_centers(self.x, self.centers, self.m, np.ascontiguousarray(cands, np.float32),
                           self.dist, self.assign)

    def farthest(self) -> int:
        """Index of the point farthest from its nearest center (lowest index among ties)."""
        return int(self.far)

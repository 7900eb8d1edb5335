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
def _candidate_gaps(centers, m, cands):
    """For each candidate t: ||c_t - C_j||^2 / 4 for the first m centers (rows of q), and
    ||c_t|| (cn)."""
    q = np.empty((len(cands), m))
    cn = np.empty(len(cands))
    for t in range(len(cands)):
        q[t] = _quarter_gaps2(centers, m, cands[t])
        cn[t] = _norm(cands[t])
    return q, cn


# A float32 distance is within d + 2 float32 roundings of the exact one ((d + 2) * 2^-24
# relative: 7.8e-6 at d = 128, 9.0e-5 at d = 1,500), the float64 distance within 1e-13: a point
# whose float32 distance is at least dist * _MARGIN cannot have a float64 distance below dist.
# 1e-4 covers d up to 1,500 (13x to spare at 128); wider data keeps every tested point, and so
# does a float32 sum that overflowed (see ``try_and_mark``).
_MARGIN = 1.0 + 1e-4


@njit(cache=True)
def try_and_mark(x, norms, centers, m, cands, dist, assign, near, counts):
    """For each candidate: sum over points of max(0, dist_p - ||p - c||^2), how much it would
    lower k-means++'s potential (one pass, each point read once for all candidates); and the
    positions p whose nearest center it may become (``near[t, :counts[t]]``): every p that
    ``add_center`` would move if t were added."""
    k = len(cands)
    q, cn = _candidate_gaps(centers, m, cands)
    gains = np.zeros(k)
    counts[:] = 0
    margin = _MARGIN if x.shape[1] <= 1500 else np.inf   # wide data: keep every tested point
    for p in range(len(dist)):
        a = assign[p]
        for t in range(k):
            if dist[p] > q[t, a] and (norms[p] - cn[t]) ** 2 < dist[p]:
                d = _sqdist32(x, p, cands[t])
                if d < dist[p]:
                    gains[t] += dist[p] - d
                if d < dist[p] * margin or d == np.inf:
                    near[t, counts[t]] = p
                    counts[t] += 1
    return gains


@njit(cache=True)
def add_marked(x, centers, m, c, dist, assign, near, count):
    """``add_center`` for a candidate ``try_and_mark`` marked: the same float64 distances and
    moves, read only at its marked positions (``far`` is not kept: k-means++ does not use it)."""
    for t in range(x.shape[1]):
        centers[m, t] = c[t]
    for i in range(count):
        p = near[i]
        d = _sqdist(x, p, c)
        if d < dist[p]:
            dist[p] = d
            assign[p] = m


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
        self._near = self._counts = self._cands = None   # the last gains call's marks

    def _check(self, extra: int) -> None:
        if self.m + extra > len(self.centers):
            raise ValueError(f"more than {len(self.centers)} centers")

    def add(self, c: np.ndarray) -> None:
        self._cands = None   # marks describe the state they were made in
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
        self._cands = None
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
        self._cands = None
        order = np.argsort(self.assign, kind="stable")
        for name in ("x", "norms", "dist", "assign", "index"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[order]))
        top = self.dist.max() if len(self.dist) else 0.0
        self.far = int(np.flatnonzero(self.dist == top)[np.argmin(self.index[self.dist == top])]) \
            if len(self.dist) else 0

    def gains(self, cands: np.ndarray) -> np.ndarray:
        """How much adding each row of ``cands`` would lower sum(dist), in one pass over the
        points; nothing is changed but the marks: for each candidate the points it would take,
        kept until ``add_marked``, which then reads only those (``add`` reads every point)."""
        cands = np.ascontiguousarray(cands, np.float32)
        if self._near is None or self._near.shape[0] < len(cands):
            self._near = np.empty((len(cands), len(self.x)), np.int32)
            self._counts = np.zeros(len(cands), np.int64)
        self._cands = cands
        return try_and_mark(self.x, self.norms, self.centers, self.m, cands, self.dist,
                            self.assign, self._near, self._counts)

    def add_marked(self, t: int) -> None:
        """Add candidate ``t`` of the last ``gains`` call (as ``add`` would, bar
        ``farthest``, which is not kept)."""
        self._check(1)
        if self._cands is None:
            raise ValueError("add_marked needs the marks of a gains call made since the last change")
        count = int(self._counts[t])
        add_marked(self.x, self.centers, self.m, self._cands[t], self.dist, self.assign,
                   self._near[t], count)
        self.read += count
        self.m += 1
        self._cands = None
        self.far = -1

    def farthest(self) -> int:
        """Position of the point farthest from its nearest center (lowest original index among
        ties); ``index[pos]`` is its original index, ``x[pos]`` its vector."""
        return int(self.far)


# ---------------------------------------------------------------------------------------------
# k-center's layout: the points stored grouped by nearest center, so that a new center streams
# through the clusters it can take points from instead of gathering scattered rows.

@njit(cache=True)
def _copy_slot(xs, sn, sd, sid, src, dst):
    for t in range(xs.shape[1]):
        xs[dst, t] = xs[src, t]
    sn[dst] = sn[src]
    sd[dst] = sd[src]
    sid[dst] = sid[src]


@njit(cache=True)
def _compact_slots(xs, sn, sd, sid, seg_start, seg_len, far, m, top):
    """Move the segments down over the holes left by shrunken clusters; returns the new top."""
    order = np.argsort(seg_start[:m])
    w = 0
    for o in range(m):
        j = order[o]
        s = seg_start[j]
        if s != w:
            for i in range(seg_len[j]):
                _copy_slot(xs, sn, sd, sid, s + i, w + i)
        if far[j] >= 0:
            far[j] += w - s
        seg_start[j] = w
        w += seg_len[j]
    sid[w:top] = -1
    return w


@njit(cache=True)
def _segment_top(sd, sid, start, stop):
    """(distance, slot) of the farthest point in slots start..stop-1 (lowest original index
    among ties); (-1, -1) when empty."""
    top_d = -1.0
    top_p = -1
    for i in range(start, stop):
        if sd[i] > top_d or (sd[i] == top_d and sid[i] < sid[top_p]):
            top_d = sd[i]
            top_p = i
    return top_d, top_p


@njit(cache=True)
def _farthest_slot(sid, r2, far, m):
    """Slot of the point farthest from its center over the first m clusters (lowest original
    index among ties)."""
    best = -1
    for j in range(m):
        if far[j] < 0:
            continue
        if best < 0 or r2[j] > r2[best] or (r2[j] == r2[best] and sid[far[j]] < sid[far[best]]):
            best = j
    return far[best]


@njit(cache=True)
def _probe(xs, sn, sd, centers, cnorms, m, c, seg_start, seg_len, r2, far, vis, dn,
           pretest=True):
    """First half of adding ``c`` as center number ``m`` of the grouped layout: which members
    move and their new distances (``dn``, in visit order; -1 for those that stay), nothing
    moved yet. Only clusters whose farthest member could be nearer to ``c`` are visited
    (r2[j] > ||c - C_j||^2 / 4, the norm gap |(||c|| - ||C_j||)| tested first); a visited
    member p is read only if dist[p] > ||c - C_j||^2 / 4 and (||p|| - ||c||)^2 < dist[p], and
    its float64 distance is summed only where the float32 one does not already prove c no
    nearer. ``pretest=False`` skips the float32 center-to-center sum (the previous version,
    kept to measure it against: the same decisions). Returns (clusters visited, points read,
    members visited, members that move)."""
    d = xs.shape[1]
    for t in range(d):
        centers[m, t] = c[t]
    cn = _norm(c)
    cnorms[m] = cn
    one_m_eps = 1.0 - (d + 2) * 1.2e-7   # float32 sum of d squares: relative error bound
    nv = 0
    pos = 0
    read = 0
    nb = 0
    for j in range(m):
        if far[j] < 0:
            continue
        ng = cnorms[j] - cn
        if 0.25 * ng * ng >= r2[j]:   # ||c - C_j|| >= | ||c|| - ||C_j|| |
            continue
        # ||c - C_j||^2 / 4: a float32 sum first, which proves most clusters out at half the
        # cost; the float64 one decides the rest (the same decisions as float64 alone)
        if pretest:
            q32 = 0.25 * _sqdist32(centers, j, c)
            if q32 * one_m_eps >= r2[j] and q32 != np.inf:   # (an overflowed sum proves nothing)
                continue
        q = 0.25 * _sqdist(centers, j, c)
        if q >= r2[j]:
            continue
        vis[nv] = j
        nv += 1
        start = seg_start[j]
        for i in range(start, start + seg_len[j]):
            dp = sd[i]
            dn[pos] = -1.0
            if dp > q and (sn[i] - cn) ** 2 < dp:
                read += 1
                d32 = _sqdist32(xs, i, c)
                if d32 * one_m_eps < dp or d32 == np.inf:
                    dnew = _sqdist(xs, i, c)
                    if dnew < dp:
                        dn[pos] = dnew
                        nb += 1
            pos += 1
    return nv, read, pos, nb


@njit(cache=True)
def _move(xs, sn, sd, sid, seg_start, seg_len, r2, far, m, vis, nv, dn, top):
    """Second half: the members ``_probe`` found move to the new cluster's segment at ``top``
    (the cluster's last member fills each slot left), each visited cluster's farthest member
    is found again. Returns (slot of the point now farthest from its center, new top)."""
    base = 0
    nb = 0
    for v in range(nv):
        j = vis[v]
        start = seg_start[j]
        n_j = seg_len[j]
        end = start + n_j
        top_d = -1.0
        top_p = -1
        i = start
        while i < end:
            k = base + i - start
            if dn[k] >= 0.0:
                dst = top + nb
                _copy_slot(xs, sn, sd, sid, i, dst)
                sd[dst] = dn[k]
                nb += 1
                end -= 1
                if i != end:
                    _copy_slot(xs, sn, sd, sid, end, i)
                    dn[k] = dn[base + end - start]
                sid[end] = -1
                continue
            if sd[i] > top_d or (sd[i] == top_d and sid[i] < sid[top_p]):
                top_d = sd[i]
                top_p = i
            i += 1
        seg_len[j] = end - start
        r2[j] = top_d
        far[j] = top_p
        base += n_j
    seg_start[m] = top
    seg_len[m] = nb
    r2[m], far[m] = _segment_top(sd, sid, top, top + nb)
    return _farthest_slot(sid, r2, far, m + 1), top + nb


@njit(cache=True)
def _group_slots(x, norms, dist, assign, m, xs, sn, sd, sid, seg_start, seg_len, r2, far):
    """Lay the points out by cluster (a counting sort on ``assign``), rows copied."""
    n = len(assign)
    seg_len[:m] = 0
    for p in range(n):
        seg_len[assign[p]] += 1
    s = 0
    for j in range(m):
        seg_start[j] = s
        s += seg_len[j]
    fill = seg_start[:m].copy()
    for p in range(n):
        j = assign[p]
        i = fill[j]
        fill[j] += 1
        for t in range(x.shape[1]):
            xs[i, t] = x[p, t]
        sn[i] = norms[p]
        sd[i] = dist[p]
        sid[i] = p
    for j in range(m):
        r2[j], far[j] = _segment_top(sd, sid, seg_start[j], seg_start[j] + seg_len[j])
    return n


def _spread_order(c: np.ndarray) -> np.ndarray:
    """The rows of ``c`` in farthest-first order from row 0 (float64, O(len(c)^2 d))."""
    c = c.astype(np.float64)
    sq = np.einsum("ij,ij->i", c, c)
    order = np.empty(len(c), np.int64)
    order[0] = 0
    md = np.maximum(sq - 2.0 * (c @ c[0]) + sq[0], 0.0)
    md[0] = -1.0
    for t in range(1, len(c)):
        i = int(np.argmax(md))
        order[t] = i
        np.minimum(md, np.maximum(sq - 2.0 * (c @ c[i]) + sq[i], 0.0), out=md)
        md[i] = -1.0
    return order


class GroupedCenters:
    """k-center's bookkeeping: n points (float32) and a growing set of at most ``capacity``
    centers, the points stored grouped by nearest center (each cluster a segment of slots, the
    rows copied there, with its farthest member). A new center reads only the clusters it can
    take points from, as streams; the farthest point is a scan over the clusters. Exact: the
    same nearest centers and float64 distances as ``Centers`` (and the plain full pass).

    The initial centers (k-center's warm start) are assigned by one chunked matrix product
    when it is small (n x k' <= ``bulk_limit``); otherwise the first ``first_bulk`` of them in
    farthest-first order are, and the rest are added one by one like picks, in that order
    (spread out first, so the clusters shrink early and each addition reads little): at
    n = 1M and k' = 2,000 the full product is 512 GFLOP. The order changes only which of two
    equally near centers a point is filed under, never a distance, so never a pick.
    """

    def __init__(self, x: np.ndarray, initial: np.ndarray, capacity: int,
                 first_bulk: int = 128, bulk_limit: float = 2e8, spare: int | None = None,
                 pretest: bool = True):
        x = np.ascontiguousarray(x, dtype=np.float32)
        n, d = x.shape
        init = np.asarray(initial, np.float32)
        if not len(init):
            raise ValueError("at least one initial center")
        cap = max(capacity, 1)
        if len(init) > cap:
            raise ValueError(f"more than {cap} centers")
        self.n = n
        self.centers = np.zeros((cap, d), np.float32)
        self.cnorms = np.zeros(cap)
        self.spare = n // 4 + 1024 if spare is None else spare   # slots beyond the n points
        slots = n + self.spare
        self.xs = np.empty((slots, d), np.float32)
        self.sn = np.zeros(slots)
        self.sd = np.zeros(slots)
        self.sid = np.full(slots, -1, np.int64)
        self.seg_start = np.zeros(cap, np.int64)
        self.seg_len = np.zeros(cap, np.int64)
        self.r2 = np.full(cap, -1.0)
        self.far_of = np.full(cap, -1, np.int64)
        self._vis = np.zeros(cap, np.int64)
        self._dn = np.empty(n)
        self.pretest = bool(pretest)   # False: ``_probe`` without its float32 pre-test
        self.m = 0
        self.top = 0
        self.read = 0
        self.visited = 0
        self.far = -1
        nb = len(init)
        if n * len(init) > bulk_limit and len(init) > first_bulk:
            init, nb = init[_spread_order(init)], max(first_bulk, 1)
        base = Centers(x, nb)
        base.bulk(init[:nb])
        self.centers[:nb] = init[:nb]
        i64 = init[:nb].astype(np.float64)
        self.cnorms[:nb] = np.sqrt(np.einsum("ij,ij->i", i64, i64))
        self.top = _group_slots(base.x, base.norms, base.dist, base.assign, nb, self.xs,
                                self.sn, self.sd, self.sid, self.seg_start, self.seg_len,
                                self.r2, self.far_of)
        self.m = nb
        self.read = base.read
        self.far = int(_farthest_slot(self.sid, self.r2, self.far_of, self.m))
        del base
        for c in init[nb:]:
            self.add(c)

    def add(self, c: np.ndarray) -> None:
        if self.m >= len(self.centers):
            raise ValueError(f"more than {len(self.centers)} centers")
        nv, read, visited, moved = _probe(
            self.xs, self.sn, self.sd, self.centers, self.cnorms, self.m,
            np.array(c, np.float32), self.seg_start, self.seg_len, self.r2, self.far_of,
            self._vis, self._dn, self.pretest)
        if self.top + moved > len(self.sd):   # the segments' holes first, then more slots
            self.top = _compact_slots(self.xs, self.sn, self.sd, self.sid, self.seg_start,
                                      self.seg_len, self.far_of, self.m, self.top)
            if self.top + moved > len(self.sd):
                self._grow(self.top + moved + self.spare)
        self.far, self.top = _move(self.xs, self.sn, self.sd, self.sid, self.seg_start,
                                   self.seg_len, self.r2, self.far_of, self.m, self._vis, nv,
                                   self._dn, self.top)
        self.read += read
        self.visited += visited
        self.m += 1

    def _grow(self, slots: int) -> None:
        for name in ("xs", "sn", "sd", "sid"):
            old = getattr(self, name)
            new = np.full((slots, *old.shape[1:]), -1 if name == "sid" else 0, old.dtype)
            new[:len(old)] = old
            setattr(self, name, new)

    def farthest(self) -> tuple[int, np.ndarray]:
        """(original index, a copy of its row) of the point farthest from its nearest center
        (lowest index among ties)."""
        return int(self.sid[self.far]), self.xs[self.far].copy()

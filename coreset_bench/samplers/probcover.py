"""ProbCover (Yehuda, Dekel, Hacohen & Weinshall, "Active Learning Through a Covering Lens",
NeurIPS 2022). Not in the paper's experiments: a low-budget baseline.

Around every point (the labelled warm start and the candidates) is a ball of radius delta;
x covers y iff ||x - y|| < delta (strict, as the authors' ``dist < delta``; so x covers
itself). The points covered by the labelled ones are removed first; then, greedily (max
coverage), each pick is the candidate covering the most points not yet covered (ties: lowest
index, as their ``argmax``). Once every point is covered the degrees are all 0 and the rest of
the picks are uniform at random among the unpicked candidates (``rng``).

delta. The authors' code (avihu111/TypiClust, ``deep-al/pycls/al/prob_cover.py``) takes delta
as an argument (0.75 on CIFAR-10, 0.6 on CIFAR-100); the paper chooses it by purity: cluster the
embeddings by k-means into as many clusters as there are classes, call the ball around x
*pure* when every point in it has x's cluster, purity(delta) = the fraction of points whose
ball is pure, and take the largest delta with purity(delta) >= alpha = 0.95. Here that rule is
computed exactly, not on a grid: with r(x) = the distance from x to the nearest point of
another cluster, the ball around x is pure iff delta <= r(x), so purity(delta) = the fraction
of points with r(x) >= delta and the largest delta is the ceil(alpha n)-th largest r(x).
``delta_step`` rounds it down to a grid (the authors' tables use steps of 0.05);
``delta`` sets it outright (its purity is still recorded when ``n_classes`` is set). Features
are L2-normalised first, as the authors' ``load_features`` does (``normalize``).

Memory: never an n x n matrix. Distances come in row blocks (float32 products, at most about
32 M entries a block); pairs within a float32 rounding bound of the threshold are decided
again in float64 from the differences, so every decision is the float64 one and the graph is
exactly symmetric; it is kept as CSR (int32 column indices), each row a point's ball. Time:
one pass over all pairs (``radius_and_graph``: the radius bounded first from a sample of rows,
then r(x) and every pair within the bound together, read once per block by a numba kernel),
where the reference path takes two (``nearest_other_cluster_sq``, then ``delta_graph``, as on
an accelerator); one when delta is given.

Where the products run: with JAX already imported on an accelerator (a GPU worker), the
float32 blocks and their reductions run there (``DEVICE_BLOCK_ROWS`` rows at a time, at float32
precision, never TF32) and only candidate pairs come back; the float64 decisions above make the
result the same pairs, radius and picks as the numpy path (a test runs both on the same data).
``CORESET_BENCH_SELECT_DEVICE=numpy|jax`` forces one path. Counted: each pass is n^2 d
multiply-adds, 4.1e11 at n = 40,000, d = 256 (CIFAR-10): about 15 s on one CPU core, well
under a second on a GPU.

Differences from the authors' code, on purpose: their graph loop skips the last
``n mod 500`` points as ball centres (``range(n // batch_size)``), and once everything is
covered their ``argmax`` returns index 0 again and again (a labelled point, or repeats); here
every point is a centre and the picks are distinct, random once all is covered.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

from ..errors import ConfigError
from ._base import SamplerSpec, Selection, check_n_select, on_embeddings, with_labelled

BLOCK_ENTRIES = 1 << 25   # float32 distances per block (128 MiB)
DEVICE_BLOCK_ROWS = 1024  # rows per block on an accelerator (n = 40,000: 164 MB of float32 a block)


def _use_device() -> bool:
    """The JAX path: forced by CORESET_BENCH_SELECT_DEVICE, else when JAX is already imported
    (a worker that trains with it) and its default device is not the CPU."""
    import os
    import sys

    forced = os.environ.get("CORESET_BENCH_SELECT_DEVICE", "").lower()
    if forced in ("numpy", "jax"):
        return forced == "jax"
    if "jax" not in sys.modules:
        return False
    import jax

    return jax.default_backend() != "cpu"


class _DeviceBlocks:
    """The products of ``_Blocks`` on JAX's default device; each method returns, for a block of
    rows, only what the float64 decisions need."""

    def __init__(self, f: np.ndarray, tol: np.ndarray, sq: np.ndarray):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.x = jnp.asarray(f.astype(np.float32))
        self.half_sq = jnp.asarray((0.5 * sq).astype(np.float32))
        self.n = len(f)
        self._fns: dict = {}

    def _h(self, xb):
        jnp = self.jnp
        return jnp.matmul(xb, self.x.T, precision=self.jax.lax.Precision.HIGHEST) - self.half_sq[None, :]

    def _fn(self, name, make):
        if name not in self._fns:
            self._fns[name] = self.jax.jit(make())
        return self._fns[name]

    def nearest(self, start: int, stop: int, lo: int, hi: int, tol: np.ndarray):
        """Rows start..stop-1 (cluster lo..hi-1): the float32 nearest column outside the cluster
        and how many columns lie within ``tol`` of it."""
        jnp = self.jnp

        def make():
            def f(xb, lo, hi, tol):
                h = self._h(xb)
                col = jnp.arange(self.n)[None, :]
                h = jnp.where((col >= lo) & (col < hi), -jnp.inf, h)
                top = h.max(axis=1)
                near = h >= (top - tol)[:, None]
                return jnp.argmax(h, axis=1), near.sum(axis=1)
            return f
        rows = DEVICE_BLOCK_ROWS
        xb = self.x[start:stop]
        pad = rows - (stop - start)
        tol32 = np.zeros(rows, np.float32)
        tol32[:stop - start] = tol
        if pad:
            xb = jnp.concatenate([xb, jnp.zeros((pad, xb.shape[1]), xb.dtype)])
        arg, count = self._fn("nearest", make)(xb, lo, hi, jnp.asarray(tol32))
        return np.asarray(arg)[:stop - start], np.asarray(count)[:stop - start]

    def edges(self, start: int, stop: int, lo_thr: np.ndarray):
        """Rows start..stop-1: every (row offset, column, h) with h > lo_thr[row]."""
        jnp = self.jnp
        rows = DEVICE_BLOCK_ROWS
        thr = np.full(rows, np.inf, np.float32)
        thr[:stop - start] = lo_thr
        xb = self.x[start:stop]
        if stop - start < rows:
            xb = jnp.concatenate([xb, jnp.zeros((rows - (stop - start), xb.shape[1]), xb.dtype)])
        thr = jnp.asarray(thr)
        total = int(self._fn("count", lambda: lambda xb, thr: (self._h(xb) > thr[:, None]).sum())(xb, thr))
        if total == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
        size = 1 << (total - 1).bit_length()   # a few compiled sizes, not one per block

        def make(size=size):
            def f(xb, thr):
                h = self._h(xb)
                ri, cj = jnp.nonzero(h > thr[:, None], size=size, fill_value=0)
                return ri, cj, h[ri, cj]
            return f
        ri, cj, hv = self._fn(("edges", size), make)(xb, thr)
        return (np.asarray(ri)[:total].astype(np.int64), np.asarray(cj)[:total].astype(np.int64),
                np.asarray(hv)[:total])


def _exact_sq(f: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 1 << 15) -> np.ndarray:
    """float64 ||f[a] - f[b]||^2 from the differences (the same value for (a, b) and (b, a))."""
    out = np.empty(len(a))
    for s in range(0, len(a), chunk):
        diff = f[a[s:s + chunk]] - f[b[s:s + chunk]]
        out[s:s + chunk] = np.einsum("ij,ij->i", diff, diff)
    out[a == b] = 0.0
    return out


class _Blocks:
    """Row blocks of h_ij = x_i . x_j - |x_j|^2 / 2 in float32, so that the squared distance is
    |x_i|^2 - 2 h_ij: one product and one pass per block (no n x n matrix)."""

    def __init__(self, f: np.ndarray):
        self.x = f.astype(np.float32)
        self.half_sq = (0.5 * np.einsum("ij,ij->i", f, f)).astype(np.float32)
        sq = np.einsum("ij,ij->i", f, f)
        # |fl32(d2) - d2| < tol_i for every pair (i, j): d products of float32 roundings
        # (worst case d * 2^-24 relative each) plus the rounding of f to float32, with room
        self.tol = 4e-7 * max(f.shape[1], 16) * (sq + sq.max(initial=0.0)) + 1e-30
        self.sq = sq
        self.rows = max(16, BLOCK_ENTRIES // max(len(f), 1))
        self._buf = np.empty((min(self.rows, len(f)), len(f)), dtype=np.float32)

    def block(self, start: int, stop: int) -> np.ndarray:
        h = np.matmul(self.x[start:stop], self.x.T, out=self._buf[:stop - start])
        h -= self.half_sq[None, :]
        return h


def nearest_other_cluster_sq(f: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """r(x)^2: squared distance from each point to the nearest point of another cluster
    (the float64 value; inf when there is one cluster)."""
    perm = np.argsort(labels, kind="stable")
    fp = f[perm]                                    # grouped by cluster
    blocks = _Blocks(fp)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels))])
    r2 = np.full(len(f), np.inf)
    device = _DeviceBlocks(fp, blocks.tol, blocks.sq) if _use_device() else None
    for c in range(len(bounds) - 1):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        if lo == hi or hi - lo == len(f):
            continue
        step = DEVICE_BLOCK_ROWS if device is not None else blocks.rows
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            if device is not None:
                arg, count = device.nearest(s, e, lo, hi, blocks.tol[s:e].astype(np.float32))
                one = count == 1    # the float32 nearest alone within tol: it is the nearest
                best = np.full(e - s, np.inf)
                best[one] = _exact_sq(fp, s + np.flatnonzero(one), arg[one])
                for i in np.flatnonzero(~one):   # ties within tol (rare): the numpy rule, row by row
                    h = blocks.block(s + i, s + i + 1)
                    h[:, lo:hi] = -np.inf
                    top = float(h.max())
                    cj = np.flatnonzero(h[0] >= np.float32(top - blocks.tol[s + i]))
                    best[i] = _exact_sq(fp, np.full(len(cj), s + i), cj).min()
                r2[perm[s:e]] = best
                continue
            h = blocks.block(s, e)
            h[:, lo:hi] = -np.inf                   # own cluster
            top = h.max(axis=1).astype(np.float64)  # the float32 nearest, then all within 2 tol
            ri, cj = np.nonzero(h >= (top - blocks.tol[s:e]).astype(np.float32)[:, None])
            best = np.full(e - s, np.inf)
            np.minimum.at(best, ri, _exact_sq(fp, s + ri, cj))
            r2[perm[s:e]] = best
    return r2


def delta_graph(f: np.ndarray, delta2: float) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr int64, indices int32) of the balls: row i lists every j with
    ||f_i - f_j||^2 < delta2 (the float64 decision), i itself included when delta2 > 0."""
    blocks = _Blocks(f)
    n = len(f)
    counts = np.zeros(n, dtype=np.int64)
    parts = []
    device = _DeviceBlocks(f, blocks.tol, blocks.sq) if _use_device() else None
    step = DEVICE_BLOCK_ROWS if device is not None else blocks.rows
    for s in range(0, n, step):
        e = min(s + step, n)
        sq, tol = blocks.sq[s:e], blocks.tol[s:e]
        # d2 < delta2 + tol  <=>  h > (sq - delta2 - tol) / 2: every possible edge
        lo_thr = ((sq - delta2 - tol) / 2).astype(np.float32)
        if device is not None:
            ri, cj, hv = device.edges(s, e, lo_thr)
        else:
            h = blocks.block(s, e)
            ri, cj = np.nonzero(h > lo_thr[:, None])
            hv = h[ri, cj]
        sure = hv.astype(np.float64) > ((sq - delta2 + tol) / 2)[ri]
        check = np.flatnonzero(~sure)
        sure[check] = _exact_sq(f, s + ri[check], cj[check]) < delta2
        parts.append(cj[sure].astype(np.int32))            # row-major: grouped by row
        counts[s:e] = np.bincount(ri[sure], minlength=e - s)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)
    return indptr, indices


@njit(cache=True)
def _scan_rows(h, s, half_sq, lo, hi, tol, lo_thr, ei, ej, ev, ne, ri_c, rj_c, nc):
    """One block of rows of ``_Blocks`` (``h`` = x_i . x_j, float32; rows s.., grouped by
    cluster, row i's cluster the columns lo[i]..hi[i]-1), read once: every column with
    h - |x_j|^2/2 > lo_thr[i] (edge candidates ei, ej, ev, appended at ne) and the columns of
    other clusters within tol[i] of the row's float32 nearest one (candidates for r(x)^2,
    appended at nc). Returns the new (ne, nc, 0), or (ne, nc, 1) / (ne, nc, 2) when the edge /
    r buffer is full (start the block again with a larger one)."""
    rows, n = h.shape
    for i in range(rows):
        a = lo[i]
        b = hi[i]
        thr = lo_thr[i]
        top = -np.inf
        for j in range(n):
            v = h[i, j] - half_sq[j]
            if v > thr:
                if ne == len(ei):
                    return ne, nc, 1
                ei[ne] = s + i
                ej[ne] = j
                ev[ne] = v
                ne += 1
            if v > top and (j < a or j >= b):
                top = v
        if top == -np.inf:   # one cluster: no r(x)
            continue
        cut = np.float32(top - tol[i])
        for j in range(n):
            if j >= a and j < b:
                continue
            if h[i, j] - half_sq[j] >= cut:
                if nc == len(ri_c):
                    return ne, nc, 2
                ri_c[nc] = s + i
                rj_c[nc] = j
                nc += 1
    return ne, nc, 0


def _grown(a: np.ndarray, used: int) -> np.ndarray:
    out = np.empty(2 * len(a), a.dtype)
    out[:used] = a[:used]
    return out


def _scan(blocks: _Blocks, rows_at: np.ndarray, lo: np.ndarray, hi: np.ndarray,
          lo_thr: np.ndarray, edge_cap: int):
    """``_scan_rows`` over the rows ``rows_at`` (ascending), in blocks: (edge candidates
    (rows, cols, h), r candidates (rows, cols)), rows and columns in ``blocks``' order."""
    ei, ej, ev = (np.empty(edge_cap, np.int64), np.empty(edge_cap, np.int64),
                  np.empty(edge_cap, np.float32))
    ri, rj = np.empty(2 * len(rows_at) + 16, np.int64), np.empty(2 * len(rows_at) + 16, np.int64)
    ne = nc = 0
    for b0 in range(0, len(rows_at), blocks.rows):
        at = rows_at[b0:b0 + blocks.rows]
        h = np.matmul(blocks.x[at], blocks.x.T, out=blocks._buf[:len(at)])
        while True:
            # rows of a block are consecutive when rows_at is a range; else one at a time
            if at[-1] - at[0] == len(at) - 1:
                got = _scan_rows(h, at[0], blocks.half_sq, lo[at], hi[at], blocks.tol[at],
                                 lo_thr[at], ei, ej, ev, ne, ri, rj, nc)
            else:
                got = (ne, nc, 0)
                for k, r in enumerate(at):
                    got = _scan_rows(h[k:k + 1], r, blocks.half_sq, lo[r:r + 1], hi[r:r + 1],
                                     blocks.tol[r:r + 1], lo_thr[r:r + 1], ei, ej, ev, got[0],
                                     ri, rj, got[1])
                    if got[2]:
                        break
            if got[2] == 0:
                ne, nc = got[0], got[1]
                break
            if got[2] == 1:   # a full buffer: grow it and scan the block again
                ei, ej, ev = _grown(ei, ne), _grown(ej, ne), _grown(ev, ne)
            else:
                ri, rj = _grown(ri, nc), _grown(rj, nc)
    return (ei[:ne], ej[:ne], ev[:ne]), (ri[:nc], rj[:nc])


def purity_delta2(r2: np.ndarray, purity_threshold: float, delta_step: float | None) -> float:
    """The purity rule: the largest delta^2 with purity >= the threshold (the
    ceil(threshold n)-th largest r(x)^2), rounded down to a multiple of ``delta_step``; inf
    when every ball is pure (one cluster)."""
    n = len(r2)
    need = min(n, max(1, math.ceil(round(purity_threshold * n, 9))))
    delta2 = float(np.partition(-r2, need - 1)[need - 1] * -1)
    if delta_step is not None and np.isfinite(delta2):
        delta2 = (math.floor(math.sqrt(delta2) / delta_step + 1e-9) * delta_step) ** 2
    return delta2


def radius_and_graph(f: np.ndarray, labels: np.ndarray, purity_threshold: float,
                     delta_step: float | None, sample: int = 2048, margin: float = 4.0):
    """The purity rule's r(x)^2, its delta^2 and the graph of that delta in ONE pass over all
    pairs (``nearest_other_cluster_sq`` then ``delta_graph`` take two), the same values.

    The graph's radius is not known until every r(x) is: an upper bound comes first from
    ``sample`` evenly spaced rows (their exact r(x); delta^2 is a quantile of r(x)^2, and the
    sample's quantile ``margin`` standard errors higher bounds it), then the one pass keeps
    every pair that can lie within that bound beside the r(x) candidates; the pairs within the
    final delta are then decided in float64 as ``delta_graph`` decides them. Should the bound
    fall short (rare at a 4-standard-error margin), ``delta_graph`` makes the graph in a
    second pass. Returns (r2, delta2, (indptr, indices) or None when delta is inf, passes)."""
    n = len(f)
    perm = np.argsort(labels, kind="stable")
    fp = f[perm]
    blocks = _Blocks(fp)
    counts = np.bincount(labels)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    lab_p = labels[perm]
    lo, hi = bounds[lab_p].astype(np.int64), bounds[lab_p + 1].astype(np.int64)
    need = min(n, max(1, math.ceil(round(purity_threshold * n, 9))))

    def r2_of(rows: np.ndarray, cand) -> np.ndarray:
        best = np.full(n, np.inf)
        np.minimum.at(best, cand[0], _exact_sq(fp, cand[0], cand[1]))
        return best[rows]

    never = np.full(n, np.inf, np.float32)
    rows_s = np.unique(np.linspace(0, n - 1, min(sample, n)).astype(np.int64))
    _, cand = _scan(blocks, rows_s, lo, hi, never, 16)
    r2_s = np.sort(r2_of(rows_s, cand))
    q = 1.0 - need / n   # delta^2 is the (n - need + 1)-th smallest r(x)^2
    q_ub = q + margin * math.sqrt(max(q * (1 - q), 1.0 / n) / len(rows_s)) + 1.0 / len(rows_s)
    ub2 = float(r2_s[min(len(r2_s) - 1, max(0, int(math.ceil(q_ub * len(r2_s)))))])
    if not np.isfinite(ub2):
        ub2 = -1.0   # one cluster (r = inf): no edges now; the caller stops
    lo_thr = ((blocks.sq - ub2 - blocks.tol) / 2).astype(np.float32)
    edges, cand = _scan(blocks, np.arange(n), lo, hi, lo_thr, max(1 << 20, 16 * n))
    r2p = r2_of(np.arange(n), cand)
    r2 = np.empty(n)
    r2[perm] = r2p
    delta2 = purity_delta2(r2, purity_threshold, delta_step)
    if not np.isfinite(delta2):
        return r2, delta2, None, 1
    if delta2 > ub2:
        return r2, delta2, delta_graph(f, delta2), 2
    ei, ej, ev = edges
    sq, tol = blocks.sq[ei], blocks.tol[ei]
    keep = ev > ((sq - delta2 - tol) / 2).astype(np.float32)   # delta_graph's candidates
    ei, ej, ev, sq, tol = ei[keep], ej[keep], ev[keep], sq[keep], tol[keep]
    sure = ev.astype(np.float64) > (sq - delta2 + tol) / 2
    check = np.flatnonzero(~sure)
    sure[check] = _exact_sq(fp, ei[check], ej[check]) < delta2
    rows, cols = perm[ei[sure]], perm[ej[sure]]
    order = np.lexsort((cols, rows))
    indices = cols[order].astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    return r2, delta2, (indptr, indices), 1


def _gather(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Concatenated CSR rows ``rows``."""
    starts, lens = indptr[rows], indptr[rows + 1] - indptr[rows]
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, dtype=indices.dtype)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return indices[offsets + np.arange(total)]


def greedy_cover(indptr: np.ndarray, indices: np.ndarray, n_lab: int, n_select: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Greedy max coverage on a symmetric ball graph (points 0..n_lab-1 labelled): picks among
    points n_lab.. (returned as such indices), then uniform at random once all is covered."""
    n = len(indptr) - 1
    covered = np.zeros(n, dtype=bool)
    covered[indices[:indptr[n_lab]]] = True
    csum = np.concatenate([[0], np.cumsum(~covered[indices])])
    deg = (csum[indptr[1:]] - csum[indptr[:-1]]).astype(np.int64)
    deg[:n_lab] = -1
    picked = np.zeros(n, dtype=bool)
    picks = np.empty(n_select, dtype=np.int64)
    coverage_before_random = None
    t = 0
    while t < n_select:
        i = n_lab + int(np.argmax(deg[n_lab:]))
        if deg[i] <= 0:   # everything is covered: the rest at random, as the authors
            coverage_before_random = float(covered.mean())
            rest = np.flatnonzero(~picked[n_lab:]) + n_lab
            picks[t:] = rng.choice(rest, size=n_select - t, replace=False)
            break
        picks[t] = i
        picked[i] = True
        new = indices[indptr[i]:indptr[i + 1]]
        new = new[~covered[new]]
        covered[new] = True
        # the balls that contained a newly covered point lose it (the graph is symmetric)
        deg -= np.bincount(_gather(indptr, indices, new), minlength=n)
        t += 1
    info = {"coverage": float(covered.mean()) if coverage_before_random is None
            else coverage_before_random,
            "random_picks": int(n_select - t)}
    return picks - n_lab, info


def probcover(embeddings: np.ndarray, n_select: int, *, initial_embeddings: np.ndarray | None,
              rng: np.random.Generator, delta: float | None = None,
              purity_threshold: float = 0.95, n_classes: int | None = 10,
              delta_step: float | None = None, kmeans_n_init: int = 10, normalize: bool = True,
              labels: np.ndarray | None = None) -> Selection:
    """``n_select`` candidates (rows of ``embeddings``, (m, d)) by ProbCover.

    ``initial_embeddings`` (k', d): the labelled points, whose balls are covered first.
    ``labels`` (optional; k' + m cluster ids, labelled points first) replaces the k-means of
    the purity rule.

    Returns
    -------
    Selection
        distinct indices into ``embeddings``, in pick order; ``info``: ``delta`` and how it was
        chosen, its ``purity``, the edge count, the coverage reached by the greedy picks and
        the number of random picks.
    """
    x, init = with_labelled(embeddings, initial_embeddings)
    check_n_select(n_select, len(x))
    check_params(delta=delta, purity_threshold=purity_threshold, n_classes=n_classes,
                 delta_step=delta_step, kmeans_n_init=kmeans_n_init, normalize=normalize)
    n_lab = len(init)
    f = np.concatenate([init, x])
    if normalize:
        norms = np.linalg.norm(f, axis=1, keepdims=True)
        f = f / np.where(norms > 0, norms, 1.0)
    n = len(f)
    info: dict = {"normalize": bool(normalize), "n_classes": n_classes,
                  "purity_threshold": purity_threshold}

    t0 = time.perf_counter()
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (n,) or labels.min(initial=0) < 0:
            raise ValueError(f"labels must be {n} non-negative cluster ids (labelled points "
                             "first, then the candidates)")
    elif n_classes is not None:
        if n_classes > n:
            raise ConfigError(f"sampler.n_classes={n_classes} exceeds the {n} points "
                              "(warm start + candidates)")
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=n_classes, n_init=kmeans_n_init,
                    random_state=int(rng.integers(2**31 - 1)))
        labels = km.fit_predict(f.astype(np.float32)).astype(np.int64)
    r2 = graph = None
    if delta is None:
        if _use_device():   # two passes, each on the accelerator
            r2 = nearest_other_cluster_sq(f, labels)
            delta2, passes = purity_delta2(r2, purity_threshold, delta_step), 2
        else:               # one pass on the CPU
            r2, delta2, graph, passes = radius_and_graph(f, labels, purity_threshold,
                                                         delta_step)
        if not np.isfinite(delta2):
            raise ConfigError("sampler.delta=null: the k-means found one cluster, so every "
                              "ball is pure; set sampler.delta to a number > 0")
        info["delta_rule"] = f"largest delta with purity >= {purity_threshold}"
        if delta_step is not None:
            info["delta_rule"] += f", rounded down to a multiple of {delta_step}"
        info["purity"] = float(np.mean(r2 >= delta2))
        info["passes"] = passes
    else:
        delta2 = float(delta) ** 2
        info["delta_rule"] = "given"
    t_cluster = time.perf_counter() - t0
    info["delta"] = math.sqrt(delta2)

    t0 = time.perf_counter()
    indptr, indices = graph if graph is not None else delta_graph(f, delta2)
    info["n_edges"] = int(len(indices))
    if r2 is None and labels is not None:   # purity of the given delta, from its balls
        rows = np.repeat(np.arange(n), np.diff(indptr))
        impure = np.bincount(rows, weights=labels[indices] != labels[rows], minlength=n) > 0
        info["purity"] = float(1.0 - impure.mean())
    elif r2 is None:
        info["purity"] = None
    t_graph = time.perf_counter() - t0

    t0 = time.perf_counter()
    picks, cover_info = greedy_cover(indptr, indices, n_lab, n_select, rng)
    info.update(cover_info)
    return Selection(indices=picks, timings={"cluster": t_cluster, "score": t_graph,
                                             "sample": time.perf_counter() - t0}, info=info)


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer,
                                                              np.floating))


def check_params(*, delta=None, purity_threshold=0.95, n_classes=10, delta_step=None,
                 kmeans_n_init=10, normalize=True) -> None:
    if delta is not None and not (_number(delta) and 0 < delta < math.inf):
        raise ConfigError(f"sampler.delta={delta!r} must be a number > 0, or null (the purity "
                          "rule)")
    if not (_number(purity_threshold) and 0 < purity_threshold <= 1):
        raise ConfigError(f"sampler.purity_threshold={purity_threshold!r} must be in (0, 1]")
    if n_classes is not None and (not _number(n_classes) or int(n_classes) != n_classes
                                  or n_classes < 2):
        raise ConfigError(f"sampler.n_classes={n_classes!r} must be an integer >= 2 (or null "
                          "with a given delta)")
    if n_classes is None and delta is None:
        raise ConfigError("sampler.n_classes=None: the purity rule (delta=null) needs the "
                          "number of k-means clusters, an integer >= 2")
    if delta_step is not None and not (_number(delta_step) and 0 < delta_step < math.inf):
        raise ConfigError(f"sampler.delta_step={delta_step!r} must be a number > 0, or null")
    if isinstance(kmeans_n_init, bool) or not isinstance(kmeans_n_init, (int, np.integer)) \
            or kmeans_n_init < 1:
        raise ConfigError(f"sampler.kmeans_n_init={kmeans_n_init!r} must be an integer >= 1")
    if not isinstance(normalize, bool):
        raise ConfigError(f"sampler.normalize={normalize!r} must be true or false")


SPEC = SamplerSpec(
    name="probcover",
    needs=("embeddings",),
    select=on_embeddings(probcover, hidden=("labels",)),
    validate=lambda budget, n_select, **params: check_params(**params),   # before training
    citation="Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022 (ProbCover); not in the paper",
)

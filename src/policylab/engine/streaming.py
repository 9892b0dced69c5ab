"""Out-of-core fixed-effects least squares from sufficient statistics.

Model: ``y = X b + a_unit + D g + e`` with (optional) weights ``w``, where ``a_unit``
is the panel unit's effect (many levels) and ``D = [D_2, ..., D_m]`` are the dummies
of the remaining *small* fixed effects (year, region^year: few enough levels, T in
all, that T x T matrices fit in memory).

Rows arrive in chunks in which every unit is complete (all of its rows are in the
chunk, in any order). The estimator is the Frisch-Waugh-Lovell composition of two
projections:

1. **Within each unit** (exact, chunk by chunk): ``z~ = z - zbar_unit`` (weighted
   means) for ``z`` in ``[X, y]``, and likewise ``D~ = D - dbar_unit``.
2. **On the small effects** (dense blocks accumulated over chunks):

   * ``Z~'W Z~`` ((k+1) x (k+1)),
   * ``B = D~'W Z~ = D'W Z~`` (T x (k+1); the unit means drop out because
     ``sum_unit w z~ = 0``),
   * ``A = D~'W D~ = D'W D - sum_i c_i c_i' / W_i`` (T x T), with ``c_i`` unit i's
     weighted counts per level and ``W_i`` its total weight.

   With ``Gamma = A^+ B`` (rows of redundant dummies set to zero), the fully demeaned
   cross-products are ``Z..'W Z.. = Z~'W Z~ - B' Gamma`` — exactly the Gram matrix the
   in-memory estimator forms after absorbing all fixed effects — and the slopes solve
   its X block. A second pass recomputes each row's fully demeaned values
   ``Z.. = within(Z - D Gamma)`` to get residuals ``u``, the RSS and the score sums
   ``sum_g X..' w u`` by cluster code (any clustering column: scores are additive, so
   clusters need not be nested in units).

Memory grows with T^2, k^2 and the number of clusters, not with the number of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from policylab.engine.ols import collinear_columns
from policylab.engine.threads import one_blas_thread

#: the units x small-FE levels table of a chunk (A's correction) is built when it has
#: at most this many entries (32 MB); larger, the rows are walked unit by unit
LEVEL_TABLE_ENTRIES = 4_000_000

__all__ = ["Chunk", "GramAccumulator", "StreamFit", "solve_gram", "ScoreAccumulator",
           "NestingTracker", "drop_singleton_units", "unit_nested", "code_keys",
           "partition_of", "group_by_partition", "split_rows"]


@dataclass
class Chunk:
    """Rows of complete units.

    Attributes
    ----------
    unit : ndarray of int
        Local unit codes 0..U-1 (any order; every unit of the chunk is complete).
    Z : ndarray, shape (n, k + 1)
        Regressors then the outcome (float64).
    w : ndarray or None
        Positive weights.
    D : ndarray of int, shape (n, m)
        Codes of the small fixed effects, already offset into 0..T-1 (m may be 0).
    cluster : ndarray of int or None
        Global cluster codes.
    extra : ndarray of int, shape (n, q)
        Other codes the caller keeps aligned with the rows (filtered by :meth:`take`).
    unit_rows : ndarray of int, optional
        Rows of each unit (U,), if known (saves a count when dropping singletons).
    """

    unit: np.ndarray
    Z: np.ndarray
    w: np.ndarray | None
    D: np.ndarray
    cluster: np.ndarray | None = None
    extra: np.ndarray | None = None
    unit_rows: np.ndarray | None = None

    def take(self, keep: np.ndarray) -> Chunk:
        """The kept rows, with unit codes made dense again."""
        unit = self.unit[keep]
        _, dense = np.unique(unit, return_inverse=True)
        return Chunk(dense.astype(np.int64).reshape(-1), self.Z[keep],
                     None if self.w is None else self.w[keep], self.D[keep],
                     None if self.cluster is None else self.cluster[keep],
                     None if self.extra is None else self.extra[keep])


def code_keys(key: np.ndarray, bits: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes 0..U-1 of integer keys, in order of first appearance, and the rows of
    each code (linear time, through a hash table that grows with the distinct keys).

    ``bits``: the keys all share the top ``bits`` bits of :func:`partition_of`'s hash
    (one hash partition; the table hashes on the bits below).
    """
    from policylab.engine._stream_kernels import hash_codes

    key = np.ascontiguousarray(key, dtype=np.int64)
    out = np.empty(len(key), dtype=np.int64)
    counts = np.empty(len(key), dtype=np.int64)
    cap = 1024  # the first guess: panels have several rows per unit
    while cap < len(key) // 8:
        cap *= 2
    U = hash_codes(key, int(bits), cap, out, counts)
    return out, counts[:U]


def group_by_partition(fcols: Sequence[np.ndarray], kcols: Sequence[np.ndarray], bits: int,
                       out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the float columns ``fcols`` and the integer columns ``kcols`` (the key
    first) as one row block grouped by the key's hash partition :func:`partition_of`
    (``bits`` bits; order kept within a partition): ``(rows, bounds)``, partition p's
    rows at ``bounds[p]:bounds[p + 1]``; a row is the floats then the integers as 8-byte
    words (:func:`split_rows` gives the two blocks back), written into ``out`` if given
    (a C-ordered float64 block of that shape)."""
    from policylab.engine._stream_kernels import scatter_by_hash

    fc = tuple(_read_only(c, np.float64) for c in fcols)
    kc = tuple(_read_only(c, np.int64) for c in kcols)
    shape = (len(kc[0]), len(fc) + len(kc))
    rows = np.empty(shape) if out is None else out
    if rows.shape != shape or rows.dtype != np.float64 or not rows.flags.c_contiguous:
        raise ValueError(f"out must be a C-ordered float64 array of shape {shape}")
    bounds = np.empty(2**bits + 1, dtype=np.int64)
    scatter_by_hash(fc, kc, 0, int(bits), *split_rows(rows, len(fc)), bounds)
    return rows, bounds


def _read_only(c: np.ndarray, dtype: type) -> np.ndarray:
    """``c`` as a contiguous read-only array of ``dtype`` (a view when it already is
    one): the compiled kernel takes a tuple of columns, which must all be of one type,
    and columns read from Arrow are read-only while converted ones (integers, numbers
    stored as text) are not."""
    a = np.ascontiguousarray(c, dtype=dtype)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def split_rows(rows: np.ndarray, n_float: int) -> tuple[np.ndarray, np.ndarray]:
    """The float block and the int64 block (views) of rows made by
    :func:`group_by_partition`."""
    return rows[:, :n_float], rows[:, n_float:].view(np.int64)


def partition_of(key: np.ndarray, bits: int) -> np.ndarray:
    """Partition 0..2**bits - 1 of each integer key (Fibonacci hashing: the top bits of
    key x 2^64/phi, so consecutive or strided ids spread evenly)."""
    h = key.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (h >> np.uint64(64 - bits)).astype(np.uint16 if bits <= 16 else np.uint32) \
        if bits else np.zeros(len(key), dtype=np.uint16)


def drop_singleton_units(ch: Chunk) -> tuple[Chunk, int]:
    """Drop units with a single row (fitted exactly by their own effect)."""
    if len(ch.unit) == 0:
        return ch, 0
    cnt = ch.unit_rows if ch.unit_rows is not None else np.bincount(ch.unit)
    if not (cnt == 1).any():
        return ch, 0
    single = cnt[ch.unit] == 1
    n = int(single.sum())
    return (ch.take(~single), n) if n else (ch, 0)


def _weights(ch: Chunk) -> np.ndarray:
    return np.ones(len(ch.unit)) if ch.w is None else ch.w


class _Moments:
    """Weighted means and centred sums of squares, combined chunk by chunk (Chan et al.),
    so the total sum of squares keeps its precision when means are large."""

    def __init__(self, p: int) -> None:
        self.W = 0.0
        self.mean = np.zeros(p)
        self.css = np.zeros(p)

    def add(self, Wc: float, mc: np.ndarray, cc: np.ndarray) -> None:
        delta = mc - self.mean
        tot = self.W + Wc
        self.css += cc + delta**2 * self.W * Wc / tot
        self.mean += delta * Wc / tot
        self.W = tot


def _prepared(ch: Chunk) -> tuple[int, Chunk]:
    """Number of units and the chunk with contiguous, typed arrays for the kernels."""
    w = _weights(ch)
    U = len(ch.unit_rows) if ch.unit_rows is not None else int(ch.unit.max()) + 1
    # the kernels read strided blocks (columns of a partition's rows) as they are
    return U, Chunk(
        np.asarray(ch.unit, dtype=np.int64), np.asarray(ch.Z, dtype=np.float64),
        np.asarray(w, dtype=np.float64), np.asarray(ch.D, dtype=np.int64),
        None if ch.cluster is None else np.asarray(ch.cluster, dtype=np.int64))


@dataclass
class GramPart:
    """Pass-1 sums of one chunk (see :class:`GramAccumulator`)."""

    zz: np.ndarray
    B: np.ndarray
    A: np.ndarray
    level_n: np.ndarray
    W: float
    mean: np.ndarray
    css: np.ndarray
    n: int
    n_units: int


def gram_part(ch: Chunk, k: int, T: int) -> GramPart:
    """Pass-1 sums of a chunk of complete units (singletons already dropped); touches
    nothing shared, so chunks can be summed on several threads."""
    from policylab.engine._stream_kernels import gram_pass, group_rows, unit_means

    U, g = _prepared(ch)
    means, W = np.empty((U, k + 1)), np.empty(U)
    unit_means(g.unit, U, g.Z, g.w, g.D, np.zeros((0, k + 1)), means, W)
    Wt = float(W.sum())
    mean = (W @ means) / Wt
    by_table = T and U * T <= LEVEL_TABLE_ENTRIES
    order, starts = group_rows(g.unit, U) if T and not by_table else (
        np.zeros(0, np.int64), np.zeros(1, np.int64))
    C = np.zeros((U, T) if by_table else (0, 0))
    part = GramPart(np.zeros((k + 1, k + 1)), np.zeros((T, k + 1)), np.zeros((T, T)),
                    np.zeros(T, dtype=np.int64), Wt, mean, np.zeros(k + 1), len(g.unit), U)
    gram_pass(g.unit, g.Z, g.w, g.D, means, W, mean, order, starts, part.zz, part.B, part.A,
              part.level_n, part.css, C)
    if by_table:
        # A's correction sum_i c_i c_i' / W_i from the units x levels table of weighted
        # counts (one product) instead of walking each unit's rows (scattered over the
        # chunk: a cache miss per row)
        C /= np.sqrt(W)[:, None]
        with one_blas_thread():
            part.A -= C.T @ C
    return part


class GramAccumulator:
    """Pass 1: within-unit cross-products of [X, y] and the small-FE blocks A and B."""

    def __init__(self, k: int, T: int) -> None:
        self.k, self.T = k, T
        self.zz = np.zeros((k + 1, k + 1))
        self.B = np.zeros((T, k + 1))
        self.A = np.zeros((T, T))
        self.level_n = np.zeros(T, dtype=np.int64)
        self.moments = _Moments(k + 1)
        self.n = 0
        self.n_units = 0

    def fold(self, part: GramPart) -> None:
        """Add one chunk's sums (from :func:`gram_part`)."""
        self.zz += part.zz
        self.B += part.B
        self.A += part.A
        self.level_n += part.level_n
        self.moments.add(part.W, part.mean, part.css)
        self.n += part.n
        self.n_units += part.n_units


@dataclass
class StreamFit:
    """Solution of the accumulated normal equations.

    Attributes
    ----------
    beta : ndarray
        Slopes of the kept regressors.
    kept : ndarray of bool
        Which regressors were kept.
    dropped : dict[int, str]
        Dropped regressors and why ("no variation" or "collinear").
    Gamma : ndarray, shape (T, k + 1)
        Projection of [X, y] (within units) on the small-FE dummies.
    bread : ndarray
        (X..' W X..)^{-1} for the kept regressors.
    """

    beta: np.ndarray
    kept: np.ndarray
    dropped: dict[int, str]
    Gamma: np.ndarray
    bread: np.ndarray


def solve_gram(acc: GramAccumulator, tol: float = 1e-10) -> StreamFit:
    """Absorb the small fixed effects (FWL) and solve for the slopes.

    Regressors are dropped by the in-memory rule (:func:`collinear_columns` on the fully
    demeaned Gram matrix, with each regressor's centred sum of squares as reference).
    """
    k, T = acc.k, acc.T
    Gamma = np.zeros((T, k + 1))
    G = acc.zz.copy()
    if T:
        redundant = collinear_columns(acc.A, None, tol)
        kd = np.ones(T, dtype=bool)
        kd[list(redundant)] = False
        if kd.any():
            Gamma[kd] = linalg.solve(acc.A[np.ix_(kd, kd)], acc.B[kd], assume_a="pos")
            G -= acc.B[kd].T @ Gamma[kd]
    dropped = collinear_columns(G[:k, :k], acc.moments.css[:k], tol)
    kept = np.ones(k, dtype=bool)
    kept[list(dropped)] = False
    Gk = G[np.ix_(kept, kept)]
    if kept.any():
        cho = linalg.cho_factor(Gk, check_finite=False)
        beta = linalg.cho_solve(cho, G[:k, k][kept], check_finite=False)
        bread = linalg.cho_solve(cho, np.eye(Gk.shape[0]), check_finite=False)
    else:
        beta, bread = np.zeros(0), np.zeros((0, 0))
    return StreamFit(beta, kept, dropped, Gamma, bread)


@dataclass
class ScorePart:
    """Pass-2 sums of one chunk: RSS, within TSS, HC1 meat, and score sums and rows by
    the chunk's local cluster codes (see :func:`score_part`)."""

    rss: float
    tss: float
    meat: np.ndarray
    sums: np.ndarray
    cluster_n: np.ndarray


def score_part(ch: Chunk, fit: StreamFit, n_local: int) -> ScorePart:
    """Residuals and score sums of a chunk (singletons dropped), with ``ch.cluster``
    local cluster codes 0..n_local-1 (or None); touches nothing shared."""
    from policylab.engine._stream_kernels import score_pass, unit_means

    U, g = _prepared(ch)
    k = int(fit.kept.sum())
    means, W = np.empty((U, g.Z.shape[1])), np.empty(U)
    unit_means(g.unit, U, g.Z, g.w, g.D, fit.Gamma, means, W)
    has_cl = g.cluster is not None
    part = ScorePart(0.0, 0.0, np.zeros((k, k)), np.zeros((n_local if has_cl else 0, k)),
                     np.zeros(n_local if has_cl else 0, dtype=np.int64))
    cl = g.cluster if has_cl else np.zeros(0, dtype=np.int64)
    part.rss, part.tss = score_pass(g.unit, g.Z, g.w, g.D, fit.Gamma, means,
                                    np.flatnonzero(fit.kept), fit.beta, cl, part.sums,
                                    part.cluster_n, part.meat)
    return part


class ScoreAccumulator:
    """Pass 2: residuals, RSS, within-R2 denominator and score sums by cluster."""

    def __init__(self, fit: StreamFit, n_clusters: int | None) -> None:
        self.fit = fit
        k = int(fit.kept.sum())
        self.G = n_clusters
        self.cluster_sums = np.zeros((n_clusters, k)) if n_clusters else None
        self.cluster_n = np.zeros(n_clusters or 0, dtype=np.int64)
        self.meat_hetero = np.zeros((k, k))
        self.rss = 0.0
        self.tss_within = 0.0

    def fold(self, part: ScorePart, ids: np.ndarray | None) -> None:
        """Add one chunk's sums, its local cluster c being global cluster ``ids[c]``
        (distinct ids)."""
        self.rss += part.rss
        self.tss_within += part.tss
        self.meat_hetero += part.meat
        if ids is not None and self.cluster_sums is not None:
            self.cluster_sums[ids] += part.sums
            self.cluster_n[ids] += part.cluster_n


class NestingTracker:
    """Whether every level of a coded variable lies inside a single cluster."""

    def __init__(self, n_levels: int) -> None:
        self.lo = np.full(n_levels, np.iinfo(np.int64).max)
        self.hi = np.full(n_levels, -1, dtype=np.int64)

    def add(self, codes: np.ndarray, local: np.ndarray, ids: np.ndarray) -> None:
        """Rows with level codes ``codes`` (n, m) in clusters ``ids[local]``."""
        from policylab.engine._stream_kernels import level_cluster_range

        level_cluster_range(np.ascontiguousarray(codes, dtype=np.int64).reshape(len(local), -1),
                            np.ascontiguousarray(local, dtype=np.int64),
                            np.ascontiguousarray(ids, dtype=np.int64), self.lo, self.hi)

    @property
    def nested(self) -> bool:
        return self.nested_in_range(0, len(self.lo))

    def nested_in_range(self, start: int, stop: int) -> bool:
        """Nesting of the levels start..stop-1 only (one of several stacked effects)."""
        lo, hi = self.lo[start:stop], self.hi[start:stop]
        seen = hi >= 0
        return bool((lo[seen] == hi[seen]).all())


def unit_nested(unit: np.ndarray, cluster: np.ndarray) -> bool:
    """Within one chunk of complete units: is each unit inside a single cluster?"""
    from policylab.engine._stream_kernels import units_in_one_cluster

    if len(unit) == 0:
        return True
    return bool(units_in_one_cluster(np.ascontiguousarray(unit, dtype=np.int64),
                                     int(unit.max()) + 1,
                                     np.ascontiguousarray(cluster, dtype=np.int64)))

"""Compiled single passes over large design matrices (numba, cached on disk).

feols spends its time in a handful of O(n) steps: coding the fixed-effect keys,
checking for singletons and balance, demeaning, the moments of the raw columns, the
residuals and the cluster sums of the scores. Each kernel here does one of them in one
or two sweeps over the rows, touching every column in the same sweep (so the key
arrays are read once, not once per column) and writing in place, so a fit at 10M rows
needs no n x k temporaries. The treatment-design checks and event-study dummies use
the same kind of passes. The kernels accept C- or F-ordered matrices; numba compiles
(and caches) one specialisation per layout. The parallel ones run on one thread for
small problems (see :mod:`policylab.engine.threads`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from policylab.engine.threads import parallel_kernel


@njit(cache=True, nogil=True)
def compact_int_codes(v, lo, span, out):  # pragma: no cover - compiled
    """Dense codes 0..G-1 (in sorted order of the values) of integers in [lo, lo+span),
    written into ``out``; returns the distinct values (the levels)."""
    n = v.shape[0]
    slot = np.zeros(span, dtype=np.int64)
    for i in range(n):
        slot[v[i] - lo] = 1
    g = 0
    for j in range(span):
        if slot[j]:
            slot[j] = g
            g += 1
        else:
            slot[j] = -1
    levels = np.empty(g, dtype=np.int64)
    for j in range(span):
        if slot[j] >= 0:
            levels[slot[j]] = j + lo
    for i in range(n):
        out[i] = slot[v[i] - lo]
    return levels


@njit(cache=True, nogil=True)
def has_singleton(codes, keep):  # pragma: no cover - compiled
    """Does any fixed effect (columns of ``codes``) have a level with one kept row?"""
    n, m = codes.shape
    for j in range(m):
        G = 0
        for i in range(n):
            if codes[i, j] >= G:
                G = codes[i, j] + 1
        cnt = np.zeros(G, dtype=np.int64)
        for i in range(n):
            if keep[i]:
                cnt[codes[i, j]] += 1
        for g in range(G):
            if cnt[g] == 1:
                return True
    return False


@njit(cache=True, nogil=True)
def all_pairs_once(g1, g2, n1, n2):  # pragma: no cover - compiled
    """True when each (g1, g2) pair occurs exactly once (caller checks n == n1 * n2)."""
    seen = np.zeros(n1 * n2, dtype=np.bool_)
    for i in range(g1.shape[0]):
        p = g1[i] * n2 + g2[i]
        if seen[p]:
            return False
        seen[p] = True
    return True


@njit(cache=True, nogil=True)
def pair_counts(g1, g2, n1, n2, w):  # pragma: no cover - compiled
    """The n1 x n2 table of how often each (g1, g2) pair occurs (total weight when
    ``w`` is not empty)."""
    C = np.zeros((n1, n2))
    if w.shape[0]:
        for i in range(g1.shape[0]):
            C[g1[i], g2[i]] += w[i]
    else:
        for i in range(g1.shape[0]):
            C[g1[i], g2[i]] += 1.0
    return C


@njit(cache=True, nogil=True)
def is_nested(inner, outer):  # pragma: no cover - compiled
    """True when every level of ``inner`` lies inside one level of ``outer`` (stops at the
    first counter-example, so a non-nested pair costs almost nothing)."""
    G = 0
    for i in range(inner.shape[0]):
        if inner[i] >= G:
            G = inner[i] + 1
    first = np.full(G, -1, dtype=np.int64)
    for i in range(inner.shape[0]):
        f = first[inner[i]]
        if f < 0:
            first[inner[i]] = outer[i]
        elif f != outer[i]:
            return False
    return True


@parallel_kernel
def twoway_sums(Z, g1, g2, n1, n2, w):  # pragma: no cover - compiled
    """Per-column sums of Z (weighted by ``w`` when it is not empty) within the levels
    of g1 (k x n1) and of g2 (k x n2), one sweep per column, columns in parallel."""
    n, k = Z.shape
    s1 = np.zeros((k, n1))
    s2 = np.zeros((k, n2))
    weighted = w.shape[0] > 0
    for c in prange(k):
        a = s1[c]
        b = s2[c]
        for i in range(n):
            v = Z[i, c] * w[i] if weighted else Z[i, c]
            a[g1[i]] += v
            b[g2[i]] += v
    return s1, s2


@parallel_kernel
def subtract_two_inplace(Z, g1, g2, A, B, const):  # pragma: no cover - compiled
    """Z[:, c] -= A[c, g1] + B[c, g2] - const[c], in place, columns in parallel."""
    n, k = Z.shape
    for c in prange(k):
        a = A[c]
        b = B[c]
        m = const[c]
        for i in range(n):
            Z[i, c] = Z[i, c] - a[g1[i]] - b[g2[i]] + m


@njit(cache=True, nogil=True)
def twoway_sums_rows(Z, g1, g2, n1, n2, w):  # pragma: no cover - compiled
    """:func:`twoway_sums` for a C-ordered (row-major) Z: one sweep over the rows, all
    columns of a row together (a sweep per column would read every cache line of Z once
    per column: 3-5x slower at 12-30 columns). Each column's sums run over the rows in
    the same order as there, so the sums are the same to the last bit."""
    n, k = Z.shape
    s1 = np.zeros((n1, k))
    s2 = np.zeros((n2, k))
    weighted = w.shape[0] > 0
    for i in range(n):
        a = s1[g1[i]]
        b = s2[g2[i]]
        wi = w[i] if weighted else 1.0
        for c in range(k):
            v = Z[i, c] * wi if weighted else Z[i, c]
            a[c] += v
            b[c] += v
    return s1.T.copy(), s2.T.copy()


@parallel_kernel
def subtract_two_rows(Z, g1, g2, A, B, const):  # pragma: no cover - compiled
    """:func:`subtract_two_inplace` for a C-ordered Z (A, B given level-major: n1 x k,
    n2 x k): blocks of rows in parallel, each row's columns together."""
    n, k = Z.shape
    nblk = (n + 65535) // 65536
    for blk in prange(nblk):
        for i in range(blk * 65536, min(n, (blk + 1) * 65536)):
            a = A[g1[i]]
            b = B[g2[i]]
            for c in range(k):
                Z[i, c] = Z[i, c] - a[c] - b[c] + const[c]


@parallel_kernel
def column_moments(Z, w, weighted):  # pragma: no cover - compiled
    """(Weighted) mean and centred sum of squares of every column of Z in one sweep.

    Blocks of 4,096 rows are centred at their own mean (a second pass over data in
    cache) and merged with the pairwise update of Chan, Golub and LeVeque, so the
    result is as accurate as two sweeps over the whole column.
    """
    n, k = Z.shape
    mean = np.zeros(k)
    css = np.zeros(k)
    for c in prange(k):
        W = 0.0
        M = 0.0
        S = 0.0
        for s in range(0, n, 4096):
            e = min(n, s + 4096)
            wc = 0.0
            sc = 0.0
            if weighted:
                for i in range(s, e):
                    wc += w[i]
                    sc += w[i] * Z[i, c]
            else:
                wc = e - s
                for i in range(s, e):
                    sc += Z[i, c]
            if wc <= 0.0:
                continue
            mc = sc / wc
            q = 0.0
            if weighted:
                for i in range(s, e):
                    d = Z[i, c] - mc
                    q += w[i] * d * d
            else:
                for i in range(s, e):
                    d = Z[i, c] - mc
                    q += d * d
            d = mc - M
            Wn = W + wc
            M += d * wc / Wn
            S += q + d * d * W * wc / Wn
            W = Wn
        mean[c] = M
        css[c] = S
    return mean, css


@parallel_kernel
def residuals(X, y, beta):  # pragma: no cover - compiled
    """y - X @ beta in one sweep (X may be a strided view), row blocks in parallel."""
    n, k = X.shape
    out = np.empty(n)
    nb = (n + 65535) // 65536
    for b in prange(nb):
        lo = b * 65536
        hi = min(n, lo + 65536)
        for i in range(lo, hi):
            out[i] = y[i]
        for j in range(k):
            bj = beta[j]
            for i in range(lo, hi):
                out[i] -= X[i, j] * bj
    return out


@njit(cache=True, nogil=True)
def cluster_score_sums(X, uw, cl, G):  # pragma: no cover - compiled
    """Cluster sums of the scores X[i, :] * uw[i] (G x k), one sweep, no n x k array."""
    n, k = X.shape
    out = np.zeros((G, k))
    for i in range(n):
        g = cl[i]
        u = uw[i]
        for j in range(k):
            out[g, j] += X[i, j] * u
    return out


@parallel_kernel
def nonfinite_rows(Z):  # pragma: no cover - compiled
    """Per row: does any column hold NaN or +-inf? (row blocks in parallel)"""
    n, k = Z.shape
    out = np.zeros(n, dtype=np.bool_)
    nb = (n + 65535) // 65536
    for b in prange(nb):
        lo = b * 65536
        hi = min(n, lo + 65536)
        for j in range(k):
            for i in range(lo, hi):
                if not np.isfinite(Z[i, j]):
                    out[i] = True
    return out


@njit(cache=True, nogil=True)
def varies_within(codes, v, G):  # pragma: no cover - compiled
    """Does ``v`` take more than one value within any group (NaN equals NaN)? Stops at
    the first group that does."""
    first = np.empty(G, dtype=v.dtype)
    seen = np.zeros(G, dtype=np.bool_)
    for i in range(codes.shape[0]):
        g = codes[i]
        x = v[i]
        if not seen[g]:
            seen[g] = True
            first[g] = x
        else:
            f = first[g]
            if f != x and not (f != f and x != x):
                return True
    return False


@njit(cache=True, nogil=True)
def fill_indicator(rel, value, out):  # pragma: no cover - compiled
    """out[i] = 1.0 where rel[i] == value, else 0.0 (rel float, NaN never matches)."""
    for i in range(rel.shape[0]):
        out[i] = 1.0 if rel[i] == value else 0.0

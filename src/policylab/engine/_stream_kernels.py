"""Compiled passes of the out-of-core estimator (numba, cached on disk).

Rows are swept in the order they arrive (a unit's rows need not be adjacent): unit
means go to small U x p accumulators that stay in cache, so no chunk is ever reordered
and every sweep reads the data sequentially, all columns at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def group_rows(unit, U):  # pragma: no cover - compiled
    """Counting sort of rows by unit code: (order, starts) with unit u's rows at
    order[starts[u]:starts[u + 1]]."""
    n = unit.shape[0]
    starts = np.zeros(U + 1, dtype=np.int64)
    for i in range(n):
        starts[unit[i] + 1] += 1
    for u in range(U):
        starts[u + 1] += starts[u]
    fill = starts[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[fill[unit[i]]] = i
        fill[unit[i]] += 1
    return order, starts


@njit(cache=True, nogil=True)
def direct_codes(key, lo, table, out):  # pragma: no cover - compiled
    """Dense codes 0..U-1 in order of first appearance of integer keys, through a
    direct-address ``table`` covering [lo, lo + len(table)) (filled with -1; restored
    to -1 before returning, so it can be reused). Returns U."""
    U = 0
    for i in range(key.shape[0]):
        s = key[i] - lo
        c = table[s]
        if c < 0:
            c = U
            table[s] = U
            U += 1
        out[i] = c
    for i in range(key.shape[0]):
        table[key[i] - lo] = -1
    return U


@njit(cache=True, nogil=True)
def unit_means(unit, U, Z, w, D, Gamma, means, W):  # pragma: no cover - compiled
    """Weighted unit means of z - sum_q Gamma[d_q] (Gamma with zero rows: plain z), in
    one sequential sweep; the U x p accumulators are small enough to stay in cache."""
    p = Z.shape[1]
    m = D.shape[1]
    useg = Gamma.shape[0] > 0
    for u in range(U):
        W[u] = 0.0
        for j in range(p):
            means[u, j] = 0.0
    for r in range(Z.shape[0]):
        u = unit[r]
        W[u] += w[r]
        for j in range(p):
            v = Z[r, j]
            if useg:
                for q in range(m):
                    v -= Gamma[D[r, q], j]
            means[u, j] += w[r] * v
    for u in range(U):
        for j in range(p):
            means[u, j] /= W[u]


@njit(cache=True, nogil=True)
def gram_pass(unit, Z, w, D, means, W, order, starts, zz, B, A, level_n):  # pragma: no cover
    """Within-unit demeaned cross-products zz += Z~'W Z~, the small-FE blocks
    B += D'W Z~ and A += D'W D - sum_i c_i c_i' / W_i, and level counts.

    Rows are swept in their order (z~ = z - means[unit]); only the correction of A walks
    the rows unit by unit (``order``/``starts`` from :func:`group_rows`), reading just
    the codes and weights."""
    p = Z.shape[1]
    m = D.shape[1]
    zt = np.empty(p)
    for r in range(Z.shape[0]):
        u = unit[r]
        wr = w[r]
        for j in range(p):
            zt[j] = Z[r, j] - means[u, j]
        for j in range(p):
            v = wr * zt[j]
            for k in range(j, p):
                zz[j, k] += v * zt[k]
        for q in range(m):
            d = D[r, q]
            level_n[d] += 1
            for j in range(p):
                B[d, j] += wr * zt[j]
            for q2 in range(m):
                A[d, D[r, q2]] += wr
    for j in range(p):
        for k in range(j + 1, p):
            zz[k, j] = zz[j, k]
    if m == 0:
        return
    for u in range(starts.shape[0] - 1):
        a, b = starts[u], starts[u + 1]
        for t in range(a, b):
            r = order[t]
            wW = w[r] / W[u]
            for t2 in range(a, b):
                s = order[t2]
                f = wW * w[s]
                for q in range(m):
                    for q2 in range(m):
                        A[D[r, q], D[s, q2]] -= f


@njit(cache=True, nogil=True)
def centred_ss(Z, w, mean, out):  # pragma: no cover - compiled
    """out[j] = sum_r w_r (Z[r, j] - mean[j])^2."""
    for j in range(Z.shape[1]):
        out[j] = 0.0
    for r in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            e = Z[r, j] - mean[j]
            out[j] += w[r] * e * e


@njit(cache=True, nogil=True)
def score_pass(unit, Z, w, D, Gamma, means, kept, beta, cluster, sums, cl_n,
               meat):  # pragma: no cover - compiled
    """Fully demeaned rows z.. = z - sum_q Gamma[d_q] - means[unit] (``means`` from
    :func:`unit_means` with the same Gamma); residual u = y.. - X.. b; accumulates the
    HC1 meat and (if ``cluster`` is not empty) the score sums by cluster. Returns
    (rss, within total sum of squares)."""
    p = Z.shape[1]
    m = D.shape[1]
    kk = kept.shape[0]
    zt = np.empty(p)
    sc = np.empty(kk)
    rss = 0.0
    tss = 0.0
    has_cl = cluster.shape[0] > 0
    for r in range(Z.shape[0]):
        u = unit[r]
        for j in range(p):
            v = Z[r, j]
            for q in range(m):
                v -= Gamma[D[r, q], j]
            zt[j] = v - means[u, j]
        e = zt[p - 1]
        for i in range(kk):
            e -= zt[kept[i]] * beta[i]
        wu = w[r] * e
        rss += wu * e
        tss += w[r] * zt[p - 1] * zt[p - 1]
        for i in range(kk):
            sc[i] = zt[kept[i]] * wu
        for i in range(kk):
            for i2 in range(i, kk):
                meat[i, i2] += sc[i] * sc[i2]
        if has_cl:
            g = cluster[r]
            cl_n[g] += 1
            for i in range(kk):
                sums[g, i] += sc[i]
    for i in range(kk):
        for i2 in range(i + 1, kk):
            meat[i2, i] = meat[i, i2]
    return rss, tss


@njit(cache=True, nogil=True)
def level_weights(unit, w, D, C):  # pragma: no cover - compiled
    """C[u, d] += w_r for every row r of unit u at small-FE level d (one sequential
    sweep; the rows need not be grouped by unit)."""
    m = D.shape[1]
    for r in range(unit.shape[0]):
        u = unit[r]
        wr = w[r]
        for q in range(m):
            C[u, D[r, q]] += wr

"""Compiled passes of the out-of-core estimator (numba, cached on disk).

Each kernel walks a chunk unit by unit (rows grouped by a counting sort, so the chunk
itself is never reordered) and touches every column in the same sweep.
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
def gram_pass(order, starts, Z, w, D, zz, B, A, level_n, mean_out):  # pragma: no cover
    """Within-unit demeaned cross-products of Z (n x p), the small-FE blocks
    B += D'W Z~ and A += D'W D - sum_i c_i c_i' / W_i, level counts, and the chunk's
    weighted column means (into ``mean_out``; returns the chunk's total weight)."""
    p = Z.shape[1]
    m = D.shape[1]
    U = starts.shape[0] - 1
    mu = np.empty(p)
    zt = np.empty(p)
    wtot = 0.0
    for j in range(p):
        mean_out[j] = 0.0
    for u in range(U):
        a, b = starts[u], starts[u + 1]
        W = 0.0
        for j in range(p):
            mu[j] = 0.0
        for t in range(a, b):
            r = order[t]
            W += w[r]
            for j in range(p):
                mu[j] += w[r] * Z[r, j]
        for j in range(p):
            mean_out[j] += mu[j]
            mu[j] /= W
        wtot += W
        for t in range(a, b):
            r = order[t]
            wr = w[r]
            for j in range(p):
                zt[j] = Z[r, j] - mu[j]
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
            wW = wr / W
            for t2 in range(a, b):
                s = order[t2]
                f = wW * w[s]
                for q in range(m):
                    for q2 in range(m):
                        A[D[r, q], D[s, q2]] -= f
    for j in range(p):
        mean_out[j] /= wtot
        for k in range(j + 1, p):
            zz[k, j] = zz[j, k]
    return wtot


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
def score_pass(order, starts, Z, w, D, Gamma, kept, beta, cluster, sums, cl_n,
               meat):  # pragma: no cover - compiled
    """Fully demeaned rows z.. = within(z - sum_q Gamma[d_q]); residual u = y.. - X.. b;
    accumulates the HC1 meat and (if ``cluster`` is not empty) the score sums by
    cluster. Returns (rss, within total sum of squares)."""
    p = Z.shape[1]
    m = D.shape[1]
    kk = kept.shape[0]
    U = starts.shape[0] - 1
    mu = np.empty(p)
    zt = np.empty(p)
    sc = np.empty(kk)
    rss = 0.0
    tss = 0.0
    has_cl = cluster.shape[0] > 0
    for u in range(U):
        a, b = starts[u], starts[u + 1]
        W = 0.0
        for j in range(p):
            mu[j] = 0.0
        for t in range(a, b):
            r = order[t]
            W += w[r]
            for j in range(p):
                v = Z[r, j]
                for q in range(m):
                    v -= Gamma[D[r, q], j]
                mu[j] += w[r] * v
        for j in range(p):
            mu[j] /= W
        for t in range(a, b):
            r = order[t]
            for j in range(p):
                v = Z[r, j]
                for q in range(m):
                    v -= Gamma[D[r, q], j]
                zt[j] = v - mu[j]
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

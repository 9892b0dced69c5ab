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


PHI = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio (Fibonacci hashing)


@njit(cache=True, nogil=True)
def scatter_by_hash(fcols, kcols, skip, bits, Fo, Ko, bounds):  # pragma: no cover - compiled
    """Rows of the columns ``fcols`` (float) and ``kcols`` (int; the key first) as the
    row blocks Fo, Ko grouped by bucket, the ``bits`` bits of key x PHI below its top
    ``skip`` bits (a stable counting sort): bucket b's rows are bounds[b]:bounds[b + 1]."""
    key = kcols[0]
    n = key.shape[0]
    P = bounds.shape[0] - 1
    part = np.zeros(n, dtype=np.int64)
    for p in range(P + 1):
        bounds[p] = 0
    if bits > 0:
        shift = np.uint64(64 - bits)
        sk = np.uint64(skip)
        for i in range(n):
            part[i] = np.int64(((np.uint64(key[i]) * PHI) << sk) >> shift)
    for i in range(n):
        bounds[part[i] + 1] += 1
    for p in range(P):
        bounds[p + 1] += bounds[p]
    fill = bounds[:-1].copy()
    for i in range(n):
        j = fill[part[i]]
        fill[part[i]] += 1
        for c in range(len(fcols)):
            Fo[j, c] = fcols[c][i]
        for c in range(len(kcols)):
            Ko[j, c] = kcols[c][i]


@njit(cache=True, nogil=True)
def _code_bucket(key, a, b, skip, tab_key, tab_code, used, out, counts, U0):  # pragma: no cover
    """Codes U0, U0 + 1, ... of the keys of rows a:b (see :func:`hash_codes`); returns
    the next free code, or -1 when the table is more than half full (the table is left
    empty either way)."""
    cap = tab_code.shape[0]
    mask = cap - 1
    tb = 0
    while (1 << tb) < cap:
        tb += 1
    shift = np.uint64(64 - tb)
    sk = np.uint64(skip)
    limit = cap // 2
    nb = 0
    for i in range(a, b):
        k = key[i]
        s = np.int64(((np.uint64(k) * PHI) << sk) >> shift)
        while True:
            c = tab_code[s]
            if c < 0:
                if nb == limit:
                    for j in range(nb):
                        tab_code[used[j]] = -1
                    return -1
                c = U0 + nb
                tab_code[s] = c
                tab_key[s] = k
                counts[c] = 0
                used[nb] = s
                nb += 1
                break
            if tab_key[s] == k:
                break
            s = (s + 1) & mask
        out[i] = c
        counts[c] += 1
    for j in range(nb):
        tab_code[used[j]] = -1
    return U0 + nb


@njit(cache=True, nogil=True)
def hash_codes(key, skip, cap, out, counts):  # pragma: no cover - compiled
    """Dense codes 0..U-1 of integer keys in order of first appearance, and each code's
    rows (``counts``); returns U. An open-addressing table of ``cap`` slots (a power of
    two), hashed on the bits of key x PHI below the top ``skip`` (those are equal
    within one hash partition), four times larger and started again when half full."""
    while True:
        tab_key = np.empty(cap, dtype=np.int64)
        tab_code = np.full(cap, -1, dtype=np.int64)
        used = np.empty(cap // 2, dtype=np.int64)
        U = _code_bucket(key, 0, key.shape[0], skip, tab_key, tab_code, used, out, counts, 0)
        if U >= 0:
            return U
        cap *= 4


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
def gram_pass(unit, Z, w, D, means, W, mean, order, starts, zz, B, A, level_n, css,
              C):  # pragma: no cover - compiled
    """Within-unit demeaned cross-products zz += Z~'W Z~, the small-FE blocks
    B += D'W Z~ and A += D'W D, level counts, the centred sums of squares
    css += sum w (z - mean)^2 about the chunk's ``mean`` and (if ``C`` has rows) the
    units x levels table of weighted counts C[u, d] += w, in one sequential sweep
    (z~ = z - means[unit]).

    A's correction - sum_i c_i c_i' / W_i is left to the caller when ``C`` is given
    (one product of the table); otherwise the rows are walked unit by unit
    (``order``/``starts`` from :func:`group_rows`), reading just codes and weights."""
    p = Z.shape[1]
    m = D.shape[1]
    table = C.shape[0] > 0
    zt = np.empty(p)
    for r in range(Z.shape[0]):
        u = unit[r]
        wr = w[r]
        for j in range(p):
            zt[j] = Z[r, j] - means[u, j]
            e = Z[r, j] - mean[j]
            css[j] += wr * e * e
        for j in range(p):
            v = wr * zt[j]
            for k in range(j, p):
                zz[j, k] += v * zt[k]
        for q in range(m):
            d = D[r, q]
            level_n[d] += 1
            if table:
                C[u, d] += wr
            for j in range(p):
                B[d, j] += wr * zt[j]
            for q2 in range(m):
                A[d, D[r, q2]] += wr
    for j in range(p):
        for k in range(j + 1, p):
            zz[k, j] = zz[j, k]
    if m == 0 or table:
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
def level_cluster_range(codes, local, ids, lo, hi):  # pragma: no cover - compiled
    """lo[d], hi[d]: smallest and largest cluster ``ids[local[r]]`` over the rows r
    with code d in any column of ``codes`` (a level lies in one cluster iff equal)."""
    for r in range(codes.shape[0]):
        g = ids[local[r]]
        for q in range(codes.shape[1]):
            d = codes[r, q]
            if g < lo[d]:
                lo[d] = g
            if g > hi[d]:
                hi[d] = g


@njit(cache=True, nogil=True)
def units_in_one_cluster(unit, U, cluster):  # pragma: no cover - compiled
    """Whether every unit's rows share one cluster code."""
    first = np.full(U, -1, dtype=np.int64)
    for r in range(unit.shape[0]):
        u = unit[r]
        if first[u] < 0:
            first[u] = cluster[r]
        elif first[u] != cluster[r]:
            return False
    return True

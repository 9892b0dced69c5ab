"""Placebo draws by precomputed sums (numba): the balanced closed form and the basis sweep.

With unit and time effects on a balanced panel, no weights, assignment groups and
clusters made of whole units, a draw's demeaned treatment column has the closed form
d~_it = f_it - m_t - C~_it'gamma: f_it = p_h(t) - mean(p_h) on the treated units (path
h), m_t the treated share's path averaged over units, gamma the draw's coefficients on
the two-way demeaned controls C~. Since the residual e and C~ sum to zero within every
unit, every sum the coefficient and the clustered t need reduces to per-unit sums of
e and C~ against the paths, precomputed once:

    r_ih = sum_t e_it p_h(t),  q_ih = sum_t C~_it p_h(t)   (and their cluster sums),
    R_c = sum_{c} C~ C~',  W_c = sum_{c} C~ e.

The units of a group enter only through their sums per cluster, so they are pooled
into group x cluster cells: a draw then costs O(treated cells x K + (K^2 + H K)^2),
whatever the number of periods or units, instead of a pass over the rows (with
provinces assigned and clustered, a handful of cells on a firm panel of millions of
rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from policylab.engine.threads import parallel_kernel


@parallel_kernel
def balanced_coef_t(idx, H, gptr, gsize, ccl, ccount, r, q, pc2, pcm, Ginv, Y, M,
                    fac):  # pragma: no cover - compiled
    """Coefficients and clustered t statistics of the draws ``idx`` (draws x s basis
    columns g * H + h: group g treated with path h).

    The units of a group enter a draw only through their sums within each cluster, so
    they are pooled into cells (group x cluster), stored group by group: gptr (G + 1)
    the cells of each group (CSR), gsize (G) its units; ccl the cluster of each cell,
    ccount its units; r (cells, H), q (cells, H, K): the cell's sums of the per-unit
    path sums; pc2 (H,), pcm (H, H): products of the centred paths; Ginv: inverse Gram
    of the controls; Y (Gc, L): each cluster's sums [sum r_ih, sum C~ e, units, vec sum
    C~C~', 2 vec sum q_ih] and M = Y'Y; fac: the small-sample factor.

    A cluster without treated units has the score -Y_c.w with w = [share, gamma, b |m|^2,
    b vec(gamma gamma'), b share x gamma], so the sum of all clusters' squares is w'Mw;
    only the clusters of the treated cells are then corrected, one by one. A draw costs
    O(treated cells): with groups made of whole clusters (provinces assigned and
    clustered) a handful, whatever the number of units.
    """
    D = idx.shape[0]
    Gc = Y.shape[0]
    U = 0
    for g in range(gsize.shape[0]):
        U += gsize[g]
    b_out = np.empty(D)
    t_out = np.empty(D)
    n_chunks = min(D, 64)
    for ch in prange(n_chunks):
        # scratch per chunk of draws, reset after each draw where it was touched
        e1 = np.zeros(Gc)  # treated cells' part of each cluster's sum d~ e
        e2 = np.zeros(Gc)  # ... and of its sum d~^2
        seen = np.zeros(Gc, dtype=np.bool_)
        touched = np.empty(Gc, dtype=np.int64)
        for d in range(ch * D // n_chunks, (ch + 1) * D // n_chunks):
            b_out[d], t_out[d] = _balanced_draw(
                idx[d], H, U, gptr, gsize, ccl, ccount, r, q, pc2, pcm, Ginv, Y, M,
                fac, e1, e2, seen, touched)
    return b_out, t_out


@njit(cache=True, nogil=True)
def _balanced_draw(sel, H, U, gptr, gsize, ccl, ccount, r, q, pc2, pcm, Ginv, Y, M, fac,
                   e1, e2, seen, touched):  # pragma: no cover - compiled
    """One draw of :func:`balanced_coef_t` (U units in all): (coefficient, t) of the
    draw ``sel`` (its basis columns), with zeroed scratch e1, e2, seen and touched
    (clusters), left zeroed again."""
    s = sel.shape[0]
    K = Ginv.shape[0]
    L = Y.shape[1]
    share = np.zeros(H)
    for p in range(s):
        share[sel[p] % H] += gsize[sel[p] // H] / U
    # m = sum_h share_h pc_h: its product with each centred path, and its norm
    pm = np.zeros(H)
    for h in range(H):
        for h2 in range(H):
            pm[h] += pcm[h, h2] * share[h2]
    mm = 0.0
    for h in range(H):
        mm += share[h] * pm[h]
    n_touched = 0
    v = np.zeros(K)
    num = 0.0
    ff = 0.0
    for p in range(s):
        g = sel[p] // H
        h = sel[p] % H
        for j in range(gptr[g], gptr[g + 1]):
            c = ccl[j]
            if not seen[c]:
                seen[c] = True
                touched[n_touched] = c
                n_touched += 1
            e1[c] += r[j, h]
            e2[c] += ccount[j] * (pc2[h] - 2.0 * pm[h])
            num += r[j, h]
            ff += ccount[j] * pc2[h]
            for k in range(K):
                v[k] += q[j, h, k]
    gam = np.zeros(K)
    vg = 0.0
    for k in range(K):
        for j in range(K):
            gam[k] += Ginv[k, j] * v[j]
        vg += v[k] * gam[k]
    for p in range(s):  # the treated cells' -2 q'gamma, now that gamma is known
        g = sel[p] // H
        h = sel[p] % H
        for j in range(gptr[g], gptr[g + 1]):
            qg = 0.0
            for k in range(K):
                qg += q[j, h, k] * gam[k]
            e2[ccl[j]] -= 2.0 * qg
    dd = ff - U * mm - vg
    b = num / dd
    w = np.empty(L)
    for h in range(H):
        w[h] = share[h]
    for k in range(K):
        w[H + k] = gam[k]
    w[H + K] = b * mm
    o = H + K + 1
    for k in range(K):
        for j in range(K):
            w[o + k * K + j] = b * gam[k] * gam[j]
    for h in range(H):
        for k in range(K):
            w[o + K * K + h * K + k] = b * share[h] * gam[k]
    acc = 0.0
    for a in range(L):
        row = 0.0
        for j in range(L):
            row += M[a, j] * w[j]
        acc += w[a] * row
    for t in range(n_touched):
        c = touched[t]
        sc0 = 0.0
        for j in range(L):
            sc0 -= Y[c, j] * w[j]
        sc = sc0 + e1[c] - b * e2[c]
        acc += sc * sc - sc0 * sc0
        e1[c] = 0.0
        e2[c] = 0.0
        seen[c] = False
    return b, b / (np.sqrt(fac * max(acc, 0.0)) / dd)


@parallel_kernel
def fill_draw_columns(idx, H, group, period, paths, out):  # pragma: no cover - compiled
    """Write each draw's raw treatment column into ``out`` (n x draws, F-ordered): row
    i gets path h at its period when its group is treated with path h, else 0."""
    D, s = idx.shape
    n = group.shape[0]
    G = 0
    for i in range(n):
        if group[i] >= G:
            G = group[i] + 1
    for d in prange(D):
        which = np.full(G, -1, dtype=np.int64)
        for p in range(s):
            which[idx[d, p] // H] = idx[d, p] % H
        for i in range(n):
            h = which[group[i]]
            out[i, d] = paths[h, period[i]] if h >= 0 else 0.0


@parallel_kernel
def columns_coef_t(D, Q, e, cl, Gc, fac):  # pragma: no cover - compiled
    """Coefficients and clustered t statistics of e on each column of D (net of the
    fixed effects) after projecting the controls' orthonormal basis Q off it, in place.
    """
    n, c = D.shape
    K = Q.shape[1]
    b_out = np.empty(c)
    t_out = np.empty(c)
    for j in prange(c):
        qd = np.zeros(K)
        for k in range(K):
            for i in range(n):
                qd[k] += Q[i, k] * D[i, j]
        dd = 0.0
        num = 0.0
        for i in range(n):
            x = D[i, j]
            for k in range(K):
                x -= Q[i, k] * qd[k]
            D[i, j] = x
            dd += x * x
            num += x * e[i]
        b = num / dd
        sums = np.zeros(Gc)
        for i in range(n):
            sums[cl[i]] += D[i, j] * (e[i] - b * D[i, j])
        acc = 0.0
        for g in range(Gc):
            acc += sums[g] * sums[g]
        b_out[j] = b
        t_out[j] = b / (np.sqrt(fac * acc) / dd)
    return b_out, t_out


@njit(cache=True, nogil=True)
def _kth_smallest(a, k):  # pragma: no cover - compiled
    """The k-th smallest value (0-based) of ``a``, which is reordered (Hoare's select)."""
    lo, hi = 0, a.shape[0] - 1
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@parallel_kernel
def smallest_k(R, k, ordered):  # pragma: no cover - compiled
    """Column indices of the k smallest values of each row of R (rows x G; exact for any
    values, fastest for uniform ones), by value when ``ordered`` else by column; -1 in
    the first slot of a row with tied values at the threshold (the caller sorts those
    rows fully)."""
    D, G = R.shape
    out = np.empty((D, k), dtype=np.int64)
    # the values are uniform on [0, 1): the k-th smallest lies below k/G + 6 sd with
    # near certainty, so select among the few values under that bound (checked: when
    # fewer than k fall under it, the whole row is searched)
    bound = k / G + 6.0 * np.sqrt(k * (G - k) / G) / G + 1.0 / G
    for d in prange(D):
        cand = np.empty(G)
        col = np.empty(G, dtype=np.int64)
        m = 0
        for j in range(G):  # branch-free: a fifth of the values pass, unpredictably
            v = R[d, j]
            cand[m] = v
            col[m] = j
            m += v < bound
        if m >= k:
            thr = _kth_smallest(cand[:m].copy(), k - 1)
        else:
            thr = _kth_smallest(R[d].copy(), k - 1)
            m = G
            for j in range(G):
                cand[j] = R[d, j]
                col[j] = j
        # the columns at or under the threshold, in column order
        kept = 0
        for p in range(m):
            if kept < k:
                out[d, kept] = col[p]
            kept += cand[p] <= thr
        m = kept
        if m != k:
            out[d, 0] = -1
            continue
        if ordered:
            vals = np.empty(k)
            for p in range(k):
                vals[p] = R[d, out[d, p]]
            order = np.argsort(vals)
            row = out[d].copy()
            for p in range(k):
                out[d, p] = row[order[p]]
    return out


#: draws per sweep of the rows in :func:`basis_coef_t`. The draws of a block are the
#: lanes of every inner loop; the loops take their length from the scratch arrays at
#: run time, which lets LLVM vectorise them behind a run-time overlap check (a
#: compile-time length was unrolled into scalar code instead). 32 measured fastest
#: (16: 1.4x slower, 64: 1.1x; benchmarks/bench_placebo_levels.py, 90k rows)
NB = 32
#: up to this many treatment paths, a block marks treated groups in a 0/1 table per
#: path and lane (multiply-adds that vectorise); beyond, a path index per lane (a gather)
MASK_PATHS = 4


@parallel_kernel
def basis_coef_t(idx, H, group, combo, combos, uptr, w, sw, period, paths, pbar, Qr, e, cl,
                 Gc, U, Phi, Gam, inv_wu, fac, nb):  # pragma: no cover - compiled
    """Coefficients and clustered t statistics of the draws ``idx`` (draws x s basis
    columns g * H + h) from the absorbed basis (see ``PlaceboDraws._setup_basis``).

    A draw's column net of the fixed effects and controls (scaled by sqrt w) is, row
    by row, sw_i (paths[h, period_i] - pbar[unit_i, h]) on the rows of a group treated
    with path h, minus sw_i (phi[codes_i] summed - the unit's weighted mean of it),
    minus Qr_i . gam, where phi and gam are the sums of the treated basis columns'
    fixed-effect (Phi) and control (Gam) coefficients. The rows come sorted by unit
    (unit u: rows uptr[u] to uptr[u + 1]), so a unit's mean is taken just before its
    rows are swept (they are then in cache); a row's codes are its combination
    ``combo`` of the effects' levels (``combos``: the levels of each), whose phi is
    summed once per block. When no fixed effect nests in the groups (U = 0), all rows
    are one "unit" without a mean and ``pbar`` is one row of zeros. Draws run in
    blocks of ``nb`` per sweep over the rows, so each row is read once per block.
    """
    D = idx.shape[0]
    n = group.shape[0]
    G = 0
    for i in range(n):
        if group[i] >= G:
            G = group[i] + 1
    n_blocks = (D + nb - 1) // nb
    n_chunks = min(n_blocks, 64)
    b_out = np.empty(n_blocks * nb)
    t_out = np.empty(n_blocks * nb)
    masked = H <= MASK_PATHS
    for ch in prange(n_chunks):
        # scratch per chunk, left as found by each block: ``mask`` 0 (untreated) and
        # ``which`` H (untreated) except where a block writes; one of them is a stub.
        # s12: each cluster's sums of d~ e and d~^2 by lane, side by side (one cache
        # line pair per row's cluster)
        mask = np.zeros((G, H, nb) if masked else (1, 1, nb))
        which = np.full((1, nb) if masked else (G, nb), H, dtype=np.int64)
        phic = np.empty((combos.shape[0], nb))
        s12 = np.zeros((Gc, 2, nb))
        for blk in range(ch * n_blocks // n_chunks, (ch + 1) * n_blocks // n_chunks):
            _basis_block(idx, blk * nb, H, group, combo, combos, uptr, w, sw, period,
                         paths, pbar, Qr, e, cl, U, Phi, Gam, inv_wu, fac, masked, mask,
                         which, phic, s12, b_out, t_out)
    return b_out[:D], t_out[:D]


@njit(cache=True, nogil=True)
def _basis_block(idx, lo, H, group, combo, combos, uptr, w, sw, period, paths, pbar, Qr,
                 e, cl, U, Phi, Gam, inv_wu, fac, masked, mask, which, phic, s12,
                 b_out, t_out):  # pragma: no cover - compiled
    """Draws lo..lo+nb of :func:`basis_coef_t` (a short last block repeats its last
    draw); the scratch mask, which, s12 is left as it was found (phic is
    overwritten)."""
    D, s = idx.shape
    F = combos.shape[1]
    K = Gam.shape[1]
    K4 = Qr.shape[1]
    m = Phi.shape[1]
    Gc = s12.shape[0]
    nb = s12.shape[2]
    phi = np.zeros((nb, m))  # by lane: a treated column's coefficients add in one pass
    gam = np.zeros((K4, nb))  # zero beyond the K controls, as Qr's padding
    for d in range(nb):
        r = min(lo + d, D - 1)
        for p in range(s):
            j = idx[r, p]
            if masked:  # a group listed twice keeps its last path, as ``which`` does
                for h in range(H):
                    mask[j // H, h, d] = 0.0
                mask[j // H, j % H, d] = 1.0
            else:
                which[j // H, d] = j % H
            for k in range(m):
                phi[d, k] += Phi[j, k]
            for k in range(K):
                gam[k, d] += Gam[j, k]
    for c in range(combos.shape[0]):  # each combination's phi, summed over the effects
        for d in range(nb):
            v = 0.0
            for f in range(F):
                v += phi[d, combos[c, f]]
            phic[c, d] = v
    x = np.empty(nb)
    ubar = np.zeros(nb)
    vals = np.zeros(H + 1)  # a row's treated values by path; H: untreated
    for u in range(uptr.shape[0] - 1):
        if U > 0:  # the unit's weighted mean of phi[codes]
            for d in range(nb):
                ubar[d] = 0.0
            for i in range(uptr[u], uptr[u + 1]):
                wi = w[i]
                ci = combo[i]
                for d in range(nb):
                    ubar[d] += wi * phic[ci, d]
            for d in range(nb):
                ubar[d] *= inv_wu[u]
        for i in range(uptr[u], uptr[u + 1]):
            c = cl[i]
            g = group[i]
            ei = e[i]
            swi = sw[i]
            ti = period[i]
            ci = combo[i]
            # one pass over the lanes: the effects' part, the first path's value on
            # the treated lanes (adding exact zeros elsewhere changes nothing; a zero
            # row of the stub ``mask`` without the table) and the first four controls
            gm = g if masked else 0
            a = swi * (paths[0, ti] - pbar[u, 0]) if masked else 0.0
            q0, q1, q2, q3 = Qr[i, 0], Qr[i, 1], Qr[i, 2], Qr[i, 3]
            for d in range(nb):
                x[d] = ((-swi * (phic[ci, d] - ubar[d]) + mask[gm, 0, d] * a) - q0 * gam[0, d]
                        - q1 * gam[1, d] - q2 * gam[2, d] - q3 * gam[3, d])
            if masked:  # the other paths
                for h in range(1, H):
                    a = swi * (paths[h, ti] - pbar[u, h])
                    for d in range(nb):
                        x[d] += mask[g, h, d] * a
            else:
                for h in range(H):
                    vals[h] = swi * (paths[h, ti] - pbar[u, h])
                for d in range(nb):
                    x[d] += vals[which[g, d]]
            for k in range(4, K4, 4):  # the other controls, four at a time
                q0, q1, q2, q3 = Qr[i, k], Qr[i, k + 1], Qr[i, k + 2], Qr[i, k + 3]
                for d in range(nb):
                    x[d] = (x[d] - q0 * gam[k, d] - q1 * gam[k + 1, d] - q2 * gam[k + 2, d]
                            - q3 * gam[k + 3, d])
            for d in range(nb):
                s12[c, 0, d] += x[d] * ei
                s12[c, 1, d] += x[d] * x[d]
    # the lanes' sums over clusters, cluster by cluster (in order)
    num = np.zeros(nb)
    dd = np.zeros(nb)
    for g in range(Gc):
        for d in range(nb):
            num[d] += s12[g, 0, d]
            dd[d] += s12[g, 1, d]
    b = num / dd
    acc = np.zeros(nb)
    for g in range(Gc):
        for d in range(nb):
            sc = s12[g, 0, d] - b[d] * s12[g, 1, d]
            acc[d] += sc * sc
            s12[g, 0, d] = 0.0
            s12[g, 1, d] = 0.0
    for d in range(nb):
        if lo + d < D:
            b_out[lo + d] = b[d]
            t_out[lo + d] = b[d] / (np.sqrt(fac * acc[d]) / dd[d])
    for d in range(nb):  # reset the scratch
        r = min(lo + d, D - 1)
        for p in range(s):
            j = idx[r, p]
            if masked:
                mask[j // H, j % H, d] = 0.0
            else:
                which[j // H, d] = H

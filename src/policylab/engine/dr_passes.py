"""Passes over units for many weighted logits and doubly robust estimates at once.

The Callaway-Sant'Anna randomization pre-test with covariates refits a propensity logit
and the doubly robust (or IPW) 2x2 estimator on every reassignment of the cohorts. A
reassignment changes only which assignment groups are treated and which belong to the
subsample; units, covariates, weights and long differences stay. Everything linear in
the units is summed once per run of units (units of one cluster and one assignment
group) by the caller; what is not linear -- the logistic function of each unit's
linear index -- is summed here, one pass over the units per Newton step:

- :func:`logit_sums`: ``sum w mu x`` and ``sum w mu (1 - mu) x x'`` over the member
  runs of each assignment, ``mu = expit(x' beta)`` (the score and information of the
  weighted logit, the treated part of the score being a run sum);
- :func:`dr_sums`: at the fitted coefficients, the propensity-score sums the IPW and
  doubly robust estimators and their influence functions need (per cluster and in
  total), with R DRDID's score cap (1 - 1e-6) and trimming of comparison units at 0.995.

Units are processed in blocks that stay in cache while every assignment of a chunk
passes over them. The exponential is a polynomial (``exp(-a / 64) ** 64``, relative
error below 2e-14 for ``0 <= a <= 30``) that the compiler vectorises; indices beyond
+-30 are clipped (``expit`` is then within 1e-13 of 0 or 1, far below what any sum
here resolves).

Numbers only: nothing here imports pandas or any other policylab layer.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["logit_sums", "dr_sums", "unit_features", "PS_CAP", "PS_TRIM"]

_BLOCK = 256  # units per block: a block's feature rows stay in L1 over the draws
_CLIP = 30.0
PS_CAP = 1 - 1e-6  # R DRDID: pmin(ps, 1 - 1e-6)
PS_TRIM = 0.995  # R DRDID's trim.level for comparison units
_FM = {"reassoc", "contract"}  # reductions may be reordered; NaN and inf kept


@njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy", inline="always")
def _exp_neg_abs(x):  # pragma: no cover - compiled
    """``exp(-min(|x|, 30))`` by the module's polynomial."""
    a = min(abs(x), _CLIP) * 0.015625
    q = -1.0 / 6227020800.0
    q = q * a + 1.0 / 479001600.0
    q = q * a - 1.0 / 39916800.0
    q = q * a + 1.0 / 3628800.0
    q = q * a - 1.0 / 362880.0
    q = q * a + 1.0 / 40320.0
    q = q * a - 1.0 / 5040.0
    q = q * a + 1.0 / 720.0
    q = q * a - 1.0 / 120.0
    q = q * a + 1.0 / 24.0
    q = q * a - 1.0 / 6.0
    q = q * a + 0.5
    q = q * a - 1.0
    q = q * a + 1.0  # exp(-a / 64)
    q = q * q
    q = q * q
    q = q * q
    q = q * q
    q = q * q
    return q * q


@njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy", inline="always")
def _expit_block(F, p, beta, i0, nb, eta, e, r):  # pragma: no cover - compiled
    """For units ``i0 .. i0 + nb``: ``eta = x' beta``, ``e = exp(-|eta|)`` and
    ``r = 1 / (1 + e)``, so that ``expit(eta) = r`` (eta >= 0) or ``e r`` and
    ``expit(eta) (1 - expit(eta)) = e r^2``."""
    for j in range(nb):
        eta[j] = 0.0
    for k in range(p):
        bk = beta[k]
        for j in range(nb):
            eta[j] += F[k, i0 + j] * bk
    for j in range(nb):
        q = _exp_neg_abs(eta[j])
        e[j] = q
        r[j] = 1.0 / (1.0 + q)


@njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy", inline="always")
def _dots(a, F, r0, r1, i0, nb, out):  # pragma: no cover - compiled
    """``out[r - r0] += sum_j a_j F[r, i0 + j]`` for rows r0 .. r1 - 1, four rows a
    sweep (one load of ``a`` per four products; ``F`` has three zero rows at the end)."""
    for r in range(r0, r1, 4):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for j in range(nb):
            aj = a[j]
            s0 += aj * F[r, i0 + j]
            s1 += aj * F[r + 1, i0 + j]
            s2 += aj * F[r + 2, i0 + j]
            s3 += aj * F[r + 3, i0 + j]
        k = r - r0
        out[k] += s0
        if r + 1 < r1:
            out[k + 1] += s1
        if r + 2 < r1:
            out[k + 2] += s2
        if r + 3 < r1:
            out[k + 3] += s3


def unit_features(X: np.ndarray, DY: np.ndarray) -> np.ndarray:
    """The rows the passes sum, units as columns: ``x`` (p), ``x_k x_l`` for k <= l,
    ``DY`` (m), ``x_k DY_q`` (k-major), then three zero rows (see :func:`_dots`).

    ``X`` is (p, n) with the constant first, ``DY`` (m, n)."""
    p, m, n = X.shape[0], DY.shape[0], X.shape[1]
    iu, ju = np.triu_indices(p)
    F = np.zeros((p + len(iu) + m + p * m + 3, n))
    F[:p] = X
    F[p:p + len(iu)] = X[iu] * X[ju]
    F[p + len(iu):p + len(iu) + m] = DY
    F[p + len(iu) + m:p + len(iu) + m + p * m] = (X[:, None, :] * DY[None]).reshape(p * m, n)
    return F


@njit(cache=True, nogil=True)
def _unpack(packed, p, out):  # pragma: no cover - compiled
    """Symmetric p x p matrix from its upper triangle, rows in order."""
    t = 0
    for k in range(p):
        for q in range(k, p):
            out[k, q] = packed[t]
            out[q, k] = packed[t]
            t += 1


@njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def logit_sums(F, p, w, bounds, member, beta, live):  # pragma: no cover - compiled
    """Sums of the weighted logit over the member runs of each live assignment.

    Parameters
    ----------
    F : (rows, n) float64, :func:`unit_features` of the units in run order
    p : number of covariates (constant included); w : (n,) weights
    bounds : (runs + 1,) int64, run r is units ``bounds[r]:bounds[r + 1]``
    member : (B, runs) uint8, 1 where run r is in assignment b's subsample
    beta : (B, p) coefficients; live : int64 indices of the assignments to compute

    Returns
    -------
    s : (B, p) ``sum w mu x``; h : (B, p, p) ``sum w mu (1 - mu) x x'`` (rows not in
    ``live`` zero)
    """
    B = beta.shape[0]
    P2 = p * (p + 1) // 2
    s = np.zeros((B, p))
    hp = np.zeros((B, P2))
    eta = np.empty(_BLOCK)
    e = np.empty(_BLOCK)
    r = np.empty(_BLOCK)
    u = np.empty(_BLOCK)
    for run in range(bounds.shape[0] - 1):
        for i0 in range(bounds[run], bounds[run + 1], _BLOCK):
            nb = min(_BLOCK, bounds[run + 1] - i0)
            for b in live:
                if member[b, run] == 0:
                    continue
                _expit_block(F, p, beta[b], i0, nb, eta, e, r)
                for j in range(nb):
                    mu = r[j] if eta[j] >= 0 else e[j] * r[j]
                    u[j] = w[i0 + j] * mu
                    e[j] = w[i0 + j] * e[j] * r[j] * r[j]
                _dots(u, F, 0, p, i0, nb, s[b])
                _dots(e, F, p, p + P2, i0, nb, hp[b])
    h = np.zeros((B, p, p))
    for b in live:
        _unpack(hp[b], p, h[b])
    return s, h


@njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy", inline="always")
def _dr_block(F, p, w, i0, nb, beta, treated, eta, e, r, bw, hw, wc):  # pragma: no cover
    """Per unit of the block: ``bw = w ps``, ``hw = w ps (1 - ps)`` (ps capped),
    ``wc`` the comparison weight ``w ps / (1 - ps)`` (0 when trimmed or treated); returns
    the largest ``|D - expit|`` over units of positive weight (the separation check)."""
    _expit_block(F, p, beta, i0, nb, eta, e, r)
    sep = 0.0
    for j in range(nb):
        pos = eta[j] >= 0
        mu = r[j] if pos else e[j] * r[j]
        om = e[j] * r[j] if pos else r[j]  # 1 - expit, without cancellation
        ps = min(mu, PS_CAP)
        om = om if mu < PS_CAP else 1.0 - ps
        wj = w[i0 + j]
        bw[j] = wj * ps
        hw[j] = wj * ps * om
        if treated:
            wc[j] = 0.0
            d = om
        else:
            wc[j] = wj * ps / om if ps < PS_TRIM else 0.0
            d = mu
        if wj > 0 and d > sep:
            sep = d
    return sep


@njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def dr_sums(F, p, m, w, bounds, run_cluster, n_cl, member, treated, beta, live
            ):  # pragma: no cover - compiled
    """Propensity-score sums of the IPW / doubly robust estimators at ``beta``.

    Parameters as :func:`logit_sums`, plus m the number of long differences,
    run_cluster : (runs,) cluster code of each run, n_cl the number of clusters,
    treated : (B, runs) uint8, 1 where run r is assignment b's treated cohort.

    Returns
    -------
    clus : (B, n_cl, 1 + m + 2p)
        Per cluster ``[sum wc, sum wc DY, sum wc x, sum w ps x]``: ``wc = w ps / (1 - ps)``
        on comparison units with ps < 0.995 (0 otherwise), ps = min(expit, 1 - 1e-6),
        ``w ps x`` over all members.
    hinfo : (B, p, p) ``sum w ps (1 - ps) x x'`` over members
    cxy : (B, p, m) ``sum wc x DY'``; cxx : (B, p, p) ``sum wc x x'``
    sep : (B,) largest ``|D - expit(x' beta)|`` over members of positive weight
    """
    B = beta.shape[0]
    P2 = p * (p + 1) // 2
    nf = p + P2 + m + p * m
    clus = np.zeros((B, n_cl, 1 + m + 2 * p))
    hp = np.zeros((B, P2))
    cp = np.zeros((B, P2))
    cxy = np.zeros((B, p, m))
    sep = np.zeros(B)
    eta = np.empty(_BLOCK)
    e = np.empty(_BLOCK)
    r = np.empty(_BLOCK)
    bw = np.empty(_BLOCK)
    hw = np.empty(_BLOCK)
    wc = np.empty(_BLOCK)
    acc = np.empty(nf)
    for run in range(bounds.shape[0] - 1):
        c = run_cluster[run]
        for i0 in range(bounds[run], bounds[run + 1], _BLOCK):
            nb = min(_BLOCK, bounds[run + 1] - i0)
            for b in live:
                if member[b, run] == 0:
                    continue
                t = treated[b, run] != 0
                sb = _dr_block(F, p, w, i0, nb, beta[b], t, eta, e, r, bw, hw, wc)
                sep[b] = max(sep[b], sb)
                _dots(hw, F, p, p + P2, i0, nb, hp[b])
                out = clus[b, c]
                _dots(bw, F, 0, p, i0, nb, out[1 + m + p:])
                if t:
                    continue
                tot = 0.0
                for j in range(nb):
                    tot += wc[j]
                out[0] += tot
                acc[:] = 0.0
                _dots(wc, F, 0, nf, i0, nb, acc)
                for k in range(p):
                    out[1 + m + k] += acc[k]
                for k in range(P2):
                    cp[b, k] += acc[p + k]
                for q in range(m):
                    out[1 + q] += acc[p + P2 + q]
                for k in range(p):
                    for q in range(m):
                        cxy[b, k, q] += acc[p + P2 + m + k * m + q]
    hinfo = np.zeros((B, p, p))
    cxx = np.zeros((B, p, p))
    for b in live:
        _unpack(hp[b], p, hinfo[b])
        _unpack(cp[b], p, cxx[b])
    return clus, hinfo, cxy, cxx, sep


@njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def logit_weights(E, w, i0, U, V):  # pragma: no cover - compiled
    """For the linear indices ``E`` (assignments x units ``i0 ..``) of a block:
    ``U = w mu`` and ``V = w mu (1 - mu)``, mu = expit(E): the weights whose products
    with the feature rows are :func:`logit_sums`' sums."""
    for b in range(E.shape[0]):
        for j in range(E.shape[1]):
            x = E[b, j]
            q = _exp_neg_abs(x)
            r = 1.0 / (1.0 + q)
            wj = w[i0 + j]
            U[b, j] = wj * (r if x >= 0 else q * r)
            V[b, j] = wj * q * r * r


@njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def dr_weights(F, p, w, i0, nb, beta, treated, BW, HW, WC, sep):  # pragma: no cover
    """Per assignment b and unit of a block the weights of :func:`dr_sums`: ``BW = w
    ps``, ``HW = w ps (1 - ps)``, ``WC`` the comparison weight (0 when treated or
    trimmed); ``sep[b]`` raised to the block's separation measure (same arithmetic)."""
    eta = np.empty(nb)
    e = np.empty(nb)
    r = np.empty(nb)
    for b in range(beta.shape[0]):
        sb = _dr_block(F, p, w, i0, nb, beta[b], treated[b] != 0, eta, e, r, BW[b],
                       HW[b], WC[b])
        sep[b] = max(sep[b], sb)

"""Propensity-score matching kernels on sorted scores (numbers only).

Kernel matching never builds the n_treated x n_control weight matrix: controls are
sorted by score and each treated unit only looks at the window of controls within one
bandwidth (the kernels have compact support; the Gaussian is cut at 8 bandwidths,
where its weight is below 1e-13). The Epanechnikov kernel uses prefix sums of
score powers, so a treated unit costs O(log n) whatever the window size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

__all__ = ["KERNELS", "kernel_match", "nearest_match", "metric_match", "match_counts",
           "within_arm_variance", "abadie_imbens_att_var"]

KERNELS = ("epan", "uniform", "biweight", "tricube", "gaussian")
_CODE = {k: i for i, k in enumerate(KERNELS)}


@njit(cache=True)
def _k(code, u):  # pragma: no cover - compiled
    a = abs(u)
    if code == 4:
        return np.exp(-0.5 * u * u) if a < 8.0 else 0.0
    if a >= 1.0:
        return 0.0
    if code == 0:
        return 0.75 * (1.0 - u * u)
    if code == 1:
        return 0.5
    if code == 2:
        return 0.9375 * (1.0 - u * u) ** 2
    return 70.0 / 81.0 * (1.0 - a * a * a) ** 3


@njit(cache=True)
def _window_sums(pt, pc_sorted, yc_sorted, code, h, reach):  # pragma: no cover
    # For each treated score: sum_j K_ij and sum_j K_ij y_j over controls in the window.
    nt = pt.shape[0]
    s0 = np.zeros(nt)
    s1 = np.zeros(nt)
    n = pc_sorted.shape[0]
    for i in range(nt):
        lo = np.searchsorted(pc_sorted, pt[i] - reach * h, side="left")
        hi = np.searchsorted(pc_sorted, pt[i] + reach * h, side="right")
        a = 0.0
        b = 0.0
        for j in range(lo, min(hi, n)):
            kk = _k(code, (pc_sorted[j] - pt[i]) / h)
            a += kk
            b += kk * yc_sorted[j]
        s0[i] = a
        s1[i] = b
    return s0, s1


@njit(cache=True)
def _control_weights(pc, pt_sorted, inv_s0_sorted, code, h, reach):  # pragma: no cover
    # For each control: sum over treated i of K_ij / S_i (its psmatch2 _weight).
    nc = pc.shape[0]
    out = np.zeros(nc)
    n = pt_sorted.shape[0]
    for j in range(nc):
        lo = np.searchsorted(pt_sorted, pc[j] - reach * h, side="left")
        hi = np.searchsorted(pt_sorted, pc[j] + reach * h, side="right")
        acc = 0.0
        for i in range(lo, min(hi, n)):
            if inv_s0_sorted[i] > 0.0:
                acc += _k(code, (pc[j] - pt_sorted[i]) / h) * inv_s0_sorted[i]
        out[j] = acc
    return out


def _fast_sums(pt: np.ndarray, pc: np.ndarray, fc: np.ndarray, code: int, h: float,
               order: np.ndarray | None = None) -> np.ndarray:
    """sum_j K((pc_j - pt_i)/h) f_j for epan (code 0) or uniform (code 1), pc sorted.

    ``fc`` may hold several columns (n_c x q): the windows are found once for all of
    them. ``order`` is ``argsort(pt)`` when the caller has it.
    """
    # sorted queries make the binary searches cache-friendly (several times faster)
    if order is None:
        order = np.argsort(pt, kind="stable")
    ps = pt[order]
    lo = np.empty(len(pt), dtype=np.int64)
    hi = np.empty(len(pt), dtype=np.int64)
    lo[order] = np.searchsorted(pc, ps - h, side="right")
    hi[order] = np.searchsorted(pc, ps + h, side="left")
    F = fc[:, None] if fc.ndim == 1 else fc
    out = np.empty((len(pt), F.shape[1]))
    for q in range(F.shape[1]):
        # prefix sums of p^s f (s = 0, 1, 2): each window sum is two lookups
        pw = [np.concatenate([[0.0], np.cumsum(pc**s * F[:, q])]) for s in
              range(1 if code == 1 else 3)]
        if code == 1:
            out[:, q] = 0.5 * (pw[0][hi] - pw[0][lo])
            continue
        s0, s1, s2 = (pw[s][hi] - pw[s][lo] for s in range(3))
        # sum (1 - (p - t)^2 / h^2) f = s0 - (s2 - 2 t s1 + t^2 s0) / h^2
        out[:, q] = 0.75 * (s0 - (s2 - 2 * pt * s1 + pt**2 * s0) / h**2)
    return out[:, 0] if fc.ndim == 1 else out


def kernel_match(pt: np.ndarray, pc: np.ndarray, kernel: str = "epan", bwidth: float = 0.06,
                 yc: np.ndarray | None = None, fast: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kernel matching of treated scores ``pt`` on control scores ``pc``.

    Returns (s0, counterfactual, control_weight): s0 = sum of kernel weights per treated
    (0 = no control within the bandwidth), the kernel-weighted control mean of ``yc``
    per treated (NaN where s0 = 0), and each control's total weight sum_i K_ij / s0_i
    (psmatch2's ``_weight`` for controls).
    """
    if kernel not in _CODE:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if bwidth <= 0:
        raise ValueError("bwidth must be positive")
    code = _CODE[kernel]
    reach = 8.0 if kernel == "gaussian" else 1.0
    order = np.argsort(pc, kind="stable")
    pcs = np.ascontiguousarray(pc[order], dtype=np.float64)
    ycs = np.zeros_like(pcs) if yc is None else np.ascontiguousarray(yc[order], dtype=float)
    pt = np.ascontiguousarray(pt, dtype=np.float64)
    # the uniform kernel jumps at the window edge, where rounding decides membership:
    # only the (continuous) Epanechnikov kernel takes the prefix-sum path
    ot = np.argsort(pt, kind="stable")
    if fast and code == 0:
        s01 = _fast_sums(pt, pcs, np.column_stack([np.ones_like(pcs), ycs]), code, bwidth,
                         order=ot)
        s0, s1 = s01[:, 0], s01[:, 1]
        s0 = np.where(s0 < 1e-12 * 0.75, 0.0, s0)  # an empty window, up to rounding
    else:
        s0, s1 = _window_sums(pt, pcs, ycs, code, bwidth, reach)
    cf = np.where(s0 > 0, s1 / np.where(s0 > 0, s0, 1.0), np.nan)
    inv = np.where(s0 > 0, 1.0 / np.where(s0 > 0, s0, 1.0), 0.0)
    if fast and code == 0:
        # the controls' sort order is known: no second argsort of them
        w = _fast_sums(np.ascontiguousarray(pc, dtype=float), pt[ot], inv[ot], code, bwidth,
                       order=order)
        w = np.maximum(w, 0.0)
    else:
        w = _control_weights(np.ascontiguousarray(pc, dtype=float), pt[ot], inv[ot], code,
                             bwidth, reach)
    return s0, cf, w


def nearest_match(pt: np.ndarray, pc: np.ndarray, k: int = 1, caliper: float | None = None,
                  replace: bool = True, ties: bool = True, tol: float = 1e-12,
                  tol_sq: float | None = None) -> list[np.ndarray]:
    """Indices of the k nearest controls of each treated (by |score difference|).

    ``ties``: controls within ``tol`` of the k-th distance are all kept, sharing the
    weight. ``tol_sq`` instead compares squared distances: d^2 <= d_k^2 + tol_sq (R
    Matching's rule is tol_sq = 1e-5 x the score variance). Without replacement, treated units are matched in
    order of decreasing score and a control is used once. Beyond ``caliper`` nothing is
    matched (an empty array).
    """
    order = np.argsort(pc, kind="stable")
    pcs = pc[order]
    used = np.zeros(len(pc), dtype=bool)
    out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(pt)
    seq = np.argsort(-pt, kind="stable") if not replace else np.arange(len(pt))
    for i in seq:
        pos = np.searchsorted(pcs, pt[i])
        lo, hi = max(0, pos - k - 1), min(len(pcs), pos + k + 1)
        # widen until k unused candidates are inside
        while True:
            cand = np.arange(lo, hi)
            if not replace:
                cand = cand[~used[order[cand]]]
            if len(cand) >= k or (lo == 0 and hi == len(pcs)):
                break
            lo, hi = max(0, lo - k - 1), min(len(pcs), hi + k + 1)
        if len(cand) == 0:
            continue
        d = np.abs(pcs[cand] - pt[i])
        bound = np.sort(d)[min(k, len(d)) - 1]
        # the index window is lopsided when used controls were skipped on one side, so
        # its k-th distance only bounds the true one: every control nearer than the bound
        # (or tied with it) lies in the score window below, where the k-th is exact
        reach = bound + (np.sqrt(bound**2 + tol_sq) - bound if tol_sq is not None else tol)
        lo2 = np.searchsorted(pcs, pt[i] - reach, side="left")
        hi2 = np.searchsorted(pcs, pt[i] + reach, side="right")
        cand = np.arange(lo2, hi2)
        if not replace:
            cand = cand[~used[order[cand]]]
        d = np.abs(pcs[cand] - pt[i])
        kth = np.sort(d)[min(k, len(d)) - 1]
        tol_i = np.sqrt(kth**2 + tol_sq) - kth if tol_sq is not None else tol
        keep = d <= kth + tol_i if ties else np.isin(
            np.arange(len(cand)), np.argsort(d, kind="stable")[:k])
        sel = cand[keep]
        if caliper is not None:
            sel = sel[np.abs(pcs[sel] - pt[i]) <= caliper]
        idx = order[sel]
        if not replace:
            idx = idx[: k] if not ties else idx
            used[idx] = True
        out[i] = idx
    return out


def metric_match(zt: np.ndarray, zc: np.ndarray, k: int = 1, tol_sq: float | None = None
                 ) -> list[np.ndarray]:
    """Indices of the k nearest rows of ``zc`` for each row of ``zt`` (with
    replacement) in squared Euclidean distance, ties kept: every control with
    d^2 <= d_k^2 + ``tol_sq`` (R Matching's ``distance.tolerance`` on the metric its
    Weight matrix defines; None: ties up to rounding, 1e-12 relative).

    The caller transforms covariates so that Euclidean distance is the metric
    (standardized for inverse variance, times a Cholesky factor for Mahalanobis).
    """
    from scipy.spatial import cKDTree

    zt = np.asarray(zt, dtype=float).reshape(len(zt), -1)
    zc = np.asarray(zc, dtype=float).reshape(len(zc), -1)
    kk = min(k, len(zc))
    tree = cKDTree(zc)
    dk, _ = tree.query(zt, k=[kk])
    d2 = dk[:, 0] ** 2
    slack = d2 * 1e-12 + 1e-300 if tol_sq is None else np.full(len(zt), tol_sq)
    # the ball may miss a point at exactly the radius by rounding: pad, then filter
    near = tree.query_ball_point(zt, np.sqrt(d2 + slack) * (1 + 1e-9) + 1e-300)
    out = []
    for i, cand in enumerate(near):
        c = np.asarray(cand, dtype=np.int64)
        dd = ((zc[c] - zt[i]) ** 2).sum(axis=1)
        out.append(np.sort(c[dd <= d2[i] + slack[i]]))
    return out


def match_counts(matches: Sequence[np.ndarray], n_c: int) -> tuple[np.ndarray, np.ndarray]:
    """K_M(j) = sum over treated i using control j of 1/#J(i), and the sum of the
    squared shares (Abadie-Imbens 2006's K and K'), per control."""
    k1, k2 = np.zeros(n_c), np.zeros(n_c)
    for mset in matches:
        if len(mset):
            np.add.at(k1, mset, 1.0 / len(mset))
            np.add.at(k2, mset, 1.0 / len(mset) ** 2)
    return k1, k2


def within_arm_variance(z: np.ndarray, y: np.ndarray, j: int, tol_sq: float | None = None
                        ) -> np.ndarray:
    """Conditional variance of ``y`` at each unit from its ``j`` nearest neighbours in
    the same treatment arm (itself excluded; ties within ``tol_sq`` kept): the sample
    variance (ddof 1) of the unit's outcome and its neighbours' (R Matching's
    ``Var.calc = j``; for j = 1 this is Abadie-Imbens' (y_i - y_l)^2 / 2)."""
    z = np.asarray(z, dtype=float).reshape(len(z), -1)
    n = len(z)
    if n < 2:
        return np.full(n, np.nan)
    from scipy.spatial import cKDTree

    jj = min(j, n - 1)
    tree = cKDTree(z)
    # the unit itself is one of the zero distances: the (j+1)-th nearest, self
    # included, is the j-th among the others (also with exact duplicates)
    dk, _ = tree.query(z, k=[jj + 1])
    d2 = dk[:, 0] ** 2
    slack = d2 * 1e-12 + 1e-300 if tol_sq is None else np.full(n, tol_sq)
    near = tree.query_ball_point(z, np.sqrt(d2 + slack) * (1 + 1e-9) + 1e-300)
    out = np.empty(n)
    for i, cand in enumerate(near):
        c = np.asarray(cand, dtype=np.int64)
        c = c[c != i]
        c = c[((z[c] - z[i]) ** 2).sum(axis=1) <= d2[i] + slack[i]]
        out[i] = np.var(np.r_[y[i], y[c]], ddof=1)
    return out


def abadie_imbens_att_var(tau: np.ndarray, att: float, k1: np.ndarray, k2: np.ndarray,
                          sig2_c: np.ndarray) -> float:
    """Abadie-Imbens (2006, Theorem 7) variance of the matching ATT (population
    version, as R Matching's ``se``): the spread of the treated units' matched
    differences ``tau`` around the ATT plus sum_j (K_j^2 - K'_j) sigma^2_j over controls,
    both over N1^2."""
    n1 = len(tau)
    return float((np.sum((tau - att) ** 2) + np.sum((k1**2 - k2) * sig2_c)) / n1**2)

"""att_gt's 2x2 estimators for many cohort assignments at once, from run sums.

The randomization pre-test recomputes the pre-treatment ATT(g,t) of every cohort on
every reassignment: the same units, covariates and long differences; only which
assignment groups are treated and which form the subsample (the cohort and the
never-treated units) change. Units are sorted into runs -- one cluster and one
assignment group each -- so an assignment is a 0/1 flag per run, and everything the
estimators need that is linear in the units is a sum of per-run sums computed once:
``sum w``, ``sum w x``, ``sum w DY``, ``sum w x x'``, ``sum w x DY'``. The outcome
regression, its influence function, the treated means and all cluster sums of the
unconditional and outcome-regression ("reg") cells then cost O(runs) per assignment,
not O(units). Only the propensity score is not linear in the units: the IPW and doubly
robust estimators take one pass over the member units per Newton step of the logit
and one at the fitted score (:mod:`policylab.engine.dr_passes`), all assignments of a
chunk in the same pass.

The numbers are those of :func:`policylab.estimators.drdid.att_2x2_cells` (the estimator
``att_gt`` runs) up to rounding: the same logit maximum (Newton from the weighted share,
the first step in closed form because the start predicts the same probability for
every unit, then until the step is below 1e-7 and confirmed at the fitted score), the
same score cap, trimming and influence functions. Assignments that would stop
``att_2x2_cells`` on a check (a singular outcome regression or propensity design,
separation, no comparison weight left after trimming) or on which this Newton does not
settle are flagged: the caller recomputes them one at a time with ``att_2x2_cells``
itself, which estimates them or raises its error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policylab.engine.dr_blocks import dr_sums, logit_sums
from policylab.engine.dr_passes import unit_features

__all__ = ["Runs", "make_runs", "batched_cells"]

_STEP_TOL = 1e-7  # Newton stops after a step below this (the next would be ~1e-14)
_CHECK_TOL = 1e-10  # the step left at the fitted score must be below this
_MAX_NEWTON = 25


@dataclass
class Runs:
    """Units sorted into runs of one cluster and one assignment group, with their sums.

    ``stats`` holds per run ``[sum w, sum w x (p), sum w DY (m), sum w x x' (p*p),
    sum w x DY' (p*m)]``; ``F`` (:func:`policylab.engine.dr_passes.unit_features`,
    units as columns) and ``w`` are in run order for the passes of the propensity
    score."""

    bounds: np.ndarray
    group: np.ndarray
    cluster: np.ndarray
    cluster_starts: np.ndarray
    F: np.ndarray
    w: np.ndarray
    stats: np.ndarray
    n: int
    n_cl: int
    p: int
    m: int

    def part(self, a: np.ndarray, name: str) -> np.ndarray:
        """A named block of the last axis of an array of run sums (reshaped)."""
        p, m = self.p, self.m
        lo = {"n": 0, "x": 1, "y": 1 + p, "xx": 1 + p + m, "xy": 1 + p + m + p * p}[name]
        size = {"n": 1, "x": p, "y": m, "xx": p * p, "xy": p * m}[name]
        out = a[..., lo:lo + size]
        if name == "n":
            return out[..., 0]
        return out.reshape(*a.shape[:-1], *{"xx": (p, p), "xy": (p, m)}.get(name, (size,)))


def make_runs(dy: np.ndarray, X: np.ndarray, w: np.ndarray, group: np.ndarray,
              cluster: np.ndarray, n_cl: int) -> Runs:
    """Sort the units (rows of ``dy``, ``X``, ``w``) into runs and sum each run."""
    n = len(dy)
    order = np.lexsort((group, cluster))
    g, c = group[order], cluster[order]
    new = np.r_[True, (g[1:] != g[:-1]) | (c[1:] != c[:-1])]
    starts = np.flatnonzero(new)
    Xs, DYs, ws = X[order], dy[order], w[order]
    wx = ws[:, None] * Xs
    feats = np.hstack([ws[:, None], wx, ws[:, None] * DYs,
                       (wx[:, :, None] * Xs[:, None, :]).reshape(n, -1),
                       (wx[:, :, None] * DYs[:, None, :]).reshape(n, -1)])
    stats = np.add.reduceat(feats, starts, axis=0)
    run_cl = c[starts]
    cl_starts = np.flatnonzero(np.r_[True, run_cl[1:] != run_cl[:-1]])
    return Runs(bounds=np.r_[starts, n].astype(np.int64), group=g[starts],
                cluster=run_cl.astype(np.int64), cluster_starts=cl_starts,
                F=unit_features(Xs.T, DYs.T), w=ws, stats=stats, n=n, n_cl=int(n_cl),
                p=X.shape[1], m=dy.shape[1])


def _by_cluster(rs: Runs, flag: np.ndarray) -> np.ndarray:
    """Per assignment and cluster, the sums over the flagged runs (B x clusters x K)."""
    return np.add.reduceat(flag[:, :, None] * rs.stats[None], rs.cluster_starts, axis=1)


def _rank_ok(A: np.ndarray) -> np.ndarray:
    """Per matrix the rank check of :func:`~policylab.estimators.drdid.rank_checked_cholesky`
    (positive diagonal; pivots of the unit-diagonal Cholesky factor at least 1e-7)."""
    dg = np.einsum("bii->bi", A)
    ok = (dg > 0).all(axis=1)
    s = 1 / np.sqrt(np.where(dg > 0, dg, 1.0))
    S = A * s[:, :, None] * s[:, None, :]
    S[~ok] = np.eye(A.shape[1])
    try:
        L = np.linalg.cholesky(S)
        piv = np.einsum("bii->bi", L).min(axis=1)
    except np.linalg.LinAlgError:
        piv = np.zeros(len(A))
        for i, Si in enumerate(S):
            try:
                piv[i] = np.diag(np.linalg.cholesky(Si)).min()
            except np.linalg.LinAlgError:
                piv[i] = 0.0
    return ok & (piv >= 1e-7)


def _solve(A: np.ndarray, b: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Batched solve on the matrices flagged ok (identity elsewhere)."""
    A = A.copy()
    A[~ok] = np.eye(A.shape[1])
    return np.linalg.solve(A, b)


def _newton_start(rs: Runs, tT: np.ndarray, tM: np.ndarray, ok: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The logit's start (intercept at the weighted share) and its first Newton step,
    in closed form: at the start every unit has the same probability, so the score and
    information are run sums. Returns the coefficients after that step, ok (share
    strictly between 0 and 1, full-rank design) and which converged there already."""
    sw = rs.part(tM, "n")
    pbar = rs.part(tT, "n") / sw
    ok = ok & (pbar > 0) & (pbar < 1)
    pb = np.where(ok, pbar, 0.5)
    info = (pb * (1 - pb))[:, None, None] * rs.part(tM, "xx")
    ok &= _rank_ok(info)
    score = rs.part(tT, "x") - pb[:, None] * rs.part(tM, "x")
    beta = np.zeros_like(score)
    beta[:, 0] = np.log(pb / (1 - pb))
    beta += _solve(info, score[:, :, None], ok)[:, :, 0]
    conv = np.max(np.abs(score), axis=1) <= 1e-10 * sw
    return beta, ok, conv


def _fit_logit(rs: Runs, member: np.ndarray, tT: np.ndarray, tM: np.ndarray,
               ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Newton's method for the weighted logit of the treated flag on the member units
    of each assignment; ok False where it does not settle (left to att_2x2_cells)."""
    beta, ok, conv = _newton_start(rs, tT, tM, ok)
    live = ok & ~conv
    sx = rs.part(tT, "x")
    for _ in range(_MAX_NEWTON):
        idx = np.flatnonzero(live)
        if not len(idx):
            break
        s, h = logit_sums(rs.F, rs.p, rs.w, rs.bounds, member, beta, idx)
        good = _rank_ok(h[idx])
        step = _solve(h[idx], (sx[idx] - s[idx])[:, :, None], good)[:, :, 0]
        good &= np.isfinite(step).all(axis=1)
        ok[idx[~good]] = live[idx[~good]] = False
        idx, step = idx[good], step[good]
        beta[idx] += step
        size = np.max(np.abs(step), axis=1) / np.maximum(1.0, np.max(np.abs(beta[idx]), axis=1))
        live[idx[size <= _STEP_TOL]] = False
    ok &= ~live
    return beta, ok


def batched_cells(rs: Runs, method: str, cohorts: list[int], group_cohort: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-treatment ATT(g,t) and their cluster scores for a batch of assignments.

    Parameters
    ----------
    rs : Runs
        The units in runs (see :func:`make_runs`).
    method : {"reg", "ipw", "dr"}
        ``att_gt``'s estimator ("reg" with only a constant and unit weights is the
        unconditional difference of means).
    cohorts : list of int
        The treated cohorts, in the order of the cells.
    group_cohort : ndarray (B, groups)
        Each assignment's cohort per assignment group (0: never treated).

    Returns
    -------
    est : ndarray (B, cells)
        Cells ordered cohort by cohort, periods within a cohort.
    scores : ndarray (B, clusters, cells)
        Cluster sums of the influence functions divided by the number of units.
    ok : ndarray (B,)
        False where the assignment must go the one-at-a-time route (rows NaN).
    """
    coh_run = group_cohort[:, rs.group]
    never = coh_run == 0
    B, m = len(group_cohort), rs.m
    est = np.full((B, len(cohorts) * m), np.nan)
    scores = np.full((B, rs.n_cl, len(cohorts) * m), np.nan)
    ok = np.ones(B, dtype=bool)
    with np.errstate(all="ignore"):  # rows flagged not ok are recomputed by the caller
        for k, g in enumerate(cohorts):
            a, S, good = _cohort_cells(rs, method, coh_run == g, never)
            cols = slice(k * m, (k + 1) * m)
            est[:, cols], scores[:, :, cols] = a, S
            ok &= good
    est[~ok], scores[~ok] = np.nan, np.nan
    return est, scores, ok


def _cohort_cells(rs: Runs, method: str, T: np.ndarray, N: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cohort's cells (B x m) and cluster scores (B x clusters x m) for a batch."""
    n, P = rs.n, rs.part
    cT, cN = _by_cluster(rs, T.astype(float)), _by_cluster(rs, N.astype(float))
    tT, tN = cT.sum(axis=1), cN.sum(axis=1)
    nT = P(tT, "n")
    ok = nT > 0
    nT = np.where(ok, nT, 1.0)
    mt = (nT / n)[:, None, None]
    sxT, syT = P(tT, "x"), P(tT, "y")
    gamma = np.zeros((len(T), rs.p, rs.m))
    LO = None
    if method in ("reg", "dr"):
        gram = P(tN, "xx")
        ok &= _rank_ok(gram)
        gamma = _solve(gram, P(tN, "xy"), ok)
        # X' W R over each cluster's comparison units (R: the regression's residual)
        AN = P(cN, "xy") - P(cN, "xx") @ gamma[:, None]

        def LO(v: np.ndarray) -> np.ndarray:
            # cluster sums of the regression coefficients' influence, times v
            q = n * _solve(gram, v[:, :, None], ok)[:, :, 0]
            return np.einsum("bcpm,bp->bcm", AN, q)
    RT_c = P(cT, "y") - np.einsum("bcp,bpm->bcm", P(cT, "x"), gamma)
    nT_c = P(cT, "n")[:, :, None]
    if method == "reg":
        eta_t = syT / nT[:, None]
        eta_c = np.einsum("bp,bpm->bm", sxT, gamma) / nT[:, None]
        F = (P(cT, "y") - nT_c * eta_t[:, None]
             - (np.einsum("bcp,bpm->bcm", P(cT, "x"), gamma) - nT_c * eta_c[:, None]
                + LO(sxT / n))) / mt
        return eta_t - eta_c, F / n, ok
    return _ps_cells(rs, method, T, N, cT, tT, tN, ok, gamma, RT_c, LO)


def _ps_cells(rs: Runs, method: str, T: np.ndarray, N: np.ndarray, cT: np.ndarray,
              tT: np.ndarray, tN: np.ndarray, ok: np.ndarray, gamma: np.ndarray,
              RT_c: np.ndarray, LO) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IPW / doubly robust cells: the propensity logit fitted, then one pass for the
    score's sums at the fit."""
    n, P = rs.n, rs.part
    member = (T | N).astype(np.uint8)
    beta, ok = _fit_logit(rs, member, tT, tT + tN, ok)
    live = np.flatnonzero(ok)
    clus, hinfo, cxy, cxx, sep = dr_sums(rs.F, rs.p, rs.m, rs.w, rs.bounds, rs.cluster,
                                         rs.n_cl, member, T.astype(np.uint8), beta, live)
    ok &= sep >= 1e-6  # separation: att_2x2_cells refuses it
    ok &= _rank_ok(hinfo)
    p, m = rs.p, rs.m
    swc_c, wcy_c = clus[..., 0], clus[..., 1:1 + m]
    wcx_c, bwx_c = clus[..., 1 + m:1 + m + p], clus[..., 1 + m + p:]
    swc, wcy, wcx = swc_c.sum(axis=1), wcy_c.sum(axis=1), wcx_c.sum(axis=1)
    ok &= swc > 0
    # the fit is the maximum: the Newton step left at the fitted score is negligible
    check = _solve(hinfo, (P(tT, "x") - bwx_c.sum(axis=1))[:, :, None], ok)[:, :, 0]
    ok &= np.max(np.abs(check), axis=1) <= _CHECK_TOL * np.maximum(1, np.abs(beta).max(axis=1))
    nT = np.where(ok, P(tT, "n"), 1.0)
    swc = np.where(ok, swc, 1.0)
    mt, mc = (nT / n)[:, None, None], (swc / n)[:, None, None]
    wcR = wcy - np.einsum("bp,bpm->bm", wcx, gamma)
    eta_c = wcR / swc[:, None]
    XRc = cxy - cxx @ gamma - wcx[:, :, None] * eta_c[:, None, :]
    lin_ps = np.einsum("bcp,bpm->bcm", P(cT, "x") - bwx_c, _solve(hinfo, XRc, ok))
    Rc_c = wcy_c - np.einsum("bcp,bpm->bcm", wcx_c, gamma) - swc_c[:, :, None] * eta_c[:, None]
    nT_c = P(cT, "n")[:, :, None]
    if method == "ipw":
        eta_t = P(tT, "y") / nT[:, None]
        inf_t = (P(cT, "y") - nT_c * eta_t[:, None]) / mt
        inf_c = (Rc_c + lin_ps) / mc
    else:
        eta_t = RT_c.sum(axis=1) / nT[:, None]
        inf_t = (RT_c - nT_c * eta_t[:, None] - LO(P(tT, "x") / n)) / mt
        inf_c = (Rc_c + lin_ps - LO(wcx / n)) / mc
    return eta_t - eta_c, (inf_t - inf_c) / n, ok

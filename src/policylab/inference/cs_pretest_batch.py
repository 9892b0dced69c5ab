"""att_gt's covariate-adjusted 2x2 estimators for many cohort assignments at once.

The randomization pre-test recomputes the pre-treatment ATT(g,t) of one cohort on every
reassignment: the same units, covariates and long differences, only the treated set and
the subsample (the cohort and the never-treated units) change. Giving the units outside
the subsample zero weight turns every reassignment into the same computation on the
same arrays, so the outcome regression, the propensity logit (Newton steps for all
assignments together, each stopping on its own) and the influence functions of
:func:`policylab.estimators.drdid.att_2x2_cells` run as batched array products. Every
piece of those estimators is a weighted mean or sum, so zero weights drop the units
exactly, and with the number of all units in place of the subsample's the influence
functions come out on ``att_gt``'s scale directly.

Assignments that would stop ``att_gt`` or ``att_2x2_cells`` on a check (a near-singular
Gram or information matrix, a propensity model that separates or does not converge, no
comparison unit left after trimming) are only flagged here: the caller recomputes them
one at a time with ``att_2x2_cells`` itself, which estimates them or raises its error.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from policylab.estimators.drdid import PS_TRIM

__all__ = ["batched_cells"]

# a unit-diagonal Gram matrix with an eigenvalue below this is left to the one-at-a-time
# route and its rank check (R lm's 1e-7 on the pivots); above it every pivot passes
_MIN_EIG = 1e-6


def _well_posed(A: np.ndarray) -> np.ndarray:
    """Per matrix of a batch: positive diagonal and a scaled smallest eigenvalue well
    above the rank check's tolerance."""
    dg = np.einsum("bii->bi", A)
    ok = (dg > 0).all(axis=1)
    s = 1 / np.sqrt(np.where(dg > 0, dg, 1.0))
    ev = np.linalg.eigvalsh(A * s[:, :, None] * s[:, None, :])
    return ok & (ev[:, 0] > _MIN_EIG)


def _gram(wv: np.ndarray, X: np.ndarray) -> np.ndarray:
    return np.einsum("bn,ni,nj->bij", wv, X, X)


def _logit(X: np.ndarray, D: np.ndarray, W: np.ndarray, tol: float = 1e-10,
           max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Fitted probabilities of B weighted logits of ``D`` (B x n) on ``X`` with weights
    ``W`` (B x n), the Newton-Raphson of :func:`policylab.estimators.drdid.logit` with
    its start, stopping rule and step halving, per row; and which rows converged
    without separation (the others: NaN, left to the one-at-a-time route)."""
    B = len(D)
    sw = W.sum(axis=1)
    pbar = (W * D).sum(axis=1) / sw
    ok = (pbar > 0) & (pbar < 1)
    beta = np.zeros((B, X.shape[1]))
    beta[ok, 0] = np.log(pbar[ok] / (1 - pbar[ok]))
    eta = beta @ X.T
    ll = np.sum(W * (D * eta - np.logaddexp(0.0, eta)), axis=1)
    mu_out = np.full(D.shape, np.nan)
    live = ok.copy()
    for _ in range(max_iter):
        idx = np.flatnonzero(live)
        if not len(idx):
            break
        mu = expit(eta[idx])
        info = _gram(W[idx] * mu * (1 - mu), X)
        good = _well_posed(info)
        live[idx[~good]] = False
        idx, mu, info = idx[good], mu[good], info[good]
        score = (W[idx] * (D[idx] - mu)) @ X
        step = np.linalg.solve(info, score[:, :, None])[:, :, 0]
        conv = np.max(np.abs(score), axis=1) <= tol * sw[idx]
        if conv.any():
            c = idx[conv]
            m = expit((beta[c] + step[conv]) @ X.T)
            sep = np.max(np.where(W[c] > 0, np.abs(D[c] - m), 0.0), axis=1) < 1e-6
            mu_out[c[~sep]] = m[~sep]
            live[c] = False
        idx, step = idx[~conv], step[~conv]
        for _ in range(60):
            new = beta[idx] + step
            eta_new = new @ X.T
            ll_new = np.sum(W[idx] * (D[idx] * eta_new - np.logaddexp(0.0, eta_new)), axis=1)
            worse = ll_new < ll[idx] - 1e-12 * np.maximum(1.0, np.abs(ll[idx]))
            if not worse.any():
                break
            step[worse] /= 2
        beta[idx], eta[idx], ll[idx] = new, eta_new, ll_new
    return mu_out, np.isfinite(mu_out).all(axis=1)


def batched_cells(DY: np.ndarray, X: np.ndarray, w: np.ndarray, method: str,
                  treated: np.ndarray, member: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ATT and influence functions of one cohort's cells for B assignments.

    Parameters
    ----------
    DY : ndarray (n, m)
        Long differences of the m cells for all n units.
    X : ndarray (n, p)
        Covariates, constant first.
    w : ndarray (n,)
        Sampling weights.
    method : {"reg", "ipw", "dr"}
    treated, member : ndarray (B, n) of bool
        The cohort's units and its subsample (cohort and comparison units) per
        assignment.

    Returns
    -------
    att : ndarray (B, m)
    inf : ndarray (B, n, m)
        Influence functions on ``att_gt``'s scale (zero outside the subsample).
    ok : ndarray (B,)
        False where the assignment must go the one-at-a-time route (rows undefined).
    """
    n = DY.shape[0]
    W = w[None, :] * member
    D = treated.astype(float)
    wt = W * D
    mt = wt.sum(axis=1) / n
    ok = mt > 0
    if method in ("reg", "dr"):
        wols = W * (1 - D)
        gram = _gram(wols, X)
        ok &= _well_posed(gram)
        gram[~ok] = np.eye(X.shape[1])
        fit = X @ np.linalg.solve(gram, np.einsum("bn,ni,nm->bim", wols, X, DY))
        R = DY[None] - fit

        def lin_ols(v: np.ndarray) -> np.ndarray:
            q = n * np.linalg.solve(gram, v[:, :, None])[:, :, 0]
            return (wols[:, :, None] * R) * (q @ X.T)[:, :, None]
    if method in ("ipw", "dr"):
        ps, conv = _logit(X, D, W)
        ok &= conv
        ps = np.minimum(np.where(ok[:, None], ps, 0.5), 1 - 1e-6)
        hinfo = _gram(ps * (1 - ps) * W, X)
        ok &= _well_posed(hinfo)
        hinfo[~ok] = np.eye(X.shape[1])
        lin_ps = ((W * (D - ps))[:, :, None] * X) @ (n * np.linalg.inv(hinfo))
        wc = W * ps * (1 - D) / (1 - ps) * (ps < PS_TRIM)
        mc = wc.sum(axis=1) / n
        ok &= mc > 0
        mc = np.where(mc > 0, mc, 1.0)
    mt = np.where(ok, mt, 1.0)[:, None]
    if method == "reg":
        eta_t = (wt @ DY) / n / mt
        eta_c = np.einsum("bn,bnm->bm", wt, fit) / n / mt
        inf_t = wt[:, :, None] * (DY[None] - eta_t[:, None, :])
        inf_c = wt[:, :, None] * (fit - eta_c[:, None, :]) + lin_ols(wt @ X / n)
        return eta_t - eta_c, (inf_t - inf_c) / mt[:, :, None], ok
    mc = mc[:, None]
    if method == "ipw":
        eta_t = (wt @ DY) / n / mt
        eta_c = (wc @ DY) / n / mc
        inf_t = wt[:, :, None] * (DY[None] - eta_t[:, None, :]) / mt[:, :, None]
        Rc = wc[:, :, None] * (DY[None] - eta_c[:, None, :])
        inf_c = (Rc + lin_ps @ (np.einsum("ni,bnm->bim", X, Rc) / n)) / mc[:, :, None]
        return eta_t - eta_c, inf_t - inf_c, ok
    eta_t = np.einsum("bn,bnm->bm", wt, R) / n / mt
    eta_c = np.einsum("bn,bnm->bm", wc, R) / n / mc
    inf_t = (wt[:, :, None] * (R - eta_t[:, None, :]) - lin_ols(wt @ X / n)) / mt[:, :, None]
    Rc = wc[:, :, None] * (R - eta_c[:, None, :])
    inf_c = (Rc + lin_ps @ (np.einsum("ni,bnm->bim", X, Rc) / n)
             - lin_ols(wc @ X / n)) / mc[:, :, None]
    return eta_t - eta_c, inf_t - inf_c, ok

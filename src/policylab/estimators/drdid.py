"""The 2x2 DID estimators with covariates that Callaway-Sant'Anna runs on each cell.

Outcome regression ("reg"), standardised inverse probability weighting ("ipw", R
DRDID's ``std_ipw_did_panel``) and the traditional doubly robust estimator ("dr",
Sant'Anna and Zhao 2020, R DRDID's ``drdid_panel``) on panel data, with their
influence functions; the propensity score (the engine's logit with R did's rules on
top); the rank check of the small Gram matrices. Arrays in, arrays out: ``att_gt`` in
:mod:`policylab.estimators.staggered` builds the cells and calls
:func:`att_2x2_cells` once per subsample.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from policylab.engine import binary_choice as bc
from policylab.errors import EstimationError, SpecError

__all__ = ["PS_TRIM", "att_2x2_cells", "logit", "rank_checked_cholesky"]

# R DRDID's trim.level: comparison units with a propensity score at or above it are
# dropped from the ipw and dr estimates (treated units never are)
PS_TRIM = 0.995


def rank_checked_cholesky(A: np.ndarray, what: str) -> tuple[np.ndarray, bool]:
    """Cholesky factor (for ``cho_solve``) of a small Gram matrix, after a rank check.

    Rank as R's ``lm``/``glm`` (pivoted QR, tolerance 1e-7): a column whose part not
    explained by the columns before it is below 1e-7 of its norm makes the design
    singular. In Gram terms that is a pivot of the unit-diagonal rescaled Cholesky
    factor below 1e-7. Without this check rounding lets Cholesky "succeed" on an exactly
    collinear design and return meaningless coefficients.

    Raises
    ------
    EstimationError
        Naming ``what`` (the outcome regression or the propensity model).
    """
    dg = np.diag(A)
    if (dg > 0).all():
        s = 1 / np.sqrt(dg)
        try:
            L = np.linalg.cholesky(A * np.outer(s, s))
            if np.diag(L).min() >= 1e-7:
                return cho_factor(A)
        except np.linalg.LinAlgError:
            pass
    raise EstimationError(f"{what} failed: singular design (covariates collinear, or "
                          "constant, among the units of a cell); drop or combine covariates")


def logit(X: np.ndarray, d: np.ndarray, w: np.ndarray, tol: float = 1e-10,
          max_iter: int = 100) -> np.ndarray:
    """Fitted probabilities of the weighted logit of ``d`` on ``X`` (maximum likelihood).

    The project's logit (:func:`policylab.engine.binary_choice.binary_fit`: Newton with
    step halving, R ``glm``'s IRLS for this canonical link; converged when the score is
    below ``tol`` times the total weight, the last step still taken), with the rules R
    did's cells need on top: no treated or no comparison weight, collinear covariates,
    no convergence and complete separation raise. Under complete separation the score
    still vanishes as the coefficients diverge, every probability at ~0 or ~1; R ``glm``
    only warns, and R did then reports noise. Quasi-complete separation passes: the
    comparison units it pushes to a score of ~1 are trimmed (:data:`PS_TRIM`).

    Raises
    ------
    EstimationError
        Singular design (covariates collinear in the subsample), complete separation
        or no convergence in ``max_iter`` steps.
    """
    pbar = float(w @ d) / w.sum()
    if not 0 < pbar < 1:
        raise EstimationError("propensity model failed: the subsample has no treated or "
                              "no comparison units with positive weight")
    fit = bc.binary_fit(X, d, "logit", weights=w, tol=tol, max_iter=max_iter)
    if fit.status == "singular":
        if fit.iterations <= 1:  # the first information is X'WX / 4: the design's rank
            rank_checked_cholesky(X.T @ (X * w[:, None]), "propensity model")
        raise EstimationError("propensity model failed: singular information matrix "
                              "(near separation)")
    if fit.status == "no_convergence":
        raise EstimationError(f"propensity model failed: no convergence in {max_iter} "
                              "Newton steps; check the covariates for near-separation or "
                              "extreme scales")
    if fit.status == "separation" or np.max(np.abs(d - fit.prob)[w > 0]) < 1e-6:
        # complete separation: the coefficients ran off to infinity and every
        # comparison unit has a propensity score of ~0 (R glm only warns and the ATT
        # is then noise)
        raise EstimationError("no overlap: the covariates separate a cohort from its "
                              "comparison group perfectly; drop or coarsen them")
    return fit.prob


def att_2x2_cells(DY: np.ndarray, d: np.ndarray, X: np.ndarray, method: str,
                  w: np.ndarray, gram: np.ndarray, xdy: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """ATTs and influence functions of several 2x2 cells that share their units.

    Parameters
    ----------
    DY : ndarray (n, m)
        Long differences of the m cells over the n units of their common subsample
        (treated cohort and comparison units).
    d : ndarray (n,)
        1 for the treated cohort, 0 for comparison units.
    X : ndarray (n, p)
        Unit covariates with the constant first.
    method : {"reg", "ipw", "dr"}
        Outcome regression, standardised IPW (R DRDID ``std_ipw_did_panel``) or the
        traditional doubly robust estimator (``drdid_panel``), as R did calls them,
        with their propensity-score rules: scores capped at 1 - 1e-6, comparison units
        at or above 0.995 trimmed.
    w : ndarray (n,)
        Sampling weights (ones when unweighted).
    gram, xdy : ndarray (p, p), (p, m)
        ``X' W X`` and ``X' W DY`` over the comparison units (W = diag(w)): the outcome
        regression's normal equations, summed from per-cohort sufficient statistics.

    Returns
    -------
    att : ndarray (m,)
    inf : ndarray (n, m)
        Influence functions per unit of the subsample (scaled by the subsample size).

    Notes
    -----
    The cells share the comparison units, hence the outcome regression's Gram matrix
    and the propensity score (which does not depend on the outcome); only the long
    difference differs. So one Cholesky factor solves every cell's regression, one
    logit serves all, and every estimation effect ``lin @ M`` of the single-cell
    formulas becomes a matrix product over the m columns. Every piece is homogeneous
    of degree zero in ``w``.
    """
    n = len(d)
    wt = w * d
    mt = wt.mean()
    if method in ("reg", "dr"):
        wols = w * (1 - d)
        fac = rank_checked_cholesky(gram, "outcome regression")
        R = DY - X @ cho_solve(fac, xdy)  # dy minus the fitted comparison trend

        def lin_ols(v: np.ndarray) -> np.ndarray:
            # (influence of the regression coefficients) @ v, for all cells at once:
            # wols (dy - out) x' (X'WX / n)^-1 v
            return (wols[:, None] * R) * (X @ (n * cho_solve(fac, v)))[:, None]
    if method in ("ipw", "dr"):
        # R DRDID: pmin(ps, 1 - 1e-6) keeps the comparison weights finite
        ps = np.minimum(logit(X, d, w), 1 - 1e-6)
        Wp = ps * (1 - ps) * w
        try:
            hess = n * np.linalg.inv((X * Wp[:, None]).T @ X)
        except np.linalg.LinAlgError:
            raise EstimationError("propensity model failed: singular information matrix") from None
        lin_ps = ((w * (d - ps))[:, None] * X) @ hess
        # R DRDID (drdid_panel, std_ipw_did_panel; did::att_gt never overrides its
        # trim.level): comparison units with a score of 0.995 or more get weight 0 in
        # the ATT and its influence function; the logit's Hessian keeps them
        wc = w * ps * (1 - d) / (1 - ps) * (ps < PS_TRIM)
        mc = wc.mean()
        if not mc > 0:
            raise EstimationError("no overlap: every comparison unit of a cell has a "
                                  "propensity score of 0 or of at least 0.995 (trimmed, as "
                                  "R did); drop or coarsen the covariates")
    if method == "reg":
        out = DY - R
        eta_t = (wt @ DY) / n / mt
        eta_c = (wt @ out) / n / mt
        inf_t = wt[:, None] * (DY - eta_t) / mt
        inf_c = (wt[:, None] * (out - eta_c) + lin_ols((wt[:, None] * X).mean(axis=0))) / mt
        return eta_t - eta_c, inf_t - inf_c
    if method == "ipw":
        eta_t = (wt @ DY) / n / mt
        eta_c = (wc @ DY) / n / mc
        inf_t = wt[:, None] * (DY - eta_t) / mt
        Rc = wc[:, None] * (DY - eta_c)
        inf_c = (Rc + lin_ps @ (X.T @ Rc / n)) / mc
        return eta_t - eta_c, inf_t - inf_c
    if method != "dr":
        raise SpecError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    eta_t = (wt @ R) / n / mt
    eta_c = (wc @ R) / n / mc
    inf_t = (wt[:, None] * (R - eta_t) - lin_ols((wt[:, None] * X).mean(axis=0))) / mt
    Rc = wc[:, None] * (R - eta_c)
    inf_c = (Rc + lin_ps @ (X.T @ Rc / n) - lin_ols((wc[:, None] * X).mean(axis=0))) / mc
    return eta_t - eta_c, inf_t - inf_c

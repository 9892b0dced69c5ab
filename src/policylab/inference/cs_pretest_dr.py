"""Pre-treatment ATT(g,t) with covariates for a batch of cohort assignments: the cells
of the Callaway-Sant'Anna randomization pre-test when ``att_gt`` adjusts for covariates.

With never-treated comparison units every pre-treatment cell of cohort g shares its
subsample (cohort g and the never-treated units), so it shares the propensity score and
the outcome regression's Gram matrix; only the long difference ``Y_t - Y_t-1`` differs.
Per assignment and cohort this is one call of
:func:`policylab.estimators.drdid.att_2x2_cells` (the outcome regression, IPW or doubly
robust estimator ``att_gt`` runs, with its propensity-score rules) over all the
cohort's tested periods at once, on the same subsample, covariates and sampling weights
as ``att_gt``; the influence functions are scaled and summed within clusters as
``att_gt``'s covariance does. A reassignment on which an estimator fails (covariates
that separate a reassigned cohort from the never-treated units, a singular outcome
regression) gives no statistic: the randomization p-value leaves such draws out and
counts them (see :mod:`policylab.inference.randomization`).
"""

from __future__ import annotations

import numpy as np

from policylab.errors import EstimationError
from policylab.estimators.drdid import att_2x2_cells

__all__ = ["covariate_cells", "standardised_covariates"]


def standardised_covariates(X: np.ndarray) -> np.ndarray:
    """``X`` (constant first) with the other columns centred and scaled, as ``att_gt``
    does: the estimates and influence functions do not change under such a linear
    reparametrisation, and the Gram matrices stay well conditioned."""
    X = X.copy()
    if X.shape[1] > 1:
        mu, sd = X[:, 1:].mean(axis=0), X[:, 1:].std(axis=0)
        X[:, 1:] = (X[:, 1:] - mu) / np.where(sd > 0, sd, 1.0)
    return X


def _one_cohort(dy: np.ndarray, X: np.ndarray, w: np.ndarray, method: str,
                treated: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ATT and influence functions (subsample x cells, scaled by the number of all
    units, as ``att_gt``) of one cohort's cells on its subsample ``keep``."""
    d = treated[keep].astype(float)
    Xk, wk, DYk = X[keep], w[keep], dy[keep]
    comp = d == 0
    Xw = Xk[comp] * wk[comp, None]
    a, inf = att_2x2_cells(DYk, d, Xk, method, wk, Xw.T @ Xk[comp], Xw.T @ DYk[comp])
    return a, inf * (len(dy) / len(DYk))


def covariate_cells(dy: np.ndarray, X: np.ndarray, w: np.ndarray, method: str,
                    cohorts: list[int], cl_of_unit: np.ndarray, n_cl: int,
                    unit_cohort: np.ndarray, strict: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-treatment ATT(g,t) with covariates of a batch of assignments, their cluster
    scores, and which assignments could be estimated.

    Parameters
    ----------
    dy : ndarray (units, periods)
        ``Y_t - Y_t-1`` of the tested periods.
    X : ndarray (units, p)
        First-period covariates, constant first (see :func:`standardised_covariates`).
    w : ndarray (units,)
        Sampling weights (ones when unweighted).
    method : {"dr", "ipw", "reg"}
        ``att_gt``'s estimator.
    cohorts : list of int
        The treated cohorts, in the order of the cells.
    cl_of_unit, n_cl
        Cluster code of each unit and the number of clusters.
    unit_cohort : ndarray (B, units)
        Each assignment's cohort per unit (0: never treated).
    strict : bool
        Raise the estimator's EstimationError (for the real assignment) instead of
        marking the assignment as failed.

    Returns
    -------
    est : ndarray (B, cells)
        Cells ordered cohort by cohort, periods within a cohort.
    scores : ndarray (B, clusters, cells)
        Cluster sums of the influence functions divided by the number of units, so
        that ``scores' scores`` is ``att_gt``'s covariance of the cells.
    ok : ndarray (B,)
        False where an estimator failed on the assignment (its rows are NaN).
    """
    B, (n, T) = len(unit_cohort), dy.shape
    est = np.full((B, len(cohorts) * T), np.nan)
    scores = np.full((B, n_cl, len(cohorts) * T), np.nan)
    ok = np.ones(B, dtype=bool)
    for b, uc in enumerate(unit_cohort):
        never = uc == 0
        try:
            for k, g in enumerate(cohorts):
                treated = uc == g
                keep = np.flatnonzero(treated | never)
                a, F = _one_cohort(dy, X, w, method, treated, keep)
                cols = slice(k * T, (k + 1) * T)
                est[b, cols] = a
                S = np.zeros((n_cl, T))
                np.add.at(S, cl_of_unit[keep], F)
                scores[b, :, cols] = S / n
        except EstimationError:
            if strict:
                raise
            ok[b] = False
            est[b], scores[b] = np.nan, np.nan
    return est, scores, ok

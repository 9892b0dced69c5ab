"""Pre-treatment ATT(g,t) with covariates for a batch of cohort assignments: the cells
of the Callaway-Sant'Anna randomization pre-test when ``att_gt`` adjusts for covariates.

With never-treated comparison units every pre-treatment cell of cohort g shares its
subsample (cohort g and the never-treated units), so it shares the propensity score and
the outcome regression's Gram matrix; only the long difference ``Y_t - Y_t-1`` differs.
The estimator is :func:`policylab.estimators.drdid.att_2x2_cells` (the outcome
regression, IPW or doubly robust estimator ``att_gt`` runs, with its propensity-score
rules) over all the cohort's tested periods at once, on the same subsample, covariates
and sampling weights as ``att_gt``; the influence functions are scaled and summed
within clusters as ``att_gt``'s covariance does. A chunk of assignments is estimated
together by :func:`policylab.inference.cs_pretest_batch.batched_cells` (the same
estimator from per-run sums, O(runs) per assignment, plus compiled passes over the
units for the propensity score); an assignment it flags goes through
``att_2x2_cells`` itself. A reassignment on which the estimator fails (covariates that
separate a reassigned cohort from the never-treated units, a singular outcome
regression) gives no statistic: the randomization p-value leaves such draws out and
counts them (see :mod:`policylab.inference.randomization`). Whether an assignment can
be estimated depends on the covariates and the assignment only, never on the
outcomes, so the test stays exact conditionally on the estimable assignments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from policylab.errors import EstimationError
from policylab.estimators.drdid import att_2x2_cells
from policylab.inference.cs_pretest_batch import batched_cells

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


def covariate_cells(inp: Any, group_cohort: np.ndarray, strict: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-treatment ATT(g,t) with covariates of a batch of assignments, their cluster
    scores, and which assignments could be estimated.

    Parameters
    ----------
    inp
        The pre-test's inputs (:class:`policylab.inference.cs_pretest._Inputs`): unit
        long differences ``dy``, covariates ``X`` (constant first, see
        :func:`standardised_covariates`), weights ``w``, ``method``, the treated
        ``cohorts``, the units' assignment ``group``, clusters and their ``runs``.
    group_cohort : ndarray (B, groups)
        Each assignment's cohort per assignment group (0: never treated).
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
    est, scores, ok = batched_cells(inp.runs, inp.method, inp.cohorts, group_cohort)
    for b in np.flatnonzero(~ok):
        ok[b] = _one_assignment(inp.dy, inp.X, inp.w, inp.method, inp.cohorts,
                                inp.cl_of_unit, inp.n_cl, group_cohort[b][inp.group],
                                est[b], scores[b], strict)
    est[~ok], scores[~ok] = np.nan, np.nan
    return est, scores, ok


def _one_assignment(dy: np.ndarray, X: np.ndarray, w: np.ndarray, method: str,
                    cohorts: list[int], cl_of_unit: np.ndarray, n_cl: int,
                    uc: np.ndarray, est: np.ndarray, scores: np.ndarray,
                    strict: bool) -> bool:
    """One assignment by ``att_2x2_cells`` itself, written into ``est`` and ``scores``
    (the assignments the batch leaves to it); False when the estimator refuses it
    (its EstimationError raised when ``strict``)."""
    n, T = dy.shape
    never = uc == 0
    try:
        for k, g in enumerate(cohorts):
            treated = uc == g
            keep = np.flatnonzero(treated | never)
            a, F = _one_cohort(dy, X, w, method, treated, keep)
            cols = slice(k * T, (k + 1) * T)
            est[cols] = a
            S = np.zeros((n_cl, T))
            np.add.at(S, cl_of_unit[keep], F)
            scores[:, cols] = S / n
    except EstimationError:
        if strict:
            raise
        return False
    return True

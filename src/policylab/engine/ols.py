"""Least squares on (demeaned) arrays with collinearity detection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from policylab.engine.threads import COMPILED_ROWS

__all__ = ["OLSFit", "ols", "collinear_columns"]


@dataclass
class OLSFit:
    """Outcome of :func:`ols`.

    Attributes
    ----------
    beta : ndarray, shape (k_kept,) or (k_kept, p)
        Coefficients of the kept columns (one column per outcome).
    kept : ndarray of bool, shape (k,)
        Which columns of X were used.
    dropped : dict[int, str]
        Index of each dropped column and why ("no variation" or "collinear").
    bread : ndarray, shape (k_kept, k_kept)
        (X' W X)^{-1} of the kept columns.
    resid : ndarray, shape (n,) or (n, p)
        Residuals (unweighted scale).
    """

    beta: np.ndarray
    kept: np.ndarray
    dropped: dict[int, str]
    bread: np.ndarray
    resid: np.ndarray


def collinear_columns(
    XtX: np.ndarray, ref_norm: np.ndarray | None = None, tol: float = 1e-10
) -> dict[int, str]:
    """Columns to drop, in formula order, and why.

    A column whose (demeaned) sum of squares is below ``tol`` times its reference
    norm (its sum of squares before fixed effects were absorbed) has no variation
    left; a column whose Cholesky pivot falls below ``tol`` times its diagonal is a
    linear combination of the columns before it. Later columns are dropped, as fixest
    does.
    """
    k = XtX.shape[0]
    diag = np.diag(XtX).copy()
    ref = diag if ref_norm is None else np.asarray(ref_norm, dtype=float)
    dropped: dict[int, str] = {}
    L = np.zeros((k, k))
    kept: list[int] = []
    for j in range(k):
        if diag[j] <= tol * max(ref[j], 0.0) or diag[j] <= 1e-300:
            dropped[j] = "no variation"
            continue
        lj = L[j, kept]
        d = diag[j] - lj @ lj
        if d <= tol * diag[j]:
            dropped[j] = "collinear"
            continue
        L[j, j] = np.sqrt(d)
        rows = np.arange(j + 1, k)
        if rows.size:
            L[rows, j] = (XtX[rows, j] - L[np.ix_(rows, kept)] @ lj) / L[j, j]
        kept.append(j)
    return dropped


def ols(
    X: np.ndarray,
    Y: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    ref_norm: np.ndarray | None = None,
    tol: float = 1e-10,
    gram: np.ndarray | None = None,
) -> OLSFit:
    """Weighted least squares of each column of Y on X, dropping collinear columns.

    Parameters
    ----------
    X : ndarray, shape (n, k)
    Y : ndarray, shape (n,) or (n, p)
    weights : ndarray, shape (n,), optional
    ref_norm : ndarray, shape (k,), optional
        Sum of squares of each column before demeaning; used to tell a column absorbed
        by the fixed effects from a merely small one.
    tol : float
        Relative tolerance of the collinearity check.
    gram : ndarray, shape (k + 1, k + 1), optional
        The caller's [Y, X]' W [Y, X] for a single outcome, when it has it (one BLAS
        call over the data instead of two).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if gram is not None:
        XtX, XtY_all = gram[1:, 1:], gram[1:, 0]
    else:
        Xw = X if weights is None else X * weights[:, None]
        XtX = Xw.T @ X
        XtY_all = Xw.T @ Y  # one pass over all columns; no copy of the kept ones
    dropped = collinear_columns(XtX, ref_norm, tol)
    kept = np.ones(X.shape[1], dtype=bool)
    kept[list(dropped)] = False
    idx = np.flatnonzero(kept)
    A = XtX[np.ix_(kept, kept)]
    XtY = XtY_all[idx]
    if kept.any():
        cho = linalg.cho_factor(A, lower=False, check_finite=False)
        beta = linalg.cho_solve(cho, XtY, check_finite=False)
        bread = linalg.cho_solve(cho, np.eye(A.shape[0]), check_finite=False)
    else:
        beta = np.zeros((0,) + Y.shape[1:])
        bread = np.zeros((0, 0))
    if Y.ndim == 1 and X.shape[0] >= COMPILED_ROWS:
        # one compiled pass: a matrix-vector product on a strided view is slow in numpy
        from policylab.engine._passes import residuals

        Xk = X if kept.all() else X[:, idx]
        resid = residuals(Xk, Y, np.ascontiguousarray(beta))
    else:
        resid = Y - X[:, idx] @ beta
    return OLSFit(beta=beta, kept=kept, dropped=dropped, bread=bread, resid=resid)

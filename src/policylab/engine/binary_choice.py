"""Maximum likelihood for binary outcomes: logit and probit by Newton-Raphson.

The propensity score's model. Numbers only: a design matrix, a 0/1 outcome and optional
non-negative weights in; coefficients, their covariance, the fitted probabilities and a
status out. The caller (the estimators layer) turns a status other than ``"ok"`` into
its own error or warning; nothing here raises for the data's sake.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["BinaryFit", "LINKS", "binary_fit"]

LINKS = ("logit", "probit")
# statsmodels' perfect-prediction check (np.allclose(fitted - endog, 0)): every fitted
# probability within this of the outcome means the covariates separate the classes
_PERFECT = 1e-8
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


@dataclass
class BinaryFit:
    """A fitted logit or probit.

    ``cov`` is the inverse of the information at ``params``: the observed (negative
    Hessian) information without weights, as statsmodels' ``Logit``/``Probit``; with
    weights the expected (Fisher) information, as a binomial GLM with prior weights
    (R ``glm(weights=)``, statsmodels ``GLM(var_weights=)``). For the logit the two are
    the same matrix. ``status`` is ``"ok"``, ``"separation"`` (the covariates predict
    the outcome perfectly: every fitted probability within 1e-8 of it, or the
    iterations ran off with the index classifying every row correctly), ``"quasi_separation"``
    (the score vanished while the last Newton step was still large and ``n_perfect``
    rows are predicted to within 1e-8: some coefficients run off to infinity), ``"singular"`` (collinear columns: the information cannot be
    inverted) or ``"no_convergence"``.
    """

    params: np.ndarray
    cov: np.ndarray
    prob: np.ndarray
    index: np.ndarray
    llf: float
    iterations: int
    status: str
    n_perfect: int = 0


def _loglike(link: str, d: np.ndarray, eta: np.ndarray, w: np.ndarray | None) -> float:
    if link == "logit":
        ll = d * eta - np.logaddexp(0.0, eta)
    else:
        ll = special.log_ndtr(np.where(d == 1, eta, -eta))
    return float(ll.sum() if w is None else w @ ll)


def _pieces(link: str, Xt: np.ndarray, d: np.ndarray, eta: np.ndarray, w: np.ndarray | None,
            expected: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fitted probabilities, the score and the (observed or expected) information
    (``Xt``: the design transposed, k x n C-ordered: products with a few long rows are
    several times faster than with n short ones)."""
    if link == "logit":
        prob = special.expit(eta)
        r = d - prob
        h = prob * (1 - prob)
    else:
        prob = special.ndtr(eta)
        q = 2 * d - 1
        qe = q * eta
        # the inverse Mills ratio phi(q eta) / Phi(q eta), in logs: no 0/0 in the tails
        mills = np.exp(-0.5 * qe**2 - _LOG_SQRT_2PI - special.log_ndtr(qe))
        r = q * mills
        if expected:
            # phi^2 / (Phi (1 - Phi)), both tails through their logs
            logphi = -0.5 * eta**2 - _LOG_SQRT_2PI
            h = np.exp(2 * logphi - special.log_ndtr(eta) - special.log_ndtr(-eta))
        else:
            # minus the second derivative of log Phi(q eta): lambda (lambda + q eta) > 0
            h = mills * (mills + qe)
    if w is not None:
        r, h = w * r, w * h
    return prob, Xt @ r, (Xt * h) @ Xt.T


def _solve(info: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """``info^-1 rhs``, or None when ``info`` is singular: a pivot of the unit-diagonal
    rescaled Cholesky factor below 1e-7 (R's lm/glm rank tolerance; without the check
    rounding lets Cholesky "succeed" on exactly collinear columns)."""
    dg = np.diag(info)
    if not (dg > 0).all():
        return None
    s = 1 / np.sqrt(dg)
    try:
        L = np.linalg.cholesky(info * np.outer(s, s))
    except np.linalg.LinAlgError:
        return None
    if np.diag(L).min() < 1e-7:
        return None
    z = np.linalg.solve(L.T, np.linalg.solve(L, rhs * (s if rhs.ndim == 1 else s[:, None])))
    return z * (s if z.ndim == 1 else s[:, None])


def binary_fit(X: np.ndarray, d: np.ndarray, link: str = "logit",
               weights: np.ndarray | None = None, tol: float = 1e-10,
               max_iter: int = 100) -> BinaryFit:
    """Logit or probit of ``d`` (0/1) on ``X`` by Newton-Raphson with step halving.

    Starts at zero (as statsmodels). Each step solves the information against the
    score (Newton with the observed Hessian; for the canonical logit link these are
    the IRLS iterations of R ``glm``); a step that lowers the log likelihood is halved.
    Converged when every component of the score is at most ``tol`` times the total
    weight (the number of rows without weights); the step computed there is still taken,
    so that, Newton converging quadratically, the coefficients end at rounding level
    from the optimum. The log likelihood is concave for both links, so only separation
    (coefficients running off to infinity) keeps the iterations from converging.

    Parameters
    ----------
    X : ndarray (n, k)
        Design matrix (a constant column included by the caller).
    d : ndarray (n,)
        0/1 outcome.
    link : {"logit", "probit"}
    weights : ndarray (n,), optional
        Non-negative prior weights: the weighted likelihood, with the expected
        information for ``cov`` (binomial GLM with prior weights).
    """
    if link not in LINKS:
        raise ValueError(f"link must be one of {LINKS}, got {link!r}")
    Xt = np.ascontiguousarray(np.asarray(X, dtype=float).T)
    d = np.asarray(d, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float)
    total = float(len(d) if w is None else w.sum())
    beta = np.zeros(Xt.shape[0])
    eta = np.zeros(len(d))
    ll = _loglike(link, d, eta, w)
    live = np.ones(len(d), dtype=bool) if w is None else w > 0
    status, last = "no_convergence", np.zeros(Xt.shape[0])
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        prob, score, info = _pieces(link, Xt, d, eta, w, expected=False)
        # every term of the log likelihood is at most 0 and is near 0 exactly when its
        # row is predicted perfectly: the scalar screens the rows' check out
        if ll >= -2 * _PERFECT * total and np.all(np.abs(d - prob)[live] <= _PERFECT):
            status = "separation"
            break
        step = _solve(info, score)
        if step is None:
            status = "singular"
            break
        done = bool(np.max(np.abs(score)) <= tol * total)
        for _ in range(60):
            new = beta + step
            eta_new = new @ Xt
            ll_new = _loglike(link, d, eta_new, w)
            # rounding of the log likelihood near the optimum: accept ties
            if done or ll_new >= ll - 1e-12 * max(1.0, abs(ll)):
                break
            step = step / 2
        beta, eta, ll, last = new, eta_new, ll_new, step
        if done:
            status = "ok"
            break
    prob, _, info = _pieces(link, Xt, d, eta, w, expected=w is not None)
    inv = _solve(info, np.eye(len(beta)))
    if inv is None:
        inv = np.full((len(beta), len(beta)), np.nan)
        status = "singular" if status == "ok" else status
    n_perfect = int(np.sum((np.abs(d - prob) <= _PERFECT) & live))
    # quasi-complete separation: the score vanishes only because some coefficients ran
    # off towards infinity, and Newton's last step along them is still of order one
    # (near a finite optimum it is at rounding level)
    if status == "ok" and n_perfect and np.max(np.abs(last)) > 1e-3:
        # complete when the index classifies every row correctly, else quasi-complete
        right = np.all(((eta > 0) == (d == 1))[live])
        status = "separation" if right else "quasi_separation"
    return BinaryFit(params=beta, cov=inv, prob=prob, index=eta, llf=ll, iterations=iterations,
                     status=status, n_perfect=n_perfect)

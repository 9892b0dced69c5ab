"""The constant of a fixed-effects regression, as Stata's areg, xtreg, fe and reghdfe
report it (``_cons``).

With absorbed fixed effects the intercept is not identified apart from them; Stata
reports the regression after adding the estimation sample's (weighted) grand means
back to the demeaned outcome and regressors. The slopes and residuals do not change,
and the constant is

    _cons = mean(y) - mean(X)' b,

the outcome's mean at the regressors' means. Its standard error comes from the same
variance as the slopes: the augmented regression [X~ + mean(X), 1] with the fit's
residuals, clusters and weights, scaled by the slopes' small-sample factor (the
constant does not add to K: one fixed-effect level is redundant with it, which the
fixed-effect count already allows for).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from policylab.engine import vcov as vc
from policylab.estimators.fit import fit_variance
from policylab.estimators.result import TIDY_COLUMNS

__all__ = ["absorbed_constant"]


def absorbed_constant(res: Any, level: float = 0.95) -> pd.DataFrame | None:
    """The model's constant as a one-row tidy frame (term ``"_cons"``), or None.

    Parameters
    ----------
    res : FeolsResult or a subclass (DIDResult, ...)
        A fitted model that keeps its :class:`~policylab.estimators.fit.Fit`.
    level : float
        Confidence level of the interval.

    Returns
    -------
    DataFrame or None
        Columns :data:`~policylab.estimators.result.TIDY_COLUMNS`. A model without
        fixed effects returns its own ``Intercept`` row (relabelled ``_cons``); None
        when there is no constant to report: no fit kept (streamed fits), no intercept
        and no fixed effects, a 2SLS fit, or a fit that did not record its means.
    """
    fit = getattr(res, "fit", None)
    if fit is None:
        return None
    if fit.fe_codes is None:
        if "Intercept" not in list(res.terms):
            return None
        row = res.tidy(level)
        return row[row["term"] == "Intercept"].assign(term="_cons").reset_index(drop=True)
    if fit.iv or fit.means is None:
        return None
    est, se = _estimate_and_se(res, fit)
    return _tidy_row(est, se, res.df_t, level)


def _estimate_and_se(res: Any, fit: Any) -> tuple[float, float]:
    ybar, xbar = float(fit.means[0]), np.asarray(fit.means[1:], dtype=float)
    beta = np.asarray(fit.beta, dtype=float)
    est = ybar - float(xbar @ beta)
    Xa = np.column_stack([fit.X + xbar, np.ones(fit.nobs)])
    w = fit.weights
    gram = Xa.T @ Xa if w is None else Xa.T @ (Xa * w[:, None])
    aug = vc.FitArrays(X=Xa, y=fit.y + ybar, beta=np.append(beta, est), resid=fit.resid,
                       bread=np.linalg.pinv(gram), weights=w, fe_codes=fit.fe_codes,
                       fe_levels=fit.fe_levels)
    kind = res.meta.get("vcov", "iid")
    ssc = res.meta.get("ssc") or vc.SSC()
    codes, cols = tuple(fit.cluster_codes), list(fit.cluster_cols)
    var_aug = fit_variance(kind, aug, codes, cols, ssc)
    # the slopes' own factor: the augmented fit counts the constant once more in K
    var_fit = fit_variance(kind, replace(fit), codes, cols, ssc)
    scale = var_fit.factor / var_aug.factor if var_aug.factor else 1.0
    return est, float(np.sqrt(max(var_aug.V[-1, -1] * scale, 0.0)))


def _tidy_row(est: float, se: float, df: float | None, level: float) -> pd.DataFrame:
    t = est / se if se > 0 else np.nan
    p = 2 * (special.stdtr(df, -abs(t)) if df else special.ndtr(-abs(t)))
    q = special.stdtrit(df, 0.5 + level / 2) if df else special.ndtri(0.5 + level / 2)
    row = ["_cons", est, se, t, float(p), est - q * se, est + q * se]
    return pd.DataFrame([row], columns=TIDY_COLUMNS)

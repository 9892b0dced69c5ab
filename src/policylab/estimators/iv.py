"""Two-stage least squares with absorbed fixed effects: ``y ~ x | fe | endog ~ instr``.

The estimator reuses feols' fit (demeaning, collinearity handling, every vcov and
small-sample correction) instead of a second copy of it:

1. first stage: each endogenous regressor on the exogenous regressors and the
   instruments (same fixed effects, weights and vcov); its residual is ``v``;
2. second stage: y on the exogenous regressors and the fitted endogenous regressors
   ``endog - v``; this gives the 2SLS coefficients ``b``;
3. the same regression with outcome ``y - v b_endog``: ``v`` is orthogonal to every
   regressor of step 2, so the coefficients do not move, while the residual becomes
   the structural one, ``y - X b``. feols' sandwich on this fit, with the fitted
   regressors as bread and scores, is the 2SLS variance of fixest, pyfixest and
   linearmodels (iid: sigma^2 (X_hat' X_hat)^-1 with sigma^2 from the structural
   residual).

All stages use the rows where every variable of the model is present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import EstimationError, SpecError
from policylab.estimators.formula import Formula, build_matrix
from policylab.messages import Message

__all__ = ["fit_2sls"]

WEAK_F = 10.0  # Staiger-Stock rule of thumb for one endogenous regressor


def _complete_rows(df: pd.DataFrame, f: Formula, y: str) -> pd.DataFrame:
    """The rows where the outcome, regressors, endogenous and instruments are present."""
    # the user's own formula: terms outside the grammar go to formulaic, as in feols
    Z, _ = build_matrix(df, [y, *f.terms, *f.endog, *f.instruments], intercept=False,
                        formulaic=True)
    work = df[np.isfinite(Z).all(axis=1)]
    # stage residuals are matched back to rows by label
    return work if work.index.is_unique else work.reset_index(drop=True)


def _check_parts(f: Formula) -> None:
    both = set(f.endog) & set(f.terms)
    if both:
        raise SpecError(
            f"{sorted(both)} appear both as exogenous regressors and as endogenous in "
            f"{f.raw!r}; list each regressor once"
        )
    overlap = set(f.instruments) & (set(f.terms) | set(f.endog))
    if overlap:
        raise SpecError(
            f"instruments {sorted(overlap)} of {f.raw!r} are also regressors; excluded "
            "instruments must not appear in the outcome equation"
        )


def _first_stage(work: pd.DataFrame, f: Formula, fit: Callable[..., Any],
                 instr_names: list[str]) -> tuple[list[Any], dict[str, float], dict[str, Any]]:
    """One regression per endogenous regressor; its F and fitted values (by row)."""
    firsts, fstats, fitted = [], {}, {}
    for d in f.endog:
        f1 = Formula(raw=f"{d} ~ {' + '.join([*f.terms, *f.instruments])}"
                     + (f" | {' + '.join(f.fe)}" if f.fe else ""),
                     depvars=[d], terms=[*f.terms, *f.instruments], fe=list(f.fe),
                     intercept=f.intercept)
        r1 = fit(work, f1, d)
        kept = [t for t in instr_names if t in r1.terms]
        if not kept:
            raise EstimationError(
                f"no instrument of {f.raw!r} is left in the first stage of {d!r} (all "
                f"collinear with the regressors or absorbed by the fixed effects)"
            )
        fstats[d] = float(r1.wald_test(kept)["statistic"])
        v = np.full(len(work), np.nan)
        v[work.index.get_indexer(r1.fit.rows)] = r1.fit.resid
        fitted[d] = v
        firsts.append(r1)
    return firsts, fstats, fitted


def fit_2sls(df: pd.DataFrame, f: Formula, y: str, fit: Callable[..., Any]) -> Any:
    """2SLS of outcome ``y`` in formula ``f`` (which has an IV part).

    Parameters
    ----------
    df : DataFrame
        The data (not modified).
    f : Formula
        Parsed formula with ``endog`` and ``instruments``.
    y : str
        The outcome (one of ``f.depvars``).
    fit : callable
        ``fit(data, formula, outcome, extra=None)``: feols' single-outcome fit with
        the vcov, weights and tolerances fixed.

    Returns
    -------
    FeolsResult
        Coefficients on the exogenous then the endogenous regressors; the first-stage
        regressions in ``first_stage`` and their F statistics in ``first_stage_f``.
    """
    _check_parts(f)
    work = _complete_rows(df, f, y)
    if work.empty:
        raise EstimationError(f"no row of the data has every variable of {f.raw!r}")
    _, instr_names = build_matrix(work, f.instruments, intercept=False, formulaic=True)
    if len(instr_names) < len(f.endog):
        raise SpecError(
            f"{f.raw!r} has {len(f.endog)} endogenous regressors but only "
            f"{len(instr_names)} instruments; 2SLS needs at least as many instruments"
        )
    firsts, fstats, resid1 = _first_stage(work, f, fit, instr_names)
    endog_vals = {d: pd.to_numeric(work[d]).to_numpy(float) for d in f.endog}
    fitted = {d: endog_vals[d] - resid1[d] for d in f.endog}
    f2 = Formula(raw=f.raw, depvars=[y], terms=[*f.terms, *f.endog], fe=list(f.fe),
                 intercept=f.intercept)
    second = fit(work, f2, y, extra=fitted)
    missing = [d for d in f.endog if d not in second.terms]
    if missing:
        raise EstimationError(
            f"the fitted values of {missing} are collinear with the other regressors in "
            f"{f.raw!r}; the instruments do not move them apart"
        )
    b = second.coef()
    y_raw, _ = build_matrix(work, [y], intercept=False, formulaic=True)
    ystar = y_raw[:, 0] - sum(resid1[d] * b[d] for d in f.endog)
    ykey = "__policylab_iv_outcome__"
    f3 = replace(f2, depvars=[ykey])
    res = fit(work, f3, ykey, extra={**fitted, ykey: ystar})
    yk = y_raw[work.index.get_indexer(res.fit.rows), 0]
    w = res.fit.weights
    tss = (float(((yk - yk.mean()) ** 2).sum()) if w is None
           else float(w @ (yk - (w @ yk) / w.sum()) ** 2))
    _restate(res, second, f, y, tss, firsts, fstats)
    lost = len(df) - len(work)
    if lost:
        res.meta["dropped"]["missing values"] = res.meta["dropped"].get("missing values", 0) + lost
    return res


def _restate(res: Any, second: Any, f: Formula, y: str, tss: float, firsts: list[Any],
             fstats: dict[str, float]) -> None:
    """Outcome-side statistics from the fit on y itself; IV metadata; weak-IV warning."""
    rss, N = res.rss, res.nobs
    # the second stage on y itself has y's demeaned values
    yd, w = second.fit.y, second.fit.weights
    tss_w = float(yd @ yd) if w is None else float(w @ yd**2)
    k = len(res.terms)
    k_fe = int((res.fit.fe_levels - 1).sum() + 1) if f.fe else 0
    res.r2 = 1 - rss / tss
    if f.fe:
        res.adj_r2 = 1 - (rss / tss) * (N - 1) / (N - k - k_fe)
        res.r2_within = 1 - rss / tss_w
        res.adj_r2_within = 1 - (rss / tss_w) * (N - k_fe) / (N - k - k_fe)
    else:
        res.adj_r2 = 1 - (rss / tss) * (N - int(f.intercept)) / (N - k)
    res.depvar_mean = second.depvar_mean
    res.f_stat = res.f_pvalue = np.nan  # the OLS F test has no meaning for 2SLS
    res.meta.update(formula=f.raw, depvar=y, estimator="2SLS",
                    iv={"endog": list(f.endog), "instruments": list(f.instruments),
                        "first_stage_f": dict(fstats)})
    res.fit = replace(res.fit, y=second.fit.y, iv=True)
    res.first_stage = firsts
    res.first_stage_f = dict(fstats)
    for d, F in fstats.items():
        if F < WEAK_F:
            res.warn(Message("iv.weak_instruments", d=d, F=F, threshold=WEAK_F))

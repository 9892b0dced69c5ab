"""``feols``: OLS with absorbed fixed effects and fixest-compatible inference."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import partial
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from policylab.data.names import unquote_name
from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.engine import fixed_effects as dm
from policylab.engine import vcov as vc
from policylab.engine.ols import ols
from policylab.engine.passes import column_moments, nonfinite_rows
from policylab.errors import EstimationError, SpecError
from policylab.estimators import prediction
from policylab.estimators.design import _check_weights
from policylab.estimators.fit import Fit, few_clusters_warnings, fit_variance, model_view
from policylab.estimators.formula import (
    Formula,
    build_matrix,
    fe_codes,
    fe_label,
    parse_formula,
)
from policylab.estimators.iv import fit_2sls
from policylab.estimators.restudentise import restudentise
from policylab.estimators.result import CoefResult, ResultList
from policylab.estimators.slopes import fit_with_slopes, has_slopes
from policylab.estimators.stepwise import expand_stepwise
from policylab.estimators.vcov_spec import parse_vcov, resolve_ssc, resolve_vcov
from policylab.messages import Message

__all__ = ["feols", "FeolsResult", "parse_vcov", "resolve_vcov", "resolve_ssc"]

_R = TypeVar("_R", bound="FeolsResult")


@dataclass
class FeolsResult(CoefResult):
    """Result of :func:`feols` (the Result protocol plus regression fit statistics).

    Attributes
    ----------
    r2, adj_r2, r2_within, adj_r2_within : float
        Goodness of fit (within: after absorbing the fixed effects).
    rss : float
        Residual sum of squares.
    f_stat, f_pvalue : float
        Classic F test that all slopes are zero (iid, as fixest's ``fitstat f``).
    n_clusters : dict[str, int]
        Clusters per clustering variable.
    depvar_mean : float
        Mean of the outcome on the estimation sample.
    """

    r2: float = np.nan
    adj_r2: float = np.nan
    r2_within: float = np.nan
    adj_r2_within: float = np.nan
    rss: float = np.nan
    f_stat: float = np.nan
    f_pvalue: float = np.nan
    n_clusters: dict[str, int] = field(default_factory=dict)
    depvar_mean: float = np.nan
    fit: Fit | None = field(default=None, repr=False)
    # 2SLS only: one first-stage regression per endogenous regressor, and the F
    # statistic of its excluded instruments (Wald / q with the model's vcov, as pyfixest)
    first_stage: list[FeolsResult] = field(default_factory=list, repr=False)
    first_stage_f: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """The plain-text summary, with the first-stage F of each endogenous regressor."""
        text = super().summary()
        for d, F in self.first_stage_f.items():
            text += f"\n  first-stage F ({d}): {F:.4g}"
        return text

    def derive(self, cls: type[_R]) -> _R:
        """This result as the subclass ``cls`` (e.g. DIDResult): the same fit, numbers
        and warnings, with its own copies of the metadata and warning lists."""
        if not issubclass(cls, FeolsResult):
            raise TypeError(f"{cls.__name__} is not a FeolsResult")
        out = cls(**{f.name: getattr(self, f.name) for f in fields(FeolsResult)})
        out.meta, out.warnings = dict(self.meta), list(self.warnings)
        return out

    @property
    def model(self) -> Mapping[str, Any]:
        """Deprecated read-only view of :attr:`fit` by the old string keys."""
        return model_view(self.fit)

    def vcov(self, vcov: Any = None, *, ssc: Any = None) -> Any:
        """The covariance matrix; or, given a vcov, the model re-studentised with it.

        ``res.vcov()`` is the covariance matrix (a DataFrame labelled by term).
        ``res.vcov("hetero")``, ``res.vcov({"CRV1": "state"})``, ``res.vcov("iid")``
        (fixest's ``summary(fit, vcov = ...)``, pyfixest's ``Feols.vcov(...)``) return a
        new result with the same coefficients and the standard errors, t statistics,
        p-values and confidence intervals of that variance; the result itself is left
        as it was.

        Parameters
        ----------
        vcov : str or dict, optional
            As :func:`feols`' ``vcov=``: "iid", "hetero" (HC1), ``{"CRV1": "a"}``,
            ``{"CRV1": "a+b"}`` (two-way), ``{"CRV3": "a"}``, a column name as
            shorthand for clustering by it, "cluster" / "twoway".
        ssc : str, dict or SSC, optional
            Small-sample correction (default: the one the model was fitted with).

        Returns
        -------
        DataFrame (no arguments), or a result of the same type.
        """
        if vcov is None and ssc is None:
            return super().vcov()
        return restudentise(self, vcov, ssc)

    def constant(self, level: float = 0.95) -> pd.DataFrame | None:
        """The constant Stata's areg / xtreg, fe / reghdfe report (``_cons``): the
        outcome's mean minus the regressors' means times the slopes, with its standard
        error from the model's own variance; one tidy row, or None (no constant, no
        kept fit). See :func:`policylab.estimators.constant.absorbed_constant`."""
        from policylab.estimators.constant import absorbed_constant

        return absorbed_constant(self, level)

    def resid(self) -> pd.Series:
        """Residuals y - X b - fixed effects on the estimation sample, by row label."""
        return prediction.residuals(self)

    def predict(self, newdata: Any = None) -> pd.Series:
        """Fitted values X b + fixed effects (fixest's ``predict``).

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict; default the estimation sample. Rows with a fixed-effect
            level not seen in the estimation, or a missing regressor, get NaN.
        """
        return prediction.predict(self, newdata)

    def fixef(self) -> dict[str, pd.Series]:
        """Estimated fixed effects, one Series per fixed effect, indexed by level.

        Normalisation: within each connected set of observations, every fixed
        effect after the first has its first level (in sorted order) at 0, and the
        first fixed effect absorbs the rest (only sums of effects are identified).
        """
        return prediction.fixed_effects(self)


def feols(
    fml: str,
    data: Any,
    vcov: str | dict[str, str] | None = None,
    weights: str | None = None,
    *,
    cluster: str | list[str] | None = None,
    ssc: str | vc.SSC | dict[str, Any] | None = None,
    drop_singletons: bool = True,
    collin_tol: float = 1e-10,
    fixef_tol: float = 1e-12,
    _columns: dict[str, Any] | None = None,
) -> FeolsResult | ResultList:
    """Linear regression with absorbed fixed effects (fixest / reghdfe style).

    Parameters
    ----------
    fml : str
        ``"y ~ x1 + x2 | unit + year"``; several outcomes as ``"y1 + y2 ~ ..."``;
        ``i(var, ref=...)`` dummies; ``log(x)``-style transforms; FE interactions
        ``a^b``; varying slopes ``unit[t]`` (unit intercepts and trends) or
        ``unit[[t]]`` (trends only) among the fixed effects; stepwise models ``csw(x1, x2)``, ``csw0()``, ``sw()``, ``sw0()`` (on
        the right-hand side or among the fixed effects); instrumental variables as a
        last part ``"y ~ x | unit + year | endog ~ instr1 + instr2"`` (2SLS).
    data : DataFrame or Panel
    vcov : str or dict, optional
        "iid", "hetero" (HC1, Stata ``robust``), ``{"CRV1": "unit"}``,
        ``{"CRV1": "unit+year"}`` (two-way), ``{"CRV3": "unit"}``; a column name (or
        ``"a+b"``) is shorthand for CRV1 clustering by it; "cluster" / "twoway" cluster
        by the first one / two fixed effects. Default: CRV1 clustered by the first
        fixed effect, iid without fixed effects. This is fixest's *old* default and
        Stata users' habit; current fixest and pyfixest default to iid (see
        docs/equivalence.md). The result's ``vcov_label`` says when the default was used.
    weights : str, optional
        Column of analytic (precision) weights: non-negative numbers, none missing (a
        DataError names the rows otherwise, as a Design's weights); rows weighted 0 are
        dropped.
    cluster : str or list of str, optional
        Clustering columns, as fixest's ``cluster=``: ``"unit"``, ``"unit + year"``,
        ``"~unit"`` or ``["unit", "year"]``; same as ``vcov={"CRV1": ...}``.
    ssc : str or SSC, optional
        Small-sample correction: "fixest" (default), "reghdfe", "plm", "none", or an
        :class:`policylab.engine.SSC`.
    drop_singletons : bool
        Drop observations alone in a fixed-effect group (default, as reghdfe/pyfixest).
    collin_tol : float
        Relative tolerance for dropping collinear or absorbed regressors.
    fixef_tol : float
        Convergence tolerance of the iterative demeaning.
    _columns : dict, optional
        Internal: regressors built by the caller (name -> array aligned with the rows
        of ``data``, or a function filling such a column in place), used by name in
        the formula without copying them into the frame.

    Returns
    -------
    FeolsResult, or a ResultList with one result per outcome / stepwise model (a list,
    so ``pl.etable(results)`` shows them side by side).
    """
    # read-only use: a pandas input is not copied (feols never writes to it)
    df = data.df if isinstance(data, Panel) else (
        data if isinstance(data, pd.DataFrame) else as_pandas(data))
    fmls = expand_stepwise(fml)
    if len(fmls) == 1 and has_slopes(fml):
        def fit(plain: str, cols: dict[str, Any]) -> FeolsResult | ResultList:
            return feols(plain, df, vcov, weights, cluster=cluster, ssc=ssc,
                         drop_singletons=drop_singletons, collin_tol=collin_tol,
                         fixef_tol=fixef_tol, _columns={**(_columns or {}), **cols})

        return fit_with_slopes(fml, df, fit)
    if len(fmls) > 1:
        models: list[FeolsResult] = []
        for one in fmls:
            r = feols(one, df, vcov, weights, cluster=cluster, ssc=ssc,
                      drop_singletons=drop_singletons, collin_tol=collin_tol,
                      fixef_tol=fixef_tol, _columns=_columns)
            models.extend(r if isinstance(r, ResultList) else [r])
        return ResultList(models)
    f = parse_formula(fml)
    kind, cl_cols, default_vcov = resolve_vcov(vcov, cluster, f.fe, df.columns)
    s = resolve_ssc(ssc)
    from policylab.engine.threads import threads_for

    with threads_for(len(df)):
        if f.endog:
            if kind == "CRV3" or _columns:
                raise SpecError(
                    "IV models support vcov 'iid', 'hetero' and CRV1 clustering; the CRV3 "
                    "jackknife would have to re-estimate the first stage"
                    if kind == "CRV3" else "IV formulas cannot take estimator-built columns"
                )
            fit = partial(_fit_one, kind=kind, cl_cols=cl_cols, weights=weights, ssc=s,
                          drop_singletons=drop_singletons, collin_tol=collin_tol,
                          fixef_tol=fixef_tol)
            results = [fit_2sls(df, f, y, fit) for y in f.depvars]
        else:
            results = [
                _fit_one(df, f, y, kind, cl_cols, weights, s, drop_singletons, collin_tol,
                         fixef_tol, _columns)
                for y in f.depvars
            ]
    if default_vcov and f.fe:
        for r in results:
            _mark_default_vcov(r)
    return results[0] if len(results) == 1 else ResultList(results)


def _mark_default_vcov(res: FeolsResult) -> None:
    """Say in the result that the default vcov (not fixest's current one) was used."""
    res.meta["vcov_default"] = True
    res.meta["vcov_label"] = (
        f"{res.meta['vcov_label']} (policylab's default with fixed effects: clustered "
        "by the first fixed effect; current fixest and pyfixest default to iid)"
    )


@dataclass
class _Sample:
    """The estimation rows of one outcome: the compacted [y, X] columns, their weights,
    fixed-effect and cluster codes, and the rows dropped and why."""

    Z: np.ndarray
    w: np.ndarray | None
    fe_k: np.ndarray | None
    cl_k: list[np.ndarray]
    rows: Any
    dropped: dict[str, int]


def _fit_one(
    df: pd.DataFrame, f: Formula, yname: str, kind: str, cl_cols: list[str],
    weights: str | None, ssc: vc.SSC, drop_singletons: bool, collin_tol: float,
    fixef_tol: float, extra: dict[str, Any] | None = None,
) -> FeolsResult:
    if yname in f.terms:
        raise SpecError(f"the outcome {yname!r} is also among the regressors (controls); "
                        "remove it from the right-hand side")
    Z, names = _design_matrix(df, f, yname, extra)
    yname = unquote_name(yname)  # the outcome as the data spell it
    fe_names = [fe_label(t) for t in f.fe]
    smp = _sample(df, f, Z, yname, fe_names, cl_cols, weights, drop_singletons)
    N, w, fe_k = len(smp.rows), smp.w, smp.fe_k
    ybar, tss, ref, means = _raw_moments(smp.Z, w, fe_k is not None, yname)
    info = dm.demean_inplace(smp.Z, fe_k, w, tol=fixef_tol)
    if not info.converged:
        raise EstimationError(
            f"demeaning did not converge in {info.iterations} sweeps; raise fixef_tol "
            "or check for nearly-disconnected fixed effects"
        )
    Zd = smp.Z
    yd, Xd = Zd[:, 0], Zd[:, 1:]
    # [y, X]' W [y, X] in one BLAS call (numpy uses syrk for Z'Z)
    gram = Zd.T @ Zd if w is None else Zd.T @ (Zd * w[:, None])
    sol = ols(Xd, yd, w, ref_norm=ref, tol=collin_tol, gram=gram)
    kept_names = [n for n, k in zip(names, sol.kept) if k]
    warnings_ = [_dropped_message(names[j], why, fe_names) for j, why in sol.dropped.items()]
    Xk = Xd if sol.kept.all() else Xd[:, sol.kept]
    k = Xk.shape[1]
    fe_levels = dm.fe_dof(fe_k) if fe_k is not None else np.zeros(0, dtype=np.int64)
    n_params = k + (int((fe_levels - 1).sum() + 1) if fe_k is not None else 0)
    if N <= n_params:
        raise EstimationError(f"{yname!r}: {N} observations for {n_params} parameters "
                              "(regressors and fixed effects): no residual degrees of "
                              "freedom; use more data or fewer controls / fixed effects")
    record = Fit(X=Xk, y=yd, beta=np.asarray(sol.beta, dtype=float), resid=sol.resid,
                 bread=sol.bread, weights=w, fe_codes=fe_k, fe_levels=fe_levels,
                 data=df, rows=smp.rows, terms=tuple(kept_names), fe_names=tuple(fe_names),
                 formula=f.raw, extra_columns=dict(extra or {}),
                 means=np.concatenate([means[:1], means[1:][sol.kept]]))
    var = fit_variance(kind, record, tuple(smp.cl_k), list(cl_cols), ssc)
    warnings_ += few_clusters_warnings(var, cl_cols)
    stats = _fit_stats(sol.resid, yd, w, tss, N, k, fe_levels if fe_k is not None else None,
                       f.intercept, yname, fe_names)
    res = FeolsResult(
        nobs=N,
        meta={
            "formula": f.raw,
            "depvar": yname,
            "fe": fe_names,
            "vcov": kind,
            "vcov_label": var.label,
            "cluster": list(cl_cols),
            "ssc": ssc,
            "weights": weights,
            "dropped": {kk: v for kk, v in smp.dropped.items() if v},
            "dropped_terms": {names[j]: why for j, why in sol.dropped.items()},
            "demean": info.method,
        },
        terms=kept_names,
        beta=record.beta,
        vcov_matrix=var.V,
        df_t=var.df,
        **stats,
        n_clusters=dict(zip(cl_cols, var.n_clusters)),
        depvar_mean=ybar,
        fit=replace(record, cluster_codes=tuple(smp.cl_k), cluster_cols=tuple(cl_cols),
                    df_k=var.df_k),
    )
    for msg in warnings_:
        res.warn(msg)
    return res


def _design_matrix(df: pd.DataFrame, f: Formula, yname: str,
                   extra: dict[str, Any] | None) -> tuple[np.ndarray, list[str]]:
    """One column-major matrix [y, X] (the data are copied once here, then compacted,
    demeaned and used in place) and the regressors' names."""
    # a formula string is the user's own: terms outside the grammar go to formulaic
    Z, names = build_matrix(df, [yname, *f.terms], intercept=False, extra=extra,
                            formulaic=True)
    names = names[1:]
    if f.intercept:
        Z1 = np.empty((Z.shape[0], Z.shape[1] + 1), order="F")
        Z1[:, 0], Z1[:, 1], Z1[:, 2:] = Z[:, 0], 1.0, Z[:, 1:]
        Z, names = Z1, ["Intercept", *names]
    return Z, names


def _sample(df: pd.DataFrame, f: Formula, Z: np.ndarray, yname: str, fe_names: list[str],
            cl_cols: list[str], weights: str | None, drop_singletons: bool) -> _Sample:
    """Drop rows with missing values, zero weights and singletons; compact the rest."""
    n0 = len(df)
    bad = nonfinite_rows(Z)
    codes = np.empty((n0, 0), dtype=np.int64)
    if f.fe:
        codes, miss_fe = fe_codes(df, f.fe)
        bad |= miss_fe
    cl = np.empty((n0, 0), dtype=np.int64)
    if cl_cols:
        if f.fe and all(c in fe_names for c in cl_cols):
            # clustering by fixed-effect columns: reuse their codes
            cl = codes[:, [fe_names.index(c) for c in cl_cols]]
        else:
            cl, miss_cl = fe_codes(df, cl_cols)
            bad |= miss_cl
    w = None if weights is None else _weights(df, weights)
    if w is not None:
        bad |= w == 0
    dropped = {"missing values": int(bad.sum())}
    keep = ~bad
    if f.fe and drop_singletons and keep.any():
        sub = codes if dropped["missing values"] == 0 else np.column_stack(
            [dm.densify(codes[keep, j])[0] for j in range(codes.shape[1])])
        ok = dm.drop_singletons(sub)
        dropped["singletons"] = int((~ok).sum())
        if dropped["singletons"]:
            idx = np.flatnonzero(keep)
            keep[idx[~ok]] = False
    N = int(keep.sum())
    if N == 0:
        raise EstimationError(f"no observations left for {yname!r} after dropping {dropped}")
    if N == n0:  # nothing dropped: codes are already dense, no copies needed
        return _Sample(Z, w, codes if f.fe else None, [cl[:, j] for j in range(cl.shape[1])],
                       df.index, dropped)
    rows = np.flatnonzero(keep)
    # compact the kept rows to the top of each column, in place (rows is
    # increasing, so no kept value is overwritten before it is moved)
    for j in range(Z.shape[1]):
        Z[:N, j] = Z[rows, j]
    fe_k = (np.column_stack([dm.densify(codes[rows, j])[0] for j in range(codes.shape[1])])
            if f.fe else None)
    return _Sample(Z[:N], None if w is None else w[rows], fe_k,
                   [dm.densify(cl[rows, j])[0] for j in range(cl.shape[1])], df.index[rows],
                   dropped)


def _weights(df: pd.DataFrame, weights: str) -> np.ndarray:
    """The weights column as floats; missing, infinite, negative or non-numeric weights
    are refused with the Design's error (the project's one rule: a weight is not a value
    to drop quietly), zero weights drop their rows as in fixest."""
    require_columns(df, [weights], "weights column")
    w = pd.to_numeric(df[weights], errors="coerce").to_numpy(float)
    if not (w >= 0).all() or not np.isfinite(w).all():  # NaN fails w >= 0
        _check_weights(df, weights)
    return w


def _raw_moments(Z: np.ndarray, w: np.ndarray | None, has_fe: bool,
                 yname: str) -> tuple[float, float, np.ndarray, np.ndarray]:
    """The outcome's mean and total sum of squares, each regressor's sum of squares
    before the fixed effects are absorbed (centred when there are fixed effects), which
    tells a regressor absorbed by the fixed effects from a merely small one, and the
    means of all columns (the grand means a reported constant adds back). Read before
    the columns are demeaned in place."""
    N = Z.shape[0]
    mean, css = column_moments(Z, w)
    ybar, tss = float(mean[0]), float(css[0])
    if not tss > 1e-24 * max(ybar * ybar * N, 1e-300):
        raise EstimationError(f"the outcome {yname!r} is constant ({ybar:g} in all {N} rows "
                              "used): there is nothing to explain; check the column and the "
                              "sample")
    wsum = float(N if w is None else w.sum())
    ref = css[1:] if has_fe else css[1:] + wsum * mean[1:] ** 2
    return ybar, tss, ref, np.asarray(mean, dtype=float).copy()


def _dropped_message(name: str, why: str, fe_names: list[str]) -> Message:
    if why == "no variation" and fe_names:
        return Message("feols.absorbed", term=name, fe=" + ".join(fe_names))
    return Message("feols.no_variation" if why == "no variation" else "feols.collinear",
                   term=name)


def _fit_stats(u: np.ndarray, yd: np.ndarray, w: np.ndarray | None, tss: float, N: int,
               k: int, fe_levels: np.ndarray | None, intercept: bool, yname: str,
               fe_names: list[str]) -> dict[str, float]:
    """R2 (overall and within), adjusted, RSS and the iid F test (fixest conventions)."""
    rss = float(u @ u) if w is None else float(w @ u**2)
    r2 = 1 - rss / tss if tss > 0 else np.nan
    if fe_levels is not None:
        k_fe = int((fe_levels - 1).sum() + 1)
        adj_r2 = 1 - (rss / tss) * (N - 1) / (N - k - k_fe)
        tss_w = float(yd @ yd) if w is None else float(w @ yd**2)
        if tss_w <= 1e-20 * max(tss, 1e-300):
            raise EstimationError(
                f"the outcome {yname!r} has no variation left after the fixed effects "
                f"({' + '.join(fe_names)}); it is constant within their groups"
            )
        r2_w = 1 - rss / tss_w
        adj_r2_w = 1 - (rss / tss_w) * (N - k_fe) / (N - k - k_fe)
        k_total = k + k_fe
    else:
        adj_r2 = 1 - (rss / tss) * (N - int(intercept)) / (N - k)
        r2_w = adj_r2_w = np.nan
        k_total = k
    q = k - int(intercept and fe_levels is None)
    f_stat = f_p = np.nan
    if q > 0 and N > k_total:
        from scipy import special

        ess = (tss_w if fe_levels is not None else tss) - rss
        f_stat = (ess / q) / (rss / (N - k_total))
        f_p = float(special.fdtrc(q, N - k_total, f_stat))
    return {"r2": r2, "adj_r2": adj_r2, "r2_within": r2_w, "adj_r2_within": adj_r2_w,
            "rss": rss, "f_stat": float(f_stat), "f_pvalue": float(f_p)}

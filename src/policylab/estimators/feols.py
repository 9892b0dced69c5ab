"""``feols``: OLS with absorbed fixed effects and fixest-compatible inference."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

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
from policylab.estimators.formula import (
    Formula,
    build_matrix,
    fe_codes,
    fe_label,
    parse_formula,
    split_terms,
)
from policylab.estimators.iv import fit_2sls
from policylab.estimators.result import CoefResult, ResultList
from policylab.estimators.slopes import fit_with_slopes, has_slopes
from policylab.estimators.stepwise import expand_stepwise

__all__ = ["feols", "FeolsResult", "parse_vcov", "resolve_vcov"]


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
    model: dict[str, Any] = field(default_factory=dict, repr=False)
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


def parse_vcov(vcov: Any, fe: list[str], columns: Any = ()) -> tuple[str, list[str]]:
    """Normalise a vcov argument to (kind, cluster columns).

    Accepts "iid", "hetero"/"HC1"/"robust", {"CRV1": "unit"}, {"CRV1": "unit+year"},
    {"CRV3": "unit"}, or None (CRV1 by the first fixed effect, else iid, as fixest).
    A cluster that is exactly the name of one of ``columns`` is that column; otherwise
    two columns are joined by ``+`` (odd names between backticks).
    """
    if vcov is None:
        return ("CRV1", [fe_label(fe[0])]) if fe else ("iid", [])
    if isinstance(vcov, str):
        key = vcov.strip().lower()
        if key == "iid":
            return "iid", []
        if key in ("hetero", "hc1", "robust"):
            return "hetero", []
        raise SpecError(
            f"vcov={vcov!r} is not known; use 'iid', 'hetero' (= 'HC1', Stata 'robust'), "
            "{'CRV1': 'unit'} or {'CRV1': 'unit+year'} (two-way), or {'CRV3': 'unit'}"
        )
    if isinstance(vcov, dict) and len(vcov) == 1:
        (kind, cl), = vcov.items()
        kind = str(kind).upper()
        if kind not in ("CRV1", "CRV3"):
            raise SpecError(f"vcov={vcov!r}: the key must be 'CRV1' or 'CRV3'")
        cols = [cl] if isinstance(cl, str) and cl in columns else [unquote_name(c) for c in split_terms(str(cl))]
        if not 1 <= len(cols) <= 2:
            raise SpecError(f"vcov={vcov!r}: give one or two clustering columns, e.g. 'unit+year'")
        if kind == "CRV3" and len(cols) > 1:
            raise SpecError("CRV3 supports one-way clustering only")
        return kind, cols
    raise SpecError(f"vcov={vcov!r} is not understood; e.g. vcov={{'CRV1': 'province'}}")


def _ssc(ssc: Any) -> vc.SSC:
    if ssc is None:
        return vc.SSC()
    if isinstance(ssc, vc.SSC):
        return ssc
    if isinstance(ssc, str):
        if ssc not in vc.PRESETS:
            raise SpecError(f"ssc={ssc!r} is not a preset; choose from {sorted(vc.PRESETS)}")
        return vc.PRESETS[ssc]
    if isinstance(ssc, dict):
        return vc.SSC(**ssc)
    raise SpecError(f"ssc must be a preset name, a dict or policylab.engine.SSC, got {ssc!r}")


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
        Column of analytic (precision) weights.
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
    s = _ssc(ssc)
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


_VCOV_WORDS = ("iid", "hetero", "hc1", "robust", "cluster", "twoway")


def _cluster_columns(cluster: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(cluster, str):
        text = cluster.strip().lstrip("~")
        return [c.strip() for c in text.split("+") if c.strip()]
    if isinstance(cluster, (list, tuple)) and all(isinstance(c, str) for c in cluster):
        return [c.strip() for c in cluster]
    raise SpecError(
        f"cluster={cluster!r} is not understood; give a column name, 'unit + year' or a "
        "list of column names"
    )


def resolve_vcov(
    vcov: Any, cluster: str | list[str] | None, fe: list[str], columns: Any,
) -> tuple[str, list[str], bool]:
    """The vcov kind, clustering columns, and whether the default was used.

    Adds fixest's spellings to :func:`parse_vcov`: ``cluster="unit"`` (or
    ``"~unit + year"``, a list), ``vcov="unit"`` as shorthand for ``{"CRV1": "unit"}``,
    ``vcov="cluster"`` (first fixed effect) and ``vcov="twoway"`` (first two).
    """
    if cluster is not None:
        # a cluster that is exactly a column's name is that column (names are names)
        cols = [cluster] if isinstance(cluster, str) and cluster in columns else (
            _cluster_columns(cluster))
        key = vcov.strip().upper() if isinstance(vcov, str) else None
        if vcov is not None and key not in ("CRV1", "CRV3", "CLUSTER"):
            raise SpecError(
                f"vcov={vcov!r} and cluster={cluster!r} disagree; give cluster= alone "
                "(CRV1), or vcov='CRV3' with cluster="
            )
        kind, cl = parse_vcov({"CRV3" if key == "CRV3" else "CRV1": "+".join(cols)}, fe)
        return kind, (cols if len(cols) == 1 else cl), False
    if isinstance(vcov, str) and vcov.strip().lower() in ("cluster", "twoway"):
        need = 1 if vcov.strip().lower() == "cluster" else 2
        if len(fe) < need:
            raise SpecError(
                f"vcov={vcov!r} clusters by the first {need} fixed effect(s), but the "
                f"formula has {len(fe)}; name the columns, e.g. vcov={{'CRV1': 'unit'}}"
            )
        kind, cl = parse_vcov({"CRV1": "+".join(fe[:need])}, fe)
        return kind, cl, False
    if isinstance(vcov, str) and vcov.strip().lower() not in _VCOV_WORDS:
        cols = [c.strip() for c in vcov.split("+") if c.strip()]
        if cols and all(c in columns for c in cols):
            kind, cl = parse_vcov({"CRV1": "+".join(cols)}, fe)
            return kind, cl, False
    kind, cl = parse_vcov(vcov, fe, columns)
    return kind, cl, vcov is None


def _mark_default_vcov(res: FeolsResult) -> None:
    """Say in the result that the default vcov (not fixest's current one) was used."""
    res.meta["vcov_default"] = True
    res.meta["vcov_label"] = (
        f"{res.meta['vcov_label']} (policylab's default with fixed effects: clustered "
        "by the first fixed effect; current fixest and pyfixest default to iid)"
    )


def _fit_one(
    df: pd.DataFrame, f: Formula, yname: str, kind: str, cl_cols: list[str],
    weights: str | None, ssc: vc.SSC, drop_singletons: bool, collin_tol: float,
    fixef_tol: float, extra: dict[str, Any] | None = None,
) -> FeolsResult:
    if yname in f.terms:
        raise SpecError(f"the outcome {yname!r} is also among the regressors (controls); "
                        "remove it from the right-hand side")
    # one column-major matrix [y, X] (views below): the data are copied once, then
    # compacted, demeaned and used in place
    # a formula string is the user's own: terms outside the grammar go to formulaic
    Z, names = build_matrix(df, [yname, *f.terms], intercept=False, extra=extra,
                            formulaic=True)
    yname = unquote_name(yname)  # the outcome as the data spell it
    fe_names = [fe_label(t) for t in f.fe]
    names = names[1:]
    if f.intercept:
        Z1 = np.empty((Z.shape[0], Z.shape[1] + 1), order="F")
        Z1[:, 0], Z1[:, 1], Z1[:, 2:] = Z[:, 0], 1.0, Z[:, 1:]
        Z, names = Z1, ["Intercept", *names]
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
    w = None
    if weights is not None:
        require_columns(df, [weights], "weights column")
        w = pd.to_numeric(df[weights], errors="coerce").to_numpy(float)
        bad |= ~np.isfinite(w)
        neg = np.isfinite(w) & (w < 0)
        if neg.any():
            raise SpecError(f"weights column {weights!r} has {int(neg.sum())} negative values")
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
        fe_k = codes if f.fe else None
        cl_k = [cl[:, j] for j in range(cl.shape[1])]
    else:
        rows = np.flatnonzero(keep)
        # compact the kept rows to the top of each column, in place (rows is
        # increasing, so no kept value is overwritten before it is moved)
        for j in range(Z.shape[1]):
            Z[:N, j] = Z[rows, j]
        Z = Z[:N]
        w = None if w is None else w[rows]
        fe_k = (
            np.column_stack([dm.densify(codes[rows, j])[0] for j in range(codes.shape[1])])
            if f.fe else None
        )
        cl_k = [dm.densify(cl[rows, j])[0] for j in range(cl.shape[1])]

    # moments of the raw columns, before they are demeaned in place: the outcome's
    # mean and total sum of squares, and each regressor's sum of squares before the
    # FE are absorbed (centred when FE are present), which tells a regressor absorbed
    # by the fixed effects from a merely small one
    mean, css = column_moments(Z, w)
    ybar, tss = float(mean[0]), float(css[0])
    if not tss > 1e-24 * max(ybar * ybar * N, 1e-300):
        raise EstimationError(f"the outcome {yname!r} is constant ({ybar:g} in all {N} rows "
                              "used): there is nothing to explain; check the column and the "
                              "sample")
    wsum = float(N if w is None else w.sum())
    ref = css[1:] if fe_k is not None else css[1:] + wsum * mean[1:] ** 2
    info = dm.demean_inplace(Z, fe_k, w, tol=fixef_tol)
    if not info.converged:
        raise EstimationError(
            f"demeaning did not converge in {info.iterations} sweeps; raise fixef_tol "
            "or check for nearly-disconnected fixed effects"
        )
    Zd = Z
    yd, Xd = Zd[:, 0], Zd[:, 1:]
    # [y, X]' W [y, X] in one BLAS call (numpy uses syrk for Z'Z)
    gram = Zd.T @ Zd if w is None else Zd.T @ (Zd * w[:, None])
    fit = ols(Xd, yd, w, ref_norm=ref, tol=collin_tol, gram=gram)
    kept_names = [n for n, k in zip(names, fit.kept) if k]
    warnings_: list[str] = []
    for j, why in fit.dropped.items():
        msg = (
            f"{names[j]!r} was dropped: absorbed by the fixed effects ({' + '.join(fe_names)})"
            if why == "no variation" and f.fe
            else f"{names[j]!r} was dropped: {'no variation' if why == 'no variation' else 'collinear with other regressors'}"
        )
        warnings_.append(msg)
    Xk = Xd if fit.kept.all() else Xd[:, fit.kept]
    u = fit.resid
    k = Xk.shape[1]
    fe_levels = dm.fe_dof(fe_k) if fe_k is not None else np.zeros(0, dtype=np.int64)
    n_params = k + (int((fe_levels - 1).sum() + 1) if fe_k is not None else 0)
    if N <= n_params:
        raise EstimationError(f"{yname!r}: {N} observations for {n_params} parameters "
                              "(regressors and fixed effects): no residual degrees of "
                              "freedom; use more data or fewer controls / fixed effects")

    # --- variance
    n_clusters: dict[str, int] = {}
    uw = u if w is None else u * w
    scores = None if kind in ("CRV1",) and len(cl_k) == 1 else Xk * uw[:, None]
    if kind == "iid":
        K = vc.df_k(k, fe_levels, None, ssc)
        V = vc.vcov_iid(fit.bread, u, w, N, K, ssc)
        df_t: float | None = N - K
        label = "iid"
    elif kind == "hetero":
        K = vc.df_k(k, fe_levels, None, ssc)
        V = vc.vcov_hc1(fit.bread, scores, vc.small_sample_factor("hetero", N, K, ssc=ssc))
        df_t = N - K
        label = "heteroskedasticity-robust (HC1)"
    else:
        Gs = [int(c.max()) + 1 for c in cl_k]
        n_clusters = dict(zip(cl_cols, Gs))
        if min(Gs) < 2:
            one = cl_cols[Gs.index(min(Gs))]
            raise EstimationError(f"cluster column {one!r} has a single value in the {N} rows "
                                  "used: cluster-robust SEs need at least two clusters; "
                                  "cluster by a finer column or use vcov='hetero'")
        nested = None
        if fe_k is not None:
            # an FE that is itself a clustering variable is nested without checking
            nested = np.array([
                fe_names[j] in cl_cols or any(vc.nested_in(fe_k[:, j], c) for c in cl_k)
                for j in range(fe_k.shape[1])
            ])
        K = vc.df_k(k, fe_levels, nested, ssc)
        if kind == "CRV3":
            fac = vc.small_sample_factor("CRV", N, K, Gs[0], ssc)
            V = vc.vcov_crv3(Xk, yd, fit.beta, cl_k[0], w, fac)
        elif len(cl_k) == 1:
            s_g = vc.score_sums(Xk, uw, cl_k[0])
            fac = vc.small_sample_factor("CRV", N, K, Gs[0], ssc)
            V = fac * (fit.bread @ (s_g.T @ s_g) @ fit.bread)
        else:
            inter = dm.densify(cl_k[0] * (int(cl_k[1].max()) + 1) + cl_k[1])[0]
            Gi = int(inter.max()) + 1
            gmin = min(Gs + [Gi]) if ssc.G_df == "min" else None
            V = np.zeros((k, k))
            for c, G, sign in ((cl_k[0], Gs[0], 1), (cl_k[1], Gs[1], 1), (inter, Gi, -1)):
                fac = vc.small_sample_factor("CRV", N, K, gmin or G, ssc)
                V += sign * vc.vcov_crv1(fit.bread, scores, c, fac)
        df_t = min(Gs) - 1
        label = f"{kind} clustered by {' and '.join(cl_cols)}"
        if min(Gs) < 30:
            warnings_.append(
                f"only {min(Gs)} clusters in {cl_cols}: cluster-robust SEs are unreliable "
                "with few clusters; consider wild_bootstrap() or placebo_test()"
            )

    # --- fit statistics (pyfixest / fixest conventions)
    rss = float(u @ u) if w is None else float(w @ u**2)
    r2 = 1 - rss / tss if tss > 0 else np.nan
    if fe_k is not None:
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
        k_fe = 0
        adj_r2 = 1 - (rss / tss) * (N - int(f.intercept)) / (N - k)
        r2_w = adj_r2_w = np.nan
        k_total = k
    q = k - int(f.intercept and fe_k is None)
    f_stat = f_p = np.nan
    if q > 0 and N > k_total:
        from scipy import special

        ess = (tss_w if fe_k is not None else tss) - rss
        f_stat = (ess / q) / (rss / (N - k_total))
        f_p = float(special.fdtrc(q, N - k_total, f_stat))

    dropped_rows = {kk: v for kk, v in dropped.items() if v}
    res = FeolsResult(
        nobs=N,
        meta={
            "formula": f.raw,
            "depvar": yname,
            "fe": fe_names,
            "vcov": kind,
            "vcov_label": label,
            "cluster": list(cl_cols),
            "ssc": ssc,
            "weights": weights,
            "dropped": dropped_rows,
            "dropped_terms": {names[j]: why for j, why in fit.dropped.items()},
            "demean": info.method,
        },
        terms=kept_names,
        beta=np.asarray(fit.beta, dtype=float),
        vcov_matrix=V,
        df_t=df_t,
        r2=r2, adj_r2=adj_r2, r2_within=r2_w, adj_r2_within=adj_r2_w, rss=rss,
        f_stat=float(f_stat), f_pvalue=float(f_p), n_clusters=n_clusters,
        depvar_mean=ybar,
        model={
            "data": df, "rows": df.index if N == n0 else df.index[rows], "y": yd, "X": Xk,
            "weights": w, "fe_codes": fe_k,
            "cluster_codes": cl_k, "resid": u, "bread": fit.bread, "df_k": K,
            "fe_levels": fe_levels,
            # regressors the caller passed (arrays aligned with the rows of "data", or
            # functions filling such a column), not columns of "data"
            "extra_columns": dict(extra or {}),
        },
    )
    for msg in warnings_:
        res.warn(msg)
    return res

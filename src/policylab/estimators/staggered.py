"""Heterogeneity-robust DID for staggered adoption.

``att_gt``: Callaway and Sant'Anna (2021) group-time average treatment effects with
never- or not-yet-treated controls, without covariates or with covariates by outcome
regression, inverse probability weighting or the doubly robust estimator of Sant'Anna
and Zhao (2020); analytic standard errors from influence functions (clustered by unit),
aggregations (simple, dynamic, group, calendar) with the influence of the estimated
weights included, the pre-test of parallel trends, and multiplier-bootstrap uniform
bands. Follows the R ``did`` package's conventions.

``sun_abraham``: Sun and Abraham (2021) interaction-weighted event study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.errors import DataError, EstimationError, SpecError
from policylab.estimators.result import CoefResult, Result

__all__ = ["att_gt", "AttGtResult", "AggregateResult", "sun_abraham"]


# ------------------------------------------------------------------ 2x2 estimators
def _att_2x2(dy: np.ndarray, d: np.ndarray, X: np.ndarray | None, method: str
             ) -> tuple[float, np.ndarray]:
    """ATT and its influence function (per unit of the subsample), panel data.

    Implements the unconditional DID (X None), and reg / ipw / dr (Sant'Anna and Zhao
    2020, the traditional doubly robust estimator) with their estimation effects.
    """
    n = len(dy)
    if X is None:
        X = np.ones((n, 1))
        method = "reg"
    if method in ("reg", "dr"):
        c = d == 0
        beta = np.linalg.lstsq(X[c], dy[c], rcond=None)[0]
        out = X @ beta
        wols_x = (1 - d)[:, None] * X
        XpX_inv = np.linalg.inv(wols_x.T @ X / n)
        lin_ols = ((1 - d) * (dy - out))[:, None] * X @ XpX_inv
    if method in ("ipw", "dr"):
        import statsmodels.api as sm

        try:
            fit = sm.GLM(d, X, family=sm.families.Binomial()).fit()
        except Exception as exc:  # separation
            raise EstimationError(f"propensity model failed: {exc}") from exc
        ps = np.minimum(fit.fittedvalues if hasattr(fit, "fittedvalues") else fit.predict(X),
                        1 - 1e-6)
        W = ps * (1 - ps)
        hess = np.linalg.inv((X * W[:, None]).T @ X / n)
        lin_ps = ((d - ps)[:, None] * X) @ hess
    if method == "reg":
        eta_t = np.mean(d * dy) / d.mean()
        eta_c = np.mean(d * out) / d.mean()
        inf_t = (d * dy - d * eta_t) / d.mean()
        M1 = (d[:, None] * X).mean(axis=0)
        inf_c = (d * out - d * eta_c + lin_ols @ M1) / d.mean()
        return float(eta_t - eta_c), inf_t - inf_c
    wt = d
    wc = ps * (1 - d) / (1 - ps)
    if method == "ipw":
        eta_t = np.mean(wt * dy) / wt.mean()
        eta_c = np.mean(wc * dy) / wc.mean()
        inf_t = (wt * dy - wt * eta_t) / wt.mean()
        M2 = (wc * (dy - eta_c))[:, None] * X
        inf_c = (wc * dy - wc * eta_c + lin_ps @ M2.mean(axis=0)) / wc.mean()
        return float(eta_t - eta_c), inf_t - inf_c
    if method != "dr":
        raise SpecError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    r = dy - out
    eta_t = np.mean(wt * r) / wt.mean()
    eta_c = np.mean(wc * r) / wc.mean()
    inf_t = (wt * r - wt * eta_t - lin_ols @ (wt[:, None] * X).mean(axis=0)) / wt.mean()
    M2 = ((wc * (r - eta_c))[:, None] * X).mean(axis=0)
    M3 = (wc[:, None] * X).mean(axis=0)
    inf_c = (wc * r - wc * eta_c + lin_ps @ M2 - lin_ols @ M3) / wc.mean()
    return float(eta_t - eta_c), inf_t - inf_c


@dataclass
class AggregateResult(CoefResult):
    """An aggregation of ATT(g,t): the overall effect first, then by event time, group or
    period (``meta["type"]``)."""

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        t = super().tidy(level)
        t.insert(1, "by", self.meta["by_values"])
        if "band_crit" in self.meta and self.meta["band_crit"] is not None:
            se = t["std_error"]
            t["band_low"] = t["estimate"] - self.meta["band_crit"] * se
            t["band_high"] = t["estimate"] + self.meta["band_crit"] * se
            t.loc[0, ["band_low", "band_high"]] = np.nan
        return t

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Event-study style plot of the dynamic aggregation."""
        from policylab.report.figures.event_study import event_study_figure

        t = self.tidy().iloc[1:].rename(columns={"by": "rel_time"})
        return event_study_figure(t, lang=lang, ref=-1, kind="bars", **kw)


@dataclass
class AttGtResult(Result):
    """Group-time ATTs with their influence functions (one column per cell)."""

    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    inf: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    unit_group: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pretest: dict[str, float] = field(default_factory=dict)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """group, time, estimate, std_error, statistic, p_value, conf_low, conf_high."""
        t = self.cells.copy()
        z = stats.norm.ppf(0.5 + level / 2)
        t["statistic"] = t["estimate"] / t["std_error"]
        t["p_value"] = 2 * stats.norm.sf(np.abs(t["statistic"]))
        t["conf_low"] = t["estimate"] - z * t["std_error"]
        t["conf_high"] = t["estimate"] + z * t["std_error"]
        t.insert(0, "term", [f"ATT({g},{tt})" for g, tt in zip(t["group"], t["time"])])
        return t

    def aggregate(self, type: str = "dynamic", *, bootstrap: bool = False, draws: int = 999,
                  seed: int | None = None, level: float = 0.95) -> AggregateResult:
        """Aggregate to "simple", "dynamic" (event time), "group" or "calendar" effects.

        Standard errors come from the influence functions, including the estimation of
        the group-share weights (as R ``did::aggte``). ``bootstrap`` adds
        multiplier-bootstrap uniform bands (Mammen weights, seeded).
        """
        c = self.cells
        g, t = c["group"].to_numpy(), c["time"].to_numpy()
        att = c["estimate"].to_numpy()
        n = self.inf.shape[0]
        groups = np.array(sorted(set(g)))
        pg_grp = np.array([np.mean(self.unit_group == gg) for gg in groups])
        pg = pg_grp[np.searchsorted(groups, g)]
        post = t >= g

        def combine(keep: np.ndarray, weights: np.ndarray, with_wif: bool) -> tuple[float, np.ndarray]:
            idx = np.flatnonzero(keep)
            w = weights[idx] / weights[idx].sum()
            est = float(att[idx] @ w)
            inf = self.inf[:, idx] @ w
            if with_wif:
                inf = inf + self._wif(idx, pg) @ att[idx]
            return est, inf

        labels: list[Any] = []
        ests, infs = [], []
        if type == "simple":
            e, f = combine(post, pg, True)
            labels, ests, infs = ["ATT"], [e], [f]
        elif type == "dynamic":
            et = t - g
            es = np.array(sorted(set(et)))
            for e in es:
                v, f = combine(et == e, pg, True)
                labels.append(int(e))
                ests.append(v)
                infs.append(f)
            nonneg = np.array(labels) >= 0
            ov = float(np.mean(np.array(ests)[nonneg]))
            of = np.mean(np.array(infs)[nonneg], axis=0)
            labels, ests, infs = ["ATT", *labels], [ov, *ests], [of, *infs]
        elif type == "group":
            gi, ge, gf = [], [], []
            for gg in groups:
                v, f = combine((g == gg) & post, np.ones_like(att), False)
                gi.append(int(gg))
                ge.append(v)
                gf.append(f)
            w = pg_grp / pg_grp.sum()
            ov = float(np.array(ge) @ w)
            of = np.array(gf).T @ w + self._wif(np.arange(len(groups)), pg_grp,
                                                groups=groups) @ np.array(ge)
            labels, ests, infs = ["ATT", *gi], [ov, *ge], [of, *gf]
        elif type == "calendar":
            periods = [tt for tt in sorted(set(t)) if tt >= groups.min()]
            for tt in periods:
                v, f = combine((t == tt) & post, pg, True)
                labels.append(int(tt))
                ests.append(v)
                infs.append(f)
            ov = float(np.mean(ests))
            of = np.mean(np.array(infs), axis=0)
            labels, ests, infs = ["ATT", *labels], [ov, *ests], [of, *infs]
        else:
            raise SpecError(f"type must be simple, dynamic, group or calendar, got {type!r}")
        F = np.column_stack(infs)
        V = F.T @ F / n**2
        crit = None
        if bootstrap and len(ests) > 1:
            rng = np.random.default_rng(seed)
            s5 = np.sqrt(5.0)
            v = np.where(rng.random((draws, n)) < (s5 + 1) / (2 * s5), -(s5 - 1) / 2,
                         (s5 + 1) / 2)
            boot = v @ F[:, 1:] / n
            se_b = np.sqrt(np.diag(V))[1:]
            crit = float(np.quantile(np.max(np.abs(boot) / se_b, axis=1), level))
        terms = [f"{type}:{lab}" for lab in labels]
        return AggregateResult(nobs=self.nobs, terms=terms, beta=np.array(ests), vcov_matrix=V,
                               df_t=None, meta={**self.meta, "type": type, "by_values": labels,
                                                "band_crit": crit, "seed": seed})

    def _wif(self, idx: np.ndarray, pg: np.ndarray, groups: np.ndarray | None = None
             ) -> np.ndarray:
        """Influence of estimating the weights P(G = g) (R did's ``wif``)."""
        if groups is None:
            cell_groups = self.cells["group"].to_numpy()[idx]
            p = pg[idx]
        else:
            cell_groups = groups[idx]
            p = pg[idx]
        ind = (self.unit_group[:, None] == cell_groups[None, :]).astype(float)
        s = p.sum()
        if1 = (ind - p) / s
        if2 = np.outer((ind - p).sum(axis=1), p / s**2)
        return if1 - if2


def _prepare(data: Any, y: str, unit: str | None, time: str | None, cohort: str
             ) -> tuple[pd.DataFrame, str, str]:
    if isinstance(data, Panel):
        unit, time = unit or data.unit, time or data.time
        df = data.df
    else:
        df = as_pandas(data)
    if unit is None or time is None:
        raise SpecError("unit= and time= are required unless data is a Panel")
    require_columns(df, [y, unit, time, cohort])
    return df, unit, time


def att_gt(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str = "cohort",
    *,
    control_group: str = "never",
    covariates: Sequence[str] | None = None,
    method: str = "dr",
    anticipation: int = 0,
    base_period: str = "varying",
) -> AttGtResult:
    """Callaway-Sant'Anna group-time ATTs on a balanced panel.

    Parameters
    ----------
    cohort : str
        First treated period; never-treated coded 0, missing or inf.
    control_group : {"never", "notyet"}
        Never-treated units, or never and not-yet-treated units.
    covariates : list of str, optional
        Time-invariant (base-period) covariates; ``method`` chooses outcome regression
        ("reg"), IPW ("ipw") or doubly robust ("dr", default). Without covariates all
        three are the unconditional DID.
    anticipation : int
        Periods of anticipation.
    base_period : {"varying", "universal"}
        Pre-treatment cells compare t with t-1 ("varying", the R default) or every cell
        uses g - 1 - anticipation.
    """
    df, unit, time = _prepare(data, y, unit, time, cohort)
    if control_group not in ("never", "notyet"):
        raise SpecError("control_group must be 'never' or 'notyet'")
    wide = df.pivot(index=unit, columns=time, values=y)
    if wide.isna().any().any():
        raise DataError("att_gt needs a balanced panel without missing outcomes; drop units "
                        "with gaps or use did_imputation(), which handles unbalanced panels")
    G = pd.to_numeric(df.groupby(unit)[cohort].first(), errors="coerce")
    G = G.replace([np.inf, -np.inf], np.nan).fillna(0).reindex(wide.index).to_numpy(float)
    periods = wide.columns.to_numpy()
    Y = wide.to_numpy(float)
    Xall = None
    if covariates:
        first = df[df[time] == periods[0]].set_index(unit).reindex(wide.index)
        Xall = np.column_stack([np.ones(len(wide)), first[list(covariates)].to_numpy(float)])
        if np.isnan(Xall).any():
            raise DataError("covariates are missing in the first period for some units")
    groups = sorted(g for g in set(G) if g > 0 and g > periods[0] + anticipation)
    if not groups:
        raise EstimationError("no treated cohort with a pre-period")
    n = len(G)
    cells, infs = [], []
    for g in groups:
        for j, tt in enumerate(periods):
            if base_period == "varying" and tt < g - anticipation:
                if j == 0:
                    continue
                base = periods[j - 1]
            else:
                base = g - 1 - anticipation
            if base not in set(periods) or base == tt:
                continue
            if control_group == "never":
                ctrl = G == 0
            else:
                ctrl = (G == 0) | ((G > max(tt, base) + anticipation) & (G != g))
            treat = G == g
            keep = treat | ctrl
            if ctrl.sum() == 0:
                continue
            bi, ti = list(periods).index(base), j
            dy = (Y[:, ti] - Y[:, bi])[keep]
            d = treat[keep].astype(float)
            att, inf_sub = _att_2x2(dy, d, None if Xall is None else Xall[keep], method)
            inf = np.zeros(n)
            inf[keep] = inf_sub * n / keep.sum()
            cells.append({"group": int(g), "time": int(tt), "estimate": att,
                          "std_error": float(np.sqrt(np.sum(inf**2)) / n)})
            infs.append(inf)
    F = np.column_stack(infs)
    c = pd.DataFrame(cells)
    pre = (c["time"] < c["group"]).to_numpy()
    pretest: dict[str, float] = {}
    if pre.any():
        V = F[:, pre].T @ F[:, pre] / n
        a = c.loc[pre, "estimate"].to_numpy()
        try:
            W = float(n * a @ np.linalg.solve(V, a))
            pretest = {"statistic": W, "df": int(pre.sum()),
                       "p_value": float(stats.chi2.sf(W, pre.sum()))}
        except np.linalg.LinAlgError:
            pretest = {}
    return AttGtResult(nobs=len(df), cells=c, inf=F, unit_group=G, pretest=pretest,
                       meta={"depvar": y, "control_group": control_group, "method": method
                             if covariates else "unconditional", "covariates": list(
                                 covariates or []), "anticipation": anticipation,
                             "base_period": base_period, "unit": unit, "time": time})


def sun_abraham(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str = "cohort",
    *,
    controls: Sequence[str] = (),
    ref: int = -1,
    cluster: str | None = None,
    control_cohort: str = "never",
) -> CoefResult:
    """Sun-Abraham interaction-weighted event study.

    Regresses y on cohort x relative-time dummies (reference period ``ref`` and the
    control cohort excluded) with unit and time effects, then averages each event time's
    cohort-specific effects with the cohorts' shares among treated observations at that
    event time; the covariance follows by the delta method (shares treated as fixed, as
    fixest's ``sunab`` aggregation).
    """
    from policylab.estimators.feols import feols

    df, unit, time = _prepare(data, y, unit, time, cohort)
    d = df.copy()
    G = pd.to_numeric(d[cohort], errors="coerce").replace([np.inf], np.nan).fillna(0)
    if control_cohort == "never":
        ctrl = G == 0
        if not ctrl.any():
            raise EstimationError("no never-treated units; use control_cohort='last'")
    else:
        last = G[G > 0].max()
        ctrl = (G == 0) | (G == last)
        d = d[(G == 0) | (d[time] < last) | (G != last)]
        G = G.loc[d.index]
        ctrl = ctrl.loc[d.index]
    rel = (d[time] - G).where(~ctrl)
    names, meta_rows = [], []
    for g in sorted(G[~ctrl].unique()):
        for e in sorted(rel[G == g].dropna().unique()):
            if e == ref:
                continue
            nm = f"sa_{int(g)}_{'m' if e < 0 else 'p'}{abs(int(e))}"
            d[nm] = ((G == g) & (rel == e)).astype(float)
            names.append(nm)
            meta_rows.append((nm, int(g), int(e), int(((G == g) & (rel == e)).sum())))
    fml = f"{y} ~ {' + '.join(names + list(controls))} | {unit} + {time}"
    reg = feols(fml, d, vcov={"CRV1": cluster or unit})
    info = pd.DataFrame(meta_rows, columns=["term", "cohort", "rel", "n"])
    info = info[info["term"].isin(reg.terms)]
    rel_times = sorted(info["rel"].unique())
    b = reg.coef()
    V = reg.vcov()
    W = np.zeros((len(rel_times), len(info)))
    for i, e in enumerate(rel_times):
        m = (info["rel"] == e).to_numpy()
        W[i, m] = info.loc[m, "n"] / info.loc[m, "n"].sum()
    bt = b[info["term"]].to_numpy()
    Vt = V.loc[info["term"], info["term"]].to_numpy()
    return CoefResult(nobs=reg.nobs, terms=[f"rel::{e}" for e in rel_times], beta=W @ bt,
                      vcov_matrix=W @ Vt @ W.T, df_t=reg.df_t,
                      meta={"depvar": y, "rel_times": rel_times, "ref": ref,
                            "estimator": "Sun-Abraham", "cohort_effects": info,
                            "cluster": [cluster or unit]})

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


# ------------------------------------------------------------------ inference helpers
def _cluster_sums(F: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Influence functions summed within clusters (rows = clusters); units if None."""
    if clusters is None:
        return F
    S = np.zeros((int(clusters.max()) + 1, F.shape[1]))
    np.add.at(S, clusters, F)
    return S


def _if_vcov(F: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Covariance of the estimates from unit influence functions, clustered if asked."""
    S = _cluster_sums(F, clusters)
    return S.T @ S / F.shape[0] ** 2


def _multiplier_bootstrap(F: np.ndarray, clusters: np.ndarray | None, draws: int,
                          seed: int | None, weights: str, level: float,
                          chunk: int = 128) -> tuple[np.ndarray, float, np.ndarray]:
    """Multiplier bootstrap of the estimates' sampling error, as R ``did::mboot``.

    Each draw perturbs the (cluster-summed) influence functions with i.i.d. Mammen or
    Rademacher weights. Returns the robust bootstrap SEs (interquartile range over
    1.349, as R did), the critical value of the sup-t uniform band (max over the
    columns of |draw| / SE) and the draws themselves.
    """
    if weights not in ("mammen", "rademacher"):
        raise SpecError(f"bootstrap weights must be 'mammen' or 'rademacher', got {weights!r}")
    if draws < 2:
        raise SpecError("draws must be at least 2")
    S = _cluster_sums(F, clusters)
    n, nc = F.shape[0], S.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((draws, S.shape[1]))
    s5 = np.sqrt(5.0)
    lo, hi, p_lo = -(s5 - 1) / 2, (s5 + 1) / 2, (s5 + 1) / (2 * s5)
    # Mammen: P(lo) = p_lo exactly from one random byte per weight: bytes below
    # floor(256 p_lo) give lo, above it hi, and the 1-in-256 ties are settled by a
    # uniform against the remaining fraction (a quarter of the cost of a float per weight)
    cut = int(np.floor(256 * p_lo))
    frac = 256 * p_lo - cut
    tot = S.sum(axis=0)
    for start in range(0, draws, chunk):
        m = min(chunk, draws - start)
        if weights == "mammen":
            u = rng.integers(0, 256, size=(m, nc), dtype=np.uint8)
            b = u < cut
            tie = np.flatnonzero(u == cut)
            if tie.size:
                b.ravel()[tie] = rng.random(tie.size) < frac
            out[start:start + m] = (hi * tot + (lo - hi) * (b.astype(float) @ S)) / n
        else:
            b = rng.integers(0, 2, size=(m, nc), dtype=np.int8).astype(float)
            out[start:start + m] = (2 * (b @ S) - tot) / n
    q75, q25 = np.quantile(out, [0.75, 0.25], axis=0, method="inverted_cdf")
    se = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    se = np.where(se > np.sqrt(np.finfo(float).eps) * 10, se, np.nan)
    return se, _sup_t_crit(out, se, level), out


def _sup_t_crit(out: np.ndarray, se: np.ndarray, level: float) -> float:
    """Critical value of the sup-t uniform band from bootstrap draws (draws x columns):
    the ``level`` quantile of max over columns of |draw| / SE (columns with a missing
    or zero SE left out; NaN when none is left)."""
    ok = np.isfinite(se)
    if not ok.any():
        return float("nan")
    tmax = np.max(np.abs(out[:, ok]) / se[ok], axis=1)
    return float(np.quantile(tmax, level, method="inverted_cdf"))




@dataclass
class AggregateResult(CoefResult):
    """An aggregation of ATT(g,t): the overall effect first, then by event time, group or
    period (``meta["type"]``). With the bootstrap, ``band_low``/``band_high`` give the
    simultaneous (sup-t) band over the by-values."""

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """term, by, estimate, std_error, ..., and the uniform band when bootstrapped."""
        t = super().tidy(level)
        t.insert(1, "by", self.meta["by_values"])
        if self.meta.get("band_crit") is not None:
            se = t["std_error"]
            t["band_low"] = t["estimate"] - self.meta["band_crit"] * se
            t["band_high"] = t["estimate"] + self.meta["band_crit"] * se
            t.loc[0, ["band_low", "band_high"]] = np.nan
        return t

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Event-study style plot of the dynamic aggregation."""
        from policylab.report.figures.staggered import aggregate_figure

        return aggregate_figure(self.tidy(), kind=self.meta["type"], lang=lang, **kw)


@dataclass
class AttGtResult(Result):
    """Group-time ATTs with their influence functions (one column per cell).

    ``inf`` holds the unit-level influence functions scaled so that the estimation
    error of cell k is approximately ``inf[:, k].mean()``; ``clusters`` maps each unit
    to its cluster (None: the unit itself).
    """

    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    inf: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    unit_group: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pretest: dict[str, float] = field(default_factory=dict)
    clusters: np.ndarray | None = None

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """term "ATT(g,t)", group, time, estimate, std_error, statistic, p_value,
        conf_low, conf_high (pointwise) and, when bootstrapped, band_low/band_high (the
        simultaneous band R did reports)."""
        t = self.cells.copy()
        z = stats.norm.ppf(0.5 + level / 2)
        t["statistic"] = t["estimate"] / t["std_error"]
        t["p_value"] = 2 * stats.norm.sf(np.abs(t["statistic"]))
        t["conf_low"] = t["estimate"] - z * t["std_error"]
        t["conf_high"] = t["estimate"] + z * t["std_error"]
        crit = self.meta.get("band_crit")
        if crit is not None and level == self.meta.get("level"):
            t["band_low"] = t["estimate"] - crit * t["std_error"]
            t["band_high"] = t["estimate"] + crit * t["std_error"]
        t.insert(0, "term", [f"ATT({g},{tt})" for g, tt in zip(t["group"], t["time"])])
        return t

    def summary(self) -> str:
        """The ATT(g,t) table, the pre-test and the inference settings."""
        lines = [super().summary()]
        m = self.meta
        lines.append(f"  control group: {m['control_group']}; method: {m['method']}; "
                     f"base period: {m['base_period']}; anticipation: {m['anticipation']}")
        lines.append(f"  standard errors: {m['se_label']}")
        if self.pretest:
            lines.append(f"  pre-test of parallel trends (Wald, {self.pretest['df']} df): "
                         f"chi2 = {self.pretest['statistic']:.4g}, "
                         f"p = {self.pretest['p_value']:.5f}")
        return "\n".join(lines)

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """ATT(g,t) by period, one panel per cohort (pre-periods in grey)."""
        from policylab.report.figures.staggered import att_gt_figure

        return att_gt_figure(self.tidy(), lang=lang, **kw)

    def aggregate(self, type: str = "dynamic", *, bootstrap: bool | None = None,
                  draws: int | None = None, seed: int | None = None,
                  bootstrap_weights: str | None = None, level: float = 0.95,
                  min_e: float = -np.inf, max_e: float = np.inf) -> AggregateResult:
        """Aggregate to "simple", "dynamic" (event time), "group" or "calendar" effects.

        Standard errors come from the influence functions, including the estimation of
        the group-share weights (as R ``did::aggte``), clustered like ``att_gt``. The
        bootstrap settings default to those given to ``att_gt``; with the bootstrap
        the SEs are the bootstrap's and ``band_low/band_high`` form the uniform band.
        ``min_e``/``max_e`` restrict the event times of the dynamic aggregation.
        """
        bootstrap = self.meta.get("bootstrap", False) if bootstrap is None else bootstrap
        draws = draws or self.meta.get("draws", 999)
        seed = self.meta.get("seed") if seed is None else seed
        bw = bootstrap_weights or self.meta.get("bootstrap_weights", "mammen")
        c = self.cells
        g, t = c["group"].to_numpy(), c["time"].to_numpy()
        att = c["estimate"].to_numpy()
        groups = np.array(sorted(set(g)))
        pg_grp = np.array([np.mean(self.unit_group == gg) for gg in groups])
        pg = pg_grp[np.searchsorted(groups, g)]
        post = t >= g - self.meta.get("anticipation", 0)

        def combine(keep: np.ndarray, weights: np.ndarray, with_wif: bool
                    ) -> tuple[float, np.ndarray]:
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
            es = np.array([e for e in sorted(set(et)) if min_e <= e <= max_e])
            if not len(es):
                raise SpecError(f"no event times between min_e={min_e} and max_e={max_e}")
            for e in es:
                v, f = combine(et == e, pg, True)
                labels.append(int(e))
                ests.append(v)
                infs.append(f)
            nonneg = np.array(labels) >= 0
            if not nonneg.any():
                raise SpecError("the dynamic aggregation needs at least one event time >= 0")
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
        V = _if_vcov(F, self.clusters)
        crit = None
        if bootstrap:
            se_b, _, out = _multiplier_bootstrap(F, self.clusters, draws, seed, bw, level)
            if len(ests) > 1:
                # the band covers the by-values; the overall effect is not part of it
                # (the same draws: a column's draws do not depend on the other columns)
                crit = _sup_t_crit(out[:, 1:], se_b[1:], level)
            sd = np.sqrt(np.diag(V))
            scale = np.divide(se_b, sd, out=np.ones_like(sd), where=sd > 0)
            V = V * np.outer(scale, scale)
        terms = [f"{type}:{lab}" for lab in labels]
        return AggregateResult(
            nobs=self.nobs, terms=terms, beta=np.array(ests), vcov_matrix=V, df_t=None,
            meta={**self.meta, "type": type, "by_values": labels, "band_crit": crit,
                  "bootstrap": bool(bootstrap), "draws": draws, "seed": seed,
                  "bootstrap_weights": bw, "level": level,
                  "rel_times": [lab for lab in labels[1:]] if type == "dynamic" else None,
                  "estimator": "Callaway-Sant'Anna", "ref": None})

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


def _cohorts(df: pd.DataFrame, unit: str, cohort: str) -> pd.Series:
    """First treated period per unit; never treated (0, missing, inf) become 0."""
    g = pd.to_numeric(df[cohort], errors="coerce").replace([np.inf, -np.inf], np.nan)
    nun = g.fillna(0).groupby(df[unit]).nunique()
    if (nun > 1).any():
        bad = nun.index[nun > 1][:5].tolist()
        raise DataError(f"cohort column {cohort!r} varies within units (e.g. {bad}); it must "
                        "hold the unit's first treated period on every row")
    return g.fillna(0).groupby(df[unit]).first()


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
    cluster: str | None = None,
    bootstrap: bool = False,
    draws: int = 999,
    seed: int | None = None,
    bootstrap_weights: str = "mammen",
    level: float = 0.95,
) -> AttGtResult:
    """Callaway-Sant'Anna group-time average treatment effects on a balanced panel.

    Parameters
    ----------
    data : DataFrame or Panel
        Long panel, one row per unit and period.
    y, unit, time : str
        Outcome, unit id and period columns (unit/time default to the Panel's).
    cohort : str
        First treated period; never-treated coded 0, missing or inf. Units treated
        in or before the first period are dropped (no pre-period); units first treated
        after the last period count as never treated.
    control_group : {"never", "notyet"}
        Never-treated units, or never and not-yet-treated units.
    covariates : list of str, optional
        Time-invariant (first-period) covariates; ``method`` chooses outcome regression
        ("reg"), IPW ("ipw") or doubly robust ("dr", default: Sant'Anna and Zhao's
        traditional DR estimator, which is what R ``did`` calls). Without covariates
        all three are the unconditional DID.
    anticipation : int
        Periods of anticipation.
    base_period : {"varying", "universal"}
        Pre-treatment cells compare t with t-1 ("varying", the R default) or every cell
        uses g - 1 - anticipation.
    cluster : str, optional
        Column constant within units (e.g. province) to cluster on; default: units.
        Analytic SEs sum influence functions within clusters; the bootstrap draws one
        weight per cluster.
    bootstrap : bool
        Multiplier bootstrap (R did's ``mboot``): bootstrap SEs and the uniform
        (sup-t) band in ``band_low``/``band_high``.
    draws, seed, bootstrap_weights : int, int, {"mammen", "rademacher"}
        Bootstrap draws, seed and multiplier distribution.
    level : float
        Coverage of the uniform band.

    Returns
    -------
    AttGtResult
        ``.tidy()`` (one row per ATT(g,t)), ``.aggregate(kind)``, ``.pretest``
        (Wald test that all pre-treatment ATT(g,t) are zero), ``.plot()``.
    """
    df, unit, time = _prepare(data, y, unit, time, cohort)
    if control_group not in ("never", "notyet"):
        raise SpecError("control_group must be 'never' or 'notyet'")
    if base_period not in ("varying", "universal"):
        raise SpecError("base_period must be 'varying' or 'universal'")
    if method not in ("dr", "ipw", "reg"):
        raise SpecError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    if df.duplicated([unit, time]).any():
        raise DataError(f"duplicate ({unit}, {time}) rows: att_gt needs one row per unit "
                        "and period")
    wide = df.pivot(index=unit, columns=time, values=y)
    if wide.isna().any().any():
        raise DataError("att_gt needs a balanced panel without missing outcomes; drop units "
                        "with gaps or use did_imputation(), which handles unbalanced panels")
    periods = wide.columns.to_numpy()
    Gs = _cohorts(df, unit, cohort).reindex(wide.index)
    notes: list[str] = []
    late = Gs > periods[-1]
    if late.any():
        notes.append(f"{int(late.sum())} units first treated after the last period "
                     f"({periods[-1]}) are treated as never treated")
        Gs = Gs.where(~late, 0)
    early = (Gs > 0) & (Gs <= periods[0] + anticipation)
    if early.any():
        notes.append(f"dropped {int(early.sum())} units already treated in the first period "
                     "(no pre-treatment period to compare with)")
        wide, Gs = wide[~early.to_numpy()], Gs[~early]
    G = Gs.to_numpy(float)
    Y = wide.to_numpy(float)
    cl_codes = None
    if cluster is not None and cluster != unit:
        require_columns(df, [cluster])
        per_unit = df.groupby(unit)[cluster].nunique()
        if (per_unit > 1).any():
            raise DataError(f"cluster column {cluster!r} varies within units; att_gt "
                            "clusters at a level that contains whole units")
        cl_codes = pd.factorize(df.groupby(unit)[cluster].first().reindex(wide.index))[0]
    Xall = None
    if covariates:
        first = df[df[time] == periods[0]].set_index(unit).reindex(wide.index)
        Xall = np.column_stack([np.ones(len(wide)), first[list(covariates)].to_numpy(float)])
        if np.isnan(Xall).any():
            raise DataError("covariates are missing in the first period for some units")
    groups = sorted(g for g in set(G) if g > 0)
    if not groups:
        raise EstimationError("no treated cohort with a pre-period")
    n = len(G)
    pos = {p: j for j, p in enumerate(periods)}
    cells, infs = [], []
    for g in groups:
        for j, tt in enumerate(periods):
            if base_period == "varying" and tt < g - anticipation:
                if j == 0:
                    continue
                base = periods[j - 1]
            else:
                base = g - 1 - anticipation
            if base not in pos or base == tt:
                continue
            if control_group == "never":
                ctrl = G == 0
            else:
                ctrl = (G == 0) | ((G > max(tt, base) + anticipation) & (G != g))
            treat = G == g
            keep = treat | ctrl
            if ctrl.sum() == 0:
                continue
            dy = (Y[:, j] - Y[:, pos[base]])[keep]
            d = treat[keep].astype(float)
            att, inf_sub = _att_2x2(dy, d, None if Xall is None else Xall[keep], method)
            inf = np.zeros(n)
            inf[keep] = inf_sub * n / keep.sum()
            cells.append({"group": int(g), "time": int(tt), "estimate": att})
            infs.append(inf)
    F = np.column_stack(infs)
    c = pd.DataFrame(cells)
    V = _if_vcov(F, cl_codes)
    c["std_error"] = np.sqrt(np.diag(V))
    crit = None
    if bootstrap:
        se_b, crit, _ = _multiplier_bootstrap(F, cl_codes, draws, seed, bootstrap_weights,
                                              level)
        c["std_error"] = se_b
    pre = (c["time"] < c["group"] - anticipation).to_numpy()
    pretest: dict[str, float] = {}
    if pre.any():
        a = c.loc[pre, "estimate"].to_numpy()
        try:
            W = float(a @ np.linalg.solve(V[np.ix_(pre, pre)], a))
            pretest = {"statistic": W, "df": int(pre.sum()),
                       "p_value": float(stats.chi2.sf(W, pre.sum()))}
        except np.linalg.LinAlgError:
            notes.append("the pre-test is not available: singular covariance of the "
                         "pre-treatment ATT(g,t)")
    se_label = ("multiplier bootstrap, " if bootstrap else "influence function, ") + (
        f"clustered by {cluster}" if cl_codes is not None else f"clustered by {unit}")
    res = AttGtResult(
        nobs=int(Y.size), cells=c, inf=F, unit_group=G, pretest=pretest, clusters=cl_codes,
        meta={"depvar": y, "estimator": "Callaway-Sant'Anna",
              "control_group": control_group,
              "method": method if covariates else "unconditional",
              "covariates": list(covariates or []), "anticipation": anticipation,
              "base_period": base_period, "unit": unit, "time": time,
              "cluster": [cluster or unit], "n_units": n,
              "n_clusters": int(cl_codes.max()) + 1 if cl_codes is not None else n,
              "bootstrap": bootstrap, "draws": draws, "seed": seed,
              "bootstrap_weights": bootstrap_weights, "level": level, "band_crit": crit,
              "se_label": se_label})
    for note in notes:
        res.warn(note)
    return res


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

"""Event studies (leads and lags of adoption) and raw parallel-trend means."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.errors import EstimationError, SpecError
from policylab.estimators.design import COHORT_COL, Design, as_design
from policylab.estimators.feols import feols
from policylab.estimators.formula import model_formula
from policylab.estimators.result import CoefResult, Result
from policylab.messages import Message, message_key
from policylab.validation import as_int, as_name, as_names, check_window

__all__ = ["event_study", "EventStudyResult", "parallel_trends", "ParallelTrendsResult",
           "rel_name"]


def rel_name(e: int) -> str:
    """Column name of the relative-time dummy for event time ``e`` (pre_3, post_0 ...)."""
    return f"pre_{-e}" if e < 0 else f"post_{e}"


@dataclass
class EventStudyResult(CoefResult):
    """Leads and lags relative to adoption; the reference period is omitted.

    ``meta["rel_times"]`` lists the event times of ``terms`` in order; ``meta["ref"]``
    the omitted period; ``n_by_period`` the treated observations behind each event time.
    """

    n_by_period: dict[int, int] = field(default_factory=dict)
    regression: Any = None

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per event time (the reference period included with estimate 0)."""
        t = super().tidy(level)
        t.insert(1, "rel_time", self.meta["rel_times"])
        ref = pd.DataFrame({"term": [rel_name(self.meta["ref"])], "rel_time": [self.meta["ref"]],
                            "estimate": [0.0], "std_error": [np.nan], "statistic": [np.nan],
                            "p_value": [np.nan], "conf_low": [0.0], "conf_high": [0.0]})
        t = pd.concat([t, ref], ignore_index=True).sort_values("rel_time", ignore_index=True)
        t["n_obs"] = t["rel_time"].map(self.n_by_period).fillna(0).astype(int)
        return t

    def vcov(self, vcov: Any = None, *, ssc: Any = None) -> Any:
        """The covariance matrix of the leads and lags; or, given a vcov, the event study
        re-studentised with it (see :meth:`policylab.FeolsResult.vcov`)."""
        if vcov is None and ssc is None:
            return super().vcov()
        if self.regression is None:
            raise SpecError("this event study keeps no regression to re-studentise")
        reg = self.regression.vcov(vcov, ssc=ssc)
        idx = [reg.terms.index(t) for t in self.terms]
        meta = {**self.meta, **{k: reg.meta[k] for k in ("vcov", "vcov_label", "cluster",
                                                          "ssc")}}
        meta.pop("vcov_default", None)
        if isinstance(meta.get("design"), dict) and vcov is not None:
            meta["design"] = {**meta["design"], "cluster": None, "vcov": str(vcov)}
        few = "feols.few_clusters"  # the new variance's own count of clusters
        warns = [w for w in self.warnings if message_key(w) != few]
        warns += [w for w in reg.warnings if message_key(w) == few and w not in warns]
        return replace(self, meta=meta, warnings=warns, regression=reg, df_t=reg.df_t,
                       vcov_matrix=reg.vcov_matrix[np.ix_(idx, idx)])

    @property
    def lead_terms(self) -> list[str]:
        """Terms of the leads (event times before adoption, reference excluded)."""
        return [t for t, e in zip(self.terms, self.meta["rel_times"]) if e < 0]

    def pretrend_test(self, method: str = "wald", *, draws: int = 999,
                      seed: int | None = None, executor: Any = None) -> dict[str, Any]:
        """Joint test that every lead is zero.

        Parameters
        ----------
        method : {"wald", "wild", "ri"}
            ``"wald"``: the cluster-robust F test (Stata ``testparm``); over-rejects with
            few treated clusters. ``"wild"``: restricted wild cluster bootstrap of the
            same statistic (Webb weights). ``"ri"``: randomization inference over
            adoption dates on the years before the first adoption (exact when the
            assignment groups are exchangeable). See docs/validity.md.
        draws, seed
            Bootstrap / randomization draws and their seed (``"wild"``, ``"ri"``).
        executor : optional
            Where the randomization draws run (``"ri"``; see :mod:`policylab.execution`).

        Returns
        -------
        dict
            ``method``, ``statistic`` (F form), ``p_value``, ``df1`` (number of leads)
            and, for the resampling methods, ``draws``.
        """
        if not self.lead_terms:
            raise EstimationError("no leads in the window; widen window=(-k, m)")
        if method == "wald":
            return {"method": "wald", **self.wald_test(self.lead_terms)}
        if method == "wild":
            from policylab.inference.joint_wild import joint_wild_test

            r = joint_wild_test(self, self.lead_terms, draws=draws, seed=seed)
            return {"method": "wild", "statistic": r.wald_statistic, "p_value": r.p_value,
                    "df1": r.df_num, "draws": r.meta["draws"]}
        if method == "ri":
            from policylab.inference.pretrend_ri import pretrend_ri_test

            r = pretrend_ri_test(self, draws=draws, seed=seed, executor=executor)
            return {"method": "ri", "statistic": r.statistic, "p_value": r.p_value,
                    "df1": len(r.meta["leads"]), "draws": r.meta["draws"]}
        raise SpecError(f"method={method!r}: use 'wald', 'wild' or 'ri'")

    def plot(self, kind: str = "band", lang: str = "en", level: float = 0.95, **kw: Any) -> Any:
        """Coefficient plot with CIs (``kind="bars"`` or ``"band"``), zero line and a
        dashed line at adoption."""
        from policylab.report.figures.event_study import event_study_figure

        return event_study_figure(self.tidy(level), kind=kind, lang=lang,
                                  ref=self.meta["ref"], **kw)


def event_study(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    *,
    cohort: str | None = None,
    treat: str | None = None,
    roster: str | None = None,
    date: str = "announcement",
    assign: str | None = None,
    window: tuple[int, int] = (-5, 5),
    ref: int = -1,
    bin_endpoints: bool = True,
    controls: Sequence[str] = (),
    fe: str | Sequence[str] | None = None,
    cluster: str | None = None,
    vcov: Any = None,
    weights: str | None = None,
) -> EventStudyResult:
    """Dynamic DID: ``y ~ sum_e 1[t - cohort = e] + controls | unit + time``.

    Parameters
    ----------
    window : (int, int)
        Event times (-k, m) estimated. With ``bin_endpoints`` (default) earlier and
        later times are pooled into the endpoints; otherwise treated observations outside
        the window are dropped (and counted in ``meta["dropped"]``). A binned window
        wider than the data is shrunk to it, with a warning: ``meta["window"]`` is the
        window estimated, ``meta["window_requested"]`` the one given here.
    ref : int
        Omitted reference period (default -1; e.g. ``-k`` to use the first period).
    bin_endpoints : bool
        Pool event times beyond the window into the endpoint dummies (default).
    controls, fe, cluster, vcov, weights, treat, cohort, roster, date, assign
        As in :func:`policylab.did` (or a Design as ``data``): default fixed effects
        unit and time, default clusters at the assignment level; weights make it the
        weighted regression (WLS) of the same dummies. Never-treated units have every
        dummy 0.

    Returns
    -------
    EventStudyResult
        ``tidy()`` (one row per event time, the reference with estimate 0, and the
        treated observations behind each in ``n_obs``), ``pretrend_test()``,
        ``plot(kind="bars" | "band", lang="en" | "zh")``; ``coef()``/``vcov()`` hold the
        lead and lag coefficients in the order of ``meta["rel_times"]``.
    """
    y, controls, ref = as_name(y, "y"), as_names(controls, "controls"), as_int(ref, "ref")
    lo, hi = window = check_window(window)
    if not (lo < 0 <= hi) or not lo <= ref <= hi:
        raise SpecError(f"window={window} must satisfy -k < 0 <= m and contain ref={ref}")
    design = as_design(data, "event_study", unit=unit, time=time, treat=treat,
                       cohort=cohort, roster=roster, date=date, assign=assign,
                       controls=controls, fe=fe, cluster=cluster, weights=weights)
    if vcov is not None and design.cluster is not None:
        raise SpecError("give either cluster= or vcov=, not both")
    df = design.df
    require_columns(df, [y], "outcome")
    c = df[COHORT_COL].to_numpy()
    tt = df[design.time].to_numpy()
    # units adopting after the last period are never treated within the sample (as in
    # R did); this also covers "never" coded as a far-future sentinel such as 9999
    rel = np.where((c > 0) & (c <= tt.max()), tt - c, np.nan)
    clipped = []
    if bin_endpoints and np.isfinite(rel).any():
        # a window wider than the data would leave empty endpoint bins: shrink it
        rmin, rmax = int(np.nanmin(rel)), int(np.nanmax(rel))
        if lo < rmin and rmin < ref:
            clipped.append(f"leads before {rmin}")
            lo = rmin
        if hi > rmax and rmax >= 0:
            clipped.append(f"lags after {rmax}")
            hi = rmax
    dropped = 0
    if bin_endpoints:
        rel = np.where(np.isnan(rel), np.nan, np.clip(rel, lo, hi))
    else:
        outside = ~np.isnan(rel) & ((rel < lo) | (rel > hi))
        dropped = int(outside.sum())
        df = df.loc[~outside].copy()
        rel = rel[~outside]
    times = [e for e in range(lo, hi + 1) if e != ref]
    names = [rel_name(e) for e in times]
    clash = [n for n in names if n in df.columns]
    if clash:
        raise SpecError(f"columns {clash} exist in the data; rename them (event-study dummies "
                        "use these names)")
    from policylab.engine.passes import fill_indicator

    # each dummy is written straight into feols' design matrix (no n x k intermediate);
    # a partial, not a lambda, so that the result pickles (a study's forked step lanes)
    dummies = {n: partial(fill_indicator, rel, float(e)) for n, e in zip(names, times)}
    relv = rel[~np.isnan(rel)].astype(np.int64)
    counts = np.bincount(relv - lo, minlength=hi - lo + 1) if relv.size else np.zeros(
        hi - lo + 1, dtype=np.int64)
    n_by = {int(e): int(counts[e - lo]) for e in range(lo, hi + 1)}
    empty = [e for e in times if n_by[e] == 0]
    if empty:
        raise EstimationError(f"no treated observations at event times {empty}; narrow the "
                              f"window={window}")
    fe_ = list(design.fe)
    used_vcov = vcov if vcov is not None else {"CRV1": design.cluster_col}
    fml = model_formula(df.columns, [y], names + list(design.controls), fe_)
    reg = feols(fml, df, vcov=used_vcov, weights=design.weights, _columns=dummies)
    kept = [n for n in names if n in reg.terms]
    idx = [reg.terms.index(n) for n in kept]
    res = EventStudyResult(
        nobs=reg.nobs,
        meta={**reg.meta, "rel_times": [times[names.index(n)] for n in kept], "ref": ref,
              "window": window, "window_requested": window, "binned": bin_endpoints, "treat_design": design.facts,
              "design": design.meta(nobs=reg.nobs, **({} if vcov is None else {
                  "cluster": None, "vcov": str(vcov)})),
              "unit": design.unit, "time": design.time, "assign": design.assign},
        warnings=list(reg.warnings),
        terms=kept, beta=reg.beta[idx], vcov_matrix=reg.vcov_matrix[np.ix_(idx, idx)],
        df_t=reg.df_t, n_by_period=n_by, regression=reg,
    )
    if dropped:
        res.meta["dropped"] = {**res.meta.get("dropped", {}),
                               "treated outside the window": dropped}
    if clipped:
        res.warn(Message("event.window_clipped", window=window, clipped=", ".join(clipped),
                         lo=lo, hi=hi))
        # the window estimated (pretrend tests read it); the asked one: window_requested
        res.meta["window"] = (lo, hi)
    _event_warnings(res, design)
    return res


def _event_warnings(res: EventStudyResult, design: Design) -> None:
    """The referee's warnings: few clusters, always-treated, switching off, staggering."""
    facts = design.facts
    if design.dropped:
        res.meta["dropped"] = {**design.dropped, **res.meta.get("dropped", {})}
    if facts.get("treatment_missing_rows"):
        res.warn(Message("event.treatment_missing", n=facts["treatment_missing_rows"]))
    if facts["n_treated_groups"] < 10:
        res.warn(Message("event.few_treated_clusters", n=facts["n_treated_groups"],
                         level=design.assign))
    if facts["always_treated_units"]:
        res.warn(Message("event.always_treated", units=facts["always_treated_units"][:5]))
    if facts["switching_off_units"]:
        res.warn(Message("event.switching_off", units=facts["switching_off_units"][:5]))
    if facts["staggered"]:
        res.warn(Message("event.staggered"))


@dataclass
class ParallelTrendsResult(Result):
    """Mean outcome by group and period (``means``: group, time, mean, sd, n)."""

    means: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """The group means by period."""
        return self.means.copy()

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Treated vs control means by period, with a dashed line at adoption."""
        from policylab.report.figures.event_study import parallel_trends_figure

        return parallel_trends_figure(self.means, lang=lang, policy_time=self.meta.get(
            "policy_time"), normalized=self.meta.get("normalize"), **kw)


def parallel_trends(
    data: Any, y: str, treat_group: str, time: str | None = None, *,
    normalize: int | None = None, policy_time: int | None = None, lang: str = "en",
) -> ParallelTrendsResult:
    """Raw parallel-trend check: mean of ``y`` by treated group and period.

    ``normalize=base_year`` subtracts each group's mean in that year, so both lines start
    from zero there.
    """
    time = time or (data.time if isinstance(data, Panel) else None)
    if time is None:
        raise SpecError("parallel_trends needs time= (or a Panel)")
    df = data.df if isinstance(data, Panel) else as_pandas(data)
    require_columns(df, [y, treat_group, time])
    g = df.groupby([treat_group, time])[y]
    means = pd.DataFrame({"mean": g.mean(), "sd": g.std(), "n": g.count()}).reset_index()
    means = means.rename(columns={treat_group: "group", time: "time"})
    if normalize is not None:
        base = means[means["time"] == normalize].set_index("group")["mean"]
        if len(base) < means["group"].nunique():
            raise SpecError(f"normalize={normalize} is not a period of every group")
        means["mean"] = means["mean"] - means["group"].map(base)
    if policy_time is None and "did" in df.columns and df["did"].isin([0, 1]).all():
        treated = df.loc[df["did"] == 1, time]
        policy_time = int(treated.min()) if len(treated) else None
    return ParallelTrendsResult(nobs=len(df), means=means,
                                meta={"depvar": y, "group": treat_group, "normalize": normalize,
                                      "policy_time": policy_time, "lang": lang})

"""TWFE and heterogeneity-robust event studies side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from policylab.estimators.result import Result

__all__ = ["compare_estimators", "ComparisonResult"]


@dataclass
class ComparisonResult(Result):
    """Event-time estimates of several estimators (``estimates``: estimator, rel_time,
    estimate, std_error, conf_low, conf_high) and each estimator's Result."""

    estimates: pd.DataFrame = field(default_factory=pd.DataFrame)
    results: dict[str, Any] = field(default_factory=dict)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Long table of event-time estimates by estimator."""
        return self.estimates.copy()

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """All event studies on one figure (estimators slightly offset)."""
        from policylab.report.figures.staggered import comparison_figure

        return comparison_figure(self.estimates, lang=lang, **kw)


def compare_estimators(data: Any, y: str, unit: str | None = None, time: str | None = None,
                       cohort: str = "cohort", *, window: tuple[int, int] = (-4, 4),
                       control_group: str = "notyet", controls: Sequence[str] = (),
                       fe: str | Sequence[str] | None = None, cluster: str | None = None,
                       weights: str | None = None,
                       estimators: tuple[str, ...] = ("twfe", "sun_abraham", "att_gt",
                                                      "did_imputation")) -> ComparisonResult:
    """Run the TWFE event study, Sun-Abraham, Callaway-Sant'Anna (dynamic) and the
    imputation estimator on the same data and collect their event-time estimates.

    Parameters
    ----------
    data, y, unit, time, cohort
        Long panel; cohort = first treated period (never treated 0, missing or inf).
    window : (int, int)
        Event times kept in the comparison (and the TWFE event study's window).
    control_group : {"notyet", "never"}
        Callaway-Sant'Anna's comparison units.
    controls : list of str
        Covariates: regressors of the TWFE event study and Sun-Abraham, controls of
        the imputation model, and ``covariates`` of att_gt (which conditions on their
        first-period values, doubly robust).
    fe : str or list of str, optional
        Absorbed fixed effects of the TWFE event study, Sun-Abraham and the
        imputation model (default unit + time; e.g. ``"unit + region^year"``).
        att_gt has no fixed effects (its long differences against a base period
        remove unit and period effects; finer ones such as region-by-year are not
        absorbed): with ``fe`` given the comparison carries a warning saying so.
    cluster : str, optional
        Cluster column of every estimator (default: each estimator's default, the
        unit or assignment level). att_gt needs it constant within units.
    weights : str, optional
        Weights passed to every estimator: observation weights of the regressions
        and the imputation model, sampling weights of att_gt (which needs them
        constant within units and raises a DataError naming the column otherwise).
    estimators : tuple of str
        Any of "twfe", "sun_abraham", "att_gt", "did_imputation".

    Returns
    -------
    ComparisonResult
        ``estimates`` (estimator, rel_time, estimate, std_error, conf_low, conf_high)
        and each estimator's Result in ``results``.
    """
    from policylab.estimators.event_study import event_study
    from policylab.estimators.imputation import _fe_terms, did_imputation
    from policylab.estimators.staggered import att_gt, sun_abraham

    lo, hi = window
    frames, results = [], {}
    controls = list(controls)
    # one parsed list of FE terms for all: event_study takes a list, not a formula
    fe_list = None if fe is None else _fe_terms(fe, unit or "", time or "")
    notes = []

    def add(name: str, rel: list[int], tidy: pd.DataFrame) -> None:
        t = tidy.assign(estimator=name, rel_time=rel)
        frames.append(t[(t.rel_time >= lo) & (t.rel_time <= hi)][
            ["estimator", "rel_time", "estimate", "std_error", "conf_low", "conf_high"]])

    if "twfe" in estimators:
        r = event_study(data, y=y, unit=unit, time=time, cohort=cohort, window=window,
                        controls=controls, fe=fe_list, cluster=cluster, weights=weights)
        results["TWFE"] = r
        t = r.tidy()
        add("TWFE", t["rel_time"].tolist(), t)
    if "sun_abraham" in estimators:
        r = sun_abraham(data, y=y, unit=unit, time=time, cohort=cohort, controls=controls,
                        fe=fe_list, cluster=cluster, weights=weights)
        results["Sun-Abraham"] = r
        add("Sun-Abraham", list(r.meta["rel_times"]), r.tidy())
    if "att_gt" in estimators:
        r = att_gt(data, y=y, unit=unit, time=time, cohort=cohort,
                   control_group=control_group, covariates=controls or None,
                   cluster=cluster, weights=weights).aggregate("dynamic")
        results["Callaway-Sant'Anna"] = r
        add("Callaway-Sant'Anna", r.meta["by_values"][1:], r.tidy().iloc[1:])
        if fe_list is not None:
            notes.append(f"fe={' + '.join(fe_list)!r} applies to the TWFE, Sun-Abraham and "
                         "imputation estimates only: att_gt (Callaway-Sant'Anna) takes no "
                         "fixed effects (its long differences remove unit and period "
                         "effects; finer ones such as region-by-year are not absorbed)")
    if "did_imputation" in estimators:
        r = did_imputation(data, y=y, unit=unit, time=time, cohort=cohort, controls=controls,
                           fe=fe_list, cluster=cluster, weights=weights)
        results["Imputation (BJS)"] = r
        add("Imputation (BJS)", r.meta["rel_times"], r.tidy().iloc[1:])
    est = pd.concat(frames, ignore_index=True)
    res = ComparisonResult(nobs=max(getattr(r, "nobs", 0) for r in results.values()),
                           estimates=est, results=results,
                           meta={"depvar": y, "window": window, "controls": controls,
                                 "fe": fe_list, "cluster": cluster, "weights": weights})
    for note in notes:
        res.warn(note)
    return res

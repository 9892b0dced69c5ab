"""TWFE and heterogeneity-robust event studies side by side."""

from __future__ import annotations

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
                       control_group: str = "notyet",
                       estimators: tuple[str, ...] = ("twfe", "sun_abraham", "att_gt",
                                                      "did_imputation")) -> ComparisonResult:
    """Run the TWFE event study, Sun-Abraham, Callaway-Sant'Anna (dynamic) and the
    imputation estimator on the same data and collect their event-time estimates."""
    from policylab.estimators.event_study import event_study
    from policylab.estimators.imputation import did_imputation
    from policylab.estimators.staggered import att_gt, sun_abraham

    lo, hi = window
    frames, results = [], {}

    def add(name: str, rel: list[int], tidy: pd.DataFrame) -> None:
        t = tidy.assign(estimator=name, rel_time=rel)
        frames.append(t[(t.rel_time >= lo) & (t.rel_time <= hi)][
            ["estimator", "rel_time", "estimate", "std_error", "conf_low", "conf_high"]])

    if "twfe" in estimators:
        r = event_study(data, y=y, unit=unit, time=time, cohort=cohort, window=window)
        results["TWFE"] = r
        t = r.tidy()
        add("TWFE", t["rel_time"].tolist(), t)
    if "sun_abraham" in estimators:
        r = sun_abraham(data, y=y, unit=unit, time=time, cohort=cohort)
        results["Sun-Abraham"] = r
        add("Sun-Abraham", list(r.meta["rel_times"]), r.tidy())
    if "att_gt" in estimators:
        r = att_gt(data, y=y, unit=unit, time=time, cohort=cohort,
                   control_group=control_group).aggregate("dynamic")
        results["Callaway-Sant'Anna"] = r
        add("Callaway-Sant'Anna", r.meta["by_values"][1:], r.tidy().iloc[1:])
    if "did_imputation" in estimators:
        r = did_imputation(data, y=y, unit=unit, time=time, cohort=cohort)
        results["Imputation (BJS)"] = r
        add("Imputation (BJS)", r.meta["rel_times"], r.tidy().iloc[1:])
    est = pd.concat(frames, ignore_index=True)
    return ComparisonResult(nobs=max(getattr(r, "nobs", 0) for r in results.values()),
                            estimates=est, results=results, meta={"depvar": y, "window": window})

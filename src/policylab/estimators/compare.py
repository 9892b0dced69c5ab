"""TWFE and heterogeneity-robust event studies side by side."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from policylab.errors import PolicyLabError, SpecError
from policylab.estimators.design import Design, as_design, model_fe_terms
from policylab.estimators.result import Result
from policylab.messages import Message, reason_of

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
                       cohort: str | None = None, *, window: tuple[int, int] = (-4, 4),
                       control_group: str = "notyet", controls: Sequence[str] = (),
                       fe: str | Sequence[str] | None = None, cluster: str | None = None,
                       weights: str | None = None,
                       estimators: tuple[str, ...] = ("twfe", "sun_abraham", "att_gt",
                                                      "did_imputation"),
                       fitted: Mapping[str, Any] | None = None) -> ComparisonResult:
    """Run the TWFE event study, Sun-Abraham, Callaway-Sant'Anna (dynamic) and the
    imputation estimator on the same data and collect their event-time estimates.

    Parameters
    ----------
    data, y, unit, time, cohort
        Long panel; cohort = first treated period (never treated 0, missing or inf;
        default column "cohort"). ``data`` may be a
        :class:`~policylab.estimators.design.Design`: every estimator then gets that
        same Design (controls, fixed effects, cluster, weights, sample), and one that
        cannot honour part of it (or raises a policylab error, e.g. no never-treated
        units) is not run; ``meta["not_run"]`` and a warning say which and why.
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
        absorbed): with ``fe`` given the comparison carries a warning saying so (with
        a Design, att_gt is not run instead).
    cluster : str, optional
        Cluster column of every estimator (default: each estimator's default, the
        unit or assignment level). att_gt needs it constant within units.
    weights : str, optional
        Weights passed to every estimator: observation weights of the regressions
        and the imputation model, sampling weights of att_gt (which needs them
        constant within units and raises a DataError naming the column otherwise).
    estimators : tuple of str
        Any of "twfe", "sun_abraham", "att_gt", "did_imputation".
    fitted : mapping of str to Result, optional
        Results already fitted, by the keys of ``estimators``, used instead of fitting
        that estimator again (a study that has its event study and att_gt already):
        ``"twfe"`` an :func:`~policylab.event_study` result, ``"att_gt"`` the
        group-time result of :func:`~policylab.att_gt` (aggregated here by event
        time), the others their estimator's result. Each must be fitted on the same
        data and model as this call would fit it (e.g. the event study with this
        ``window`` and ``ref=-1``); the outcome and the settings a result records are
        checked and a SpecError names the first that differs.

    Returns
    -------
    ComparisonResult
        ``estimates`` (estimator, rel_time, estimate, std_error, conf_low, conf_high)
        and each estimator's Result in ``results``.
    """
    lo, hi = window
    frames, results, not_run = [], {}, {}
    notes: list[str] = []
    if isinstance(data, Design):
        as_design(data, "compare_estimators", unit=unit, time=time, cohort=cohort,
                  controls=controls, fe=fe, cluster=cluster, weights=weights)
        runs = _design_runs(data, y, window, control_group)
        meta_model = {"controls": list(data.controls), "fe": list(data.fe),
                      "cluster": data.cluster_col, "weights": data.weights}
    else:
        controls = list(controls)
        # one parsed list of FE terms for all: event_study takes a list, not a formula
        fe_list = None if fe is None else model_fe_terms(fe, unit or "", time or "")
        runs = _keyword_runs(data, y, unit, time, cohort or "cohort", window, control_group,
                             controls, fe_list, cluster, weights)
        meta_model = {"controls": controls, "fe": fe_list, "cluster": cluster,
                      "weights": weights}
        if fe_list is not None and "att_gt" in estimators:
            notes.append(Message("compare.fe_not_in_att_gt", fe=" + ".join(fe_list)))
    given = _checked_fitted(fitted, y, window, control_group,
                            data.record() if isinstance(data, Design) else None)
    for key, name, run, rel_of, skip_first in runs:
        if key not in estimators:
            continue
        if key in given:
            run = _reuse(key, given[key], run)
        try:
            r = run()
        except PolicyLabError as exc:
            # with a Design, an estimator that cannot honour it (or has no comparison
            # units) is listed as not run, never run on another model
            if not isinstance(data, Design):
                raise
            not_run[name] = reason_of(exc)
            notes.append(Message("compare.not_run", name=name, why=reason_of(exc)))
            continue
        results[name] = r
        t = r.tidy().iloc[1:] if skip_first else r.tidy()
        t = t.assign(estimator=name, rel_time=rel_of(r))
        frames.append(t[(t.rel_time >= lo) & (t.rel_time <= hi)][
            ["estimator", "rel_time", "estimate", "std_error", "conf_low", "conf_high"]])
    if not frames:
        raise SpecError(f"no estimator of {list(estimators)} could run: {not_run}")
    est = pd.concat(frames, ignore_index=True)
    first = next(iter(results.values()))
    res = ComparisonResult(nobs=max(getattr(r, "nobs", 0) for r in results.values()),
                           estimates=est, results=results,
                           meta={"depvar": y, "window": window, **meta_model,
                                 "not_run": not_run, "design": first.meta.get("design")})
    for note in notes:
        res.warn(note)
    return res


_Run = tuple[str, str, Callable[[], Any], Callable[[Any], list[int]], bool]

_KEYS = ("twfe", "sun_abraham", "att_gt", "did_imputation")


def _reuse(key: str, result: Any, run: Callable[[], Any]) -> Callable[[], Any]:
    """The run of ``key`` that returns the given result instead of fitting again
    (att_gt's group-time result aggregated by event time as the fitted run does)."""
    if key == "att_gt":
        return lambda: result.aggregate("dynamic")
    return lambda: result


def _checked_fitted(fitted: Mapping[str, Any] | None, y: str, window: tuple[int, int],
                    control_group: str, model: dict[str, Any] | None) -> dict[str, Any]:
    """The already-fitted results by key, each checked against what this comparison
    would fit (outcome, the settings its ``meta`` records and, with a Design, the
    model of its ``meta["design"]``): a reused result that differs would make the
    comparison silently compare other models."""
    if not fitted:
        return {}
    out = dict(fitted)
    unknown = [k for k in out if k not in _KEYS]
    if unknown:
        raise SpecError(f"fitted has keys {unknown}; use the estimator keys {list(_KEYS)}")
    expect: dict[str, dict[str, Any]] = {
        # the event study's window may have been shrunk to the data (meta["window"]
        # then differs), so its reference period and binning are what is checked
        "twfe": {"ref": -1, "binned": True},
        "att_gt": {"control_group": control_group, "base_period": "varying",
                   "anticipation": 0, "bootstrap": False},
    }
    for key, r in out.items():
        meta = getattr(r, "meta", None)
        if not isinstance(meta, dict):
            raise SpecError(f"fitted[{key!r}] is a {type(r).__name__}, not a fitted "
                            "result; pass what the estimator returned")
        if key == "att_gt" and not hasattr(r, "aggregate"):
            raise SpecError("fitted['att_gt'] must be att_gt's group-time result (not "
                            "an aggregation): compare_estimators aggregates it by event time")
        have = {**meta, "window": _asked_window(r)}
        want = {"depvar": y, **expect.get(key, {}),
                **({"window": tuple(window)} if key == "twfe" else {})}
        rec = meta.get("design") if isinstance(meta.get("design"), dict) else {}
        for part in ("controls", "fe", "cluster", "weights", "sample") if model else ():
            have[f"design {part}"], want[f"design {part}"] = rec.get(part), model[part]
        for k, v in want.items():
            if k in have and have[k] != v:
                raise SpecError(f"fitted[{key!r}] has {k}={have[k]!r} where this "
                                f"comparison fits {k}={v!r}; refit it so, or leave "
                                f"{key!r} out of fitted")
    return out


def _asked_window(r: Any) -> Any:
    """The window an event study was asked for: ``meta["window_requested"]``; for
    results without it (fitted before event_study recorded it), the window_clipped
    warning's when the window was shrunk to the data, else ``meta["window"]``."""
    if r.meta.get("window_requested") is not None:
        return tuple(r.meta["window_requested"])
    for w in getattr(r, "warnings", ()):
        if getattr(w, "key", None) == "event.window_clipped":
            return tuple(w.params["window"])
    win = r.meta.get("window")
    return tuple(win) if win is not None else None


def _design_runs(design: Design, y: str, window: tuple[int, int],
                 control_group: str) -> list[_Run]:
    """(key, name, run, event times of the result, skip its first tidy row) with every
    estimator given the same Design."""
    from policylab.estimators.event_study import event_study
    from policylab.estimators.imputation import did_imputation
    from policylab.estimators.staggered import att_gt, sun_abraham

    return [
        ("twfe", "TWFE", lambda: event_study(design, y=y, window=window),
         lambda r: r.tidy()["rel_time"].tolist(), False),
        ("sun_abraham", "Sun-Abraham", lambda: sun_abraham(design, y=y),
         lambda r: list(r.meta["rel_times"]), False),
        ("att_gt", "Callaway-Sant'Anna",
         lambda: att_gt(design, y=y, control_group=control_group).aggregate("dynamic"),
         lambda r: r.meta["by_values"][1:], True),
        ("did_imputation", "Imputation (BJS)", lambda: did_imputation(design, y=y),
         lambda r: r.meta["rel_times"], True),
    ]


def _keyword_runs(data: Any, y: str, unit: str | None, time: str | None, cohort: str,
                  window: tuple[int, int], control_group: str, controls: list[str],
                  fe_list: list[str] | None, cluster: str | None,
                  weights: str | None) -> list[_Run]:
    """As :func:`_design_runs` for the keyword form (att_gt runs without ``fe``)."""
    from policylab.estimators.event_study import event_study
    from policylab.estimators.imputation import did_imputation
    from policylab.estimators.staggered import att_gt, sun_abraham

    kw = dict(unit=unit, time=time, cohort=cohort, cluster=cluster, weights=weights)
    return [
        ("twfe", "TWFE", lambda: event_study(data, y=y, window=window, controls=controls,
                                             fe=fe_list, **kw),
         lambda r: r.tidy()["rel_time"].tolist(), False),
        ("sun_abraham", "Sun-Abraham",
         lambda: sun_abraham(data, y=y, controls=controls, fe=fe_list, **kw),
         lambda r: list(r.meta["rel_times"]), False),
        ("att_gt", "Callaway-Sant'Anna",
         lambda: att_gt(data, y=y, control_group=control_group,
                        covariates=controls or None, **kw).aggregate("dynamic"),
         lambda r: r.meta["by_values"][1:], True),
        ("did_imputation", "Imputation (BJS)",
         lambda: did_imputation(data, y=y, controls=controls, fe=fe_list, **kw),
         lambda r: r.meta["rel_times"], True),
    ]

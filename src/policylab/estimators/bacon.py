"""Goodman-Bacon (2021) decomposition of the two-way fixed-effects DID estimate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import Panel, require_columns
from policylab.errors import DataError
from policylab.estimators.design import COHORT_COL, Design, as_design
from policylab.estimators.result import TIDY_COLUMNS, Result
from policylab.messages import Message

__all__ = ["bacon_decomposition", "BaconResult", "COMPARISON_TYPES"]

#: Comparison types in the order of Goodman-Bacon (2021, Theorem 1).
COMPARISON_TYPES = (
    "treated vs never treated",
    "earlier vs later treated",
    "later vs earlier treated",
    "treated vs always treated",
)
_NEVER, _ALWAYS = 0, -1  # control codes of the two groups whose treatment never changes


@dataclass
class BaconResult(Result):
    """Every 2x2 comparison: type, treated and control timing groups, estimate, weight.

    ``control`` is the control group's first treated period, 0 for never treated and -1
    for always treated. The weights sum to one and the weighted sum of the estimates is
    the TWFE coefficient (``twfe``).
    """

    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    twfe: float = np.nan

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per 2x2 comparison (no standard errors: the decomposition is
        descriptive), with type, treated, control and weight as extra columns."""
        c = self.comparisons
        t = pd.DataFrame({
            "term": [_term(a, b) for a, b in zip(c["treated"], c["control"])],
            "estimate": c["estimate"].to_numpy(float),
        })
        for col in TIDY_COLUMNS[2:]:
            t[col] = np.nan
        return pd.concat([t, c[["type", "treated", "control", "weight"]]], axis=1)

    def by_type(self) -> pd.DataFrame:
        """Total weight and weighted average estimate of each comparison type."""
        c = self.comparisons.assign(_wb=self.comparisons["weight"]
                                    * self.comparisons["estimate"])
        g = c.groupby("type", sort=False)[["weight", "_wb"]].sum()
        g["estimate"] = g["_wb"] / g["weight"]
        order = [t for t in COMPARISON_TYPES if t in g.index]
        return g.loc[order, ["weight", "estimate"]]

    def summary(self) -> str:
        """The weights and average estimates by type, and the TWFE coefficient."""
        lines = [f"Goodman-Bacon decomposition of the TWFE DID for {self.meta['depvar']} "
                 f"(N = {self.nobs:,}; {len(self.comparisons)} 2x2 comparisons)",
                 self.by_type().to_string(float_format=lambda v: f"{v:.5f}"),
                 f"TWFE estimate (weighted sum): {self.twfe:.6g}"]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Scatter of 2x2 estimates against their weights, by comparison type."""
        from policylab.report.figures.bacon import bacon_figure

        return bacon_figure(self.comparisons, self.twfe, lang=lang, **kw)


def _term(treated: int, control: int) -> str:
    name = {_NEVER: "never", _ALWAYS: "always"}.get(int(control), str(int(control)))
    return f"{int(treated)} vs {name}"


def _did2x2(Y: np.ndarray, treated: np.ndarray, control: np.ndarray, post: np.ndarray) -> float:
    # balanced 2x2: difference in the before/after change of the group means
    yt, yc = Y[treated], Y[control]
    return float((yt[:, post].mean() - yt[:, ~post].mean())
                 - (yc[:, post].mean() - yc[:, ~post].mean()))


def _bacon_design(data: Any, unit: str | None, time: str | None, cohort: str | None,
                  treat: str | None, roster: Any, date: str) -> Design:
    """The design decomposed; refuses parts of a Design the decomposition lacks."""
    if isinstance(data, Design):
        as_design(data, "bacon_decomposition", unit=unit, time=time, cohort=cohort,
                  treat=treat, roster=roster, date=date)
        data.refuse(Message("name.bacon"), weights=True, fe=True, controls=True)
        return data
    if cohort is None and treat is None and roster is None:
        cohort = "cohort"
    if isinstance(data, Panel):
        unit, time = unit or data.unit, time or data.time
    return as_design(data, "bacon_decomposition", unit=unit, time=time, treat=treat,
                     cohort=cohort, roster=roster, date=date)


def bacon_decomposition(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str | None = None,
    *,
    treat: str | None = None,
    roster: str | pd.DataFrame | None = None,
    date: str = "announcement",
) -> BaconResult:
    """Decompose the TWFE DID coefficient into Goodman-Bacon's 2x2 comparisons.

    The regression decomposed is ``y ~ D | unit + time`` on a balanced panel without
    covariates, with an absorbing treatment adopted at different times.

    Parameters
    ----------
    data : Design, Panel or DataFrame
        A :class:`~policylab.estimators.design.Design` with weights, controls or fixed
        effects other than unit and time is refused with a SpecError naming them: the
        decomposition is of the unweighted two-way regression without covariates.
    y : str
        Outcome column.
    unit, time : str
        Panel keys (taken from a Panel when omitted).
    cohort : str, optional
        First treated period of each unit (never treated: 0, missing or inf). When none
        of ``cohort``, ``treat`` and ``roster`` is given, a column named "cohort" is used.
    treat : str, optional
        A 0/1 treatment column instead of ``cohort``.
    roster, date : optional
        A bundled policy roster and its date, as in :func:`policylab.did`.

    Returns
    -------
    BaconResult
        ``comparisons`` (type, treated, control, estimate, weight), ``by_type()``,
        ``twfe`` (equal to the weighted sum of the estimates) and ``.plot()``. Types:
        treated vs never treated, earlier vs later treated (the later group before it
        is treated as the control), later vs earlier treated (already-treated units as
        controls: the comparison that biases TWFE when effects change over time) and
        treated vs always treated (units treated before the first period).
    """
    design = _bacon_design(data, unit, time, cohort, treat, roster, date)
    df, unit, time = design.df, design.unit, design.time
    require_columns(df, [y], "outcome")
    if design.facts["switching_off_units"]:
        raise DataError(Message("bacon.switches_off",
                                units=design.facts["switching_off_units"][:5]))
    miss = df[y].isna()
    if miss.any():
        raise DataError(Message("bacon.outcome_missing", y=y, n=int(miss.sum()),
                                examples=df.loc[miss, [unit, time]].head(3).to_dict("records")))
    if df.duplicated([unit, time]).any():
        raise DataError(f"duplicate ({unit}, {time}) rows; the panel must have one row per "
                        "unit and period")
    wide = df.pivot(index=unit, columns=time, values=y)
    if wide.isna().any().any():
        short = wide.index[wide.isna().any(axis=1)][:5].tolist()
        raise DataError(Message("bacon.unbalanced", units=short, periods=int(wide.shape[1])))
    periods = wide.columns.to_numpy()
    G = df.groupby(unit)[COHORT_COL].first().reindex(wide.index).to_numpy()
    G = np.where(G > periods.max(), _NEVER, G)  # treated after the window: never, here
    G = np.where((G > 0) & (G <= periods.min()), _ALWAYS, G)
    Y = wide.to_numpy(float)
    N, T = Y.shape
    timing = sorted(int(g) for g in set(G) if g > 0)
    if not timing:
        raise DataError(Message("bacon.no_adopter"))
    # TWFE coefficient and the variance of the two-way demeaned treatment (balanced panel)
    Dm = ((G[:, None] == _ALWAYS) | ((G[:, None] > 0) & (periods[None, :] >= G[:, None])))
    Dm = Dm.astype(float)
    Dd = Dm - Dm.mean(axis=1, keepdims=True) - Dm.mean(axis=0, keepdims=True) + Dm.mean()
    Yd = Y - Y.mean(axis=1, keepdims=True) - Y.mean(axis=0, keepdims=True) + Y.mean()
    VD = (Dd**2).sum() / (N * T)
    twfe = float((Dd * Yd).sum() / (Dd**2).sum())
    n = {g: np.mean(G == g) for g in [*timing, _NEVER, _ALWAYS]}
    dbar = {g: np.mean(periods >= g) for g in timing}
    rows = []
    for k in timing:
        # Theorem 1: timing group k against each group whose treatment never changes
        for j, typ in ((_NEVER, COMPARISON_TYPES[0]), (_ALWAYS, COMPARISON_TYPES[3])):
            if n[j] == 0:
                continue
            nkj = n[k] / (n[k] + n[j])
            s = (n[k] + n[j]) ** 2 * nkj * (1 - nkj) * dbar[k] * (1 - dbar[k]) / VD
            rows.append({"type": typ, "treated": k, "control": j,
                         "estimate": _did2x2(Y, G == k, G == j, periods >= k), "weight": s})
        for lt in timing:
            if lt <= k:
                continue
            nkl = n[k] / (n[k] + n[lt])
            dk, dl = dbar[k], dbar[lt]
            win = periods < lt
            s_k = (((n[k] + n[lt]) * (1 - dl)) ** 2 * nkl * (1 - nkl)
                   * ((dk - dl) / (1 - dl)) * ((1 - dk) / (1 - dl))) / VD
            rows.append({"type": COMPARISON_TYPES[1], "treated": k, "control": lt,
                         "estimate": _did2x2(Y[:, win], G == k, G == lt, periods[win] >= k),
                         "weight": s_k})
            win = periods >= k
            s_l = (((n[k] + n[lt]) * dk) ** 2 * nkl * (1 - nkl)
                   * (dl / dk) * ((dk - dl) / dk)) / VD
            rows.append({"type": COMPARISON_TYPES[2], "treated": lt, "control": k,
                         "estimate": _did2x2(Y[:, win], G == lt, G == k, periods[win] >= lt),
                         "weight": s_l})
    comp = pd.DataFrame(rows)
    comp[["treated", "control"]] = comp[["treated", "control"]].astype(np.int64)
    res = BaconResult(nobs=N * T, comparisons=comp, twfe=twfe,
                      meta={"depvar": y, "unit": unit, "time": time,
                            "estimator": "Goodman-Bacon decomposition",
                            "n_never": int(np.sum(G == _NEVER)),
                            "n_always": int(np.sum(G == _ALWAYS)), "cohorts": timing,
                            "design": design.meta(nobs=N * T, cluster=None)})
    forbidden = comp.loc[comp["type"] == COMPARISON_TYPES[2], "weight"].sum()
    if forbidden > 0.1:
        res.warn(Message("bacon.forbidden_weight", share=forbidden))
    return res


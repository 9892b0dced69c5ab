"""Who is treated when: build the treatment design from a 0/1 column, a cohort column
or a policy roster, and collect the facts a referee asks about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.engine.threads import COMPILED_ROWS
from policylab.errors import DataError, SpecError
from policylab.estimators.formula import _factorize

__all__ = ["Design", "build_design", "TREAT_COL", "COHORT_COL"]

TREAT_COL = "_did"
COHORT_COL = "_cohort"


@dataclass
class Design:
    """A panel with its treatment: ``df`` holds ``treat_col`` (0/1) and ``_cohort``
    (first treated period; 0 = never treated)."""

    df: pd.DataFrame
    unit: str
    time: str
    treat_col: str
    assign: str
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def cohort(self) -> pd.Series:
        """First treated period per row (0 = never)."""
        return self.df[COHORT_COL]


def _first_treated(codes: np.ndarray, n_units: int, t: np.ndarray,
                   d: np.ndarray) -> np.ndarray:
    """First treated period of each row's unit (0 = never treated)."""
    on = d == 1
    first = np.full(n_units, np.inf)
    np.minimum.at(first, codes[on], t[on].astype(float))
    return np.where(np.isfinite(first), first, 0.0).astype(np.int64)[codes]


def _varies_within(codes: np.ndarray, values: np.ndarray) -> bool:
    """Whether ``values`` take more than one value (missing counts as one) in a group."""
    if codes.size >= COMPILED_ROWS:
        from policylab.engine._passes import varies_within

        if values.dtype.kind not in "fiub":
            values = pd.factorize(values, use_na_sentinel=False)[0]
        v = values.astype(np.float64 if values.dtype.kind == "f" else np.int64, copy=False)
        return bool(varies_within(codes.astype(np.int64, copy=False), v, int(codes.max()) + 1))
    v = pd.factorize(values, use_na_sentinel=False)[0]
    mm = pd.Series(v).groupby(codes).agg(["min", "max"])
    return bool((mm["min"] != mm["max"]).any())


def _switching_off(codes: np.ndarray, t: np.ndarray, d: np.ndarray, units: Any) -> list:
    """Units (first ten) whose treatment goes from 1 back to 0 over time."""
    sorted_ = np.all(np.diff(codes) >= 0) and np.all(np.diff(t)[np.diff(codes) == 0] > 0)
    order = slice(None) if sorted_ else np.lexsort((t, codes))
    c, dd = codes[order], d[order]
    off = (c[1:] == c[:-1]) & (dd[:-1] == 1) & (dd[1:] == 0)
    return list(units[np.unique(c[1:][off])][:10])


def build_design(
    data: Any,
    *,
    unit: str | None = None,
    time: str | None = None,
    treat: str | None = None,
    cohort: str | None = None,
    roster: str | pd.DataFrame | None = None,
    date: str = "announcement",
    assign: str | None = None,
) -> Design:
    """Resolve exactly one of ``treat`` (0/1 column), ``cohort`` (first treated period;
    never-treated coded 0, missing or inf) or ``roster`` (+ ``date``) into a Design.

    ``assign`` names the level at which treatment is assigned when it is above the panel
    unit (cities inside pilot provinces); it must be constant within each unit.
    """
    if isinstance(data, Panel):
        unit, time = unit or data.unit, time or data.time
    df = as_pandas(data)
    if df.empty:
        raise DataError("the data have no rows (an empty table, or a filter that kept "
                        "nothing); check the file and the sample")
    if unit is None or time is None:
        raise SpecError("unit= and time= are required unless data is a policylab.Panel")
    given = [k for k, v in (("treat", treat), ("cohort", cohort), ("roster", roster)) if v is not None]
    if len(given) != 1:
        raise SpecError("give exactly one of treat= (0/1 column), cohort= (first treated "
                        f"period) or roster= (policy roster); got {given or 'none'}")
    assign = assign or unit
    require_columns(df, [unit, time, assign])
    t = df[time].to_numpy()
    codes, units = _factorize(df[unit])
    if (codes < 0).any():
        raise DataError(f"unit column {unit!r} is missing in {int((codes < 0).sum())} rows; "
                        "drop them or fill the unit identifier")
    if treat is not None:
        require_columns(df, [treat], "treatment column")
        dv = pd.to_numeric(df[treat], errors="coerce").to_numpy(dtype=float,
                                                                 na_value=np.nan)
        # not 0/1, or not a number at all (coerced to NaN where the column is not NaN)
        bad = ~((dv == 0) | (dv == 1)) & (~np.isnan(dv) | df[treat].notna().to_numpy())
        if bad.any():
            example = df[treat].iloc[int(np.argmax(bad))]
            example = example.item() if isinstance(example, np.generic) else example
            raise DataError(f"treatment column {treat!r} must be 0/1, found {example!r}; "
                            "for a cohort (first treated year) column use cohort=")
        df[COHORT_COL] = _first_treated(codes, len(units), t, np.nan_to_num(dv))
        treat_col = treat
    elif cohort is not None:
        require_columns(df, [cohort], "cohort column")
        c = pd.to_numeric(df[cohort], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        c = np.where(np.isfinite(c), c, 0.0)  # never treated: 0, missing or inf
        if (c < 0).any():
            raise DataError(f"cohort column {cohort!r} has negative values")
        if _varies_within(codes, c):
            raise DataError(f"cohort column {cohort!r} must be constant within each {unit!r}")
        ci = c.astype(np.int64)
        df[COHORT_COL] = ci
        treat_col = "did" if "did" not in df.columns else TREAT_COL
        df[treat_col] = ((ci > 0) & (t >= ci)).astype(np.int64)
    else:
        from policylab.data.rosters import roster_treatment

        cols = roster_treatment(df, roster, unit=unit, time=time, date=date,
                                member_of=None if assign == unit else assign, prefix="_r")
        df[COHORT_COL] = cols["_r_cohort"].to_numpy()
        treat_col = "did" if "did" not in df.columns else TREAT_COL
        df[treat_col] = cols["_r_did"].to_numpy()
    if assign != unit and _varies_within(codes, df[assign].to_numpy()):
        raise DataError(f"assign={assign!r} must be constant within each {unit!r} "
                        "(a unit belongs to one assignment group)")

    d = df[treat_col].fillna(0).to_numpy(float)
    ever_u = np.bincount(codes, weights=d, minlength=len(units)) > 0
    first_t = int(np.min(t))
    # the cohort is constant within units: work on one value per unit
    g_u = np.zeros(len(units), dtype=np.int64)
    g_u[codes] = df[COHORT_COL].to_numpy()
    # adoption after the last period (or a sentinel such as 9999) is not seen in-sample
    cohorts = np.unique(g_u[(g_u > 0) & (g_u <= np.max(t))])
    always = units[(g_u > 0) & (g_u <= first_t)]
    if assign == unit:
        n_groups, n_treated_groups = len(units), int(ever_u.sum())
    else:
        assign_vals = df[assign].to_numpy()
        n_groups = int(pd.unique(assign_vals).size)
        n_treated_groups = int(pd.unique(assign_vals[ever_u[codes]]).size)
    facts = {
        "n_units": len(units),
        "n_treated_units": int(ever_u.sum()),
        "n_assign_groups": n_groups,
        "n_treated_groups": n_treated_groups,
        "cohorts": [int(c) for c in cohorts],
        "staggered": len(cohorts) > 1,
        # a cohort or roster builds an absorbing treatment; only a 0/1 column can switch off
        "switching_off_units": (_switching_off(codes, t, d, units) if treat is not None
                                else []),
        "always_treated_units": list(always[:10]),
        "share_treated_obs": float(d.mean()),
    }
    return Design(df=df, unit=unit, time=time, treat_col=treat_col, assign=assign, facts=facts)

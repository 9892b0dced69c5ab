"""Who is treated when: build the treatment design from a 0/1 column, a cohort column
or a policy roster, and collect the facts a referee asks about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.errors import DataError, SpecError

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


def _first_treated(df: pd.DataFrame, unit: str, time: str, d: pd.Series) -> pd.Series:
    first = df.loc[d.to_numpy() == 1].groupby(unit)[time].min()
    return df[unit].map(first).fillna(0).astype(np.int64)


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
        df = data.df.copy()
    else:
        df = as_pandas(data)
    if unit is None or time is None:
        raise SpecError("unit= and time= are required unless data is a policylab.Panel")
    given = [k for k, v in (("treat", treat), ("cohort", cohort), ("roster", roster)) if v is not None]
    if len(given) != 1:
        raise SpecError("give exactly one of treat= (0/1 column), cohort= (first treated "
                        f"period) or roster= (policy roster); got {given or 'none'}")
    assign = assign or unit
    require_columns(df, [unit, time, assign])
    t = df[time].to_numpy()
    if treat is not None:
        require_columns(df, [treat], "treatment column")
        d = pd.to_numeric(df[treat], errors="coerce")
        bad = ~d.isin([0, 1]) & d.notna()
        if bad.any() or (df[treat].notna() & d.isna()).any():
            example = df.loc[bad | (df[treat].notna() & d.isna()), treat].iloc[0]
            raise DataError(f"treatment column {treat!r} must be 0/1, found {example!r}; "
                            "for a cohort (first treated year) column use cohort=")
        df[COHORT_COL] = _first_treated(df, unit, time, d.fillna(0))
        treat_col = treat
    elif cohort is not None:
        require_columns(df, [cohort], "cohort column")
        c = pd.to_numeric(df[cohort], errors="coerce").replace([np.inf, -np.inf], np.nan)
        c = c.fillna(0)
        if (c < 0).any():
            raise DataError(f"cohort column {cohort!r} has negative values")
        if (df.groupby(unit)[cohort].nunique(dropna=False) > 1).any():
            raise DataError(f"cohort column {cohort!r} must be constant within each {unit!r}")
        df[COHORT_COL] = c.astype(np.int64)
        treat_col = "did" if "did" not in df.columns else TREAT_COL
        df[treat_col] = ((df[COHORT_COL] > 0) & (t >= df[COHORT_COL])).astype(np.int64)
    else:
        from policylab.data.rosters import roster_treatment

        cols = roster_treatment(df, roster, unit=unit, time=time, date=date,
                                member_of=None if assign == unit else assign, prefix="_r")
        df[COHORT_COL] = cols["_r_cohort"].to_numpy()
        treat_col = "did" if "did" not in df.columns else TREAT_COL
        df[treat_col] = cols["_r_did"].to_numpy()
    if (df.groupby(unit)[assign].nunique() > 1).any():
        raise DataError(f"assign={assign!r} must be constant within each {unit!r} "
                        "(a unit belongs to one assignment group)")

    d = df[treat_col].fillna(0).to_numpy()
    ever = df.groupby(unit)[treat_col].transform("max").fillna(0).to_numpy() > 0
    first_t = int(np.min(t))
    cohorts = sorted(set(df.loc[df[COHORT_COL] > 0, COHORT_COL]))
    # switching off: a treated unit later untreated
    order = df.sort_values([unit, time])
    prev = order.groupby(unit)[treat_col].shift(1)
    switch_off = order.loc[(prev == 1) & (order[treat_col] == 0), unit].unique()
    always = df.loc[(df[COHORT_COL] > 0) & (df[COHORT_COL] <= first_t), unit].unique()
    treated_groups = df.loc[ever, assign].nunique()
    facts = {
        "n_units": int(df[unit].nunique()),
        "n_treated_units": int(df.loc[ever, unit].nunique()),
        "n_assign_groups": int(df[assign].nunique()),
        "n_treated_groups": int(treated_groups),
        "cohorts": [int(c) for c in cohorts],
        "staggered": len(cohorts) > 1,
        "switching_off_units": list(switch_off[:10]),
        "always_treated_units": list(always[:10]),
        "share_treated_obs": float(d.mean()),
    }
    return Design(df=df, unit=unit, time=time, treat_col=treat_col, assign=assign, facts=facts)

"""Policy rosters as data (who was piloted, announced when, trading from when) and the
helper that turns a roster into treatment columns for any panel."""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.errors import DataError, SpecError

__all__ = ["roster", "ROSTERS", "roster_treatment"]

ROSTERS = ("carbon_trading", "energy_rights")


def roster(policy: str) -> pd.DataFrame:
    """A bundled roster: unit, level, announcement and market-opening dates, covered
    firms and source. ``policy`` is "carbon_trading" or "energy_rights"."""
    if policy not in ROSTERS:
        raise SpecError(f"unknown roster {policy!r}; bundled rosters: {', '.join(ROSTERS)}")
    path = resources.files("policylab.data").joinpath("tables", "rosters.csv")
    with path.open("r", encoding="utf-8") as fh:
        tab = pd.read_csv(fh, parse_dates=["announcement", "market_opening"])
    return tab[tab["policy"] == policy].reset_index(drop=True)


def roster_treatment(
    data: Any,
    policy: str | pd.DataFrame,
    *,
    unit: str,
    time: str,
    date: str = "announcement",
    level: str = "province",
    member_of: str | None = None,
    prefix: str | None = None,
) -> pd.DataFrame:
    """Treatment columns from a roster: ``treat`` (group), ``cohort`` (first treated
    year, 0 = never) and ``did`` (treated and on or after the cohort year).

    Parameters
    ----------
    data : DataFrame or Panel
    policy : str or DataFrame
        Bundled roster name or your own table with ``unit`` and a date column.
    unit, time : str
        The panel's unit (names matching the roster's units, e.g. "Beijing") and year.
    date : {"announcement", "market_opening"}
        Which date makes a unit treated (its calendar year is the cohort).
    level : str
        Roster level to use ("province"; "city" rows such as Shenzhen are ignored
        unless ``level="city"``).
    member_of : str, optional
        For panels below the roster's level (cities): the column naming each row's
        province, matched against the roster instead of ``unit``.
    prefix : str, optional
        Prefix for the new columns (default: the policy name, e.g. ``carbon_trading_did``).
    """
    df = data.df if isinstance(data, Panel) else as_pandas(data)
    tab = roster(policy) if isinstance(policy, str) else policy.copy()
    name = policy if isinstance(policy, str) else "policy"
    if date not in tab.columns:
        raise SpecError(f"date={date!r}: the roster has no such column; use 'announcement' or "
                        "'market_opening'")
    if "level" in tab.columns:
        tab = tab[tab["level"] == level]
    key = member_of or unit
    require_columns(df, [key, time])
    years = pd.to_datetime(tab[date]).dt.year
    cohort_of = dict(zip(tab["unit"], years))
    matched = set(df[key].unique()) & set(cohort_of)
    if not matched:
        raise DataError(
            f"no value of {key!r} matches the roster's units {sorted(cohort_of)}; check the "
            "spelling (English names as in policylab.data.reference.provinces())"
        )
    cohort = df[key].map(cohort_of).fillna(0).astype(int).to_numpy()
    t = df[time].to_numpy()
    p = (prefix or name) + "_"
    return pd.DataFrame(
        {
            p + "treat": (cohort > 0).astype(int),
            p + "cohort": cohort,
            p + "did": ((cohort > 0) & (t >= cohort)).astype(int),
        },
        index=df.index,
    ).astype({p + "did": np.int64})

"""Policy rosters as data (who was piloted, announced when, trading from when) and the
helper that turns a roster into treatment columns for any panel."""

from __future__ import annotations

import warnings
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.errors import DataError, PolicyLabWarning, SpecError, preview

__all__ = ["roster", "ROSTERS", "roster_treatment"]

ROSTERS = ("carbon_trading", "energy_rights")
DATES = ("announcement", "market_opening")


def roster(policy: str) -> pd.DataFrame:
    """A bundled policy roster.

    Parameters
    ----------
    policy : {"carbon_trading", "energy_rights"}
        The carbon-emission-trading pilots (six provinces and the city of Shenzhen,
        announced 2011, markets opened 2013-2014) or the energy-use-rights trading
        pilots (four provinces, announced 2016, trading from 2017).

    Returns
    -------
    DataFrame with columns policy, unit (English name), level ("province" or "city"),
    province (the province a city belongs to), announcement and market_opening
    (Timestamps), initial_covered_firms, initial_price (yuan/t, text: a range such as
    "50-80" where the source gives one) and source. Sources: ``tables/SOURCES.md``.
    """
    if policy not in ROSTERS:
        raise SpecError(f"unknown roster {policy!r}; bundled rosters: {', '.join(ROSTERS)}")
    path = resources.files("policylab.data").joinpath("tables", "rosters.csv")
    with path.open("r", encoding="utf-8") as fh:
        tab = pd.read_csv(fh, parse_dates=list(DATES))
    tab = tab[tab["policy"] == policy].reset_index(drop=True)
    tab.insert(3, "province", np.where(tab["level"] == "province", tab["unit"],
                                       tab["unit"].map({"Shenzhen": "Guangdong"})))
    return tab


def _normalise(values: pd.Series) -> pd.Series:
    """English province names for English or Chinese spellings; others unchanged."""
    from policylab.data.reference import province_names

    names = province_names()
    s = values.astype("string").str.strip()
    return s.map(lambda v: names.get(v, v) if isinstance(v, str) else v)


def _city_key(values: pd.Series) -> pd.Series:
    """City names reduced to a comparable key: "Shenzhen", "深圳", "深圳市" -> "深圳"."""
    s = values.astype("string").str.strip()
    return s.str.replace(r"(市| [Cc]ity)$", "", regex=True)


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
    first_full_year: bool = False,
) -> pd.DataFrame:
    """Treatment columns from a roster: ``treat`` (ever in the roster), ``cohort``
    (first treated year, 0 = never) and ``did`` (treated and on or after the cohort).

    Parameters
    ----------
    data : DataFrame or Panel
        The panel; it is not modified.
    policy : str or DataFrame
        A bundled roster name (see :func:`roster`) or your own table with a ``unit``
        column, the date column named by ``date`` and optionally ``level``.
    unit, time : str
        The panel's unit column and its year column (integer years).
    date : {"announcement", "market_opening"}
        Which date makes a unit treated: its calendar year is the cohort. The carbon
        pilots were announced in 2011 and opened their markets in 2013-2014.
    level : {"province", "city"}
        The roster level matched against ``unit`` when ``member_of`` is not given.
    member_of : str, optional
        For panels below the province level (cities): the column naming each row's
        province (English or Chinese). Rows are treated through their province; a city
        that is itself in the roster (Shenzhen in the carbon roster) takes its own date,
        matched on ``unit`` by English or Chinese name.
    prefix : str, optional
        Prefix of the new columns (default: the policy name, e.g. ``carbon_trading_did``).
    first_full_year : bool
        Make the cohort the first full calendar year under the policy: a date after
        1 January moves the cohort to the next year (a market opened on 2013-11-28
        gives cohort 2014).

    Returns
    -------
    DataFrame aligned with the panel's rows: ``<prefix>_treat``, ``<prefix>_cohort``,
    ``<prefix>_did`` (int64).
    """
    df = data.df if isinstance(data, Panel) else as_pandas(data)
    tab = roster(policy) if isinstance(policy, str) else policy.copy()
    name = policy if isinstance(policy, str) else "policy"
    if date not in tab.columns:
        raise SpecError(f"date={date!r}: the roster has no such column; use one of "
                        f"{[c for c in DATES if c in tab.columns] or list(tab.columns)}")
    if level not in ("province", "city"):
        raise SpecError(f"level must be 'province' or 'city', got {level!r}")
    key = member_of or unit
    require_columns(df, [key, time] + ([unit] if member_of else []))
    when = pd.to_datetime(tab[date], errors="coerce")
    if when.isna().any():
        raise DataError(f"roster has no {date} date for {preview(tab.loc[when.isna(), 'unit'])}"
                        "; choose another date or fill it in")
    years = when.dt.year + (first_full_year & ~((when.dt.month == 1) & (when.dt.day == 1)))
    levels = tab["level"] if "level" in tab.columns else pd.Series(level, index=tab.index)
    top = tab.loc[levels == (level if member_of is None else "province"), "unit"]
    norm = _city_key if (level == "city" and member_of is None) else _normalise
    cohort_of = dict(zip(norm(top), years[top.index]))
    keys = norm(df[key])
    cohort = keys.map(cohort_of)
    matched = set(cohort_of) & set(keys.dropna())
    if member_of is not None:
        city_rows = tab.index[levels == "city"]
        zh = {"Shenzhen": "深圳"}  # Chinese keys of the bundled city-level entries
        own = {}
        for r in city_rows:
            own[str(tab.at[r, "unit"])] = years[r]
            if tab.at[r, "unit"] in zh:
                own[zh[tab.at[r, "unit"]]] = years[r]
        cities = _city_key(df[unit])
        city_cohort = cities.map(own)
        matched |= set(own) & set(cities.dropna())
        cohort = city_cohort.fillna(cohort)
    if not matched:
        raise DataError(
            f"no value of {key!r} matches the roster's units {sorted(cohort_of)}; check the "
            "spelling (English or Chinese names as in policylab.data.reference.provinces())"
        )
    missing = sorted(set(cohort_of) - matched)
    if missing:
        warnings.warn(f"roster units {missing} do not appear in column {key!r}; they are "
                      "treated as absent from the panel", PolicyLabWarning, stacklevel=2)
    cohort = cohort.fillna(0).astype(np.int64).to_numpy()
    t = pd.to_numeric(df[time], errors="coerce").to_numpy()
    p = (prefix or name) + "_"
    return pd.DataFrame(
        {
            p + "treat": (cohort > 0).astype(np.int64),
            p + "cohort": cohort,
            p + "did": ((cohort > 0) & (t >= cohort)).astype(np.int64),
        },
        index=df.index,
    )

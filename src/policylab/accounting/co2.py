"""CO2 from fuel use by the emission-factor method, and emission intensities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from policylab.data.factors import (
    CO2_PER_C,
    FUELS,
    UNIT_CONVERSIONS,
    carbon_per_unit,
    factor_table,
)
from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.errors import DataError, SpecError

__all__ = ["FUELS", "CO2_PER_C", "factor_table", "carbon_per_unit", "co2_emissions", "intensity"]


def co2_emissions(
    data: Any,
    factors: str | pd.DataFrame = "carbon_trading_study",
    output: str = "co2",
    fuels: list[str] | dict[str, str] | None = None,
    units: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Emissions from fuel consumption, one column per fuel plus ``total``.

    Parameters
    ----------
    data : DataFrame or Panel
        Fuel consumption: 10k tonnes for solids and liquids, 100 million m3 for gas.
    factors : str or DataFrame
        "carbon_trading_study" (the reference study's standard-coal coefficients and
        carbon factors), "ipcc2006" (IPCC default NCV x carbon content x oxidation), or
        your own table indexed (or with a ``fuel`` column) by fuel.
    output : {"co2", "carbon"}
        10k tonnes of CO2 (carbon x 44/12) or of carbon.
    fuels : list or dict, optional
        Which fuels to use (default: every fuel of the table present in the data), or a
        mapping {fuel in the table: column in the data} for your own column names.
    units : dict, optional
        Units of your fuel columns when they differ from the table's, e.g.
        ``{"natural_gas": "10k m3", "coal": "t"}``; converted explicitly (mass: t, kt,
        10k t, million t; volume: m3, 10k m3, million m3, 100 million m3, billion m3).
        A mass unit for a fuel the table measures by volume (or the reverse) is an error.

    Returns
    -------
    DataFrame aligned with the data's rows, columns = fuels + ["total"].
    """
    # read-only use of the data: no defensive copy needed
    df = data.df if isinstance(data, Panel) else (
        data if isinstance(data, pd.DataFrame) else as_pandas(data))
    table = factor_table(factors) if isinstance(factors, str) else factors.copy()
    if "fuel" in table.columns:
        table = table.set_index("fuel")
    per_unit = carbon_per_unit(table)
    if output not in ("co2", "carbon"):
        raise SpecError(f"output must be 'co2' or 'carbon', got {output!r}")
    if fuels is None:
        mapping = {f: f for f in per_unit.index if f in df.columns}
        if not mapping:
            raise DataError(
                f"no fuel columns found; expected some of {list(per_unit.index)}, or pass "
                "fuels={'coal': 'your_coal_column', ...}"
            )
    elif isinstance(fuels, dict):
        mapping = dict(fuels)
    else:
        mapping = {f: f for f in fuels}
    unknown = [f for f in mapping if f not in per_unit.index]
    if unknown:
        raise SpecError(f"no emission factor for fuels {unknown}; the table has "
                        f"{list(per_unit.index)}")
    require_columns(df, list(mapping.values()), "fuel column")
    scale = _unit_scale(table, mapping, units or {})
    conv = CO2_PER_C if output == "co2" else 1.0
    cols = {}
    for fuel, col in mapping.items():
        if pd.api.types.is_numeric_dtype(df[col]):
            x = df[col].to_numpy(float)
        else:
            num = pd.to_numeric(df[col], errors="coerce")
            bad = df[col].notna() & num.isna()
            if bad.any():
                raise DataError(f"fuel column {col!r} has non-numeric values, e.g. "
                                f"{df.loc[bad, col].iloc[0]!r}")
            x = num.to_numpy(float)
        neg = x < 0
        if neg.any():
            raise DataError(f"fuel column {col!r} has {int(neg.sum())} negative values "
                            f"(rows {list(df.index[neg][:5])}); consumption cannot be negative")
        cols[fuel] = x * (scale[fuel] * per_unit[fuel] * conv)
    stacked = np.column_stack(list(cols.values()))
    # a row with any fuel missing has no total (a partial sum would understate it)
    cols["total"] = stacked.sum(axis=1)
    out = pd.DataFrame(cols, index=df.index)
    out.attrs["unit"] = f"10k t {'CO2' if output == 'co2' else 'C'}"
    return out


def _unit_scale(table: pd.DataFrame, mapping: dict[str, str],
                units: dict[str, str]) -> dict[str, float]:
    unknown = sorted(set(units) - set(mapping))
    if unknown:
        raise SpecError(f"units= names fuels {unknown} that are not being used; fuels: "
                        f"{list(mapping)}")
    scale = {}
    for fuel in mapping:
        want = str(table.loc[fuel, "unit"])
        have = units.get(fuel, want)
        options = UNIT_CONVERSIONS[want]
        if have not in options:
            other = [u for u, opts in UNIT_CONVERSIONS.items() if have in opts]
            what = ("a mass" if other == ["10k t"] else "a volume") if other else "an unknown"
            raise DataError(
                f"unit mismatch for {fuel!r}: the factor table measures it in {want!r} but "
                f"the data are in {have!r} ({what} unit); use one of {sorted(options)}"
                + (" or convert with the fuel's density" if other else "")
            )
        scale[fuel] = options[have]
    return scale


def intensity(
    emissions: Any,
    gdp: Any,
    price_index: Any = None,
    *,
    base_value: float | None = None,
    data: Panel | None = None,
    base_year: int | None = None,
    kind: str = "level",
) -> pd.Series:
    """Emissions per unit of real GDP.

    Parameters
    ----------
    emissions, gdp : array-like, or column names of ``data``
        Emissions (e.g. 10k t CO2) and GDP (e.g. 100 million yuan; nominal when a
        ``price_index`` is given). The intensity is in emission units per GDP unit
        (10k t / 100 million yuan = t per 10k yuan).
    price_index : array-like or column name, optional
        GDP deflator. Without ``base_year``: real GDP = gdp / (index / base_value), with
        ``base_value`` the index level of the base year (default 1: the index already
        equals 1 in the base year).
    data : Panel, optional
        Panel holding the named columns; needed for ``base_year``.
    base_year : int, optional
        Rebase each unit's price index to 1 in this year (as :meth:`Panel.deflate`),
        so GDP is in constant prices of ``base_year``.
    kind : {"level", "chain"}
        With ``base_year``: the index is a level (any base) or a previous-year = 100
        chain index.

    Returns
    -------
    Series aligned with the rows (of ``data`` when given).
    """
    index = None
    if data is not None:
        if not isinstance(data, Panel):
            raise SpecError("data= must be a Panel (unit and time are needed to rebase "
                            "the price index); build one with policylab.Panel(df, unit=, time=)")
        df = data.df
        index = df.index
        cols = [c for c in (emissions, gdp, price_index) if isinstance(c, str)]
        require_columns(df, cols)
        emissions, gdp = (df[c] if isinstance(c, str) else c for c in (emissions, gdp))
        if base_year is not None:
            if not isinstance(price_index, str):
                raise SpecError("base_year= needs price_index= as a column name of data")
            from policylab.data.transforms import deflate

            col = gdp.name if isinstance(gdp, pd.Series) else "_gdp"
            frame = df.assign(**{col: np.asarray(gdp, dtype=float)})
            gdp = deflate(frame, col, price_index, data.unit, data.time, base_year, kind=kind)
            price_index = None
        elif isinstance(price_index, str):
            price_index = df[price_index]
    elif base_year is not None:
        raise SpecError("base_year= needs data= (a Panel) to find each unit's base-year index")
    e = np.asarray(emissions, dtype=float)
    g = np.asarray(gdp, dtype=float)
    if price_index is not None:
        p = np.asarray(price_index, dtype=float)
        g = g / (p / (base_value if base_value is not None else 1.0))
    bad = ~(g > 0) & ~np.isnan(g)
    if bad.any():
        raise DataError(f"GDP has {int(bad.sum())} values <= 0; intensity is undefined")
    return pd.Series(e / g, index=index, name="intensity")

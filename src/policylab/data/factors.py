"""Bundled emission-factor tables (coal equivalents, carbon factors) and the carbon
content per unit of each fuel they imply.

Reference data, like the pilot rosters: they live in ``data`` so the synthetic study
generators and the accounting both read them without importing each other. Sources in
``policylab/data/tables/factors/SOURCES.md``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from policylab.errors import SpecError

__all__ = ["CO2_PER_C", "FUELS", "TABLE_UNITS", "UNIT_CONVERSIONS", "carbon_per_unit",
           "factor_table"]

FUELS = ("coal", "coke", "crude_oil", "gasoline", "kerosene", "diesel", "fuel_oil",
         "natural_gas")
CO2_PER_C = 44.0 / 12.0  # molar masses: the carbon-to-CO2 conversion, never implicit
TABLE_UNITS = {"10k t", "100 million m3"}
# data units accepted for each table unit, with the factor that converts them to it
UNIT_CONVERSIONS = {
    "10k t": {"t": 1e-4, "kt": 0.1, "1000 t": 0.1, "10k t": 1.0, "million t": 100.0,
              "100 million t": 1e4},
    "100 million m3": {"m3": 1e-8, "10k m3": 1e-4, "million m3": 1e-2,
                       "100 million m3": 1.0, "billion m3": 10.0},
}


def factor_table(name: str) -> pd.DataFrame:
    """A bundled factor table ("carbon_trading_study" or "ipcc2006"), indexed by fuel.

    Sources and units are documented in ``policylab/data/tables/factors/SOURCES.md``.
    """
    files = {"carbon_trading_study": "carbon_trading_study.csv", "ipcc2006": "ipcc2006.csv"}
    if name not in files:
        raise SpecError(f"unknown factor set {name!r}; choose {sorted(files)} or pass a DataFrame")
    path = resources.files("policylab.data").joinpath("tables", "factors", files[name])
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh).set_index("fuel")


def carbon_per_unit(table: pd.DataFrame) -> pd.Series:
    """10k t of carbon per unit of consumption (10k t, or 100 million m3 for gas).

    Accepts a standard-coal table (``coal_coefficient`` x ``carbon_factor``) or a
    calorific table (``ncv`` x ``carbon_content`` x ``oxidation``), or a ready
    ``carbon_per_unit`` column.
    """
    t = table.copy()
    if "unit" not in t.columns:
        raise SpecError("factor table needs a 'unit' column ('10k t' or '100 million m3')")
    bad = sorted(set(t["unit"]) - TABLE_UNITS)
    if bad:
        raise SpecError(f"factor table units {bad} are not supported; use '10k t' for solids "
                        "and liquids, '100 million m3' for gas (convert your data first)")
    gas = (t["unit"] == "100 million m3").to_numpy()
    if "carbon_per_unit" in t.columns:
        out = t["carbon_per_unit"].astype(float)
    elif {"coal_coefficient", "carbon_factor"} <= set(t.columns):
        # 10^4 t x kgce/kg = 10^4 tce; 10^8 m3 x kgce/m3 = 10^5 tce = 10 x 10^4 tce
        out = t["coal_coefficient"] * t["carbon_factor"] * np.where(gas, 10.0, 1.0)
    elif {"ncv", "carbon_content"} <= set(t.columns):
        ox = t["oxidation"] if "oxidation" in t.columns else 1.0
        # 10^4 t = 10 Gg -> 10 x NCV TJ; 10^8 m3 = 100 x 10^6 m3 -> 100 x NCV TJ;
        # TJ x kg C/GJ = t C; / 10^4 -> 10k t C
        scale = np.where(gas, 100.0, 10.0)
        out = scale * t["ncv"] * t["carbon_content"] * ox / 1e4
    else:
        raise SpecError(
            "factor table needs coal_coefficient + carbon_factor, ncv + carbon_content, or "
            "carbon_per_unit columns"
        )
    return pd.Series(np.asarray(out, dtype=float), index=t.index, name="carbon_per_unit")

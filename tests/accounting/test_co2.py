import numpy as np
import pandas as pd
import pytest

from policylab.accounting import CO2_PER_C, co2_emissions, factor_table, intensity
from policylab.errors import DataError, SpecError


def _fuels():
    return pd.DataFrame({"coal": [1000.0, 0.0], "coke": [100.0, 50.0], "crude_oil": [10.0, 0],
                         "gasoline": [20.0, 1], "kerosene": [1.0, 0], "diesel": [30.0, 3],
                         "fuel_oil": [5.0, 0], "natural_gas": [2.0, 0.5]})


def test_study_factors_by_hand():
    # hand computation from the published coefficients (10k t x kgce/kg x tC/tce x 44/12)
    out = co2_emissions(_fuels(), "carbon_trading_study")
    assert out.loc[0, "coal"] == pytest.approx(1000 * 0.7143 * 0.7559 * 44 / 12, rel=1e-12)
    # natural gas: 10^8 m3 x 1.2143 kgce/m3 = 1.2143e8 kgce = 12.143 x 10^4 tce
    assert out.loc[0, "natural_gas"] == pytest.approx(2 * 12.143 * 0.4483 * 44 / 12, rel=1e-12)
    assert out["total"].tolist() == pytest.approx(out.drop(columns="total").sum(axis=1).tolist())
    carbon = co2_emissions(_fuels(), output="carbon")
    assert (out["total"] / carbon["total"]).tolist() == pytest.approx([CO2_PER_C] * 2)


def test_ipcc_defaults_by_hand():
    out = co2_emissions(_fuels(), "ipcc2006", output="carbon")
    # 10^4 t = 10 Gg; 10 Gg x 25.8 TJ/Gg x 25.8 t C/TJ = 6656.4 t C = 0.66564 x 10^4 t C
    assert out.loc[0, "coal"] == pytest.approx(1000 * 0.66564, rel=1e-12)
    # 10^8 m3 x 38,931 kJ/m3 = 3893.1 TJ; x 15.3 t C/TJ = 59,564 t C
    assert out.loc[0, "natural_gas"] == pytest.approx(2 * 5.956443, rel=1e-6)
    # typical CO2 per tonne of coal is about 2.4 t under IPCC defaults
    assert co2_emissions(_fuels(), "ipcc2006").loc[0, "coal"] / 1000 == pytest.approx(2.44, abs=0.01)


def test_own_table_and_column_mapping():
    tab = factor_table("carbon_trading_study").reset_index()
    df = _fuels().rename(columns={"coal": "raw_coal"})
    out = co2_emissions(df, tab, fuels={"coal": "raw_coal", "coke": "coke"})
    assert list(out.columns) == ["coal", "coke", "total"]


def test_bad_input_errors():
    with pytest.raises(DataError, match="negative"):
        co2_emissions(_fuels().assign(coal=[-1.0, 2.0]))
    with pytest.raises(SpecError, match="no emission factor for fuels \\['peat'\\]"):
        co2_emissions(_fuels().assign(peat=1.0), fuels=["coal", "peat"])
    with pytest.raises(SpecError, match="units"):
        co2_emissions(_fuels(), factor_table("ipcc2006").reset_index().assign(unit="t"))
    with pytest.raises(DataError, match="no fuel columns"):
        co2_emissions(pd.DataFrame({"x": [1.0]}))


def test_intensity_with_deflator():
    e = np.array([100.0, 110.0])
    out = intensity(e, gdp=[50.0, 66.0], price_index=[100.0, 120.0], base_value=100.0)
    assert out.tolist() == pytest.approx([2.0, 2.0])


def test_intensity_rebased_to_a_base_year_per_unit():
    from policylab import Panel

    df = pd.DataFrame({"p": ["A", "A", "B", "B"], "year": [2000, 2001, 2000, 2001],
                       "co2": [10.0, 12.0, 5.0, 5.0], "gdp": [100.0, 132.0, 50.0, 60.0],
                       "defl": [110.0, 121.0, 200.0, 240.0]})
    panel = Panel(df, unit="p", time="year")
    out = intensity("co2", "gdp", "defl", data=panel, base_year=2000)
    # A: real GDP 2001 = 132 / (121/110) = 120; B: 60 / (240/200) = 50
    assert out.tolist() == pytest.approx([0.1, 0.1, 0.1, 0.1])
    with pytest.raises(SpecError, match="base_year= needs data="):
        intensity(df["co2"], df["gdp"], df["defl"], base_year=2000)
    with pytest.raises(DataError, match="<= 0"):
        intensity([1.0], [0.0])

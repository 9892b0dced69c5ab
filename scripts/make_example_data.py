"""Write both synthetic studies to examples/data/ as CSV and Stata .dta files.

    python scripts/make_example_data.py

The .dta files carry variable labels with units so that ``describe`` in Stata says
what each column is. Both files are the generators' default draws (seed as documented
in policylab.datasets), so tests can check them against the generators.
"""

from __future__ import annotations

from pathlib import Path

from policylab.data.datasets import carbon_pilot, energy_rights_pilot

OUT = Path(__file__).resolve().parents[1] / "examples" / "data"

FUEL = "10k t"
LABELS = {
    "province": "Province (English)", "province_zh": "Province (Chinese)",
    "code": "Province code (GB/T 2260)", "region": "Region (east/central/west)",
    "municipality": "Municipality under the central government", "year": "Year",
    "coal": f"Coal consumption ({FUEL})", "coke": f"Coke consumption ({FUEL})",
    "crude_oil": f"Crude oil consumption ({FUEL})",
    "gasoline": f"Gasoline consumption ({FUEL})",
    "kerosene": f"Kerosene consumption ({FUEL})", "diesel": f"Diesel consumption ({FUEL})",
    "fuel_oil": f"Fuel oil consumption ({FUEL})",
    "natural_gas": "Natural gas consumption (100 million m3)",
    "co2": "CO2 emissions (10k t), emission-factor method",
    "gdp": "GDP, current prices (100 million yuan)", "deflator": "GDP deflator (2000 = 100)",
    "gdp_real": "GDP, 2000 prices (100 million yuan)", "pop": "Population (10k persons)",
    "pgdp": "GDP per capita, 2000 prices (yuan)",
    "co2_intensity": "CO2 intensity (t per 10k yuan of 2000 GDP)",
    "ln_co2": "ln CO2", "ln_intensity": "ln CO2 intensity", "ln_gdp": "ln real GDP",
    "ln_pgdp": "ln real GDP per capita", "ln_pop": "ln population",
    "fdi": "FDI / GDP (share)", "coal_share": "Coal share of energy use (energy structure)",
    "tech": "Technology-market turnover / GDP (%)",
    "sec_share": "Secondary industry share of GDP (%)",
    "ln_coal_share": "ln coal share", "ln_tech": "ln technology-market turnover / GDP",
    "ln_sec_share": "ln secondary industry share",
    "treat": "Treated group (ever piloted)", "post": "Post period (policy year on)",
    "cohort": "First treated year (0 = never treated)", "did": "Treated x post (0/1)",
    "city": "City id", "city_name": "City name",
    "ntt": "New-energy technology transfer per 10k people",
    "ntt_domestic": "New-energy technology transfer per 10k people, domestic",
    "ntt_abroad": "New-energy technology transfer per 10k people, abroad",
    "ln_ntt": "ln new-energy technology transfer", "ln_ntt_domestic": "ln transfer, domestic",
    "ln_ntt_abroad": "ln transfer, abroad", "urban": "Urbanisation rate",
    "fiscal": "Fiscal spending / GDP", "tertiary": "Tertiary industry share of GDP",
    "elec_share": "Electricity share of energy use", "energy_intensity":
    "Energy intensity (t ce per 10k yuan)", "market": "Marketization index",
    "old_industrial": "Old industrial base city", "resource_type": "Resource-based city type",
    "carbon_pilot": "Carbon-trading pilot in force (overlapping policy)",
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, panel in (("carbon_pilot", carbon_pilot()), ("energy_rights_pilot",
                                                           energy_rights_pilot())):
        df = panel.df
        df.to_csv(OUT / f"{name}.csv", index=False, float_format="%.10g")
        labels = {c: LABELS[c] for c in df.columns if c in LABELS}
        df.to_stata(OUT / f"{name}.dta", write_index=False, version=118,
                    variable_labels=labels)
        print(f"wrote {name}: {len(df)} rows x {df.shape[1]} columns")


if __name__ == "__main__":
    main()

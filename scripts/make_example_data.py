"""Write both synthetic studies to examples/data/ as CSV and Stata .dta files.

    python scripts/make_example_data.py
"""

from __future__ import annotations

from pathlib import Path

from policylab.data.datasets import carbon_pilot, energy_rights_pilot

OUT = Path(__file__).resolve().parents[1] / "examples" / "data"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, panel in (("carbon_pilot", carbon_pilot()), ("energy_rights_pilot",
                                                           energy_rights_pilot())):
        df = panel.df
        df.to_csv(OUT / f"{name}.csv", index=False, float_format="%.10g")
        # Stata: strings as str#, variable labels kept short
        df.to_stata(OUT / f"{name}.dta", write_index=False, version=118)
        print(f"wrote {name}: {len(df)} rows x {df.shape[1]} columns")


if __name__ == "__main__":
    main()

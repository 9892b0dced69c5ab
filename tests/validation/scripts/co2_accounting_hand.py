"""Hand computation of CO2 from fuel use, written without policylab, as the oracle for
policylab.accounting.co2_emissions.

Inputs typed from the publications, not from policylab's bundled tables:
- carbon-trading study (shared/seeds/000_*, Table 2): standard-coal coefficients
  (kgce per kg, per m3 for gas) and carbon emission factors (kg C per kgce);
- IPCC 2006 Guidelines Vol. 2 ch. 1: Table 1.2 default NCV (TJ/Gg), Table 1.3 default
  carbon content (kg C/GJ), Table 1.4 default CO2 emission factors (kg CO2/TJ), used
  as a second, independent check; natural gas NCV per volume 38,931 kJ/m3 (GB/T 2589).

Writes tests/validation/oracles/co2_accounting.json:  python co2_accounting_hand.py
"""

import json
from pathlib import Path

FUELS = ["coal", "coke", "crude_oil", "gasoline", "kerosene", "diesel", "fuel_oil",
         "natural_gas"]
STUDY_COAL = [0.7143, 0.9714, 1.4286, 1.4714, 1.4714, 1.4571, 1.4286, 1.2143]
STUDY_CARBON = [0.7559, 0.855, 0.5857, 0.5538, 0.5714, 0.5914, 0.6185, 0.4483]
IPCC_NCV = [25.8, 28.2, 42.3, 44.3, 43.8, 43.0, 40.4, None]  # TJ/Gg
IPCC_CC = [25.8, 29.2, 20.0, 18.9, 19.6, 20.2, 21.1, 15.3]  # kg C/GJ
IPCC_T14 = [94600, 107000, 73300, 69300, 71900, 74100, 77400, 56100]  # kg CO2/TJ
GAS_NCV_KJ_PER_M3 = 38931

# two provinces' fuel use: 10^4 t (natural gas: 10^8 m3)
ROWS = [
    [12000.0, 1500.0, 800.0, 600.0, 90.0, 900.0, 150.0, 60.0],
    [3000.0, 200.0, 0.0, 250.0, 40.0, 300.0, 10.0, 110.0],
]


def study_co2(row):
    out = []
    for k, q in enumerate(ROWS[row]):
        # 10^4 t -> 10^7 kg (gas 10^8 m3); x kgce/kg -> kgce; x kg C/kgce -> kg C
        phys = q * (1e8 if FUELS[k] == "natural_gas" else 1e7)
        kg_c = phys * STUDY_COAL[k] * STUDY_CARBON[k]
        out.append(kg_c * 44 / 12 / 1e7)  # kg CO2 -> 10^4 t
    return out


def ipcc_co2(row, use_table_14=False):
    out = []
    for k, q in enumerate(ROWS[row]):
        if FUELS[k] == "natural_gas":
            tj = q * 1e8 * GAS_NCV_KJ_PER_M3 / 1e9  # kJ -> TJ
        else:
            tj = q * 10 * IPCC_NCV[k]  # 10^4 t = 10 Gg
        kg_co2 = tj * (IPCC_T14[k] if use_table_14 else IPCC_CC[k] * 1000 * 44 / 12)
        out.append(kg_co2 / 1e7)
    return out


def main():
    res = {"fuels": FUELS, "input": ROWS, "units": {"input": "10k t; natural_gas 10^8 m3",
                                                   "output": "10k t CO2"}}
    res["study_co2"] = [study_co2(r) for r in range(len(ROWS))]
    res["ipcc2006_co2"] = [ipcc_co2(r) for r in range(len(ROWS))]
    res["ipcc2006_co2_table_1_4"] = [ipcc_co2(r, True) for r in range(len(ROWS))]
    out = Path(__file__).resolve().parents[1] / "oracles" / "co2_accounting.json"
    out.write_text(json.dumps(res, indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()

"""co2_emissions against the hand computation in tests/validation/scripts/
co2_accounting_hand.py (published coefficients typed there, not read from policylab)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policylab.accounting import co2_emissions

ORACLE = json.loads((Path(__file__).parents[1] / "validation" / "oracles"
                     / "co2_accounting.json").read_text())
DATA = pd.DataFrame(ORACLE["input"], columns=ORACLE["fuels"])


def test_study_factors_match_hand_computation():
    out = co2_emissions(DATA, "carbon_trading_study")
    np.testing.assert_allclose(out[ORACLE["fuels"]].to_numpy(), ORACLE["study_co2"],
                               rtol=1e-12)
    np.testing.assert_allclose(out["total"], np.sum(ORACLE["study_co2"], axis=1), rtol=1e-12)


def test_ipcc_defaults_match_hand_computation_and_table_1_4():
    out = co2_emissions(DATA, "ipcc2006")[ORACLE["fuels"]].to_numpy()
    np.testing.assert_allclose(out, ORACLE["ipcc2006_co2"], rtol=1e-12)
    # IPCC Table 1.4 prints CO2 factors rounded to 3 significant digits: NCV x carbon
    # content x 44/12 must agree with it to that rounding (0.1 %)
    np.testing.assert_allclose(out, ORACLE["ipcc2006_co2_table_1_4"], rtol=1e-3)


def test_units_are_converted_explicitly_or_refused():
    base = co2_emissions(DATA)
    own = DATA.assign(natural_gas=DATA["natural_gas"] * 1e4, coal=DATA["coal"] * 1e4)
    conv = co2_emissions(own, units={"natural_gas": "10k m3", "coal": "t"})
    np.testing.assert_allclose(conv.to_numpy(), base.to_numpy(), rtol=1e-12)
    with pytest.raises(Exception, match="unit mismatch for 'natural_gas'.*mass unit"):
        co2_emissions(DATA, units={"natural_gas": "t"})
    with pytest.raises(Exception, match="unit mismatch for 'coal'.*unknown unit"):
        co2_emissions(DATA, units={"coal": "barrel"})
    with pytest.raises(Exception, match="not being used"):
        co2_emissions(DATA, fuels=["coal"], units={"coke": "t"})

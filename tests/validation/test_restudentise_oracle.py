"""Re-studentising a fitted model (``res.vcov(...)``) against pyfixest's
``Feols.vcov(...)``: a weighted unbalanced panel with unit and year effects, fitted with
iid errors and re-studentised with HC1, one-way and two-way clustering (and CRV3 on
the model with the unit effect alone, nested in the clusters). Oracle
numbers from tests/validation/scripts/restudentise_pyfixest.py (pyfixest 0.60)."""

import json
from pathlib import Path

import pandas as pd
import pytest

import policylab as pl

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "restudentise_pyfixest.json").read_text())
DATA = pd.read_csv(HERE / "data" / ORACLE["data"])


def _fit(fml):
    return pl.feols(fml, DATA, vcov=ORACLE["fitted_with"], weights=ORACLE["weights"])


@pytest.fixture(scope="module")
def fitted():
    return _fit(ORACLE["cases"]["iid"]["fml"])


@pytest.mark.oracle
@pytest.mark.parametrize("name", list(ORACLE["cases"]))
def test_restudentised_matches_pyfixest(name):
    ref = ORACLE["cases"][name]
    r = _fit(ref["fml"]).vcov(ref["vcov"])
    assert r.nobs == ref["nobs"]
    tab = r.tidy().set_index("term")
    for term in ref["coef"]:
        row = tab.loc[term]
        assert row["estimate"] == pytest.approx(ref["coef"][term], rel=1e-8)
        assert row["std_error"] == pytest.approx(ref["se"][term], rel=1e-8)
        assert row["statistic"] == pytest.approx(ref["t"][term], rel=1e-8)
        assert row["p_value"] == pytest.approx(ref["p"][term], rel=1e-6, abs=1e-12)
        assert row["conf_low"] == pytest.approx(ref["conf_low"][term], rel=1e-8)
        assert row["conf_high"] == pytest.approx(ref["conf_high"][term], rel=1e-8)


@pytest.mark.oracle
def test_the_fitted_model_is_left_as_it_was(fitted):
    before = fitted.se().copy()
    fitted.vcov({"CRV1": "grp+year"})
    pd.testing.assert_series_equal(fitted.se(), before)
    assert fitted.se()["x1"] == pytest.approx(ORACLE["cases"]["iid"]["se"]["x1"], rel=1e-8)

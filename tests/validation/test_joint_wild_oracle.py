"""Joint Wald test by the restricted wild cluster bootstrap against a brute-force
statsmodels refit of every enumerated bootstrap sample (and, for one coefficient,
against the wildboottest package's WCR p-value)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.inference.joint_wild import joint_wild_test

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "joint_wild_statsmodels.json").read_text())
WBT = json.loads((HERE / "oracles" / "wild_wildboottest.json").read_text())

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def data():
    df = pd.read_csv(HERE / "data" / "wild_design.csv")
    return df.assign(w=1 + (df["u"] % 3) / 2)


@pytest.mark.parametrize("terms", [["d", "x"], ["d"]])
@pytest.mark.parametrize("weighted", [False, True])
def test_every_bootstrap_statistic_matches_a_statsmodels_refit(data, terms, weighted):
    model = pl.feols("y ~ d + x | u + t", data, vcov={"CRV1": "g"},
                     weights="w" if weighted else None)
    res = joint_wild_test(model, terms, draws=9999, weights_type="rademacher")
    ref = ORACLE[f"{'_'.join(terms)}_{'wls' if weighted else 'ols'}"]
    assert res.meta["enumerated"] and res.meta["draws"] == 2**9
    assert res.statistic == pytest.approx(ref["statistic"], rel=1e-8)
    np.testing.assert_allclose(res.stats, ref["stats"], rtol=1e-8)
    assert res.p_value == pytest.approx(ref["p"], abs=1e-12)


def test_one_coefficient_equals_wildboottest_wcr(data):
    model = pl.feols("y ~ d + x | u + t", data, vcov={"CRV1": "g"})
    for param in ("d", "x"):
        res = joint_wild_test(model, [param], draws=9999, weights_type="rademacher")
        assert res.p_value == pytest.approx(WBT[f"{param}_wcr"]["p"], abs=1e-12)


def test_refuses_terms_not_in_the_model(data):
    model = pl.feols("y ~ d + x | u + t", data, vcov={"CRV1": "g"})
    with pytest.raises(pl.SpecError, match="not coefficients"):
        joint_wild_test(model, ["z"])

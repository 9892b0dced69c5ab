"""did_imputation's separate pre-trend test (BJS): coefficients of lead dummies in the
untreated-only regression, checked against dummy-variable OLS (statsmodels)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import policylab as pl

MPDTA = Path(__file__).parents[1] / "validation" / "data" / "mpdta.csv"


def test_pretrend_coefficients_equal_dummy_ols():
    d = pd.read_csv(MPDTA)
    r = pl.did_imputation(d, y="lemp", unit="countyreal", time="year",
                          cohort="first.treat", pretrends=2)
    g = d["first.treat"]
    u = d[~((g > 0) & (d.year >= g))].copy()
    rel = u.year - u["first.treat"]
    for k in (1, 2):
        u[f"p{k}"] = ((u["first.treat"] > 0) & (rel == -k)).astype(float)
    fit = smf.ols("lemp ~ p1 + p2 + C(countyreal) + C(year)", data=u).fit()
    got = r.meta["pretrends"].set_index("term")["estimate"]
    assert got["pre::-1"] == pytest.approx(fit.params["p1"], rel=1e-9)
    assert got["pre::-2"] == pytest.approx(fit.params["p2"], rel=1e-9)
    assert r.meta["pretrend_test"]["df1"] == 2
    assert 0 < r.meta["pretrend_test"]["p_value"] < 1
    # the estimates themselves are unchanged by the option
    base = pl.did_imputation(d, y="lemp", unit="countyreal", time="year",
                             cohort="first.treat")
    np.testing.assert_array_equal(base.beta, r.beta)


def test_did2s_rejects_unknown_vcov():
    d = pd.read_csv(MPDTA)
    with pytest.raises(pl.errors.SpecError):
        pl.did2s(d, y="lemp", unit="countyreal", time="year", cohort="first.treat",
                 vcov="hc1")

"""did2s (Gardner) and Sun-Abraham against pyfixest 0.60 on mpdta; imputation points
against exact dummy-variable OLS (statsmodels)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import policylab as pl

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "imputation_pyfixest.json").read_text())
KW = dict(y="lemp", unit="countyreal", time="year", cohort="first.treat")


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(HERE / "data" / "mpdta.csv")


@pytest.fixture(scope="module")
def no2004(mpdta):
    # as the oracle script: pyfixest's did2s fails on the 2004 cohort's singletons
    d = mpdta[mpdta["first.treat"] != 2004].reset_index(drop=True)
    return d.assign(lpop_trend=d["lpop"] * (d.year - 2003) / 10)


def test_did2s_matches_pyfixest(no2004):
    a = pl.did2s(no2004, **KW)
    o = ORACLE["did2s_att"]
    # pyfixest recovers the first-stage fixed effects iteratively (to ~1e-5 here:
    # our points equal exact dummy OLS to 1e-10, below); the GMM SEs agree to 1e-5
    assert a.coef()["ATT"] == pytest.approx(o["coef"][0], rel=1e-3)
    assert a.se()["ATT"] == pytest.approx(o["se"][0], rel=1e-5)
    e = pl.did2s(no2004, **KW, event_study=True)
    o = ORACLE["did2s_es"]
    np.testing.assert_allclose(e.coef().to_numpy(), o["coef"], rtol=1e-3)
    np.testing.assert_allclose(e.se().to_numpy(), o["se"], rtol=1e-5)
    x = pl.did2s(no2004, **KW, controls=["lpop_trend"])
    o = ORACLE["did2s_att_lpop_trend"]
    assert x.coef()["ATT"] == pytest.approx(o["coef"][0], rel=1e-3)
    assert x.se()["ATT"] == pytest.approx(o["se"][0], rel=1e-5)


def test_did2s_points_equal_imputation_and_exact_ols(no2004):
    D = (no2004["first.treat"] > 0) & (no2004.year >= no2004["first.treat"])
    fit = smf.ols("lemp ~ lpop_trend + C(countyreal) + C(year)", data=no2004[~D]).fit()
    exact = (no2004.loc[D, "lemp"] - fit.predict(no2004[D])).mean()
    im = pl.did_imputation(no2004, **KW, controls=["lpop_trend"])
    d2 = pl.did2s(no2004, **KW, controls=["lpop_trend"])
    assert im.coef()["ATT"] == pytest.approx(exact, rel=1e-9)
    assert d2.coef()["ATT"] == pytest.approx(exact, rel=1e-9)
    es = pl.did2s(no2004, **KW, controls=["lpop_trend"], event_study=True)
    for term, b in es.coef().items():
        assert b == pytest.approx(im.coef()[term], rel=1e-9)
    bjs = pl.did2s(no2004, **KW, controls=["lpop_trend"], vcov="bjs")
    assert bjs.se()["ATT"] == pytest.approx(im.se()["ATT"], rel=1e-12)


def test_sun_abraham_matches_pyfixest_saturated(mpdta):
    sa = pl.sun_abraham(mpdta, **KW)
    o = ORACLE["sun_abraham"]
    assert sa.meta["rel_times"] == o["rel"]
    np.testing.assert_allclose(sa.beta, o["estimate"], rtol=1e-8)
    np.testing.assert_allclose(sa.se().to_numpy(), o["se"], rtol=1e-8)
    ce = sa.meta["cohort_effects"]
    assert len(ce) == len(o["cohort_coef"])

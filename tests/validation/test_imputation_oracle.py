"""did2s (Gardner) and Sun-Abraham against pyfixest 0.60 on mpdta and on a generated
staggered design with a non-default first stage (unit + region^year) and weights;
imputation points against exact dummy-variable (W)LS (statsmodels) and the BJS
covariance against its dense formula."""

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
    # the oracle script runs pyfixest's fixed-effect recovery at 1e-14 (its default
    # 1e-6 moves the points by ~1e-4), so points and GMM SEs agree to 1e-8
    a = pl.did2s(no2004, **KW)
    o = ORACLE["did2s_att"]
    assert a.coef()["ATT"] == pytest.approx(o["coef"][0], rel=1e-8)
    assert a.se()["ATT"] == pytest.approx(o["se"][0], rel=1e-8)
    e = pl.did2s(no2004, **KW, event_study=True)
    o = ORACLE["did2s_es"]
    np.testing.assert_allclose(e.coef().to_numpy(), o["coef"], rtol=1e-8)
    np.testing.assert_allclose(e.se().to_numpy(), o["se"], rtol=1e-8)
    x = pl.did2s(no2004, **KW, controls=["lpop_trend"])
    o = ORACLE["did2s_att_lpop_trend"]
    assert x.coef()["ATT"] == pytest.approx(o["coef"][0], rel=1e-8)
    assert x.se()["ATT"] == pytest.approx(o["se"][0], rel=1e-8)


@pytest.fixture(scope="module")
def design():
    return pd.read_csv(HERE / "data" / "imputation_fe.csv")


GKW = dict(y="y", unit="unit", time="year", cohort="cohort")
RY = "unit + region^year"
CASES = {
    "fe_region_year_att": dict(fe=RY),
    "fe_region_year_es": dict(fe=RY, event_study=True),
    "fe_region_year_x_att": dict(fe=["unit", "region^year"], controls=["x"]),
    "weights_att": dict(weights="w"),
    "weights_es": dict(weights="w", event_study=True),
    "fe_region_year_weights_att": dict(fe=RY, weights="w"),
    "fe_region_year_weights_es": dict(fe=RY, weights="w", event_study=True),
    "fe_region_year_x_weights_att": dict(fe=RY, weights="w", controls=["x"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_did2s_fe_and_weights_match_pyfixest(design, case):
    r = pl.did2s(design, **GKW, **CASES[case])
    o = ORACLE[case]
    assert len(r.terms) == len(o["coef"])
    np.testing.assert_allclose(r.beta, o["coef"], rtol=1e-8)
    np.testing.assert_allclose(r.se().to_numpy(), o["se"], rtol=1e-8)


def _dense_bjs(d, weights, cluster, controls=()):
    """BJS by hand with dense matrices: WLS on untreated rows with unit and
    region-by-year dummies, imputation weights by pseudo-inverse, treated residuals
    around cohort x period means with Stata did_imputation's smart weights."""
    D = ((d.cohort > 0) & (d.year >= d.cohort)).to_numpy()
    Z = pd.get_dummies(d.unit.astype(str)).to_numpy(float)
    Z = np.column_stack([Z, pd.get_dummies(d.region.astype(str) + "_"
                                           + d.year.astype(str)).to_numpy(float),
                         d[list(controls)].to_numpy(float)])
    om = np.ones(len(d)) if weights is None else d[weights].to_numpy(float)
    yv = d.y.to_numpy()
    Z0, Z1, om0 = Z[~D], Z[D], om[~D]
    A = np.linalg.pinv(Z0.T @ (om0[:, None] * Z0))
    b = A @ Z0.T @ (om0 * yv[~D])
    tau = yv[D] - Z1 @ b
    eps0 = yv[~D] - Z0 @ b
    e = om[D] / om[D].sum()
    v0 = -om0 * (Z0 @ (A @ (Z1.T @ e)))
    cell = pd.factorize(pd.Series(list(zip(d.cohort[D], d.year[D]))))[0]
    cl = pd.factorize(d[cluster])[0]
    cw = pd.Series(e).groupby([cl[D], cell]).transform("sum").to_numpy()
    sw = cw * e
    avg = (pd.Series(sw * tau).groupby(cell).transform("sum")
           / pd.Series(sw).groupby(cell).transform("sum")).to_numpy()
    s = np.bincount(cl[D], weights=e * (tau - avg), minlength=cl.max() + 1)
    s += np.bincount(cl[~D], weights=v0 * eps0, minlength=cl.max() + 1)
    return e @ tau, np.sqrt(s @ s)


@pytest.mark.parametrize("weights", [None, "w"])
@pytest.mark.parametrize("cluster", ["unit", "region"])
def test_imputation_fe_weights_equal_dense_formula(design, weights, cluster):
    att, se = _dense_bjs(design, weights, cluster)
    r = pl.did_imputation(design, **GKW, fe=RY, weights=weights, cluster=cluster)
    assert r.coef()["ATT"] == pytest.approx(att, rel=1e-9)
    assert r.se()["ATT"] == pytest.approx(se, rel=1e-8)
    assert r.meta["fe"] == ["unit", "region^year"] and r.meta["weights"] == weights


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
def test_imputation_fe_weights_points_equal_exact_wls(design):
    # unit dummies are nested in region: the dummy design is rank-deficient, its
    # predictions are not
    d = design.assign(D=(design.cohort > 0) & (design.year >= design.cohort),
                      ry=design.region.astype(str) + "_" + design.year.astype(str))
    fit = smf.wls("y ~ x + C(unit) + C(ry)", data=d[~d.D], weights=d.w[~d.D]).fit()
    tau = d.y[d.D] - fit.predict(d[d.D])
    w1 = d.w[d.D]
    r = pl.did_imputation(design, **GKW, fe=RY, weights="w", controls=["x"])
    assert r.coef()["ATT"] == pytest.approx((w1 * tau).sum() / w1.sum(), rel=1e-9)
    h = (d.year - d.cohort)[d.D]
    for k in (0, 3):
        m = h == k
        assert r.coef()[f"tau::{k}"] == pytest.approx(
            (w1[m] * tau[m]).sum() / w1[m].sum(), rel=1e-9)
    att, se = _dense_bjs(design, "w", "unit", controls=["x"])
    assert r.se()["ATT"] == pytest.approx(se, rel=1e-8)


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
    bjs = pl.did2s(no2004, **KW, controls=["lpop_trend"], variance="bjs")
    assert bjs.se()["ATT"] == pytest.approx(im.se()["ATT"], rel=1e-12)


def test_sun_abraham_matches_pyfixest_saturated(mpdta):
    sa = pl.sun_abraham(mpdta, **KW)
    o = ORACLE["sun_abraham"]
    assert sa.meta["rel_times"] == o["rel"]
    np.testing.assert_allclose(sa.beta, o["estimate"], rtol=1e-8)
    np.testing.assert_allclose(sa.se().to_numpy(), o["se"], rtol=1e-8)
    ce = sa.meta["cohort_effects"]
    assert len(ce) == len(o["cohort_coef"])


SA_ORACLE = json.loads((HERE / "oracles" / "sun_abraham_pyfixest.json").read_text())
SA_CASES = {
    "sa_weights": dict(weights="w"),
    "sa_fe_region_year": dict(fe="unit + region^year"),
    "sa_fe_region_year_weights": dict(fe=["unit", "region^year"], weights="w"),
    "sa_fe_region_year_x_weights": dict(fe="unit + region^year", weights="w",
                                        controls=["x"]),
}


@pytest.mark.parametrize("case", list(SA_CASES))
def test_sun_abraham_fe_and_weights_match_pyfixest_interactions(design, case):
    # pyfixest's saturated event study takes neither weights nor other fixed effects:
    # the oracle is pyfixest feols on hand-built cohort x relative-time dummies with
    # the same FE and weights, aggregated by hand with weighted shares (fixest's
    # aggregate(use_weights = TRUE)); the route reproduces pyfixest's saturated event
    # study on mpdta to 1e-14 (scripts/sun_abraham_pyfixest.py)
    assert SA_ORACLE["route_check_max_rel_diff"] < 1e-8
    r = pl.sun_abraham(design, **GKW, **SA_CASES[case])
    o = SA_ORACLE[case]
    assert r.meta["rel_times"] == o["rel"] and r.nobs == o["nobs"]
    np.testing.assert_allclose(r.beta, o["estimate"], rtol=1e-8)
    np.testing.assert_allclose(r.se().to_numpy(), o["se"], rtol=1e-8)
    ce = r.meta["cohort_effects"]
    np.testing.assert_allclose(ce["weight"], o["cohort_mass"], rtol=1e-12)
    assert r.meta["fe"] == (["unit", "region^year"] if "fe" in SA_CASES[case]
                            else ["unit", "year"])

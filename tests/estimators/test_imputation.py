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


def test_did2s_rejects_unknown_variance():
    d = pd.read_csv(MPDTA)
    with pytest.raises(pl.errors.SpecError, match="variance must be"):
        pl.did2s(d, y="lemp", unit="countyreal", time="year", cohort="first.treat",
                 variance="hc1")


# --- fe= and weights= ------------------------------------------------------------

DESIGN = Path(__file__).parents[1] / "validation" / "data" / "imputation_fe.csv"
GKW = dict(y="y", unit="unit", time="year", cohort="cohort")


@pytest.fixture(scope="module")
def design():
    return pd.read_csv(DESIGN)


def test_fe_default_and_spellings_agree(design):
    base = pl.did_imputation(design, **GKW)
    same = pl.did_imputation(design, **GKW, fe="unit + year")
    np.testing.assert_allclose(same.beta, base.beta, rtol=1e-12)
    np.testing.assert_allclose(same.se(), base.se(), rtol=1e-10)
    assert base.meta["fe"] == ["unit", "year"]
    a = pl.did_imputation(design, **GKW, fe="unit + region^year")
    b = pl.did_imputation(design, **GKW, fe=["unit", "region ^ year"])
    c = pl.did_imputation(design, **GKW, fe="| unit+region^year")
    for r in (b, c):
        np.testing.assert_allclose(r.beta, a.beta, rtol=1e-12)
        np.testing.assert_allclose(r.se(), a.se(), rtol=1e-10)
    assert a.meta["fe"] == ["unit", "region^year"]
    # a precomputed interaction column is the same model
    d = design.assign(ry=design.region * 10_000 + design.year)
    e = pl.did_imputation(d, **GKW, fe="unit + ry")
    np.testing.assert_allclose(e.beta, a.beta, rtol=1e-10)
    np.testing.assert_allclose(e.se(), a.se(), rtol=1e-8)


def test_fe_missing_column_names_it(design):
    with pytest.raises(pl.errors.SpecError, match="provnce"):
        pl.did_imputation(design, **GKW, fe="unit + provnce^year")
    with pytest.raises(pl.errors.SpecError, match="region"):
        pl.did2s(design, **GKW, fe=["unit", "regoin"])
    with pytest.raises(pl.errors.SpecError, match="no fixed effect"):
        pl.did_imputation(design, **GKW, fe="")
    with pytest.raises(pl.errors.SpecError, match="interaction"):
        pl.did_imputation(design, **GKW, fe="unit + log(year)")


def _all_treated_cell(design):
    """Every unit of region 1 that is observed in 2011 is made treated by 2011 (the
    never-treated of region 1 become a 2011 cohort): region 1 x 2011-2012 has no
    untreated unit."""
    d = design.copy()
    r1_never = (d.region == 1) & (d.cohort == 0)
    d.loc[r1_never, "cohort"] = 2011
    return d


def test_unimputable_fe_levels_raise_with_count_and_fe(design):
    d = _all_treated_cell(design)
    cell = (d.region == 1) & (d.year >= 2011)
    n_bad = int(cell.sum())
    with pytest.raises(pl.errors.EstimationError,
                       match=rf"{n_bad} treated observations cannot be imputed.*'region\^year'"
                       ".*autosample"):
        pl.did_imputation(d, **GKW, fe="unit + region^year")
    # unit + year is fine: other regions' untreated rows identify 2011 and 2012
    pl.did_imputation(d, **GKW)
    with pytest.warns(pl.errors.PolicyLabWarning, match="cannot be imputed"):
        r = pl.did_imputation(d, **GKW, fe="unit + region^year", autosample=True)
    assert r.meta["dropped"] == {"treated, fixed effects not imputable": n_bad}
    assert r.nobs == len(d) - n_bad
    # the same as restricting the sample by hand
    manual = pl.did_imputation(d[~cell], **GKW, fe="unit + region^year")
    np.testing.assert_allclose(r.beta, manual.beta, rtol=1e-12)
    np.testing.assert_allclose(r.se(), manual.se(), rtol=1e-10)
    with pytest.warns(pl.errors.PolicyLabWarning):
        d2 = pl.did2s(d, **GKW, fe="unit + region^year", autosample=True)
    assert d2.coef()["ATT"] == pytest.approx(r.coef()["ATT"], rel=1e-12)


def test_always_treated_unit_is_named_as_unit_fe(design):
    d = design.copy()
    d.loc[d.unit == d.unit[d.cohort > 0].iloc[0], "cohort"] = 2001
    with pytest.raises(pl.errors.EstimationError, match=r"'unit' level never untreated \(1 "):
        pl.did2s(d, **GKW)


def test_weights_constant_scale_and_bad_values(design):
    base = pl.did2s(design, **GKW, fe="unit + region^year")
    const = pl.did2s(design.assign(w1=2.5), **GKW, fe="unit + region^year", weights="w1")
    np.testing.assert_allclose(const.beta, base.beta, rtol=1e-12)
    np.testing.assert_allclose(const.se(), base.se(), rtol=1e-10)
    a = pl.did_imputation(design, **GKW, weights="w")
    b = pl.did_imputation(design.assign(w3=3 * design.w), **GKW, weights="w3")
    np.testing.assert_allclose(b.beta, a.beta, rtol=1e-12)
    np.testing.assert_allclose(b.se(), a.se(), rtol=1e-10)
    assert not np.allclose(a.beta, pl.did_imputation(design, **GKW).beta)
    with pytest.raises(pl.errors.SpecError, match="negative"):
        pl.did_imputation(design.assign(w=-design.w), **GKW, weights="w")
    d = design.copy()
    d.loc[:4, "w"] = np.nan
    d.loc[5, "w"] = 0.0
    r = pl.did_imputation(d, **GKW, weights="w")
    assert r.nobs == len(d) - 6
    assert sum(r.meta["dropped"].values()) == 6


def test_pretrends_use_fe_and_weights(design):
    r = pl.did_imputation(design, **GKW, fe="unit + region^year", weights="w",
                          pretrends=2)
    D = (design.cohort > 0) & (design.year >= design.cohort)
    u = design[~D].copy()
    rel = u.year - u.cohort
    for k in (1, 2):
        u[f"p{k}"] = ((u.cohort > 0) & (rel == -k)).astype(float)
    fit = pl.feols("y ~ p1 + p2 | unit + region^year", u, vcov={"CRV1": "unit"},
                   weights="w")
    got = r.meta["pretrends"].set_index("term")
    assert got.loc["pre::-1", "estimate"] == pytest.approx(fit.coef()["p1"], rel=1e-9)
    assert got.loc["pre::-2", "std_error"] == pytest.approx(fit.se()["p2"], rel=1e-9)

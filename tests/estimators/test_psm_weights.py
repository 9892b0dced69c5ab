"""Sampling weights in matching and PSM-DID (MatchIt's s.weights): what they change,
what they leave alone, and the errors. The numbers against R MatchIt are in
tests/validation/test_psm_sweights_oracle.py."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import policylab as pl
from policylab.errors import DataError, SpecError
from policylab.estimators.design import build_design


def _panel(seed=0, n=120):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    ever = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x1 - 0.5 * x2 - 0.5)))).astype(int)
    years = np.arange(2001, 2005)
    df = pd.DataFrame({"unit": np.repeat(np.arange(n), 4), "year": np.tile(years, n)})
    u = df.unit.to_numpy()
    df["x1"] = x1[u] + rng.normal(0, 0.2, len(df))
    df["x2"] = x2[u] + rng.normal(0, 0.2, len(df))
    df["d"] = ((ever[u] == 1) & (df.year >= 2003)).astype(int)
    df["w"] = np.exp(rng.normal(0, 0.6, n))[u] * (1 + 0.1 * (df.year - 2001))
    df["y"] = 0.5 * df.d + df.x1 + rng.normal(size=len(df))
    return df


KW = dict(y="y", covariates=["x1", "x2"], treat="d", unit="unit", time="year")


@pytest.mark.parametrize("method", ["kernel", "nearest"])
def test_constant_weights_change_nothing(method):
    # a constant sampling weight scales every likelihood, mean and regression alike
    df = _panel().assign(w3=3.0)
    a = pl.psm_did(df, method=method, **KW)
    b = pl.psm_did(df, method=method, weights="w3", **KW)
    np.testing.assert_allclose(b.matching.rows["_pscore"], a.matching.rows["_pscore"],
                               rtol=1e-7)
    assert b.did.att == pytest.approx(a.did.att, rel=1e-7)
    assert b.did.se().iloc[0] == pytest.approx(a.did.se().iloc[0], rel=1e-7)
    ta, tb = a.balance.tidy(), b.balance.tidy()
    num = ta.select_dtypes("number").columns
    np.testing.assert_allclose(tb[num], ta[num], rtol=1e-6)
    assert b.balance.summary_stats == pytest.approx(a.balance.summary_stats, rel=1e-6)
    assert not a.meta["notes"] and b.meta["notes"][0].key == "psm.sampling_weights"


def test_weights_enter_the_score_unless_told_not_to():
    df = _panel()
    w = pl.psm_did(df, weights="w", **KW)
    u = pl.psm_did(df, weights="w", score_weighted=False, **KW)
    plain = pl.psm_did(df, **KW)
    # unweighted score: the same scores and matching weights as without weights
    np.testing.assert_allclose(u.matching.rows["_pscore"], plain.matching.rows["_pscore"])
    np.testing.assert_allclose(u.matching.rows["_weight"], plain.matching.rows["_weight"])
    assert not np.allclose(w.matching.rows["_pscore"], plain.matching.rows["_pscore"])
    # ... but the DID is weighted by the matching weights x the row's sampling weight
    used = df.assign(mw=df.unit.map(pd.Series(plain.matching.rows["_weight"].to_numpy(),
                                              index=df.unit[df.year == 2002].to_numpy())))
    used = used[used.mw > 0]
    X = pd.get_dummies(used[["unit", "year"]].astype(str), drop_first=True, dtype=float)
    ref = sm.WLS(used.y, sm.add_constant(X.assign(d=used.d.astype(float))),
                 weights=used.mw * used.w).fit()
    assert u.did.att == pytest.approx(ref.params["d"], rel=1e-8)
    assert u.meta["notes"][0].key == "psm.sampling_weights_unweighted_score"


def test_weighted_pstest_columns_by_hand():
    df = _panel(2)
    cross = df[df.year == 2002].assign(
        ever=lambda x: x.unit.map(df.groupby("unit").d.max()))
    m = pl.match(cross, "ever", ["x1", "x2"], method="nearest", weights="w")
    b = pl.balance_table(m, cross).tidy().set_index("variable")
    t, c = cross[cross.ever == 1], cross[cross.ever == 0]

    def awvar(x, w):  # Stata's [aw=] variance
        m_ = np.average(x, weights=w)
        return np.sum(w * (x - m_) ** 2) / w.sum() * len(x) / (len(x) - 1)

    mt, mc = np.average(t.x1, weights=t.w), np.average(c.x1, weights=c.w)
    sd = np.sqrt((awvar(t.x1, t.w) + awvar(c.x1, c.w)) / 2)
    assert b.loc["x1", "bias_before"] == pytest.approx(100 * (mt - mc) / sd, rel=1e-10)
    wls = sm.WLS(cross.x1, sm.add_constant(cross.ever.astype(float)), weights=cross.w).fit()
    assert b.loc["x1", "p_before"] == pytest.approx(wls.pvalues["ever"], rel=1e-8)
    mw = m.rows["_weight"].fillna(0)
    cc = (cross.ever == 0) & (mw > 0)
    mc1 = np.average(cross.x1[cc], weights=(mw * cross.w)[cc])
    assert b.loc["x1", "mean_control_after"] == pytest.approx(mc1, rel=1e-12)
    assert b.loc["x1", "bias_after"] == pytest.approx(
        100 * (b.loc["x1", "mean_treated_after"] - mc1) / sd, rel=1e-10)


def test_a_design_with_weights_is_the_keyword_call():
    df = _panel(1)
    d = build_design(df, unit="unit", time="year", treat="d", weights="w")
    a = pl.psm_did(d, y="y", covariates=["x1", "x2"])
    b = pl.psm_did(df, weights="w", **KW)
    assert a.did.att == b.did.att and a.did.meta["design"]["weights"] == "w"
    with pytest.raises(SpecError, match="already fixes"):
        pl.psm_did(d, y="y", covariates=["x1", "x2"], weights="w")


def test_bad_weights_and_the_unweighted_cross_sectional_att_are_refused():
    df = _panel()
    with pytest.raises(DataError, match="'w'"):
        pl.psm_did(df.assign(w=-df.w), weights="w", **KW)
    cross = df[df.year == 2003]
    with pytest.raises(SpecError, match="_weight"):
        pl.match(cross, "d", ["x1", "x2"], outcome="y", weights="w")
    with pytest.raises(DataError, match="'w'"):
        pl.match(cross.assign(w=np.where(cross.d == 1, 0.0, 1.0)), "d", ["x1", "x2"],
                 weights="w")
    # the input is left as it was
    assert "_weight" not in df.columns and "_psm_weight" not in df.columns


@pytest.mark.parametrize("mode", ["base_year", "pooled"])
def test_rows_missing_a_covariate_are_left_out_of_the_matching(mode):
    # psmatch2 gives a row with a missing covariate no score and does not match it:
    # the same DID as on the data without those rows (they carry no matching weight)
    df = _panel()
    gone = df["unit"].isin([3, 10, 17, 40]) & (df["year"] == 2002)
    holes = df.assign(x2=df["x2"].mask(gone))
    kw = {**KW, "mode": mode, **({"base_year": 2002} if mode == "base_year" else {})}
    with pytest.warns(UserWarning, match="missing covariates"):
        a = pl.psm_did(holes, **kw)
    drop = df["unit"].isin([3, 10, 17, 40]) if mode == "base_year" else gone
    b = pl.psm_did(df[~drop].reset_index(drop=True), **kw)
    assert a.did.att == pytest.approx(b.did.att, rel=1e-10)
    assert a.did.se().iloc[0] == pytest.approx(b.did.se().iloc[0], rel=1e-10)
    assert a.did.nobs == b.did.nobs

"""fixest syntax on feols: cluster= / vcov shorthand, the default-vcov label, stepwise
formulas, 2SLS, predict / resid / fixef and the coefficient plot (behaviour and errors;
agreement with pyfixest / linearmodels is in tests/validation/test_feols_syntax_oracle.py).
"""

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import EstimationError, SpecError

DF = pd.read_csv(Path(__file__).parents[1] / "validation" / "data" / "feols_syntax.csv")
FML = "y ~ x1 + x2 | unit + year"


@pytest.mark.parametrize("spelling", [
    {"cluster": "region"}, {"cluster": "~region"}, {"cluster": ["region"]},
    {"vcov": "region"}, {"vcov": {"CRV1": "region"}},
])
def test_cluster_spellings_mean_crv1(spelling):
    r = pl.feols(FML, DF, **spelling)
    assert r.meta["vcov"] == "CRV1" and r.meta["cluster"] == ["region"]
    assert r.n_clusters == {"region": 5}
    assert "default" not in r.meta["vcov_label"]


def test_cluster_two_way_and_fixest_words():
    a = pl.feols(FML, DF, cluster="unit + year")
    assert a.meta["cluster"] == ["unit", "year"]
    b = pl.feols(FML, DF, vcov="twoway")
    np.testing.assert_array_equal(a.vcov_matrix, b.vcov_matrix)
    c = pl.feols(FML, DF, vcov="cluster")
    assert c.meta["cluster"] == ["unit"]
    d = pl.feols(FML, DF, vcov="CRV3", cluster="unit")
    assert d.meta["vcov"] == "CRV3"


@pytest.mark.parametrize("kwargs, match", [
    ({"vcov": "hetero", "cluster": "unit"}, "disagree"),
    ({"vcov": "no_such_column"}, "not known"),
    ({"cluster": 3}, "not understood"),
])
def test_bad_vcov_spellings_raise(kwargs, match):
    with pytest.raises(SpecError, match=match):
        pl.feols(FML, DF, **kwargs)


def test_twoway_needs_two_fixed_effects():
    with pytest.raises(SpecError, match="first 2 fixed effect"):
        pl.feols("y ~ x1 | unit", DF, vcov="twoway")


def test_summary_says_when_the_default_vcov_was_used():
    r = pl.feols(FML, DF)
    assert r.meta["vcov_default"] is True and r.meta["cluster"] == ["unit"]
    assert "default with fixed effects" in r.summary()
    assert "iid" in r.summary()  # names the convention of fixest / pyfixest
    assert "vcov_default" not in pl.feols(FML, DF, vcov="iid").meta
    assert "vcov_default" not in pl.feols("y ~ x1", DF).meta  # no FE: iid, as everyone


def test_stepwise_returns_a_list_etable_renders():
    res = pl.feols("y ~ csw(x1, x2, x3) | unit + year", DF, vcov="hetero")
    assert isinstance(res, list) and len(res) == 3
    assert [r.terms for r in res] == [["x1"], ["x1", "x2"], ["x1", "x2", "x3"]]
    text = str(pl.etable(res))
    assert "(3)" in text and "x3" in text
    assert "unit" in text.lower()  # FE rows


def test_stepwise_with_iv_and_fe():
    res = pl.feols("y ~ sw(x1, x2) | csw(unit, year) | d ~ z1 + z2", DF, vcov="iid")
    assert [r.meta["fe"] for r in res] == [["unit"], ["unit"], ["unit", "year"],
                                           ["unit", "year"]]
    assert all(r.meta["estimator"] == "2SLS" for r in res)


@pytest.mark.parametrize("fml, match", [
    ("y ~ csw(x1, x2) + sw(x3) | unit", "one per part"),
    ("sw(y, y2) ~ x1", "not among the outcomes"),
    ("y ~ csw(x1, | unit", "unbalanced"),
    ("y ~ csw(x1, , x2)", "empty argument"),
])
def test_bad_stepwise_formulas_raise(fml, match):
    with pytest.raises(SpecError, match=match):
        pl.feols(fml, DF)


def test_iv_result_and_etable_with_ols():
    before = DF.copy()
    iv = pl.feols("y ~ x1 | unit + year | d ~ z1 + z2", DF, vcov={"CRV1": "unit"})
    ols = pl.feols("y ~ x1 + d | unit + year", DF, vcov={"CRV1": "unit"})
    pd.testing.assert_frame_equal(DF, before)  # input untouched
    assert iv.terms == ["x1", "d"]
    assert iv.meta["iv"] == {"endog": ["d"], "instruments": ["z1", "z2"],
                             "first_stage_f": iv.first_stage_f}
    assert len(iv.first_stage) == 1 and iv.first_stage[0].terms == ["x1", "z1", "z2"]
    # rows missing y, x1, d, z1 or z2 are dropped and counted
    assert iv.meta["dropped"]["missing values"] == 4
    # the endogeneity planted in the data biases OLS upwards
    assert iv.coef()["d"] < ols.coef()["d"]
    assert np.isfinite(iv.r2) and iv.r2 < 1
    text = str(pl.etable([ols, iv]))
    assert "(2)" in text and "d" in text


def test_weak_instrument_warns():
    rng = np.random.default_rng(5)
    df = DF.assign(noise=rng.normal(size=len(DF)))
    with pytest.warns(pl.PolicyLabWarning, match="weak instruments"):
        r = pl.feols("y ~ x1 | unit | d ~ noise", df, vcov="hetero")
    assert r.first_stage_f["d"] < 10


@pytest.mark.parametrize("fml, err, match", [
    ("y ~ x1 + d | unit | d ~ z1", SpecError, "both as exogenous"),
    ("y ~ x1 | unit | d ~ x1", SpecError, "also regressors"),
    ("y ~ x1 | unit | d + x2 ~ z1", SpecError, "at least as many"),
    ("y ~ x1 | unit | d ~ region", EstimationError, "no instrument"),
    ("y ~ x1 | unit | log(d) ~ z1", SpecError, "must be column names"),
    ("y ~ x1 | unit | d ~ ", SpecError, "must look like"),
])
def test_bad_iv_specifications_raise(fml, err, match):
    with pytest.raises(err, match=match):
        pl.feols(fml, DF)


def test_predict_resid_fixef_fit_together():
    r = pl.feols("y ~ x1 + x2 | unit + year", DF, vcov="iid")
    sample = DF.loc[r.resid().index]
    # y = fitted + residual on the estimation rows
    np.testing.assert_allclose(r.predict() + r.resid(), sample["y"], atol=1e-10)
    # the same rows as newdata take the other path (X b + looked-up effects)
    np.testing.assert_allclose(r.predict(sample).to_numpy(), r.predict().to_numpy(),
                               atol=1e-9)
    fx = r.fixef()
    assert set(fx) == {"unit", "year"} and fx["year"].iloc[0] == 0.0
    assert len(fx["unit"]) == 40 and len(fx["year"]) == 7
    fx["unit"][:] = 0  # a copy: the cached effects stay
    assert r.fixef()["unit"].abs().sum() > 0


def test_predict_newdata_unseen_level_and_missing_regressor_is_nan():
    r = pl.feols("y ~ x1 + x2 | unit", DF, vcov="iid")
    new = DF.head(4).copy()
    new.loc[0, "unit"] = 12345
    new.loc[1, "x1"] = np.nan
    p = r.predict(new)
    assert p.index.equals(new.index)
    assert p.isna().tolist() == [True, True, False, False]


def test_predict_with_i_terms_and_absent_levels():
    df = DF.dropna(subset=["y", "x1"]).assign(grp=lambda d: d["unit"] % 3)
    r = pl.feols("y ~ x1 + i(grp, ref=0)", df, vcov="iid")
    new = df[df["grp"] == 1].head(3)  # level 2 absent from newdata: its dummy is 0
    by_hand = (r.coef()["Intercept"] + r.coef()["x1"] * new["x1"] + r.coef()["grp::1"])
    np.testing.assert_allclose(r.predict(new).to_numpy(), by_hand.to_numpy(), atol=1e-12)


def test_fixef_needs_fixed_effects():
    with pytest.raises(SpecError, match="no fixed effects"):
        pl.feols("y ~ x1", DF).fixef()


def test_coefplot_leaves_backend_and_rcparams_alone():
    before_backend = matplotlib.get_backend()
    before_rc = dict(matplotlib.rcParams)
    r = pl.feols("y ~ x1 + x2 + x3", DF, vcov="hetero")
    fig = r.plot(terms=["x2", "x1"], level=0.9)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x2", "x1"]
    assert "90%" in ax.get_ylabel()
    # error bars span the 90% CI
    ci = r.confint(0.9).loc["x2"]
    seg = ax.collections[0].get_segments()[0]
    assert seg[0][1] == pytest.approx(ci["conf_low"]) and seg[1][1] == pytest.approx(
        ci["conf_high"])
    assert matplotlib.get_backend() == before_backend
    assert dict(matplotlib.rcParams) == before_rc
    matplotlib.pyplot.close(fig)


def test_coefplot_into_user_axes_and_of_several_models():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    res = pl.feols("y ~ csw(x1, x2)", DF, vcov="iid")
    out = res.plot(ax=ax, lang="zh")
    assert out is fig and len(ax.get_legend().get_texts()) == 2
    with pytest.raises(SpecError, match="not in the model"):
        res[0].plot(terms=["nope"])
    plt.close("all")


def test_predict_newdata_missing_columns_raise():
    r = pl.feols("y ~ x1 | unit", DF, vcov="iid")
    with pytest.raises(pl.DataError, match="'unit'"):
        r.predict(DF[["x1"]])
    with pytest.raises(pl.DataError, match="'x1'"):
        r.predict(DF[["unit"]])


def test_varying_slopes_are_hidden_and_named():
    df = DF.assign(t=DF["year"] - 2010)
    with pytest.warns(pl.PolicyLabWarning) as rec:
        r = pl.feols("y ~ x1 + x2 | unit[t] + year", df, vcov={"CRV1": "region"})
    assert r.terms == ["x1", "x2"] and r.meta["slopes"] == ["unit[t]"]
    assert r.meta["fe"] == ["unit", "year"] and r.meta["formula"].endswith("unit[t] + year")
    # the one slope collinear with the year FE is not reported to the user
    assert not any("slope" in str(w.message) for w in rec)
    assert r.meta["dropped_terms"] == {}
    assert 0 < r.r2_within < r.r2 and np.isfinite(r.f_stat)
    np.testing.assert_allclose(r.predict() + r.resid(), df.loc[r.resid().index, "y"])
    with pytest.raises(SpecError, match="varying slopes"):
        r.fixef()
    assert "x2" in str(pl.etable([r]))


@pytest.mark.parametrize("fml, match", [
    ("y ~ x1 | unit[t", "must look like"),
    ("y ~ x1 | unit[[t]", "must look like"),
    ("y ~ x1 | unit[t] | d ~ z1", "IV part"),
    ("y ~ x1 | unit[nope]", "nope"),
])
def test_bad_varying_slopes_raise(fml, match):
    with pytest.raises(pl.PolicyLabError, match=match):
        pl.feols(fml, DF.assign(t=DF["year"]))


def test_iv_summary_shows_first_stage_f_and_refuses_crv3():
    r = pl.feols("y ~ x1 | unit | d ~ z1 + z2", DF, vcov="hetero")
    assert f"first-stage F (d): {r.first_stage_f['d']:.4g}" in r.summary()
    assert "2SLS" in r.summary()
    with pytest.raises(SpecError, match="CRV3"):
        pl.feols("y ~ x1 | unit | d ~ z1 + z2", DF, vcov={"CRV3": "unit"})


def test_did_result_gets_predict_fixef_and_coefplot():
    import matplotlib.pyplot as plt

    castle = pd.read_csv(Path(__file__).parents[1] / "validation" / "data" / "castle.csv")
    r = pl.did(castle, y="l_homicide", treat="post", unit="sid", time="year")
    rows = r.resid().index
    np.testing.assert_allclose(r.predict() + r.resid(), castle.loc[rows, "l_homicide"])
    np.testing.assert_allclose(r.predict(castle.loc[rows]).to_numpy(),
                               r.predict().to_numpy(), atol=1e-9)
    assert {k: len(v) for k, v in r.fixef().items()} == {"sid": 50, "year": 11}
    fig = r.plot()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["post"]
    plt.close(fig)

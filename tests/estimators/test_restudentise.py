"""Re-studentising fitted models (``res.vcov(...)``), the one variance shared by feols,
feols_stream, the wild bootstrap and the placebo draws, and the deprecated names
(``result.model``, the wild bootstrap's ``weights=``)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from conftest import make_panel
from policylab.data.datasets import carbon_pilot
from policylab.errors import EstimationError, PolicyLabDeprecationWarning, SpecError
from policylab.estimators.feols_stream import feols_stream
from policylab.inference.joint_wild import joint_wild_test
from policylab.inference.placebo import placebo_test
from policylab.inference.wild import wild_bootstrap


def _panel() -> pd.DataFrame:
    df = make_panel(60, 8, seed=4, drop=0.1)
    rng = np.random.default_rng(1)
    df["grp"] = df["unit"] // 6
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df["grp_gap"] = df["grp"].astype(float)
    df.loc[df.index[:5], "grp_gap"] = np.nan
    return df


FML = "y ~ x1 + x2 | unit + year"
VCOVS = ["iid", "hetero", {"CRV1": "unit"}, {"CRV1": "grp"}, {"CRV1": "unit+year"},
         {"CRV3": "grp"}, "grp", "twoway"]


def _same(a, b):
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-13)
    np.testing.assert_allclose(a.vcov_matrix, b.vcov_matrix, rtol=1e-10)
    assert a.df_t == b.df_t
    assert a.meta["vcov_label"] == b.meta["vcov_label"]
    assert a.n_clusters == b.n_clusters
    pd.testing.assert_frame_equal(a.tidy(), b.tidy(), rtol=1e-10)


@pytest.mark.parametrize("vcov", VCOVS)
@pytest.mark.parametrize("weights", [None, "w"])
def test_restudentised_equals_a_fit_with_that_vcov(vcov, weights):
    df = _panel()
    fitted = pl.feols(FML, df, vcov="iid", weights=weights)
    _same(fitted.vcov(vcov), pl.feols(FML, df, vcov=vcov, weights=weights))


def test_ssc_alone_restudentises_with_the_same_vcov():
    df = _panel()
    r = pl.feols(FML, df, vcov={"CRV1": "grp"})
    _same(r.vcov(ssc="plm"), pl.feols(FML, df, vcov={"CRV1": "grp"}, ssc="plm"))


def test_vcov_without_arguments_is_still_the_matrix():
    r = pl.feols(FML, _panel(), vcov="hetero")
    V = r.vcov()
    assert isinstance(V, pd.DataFrame) and list(V.index) == r.terms


def test_did_and_event_study_inherit_it():
    p = carbon_pilot(staggered=True)
    d = pl.did(p, y="ln_co2", treat="did")
    h = d.vcov("hetero")
    assert type(h) is type(d) and h.att == d.att
    _same(h, pl.did(p, y="ln_co2", treat="did", vcov="hetero"))
    assert h.meta["design"]["vcov"] == "hetero"
    es = pl.event_study(p, y="ln_co2", cohort="cohort", window=(-3, 3))
    e2 = es.vcov("hetero")
    ref = pl.event_study(p, y="ln_co2", cohort="cohort", window=(-3, 3), vcov="hetero")
    np.testing.assert_allclose(e2.vcov_matrix, ref.vcov_matrix, rtol=1e-10)
    pd.testing.assert_frame_equal(e2.tidy(), ref.tidy(), rtol=1e-10)
    assert e2.regression.meta["vcov"] == "hetero" and es.regression.meta["vcov"] == "CRV1"


def test_iv_restudentised_equals_an_iv_fit_with_that_vcov():
    df = _panel()
    df["z"] = df["x1"] + np.random.default_rng(3).normal(size=len(df))
    fml = "y ~ x2 | unit + year | x1 ~ z"
    r = pl.feols(fml, df, vcov="iid").vcov({"CRV1": "grp"})
    ref = pl.feols(fml, df, vcov={"CRV1": "grp"})
    _same(r, ref)
    assert r.first_stage_f == pytest.approx(ref.first_stage_f, rel=1e-10)
    with pytest.raises(SpecError, match="CRV3"):
        pl.feols(fml, df, vcov="iid").vcov({"CRV3": "grp"})


def test_restudentise_refuses_what_it_cannot_do():
    df = _panel()
    r = pl.feols(FML, df, vcov="iid")
    with pytest.raises(SpecError, match="grp_gap"):
        r.vcov({"CRV1": "grp_gap"})  # missing in rows the model used
    with pytest.raises(SpecError, match="nope"):
        r.vcov({"CRV1": "nope"})
    with pytest.raises(SpecError):
        r.vcov("robustest")
    df["one"] = 1
    with pytest.raises(EstimationError, match="'one'"):
        pl.feols(FML, df, vcov="iid").vcov({"CRV1": "one"})


def test_one_variance_for_feols_stream_and_the_wild_bootstrap(tmp_path):
    df = _panel().drop(columns="grp_gap")
    df.to_parquet(tmp_path / "p.parquet")
    mem = pl.feols(FML, df, vcov={"CRV1": "grp"}, weights="w")
    streamed = feols_stream(FML, tmp_path / "p.parquet", weights="w", cluster="grp")
    np.testing.assert_allclose(streamed.se().to_numpy(), mem.se().to_numpy(), rtol=1e-9)
    assert streamed.meta["vcov_label"] == mem.meta["vcov_label"]
    short = feols_stream(FML, tmp_path / "p.parquet", "grp", weights="w")
    np.testing.assert_allclose(short.se().to_numpy(), mem.se().to_numpy(), rtol=1e-9)
    # the wild bootstrap's analytic t is the model's CRV1 t by the bootstrap clusters,
    # also when the model was fitted with another vcov
    for param in ("x1", "x2"):
        w = wild_bootstrap(pl.feols(FML, df, vcov="iid", weights="w"), param=param,
                           cluster="grp", draws=99, seed=1, ci=False)
        assert w.tstat == pytest.approx(mem.tstat()[param], rel=1e-10)
    with pytest.raises(SpecError, match="keeps no fit"):
        streamed.vcov("hetero")


def test_placebo_draws_studentise_like_the_model():
    # the real assignment among exact draws reproduces the model's t statistic
    df = make_panel(16, 8, seed=2)
    df["g"] = df["unit"] // 2
    df["d"] = ((df["g"] < 3) & (df["year"] >= df["year"].min() + 4)).astype(int)
    res = pl.did(df, y="y", treat="d", unit="unit", time="year", assign="g")
    pt = placebo_test(res, exact=True)
    assert np.isclose(pt.tstats, res.tstat()["d"], rtol=1e-9).any()
    assert pt.tstat == pytest.approx(res.tstat()["d"], rel=1e-9)


def test_result_model_is_a_deprecated_read_only_view():
    r = pl.feols(FML, _panel(), vcov={"CRV1": "grp"})
    with pytest.warns(PolicyLabDeprecationWarning, match="result.fit"):
        m = r.model
    assert m["X"] is r.fit.X and m["df_k"] == r.fit.df_k
    assert len(m["cluster_codes"]) == 1
    with pytest.raises(TypeError):
        m["X"] = None  # type: ignore[index]


def test_wild_weights_is_the_old_name_of_weights_type():
    r = pl.feols(FML, _panel(), vcov={"CRV1": "grp"})
    new = wild_bootstrap(r, param="x1", weights_type="webb", draws=199, seed=3, ci=False)
    with pytest.warns(PolicyLabDeprecationWarning, match="weights_type='webb'"):
        old = wild_bootstrap(r, param="x1", weights="webb", draws=199, seed=3, ci=False)
    assert old.p_value == new.p_value and old.meta["weights_type"] == "webb"
    with pytest.raises(SpecError, match="weights_type"):
        wild_bootstrap(r, param="x1", weights="webb", weights_type="webb")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PolicyLabDeprecationWarning)
        wild_bootstrap(r, param="x1", weights_type="rademacher", draws=99, seed=1, ci=False)
    with pytest.warns(PolicyLabDeprecationWarning, match="joint_wild_test"):
        jo = joint_wild_test(r, ["x1", "x2"], weights="mammen", draws=99, seed=2)
    jn = joint_wild_test(r, ["x1", "x2"], weights_type="mammen", draws=99, seed=2)
    assert jo.p_value == jn.p_value

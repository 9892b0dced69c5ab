"""Sampling weights in att_gt (R did's ``weightsname``) checked against independent
routes: weighted least squares with a cluster sandwich, replicated units for integer
weights, and input errors. The oracle comparison with moderndid is in
tests/validation/test_cs_oracle.py."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import policylab as pl
from policylab.errors import DataError

VAL = Path(__file__).parents[1] / "validation"
KW = dict(y="lemp", unit="countyreal", time="year", cohort="first.treat")


@pytest.fixture(scope="module")
def mpdta():
    d = pd.read_csv(VAL / "data" / "mpdta.csv")
    w = pd.read_csv(VAL / "data" / "mpdta_weights.csv")
    d = d.merge(w, on="countyreal", how="left", validate="many_to_one")
    # integer weights 1..3 for the replication check
    return d.assign(state=d.countyreal // 1000, k=1 + d.countyreal % 3)


def test_weighted_cell_equals_wls_cluster_sandwich(mpdta):
    # unconditional ATT(g,t) is the WLS slope of dy on the treated dummy in the 2x2
    # subsample; its clustered influence-function SE is the WLS cluster sandwich
    # without small-sample factor
    r = pl.att_gt(mpdta, **KW, cluster="state", weights="w")
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    info = mpdta.groupby("countyreal")[["first.treat", "state", "w"]].first()
    sub = info[info["first.treat"].isin([0, 2006])].assign(
        dy=(wide[2007] - wide[2005]), d=lambda x: (x["first.treat"] == 2006).astype(float))
    fit = smf.wls("dy ~ d", data=sub, weights=sub["w"]).fit(
        cov_type="cluster", cov_kwds={"groups": sub["state"], "use_correction": False,
                                      "df_correction": False})
    cell = r.cells.set_index(["group", "time"]).loc[(2006, 2007)]
    assert cell["estimate"] == pytest.approx(fit.params["d"], rel=1e-10)
    assert cell["std_error"] == pytest.approx(fit.bse["d"], rel=1e-8)


@pytest.mark.parametrize("kw", [{}, {"control_group": "notyet"},
                                {"covariates": ["lpop"], "method": "dr"},
                                {"covariates": ["lpop"], "method": "ipw",
                                 "control_group": "notyet"}])
def test_integer_weights_equal_replicated_units(mpdta, kw):
    # weight k = the unit k times: every point estimate (cells and aggregations) equal
    rep = mpdta.loc[mpdta.index.repeat(mpdta["k"])].copy()
    rep["countyreal"] = rep["countyreal"] * 10 + rep.groupby(["countyreal", "year"]).cumcount()
    a = pl.att_gt(mpdta, **KW, weights="k", **kw)
    b = pl.att_gt(rep, **KW, **kw)
    np.testing.assert_allclose(a.cells["estimate"], b.cells["estimate"], rtol=1e-9,
                               atol=1e-12)
    for agg in ("simple", "dynamic", "group", "calendar"):
        np.testing.assert_allclose(a.aggregate(agg).beta, b.aggregate(agg).beta, rtol=1e-9,
                                   atol=1e-12)


def test_constant_weights_change_nothing(mpdta):
    a = pl.att_gt(mpdta, **KW, covariates=["lpop"])
    b = pl.att_gt(mpdta.assign(c=3.7), **KW, covariates=["lpop"], weights="c")
    pd.testing.assert_frame_equal(a.tidy(), b.tidy(), rtol=1e-12)
    for agg in ("simple", "dynamic", "group"):
        np.testing.assert_allclose(a.aggregate(agg).se(), b.aggregate(agg).se(), rtol=1e-12)
    assert b.meta["weights"] == "c" and "weighted by c" in b.meta["se_label"]
    assert b.unit_weights.mean() == pytest.approx(1.0)


def test_weighted_bootstrap_is_seeded_and_reused(mpdta):
    r = pl.att_gt(mpdta, **KW, weights="w", bootstrap=True, draws=499, seed=2)
    s = pl.att_gt(mpdta, **KW, weights="w", bootstrap=True, draws=499, seed=2)
    pd.testing.assert_frame_equal(r.tidy(), s.tidy())
    boot = r.boot
    r.aggregate("dynamic")
    assert r.boot is boot  # the aggregation reused att_gt's draws


def test_weight_errors_name_the_column(mpdta):
    bad = mpdta.copy()
    bad.loc[3, "w"] = bad.loc[3, "w"] + 1
    with pytest.raises(DataError, match=r"weights column 'w' varies within units"):
        pl.att_gt(bad, **KW, weights="w")
    bad = mpdta.copy()
    bad.loc[[0, 1], "w"] = np.nan
    with pytest.raises(DataError, match=r"'w' is missing or not a number on 2 rows"):
        pl.att_gt(bad, **KW, weights="w")
    with pytest.raises(DataError, match="negative"):
        pl.att_gt(mpdta.assign(w=-mpdta.w), **KW, weights="w")
    zero = mpdta.assign(w=np.where(mpdta["first.treat"] == 2006, 0.0, mpdta.w))
    with pytest.raises(DataError, match=r"zero for every unit of cohorts \[2006\]"):
        pl.att_gt(zero, **KW, weights="w")
    with pytest.raises(DataError, match="nope"):
        pl.att_gt(mpdta, **KW, weights="nope")


# ---------------------------------------------------------------- sun_abraham fe / weights
@pytest.fixture(scope="module")
def design():
    return pd.read_csv(VAL / "data" / "imputation_fe.csv")


GKW = dict(y="y", unit="unit", time="year", cohort="cohort")


def test_sun_abraham_fe_spellings_agree(design):
    base = pl.sun_abraham(design, **GKW)
    for fe in ("unit + year", "| unit + year", ["unit", "year"]):
        r = pl.sun_abraham(design, **GKW, fe=fe)
        np.testing.assert_array_equal(r.beta, base.beta)
        assert r.meta["fe"] == ["unit", "year"]
    a = pl.sun_abraham(design, **GKW, fe="unit + region^year")
    b = pl.sun_abraham(design, **GKW, fe=["unit", "region ^ year"])
    np.testing.assert_array_equal(a.beta, b.beta)
    assert not np.allclose(a.beta, base.beta)
    with pytest.raises(pl.errors.SpecError, match="nope"):
        pl.sun_abraham(design, **GKW, fe="unit + nope^year")
    with pytest.raises(pl.errors.SpecError, match="interaction"):
        pl.sun_abraham(design, **GKW, fe="unit + log(year)")
    with pytest.raises(pl.errors.SpecError, match="sun_abraham needs at least one"):
        pl.sun_abraham(design, **GKW, fe="0")


def test_sun_abraham_weights_weight_regression_and_shares(design):
    base = pl.sun_abraham(design, **GKW)
    const = pl.sun_abraham(design.assign(c=2.5), **GKW, weights="c")
    np.testing.assert_allclose(const.beta, base.beta, rtol=1e-10)
    np.testing.assert_allclose(const.se(), base.se(), rtol=1e-10)
    r = pl.sun_abraham(design, **GKW, weights="w")
    ce = r.meta["cohort_effects"]
    # shares: summed weights of each cohort's rows at the event time
    rel = design.year - design.cohort
    for _, row in ce.head(6).iterrows():
        m = (design.cohort == row.cohort) & (rel == row.rel)
        assert row.n == m.sum()
        assert row.weight == pytest.approx(design.w[m].sum(), rel=1e-12)
    e0 = ce[ce.rel == 0]
    assert r.meta["weights"] == "w"
    # the event-time estimate is the weighted-share average of the cohort coefficients
    fit = pl.feols("y ~ " + " + ".join(ce.term) + " | unit + year",
                   design.assign(**{t: ((design.cohort == c) & (rel == e)).astype(float)
                                    for t, c, e in zip(ce.term, ce.cohort, ce.rel)}),
                   vcov={"CRV1": "unit"}, weights="w")
    want = (fit.coef()[e0.term].to_numpy() * e0.weight.to_numpy()).sum() / e0.weight.sum()
    assert r.coef()["rel::0"] == pytest.approx(want, rel=1e-10)


# ---------------------------------------------------------------- compare_estimators
def test_compare_estimators_passes_controls_fe_cluster_weights(mpdta):
    # a time-varying control (its first-period value is att_gt's covariate) and a
    # grouping that cuts across states (treatment varies by state: state^year would
    # absorb it)
    d = mpdta.assign(x=mpdta.lpop * (mpdta.year - 2002) / 10, region=mpdta.countyreal % 5)
    kw = dict(y="lemp", unit="countyreal", time="year", cohort="first.treat")
    opts = dict(controls=["x"], fe="countyreal + region^year", cluster="state", weights="w")
    with pytest.warns(pl.errors.PolicyLabWarning, match="att_gt .* takes no fixed effects"):
        c = pl.compare_estimators(d, **kw, window=(-3, 3), **opts)
    fe = ["countyreal", "region^year"]
    assert c.meta["fe"] == fe and c.meta["weights"] == "w" and c.meta["controls"] == ["x"]
    got = c.tidy().set_index(["estimator", "rel_time"])["estimate"]
    tw = pl.event_study(d, **kw, window=(-3, 3), controls=["x"], fe=fe, cluster="state",
                        weights="w")
    sa = pl.sun_abraham(d, **kw, controls=["x"], fe=fe, cluster="state", weights="w")
    cs = pl.att_gt(d, **kw, control_group="notyet", covariates=["x"], cluster="state",
                   weights="w").aggregate("dynamic")
    im = pl.did_imputation(d, **kw, controls=["x"], fe=fe, cluster="state", weights="w")
    for name, r, rel in [("TWFE", tw, tw.meta["rel_times"]),
                         ("Sun-Abraham", sa, sa.meta["rel_times"]),
                         ("Callaway-Sant'Anna", cs, cs.meta["by_values"][1:]),
                         ("Imputation (BJS)", im, im.meta["rel_times"])]:
        beta = r.beta[1:] if name in ("Callaway-Sant'Anna", "Imputation (BJS)") else r.beta
        for e, b in zip(rel, beta):
            if -3 <= e <= 3:
                assert got[(name, e)] == pytest.approx(b, rel=1e-12), (name, e)
    assert c.results["Sun-Abraham"].meta["cluster"] == ["state"]
    assert c.results["Imputation (BJS)"].meta["weights"] == "w"
    assert c.results["Callaway-Sant'Anna"].meta["weights"] == "w"
    # the options change the estimates, and no fe means no att_gt warning
    import warnings

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        plain = pl.compare_estimators(d, **kw, window=(-3, 3), weights="w")
    assert not any("takes no fixed effects" in str(w.message) for w in rec)
    p = plain.tidy().set_index(["estimator", "rel_time"])["estimate"]
    assert p[("Sun-Abraham", 0)] != pytest.approx(got[("Sun-Abraham", 0)], rel=1e-6)


def test_sun_abraham_raises_when_the_fixed_effects_absorb_every_interaction():
    df = pd.read_csv(Path(__file__).parents[1] / "validation" / "data" / "mpdta.csv")
    df = df.assign(cohort=df["first.treat"])
    with pytest.raises(pl.EstimationError, match="every cohort x event-time interaction"):
        pl.sun_abraham(df, y="lemp", unit="countyreal", time="year", cohort="cohort",
                       fe="countyreal + first.treat^year")

"""att_gt inference options: clustering, multiplier bootstrap, cohort coding, figures."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import policylab as pl
from policylab.errors import DataError
from policylab.estimators.staggered import _multiplier_bootstrap

VAL = Path(__file__).parents[1] / "validation"
KW = dict(y="lemp", unit="countyreal", time="year", cohort="first.treat")


@pytest.fixture(scope="module")
def mpdta():
    d = pd.read_csv(VAL / "data" / "mpdta.csv")
    return d.assign(state=d.countyreal // 1000)  # FIPS state code: 29 clusters


def test_clustered_se_equals_ols_cluster_sandwich(mpdta):
    # without covariates ATT(g,t) is the slope of dy on the treated dummy in the 2x2
    # subsample, and its clustered influence-function SE is the OLS cluster sandwich
    # without small-sample factor (statsmodels, use_correction=False)
    r = pl.att_gt(mpdta, **KW, cluster="state")
    w = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    info = mpdta.groupby("countyreal")[["first.treat", "state"]].first()
    sub = info[info["first.treat"].isin([0, 2006])].assign(
        dy=(w[2007] - w[2005]), d=lambda x: (x["first.treat"] == 2006).astype(float))
    fit = smf.ols("dy ~ d", data=sub).fit(cov_type="cluster", cov_kwds={
        "groups": sub["state"], "use_correction": False, "df_correction": False})
    cell = r.cells.set_index(["group", "time"]).loc[(2006, 2007)]
    assert cell["estimate"] == pytest.approx(fit.params["d"], rel=1e-10)
    assert cell["std_error"] == pytest.approx(fit.bse["d"], rel=1e-8)
    assert r.meta["n_clusters"] == 29


def test_bootstrap_draws_reproduce_the_clustered_variance(mpdta):
    # Rademacher multipliers on cluster sums: the draws' variance is exactly the
    # clustered IF variance in expectation; 20,000 draws (seed 11) -> MC error of the
    # SD about 0.5%, tolerance 3%
    r = pl.att_gt(mpdta, **KW, cluster="state")
    _, _, draws = _multiplier_bootstrap(r.inf, r.clusters, 20_000, 11, "rademacher", 0.95)
    np.testing.assert_allclose(draws.std(axis=0), r.cells["std_error"], rtol=0.03)


def test_bootstrap_matches_moderndid_within_monte_carlo_error(mpdta):
    # moderndid (R did's port) with 20,000 draws; ours with 20,000 (seed 5). The IQR-based
    # SEs of each side have ~1% MC error: tolerance 5%. Sup-t critical values: 0.15.
    o = json.loads((VAL / "oracles" / "cs_moderndid_boot.json").read_text())["county"]
    r = pl.att_gt(mpdta, **KW, bootstrap=True, draws=20_000, seed=5)
    np.testing.assert_allclose(r.cells["std_error"], o["se"], rtol=0.05)
    assert r.meta["band_crit"] == pytest.approx(o["crit"], abs=0.15)
    a = r.aggregate("dynamic")
    np.testing.assert_allclose(a.se().to_numpy(), [o["dyn_overall_se"], *o["dyn_se"]],
                               rtol=0.05)
    assert a.meta["band_crit"] == pytest.approx(o["dyn_crit"][0], abs=0.15)


def test_bootstrap_is_seeded_and_band_is_wider(mpdta):
    a = pl.att_gt(mpdta, **KW, bootstrap=True, draws=499, seed=3)
    b = pl.att_gt(mpdta, **KW, bootstrap=True, draws=499, seed=3)
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    t = a.tidy()
    assert a.meta["band_crit"] > 1.96
    assert (t["band_high"] - t["band_low"] > t["conf_high"] - t["conf_low"]).all()
    ra = pl.att_gt(mpdta, **KW, bootstrap=True, draws=499, seed=3,
                   weights_type="rademacher")
    assert not np.allclose(ra.cells["std_error"], a.cells["std_error"])
    with pytest.raises(pl.errors.SpecError):
        pl.att_gt(mpdta, **KW, bootstrap=True, weights_type="webb")


def test_never_treated_codings_agree(mpdta):
    base = pl.att_gt(mpdta, **KW).tidy()
    for code in (np.nan, np.inf):
        d = mpdta.assign(**{"first.treat": mpdta["first.treat"].replace(0, code)})
        pd.testing.assert_frame_equal(pl.att_gt(d, **KW).tidy(), base)


def test_late_and_always_treated_units(mpdta):
    late = mpdta.assign(**{"first.treat": mpdta["first.treat"].replace(0, 2099)})
    with pytest.warns(pl.errors.PolicyLabWarning, match="after the last period"):
        r = pl.att_gt(late, **KW)
    pd.testing.assert_frame_equal(r.tidy(), pl.att_gt(mpdta, **KW).tidy())
    first = mpdta.countyreal.isin(mpdta.countyreal.unique()[:7])
    early = mpdta.assign(**{"first.treat": np.where(first, 2003, mpdta["first.treat"])})
    with pytest.warns(pl.errors.PolicyLabWarning, match="dropped 7 units"):
        r2 = pl.att_gt(early, **KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = pl.att_gt(mpdta[~first], **KW)
    pd.testing.assert_frame_equal(r2.tidy(), want.tidy())


def test_input_errors(mpdta):
    bad = mpdta.copy()
    bad.loc[0, "first.treat"] = 2004
    with pytest.raises(DataError, match="varies within units"):
        pl.att_gt(bad, **KW)
    with pytest.raises(DataError, match="cluster column"):
        pl.att_gt(mpdta, **KW, cluster="year")



def test_a_unit_with_a_gap_is_dropped_as_r_did_does(mpdta):
    # R did (panel = TRUE, allow_unbalanced_panel = FALSE) balances the panel: a unit
    # missing one year, or one outcome, leaves the estimation whole
    gap = mpdta.iloc[1:]
    hole = mpdta.assign(lemp=mpdta["lemp"].mask(mpdta.index == 7))
    first, seventh = mpdta.loc[0, "countyreal"], mpdta.loc[7, "countyreal"]
    for data, unit in ((gap, first), (hole, seventh)):
        with pytest.warns(UserWarning, match=r"balanced panel: dropped 1 units .* \(\d+ rows\)"):
            got = pl.att_gt(data, **KW)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = pl.att_gt(mpdta[mpdta["countyreal"] != unit], **KW)
        pd.testing.assert_frame_equal(got.tidy(), want.tidy())


def test_summary_and_figures(mpdta):
    r = pl.att_gt(mpdta, **KW, bootstrap=True, draws=199, seed=1)
    assert "pre-test" in r.summary() and "multiplier bootstrap" in r.summary()
    assert r.plot().axes
    for kind in ("dynamic", "group", "calendar"):
        assert r.aggregate(kind).plot(lang="zh").axes


def test_a_period_without_the_outcome_leaves_the_panel_not_every_unit(mpdta):
    # R did drops the rows with a missing outcome first, then balances: a year nobody
    # reports is gone, the units stay
    gone = mpdta.assign(lemp=mpdta["lemp"].mask(mpdta["year"] == 2005))
    with pytest.warns(UserWarning, match="balanced panel: dropped 0 units"):
        got = pl.att_gt(gone, **KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = pl.att_gt(mpdta[mpdta["year"] != 2005], **KW)
    pd.testing.assert_frame_equal(got.tidy(), want.tidy())

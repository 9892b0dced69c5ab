"""Event study and raw parallel-trend means: exact recovery of known dynamic effects,
reference periods, warnings, figures."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import SpecError

EFFECT = {-3: 0.0, -2: 0.0, -1: 0.0, 0: 0.5, 1: 0.8, 2: 1.0, 3: 1.1}


def _panel(units=30, years=range(2000, 2012), cohort=2006, noise=0.0, seed=0):
    """One adoption date (no heterogeneity across cohorts), effects EFFECT by event time,
    unit and year effects; with noise=0 the event study must return EFFECT exactly."""
    rng = np.random.default_rng(seed)
    years = np.asarray(list(years))
    df = pd.DataFrame({"u": np.repeat(np.arange(units), len(years)),
                       "t": np.tile(years, units)})
    df["g"] = np.where(df.u % 2 == 0, cohort, 0)
    df["prov"] = df.u // 5
    rel = np.where(df.g > 0, df.t - df.g, -99)
    eff = pd.Series(rel).map(lambda e: EFFECT[max(min(e, 3), -3)] if e != -99 else 0.0)
    df["y"] = (rng.normal(size=units)[df.u] + 0.1 * (df.t - 2000) ** 1.5 + eff.to_numpy()
               + noise * rng.normal(size=len(df)))
    return df


@pytest.mark.parametrize("ref", [-1, -3])
def test_noise_free_dynamic_effects_are_recovered_exactly(ref):
    df = _panel()
    es = pl.event_study(df, y="y", unit="u", time="t", cohort="g", window=(-3, 3), ref=ref)
    for e, b in zip(es.meta["rel_times"], es.beta):
        assert b == pytest.approx(EFFECT[e] - EFFECT[ref], abs=1e-10), e


def test_pretrend_test_rejects_an_anticipation_effect():
    df = _panel(noise=0.05, seed=3)
    rel = np.where(df.g > 0, df.t - df.g, -99)
    df.loc[(rel == -2) | (rel == -3), "y"] += 0.5  # anticipation two and three years ahead
    es = pl.event_study(df, y="y", unit="u", time="t", cohort="g", window=(-3, 3))
    assert es.pretrend_test()["p_value"] < 1e-6
    assert set(es.lead_terms) == {"pre_3", "pre_2"}


def test_tidy_has_every_event_time_and_its_treated_count():
    df = _panel()
    es = pl.event_study(df, y="y", unit="u", time="t", cohort="g", window=(-3, 3))
    t = es.tidy()
    assert t.rel_time.tolist() == list(range(-3, 4))
    treated = df[df.g > 0]
    rel = (treated.t - treated.g).clip(-3, 3)
    assert t.set_index("rel_time")["n_obs"].to_dict() == rel.value_counts().to_dict()
    assert list(es.vcov().index) == es.terms
    assert es.meta["rel_times"] == [-3, -2, 0, 1, 2, 3]


def test_few_treated_clusters_and_staggering_are_warned():
    df = _panel()
    with pytest.warns(UserWarning, match="only 6 treated prov clusters"):
        es = pl.event_study(df, y="y", unit="u", time="t", cohort="g", assign="prov",
                            window=(-3, 3))
    assert es.meta["vcov_label"] == "CRV1 clustered by prov"
    df.loc[df.u == 2, "g"] = 2008
    es2 = pl.event_study(df, y="y", unit="u", time="t", cohort="g", window=(-3, 3))
    assert any("Sun and Abraham" in w for w in es2.warnings)


def test_bad_window_or_reference():
    df = _panel()
    with pytest.raises(SpecError, match="contain ref"):
        pl.event_study(df, y="y", unit="u", time="t", cohort="g", window=(-3, 3), ref=-4)
    with pytest.raises(SpecError, match="-k < 0 <= m"):
        pl.event_study(df, y="y", unit="u", time="t", cohort="g", window=(1, 3))


@pytest.mark.parametrize("kind", ["bars", "band"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_event_study_figure(kind, lang):
    es = pl.event_study(_panel(noise=0.1), y="y", unit="u", time="t", cohort="g",
                        window=(-3, 3))
    fig = es.plot(kind=kind, lang=lang)
    ax = fig.axes[0]
    assert ("相对政策" in ax.get_xlabel()) == (lang == "zh")
    vlines = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert [ln.get_xdata()[0] for ln in vlines] == [-0.5]
    assert list(ax.get_xticks()) == list(range(-3, 4))
    with pytest.raises(ValueError, match="kind"):
        es.plot(kind="dots")


def test_parallel_trends_means_and_normalisation():
    df = pd.DataFrame({"treat": [1, 1, 1, 1, 0, 0, 0, 0],
                       "year": [2000, 2001, 2000, 2001, 2000, 2001, 2000, 2001],
                       "y": [1.0, 3.0, 2.0, 6.0, 0.0, 1.0, 2.0, 2.0]})
    pt = pl.parallel_trends(df, y="y", treat_group="treat", time="year")
    m = pt.tidy().set_index(["group", "time"])["mean"]
    assert m[(1, 2000)] == 1.5 and m[(1, 2001)] == 4.5
    assert m[(0, 2000)] == 1.0 and m[(0, 2001)] == 1.5
    norm = pl.parallel_trends(df, y="y", treat_group="treat", time="year", normalize=2000)
    n = norm.tidy().set_index(["group", "time"])["mean"]
    assert n[(1, 2001)] == 3.0 and n[(0, 2001)] == 0.5 and n[(1, 2000)] == 0.0
    with pytest.raises(SpecError, match="normalize=1999"):
        pl.parallel_trends(df, y="y", treat_group="treat", time="year", normalize=1999)
    fig = norm.plot(lang="zh")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["处理组", "对照组"]


def test_never_treated_coded_as_a_far_future_cohort():
    df = _panel(noise=0.1, seed=4)
    df.loc[df.u == 4, "g"] = 2009  # a second cohort, so the panel is staggered
    a = pl.event_study(df, y="y", unit="u", time="t", cohort="g", window=(-3, 3))
    b = pl.event_study(df.assign(g=df.g.replace(0, 9999)), y="y", unit="u", time="t",
                       cohort="g", window=(-3, 3))
    assert np.allclose(a.beta, b.beta, rtol=1e-12)
    assert b.meta["treat_design"]["cohorts"] == [2006, 2009]


def test_fe_as_formula_string_equals_list():
    df = pl.datasets.carbon_pilot()
    a = pl.event_study(df, y="ln_co2", unit="province", time="year", treat="did",
                       window=(-3, 3), fe="province + year")
    b = pl.event_study(df, y="ln_co2", unit="province", time="year", treat="did",
                       window=(-3, 3), fe=["province", "year"])
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)
    d1 = pl.did(df, y="ln_co2", unit="province", time="year", treat="did", fe="| province+year")
    d2 = pl.did(df, y="ln_co2", unit="province", time="year", treat="did")
    assert d1.coef()["did"] == pytest.approx(d2.coef()["did"], rel=1e-12)
    with pytest.raises(SpecError, match="column name or an interaction"):
        pl.did(df, y="ln_co2", unit="province", time="year", treat="did", fe="province + 2x")

"""Imputation, two-stage, Sun-Abraham and Bacon checked against independent routes."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import policylab as pl

MPDTA = Path(__file__).parents[1] / "validation" / "data" / "mpdta.csv"


@pytest.fixture(scope="module")
def small():
    df = pd.read_csv(MPDTA)
    keep = df["countyreal"].drop_duplicates().sample(120, random_state=3)
    return df[df.countyreal.isin(keep)].reset_index(drop=True)


def test_imputation_equals_dummy_regression_prediction(small):
    df = small.assign(D=((small["first.treat"] > 0) & (small.year >= small["first.treat"])))
    fit = smf.ols("lemp ~ C(countyreal) + C(year)", data=df[~df.D]).fit()
    tau = df.loc[df.D, "lemp"] - fit.predict(df[df.D])
    im = pl.did_imputation(df, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    assert im.coef()["ATT"] == pytest.approx(tau.mean(), rel=1e-9)
    rel = (df.year - df["first.treat"])[df.D]
    assert im.coef()["tau::2"] == pytest.approx(tau[rel == 2].mean(), rel=1e-9)
    d2 = pl.did2s(df, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    assert d2.coef()["ATT"] == pytest.approx(im.coef()["ATT"], rel=1e-12)


def test_imputation_se_matches_dense_formula(small):
    df = small.assign(D=((small["first.treat"] > 0) & (small.year >= small["first.treat"])))
    im = pl.did_imputation(df, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    Z = pd.get_dummies(df[["countyreal", "year"]].astype(str)).to_numpy(float)
    D = df.D.to_numpy()
    w1 = np.ones(D.sum()) / D.sum()
    v = np.zeros(len(df))
    v[D] = w1
    v[~D] = -Z[~D] @ np.linalg.pinv(Z[~D].T @ Z[~D]) @ Z[D].T @ w1
    fit = smf.ols("lemp ~ C(countyreal) + C(year)", data=df[~D]).fit()
    eps = np.zeros(len(df))
    eps[~D] = fit.resid
    tau = df.loc[D, "lemp"].to_numpy() - fit.predict(df[D]).to_numpy()
    cells = pd.Series(tau).groupby([df["first.treat"][D].to_numpy(),
                                    (df.year - df["first.treat"])[D].to_numpy()]).transform("mean")
    eps[D] = tau - cells.to_numpy()
    s = pd.Series(v * eps).groupby(df.countyreal.to_numpy()).sum()
    assert im.se()["ATT"] == pytest.approx(np.sqrt((s**2).sum()), rel=1e-6)


def test_sun_abraham_equals_cs_with_universal_base(small):
    sa = pl.sun_abraham(small, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    cs = pl.att_gt(small, y="lemp", unit="countyreal", time="year", cohort="first.treat",
                   base_period="universal").aggregate("dynamic")
    ref = dict(zip(cs.meta["by_values"][1:], cs.beta[1:]))
    for e, b in zip(sa.meta["rel_times"], sa.beta):
        assert b == pytest.approx(ref[e], rel=1e-8, abs=1e-12)


def test_bacon_weights_sum_to_one_and_recover_twfe(small):
    b = pl.bacon_decomposition(small, y="lemp", unit="countyreal", time="year",
                               cohort="first.treat")
    c = b.comparisons
    assert c["weight"].sum() == pytest.approx(1.0, rel=1e-12)
    df = small.assign(D=((small["first.treat"] > 0) & (small.year >= small["first.treat"]))
                      .astype(float))
    twfe = pl.feols("lemp ~ D | countyreal + year", df).coef()["D"]
    assert (c["weight"] * c["estimate"]).sum() == pytest.approx(twfe, rel=1e-10)
    # each 2x2 estimate is the DID regression on its subsample
    row = c[c.type == "earlier vs later treated"].iloc[0]
    sub = df[df["first.treat"].isin([row.treated, row.control]) & (df.year < row.control)]
    sub = sub.assign(D=((sub["first.treat"] == row.treated) & (sub.year >= row.treated))
                     .astype(float))
    assert row.estimate == pytest.approx(pl.feols("lemp ~ D | countyreal + year",
                                                  sub).coef()["D"], rel=1e-10)


def test_compare_estimators_collects_each_estimator(small):
    c = pl.compare_estimators(small, y="lemp", unit="countyreal", time="year",
                              cohort="first.treat", window=(-3, 3))
    est = c.tidy()
    assert set(est.estimator) == {"TWFE", "Sun-Abraham", "Callaway-Sant'Anna",
                                  "Imputation (BJS)"}
    sa = pl.sun_abraham(small, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    got = est[est.estimator == "Sun-Abraham"].set_index("rel_time")["estimate"]
    for e, b in zip(sa.meta["rel_times"], sa.beta):
        if -3 <= e <= 3:
            assert got[e] == pytest.approx(b, rel=1e-12)


def test_monte_carlo_twfe_biased_imputation_recovers_truth():
    # 20 draws (seeds 0..19) of the city study with staggered adoption (2016/17/18) and
    # dynamic effects of 0.2 per year, treated provinces only, years to 2017 (the 2018
    # cohort is the not-yet-treated control). Truth: mean effect over treated cells from
    # the generator's parameters. Tolerances in Monte Carlo SEs: TWFE off by > 3,
    # imputation within 2.5.
    tw, im, truth = [], [], []
    for s in range(20):
        p = pl.datasets.energy_rights_pilot(seed=s, staggered=True, dynamic=0.2)
        d = p.df[(p.df.treat == 1) & (p.df.year <= 2017)]
        d = d.assign(cohort=np.where(d.cohort > 2017, 0, d.cohort))
        q = pl.Panel(d, "city", "year")
        on = (d.cohort > 0) & (d.year >= d.cohort)
        eff = np.array([p.truth["effect_by_city"][c] for c in d.loc[on, "city"]])
        truth.append((eff + 0.2 * (d.loc[on, "year"] - d.loc[on, "cohort"])).mean())
        tw.append(pl.did(q, y="ln_ntt", cohort="cohort", controls=["ln_pgdp"]).att)
        im.append(pl.did_imputation(q, y="ln_ntt", cohort="cohort",
                                    controls=["ln_pgdp"]).coef()["ATT"])
    tw, im, truth = map(np.asarray, (tw, im, truth))
    mcse = lambda b: b.std(ddof=1) / np.sqrt(len(b))  # noqa: E731
    assert abs((tw - truth).mean()) > 3 * mcse(tw - truth)
    assert abs((im - truth).mean()) < 2.5 * mcse(im - truth)

"""Imai-Keele-Tingley sensitivity of the ACME to rho (linear models, with fixed effects).

The curve is checked against the closed form of Imai, Keele and Yamamoto (2010,
Theorem 2) evaluated on residuals of feols run by hand, its bootstrap draws against a
plain loop, and a Monte Carlo with a known error correlation checks that ACME(rho_true)
recovers the true indirect effect where the stepwise a*b (rho = 0) does not.
"""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.data.datasets import carbon_pilot

V = {"CRV1": "province"}


@pytest.fixture(scope="module")
def small():
    p = carbon_pilot(seed=3)
    return pl.Panel(p.df[p.df.year >= 2004], unit="province", time="year")


def _closed_form(a, e1, e2, rho):
    s1, s2 = np.sqrt(e1 @ e1), np.sqrt(e2 @ e2)
    rt = (e1 @ e2) / (s1 * s2)
    return a * s1 / s2 * (rt - rho * np.sqrt((1 - rt**2) / (1 - rho**2))), rt


def test_curve_equals_closed_form_on_feols_residuals(small):
    rho = np.array([-0.6, -0.2, 0.0, 0.35, 0.8])
    r = pl.mediation(small, y="ln_co2", treat="did", mediators=["coal_share"],
                     controls=["ln_gdp"], draws=0, rho=rho)
    tot = pl.feols("ln_co2 ~ did + ln_gdp | province + year", small, vcov=V)
    aeq = pl.feols("coal_share ~ did + ln_gdp | province + year", small, vcov=V)
    want, rt = _closed_form(aeq.coef()["did"], tot.fit.resid, aeq.fit.resid, rho)
    sens = r.sensitivity
    np.testing.assert_allclose(sens["acme"], want, rtol=1e-9)
    np.testing.assert_allclose(sens["ade"], tot.coef()["did"] - want, rtol=1e-9)
    t = r.tidy().iloc[0]
    assert t["rho_at_zero"] == pytest.approx(rt, rel=1e-9)
    # at rho = 0 the ACME is the stepwise product a*b
    assert sens.loc[sens.rho == 0, "acme"].item() == pytest.approx(t["estimate"], rel=1e-9)
    assert t["conf_low"] < t["estimate"] < t["conf_high"]
    assert r.plot() is not None


def test_bootstrap_band_matches_a_loop(small):
    draws, seed, rho = 15, 4, 0.3
    r = pl.mediation(small, y="ln_co2", treat="did", mediators=["coal_share"],
                     controls=["ln_gdp"], draws=draws, seed=seed, rho=[rho])
    df = small.df
    rng = np.random.default_rng(seed)
    provs = pd.factorize(r.step_results["coal_share"][0].fit.data["province"])[1]
    idx = rng.integers(0, len(provs), (draws, len(provs)))
    loop = []
    for b in range(draws):
        d = pd.concat([df[df.province == provs[i]].assign(pid=j) for j, i in enumerate(idx[b])])
        if d["did"].nunique() < 2:
            continue
        tot = pl.feols("ln_co2 ~ did + ln_gdp | pid + year", d, vcov="iid")
        aeq = pl.feols("coal_share ~ did + ln_gdp | pid + year", d, vcov="iid")
        loop.append(_closed_form(aeq.coef()["did"], tot.fit.resid,
                                 aeq.fit.resid, rho)[0])
    lo, hi = np.quantile(loop, [0.025, 0.975])
    assert r.sensitivity["acme_low"].item() == pytest.approx(lo, rel=1e-8)
    assert r.sensitivity["acme_high"].item() == pytest.approx(hi, rel=1e-8)


def _panel_dgp(seed, rho, n_units=150, n_t=6):
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(n_units), n_t)
    t = np.tile(np.arange(n_t), n_units)
    d = ((u < n_units // 2) & (t >= n_t // 2)).astype(float)
    alpha_m, alpha_y = rng.normal(size=n_units)[u], rng.normal(size=n_units)[u]
    gam_m, gam_y = 0.3 * t, -0.2 * t
    e = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=len(u))
    m = alpha_m + gam_m + 0.5 * d + e[:, 0]
    y = alpha_y + gam_y + 0.2 * d + 0.4 * m + e[:, 1]
    return pd.DataFrame({"u": u, "t": t, "d": d, "m": m, "y": y})


def test_monte_carlo_acme_at_true_rho_recovers_the_indirect_effect():
    # 20 panels (seeds 0..19) with unit and time effects and corr(e_M, e_Y) = 0.5;
    # truth a*g = 0.5 * 0.4 = 0.2; tolerance: 3 Monte Carlo SEs of the mean
    truth, rho = 0.2, 0.5
    at_true, naive = [], []
    for s in range(20):
        r = pl.mediation(_panel_dgp(s, rho), y="y", treat="d", mediators=["m"], unit="u",
                         time="t", draws=0, rho=[0.0, rho])
        sens = r.sensitivity.set_index("rho")["acme"]
        naive.append(sens[0.0])
        at_true.append(sens[rho])
    at_true, naive = np.array(at_true), np.array(naive)
    mc_se = at_true.std(ddof=1) / np.sqrt(len(at_true))
    assert abs(at_true.mean() - truth) < 3 * mc_se
    # the stepwise product is biased upward by the error correlation
    assert naive.mean() - truth > 5 * naive.std(ddof=1) / np.sqrt(len(naive))


def test_rho_outside_the_unit_interval_is_refused(small):
    with pytest.raises(pl.errors.SpecError, match="rho"):
        pl.mediation(small, y="ln_co2", treat="did", mediators=["coal_share"],
                     draws=0, rho=[1.0])

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.data.datasets import carbon_pilot


@pytest.fixture(scope="module")
def small():
    p = carbon_pilot(seed=3)
    return pl.Panel(p.df[p.df.year >= 2004], unit="province", time="year")


def test_every_step_equals_feols_by_hand_and_sobel_formula(small):
    r = pl.mediation(small, y="ln_co2", treat="did", mediators=["coal_share"],
                     controls=["ln_gdp"], draws=0)
    t = r.tidy().iloc[0]
    v = {"CRV1": "province"}
    a = pl.feols("coal_share ~ did + ln_gdp | province + year", small, vcov=v)
    full = pl.feols("ln_co2 ~ did + coal_share + ln_gdp | province + year", small, vcov=v)
    tot = pl.feols("ln_co2 ~ did + ln_gdp | province + year", small, vcov=v)
    assert t["a"] == pytest.approx(a.coef()["did"], rel=1e-12)
    assert t["b"] == pytest.approx(full.coef()["coal_share"], rel=1e-12)
    assert t["c"] == pytest.approx(tot.coef()["did"], rel=1e-12)
    assert t["c_prime"] == pytest.approx(full.coef()["did"], rel=1e-12)
    sa, sb = a.se()["did"], full.se()["coal_share"]
    sobel = np.sqrt(t["b"] ** 2 * sa**2 + t["a"] ** 2 * sb**2)
    assert t["sobel_se"] == pytest.approx(sobel, rel=1e-12)
    aroian = np.sqrt(t["b"] ** 2 * sa**2 + t["a"] ** 2 * sb**2 + sa**2 * sb**2)
    from scipy import stats

    assert t["aroian_p"] == pytest.approx(2 * stats.norm.sf(abs(t["a"] * t["b"] / aroian)))
    assert "descriptive" in r.notes[-1]


@pytest.mark.parametrize("unbalanced", [False, True])
def test_bootstrap_matches_a_loop_over_resampled_units(small, unbalanced):
    df = small.df
    if unbalanced:  # the weighted-demeaning path
        df = df.drop(index=df.sample(frac=0.05, random_state=1).index)
    panel = pl.Panel(df, unit="province", time="year")
    draws, seed = 25, 9
    r = pl.mediation(panel, y="ln_co2", treat="did", mediators=["coal_share"],
                     controls=["ln_gdp"], draws=draws, seed=seed)
    assert r.meta["bootstrap_method"] == ("weighted demeaning per draw" if unbalanced
                                          else "closed-form balanced two-way")
    # plain loop: resample provinces with the same generator, give copies new ids
    rng = np.random.default_rng(seed)
    provs = pd.factorize(r.step_results["coal_share"][0].fit.data["province"])[1]
    idx = rng.integers(0, len(provs), (draws, len(provs)))
    loop = []
    for b in range(draws):
        parts = [df[df.province == provs[i]].assign(pid=j) for j, i in enumerate(idx[b])]
        d = pd.concat(parts)
        if d["did"].nunique() < 2:
            continue
        a = pl.feols("coal_share ~ did + ln_gdp | pid + year", d, vcov="iid").coef()["did"]
        bb = pl.feols("ln_co2 ~ did + coal_share + ln_gdp | pid + year", d,
                      vcov="iid").coef()["coal_share"]
        loop.append(a * bb)
    np.testing.assert_allclose(np.sort(r.boot_draws["coal_share"]), np.sort(loop), rtol=1e-8)
    # percentile and bias-corrected (Efron) intervals from the loop's draws by hand
    from scipy import stats

    t = r.tidy().iloc[0]
    loop = np.array(loop)
    assert [t["boot_low"], t["boot_high"]] == pytest.approx(
        np.quantile(loop, [0.025, 0.975]), rel=1e-8)
    z0 = stats.norm.ppf(np.mean(loop < t["estimate"]))
    bc = np.quantile(loop, stats.norm.cdf(2 * z0 + stats.norm.ppf([0.025, 0.975])))
    assert [t["bc_low"], t["bc_high"]] == pytest.approx(bc, rel=1e-8)
    assert [t["conf_low"], t["conf_high"]] == [t["boot_low"], t["boot_high"]]


def test_monte_carlo_recovers_indirect_effects_and_shares():
    # 20 synthetic carbon studies (seeds 100..119) with province and year effects, three
    # mediators (two entering with a two-year lag); six checks, each within 4 Monte Carlo
    # SEs of the truth (about 3 SEs after a Bonferroni correction for six checks)
    est = []
    for s in range(100, 120):
        p = carbon_pilot(seed=s)
        r = pl.mediation(p, y="ln_co2", treat="did", mediators=["coal_share", "tech", "sec_share"],
                         lags={"tech": 2, "sec_share": 2}, controls=["ln_gdp"], draws=0)
        t = r.tidy().set_index("term")
        joint = t.filter(like="joint:", axis=0)
        est.append([t.loc["coal_share", "estimate"], t.loc["coal_share", "share"],
                    joint["c_prime"].iloc[0], joint["estimate"].sum(),
                    t.loc["joint:tech_lag2", "b"], t.loc["joint:sec_share_lag2", "b"]])
    tr = carbon_pilot(seed=100).truth
    truth = [tr["indirect"]["coal_share"], tr["indirect"]["coal_share"] / tr["att"],
             tr["effect_direct"], tr["att"] - tr["effect_direct"],
             tr["mediator_slopes"]["tech_lag2"], tr["mediator_slopes"]["sec_share_lag2"]]
    est = np.array(est)
    mc_se = est.std(axis=0, ddof=1) / np.sqrt(len(est))
    assert np.all(np.abs(est.mean(axis=0) - truth) < 4 * mc_se), (est.mean(axis=0), truth)


def test_bootstrap_without_fixed_effects_keeps_the_intercept():
    # cross-section (one row per id, clusters = rows): each draw equals OLS with an
    # intercept on the resampled rows
    rng0 = np.random.default_rng(0)
    n = 120
    d = (rng0.random(n) < 0.5).astype(float)
    m = 2.0 + 0.5 * d + rng0.normal(size=n)
    y = 1.0 + 0.4 * m + 0.2 * d + rng0.normal(size=n)
    df = pd.DataFrame({"id": np.arange(n), "t": 1, "d": d, "m": m, "y": y})
    draws, seed = 10, 3
    r = pl.mediation(df, y="y", treat="d", mediators=["m"], unit="id", time="t", fe=[],
                     draws=draws, seed=seed)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (draws, n))
    loop = []
    for b in range(draws):
        s = df.iloc[idx[b]].reset_index(drop=True)
        a = pl.feols("m ~ d", s, vcov="iid").coef()["d"]
        bb = pl.feols("y ~ d + m", s, vcov="iid").coef()["m"]
        loop.append(a * bb)
    np.testing.assert_allclose(r.boot_draws["m"], loop, rtol=1e-8)

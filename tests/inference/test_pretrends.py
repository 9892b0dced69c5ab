import numpy as np
import pytest
from scipy import optimize, stats

import policylab as pl


def test_power_of_a_single_lead_matches_the_closed_form():
    # one lead at e = -2 (ref -1), SE 0.1: power(slope) = P(|N(slope * 1 / 0.1, 1)| > 1.96)
    beta, sigma, e = np.array([0.0, 0.5]), np.diag([0.01, 0.04]), [-2, 0]
    res = pl.pretrend_power(betahat=beta, sigma=sigma, rel_times=e)
    z = stats.norm.ppf(0.975)
    for p in (0.5, 0.8):
        f = lambda s, p=p: stats.norm.sf(z - s / 0.1) + stats.norm.cdf(-z - s / 0.1) - p  # noqa: E731
        want = optimize.brentq(f, 0, 10)
        got = res.tidy().set_index("power").loc[p, "slope"]
        assert got == pytest.approx(want, rel=5e-3)  # fixed-seed Monte Carlo, 400k draws
        assert res.tidy().set_index("power").loc[p, "bias_post_0"] == pytest.approx(got)


def test_honest_did_intervals():
    beta = np.array([0.01, -0.02, 0.3, 0.35])
    sigma = np.diag([0.02, 0.02, 0.03, 0.04]) ** 2
    e = [-3, -2, 0, 1]
    h = pl.honest_did(betahat=beta, sigma=sigma, rel_times=e, e=0)
    g = h.tidy()
    sd0 = g[(g.restriction == "smoothness") & (g.M == 0)].iloc[0]
    # M = 0 (exactly linear trends): the FLCI is the minimum-variance estimator
    # b(0) + w'b_pre with w orthogonal to linear trends: positions k = (-2, -1, 1) from
    # the reference, -2 w1 - w2 + 1 = 0 with equal variances -> w = (0.4, 0.2)
    a_est = 0.3 + 0.4 * 0.01 + 0.2 * (-0.02)
    a_sd = np.sqrt(0.03**2 + 0.02**2 * (0.4**2 + 0.2**2))
    assert sd0.estimate == pytest.approx(a_est, rel=1e-7)
    assert sd0.conf_high - sd0.conf_low == pytest.approx(2 * 1.959964 * a_sd, rel=1e-6)
    # intervals widen with M and the breakdown value is where zero enters
    for kind in ("smoothness", "relative magnitudes"):
        k = g[g.restriction == kind]
        assert np.all(np.diff(k.conf_high - k.conf_low) >= -1e-12)
        inside = k[~k.excludes_zero]
        if len(inside):
            assert h.breakdown[kind] < inside.M.min()


def test_inputs_from_an_event_study():
    p = pl.datasets.carbon_pilot()
    es = pl.event_study(p, y="ln_co2", treat="did", window=(-4, 3))
    pw = pl.pretrend_power(es)
    assert (pw.tidy()["slope"] > 0).all()
    assert pl.honest_did(es).plot() is not None

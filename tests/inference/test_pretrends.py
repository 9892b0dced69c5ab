import numpy as np
import pandas as pd
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
    # intervals widen with M (relative magnitudes: nested up to one step of the theta
    # grid on which the ARP test is inverted) and the breakdown value is where zero enters
    steps = {mb: (b - a) / (n - 1) for mb, a, b, n in h.meta["rm_grid"]}
    for kind in ("smoothness", "relative magnitudes"):
        k = g[g.restriction == kind]
        if kind == "smoothness":
            assert np.all(np.diff(k.conf_high - k.conf_low) >= -1e-12)
        else:
            tol = np.array([steps[m] for m in k.M])[1:] + 1e-12
            assert np.all(np.diff(k.conf_high.to_numpy()) >= -tol)
            assert np.all(np.diff(k.conf_low.to_numpy()) <= tol)
        inside = k[~k.excludes_zero]
        if len(inside):
            assert h.breakdown[kind] < inside.M.min()


def _design(seed=7):
    # four leads (ref -1) with a visible pre-trend and three post periods
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(7, 7))
    sigma = 0.01**2 * (L @ L.T / 7 + np.eye(7))
    beta = np.array([-0.012, 0.004, -0.01, 0.002, 0.05, 0.06, 0.08])
    return beta, sigma, [-5, -4, -3, -2, 0, 1, 2]


@pytest.mark.parametrize("e", [0, 2])
def test_relative_magnitudes_clf_properties(e):
    beta, sigma, et = _design()
    mbar = [0.0, 0.5, 1.0, 1.5, 2.0]
    h = pl.honest_did(betahat=beta, sigma=sigma, rel_times=et, e=e, M=[0.0], Mbar=mbar)
    g = h.tidy()
    g = g[g.restriction == "relative magnitudes"]
    assert (g.method == "C-LF").all() and "ARP" in h.meta["method"]
    lo, hi = g.conf_low.to_numpy(), g.conf_high.to_numpy()
    est, olo, ohi = h.original
    se = (ohi - olo) / (2 * stats.norm.ppf(0.975))
    step = np.array([(b - a) / (n - 1) for _, a, b, n in h.meta["rm_grid"]])
    # Mbar = 0: post-period bias pinned at zero, so close to the usual interval (the
    # hybrid's size split and the simulated critical value move the ends by < 0.1 SE)
    assert abs(lo[0] - olo) < 0.1 * se and abs(hi[0] - ohi) < 0.1 * se
    # nested as Mbar grows (up to a grid step), always around the estimate, and the
    # identified set at the estimates is inside the confidence set
    assert np.all(np.diff(hi) >= -step[1:]) and np.all(np.diff(lo) <= step[1:])
    assert np.all((lo < est) & (est < hi))
    pre = np.r_[beta[:4], 0.0]
    half = np.array(mbar) * np.max(np.abs(np.diff(pre))) * (e + 1)
    assert np.all(lo <= est - half) and np.all(est + half <= hi)
    # sharper than the Bonferroni interval it replaces, beyond Mbar = 0
    b = pl.honest_did(betahat=beta, sigma=sigma, rel_times=et, e=e, M=[0.0], Mbar=mbar,
                      rm_method="Bonferroni").tidy()
    b = b[b.restriction == "relative magnitudes"]
    assert (b.method == "Bonferroni").all()
    assert np.all(hi - lo < b.conf_high.to_numpy() - b.conf_low.to_numpy())
    # units: rescaling the coefficients rescales the intervals
    h10 = pl.honest_did(betahat=10 * beta, sigma=100 * sigma, rel_times=et, e=e, M=[0.0],
                        Mbar=mbar).tidy()
    h10 = h10[h10.restriction == "relative magnitudes"]
    np.testing.assert_allclose(h10.conf_low, 10 * lo, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h10.conf_high, 10 * hi, rtol=1e-9, atol=1e-12)
    # breakdown: the largest Mbar of the grid up to which every interval excludes zero
    ex = g.excludes_zero.to_numpy()
    n_ok = len(ex) if ex.all() else int(np.argmin(ex))
    assert h.breakdown["relative magnitudes"] == (mbar[n_ok - 1] if n_ok else 0.0)


def test_relative_magnitudes_options_and_fallback():
    beta, sigma, et = _design()
    with pytest.raises(pl.SpecError, match="rm_method"):
        pl.honest_did(betahat=beta, sigma=sigma, rel_times=et, rm_method="ARP")
    c = pl.honest_did(betahat=beta, sigma=sigma, rel_times=et, M=[0.0], Mbar=[1.0],
                      rm_method="Conditional")
    assert c.tidy().iloc[-1].method == "Conditional"
    # the seed of the least-favourable simulation is the only randomness
    a = pl.honest_did(betahat=beta, sigma=sigma, rel_times=et, M=[0.0], seed=3).tidy()
    b = pl.honest_did(betahat=beta, sigma=sigma, rel_times=et, M=[0.0], seed=3).tidy()
    pd.testing.assert_frame_equal(a, b)
    # twelve post periods: vertex enumeration of the ARP dual would be too large, so the
    # relative-magnitudes rows fall back to Bonferroni, with a warning
    e12 = list(range(-3, -1)) + list(range(12))
    b12 = np.r_[0.01, -0.01, np.linspace(0.05, 0.1, 12)]
    with pytest.warns(pl.PolicyLabWarning, match="Bonferroni"):
        h = pl.honest_did(betahat=b12, sigma=np.eye(14) * 1e-4, rel_times=e12, M=[0.0],
                          Mbar=[0.0, 1.0])
    assert (h.tidy().iloc[-2:].method == "Bonferroni").all()
    assert h.meta["rm_method"] == "Bonferroni"


def test_inputs_from_an_event_study():
    p = pl.datasets.carbon_pilot()
    es = pl.event_study(p, y="ln_co2", treat="did", window=(-4, 3))
    pw = pl.pretrend_power(es)
    assert (pw.tidy()["slope"] > 0).all()
    assert pl.honest_did(es).plot() is not None


def test_honest_did_l_vec_average_and_errors():
    beta, sigma, e = _design()
    h = pl.honest_did(betahat=beta, sigma=sigma, rel_times=e, l_vec="average", Mbar=[0.0])
    want = beta[4:].mean()
    assert h.original[0] == pytest.approx(want, rel=1e-12)
    same = pl.honest_did(betahat=beta, sigma=sigma, rel_times=e, l_vec=[1 / 3] * 3, Mbar=[0.0])
    pd.testing.assert_frame_equal(h.tidy(), same.tidy())
    one = pl.honest_did(betahat=beta, sigma=sigma, rel_times=e, l_vec=[0, 1, 0], Mbar=[0.0])
    e1 = pl.honest_did(betahat=beta, sigma=sigma, rel_times=e, e=1, Mbar=[0.0])
    pd.testing.assert_frame_equal(one.tidy(), e1.tidy())
    with pytest.raises(pl.SpecError, match="3 finite weights"):
        pl.honest_did(betahat=beta, sigma=sigma, rel_times=e, l_vec=[0.5, 0.5])
    with pytest.raises(pl.SpecError, match="'average'"):
        pl.honest_did(betahat=beta, sigma=sigma, rel_times=e, l_vec="mean")
    with pytest.raises(pl.SpecError, match="post-period event time"):
        pl.honest_did(betahat=beta, sigma=sigma, rel_times=e, e=-2)


def _pass_probability_reference(a, corr, crit, draws, seed=0):
    """The simulation in one piece, every lead at once: each draw's interval of slopes
    s with |z_j + s a_j| <= crit for all j (a lead with a_j = 0 passes or fails alone)."""
    z = np.random.default_rng(seed).standard_normal((draws, len(a))) @ np.linalg.cholesky(
        corr).T
    moving = a != 0
    ends = np.stack([(-crit - z[:, moving]) / a[moving], (crit - z[:, moving]) / a[moving]])
    lo, hi = ends.min(axis=0).max(axis=1), ends.max(axis=0).min(axis=1)
    ok = (lo <= hi) & np.all(np.abs(z[:, ~moving]) <= crit, axis=1)
    return np.sort(lo[ok]), np.sort(hi[ok])


@pytest.mark.parametrize("draws", [400_000, 10_001])
def test_power_simulation_in_blocks_is_the_simulation_in_one_piece(draws):
    # the draws are made and reduced a block at a time: the same normal stream and the
    # same products, so the same intervals as the one-piece simulation
    from policylab.inference.pretrends import _PassProbability

    rng = np.random.default_rng(4)
    A = rng.normal(size=(5, 5))
    S = A @ A.T + np.eye(5)
    corr = S / np.sqrt(np.outer(np.diag(S), np.diag(S)))
    a = np.array([-4.0, -3.0, 0.0, -2.5, -1.0]) / 0.1  # one lead at zero distance
    pp = _PassProbability(a, corr, 1.96, draws=draws, seed=3)
    lo, hi = _pass_probability_reference(a, corr, 1.96, draws, seed=3)
    np.testing.assert_array_equal(pp.lo, lo)
    np.testing.assert_array_equal(pp.hi, hi)
    assert pp(0.05) == ((lo <= 0.05).sum() - (hi < 0.05).sum()) / draws


def test_pretrend_power_with_correlated_leads_matches_the_one_piece_simulation():
    beta = np.array([0.02, -0.01, 0.03, 0.2, 0.25])
    A = np.random.default_rng(9).normal(size=(5, 5))
    sigma = (A @ A.T + 5 * np.eye(5)) * 1e-3
    e = np.array([-4, -3, -2, 0, 1])
    res = pl.pretrend_power(betahat=beta, sigma=sigma, rel_times=e).tidy()
    sd = np.sqrt(np.diag(sigma))[:3]
    corr = sigma[:3, :3] / np.outer(sd, sd)
    lo, hi = _pass_probability_reference((e[:3] + 1) / sd, corr, stats.norm.ppf(0.975),
                                         400_000)
    for p, slope in zip(res["power"], res["slope"]):
        # the reference's power at the reported slope is p (brentq's root, 1e-10 x)
        inside = (np.searchsorted(lo, slope, "right") - np.searchsorted(hi, slope, "left"))
        assert 1 - inside / 400_000 == pytest.approx(p, abs=3e-6)


def test_folded_normal_critical_value_is_the_quantile_and_cached():
    from scipy.special import ndtr

    from policylab.inference.pretrends import _folded_cv

    for b in (0.0, 0.7, 3.2, 55.0):
        c = _folded_cv(b, 0.05)
        assert ndtr(c - b) - ndtr(-c - b) == pytest.approx(0.95, abs=1e-12)
        assert _folded_cv(b, 0.05) == c == _folded_cv.__wrapped__(b, 0.05)
    assert _folded_cv(-0.7, 0.05) == _folded_cv(0.7, 0.05)

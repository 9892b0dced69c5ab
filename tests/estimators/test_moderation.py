"""Moderation: the marginal effect of the policy at a moderator value m0 is the DID
coefficient when the moderator is centred at m0 instead (a linear reparametrisation), so
each point of the marginal-effect curve, its SE and CI are checked against feols run by
hand with that centring."""

import numpy as np
import pytest
from scipy import stats

import policylab as pl
from policylab.data.datasets import energy_rights_pilot

V = {"CRV1": "province"}


@pytest.fixture(scope="module")
def panel():
    p = energy_rights_pilot(seed=4)
    return pl.Panel(p.df[p.df.year >= 2012], unit="city", time="year")


def test_marginal_effect_curve_equals_recentred_feols(panel):
    r = pl.moderation(panel, y="ln_ntt", moderator="market", treat="did", assign="province",
                      controls=["ln_pgdp"], grid=7)
    df = panel.df
    for _, row in r.marginal.iloc[[0, 3, 6]].iterrows():
        m0 = row["moderator"]
        d = df.assign(mc=df.market - m0, dxm=df.did * (df.market - m0))
        hand = pl.feols("ln_ntt ~ did + dxm + mc + ln_pgdp | city + year", d, vcov=V)
        assert row["effect"] == pytest.approx(hand.coef()["did"], rel=1e-9)
        assert row["std_error"] == pytest.approx(hand.se()["did"], rel=1e-9)
        ci = hand.confint().loc["did"]
        assert row["conf_low"] == pytest.approx(ci["conf_low"], rel=1e-9)
        assert row["conf_high"] == pytest.approx(ci["conf_high"], rel=1e-9)
    # the grid spans the 5th to 95th percentile of the moderator
    q = np.nanquantile(df.market, [0.05, 0.95])
    assert r.marginal["moderator"].iloc[[0, -1]].to_numpy() == pytest.approx(q)


def test_centring_moves_only_the_main_effect(panel):
    kw = dict(y="ln_ntt", moderator="market", treat="did", assign="province")
    c = pl.moderation(panel, **kw)
    u = pl.moderation(panel, center=False, **kw)
    inter = c.meta["interaction_term"]
    assert c.coef()[inter] == pytest.approx(u.coef()[inter], rel=1e-9)
    shift = c.meta["moderator_mean"]
    assert c.coef()["did"] == pytest.approx(u.coef()["did"] + shift * u.coef()[inter],
                                            rel=1e-9)
    np.testing.assert_allclose(c.marginal["effect"], u.marginal["effect"], rtol=1e-9)


def test_johnson_neyman_bounds_are_where_the_ci_touches_zero(panel):
    r = pl.moderation(panel, y="ln_ntt", moderator="market", treat="did", assign="province")
    V_ = r.vcov()
    D, inter = "did", r.meta["interaction_term"]
    assert len(r.meta["johnson_neyman"]) == 2
    for x in r.meta["johnson_neyman"]:
        xc = x - r.meta["moderator_mean"]
        eff = r.coef()[D] + r.coef()[inter] * xc
        se = np.sqrt(V_.loc[D, D] + 2 * xc * V_.loc[D, inter] + xc**2 * V_.loc[inter, inter])
        q = stats.t.ppf(0.975, r.df_t)
        assert abs(eff) == pytest.approx(q * se, rel=1e-8)


def test_moderator_missing_is_named(panel):
    with pytest.raises(pl.errors.DataError, match="nope"):
        pl.moderation(panel, y="ln_ntt", moderator="nope", treat="did", assign="province")


def test_figure_marks_only_bounds_inside_the_range(panel):
    from policylab.report.figures.mechanisms import marginal_effect_figure

    r = pl.moderation(panel, y="ln_ntt", moderator="market", treat="did", assign="province")
    lo, hi = r.marginal["moderator"].min(), r.marginal["moderator"].max()
    fig = marginal_effect_figure(r.marginal, "market", bounds=[lo - 1, (lo + hi) / 2])
    vertical = [ln for ln in fig.axes[0].lines if np.ptp(ln.get_xdata()) == 0]
    assert [ln.get_xdata()[0] for ln in vertical] == [pytest.approx((lo + hi) / 2)]

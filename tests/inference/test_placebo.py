"""Randomization inference against brute force: a loop of feols regressions."""

import itertools

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.inference.placebo import placebo_test


def _panel(seed=0, n_groups=8, per_group=2, years=8, treated=3, start=2004):
    rng = np.random.default_rng(seed)
    units = n_groups * per_group
    df = pd.DataFrame({"u": np.repeat(np.arange(units), years),
                       "t": np.tile(np.arange(2000, 2000 + years), units)})
    df["g"] = df["u"] // per_group
    df["d"] = ((df["g"] < treated) & (df["t"] >= start)).astype(int)
    df["x"] = rng.normal(size=len(df))
    df["y"] = 0.3 * df["d"] + 0.5 * df["x"] + rng.normal(size=len(df)) + 0.2 * df["u"]
    return df


def _brute(df, groups_sets, start=2004):
    out = []
    for s in groups_sets:
        d = df.assign(fake=((df["g"].isin(s)) & (df["t"] >= start)).astype(int))
        r = pl.feols("y ~ fake + x | u + t", d, vcov={"CRV1": "g"})
        out.append((r.coef()["fake"], r.tstat()["fake"]))
    return np.array(out)


def test_exact_enumeration_matches_brute_force():
    df = _panel()
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x"], assign="g")
    pt = placebo_test(res, exact=True)
    combos = list(itertools.combinations(range(8), 3))
    brute = _brute(df, combos)
    assert pt.exact and len(pt.estimates) == len(combos) == 56
    np.testing.assert_allclose(pt.estimates, brute[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pt.tstats, brute[:, 1], rtol=1e-10, atol=1e-12)
    real_t = res.tstat()["d"]
    assert pt.tstat == pytest.approx(real_t, rel=1e-12)
    want = np.mean(np.abs(brute[:, 1]) >= abs(real_t) - 1e-12)
    assert pt.p_value == pytest.approx(want, abs=1e-12)


def test_user_assignments_match_loop_draw_for_draw():
    df = _panel(seed=3)
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x"], assign="g")
    rng = np.random.default_rng(1)
    sets = [sorted(rng.choice(8, 3, replace=False).tolist()) for _ in range(25)]
    pt = placebo_test(res, fake_assignments=sets)
    brute = _brute(df, sets)
    np.testing.assert_allclose(pt.estimates, brute[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pt.tstats, brute[:, 1], rtol=1e-10, atol=1e-12)
    # sampled p-value uses the (1 + count) / (1 + draws) form
    k = np.sum(np.abs(brute[:, 1]) >= abs(pt.tstat) - 1e-12)
    assert pt.p_value == pytest.approx((1 + k) / 26)


def test_sampled_draws_are_seeded_and_unbalanced_panels_work():
    df = _panel(seed=4).sample(frac=0.9, random_state=2).sort_index()
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x"], assign="g")
    a = placebo_test(res, exact=False, draws=200, seed=5)
    b = placebo_test(res, exact=False, draws=200, seed=5)
    np.testing.assert_array_equal(a.estimates, b.estimates)
    assert a.tstat == pytest.approx(res.tstat()["d"], rel=1e-10)
    assert 0 < a.p_value <= 1 and a.meta["draws"] == 200


def test_timing_placebo_regressions():
    df = _panel(seed=6, years=10, start=2006)
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x"], assign="g")
    pt = placebo_test(res, kind="timing")
    assert pt.meta["fake_dates"] == [2002, 2003, 2004, 2005]
    pre = df[df.t < 2006].assign(fake=lambda z: ((z.g < 3) & (z.t >= 2003)).astype(float))
    r = pl.feols("y ~ fake + x | u + t", pre, vcov={"CRV1": "g"})
    assert pt.estimates[1] == pytest.approx(r.coef()["fake"], rel=1e-10)


def test_direct_path_equals_gram_path(monkeypatch):
    df = _panel(seed=8)
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x"], assign="g")
    fast = placebo_test(res, exact=True)
    from policylab.engine.batched import BasisStats

    monkeypatch.setattr(BasisStats, "fits", staticmethod(lambda *a, **k: False))
    direct = placebo_test(res, exact=True)
    np.testing.assert_allclose(fast.tstats, direct.tstats, rtol=1e-10)

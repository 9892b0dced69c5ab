import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.engine.matching import kernel_match


def _kernel(u, kind):
    a = np.abs(u)
    return {"epan": np.where(a < 1, 0.75 * (1 - u**2), 0),
            "uniform": np.where(a < 1, 0.5, 0),
            "biweight": np.where(a < 1, 15 / 16 * (1 - u**2) ** 2, 0),
            "tricube": np.where(a < 1, 70 / 81 * (1 - a**3) ** 3, 0),
            "gaussian": np.exp(-0.5 * u**2)}[kind]


def _reference(pt, pc, yc, kind, h):
    # psmatch2's kernel formula, written directly with the full n_t x n_c matrix
    K = _kernel((pc[None, :] - pt[:, None]) / h, kind)
    s0 = K.sum(axis=1)
    W = np.divide(K, s0[:, None], out=np.zeros_like(K), where=s0[:, None] > 0)
    cf = np.where(s0 > 0, W @ yc, np.nan)
    return s0, cf, W.sum(axis=0)


@pytest.mark.parametrize("kind", ["epan", "uniform", "biweight", "tricube", "gaussian"])
@pytest.mark.parametrize("fast", [True, False])
def test_kernel_matching_equals_direct_formula(kind, fast):
    rng = np.random.default_rng(7)
    pt = rng.beta(3, 2, 300)
    pc = np.round(rng.beta(2, 3, 900), 3)  # rounding creates ties among controls
    pt[:5] = pc[:5]  # treated exactly tied with controls
    yc = rng.normal(size=900)
    s0, cf, w = kernel_match(pt, pc, kind, 0.06, yc, fast=fast)
    rs0, rcf, rw = _reference(pt, pc, yc, kind, 0.06)
    has = rs0 > 1e-9
    np.testing.assert_allclose(s0[has], rs0[has], rtol=1e-12 if not fast else 1e-9)
    np.testing.assert_allclose(cf[has], rcf[has], rtol=1e-12 if not fast else 1e-9)
    np.testing.assert_allclose(w, rw, rtol=1e-12 if not fast else 1e-9, atol=1e-12)


def _xsec(seed=0, n=600):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x1 - 0.5 * x2 - 0.5)))).astype(int)
    y = 1.0 * d + x1 + 0.5 * x2 + rng.normal(size=n)
    return pd.DataFrame({"d": d, "x1": x1, "x2": x2, "y": y})


def test_common_support_and_psmatch2_columns():
    df = _xsec()
    m = pl.match(df, "d", ["x1", "x2"], outcome="y", method="kernel", bwidth=0.06)
    r = m.rows
    pc = r.loc[r._treated == 0, "_pscore"]
    off = r[(r._treated == 1) & (r._support == 0)]
    assert ((off._pscore > pc.max()) | (off._pscore < pc.min())).all() or len(off) == 0
    assert (r.loc[(r._treated == 1) & (r._support == 1), "_weight"] == 1).all()
    # control weights sum to the number of treated on support (each treated spreads 1)
    on = ((r._treated == 1) & (r._support == 1)).sum()
    assert r.loc[r._treated == 0, "_weight"].sum() == pytest.approx(on)
    assert m.att == pytest.approx(1.0, abs=0.35)


def test_nearest_neighbour_with_ties_and_caliper():
    pt = np.array([0.5, 0.2, 0.9])
    pc = np.array([0.45, 0.55, 0.21, 0.10, 0.7])
    from policylab.engine.matching import nearest_match

    m = nearest_match(pt, pc, k=1, ties=True)
    assert sorted(m[0].tolist()) == [0, 1]  # 0.45 and 0.55 are equally near 0.5
    assert m[1].tolist() == [2]
    m2 = nearest_match(pt, pc, k=1, caliper=0.1)
    assert len(m2[2]) == 0  # nearest control 0.7 is 0.2 away


def test_balance_statistics_by_hand():
    df = _xsec(1)
    m = pl.match(df, "d", ["x1", "x2"], method="nearest", k=1)
    b = pl.balance_table(m, df).tidy().set_index("variable")
    t, c = df[df.d == 1], df[df.d == 0]
    sd = np.sqrt((t.x1.var() + c.x1.var()) / 2)
    assert b.loc["x1", "bias_before"] == pytest.approx(100 * (t.x1.mean() - c.x1.mean()) / sd)
    w = m.rows["_weight"].fillna(0)
    on = (m.rows._treated == 1) & (m.rows._support == 1)
    mc = np.average(df.x1[w > 0][df.d == 0], weights=w[w > 0][df.d == 0])
    assert b.loc["x1", "bias_after"] == pytest.approx(100 * (df.x1[on].mean() - mc) / sd)
    assert abs(b.loc["x1", "bias_after"]) < abs(b.loc["x1", "bias_before"])


def test_logit_scores_match_statsmodels():
    import statsmodels.api as sm

    df = _xsec(2)
    ps = pl.propensity_score(df, "d", ["x1", "x2"])
    ref = sm.Logit(df.d, sm.add_constant(df[["x1", "x2"]])).fit(disp=0)
    np.testing.assert_allclose(ps.score, ref.predict(), rtol=1e-10)
    # statsmodels refits the null model iteratively; the closed form is exact
    assert ps.meta["pseudo_r2"] == pytest.approx(ref.prsquared, rel=1e-7)


def test_psm_did_warns_about_few_treated_units():
    p = pl.datasets.carbon_pilot()
    r = pl.psm_did(p, y="ln_co2", treat="did", covariates=["ln_gdp", "coal_share"])
    assert any("nearly meaningless" in w for w in r.warnings)
    assert r.meta["n_after"] <= r.meta["n_before"]
    assert r.did.meta["weights"] == "_weight"


def test_kernel_att_bootstrap_se_is_seeded_and_close_to_a_loop():
    df = _xsec(5, n=400)
    a = pl.match(df, "d", ["x1", "x2"], outcome="y", bootstrap_draws=50, seed=3)
    b = pl.match(df, "d", ["x1", "x2"], outcome="y", bootstrap_draws=50, seed=3)
    assert a.att_se == b.att_se and a.meta["att_se_method"].startswith("bootstrap")
    # same draws by hand with the direct kernel formula
    r = a.rows
    on = ((r._treated == 1) & (r._support == 1)).to_numpy()
    pt = r._pscore.to_numpy()[on]
    yt = df.y.to_numpy()[on]
    pc = r._pscore.to_numpy()[df.d.to_numpy() == 0]
    yc = df.y.to_numpy()[df.d.to_numpy() == 0]
    rng = np.random.default_rng(3)
    atts = []
    for _ in range(50):
        it = rng.integers(0, len(pt), len(pt))
        ic = rng.integers(0, len(pc), len(pc))
        s0, cf, _ = _reference(pt[it], pc[ic], yc[ic], "epan", 0.06)
        ok = s0 > 0
        atts.append(np.mean(yt[it][ok] - cf[ok]))
    assert a.att_se == pytest.approx(np.std(atts, ddof=1), rel=1e-8)

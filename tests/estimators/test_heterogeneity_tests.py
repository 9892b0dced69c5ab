"""Difference tests of heterogeneity(): the batched permutation test against brute-force
loops of feols (several levels, unbalanced panels) with the same seed, and the
SUEST-equivalent covariance against the cross-equation sandwich built by hand from the
separate subgroup regressions (Stata suest's construction)."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.data.datasets import energy_rights_pilot


@pytest.fixture(scope="module")
def df():
    p = energy_rights_pilot(seed=4)
    d = p.df[p.df.year >= 2013].copy()
    # a three-level unit characteristic with treated units in every level
    d["tercile"] = pd.factorize(d["city"])[0] % 3
    return d


def _brute_force(d, by, reps, seed):
    units = pd.Index(d["city"].unique())
    grp = d.groupby("city")[by].first().reindex(units).to_numpy()
    levels = sorted(d[by].unique(), key=str)
    rng = np.random.default_rng(seed)
    stats_ = []
    for _ in range(reps):
        fake = d["city"].map(dict(zip(units, rng.permutation(grp))))
        b = []
        for lv in levels:
            sub = d[fake == lv]
            if sub["did"].nunique() < 2:
                b.append(np.nan)
                continue
            b.append(pl.feols("ln_ntt ~ did + ln_pgdp | city + year", sub,
                              vcov="iid").coef()["did"])
        b = np.array(b)
        stats_.append(b[1] - b[0] if len(b) == 2 else ((b - b.mean()) ** 2).sum())
    return np.array(stats_)


def test_permutation_with_three_levels_matches_a_loop(df):
    reps, seed = 12, 5
    r = pl.heterogeneity(df, y="ln_ntt", treat="did", by=["tercile"], unit="city",
                         time="year", controls=["ln_pgdp"], assign="province",
                         permutation_draws=reps, seed=seed)
    perm = r.tests.set_index("test").loc["permutation"]
    est = r.tidy()["estimate"].to_numpy()
    real = ((est - est.mean()) ** 2).sum()
    assert perm["statistic"] == pytest.approx(real, rel=1e-10)
    loop = _brute_force(df, "tercile", reps, seed)
    loop = loop[np.isfinite(loop)]
    assert perm["draws"] == len(loop)
    assert perm["p_value"] == pytest.approx((1 + np.sum(loop >= real * (1 - 1e-10)))
                                            / (1 + len(loop)))


def test_permutation_on_an_unbalanced_panel_matches_a_loop(df):
    d = df.drop(index=df.sample(frac=0.07, random_state=3).index)
    reps, seed = 12, 8
    r = pl.heterogeneity(d, y="ln_ntt", treat="did", by=["old_industrial"], unit="city",
                         time="year", controls=["ln_pgdp"], assign="province",
                         permutation_draws=reps, seed=seed)
    perm = r.tests.set_index("test").loc["permutation"]
    loop = _brute_force(d, "old_industrial", reps, seed)
    real = perm["difference"]
    assert perm["p_value"] == pytest.approx(
        (1 + np.sum(np.abs(loop) >= abs(real) * (1 - 1e-10))) / (1 + reps))


def test_suest_covariance_is_the_cross_equation_cluster_sandwich(df):
    r = pl.heterogeneity(df, y="ln_ntt", treat="did", by=["old_industrial"], unit="city",
                         time="year", controls=["ln_pgdp"], assign="province",
                         permutation_draws=0)
    # scores of each subgroup regression summed by province, stacked across equations
    provs = pd.Index(sorted(df["province"].unique()))
    S = np.zeros((len(provs), 2))
    for j in (0, 1):
        m = pl.feols("ln_ntt ~ did + ln_pgdp | city + year", df[df.old_industrial == j],
                     vcov={"CRV1": "province"})
        infl = (m.fit.X * m.fit.resid[:, None]) @ m.fit.bread
        g = provs.get_indexer(m.fit.data.loc[m.fit.rows, "province"])
        S[:, j] = np.bincount(g, weights=infl[:, 0], minlength=len(provs))
    raw = S.T @ S
    stacked = r.test_results[("old_industrial", "suest")]
    V = stacked.vcov().loc[["_D0", "_D1"], ["_D0", "_D1"]].to_numpy()
    # equal up to one small-sample factor in every entry, the cross-covariance included
    ratio = V / raw
    np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-8)
    G = len(provs)
    assert G / (G - 1) <= ratio[0, 0] < 1.2 * G / (G - 1)
    assert abs(raw[0, 1]) > 1e-3 * np.sqrt(raw[0, 0] * raw[1, 1])
    # the coefficients are the separate regressions'; the Wald test uses this covariance
    assert stacked.coef()["_D1"] - stacked.coef()["_D0"] == pytest.approx(
        r.tidy()["estimate"].diff().iloc[1], rel=1e-9)
    suest = r.tests.set_index("test").loc["suest"]
    vd = V[0, 0] + V[1, 1] - 2 * V[0, 1]
    assert suest["statistic"] == pytest.approx(suest["difference"] ** 2 / vd, rel=1e-9)


def test_few_treated_units_warn_and_the_figure_has_one_row_per_group(df):
    with pytest.warns(pl.errors.PolicyLabWarning, match="treated unit"):
        r = pl.heterogeneity(df, y="ln_ntt", treat="did", by=["resource_type"], unit="city",
                             time="year", assign="province", permutation_draws=0)
    few = r.tidy().query("n_treated_units < 5")["group"]
    assert len(few) > 0
    for g in few:
        assert any(f"resource_type={g} has only" in w for w in r.warnings)
    assert "difference tests:" in r.summary()
    fig = r.plot()
    assert len(fig.axes[0].get_yticks()) == len(r.tidy())

"""The wild cluster bootstrap difference test of heterogeneity(): the restricted wild
bootstrap recomputed by brute force (one feols refit per bootstrap sample), its model
equal to the SUEST difference, and the recommended test per split."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.data.datasets import energy_rights_pilot
from policylab.inference.wild import bootstrap_weights


def _panel(seed=1, provinces=10, cities=4, years=8):
    """Cities in provinces; treatment at the province level (4 of 10), a city trait."""
    rng = np.random.default_rng(seed)
    n = provinces * cities
    df = pd.DataFrame({"city": np.repeat(np.arange(n), years),
                       "year": np.tile(np.arange(2010, 2010 + years), n)})
    df["prov"] = df["city"] // cities
    df["big"] = (df["city"] % 2).astype(int)
    df["did"] = ((df["prov"] < 4) & (df["year"] >= 2014)).astype(float)
    df["x"] = rng.normal(size=len(df))
    shock = rng.normal(size=provinces)[df["prov"]]
    df["y"] = (0.2 * df["did"] + 0.15 * df["did"] * df["big"] + 0.4 * df["x"] + shock
               + 0.05 * df["city"] + rng.normal(size=len(df)))
    return df


def test_wild_difference_equals_a_loop_of_restricted_bootstrap_refits():
    df = _panel()
    draws, seed = 40, 13
    r = pl.heterogeneity(df, y="y", treat="did", by=["big"], unit="city", time="year",
                         controls=["x"], cluster="prov", assign="prov", permutation_draws=0,
                         bootstrap_draws=draws, seed=seed)
    row = r.tests.set_index("test").loc["wild_bootstrap"]
    assert row["weights_type"] == "webb"  # 10 clusters: Webb's six points
    model = r.test_results[("big", "wild_bootstrap")]
    # the model's coefficient on D x 1[big] is the SUEST difference of the subgroup DIDs
    est = r.tidy().set_index("group")["estimate"]
    assert model.coef()["_Dx1"] == pytest.approx(est[1] - est[0], rel=1e-9)
    suest = r.tests.set_index("test").loc["suest"]
    assert model.tstat()["_Dx1"] ** 2 == pytest.approx(suest["statistic"], rel=1e-9)

    assert model.fit is None  # the pooled models keep their numbers, not their arrays

    # brute force: impose the null, resample residuals by cluster, refit with feols
    big = df["big"].to_numpy()
    d = df.assign(_grp=big, _Dx1=df["did"] * big, _x0=df["x"] * (1 - big), _x1=df["x"] * big)
    fml = "y ~ did + _Dx1 + _x0 + _x1 | city + year^_grp"
    restricted = pl.feols("y ~ did + _x0 + _x1 | city + year^_grp", d, vcov={"CRV1": "prov"})
    cl = restricted.fit.cluster_codes[0]
    assert restricted.nobs == model.nobs == len(d)
    u = restricted.fit.resid
    fitted = d["y"].to_numpy() - u
    t_obs = pl.feols(fml, d, vcov={"CRV1": "prov"}).tstat()["_Dx1"]
    V, enumerated = bootstrap_weights("webb", int(cl.max()) + 1, draws,
                                      np.random.default_rng(seed))
    assert not enumerated
    t_star = np.array([
        pl.feols(fml, d.assign(y=fitted + u * V[cl, b]), vcov={"CRV1": "prov"}).tstat()["_Dx1"]
        for b in range(draws)])
    want = np.mean(np.abs(t_star) >= abs(t_obs) * (1 - 1e-9))
    assert row["p_value"] == pytest.approx(want, abs=1e-12)
    assert row["draws"] == draws
    assert row["conf_low"] < row["difference"] < row["conf_high"]


def test_more_than_two_groups_use_the_joint_wild_test_of_the_suest_differences():
    df = _panel(seed=2).assign(size=lambda z: z["city"] % 3)
    r = pl.heterogeneity(df, y="y", treat="did", by=["size"], unit="city", time="year",
                         controls=["x"], cluster="prov", assign="prov", permutation_draws=0,
                         bootstrap_draws=99, seed=1)
    tests = r.tests.set_index("test")
    # the reparametrised model's analytic Wald F equals the SUEST F of the other fit
    assert tests.loc["wild_bootstrap", "statistic"] == pytest.approx(
        tests.loc["suest", "statistic"], rel=1e-8)
    assert 0 < tests.loc["wild_bootstrap", "p_value"] <= 1


def test_the_recommended_test_follows_the_treated_clusters_of_the_smallest_group():
    p = energy_rights_pilot(seed=4)
    d = p.df[p.df.year >= 2013]
    kw = dict(y="ln_ntt", treat="did", unit="city", time="year", controls=["ln_pgdp"],
              assign="province", permutation_draws=20, bootstrap_draws=99, seed=1)
    with pytest.warns(pl.errors.PolicyLabWarning):
        r = pl.heterogeneity(d, by=["old_industrial", "resource_type"], **kw)
    rec = r.meta["recommended_test"]
    n_min = r.tidy().groupby("by")["n_treated_clusters"].min()
    assert 1 < n_min["old_industrial"] < 5 and rec["old_industrial"] == "wild_bootstrap"
    # a group with a single treated cluster: the wild bootstrap cannot work there
    assert n_min["resource_type"] == 1 and rec["resource_type"] == "permutation"
    assert r.tests.groupby("by")["recommended"].sum().eq(1).all()
    # enough treated clusters in every group: the cluster-robust SUEST test
    r2 = pl.heterogeneity(d, by=["old_industrial"], min_treated=2, **kw)
    assert r2.meta["recommended_test"] == {"old_industrial": "suest"}


def test_a_wild_test_that_cannot_run_is_reported_and_not_recommended(monkeypatch):
    import policylab.inference.wild as wild

    def refuse(*a, **k):
        raise pl.errors.EstimationError("bootstrap cluster 'prov' has a single value")

    monkeypatch.setattr(wild, "wild_bootstrap", refuse)
    with pytest.warns(pl.errors.PolicyLabWarning, match="wild bootstrap difference test"):
        r = pl.heterogeneity(_panel(), y="y", treat="did", by=["big"], unit="city",
                             time="year", controls=["x"], cluster="prov", assign="prov",
                             permutation_draws=30, bootstrap_draws=20, seed=1)
    tests = r.tests.set_index("test")
    assert np.isnan(tests.loc["wild_bootstrap", "p_value"])
    assert "single value" in tests.loc["wild_bootstrap", "error"]
    # 4 treated provinces in each group (< 5) and no wild test: the permutation test
    assert r.meta["recommended_test"] == {"big": "permutation"}

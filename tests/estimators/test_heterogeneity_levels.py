"""The permutation difference test of heterogeneity() at the level where the grouping
varies: a label constant within clusters (provinces) is permuted across clusters."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.estimators.heterogeneity import HeterogeneityResult

TREATED = [0, 1, 2, 15, 16, 17]  # 3 treated provinces in each half


def _panel(seed: int, provinces: int = 30, cities: int = 6, years: int = 8) -> pd.DataFrame:
    """Cities in provinces, the policy and the label ('east') set per province, and
    province-by-year shocks that the cities of a province share; the same effect in
    both halves (no heterogeneity)."""
    rng = np.random.default_rng(seed)
    n = provinces * cities
    df = pd.DataFrame({"city": np.repeat(np.arange(n), years),
                       "year": np.tile(np.arange(2010, 2010 + years), n)})
    df["prov"] = df["city"] // cities
    df["east"] = (df["prov"] < provinces // 2).astype(int)
    df["inland"] = (df["city"] % 2).astype(int)  # varies within provinces
    df["did"] = (df["prov"].isin(TREATED) & (df["year"] >= 2014)).astype(float)
    df["x"] = rng.normal(size=len(df))
    shock = rng.normal(size=(provinces, years))[df["prov"], df["year"] - 2010]
    df["y"] = (0.2 * df["did"] + 0.3 * df["x"] + rng.normal(size=provinces)[df["prov"]]
               + shock + 0.5 * rng.normal(size=len(df)))
    return df


def _run(df: pd.DataFrame, by: str, reps: int, seed: int) -> HeterogeneityResult:
    return pl.heterogeneity(df, y="y", treat="did", by=[by], unit="city", time="year",
                            controls=["x"], cluster="prov", assign="prov",
                            permutation_draws=reps, bootstrap_draws=0, seed=seed)


def test_a_province_label_is_permuted_across_provinces_as_a_loop_does():
    df = _panel(3, provinces=12, cities=3)
    df["did"] = (df["prov"].isin([0, 1, 6, 7]) & (df["year"] >= 2014)).astype(float)
    reps, seed = 25, 4
    r = _run(df, "east", reps, seed)
    perm = r.tests.set_index("test").loc["permutation"]
    assert perm["level"] == "prov" and r.meta["permutation_level"] == {"east": "prov"}
    provs = pd.Index(df["prov"].unique())
    lab = df.groupby("prov")["east"].first().reindex(provs).to_numpy()
    # labels move among the treated provinces and among the never-treated ones (one
    # seeded stream: the treated stratum, adopting first in province order, first)
    treated = np.flatnonzero(provs.isin([0, 1, 6, 7]))
    never = np.flatnonzero(~provs.isin([0, 1, 6, 7]))
    rng = np.random.default_rng(seed)
    real, count = perm["difference"], 0
    for _ in range(reps):
        order = np.arange(len(provs))
        for idx in (treated, never):
            order[idx] = idx[rng.permutation(len(idx))]
        fake = df["prov"].map(dict(zip(provs, lab[order])))
        # every draw keeps two treated provinces in each half
        assert df.loc[df["did"] > 0].groupby(fake)["prov"].nunique().tolist() == [2, 2]
        b = [pl.feols("y ~ did + x | city + year", df[fake == j]).coef()["did"]
             for j in (0, 1)]
        count += abs(b[1] - b[0]) >= abs(real) * (1 - 1e-10)
    assert perm["draws"] == reps
    assert perm["p_value"] == pytest.approx((1 + count) / (1 + reps))


def test_a_label_varying_within_provinces_is_permuted_across_cities():
    r = _run(_panel(5, provinces=12, cities=3), "inland", 20, 1)
    assert r.tests.set_index("test").loc["permutation", "level"] == "city"
    assert r.meta["permutation_level"] == {"inland": "city"}


@pytest.mark.slow
def test_size_of_the_province_level_permutation_with_province_shocks():
    """Seed 2026: 100 data sets without heterogeneity (30 provinces x 6 cities, 6
    treated provinces, province-by-year shocks), 199 permutations each. Permuting the
    province label across provinces of the same adoption date is exact (with a common
    effect they are exchangeable): it must reject at 5% in 1-10% of data sets (about
    two Monte Carlo SEs of 5% at 100 reps; it rejected in 6%). Permuting it across
    cities rejected in 46% of these data sets, across all provinces (treated and
    untreated mixed) in 2%."""
    seeds = np.random.default_rng(2026).integers(0, 2**31 - 1, 100)
    rej = [_run(_panel(int(s)), "east", 199, int(s)).tests.set_index("test")
           .loc["permutation", "p_value"] <= 0.05 for s in seeds]
    assert 0.01 <= np.mean(rej) <= 0.10


@pytest.mark.filterwarnings("ignore")
def test_with_few_treated_clusters_the_exact_cluster_permutation_is_recommended():
    """Fewer treated provinces per group than min_treated: a province label is permuted
    across whole provinces (exact) and leads; a city label is permuted across cities
    (conservative) and the wild bootstrap leads."""
    df = _panel(5, provinces=12, cities=3)
    df["did"] = (df["prov"].isin([0, 1, 2, 6, 7, 8]) & (df["year"] >= 2014)).astype(float)
    r = pl.heterogeneity(df, y="y", treat="did", by=["east", "inland"], unit="city",
                         time="year", controls=["x"], cluster="prov", assign="prov",
                         permutation_draws=19, bootstrap_draws=49, seed=3, min_treated=7)
    assert r.meta["permutation_level"] == {"east": "prov", "inland": "city"}
    n_min = r.tidy().groupby("by")["n_treated_clusters"].min()
    assert n_min.to_dict() == {"east": 3, "inland": 6}
    assert r.meta["recommended_test"] == {"east": "permutation", "inland": "wild_bootstrap"}

"""cs_pretest_ri: the Callaway-Sant'Anna pre-test by randomization inference."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.inference.cs_pretest import cs_pretest_ri, cs_pretest_size


@pytest.fixture(scope="module")
def staggered():
    return pl.datasets.carbon_pilot(5, staggered=True).df


def _permuted(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same data with the provinces' cohorts reassigned at random (one RI draw)."""
    rng = np.random.default_rng(seed)
    by = df.groupby("province")["cohort"].first()
    new = dict(zip(by.index, rng.permutation(by.to_numpy())))
    return df.assign(cohort=df["province"].map(new))


@pytest.mark.oracle
@pytest.mark.parametrize("cluster", [None, "region"])
def test_cells_and_ses_equal_att_gt_for_the_real_and_permuted_assignments(staggered, cluster):
    for k, df in enumerate([staggered, _permuted(staggered, 1), _permuted(staggered, 2)]):
        mine = cs_pretest_ri(df, "ln_co2", "province", "year", "cohort", cluster=cluster,
                             draws=9, seed=0).cells
        ref = pl.att_gt(df, y="ln_co2", unit="province", time="year", cohort="cohort",
                        cluster=cluster).cells
        both = mine.merge(ref, on=["group", "time"], suffixes=("", "_att_gt"))
        assert len(both) == len(mine) > 0, k
        first = int(df.loc[df["cohort"] > 0, "cohort"].min())
        assert (mine["time"] < first).all()
        np.testing.assert_allclose(both["estimate"], both["estimate_att_gt"], rtol=1e-10,
                                   atol=1e-13)
        np.testing.assert_allclose(both["std_error"], both["std_error_att_gt"], rtol=1e-10)


@pytest.mark.oracle
def test_statistic_equals_att_gts_wald_pretest_when_the_cells_coincide():
    # one cohort (2011): att_gt's pre-treatment cells are exactly the cells before it
    df = pl.datasets.carbon_pilot(3).df.assign(cohort=lambda d: np.where(d["treat"] == 1,
                                                                         2011, 0))
    r = cs_pretest_ri(df, "ln_co2", "province", "year", "cohort", draws=9, seed=0)
    ref = pl.att_gt(df, y="ln_co2", unit="province", time="year", cohort="cohort").pretest
    assert r.meta["rank"] == ref["df"]
    assert r.statistic == pytest.approx(ref["statistic"], rel=1e-8)
    assert r.wald_p == pytest.approx(ref["p_value"], rel=1e-6)


def test_outcomes_after_the_first_adoption_do_not_enter(staggered):
    a = cs_pretest_ri(staggered, "ln_co2", "province", "year", draws=99, seed=4)
    late = staggered["year"] >= 2013
    rng = np.random.default_rng(0)
    shaken = staggered.assign(ln_co2=staggered["ln_co2"] + late * rng.normal(0, 5, len(late)))
    b = cs_pretest_ri(shaken, "ln_co2", "province", "year", draws=99, seed=4)
    assert a.statistic == b.statistic and a.p_value == b.p_value
    np.testing.assert_array_equal(a.stats, b.stats)


def test_a_planted_pretrend_is_found_and_the_draws_are_reproducible():
    df = pl.datasets.carbon_pilot(8, staggered=True, pretrend=0.05).df
    r = cs_pretest_ri(df, "ln_co2", "province", "year", draws=199, seed=1)
    assert r.p_value <= 0.01
    again = cs_pretest_ri(df, "ln_co2", "province", "year", draws=199, seed=1)
    assert again.p_value == r.p_value
    assert set(r.tidy()["test"]) == {"randomization", "wald (chi-square)"}


def test_bad_inputs_are_named(staggered):
    with pytest.raises(pl.DataError, match="balanced"):
        cs_pretest_ri(staggered.iloc[1:], "ln_co2", "province", "year", draws=9)
    with pytest.raises(pl.DataError, match="region"):
        # cohorts differ inside regions: regions cannot be the assignment level
        cs_pretest_ri(staggered, "ln_co2", "province", "year", assign="region", draws=9)
    late = staggered.assign(cohort=np.where(staggered["cohort"] > 0, 2002, 0))
    with pytest.raises(pl.SpecError, match="three periods"):
        cs_pretest_ri(late, "ln_co2", "province", "year", draws=9)
    with pytest.raises(pl.SpecError, match="unit= and time="):
        cs_pretest_ri(staggered, "ln_co2", draws=9)


@pytest.mark.slow
def test_size_with_six_treated_provinces():
    """Seed 2026, 100 staggered carbon data sets without a pre-trend, 199 draws each.

    Randomization inference is exact when provinces are exchangeable: its rejection rate
    at 5% must lie within [1%, 10%] (about two Monte Carlo SEs of 5% at 100 reps). The
    chi-square Wald pre-test on the same data rejects far more often (singular
    covariance from 4 + 2 treated clusters): at least 30%.
    """
    t = cs_pretest_size(lambda s: pl.datasets.carbon_pilot(s, staggered=True).df,
                        y="ln_co2", unit="province", time="year", simulation_draws=100, draws=199,
                        seed=2026, progress=False).set_index("test")
    assert 0.01 <= t.loc["ri", "rejection_rate"] <= 0.10
    assert t.loc["wald", "rejection_rate"] >= 0.30


# --- with covariates (att_gt's outcome regression, IPW and doubly robust cells) ------

COVS = ["ln_gdp", "fdi"]


@pytest.fixture(scope="module")
def weighted(staggered):
    # a sampling weight per province (constant within units, as att_gt takes them)
    return staggered.assign(w=staggered.groupby("province")["pop"].transform("first"))


@pytest.mark.oracle
@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
@pytest.mark.parametrize("cluster,weights", [(None, None), ("region", "w")])
def test_covariate_cells_and_ses_equal_att_gt_for_real_and_permuted_assignments(
        weighted, method, cluster, weights):
    for k, df in enumerate([weighted, _permuted(weighted, 2), _permuted(weighted, 3)]):
        mine = cs_pretest_ri(df, "ln_co2", "province", "year", "cohort", cluster=cluster,
                             covariates=COVS, method=method, weights=weights, draws=9,
                             seed=0)
        ref = pl.att_gt(df, y="ln_co2", unit="province", time="year", cohort="cohort",
                        cluster=cluster, covariates=COVS, method=method,
                        weights=weights).cells
        both = mine.cells.merge(ref, on=["group", "time"], suffixes=("", "_att_gt"))
        assert len(both) == len(mine.cells) > 0, k
        assert mine.meta["method"] == method and mine.meta["covariates"] == COVS
        np.testing.assert_allclose(both["estimate"], both["estimate_att_gt"], rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(both["std_error"], both["std_error_att_gt"], rtol=1e-9)


@pytest.mark.oracle
def test_covariate_statistic_equals_att_gts_wald_pretest_when_the_cells_coincide():
    df = pl.datasets.carbon_pilot(3).df.assign(cohort=lambda d: np.where(d["treat"] == 1,
                                                                         2011, 0))
    r = cs_pretest_ri(df, "ln_co2", "province", "year", "cohort", covariates=COVS, draws=9,
                      seed=0)
    ref = pl.att_gt(df, y="ln_co2", unit="province", time="year", cohort="cohort",
                    covariates=COVS).pretest
    assert r.meta["rank"] == ref["df"]
    assert r.statistic == pytest.approx(ref["statistic"], rel=1e-7)
    assert r.wald_p == pytest.approx(ref["p_value"], rel=1e-6, abs=1e-300)


def test_an_assignment_att_gt_cannot_estimate_raises_its_error(staggered):
    # cohorts reassigned by seed 4: the covariates separate a cohort (att_gt refuses)
    df = _permuted(staggered, 4)
    with pytest.raises(pl.EstimationError, match="no overlap") as ref:
        pl.att_gt(df, y="ln_co2", unit="province", time="year", cohort="cohort",
                  covariates=COVS)
    with pytest.raises(pl.EstimationError) as mine:
        cs_pretest_ri(df, "ln_co2", "province", "year", covariates=COVS, draws=9)
    assert str(mine.value) == str(ref.value)


def test_weights_alone_give_att_gts_weighted_cells(weighted):
    mine = cs_pretest_ri(weighted, "ln_co2", "province", "year", weights="w", draws=9).cells
    ref = pl.att_gt(weighted, y="ln_co2", unit="province", time="year", cohort="cohort",
                    weights="w").cells
    both = mine.merge(ref, on=["group", "time"], suffixes=("", "_att_gt"))
    assert len(both) == len(mine)
    np.testing.assert_allclose(both["estimate"], both["estimate_att_gt"], rtol=1e-9)
    np.testing.assert_allclose(both["std_error"], both["std_error_att_gt"], rtol=1e-9)


def test_reassignments_the_estimator_cannot_fit_are_left_out_and_counted(staggered):
    # a dummy held by provinces A and B only. A draw that puts both in one treated
    # cohort leaves no estimable cell: both form the two-province cohort (the dummy
    # separates it from the never-treated units), or both sit in the four-province
    # cohort (the dummy is constant among the other cohort's units: a singular design).
    # att_gt refuses either; that draw has no statistic. Nothing else fails.
    from policylab.inference.randomization import permutations

    provs = sorted(staggered["province"].unique())
    real = staggered.groupby("province")["cohort"].first().reindex(provs).to_numpy()
    pair = [i for i, c in enumerate(real) if c == 0][:2]
    df = staggered.assign(dummy=staggered["province"].isin([provs[i] for i in pair])
                          .astype(float))
    draws, seed = 999, 11
    r = cs_pretest_ri(df, "ln_co2", "province", "year", covariates=["dummy"],
                      method="ipw", draws=draws, seed=seed)
    c = real[permutations(len(provs), draws, seed)][:, pair]
    fails = (c[:, 0] > 0) & (c[:, 0] == c[:, 1])
    assert fails.sum() > 0 and r.meta["degenerate"] == fails.sum()
    np.testing.assert_array_equal(np.isnan(r.stats), fails)
    finite = r.stats[~fails]
    assert r.p_value == pytest.approx((1 + np.sum(finite >= r.statistic * (1 - 1e-9)))
                                      / (1 + draws - fails.sum()))


def test_covariate_pretest_finds_a_planted_pretrend():
    # the doubly robust cells of 2 and 4 treated provinces are noisy: the pre-trend
    # planted here is four times the one the unconditional test finds above
    df = pl.datasets.carbon_pilot(8, staggered=True, pretrend=0.2).df
    r = cs_pretest_ri(df, "ln_co2", "province", "year", covariates=COVS, draws=99, seed=1)
    assert r.p_value <= 0.02
    with pytest.raises(pl.SpecError, match="method"):
        cs_pretest_ri(df, "ln_co2", "province", "year", covariates=COVS, method="ols")
    with pytest.raises(pl.DataError, match="nope"):
        cs_pretest_ri(df, "ln_co2", "province", "year", covariates=["nope"])


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_batched_draws_equal_att_2x2_cells_one_at_a_time(weighted, method, monkeypatch):
    # the batch estimates every reassignment of a chunk together; forcing every one
    # through drdid.att_2x2_cells (the estimator att_gt runs, checked against it above)
    # must give the same statistics
    import policylab.inference.cs_pretest_dr as dr

    kw = dict(covariates=COVS, method=method, weights="w", cluster="region", draws=150,
              seed=5)
    batched = cs_pretest_ri(weighted, "ln_co2", "province", "year", **kw)
    real = dr.batched_cells

    def flag_all(*args):
        a, F, ok = real(*args)
        return a, F, np.zeros_like(ok)

    monkeypatch.setattr(dr, "batched_cells", flag_all)
    single = cs_pretest_ri(weighted, "ln_co2", "province", "year", **kw)
    np.testing.assert_array_equal(np.isnan(batched.stats), np.isnan(single.stats))
    ok = np.isfinite(single.stats)
    assert ok.sum() > 100
    np.testing.assert_allclose(batched.stats[ok], single.stats[ok], rtol=1e-7)
    assert batched.p_value == single.p_value


@pytest.mark.slow
def test_size_with_covariates_with_six_treated_provinces():
    """Seed 2026, 80 staggered carbon data sets without a pre-trend, the carbon
    example's controls (doubly robust cells), 99 draws each; data sets on which att_gt
    itself cannot estimate the cells (no overlap) are skipped. Randomization inference
    is exact when provinces are exchangeable (reassignments att_gt cannot estimate are
    left out; which ones depends on the covariates only): its rejection rate at 5% must
    lie within [1.25%, 12.5%] (about 2.5 Monte Carlo SEs of 5% at 80 reps)."""
    seeds = np.random.default_rng(2026).integers(0, 2**31 - 1, 80)
    p = []
    for s in seeds:
        df = pl.datasets.carbon_pilot(int(s), staggered=True).df
        try:
            p.append(cs_pretest_ri(df, "ln_co2", "province", "year", covariates=COVS,
                                   draws=99, seed=int(s)).p_value)
        except pl.EstimationError:
            continue
    assert len(p) >= 60
    assert 0.0125 <= np.mean(np.array(p) <= 0.05) <= 0.125

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
                        y="ln_co2", unit="province", time="year", reps=100, draws=199,
                        seed=2026, progress=False).set_index("test")
    assert 0.01 <= t.loc["ri", "rejection_rate"] <= 0.10
    assert t.loc["wald", "rejection_rate"] >= 0.30

"""The Callaway-Sant'Anna pre-test: a rank-aware Wald test (df = rank of the covariance
of the pre-treatment ATT(g,t)) that is never absurd where R did reports nothing, and the
sup-t multiplier-bootstrap pre-test beside it."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import policylab as pl

DATA = Path(__file__).parents[1] / "validation" / "data"


@pytest.fixture(scope="module")
def castle():
    df = pd.read_csv(DATA / "castle.csv")
    df["effyear"] = df["effyear"].fillna(0)
    with pytest.warns(pl.errors.PolicyLabWarning, match="leave out cohorts"):
        return pl.att_gt(df, y="l_homicide", unit="sid", time="year", cohort="effyear"), df


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(DATA / "mpdta.csv")


def test_castle_pretest_is_a_finite_wald_with_df_equal_to_rank(castle):
    r, df = castle
    p = r.pretest
    # cohorts 2006 and 2010 hold one state each: no variance of their own, left out
    sizes = df.drop_duplicates("sid").groupby("effyear").size()
    assert p["excluded_cohorts"] == sorted(int(g) for g, n in sizes.items() if g > 0 and n == 1)
    assert np.isfinite(p["statistic"]) and p["statistic"] >= 0
    assert 0 <= p["p_value"] <= 1
    # by hand: the pre-treatment cells of the other cohorts, their covariance from the
    # unit influence functions (clustered by state = unit), Moore-Penrose inverse and
    # numerical rank from the singular values (numpy's own rules, on the correlation
    # scale so that the rank does not depend on the outcome's units)
    c = r.cells
    pre = ((c.time < c.group) & ~c.group.isin(p["excluded_cohorts"])).to_numpy()
    V = (r.inf.T @ r.inf / r.inf.shape[0] ** 2)[np.ix_(pre, pre)]
    a = c.estimate.to_numpy()[pre]
    sd = np.sqrt(np.diag(V))
    Rm = V / np.outer(sd, sd)
    rank = np.linalg.matrix_rank(Rm, tol=1e-8 * len(a) * np.linalg.norm(Rm, 2))
    assert rank < len(a)  # singular: R did prints "Not returning pre-test Wald statistic"
    W = (a / sd) @ np.linalg.pinv(Rm, rcond=1e-8 * len(a), hermitian=True) @ (a / sd)
    assert p["df"] == p["rank"] == rank and p["n_cells"] == len(a)
    assert p["statistic"] == pytest.approx(W, rel=1e-8)
    assert p["p_value"] == pytest.approx(stats.chi2.sf(W, rank), rel=1e-8, abs=1e-300)
    assert "rank" in p["note"]
    assert "not computable" not in r.summary() and f"{rank} df" in r.summary()


def test_full_rank_pretest_is_r_dids_wald(mpdta):
    r = pl.att_gt(mpdta, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    c = r.cells
    pre = (c.time < c.group).to_numpy()
    V = r.inf.T @ r.inf / r.inf.shape[0] ** 2
    a = c.estimate.to_numpy()[pre]
    W = a @ np.linalg.solve(V[np.ix_(pre, pre)], a)  # R did: n a' preV^-1 a, 5 df
    assert r.pretest["statistic"] == pytest.approx(W, rel=1e-9)
    assert r.pretest["df"] == 5 and "note" not in r.pretest


def test_bootstrap_pretest_seeded_and_detects_a_planted_violation(mpdta):
    r = pl.att_gt(mpdta, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    b1 = r.pretest_bootstrap(draws=499, seed=5)
    assert b1 == r.pretest_bootstrap(draws=499, seed=5)
    assert b1["n_cells"] == 5 and b1["draws"] == 499
    # mpdta's pre-periods are flat (R did's Wald p = 0.168): the sup-t test agrees
    assert 0.05 < b1["p_value"] < 0.5
    # a violation of 0.1 log points in 2005 for the 2007 cohort: rejected
    bad = mpdta.copy()
    bad.loc[(bad["first.treat"] == 2007) & (bad.year == 2005), "lemp"] += 0.1
    rb = pl.att_gt(bad, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    assert rb.pretest_bootstrap(draws=499, seed=5)["p_value"] < 0.01
    assert rb.pretest["p_value"] < 0.01


def test_single_cluster_cohorts_leave_no_testable_cell():
    # two cohorts of one unit each and never-treated units: nothing testable
    rng = np.random.default_rng(0)
    rows = [(u, t, rng.normal(), {0: 2003, 1: 2004}.get(u, 0)) for u in range(8)
            for t in range(2000, 2006)]
    df = pd.DataFrame(rows, columns=["u", "t", "y", "g"])
    with pytest.warns(pl.errors.PolicyLabWarning, match="not computable"):
        r = pl.att_gt(df, y="y", unit="u", time="t", cohort="g")
    assert r.pretest["statistic"] is None and r.pretest["p_value"] is None
    assert "single treated cluster" in r.pretest["reason"]
    assert "not computable" in r.summary()
    assert r.pretest_bootstrap(draws=99, seed=1)["p_value"] is None

"""cs_pretest_ri's batched draws (run sums and compiled propensity passes) against a
plain loop: for each reassignment, the data with the cohorts moved, ``att_gt`` refitted
on it (its logit, outcome regression and influence functions), the pre-treatment cells
picked and their Wald statistic formed with numpy."""

import numpy as np
import pytest

import policylab as pl
from policylab.engine.dr_passes import unit_features
from policylab.inference.cs_pretest import cs_pretest_ri
from policylab.inference.randomization import permutations

COVS = ["ln_gdp", "fdi"]


@pytest.fixture(scope="module")
def panel():
    # 30 provinces, cohorts of 4 (2013) and 2 (2014) provinces; 2008-2018 keeps 8 tested
    # cells (2009-2012 per cohort), a full-rank covariance with 30 unit clusters
    df = pl.datasets.carbon_pilot(5, staggered=True).df
    df = df[df["year"] >= 2008]
    return df.assign(w=df.groupby("province")["pop"].transform("first"))


def _loop_statistics(df, draws, seed, **kw):
    """The statistic of each reassignment by att_gt itself, one refit per draw."""
    units = np.sort(df["province"].unique())
    real = df.groupby("province")["cohort"].first().reindex(units).to_numpy()
    first = int(real[real > 0].min())
    out = []
    for perm in permutations(len(units), draws, seed):
        moved = df.assign(cohort=df["province"].map(dict(zip(units, real[perm]))))
        try:
            r = pl.att_gt(moved, y="ln_co2", unit="province", time="year", cohort="cohort",
                          **kw)
        except pl.EstimationError:
            out.append(np.nan)
            continue
        c = r.cells
        pre = (c["time"] < first).to_numpy()
        a = c.loc[pre, "estimate"].to_numpy()
        F = r.inf[:, pre]
        V = F.T @ F / F.shape[0] ** 2
        out.append(float(a @ np.linalg.solve(V, a)))
    return np.array(out)


@pytest.mark.parametrize("method,covariates,weights", [
    ("dr", COVS, None), ("dr", COVS, "w"), ("ipw", COVS, "w"), ("reg", COVS, None),
    ("dr", None, None), ("dr", None, "w")])
def test_batched_draws_equal_a_loop_of_att_gt_refits(panel, method, covariates, weights):
    draws, seed = 12, 3
    r = cs_pretest_ri(panel, "ln_co2", "province", "year", covariates=covariates,
                      method=method, weights=weights, draws=draws, seed=seed)
    ref = _loop_statistics(panel, draws, seed, covariates=covariates, method=method,
                           weights=weights)
    np.testing.assert_array_equal(np.isnan(r.stats), np.isnan(ref))
    ok = np.isfinite(ref)
    assert ok.sum() >= 8
    np.testing.assert_allclose(r.stats[ok], ref[ok], rtol=1e-8)


@pytest.mark.parametrize("route", ["kernels", "blocked"])
def test_propensity_passes_equal_numpy_sums(route, monkeypatch):
    # two runs of units, the second treated; every sum against its numpy formula, by the
    # per-assignment kernels and by the blocked matrix products (blocks of 128 units)
    from policylab.engine import dr_blocks

    if route == "blocked":
        monkeypatch.setattr(dr_blocks, "BLOCK_RUNS", 1)
        monkeypatch.setattr(dr_blocks, "_NB", 128)
    logit_sums, dr_sums = dr_blocks.logit_sums, dr_blocks.dr_sums
    rng = np.random.default_rng(1)
    n, p, m = 700, 3, 2
    X = np.vstack([np.ones(n), rng.normal(size=(p - 1, n))])
    DY = rng.normal(size=(m, n))
    w = rng.uniform(0.5, 2, n)
    F = unit_features(X, DY)
    bounds = np.array([0, 500, n], dtype=np.int64)
    beta = np.array([[0.3, -1.2, 0.8], [-2.0, 4.0, 0.5]])  # the second: scores near 1
    member = np.ones((2, 2), np.uint8)
    treated = np.array([[0, 1], [0, 1]], np.uint8)
    live = np.arange(2)
    s, h = logit_sums(F, p, w, bounds, member, beta, live)
    clus, hinfo, cxy, cxx, sep = dr_sums(F, p, m, w, bounds, np.array([0, 1]), 2, member,
                                         treated, beta, live)
    d = np.r_[np.zeros(500), np.ones(n - 500)]
    for b in range(2):
        mu = 1 / (1 + np.exp(-(beta[b] @ X)))
        np.testing.assert_allclose(s[b], X @ (w * mu), rtol=1e-13)
        np.testing.assert_allclose(h[b], (X * (w * mu * (1 - mu))) @ X.T, rtol=1e-12)
        ps = np.minimum(mu, 1 - 1e-6)
        wc = w * ps / (1 - ps) * (ps < 0.995) * (1 - d)
        assert (ps >= 0.995).any() or b == 0
        np.testing.assert_allclose(hinfo[b], (X * (w * ps * (1 - ps))) @ X.T, rtol=1e-12)
        np.testing.assert_allclose(cxy[b], (X * wc) @ DY.T, rtol=1e-12)
        np.testing.assert_allclose(cxx[b], (X * wc) @ X.T, rtol=1e-12)
        first = slice(0, 500)
        np.testing.assert_allclose(
            clus[b, 0], np.r_[wc[first].sum(), DY[:, first] @ wc[first],
                              X[:, first] @ wc[first], X[:, first] @ (w * ps)[first]],
            rtol=1e-12)
        np.testing.assert_allclose(clus[b, 1, 1 + m + p:], X[:, 500:] @ (w * ps)[500:],
                                   rtol=1e-12)
        assert clus[b, 1, 0] == 0
        assert sep[b] == pytest.approx(np.max(np.abs(d - mu)), rel=1e-12)

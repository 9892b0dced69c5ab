"""Placebo draws at the unit level and above, by each of the engine's exact methods,
against one statsmodels regression per draw (explicit fixed-effect dummies, clustered
covariance). The models use ssc="sandwich", the small-sample factor of a regression
with every dummy counted, which is what statsmodels' clustered covariance applies, so
its t statistics are the oracle as they are."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import policylab as pl
from policylab.inference import placebo as plc


def _panel(seed=0, units=18, years=7, staggered=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"u": np.repeat(np.arange(units), years),
                       "t": np.tile(np.arange(2000, 2000 + years), units)})
    df["region"] = df["u"] % 3
    df["prov"] = df["u"] // 3
    start = np.where(df["u"] < 3, 2003, 2005) if staggered else 2004
    df["d"] = ((df["u"] < 6) & (df["t"] >= start)).astype(float)
    df["x"] = rng.normal(size=len(df)) + 0.1 * df["t"]
    df["x2"] = rng.normal(size=len(df))
    df["w"] = rng.uniform(0.5, 2.0, size=len(df))
    df["y"] = (0.3 * df["d"] + 0.5 * df["x"] - 0.2 * df["x2"] + rng.normal(size=len(df))
               + 0.1 * df["u"] + 0.05 * (df["t"] - 2000) * df["region"])
    return df


def _statsmodels(df, fake, fe, cluster, weights, controls=("x", "x2")):
    cols = [fake, df[list(controls)].to_numpy()]
    # with region^t the year dummies are redundant; statsmodels (pinv) still counts
    # every column in its small-sample factor, as ssc="sandwich" counts every level
    for j, name in enumerate(fe):
        dummies = pd.get_dummies(df[name].astype(str)).to_numpy(float)
        cols.append(dummies if j == 0 else dummies[:, 1:])
    X = np.column_stack(cols)
    w = df["w"].to_numpy() if weights else np.ones(len(df))
    fit = sm.WLS(df["y"].to_numpy(), X, weights=w).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(df[cluster])[0]})
    return fit.params[0], fit.tvalues[0]


def _fake_columns(df, sets, level):
    # position p of a fake assignment receives the path of the p-th really treated group
    treated = sorted(df.loc[df["d"] > 0, level].unique())
    path = {g: df[df[level] == g].set_index("t")["d"].groupby(level=0).max() for g in treated}
    out = []
    for s in sets:
        col = np.zeros(len(df))
        for p, g in enumerate(s):
            rows = (df[level] == g).to_numpy()
            col[rows] = path[treated[p]].reindex(df.loc[rows, "t"]).to_numpy()
        out.append(col)
    return out


def _fit_and_reference(df, level, fe, cluster, weights):
    """The model, six fake assignments and statsmodels' (coef, t) of each."""
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x", "x2"],
                 assign=level, cluster=cluster, weights="w" if weights else None,
                 fe=fe, ssc="sandwich")
    groups = sorted(df[level].unique())
    n_treated = df.loc[df["d"] > 0, level].nunique()
    rng = np.random.default_rng(7)
    sets = [list(rng.choice(groups, n_treated, replace=False)) for _ in range(6)]
    sde = df.copy()
    sde["region^t"] = sde["region"].astype(str) + "_" + sde["t"].astype(str)
    ref = np.array([_statsmodels(sde, col, fe, cluster, weights)
                    for col in _fake_columns(df, sets, level)])
    return res, sets, ref


CASES = {
    # (level, fixed effects, cluster, weights, staggered, methods)
    "units": ("u", ["u", "t"], "u", False, False, ["balanced", "subsets", "columns"]),
    "units-staggered": ("u", ["u", "t"], "u", False, True, ["balanced", "subsets", "columns"]),
    "province": ("prov", ["u", "t"], "prov", False, False, ["balanced", "subsets", "columns"]),
    # a province's three units sit in three regions: the closed form pools a group's
    # units per cluster (group x cluster cells)
    "province-clustered-by-region": ("prov", ["u", "t"], "region", False, True,
                                     ["balanced", "subsets", "columns"]),
    "units-weighted": ("u", ["u", "t"], "u", True, False, ["subsets", "columns"]),
    "units-extra-fe": ("u", ["u", "t", "region^t"], "u", False, False,
                       ["subsets", "columns"]),
    "province-weighted-extra-fe": ("prov", ["u", "t", "region^t"], "prov", True, True,
                                   ["subsets", "columns"]),
}


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
@pytest.mark.parametrize("case", list(CASES))
def test_draws_match_a_regression_per_draw(case, monkeypatch):
    level, fe, cluster, weights, staggered, methods = CASES[case]
    df = _panel(seed=len(case), staggered=staggered)
    res, sets, ref = _fit_and_reference(df, level, fe, cluster, weights)
    for method in methods:
        monkeypatch.setattr(plc, "_FORCE_METHOD", method)
        pt = plc.placebo_test(res, fake_assignments=sets)
        assert pt.meta["method"] == method
        np.testing.assert_allclose(pt.estimates, ref[:, 0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(pt.tstats, ref[:, 1], rtol=1e-9, atol=1e-12)
        # the real assignment through the same machinery is the regression's own t
        assert pt.tstat == pytest.approx(res.tstat()["d"], rel=1e-9)


def test_default_method_is_the_closed_form_on_a_balanced_unit_panel():
    df = _panel(seed=3)
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x", "x2"])
    pt = plc.placebo_test(res, draws=300, exact=False, seed=2)
    assert pt.meta["method"] == "balanced" and pt.meta["draws"] == 300
    res_w = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x", "x2"],
                   weights="w")
    assert plc.placebo_test(res_w, draws=300, exact=False, seed=2).meta["method"] != "balanced"


@pytest.mark.parametrize("window", ["pre", "all"])
def test_timing_placebo_keeps_weights_fixed_effects_clusters_and_ssc(window):
    df = _panel(seed=11, years=9)
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x", "x2"],
                 assign="prov", weights="w", fe=["u", "t", "region^t"], ssc="sandwich")
    pt = plc.placebo_test(res, kind="timing", placebo_window=window)
    first = 2004
    sde = df.assign(**{"region^t": df["region"].astype(str) + "_" + df["t"].astype(str)})
    if window == "pre":
        sde = sde[sde["t"] < first].reset_index(drop=True)
    treated = sde["prov"].isin(df.loc[df["d"] > 0, "prov"].unique())
    assert pt.meta["fake_dates"] == ([2002, 2003] if window == "pre"
                                     else [2002, 2003, 2005, 2006, 2007, 2008])
    with pytest.warns(Warning):  # redundant year dummies (see _statsmodels)
        ref = np.array([_statsmodels(sde, (treated & (sde["t"] >= fake)).to_numpy(float),
                                     ["u", "t", "region^t"], "prov", True)
                        for fake in pt.meta["fake_dates"]])
    np.testing.assert_allclose(pt.estimates, ref[:, 0], rtol=1e-9)
    np.testing.assert_allclose(pt.tstats, ref[:, 1], rtol=1e-9)


@pytest.mark.parametrize("G,k", [(256, 55), (30, 4), (10, 9), (10_000, 2_000)])
def test_draws_are_the_first_k_of_each_rows_argsort(G, k):
    # the placebo draws must stay those of argsort(random row)[:k] for a given seed
    from policylab.engine.placebo_draws import smallest_k

    R = np.random.default_rng(G).random((200, G))
    want = np.argsort(R, axis=1)[:, :k]
    np.testing.assert_array_equal(smallest_k(R, k, True), want)
    np.testing.assert_array_equal(np.sort(smallest_k(R, k, False), axis=1),
                                  np.sort(want, axis=1))
    # values that are not uniform on [0, 1) take the full search
    np.testing.assert_array_equal(smallest_k(3 * R - 1, k, True), want)


def test_smallest_k_flags_rows_tied_at_the_threshold():
    # rounded values tie often: a row whose k-th and (k+1)-th smallest values are equal
    # has no unique answer and is flagged (-1) for the caller's full sort; every other
    # row holds the k smallest columns
    from policylab.engine.placebo_draws import smallest_k

    G, k = 300, 50
    R = np.round(np.random.default_rng(4).random((400, G)), 2)
    out = smallest_k(R, k, False)
    srt = np.sort(R, axis=1)
    tied = srt[:, k - 1] == srt[:, k]
    assert 0 < tied.sum() < len(R)
    assert (out[tied, 0] == -1).all()
    for row, cols in zip(R[~tied], out[~tied]):
        np.testing.assert_array_equal(np.sort(cols), np.flatnonzero(row <= np.sort(row)[k - 1]))


def test_no_controls(monkeypatch):
    df = _panel(seed=5)
    res = pl.did(df, y="y", treat="d", unit="u", time="t", ssc="sandwich")
    sets = [[1, 4, 7, 9, 12, 15], [0, 2, 3, 5, 16, 17]]
    ref = np.array([_statsmodels(df, col, ["u", "t"], "u", False, controls=())
                    for col in _fake_columns(df, sets, "u")])
    for method in ("balanced", "subsets", "columns"):
        monkeypatch.setattr(plc, "_FORCE_METHOD", method)
        pt = plc.placebo_test(res, fake_assignments=sets)
        np.testing.assert_allclose(pt.estimates, ref[:, 0], rtol=1e-9)
        np.testing.assert_allclose(pt.tstats, ref[:, 1], rtol=1e-9)


def test_random_groups_at_random_dates(monkeypatch):
    # kind="both" hands each drawn group a shifted real path (H > 1): it used to fail
    # when a path was shifted earlier than the real date (shapes did not broadcast)
    df = _panel(seed=9)
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x", "x2"],
                 assign="prov")
    out = {}
    for method in ("balanced", "columns"):
        monkeypatch.setattr(plc, "_FORCE_METHOD", method)
        out[method] = plc.placebo_test(res, kind="both", draws=200, exact=False, seed=3)
    np.testing.assert_allclose(out["balanced"].tstats, out["columns"].tstats, rtol=1e-9)
    assert np.isfinite(out["balanced"].tstats).all() and out["balanced"].meta["draws"] == 200


BASIS_CASES = {
    # (level, fixed effects, cluster, weights, rows dropped from never-treated units)
    "units-weighted": ("u", ["u", "t"], "u", True, False),
    "units-extra-fe": ("u", ["u", "t", "region^t"], "u", False, False),
    "units-unbalanced": ("u", ["u", "t"], "u", False, True),
    "units-unbalanced-weighted-extra-fe": ("u", ["u", "t", "region^t"], "u", True, True),
    "province-weighted-extra-fe": ("prov", ["u", "t", "region^t"], "prov", True, True),
    # no fixed effect nests in the groups (units inside provinces): the dense form
    "units-province-fe": ("u", ["prov", "t"], "region", False, True),
}


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
@pytest.mark.parametrize("case", list(BASIS_CASES))
def test_basis_method_matches_a_regression_per_draw(case, monkeypatch):
    # the "basis" method demeans each group's treatment column once, exactly, and
    # rebuilds every draw from the coefficients; statsmodels refits each draw
    level, fe, cluster, weights, drop = BASIS_CASES[case]
    df = _panel(seed=len(case), units=24)
    if drop:  # unbalanced: rows missing from never-treated units only, so every
        # treated group's path is observed in full
        rng = np.random.default_rng(1)
        df = df[(df["d"].groupby(df["u"]).transform("max") > 0)
                | (rng.random(len(df)) > 0.25)].reset_index(drop=True)
    res, sets, ref = _fit_and_reference(df, level, fe, cluster, weights)
    monkeypatch.setattr(plc, "_FORCE_METHOD", "basis")
    pt = plc.placebo_test(res, fake_assignments=sets)
    assert pt.meta["method"] == "basis"
    np.testing.assert_allclose(pt.estimates, ref[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pt.tstats, ref[:, 1], rtol=1e-9, atol=1e-12)
    assert pt.tstat == pytest.approx(res.tstat()["d"], rel=1e-9)
    # sampled draws (blocks of eight, a short last block) equal the batched columns'
    sampled = plc.placebo_test(res, draws=21, exact=False, seed=4)
    monkeypatch.setattr(plc, "_FORCE_METHOD", "columns")
    cols = plc.placebo_test(res, draws=21, exact=False, seed=4)
    np.testing.assert_allclose(sampled.tstats, cols.tstats, rtol=1e-9)


def test_weights_and_extra_effects_take_the_basis_method():
    df = _panel(seed=3, units=60)
    df["region^t"] = df["region"].astype(str) + "_" + df["t"].astype(str)
    for kw in ({"weights": "w"}, {"fe": ["u", "t", "region^t"]}):
        res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x", "x2"], **kw)
        assert plc.placebo_test(res, draws=300, exact=False, seed=2).meta["method"] == "basis"


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
@pytest.mark.parametrize("tiny", [False, True])
def test_basis_projection_by_the_gram_or_by_the_svd(tiny, monkeypatch):
    # the "basis" method projects the draws' columns on the within-unit demeaned
    # dummies through their Gram (levels x levels); when the Gram is worse conditioned
    # than GRAM_COND allows (a region's rows weighted 1e-7: eigenvalues near 1e-7 of
    # the largest) it takes the SVD of the dummies instead. Both match statsmodels
    from policylab.engine import placebo_draws

    df = _panel(seed=11, units=24)
    if tiny:
        df["w"] = np.where(df["region"] == 2, 1e-7, df["w"])
    res, sets, ref = _fit_and_reference(df, "u", ["u", "t", "region^t"], "u", True)
    calls = []
    svd = placebo_draws._within_coefs_svd
    monkeypatch.setattr(placebo_draws, "_within_coefs_svd",
                        lambda *a: calls.append(1) or svd(*a))
    monkeypatch.setattr(plc, "_FORCE_METHOD", "basis")
    pt = plc.placebo_test(res, fake_assignments=sets)
    assert len(calls) == int(tiny)
    np.testing.assert_allclose(pt.estimates, ref[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pt.tstats, ref[:, 1], rtol=1e-9, atol=1e-12)

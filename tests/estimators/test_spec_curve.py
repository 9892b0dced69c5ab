import numpy as np
import pandas as pd
import pytest

from policylab import feols
from policylab.estimators.spec_curve import spec_curve


def _data(seed=5):
    rng = np.random.default_rng(seed)
    units, years = 24, 10
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    df["prov"] = df["unit"] // 3
    df["treat"] = ((df["prov"] < 3) & (df["year"] >= 2005)).astype(float)
    df["x1"] = rng.normal(size=len(df))
    df["x2"] = rng.normal(size=len(df)) + df["treat"]
    df["y"] = 0.3 * df["treat"] + 0.5 * df["x1"] + rng.normal(size=len(df)) + 0.1 * df["unit"]
    df["y2"] = df["y"] + rng.normal(size=len(df))
    df.loc[5, "x2"] = np.nan  # complete cases differ across control sets
    return df


def test_every_spec_equals_feols_by_hand():
    df = _data()
    res = spec_curve(df, ["y", "y2"], "treat", unit="unit", time="year",
                     controls={"none": [], "x1": ["x1"], "both": ["x1", "x2"]},
                     samples={"full": None, "late": "year >= 2002"},
                     fe={"twfe": ["unit", "year"], "prov": ["prov", "year"]},
                     cluster=["prov", "unit"])
    assert len(res.specs) == 2 * 3 * 2 * 2 * 2
    for r in res.specs.itertuples():
        sub = df.query("year >= 2002") if r.sample == "late" else df
        # the curve uses one estimation sample per (sample, FE): complete on all controls
        sub = sub.dropna(subset=["x1", "x2"])
        ctrl = {"none": "", "x1": " + x1", "both": " + x1 + x2"}[r.controls]
        fe = "unit + year" if r.fe == "twfe" else "prov + year"
        m = feols(f"{r.outcome} ~ treat{ctrl} | {fe}", sub, vcov={"CRV1": r.cluster})
        assert r.estimate == pytest.approx(m.coef()["treat"], rel=1e-10)
        assert r.std_error == pytest.approx(m.se()["treat"], rel=1e-9)
        assert r.p_value == pytest.approx(m.pvalue()["treat"], rel=1e-8)


def test_permutation_joint_test_is_seeded_and_valid():
    df = _data()
    kw = dict(unit="unit", time="year", controls={"none": [], "x1": ["x1"]},
              assign="prov", cluster=["prov"], inference="permutation", draws=99, seed=3)
    a = spec_curve(df, "y", "treat", **kw)
    b = spec_curve(df, "y", "treat", **kw)
    assert a.joint == b.joint
    assert 1 / 100 <= a.joint["median_estimate_p"] <= 1
    # under a null outcome (pure noise) the joint p-value is not tiny
    df2 = df.assign(y=np.random.default_rng(9).normal(size=len(df)))
    c = spec_curve(df2, "y", "treat", **kw)
    assert c.joint["median_estimate_p"] > 0.05


def test_permutation_draws_identical_across_executors():
    df = _data()
    kw = dict(unit="unit", time="year", controls={"none": [], "x1": ["x1"]}, assign="prov",
              cluster=["prov"], inference="permutation", draws=60, seed=4, chunk_size=16)
    serial = spec_curve(df, "y", "treat", **kw)
    procs = spec_curve(df, "y", "treat", executor="processes", **kw)
    np.testing.assert_array_equal(serial.meta["permutation_estimates"],
                                  procs.meta["permutation_estimates"])
    assert serial.joint == procs.joint


def test_fast_basis_path_equals_direct_demeaning(monkeypatch):
    import policylab.estimators.spec_curve as sc

    df = _data()
    kw = dict(unit="unit", time="year", controls={"none": [], "x1": ["x1"]}, assign="prov",
              cluster=["prov", "unit"], inference="permutation", draws=40, seed=8,
              chunk_size=16)
    fast = spec_curve(df, ["y", "y2"], "treat", **kw)
    # without the basis every draw's treatment is built row by row and demeaned directly
    monkeypatch.setattr(sc, "_add_path_basis", lambda blk, max_bytes=0: None)
    direct = spec_curve(df, ["y", "y2"], "treat", **kw)
    np.testing.assert_allclose(fast.meta["permutation_estimates"],
                               direct.meta["permutation_estimates"], rtol=1e-9, atol=1e-12)
    assert fast.joint == direct.joint


def test_balanced_closed_form_basis_equals_demeaning_the_basis(monkeypatch):
    # balanced unit x year panel with two adoption dates (two distinct paths): the
    # draws' statistics from cell sums of the closed-form basis (1[g] - share)(path -
    # mean), the closed-form basis itself, the demeaned basis and each draw's column
    # built and demeaned directly all give the same draws
    import policylab.estimators.spec_curve as sc

    df = _data().drop(columns="x2")
    df["treat"] = (((df["prov"] < 2) & (df["year"] >= 2005))
                   | ((df["prov"] == 5) & (df["year"] >= 2007))).astype(float)
    kw = dict(unit="unit", time="year", controls={"none": [], "x1": ["x1"]}, assign="prov",
              fe={"twfe": ["year", "unit"]}, cluster=["prov", "year"],
              inference="permutation", draws=40, seed=8, chunk_size=16)
    used = []
    real = sc._balanced_cross_products
    monkeypatch.setattr(sc, "_balanced_cross_products",
                        lambda *a: used.append(1) or real(*a))
    cells = spec_curve(df, ["y", "y2"], "treat", **kw)
    assert len(used) == 2  # both cluster variables (prov, year) by cell sums
    others = []
    with monkeypatch.context() as mp:  # the closed-form basis, each draw basis @ s
        mp.setattr(sc, "_add_fast_stats", lambda *a, **k: None)
        others.append(spec_curve(df, ["y", "y2"], "treat", **kw))
    monkeypatch.setattr(sc, "_balanced_twoway_block", lambda blk: False)
    others.append(spec_curve(df, ["y", "y2"], "treat", **kw))  # demeaned basis
    monkeypatch.setattr(sc, "_add_path_basis", lambda blk, max_bytes=0: None)
    others.append(spec_curve(df, ["y", "y2"], "treat", **kw))  # direct
    for other in others:
        np.testing.assert_allclose(cells.meta["permutation_estimates"],
                                   other.meta["permutation_estimates"], rtol=1e-9,
                                   atol=1e-12)
        assert cells.joint == other.joint


def test_draws_that_treat_nobody_in_a_sample_are_left_out_of_the_joint_test():
    # in the sample "late", groups 2-11 are seen only after adoption: a draw that treats
    # only such groups has a treatment the unit effects absorb (no estimate there); it
    # must not count as a "not extreme" draw
    import warnings

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"u": np.repeat(np.arange(24), 6), "t": np.tile(np.arange(6), 24)})
    df["g"] = df["u"] // 2
    df["did"] = ((df["g"] < 2) & (df["t"] >= 3)).astype(int)
    df["y"] = 0.4 * df["did"] + rng.normal(size=len(df))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = spec_curve(df, ["y"], "did", controls={"none": []},
                            samples={"full": None, "late": "t >= 3 or g < 2"},
                            cluster=["g"], assign="g", unit="u", time="t",
                            inference="permutation", draws=300, seed=2, progress=False)
    j = res.joint
    assert j["draws_degenerate"] > 0 and j["draws"] + j["draws_degenerate"] == 300
    E = res.meta["permutation_estimates"]
    ok = np.isfinite(E).all(axis=0)
    obs = float(np.median(res.specs["estimate"]))
    null = np.median(E[:, ok], axis=0)
    expected = (1 + (np.abs(null) >= abs(obs) * (1 - 1e-10)).sum()) / (1 + ok.sum())
    assert j["median_estimate_p"] == pytest.approx(expected)


# ------------------------------------------------ weights and interacted fixed effects
def _weighted(seed=5):
    """``_data`` with a region that cuts across provinces (so region^year leaves the
    treatment identified), row weights (a few zero) and a unit-level weight."""
    df = _data(seed)
    rng = np.random.default_rng(seed + 1)
    df["region"] = df["unit"] % 4
    df["w"] = rng.uniform(0.2, 3.0, len(df)) * np.exp(rng.normal(size=24))[df["unit"]]
    df.loc[[7, 40, 133], "w"] = 0.0  # dropped, as fixest drops zero weights
    return df


def _pyfixest(pf, fml, df, cluster, weights="w"):
    # pyfixest refuses zero weights: give it the rows fixest keeps; its demeaning
    # tolerance (default 1e-8) is tightened so that it is not the limit of agreement
    sub = df[df[weights] > 0] if weights else df
    return pf.feols(fml, sub, weights=weights, vcov={"CRV1": cluster}, fixef_tol=1e-12,
                    ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="min"))


def _treat_stats(m):
    return m.coef()["treat"], m.se()["treat"], m.pvalue()["treat"], m._N


@pytest.mark.oracle
def test_weighted_specs_with_interacted_fe_equal_pyfixest():
    pf = pytest.importorskip("pyfixest")
    df = _weighted()
    res = spec_curve(df, "y", "treat", unit="unit", time="year", weights="w",
                     controls={"none": [], "both": ["x1", "x2"]},
                     samples={"full": None, "late": "year >= 2002"},
                     fe={"twfe": ["unit", "year"], "ry": ["unit", "region^year"]},
                     cluster=["prov", "unit"])
    assert len(res.specs) == 2 * 2 * 2 * 2 and res.meta["weights"] == "w"
    fits = {}
    for r in res.specs.itertuples():
        key = (r.sample, r.controls, r.fe)
        if key not in fits:
            sub = df.query("year >= 2002") if r.sample == "late" else df
            sub = sub.dropna(subset=["x1", "x2"])  # one estimation sample per (sample, FE)
            ctrl = " + x1 + x2" if r.controls == "both" else ""
            fe = "unit + year" if r.fe == "twfe" else "unit + region^year"
            fits[key] = _pyfixest(pf, f"y ~ treat{ctrl} | {fe}", sub, "prov")
        b, se, p, n = _treat_stats(fits[key].vcov({"CRV1": r.cluster}))
        assert (r.estimate, r.std_error, r.p_value) == pytest.approx((b, se, p), rel=1e-8)
        assert r.nobs == n
    # the weights change the answer (the unweighted curve is another model)
    plain = spec_curve(df, "y", "treat", unit="unit", time="year", cluster=["prov"])
    assert plain.specs["estimate"].iloc[0] != pytest.approx(res.specs["estimate"].iloc[0],
                                                            rel=1e-3)


@pytest.mark.oracle
def test_design_with_weights_and_region_year_equals_pyfixest():
    pf = pytest.importorskip("pyfixest")
    from policylab.estimators.design import build_design

    df = _weighted()
    df.loc[[7, 40, 133], "w"] = 0.5  # positive weights: the Design keeps every row
    d = build_design(df, unit="unit", time="year", treat="treat", weights="w",
                     fe="unit + year + region^year", cluster="prov", controls=["x1"])
    res = spec_curve(d, "y2")
    assert res.specs["fe"].tolist() == ["unit+year+region^year"]
    assert res.meta["design"]["weights"] == "w"
    assert res.meta["design"]["fe"] == ["unit", "year", "region^year"]
    r = res.specs.iloc[0]
    b, se, p, n = _treat_stats(_pyfixest(pf, "y2 ~ treat + x1 | unit + year + region^year",
                                         df, "prov"))
    assert (r.estimate, r.std_error, r.p_value) == pytest.approx((b, se, p), rel=1e-8)
    assert r.cluster == "prov" and r.nobs == n


def test_a_design_clustered_two_ways_is_refused_unless_cluster_is_given():
    from policylab.estimators.design import DesignNotHonoured, build_design

    df = _weighted()
    d = build_design(df, unit="unit", time="year", treat="treat", cluster="prov + year")
    with pytest.raises(DesignNotHonoured, match=r"spec_curve.*two-way cluster.*prov \+ year"):
        spec_curve(d, "y")
    assert spec_curve(d, "y", cluster=["prov"]).specs["cluster"].tolist() == ["prov"]


def test_bad_weights_are_named():
    from policylab.errors import DataError, SpecError

    df = _weighted()
    with pytest.raises(DataError, match=r"weights column 'w'.*1 rows"):
        spec_curve(df.assign(w=df["w"].where(df.index != 3, -1.0)), "y", "treat",
                   unit="unit", time="year", weights="w")
    with pytest.raises(DataError, match="weights column 'v'"):
        spec_curve(df.assign(v="a"), "y", "treat", unit="unit", time="year", weights="v")
    with pytest.raises(SpecError, match=r"fe\['ry'\].*'regio'"):
        spec_curve(df.rename(columns={"region": "regio"}), "y", "treat", unit="unit",
                   time="year", fe={"ry": ["unit", "regio^year", "region^year"]})


JOINT = {"draws": 10, "seed": 6, "alpha": 0.05}
JOINT_SPECS = {("none", "twfe"): "y ~ treat | unit + year",
               ("x1", "twfe"): "y ~ treat + x1 | unit + year",
               ("none", "ry"): "y ~ treat | unit + region^year",
               ("x1", "ry"): "y ~ treat + x1 | unit + region^year"}


@pytest.fixture(scope="module")
def brute_force_draws():
    """Every (spec, draw) estimate and p-value of the weighted joint test by one pyfixest
    fit each, the fake treatment built by hand: the k-th province in order of appearance
    gets the treatment path (over years) of province perms[d, k]."""
    pf = pytest.importorskip("pyfixest")
    from policylab.inference.randomization import permutations

    df = _weighted().dropna(subset=["x2"])
    groups = df["prov"].unique()
    perms = permutations(len(groups), JOINT["draws"], JOINT["seed"])
    path = df.pivot_table(index="prov", columns="year", values="treat", aggfunc="max")
    out = {}
    for key, fml in JOINT_SPECS.items():
        E, P = np.empty(len(perms)), np.empty(len(perms))
        for d, p in enumerate(perms):
            donor = pd.Series(groups[p], index=groups)[df["prov"]].to_numpy()
            fake = df.assign(treat=path.to_numpy()[path.index.get_indexer(donor),
                                                   path.columns.get_indexer(df["year"])])
            E[d], _, P[d], _ = _treat_stats(_pyfixest(pf, fml, fake, "prov"))
        out[key] = (E, P)
    return df, out


@pytest.mark.oracle
@pytest.mark.parametrize("route", ["per-cluster statistics", "demeaned basis", "direct"])
def test_weighted_joint_test_equals_brute_force_pyfixest(route, brute_force_draws,
                                                         monkeypatch):
    # seed 6, 10 draws over 8 provinces, each re-estimated by pyfixest: per-draw
    # estimates to 1e-8 relative, the joint p-values exactly (same draws, same rule)
    import policylab.estimators.spec_curve as sc
    from policylab.inference.randomization import TIE_RTOL

    if route != "per-cluster statistics":
        monkeypatch.setattr(sc, "_add_fast_stats", lambda *a, **k: None)
    if route == "direct":
        monkeypatch.setattr(sc, "_add_path_basis", lambda blk, max_bytes=0: None)
    df, brute = brute_force_draws
    alpha = JOINT["alpha"]
    res = spec_curve(df, "y", "treat", unit="unit", time="year", weights="w",
                     controls={"none": [], "x1": ["x1"]}, assign="prov",
                     fe={"twfe": ["unit", "year"], "ry": ["unit", "region^year"]},
                     cluster=["prov"], inference="permutation", draws=JOINT["draws"],
                     seed=JOINT["seed"], level=1 - alpha)
    keys = list(zip(res.specs["controls"], res.specs["fe"]))
    E = np.vstack([brute[k][0] for k in keys])
    P = np.vstack([brute[k][1] for k in keys])
    np.testing.assert_allclose(res.meta["permutation_estimates"], E, rtol=1e-8)
    obs = res.specs["estimate"].to_numpy()
    obs_med, obs_share = np.median(obs), (res.specs["p_value"] < alpha).mean()
    null_med = np.median(E, axis=0)
    null_share = ((P < alpha) & (np.sign(E) == np.sign(obs)[:, None])).mean(axis=0)
    tol_m, tol_s = TIE_RTOL * abs(obs_med), TIE_RTOL * max(obs_share, 1e-12)
    n = JOINT["draws"]
    assert res.joint["median_estimate_p"] == pytest.approx(
        (1 + (np.abs(null_med) >= abs(obs_med) - tol_m).sum()) / (1 + n), rel=1e-12)
    assert res.joint["share_significant_p"] == pytest.approx(
        (1 + (null_share >= obs_share - tol_s).sum()) / (1 + n), rel=1e-12)


@pytest.mark.oracle
def test_a_fixed_effect_set_left_empty_is_the_regression_with_an_intercept():
    pf = pytest.importorskip("pyfixest")
    df = _weighted()
    res = spec_curve(df, "y", "treat", unit="unit", time="year", weights="w",
                     controls={"x1": ["x1"]}, fe={"none": []}, cluster=["prov"])
    b, se, p, n = _treat_stats(_pyfixest(pf, "y ~ treat + x1", df, "prov"))
    r = res.specs.iloc[0]
    assert (r.estimate, r.std_error, r.p_value) == pytest.approx((b, se, p), rel=1e-8)
    assert r.nobs == n

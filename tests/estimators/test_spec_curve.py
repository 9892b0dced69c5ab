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

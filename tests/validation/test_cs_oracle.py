"""Callaway-Sant'Anna on mpdta against moderndid (R did's port, analytic SEs), and the
R did package's documented output (ATT(2004,2004) = -0.0105, ..., dynamic -0.0772,
group -0.031)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "cs_moderndid.json").read_text())
CASES = {
    "never_nocov": {},
    "notyet_nocov": {"control_group": "notyet"},
    "never_lpop_dr": {"covariates": ["lpop"], "method": "dr"},
    "never_lpop_ipw": {"covariates": ["lpop"], "method": "ipw"},
    "never_lpop_reg": {"covariates": ["lpop"], "method": "reg"},
}


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(HERE / "data" / "mpdta.csv")


def test_r_did_documented_numbers(mpdta):
    r = pl.att_gt(mpdta, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    t = r.tidy().set_index(["group", "time"])["estimate"].round(4)
    assert [t[(2004, y)] for y in (2004, 2005, 2006, 2007)] == [-0.0105, -0.0704, -0.1373,
                                                                -0.1008]
    assert round(r.aggregate("dynamic").beta[0], 4) == -0.0772
    assert round(r.aggregate("group").beta[0], 3) == -0.031


@pytest.mark.parametrize("case", list(CASES))
def test_matches_moderndid(mpdta, case):
    r = pl.att_gt(mpdta, y="lemp", unit="countyreal", time="year", cohort="first.treat",
                  **CASES[case])
    ref = ORACLE[case]
    _assert_matches(r, ref)


def _assert_matches(r, ref) -> None:
    """ATT(g,t), analytic SEs, the pre-test and every aggregation against the oracle."""
    np.testing.assert_allclose(r.cells["estimate"], ref["att"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(r.cells["std_error"], ref["se"], rtol=1e-8)
    assert r.pretest["p_value"] == pytest.approx(ref["pretest_p"], abs=1e-5)  # printed to 5
    for agg in ("simple", "dynamic", "group", "calendar"):
        a = r.aggregate(agg)
        assert a.beta[0] == pytest.approx(ref[agg]["overall_att"], rel=1e-8)
        assert a.se().iloc[0] == pytest.approx(ref[agg]["overall_se"], rel=1e-8)
        if agg != "simple":
            np.testing.assert_allclose(a.beta[1:], ref[agg]["att"], rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(a.se().to_numpy()[1:], ref[agg]["se"], rtol=1e-8)


def test_uniform_bands_are_seeded_and_wider(mpdta):
    r = pl.att_gt(mpdta, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    a = r.aggregate("dynamic", bootstrap=True, draws=999, seed=1)
    b = r.aggregate("dynamic", bootstrap=True, draws=999, seed=1)
    assert a.meta["band_crit"] == b.meta["band_crit"] > 1.96


# ---------------------------------------------------------------- sampling weights
WORACLE = json.loads((HERE / "oracles" / "cs_moderndid_weights.json").read_text())
WCASES = {
    "never_nocov": {},
    "notyet_nocov": {"control_group": "notyet"},
    "never_lpop_dr": {"covariates": ["lpop"], "method": "dr"},
    "notyet_lpop_dr": {"covariates": ["lpop"], "method": "dr", "control_group": "notyet"},
    "never_lpop_ipw": {"covariates": ["lpop"], "method": "ipw"},
    "never_lpop_reg": {"covariates": ["lpop"], "method": "reg"},
}


@pytest.fixture(scope="module")
def weighted(mpdta):
    # one generated weight per county (scripts/cs_moderndid_weights.py)
    w = pd.read_csv(HERE / "data" / "mpdta_weights.csv")
    return mpdta.merge(w, on="countyreal", how="left", validate="many_to_one")


@pytest.mark.parametrize("case", list(WCASES))
def test_weighted_matches_moderndid(weighted, case):
    # ATT(g,t), analytic SEs and every aggregation at 1e-8; the oracle's aggregations
    # use R did's weighted group shares (see the script on moderndid 0.2's aggte)
    r = pl.att_gt(weighted, y="lemp", unit="countyreal", time="year", cohort="first.treat",
                  weights="w", **WCASES[case])
    ref = WORACLE[case]
    assert r.cells["group"].tolist() == ref["cell_group"]
    _assert_matches(r, ref)
    for agg in ("simple", "dynamic", "group", "calendar"):
        # the weights matter: unweighted shares give other aggregations
        assert r.aggregate(agg).beta[0] != pytest.approx(
            ref["aggregations_without_weights"][agg], rel=1e-6)


def test_weighted_bootstrap_matches_moderndid_within_monte_carlo_error(weighted):
    # 20,000 draws each side (ours seed 5): IQR-based SEs ~1% MC error each, tolerance
    # 5%; sup-t critical values 0.15 (as the unweighted bootstrap test)
    o = WORACLE["boot"]
    r = pl.att_gt(weighted, y="lemp", unit="countyreal", time="year", cohort="first.treat",
                  weights="w", bootstrap=True, draws=20_000, seed=5)
    np.testing.assert_allclose(r.cells["std_error"], o["se"], rtol=0.05)
    assert r.meta["band_crit"] == pytest.approx(o["crit"], abs=0.15)
    a = r.aggregate("dynamic")
    np.testing.assert_allclose(a.se().to_numpy(), [o["dyn_overall_se"], *o["dyn_se"]],
                               rtol=0.05)
    assert a.meta["band_crit"] == pytest.approx(o["dyn_crit"][0], abs=0.15)


# ---------------------------------------------------------------- trimming (R DRDID)
TORACLE = json.loads((HERE / "oracles" / "cs_moderndid_trim.json").read_text())
TCASES = {
    "never_dr": {"method": "dr"},
    "never_ipw": {"method": "ipw"},
    "notyet_dr": {"method": "dr", "control_group": "notyet"},
}


@pytest.mark.parametrize("case", list(TCASES))
def test_propensity_trimming_matches_moderndid(case):
    # comparison units with a fitted score >= 0.995 get no weight (R DRDID's trim.level,
    # which R did inherits); the generated panel (scripts/cs_moderndid_trim.py) has four
    # such never-treated units, and the trimming moves the estimates a lot
    d = pd.DataFrame(TORACLE["data"])
    r = pl.att_gt(d, y="y", unit="id", time="year", cohort="g", covariates=["x"],
                  **TCASES[case])
    ref = TORACLE[case]
    assert r.cells["group"].tolist() == ref["cell_group"]
    np.testing.assert_allclose(r.cells["estimate"], ref["att"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(r.cells["std_error"], ref["se"], rtol=1e-8)
    for agg in ("simple", "dynamic", "group", "calendar"):
        a = r.aggregate(agg)
        assert a.beta[0] == pytest.approx(ref[agg]["overall_att"], rel=1e-8)
        assert a.se().iloc[0] == pytest.approx(ref[agg]["overall_se"], rel=1e-8)
        if agg != "simple":
            np.testing.assert_allclose(a.beta[1:], ref[agg]["att"], rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(a.se().to_numpy()[1:], ref[agg]["se"], rtol=1e-8)
    if case.startswith("never"):
        cell = TORACLE["cell_2003_2003"][case.split("_")[1]]
        est = r.cells.set_index(["group", "time"]).loc[(2003, 2003), "estimate"]
        assert est == pytest.approx(cell["trimmed"], rel=1e-8)
        assert abs(est - cell["untrimmed"]) > 0.1


UORACLE = json.loads((HERE / "oracles" / "cs_moderndid_unbalanced.json").read_text())


@pytest.mark.oracle
def test_unbalanced_panel_is_balanced_as_r_did_does(mpdta):
    # scripts/cs_moderndid_unbalanced.py: a county missing a year and one missing an
    # outcome are dropped (R did's allow_unbalanced_panel = FALSE)
    d = mpdta.iloc[1:].copy()
    d.loc[d.index == 7, "lemp"] = np.nan
    with pytest.warns(UserWarning, match="balanced panel: dropped 2 units"):
        r = pl.att_gt(d, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    np.testing.assert_allclose(r.cells["group"], UORACLE["group"])
    np.testing.assert_allclose(r.cells["time"], UORACLE["time"])
    np.testing.assert_allclose(r.cells["estimate"], UORACLE["att"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(r.cells["std_error"], UORACLE["se"], rtol=1e-8)

"""feols against R (lm with dummies + sandwich, plm) and pyfixest, stored oracle numbers."""

import json
from pathlib import Path

import pandas as pd
import pytest

import policylab as pl

HERE = Path(__file__).parent
R = json.loads((HERE / "oracles" / "feols_r.json").read_text())
PF = json.loads((HERE / "oracles" / "feols_pyfixest.json").read_text())
DATA = {f: pd.read_csv(HERE / "data" / f) for f in
        ("feols_balanced.csv", "feols_unbalanced.csv", "feols_fewclusters.csv")}
BAL, UNBAL, FEW = DATA.values()

# name -> (data, formula, vcov, weights, ssc); "sandwich" counts every dummy in K, as lm
R_CASES = {
    "bal_iid": (BAL, "y ~ x1 + x2 | unit + year", "iid", None, None),
    "bal_hc1": (BAL, "y ~ x1 + x2 | unit + year", "hetero", None, None),
    "bal_crv1_unit_full": (BAL, "y ~ x1 + x2 | unit + year", {"CRV1": "unit"}, None, "sandwich"),
    "bal_crv1_grp_full": (BAL, "y ~ x1 + x2 | unit + year", {"CRV1": "grp"}, None, "sandwich"),
    "bal_crv1_twoway_full": (BAL, "y ~ x1 + x2 | unit + year", {"CRV1": "unit+year"}, None,
                             "sandwich"),
    "bal_weighted_crv1_unit_full": (BAL, "y ~ x1 + x2 | unit + year", {"CRV1": "unit"}, "w",
                                    "sandwich"),
    "bal_plm_hc1_group": (BAL, "y ~ x1 + x2 | unit + year", {"CRV1": "unit"}, None, "plm"),
    "unbal_crv1_unit_full": (UNBAL, "y ~ x1 + x2 + x3 | unit + year", {"CRV1": "unit"}, None,
                             "sandwich"),
    "unbal_iid": (UNBAL, "y ~ x1 + x2 + x3 | unit + year", "iid", None, None),
    "few_crv1_unit_full": (FEW, "y ~ x1 + x2 | unit + year", {"CRV1": "unit"}, None,
                           "sandwich"),
}


@pytest.mark.parametrize("name", list(R_CASES))
def test_against_r(name):
    df, fml, vcov, w, ssc = R_CASES[name]
    r = pl.feols(fml, df, vcov=vcov, weights=w, ssc=ssc)
    ref = R[name]
    assert r.nobs == ref["nobs"]
    for t in ("x1", "x2"):
        assert r.coef()[t] == pytest.approx(ref["coef"][t], rel=1e-8)
        assert r.se()[t] == pytest.approx(ref["se"][t], rel=1e-8)


def test_three_fixed_effects_coefficients_against_r():
    # lm counts the exact rank of region x year dummies; fixest (and policylab) count
    # levels minus one per extra FE, so only the coefficients are compared with R here
    r = pl.feols("y ~ x1 + x2 | unit + year + region^year", BAL, vcov="hetero")
    for t in ("x1", "x2"):
        assert r.coef()[t] == pytest.approx(R["bal_threefe_hc1"]["coef"][t], rel=1e-8)


# the cases are stored with the oracle numbers by scripts/feols_pyfixest.py
PF_CASES = [k for k in PF if k != "pyfixest"]


@pytest.mark.parametrize("name", PF_CASES)
def test_against_pyfixest(name):
    case = PF[name]["case"]
    r = pl.feols(case["fml"], DATA[case["data"]], vcov=case["vcov"], weights=case["weights"])
    ref = PF[name]
    assert r.nobs == ref["nobs"]
    for t, b in ref["coef"].items():
        assert r.coef()[t] == pytest.approx(b, rel=1e-8), t
        assert r.se()[t] == pytest.approx(ref["se"][t], rel=1e-8), t
    assert r.r2 == pytest.approx(ref["r2"], rel=1e-8)
    if name == "unbal_singleton_collinear":
        assert r.meta["dropped"]["singletons"] == 1
        assert r.meta["dropped_terms"] == {"x3": "collinear"}

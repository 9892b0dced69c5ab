"""fixest syntax against stored pyfixest 0.60 / linearmodels 7.1 numbers.

Stepwise models, 2SLS with fixed effects (coefficients, SEs, first-stage F), and
predict / resid / fixef. The numbers and the data come from
scripts/feols_syntax_oracles.py.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl

HERE = Path(__file__).parent
OR = json.loads((HERE / "oracles" / "feols_syntax.json").read_text())
DF = pd.read_csv(HERE / "data" / "feols_syntax.csv")
TOL = 1e-8


def _norm(fml):
    return fml.replace(" ", "").replace("+1|", "|").removesuffix("+1")


def _same(res, ref):
    assert res.nobs == ref["nobs"]
    assert res.terms == list(ref["coef"])
    for t, b in ref["coef"].items():
        assert res.coef()[t] == pytest.approx(b, rel=TOL, abs=1e-12), t
        assert res.se()[t] == pytest.approx(ref["se"][t], rel=TOL), t


@pytest.mark.parametrize("case", OR["stepwise"], ids=lambda c: c["fml"])
def test_stepwise_models_equal_pyfixest(case):
    res = pl.feols(case["fml"], DF, vcov=case["vcov"])
    assert isinstance(res, list)
    # same models in the same order (pyfixest writes an empty step as '+ 1')
    assert [_norm(r.meta["formula"]) for r in res] == [_norm(m["fml"]) for m in case["models"]]
    for r, ref in zip(res, case["models"]):
        _same(r, ref)


@pytest.mark.parametrize("case", OR["iv"], ids=lambda c: f"{c['fml']}-{c['vcov']}-{c['weights']}")
def test_iv_equals_pyfixest(case):
    res = pl.feols(case["fml"], DF, vcov=case["vcov"], weights=case["weights"])
    _same(res, case)
    assert res.first_stage_f["d"] == pytest.approx(case["first_stage_f"], rel=TOL)
    assert res.meta["estimator"] == "2SLS"


@pytest.mark.parametrize("case", OR["iv_linearmodels"],
                         ids=lambda c: f"{c['fml']}-{c['cov_type']}")
def test_iv_equals_linearmodels(case):
    # linearmodels with debiased=True counts every dummy in K: the "sandwich" preset
    vcov = {"unadjusted": "iid", "robust": "hetero"}.get(case["cov_type"])
    res = pl.feols(case["fml"], DF, vcov=vcov or {"CRV1": case["cluster"]}, ssc="sandwich")
    assert res.nobs == case["nobs"]
    for t, b in case["coef"].items():
        assert res.coef()[t] == pytest.approx(b, rel=TOL), t
        assert res.se()[t] == pytest.approx(case["se"][t], rel=TOL), t
    # linearmodels' f.stat is Wald / q when unadjusted, the Wald statistic otherwise
    for d, f in case["first_stage_fstat"].items():
        lm_f = f / (1 if case["cov_type"] == "unadjusted" else case["q"])
        assert res.first_stage_f[d] == pytest.approx(lm_f, rel=TOL), d


@pytest.mark.parametrize("case", OR["predict"], ids=lambda c: f"{c['fml']}-{c['weights']}")
def test_predict_resid_fixef_equal_pyfixest(case):
    res = pl.feols(case["fml"], DF, vcov="iid", weights=case["weights"])
    assert list(res.resid().index) == case["rows"]
    np.testing.assert_allclose(res.resid().to_numpy(), case["resid"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.predict().to_numpy(), case["predict"], rtol=TOL, atol=1e-9)
    new = DF.loc[case["new_rows"]].copy()
    new.loc[new.index[:2], "unit"] = 999
    got = res.predict(new).to_numpy()
    ref = np.array(case["predict_new"], dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=TOL, atol=1e-9)
    if "fixef" in case:
        fx = res.fixef()
        for fe, levels in case["fixef"].items():
            # pyfixest leaves the reference level of later FE out; policylab has it at 0
            ours = fx[fe]
            extra = set(ours.index) - {int(k) for k in levels}
            assert all(ours[k] == pytest.approx(0, abs=1e-10) for k in extra)
            for lv, v in levels.items():
                assert ours[int(lv)] == pytest.approx(v, rel=1e-8, abs=1e-9), (fe, lv)


@pytest.mark.parametrize("case", OR["slopes"], ids=lambda c: f"{c['fml']}-{c['vcov']}")
def test_varying_slopes_equal_explicit_interactions_in_pyfixest(case):
    df = DF.assign(t=DF["year"] - 2010, t2=(DF["year"] - 2010) ** 2)
    res = pl.feols(case["fml"], df, vcov=case["vcov"])
    _same(res, case)


@pytest.mark.parametrize("case", OR["slopes_absorbing"],
                         ids=lambda c: f"{c['fml']}-{c['cov_type']}")
def test_varying_slopes_equal_linearmodels_absorbing(case):
    vcov = {"unadjusted": "iid", "robust": "hetero"}.get(case["cov_type"])
    res = pl.feols(case["fml"], DF.assign(t=DF["year"] - 2010.0),
                   vcov=vcov or {"CRV1": case["cluster"]}, ssc="sandwich")
    assert res.nobs == case["nobs"]
    N, K = res.nobs, res.fit.df_k
    # AbsorbingLS counts every slope in K; with year FE one unit's trend is redundant
    # (the trends add up to t, spanned by the year dummies) and policylab leaves it out
    redundant = K - len(res.terms) < case["df_absorbed"]
    factor = np.sqrt((N - K) / (N - K - 1)) if redundant else 1.0
    assert redundant == ("year" in case["fml"])
    for t, b in case["coef"].items():
        assert res.coef()[t] == pytest.approx(b, rel=TOL), t
        assert res.se()[t] * factor == pytest.approx(case["se"][t], rel=TOL), t

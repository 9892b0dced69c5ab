"""Mediation's equations and Sobel SE on a cross-section against statsmodels OLS, for
each vcov= (classical, HC1, clustered), with formula controls; no panel warnings on a
cross-section."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import policylab as pl

HERE = Path(__file__).parent
DF = pd.read_csv(HERE / "data" / "mediation_xsec.csv").assign(
    g=lambda d: d["id"] // 10, grp=lambda d: d["id"] % 4)
FITS = {"iid": {}, "hetero": {"cov_type": "HC1"},
        "cluster": {"cov_type": "cluster", "cov_kwds": {"groups": DF["g"]}}}
VCOV = {"iid": "iid", "hetero": "hetero", "cluster": {"CRV1": "g"}}


@pytest.mark.oracle
@pytest.mark.parametrize("kind", list(VCOV))
@pytest.mark.parametrize("controls,terms", [(["x"], "x"), (["x", "C(grp)"], "x + C(grp)")])
def test_equations_and_sobel_se_equal_statsmodels_ols(kind, controls, terms):
    ma = smf.ols(f"m ~ d + {terms}", DF).fit(**FITS[kind])
    yb = smf.ols(f"y ~ d + m + {terms}", DF).fit(**FITS[kind])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = pl.mediation(DF, y="y", treat="d", mediators=["m"], controls=controls,
                         vcov=VCOV[kind], draws=0)
    t = r.tidy().iloc[0]
    a, sa, b, sb = ma.params["d"], ma.bse["d"], yb.params["m"], yb.bse["m"]
    np.testing.assert_allclose([t["a"], t["a_se"], t["b"], t["b_se"]], [a, sa, b, sb],
                               rtol=1e-8)
    # the textbook Sobel SE with these equations' SEs
    assert t["sobel_se"] == pytest.approx(np.sqrt(b**2 * sa**2 + a**2 * sb**2), rel=1e-8)
    # a cross-section has no "units treated in the first period"
    assert not any("first period" in str(w.message) for w in caught)
    assert not any("first period" in w for w in r.warnings)
    assert r.meta["cross_section"] and r.meta["vcov"] == ("CRV1" if kind == "cluster" else kind)


def test_formula_controls_bootstrap_and_sensitivity_use_the_expanded_terms():
    r = pl.mediation(DF, y="y", treat="d", mediators=["m"], controls=["x", "C(grp)"],
                     vcov="iid", draws=200, seed=3)
    t = r.tidy().iloc[0]
    # the sensitivity curve at rho = 0 is a*b of the same system (controls included)
    acme0 = r.sensitivity.loc[r.sensitivity.rho == 0, "acme"].item()
    assert acme0 == pytest.approx(t["estimate"], rel=1e-9)
    # observations are resampled without clusters: the draws centre on the estimate
    d = r.boot_draws["m"]
    assert len(d) == 200
    assert abs(np.mean(d) - t["estimate"]) < 4 * np.std(d) / np.sqrt(len(d)) + 0.02
    again = pl.mediation(DF, y="y", treat="d", mediators=["m"], controls=["x", "C(grp)"],
                         vcov="iid", draws=200, seed=3)
    np.testing.assert_array_equal(again.boot_draws["m"], d)


def test_one_period_panel_keys_are_a_cross_section_without_panel_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = pl.mediation(DF, y="y", treat="d", mediators=["m"], controls=["x"], unit="id",
                         time="t", fe=[], vcov="iid", draws=0)
    assert r.meta["cross_section"]
    assert not any("first period" in str(w.message) for w in caught)
    # the same equations as with time=None
    s = pl.mediation(DF, y="y", treat="d", mediators=["m"], controls=["x"], vcov="iid",
                     draws=0)
    assert r.tidy().iloc[0]["sobel_se"] == pytest.approx(s.tidy().iloc[0]["sobel_se"],
                                                         rel=1e-12)

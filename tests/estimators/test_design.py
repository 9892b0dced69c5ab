"""One Design carried to every estimator: weighted oracles reached through a Design,
refusals that name what an estimator cannot honour, and a missing 0/1 treatment."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import SpecError
from policylab.estimators.design import DesignNotHonoured, build_design

VAL = Path(__file__).parents[1] / "validation"
CS_ORACLE = json.loads((VAL / "oracles" / "cs_moderndid_weights.json").read_text())
SA_ORACLE = json.loads((VAL / "oracles" / "sun_abraham_pyfixest.json").read_text())
IMP_ORACLE = json.loads((VAL / "oracles" / "imputation_pyfixest.json").read_text())


@pytest.fixture(scope="module")
def mpdta_w():
    mp = pd.read_csv(VAL / "data" / "mpdta.csv")
    w = pd.read_csv(VAL / "data" / "mpdta_weights.csv")
    return mp.merge(w, on="countyreal", how="left", validate="many_to_one")


@pytest.fixture(scope="module")
def gen():
    # generated staggered panel with regions, a control and observation weights
    # (scripts/imputation_pyfixest.py wrote it)
    return pd.read_csv(VAL / "data" / "imputation_fe.csv")


# ------------------------------------------------------------ weighted oracles via a Design
@pytest.mark.oracle
@pytest.mark.parametrize("case,kw", [("never_nocov", {}),
                                     ("notyet_nocov", {"control_group": "notyet"})])
def test_att_gt_given_a_weighted_design_matches_moderndid(mpdta_w, case, kw):
    d = build_design(mpdta_w, unit="countyreal", time="year", cohort="first.treat",
                     weights="w")
    r = pl.att_gt(d, y="lemp", **kw)
    ref = CS_ORACLE[case]
    np.testing.assert_allclose(r.cells["estimate"], ref["att"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(r.cells["std_error"], ref["se"], rtol=1e-8)
    for agg in ("simple", "dynamic", "group", "calendar"):
        assert r.aggregate(agg).beta[0] == pytest.approx(ref[agg]["overall_att"], rel=1e-8)
    assert r.meta["design"]["weights"] == "w"
    assert r.meta["design"]["treatment"] == "cohort first.treat"


@pytest.mark.oracle
@pytest.mark.parametrize("case,fe", [("sa_weights", None),
                                     ("sa_fe_region_year_weights", "unit + region^year")])
def test_sun_abraham_given_a_weighted_design_matches_pyfixest(gen, case, fe):
    d = build_design(gen, unit="unit", time="year", cohort="cohort", weights="w", fe=fe)
    r = pl.sun_abraham(d, y="y")
    o = SA_ORACLE[case]
    assert r.meta["rel_times"] == o["rel"] and r.nobs == o["nobs"]
    np.testing.assert_allclose(r.beta, o["estimate"], rtol=1e-8)
    np.testing.assert_allclose(r.se().to_numpy(), o["se"], rtol=1e-8)
    assert r.meta["design"]["fe"] == list(d.fe) and r.meta["design"]["weights"] == "w"


@pytest.mark.oracle
@pytest.mark.parametrize("case,fe,es", [("weights_att", None, False),
                                        ("fe_region_year_weights_es", "unit + region^year",
                                         True)])
def test_did2s_and_imputation_given_a_weighted_design_match_pyfixest(gen, case, fe, es):
    d = build_design(gen, unit="unit", time="year", cohort="cohort", weights="w", fe=fe)
    r = pl.did2s(d, y="y", event_study=es)
    o = IMP_ORACLE[case]
    np.testing.assert_allclose(r.beta, o["coef"], rtol=1e-8)
    np.testing.assert_allclose(r.se().to_numpy(), o["se"], rtol=1e-8)
    # the imputation estimator's points equal did2s' (Borusyak et al.; Gardner)
    imp = pl.did_imputation(d, y="y")
    got = imp.beta[:1] if not es else imp.coef()[[f"tau::{h}" for h in
                                                   r.meta["rel_times"]]].to_numpy()
    np.testing.assert_allclose(got, o["coef"], rtol=1e-8)
    assert imp.meta["design"]["fe"] == list(d.fe)


def test_weighted_event_study_with_cluster_equals_feols_with_explicit_dummies(gen):
    d = build_design(gen, unit="unit", time="year", cohort="cohort", weights="w",
                     fe="unit + region^year", cluster="region", controls=["x"])
    es = pl.event_study(d, y="y", window=(-3, 2))
    rel = np.where(gen.cohort > 0, gen.year - gen.cohort, np.nan)
    rel = np.where(np.isnan(rel), np.nan, np.clip(rel, -3, 2))
    cols = {f"e{k}": (rel == e).astype(float) for k, e in enumerate(es.meta["rel_times"])}
    fit = pl.feols("y ~ " + " + ".join([*cols, "x"]) + " | unit + region^year",
                   gen.assign(**cols), vcov={"CRV1": "region"}, weights="w")
    np.testing.assert_allclose(es.beta, fit.beta[:len(cols)], rtol=1e-10)
    np.testing.assert_allclose(es.se().to_numpy(), fit.se().to_numpy()[:len(cols)],
                               rtol=1e-10)
    rec = es.meta["design"]
    assert (rec["weights"], rec["cluster"], rec["fe"], rec["controls"]) == (
        "w", "region", ["unit", "region^year"], ["x"])


# ------------------------------------------------------------------- refusals, not swaps
def test_estimators_refuse_what_they_cannot_honour(gen):
    d = build_design(gen, unit="unit", time="year", cohort="cohort", weights="w",
                     fe="unit + year + region^year")
    with pytest.raises(DesignNotHonoured, match=r"att_gt.*region\^year"):
        pl.att_gt(d, y="y")
    with pytest.raises(DesignNotHonoured, match=r"Bacon.*weights \('w'\).*region\^year"):
        pl.bacon_decomposition(d, y="y")
    # PSM-DID honours both: the weights as MatchIt's s.weights, region^year in its DID
    # (tests/validation/test_psm_sweights_oracle.py checks its numbers)
    rec = pl.psm_did(d, y="y", covariates=["x"]).did.meta["design"]
    assert (rec["weights"], rec["fe"], rec["matching_weights"]) == (
        "w", ["unit", "year", "region^year"], True)
    # the curve honours both (tests/estimators/test_spec_curve.py checks its numbers)
    assert pl.spec_curve(d, "y").meta["design"]["weights"] == "w"
    # the comparison runs the others on the same design and says which did not run
    c = pl.compare_estimators(d, y="y", window=(-2, 2))
    assert set(c.meta["not_run"]) == {"Callaway-Sant'Anna"}
    assert "region^year" in c.meta["not_run"]["Callaway-Sant'Anna"]
    assert {r.meta["design"]["weights"] for r in c.results.values()} == {"w"}
    assert any("Callaway-Sant'Anna not run" in w for w in c.warnings)


def test_a_design_fixes_the_model_and_variants_come_from_replace(gen):
    d = build_design(gen, unit="unit", time="year", cohort="cohort", weights="w")
    with pytest.raises(SpecError, match="already fixes.*weights"):
        pl.did(d, y="y", weights="w")
    plain = pl.did(d.replace(weights=None), y="y")
    same = pl.did(gen, y="y", cohort="cohort", unit="unit", time="year")
    assert plain.att == pytest.approx(same.att, rel=1e-12)
    assert pl.did(d, y="y").att != pytest.approx(plain.att, rel=1e-6)
    assert d.replace(weights=None).df is d.df  # variants share the data


def test_design_checks_every_part_once(gen):
    with pytest.raises(pl.DataError, match="weights column 'x'"):
        build_design(gen, unit="unit", time="year", cohort="cohort", weights="x")
    with pytest.raises(SpecError, match="fe=.*nope"):
        build_design(gen, unit="unit", time="year", cohort="cohort", fe="unit + nope^year")
    bad = gen.assign(cl=gen.region.where(gen.unit != 3))
    with pytest.raises(pl.DataError, match="cluster column 'cl' is missing in"):
        build_design(bad, unit="unit", time="year", cohort="cohort", cluster="cl")


def test_sample_keeps_the_adoption_date_read_from_all_rows(gen):
    keep = (gen.year >= 2004).to_numpy()
    d = build_design(gen, unit="unit", time="year", cohort="cohort", sample=keep,
                     sample_name="year >= 2004")
    assert d.nobs == int(keep.sum()) and d.dropped == {"outside the sample": int((~keep).sum())}
    r = pl.did(d, y="y")
    assert r.nobs == d.nobs and r.meta["design"]["sample"] == "year >= 2004"


# --------------------------------------------------------- missing 0/1 treatment values
def test_missing_treatment_is_dropped_and_counted_not_read_as_zero(gen):
    df = gen.assign(d=((gen.cohort > 0) & (gen.year >= gen.cohort)).astype(float))
    treated_rows = df.index[df.d == 1]
    df.loc[treated_rows[[3, 10, 25]], "d"] = np.nan  # missing in the middle of spells
    r = pl.did(df, y="y", treat="d", unit="unit", time="year")
    assert not any("switches off" in w for w in r.warnings)
    assert r.meta["dropped"]["treatment missing"] == 3
    assert r.nobs == len(df) - 3
    assert any("3 rows with a missing treatment" in w for w in r.warnings)
    # the estimate is the one on the rows with a known treatment
    known = pl.did(df.dropna(subset=["d"]), y="y", treat="d", unit="unit", time="year")
    assert r.att == pytest.approx(known.att, rel=1e-12)
    # the cohort of a unit is unchanged by a missing value inside its spell
    es = pl.event_study(df, y="y", treat="d", unit="unit", time="year", window=(-2, 2))
    assert es.meta["dropped"]["treatment missing"] == 3


@pytest.mark.parametrize("start", [0, -3])
def test_treatment_starting_at_nonpositive_time_is_refused_not_read_as_never_treated(start):
    # cohort 0 is "never treated": a unit treated from time 0 would silently become a
    # control of att_gt; with time + 1 the same panel builds and those units are treated
    times = np.arange(start, start + 6)
    df = pd.DataFrame({"u": np.repeat(np.arange(8), 6), "t": np.tile(times, 8)})
    # units 0-1 treated from the first period, 2-3 from the fourth, 4-7 never
    first = np.repeat(start + np.array([0, 0, 3, 3, 99, 99, 99, 99]), 6)
    df["d"] = (df["t"] >= first).astype(int)
    with pytest.raises(pl.PolicyLabError, match=r"'d' is 1 at time .*time \+ 1"):
        build_design(df, unit="u", time="t", treat="d")
    shifted = df.assign(t=df["t"] - start + 1)
    design = build_design(shifted, unit="u", time="t", treat="d")
    assert design.facts["n_treated_units"] == 4
    assert design.facts["cohorts"] == [1, 4]
    assert [int(u) for u in design.facts["always_treated_units"]] == [0, 1]

"""PSM-DID with sampling weights against R MatchIt (``matchit(..., s.weights=)``), its
``summary`` and ``lm(weights = matching weights x s.weights)`` with sandwich's
clustered HC1 SE, on a 150-unit, 4-year panel whose weights vary over time (the base
year's weight is the unit's in the matching). Kernel matching, which MatchIt lacks, is
psmatch2's Epanechnikov formula computed in the R script on the weighted glm score.
Script: tests/validation/scripts/psm_sweights_matchit.R."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "psm_sweights_matchit.json").read_text())
D = pd.read_csv(HERE / "data" / "psm_sweights.csv")
COVS = ["x1", "x2", "x3"]
NN = {"method": "nearest", "common": False}  # MatchIt's discard = "none"
CASES = {
    "nn1": {**NN, "k": 1, "replace": False},
    "nn1_controls": {**NN, "k": 1, "replace": False, "controls": ["x1"]},
    "nn2_replace": {**NN, "k": 2, "replace": True},
    "nn2_matched": {**NN, "k": 2, "replace": True, "did_sample": "matched"},
    "nn1_unweighted_score": {**NN, "k": 1, "replace": False, "score_weighted": False},
    "kernel": {"method": "kernel", "kernel": "epan", "bwidth": 0.06},
}
REL = 1e-6

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name = request.param
    r = pl.psm_did(D, y="y", covariates=COVS, treat="d", unit="unit", time="year",
                   weights="w", **CASES[name])
    return name, r, ORACLE[name]


def test_scores_and_matching_weights_match_matchit(case):
    name, r, ref = case
    rows = r.matching.rows
    np.testing.assert_allclose(rows["_pscore"], ref["pscore"], rtol=REL)
    w = rows["_weight"].fillna(0).to_numpy()
    np.testing.assert_allclose(w, ref["weight"], rtol=REL, atol=1e-12)
    if "matchit_weight" in ref:
        # MatchIt rescales the controls' weights by one constant (to sum to the
        # number of matched controls); the treated keep 1
        mw = np.asarray(ref["matchit_weight"])
        assert ((w > 0) == (mw > 0)).all()
        t = (rows["_treated"].to_numpy() == 0) & (mw > 0)
        ratio = w[t] / mw[t]
        assert ratio == pytest.approx(np.full(t.sum(), ratio[0]), rel=1e-9)


def test_did_on_matched_rows_matches_weighted_lm(case):
    name, r, ref = case
    assert r.nobs == ref["did"]["nobs"]
    assert r.did.att == pytest.approx(ref["did"]["coef"], rel=REL)
    se = r.did.vcov({"CRV1": "unit"}, ssc="sandwich").se()[r.did.meta["treat_term"]]
    assert se == pytest.approx(ref["did"]["se"], rel=REL)


def test_balance_table_is_matchit_summary_with_s_weights(case):
    name, r, ref = case
    if "balance" not in ref:
        pytest.skip("kernel matching is not MatchIt's")
    b = r.balance.tidy().set_index("variable")
    for when in ("before", "after"):
        for v in COVS:
            want = ref["balance"][when][v]
            assert b.loc[v, f"mean_treated_{when}"] == pytest.approx(want["mean_treated"],
                                                                     rel=REL)
            assert b.loc[v, f"mean_control_{when}"] == pytest.approx(want["mean_control"],
                                                                     rel=REL)
            assert b.loc[v, f"smd_{when}"] == pytest.approx(want["smd"], rel=REL)


def test_weighted_score_model_matches_glm():
    cross = D[D.year == 2002].assign(ever=lambda x: x.unit.map(D.groupby("unit").d.max()))
    ps = pl.propensity_score(cross, "ever", COVS, weights="w")
    ref = ORACLE["score_glm"]
    np.testing.assert_allclose(ps.table["estimate"], ref["coef"], rtol=REL)
    np.testing.assert_allclose(ps.table["std_error"], ref["se"], rtol=REL)
    np.testing.assert_allclose(ps.score, ref["pscore"], rtol=REL)
    # MatchIt fits its score with the s.weights by default: the same score
    np.testing.assert_allclose(ps.score, ORACLE["matchit_pscore"], rtol=REL)

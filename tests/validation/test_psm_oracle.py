"""Nearest-neighbour matching against R's Matching package on the Lalonde NSW data
(MatchIt's copy; scores from R's glm, stored with the data). Matching's tie rule:
squared variance-standardized distances within 1e-5 (tie_rule="matching")."""

import json
from pathlib import Path

import pandas as pd
import pytest

import policylab as pl

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "psm_matching.json").read_text())
D = pd.read_csv(HERE / "data" / "lalonde.csv")


@pytest.mark.parametrize("name,kw", [
    ("nn1_ties", {"k": 1}),
    ("nn3_ties", {"k": 3}),
    ("nn1_caliper", {"k": 1, "caliper": 0.05 * ORACLE["pscore_sd"]}),
])
def test_att_and_matched_sets_match_r_matching(name, kw):
    m = pl.match(D, "treat", score="pscore", outcome="re78", method="nearest", common=False,
                 tie_rule="matching", **kw)
    assert m.att == pytest.approx(ORACLE[name]["est"], rel=1e-9)
    on = m.rows.loc[D.treat == 1, "_support"].to_numpy() == 1
    assert on.sum() == ORACLE[name]["nobs_treated"]
    assert sum(len(x) for x, s in zip(m.matches, on) if s) == ORACLE[name]["n_matched_pairs"]


def test_logit_scores_match_r_glm():
    ps = pl.propensity_score(D, "treat", ["age", "educ", "black", "hispan", "married",
                                          "nodegree", "re74", "re75"])
    assert ps.score == pytest.approx(D["pscore"].to_numpy(), rel=1e-6)

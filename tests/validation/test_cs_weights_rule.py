"""Callaway-Sant'Anna with sampling weights: the simple ATT weights the group-time
ATTs by the groups' *weighted* shares, R did's aggte rule (pg = mean(w * 1[G = g])).
Oracle computed by hand, without policylab: scripts/cs_weights_hand.py (which cites the
lines of R did), oracles/cs_weights_hand.json."""

import json
from pathlib import Path

import pandas as pd
import pytest

import policylab as pl

HERE = Path(__file__).parent
REF = json.loads((HERE / "oracles" / "cs_weights_hand.json").read_text())
DF = pd.read_csv(HERE / "data" / "cs_weights_small.csv")


@pytest.mark.oracle
def test_weighted_cells_and_simple_att_follow_r_did_rule():
    r = pl.att_gt(DF, y="y", unit="unit", time="year", cohort="cohort", weights="w")
    cells = r.cells.set_index(["group", "time"])
    for c in REF["cells"]:
        assert cells.loc[(c["group"], c["time"]), "estimate"] == pytest.approx(c["att"],
                                                                              rel=1e-9)
    simple = r.aggregate("simple", bootstrap=False)
    assert float(simple.beta[0]) == pytest.approx(REF["simple_att"], rel=1e-9)
    # the rule matters here: unweighted group shares give a different number
    assert abs(REF["simple_att"] - REF["simple_att_unweighted_shares"]) > 0.05

"""The propensity-score model's McFadden pseudo R2 (``meta["pseudo_r2"]``), unweighted
and with sampling weights, against statsmodels' binomial GLM: 1 - llf / llnull, where
statsmodels refits the intercept-only model with the same weights (policylab uses its
closed form). Why ``var_weights``: policylab's sampling weights are prior weights (R
``glm(weights=)``, MatchIt's ``s.weights``); the number of observations stays the number
of rows. ``freq_weights`` would mean each row stands for ``w`` replicated rows (nobs =
sum of the weights); for the binomial family its likelihood is the same, but it is not
what the weights mean here. Numbers: tests/validation/oracles/psm_pseudo_r2_statsmodels.json
from tests/validation/scripts/psm_pseudo_r2_statsmodels.py (statsmodels 0.15)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "psm_pseudo_r2_statsmodels.json").read_text())
COVS = ["x1", "x2", "x3"]

pytestmark = pytest.mark.oracle


def _cross_section() -> pd.DataFrame:
    # the same rows and weights as the script: year 2002, ever-treated units
    d = pd.read_csv(HERE / "data" / "psm_sweights.csv")
    d["ever"] = d.groupby("unit")["d"].transform("max")
    d = d[d["year"] == 2002].reset_index(drop=True)
    return d.assign(w_cubed=d["w"] ** 3)


@pytest.mark.parametrize("weights", ["none", "w", "w_cubed"])
@pytest.mark.parametrize("link", ["logit", "probit"])
def test_pseudo_r2_matches_the_binomial_glm(link: str, weights: str) -> None:
    ref = ORACLE[f"{link}_{weights}"]
    ps = pl.propensity_score(_cross_section(), "ever", COVS, link,
                             weights=None if weights == "none" else weights)
    # the same model first (else a matching R2 would say little)
    np.testing.assert_allclose(ps.tidy()["estimate"], ref["params"], rtol=1e-8)
    assert ps.meta["pseudo_r2"] == pytest.approx(ref["pseudo_r2"], rel=1e-8, abs=1e-12)


def test_the_weights_change_the_pseudo_r2() -> None:
    # the weighted cases are not the unweighted one in disguise
    r2 = {k: ORACLE[f"logit_{k}"]["pseudo_r2"] for k in ("none", "w", "w_cubed")}
    assert abs(r2["w"] - r2["none"]) > 1e-3 and abs(r2["w_cubed"] - r2["none"]) > 1e-2

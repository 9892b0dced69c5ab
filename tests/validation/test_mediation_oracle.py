"""Cross-sectional mediation against statsmodels' Mediation and pingouin (linear models).
statsmodels
simulates (parametric, 4,000 draws, seed 1): agreement is required within 3 simulation
standard errors of its averages."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

import policylab as pl

HERE = Path(__file__).parent


def test_acme_and_ade_match_statsmodels():
    ref = json.loads((HERE / "oracles" / "mediation_statsmodels.json").read_text())
    df = pd.read_csv(HERE / "data" / "mediation_xsec.csv")
    r = pl.mediation(df, y="y", treat="d", mediators=["m"], controls=["x"], unit="id",
                     time="t", fe=[], draws=0)
    t = r.tidy().iloc[0]
    se_acme = ref["acme_sim_sd"] / np.sqrt(ref["n_rep"])
    se_ade = ref["ade_sim_sd"] / np.sqrt(ref["n_rep"])
    assert abs(t["estimate"] - ref["acme_avg"]) < 3 * se_acme
    assert abs(t["c_prime"] - ref["ade_avg"]) < 3 * se_ade


def test_point_estimates_match_pingouin_exactly():
    # pingouin's mediation_analysis is deterministic for the point estimates (OLS)
    ref = json.loads((HERE / "oracles" / "mediation_pingouin.json").read_text())
    df = pd.read_csv(HERE / "data" / "mediation_xsec.csv")
    r = pl.mediation(df, y="y", treat="d", mediators=["m"], controls=["x"], unit="id",
                     time="t", fe=[], draws=0)
    t = r.tidy().iloc[0]
    np.testing.assert_allclose([t["a"], t["c"], t["c_prime"], t["estimate"]],
                               [ref["a"], ref["total"], ref["direct"], ref["indirect"]],
                               rtol=1e-10)
    # ACME(0) of the sensitivity curve is the same indirect effect
    acme0 = r.sensitivity.loc[r.sensitivity.rho == 0, "acme"].item()
    assert abs(acme0 - ref["indirect"]) < 1e-10 * abs(ref["indirect"])

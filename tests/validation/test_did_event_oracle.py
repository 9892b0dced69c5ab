"""TWFE DID and event study against pyfixest (oracle numbers stored by
scripts/did_event_pyfixest.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

import policylab as pl
from policylab.data.datasets import carbon_pilot, energy_rights_pilot

ORACLE = json.loads((Path(__file__).parent / "oracles" / "did_event_pyfixest.json").read_text())


def _check(res, ref, rename=None):
    rename = rename or {}
    assert res.nobs == ref["nobs"]
    for term, b in ref["coef"].items():
        t = rename.get(term, term)
        assert res.coef()[t] == pytest.approx(b, rel=1e-8), t
        assert res.se()[t] == pytest.approx(ref["se"][term], rel=1e-8), t


def test_did_matches_pyfixest():
    r = pl.did(carbon_pilot(), y="ln_co2", treat="did", controls=["ln_gdp", "fdi"])
    assert r.meta["vcov_label"] == "CRV1 clustered by province"
    _check(r, ORACLE["carbon_did"])


def test_did_unbalanced_from_roster_matches_pyfixest():
    p = energy_rights_pilot(unbalanced=0.1, seed=5)
    r = pl.did(p, y="ln_ntt", roster="energy_rights", date="market_opening", assign="province",
               controls=["ln_pgdp", "urban", "fiscal", "tertiary"])
    _check(r, ORACLE["energy_did_unbalanced"], {"did": r.meta["treat_term"]})


def test_event_study_matches_pyfixest():
    es = pl.event_study(carbon_pilot(), y="ln_co2", cohort="cohort", window=(-5, 5),
                        controls=["ln_gdp"])
    ref = ORACLE["carbon_event"]
    for term in es.terms:
        assert es.coef()[term] == pytest.approx(ref["coef"][term], rel=1e-8)
        assert es.se()[term] == pytest.approx(ref["se"][term], rel=1e-8)
    t = es.tidy()
    assert t.loc[t.rel_time == -1, "estimate"].item() == 0.0
    assert np.isfinite(es.pretrend_test()["p_value"])

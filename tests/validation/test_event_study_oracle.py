"""Event studies against pyfixest's ``i(rel, ref=...)`` (oracle numbers stored by
scripts/event_study_pyfixest.py): staggered castle panel with binned endpoints and two
reference periods, mpdta without binning, an unbalanced city panel with a control."""

import json
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

import policylab as pl
from policylab.data.datasets import energy_rights_pilot

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "event_study_pyfixest.json").read_text())


def _check(es, ref):
    assert es.nobs == ref["nobs"]
    assert sorted(es.meta["rel_times"]) == sorted(int(e) for e in ref["coef"])
    for term, e in zip(es.terms, es.meta["rel_times"]):
        assert es.coef()[term] == pytest.approx(ref["coef"][str(e)], rel=1e-8), e
        assert es.se()[term] == pytest.approx(ref["se"][str(e)], rel=1e-8), e
    pt = es.pretrend_test()
    assert pt["df1"] == ref["lead_wald_q"]
    assert pt["statistic"] * pt["df1"] == pytest.approx(ref["lead_wald_chi2"], rel=1e-8)
    assert pt["p_value"] == pytest.approx(
        stats.f.sf(ref["lead_wald_chi2"] / pt["df1"], pt["df1"], es.df_t), rel=1e-8)


@pytest.fixture(scope="module")
def castle():
    return pd.read_csv(HERE / "data" / "castle.csv")


@pytest.mark.parametrize("ref", [-1, -6])
def test_castle_binned_matches_pyfixest(castle, ref):
    es = pl.event_study(castle, y="l_homicide", unit="sid", time="year", cohort="effyear",
                        window=(-6, 3), ref=ref)
    _check(es, ORACLE[f"castle_ref{ref}"])
    assert es.meta["ref"] == ref
    t = es.tidy()
    assert t.loc[t.rel_time == ref, "estimate"].item() == 0.0


def test_castle_from_the_treatment_column_is_the_same_model(castle):
    es = pl.event_study(castle, y="l_homicide", unit="sid", time="year", treat="post",
                        window=(-6, 3))
    _check(es, ORACLE["castle_ref-1"])


def test_mpdta_without_binning_matches_pyfixest():
    mp = pd.read_csv(HERE / "data" / "mpdta.csv")
    es = pl.event_study(mp, y="lemp", unit="countyreal", time="year", cohort="first.treat",
                        window=(-3, 3), bin_endpoints=False)
    _check(es, ORACLE["mpdta_unbinned"])
    assert es.meta["dropped"]["treated outside the window"] == len(mp) - es.nobs


def test_unbalanced_panel_with_control_and_province_clusters_matches_pyfixest():
    p = energy_rights_pilot(unbalanced=0.1, seed=5)
    with pytest.warns(UserWarning, match="reaches beyond the data"):
        es = pl.event_study(p, y="ln_ntt", cohort="cohort", window=(-4, 3),
                            controls=["ln_pgdp"], cluster="province")
    assert es.meta["vcov_label"] == "CRV1 clustered by province"
    _check(es, ORACLE["energy_unbalanced"])

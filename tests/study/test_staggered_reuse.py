"""The staggered step fits att_gt once (for the estimator comparison and the
Callaway-Sant'Anna tables) and reuses the event_study step's TWFE event study; its
numbers are those of fitting each estimator afresh."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

import policylab as pl
import policylab.estimators.staggered as staggered

DATA = Path(__file__).parents[1] / "validation" / "data" / "mpdta.csv"

SPEC = """
[study]
title = "mpdta"
seed = 3

[data]
path = "mpdta.csv"
unit = "countyreal"
time = "year"

[treatment]
cohort = "first.treat"

[model]
outcomes = ["lemp"]
controls = ["lpop"]

[battery.event_study]
window = [-3, 3]

[battery.staggered]
estimators = ["att_gt", "sun_abraham", "did_imputation"]
control_group = "notyet"
pretest_draws = 99

[battery.pretrends]
enabled = false
[battery.psm_did]
enabled = false
[battery.placebo]
enabled = false
[battery.wild_bootstrap]
enabled = false
[battery.heterogeneity]
enabled = false
[battery.spec_curve]
enabled = false
[battery.mediation]
enabled = false
[battery.moderation]
enabled = false

[output]
formats = ["md"]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from policylab.study.pipeline import run_study

    d = tmp_path_factory.mktemp("reuse")
    shutil.copy(DATA, d / "mpdta.csv")
    (d / "study.toml").write_text(SPEC)
    calls = []
    real = staggered.att_gt
    with pytest.MonkeyPatch.context() as mp:
        # in one process: forked lanes would count their calls (and hold the event study)
        # apart from this one, and the staggered lane refits the event study by design
        mp.setenv("POLICYLAB_STEPS", "serial")
        mp.setattr(staggered, "att_gt", lambda *a, **k: calls.append(k) or real(*a, **k))
        summary = run_study(d / "study.toml", d / "out", progress=False)
    return {s.key: s for s in summary.steps}, calls


def test_att_gt_is_fitted_once(run):
    steps, calls = run
    assert steps["staggered"].status == "ok"
    assert len(calls) == 1


def test_the_step_reuses_the_event_study(run):
    steps, _ = run
    cmp_ = steps["staggered"].results["comparison"]
    assert cmp_.results["TWFE"] is steps["event_study"].results["event_study"]


def test_numbers_equal_fitting_each_estimator_afresh(run):
    steps, _ = run
    st = steps["staggered"]
    d = st.results["comparison"].results["TWFE"].regression  # the study's own rows
    design = pl.estimators.design.build_design(
        pd.read_csv(DATA), unit="countyreal", time="year", cohort="first.treat",
        controls=["lpop"])
    assert d.nobs == design.nobs
    fresh = pl.compare_estimators(design, y="lemp", window=(-3, 3), control_group="notyet",
                                  estimators=("twfe", "att_gt", "sun_abraham",
                                              "did_imputation"))
    pd.testing.assert_frame_equal(st.results["comparison"].tidy(), fresh.tidy(),
                                  check_exact=True)
    cs = pl.att_gt(design, y="lemp", control_group="notyet")
    for kind in ("simple", "dynamic", "group", "calendar"):
        pd.testing.assert_frame_equal(st.results[f"att_gt_{kind}"].tidy(),
                                      cs.aggregate(kind).tidy(), check_exact=True)

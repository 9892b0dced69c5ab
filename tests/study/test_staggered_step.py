"""The study's staggered and pretrends steps on a staggered panel (mpdta, R did's
example): the four Callaway-Sant'Anna aggregations with SEs and CIs, both CS pre-tests,
the TWFE joint pre-trend tests by three methods, and Honest DiD on the CS event study."""

import json
import shutil
from pathlib import Path

import pytest

from policylab.study.pipeline import run_study

DATA = Path(__file__).parents[1] / "validation" / "data" / "mpdta.csv"
ORACLE = json.loads((Path(__file__).parents[1] / "validation" / "oracles"
                     / "cs_moderndid.json").read_text())["never_nocov"]

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

[battery.event_study]
window = [-3, 3]

[battery.pretrends]
draws = 199

[battery.staggered]
estimators = ["att_gt"]
pretest_draws = 199

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
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpdta")
    shutil.copy(DATA, d / "mpdta.csv")
    (d / "study.toml").write_text(SPEC)
    run_study(d / "study.toml", d / "out", progress=False)
    return json.loads((d / "out" / "results.json").read_text())


def test_four_aggregations_with_se_and_ci_match_r_did(results):
    st = results["staggered"]
    assert st["status"] == "ok", st["error"]
    agg = st["numbers"]["att_gt_aggregations"]
    assert set(agg) == {"simple", "dynamic", "group", "calendar"}
    for kind, row in agg.items():
        # the model has no controls: R did's unconditional estimates (moderndid oracle)
        assert row["estimate"] == pytest.approx(ORACLE[kind]["overall_att"], rel=1e-6)
        assert row["std_error"] == pytest.approx(ORACLE[kind]["overall_se"], rel=1e-6)
        assert row["conf_low"] < row["estimate"] < row["conf_high"]
        # the full aggregation (by-values too) is in the results
        tidy = st["results"][f"att_gt_{kind}"]["tidy"]
        assert tidy[0]["estimate"] == pytest.approx(row["estimate"], rel=1e-12)
    dyn = st["results"]["att_gt_dynamic"]["tidy"]
    assert [r["by"] for r in dyn[1:]] == [int(e) for e in ORACLE["dynamic"]["egt"]]


def test_both_cs_pretests_recorded_bootstrap_first_with_few_groups(results):
    n = results["staggered"]["numbers"]
    wald, boot = n["att_gt_pretest"], n["att_gt_pretest_bootstrap"]
    assert wald["df"] == wald["rank"] == 5
    assert wald["p_value"] == pytest.approx(ORACLE["pretest_p"], abs=1e-5)
    assert 0 <= boot["p_value"] <= 1 and boot["draws"] == 199
    # mpdta: 191 treated counties, so the analytic test is read first
    assert n["att_gt_pretests"][0]["test"] == wald["test"]
    assert n["att_gt_pretest_recommended"] == wald["test"]


def test_twfe_pretrend_tests_by_three_methods(results):
    pt = results["pretrends"]
    assert pt["status"] == "ok", pt["error"]
    tests = {t["method"]: t for t in pt["numbers"]["pretrend_tests"]}
    assert set(tests) == {"wald", "wild"}
    # mpdta starts one year before the first adoption: randomization inference over the
    # pre-adoption years cannot run, and says so
    assert "before the first adoption" in pt["numbers"]["pretrend_tests_not_run"]["ri"]
    assert tests["wild"]["draws"] == 199
    for t in tests.values():
        assert 0 <= t["p_value"] <= 1 and t["df1"] == 2
    assert pt["numbers"]["pretrend_recommended"] == "wald"  # 191 treated counties
    assert [t["method"] for t in pt["numbers"]["pretrend_tests"] if t["recommended"]] == ["wald"]


def test_honest_did_on_the_cs_event_study(results):
    pt = results["pretrends"]
    assert pt["numbers"]["honest_source"].startswith("Callaway-Sant'Anna")
    es = pt["results"]["cs_event_study"]["tidy"]
    assert [r["by"] for r in es[1:]] == [-3, -2, 0, 1, 2, 3]  # universal base: -1 is ref
    hd = pt["results"]["honest_did"]
    # the original interval is the CS event study's at event time 0
    e0 = next(r for r in es if r["by"] == 0)
    sd = [r for r in hd["tidy"] if r["restriction"] == "smoothness"]
    assert sd[0]["estimate"] == pytest.approx(e0["estimate"], abs=0.05)
    assert all(r["conf_low"] <= r["conf_high"] for r in hd["tidy"])


CASTLE_SPEC = """
[study]
title = "castle, few treated states"
seed = 5

[data]
path = "castle.csv"
unit = "sid"
time = "year"

[treatment]
cohort = "effyear"

[model]
outcomes = ["l_homicide"]

[battery.event_study]
window = [-4, 2]

[battery.pretrends]
draws = 199
honest = false

[battery.staggered]
estimators = ["att_gt"]
pretest_draws = 199
""" + SPEC[SPEC.index("[battery.psm_did]"):]


@pytest.fixture(scope="module")
def castle_results(tmp_path_factory):
    # the castle-doctrine panel with 8 treated states (one-state cohort 2006 among them)
    import pandas as pd

    df = pd.read_csv(DATA.parent / "castle.csv")
    first = df.drop_duplicates("sid")
    keep = set(first.loc[first.effyear == 0, "sid"])
    for g, n in {2006: 1, 2007: 3, 2008: 2, 2009: 2}.items():
        keep |= set(first.loc[first.effyear == g, "sid"].iloc[:n])
    d = tmp_path_factory.mktemp("castle")
    df[df.sid.isin(keep)].to_csv(d / "castle.csv", index=False)
    (d / "study.toml").write_text(CASTLE_SPEC)
    run_study(d / "study.toml", d / "out", progress=False)
    return json.loads((d / "out" / "results.json").read_text())


def test_few_treated_states_put_the_resampling_tests_first(castle_results):
    n = castle_results["staggered"]["numbers"]
    wald, boot = n["att_gt_pretest"], n["att_gt_pretest_bootstrap"]
    # never the absurd statistic of a singular solve: finite, df = rank, p in [0, 1]
    assert wald["statistic"] is not None and 0 <= wald["statistic"] < 1e6
    assert wald["df"] == wald["rank"] <= wald["n_cells"]
    assert 0 <= wald["p_value"] <= 1 and 0 <= boot["p_value"] <= 1
    assert wald["excluded_cohorts"] == boot["excluded_cohorts"] == [2006]
    # 8 treated states: randomization inference first (the multiplier bootstrap
    # over-rejects with few treated clusters too: docs/validity.md), then the bootstrap
    ri = n["att_gt_pretest_ri"]
    assert 0 < ri["p_value"] <= 1 and ri["draws"] == 199 and ri["n_cells"] > 0
    assert n["att_gt_pretests"] == [ri, boot, wald]
    assert n["att_gt_pretest_recommended"] == ri["test"]
    pt = castle_results["pretrends"]["numbers"]
    assert pt["pretrend_recommended"] == "wild"  # few treated states: the wild bootstrap first (docs/validity.md)
    assert {t["method"] for t in pt["pretrend_tests"]} == {"wald", "wild", "ri"}
    assert "8 treated" in pt["pretrend_recommended_why"]

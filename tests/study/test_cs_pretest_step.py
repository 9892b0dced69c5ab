"""The study's Callaway-Sant'Anna pre-tests on a model with controls (the carbon
example's): the randomization pre-test runs on att_gt's doubly robust cells and is read
first with few treated provinces."""

import json

import pytest

import policylab as pl
from policylab.execution import SerialExecutor
from policylab.inference.cs_pretest import cs_pretest_ri
from policylab.study.pipeline import run_study

SPEC = """
[study]
title = "carbon, staggered openings, controls"
seed = 7

[data]
path = "carbon.csv"
unit = "province"
time = "year"

[treatment]
cohort = "cohort"

[model]
outcomes = ["ln_co2"]
controls = ["ln_gdp", "fdi"]
cluster = "province"

[battery.event_study]
window = [-4, 2]

[battery.pretrends]
enabled = false

[battery.staggered]
estimators = ["att_gt"]
pretest_draws = 99

[output]
formats = ["md"]
""" + "".join(f"\n[battery.{step}]\nenabled = false\n" for step in (
    "psm_did", "placebo", "wild_bootstrap", "heterogeneity", "spec_curve", "mediation",
    "moderation"))


@pytest.fixture(scope="module")
def numbers(tmp_path_factory):
    d = tmp_path_factory.mktemp("carbon_cs")
    df = pl.datasets.carbon_pilot(5, staggered=True).df
    df.to_csv(d / "carbon.csv", index=False)
    (d / "study.toml").write_text(SPEC)
    spy = Spy()
    run_study(d / "study.toml", d / "out", progress=False, executor=spy)
    res = json.loads((d / "out" / "results.json").read_text())
    assert res["staggered"]["status"] == "ok", res["staggered"].get("error")
    return res["staggered"]["numbers"], df, spy.kernels


class Spy(SerialExecutor):
    """Runs serially and records which chunk kernels ran on it."""

    def __init__(self):
        self.kernels = []

    def map(self, fn, tasks, shared=None, progress=None):
        self.kernels.append(getattr(getattr(fn, "fn", fn), "__name__", ""))
        return super().map(fn, tasks, shared=shared, progress=progress)


def test_randomization_pretest_with_controls_is_recorded_and_read_first(numbers):
    n, df, kernels = numbers
    assert "_chunk_stats" in kernels  # its draws ran on the study's executor
    ri, boot, wald = (n["att_gt_pretest_ri"], n["att_gt_pretest_bootstrap"],
                      n["att_gt_pretest"])
    assert "reason" not in ri
    assert ri["method"] == "dr" and ri["covariates"] == ["ln_gdp", "fdi"]
    assert ri["draws"] == 99 and 0 < ri["p_value"] <= 1
    assert n["att_gt_pretests"] == [ri, boot, wald]
    assert n["att_gt_pretest_recommended"] == ri["test"]
    # the same test run by hand on the study's data and seed
    r = cs_pretest_ri(df, "ln_co2", "province", "year", "cohort", cluster="province",
                      covariates=["ln_gdp", "fdi"], draws=99, seed=7)
    assert ri["p_value"] == pytest.approx(r.p_value)
    assert ri["statistic"] == pytest.approx(r.statistic, rel=1e-9)

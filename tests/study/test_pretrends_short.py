"""A three-year panel (one lead before the reference period) still gets its lead tests;
the sensitivity bounds that need two leads are listed as not run, not a failed step."""

import json

from conftest import steps_off, three_year_grants
from policylab.study.pipeline import run_study


def test_one_lead_runs_the_lead_tests_and_says_why_honest_did_did_not(tmp_path):
    three_year_grants().to_csv(tmp_path / "grants.csv", index=False)
    spec = tmp_path / "study.toml"
    spec.write_text(f"""
[data]
path = "grants.csv"
unit = "firm"
time = "year"

[treatment]
column = "did"

[model]
outcomes = ["y"]

[battery.event_study]
window = [-2, 1]

[battery.pretrends]
draws = 99

{steps_off("baseline", "event_study", "pretrends", "samples", "overview")}
[output]
formats = ["html"]
""")
    run_study(spec, tmp_path / "out", progress=False)
    res = json.loads((tmp_path / "out" / "results.json").read_text())["pretrends"]
    assert res["status"] == "ok", res.get("error")
    tests = {t["method"]: t for t in res["numbers"]["pretrend_tests"]}
    assert tests["wald"]["df1"] == 1 and 0 <= tests["wald"]["p_value"] <= 1
    assert "two leads" in res["numbers"]["not_run"]["honest_did"]
    md = (tmp_path / "out" / "report.html").read_text()
    assert "Not run: honest_did" in md

"""A three-year panel (one lead before the reference period) still gets its lead tests;
the sensitivity bounds that need two leads are listed as not run, not a failed step."""

from conftest import run_grants_study


def test_one_lead_runs_the_lead_tests_and_says_why_honest_did_did_not(tmp_path):
    battery = "[battery.event_study]\nwindow = [-2, 1]\n\n[battery.pretrends]\ndraws = 99\n"
    res = run_grants_study(tmp_path, battery, ("baseline", "event_study", "pretrends",
                                               "samples", "overview"),
                           formats='["html"]')["pretrends"]
    assert res["status"] == "ok", res.get("error")
    tests = {t["method"]: t for t in res["numbers"]["pretrend_tests"]}
    assert tests["wald"]["df1"] == 1 and 0 <= tests["wald"]["p_value"] <= 1
    assert "two leads" in res["numbers"]["not_run"]["honest_did"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert ("Not run: HonestDiD sensitivity analysis: the sensitivity bounds need at least "
            "two leads besides the reference period.") in html

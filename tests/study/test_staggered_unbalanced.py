"""Callaway-Sant'Anna in the study on a panel with gaps: it runs on the balanced part,
as R did does, and the report says which units it left out."""

from conftest import run_grants_study, three_year_grants


def test_cs_runs_on_the_balanced_part_and_says_so(tmp_path):
    df = three_year_grants()
    df.loc[[4, 10], "y"] = float("nan")  # two firms miss an outcome
    battery = '[battery.staggered]\nestimators = ["att_gt"]\npretest_draws = 99\n'
    res = run_grants_study(tmp_path, battery, ("baseline", "staggered", "samples",
                                               "overview"), df=df)["staggered"]
    assert res["status"] == "ok", res.get("error")
    assert "att_gt_aggregations" in res["numbers"]
    assert any("balanced panel: dropped 2 units" in w for w in res["warnings"])

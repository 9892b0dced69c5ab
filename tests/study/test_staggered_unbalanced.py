"""Callaway-Sant'Anna in the study on a panel with gaps: it runs on the balanced part,
as R did does, and the report says which units it left out."""

import json

from conftest import steps_off, three_year_grants
from policylab.study.pipeline import run_study


def test_cs_runs_on_the_balanced_part_and_says_so(tmp_path):
    df = three_year_grants()
    df.loc[[4, 10], "y"] = float("nan")  # two firms miss an outcome
    df.to_csv(tmp_path / "grants.csv", index=False)
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

[battery.staggered]
estimators = ["att_gt"]
pretest_draws = 99

{steps_off("baseline", "staggered", "samples", "overview")}
[output]
formats = ["md"]
""")
    run_study(spec, tmp_path / "out", progress=False)
    res = json.loads((tmp_path / "out" / "results.json").read_text())["staggered"]
    assert res["status"] == "ok", res.get("error")
    assert "att_gt_aggregations" in res["numbers"]
    assert any("balanced panel: dropped 2 units" in w for w in res["warnings"])

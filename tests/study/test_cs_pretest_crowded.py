"""With many pre-period cells beside the clusters, the CS Wald pre-test is not read
first (castle-doctrine panel: 50 states, 30 pre-period ATT(g,t))."""

import json
import shutil
from pathlib import Path

from conftest import steps_off
from policylab.study.pipeline import run_study

DATA = Path(__file__).resolve().parents[1] / "validation" / "data" / "castle.csv"


def test_castle_reads_a_resampling_pretest_before_the_crowded_wald(tmp_path):
    shutil.copy(DATA, tmp_path / "castle.csv")
    off = steps_off("staggered", "baseline", "samples", "overview")
    spec = tmp_path / "study.toml"
    spec.write_text(f"""
[data]
path = "castle.csv"
unit = "sid"
time = "year"

[treatment]
column = "post"

[model]
outcomes = ["l_homicide"]

{off}
[battery.staggered]
estimators = ["att_gt"]
pretest_draws = 99

[output]
formats = ["md"]
""")
    run_study(spec, tmp_path / "out", progress=False)
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    num = json.dumps(res)
    assert "att_gt_pretest_recommended" in num
    stag = next(v for k, v in _walk(res) if k == "att_gt_pretests")
    tests = [t["test"] for t in stag]
    wald = next(t for t in stag if "Wald" in t["test"] and "randomization" not in t["test"])
    assert wald["df"] > 50 / 10  # the crowded case this test is about
    assert "randomization" in tests[0]
    assert tests.index(wald["test"]) == len(tests) - 1


def _walk(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)

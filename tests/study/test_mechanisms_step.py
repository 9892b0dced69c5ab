"""The mechanism-test step never takes a unit-constant moderator as a mechanism."""

import json

import pytest

from conftest import steps_off
from policylab.study.pipeline import run_study


def _spec(moderators: list[str]) -> str:
    off = steps_off("baseline", "moderation", "mechanisms", "samples", "overview")
    return f"""
[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"

[treatment]
column = "did"
group = "treat"

[model]
outcomes = ["ln_co2"]
controls = ["ln_gdp"]

{off}
[battery.moderation]
moderators = {json.dumps(moderators)}

[output]
formats = ["html"]
"""


def _run(tmp_path, moderators):
    spec = tmp_path / "study.toml"
    spec.write_text(_spec(moderators))
    summary = run_study(spec, tmp_path / "out", progress=False)
    step = next(s for s in summary.steps if s.key == "mechanisms")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    return step, results


def test_unit_constant_moderator_is_left_out_with_a_warning(tmp_path):
    step, results = _run(tmp_path, ["municipality", "fdi"])
    assert step.status in ("ok", "warned")
    text = json.dumps(results)
    assert "fdi: policy" in text and "municipality: policy" not in text
    assert any("municipality" in w and "never changes within a unit" in w
               for w in step.warnings)


def test_only_unit_constant_moderators_skip_the_step_with_the_reason(tmp_path):
    step, _ = _run(tmp_path, ["municipality"])
    assert step.status == "skipped"
    assert "municipality" in step.error and "moderators, not mechanisms" in step.error


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])

import pandas as pd
import pytest

from policylab.study.spec import SpecProblems, check_columns, parse_spec_text
from policylab.study.template import detect_keys, spec_template

GOOD = """
[data]
path = "x.csv"
unit = "province"
time = "year"

[[transforms]]
kind = "log"
columns = ["co2"]

[treatment]
column = "did"

[model]
outcomes = ["ln_co2"]
controls = ["gdp"]
"""


def test_valid_spec_parses_with_defaults():
    s = parse_spec_text(GOOD)
    assert s.model.outcomes == ["ln_co2"]
    assert s.battery.baseline.required and s.battery.placebo.enabled
    assert s.output.language == "en"


def test_every_problem_reported_at_once_with_lines_and_hints():
    bad = GOOD.replace('time = "year"', 'tme = "year"').replace(
        "[model]", "[battery.placebo]\ndrawz = 10\n\n[model]"
    )
    with pytest.raises(SpecProblems) as exc:
        parse_spec_text(bad)
    probs = exc.value.problems
    assert any("data.time" in p and "missing" in p for p in probs)
    assert any("data.tme (line 5)" in p and "did you mean time" in p for p in probs)
    assert any("battery.placebo.drawz" in p and "did you mean draws" in p for p in probs)


def test_exactly_one_treatment_kind():
    with pytest.raises(SpecProblems, match="exactly one of treatment"):
        parse_spec_text(GOOD.replace('column = "did"', 'column = "did"\ncohort = "g"'))


def test_columns_checked_after_transforms_with_suggestions():
    s = parse_spec_text(GOOD)
    cols = ["province", "year", "co2", "did", "gdpp"]
    probs = check_columns(s, cols)
    assert probs == ["model.controls: column 'gdp' is not in the data; did you mean 'gdpp'?"]


def test_yaml_is_accepted():
    text = "data: {path: x.csv, unit: u, time: t}\ntreatment: {column: d}\nmodel: {outcomes: [y]}\n"
    assert parse_spec_text(text, fmt="yaml").data.unit == "u"


def test_template_detects_keys_and_is_valid(tmp_path):
    df = pd.DataFrame({"code": [1, 1, 2, 2], "year": [2000, 2001] * 2, "did": [0, 1, 0, 0],
                       "y": [1.0, 2, 3, 4], "x": [0.1, 0.2, 0.3, 0.4]})
    assert detect_keys(df) == ("code", "year")
    s = parse_spec_text(spec_template(df, tmp_path / "d.csv"))
    assert s.data.unit == "code" and s.treatment.column == "did" and s.model.outcomes == ["y"]

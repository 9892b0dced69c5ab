"""The descriptive-statistics table names each variable once."""

from conftest import steps_off
from policylab.study.pipeline import run_study


def test_ungrouped_descriptives_have_one_name_column(tmp_path):
    off = steps_off("descriptives", "baseline", "samples", "overview")
    spec = tmp_path / "study.toml"
    spec.write_text(f"""
[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"

[treatment]
column = "did"

[model]
outcomes = ["ln_co2"]
controls = ["fdi"]
labels = {{ ln_co2 = "ln CO2" }}

{off}
[output]
formats = ["md"]
""")
    run_study(spec, tmp_path / "out", progress=False)
    md = next((tmp_path / "out" / "tables").glob("descriptives*.md")).read_text()
    header = next(line for line in md.splitlines() if line.startswith("|"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells.count("Variable") == 1
    body = md.split("ln CO2", 1)
    assert len(body) == 2 and "ln_co2" not in md  # the label replaces the name
    assert "| fdi" in md  # an unlabelled variable keeps its name

"""The descriptive-statistics table names each variable once."""

from policylab.study.pipeline import run_study
from policylab.study.steps import _ORDER

_KEEP = {"descriptives", "baseline", "samples", "overview"}


def test_ungrouped_descriptives_have_one_name_column(tmp_path):
    off = "\n".join(f"[battery.{k}]\nenabled = false\n" for k in _ORDER if k not in _KEEP)
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

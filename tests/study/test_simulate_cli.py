"""`policylab simulate`: the Monte Carlo of a spec, written under the output rules."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from policylab.cli import app
from policylab.study.outdir import MARKER

SPEC = """
[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"

[treatment]
column = "did"

[model]
outcomes = ["ln_co2", "ln_pgdp"]
controls = ["ln_gdp"]
cluster = "province"

[battery.event_study]
window = [-3, 2]
"""

runner = CliRunner()


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "spec" / "study.toml"
    p.parent.mkdir()
    p.write_text(SPEC, encoding="utf-8")
    return p


def _run(*args):
    return runner.invoke(app, ["simulate", *map(str, args), "--quiet"])


def test_writes_the_table_and_the_replications_into_a_marked_folder(spec, tmp_path):
    out = tmp_path / "sim"
    r = _run(spec, "--out", out, "--simulation-draws", 3, "--draws", 9, "--seed", 5)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "replications.csv", "simulation.csv", "simulation.json", "simulation.md"])
    table = pd.read_csv(out / "simulation.csv")
    assert set(zip(table["target"], table["method"])) == {
        ("effect", "crv1"), ("effect", "wild"), ("effect", "ri"),
        ("pretrend", "wald"), ("pretrend", "wild"), ("pretrend", "ri")}
    reps = pd.read_csv(out / "replications.csv")
    assert len(reps) == 3 and reps["pretrend_wild_p"].between(0, 1).all()
    meta = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
    assert meta["outcome"] == "ln_co2" and meta["source"] == "design"
    assert meta["meta"]["pretrend_window"] == [-3, 2] and meta["meta"]["seed"] == 5
    # a second run replaces its own outputs
    assert _run(spec, "--out", out, "--simulation-draws", 2, "--draws", 9).exit_code == 0
    assert len(pd.read_csv(out / "replications.csv")) == 2


def test_a_folder_policylab_did_not_write_is_refused_before_any_work(spec, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = _run(spec, "--out", out, "--simulation-draws", 2)
    assert r.exit_code == 2 and "--force" in r.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    # the spec's own folder is never an output folder
    assert _run(spec, "--out", spec.parent, "--simulation-draws", 2).exit_code == 2


def test_bad_choices_are_named(spec, tmp_path):
    r = _run(spec, "--out", tmp_path / "a", "--generator", "nope")
    assert r.exit_code == 2 and "carbon_pilot" in r.output
    r = _run(spec, "--out", tmp_path / "b", "--outcome", "ln_gdp")
    assert r.exit_code == 2 and "model.outcomes" in r.output
    # the generator's known effect is that on ln CO2, not on per-capita GDP
    r = _run(spec, "--out", tmp_path / "c", "--generator", "carbon_pilot",
             "--outcome", "ln_pgdp")
    assert r.exit_code == 2 and "--truth" in r.output
    assert not any((tmp_path / d).exists() for d in "abc")


def test_generator_replications_use_the_generators_truth(spec, tmp_path):
    out = tmp_path / "gen"
    r = _run(spec, "--out", out, "--generator", "carbon_pilot", "--simulation-draws", 2,
             "--draws", 9)
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
    import policylab as pl

    reps = pd.read_csv(out / "replications.csv")
    for r in reps.itertuples():  # each replication's truth is its own data set's
        assert r.truth == pytest.approx(pl.datasets.carbon_pilot(r.seed).truth["att"])
    assert meta["meta"]["errors"] == "generator"


def test_the_old_reps_flag_still_works_for_one_release(spec, tmp_path):
    from policylab.errors import PolicyLabDeprecationWarning

    out = tmp_path / "old"
    with pytest.warns(PolicyLabDeprecationWarning, match="--simulation-draws 2"):
        r = _run(spec, "--out", out, "--reps", 2, "--draws", 9, "--seed", 5)
    assert r.exit_code == 0, r.output
    new = tmp_path / "new"
    assert _run(spec, "--out", new, "--simulation-draws", 2, "--draws", 9, "--seed",
                5).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "replications.csv"),
                                  pd.read_csv(new / "replications.csv"))
    # both flags at once: refused before any work, naming both
    both = _run(spec, "--out", tmp_path / "both", "--reps", 2, "--simulation-draws", 2)
    assert both.exit_code == 2 and "--simulation-draws only" in both.output
    assert "--reps" in both.output and not (tmp_path / "both").exists()

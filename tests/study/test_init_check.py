"""`policylab init` reads panels shaped like castle, mpdta and organ donations as a person
would; `policylab check` lists every planted problem in one pass."""

import tomllib

import pytest
from typer.testing import CliRunner

from conftest import castle_like, mpdta_like, organ_like
from policylab.cli import app
from policylab.data.names import unquote_name


def _init(tmp_path, df, name, *args):
    data = tmp_path / f"{name}.csv"
    df.to_csv(data, index=False)
    r = CliRunner().invoke(app, ["init", str(data), *args])
    assert r.exit_code == 0, r.output
    spec = data.with_suffix(".toml")
    text = spec.read_text(encoding="utf-8")
    # the comments flattened (init wraps them)
    flat = " ".join(text.replace("\n#   ", " ").split())
    return spec, tomllib.loads(text), flat


def _check(spec):
    return CliRunner().invoke(app, ["check", str(spec)])


def test_castle(tmp_path):
    spec, raw, text = _init(tmp_path, castle_like(), "castle")
    assert (raw["data"]["unit"], raw["data"]["time"]) == ("sid", "year")
    assert raw["treatment"]["column"] == "post"
    assert '# cohort = "effyear"' in text and "switches on in each unit's 'effyear'" in text
    assert raw["model"]["weights"] == "population"
    assert raw["model"]["outcomes"] == ["l_homicide"]
    controls = [unquote_name(c) for c in raw["model"]["controls"]]
    # not the outcome's level, not a region-by-year dummy, not the region or an id
    assert "homicide" in text and not {"homicide", "r22001", "r22005", "region", "sid",
                                       "year", "population", "effyear"} & set(controls)
    assert "l_homicide is log(homicide)" in text
    assert '"sid", "region^year"' in text  # region-by-year effects proposed as a comment
    assert raw["battery"]["event_study"]["window"] == [-5, 5]
    r = _check(spec)
    assert r.exit_code == 0, r.output


def test_mpdta(tmp_path):
    spec, raw, text = _init(tmp_path, mpdta_like(), "mpdta")
    assert (raw["data"]["unit"], raw["data"]["time"]) == ("countyreal", "year")
    assert raw["treatment"] == {"cohort": "first.treat", "group": "treat"}
    assert "never treated coded 0" in text
    assert raw["model"]["outcomes"] == ["lemp"] and "weights" not in raw["model"]
    assert "'lpop', constant within units" in text
    # cohorts 2004-2007 in 2003-2007: 3 pre-periods at most, 3 post
    assert raw["battery"]["event_study"]["window"] == [-4, 3]
    r = _check(spec)
    assert r.exit_code == 0, r.output


def test_organ_quarters_and_the_missing_treatment(tmp_path):
    spec, raw, text = _init(tmp_path, organ_like(), "organ")
    assert raw["data"]["unit"] == "State" and raw["data"]["time"] == "period"
    assert raw["derive"] == {"period": "quarterly(Quarter)"}
    assert "'Q42010' -> 203" in text
    assert raw["model"]["outcomes"] == ["Rate"]
    assert raw["model"]["controls"] == []  # Quarter_Num is a time index, not a control
    assert "'Quarter_Num', the same for every unit in a period" in text
    # no treatment in the data: init says so, check asks for it, with the derive fix
    r = _check(spec)
    assert r.exit_code == 2 and "treatment.column" in r.output and "[derive]" in r.output
    text = spec.read_text(encoding="utf-8")
    fixed = text.replace("# treated = \"State in ['California'] and period >= 206\"",
                         "treated = \"State in ['California'] and period >= 206\"")
    assert fixed != text
    spec.write_text(fixed, encoding="utf-8")
    r = _check(spec)
    assert r.exit_code == 0, r.output


def test_time_given_as_quarter_text(tmp_path):
    spec, raw, _ = _init(tmp_path, organ_like(), "organ", "--time", "Quarter")
    assert raw["data"]["time"] == "period" and raw["derive"]["period"] == "quarterly(Quarter)"


def test_init_refuses_to_overwrite_without_force(tmp_path):
    spec, _, _ = _init(tmp_path, mpdta_like(), "mpdta")
    spec.write_text("# my own edits\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["init", str(tmp_path / "mpdta.csv")])
    assert r.exit_code == 2 and "--force" in r.output
    assert spec.read_text(encoding="utf-8") == "# my own edits\n"
    r = CliRunner().invoke(app, ["init", str(tmp_path / "mpdta.csv"), "--force"])
    assert r.exit_code == 0 and "first.treat" in spec.read_text(encoding="utf-8")
    data = tmp_path / "mpdta.csv"
    before = data.read_bytes()
    r = CliRunner().invoke(app, ["init", str(data), "--out", str(data), "--force"])
    assert r.exit_code == 2 and data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mpdta.csv", "mpdta.toml"]


PLANTED = """
[data]
path = "castle.csv"
unit = "sid"
time = "year"
colour = "red"

[derive]
lh = "log(homicide - 1000)"
treated_x = "state in ['S1'] and year >= 2005"

[treatment]
column = "effyear"

[model]
outcomes = ["l_homicide", "l_robery"]
controls = ["homicide", "i.region", "year"]
fe = ["sid", "region*year", "region#year", "i.year"]
cluster = "stateid"
weights = "income_neg"

[battery]
event_study = { window = [5, -5] }
placebo = { draws = 0 }
heterogeneity = { by = ["region"] }
samples = [{ name = "west", query = "region == 'West' and post == 0" }]
"""


def test_check_lists_every_planted_problem_at_once(tmp_path):
    df = castle_like()
    df["income_neg"] = -df["income"]
    df.loc[df["region"] == "West", "effyear"] = float("nan")  # no treated state in the West
    df["post"] = (df["year"] >= df["effyear"]).astype(int)
    df.to_csv(tmp_path / "castle.csv", index=False)
    spec = tmp_path / "castle.toml"
    spec.write_text(PLANTED, encoding="utf-8")
    r = _check(spec)
    assert r.exit_code == 2
    flat = " ".join(r.output.split())
    expected = [
        "data.colour (line 6): unknown key",                       # schema
        "battery.event_study.window",                              # reversed window
        "battery.placebo.draws",                                   # draws = 0
        "derive.lh",                                               # derive fails
        "model.outcomes: column 'l_robery' is not in the data",
        "'region*year' is Stata/fixest spelling; here write 'region^year'",
        "'region#year' is Stata/fixest spelling; here write 'region^year'",
        "'i.year' is Stata/fixest spelling; here write 'year'",
        "'i.region' is Stata/fixest spelling; here write 'C(region)'",
        "model.cluster: column 'stateid' is not in the data",
        "treatment.column: 'effyear' must be 0/1", "treatment.cohort",
        "model.weights: 'income_neg' must be positive",
        "model.controls: 'homicide' is the outcome",
        "model.controls: 'year' is the panel's time index",
        "battery.heterogeneity.by: groups ['West'] of 'region' hold no treated unit",
        "battery.samples[0] (west)",
    ]
    missing = [e for e in expected if e not in flat]
    assert not missing, (missing, r.output)
    # exactly the planted ones, nothing spurious
    assert r.output.splitlines()[0] == "error: castle.toml: 16 problems", r.output


def test_check_names_text_time_and_the_derive_fix(tmp_path):
    organ_like().to_csv(tmp_path / "organ.csv", index=False)
    spec = tmp_path / "o.toml"
    spec.write_text('[data]\npath = "organ.csv"\nunit = "State"\ntime = "Quarter"\n'
                    '[treatment]\ncolumn = "t"\n[model]\noutcomes = ["Rate"]\n'
                    '[derive]\nt = "State == \'California\' and Quarter_Num >= 4"\n',
                    encoding="utf-8")
    r = _check(spec)
    flat = " ".join(r.output.split())
    assert r.exit_code == 2 and "data.time: column 'Quarter' holds text" in flat
    assert 'period = "quarterly(Quarter)"' in flat


@pytest.mark.parametrize("lang, word", [("en", "Quarter FE"), ("zh", "季度固定效应")])
def test_quarterly_time_is_not_labelled_year(tmp_path, lang, word):
    from policylab.study.pipeline import run_study

    organ_like().to_csv(tmp_path / "organ.csv", index=False)
    spec = tmp_path / "o.toml"
    off = ", ".join(f"{k} = {{ enabled = false }}" for k in (
        "event_study", "pretrends", "staggered", "psm_did", "placebo", "wild_bootstrap",
        "descriptives", "spec_curve", "mediation", "moderation", "mechanisms",
        "heterogeneity"))
    spec.write_text('[data]\npath = "organ.csv"\nunit = "State"\ntime = "period"\n'
                    '[derive]\nperiod = "quarterly(Quarter)"\n'
                    'treated = "State == \'California\' and period >= yq(2011, 3)"\n'
                    '[treatment]\ncolumn = "treated"\n[model]\noutcomes = ["Rate"]\n'
                    f'[battery]\n{off.replace(", ", chr(10))}\n'
                    f'[output]\nformats = ["md"]\nlanguage = "{lang}"\n', encoding="utf-8")
    s = run_study(spec, tmp_path / "out", progress=False)
    base = (s.out_dir / "tables" / "baseline_baseline.md").read_text(encoding="utf-8")
    assert word in base and "Year FE" not in base and "年份固定效应" not in base
    derived = (s.out_dir / "tables" / "overview_derived.md").read_text(encoding="utf-8")
    assert "quarterly(Quarter)" in derived
    import json

    manifest = json.loads((s.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data"]["derived"][0] == {"name": "period",
                                              "expression": "quarterly(Quarter)"}


def test_run_with_quarter_text_as_time_says_how_to_derive(tmp_path):
    from policylab.errors import DataError
    from policylab.study.prepare import prepare
    from policylab.study.spec import load_spec

    organ_like().to_csv(tmp_path / "organ.csv", index=False)
    spec = tmp_path / "o.toml"
    spec.write_text('[data]\npath = "organ.csv"\nunit = "State"\ntime = "Quarter"\n'
                    '[treatment]\ncolumn = "t"\n[model]\noutcomes = ["Rate"]\n',
                    encoding="utf-8")
    with pytest.raises(DataError, match=r'data.time: .*period = "quarterly\(Quarter\)"'):
        prepare(load_spec(spec), tmp_path)


def test_group_times_post_period_becomes_a_derived_did(tmp_path):
    df = mpdta_like().drop(columns=["first.treat"])
    df["post"] = (df["year"] >= 2005).astype(int)  # the same for every county in a year
    spec, raw, flat = _init(tmp_path, df, "twoperiod")
    assert raw["derive"] == {"did": "treat == 1 and post == 1"}
    assert raw["treatment"]["column"] == "did" and raw["treatment"]["group"] == "treat"
    assert "'post', a post-period indicator" in flat
    r = _check(spec)
    assert r.exit_code == 0, r.output


def test_policy_year_with_missing_for_never_is_the_cohort(tmp_path):
    df = castle_like().drop(columns=["post"]).rename(columns={"effyear": "policy_year"})
    spec, raw, flat = _init(tmp_path, df, "laws")
    assert raw["treatment"]["cohort"] == "policy_year" and "column" not in raw["treatment"]
    assert "never treated coded missing" in flat
    r = _check(spec)
    assert r.exit_code == 0, r.output


def test_a_unit_characteristic_is_not_taken_for_the_treated_group(tmp_path):
    # jobtraining-shaped: a union flag is 0/1 and constant within firms, like a treated
    # group, but the grant reaches other firms; describing treated vs control by it
    # would mislabel every descriptive table
    df = mpdta_like()
    df["did"] = ((df["first.treat"] > 0) & (df["year"] >= df["first.treat"])).astype(int)
    units = df["countyreal"].unique()
    union = dict(zip(units, (units % 3 == 0).astype(int)))
    df["union"] = df["countyreal"].map(union)
    spec, raw, flat = _init(tmp_path, df, "grants")
    assert raw["treatment"]["column"] == "did"
    assert raw["treatment"]["group"] == "treat"  # the ever-treated flag still is
    assert "'union', 0/1 and constant within units, but not the units 'did' treats" in flat
    df = df.drop(columns=["treat"])
    spec, raw, flat = _init(tmp_path, df, "grants2")
    assert "group" not in raw["treatment"]


def test_sparse_columns_and_the_outcome_in_logs_are_not_proposed_as_controls(tmp_path):
    # jobtraining-shaped: scrap rates are recorded for a third of the firms; proposing
    # them would quietly shrink every model to those firms
    df = mpdta_like()
    df["sales"] = df["lemp"] * 2 + df["year"] % 3
    df["scrap"] = df["sales"].where(df["countyreal"] % 3 == 0)
    df["emp"] = df["lemp"].map(lambda v: 2.718281828459045 ** v)  # lemp = log(emp)
    spec, raw, flat = _init(tmp_path, df, "firms")
    assert raw["model"]["outcomes"] == ["lemp"]
    assert "sales" in raw["model"]["controls"]
    assert "scrap" not in raw["model"]["controls"] and "emp" not in raw["model"]["controls"]
    assert "not proposed as controls, each missing in more than 5%" in flat
    assert "'scrap' (" in flat
    assert "the outcome in another form (lemp = log(emp) in the data)" in flat

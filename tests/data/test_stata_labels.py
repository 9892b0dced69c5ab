"""Stata round trip: variable and value labels are read (from a file R haven wrote),
written back (read again by pandas' own StataReader and by us), reach a study's tables,
and names Stata refuses are renamed and reported."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.io.stata import StataReader

import policylab as pl
from policylab.data.readers import VALUE_LABELS_ATTR, VARIABLE_LABELS_ATTR, read_table
from policylab.errors import DataError, PolicyLabWarning, SpecError

HAVEN = Path(__file__).parents[1] / "validation" / "data" / "labelled_haven.dta"


def _stata_view(path):
    """What pandas' own reader sees: codes, variable labels, value labels per column."""
    with StataReader(path) as rdr:
        df = rdr.read(convert_categoricals=False)
        sets = rdr.value_labels()
        var = rdr.variable_labels()
    return df, var, sets


@pytest.mark.oracle
def test_reads_labels_haven_wrote():
    # tests/validation/scripts/stata_labels_haven.R wrote the file
    df = read_table(HAVEN)
    assert df.attrs[VARIABLE_LABELS_ATTR] == {"treat": "碳交易试点", "region": "Region of the city",
                                              "y": "ln CO2 (万吨)"}
    assert df.attrs[VALUE_LABELS_ATTR] == {"treat": {0: "untreated", 1: "treated"},
                                           "region": {1: "East", 2: "Central", 3: "West"}}
    # codes by default: a labelled 0/1 treatment stays a number, as in Stata
    assert df["treat"].tolist() == [0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0]
    assert np.isnan(df["y"].iloc[5])


def test_labels_option_gives_categories_and_keeps_codes():
    with pytest.warns(PolicyLabWarning, match=r"'region' keeps its codes: the values \[9\]"):
        df = read_table(HAVEN, value_labels="labels")
    assert isinstance(df["treat"].dtype, pd.CategoricalDtype)
    assert df["treat"].tolist()[:3] == ["untreated", "untreated", "treated"]
    assert list(df["treat"].cat.categories) == ["untreated", "treated"]
    assert df["region"].tolist()[-1] == 9  # code 9 has no label: the column keeps codes
    codes = {v: k for k, v in df.attrs[VALUE_LABELS_ATTR]["treat"].items()}
    assert df["treat"].map(codes).tolist() == read_table(HAVEN)["treat"].tolist()
    with pytest.raises(SpecError, match="value_labels='text'"):
        read_table(HAVEN, value_labels="text")


def test_round_trip_keeps_labels_codes_and_values(tmp_path):
    src = read_table(HAVEN)
    out = pl.write_dta(src, tmp_path / "again.dta", data_label="round trip")
    df, var, sets = _stata_view(out)
    assert var["treat"] == "碳交易试点" and var["y"] == "ln CO2 (万吨)"
    assert sets["treat"] == {0: "untreated", 1: "treated"}
    assert sets["region"] == {1: "East", 2: "Central", 3: "West"}
    for c in src.columns:
        np.testing.assert_array_equal(df[c].to_numpy(float), src[c].to_numpy(float))
    back = read_table(out)
    assert back.attrs == {VARIABLE_LABELS_ATTR: src.attrs[VARIABLE_LABELS_ATTR],
                          VALUE_LABELS_ATTR: src.attrs[VALUE_LABELS_ATTR]}


def test_categories_are_written_as_their_original_codes(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PolicyLabWarning)
        cat = read_table(HAVEN, value_labels="labels")
    df, _, sets = _stata_view(pl.write_dta(cat, tmp_path / "c.dta"))
    assert df["treat"].tolist() == read_table(HAVEN)["treat"].tolist()
    assert sets["treat"] == {0: "untreated", 1: "treated"}


def test_given_labels_win_and_unknown_columns_are_refused(tmp_path):
    src = read_table(HAVEN)
    out = pl.write_dta(src, tmp_path / "g.dta", variable_labels={"y": "outcome"},
                       value_labels={"city": {1: "Beijing", 2: "Tianjin"}})
    _, var, sets = _stata_view(out)
    assert var["y"] == "outcome" and var["treat"] == "碳交易试点"
    assert sets["city"] == {1: "Beijing", 2: "Tianjin"}
    with pytest.raises(DataError, match=r"\['nope'\]"):
        pl.write_dta(src, tmp_path / "x.dta", variable_labels={"nope": "n"})
    with pytest.raises(DataError, match="80"):
        pl.write_dta(src, tmp_path / "x.dta", variable_labels={"y": "x" * 81})
    with pytest.raises(DataError, match="integer codes"):
        pl.write_dta(src.assign(y2=src["y"] + 0.5), tmp_path / "x.dta",
                     value_labels={"y2": {1: "one"}})
    with pytest.raises(SpecError, match=r"\.dta"):
        pl.write_dta(src, tmp_path / "x.csv")
    assert not list(tmp_path.glob("x*")) and not list(tmp_path.glob(".x*"))


def test_names_stata_refuses_are_renamed_and_kept_as_labels(tmp_path):
    df = pd.DataFrame({"x1-x2": [1.0, 2.0], "in": [1, 2], "2010gdp": [3.0, 4.0],
                       "城市 名": ["a", "b"], "碳排放": [5.0, 6.0], "x1_x2": [0.0, 1.0],
                       "a" * 40: [1, 2]})
    with pytest.warns(PolicyLabWarning, match="renamed for Stata") as rec:
        out = pl.write_dta(pl.Panel(df.assign(u=[1, 2], t=[1, 1]), unit="u", time="t"),
                           tmp_path / "n.dta")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas would warn (InvalidColumnName) on a bad name
        got, var, _ = _stata_view(out)
    assert list(got.columns) == ["x1_x2_2", "_in", "_2010gdp", "城市_名", "碳排放", "x1_x2",
                                 "a" * 32, "u", "t"]
    assert var["x1_x2_2"] == "x1-x2" and var["_in"] == "in" and var["x1_x2"] == ""
    assert "'x1-x2' -> 'x1_x2_2'" in str(rec[0].message)
    assert got["碳排放"].tolist() == [5.0, 6.0]


def test_a_study_on_a_stata_file_shows_its_labels(tmp_path):
    from policylab.study.pipeline import run_study

    df = pl.datasets.carbon_pilot(seed=3).df
    codes = {"east": 1, "central": 2, "west": 3}
    data = df[["province", "year", "did", "ln_co2", "ln_gdp", "region"]].assign(
        region=df["region"].map(codes))
    pl.write_dta(data, tmp_path / "carbon.dta",
                 variable_labels={"ln_co2": "Log CO2 emissions", "did": "Pilot x post"},
                 value_labels={"region": {1: "Eastern China", 2: "Central China",
                                          3: "Western China"}})
    off = "\n".join(f"[battery.{k}]\nenabled = false" for k in (
        "overview", "descriptives", "event_study", "pretrends", "staggered", "psm_did",
        "placebo", "wild_bootstrap", "mediation", "moderation", "mechanisms", "spec_curve"))
    (tmp_path / "s.toml").write_text(f"""
[data]
path = "carbon.dta"
unit = "province"
time = "year"
[treatment]
column = "did"
[model]
outcomes = ["ln_co2"]
controls = ["ln_gdp"]
labels = {{ ln_gdp = "Log GDP (spec)" }}
[battery.heterogeneity]
by = ["region"]
permutation_draws = 0
{off}
[output]
formats = ["md"]
""")
    run_study(tmp_path / "s.toml", tmp_path / "out", progress=False)
    md = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out").rglob("*.md"))
    assert "Log CO2 emissions" in md and "Pilot x post" in md
    assert "Eastern China" in md and "Western China" in md
    assert "region=1" not in md

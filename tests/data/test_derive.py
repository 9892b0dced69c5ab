"""[derive]: new columns through the parsed expression grammar, equal to what pandas
computes by hand, with errors that name the key and the fix, and no Python run."""

import numpy as np
import pandas as pd
import pytest

from conftest import castle_like, mpdta_like, organ_like
from policylab.data.derive import apply_derive, monthly, quarterly
from policylab.errors import DataError, SpecError


def test_castle_columns_equal_pandas():
    df = castle_like()
    df.loc[df.index[::37], "police"] = np.nan
    out = apply_derive(df, {
        "treated": "state in ['S1', 'S2', 'S7']",
        "did": "year >= effyear",
        "cohort": "first_time(post == 1)",
        "lh": "log(homicide)",
        "rate": "homicide / population * 100000",
        "police_l1": "lag(police, 1)",
        "police_f2": "lead(police, 2)",
        "d_police": "diff(police)",
        "m_inc": "mean(income, by=[region, year])",
        "mx_inc": "max(income, by=region)",
        "both": "treated == 1 and (did == 1 or year < 2002)",  # uses earlier keys
        "hi": "ifelse(poverty > 15, 1, 0)",
        "neg": "-income + 2 * poverty - (unemployrt - 1) / 2",
    }, unit="sid", time="year")
    assert list(df.columns) == list(castle_like().columns)  # input untouched
    want = pd.DataFrame(index=df.index)
    want["treated"] = df["state"].isin(["S1", "S2", "S7"]).astype(int)
    want["did"] = (df["year"] >= df["effyear"]).astype(int)  # NaN effyear -> 0
    first = df[df["post"] == 1].groupby("sid")["year"].min()
    want["cohort"] = df["sid"].map(first).astype(float)
    want["lh"] = np.log(df["homicide"])
    want["rate"] = df["homicide"] / df["population"] * 100000
    s = df.set_index(["sid", "year"])["police"]
    want["police_l1"] = s.groupby(level=0).shift(1).to_numpy()
    want["police_f2"] = s.groupby(level=0).shift(-2).to_numpy()
    want["d_police"] = df["police"] - want["police_l1"]
    want["m_inc"] = df.groupby(["region", "year"])["income"].transform("mean")
    want["mx_inc"] = df.groupby("region")["income"].transform("max")
    want["both"] = ((want["treated"] == 1) & ((want["did"] == 1) | (df["year"] < 2002))
                    ).astype(int)
    want["hi"] = np.where(df["poverty"] > 15, 1, 0)
    want["neg"] = -df["income"] + 2 * df["poverty"] - (df["unemployrt"] - 1) / 2
    for c in want:
        pd.testing.assert_series_equal(out[c], want[c], check_names=False,
                                       check_dtype=False, obj=c)
    # first_time of the post column recovers effyear; never-treated stay missing
    assert out["cohort"].equals(df["effyear"].astype(float))
    assert out["treated"].dtype == np.int64


def test_lags_match_on_the_period_not_the_row():
    df = castle_like()
    df = df[~((df["sid"] == 3) & (df["year"] == 2004))]  # a gap
    out = apply_derive(df, {"p1": "lag(police)"}, unit="sid", time="year")
    at = out.set_index(["sid", "year"])
    assert np.isnan(at.loc[(3, 2005), "p1"])  # not 2003's value, as a row shift would give
    assert at.loc[(3, 2006), "p1"] == at.loc[(3, 2005), "police"]


def test_mpdta_first_treat_with_dot_and_zero_for_never():
    df = mpdta_like()
    out = apply_derive(df, {"d": "`first.treat` > 0 and year >= `first.treat`",
                            "g": "ifelse(`first.treat` == 0, 0, `first.treat`)"},
                       unit="countyreal", time="year")
    want = ((df["first.treat"] > 0) & (df["year"] >= df["first.treat"])).astype(int)
    assert (out["d"] == want).all()
    assert (out["g"] == df["first.treat"]).all()


def test_organ_quarters_become_stata_quarter_numbers():
    df = organ_like()
    out = apply_derive(df, {"period": "quarterly(Quarter)",
                            "treated": "State == 'California' and period >= yq(2011, 3)"},
                       unit="State", time="period")
    # by hand: quarters since 1960Q1 (Stata's yq(2010, 4) = 203)
    y = df["Quarter"].str[2:].astype(int)
    q = df["Quarter"].str[1].astype(int)
    assert (out["period"] == (y - 1960) * 4 + q - 1).all()
    assert out.loc[out["Quarter"] == "Q42010", "period"].eq(203).all()
    want = ((df["State"] == "California") & df["Quarter"].isin(["Q32011", "Q42011", "Q12012"]))
    assert (out["treated"] == want.astype(int)).all() and out["treated"].sum() == 3


@pytest.mark.parametrize("text, want", [
    ("Q42010", 203), ("2010Q4", 203), ("2010q4", 203), ("2010-Q4", 203), ("4Q2010", 203),
    ("2010年第4季度", 203), ("2010年四季度", 203), ("Q1 1960", 0)])
def test_quarter_spellings(text, want):
    assert quarterly(pd.Series([text], name="q")).iloc[0] == want


@pytest.mark.parametrize("text, want", [
    ("2010m3", 602), ("2010-03", 602), ("2010/3", 602), ("2010-03-15", 602),
    ("03/2010", 602), ("Mar 2010", 602), ("March-2010", 602), ("2010年3月", 602)])
def test_month_spellings(text, want):
    assert monthly(pd.Series([text], name="m")).iloc[0] == want


def test_bad_periods_are_named():
    with pytest.raises(DataError, match=r"2 values of 'q'.*'Q52010'"):
        quarterly(pd.Series(["Q42010", "Q52010", "2010", None], name="q"))
    with pytest.raises(DataError, match="yq"):
        quarterly(pd.Series([20104], name="q"))


@pytest.mark.parametrize("expr, words", [
    ("log(homicide - 100)", ["derive.bad", "log() needs values > 0", "log1p"]),
    ("homicide / (post - post)", ["derive.bad", "division by zero", "data.query"]),
    ("lag(nope)", ["derive.bad", "'nope' is not in the data", "keys above"]),
    ("state + 1", ["derive.bad", "holds text"]),
    ("mean(income)", ["derive.bad", "needs by="]),
    ("lag(income, 1.5)", ["derive.bad", "whole number"]),
    ("quarterly(year)", ["derive.bad", "holds numbers", "yq(year, q)"]),
])
def test_errors_name_the_key_and_the_fix(expr, words):
    with pytest.raises((SpecError, DataError)) as info:
        apply_derive(castle_like(), {"bad": expr}, unit="sid", time="year")
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_every_failing_key_is_listed_when_asked():
    problems: list[str] = []
    out = apply_derive(castle_like(), {"a": "log(-homicide)", "ok": "post * 2",
                                       "b": "lag(a)", "post": "1"},
                       unit="sid", time="year", problems=problems)
    assert [p.split(" ")[0].rstrip(":") for p in problems] == [
        "derive.a", "derive.b", "derive.post"]
    assert "never replaces data" in problems[2]
    assert (out["ok"] == 2 * out["post"]).all()


@pytest.mark.parametrize("payload", [
    "__import__('os').system('touch pwned')", "homicide.__class__", "exec('1')",
    "homicide[0]", "lambda: 1", "eval('1')", "open('x')", "log(homicide).real",
])
def test_no_python(tmp_path, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="derive.x"):
        apply_derive(castle_like(), {"x": payload}, unit="sid", time="year")
    assert not (tmp_path / "pwned").exists()

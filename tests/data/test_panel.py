import numpy as np
import pandas as pd
import pytest

from policylab import Panel
from policylab.errors import DataError


def test_duplicates_are_listed(panel_df):
    df = pd.concat([panel_df, panel_df.iloc[[3]]])
    with pytest.raises(DataError, match=r"share a \(unit, year\) pair.*\(0, 2003\)"):
        Panel(df, unit="unit", time="year")


def test_missing_key_and_noninteger_time(panel_df):
    df = panel_df.copy()
    df.loc[5, "unit"] = np.nan
    with pytest.raises(DataError, match="missing 'unit'"):
        Panel(df, unit="unit", time="year")
    df = panel_df.copy()
    df["year"] = df["year"] + 0.5
    with pytest.raises(DataError, match="integer-like"):
        Panel(df, unit="unit", time="year")


def test_input_not_modified(panel_df):
    before = panel_df.copy()
    p = Panel(panel_df.sample(frac=1, random_state=1), unit="unit", time="year")
    p.lag("x1").log("year")
    pd.testing.assert_frame_equal(panel_df, before)


def test_lag_respects_gaps_and_units():
    df = pd.DataFrame({"u": [1, 1, 1, 2, 2], "t": [2000, 2001, 2003, 2000, 2001],
                       "x": [1.0, 2.0, 4.0, 10.0, 20.0]})
    p = Panel(df, "u", "t").lag("x").lead("x").diff("x")
    out = p.df
    assert out["x_lag1"].tolist()[:3] == [pytest.approx(np.nan, nan_ok=True), 1.0,
                                           pytest.approx(np.nan, nan_ok=True)]
    assert np.isnan(out["x_lag1"].iloc[3])  # never wraps from unit 1 to unit 2
    assert out["x_lead1"].iloc[1] != out["x_lead1"].iloc[1]  # 2002 missing -> NaN
    assert out["d_x"].iloc[4] == 10.0
    assert not p.is_balanced and len(p.gaps) == 1


def test_log_names_bad_rows():
    df = pd.DataFrame({"u": [1, 1, 2], "t": [1, 2, 1], "x": [1.0, 0.0, -2.0]})
    with pytest.raises(DataError, match=r"2 values are <= 0 \(1 zeros\).*\(1, 2\)"):
        Panel(df, "u", "t").log("x")
    out = Panel(df.assign(x=[1.0, 0.0, 3.0]), "u", "t").log("x", log1p=True).df
    assert out["ln1p_x"].tolist() == pytest.approx(np.log1p([1.0, 0.0, 3.0]))


def test_winsorize_and_deflate():
    df = pd.DataFrame({"u": np.repeat([1, 2], 3), "t": [1, 2, 3] * 2,
                       "gdp": [100.0, 110, 121, 50, 60, 70], "p": [100.0, 110, 121] * 2})
    p = Panel(df, "u", "t").deflate("gdp", "p", base=1)
    assert p.df["gdp_real"].tolist()[:3] == pytest.approx([100.0, 100.0, 100.0])
    x = pd.DataFrame({"u": range(100), "t": 1, "v": np.arange(100.0)})
    w = Panel(x, "u", "t").winsorize("v", 0.05, 0.95).df["v_w"]
    assert w.min() == pytest.approx(np.quantile(np.arange(100.0), 0.05))
    assert w.max() == pytest.approx(np.quantile(np.arange(100.0), 0.95))


def test_facts(panel_df):
    p = Panel(panel_df.iloc[1:], unit="unit", time="year")
    d = p.describe()
    assert d["n_units"] == 40 and d["n_periods"] == 8 and not d["balanced"]
    assert p.coverage.loc[0, "n_periods"] == 7


def test_polars_input(panel_df):
    pl = pytest.importorskip("polars")
    p = Panel(pl.from_pandas(panel_df), unit="unit", time="year")
    assert p.is_balanced and len(p) == len(panel_df)

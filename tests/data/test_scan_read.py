import numpy as np
import pandas as pd

from policylab import read


def test_glob_read_pushes_columns_and_filter(tmp_path, panel_df):
    panel_df = panel_df.assign(big=np.arange(len(panel_df), dtype=float))
    panel_df.iloc[:100].to_parquet(tmp_path / "a.parquet")
    panel_df.iloc[100:].to_parquet(tmp_path / "b.parquet")
    p = read(str(tmp_path / "*.parquet"), unit="unit", time="year", columns=["y", "x1"],
             where="year >= 2004")
    expect = panel_df[panel_df["year"] >= 2004]
    assert list(p.df.columns) == ["unit", "year", "y", "x1"]  # 'big' never read
    assert len(p) == len(expect)
    got = p.df.set_index(["unit", "year"]).sort_index()
    want = expect.set_index(["unit", "year"]).sort_index()[["y", "x1"]]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_list_of_csv_files(tmp_path, panel_df):
    panel_df.iloc[:50].to_csv(tmp_path / "a.csv", index=False)
    panel_df.iloc[50:].to_csv(tmp_path / "b.csv", index=False)
    p = read([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], unit="unit", time="year")
    assert len(p) == len(panel_df) and p.is_balanced

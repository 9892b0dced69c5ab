"""balanced_rows (R did's makeBalancedPanel rule on integer codes) against the rule
written out in plain pandas, on random unbalanced panels with duplicates, missing ids
and missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policylab.errors import DataError
from policylab.estimators.cohort_tables import balanced_rows, panel_codes, wide_outcomes


def reference(df: pd.DataFrame, y: str, unit: str, time: str, needed: list[str]):
    """The rule as the docs state it, set by set: drop rows with a missing value, keep
    the units whose complete rows cover every period that has a complete row."""
    cols = [y, *[c for c in needed if c in df.columns]]
    if df[unit].isna().any() or df[time].isna().any():
        return "unchanged", None
    complete = df[cols].notna().all(axis=1)
    periods = set(df.loc[complete, time])
    covered = df[complete].groupby(unit)[time].agg(set)
    full = {u for u, got in covered.items() if got == periods}
    keep = complete & df[unit].isin(full)
    if keep.all():
        return "unchanged", None
    if not keep.any():
        return "error", None
    units_gone = len(set(df[unit])) - len(set(df.loc[keep, unit]))
    return keep.to_numpy(), (units_gone, int((~keep).sum()))


def random_panel(rng: np.random.Generator) -> pd.DataFrame:
    n_units, n_periods = int(rng.integers(1, 9)), int(rng.integers(1, 6))
    df = pd.DataFrame({"u": np.repeat(np.arange(n_units), n_periods),
                       "t": np.tile(2000 + np.arange(n_periods), n_units)})
    df["y"] = rng.normal(size=len(df))
    df["x"] = rng.normal(size=len(df))
    # gaps, duplicate rows, shuffled order
    df = df[rng.random(len(df)) > rng.choice([0.0, 0.1, 0.3])]
    if len(df) and rng.random() < 0.3:
        df = pd.concat([df, df.sample(int(rng.integers(1, 3)), replace=True, random_state=1)])
    df = df.sample(frac=1, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)
    for col, p in (("y", rng.choice([0.0, 0.05, 0.3])), ("x", rng.choice([0.0, 0.1]))):
        df.loc[rng.random(len(df)) < p, col] = np.nan
    if rng.random() < 0.3:  # the whole outcome missing in one period
        df.loc[df["t"] == 2000, "y"] = np.nan
    if rng.random() < 0.3:  # string unit ids
        df["u"] = "c" + df["u"].astype(str)
    if rng.random() < 0.1 and len(df):  # a missing id
        df["t"] = df["t"].astype(float)
        df.loc[df.index[0], "t"] = np.nan
    return df


@pytest.mark.parametrize("seed", range(300))
def test_matches_the_plain_pandas_rule(seed):
    rng = np.random.default_rng(seed)
    df = random_panel(rng)
    needed = ["x", "not_a_column"] if rng.random() < 0.5 else []
    want, counts = reference(df, "y", "u", "t", needed)
    if isinstance(want, str) and want == "error":
        with pytest.raises(DataError, match="balanced panel"):
            balanced_rows(df, "y", "u", "t", needed)
        return
    got, note, codes = balanced_rows(df, "y", "u", "t", needed)
    if isinstance(want, str):
        assert got is df and note is None
    else:
        assert np.array_equal(got.index, df.index[want])
        assert (note.params["units"], note.params["rows"]) == counts
    # the codes handed on are those of the kept rows
    fresh = panel_codes(got, "u", "t")
    for a, b in zip(codes, fresh):
        assert np.array_equal(a, b)


def test_wide_outcomes_keeps_its_errors():
    df = pd.DataFrame({"u": [1, 1, 2, 2, 2], "t": [1, 2, 1, 2, 2], "y": 1.0})
    kept, note, codes = balanced_rows(df, "y", "u", "t", [])
    assert note is None  # a duplicate counts once here
    with pytest.raises(DataError, match="duplicate"):
        wide_outcomes(kept, "y", "u", "t", codes)
    df = pd.DataFrame({"u": [1, 1, None], "t": [1, 2, 1], "y": [1.0, np.nan, 1.0]})
    kept, note, codes = balanced_rows(df, "y", "u", "t", [])
    assert kept is df and note is None
    with pytest.raises(DataError, match="1 rows have a missing 'u'"):
        wide_outcomes(kept, "y", "u", "t", codes)


def test_no_complete_row_names_the_columns():
    df = pd.DataFrame({"u": [1, 1], "t": [1, 2], "y": np.nan, "x": 1.0})
    with pytest.raises(DataError, match=r"no unit has \['y', 'x'\] in all 0 periods"):
        balanced_rows(df, "y", "u", "t", ["x"])

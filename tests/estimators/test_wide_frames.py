"""A wide CSV (one pandas block per column, as pandas 3's read_csv returns it) runs
through the Design and Sun-Abraham without pandas' "highly fragmented" warning: the
added columns go in with one concat, not one insert each."""

import io
import warnings

import numpy as np
import pandas as pd
import pytest

import policylab as pl


@pytest.fixture(scope="module")
def wide() -> pd.DataFrame:
    # 40 states x 11 years, five adoption cohorts and never-treated, 110 extra columns;
    # written to CSV and read back so that each column is its own block
    rng = np.random.default_rng(7)
    cohort = rng.choice([0, 2005, 2006, 2007, 2008, 2009], size=40)
    state, year = np.repeat(np.arange(40), 11), np.tile(np.arange(2000, 2011), 40)
    g = cohort[state]
    df = pd.DataFrame({"state": state, "year": year, "effyear": g,
                       "post": ((g > 0) & (year >= g)).astype(int)})
    df["y"] = rng.normal(size=len(df)) + 0.2 * df["post"]
    extra = pd.DataFrame(rng.normal(size=(len(df), 110)),
                         columns=[f"x{j}" for j in range(110)])
    text = pd.concat([df, extra], axis=1).to_csv(index=False)
    return pd.read_csv(io.StringIO(text))


def _no_fragmentation(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        return fn(*args, **kwargs)


def test_design_and_did_on_a_wide_frame_do_not_warn(wide):
    assert len(wide._mgr.blocks) > 100  # the premise: a fragmented frame from read_csv
    for kw in ({"treat": "post"}, {"cohort": "effyear"}):
        r = _no_fragmentation(pl.did, wide, y="y", unit="state", time="year", **kw)
        assert np.isfinite(r.tidy()["estimate"]).all()


def test_sun_abraham_on_a_wide_frame_does_not_warn_and_keeps_its_numbers(wide):
    r = _no_fragmentation(pl.sun_abraham, wide, y="y", unit="state", time="year",
                          cohort="effyear")
    # the same regression on a narrow frame (few blocks): the concat changes nothing
    narrow = wide[["state", "year", "effyear", "y"]].copy()
    ref = pl.sun_abraham(narrow, y="y", unit="state", time="year", cohort="effyear")
    pd.testing.assert_frame_equal(r.tidy(), ref.tidy())
    assert len(r.meta["cohort_effects"]) > 20  # dozens of dummies were added


def test_panel_transforms_on_a_wide_frame_do_not_warn_and_match_pandas(wide):
    p = pl.Panel(wide, unit="state", time="year")
    out = _no_fragmentation(lambda: p.assign(pos=wide["x1"].abs() + 1).log("pos")
                            .lag("y", 1).assign(z=1.0, y=wide["y"] * 2))
    df = out.df
    assert list(df.columns[: wide.shape[1]]) == list(wide.columns)  # replaced y in place
    np.testing.assert_allclose(df["y"], wide["y"] * 2)
    assert (df["z"] == 1.0).all()
    np.testing.assert_allclose(df["ln_pos"], np.log(wide["x1"].abs() + 1))
    lag = wide.sort_values(["state", "year"]).groupby("state")["y"].shift(1)
    np.testing.assert_allclose(df["y_lag1"], lag.reindex(df.index), equal_nan=True)

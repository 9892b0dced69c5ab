import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import DataError, SpecError


def _stag(seed=1):
    rng = np.random.default_rng(seed)
    units, years = 40, 12
    df = pd.DataFrame({"u": np.repeat(np.arange(units), years),
                       "t": np.tile(np.arange(2000, 2000 + years), units)})
    df["cohort"] = df["u"].map(lambda u: [0, 2004, 2007][u % 3])
    df["d"] = ((df.cohort > 0) & (df.t >= df.cohort)).astype(int)
    df["y"] = df["d"] * 0.5 + rng.normal(size=len(df)) + df["u"] * 0.1
    return df


def test_cohort_and_treat_column_give_the_same_estimate():
    df = _stag()
    a = pl.did(df, y="y", cohort="cohort", unit="u", time="t")
    b = pl.did(df, y="y", treat="d", unit="u", time="t")
    assert a.att == pytest.approx(b.att, rel=1e-12)
    assert any("staggered adoption" in w for w in a.warnings)


def test_referee_warnings():
    df = _stag()
    df.loc[(df.u == 1) & (df.t == 2011), "d"] = 0  # switches off
    r = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["cohort"],
               post_controls=["cohort"])
    msgs = " ".join(r.warnings)
    assert "switches off" in msgs and "post-treatment controls" in msgs
    df2 = _stag()
    df2.loc[df2.u == 2, "cohort"] = 2000  # treated from the first period
    r2 = pl.did(df2, y="y", cohort="cohort", unit="u", time="t")
    assert any("first period" in w for w in r2.warnings)


def test_bad_treatment_inputs():
    df = _stag()
    with pytest.raises(SpecError, match="exactly one of"):
        pl.did(df, y="y", treat="d", cohort="cohort", unit="u", time="t")
    with pytest.raises(DataError, match="must be 0/1"):
        pl.did(df, y="y", treat="cohort", unit="u", time="t")


def test_event_study_reference_period_and_binning():
    df = _stag()
    es = pl.event_study(df, y="y", unit="u", time="t", cohort="cohort", window=(-3, 3),
                        ref=-3)
    assert "pre_3" not in es.terms and "pre_1" in es.terms
    t = es.tidy()
    # binned endpoint collects every earlier period of treated units
    assert t.loc[t.rel_time == 3, "n_obs"].item() > t.loc[t.rel_time == 2, "n_obs"].item()
    nb = pl.event_study(df, y="y", unit="u", time="t", cohort="cohort", window=(-3, 3),
                        bin_endpoints=False)
    rel = np.where(df.cohort > 0, df.t - df.cohort, np.nan)
    outside = int(((rel < -3) | (rel > 3)).sum())
    assert nb.meta["dropped"]["treated outside the window"] == outside
    assert nb.nobs == len(df) - outside


def test_outcome_without_within_variation_is_a_clear_error():
    from policylab.errors import EstimationError

    df = _stag()
    df["const"] = df["u"] * 2.0
    with pytest.raises(EstimationError, match="'const' has no variation left"):
        pl.did(df, y="const", treat="d", unit="u", time="t")


def test_event_window_beyond_the_data_is_shrunk_with_a_warning():
    df = _stag()  # cohorts 2004 and 2007, data 2000-2011: lags up to 7, leads to -7
    with pytest.warns(UserWarning, match="reaches beyond the data"):
        es = pl.event_study(df, y="y", unit="u", time="t", cohort="cohort", window=(-10, 12))
    assert es.meta["window"] == (-7, 7)
    assert max(es.meta["rel_times"]) == 7
    # the window asked for is kept beside the one estimated
    assert es.meta["window_requested"] == (-10, 12)


def test_event_window_inside_the_data_is_both_requested_and_used():
    es = pl.event_study(_stag(), y="y", unit="u", time="t", cohort="cohort", window=(-3, 4))
    assert es.meta["window"] == es.meta["window_requested"] == (-3, 4)
    assert not any(w.key == "event.window_clipped" for w in es.warnings)

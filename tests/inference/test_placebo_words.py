"""placebo_test(level=...) is the deprecated alias of assign=."""

import warnings

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import PolicyLabDeprecationWarning, SpecError


def _did():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"u": np.repeat(np.arange(12), 6), "t": np.tile(np.arange(6), 12)})
    df["g"] = df["u"] // 2
    df["d"] = ((df["g"] < 2) & (df["t"] >= 3)).astype(int)
    df["y"] = 0.5 * df["d"] + rng.normal(size=len(df))
    return pl.did(df, y="y", treat="d", unit="u", time="t", assign="g")


def test_level_warns_naming_assign_and_gives_the_same_test():
    r = _did()
    with pytest.warns(PolicyLabDeprecationWarning, match=r"assign='g'"):
        old = pl.placebo_test(r, level="g", exact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PolicyLabDeprecationWarning)
        new = pl.placebo_test(r, assign="g", exact=True)
    np.testing.assert_array_equal(old.tstats, new.tstats)
    assert old.p_value == new.p_value and old.meta["assign"] == "g"
    assert issubclass(PolicyLabDeprecationWarning, FutureWarning)


def test_level_and_a_different_assign_are_refused():
    with pytest.warns(PolicyLabDeprecationWarning), pytest.raises(SpecError, match="assign"):
        pl.placebo_test(_did(), level="g", assign="u")

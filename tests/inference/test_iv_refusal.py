"""Resampling methods refuse 2SLS results instead of returning wrong numbers."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.inference.joint_wild import joint_wild_test


@pytest.fixture(scope="module")
def iv_fit():
    rng = np.random.default_rng(4)
    n_units, years = 30, 6
    df = pd.DataFrame({"unit": np.repeat(np.arange(n_units), years),
                       "year": np.tile(np.arange(years), n_units)})
    df["z"] = rng.normal(size=len(df))
    df["d"] = 0.8 * df["z"] + rng.normal(size=len(df))
    df["y"] = 0.5 * df["d"] + rng.normal(size=len(df))
    return pl.feols("y ~ 1 | unit + year | d ~ z", df, vcov={"CRV1": "unit"})


def test_wild_bootstrap_refuses_iv(iv_fit):
    with pytest.raises(pl.SpecError, match="2SLS"):
        pl.wild_bootstrap(iv_fit, param="d", draws=99)


def test_placebo_refuses_iv(iv_fit):
    with pytest.raises(pl.SpecError, match="2SLS"):
        pl.placebo_test(iv_fit, param="d", unit="unit", time="year", draws=9)


def test_joint_wild_refuses_iv(iv_fit):
    with pytest.raises(pl.SpecError, match="2SLS"):
        joint_wild_test(iv_fit, ["d"], draws=99)

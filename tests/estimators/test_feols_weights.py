"""feols' weights follow the Design's rule: a missing, infinite, negative or
non-numeric weight is refused with a DataError naming the column and the rows (never a
row dropped quietly); a weight of 0 drops its row, as in fixest."""

import numpy as np
import pytest

import policylab as pl
from conftest import make_panel
from policylab.estimators.design import build_design

FML = "y ~ x1 + x2 | unit + year"


def _weighted(seed: int = 3):
    df = make_panel(seed=seed)
    d = ((df["unit"] % 2 == 0) & (df["year"] >= 2004)).astype(int)
    return df.assign(w=np.random.default_rng(seed).uniform(0.5, 2.0, len(df)), d=d)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_a_bad_weight_is_refused_as_the_design_refuses_it(bad):
    df = _weighted()
    df.loc[[5, 17], "w"] = bad
    with pytest.raises(pl.DataError) as feols_err:
        pl.feols(FML, df, weights="w")
    msg = str(feols_err.value)
    assert "weights column 'w'" in msg and "2 rows" in msg and "row 5" in msg
    assert "drop" in msg
    with pytest.raises(pl.DataError) as design_err:
        build_design(df, unit="unit", time="year", treat="d", weights="w")
    assert str(design_err.value) == msg  # one rule, one message


def test_non_numeric_weights_are_refused():
    df = _weighted().astype({"w": object})
    df.loc[4, "w"] = "n/a"
    with pytest.raises(pl.DataError, match=r"weights column 'w'.*1 rows.*row 4"):
        pl.feols(FML, df, weights="w")


def test_dropping_the_rows_named_gives_the_fit_on_the_rest():
    df = _weighted()
    df.loc[[5, 17], "w"] = np.nan
    kept = df.dropna(subset=["w"])
    r = pl.feols(FML, kept, weights="w")
    assert r.nobs == len(df) - 2
    # a weight of 0 still drops its row: the same fit as without the row
    zero = pl.feols(FML, df.fillna({"w": 0.0}), weights="w")
    np.testing.assert_allclose(zero.beta, r.beta, rtol=1e-10)
    np.testing.assert_allclose(zero.tidy()["std_error"], r.tidy()["std_error"], rtol=1e-10)
    assert zero.nobs == r.nobs

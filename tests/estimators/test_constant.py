"""The reported constant (Stata's _cons) of fitted models: its definition and where it
is None. Against Stata itself: tests/validation/test_constant_oracle.py."""

import numpy as np
import pandas as pd
import statsmodels.api as sm

from policylab.estimators.feols import feols


def _panel(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_units, n_t = 30, 6
    unit = np.repeat(np.arange(n_units), n_t)
    year = np.tile(np.arange(2000, 2000 + n_t), n_units)
    x = rng.normal(size=unit.size) + 0.3 * unit / n_units
    y = 2.0 + 0.5 * x + rng.normal(size=n_units)[unit] + 0.1 * (year - 2000) + rng.normal(
        size=unit.size)
    return pd.DataFrame({"unit": unit, "year": year, "x": x, "y": y,
                         "w": rng.uniform(0.5, 2.0, n_units)[unit]})


def test_constant_is_the_mean_of_y_at_the_mean_of_x():
    df = _panel()
    r = feols("y ~ x | unit + year", df, weights="w")
    c = r.constant()
    w = df["w"]
    expect = np.average(df["y"], weights=w) - np.average(df["x"], weights=w) * r.coef()["x"]
    assert abs(c["estimate"].item() - expect) < 1e-10
    assert 0 < c["std_error"].item() < np.inf


def test_without_fixed_effects_the_constant_is_the_intercept():
    df = _panel()
    r = feols("y ~ x", df, vcov="hetero")
    ols = sm.OLS(df["y"], sm.add_constant(df["x"])).fit(cov_type="HC1")
    c = r.constant()
    assert list(c["term"]) == ["_cons"]
    np.testing.assert_allclose(c[["estimate", "std_error"]].to_numpy().ravel(),
                               [ols.params["const"], ols.bse["const"]], rtol=1e-8)


def test_constant_follows_a_new_variance():
    df = _panel()
    r = feols("y ~ x | unit", df, vcov={"CRV1": "unit"})
    c1 = r.constant()
    c2 = r.vcov("hetero").constant()
    assert c1["estimate"].item() == c2["estimate"].item()
    assert c1["std_error"].item() != c2["std_error"].item()

"""Property tests of feols (hypothesis; seeds derived by hypothesis, examples bounded)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policylab as pl
from conftest import make_panel


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), drop=st.sampled_from([0.0, 0.15]))
def test_row_order_does_not_matter(seed, drop):
    df = make_panel(25, 6, seed=seed, drop=drop)
    a = pl.feols("y ~ x1 + x2 | unit + year", df, vcov={"CRV1": "unit"})
    b = pl.feols("y ~ x1 + x2 | unit + year", df.sample(frac=1, random_state=seed),
                 vcov={"CRV1": "unit"})
    np.testing.assert_allclose(a.coef(), b.coef(), rtol=1e-9)
    np.testing.assert_allclose(a.se(), b.se(), rtol=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), c=st.floats(0.01, 100))
def test_scaling_y_scales_coefficients_and_ses(seed, c):
    df = make_panel(20, 5, seed=seed)
    a = pl.feols("y ~ x1 + x2 | unit + year", df)
    b = pl.feols("y ~ x1 + x2 | unit + year", df.assign(y=df.y * c))
    np.testing.assert_allclose(b.coef(), c * a.coef(), rtol=1e-8)
    np.testing.assert_allclose(b.se(), c * a.se(), rtol=1e-8)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_unit_constant_regressor_is_reported_absorbed(seed):
    df = make_panel(20, 5, seed=seed)
    df["z"] = np.random.default_rng(seed).normal(size=20)[df["unit"]]
    with pytest.warns(UserWarning, match="'z' was dropped: absorbed by the fixed effects"):
        r = pl.feols("y ~ x1 + z | unit + year", df)
    assert r.meta["dropped_terms"] == {"z": "no variation"}
    assert list(r.coef().index) == ["x1"]

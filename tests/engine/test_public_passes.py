"""engine.passes: the public passes estimators use give the same answer on the numpy
path (small inputs) and the compiled path (>= COMPILED_ROWS rows), checked against
independent pandas / numpy computations."""

import numpy as np
import pandas as pd
import pytest

from policylab.engine import passes
from policylab.engine.threads import COMPILED_ROWS

SMALL, LARGE = 2_000, COMPILED_ROWS + 1_000


@pytest.mark.parametrize("n", [SMALL, LARGE])
def test_nonfinite_rows_and_column_moments(n):
    rng = np.random.default_rng(1)
    Z = np.asfortranarray(rng.normal(size=(n, 3)) * [1.0, 1e3, 1e-3] + [0.0, 1e6, 5.0])
    w = rng.uniform(0.5, 2.0, n)
    for wt in (None, w):
        mean, css = passes.column_moments(Z, wt)
        wv = np.ones(n) if wt is None else wt
        ref = pd.DataFrame(Z).mul(wv, axis=0).sum() / wv.sum()
        np.testing.assert_allclose(mean, ref.to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(css, wv @ (Z - ref.to_numpy()) ** 2, rtol=1e-10)
    Z[[3, n - 1], [2, 0]] = [np.nan, -np.inf]
    np.testing.assert_array_equal(np.flatnonzero(passes.nonfinite_rows(Z)), [3, n - 1])


@pytest.mark.parametrize("n", [SMALL, LARGE])
def test_compact_codes_match_unique(n):
    v = np.random.default_rng(2).integers(-50, 3 * n, n)
    codes, levels = passes.compact_codes(v, int(v.min()), int(v.max()))
    u, inv = np.unique(v, return_inverse=True)
    np.testing.assert_array_equal(levels, u)
    np.testing.assert_array_equal(codes, inv)


@pytest.mark.parametrize("n", [SMALL, LARGE])
@pytest.mark.parametrize("dtype", ["float", "int"])
def test_varies_within_matches_pandas(n, dtype):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, n // 10, n)
    base = rng.integers(0, 5, n // 10)[codes]  # constant within groups
    values = base.astype(float) if dtype == "float" else base
    if dtype == "float":
        values[codes == 4] = np.nan  # NaN equals NaN: still constant
    assert not passes.varies_within(codes, values)
    changed = values.copy()
    i = int(np.flatnonzero(codes == 7)[-1])
    changed[i] = changed[i] + 1 if dtype == "int" else np.nan
    expected = bool(pd.Series(pd.factorize(changed, use_na_sentinel=False)[0])
                    .groupby(codes).nunique().gt(1).any())
    assert expected and passes.varies_within(codes, changed)


@pytest.mark.parametrize("n", [SMALL, LARGE])
def test_fill_indicator(n):
    rel = np.random.default_rng(4).integers(-3, 4, n).astype(float)
    rel[::7] = np.nan
    out = np.full(n, 5.0)
    passes.fill_indicator(rel, 2.0, out)
    np.testing.assert_array_equal(out, (rel == 2.0).astype(float))

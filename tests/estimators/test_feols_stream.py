import numpy as np
import pytest

from conftest import make_panel
from policylab import feols
from policylab.errors import SpecError
from policylab.estimators.feols_stream import feols_stream


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("pq")
    df = make_panel(300, 12, seed=2, drop=0.15)
    df["grp"] = df["unit"] // 10
    df["z"] = 0.5 * df["unit"]  # absorbed by the unit effect
    shuffled = df.sample(frac=1, random_state=0)  # rows arrive in no particular order
    for i, part in enumerate([shuffled.iloc[:300], shuffled.iloc[300:2000], shuffled.iloc[2000:]]):
        part.to_parquet(d / f"part{i}.parquet")
    return d, df


@pytest.mark.parametrize("fml", ["y ~ x1 + x2 | unit + year", "y ~ x1 + x2 | unit"])
@pytest.mark.parametrize("vcov", [None, "iid", "hetero", {"CRV1": "grp"}, {"CRV1": "year"}])
def test_streamed_equals_in_memory(parquet_dir, fml, vcov):
    d, df = parquet_dir
    a = feols(fml, df, vcov=vcov)
    # small batches force units to straddle batch boundaries
    b = feols_stream(fml, str(d / "*.parquet"), vcov=vcov, batch_rows=257)
    assert a.nobs == b.nobs
    np.testing.assert_allclose(b.coef(), a.coef(), rtol=1e-10)
    np.testing.assert_allclose(b.se(), a.se(), rtol=1e-10)
    assert b.r2 == pytest.approx(a.r2, rel=1e-10)
    assert b.r2_within == pytest.approx(a.r2_within, rel=1e-10)


def test_filter_pushdown_and_absorbed_regressor(parquet_dir):
    d, df = parquet_dir
    a = feols("y ~ x1 + z | unit + year", df[df["year"] >= 2003])
    with pytest.warns(UserWarning, match="'z' was dropped"):
        b = feols_stream("y ~ x1 + z | unit + year", str(d / "*.parquet"), where="year >= 2003")
    assert list(b.coef().index) == ["x1"]
    np.testing.assert_allclose(b.coef(), a.coef(), rtol=1e-10)
    np.testing.assert_allclose(b.se(), a.se(), rtol=1e-10)


def test_unsupported_structure_is_a_clear_error(parquet_dir):
    d, _ = parquet_dir
    with pytest.raises(SpecError, match="unit \\+ time"):
        feols_stream("y ~ x1 | unit + year + grp", str(d / "*.parquet"))

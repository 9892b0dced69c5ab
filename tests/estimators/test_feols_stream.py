"""feols_stream equals the in-memory feols (which is checked against pyfixest / fixest
elsewhere) to 1e-10 on coefficients and standard errors, across weights, fixed-effect
structures, clusterings, file formats and row orders."""

import numpy as np
import pandas as pd
import pytest

from conftest import make_panel
from policylab import feols
from policylab.errors import DataError, SpecError
from policylab.estimators.feols_stream import feols_stream


def _frame() -> pd.DataFrame:
    df = make_panel(300, 12, seed=2, drop=0.15)
    rng = np.random.default_rng(5)
    df["region"] = "r" + (df["unit"] % 7).astype(str)  # constant within units, a string
    df["grp"] = df["unit"] // 10  # coarser than units
    df["cross"] = (df["unit"] * 3 + df["year"]) % 13  # not nested in units
    df["w"] = rng.uniform(0.2, 3.0, len(df))
    df["y"] += 0.4 * (df["year"] - 2000) + (df["unit"] % 7) * 0.1 * (df["year"] - 2000)
    df["z"] = 0.5 * df["unit"]  # absorbed by the unit effect
    # a unit with one row, and a region seen once per year: the in-memory rule drops
    # them iteratively (region^year singletons first, then the unit left alone)
    extra = pd.DataFrame({"unit": [999, 998, 998, 998], "year": [2001, 2001, 2002, 2003],
                          "x1": [0.1, 0.2, -0.3, 0.4], "x2": [1.0, 2.0, 0.5, 1.5],
                          "y": [1.0, 0.3, 0.2, 0.9], "region": ["r0", "solo", "solo", "solo"],
                          "grp": [99, 98, 98, 98], "cross": [1, 2, 3, 4],
                          "w": [1.0, 1.0, 2.0, 1.0], "z": [0.0, 1.0, 1.0, 1.0]})
    return pd.concat([df, extra], ignore_index=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    df = _frame()
    shuffled = df.sample(frac=1, random_state=0)  # rows arrive in no particular order
    cuts = [0, 300, 2000, len(df)]
    for i in range(3):
        part = shuffled.iloc[cuts[i]:cuts[i + 1]]
        part.to_parquet(d / f"part{i}.parquet")
        part.to_csv(d / f"part{i}.csv", index=False)
    df.sort_values(["unit", "year"]).to_parquet(d / "sorted.parquet")
    return d, df


FES = ["unit", "unit + year", "unit + year + region^year"]
CLUSTERS = ["unit", "grp", "cross"]


def _same(a, b):
    assert a.nobs == b.nobs
    assert list(b.coef().index) == list(a.coef().index)
    np.testing.assert_allclose(b.coef(), a.coef(), rtol=1e-10, atol=0)
    np.testing.assert_allclose(b.se(), a.se(), rtol=1e-10, atol=0)
    assert b.r2 == pytest.approx(a.r2, rel=1e-10)
    assert b.r2_within == pytest.approx(a.r2_within, rel=1e-10)
    assert b.f_stat == pytest.approx(a.f_stat, rel=1e-9)
    assert b.n_clusters == a.n_clusters


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize("fe", FES)
@pytest.mark.parametrize("weights", [None, "w"])
def test_streamed_equals_in_memory(files, fe, cluster, weights, fmt):
    d, df = files
    fml = f"y ~ x1 + x2 | {fe}"
    vcov = {"CRV1": cluster}
    a = feols(fml, df, vcov=vcov, weights=weights)
    # small batches: many hash partitions, each unit whole in one of them
    b = feols_stream(fml, str(d / f"part*.{fmt}"), vcov=vcov, weights=weights,
                     batch_rows=400, progress=False)
    _same(a, b)
    assert b.meta["dropped"] == a.meta["dropped"]


@pytest.mark.parametrize("vcov", ["iid", "hetero"])
@pytest.mark.parametrize("weights", [None, "w"])
def test_iid_and_hetero(files, vcov, weights):
    d, df = files
    fml = "y ~ x1 + x2 | unit + year + region^year"
    a = feols(fml, df, vcov=vcov, weights=weights)
    b = feols_stream(fml, str(d / "part*.parquet"), vcov=vcov, weights=weights,
                     batch_rows=700, progress=False)
    _same(a, b)


@pytest.mark.parametrize("weights", [None, "w"])
def test_presorted_stream_equals_spilled(files, weights):
    d, df = files
    fml = "y ~ x1 + x2 | unit + year"
    a = feols(fml, df, vcov={"CRV1": "cross"}, weights=weights)
    b = feols_stream(fml, str(d / "sorted.parquet"), vcov={"CRV1": "cross"},
                     weights=weights, presorted=True, batch_rows=257, progress=False)
    _same(a, b)


def test_large_effect_constant_within_units_is_absorbed(files):
    d, df = files
    # grp has 32 levels > max_fe_levels=20 but never varies within a unit: it counts in
    # the degrees of freedom only (nested in its own clusters, not in 'cross' or 'region')
    fml = "y ~ x1 + x2 | unit + year + grp"
    for vcov in ({"CRV1": "cross"}, {"CRV1": "grp"}, {"CRV1": "region"}, "iid"):
        a = feols(fml, df, vcov=vcov)
        b = feols_stream(fml, str(d / "part*.parquet"), vcov=vcov, max_fe_levels=20,
                         batch_rows=500, progress=False)
        _same(a, b)


@pytest.mark.parametrize("presorted", [False, True])
def test_string_units(tmp_path, presorted):
    df = _frame()
    df["firm"] = "f-" + df["unit"].astype(str)  # ids such as stock codes
    df = df.sort_values("firm") if presorted else df.sample(frac=1, random_state=3)
    df.to_csv(tmp_path / "s.csv", index=False)
    fml = "y ~ x1 + x2 | firm + year"
    a = feols(fml, df, weights="w")
    b = feols_stream(fml, str(tmp_path / "s.csv"), weights="w", batch_rows=500,
                     presorted=presorted, progress=False)
    _same(a, b)


def test_filter_pushdown_and_absorbed_regressor(files):
    d, df = files
    a = feols("y ~ x1 + z | unit + year", df[df["year"] >= 2003])
    with pytest.warns(UserWarning, match="'z' was dropped: absorbed"):
        b = feols_stream("y ~ x1 + z | unit + year", str(d / "part*.parquet"),
                         where="year >= 2003", progress=False)
    _same(a, b)


def test_missing_values_are_dropped_as_in_memory(tmp_path):
    df = _frame()
    df.loc[[3, 50, 51], "x1"] = np.nan
    df.loc[[7], "w"] = 0.0
    df.loc[[9], "region"] = None
    df.to_parquet(tmp_path / "m.parquet")
    fml = "y ~ x1 + x2 | unit + region^year"
    a = feols(fml, df, vcov={"CRV1": "grp"}, weights="w")
    b = feols_stream(fml, str(tmp_path / "m.parquet"), vcov={"CRV1": "grp"}, weights="w",
                     batch_rows=300, progress=False)
    _same(a, b)
    assert b.meta["dropped"] == a.meta["dropped"]


def test_large_effect_varying_within_units_is_a_clear_error(files):
    d, _ = files
    with pytest.raises(SpecError, match="'year' has more than max_fe_levels.*varies within"):
        feols_stream("y ~ x1 | unit + year", str(d / "part*.parquet"), max_fe_levels=5,
                     progress=False)


@pytest.mark.parametrize("fml, vcov, match", [
    ("y ~ x1 | unit^year", None, "first fixed effect 'unit\\^year' must be one column"),
    ("y ~ log(x1) | unit", None, "'log\\(x1\\)' is an expression"),
    ("y ~ x1", None, "needs the panel unit as first fixed effect"),
    ("y ~ 1 | unit | x1 ~ x2", None, "does not fit IV models"),
    ("y ~ x1 | unit[year]", None, "'unit\\[year\\]'"),
    ("y ~ x1 | unit", {"CRV1": "unit+year"}, "two-way clustering"),
    ("y ~ x1 | unit", {"CRV3": "unit"}, "CRV3"),
])
def test_unsupported_is_a_clear_error(files, fml, vcov, match):
    d, _ = files
    with pytest.raises(SpecError, match=match):
        feols_stream(fml, str(d / "part*.parquet"), vcov=vcov, progress=False)


def test_bad_columns_and_weights(files, tmp_path):
    d, df = files
    with pytest.raises(DataError, match="'nope'"):
        feols_stream("y ~ nope | unit", str(d / "part*.parquet"), progress=False)
    bad = df.copy()
    bad.loc[0, "w"] = -1.0
    bad.to_parquet(tmp_path / "neg.parquet")
    with pytest.raises(DataError, match="weights column 'w' must be non-negative numbers; "
                                        "1 rows are missing, negative"):
        feols_stream("y ~ x1 | unit", str(tmp_path / "neg.parquet"), weights="w",
                     progress=False)


@pytest.mark.parametrize("fmt", ["parquet", "text parquet", "csv"])
def test_bad_weights_are_refused_as_in_memory(tmp_path, fmt):
    # missing, NaN, infinite, negative or non-numeric weights raise feols' (and the
    # Design's) DataError with the count, instead of being dropped by the scan's filter
    df = _frame()
    bad = [2, 40, 41, 60, 61, 80]
    w = df["w"].astype(object)
    w[bad] = [None, np.nan, np.inf, -np.inf, -0.5, "abc" if fmt == "text parquet" else -1]
    path = tmp_path / f"w.{fmt.split()[-1]}"
    if fmt == "csv":
        df.assign(w=w.astype(float)).to_csv(path, index=False)
    elif fmt == "text parquet":  # a string column: numbers as text and one word
        df.assign(w=w.map(lambda v: None if v is None else str(v))).to_parquet(path)
    else:  # a float column with a null, NaN and infinities
        df.assign(w=w.astype(float)).to_parquet(path)
    data = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    data["w"] = pd.to_numeric(data["w"], errors="coerce")  # pandas: "abc" as NaN
    fml = "y ~ x1 | unit + year"
    msg = "weights column 'w' must be non-negative numbers; 6 rows are missing, negative"
    with pytest.raises(DataError, match=msg):
        feols(fml, data, weights="w")
    with pytest.raises(DataError, match=msg + " or not numbers; fix or drop them"):
        feols_stream(fml, str(path), weights="w", progress=False)
    # rows outside the sample (where=) are not the model's: their weights are not checked
    units = df.loc[bad, "unit"].unique().tolist()
    ok = feols_stream(fml, str(path), weights="w", progress=False,
                      where=f"unit NOT IN ({', '.join(map(str, units))})")
    sub = data[~data["unit"].isin(units)]
    _same(feols(fml, sub, weights="w"), ok)


def test_backticked_names_are_columns(tmp_path):
    df = _frame().rename(columns={"x1": "x-1 (亿元)", "region": "地区"})
    df.to_parquet(tmp_path / "odd.parquet")
    fml = "y ~ `x-1 (亿元)` + x2 | unit + year^地区"
    a = feols(fml, df, vcov={"CRV1": "地区"})
    b = feols_stream(fml, str(tmp_path / "odd.parquet"), vcov={"CRV1": "地区"},
                     batch_rows=500, progress=False)
    _same(a, b)


@pytest.mark.parametrize("weights", [None, "w"])
def test_unit_walk_and_level_table_agree(files, weights, monkeypatch):
    # the small-FE block A is corrected from a units x levels table when the table is
    # small, else by walking each unit's rows: both equal the in-memory fit
    import policylab.engine.streaming as st

    d, df = files
    fml = "y ~ x1 + x2 | unit + year + region^year"
    a = feols(fml, df, vcov={"CRV1": "unit"}, weights=weights)
    monkeypatch.setattr(st, "LEVEL_TABLE_ENTRIES", 0)
    _same(a, feols_stream(fml, str(d / "part*.parquet"), vcov={"CRV1": "unit"},
                          weights=weights, progress=False))


@pytest.mark.parametrize("presorted", [False, True])
def test_thread_count_does_not_change_the_numbers(files, presorted):
    # chunks' sums are folded in the chunks' order whatever thread finished first
    d, df = files
    fml = "y ~ x1 + x2 | unit + year + region^year"
    src = str(d / ("sorted.parquet" if presorted else "part*.parquet"))
    kw = dict(vcov={"CRV1": "cross"}, weights="w", batch_rows=300, presorted=presorted,
              progress=False)
    one = feols_stream(fml, src, workers=1, **kw)
    three = feols_stream(fml, src, workers=3, **kw)
    _same(feols(fml, df, vcov={"CRV1": "cross"}, weights="w"), three)
    if presorted:  # the same rows in the same order: bit for bit
        np.testing.assert_array_equal(one.coef(), three.coef())
        np.testing.assert_array_equal(one.se(), three.se())
    else:  # the scan may hand over batches in another order: rounding only
        np.testing.assert_allclose(one.coef(), three.coef(), rtol=1e-12)
        np.testing.assert_allclose(one.se(), three.se(), rtol=1e-12)


@pytest.mark.parametrize("weights", [None, "w"])
def test_three_small_effects_and_a_cluster_across_units(files, weights):
    # year, region^year and 'cross' (varies within units) as dense blocks, clustered
    # by a column that is neither the unit nor nested in it
    d, df = files
    fml = "y ~ x1 + x2 | unit + year + region^year + cross"
    a = feols(fml, df, vcov={"CRV1": "grp"}, weights=weights)
    b = feols_stream(fml, str(d / "part*.parquet"), vcov={"CRV1": "grp"}, weights=weights,
                     batch_rows=250, progress=False)
    _same(a, b)


def test_spill_opens_partitions_per_write_when_file_handles_are_short(files, monkeypatch):
    import resource

    d, df = files
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    monkeypatch.setattr(resource, "getrlimit", lambda what: (40, hard))
    fml = "y ~ x1 + x2 | unit + year"
    _same(feols(fml, df), feols_stream(fml, str(d / "part*.parquet"), batch_rows=100,
                                       progress=False))


def test_integer_columns_are_numbers(tmp_path):
    # Arrow hands back float columns read-only and converted integer ones writable: the
    # compiled scatter took them as one tuple and failed to compile on the mix
    df = _frame()
    df["k"] = (df["unit"] * 7 + df["year"]) % 5  # an integer regressor
    df.to_parquet(tmp_path / "int.parquet")
    fml = "y ~ x1 + k | unit + year"
    a = feols(fml, df, weights="w")
    b = feols_stream(fml, str(tmp_path / "int.parquet"), weights="w", progress=False)
    _same(a, b)

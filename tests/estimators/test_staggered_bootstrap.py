"""att_gt's one multiplier bootstrap: the aggregations reuse its draws, the generator
is the exact Mammen stream, float32 products agree with float64, and the wide-matrix
data path gives the same numbers whatever the row order or id type."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import DataError
from policylab.estimators.staggered import (
    _bootstrap_draws,
    _multiplier_bootstrap,
    _random_bytes,
)

VAL = Path(__file__).parents[1] / "validation"
KW = dict(y="lemp", unit="countyreal", time="year", cohort="first.treat")
KINDS = ("simple", "dynamic", "group", "calendar")
# float32 block products against float64: measured at most 2.3e-6 (SEs relative and
# sup-t critical values absolute) on mpdta and on the 1M-row benchmark panel, 999 draws
F32_TOL = 1e-5


@pytest.fixture(scope="module")
def mpdta():
    d = pd.read_csv(VAL / "data" / "mpdta.csv")
    return d.assign(state=d.countyreal // 1000)


def _mammen_numpy(S: np.ndarray, n: int, draws: int, seed: int, chunk: int = 128
                  ) -> np.ndarray:
    """The Mammen bootstrap written out in plain numpy (the generator as it was before
    the compiled path): one byte per weight, ties settled by uniforms in flat order."""
    nc = S.shape[0]
    rng = np.random.default_rng(seed)
    s5 = np.sqrt(5.0)
    lo, hi, p_lo = -(s5 - 1) / 2, (s5 + 1) / 2, (s5 + 1) / (2 * s5)
    cut = int(np.floor(256 * p_lo))
    frac = 256 * p_lo - cut
    out = np.empty((draws, S.shape[1]))
    for start in range(0, draws, chunk):
        m = min(chunk, draws - start)
        u = rng.integers(0, 256, size=(m, nc), dtype=np.uint8)
        b = u < cut
        tie = np.flatnonzero(u == cut)
        if tie.size:
            b.ravel()[tie] = rng.random(tie.size) < frac
        out[start:start + m] = (hi * S.sum(axis=0) + (lo - hi) * (b @ S)) / n
    return out


@pytest.mark.parametrize("shape", [(128, 1000), (7, 13), (3, 8), (128, 20_001)])
def test_random_bytes_are_the_integers_stream(shape):
    # the fast byte path must leave the generator where integers() would, including
    # after a call that leaves half of a 64-bit output buffered
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    got = [_random_bytes(a, *shape), a.random(5), _random_bytes(a, 3, 5),
           _random_bytes(a, *shape), a.random(3)]
    want = [b.integers(0, 256, size=shape, dtype=np.uint8), b.random(5),
            b.integers(0, 256, size=(3, 5), dtype=np.uint8),
            b.integers(0, 256, size=shape, dtype=np.uint8), b.random(3)]
    for x, y in zip(got, want):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("nc", [5003, 40_000])
def test_compiled_mammen_equals_plain_numpy(nc):
    # same multipliers as the plain route (40,000 clusters: several blocks per row)
    rng = np.random.default_rng(0)
    S = rng.normal(size=(nc, 4))
    S -= S.mean(axis=0)
    got = _bootstrap_draws(S, nc, 300, 4, "mammen", single=False)
    np.testing.assert_allclose(got, _mammen_numpy(S, nc, 300, 4), rtol=0, atol=1e-13)


def test_mammen_weights_moments():
    # one cluster with S = 1: the draws are the multipliers themselves
    v = _bootstrap_draws(np.ones((1, 1)), 1, 200_000, 9, "mammen")[:, 0]
    assert v.mean() == pytest.approx(0, abs=0.01)
    assert v.var() == pytest.approx(1, abs=0.01)
    assert (v**3).mean() == pytest.approx(1, abs=0.03)
    assert len(np.unique(v.round(12))) == 2


def test_draws_are_linear_in_the_columns():
    # bootstrapping [F, G] and mapping equals bootstrapping the mapped columns (same
    # seed): the identity the aggregations rely on
    rng = np.random.default_rng(1)
    E = rng.normal(size=(3000, 5))
    M = rng.normal(size=(5, 3))
    for w in ("mammen", "rademacher"):
        a = _bootstrap_draws(E, 3000, 257, 2, w, single=False) @ M
        b = _bootstrap_draws(E @ M, 3000, 257, 2, w, single=False)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("cluster", [None, "state"])
def test_aggregations_reuse_the_draws_of_att_gt(mpdta, cluster):
    # the aggregation's bands come from att_gt's draws times a fixed matrix; they equal
    # a direct bootstrap of the aggregated influence function with the same seed (the
    # direct one in float64, ours through float32 block products: F32_TOL)
    r = pl.att_gt(mpdta, **KW, cluster=cluster, bootstrap=True, draws=499, seed=7)
    key, draws = r.boot_key, r.boot
    se, crit, _ = _multiplier_bootstrap(r.inf, r.clusters, 499, 7, "mammen", 0.95,
                                        single=False)
    np.testing.assert_allclose(r.cells["std_error"], se, rtol=F32_TOL)
    assert r.meta["band_crit"] == pytest.approx(crit, abs=F32_TOL)
    for kind in KINDS:
        a = r.aggregate(kind)
        se, crit, _ = _multiplier_bootstrap(a.inf, r.clusters, 499, 7, "mammen", 0.95,
                                            single=False)
        np.testing.assert_allclose(a.se().to_numpy(), se, rtol=F32_TOL)
        if kind != "simple":
            _, crit_by, _ = _multiplier_bootstrap(a.inf[:, 1:], r.clusters, 499, 7,
                                                  "mammen", 0.95, single=False)
            assert a.meta["band_crit"] == pytest.approx(crit_by, abs=F32_TOL)
    # no second bootstrap was run
    assert r.boot_key == key and r.boot is draws


def test_aggregate_influence_functions_give_the_analytic_ses(mpdta):
    r = pl.att_gt(mpdta, **KW)
    for kind in KINDS:
        a = r.aggregate(kind)
        se = np.sqrt((a.inf**2).sum(axis=0)) / a.inf.shape[0]
        np.testing.assert_allclose(a.se().to_numpy(), se, rtol=1e-12)


def test_float32_products_match_float64(mpdta):
    r = pl.att_gt(mpdta, **KW)
    for F in [r.inf, *(r.aggregate(k).inf for k in KINDS)]:
        s32, c32, o32 = _multiplier_bootstrap(F, None, 999, 1, "mammen", 0.95)
        s64, c64, o64 = _multiplier_bootstrap(F, None, 999, 1, "mammen", 0.95,
                                              single=False)
        assert np.abs(o32 - o64).max() < F32_TOL * np.nanmin(s64)
        np.testing.assert_allclose(s32, s64, rtol=F32_TOL)
        assert c32 == pytest.approx(c64, abs=F32_TOL)


def test_other_bootstrap_settings_draw_anew(mpdta):
    r = pl.att_gt(mpdta, **KW, bootstrap=True, draws=299, seed=1)
    same = r.aggregate("dynamic")
    other = r.aggregate("dynamic", seed=2)
    assert r.boot_key == (299, 2, "mammen")
    assert not np.allclose(same.se(), other.se())
    # back to att_gt's settings: the same numbers as before
    again = r.aggregate("dynamic", seed=1)
    np.testing.assert_array_equal(again.se(), same.se())
    # an att_gt without bootstrap draws on first use and then keeps the draws
    plain = pl.att_gt(mpdta, **KW)
    assert plain.boot is None
    d1 = plain.aggregate("group", bootstrap=True, draws=299, seed=1)
    assert plain.boot_key == (299, 1, "mammen")
    np.testing.assert_allclose(d1.se(), r.aggregate("group").se(), rtol=1e-12)


def test_row_order_and_id_types_do_not_matter(mpdta):
    base = pl.att_gt(mpdta, **KW, bootstrap=True, draws=199, seed=4)
    shuffled = mpdta.sample(frac=1, random_state=2).assign(
        countyreal=lambda d: "c" + d.countyreal.astype(str).str.zfill(6))
    r = pl.att_gt(shuffled, **KW, bootstrap=True, draws=199, seed=4)
    pd.testing.assert_frame_equal(r.tidy(), base.tidy(), rtol=1e-12)
    pd.testing.assert_frame_equal(r.aggregate("dynamic").tidy(),
                                  base.aggregate("dynamic").tidy(), rtol=1e-12)


def test_duplicate_and_missing_ids_raise(mpdta):
    with pytest.raises(DataError, match="duplicate"):
        pl.att_gt(pd.concat([mpdta, mpdta.iloc[:1]]), **KW)
    bad = mpdta.astype({"countyreal": float})
    bad.loc[3, "countyreal"] = np.nan
    with pytest.raises(DataError, match="missing 'countyreal'"):
        pl.att_gt(bad, **KW)
    gap = mpdta.copy()
    gap["lemp"] = np.nan  # nothing left once the panel is balanced
    with pytest.raises(DataError, match="balanced"):
        pl.att_gt(gap, **KW)
    nocl = mpdta.astype({"state": float})
    nocl.loc[7, "state"] = np.nan
    with pytest.raises(DataError, match="cluster column 'state' is missing on 1 rows"):
        pl.att_gt(nocl, **KW, cluster="state")

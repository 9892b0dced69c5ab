"""The permutation test of heterogeneity() draws its permutations a chunk at a time from
one seeded stream: the draws, and so the statistics and p-values, do not depend on the
chunk size (memory budget), and the chunked streams are the documented ones."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
import policylab.estimators.heterogeneity as het
from policylab.data.datasets import energy_rights_pilot
from policylab.inference.randomization import (
    permutation_chunks,
    permuted_chunks,
    stratified_permutation_chunks,
)


@pytest.mark.parametrize("chunk", [1, 3, 7, 40, 1000])
def test_permutation_chunks_are_the_seeded_stream(chunk):
    n, draws, seed = 11, 40, 8
    rng = np.random.default_rng(seed)
    want = np.stack([rng.permutation(n) for _ in range(draws)])
    parts = list(permutation_chunks(n, draws, seed, chunk))
    assert all(len(p) <= chunk for p in parts)
    np.testing.assert_array_equal(np.concatenate(parts), want)


@pytest.mark.parametrize("chunk", [1, 3, 40])
def test_permuted_chunks_are_the_values_under_the_seeded_permutations(chunk):
    values = np.array([2, 0, 1, 1, 0, 2, 2, 0, 1, 0, 0], dtype=np.uint8)
    draws, seed = 40, 8
    perms = np.concatenate(list(permutation_chunks(len(values), draws, seed, draws)))
    parts = list(permuted_chunks(values, draws, seed, chunk))
    assert all(len(p) <= chunk and p.dtype == np.uint8 for p in parts)
    np.testing.assert_array_equal(np.concatenate(parts), values[perms])


@pytest.mark.parametrize("chunk", [1, 4, 40])
def test_stratified_permutation_chunks_are_the_seeded_stream(chunk):
    strata = np.array([2, 0, 1, 0, 2, 2, 1, 0, 0])
    draws, seed = 25, 3
    rng = np.random.default_rng(seed)
    want = np.tile(np.arange(len(strata)), (draws, 1))
    for r in range(draws):
        for c in (0, 1, 2):  # strata in order of their codes
            idx = np.flatnonzero(strata == c)
            want[r, idx] = idx[rng.permutation(len(idx))]
    got = np.concatenate(list(stratified_permutation_chunks(strata, draws, seed, chunk)))
    np.testing.assert_array_equal(got, want)
    # every draw moves positions only within their stratum
    assert (strata[got] == strata[None, :]).all()


@pytest.fixture(scope="module")
def data():
    p = energy_rights_pilot(seed=4)
    d = p.df[p.df.year >= 2013].copy()
    d["tercile"] = pd.factorize(d["city"])[0] % 3
    return p, d


def _run(monkeypatch, budget, data, case):
    """(p-value, statistic, draws) of the permutation test with ``budget`` bytes a task."""
    p, d = data
    monkeypatch.setattr(het, "PERMUTATION_CHUNK_BYTES", budget)
    seen = []
    real_p_values = het.p_values

    def capture(observed, draws, **kw):
        seen.append(np.asarray(draws).copy())
        return real_p_values(observed, draws, **kw)

    monkeypatch.setattr(het, "p_values", capture)
    real_draw_statistics = het.draw_statistics
    tasks = []

    def count(kernel, assignments, **kw):
        tasks.append([len(a) for a in assignments])
        return real_draw_statistics(kernel, assignments, **kw)

    monkeypatch.setattr(het, "draw_statistics", count)
    if case == "province":  # labels permuted across provinces (stratified stream)
        r = pl.heterogeneity(p, y="ln_ntt", treat="did", by=["old_industrial"],
                             controls=["ln_pgdp"], assign="province", permutation_draws=37,
                             bootstrap_draws=0, seed=11)
    else:  # across cities: balanced closed form, or weighted demeaning when unbalanced
        df = d if case == "balanced" else d.drop(d.index[::7])
        r = pl.heterogeneity(df, y="ln_ntt", treat="did", by=["tercile"],
                             controls=["ln_pgdp"], unit="city", time="year",
                             cluster="city", permutation_draws=37, bootstrap_draws=0, seed=11)
    perm = r.tests.set_index("test").loc["permutation"]
    return float(perm["p_value"]), float(perm["statistic"]), seen[-1], max(tasks[-1])


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", ["balanced", "unbalanced", "province"])
def test_chunk_size_does_not_change_the_permutation_test(monkeypatch, data, case):
    p_ref, s_ref, d_ref, size = _run(monkeypatch, het.PERMUTATION_CHUNK_BYTES, data, case)
    assert size == 37 and len(d_ref) == 37 and np.isfinite(d_ref).all()
    assert len(np.unique(d_ref)) > 10  # the draws differ from one another
    n_units = data[1]["city"].nunique()
    for budget in (1, 8 * n_units * 5):
        p, s, d, size = _run(monkeypatch, budget, data, case)
        assert size == 1 if budget == 1 else 1 <= size <= 5
        assert p == p_ref and s == s_ref
        np.testing.assert_allclose(d, d_ref, rtol=1e-12, atol=1e-14)


@pytest.mark.filterwarnings("ignore")
def test_joint_wild_purge_in_blocks_of_clusters(monkeypatch, data):
    """The joint wild difference test purges M(u 1_h) (year x group effects are not
    nested in the clusters) from cluster x level sums; where that does not apply, a block
    of clusters at a time: one cluster per block and the whole matrix at once give the
    statistic and every draw of the cluster-sum path."""
    import policylab.engine.bootstrap_kernels as bk
    import policylab.inference.joint_wild as jw
    import policylab.inference.wild as wild

    d = data[1]
    r = pl.heterogeneity(d, y="ln_ntt", treat="did", by=["tercile"], controls=["ln_pgdp"],
                         unit="city", time="year", cluster="city", permutation_draws=0,
                         bootstrap_draws=9, seed=2)
    # the difference model as heterogeneity() fits it (its result keeps no arrays)
    grp = d["tercile"].to_numpy()
    work = d.assign(_grp=grp, **{f"_Dx{j}": d["did"] * (grp == j) for j in (1, 2)},
                    **{f"_ln_pgdp{j}": d["ln_pgdp"] * (grp == j) for j in (0, 1, 2)})
    model = pl.feols("ln_ntt ~ did + _Dx1 + _Dx2 + _ln_pgdp0 + _ln_pgdp1 + _ln_pgdp2 "
                     "| city + year^_grp", work, vcov={"CRV1": "city"})
    kept = r.test_results[("tercile", "wild_bootstrap")]
    np.testing.assert_allclose(model.beta, kept.beta, rtol=1e-9)
    sums = jw.joint_wild_test(model, ["_Dx1", "_Dx2"], draws=99, seed=5)
    monkeypatch.setattr(bk, "purged_cluster_cross", lambda *a, **k: None)
    whole = jw.joint_wild_test(model, ["_Dx1", "_Dx2"], draws=99, seed=5)
    monkeypatch.setattr(wild, "_PURGE_BYTES", 1)
    blocks = jw.joint_wild_test(model, ["_Dx1", "_Dx2"], draws=99, seed=5)
    for other in (whole, blocks):
        assert other.statistic == pytest.approx(sums.statistic, rel=1e-10)
        np.testing.assert_allclose(other.stats, sums.stats, rtol=1e-10)
        assert other.p_value == sums.p_value
    assert len(np.unique(whole.stats)) > 50


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_compiled_shuffle_is_numpys_stream(dtype):
    """engine.shuffle.shuffled_rows (compiled at this size) gives the rows and the
    generator state numpy's rng.shuffle gives, half-used 32-bit words included."""
    from policylab.engine import shuffle

    values = np.random.default_rng(1).integers(0, 5, 30_000).astype(dtype)
    a, b = np.random.default_rng(99), np.random.default_rng(99)
    a.integers(0, 2**31, 1)  # leave half a 64-bit word buffered
    b.integers(0, 2**31, 1)
    got = shuffle.shuffled_rows(values, 4, a)
    want = np.tile(values, (4, 1))
    for row in want:
        b.shuffle(row)
    assert shuffle._compiled_ok()
    np.testing.assert_array_equal(got, want)
    assert a.bit_generator.state == b.bit_generator.state


@pytest.mark.filterwarnings("ignore")
def test_splits_permuted_across_units_share_the_stream_as_if_run_alone(data):
    """Splits permuted across units are drawn together (one stream, labels packed into
    one code per unit, a trait missing for some units included): each split's test
    equals the same split run alone."""
    d = data[1].copy()
    c = pd.factorize(d["city"])[0]
    d["tercile"] = d["tercile"].astype(float)
    d.loc[c % 11 == 0, "tercile"] = np.nan
    d["two"] = (c % 2).astype(float)
    d.loc[c % 13 == 0, "two"] = np.nan
    kw = dict(y="ln_ntt", treat="did", controls=["ln_pgdp"], unit="city", time="year",
              cluster="city", permutation_draws=60, bootstrap_draws=0, seed=3)
    splits = ["two", "tercile", "old_industrial"]
    together = pl.heterogeneity(d, by=splits, **kw).tests.set_index(["by", "test"])
    for col in splits:
        alone = pl.heterogeneity(d, by=[col], **kw).tests.set_index(["by", "test"])
        a, b = together.loc[(col, "permutation")], alone.loc[(col, "permutation")]
        assert a["level"] == "city" and a["draws"] == b["draws"] > 50
        assert a["p_value"] == b["p_value"] and a["statistic"] == b["statistic"]

"""Every draw-heavy step gives the same numbers serially, in worker processes and on a
local Dask cluster, and whatever the chunk size: the draws are made from the seed in the
calling process and only the statistics are computed in chunks."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
import policylab.inference.cs_pretest as cs_pretest_mod
import policylab.inference.placebo as placebo_mod
import policylab.inference.pretrend_ri as pretrend_mod
import policylab.inference.resampling as resampling_mod
from policylab.data.datasets import carbon_pilot, energy_rights_pilot

TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few draws, so every executor runs many tasks."""
    monkeypatch.setattr(placebo_mod, "_CHUNK", 7)
    monkeypatch.setattr(cs_pretest_mod, "_CHUNK", 6)
    monkeypatch.setattr(pretrend_mod, "_TASK", 5)
    monkeypatch.setattr(resampling_mod, "_CHUNK_DEMEAN", 4)
    monkeypatch.setattr(resampling_mod, "_CHUNK_BALANCED", 6)


def _placebo_panel(seed=0, n_groups=8, per_group=2, years=8, treated=3):
    rng = np.random.default_rng(seed)
    units = n_groups * per_group
    df = pd.DataFrame({"u": np.repeat(np.arange(units), years),
                       "t": np.tile(np.arange(2000, 2000 + years), units)})
    df["g"] = df["u"] // per_group
    df["d"] = ((df["g"] < treated) & (df["t"] >= 2004)).astype(int)
    df["x"] = rng.normal(size=len(df))
    df["y"] = 0.3 * df["d"] + 0.5 * df["x"] + rng.normal(size=len(df)) + 0.2 * df["u"]
    return df


def _energy():
    p = energy_rights_pilot(seed=4)
    return p.df[p.df.year >= 2013].copy()


def _runs(executor):
    """Each draw-heavy step's draws and p-values on ``executor``."""
    out = {}
    did = pl.did(_placebo_panel(), y="y", treat="d", unit="u", time="t", controls=["x"],
                 assign="g")
    for exact in (True, False):
        r = pl.placebo_test(did, exact=exact, draws=60, seed=3, executor=executor)
        out[f"placebo_exact={exact}"] = (r.estimates, r.tstats, r.p_value, r.p_value_coef)
    d = _energy()
    for name, data in (("balanced", d), ("unbalanced", d.drop(index=d.index[::17]))):
        h = pl.heterogeneity(data, y="ln_ntt", treat="did", by=["old_industrial"], unit="city",
                             time="year", controls=["ln_pgdp"], assign="province",
                             permutation_draws=25, bootstrap_draws=0, seed=5, executor=executor)
        perm = h.tests.set_index("test").loc["permutation"]
        out[f"heterogeneity_{name}"] = (perm["p_value"], perm["draws"])
    c = carbon_pilot(seed=3).df
    for name, data in (("balanced", c), ("unbalanced", c.drop(index=c.index[::13]))):
        m = pl.mediation(pl.Panel(data, "province", "year"), y="ln_co2", treat="did",
                         mediators=["coal_share"], controls=["ln_gdp"], draws=20, seed=9,
                         executor=executor)
        out[f"mediation_{name}"] = (m.boot_draws["coal_share"],
                                    m.effects[["boot_low", "boot_high", "bc_low"]].to_numpy())
        r = pl.did(pl.Panel(data, "province", "year"), y="ln_co2", treat="did",
                   controls=["ln_gdp"])
        out[f"cluster_bootstrap_{name}"] = (pl.cluster_bootstrap(
            r, draws=15, seed=5, executor=executor).draws,)
    es = pl.event_study(_placebo_panel(years=9).assign(
        cohort=lambda z: np.where(z["g"] < 3, 2005, 0)), y="y", unit="u", time="t",
        cohort="cohort", window=(-3, 2), controls=["x"], cluster="u")
    ri = pl.pretrend_ri_test(es, draws=23, seed=2, executor=executor)
    out["pretrend_ri"] = (ri.stats, ri.p_value)
    stag = carbon_pilot(seed=5, staggered=True).df
    for covs in ([], ["ln_gdp", "fdi"]):
        cs = cs_pretest_mod.cs_pretest_ri(stag, "ln_co2", "province", "year",
                                          covariates=covs, draws=20, seed=2,
                                          executor=executor)
        out[f"cs_pretest_ri_{len(covs)}"] = (cs.stats, cs.p_value)
    return out


# the covariate-adjusted CS pre-test solves its reassignments' regressions and logits
# as one batch per chunk: BLAS rounds a batch of another size differently, ~1e-11 of
# the statistic (its p-values, with ties within 1e-9, are the same)
LOOSER = {"cs_pretest_ri_2": dict(rtol=1e-9, atol=0)}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        for x, y in zip(a[k], b[k]):
            np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float),
                                       err_msg=k, **LOOSER.get(k, TOL))


@pytest.fixture(scope="module")
def reference():
    # serial, one chunk per step (the default chunk sizes exceed these draw counts)
    return _runs(None)


def test_chunk_size_does_not_change_a_number(reference, small_chunks):
    _assert_same(reference, _runs("serial"))


def test_processes_give_the_serial_numbers(reference, small_chunks):
    _assert_same(reference, _runs("processes"))


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_serial_numbers(reference, small_chunks):
    pytest.importorskip("dask.distributed")
    from policylab.execution import DaskExecutor

    with DaskExecutor(n_workers=2) as ex:
        _assert_same(reference, _runs(ex))

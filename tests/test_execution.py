import numpy as np
import pytest

from policylab.execution import chunk_plan, run_chunks


def _draw_chunk(chunk, shared):
    start, size, seedseq = chunk
    rng = np.random.default_rng(seedseq)
    return start, rng.normal(size=size) + shared["shift"]


def test_chunk_plan_depends_only_on_seed_and_size():
    a = chunk_plan(1000, 300, seed=7)
    assert [(s, n) for s, n, _ in a] == [(0, 300), (300, 300), (600, 300), (900, 100)]
    b = chunk_plan(1000, 300, seed=7)
    assert [x[2].generate_state(1)[0] for x in a] == [x[2].generate_state(1)[0] for x in b]


def test_serial_and_processes_give_identical_draws():
    shared = {"shift": 1.5}
    serial = run_chunks(_draw_chunk, 1000, shared=shared, seed=3, chunk_size=128)
    procs = run_chunks(_draw_chunk, 1000, shared=shared, seed=3, chunk_size=128,
                       executor="processes")
    assert [s for s, _ in serial] == list(range(0, 1000, 128))
    np.testing.assert_array_equal(np.concatenate([d for _, d in serial]),
                                  np.concatenate([d for _, d in procs]))


def test_dask_local_cluster_gives_identical_draws():
    pytest.importorskip("dask.distributed")
    from policylab.execution import DaskExecutor

    shared = {"shift": -2.0}
    serial = run_chunks(_draw_chunk, 600, shared=shared, seed=11, chunk_size=100)
    with DaskExecutor(n_workers=2) as ex:
        assert ex.n_workers == 2
        dask = run_chunks(_draw_chunk, 600, shared=shared, seed=11, chunk_size=100, executor=ex)
    np.testing.assert_array_equal(np.concatenate([d for _, d in serial]),
                                  np.concatenate([d for _, d in dask]))


def test_every_public_name_resolves():
    import policylab as pl

    for name in pl._LAZY:
        assert callable(getattr(pl, name)) or isinstance(getattr(pl, name), type), name
    for mod in pl._SUBMODULES:
        assert getattr(pl, mod).__name__.startswith("policylab")


def _die(shared, task):
    import os

    os._exit(3)  # a worker killed from inside (as the OOM killer or an abort would)


def test_a_dying_worker_becomes_a_clear_error():
    from policylab.errors import EstimationError
    from policylab.execution import ProcessExecutor

    with pytest.raises(EstimationError, match="worker process died"):
        ProcessExecutor(2).map(_die, [1, 2, 3])


def _shift_chunk(chunk, shared):
    # shared is a dict with the same keys in every run ("df", "ys"), as the estimators'
    start, size, seedseq = chunk
    import time

    time.sleep(0.01)  # keep both runs' chunks in flight together
    rng = np.random.default_rng(seedseq)
    return rng.normal(size=size) + shared["df"]["shift"] + 0 * len(shared["ys"])


def _spec_curve_data(effect, seed):
    import pandas as pd

    rng = np.random.default_rng(seed)
    units, years = 16, 8
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    df["treat"] = ((df["unit"] < 6) & (df["year"] >= 2004)).astype(float)
    df["x1"] = rng.normal(size=len(df))
    df["y"] = effect * df["treat"] + 0.5 * df["x1"] + rng.normal(size=len(df))
    return df


def test_two_runs_at_once_on_one_cluster_keep_their_own_data():
    """Two jobs with the same shared keys but different data, on one cluster at once,
    each equal their serial result (the cluster once mixed them: fixed scatter keys)."""
    pytest.importorskip("dask.distributed")
    from concurrent.futures import ThreadPoolExecutor

    from dask.distributed import Client, LocalCluster

    from policylab.estimators.spec_curve import spec_curve

    jobs = {"a": {"df": {"shift": 0.0}, "ys": ["y"]}, "b": {"df": {"shift": 0.5}, "ys": ["y"]}}
    serial = {k: np.concatenate(run_chunks(_shift_chunk, 400, shared=v, seed=1, chunk_size=20))
              for k, v in jobs.items()}
    data = {"a": _spec_curve_data(0.0, 1), "b": _spec_curve_data(0.5, 1)}
    kw = dict(unit="unit", time="year", controls={"none": [], "x1": ["x1"]},
              inference="permutation", draws=60, seed=4, chunk_size=10)
    curve_serial = {k: spec_curve(d, "y", "treat", **kw) for k, d in data.items()}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as c1, \
            Client(cluster, set_as_default=False) as c2:
        with ThreadPoolExecutor(2) as pool:
            draws = {k: pool.submit(run_chunks, _shift_chunk, 400, shared=v, seed=1,
                                    chunk_size=20, executor=c)
                     for (k, v), c in zip(jobs.items(), (c1, c2))}
            curves = {k: pool.submit(spec_curve, d, "y", "treat", executor=c, **kw)
                      for (k, d), c in zip(data.items(), (c1, c2))}
            draws = {k: np.concatenate(f.result()) for k, f in draws.items()}
            curves = {k: f.result() for k, f in curves.items()}
        # the clients passed in are the caller's: still open
        assert c1.status == "running" and c2.status == "running"
    for k in jobs:
        np.testing.assert_array_equal(draws[k], serial[k])
        got, want = curves[k], curve_serial[k]
        np.testing.assert_allclose(got.specs["estimate"], want.specs["estimate"], rtol=1e-10)
        np.testing.assert_allclose(got.meta["permutation_estimates"],
                                   want.meta["permutation_estimates"], rtol=1e-9, atol=1e-12)
    assert not np.allclose(curves["a"].specs["estimate"], curves["b"].specs["estimate"])


def test_shared_keys_differ_between_runs():
    pytest.importorskip("dask")
    from policylab.execution import shared_key

    a, b = {"df": [1, 2], "ys": ["y"]}, {"df": [1, 3], "ys": ["y"]}
    assert shared_key(a).startswith("policylab-shared-")
    assert shared_key(a) != shared_key(b)
    assert shared_key(a) != shared_key(a)  # two runs of the same job stay apart too


def test_an_executor_policylab_creates_is_closed():
    pytest.importorskip("dask.distributed")
    import policylab.execution as ex_mod

    made = []
    real = ex_mod.DaskExecutor

    class Spy(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    ex_mod.DaskExecutor = Spy
    try:
        out = ex_mod.run_chunks(_draw_chunk, 40, shared={"shift": 0.0}, seed=2,
                                chunk_size=20, executor="dask")
    finally:
        ex_mod.DaskExecutor = real
    assert len(out) == 2 and len(made) == 1
    assert made[0].client.status == "closed"

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

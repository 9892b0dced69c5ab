"""The compiled parallel kernels survive a fork after use (processes executor) and
concurrent calls from Python threads; small problems run them on one thread."""

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numba
import numpy as np

from policylab.engine import _passes
from policylab.engine.threads import threads_for

Z = np.random.default_rng(0).random((60_000, 3))
G1 = np.repeat(np.arange(6_000), 10)
G2 = np.tile(np.arange(10), 6_000)
WANT = np.stack([np.bincount(G2, weights=Z[:, j]) for j in range(3)])


def _sums(_: int) -> np.ndarray:
    return _passes.twoway_sums(Z, G1, G2, 6_000, 10, np.empty(0))[1]


def test_kernels_run_in_forked_workers_after_the_parent_used_them():
    np.testing.assert_allclose(_sums(0), WANT)  # the parent launches a parallel region
    with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
        for got in ex.map(_sums, range(4)):
            np.testing.assert_allclose(got, WANT)


def test_kernels_called_from_many_threads_at_once():
    with ThreadPoolExecutor(4) as ex:
        for got in ex.map(_sums, range(16)):
            np.testing.assert_allclose(got, WANT)


def test_small_problems_use_one_thread_and_restore_the_setting():
    _sums(0)
    assert numba.threading_layer() == "workqueue"  # chosen by us, not GNU OpenMP
    before = numba.get_num_threads()
    with threads_for(100_000):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before

"""Chunks of the lexicographic k-subsets: the compiled loop and the Python path give
the rows of itertools.combinations, in its order, from any rank."""

import itertools
import math

import numpy as np
import pytest

from policylab.engine import combinations as cb


@pytest.fixture(params=["python", "compiled"])
def path(request, monkeypatch):
    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.setattr(cb, "COMPILED_NUMBERS", 1)  # every chunk through the loop
    else:
        monkeypatch.setattr(cb, "COMPILED_NUMBERS", 10**18)
    return request.param


@pytest.mark.parametrize("n,k", [(7, 3), (10, 1), (9, 9), (12, 5), (6, 0)])
def test_chunks_are_the_rows_of_itertools_combinations(path, n, k):
    want = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64).reshape(
        math.comb(n, k), k)
    for start in range(len(want)):
        for size in (1, 4, 1000):
            got = cb.k_subsets(n, k, start, size)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want[start:start + size])


def test_a_large_enumeration_chunk_by_chunk_is_every_subset_once_in_order(path):
    n, k, chunk = 18, 6, 4_000
    total = math.comb(n, k)
    got = np.concatenate([cb.k_subsets(n, k, s, chunk) for s in range(0, total, chunk)])
    want = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), k)),
                       dtype=np.int64).reshape(-1, k)
    np.testing.assert_array_equal(got, want)


def test_unrank_is_the_inverse_of_the_position_in_the_enumeration():
    rows = list(itertools.combinations(range(11), 4))
    for rank in (0, 1, 57, len(rows) - 1):
        assert tuple(cb.unrank_subset(11, 4, rank)) == rows[rank]

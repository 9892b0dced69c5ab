"""The randomization-inference core: one p-value convention, one tie tolerance, and
assignments cut into chunks without changing a draw."""

import itertools
import math

import numpy as np
import pytest

from policylab.inference.randomization import (
    TIE_RTOL,
    combinations_from,
    draw_statistics,
    enumerated_statistics,
    p_values,
    permutations,
    rechunk,
)


def test_exact_p_is_the_share_of_assignments_at_least_as_extreme():
    draws = np.array([-3.0, -1.0, 0.5, 1.0, 2.0, 2.0])
    p = p_values(2.0, draws, exact=True)
    # two-sided: |d| >= 2 -> -3, 2, 2; left: d <= 2 -> all six; right: d >= 2 -> 2, 2
    assert (p.two_sided, p.left, p.right) == (3 / 6, 6 / 6, 2 / 6)
    assert p.draws == 6 and p.degenerate == 0


def test_sampled_p_counts_the_real_assignment_once_more():
    draws = np.array([-3.0, -1.0, 0.5, 1.0, 2.5])
    p = p_values(2.0, draws, exact=False)
    assert (p.two_sided, p.left, p.right) == ((1 + 2) / 6, (1 + 4) / 6, (1 + 1) / 6)


def test_ties_within_the_tolerance_count_as_extreme_and_beyond_it_do_not():
    obs = 1.7
    inside = obs * (1 - 0.5 * TIE_RTOL)
    outside = obs * (1 - 10 * TIE_RTOL)
    p = p_values(obs, np.array([inside, outside, -inside]), exact=True)
    assert p.right == pytest.approx(1 / 3)
    assert p.two_sided == pytest.approx(2 / 3)
    assert p.left == pytest.approx(1.0)


def test_degenerate_draws_leave_both_counts():
    p = p_values(1.0, np.array([2.0, np.nan, 0.0, np.inf]), exact=False)
    assert p.draws == 2 and p.degenerate == 2
    assert p.two_sided == pytest.approx((1 + 1) / 3)


@pytest.mark.parametrize("n,k", [(7, 3), (10, 1), (9, 9), (12, 5)])
def test_enumeration_chunks_are_the_rows_of_itertools_combinations(n, k):
    want = np.array(list(itertools.combinations(range(n), k)))
    assert len(want) == math.comb(n, k)
    for start in range(len(want)):
        for size in (1, 4, 1000):
            np.testing.assert_array_equal(combinations_from(n, k, start, size),
                                          want[start:start + size])


def _first_two(chunk, shared):
    return chunk[:, :2] + shared


def test_enumerated_statistics_cover_every_subset_once_in_order():
    got = enumerated_statistics(_first_two, 8, 3, shared=0, chunk_size=5)
    want = np.array(list(itertools.combinations(range(8), 3)))[:, :2]
    np.testing.assert_array_equal(got, want)


def test_permutations_are_the_historic_stream():
    rng = np.random.default_rng(11)
    want = np.stack([rng.permutation(9) for _ in range(5)])
    np.testing.assert_array_equal(permutations(9, 5, 11), want)


@pytest.mark.parametrize("size", [1, 3, 7, 50])
def test_rechunk_keeps_every_row_in_order(size):
    blocks = [np.arange(i * 10, i * 10 + n).reshape(-1, 1) for i, n in enumerate((4, 9, 2))]
    chunks = rechunk(blocks, size)
    assert all(len(c) == size for c in chunks[:-1]) and 0 < len(chunks[-1]) <= size
    np.testing.assert_array_equal(np.concatenate(chunks), np.concatenate(blocks))


def _row_sums(chunk, shared):
    return chunk.sum(axis=1) * shared["scale"], chunk[:, 0]


def test_draw_statistics_join_tuple_outputs_in_row_order():
    rows = permutations(6, 23, 3)
    a, b = draw_statistics(_row_sums, rows, shared={"scale": 2.0}, chunk_size=5)
    np.testing.assert_array_equal(a, rows.sum(axis=1) * 2.0)
    np.testing.assert_array_equal(b, rows[:, 0])


def test_stratified_permutations_move_positions_only_within_their_stratum():
    from policylab.inference.randomization import stratified_permutations

    strata = np.array([1, 0, 1, 2, 0, 1, 1])
    P = stratified_permutations(strata, 400, seed=3)
    assert P.shape == (400, 7)
    assert (np.sort(P, axis=1) == np.arange(7)).all()  # each row a permutation
    assert (strata[P] == strata).all()  # position i receives one of its stratum
    np.testing.assert_array_equal(P, stratified_permutations(strata, 400, seed=3))
    # the 4-position stratum takes each of its members about equally often at its first
    # position (400 draws: expected 100 each, binomial SD 8.7)
    counts = np.bincount(P[:, 0], minlength=7)[[0, 2, 5, 6]]
    assert counts.min() > 60 and counts.sum() == 400
    assert (P[:, 3] == 3).all()  # a stratum of one stays put

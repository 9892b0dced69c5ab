"""Building blocks of the out-of-core fit: unit codes and hash partitions."""

import numpy as np
import pandas as pd
import pytest

from policylab.engine.streaming import code_keys, group_by_partition, partition_of, split_rows


@pytest.mark.parametrize("bits", [0, 3])
def test_code_keys_codes_by_first_appearance_and_counts_rows(bits):
    rng = np.random.default_rng(0)
    keys = rng.integers(-(2**40), 2**40, 5_000)
    keys = keys[partition_of(keys, bits) == 0]  # one partition, as the spill gives them
    rows = rng.choice(keys, 20_000)  # many rows per key: the table grows past its start
    codes, counts = code_keys(rows, bits)
    expected, uniques = pd.factorize(rows)  # also in order of first appearance
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_array_equal(counts, np.bincount(expected))
    assert len(counts) == len(uniques)
    # more distinct keys than the first table holds (all rows distinct)
    distinct = np.arange(10_000) * 7919
    np.testing.assert_array_equal(code_keys(distinct)[0], np.arange(10_000))


def test_partition_of_keeps_keys_together_and_spreads_them():
    keys = np.arange(1_000_000, 1_100_000) * 8  # strided ids
    p = partition_of(keys, 4)
    np.testing.assert_array_equal(p, partition_of(keys.copy(), 4))
    counts = np.bincount(p, minlength=16)
    assert counts.min() > 0.9 * len(keys) / 16  # even within 10%
    assert (partition_of(keys, 0) == 0).all()


@pytest.mark.parametrize("bits", [0, 1, 5])
def test_group_by_partition_is_a_stable_grouping_by_partition_of(bits):
    rng = np.random.default_rng(1)
    key = rng.integers(-1000, 10**9, 3_000)  # negative keys wrap as in partition_of
    F = rng.standard_normal((3_000, 3))
    K = np.column_stack([key, np.arange(3_000)])
    rows, bounds = group_by_partition(list(F.T), [key, np.arange(3_000)], bits)
    Fo, Ko = split_rows(rows, 3)
    order = np.argsort(partition_of(key, bits), kind="stable")
    np.testing.assert_array_equal(Ko, K[order])
    np.testing.assert_array_equal(Fo, F[order])
    np.testing.assert_array_equal(np.diff(bounds), np.bincount(partition_of(key, bits),
                                                               minlength=2**bits))

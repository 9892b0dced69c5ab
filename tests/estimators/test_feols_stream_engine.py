"""Building blocks of the out-of-core fit: unit codes and hash partitions."""

import numpy as np

from policylab.engine.streaming import UnitCoder, partition_of


def test_unit_coder_codes_by_first_appearance_and_refuses_wide_keys():
    coder = UnitCoder(max_span=1000)
    a = np.array([907, 5, 907, 12, 5, 300])
    np.testing.assert_array_equal(coder.codes(a), [0, 1, 0, 2, 1, 3])
    # the table is reused: a second chunk starts again at 0, with keys below the first
    np.testing.assert_array_equal(coder.codes(np.array([3, -40, 3])), [0, 1, 0])
    assert coder.codes(np.array([0, 5000])) is None  # span above max_span: caller hashes


def test_partition_of_keeps_keys_together_and_spreads_them():
    keys = np.arange(1_000_000, 1_100_000) * 8  # strided ids
    p = partition_of(keys, 4)
    np.testing.assert_array_equal(p, partition_of(keys.copy(), 4))
    counts = np.bincount(p, minlength=16)
    assert counts.min() > 0.9 * len(keys) / 16  # even within 10%
    assert (partition_of(keys, 0) == 0).all()

"""The balanced two-way bootstrap Gram matrices summed per resampled block."""

import numpy as np

from policylab.engine import bootstrap_kernels as bk


def test_block_sums_give_the_weighted_demeaning_grams():
    # units nested in 7 blocks, weights constant within a block (a cluster bootstrap):
    # the per-block closed form must equal weighted two-way demeaning per draw
    rng = np.random.default_rng(4)
    n_u, n_t, k = 40, 6, 3
    unit = np.repeat(np.arange(n_u), n_t)
    time = np.tile(np.arange(n_t), n_u)
    Z = rng.normal(size=(n_u * n_t, k)) + unit[:, None] * 0.1
    unit_block = rng.integers(0, 7, n_u)
    unit_block[:7] = np.arange(7)
    W = bk.cluster_weights(7, 12, np.random.default_rng(1))
    W[W.sum(axis=1) == 0, 0] = 1.0
    Qb, Sb, Nb = bk.balanced_block_sums(Z, unit, time, unit_block, 7)
    fast = bk.block_grams(Qb, Sb, Nb, W)
    fe = np.column_stack([unit, time])
    slow = bk.weighted_grams(Z, fe, W[:, unit_block[unit]])
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-10)
    per_unit = bk.balanced_grams(Z, unit, time, W[:, unit_block])
    np.testing.assert_allclose(fast, per_unit, rtol=1e-12, atol=1e-12)


def test_block_sums_do_not_depend_on_row_order_or_the_number_of_blocks():
    # rows in unit-then-period order (one copy) or shuffled (scattered), few blocks
    # (one product per block) or every unit its own block (per-unit sums): the same
    # sums to rounding
    rng = np.random.default_rng(5)
    n_u, n_t, k = 30, 5, 4
    unit = np.repeat(np.arange(n_u), n_t)
    time = np.tile(np.arange(n_t), n_u)
    Z = rng.normal(size=(n_u * n_t, k)) + unit[:, None] * 0.2
    unit_block = rng.integers(0, 4, n_u)
    unit_block[:4] = np.arange(4)
    sorted_sums = bk.balanced_block_sums(Z, unit, time, unit_block, 4)
    perm = rng.permutation(len(Z))
    shuffled = bk.balanced_block_sums(Z[perm], unit[perm], time[perm], unit_block, 4)
    Qu, Su, _ = bk.balanced_block_sums(Z, unit, time, np.arange(n_u), n_u)
    by_unit = (np.stack([Qu[unit_block == b].sum(axis=0) for b in range(4)]),
               np.stack([Su[unit_block == b].sum(axis=0) for b in range(4)]),
               np.bincount(unit_block).astype(float))
    for other in (shuffled, by_unit):
        for a, b in zip(sorted_sums, other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

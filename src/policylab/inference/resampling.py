"""One resampling core: cluster (pairs) bootstrap indices and weighted Gram draws.

The pairs cluster bootstrap (``cluster_bootstrap``), the mediation bootstrap and the
heterogeneity permutation test all need the same thing: for many draws, each a vector of
*block weights* (how often each cluster is drawn; or 1 for the units a permutation puts
in a group and 0 for the others), the Gram matrix of the columns [y, D, ...] demeaned by
the model's fixed effects with those weights. Every coefficient of every equation of a
draw is a small solve on that Gram matrix
(:func:`policylab.engine.bootstrap_kernels.solve_stack`).

- :func:`cluster_multiplicities` draws the bootstrap: draw b resamples the clusters
  ``rng.integers(0, G, (draws, G))[b]`` (one seeded stream, drawn in this process; the
  same numbers policylab has always drawn for a seed), as multiplicities.
- :func:`weighted_gram_draws` evaluates the Gram matrices of all draws in chunks through
  :func:`policylab.execution.map_tasks`, so serial, process and Dask executors give the
  same numbers: in closed form for balanced two-way panels whose units are nested in the
  resampled blocks (only the weighted time means move), by weighted demeaning per draw
  otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from policylab.engine import bootstrap_kernels as bk
from policylab.engine import fixed_effects as fx
from policylab.engine.threads import one_blas_thread

__all__ = ["cluster_resamples", "cluster_multiplicities", "GramDraws",
           "weighted_gram_draws"]

#: draws per executor task: one weighted demeaning per draw (milliseconds each) ...
_CHUNK_DEMEAN = 64
#: ... or a slice of the balanced closed form (microseconds per draw)
_CHUNK_BALANCED = 2000


def cluster_resamples(n_clusters: int, draws: int, seed: int | None) -> np.ndarray:
    """(draws x G) cluster indices: draw b takes clusters ``out[b]`` (with replacement)."""
    return np.random.default_rng(seed).integers(0, n_clusters, (draws, n_clusters))


def cluster_multiplicities(n_clusters: int, draws: int, seed: int | None) -> np.ndarray:
    """(draws x G) how often each cluster is drawn (a cluster drawn k times enters the
    resampled data k times, i.e. with weight k)."""
    # the engine draws rng.integers(0, G, (draws, G)): the rows of cluster_resamples
    return bk.cluster_weights(n_clusters, draws, np.random.default_rng(seed))


@dataclass
class GramDraws:
    """What every chunk of draws needs (sent to each worker once).

    ``Z`` (n x k) raw columns; ``block`` (n,) dense code of each row's resampled block
    (cluster or unit); ``fe`` (n x m) fixed-effect codes or None (intercept only);
    ``weights`` (n,) observation weights or None; ``twoway`` (unit codes, time codes)
    when the closed form applies (balanced panel, unit and time effects only, no
    weights, units nested in blocks), else None.
    """

    Z: np.ndarray
    block: np.ndarray
    fe: np.ndarray | None
    weights: np.ndarray | None
    twoway: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def method(self) -> str:
        """How each draw's Gram matrix is formed (recorded in results' meta)."""
        return ("closed-form balanced two-way" if self.twoway is not None
                else "weighted demeaning per draw")


def closed_form_twoway(unit: np.ndarray, time: np.ndarray, block: np.ndarray,
                       weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(unit, time) codes when the balanced two-way closed form is exact, else None."""
    if weights is not None or not fx.is_balanced_twoway(unit, time):
        return None
    if not fx.nested_in_check(unit, block):
        return None
    return unit, time


@dataclass
class _BlockSums:
    """The balanced closed form's sums per block (what its draws need; small)."""

    Qb: np.ndarray
    Sb: np.ndarray
    Nb: np.ndarray


def _block_sums(g: GramDraws, n_blocks: int) -> _BlockSums:
    unit, time = g.twoway  # type: ignore[misc]
    unit_block = np.zeros(int(unit.max()) + 1, dtype=np.int64)
    unit_block[unit] = g.block
    return _BlockSums(*bk.balanced_block_sums(g.Z, unit, time, unit_block, n_blocks))


def _gram_chunk(W: np.ndarray, g: GramDraws | _BlockSums) -> np.ndarray:
    """Gram matrices of one chunk of block-weight rows (an executor task)."""
    # wide, short products: BLAS's thread pool costs more than it saves here
    with one_blas_thread():
        return _grams_of(W, g)


def _grams_of(W: np.ndarray, g: GramDraws | _BlockSums) -> np.ndarray:
    if isinstance(g, _BlockSums):
        return bk.block_grams(g.Qb, g.Sb, g.Nb, W)
    if g.twoway is not None:
        unit, time = g.twoway
        unit_block = np.zeros(int(unit.max()) + 1, dtype=np.int64)
        unit_block[unit] = g.block
        return bk.balanced_grams(g.Z, unit, time, W[:, unit_block])
    row_w = W[:, g.block] * (1.0 if g.weights is None else g.weights[None, :])
    return bk.weighted_grams(g.Z, g.fe, row_w)


def weighted_gram_draws(g: GramDraws, W: np.ndarray, *, executor: Any = None,
                        progress: str | None = None) -> np.ndarray:
    """(draws x k x k) weighted Gram matrices of the demeaned columns, one per row of
    the block weights ``W`` (draws x blocks), computed in chunks on ``executor``."""
    from policylab.inference.randomization import draw_statistics

    size = _CHUNK_BALANCED if g.twoway is not None else _CHUNK_DEMEAN
    if len(W) == 0:
        return np.zeros((0, g.Z.shape[1], g.Z.shape[1]))
    # balanced closed form: weights are constant within a block, so its sums are taken
    # per block once and every draw costs O(blocks), whatever the number of rows
    shared = g if g.twoway is None else _block_sums(g, W.shape[1])
    return draw_statistics(_gram_chunk, W, shared=shared, chunk_size=size,
                           executor=executor, progress=progress)

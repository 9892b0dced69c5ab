"""One randomization-inference core: assignments, chunked statistics, one p-value rule.

Every randomization (permutation / placebo) test in policylab has the same three parts:

1. **Assignments**, drawn in the calling process from one seeded stream
   (:func:`permutations`, or the caller's own sampler); an exact enumeration's
   assignments are instead built chunk by chunk where they are used
   (:func:`enumerated_statistics`). They are small integer arrays, so drawing them up front costs
   little, and it makes the draws depend only on the seed: never on the executor, the
   number of workers or the chunk size.
2. **The statistic of each assignment**, computed by a batched kernel
   ``kernel(block, shared)`` on chunks of assignments through
   :func:`policylab.execution.map_tasks` (serial, local processes or Dask; BLAS is held to
   one thread per chunk, so every executor returns the same numbers).
3. **The p-value**, by :func:`p_values` with one tie tolerance and one convention.

The p-value convention (that of ``placebo_test`` since its first release):

- A draw is *at least as extreme* as the observed statistic ``s`` when, two-sided,
  ``|d| >= |s| - tol``; left, ``d <= s + tol``; right, ``d >= s - tol``, with
  ``tol = TIE_RTOL * max(|s|, TIE_FLOOR)``. Draws that reproduce the real assignment
  (or an equivalent one) equal ``s`` in exact arithmetic but may differ from it in the
  last bits, because they are computed by another (batched) route; the tolerance counts
  them as extreme, as the definition of the test requires.
- **Exact enumeration** (every assignment, the real one among them):
  ``p = #extreme / #assignments``.
- **Random draws**: ``p = (1 + #extreme) / (1 + #draws)``, the real assignment counted as
  one more draw (Phipson and Smyth 2010); never zero.
- Draws whose statistic is not finite (a reassignment that leaves some regression
  without treated or control units) are left out of both counts and reported as
  ``degenerate``.
- Statistics where only large values are extreme (a Wald statistic, a spread of group
  estimates) use the right tail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from policylab.engine.combinations import k_subsets

__all__ = ["TIE_RTOL", "TIE_FLOOR", "PValues", "p_values", "permutations",
           "stratified_permutations", "permutation_chunks", "permuted_chunks",
           "stratified_permutation_chunks", "combinations_from", "rechunk", "draw_statistics",
           "enumerated_statistics"]

#: relative tolerance under which a draw ties with the observed statistic
TIE_RTOL = 1e-9
#: scale floor of the tolerance when the observed statistic is (near) zero
TIE_FLOOR = 1e-12


@dataclass(frozen=True)
class PValues:
    """Randomization p-values of one observed statistic against its draws."""

    two_sided: float
    left: float
    right: float
    draws: int  # draws with a finite statistic (used in the p-values)
    degenerate: int  # draws left out: the statistic was not finite

    def as_tuple(self) -> tuple[float, float, float]:
        """(two-sided, left, right)."""
        return self.two_sided, self.left, self.right


def extreme(observed: float, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of draws at least as extreme as ``observed``: two-sided, left, right."""
    tol = TIE_RTOL * max(abs(observed), TIE_FLOOR)
    return (np.abs(draws) >= abs(observed) - tol, draws <= observed + tol,
            draws >= observed - tol)


def p_values(observed: float, draws: np.ndarray, *, exact: bool) -> PValues:
    """Two-sided, left and right p-values under the module's convention.

    Parameters
    ----------
    observed : float
        The statistic of the real assignment.
    draws : array
        The statistic of every drawn (or enumerated) assignment.
    exact : bool
        True when ``draws`` enumerate every assignment, the real one included
        (p = share extreme); False for random draws (p = (1 + count) / (1 + draws)).
    """
    d = np.asarray(draws, float).ravel()
    ok = np.isfinite(d)
    d = d[ok]
    n = len(d)
    masks = extreme(float(observed), d)
    if exact:
        ps = [float(m.sum() / n) if n else np.nan for m in masks]
    else:
        ps = [float((1 + m.sum()) / (1 + n)) for m in masks]
    return PValues(ps[0], ps[1], ps[2], n, int((~ok).sum()))


def permutations(n: int, draws: int, seed: int | None) -> np.ndarray:
    """(draws x n) random permutations of ``range(n)``, one seeded stream, row by row
    (``rng.permutation(n)`` per draw: the stream policylab has always used)."""
    if draws == 0:
        return np.zeros((0, n), dtype=np.int64)
    return next(permutation_chunks(n, draws, seed, draws))


def stratified_permutations(strata: np.ndarray, draws: int, seed: int | None
                            ) -> np.ndarray:
    """(draws x n) random permutations of ``range(n)`` that move each position only
    within its stratum (``strata``: a code per position), one seeded stream: per draw,
    ``rng.permutation`` of each stratum's positions, strata in order of their codes."""
    if draws == 0:
        return np.zeros((0, len(strata)), dtype=np.int64)
    return next(stratified_permutation_chunks(strata, draws, seed, draws))


def permutation_chunks(n: int, draws: int, seed: int | None, chunk_size: int
                       ) -> Iterator[np.ndarray]:
    """The rows of :func:`permutations` ``(n, draws, seed)`` in chunks of ``chunk_size``
    (the last shorter): the same seeded stream drawn a chunk at a time, so a caller
    holds O(chunk_size x n) instead of O(draws x n) and gets the same draws whatever
    the chunk size."""
    rng = np.random.default_rng(seed)
    chunk_size = max(int(chunk_size), 1)
    for start in range(0, draws, chunk_size):
        rows = min(chunk_size, draws - start)
        yield np.stack([rng.permutation(n) for _ in range(rows)])


def permuted_chunks(values: np.ndarray, draws: int, seed: int | None, chunk_size: int
                    ) -> Iterator[np.ndarray]:
    """``values[p]`` for the rows ``p`` of :func:`permutation_chunks` ``(len(values),
    draws, seed, chunk_size)``, in chunks of rows of ``values``' dtype: each row is a
    copy of ``values`` shuffled in place by the same stream (``rng.permutation(n)``
    shuffles ``arange(n)`` with the same swaps), so no chunk of n-element int64
    permutations is made (8x the memory of uint8 labels); compiled where it is exact
    (:func:`policylab.engine.shuffle.shuffled_rows`)."""
    from policylab.engine.shuffle import shuffled_rows

    rng = np.random.default_rng(seed)
    chunk_size = max(int(chunk_size), 1)
    for start in range(0, draws, chunk_size):
        yield shuffled_rows(values, min(chunk_size, draws - start), rng)


def stratified_permutation_chunks(strata: np.ndarray, draws: int, seed: int | None,
                                  chunk_size: int) -> Iterator[np.ndarray]:
    """The rows of :func:`stratified_permutations` ``(strata, draws, seed)`` in chunks
    of ``chunk_size`` (the last shorter), drawn from the same seeded stream."""
    rng = np.random.default_rng(seed)
    chunk_size = max(int(chunk_size), 1)
    n = len(strata)
    members = [np.flatnonzero(strata == c) for c in np.unique(strata)]
    for start in range(0, draws, chunk_size):
        out = np.tile(np.arange(n), (min(chunk_size, draws - start), 1))
        for r in range(len(out)):
            for idx in members:
                out[r, idx] = idx[rng.permutation(len(idx))]
        yield out


def combinations_from(n: int, k: int, start: int, size: int) -> np.ndarray:
    """Rows ``start`` to ``start + size - 1`` of the lexicographic k-subsets of
    ``range(n)`` (as ``itertools.combinations`` orders them), made without the rows
    before them: each chunk of an exact enumeration is built where it is used (see
    :func:`policylab.engine.combinations.k_subsets`)."""
    return k_subsets(n, k, start, size)


class _Enumerated:
    """An executor task's kernel over rows ``(start, size)`` of an exact enumeration."""

    def __init__(self, kernel: Callable[[Any, Any], Any], n: int, k: int) -> None:
        self.kernel, self.n, self.k = kernel, n, k

    def __call__(self, task: tuple[int, int], shared: Any) -> Any:
        return self.kernel(combinations_from(self.n, self.k, *task), shared)


def enumerated_statistics(
    kernel: Callable[[Any, Any], Any],
    n: int,
    k: int,
    *,
    shared: Any = None,
    chunk_size: int = 1000,
    executor: Any = None,
    progress: str | None = None,
) -> Any:
    """The statistic(s) of every k-subset of ``range(n)`` (rows of the kernel's input),
    in lexicographic order; each chunk of subsets is built by the task that uses it, so
    memory stays bounded by a chunk. Otherwise as :func:`draw_statistics`."""
    from policylab.execution import map_tasks

    total = math.comb(n, k)
    tasks = [(s, min(chunk_size, total - s)) for s in range(0, total, chunk_size)]
    parts = map_tasks(_Enumerated(kernel, n, k), tasks, shared=shared, executor=executor,
                      progress=progress)
    return concat_parts(parts)


def rechunk(blocks: Iterable[np.ndarray] | np.ndarray, chunk_size: int) -> list[np.ndarray]:
    """Assignment blocks re-cut into chunks of ``chunk_size`` rows (the last shorter)."""
    if isinstance(blocks, np.ndarray):
        blocks = [blocks]
    out: list[np.ndarray] = []
    carry: list[np.ndarray] = []
    have = 0
    for b in blocks:
        carry.append(b)
        have += len(b)
        if have >= chunk_size:
            allb = np.concatenate(carry)
            cut = (len(allb) // chunk_size) * chunk_size
            out.extend(allb[s:s + chunk_size] for s in range(0, cut, chunk_size))
            carry, have = ([allb[cut:]], len(allb) - cut) if cut < len(allb) else ([], 0)
    if have:
        out.append(np.concatenate(carry))
    return out


def draw_statistics(
    kernel: Callable[[Any, Any], Any],
    assignments: Iterable[np.ndarray] | np.ndarray,
    *,
    shared: Any = None,
    chunk_size: int = 1000,
    executor: Any = None,
    progress: str | None = None,
) -> Any:
    """The statistic(s) of every assignment, computed chunk by chunk on ``executor``.

    Parameters
    ----------
    kernel : callable
        ``kernel(chunk, shared)`` for a chunk of assignments (rows) returns an array, or a
        tuple of arrays, with one entry per row along the first axis. It must be a
        module-level function (worker processes and Dask import it by name).
    assignments : array or iterable of arrays
        Assignments as rows (drawn in this process, see the module docstring); re-cut
        into chunks of ``chunk_size`` rows.
    shared : optional
        Data every chunk needs, sent to each worker once.
    executor : optional
        None/"serial", "processes", "dask", a Dask address or Client, or an executor
        (see :mod:`policylab.execution`).
    progress : str, optional
        Description of a progress bar over the chunks.

    Returns
    -------
    The kernel's output(s) for all rows, concatenated along the first axis in row order.
    """
    from policylab.execution import map_tasks

    chunks = rechunk(assignments, chunk_size)
    parts = map_tasks(kernel, chunks, shared=shared, executor=executor, progress=progress)
    return concat_parts(parts)


def concat_parts(parts: Sequence[Any]) -> Any:
    """Per-chunk outputs (arrays or tuples of arrays) joined along the first axis."""
    if not parts:
        return np.zeros(0)
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(len(parts[0])))
    return np.concatenate(parts)

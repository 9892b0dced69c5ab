"""One execution layer for embarrassingly parallel work.

Placebo and bootstrap draws, specification grids and Monte Carlo replications are cut
into *chunks* (each a batch of draws or specifications worth 100 ms or more, never one
small regression: per-task overhead is ~0.4 ms for local processes and ~4 ms for Dask).
Chunk boundaries and per-chunk random streams depend only on the seed and the chunk
size, never on the number of workers, so every executor returns identical numbers.

Executors: ``"serial"`` (default), ``"processes"`` (local worker processes), or a Dask
distributed cluster (``executor="tcp://host:8786"``, a ``dask.distributed.Client``, or
``DaskExecutor(...)``). Shared data reach each worker once: forked workers inherit it,
Dask workers receive it by ``scatter(broadcast=True)`` under a key unique to its
content (``policylab-shared-<hash>``), so runs sharing one cluster never see each
other's data. Executors policylab creates (from "dask" or a scheduler address) are
closed when the call that created them returns.
"""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from typing import Any, Protocol

import numpy as np

from policylab.errors import SpecError

__all__ = [
    "Executor",
    "SerialExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "get_executor",
    "using_executor",
    "shared_key",
    "chunk_plan",
    "run_chunks",
    "map_tasks",
]

_SHARED: Any = None  # set in each worker process by the pool initializer


class Executor(Protocol):
    """Runs ``fn(task, shared)`` for each task and returns results in task order."""

    n_workers: int

    def map(self, fn: Callable[[Any, Any], Any], tasks: Sequence[Any], shared: Any = None,
            progress: str | None = None) -> list[Any]: ...


def _progress(description: str | None, total: int) -> Any:
    if not description or total < 2:
        return nullcontext(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    p = Progress(TextColumn(description), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                 TimeElapsedColumn(), transient=True)
    p.add_task(description, total=total)
    return p


def _advance(bar: Any) -> None:
    if bar is not None:
        bar.advance(bar.task_ids[0])


class SerialExecutor:
    """Run every chunk in this process (the reference for identical results)."""

    n_workers = 1

    def map(self, fn: Callable[[Any, Any], Any], tasks: Sequence[Any], shared: Any = None,
            progress: str | None = None) -> list[Any]:
        out = []
        with _progress(progress, len(tasks)) as bar:
            for t in tasks:
                out.append(fn(t, shared))
                _advance(bar)
        return out


def _init_worker(shared: Any) -> None:
    global _SHARED
    _SHARED = shared


def _call_with_shared(fn: Callable[[Any, Any], Any], task: Any) -> Any:
    return fn(task, _SHARED)


class ProcessExecutor:
    """Local worker processes; shared data are passed once per worker at start-up."""

    def __init__(self, n_workers: int | None = None) -> None:
        self.n_workers = int(n_workers or os.cpu_count() or 1)

    def map(self, fn: Callable[[Any, Any], Any], tasks: Sequence[Any], shared: Any = None,
            progress: str | None = None) -> list[Any]:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
        results: list[Any] = [None] * len(tasks)
        with ProcessPoolExecutor(self.n_workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(shared,)) as pool, \
                _progress(progress, len(tasks)) as bar:
            futs = {pool.submit(_call_with_shared, fn, t): i for i, t in enumerate(tasks)}
            try:
                for f in as_completed(futs):
                    results[futs[f]] = f.result()
                    _advance(bar)
            except BrokenProcessPool as exc:
                from policylab.errors import EstimationError

                layer = os.environ.get("NUMBA_THREADING_LAYER")
                hint = (f" NUMBA_THREADING_LAYER={layer!r} is set: GNU OpenMP cannot fork "
                        "once it has run; unset it (policylab then uses numba's fork-safe "
                        "'workqueue' layer)." if layer else "")
                raise EstimationError(
                    "a worker process died (out of memory, or a library that cannot run "
                    f"after fork).{hint} Use fewer workers or the serial executor "
                    "(--scheduler serial / executor=None)."
                ) from exc
        return results


class DaskExecutor:
    """A Dask distributed cluster (scheduler address, Client, or a LocalCluster)."""

    def __init__(self, address: Any = None, n_workers: int | None = None) -> None:
        try:
            from dask.distributed import Client
        except ImportError as exc:  # pragma: no cover - optional dependency
            raise SpecError(
                "the Dask executor needs dask.distributed: pip install 'policylab[distributed]'"
            ) from exc
        self._own = False
        if address is None:
            from dask.distributed import LocalCluster

            cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            self.client = Client(cluster)
            self._own = True
        elif isinstance(address, str):
            try:
                self.client = Client(address, timeout="10s")
            except OSError as exc:
                raise SpecError(f"cannot reach the Dask scheduler at {address!r} ({exc}); "
                                "check the address, or use the serial executor") from exc
            self._own = True
        else:
            self.client = address
        # a client we created is closed even if close() is never called
        self._finalizer = weakref.finalize(self, _close_client, self.client,
                                           self._own) if self._own else None
        self.n_workers = len(self.client.scheduler_info().get("workers", {})) or 1

    def map(self, fn: Callable[[Any, Any], Any], tasks: Sequence[Any], shared: Any = None,
            progress: str | None = None) -> list[Any]:
        from dask.distributed import as_completed as dask_completed

        shared_f = None
        if shared is not None:
            # one future under a key of its own: scattering the dict itself would put
            # each value under its dict key ("df", "ys"), shared by every run on the
            # cluster, so concurrent runs would compute on each other's data
            key = shared_key(shared)
            shared_f = self.client.scatter({key: shared}, broadcast=True)[key]
        futs = [self.client.submit(fn, t, shared_f, pure=False) for t in tasks]
        index = {f.key: i for i, f in enumerate(futs)}
        results: list[Any] = [None] * len(tasks)
        try:
            with _progress(progress, len(tasks)) as bar:
                for f in dask_completed(futs, loop=self.client.loop):
                    results[index[f.key]] = f.result()
                    _advance(bar)
        finally:
            # release this run's tasks and data on the cluster at once
            for f in futs:
                f.release()
            if shared_f is not None:
                shared_f.release()
        return results

    def close(self) -> None:
        """Shut down a client (and cluster) this executor created."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _close_client(client: Any, own: bool) -> None:
    if not own:
        return
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def shared_key(shared: Any) -> str:
    """A Dask key for shared inputs: their content hash plus a per-call nonce.

    The hash names what the data are (readable on the dashboard); the nonce keeps two
    runs apart even when a hash falls back to an object's identity.
    """
    from dask.base import tokenize

    return f"policylab-shared-{tokenize(shared)}-{uuid.uuid4().hex[:8]}"


@contextmanager
def using_executor(executor: Any = None, n_workers: int | None = None) -> Iterator[Any]:
    """Resolve ``executor=`` for the duration of a call; close what this call created.

    An executor object or Client passed in is the caller's and stays open.
    """
    ex = get_executor(executor, n_workers)
    created = ex is not executor and isinstance(ex, DaskExecutor) and ex._own
    try:
        yield ex
    finally:
        if created:
            ex.close()


def get_executor(executor: Any = None, n_workers: int | None = None) -> Any:
    """Resolve an ``executor=`` argument.

    None or "serial"; "processes"; "dask" (a new LocalCluster); a scheduler address
    such as "tcp://host:8786"; a dask Client; or any object with a ``map`` method.
    """
    if executor is None or executor == "serial":
        return SerialExecutor()
    if executor == "processes":
        return ProcessExecutor(n_workers)
    if executor == "dask":
        return DaskExecutor(None, n_workers)
    if isinstance(executor, str):
        if "://" in executor:
            return DaskExecutor(executor)
        raise SpecError(
            f"executor={executor!r} is not known; use 'serial', 'processes', 'dask' or a "
            "Dask scheduler address like 'tcp://host:8786'"
        )
    if hasattr(executor, "map") and hasattr(executor, "n_workers"):
        return executor
    if type(executor).__name__ == "Client":
        return DaskExecutor(executor)
    raise SpecError(f"executor={executor!r} is not an executor")


def chunk_plan(total: int, chunk_size: int, seed: int | None) -> list[tuple[int, int, Any]]:
    """(start, size, SeedSequence) of each chunk; depends only on total, size and seed."""
    if total < 0 or chunk_size < 1:
        raise SpecError(f"need total >= 0 and chunk_size >= 1, got {total}, {chunk_size}")
    starts = list(range(0, total, chunk_size))
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    return [(s, min(chunk_size, total - s), ss) for s, ss in zip(starts, seeds)]


class _SingleThreaded:
    """Call ``fn`` with BLAS limited to one thread.

    Multi-threaded BLAS sums in an order that depends on the thread count, so the same
    chunk could differ in the last bits between this process and a worker; with one
    thread per chunk every executor returns bit-identical numbers (parallelism comes
    from running chunks side by side).
    """

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self.fn = fn

    def __call__(self, task: Any, shared: Any) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return self.fn(task, shared)


def run_chunks(
    fn: Callable[[Any, Any], Any],
    total: int,
    *,
    shared: Any = None,
    seed: int | None = None,
    chunk_size: int = 250,
    executor: Any = None,
    progress: str | None = None,
) -> list[Any]:
    """Run ``fn((start, size, seedseq), shared)`` over all chunks; results in chunk order."""
    plan = chunk_plan(total, chunk_size, seed)
    with using_executor(executor) as ex:
        return ex.map(_SingleThreaded(fn), plan, shared=shared, progress=progress)


def map_tasks(
    fn: Callable[[Any, Any], Any],
    tasks: Sequence[Any],
    *,
    shared: Any = None,
    executor: Any = None,
    progress: str | None = None,
) -> list[Any]:
    """Run ``fn(task, shared)`` for each task (e.g. a block of specifications) in order."""
    with using_executor(executor) as ex:
        return ex.map(_SingleThreaded(fn), list(tasks), shared=shared, progress=progress)

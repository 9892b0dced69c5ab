"""Writers that run beside the computation, each in a forked child process.

A study spends about as long writing its outputs (figures rasterised at 300 dpi, Word
and Excel tables, the reports) as computing them. That writing is Python holding the
GIL, so a thread would not overlap it with the next step; a forked child does, on
another core, and needs nothing pickled on the way in: it inherits the finished figures
and tables as they are in memory. Only its small answer (the files it could not write)
comes back, through a pipe.

Where fork is missing or unsafe (Windows, macOS, whose system libraries may not survive
a fork of a threaded process), on one core, or with ``POLICYLAB_WRITERS=inline`` in the
environment, the same jobs run in the process itself when they are submitted, one after
another, and write the same files.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["Workers", "Job", "WorkerDied", "forking_available", "fork_usable"]


class WorkerDied(RuntimeError):
    """A writer process ended without an answer (killed, out of memory)."""


def fork_usable() -> bool:
    """Whether work can go to forked children here: Linux (fork is missing on Windows
    and unsafe on macOS) with more than one core."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and (os.cpu_count() or 1) > 1)


def forking_available() -> bool:
    """Whether writers run in forked children here (:func:`fork_usable`, and not
    disabled by ``POLICYLAB_WRITERS=inline``)."""
    return fork_usable() and os.environ.get("POLICYLAB_WRITERS", "").lower() != "inline"


class Job:
    """A submitted writer; :meth:`result` waits for it and returns what it returned."""

    def __init__(self, value: Any = None, error: str | None = None) -> None:
        self._value, self._error = value, error

    def result(self) -> Any:
        """What the job returned; raises :class:`WorkerDied` if it raised or died."""
        if self._error is not None:
            raise WorkerDied(self._error)
        return self._value

    def kill(self) -> None:
        """Stop the job if it still runs (a job run inline has finished already)."""


class _ForkedJob(Job):
    def __init__(self, pid: int, fd: int) -> None:
        super().__init__()
        self.pid, self._fd = pid, fd
        self._done = False

    def result(self) -> Any:
        if not self._done:
            self._collect()
        return super().result()

    def _collect(self) -> None:
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(self._fd)
            _, status = os.waitpid(self.pid, 0)
            self._done = True
        data = b"".join(chunks)
        if not data:
            why = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit code {os.waitstatus_to_exitcode(status)}")
            self._error = f"the writer process ended without an answer ({why})"
            return
        ok, value = pickle.loads(data)  # written by our own child, just now
        if ok:
            self._value = value
        else:
            self._error = value

    def kill(self) -> None:
        if self._done:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - it had ended and been reaped
            pass
        os.close(self._fd)
        os.waitpid(self.pid, 0)
        self._done = True
        self._error = "the writer process was stopped"


def _child(fn: Callable[[], Any], fd: int) -> None:
    """Run ``fn`` in the forked child, send its answer and end without cleanup (the
    parent's buffers, atexit handlers and temporary folders are the parent's)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it; the parent reports
        try:
            payload = pickle.dumps((True, fn()))
        except BaseException as exc:  # the answer says what broke; the parent records it
            payload = pickle.dumps((False, f"{type(exc).__name__}: {exc}"))
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
    except BaseException:  # pragma: no cover - the pipe broke: the parent sees no answer
        code = 1
    finally:
        os._exit(code)


class Workers:
    """Run writer jobs beside the caller: ``job = workers.submit(fn)`` then
    ``job.result()``.

    Use as a context manager: on leaving it every job still running is stopped and
    reaped, so no child outlives the run or writes into a folder being removed.
    """

    def __init__(self, fork: bool | None = None) -> None:
        self.fork = forking_available() if fork is None else fork
        self._jobs: list[Job] = []

    def submit(self, fn: Callable[[], Any]) -> Job:
        """Start ``fn`` in a child process (or run it now, inline); its return value
        must pickle."""
        if not self.fork:
            try:
                return Job(value=fn())
            except Exception as exc:  # the same answer a child would give
                return Job(error=f"{type(exc).__name__}: {exc}")
        r, w = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns on fork in a process with threads (BLAS, numba, the
            # progress bar); the child runs only ``fn`` and never touches their locks
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (coverage does not follow forks)
            os.close(r)
            _child(fn, w)
        os.close(w)
        job = _ForkedJob(pid, r)
        self._jobs.append(job)
        return job

    def close(self) -> None:
        """Stop and reap every job still running."""
        for job in self._jobs:
            job.kill()
        self._jobs.clear()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

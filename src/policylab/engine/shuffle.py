"""Rows of values shuffled by numpy's seeded PCG64 stream, compiled where it is exact.

:func:`shuffled_rows` gives exactly what ``rng.shuffle`` row by row gives (and so
``values[rng.permutation(n)]`` per row), and leaves ``rng`` in the same state. The
compiled path is used when the generator is numpy's PCG64 and a small check against
``rng.shuffle`` agrees (once per process); otherwise numpy shuffles each row.
"""

from __future__ import annotations

import numpy as np

from policylab.engine.threads import COMPILED_ROWS

__all__ = ["shuffled_rows"]

_M64 = (1 << 64) - 1
_checked: list[bool] = []


def shuffled_rows(values: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """(rows x n) copies of ``values`` (1-d), each shuffled in place by ``rng`` in turn."""
    out = np.tile(values, (rows, 1))
    if values.size * rows >= COMPILED_ROWS and _compiled_ok():
        _shuffle_compiled(out, rng)
    else:
        for row in out:
            rng.shuffle(row)
    return out


def _shuffle_compiled(out: np.ndarray, rng: np.random.Generator) -> None:
    from policylab.engine._shuffle_kernels import shuffle_rows

    s = rng.bit_generator.state
    state, inc = s["state"]["state"], s["state"]["inc"]
    st = np.array([state >> 64, state & _M64, inc >> 64, inc & _M64, s["has_uint32"],
                   s["uinteger"]], dtype=np.uint64)
    shuffle_rows(out, st)
    s["state"]["state"] = (int(st[0]) << 64) | int(st[1])
    s["has_uint32"], s["uinteger"] = int(st[4]), int(st[5])
    rng.bit_generator.state = s


def _compiled_ok() -> bool:
    """Does the compiled shuffle reproduce numpy's here (PCG64, this numpy version)?"""
    if not _checked:
        ok = False
        try:
            a, b = np.random.default_rng(12345), np.random.default_rng(12345)
            if type(a.bit_generator).__name__ == "PCG64":
                x = np.tile(np.arange(70_000, dtype=np.int32), (3, 1))
                y = x.copy()
                a.shuffle(x[0])
                _shuffle_compiled(y[:1], b)
                a.integers(0, 2**31, 3)  # a 32-bit draw leaves half a word buffered
                b.integers(0, 2**31, 3)
                for r in (1, 2):
                    a.shuffle(x[r])
                _shuffle_compiled(y[1:], b)
                ok = (np.array_equal(x, y)
                      and a.bit_generator.state == b.bit_generator.state)
        except Exception:  # noqa: BLE001 - any failure means: use numpy's shuffle
            ok = False
        _checked.append(ok)
    return _checked[0]

"""Compiled Fisher-Yates shuffles on numpy's PCG64 stream (numba, cached on disk).

The same arithmetic as numpy's ``Generator.shuffle`` with a PCG64 bit generator
(``pcg64.h`` and ``random_interval`` in numpy's ``distributions.c``): a 128-bit LCG
step, the XSL-RR output, 32-bit halves served low first, and bounded integers by
masked rejection. Written out here so that the per-element call through the bit
generator's function pointer is inlined (several times faster on 10^5-element rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_MUL_HI = np.uint64(2549297995355413924)
_MUL_LO = np.uint64(4865540595714422341)


@njit(cache=True, nogil=True, inline="always")
def _mulhi(a, b):  # pragma: no cover - compiled
    a0, a1 = a & _M32, a >> _S32
    b0, b1 = b & _M32, b >> _S32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)


@njit(cache=True, nogil=True, inline="always")
def _next64(st):  # pragma: no cover - compiled
    # st: [state_hi, state_lo, inc_hi, inc_lo, has_uint32, uinteger] as uint64
    hi, lo = st[0], st[1]
    new_lo = lo * _MUL_LO
    new_hi = _mulhi(lo, _MUL_LO) + lo * _MUL_HI + hi * _MUL_LO
    lo2 = new_lo + st[3]
    carry = np.uint64(1) if lo2 < new_lo else np.uint64(0)
    hi2 = new_hi + st[2] + carry
    st[0], st[1] = hi2, lo2
    x = hi2 ^ lo2
    rot = hi2 >> np.uint64(58)
    return (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


@njit(cache=True, nogil=True, inline="always")
def _next32(st):  # pragma: no cover - compiled
    if st[4]:
        st[4] = np.uint64(0)
        return st[5]
    nxt = _next64(st)
    st[4] = np.uint64(1)
    st[5] = nxt >> _S32
    return nxt & _M32


@njit(cache=True, nogil=True)
def shuffle_rows(out, st):  # pragma: no cover - compiled
    """Shuffle each row of ``out`` in place, rows in order, as numpy's
    ``Generator.shuffle`` would with the PCG64 state ``st`` (updated)."""
    rows, n = out.shape
    for r in range(rows):
        row = out[r]
        for i in range(n - 1, 0, -1):
            mx = np.uint64(i)
            mask = mx
            mask |= mask >> np.uint64(1)
            mask |= mask >> np.uint64(2)
            mask |= mask >> np.uint64(4)
            mask |= mask >> np.uint64(8)
            mask |= mask >> np.uint64(16)
            mask |= mask >> np.uint64(32)
            if mx <= _M32:
                v = _next32(st) & mask
                while v > mx:
                    v = _next32(st) & mask
            else:
                v = _next64(st) & mask
                while v > mx:
                    v = _next64(st) & mask
            j = np.int64(v)
            tmp = row[j]
            row[j] = row[i]
            row[i] = tmp

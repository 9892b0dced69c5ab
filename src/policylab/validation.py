"""Low-level checks of user-given arguments, shared by the API and the study spec.

Every check raises a :class:`~policylab.errors.SpecError` naming the argument (or spec
key) and the fix *before* any work starts, so a bad count never turns into a hang, a
memory blow-up or a raw numpy traceback deep inside an estimator.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from typing import Any

from policylab.errors import EstimationError, SpecError

__all__ = [
    "MAX_DRAWS",
    "as_name",
    "as_names",
    "as_int",
    "check_count",
    "check_seed",
    "check_window",
    "check_exact",
    "available_memory",
    "check_memory",
    "renamed_arg",
    "RenamedKeys",
]

# the largest count of draws / replications we accept: far above what any p-value
# needs (1e6 draws pin a p-value of 0.05 to +-0.0004) and far below what would run for
# days; a larger count is a typo (1e9) rather than a wish
MAX_DRAWS = 10_000_000


def renamed_arg(value: Any, old_value: Any, new: str, old: str, where: str,
                default: Any = None, stacklevel: int = 3) -> Any:
    """The value of an argument renamed in this release: ``new=`` or its old name
    ``old=``, accepted for one release with a PolicyLabDeprecationWarning that names the
    new one; both at once is a SpecError; neither gives ``default``. ``stacklevel`` 3
    points the warning at the caller of the function that calls this; one more for each
    helper in between."""
    if old_value is None:
        return default if value is None else value
    if value is not None:
        raise SpecError(f"{where}: give {new}= only ({old}= is its deprecated name)")
    import warnings

    from policylab.errors import PolicyLabDeprecationWarning

    warnings.warn(f"{where}({old}=...) is deprecated and will be removed in the next "
                  f"release: write {where}(..., {new}={old_value!r})",
                  PolicyLabDeprecationWarning, stacklevel=stacklevel)
    return old_value


class RenamedKeys(dict):  # type: ignore[type-arg]
    """A result's ``meta`` whose keys renamed in this release still read, for one release,
    under their old name with a PolicyLabDeprecationWarning naming the new one.

    The old key is not stored: iteration, ``in``, ``len`` and JSON see the new keys only
    (so results.json never shows the old, ambiguous word).

    Parameters
    ----------
    data
        The mapping.
    renamed
        ``{old: new}``.
    where
        What the mapping belongs to, for the warning (``"WildBootstrapResult.meta"``).
    """

    def __init__(self, data: Any = (), /, *, renamed: dict[str, str], where: str) -> None:
        super().__init__(data)
        self.renamed = dict(renamed)
        self.where = where

    def _new(self, key: Any) -> Any:
        if key in self.renamed and not dict.__contains__(self, key):
            import warnings

            from policylab.errors import PolicyLabDeprecationWarning

            new = self.renamed[key]
            warnings.warn(f"{self.where}[{key!r}] is deprecated and will be removed in the "
                          f"next release: read {self.where}[{new!r}]",
                          PolicyLabDeprecationWarning, stacklevel=3)
            return new
        return key

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._new(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._new(key), default)


def as_names(value: Any, key: str, *, allow_empty: bool = True) -> list[str]:
    """Column names given as one string or a list of strings.

    A string is one name (``controls="gdp"`` means ``["gdp"]``, never the letters);
    None is no names; anything else must be a list or tuple of strings.
    """
    if value is None:
        names: list[str] = []
    elif isinstance(value, str):
        names = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        names = list(value)
        bad = [v for v in names if not isinstance(v, str)]
        if bad:
            raise SpecError(f"{key}: column names must be strings, got {bad[0]!r} "
                            f"({type(bad[0]).__name__}); quote the name, e.g. {key}=['x1']")
    else:
        raise SpecError(f"{key}={value!r}: give a column name (str) or a list of names")
    if not allow_empty and not names:
        raise SpecError(f"{key}: give at least one column name")
    if any(not n.strip() for n in names):
        raise SpecError(f"{key}: a column name is empty")
    return names


def as_name(value: Any, key: str) -> str:
    """Exactly one column name (a non-empty string)."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{key}={value!r}: give one column name as a string, e.g. {key}='gdp'")
    return value


def as_int(value: Any, key: str) -> int:
    """A whole number (a period, an offset): bools, floats and text are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SpecError(f"{key}={value!r}: must be a whole number, e.g. {key}=-1")
    return int(value)


def check_count(value: Any, key: str, lo: int = 1, hi: int = MAX_DRAWS) -> int:
    """An integer count (draws, replications, permutations) in ``[lo, hi]``.

    Booleans, floats with a fraction, strings and out-of-range values are refused; a
    float without fraction (``1e4``) is accepted as the integer it is.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{key}={value!r}: must be a whole number between {lo:,} and {hi:,}")
    if isinstance(value, numbers.Integral):
        n = int(value)
    else:
        f = float(value)
        if not f.is_integer():
            raise SpecError(f"{key}={value!r}: must be a whole number, e.g. {key}={round(f)}")
        n = int(f)
    if n < lo:
        raise SpecError(f"{key}={n}: must be at least {lo:,}")
    if n > hi:
        raise SpecError(f"{key}={n:,}: more than the limit of {hi:,}; a count this large "
                        "would run for days or exhaust memory — use a smaller one")
    return n


def check_seed(value: Any, key: str = "seed") -> int | None:
    """A random seed: None or a non-negative integer (numpy's rule, said plainly)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SpecError(f"{key}={value!r}: a seed must be a non-negative whole number, "
                        f"e.g. {key}=2011")
    if int(value) < 0:
        raise SpecError(f"{key}={value}: a seed must be non-negative (numpy's rule); "
                        f"use e.g. {key}={abs(int(value))}")
    return int(value)


def check_window(value: Any, key: str = "window") -> tuple[int, int]:
    """An event window ``(lo, hi)`` of two integers with ``lo < 0 <= hi`` or ``lo < hi``."""
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value))
    if not ok:
        raise SpecError(f"{key}={value!r}: give two whole numbers (first, last period "
                        f"relative to treatment), e.g. {key}=(-3, 3)")
    lo, hi = int(value[0]), int(value[1])
    if lo >= hi:
        raise SpecError(f"{key}=({lo}, {hi}): the first period must be before the last")
    return lo, hi


def check_exact(value: Any, key: str = "exact") -> bool | str:
    """``exact=``: True, False or "auto" — anything else (e.g. "yes") is refused."""
    if isinstance(value, bool) or value == "auto":
        return value
    raise SpecError(f"{key}={value!r}: must be true, false or \"auto\"")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (psutil, else /proc/meminfo).

    None when neither source can be read (memory checks are then skipped).
    """
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil is optional
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse work whose largest array (``nbytes``) cannot fit in available memory.

    ``what`` says what the array is (e.g. "9,999 draws x 30 clusters"), ``fix`` how to
    shrink it. Set ``POLICYLAB_SKIP_MEMORY_CHECK=1`` to skip the check.
    """
    if os.environ.get("POLICYLAB_SKIP_MEMORY_CHECK"):
        return
    avail = available_memory()
    if avail is None or nbytes <= 0.8 * avail:
        return
    raise EstimationError(
        f"{what} needs about {nbytes / 2**30:,.1f} GiB but only {avail / 2**30:,.1f} GiB "
        f"of memory is available; {fix}"
    )

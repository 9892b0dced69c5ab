"""Exception hierarchy for policylab.

Every error a user can cause is a :class:`PolicyLabError` subclass whose message names
the column, rows or option at fault and says what would fix it.
"""

from __future__ import annotations

__all__ = [
    "PolicyLabError",
    "DataError",
    "SpecError",
    "EstimationError",
    "ConvergenceError",
    "OutputError",
    "PolicyLabWarning",
    "PolicyLabDeprecationWarning",
]


class PolicyLabError(Exception):
    """Base class of every error policylab raises on purpose."""


class DataError(PolicyLabError, ValueError):
    """The data are unusable as given: duplicates, missing keys, bad values."""


class SpecError(PolicyLabError, ValueError):
    """An option, formula or study-spec key is invalid."""


class EstimationError(PolicyLabError, RuntimeError):
    """The model cannot be estimated on these data (no variation, nothing left)."""


class ConvergenceError(EstimationError):
    """An iterative routine (demeaning, logit) did not converge."""


class OutputError(PolicyLabError, ValueError):
    """An output folder cannot be used without risking files policylab did not write."""


class PolicyLabWarning(UserWarning):
    """A diagnostic a careful referee would raise; the estimate is still returned."""


class PolicyLabDeprecationWarning(FutureWarning):
    """A name or attribute that still works for one release; the message names the new
    one. A FutureWarning, so it is shown to users by default."""


def preview(values: object, n: int = 5) -> str:
    """Format the first ``n`` items of a sequence for an error message."""
    items = list(values)  # type: ignore[call-overload]
    shown = ", ".join(repr(v) for v in items[:n])
    more = f" ... ({len(items)} in all)" if len(items) > n else ""
    return f"[{shown}{more}]"

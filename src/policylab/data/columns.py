"""Column checks shared by the Panel, the transforms and the estimators.

Kept apart from :mod:`policylab.data.panel` so that the transforms, which the Panel's
methods call, need not import the Panel module back.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from policylab.errors import DataError, preview

__all__ = ["require_columns", "require_numeric"]


def require_columns(df: pd.DataFrame, cols: Iterable[str], what: str = "column") -> None:
    """Raise a DataError naming every missing column and the closest existing names."""
    import difflib

    missing = [c for c in cols if c not in df.columns]
    if not missing:
        return
    hints = []
    for c in missing:
        close = difflib.get_close_matches(str(c), [str(x) for x in df.columns], n=3)
        hints.append(f"{c!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
    raise DataError(
        f"{what} not found in the data: {', '.join(hints)}. "
        f"Available columns: {preview(df.columns, 12)}"
    )


def require_numeric(df: pd.DataFrame, cols: Iterable[str]) -> None:
    """Raise a DataError naming a non-numeric column and one offending value."""
    for c in cols:
        s = df[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            continue
        conv = pd.to_numeric(s, errors="coerce")
        bad = s[conv.isna() & s.notna()]
        example = bad.iloc[0] if len(bad) else s.dropna().iloc[0] if s.notna().any() else None
        raise DataError(
            f"column {c!r} must be numeric but has dtype {s.dtype}; "
            f"e.g. value {example!r} (row {bad.index[0] if len(bad) else '?'!r}, "
            f"{len(bad)} non-numeric values). Convert it, e.g. "
            f"df[{c!r}] = pd.to_numeric(df[{c!r}], errors='coerce')"
        )

"""Panel-aware column transforms: they never wrap across units or across gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from policylab.data.columns import require_columns, require_numeric
from policylab.errors import DataError, SpecError, preview

__all__ = ["shift", "safe_log", "winsorize", "per_capita", "deflate"]


def shift(df: pd.DataFrame, unit: str, time: str, col: str, k: int) -> pd.Series:
    """Value of ``col`` at period ``t - k`` of the same unit (``k < 0``: a lead).

    Matching is on the time value itself, so a gap yields a missing value instead of
    the value of the previous observed row.
    """
    if not isinstance(k, (int, np.integer)) or k == 0:
        raise SpecError(f"lag/lead order must be a non-zero integer, got {k!r}")
    key = pd.MultiIndex.from_arrays([df[unit], df[time]])
    source = pd.Series(df[col].to_numpy(), index=key)
    wanted = pd.MultiIndex.from_arrays([df[unit], df[time] - int(k)])
    return pd.Series(source.reindex(wanted).to_numpy(), index=df.index, name=col)


def safe_log(
    df: pd.DataFrame, col: str, unit: str | None = None, time: str | None = None,
    *, log1p: bool = False,
) -> pd.Series:
    """Natural log of a column, refusing values where the log is undefined.

    Raises
    ------
    DataError
        Naming how many values are <= 0 (< 0 with ``log1p``) and the first (unit, time).
    """
    require_numeric(df, [col])
    x = pd.to_numeric(df[col]).astype(float)
    bad = (x < 0) if log1p else (x <= 0)
    if bad.any():
        where = df.loc[bad, [unit, time]] if unit and time else df.loc[bad]
        rows = list(where.itertuples(index=False, name=None)) if unit and time else list(
            where.index
        )
        zeros = int((x[bad] == 0).sum())
        hint = (
            "use log1p=True for ln(1+x) (scale-dependent; consider Poisson PML instead)"
            if not log1p
            else "ln(1+x) needs x >= 0"
        )
        raise DataError(
            f"cannot take the log of {col!r}: {int(bad.sum())} values are "
            f"{'< 0' if log1p else '<= 0'} ({zeros} zeros), first at "
            f"{'(' + unit + ', ' + time + ') ' if unit and time else 'rows '}{preview(rows)}; "
            + hint
        )
    return np.log1p(x) if log1p else np.log(x)


def winsorize(
    df: pd.DataFrame, col: str, lower: float = 0.01, upper: float = 0.99,
    *, by: str | None = None,
) -> pd.Series:
    """Clip ``col`` at its ``lower`` and ``upper`` quantiles (missing values kept).

    Quantiles use linear interpolation, as Stata's ``winsor2`` does with ``cut()``.
    """
    if not 0 <= lower < upper <= 1:
        raise SpecError(
            f"winsorize needs 0 <= lower < upper <= 1, got lower={lower}, upper={upper}"
        )
    require_numeric(df, [col])
    x = pd.to_numeric(df[col]).astype(float)
    if by is None:
        lo, hi = x.quantile(lower), x.quantile(upper)
        return x.clip(lo, hi)
    require_columns(df, [by])
    g = x.groupby(df[by])
    return x.clip(g.transform(lambda s: s.quantile(lower)), g.transform(lambda s: s.quantile(upper)))


def per_capita(df: pd.DataFrame, col: str, population: str, scale: float = 1.0) -> pd.Series:
    """``col / population * scale``; a zero or missing population gives a clear error."""
    require_columns(df, [col, population])
    require_numeric(df, [col, population])
    pop = pd.to_numeric(df[population]).astype(float)
    bad = pop <= 0
    if bad.any():
        raise DataError(
            f"population column {population!r} has {int(bad.sum())} values <= 0 "
            f"(rows {preview(df.index[bad])}); per-capita values would be undefined"
        )
    return pd.to_numeric(df[col]).astype(float) / pop * scale


def deflate(
    df: pd.DataFrame, col: str, price_index: str, unit: str, time: str, base: int,
    *, kind: str = "level",
) -> pd.Series:
    """Convert a nominal column to constant prices of year ``base``.

    ``kind="level"``: the index is a price level (any base). ``kind="chain"``: the
    index is previous year = 100, chained within each unit first. Either way each
    unit's level is rebased to 1 in ``base``; units not observed in ``base`` raise.
    """
    require_columns(df, [col, price_index])
    require_numeric(df, [col, price_index])
    p = pd.to_numeric(df[price_index]).astype(float)
    if (p <= 0).any():
        raise DataError(f"price index {price_index!r} has values <= 0; it must be positive")
    if kind == "chain":
        order = df.sort_values([unit, time]).index
        growth = (p / 100.0).loc[order]
        level = growth.groupby(df.loc[order, unit]).cumprod().reindex(df.index)
    elif kind == "level":
        level = p
    else:
        raise SpecError(f"deflate kind must be 'level' or 'chain', got {kind!r}")
    at_base = level[df[time] == base].groupby(df.loc[df[time] == base, unit]).first()
    missing = sorted(set(df[unit]) - set(at_base.index))
    if missing:
        raise DataError(
            f"base year {base} is not observed for units {preview(missing)}; "
            "choose a base year every unit has"
        )
    rebased = level / df[unit].map(at_base).astype(float)
    return pd.to_numeric(df[col]).astype(float) / rebased

"""The validated unit x time table every estimator starts from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.columns import require_columns, require_numeric
from policylab.errors import DataError, SpecError, preview

__all__ = ["Panel", "as_pandas", "require_columns", "require_numeric"]


# Under copy-on-write (always on from pandas 3) a shallow copy is as safe as a deep one
# (a write to either copy copies the column first) and costs nothing for large frames.
_COW = int(pd.__version__.split(".")[0]) >= 3 or pd.options.mode.copy_on_write is True


def as_pandas(data: Any) -> pd.DataFrame:
    """Return a pandas copy of a pandas or polars DataFrame (or a Panel's table).

    Writing to the copy never changes the caller's frame.
    """
    if isinstance(data, Panel):
        return data.df.copy(deep=not _COW)
    if isinstance(data, pd.DataFrame):
        return data.copy(deep=not _COW)
    mod = type(data).__module__
    if mod.startswith("polars"):
        if hasattr(data, "collect") and not hasattr(data, "to_pandas"):
            data = data.collect()
        return data.to_pandas()
    raise DataError(
        f"expected a pandas or polars DataFrame, got {type(data).__name__}; "
        "load files with policylab.read(path, unit=..., time=...)"
    )


class Panel:
    """A validated panel: one row per (unit, time) pair.

    Parameters
    ----------
    data : pandas.DataFrame or polars.DataFrame
        The table. It is copied; the caller's object is never modified.
    unit, time : str
        Names of the unit identifier and time columns.
    truth : dict, optional
        True parameters, set by the synthetic data generators.

    Raises
    ------
    DataError
        On missing unit/time values, duplicate (unit, time) pairs, or a time column
        that is not integer-like.
    """

    def __init__(
        self, data: Any, unit: str, time: str, *, truth: dict[str, Any] | None = None
    ) -> None:
        df = as_pandas(data)
        if not isinstance(unit, str) or not isinstance(time, str):
            raise SpecError("unit= and time= must be column names (strings)")
        require_columns(df, [unit, time], "panel key column")
        if unit == time:
            raise SpecError(f"unit and time must be different columns, both are {unit!r}")
        for col in (unit, time):
            miss = df[col].isna().to_numpy()
            if miss.any():
                rows = df.index[miss]
                raise DataError(
                    f"{int(miss.sum())} rows have a missing {col!r} "
                    f"(rows {preview(rows)}); drop or fill them before building a Panel"
                )
        df[time] = _integer_time(df[time], time)
        dup = df.duplicated([unit, time], keep=False).to_numpy()
        if dup.any():
            pairs = (
                df.loc[dup, [unit, time]].drop_duplicates().itertuples(index=False, name=None)
            )
            raise DataError(
                f"{int(dup.sum())} rows share a ({unit}, {time}) pair with another row, "
                f"e.g. {preview(list(pairs))}; a panel needs one row per unit and period. "
                "Aggregate or deduplicate first (df.drop_duplicates([unit, time]))."
            )
        df = df.sort_values([unit, time], kind="mergesort").reset_index(drop=True)
        self._df = df
        self.unit = unit
        self.time = time
        self.truth = dict(truth) if truth else None

    # ------------------------------------------------------------------ basics
    @property
    def df(self) -> pd.DataFrame:
        """The panel's table, sorted by unit then time (a copy-safe view)."""
        return self._df

    def to_pandas(self) -> pd.DataFrame:
        """Return a copy of the table."""
        return self._df.copy()

    def __len__(self) -> int:
        return len(self._df)

    def __repr__(self) -> str:
        bal = "balanced" if self.is_balanced else "unbalanced"
        t = self.periods
        return (
            f"Panel({self.n_units} units x {self.n_periods} periods "
            f"[{t[0]}-{t[-1]}], {len(self)} rows, {bal}; unit={self.unit!r}, time={self.time!r})"
        )

    def _with(self, df: pd.DataFrame) -> Panel:
        out = Panel.__new__(Panel)
        out._df = df
        out.unit, out.time, out.truth = self.unit, self.time, self.truth
        return out

    # ------------------------------------------------------------------- facts
    @property
    def n_units(self) -> int:
        """Number of distinct units."""
        return int(self._df[self.unit].nunique())

    @property
    def periods(self) -> np.ndarray:
        """Sorted distinct time values."""
        return np.sort(self._df[self.time].unique())

    @property
    def n_periods(self) -> int:
        """Number of distinct periods."""
        return int(self._df[self.time].nunique())

    @property
    def is_balanced(self) -> bool:
        """True when every unit is observed in every period."""
        return len(self._df) == self.n_units * self.n_periods

    @property
    def coverage(self) -> pd.DataFrame:
        """Per unit: first and last period, periods observed and gaps inside the span."""
        g = self._df.groupby(self.unit, sort=True)[self.time]
        out = pd.DataFrame({"first": g.min(), "last": g.max(), "n_periods": g.size()})
        out["gaps"] = (out["last"] - out["first"] + 1) - out["n_periods"]
        return out

    @property
    def gaps(self) -> pd.DataFrame:
        """Units with holes inside their observed span (see :attr:`coverage`)."""
        cov = self.coverage
        return cov[cov["gaps"] > 0]

    def describe(self) -> dict[str, Any]:
        """Panel facts as a dictionary (units, periods, rows, balance, gaps)."""
        t = self.periods
        cov = self.coverage
        return {
            "unit": self.unit,
            "time": self.time,
            "n_units": self.n_units,
            "n_periods": self.n_periods,
            "first_period": int(t[0]),
            "last_period": int(t[-1]),
            "n_rows": len(self),
            "balanced": self.is_balanced,
            "units_with_gaps": int((cov["gaps"] > 0).sum()),
            "min_periods_per_unit": int(cov["n_periods"].min()),
            "max_periods_per_unit": int(cov["n_periods"].max()),
        }

    # -------------------------------------------------------------- transforms
    def assign(self, **columns: Any) -> Panel:
        """Return a new Panel with columns added or replaced (like DataFrame.assign)."""
        for k in (self.unit, self.time):
            if k in columns:
                raise SpecError(f"cannot overwrite the panel key column {k!r}")
        return self._with(_assign(self._df, columns))

    def lag(self, col: str | Sequence[str], k: int = 1, name: str | None = None) -> Panel:
        """Add ``{col}_lag{k}``: the value k periods earlier in the same unit.

        Never wraps across units or across gaps: where period t-k is not observed the
        lag is missing.
        """
        from policylab.data.transforms import shift

        return self._add_many(
            col, name, lambda c: shift(self._df, self.unit, self.time, c, k), f"_lag{k}"
        )

    def lead(self, col: str | Sequence[str], k: int = 1, name: str | None = None) -> Panel:
        """Add ``{col}_lead{k}``: the value k periods later in the same unit."""
        from policylab.data.transforms import shift

        return self._add_many(
            col, name, lambda c: shift(self._df, self.unit, self.time, c, -k), f"_lead{k}"
        )

    def diff(self, col: str | Sequence[str], k: int = 1, name: str | None = None) -> Panel:
        """Add ``d_{col}``: x_t - x_{t-k} within unit (missing across gaps)."""
        from policylab.data.transforms import shift

        def f(c: str) -> pd.Series:
            return self._df[c] - shift(self._df, self.unit, self.time, c, k)

        return self._add_many(col, name, f, "", prefix="d_" if k == 1 else f"d{k}_")

    def log(
        self, col: str | Sequence[str], name: str | None = None, *, log1p: bool = False
    ) -> Panel:
        """Add ``ln_{col}`` (or ``ln1p_{col}`` with ``log1p=True``).

        Raises a DataError naming how many values are <= 0 (or < 0 for log1p) and where.
        """
        from policylab.data.transforms import safe_log

        return self._add_many(
            col, name, lambda c: safe_log(self._df, c, self.unit, self.time, log1p=log1p),
            "", prefix="ln1p_" if log1p else "ln_",
        )

    def winsorize(
        self,
        col: str | Sequence[str],
        lower: float = 0.01,
        upper: float = 0.99,
        *,
        by: str | None = None,
        suffix: str = "_w",
    ) -> Panel:
        """Add ``{col}_w`` clipped at the given quantiles (Stata ``winsor2, cut(1 99)``).

        ``by`` computes the cut-offs within groups (e.g. by year).
        """
        from policylab.data.transforms import winsorize

        return self._add_many(
            col, None, lambda c: winsorize(self._df, c, lower, upper, by=by), suffix
        )

    def per_capita(
        self, col: str | Sequence[str], population: str, scale: float = 1.0, suffix: str = "_pc"
    ) -> Panel:
        """Add ``{col}_pc`` = col / population * scale (``scale=1e4``: per 10k people)."""
        from policylab.data.transforms import per_capita

        return self._add_many(
            col, None, lambda c: per_capita(self._df, c, population, scale), suffix
        )

    def deflate(
        self,
        col: str | Sequence[str],
        price_index: str,
        base: int,
        *,
        kind: str = "level",
        suffix: str = "_real",
    ) -> Panel:
        """Add ``{col}_real``, the nominal column in constant prices of year ``base``.

        Parameters
        ----------
        price_index : str
            Price-index column. ``kind="level"``: an index level (any base) per unit and
            year; ``kind="chain"``: a previous-year = 100 index, chained within unit.
        base : int
            The base year; each unit's index is rebased so that it equals 1 in ``base``.
        """
        from policylab.data.transforms import deflate

        return self._add_many(
            col, None,
            lambda c: deflate(self._df, c, price_index, self.unit, self.time, base, kind=kind),
            suffix,
        )

    def _add_many(
        self, col: str | Sequence[str], name: str | None, fn: Any, suffix: str, prefix: str = ""
    ) -> Panel:
        cols = [col] if isinstance(col, str) else list(col)
        require_columns(self._df, cols)
        if name is not None and len(cols) != 1:
            raise SpecError("name= can only be given for a single column")
        new = {}
        for c in cols:
            new[name or f"{prefix}{c}{suffix}"] = fn(c).to_numpy()
        return self._with(_assign(self._df, new))


def _assign(df: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """``df.assign(**columns)`` with the new columns added in one concat: pandas inserts
    them one by one, and a frame read from a wide CSV (one block per column) then makes
    it print a "highly fragmented" PerformanceWarning for each."""
    if any(callable(v) for v in columns.values()):
        return df.assign(**columns)  # callables see the columns assigned before them
    replaced = {k: v for k, v in columns.items() if k in df.columns}
    out = df.assign(**replaced) if replaced else df
    added = {k: v for k, v in columns.items() if k not in df.columns}
    if not added:
        return out
    extra = pd.DataFrame(added, index=df.index)
    extra.attrs = dict(df.attrs)  # concat keeps attrs (e.g. Stata labels) when they agree
    return pd.concat([out, extra], axis=1)


def _integer_time(s: pd.Series, col: str) -> pd.Series:
    """Coerce a time column to int64, refusing non-integer values."""
    if pd.api.types.is_datetime64_any_dtype(s):
        raise DataError(
            f"time column {col!r} holds dates; panels use integer periods. "
            f"Use e.g. df[{col!r}].dt.year (annual) or a period number."
        )
    if pd.api.types.is_integer_dtype(s):
        return s.astype("int64")
    conv = pd.to_numeric(s, errors="coerce")
    bad = conv.isna() & s.notna()
    if bad.any():
        raise DataError(
            f"time column {col!r} must be integer-like, e.g. value {s[bad].iloc[0]!r} "
            f"({int(bad.sum())} such rows, first at row {s.index[bad][0]!r})"
        )
    frac = conv != np.round(conv)
    if frac.any():
        raise DataError(
            f"time column {col!r} must be integer-like, but {int(frac.sum())} values are not "
            f"whole numbers, e.g. {conv[frac].iloc[0]!r}"
        )
    return conv.astype("int64")

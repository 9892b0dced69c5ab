"""How numbers look in tables: one typed cell, one set of rules for every format.

A :class:`Num` keeps the number itself next to how it is shown (decimals, stars,
parentheses), so Excel gets a numeric cell with a number format, LaTeX a true minus and
the text formats the same digits. :func:`column_kind` decides per DataFrame column
whether its numbers are counts/periods (integers), p-values or measurements.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Num", "column_kind", "format_number", "format_p", "P_FLOOR"]

P_FLOOR = 0.001  # p-values below this are printed "<0.001", as journals ask

_P_NAME = re.compile(r"^(p|pval|pvalue|p_value|p_.+|.+_p|.+_pvalue|.+_p_value)$", re.I)
# measurements that stay decimal even when they happen to be whole numbers
_CONTINUOUS = {"estimate", "std_error", "statistic", "conf_low", "conf_high", "mean", "sd",
               "min", "max", "median", "share", "weight", "coef", "se", "t", "z", "r2",
               "bias", "bias_before", "bias_after", "effect", "a", "b", "c", "c_prime",
               "boot_low", "boot_high", "slope", "power", "M", "variance", "var"}


#: shares printed as percentages (the mediation share: "24.40%", as the papers print it)
_PERCENT = {"share"}
#: decimals of a percentage
PERCENT_DIGITS = 2


def _is_measurement(key: str) -> bool:
    from policylab.report.labels import COLUMNS_ZH

    return key in _CONTINUOUS or key in {COLUMNS_ZH[k] for k in _CONTINUOUS if k in COLUMNS_ZH}


def format_number(x: float, digits: int = 3) -> str:
    """Fixed decimals; scientific from one million on; "" for NaN/inf/None."""
    if x is None or not math.isfinite(x):
        return ""
    return f"{x:.{digits}f}" if abs(x) < 1e6 else f"{x:.{digits}e}"


def format_p(p: float, digits: int = 3) -> str:
    """A p-value: "<0.001" below :data:`P_FLOOR`, else at least three decimals."""
    if p is None or not math.isfinite(p):
        return ""
    return "<0.001" if p < P_FLOOR else f"{p:.{max(digits, 3)}f}"


def _integer_text(x: float, thousands: bool) -> str:
    if x is None or not math.isfinite(x):
        return ""
    return f"{int(round(x)):,}" if thousands else str(int(round(x)))


@dataclass(frozen=True)
class Num:
    """A number in a table cell and how to show it.

    Parameters
    ----------
    value : float, or (low, high) for an interval
    kind : {"number", "integer", "pvalue", "interval", "percent"}
    digits : decimals of numbers, p-values (at least 3) and intervals; a percent (a
        share 0.244 shown "24.40%", the papers' form) always has two
    stars : significance stars shown after the number ("", "*", "**", "***")
    wrap : "" or "()" or "[]" around the number (standard errors, t statistics, CIs)
    thousands : integers with a thousands separator (N in regression tables)
    """

    value: float | tuple[float, float]
    kind: str = "number"
    digits: int = 3
    stars: str = ""
    wrap: str = ""
    thousands: bool = False

    def core(self) -> str:
        """The number alone (no stars or brackets), with a hyphen-minus."""
        if self.kind == "interval":
            lo, hi = self.value  # type: ignore[misc]
            a, b = format_number(lo, self.digits), format_number(hi, self.digits)
            return f"{a}, {b}" if a and b else ""
        v = float(self.value)  # type: ignore[arg-type]
        if self.kind == "integer":
            return _integer_text(v, self.thousands)
        if self.kind == "pvalue":
            return format_p(v, self.digits)
        if self.kind == "percent":
            return f"{format_number(100 * v, PERCENT_DIGITS)}%" if math.isfinite(v) else ""
        return format_number(v, self.digits)

    @property
    def text(self) -> str:
        """As printed in text, Markdown, HTML and Word: e.g. ``-0.230***`` or ``(0.027)``."""
        core = self.core()
        if not core:
            return ""
        return f"{self.wrap[:1]}{core}{self.stars}{self.wrap[1:]}"

    @property
    def finite(self) -> bool:
        vals = self.value if isinstance(self.value, tuple) else (self.value,)
        return all(v is not None and math.isfinite(v) for v in vals)

    def excel(self) -> tuple[Any, str | None]:
        """(cell value, number format) for Excel: a numeric cell whose display format
        shows the same text (stars and brackets are part of the format, so the value
        stays a number); intervals, which hold two numbers, are text."""
        if self.kind == "interval" or not self.finite:
            return self.text, None
        v = float(self.value)  # type: ignore[arg-type]
        pre = f'"{self.wrap[:1]}"' if self.wrap else ""
        post = (f'"{self.stars}"' if self.stars else "") + (f'"{self.wrap[1:]}"'
                                                             if self.wrap else "")
        if self.kind == "integer":
            return int(round(v)), f"{pre}{'#,##0' if self.thousands else '0'}{post}"
        if self.kind == "percent":
            return v, "0." + "0" * PERCENT_DIGITS + "%"
        if self.kind == "pvalue":
            d = "0." + "0" * max(self.digits, 3)
            small = f'"{self.wrap[:1]}<0.001{self.stars}{self.wrap[1:]}"'
            return v, f"[<{P_FLOOR}]{small};{pre}{d}{post}"
        d = ("0." + "0" * self.digits if self.digits > 0 else "0")
        if abs(v) >= 1e6:
            d += "E+00"
        # the second section (negatives) carries its own minus inside the brackets
        return v, f'{pre}{d}{post};{pre}"-"{d}{post}'


def _is_whole(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool(np.all(finite == np.round(finite))) and bool(
        np.all(np.abs(finite) < 1e15))


def column_kind(name: Any, column: pd.Series) -> str:
    """How to show a DataFrame column: "bool", "integer", "pvalue", "percent", "number" or
    "text".

    Decided by dtype and values, helped by the column's name: integer dtypes, and float
    columns whose values are all whole numbers (a NaN makes counts float) unless the
    name says it is a measurement (estimate, mean, sd, ...), are integers — event time
    "-6", cohort "2011", draws "500"; p-value names (p_value, p_left, ...) are p-values;
    a ``share`` (the share mediated) is a percentage.
    """
    s = column.dropna()
    if pd.api.types.is_bool_dtype(column) or (
            len(s) and all(isinstance(v, (bool, np.bool_)) for v in s)):
        return "bool"
    if not pd.api.types.is_numeric_dtype(column):
        if len(s) and all(isinstance(v, (int, float, np.integer, np.floating))
                          and not isinstance(v, (bool, np.bool_)) for v in s):
            column = pd.to_numeric(column)
        else:
            return "text"
    key = str(name).rsplit(": ", 1)[-1]  # "treated: mean" in wide descriptives
    values = column.to_numpy(dtype=float, na_value=np.nan)
    if _P_NAME.match(key) and not pd.api.types.is_integer_dtype(column):
        return "pvalue"
    if key in _PERCENT:
        return "percent"
    if pd.api.types.is_integer_dtype(column):
        return "integer"
    if not _is_measurement(key) and _is_whole(values):
        return "integer"
    return "number"

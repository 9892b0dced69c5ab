"""Write a table as a Stata .dta file, with its variable and value labels.

Stata (14 and later, format 118) takes Unicode variable names, so Chinese names stay
as they are; a name Stata refuses (spaces, brackets, ``x1-x2``, a leading digit, more
than 32 characters, a reserved word such as ``in`` or ``_n``) is renamed, the renames
are reported in a warning, and the original name becomes the variable label when the
column has none, so nothing is lost. The file is written atomically
(:func:`policylab.report.io.write_atomic`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import DataError, PolicyLabWarning, SpecError

__all__ = ["write_dta", "stata_names"]

# Stata's reserved names ([U] 11.3) and the Mata words pandas also refuses
_RESERVED = frozenset("""
_all _b _coef _cons _n _N _pi _pred _rc _se _skip byte double float if in int long str#
strL using with aggregate array boolean break case catch class colvector complex const
continue default delegate delete do else eltypedef end enum explicit export external for
friend function global goto inline local NULL pragma protected quad rowvector short
typedef typename virtual
""".split())
_MAX_NAME, _MAX_LABEL = 32, 80
_VARIABLE_LABELS_ATTR = "policylab_variable_labels"  # as policylab.data.readers sets them
_VALUE_LABELS_ATTR = "policylab_value_labels"


def _legal(name: str) -> str:
    # ASCII letters, digits and _; any character above Latin-1 (CJK...) is allowed
    s = "".join(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) or ord(ch) >= 192
                else "_" for ch in name)
    if not s or s[0].isdigit():
        s = "_" + s
    if s in _RESERVED:
        s = "_" + s
    return s[:_MAX_NAME]


def stata_names(columns: list[str]) -> dict[str, str]:
    """Column -> a Stata-legal, unique name (only the columns that must change)."""
    taken = set(columns)
    out: dict[str, str] = {}
    for c in columns:
        new = _legal(str(c))
        if new == c:
            continue
        base, k = new, 2
        while new in taken:
            suffix = f"_{k}"
            new, k = base[:_MAX_NAME - len(suffix)] + suffix, k + 1
        taken.add(new)
        out[c] = new
    return out


def _frame(data: Any) -> pd.DataFrame:
    df = getattr(data, "df", data)  # a policylab Panel holds its table in .df
    if type(df).__module__.startswith("polars"):
        df = df.to_pandas()
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"write_dta needs a DataFrame or a Panel, got {type(data).__name__}")
    return df


def _labelled_codes(df: pd.DataFrame, col: str, mapping: Mapping[Any, str]) -> pd.Series:
    """The column as integer codes for Stata's value labels (categories back to codes)."""
    s = df[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        to_code: dict[str, Any] = {}
        for code, text in mapping.items():
            to_code.setdefault(str(text), code)
        s = s.astype(object).map(lambda v: to_code.get(str(v), np.nan) if pd.notna(v) else v)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna()
    if bad.any() or not np.all(np.mod(num.dropna(), 1) == 0):
        raise DataError(f"value labels for {col!r}: Stata labels integer codes only, and "
                        f"{col!r} holds {s[bad].iloc[0] if bad.any() else 'non-integer'!r}; "
                        "drop its value labels or recode it")
    return num


def _check_labels(variable_labels: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for c, lab in variable_labels.items():
        text = str(lab)
        if len(text) > _MAX_LABEL:
            raise DataError(f"the variable label of {c!r} has {len(text)} characters; Stata "
                            f"allows {_MAX_LABEL}: shorten it")
        out[c] = text
    return out


def write_dta(data: Any, path: str | Path, *, variable_labels: Mapping[str, str] | None = None,
              value_labels: Mapping[str, Mapping[Any, str]] | None = None,
              data_label: str | None = None) -> Path:
    """Write a DataFrame or Panel as a Stata .dta file (Stata 14+), atomically.

    Parameters
    ----------
    data : DataFrame or Panel
        The table; the index is not written.
    path : str or Path
        Target file, ending in ``.dta``; its folder must exist.
    variable_labels : dict, optional
        Column -> label (at most 80 characters). Default: the labels a Stata file was
        read with (``df.attrs["policylab_variable_labels"]``); given labels win.
    value_labels : dict, optional
        Column -> {integer code: label}. Default: those read from a Stata file
        (``df.attrs["policylab_value_labels"]``). A categorical column that has them
        is written as its original codes; one that has none is written by pandas with
        codes 0, 1, ... in category order.
    data_label : str, optional
        The dataset label (at most 80 characters).

    Returns
    -------
    Path
        ``path``. Names Stata refuses are renamed (a PolicyLabWarning lists them) and
        the original name becomes the variable label when there is none.
    """
    from policylab.report.io import write_atomic

    target = Path(path)
    if target.suffix.lower() != ".dta":
        raise SpecError(f"write_dta writes Stata files: {target.name!r} must end with .dta")
    df = _frame(data)
    var_labels = {**df.attrs.get(_VARIABLE_LABELS_ATTR, {}), **dict(variable_labels or {})}
    val_labels = {**df.attrs.get(_VALUE_LABELS_ATTR, {}), **dict(value_labels or {})}
    # labels read with the file may name columns dropped since; given ones may not
    missing = sorted((set(variable_labels or {}) | set(value_labels or {})) - set(df.columns))
    if missing:
        raise DataError(f"labels given for columns the data do not have: {missing}")
    cols = {c: df[c] for c in df.columns}
    for c, mapping in val_labels.items():
        if c in cols:
            cols[c] = _labelled_codes(df, c, mapping)
    out = pd.DataFrame(cols, index=pd.RangeIndex(len(df)))
    renames = stata_names([str(c) for c in out.columns])
    for old in renames:
        var_labels.setdefault(old, str(old)[:_MAX_LABEL])
    out = out.rename(columns=renames)
    labels = _check_labels({renames.get(c, c): v for c, v in var_labels.items()
                            if c in df.columns})
    vals = {renames.get(c, c): {int(k): str(v) for k, v in m.items()}
            for c, m in val_labels.items() if c in df.columns}
    if renames:
        warnings.warn("renamed for Stata: " + ", ".join(f"{a!r} -> {b!r}" for a, b in
                                                          renames.items()),
                      PolicyLabWarning, stacklevel=2)

    def save(p: str) -> None:
        out.to_stata(p, write_index=False, version=118, variable_labels=labels,
                     value_labels=vals or None, data_label=data_label)

    try:
        return write_atomic(target, save)
    except ValueError as exc:  # pandas' refusals: a label too long, an odd dtype...
        raise DataError(f"cannot write {target.name!r} as Stata: {exc}") from exc

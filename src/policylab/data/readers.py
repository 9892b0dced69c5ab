"""Read panel data from CSV, Excel, Stata .dta and Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from policylab.data.panel import Panel
from policylab.errors import DataError

__all__ = ["read", "read_table"]

_READERS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".xlsx": "excel",
    ".xls": "excel",
    ".dta": "stata",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def read_table(path: str | Path, columns: list[str] | None = None, **kwargs: Any) -> pd.DataFrame:
    """Read a file into a pandas DataFrame, choosing the reader by file extension."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file not found: {str(p)!r}")
    kind = _READERS.get(p.suffix.lower())
    if kind is None:
        raise DataError(
            f"cannot read {p.name!r}: unknown extension {p.suffix!r}; "
            f"supported: {', '.join(sorted(_READERS))}"
        )
    try:
        if kind == "csv":
            return pd.read_csv(p, usecols=columns, **kwargs)
        if kind == "tsv":
            return pd.read_csv(p, sep="\t", usecols=columns, **kwargs)
        if kind == "excel":
            return pd.read_excel(p, usecols=columns, **kwargs)
        if kind == "stata":
            return pd.read_stata(p, columns=columns, convert_categoricals=False, **kwargs)
        return pd.read_parquet(p, columns=columns, **kwargs)
    except (ValueError, KeyError) as exc:
        raise DataError(f"could not read {p.name!r}: {exc}") from exc


def read(
    path: str | Path | list[str],
    unit: str,
    time: str,
    columns: list[str] | None = None,
    *,
    where: str | None = None,
    **kwargs: Any,
) -> Panel:
    """Read a CSV, Excel, Stata (.dta) or Parquet file into a validated :class:`Panel`.

    Parameters
    ----------
    path : str, Path or list
        The file; its extension selects the reader. A glob (``"firms/*.parquet"``), a list
        of files, or ``where=`` reads Parquet/CSV through DuckDB, which pushes the column
        selection and the row filter down so only what is asked for is loaded.
    unit, time : str
        Unit and time column names.
    columns : list of str, optional
        Only these columns (plus unit and time) are loaded.
    where : str, optional
        SQL row filter for DuckDB scans, e.g. ``"year >= 2005 AND province <> 'Tibet'"``.
    **kwargs
        Passed to the pandas reader.
    """
    if columns is not None:
        columns = list(dict.fromkeys([unit, time, *columns]))
    text = str(path) if not isinstance(path, list) else ""
    if isinstance(path, list) or where is not None or any(c in text for c in "*?["):
        from policylab.data import scan

        cols = columns or scan.scan_columns(path)
        return Panel(scan.read_scan(path, cols, where), unit=unit, time=time)
    return Panel(read_table(path, columns=columns, **kwargs), unit=unit, time=time)

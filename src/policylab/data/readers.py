"""Read panel data from CSV, Excel, Stata .dta and Parquet files.

Every failure to read becomes a :class:`~policylab.errors.DataError` naming the file
and the fix: a missing file or a folder, an unknown extension, a text encoding that is
not UTF-8 and cannot be detected, an empty table, a corrupt or hostile workbook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from policylab.data.panel import Panel
from policylab.errors import DataError, PolicyLabError, SpecError

__all__ = ["read", "read_table", "ENCODING_ATTR", "VARIABLE_LABELS_ATTR", "VALUE_LABELS_ATTR"]

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

# DataFrame.attrs key holding the text encoding a CSV was read with (for provenance)
ENCODING_ATTR = "policylab_encoding"
# DataFrame.attrs keys holding a Stata file's labels: column -> variable label, and
# column -> {code: value label}
VARIABLE_LABELS_ATTR = "policylab_variable_labels"
VALUE_LABELS_ATTR = "policylab_value_labels"


def _check_path(p: Path) -> None:
    if p.is_dir():
        raise DataError(f"{str(p)!r} is a folder, not a data file; give the file inside it "
                        "(CSV, Excel, .dta or Parquet)")
    if not p.exists():
        parent = p.parent if p.parent.is_dir() else None
        near = ""
        if parent is not None:
            import difflib

            names = [c.name for c in parent.iterdir() if c.suffix.lower() in _READERS]
            close = difflib.get_close_matches(p.name, names, n=3)
            near = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DataError(f"data file not found: {str(p)!r}{near}")


def _read_csv(p: Path, sep: str, columns: list[str] | None, encoding: str | None,
              kwargs: dict[str, Any]) -> pd.DataFrame:
    from policylab.data.encoding import choose_encoding, detect_encoding, normalize_encoding

    if encoding is not None:
        enc = normalize_encoding(encoding)
        try:
            df = pd.read_csv(p, sep=sep, usecols=columns, encoding=enc, **kwargs)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{p.name!r} is not valid {encoding!r} text (byte {exc.start}); give its "
                "real encoding, e.g. encoding='gb18030' or 'utf-8', or omit encoding= to "
                "detect it"
            ) from exc
    else:
        # UTF-8 (BOM or not) first unless the first megabyte says otherwise
        enc = choose_encoding(p)
        try:
            df = pd.read_csv(p, sep=sep, usecols=columns, encoding=enc, **kwargs)
        except UnicodeDecodeError:
            # the first megabyte read as UTF-8 but a later byte does not
            enc = detect_encoding(p)
            try:
                df = pd.read_csv(p, sep=sep, usecols=columns, encoding=enc, **kwargs)
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{p.name!r} is neither UTF-8 nor {enc!r} throughout (byte "
                    f"{exc.start}); pass its encoding, e.g. encoding='gb18030'"
                ) from exc
    df.attrs[ENCODING_ATTR] = "utf-8" if enc == "utf-8-sig" else enc
    return df


def _read_excel(p: Path, columns: list[str] | None, kwargs: dict[str, Any]) -> pd.DataFrame:
    if p.suffix.lower() == ".xlsx":
        from policylab.data.spreadsheet import check_xlsx

        check_xlsx(p)
    else:
        import importlib.util

        if importlib.util.find_spec("xlrd") is None:
            raise DataError(f"reading the old Excel format ({p.name!r}) needs xlrd: "
                            "pip install xlrd, or save the file as .xlsx or CSV")
    return pd.read_excel(p, usecols=columns, **kwargs)


def _stata_labels(rdr: Any, columns: list[str]) -> tuple[dict[str, str],
                                                         dict[str, dict[Any, str]]]:
    """Variable labels and, per column, its value labels (code -> text)."""
    var_labels = {k: v for k, v in rdr.variable_labels().items() if k in columns and v}
    sets = rdr.value_labels()
    # which label set each variable uses (Stata lets several share one, e.g. "yesno");
    # pandas keeps that list privately, so fall back to a set named like the column
    varlist = list(getattr(rdr, "_varlist", None) or [])
    lbllist = list(getattr(rdr, "_lbllist", None) or [])
    uses = dict(zip(varlist, lbllist)) if len(varlist) == len(lbllist) else {}
    value_labels = {}
    for c in columns:
        name = uses.get(c, c) or ""
        if name in sets and sets[name]:
            value_labels[c] = {(int(k) if float(k).is_integer() else float(k)): str(v)
                               for k, v in sets[name].items()}
    return var_labels, value_labels


def _as_categories(df: pd.DataFrame, value_labels: dict[str, dict[Any, str]]) -> None:
    """Labelled columns as categories (labels in code order) where every value has a
    label; the codes stay in ``df.attrs[VALUE_LABELS_ATTR]``."""
    import warnings

    from policylab.errors import PolicyLabWarning

    for c, mapping in value_labels.items():
        s = df[c]
        unlabelled = sorted(set(s.dropna().unique()) - set(mapping))
        if unlabelled:
            shown = [int(v) if float(v).is_integer() else float(v) for v in unlabelled[:5]]
            warnings.warn(f"column {c!r} keeps its codes: the values {shown} have no value "
                          "label", PolicyLabWarning, stacklevel=4)
            continue
        cats = list(dict.fromkeys(mapping[k] for k in sorted(mapping)))
        df[c] = pd.Categorical(s.map(mapping), categories=cats)


def _read_stata(p: Path, columns: list[str] | None, value_labels: str,
                kwargs: dict[str, Any]) -> pd.DataFrame:
    from pandas.io.stata import StataReader

    with StataReader(p, convert_categoricals=False, columns=columns, **kwargs) as rdr:
        df = rdr.read()
        var_labels, val_labels = _stata_labels(rdr, list(map(str, df.columns)))
    if value_labels == "labels":
        _as_categories(df, val_labels)
    df.attrs[VARIABLE_LABELS_ATTR] = var_labels
    df.attrs[VALUE_LABELS_ATTR] = val_labels
    return df


def read_table(path: str | Path, columns: list[str] | None = None, *,
               encoding: str | None = None, value_labels: str = "codes",
               **kwargs: Any) -> pd.DataFrame:
    """Read a file into a pandas DataFrame, choosing the reader by file extension.

    Parameters
    ----------
    path : str or Path
        A .csv/.txt/.tsv, .xlsx/.xls, .dta or .parquet file.
    columns : list of str, optional
        Only these columns are loaded.
    encoding : str, optional
        Text encoding of a CSV file (e.g. ``"gb18030"`` for GBK files from Chinese
        Windows). By default UTF-8 (with or without a byte-order mark) is tried first,
        then the encoding is detected; the one used is kept in
        ``df.attrs["policylab_encoding"]``.
    value_labels : {"codes", "labels"}
        Stata files: ``"codes"`` (default) keeps labelled columns numeric, as Stata
        computes with them (a 0/1 treatment labelled "no"/"yes" stays 0/1);
        ``"labels"`` makes a column whose every value has a label a pandas Categorical
        of the labels. Either way the labels are kept in ``df.attrs``:
        ``"policylab_value_labels"`` (column -> {code: label}) and
        ``"policylab_variable_labels"`` (column -> variable label); a study shows them
        in its tables (see docs/outputs.md).
    **kwargs
        Passed to the pandas reader.
    """
    if value_labels not in ("codes", "labels"):
        raise SpecError(f"value_labels={value_labels!r}: use 'codes' (keep Stata's numbers) "
                        "or 'labels' (categories named by the value labels)")
    p = Path(path)
    _check_path(p)
    kind = _READERS.get(p.suffix.lower())
    if kind is None:
        raise DataError(
            f"cannot read {p.name!r}: unknown extension {p.suffix!r}; "
            f"supported: {', '.join(sorted(_READERS))}"
        )
    if value_labels != "codes" and kind != "stata":
        raise SpecError(f"value_labels={value_labels!r} applies to Stata .dta files; "
                        f"{p.name!r} is {kind}")
    if encoding is not None and kind not in ("csv", "tsv"):
        raise SpecError(f"encoding={encoding!r} applies to CSV files; {p.name!r} is "
                        f"{kind}, which records its own encoding")
    try:
        if kind in ("csv", "tsv"):
            df = _read_csv(p, "\t" if kind == "tsv" else ",", columns, encoding, kwargs)
        elif kind == "excel":
            df = _read_excel(p, columns, kwargs)
        elif kind == "stata":
            df = _read_stata(p, columns, value_labels, kwargs)
        else:
            df = pd.read_parquet(p, columns=columns, **kwargs)
    except PolicyLabError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{p.name!r} is empty: no header and no rows") from exc
    except MemoryError as exc:
        raise DataError(f"{p.name!r} does not fit in memory; read only the columns you "
                        "need (columns=) or scan it with a row filter (where=)") from exc
    except Exception as exc:  # each reader has its own error types for a bad file
        raise DataError(f"could not read {p.name!r} ({type(exc).__name__}: {exc}); check "
                        f"that it is a valid {kind} file") from exc
    if len(df) == 0:
        raise DataError(f"{p.name!r} has no data rows (only the header "
                        f"{list(map(str, df.columns))[:8]})")
    return df


def read(
    path: str | Path | list[str],
    unit: str,
    time: str,
    columns: list[str] | None = None,
    *,
    where: str | None = None,
    encoding: str | None = None,
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
    encoding : str, optional
        Text encoding of a CSV file, e.g. ``"gb18030"`` (GBK); default: UTF-8 first,
        then detected (see :func:`read_table`). Scans read UTF-8 only.
    **kwargs
        Passed to the pandas reader.
    """
    from policylab.validation import as_name, as_names

    unit, time = as_name(unit, "unit"), as_name(time, "time")
    if columns is not None:
        columns = list(dict.fromkeys([unit, time, *as_names(columns, "columns")]))
    text = str(path) if not isinstance(path, list) else ""
    if isinstance(path, list) or where is not None or any(c in text for c in "*?["):
        from policylab.data import scan

        if encoding is not None and encoding.lower().replace("-", "") not in ("utf8",):
            raise SpecError(f"encoding={encoding!r}: scans (globs, lists of files, where=) "
                            "read UTF-8 only; read one file at a time, or convert to UTF-8")
        cols = columns or scan.scan_columns(path)
        return Panel(scan.read_scan(path, cols, where), unit=unit, time=time)
    return Panel(read_table(path, columns=columns, encoding=encoding, **kwargs),
                 unit=unit, time=time)

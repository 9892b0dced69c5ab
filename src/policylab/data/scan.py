"""Scan Parquet/CSV files (or globs) through DuckDB, pushing column selection and row
filters down so only what a model uses is read."""

from __future__ import annotations

import glob as _glob
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import DataError, SpecError

__all__ = ["scan_source", "scan_batches", "read_scan", "distinct_values", "scan_columns",
           "quote_ident", "scan_aggregate", "distinct_rows", "partition_by_hash",
           "read_partition"]


def quote_ident(name: str) -> str:
    """A column name as a quoted SQL identifier (user text stays a name)."""
    return '"' + name.replace('"', '""') + '"'


_quote = quote_ident


def scan_source(path: str | Path | list[str]) -> str:
    """DuckDB table function for a file, glob or list of files (Parquet or CSV)."""
    paths = [str(p) for p in path] if isinstance(path, (list, tuple)) else [str(path)]
    matched = [m for p in paths for m in (_glob.glob(p) if any(c in p for c in "*?[") else [p])]
    missing = [p for p in matched if not Path(p).exists()]
    if not matched or missing:
        raise DataError(f"no data files match {paths if not missing else missing}")
    lower = {Path(p).suffix.lower() for p in matched}
    if lower <= {".parquet", ".pq"}:
        fn = "read_parquet"
    elif lower <= {".csv", ".txt"}:
        fn = "read_csv_auto"
    else:
        raise DataError(f"scans read Parquet or CSV files, got extensions {sorted(lower)}")
    files = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in matched) + "]"
    return f"{fn}({files})"


def _connect() -> Any:
    import duckdb

    con = duckdb.connect()
    # the progress bar would write to stdout in the middle of a user's output
    con.execute("SET enable_progress_bar = false")
    return con


def scan_columns(path: str | Path | list[str]) -> list[str]:
    """Column names of the scanned source."""
    con = _connect()
    return [d[0] for d in con.execute(f"SELECT * FROM {scan_source(path)} LIMIT 0").description]


def _check(path: Any, columns: list[str]) -> None:
    import difflib

    have = scan_columns(path)
    bad = [c for c in columns if c not in have]
    if bad:
        hints = [f"{c!r}" + (f" (did you mean {difflib.get_close_matches(c, have, 1)[0]!r}?)"
                             if difflib.get_close_matches(c, have, 1) else "") for c in bad]
        raise DataError(f"columns not in the scanned data: {', '.join(hints)}")


def _query(path: Any, columns: list[str], where: str | None, order_by: list[str] | None) -> str:
    sel = ", ".join(_quote(c) for c in columns)
    q = f"SELECT {sel} FROM {scan_source(path)}"
    if where:
        q += f" WHERE {where}"
    if order_by:
        q += " ORDER BY " + ", ".join(_quote(c) for c in order_by)
    return q


def read_scan(path: Any, columns: list[str], where: str | None = None) -> pd.DataFrame:
    """Load only ``columns`` of the rows matching ``where`` (SQL) into pandas."""
    _check(path, columns)
    try:
        return _connect().execute(_query(path, columns, where, None)).df()
    except Exception as exc:  # duckdb raises its own error types for bad SQL
        raise SpecError(f"scan failed (check where={where!r}): {exc}") from exc


def distinct_values(path: Any, column: str, where: str | None = None) -> np.ndarray:
    """Sorted distinct values of one column."""
    q = f"SELECT DISTINCT {_quote(column)} FROM {scan_source(path)}"
    if where:
        q += f" WHERE {where}"
    q += " ORDER BY 1"
    return _connect().execute(q).fetchnumpy()[column]


def scan_batches(path: Any, columns: list[str], *, where: str | None = None,
                 order_by: list[str] | None = None,
                 batch_rows: int = 1_000_000) -> Iterator[dict[str, np.ndarray]]:
    """Yield column arrays in batches of about ``batch_rows`` rows (ordered if asked)."""
    _check(path, columns)
    con = _connect()
    rel = con.sql(_query(path, columns, where, order_by))
    # duckdb >= 1.4 streams relations with to_arrow_reader (older: record_batch)
    fetch = getattr(rel, "to_arrow_reader", None) or rel.record_batch
    reader = fetch(batch_rows)
    for batch in reader:
        yield {name: batch.column(i).to_numpy(zero_copy_only=False)
               for i, name in enumerate(batch.schema.names)}


def scan_aggregate(path: Any, exprs: list[str], where: str | None = None) -> tuple[Any, ...]:
    """One row of SQL aggregates (e.g. ``count(*)``) over the scanned rows."""
    q = f"SELECT {', '.join(exprs)} FROM {scan_source(path)}"
    if where:
        q += f" WHERE {where}"
    try:
        return tuple(_connect().execute(q).fetchone())
    except Exception as exc:  # duckdb raises its own error types for bad SQL or types
        raise SpecError(f"scan failed (check where= and the column types): {exc}") from exc


def distinct_rows(path: Any, columns: list[str], where: str | None = None,
                  limit: int | None = None) -> dict[str, np.ndarray]:
    """Sorted distinct combinations of ``columns`` (at most ``limit`` of them)."""
    sel = ", ".join(_quote(c) for c in columns)
    q = f"SELECT DISTINCT {sel} FROM {scan_source(path)}"
    if where:
        q += f" WHERE {where}"
    q += f" ORDER BY {', '.join(str(i + 1) for i in range(len(columns)))}"
    if limit is not None:
        q += f" LIMIT {int(limit)}"
    out = _connect().execute(q).fetchnumpy()
    return {c: np.asarray(out[c]) for c in columns}


def partition_by_hash(path: Any, columns: list[str], key: str, n_parts: int,
                      directory: str | Path, *, where: str | None = None,
                      batch_rows: int = 1_000_000,
                      on_batch: Any = None) -> list[Path]:
    """Spill the selected rows into ``n_parts`` Arrow files by a hash of ``key``.

    Every row with the same ``key`` lands in the same file, so each file holds complete
    groups (e.g. panel units) without sorting anything. ``on_batch(rows)`` is called
    after each streamed batch (for progress). Returns the files written (in
    ``directory``, which the caller owns and removes).
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc

    _check(path, columns)
    con = _connect()
    part = f"(hash({_quote(key)}) % {int(n_parts)})::UINTEGER AS __part"
    q = _query(path, columns, where, None).replace(" FROM ", f", {part} FROM ", 1)
    directory = Path(directory)
    files = [directory / f"part{p:05d}.arrow" for p in range(n_parts)]
    writers: list[Any] = []
    try:
        rel = con.sql(q)
        fetch = getattr(rel, "to_arrow_reader", None) or rel.record_batch
        for batch in fetch(batch_rows):
            p = batch.column(batch.num_columns - 1).to_numpy()
            data = batch.select(list(range(batch.num_columns - 1)))
            if not writers:
                writers = [ipc.new_stream(str(f), data.schema) for f in files]
            order = np.argsort(p, kind="stable")
            bounds = np.searchsorted(p[order], np.arange(n_parts + 1))
            data = data.take(pa.array(order))
            for i in np.flatnonzero(np.diff(bounds)):
                writers[i].write_batch(data.slice(bounds[i], bounds[i + 1] - bounds[i]))
            if on_batch is not None:
                on_batch(batch.num_rows)
    finally:
        for wr in writers:
            wr.close()
    return files if writers else []


def read_partition(file: str | Path) -> dict[str, np.ndarray]:
    """Columns of one spilled partition as numpy arrays."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with pa.memory_map(str(file)) as src:
        table = ipc.open_stream(src).read_all()
    return {name: table.column(name).to_numpy() for name in table.column_names}

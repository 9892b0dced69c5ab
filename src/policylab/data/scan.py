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
           "quote_ident", "scan_aggregate", "distinct_rows", "read_rows", "HashPartitions"]


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


def _unreadable(path: Any, exc: Exception) -> DataError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    shown = [str(p) for p in path] if isinstance(path, (list, tuple)) else str(path)
    return DataError(
        f"cannot scan {shown!r}: {first}. Scans read UTF-8 CSV and Parquet files; for a "
        "GBK/GB18030 CSV read the file with pl.read(path, ..., encoding='gb18030') or "
        "convert it to UTF-8"
    )


def scan_columns(path: str | Path | list[str]) -> list[str]:
    """Column names of the scanned source."""
    import duckdb

    source = scan_source(path)
    try:
        cur = _connect().execute(f"SELECT * FROM {source} LIMIT 0")
    except duckdb.Error as exc:
        raise _unreadable(path, exc) from exc
    return [d[0] for d in cur.description]


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
        if where is None:
            raise _unreadable(path, exc) from exc
        raise SpecError(f"scan failed (check where={where!r}): {exc}") from exc


def distinct_values(path: Any, column: str, where: str | None = None) -> np.ndarray:
    """Sorted distinct values of one column."""
    q = f"SELECT DISTINCT {_quote(column)} FROM {scan_source(path)}"
    if where:
        q += f" WHERE {where}"
    q += " ORDER BY 1"
    return _connect().execute(q).fetchnumpy()[column]


def scan_batches(path: Any, columns: list[str], *, where: str | None = None,
                 order_by: list[str] | None = None, batch_rows: int = 1_000_000,
                 keep_order: bool = True) -> Iterator[dict[str, np.ndarray]]:
    """Yield column arrays in batches of about ``batch_rows`` rows (ordered if asked;
    ``keep_order=False`` lets DuckDB hand rows over in any order, which is faster)."""
    _check(path, columns)
    con = _connect()
    if not keep_order and not order_by:
        con.execute("SET preserve_insertion_order = false")
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


def read_rows(path: Any, columns: list[str], where: str | None = None,
              limit: int | None = None) -> dict[str, np.ndarray]:
    """The first ``limit`` matching rows of ``columns`` (in no particular order)."""
    q = _query(path, columns, where, None) + (f" LIMIT {int(limit)}" if limit else "")
    out = _connect().execute(q).fetchnumpy()
    return {c: np.asarray(out[c]) for c in columns}


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


class HashPartitions:
    """Numeric rows spilled to ``n_parts`` files, one per partition of a key.

    With the partition a hash of a key, every row with the same key lands in the same
    partition, so each partition holds complete groups (e.g. panel units) without
    sorting anything. A row is ``n_float`` float64 values then ``n_int`` int64 values
    (stored as 8-byte words in one block); rows are appended as raw bytes and
    ``read(p)`` gives one partition back. The caller owns ``directory``.
    """

    def __init__(self, directory: str | Path, n_parts: int, n_float: int, n_int: int) -> None:
        import resource

        self.dir, self.n_parts = Path(directory), int(n_parts)
        self.shape = (n_float, n_int)
        self.rows = np.zeros(self.n_parts, dtype=np.int64)
        self._files: dict[int, Any] = {}
        # keep every file open unless that would come near the process's limit
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self._keep_open = soft == resource.RLIM_INFINITY or self.n_parts + 256 <= soft

    def _write(self, p: int, data: memoryview) -> None:
        fh = self._files.get(p)
        if fh is not None:
            fh.write(data)
            return
        if not self._keep_open:
            with open(self.dir / f"P{p:05d}.bin", "ab") as f:
                f.write(data)
            return
        fh = self._files[p] = open(self.dir / f"P{p:05d}.bin", "ab")
        fh.write(data)

    def add_grouped(self, rows: np.ndarray, bounds: np.ndarray) -> None:
        """Append a row block (n, n_float + n_int) of 8-byte words already grouped by
        partition: partition p's rows at ``bounds[p]:bounds[p + 1]``."""
        rows = np.ascontiguousarray(rows)
        for p in np.flatnonzero(np.diff(bounds)):
            a, b = bounds[p], bounds[p + 1]
            self._write(int(p), memoryview(rows[a:b]).cast("B"))
            self.rows[p] += b - a

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()

    def read(self, p: int, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Partition ``p`` as (F, K) arrays, views of one block (empty if no row landed
        there), read into ``out`` (a float64 buffer of at least that many words) if
        given."""
        n_f, n_i = self.shape
        n = int(self.rows[p])
        if not n:
            return np.empty((0, n_f)), np.empty((0, n_i), dtype=np.int64)
        path = self.dir / f"P{p:05d}.bin"
        if out is None or out.size < n * (n_f + n_i):
            block = np.fromfile(path, dtype=np.float64)
        else:
            block = out.reshape(-1)[:n * (n_f + n_i)]
            with open(path, "rb") as f:
                got = f.readinto(memoryview(block).cast("B"))
            if got != block.nbytes:
                raise OSError(f"spill file {path} is short: {got} of {block.nbytes} bytes")
        block = block.reshape(-1, n_f + n_i)
        return block[:, :n_f], block[:, n_f:].view(np.int64)

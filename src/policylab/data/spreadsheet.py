"""Refuse corrupt or hostile .xlsx files before a spreadsheet library opens them.

An .xlsx file is a zip of XML parts. Three things can go wrong that a reader must not
meet unprepared: the file is not a zip at all (a renamed CSV, a truncated download);
a part declares XML entities (the "billion laughs" expansion; no genuine workbook
contains a DOCTYPE); or a part inflates to hundreds of times the file's size (a zip
bomb, which would take minutes and gigabytes to parse). Each is found from the zip's
directory and the first bytes of each part, in milliseconds.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from policylab.errors import DataError

__all__ = ["check_xlsx", "MAX_INFLATION", "MAX_INFLATED_BYTES"]

# genuine sheets compress 5-30 times; blank-heavy ones up to ~100; a bomb by 1000+
MAX_INFLATION = 200
# below this the parse is quick whatever the ratio, so the ratio is not checked
MAX_INFLATED_BYTES = 32 << 20
_HEAD = 4096


def check_xlsx(path: Path) -> None:
    """Raise a DataError if ``path`` is not a plain, safely sized .xlsx workbook."""
    name = path.name
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{name!r} is not a valid .xlsx workbook (it is not a zip archive: corrupt, "
            "truncated or another format renamed); open it in Excel and save it again, "
            "or export it as CSV"
        )
    size = max(path.stat().st_size, 1)
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            if total > MAX_INFLATED_BYTES and total > MAX_INFLATION * size:
                big = max(members, key=lambda m: m.file_size)
                raise DataError(
                    f"{name!r} inflates from {size:,} bytes to {total:,} bytes "
                    f"({total / size:,.0f} times; part {big.filename!r}): refused as a "
                    "likely zip bomb; if the workbook is genuine, export the sheet as CSV"
                )
            for m in members:
                if m.filename.endswith((".xml", ".rels", ".vml")):
                    with zf.open(m) as fh:
                        head = fh.read(_HEAD)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise DataError(
                            f"{name!r}: part {m.filename!r} declares XML entities "
                            "(a DOCTYPE), which no genuine workbook does; refused as "
                            "hostile. Open it in Excel and save it again, or export CSV"
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError,
            NotImplementedError, zlib.error) as exc:
        raise DataError(f"{name!r} is a damaged .xlsx workbook ({exc}); open it in Excel "
                        "and save it again, or export it as CSV") from exc

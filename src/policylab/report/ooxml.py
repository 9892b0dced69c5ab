"""Office Open XML packages (.docx, .xlsx) written as ZIP archives of ready parts.

A table's Word or Excel file is a handful of parts of which only one or two depend on
the table (the document body; the sheet and its styles); the others (Word's styles,
~800 kB of XML with the journal fonts; the spreadsheet theme) are the same in every
file. Each part is deflated once (:func:`part`) and the archive is laid out as
:mod:`zipfile` lays one out (:func:`archive`), so a study's dozens of table files do not
compress the same styles dozens of times.
"""

from __future__ import annotations

import re
import struct
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from policylab.errors import DataError
from policylab.report.io import write_atomic

__all__ = ["Part", "part", "archive", "write_package", "refuse_non_xml"]

# characters XML 1.0 cannot hold: lxml refuses them in a Word run, openpyxl in a cell
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def refuse_non_xml(text: str, app: str) -> None:
    """Raise :class:`DataError` when ``text`` (a table's cell, label or note) holds a
    character an ``app`` ("Word", "Excel") file cannot store."""
    if _NOT_XML.search(text):
        raise DataError(f"text {text[:40]!r} holds a control character that {app} files "
                        "cannot store; remove it from the label, note or cell")

#: (member name, CRC-32, uncompressed size, raw deflate stream)
Part = tuple[str, int, int, bytes]


def part(name: str, data: bytes) -> Part:
    """``data`` as the member ``name``, deflated as :mod:`zipfile` deflates
    (ZIP_DEFLATED at zlib's default level, a raw stream)."""
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return name, zlib.crc32(data), len(data), c.compress(data) + c.flush()


def archive(parts: Sequence[Part]) -> bytes:
    """A ZIP archive of ``parts`` in that order, with the headers, times and
    permissions :mod:`zipfile` writes (``ZipFile.writestr`` now)."""
    y, mo, d, h, mi, sec = time.localtime(time.time())[:6]
    dos_time, dos_date = (h << 11) | (mi << 5) | (sec // 2), ((y - 1980) << 9) | (mo << 5) | d
    system = 0 if sys.platform == "win32" else 3
    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, crc, size, data in parts:
        raw = name.encode("ascii")
        local += [struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, dos_time,
                              dos_date, crc, len(data), size, len(raw), 0), raw, data]
        central += [struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, system, 20, 0, 0, 8,
                                dos_time, dos_date, crc, len(data), size, len(raw), 0, 0,
                                0, 0, 0o600 << 16, offset), raw]
        offset += 30 + len(raw) + len(data)
    directory = b"".join(central)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(parts), len(parts),
                      len(directory), offset, 0)
    return b"".join(local) + directory + end


def write_package(path: str | Path, parts: Sequence[Part]) -> Path:
    """Write the archive of ``parts`` to ``path`` atomically."""
    blob = archive(parts)

    def save(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(blob)

    return write_atomic(path, save)

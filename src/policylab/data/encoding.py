"""Text encodings of CSV input: UTF-8 first, then detection (GBK / GB18030 and others).

Chinese statistical yearbooks and Excel on Chinese Windows save CSV in GBK (or its
superset GB18030); most other tools write UTF-8, often with a byte-order mark. UTF-8 is
tried first because it is the common case and decoding it can only fail loudly on other
encodings; only when it fails is the file's encoding detected (charset-normalizer).
"""

from __future__ import annotations

import codecs
from pathlib import Path

from policylab.errors import DataError

__all__ = ["normalize_encoding", "detect_encoding", "SAMPLE_BYTES"]

# bytes read for detection: enough for a few thousand rows of a yearbook table
SAMPLE_BYTES = 1 << 20

# a detector names the narrowest Chinese code page that fits the sample; GB18030 is the
# superset of GB2312 and GBK, so it also decodes rare characters beyond the sample
_WIDEN = {"gb2312": "gb18030", "gbk": "gb18030", "hz": "gb18030"}


def normalize_encoding(encoding: str, key: str = "encoding") -> str:
    """Python's canonical name of an encoding; a DataError names unknown ones."""
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise DataError(f"{key}={encoding!r} is not a known text encoding; use e.g. "
                        "'utf-8', 'gb18030' (GBK files from Chinese Windows), 'big5' "
                        "or 'latin-1'") from None
    # reading UTF-8 with BOM handling costs nothing and drops a BOM Excel may have added
    return "utf-8-sig" if name == "utf-8" else name


def detect_encoding(path: str | Path) -> str:
    """Encoding of a text file that is not UTF-8 (detected on its first megabyte)."""
    from charset_normalizer import from_bytes

    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    best = from_bytes(sample).best()
    if best is None:
        raise DataError(
            f"cannot tell the text encoding of {Path(path).name!r} (it is not UTF-8); "
            "pass it explicitly, e.g. encoding='gb18030' (pl.read / read_table) or "
            "data.encoding = \"gb18030\" in the spec"
        )
    name = codecs.lookup(best.encoding).name
    return _WIDEN.get(name, name)

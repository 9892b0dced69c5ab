"""Text encodings of CSV input: UTF-8 first, then detection (GBK / GB18030 and others).

Chinese statistical yearbooks and Excel on Chinese Windows save CSV in GBK (or its
superset GB18030); most other tools write UTF-8, often with a byte-order mark. The
first megabyte decides:

- pure ASCII, or UTF-8 whose characters are plausible (Chinese, Latin letters, ...):
  UTF-8, the fast common case;
- valid UTF-8 that is really GBK: short GBK texts can happen to be valid UTF-8 ("省" is
  the bytes CA A1, which UTF-8 reads as the IPA letter "ʡ"). Such a sample decodes
  under GB18030 to Chinese characters while its UTF-8 reading is a jumble of phonetic
  symbols, combining marks, several alphabets at once, or accented Latin letters that
  never touch another letter; it is read as GB18030 (a single Chinese character
  repeated can still pass as UTF-8: give ``encoding=`` when you know it);
- not UTF-8: GB18030 or Big5 when charset-normalizer, asked about these two only,
  finds one coherent (or 90% of the GB18030 reading is Chinese) and no Chinese
  character sits inside a Latin word;
- anything else: detected by charset-normalizer (GBK and GB2312 widened to GB18030).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from policylab.errors import DataError

__all__ = ["normalize_encoding", "choose_encoding", "detect_encoding", "gbk_read_as_utf8",
           "SAMPLE_BYTES"]

# bytes read to decide: enough for a few thousand rows of a yearbook table
SAMPLE_BYTES = 1 << 20

# a detector names the narrowest Chinese code page that fits the sample; GB18030 is the
# superset of GB2312 and GBK, so it also decodes rare characters beyond the sample
_WIDEN = {"gb2312": "gb18030", "gbk": "gb18030", "hz": "gb18030"}

# characters of the two-byte UTF-8 range that real text almost never contains: C1
# controls, IPA, spacing modifiers, combining marks, Armenian, Syriac, Thaana, NKo
_RARE = re.compile("[\u0080-\u009f\u0250-\u036f\u0530-\u058f\u0700-\u07ff]")
# alphabets of the two-byte range; one text rarely mixes two of them
_ALPHABETS = {"latin": "\u00a0-\u024f", "greek": "\u0370-\u03ff", "cyrillic": "\u0400-\u052f",
              "hebrew": "\u0590-\u05ff", "arabic": "\u0600-\u06ff"}
_NON_ASCII = re.compile("[^\x00-\x7f]")
_TWO_BYTE = re.compile("[\u0080-\u07ff]")
_LATIN = re.compile("[\u00c0-\u024f]+")
_IN_WORD = re.compile("[A-Za-z][\u00c0-\u024f]|[\u00c0-\u024f][A-Za-z]")
_IN_LATIN_WORD = re.compile("[A-Za-z][\u3400-\u9fff]+[A-Za-z]")
_CHINESE = re.compile("[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


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


def _decodes(sample: bytes, encoding: str) -> str | None:
    try:  # not final: the sample may end inside a character
        return codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return None


def gbk_read_as_utf8(sample: bytes, text: str) -> bool:
    """Whether valid-UTF-8 ``text`` is really GBK (see the module docstring)."""
    two_byte = _TWO_BYTE.findall(text)
    if not two_byte:
        return False  # Chinese in UTF-8 is three bytes a character
    if not _mostly_chinese(_decodes(sample, "gb18030"), 0.9):
        return False
    odd = "".join(two_byte)
    alphabets = sum(bool(re.search(f"[{r}]", odd)) for r in _ALPHABETS.values())
    if _RARE.search(odd) or alphabets >= 2:
        return True
    # accented Latin letters sit inside words ("Orléans"); GBK read as UTF-8 gives
    # lone letters between digits and commas ("ģ0,2000" for "模0,2000")
    return alphabets == 1 and bool(_LATIN.fullmatch(odd)) and not _IN_WORD.search(text)


def choose_encoding(path: str | Path) -> str:
    """The encoding to read a CSV file with, decided on its first megabyte."""
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if sample.isascii():
        return "utf-8-sig"
    text = _decodes(sample, "utf-8-sig")
    if text is not None:
        return "gb18030" if gbk_read_as_utf8(sample, text) else "utf-8-sig"
    # statistical detectors guess wildly among all code pages on a few hundred bytes;
    # our users' other encodings are Chinese, so those are asked first (simplified
    # GB18030 against traditional Big5), and a Chinese reading with characters inside
    # Latin words is refused ("M黱chen" is Latin-1 "München")
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=["gb18030", "big5"]).best()
    if best is not None:
        name = codecs.lookup(best.encoding).name
        if not _IN_LATIN_WORD.search(_decodes(sample, name) or ""):
            return name
    gb = _decodes(sample, "gb18030")
    if _mostly_chinese(gb, 0.9) and not _IN_LATIN_WORD.search(gb or ""):
        return "gb18030"
    return detect_encoding(path, sample)


def _mostly_chinese(text: str | None, share: float) -> bool:
    if text is None:
        return False
    wide = len(_NON_ASCII.findall(text))
    return wide > 0 and len(_CHINESE.findall(text)) >= share * wide


def detect_encoding(path: str | Path, sample: bytes | None = None) -> str:
    """Encoding of a text file that is not UTF-8 (charset-normalizer).

    ``sample``: the bytes to judge (default: the whole file).
    """
    from charset_normalizer import from_bytes

    if sample is None:
        sample = Path(path).read_bytes()
    best = from_bytes(sample).best()
    if best is None:
        raise DataError(
            f"cannot tell the text encoding of {Path(path).name!r} (it is not UTF-8); "
            "pass it explicitly, e.g. encoding='gb18030' (pl.read / read_table) or "
            "data.encoding = \"gb18030\" in the spec"
        )
    name = codecs.lookup(best.encoding).name
    return _WIDEN.get(name, name)

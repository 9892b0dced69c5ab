"""Column names inside user text: one tokenizer for formula terms and row filters.

A column is named plainly (``gdp``, ``省份``, ``ln_co2``) or between backticks when its
name holds anything else (`` `x1-x2` ``, `` `地区生产总值(亿元)` ``; a backtick inside
the name is doubled). Nothing here evaluates text: it only splits it into tokens that
the term grammar (estimators.formula) and the filter grammar (data.filters) read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from policylab.errors import SpecError

__all__ = ["Token", "GrammarError", "tokenize", "is_plain_name", "quote_name",
           "unquote_name", "grammar_error"]

_NUM = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# longest first, so "<=" wins over "<"
_OPS = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", "=", "^", ":", "&",
        "|", "~", "-", "+", "*", "/", ".", "@", "%", "!", "{", "}", ";")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


class GrammarError(Exception):
    """A syntax problem at a position of a piece of user text (turned into a SpecError
    naming the spec key or argument by :func:`grammar_error`)."""

    def __init__(self, reason: str, pos: int) -> None:
        super().__init__(reason)
        self.reason, self.pos = reason, pos


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is name, qname (backticked name), num, str, op or end;
    ``value`` the name, number or string it stands for."""

    kind: str
    text: str
    value: Any
    pos: int


def _name_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _name_char(ch: str, dots: bool) -> bool:
    return ch == "_" or ch.isalnum() or (dots and ch == ".")


def is_plain_name(name: str, dots: bool = True) -> bool:
    """Whether ``name`` can be written without backticks (letters of any script,
    digits, ``_``, and ``.`` in formula terms; not starting with a digit)."""
    return (isinstance(name, str) and bool(name) and _name_start(name[0])
            and all(_name_char(c, dots) for c in name[1:]))


def quote_name(name: str, dots: bool = True) -> str:
    """``name`` as it is written in a term or filter: plain, or between backticks."""
    name = str(name)
    return name if is_plain_name(name, dots) else "`" + name.replace("`", "``") + "`"


def unquote_name(text: str) -> str:
    """The column a term names when it is one backticked name, else ``text`` itself."""
    t = text.strip()
    if len(t) >= 2 and t[0] == "`" and t[-1] == "`":
        try:
            toks = tokenize(t)
        except GrammarError:
            return text
        if len(toks) == 2 and toks[0].kind == "qname":
            return toks[0].value
    return text


def _string(text: str, i: int) -> tuple[str, int]:
    quote, out, j = text[i], [], i + 1
    while j < len(text):
        ch = text[j]
        if ch == "\\" and j + 1 < len(text):
            out.append(_ESCAPES.get(text[j + 1], "\\" + text[j + 1]))
            j += 2
            continue
        if ch == quote:
            return "".join(out), j + 1
        out.append(ch)
        j += 1
    raise GrammarError("string is not closed", i)


def _backticked(text: str, i: int) -> tuple[str, int]:
    out, j = [], i + 1
    while j < len(text):
        if text[j] == "`":
            if text[j + 1:j + 2] == "`":  # a doubled backtick is one backtick of the name
                out.append("`")
                j += 2
                continue
            if not out:
                raise GrammarError("empty backticks", i)
            return "".join(out), j + 1
        out.append(text[j])
        j += 1
    raise GrammarError("backtick is not closed", i)


def tokenize(text: str, *, dots: bool = True) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token.

    ``dots`` lets plain names contain ``.`` (formula terms such as ``gdp.pc``); filters
    tokenize ``.`` as an operator so that attribute access is refused by name.
    """
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "`":
            name, j = _backticked(text, i)
            toks.append(Token("qname", text[i:j], name, i))
            i = j
        elif ch in "'\"":
            s, j = _string(text, i)
            toks.append(Token("str", text[i:j], s, i))
            i = j
        elif ch.isdigit() or (ch == "." and text[i + 1:i + 2].isdigit()):
            m = _NUM.match(text, i)
            if m is None or not m.group():  # pragma: no cover - isdigit guarantees a match
                raise GrammarError("bad number", i)
            raw = m.group()
            j = m.end()
            if j < n and _name_char(text[j], False):
                raise GrammarError(f"bad number {text[i:j + 1]!r}", i)
            val: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
            toks.append(Token("num", raw, val, i))
            i = j
        elif _name_start(ch):
            j = i + 1
            while j < n and _name_char(text[j], dots):
                j += 1
            toks.append(Token("name", text[i:j], text[i:j], i))
            i = j
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:
                raise GrammarError(f"unexpected character {ch!r}", i)
            toks.append(Token("op", op, op, i))
            i += len(op)
    toks.append(Token("end", "", None, n))
    return toks


def grammar_error(where: str, text: str, exc: GrammarError, allowed: str) -> SpecError:
    """A SpecError naming the key or argument, the text, the position and what is allowed."""
    before = text[:exc.pos].rstrip()
    after = f" (after {before[-20:]!r})" if before else ""
    return SpecError(f"{where}: {exc.reason} at position {exc.pos + 1} of {text!r}{after}; "
                     f"{allowed}")

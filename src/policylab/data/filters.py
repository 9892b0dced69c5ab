"""Row filters (``data.query``, ``battery.samples[].query``, spec-curve samples).

A filter is read by a small grammar and evaluated with vectorised pandas/numpy
operations on the columns it names; no text is ever run as Python (pandas ``query``
would). The grammar keeps pandas-query spellings for the common cases::

    filter  := or
    or      := and   (("or" | "|") and)*
    and     := not   (("and" | "&") not)*
    not     := ("not" | "~") not | compare
    compare := operand (op operand)*          op: == != < <= > >= in, not in
    operand := column | `odd column` | number | 'string' | True | False
             | [literal, ...] | ( filter ) | isna(column) | notna(column)

Chained comparisons (``2000 <= year < 2010``) mean what they mean in Python;
``col == [a, b]`` is ``col in [a, b]`` as in pandas. Missing values never satisfy a
comparison except ``!=`` (as in pandas); test them with ``isna(col)``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.names import GrammarError, Token, grammar_error, tokenize
from policylab.errors import SpecError

__all__ = ["RowFilter", "parse_filter", "check_filter", "apply_filter", "FILTER_ALLOWED",
           "parse_expression", "compare", "truth"]

FILTER_ALLOWED = (
    "a filter allows comparisons (== != < <= > >=), in [...] / not in [...], "
    "and / or / not (also & | ~), parentheses, numbers, 'strings', True / False, "
    "column names (between backticks when they hold spaces, brackets or operators) "
    "and isna(column) / notna(column); no other function calls, attributes or indexing"
)
_CMP = ("==", "!=", "<", "<=", ">", ">=")
_KEYWORDS = ("and", "or", "not", "in", "True", "False")
_MAX_DEPTH = 100


@dataclass(frozen=True)
class Col:
    name: str
    pos: int


@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Any
    right: Any
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class Missing:
    col: Col
    negate: bool


@dataclass(frozen=True)
class Arith:
    """``left op right`` with op one of + - * / (derived columns only)."""

    op: str
    left: Any
    right: Any
    pos: int


@dataclass(frozen=True)
class Neg:
    item: Any


@dataclass(frozen=True)
class Call:
    """``name(args..., key=value)`` of an allowed function (derived columns only); a
    keyword's value is a literal, a column, or a list of columns (``by=[a, b]``)."""

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]
    pos: int


class _Parser:
    """The filter grammar; ``functions`` and ``arithmetic`` widen it into the
    expression grammar of derived columns (data.derive), which only ever adds calls of
    listed functions and + - * / on top of the same tokens."""

    def __init__(self, text: str, functions: Collection[str] = (),
                 arithmetic: bool = False) -> None:
        self.toks = tokenize(text, dots=False)
        self.i = 0
        self.depth = 0
        self.functions = frozenset(functions)
        self.arithmetic = arithmetic

    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> Token:
        t = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def word(self, w: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "name" and t.value == w

    def op(self, o: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "op" and t.value == o

    def parse(self) -> Any:
        node = self.or_()
        t = self.peek()
        if t.kind != "end":
            raise GrammarError(_unexpected(t), t.pos)
        return node

    def or_(self) -> Any:
        items = [self.and_()]
        while self.word("or") or self.op("|"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_(self) -> Any:
        items = [self.not_()]
        while self.word("and") or self.op("&"):
            self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_(self) -> Any:
        if (self.word("not") and not self.word("in", 1)) or self.op("~"):
            self.take()
            self._deeper()
            node = Not(self.not_())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Any:
        left = self.arith()
        parts = []
        while True:
            t = self.peek()
            if t.kind == "op" and t.value in _CMP:
                op = self.take().value
            elif self.word("in"):
                self.take()
                op = "in"
            elif self.word("not") and self.word("in", 1):
                self.take()
                self.take()
                op = "not in"
            else:
                break
            right = self.arith()
            parts.append(Cmp(op, left, right, t.pos))
            left = right
        if not parts:
            return left
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def arith(self) -> Any:
        if not self.arithmetic:
            return self.operand()
        node = self.product()
        while self.op("+") or self.op("-"):
            t = self.take()
            node = Arith(t.value, node, self.product(), t.pos)
        return node

    def product(self) -> Any:
        node = self.unary()
        while self.op("*") or self.op("/"):
            t = self.take()
            node = Arith(t.value, node, self.unary(), t.pos)
        return node

    def unary(self) -> Any:
        if self.op("-") and self.peek(1).kind != "num":
            self.take()
            self._deeper()
            node = Neg(self.unary())
            self.depth -= 1
            return node
        return self.operand()

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise GrammarError(f"nested more than {_MAX_DEPTH} levels", self.peek().pos)

    def operand(self) -> Any:
        t = self.take()
        if t.kind == "qname":
            return Col(t.value, t.pos)
        if t.kind in ("num", "str"):
            return Lit(t.value)
        if t.kind == "op" and t.value == "-" and self.peek().kind == "num":
            return Lit(-self.take().value)
        if t.kind == "op" and t.value == "(":
            self._deeper()
            node = self.or_()
            self.depth -= 1
            self._close(")", t)
            return node
        if t.kind == "op" and t.value == "[":
            return Lit(self.list_items(t))
        if t.kind == "name":
            if t.value in ("True", "False"):
                return Lit(t.value == "True")
            if t.value in _KEYWORDS:
                raise GrammarError(f"{t.value!r} where a column or value was expected", t.pos)
            if self.op("("):
                return self.call(t)
            if self.op(".") or self.op("["):
                raise GrammarError(f"attribute access or indexing after {t.value!r} is not "
                                   "allowed", self.peek().pos)
            return Col(t.value, t.pos)
        raise GrammarError(_unexpected(t), t.pos)

    def call(self, t: Token) -> Any:
        if t.value in self.functions:
            return self.general_call(t)
        if t.value not in ("isna", "notna"):
            raise GrammarError(f"function {t.value}() is not allowed", t.pos)
        self.take()
        arg = self.take()
        if arg.kind not in ("name", "qname") or arg.value in _KEYWORDS and arg.kind == "name":
            raise GrammarError(f"{t.value}() takes one column name", arg.pos)
        self._close(")", t)
        return Missing(Col(arg.value, arg.pos), negate=t.value == "notna")

    def general_call(self, t: Token) -> Call:
        opened = self.take()
        self._deeper()
        args: list[Any] = []
        kwargs: list[tuple[str, Any]] = []
        while not self.op(")"):
            if self.peek().kind == "name" and self.op("=", 1):
                key = self.take().value
                self.take()
                kwargs.append((key, self.keyword_value()))
            elif kwargs:
                raise GrammarError(f"a positional argument after a keyword in "
                                   f"{t.value}()", self.peek().pos)
            else:
                args.append(self.or_())
            if not self.op(")"):
                self._close(",", opened)
        self.take()
        self.depth -= 1
        return Call(t.value, tuple(args), tuple(kwargs), t.pos)

    def keyword_value(self) -> Any:
        """A keyword argument: a literal, a column, or a list of columns."""
        if not self.op("["):
            return self.operand()
        opened = self.take()
        cols: list[Col] = []
        while not self.op("]"):
            c = self.take()
            if c.kind not in ("name", "qname") or (c.kind == "name" and c.value in _KEYWORDS):
                raise GrammarError("a list of columns holds column names only", c.pos)
            cols.append(Col(c.value, c.pos))
            if not self.op("]"):
                self._close(",", opened)
        self.take()
        return tuple(cols)

    def list_items(self, opened: Token) -> list[Any]:
        out: list[Any] = []
        while not self.op("]"):
            item = self.operand()
            if not isinstance(item, Lit) or isinstance(item.value, list):
                raise GrammarError("a list holds numbers, strings or True / False only",
                                   opened.pos)
            out.append(item.value)
            if not self.op("]"):
                self._close(",", opened)
        self.take()
        return out

    def _close(self, o: str, opened: Token) -> None:
        t = self.take()
        if not (t.kind == "op" and t.value == o):
            raise GrammarError(f"expected {o!r} (for the {opened.text!r} at position "
                               f"{opened.pos + 1}), found {t.text or 'the end'!r}", t.pos)


def _unexpected(t: Token) -> str:
    if t.kind == "end":
        return "the text ends too early"
    if t.kind == "op" and t.value in ("+", "-", "*", "/", "%"):
        return f"arithmetic ({t.value!r}) is not allowed"
    if t.kind == "op" and t.value == "=":
        return "'=' is not a comparison (write '==')"
    return f"unexpected {t.text!r}"


@dataclass(frozen=True)
class RowFilter:
    """A parsed row filter: ``columns`` it reads, ``mask(df)`` the rows it keeps."""

    text: str
    where: str
    node: Any
    columns: tuple[str, ...]

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        """Boolean array: the rows of ``df`` the filter keeps."""
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise SpecError(f"{self.where}: column {missing[0]!r} of {self.text!r} is not in "
                            f"the data")
        out = truth(_eval(self.node, df, self), len(df), self)
        return out

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``df`` the filter keeps (a new frame; ``df`` is not modified)."""
        return df.loc[self.mask(df)]


def _columns_of(node: Any, out: list[str]) -> None:
    if isinstance(node, Col):
        if node.name not in out:
            out.append(node.name)
    elif isinstance(node, Cmp):
        _columns_of(node.left, out)
        _columns_of(node.right, out)
    elif isinstance(node, BoolOp):
        for it in node.items:
            _columns_of(it, out)
    elif isinstance(node, Not):
        _columns_of(node.item, out)
    elif isinstance(node, Missing):
        _columns_of(node.col, out)
    elif isinstance(node, (Arith,)):
        _columns_of(node.left, out)
        _columns_of(node.right, out)
    elif isinstance(node, Neg):
        _columns_of(node.item, out)
    elif isinstance(node, Call):
        for it in node.args:
            _columns_of(it, out)
        for _, v in node.kwargs:
            for it in (v if isinstance(v, tuple) else (v,)):
                _columns_of(it, out)


def truth(v: Any, n: int, f: RowFilter) -> np.ndarray:
    if isinstance(v, pd.Series):
        if not (pd.api.types.is_bool_dtype(v.dtype)):
            raise SpecError(f"{f.where}: {f.text!r} uses column {v.name!r} as a condition, "
                            "but it is not true/false; compare it, e.g. "
                            f"`{v.name}` == 1")
        return v.fillna(False).to_numpy(dtype=bool)
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (bool, np.bool_)):
        return np.full(n, bool(v))
    raise SpecError(f"{f.where}: {f.text!r} is not a condition (it gives {v!r})")


def _eval(node: Any, df: pd.DataFrame, f: RowFilter) -> Any:
    if isinstance(node, Col):
        return df[node.name]
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Missing):
        m = df[node.col.name].isna().to_numpy()
        return ~m if node.negate else m
    if isinstance(node, Not):
        return ~truth(_eval(node.item, df, f), len(df), f)
    if isinstance(node, BoolOp):
        acc = truth(_eval(node.items[0], df, f), len(df), f)
        for it in node.items[1:]:
            v = truth(_eval(it, df, f), len(df), f)
            acc = (acc & v) if node.op == "and" else (acc | v)
        return acc
    return compare(node, _eval(node.left, df, f), _eval(node.right, df, f), df, f)


def compare(node: Cmp, a: Any, b: Any, df: pd.DataFrame, f: RowFilter) -> Any:
    op = node.op
    if isinstance(b, list) and op in ("==", "!="):  # pandas: col == [a, b] is "in"
        op = "in" if op == "==" else "not in"
    if op in ("in", "not in"):
        if not isinstance(b, list):
            raise SpecError(f"{f.where}: '{op}' at position {node.pos + 1} of {f.text!r} "
                            "needs a list on its right, e.g. province in ['北京', '上海']")
        hit = a.isin(b).to_numpy() if isinstance(a, pd.Series) else np.full(len(df), a in b)
        return ~hit if op == "not in" else hit
    if isinstance(a, list) or isinstance(b, list):
        raise SpecError(f"{f.where}: {op!r} at position {node.pos + 1} of {f.text!r} cannot "
                        "compare with a list; use 'in [...]'")
    if not isinstance(a, pd.Series) and isinstance(b, pd.Series):
        a, b, op = b, a, {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
    try:
        if op == "==":
            r = a == b
        elif op == "!=":
            r = a != b
        elif op == "<":
            r = a < b
        elif op == "<=":
            r = a <= b
        elif op == ">":
            r = a > b
        else:
            r = a >= b
    except TypeError as exc:
        what = a.name if isinstance(a, pd.Series) else a
        raise SpecError(f"{f.where}: cannot compare {what!r} with {b!r} by {op!r} at position "
                        f"{node.pos + 1} of {f.text!r} (a text column compared with a "
                        f"number?): {exc}") from None
    if isinstance(r, pd.Series):
        return r.fillna(op == "!=").to_numpy(dtype=bool)
    return bool(r)


def parse_filter(text: str, where: str = "filter") -> RowFilter:
    """Parse a row filter; a SpecError names ``where`` (the spec key or argument), the
    position and what the grammar allows."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{where}: a filter is a non-empty text such as \"year >= 2005\", "
                        f"got {text!r}")
    node, cols = parse_expression(text, where, allowed=FILTER_ALLOWED)
    return RowFilter(text=text, where=where, node=node, columns=cols)


def parse_expression(text: str, where: str, *, functions: Collection[str] = (),
                     arithmetic: bool = False,
                     allowed: str = FILTER_ALLOWED) -> tuple[Any, tuple[str, ...]]:
    """The syntax tree of ``text`` and the columns it reads, by the filter grammar
    widened with calls of ``functions`` and + - * / when ``arithmetic``; nothing is
    evaluated. A SpecError names ``where``, the position and ``allowed``."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{where}: an expression is a non-empty text such as "
                        f"\"year >= 2005\", got {text!r}")
    try:
        node = _Parser(text, functions, arithmetic).parse()
    except GrammarError as exc:
        raise grammar_error(where, text, exc, allowed) from None
    cols: list[str] = []
    _columns_of(node, cols)
    return node, tuple(cols)


def check_filter(text: str, columns: Collection[Any], where: str = "filter") -> list[str]:
    """Problems with a filter (syntax, unknown columns) without evaluating it."""
    import difflib

    try:
        f = parse_filter(text, where)
    except SpecError as exc:
        return [str(exc)]
    problems = []
    avail = [str(c) for c in columns]
    for c in f.columns:
        if c not in columns:
            close = difflib.get_close_matches(c, avail, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            problems.append(f"{where}: column {c!r} of {text!r} is not in the data{hint}")
    return problems


def apply_filter(df: pd.DataFrame, text: str, where: str = "filter") -> pd.DataFrame:
    """The rows of ``df`` that ``text`` keeps (see the module docstring for the grammar)."""
    return parse_filter(text, where).apply(df)

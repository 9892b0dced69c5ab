"""fixest-style formulas: ``y1 + y2 ~ x1 + log(x2) + i(rel, ref=-1) | unit + year``.

Terms are read by a small grammar, never evaluated as Python: a column name (plain, or
between backticks when it holds anything else: `` `x1-x2` ``, `` `地区生产总值(亿元)` ``),
``log(x)``, ``log1p(x)``, ``exp(x)``, ``sqrt(x)``, products ``a:b`` of columns,
``C(var)`` (one dummy per level; the regression drops the one the intercept or fixed
effects make redundant) and ``i(var, ref=...)`` dummies (fixest semantics: one dummy per
level except ``ref``, optionally times a continuous variable). Fixed effects are columns or interactions
``a^b``. A term that is exactly the name of a column is that column, whatever it holds.

Only a formula string a user writes in :func:`policylab.feols` may go further: a term
outside the grammar (``I(x**2)``, ``C(region, Treatment(2))``) is handed to formulaic
there, as in pyfixest. Estimators that build formulas from arguments use :func:`model_formula`, which
quotes every column name and refuses anything outside the grammar, so formulaic never
sees an argument.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.names import GrammarError, Token, grammar_error, quote_name, tokenize
from policylab.data.panel import require_columns
from policylab.engine.passes import compact_codes
from policylab.errors import SpecError

__all__ = ["Formula", "Term", "parse_formula", "parse_term", "resolve_term", "build_matrix",
           "fe_terms", "fe_columns", "fe_label", "model_formula", "split_terms",
           "check_term", "check_fe_term",
           "TERMS_ALLOWED", "FE_ALLOWED"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")

TERMS_ALLOWED = (
    "allowed: a column name (between backticks when it holds spaces, brackets or "
    "operators, e.g. `x1-x2`), log(x), log1p(x), exp(x), sqrt(x), products a:b, C(var) "
    "and i(var, ref=...)"
)
FE_ALLOWED = (
    "a fixed effect is a column name or an interaction like 'province^year' (names "
    "holding spaces, brackets or operators go between backticks)"
)
_FUNCS = {"log": np.log, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt}


@dataclass
class Formula:
    """A parsed formula."""

    raw: str
    depvars: list[str]
    terms: list[str]
    fe: list[str] = field(default_factory=list)
    intercept: bool = True
    # instrumental variables: the part 'endog ~ instr' after the last '|'
    endog: list[str] = field(default_factory=list)
    instruments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Term:
    """One right-hand-side term: ``kind`` is column, fn (``fn(col)``), cat (``C(col)``),
    product (``a:b``) or i (``i(var[, x], ref=...)``); ``cols`` the columns it reads."""

    kind: str
    cols: tuple[str, ...]
    fn: str = ""
    ref: tuple[Any, ...] | None = None

    @property
    def label(self) -> str:
        """The term as shown in results: column names as the data spell them."""
        return self._render(str)

    @property
    def text(self) -> str:
        """The term as written in a formula (odd names between backticks)."""
        return self._render(quote_name)

    def _render(self, name: Any) -> str:
        if self.kind == "column":
            return name(self.cols[0])
        if self.kind == "fn":
            return f"{self.fn}({name(self.cols[0])})"
        if self.kind == "cat":
            return f"C({name(self.cols[0])})"
        if self.kind == "product":
            return ":".join(name(c) for c in self.cols)
        ref = "" if self.ref is None else f", ref={list(self.ref)!r}"
        return f"i({', '.join(name(c) for c in self.cols)}{ref})"


class _Reader:
    """Cursor over tokens for the small recursive-descent parsers below."""

    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def is_op(self, op: str) -> bool:
        t = self.peek()
        return t.kind == "op" and t.value == op

    def expect_op(self, op: str) -> None:
        t = self.take()
        if not (t.kind == "op" and t.value == op):
            raise GrammarError(f"expected {op!r}, found {t.text or 'the end'!r}", t.pos)

    def name(self) -> str:
        t = self.take()
        if t.kind not in ("name", "qname"):
            raise GrammarError(f"expected a column name, found {t.text or 'the end'!r}", t.pos)
        return t.value

    def end(self) -> None:
        t = self.take()
        if t.kind != "end":
            raise GrammarError(f"unexpected {t.text!r}", t.pos)


def _literal(r: _Reader) -> Any:
    t = r.take()
    if t.kind == "op" and t.value == "-":
        n = r.take()
        if n.kind != "num":
            raise GrammarError("expected a number after '-'", n.pos)
        return -n.value
    if t.kind in ("num", "str"):
        return t.value
    if t.kind == "name" and t.value in ("True", "False"):
        return t.value == "True"
    if t.kind == "op" and t.value in ("[", "("):
        close = "]" if t.value == "[" else ")"
        out = []
        while not r.is_op(close):
            out.append(_literal(r))
            if not r.is_op(close):
                r.expect_op(",")
        r.take()
        return out
    raise GrammarError(f"expected a number, a string or a list, found {t.text!r}", t.pos)


def _i_term(r: _Reader) -> Term:
    cols = [r.name()]
    ref = None
    while r.is_op(","):
        r.take()
        t = r.peek()
        if t.kind == "name" and t.value == "ref" and r.toks[r.i + 1].text == "=":
            r.take()
            r.take()
            val = _literal(r)
            ref = tuple(val) if isinstance(val, list) else (val,)
        elif len(cols) == 1 and ref is None:
            cols.append(r.name())
        else:
            raise GrammarError("i() takes a variable, an optional second variable and "
                               "ref=", t.pos)
    r.expect_op(")")
    return Term("i", tuple(cols), ref=ref)


def parse_term(text: str) -> Term:
    """Read one right-hand-side term by the grammar; raises GrammarError."""
    r = _Reader(text)
    t = r.peek()
    if t.kind == "name" and r.toks[r.i + 1].text == "(":
        fn = t.value
        r.take()
        r.take()
        if fn == "i":
            term = _i_term(r)
        elif fn == "C":
            term = Term("cat", (r.name(),))
            r.expect_op(")")
        elif fn in _FUNCS:
            term = Term("fn", (r.name(),), fn=fn)
            r.expect_op(")")
        else:
            raise GrammarError(f"function {fn}() is not allowed", t.pos)
    else:
        cols = [r.name()]
        while r.is_op(":"):
            r.take()
            cols.append(r.name())
        term = Term("column" if len(cols) == 1 else "product", tuple(cols))
    r.end()
    return term


def resolve_term(text: str, columns: Collection[Any] = ()) -> Term:
    """The term ``text`` names: a column when it is exactly a column's name, else read
    by the grammar (raises GrammarError)."""
    if text in columns:
        return Term("column", (text,))
    return parse_term(text)


def _fe_pieces(text: str) -> tuple[str, ...]:
    r = _Reader(text)
    pieces = [r.name()]
    while r.is_op("^"):
        r.take()
        pieces.append(r.name())
    r.end()
    return tuple(pieces)


def top_level(text: str, seps: str) -> list[tuple[int, str]]:
    """Positions and characters of ``seps`` outside brackets, quotes and backticks."""
    out, depth, quote = [], 0, None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in seps:
            out.append((i, ch))
    return out


def _split_top(expr: str, sep: str) -> list[str]:
    """Split on ``sep`` outside brackets, quotes and backticks (pieces not stripped)."""
    bounds = [-1, *(i for i, _ in top_level(expr, sep)), len(expr)]
    return [expr[x + 1:y] for x, y in zip(bounds[:-1], bounds[1:])]


def split_terms(expr: str) -> list[str]:
    """Split on top-level '+' (not inside brackets, quotes or backticks)."""
    return [t.strip() for t in _split_top(expr, "+") if t.strip()]


def parse_formula(fml: str) -> Formula:
    """Parse ``lhs ~ rhs | fe``; raises SpecError with the offending part named."""
    if not isinstance(fml, str) or "~" not in fml:
        raise SpecError(f"formula must look like 'y ~ x1 + x2 | unit + year', got {fml!r}")
    sides = _split_top(fml, "~")
    lhs, rest = sides[0], "~".join(sides[1:])
    parts = _split_top(rest, "|")
    endog, instruments = _iv_part(parts, fml)
    if len(parts) > 2:
        raise SpecError(
            f"formula {fml!r} has more than one '|'; the parts are 'y ~ x | fe' and an "
            "optional IV part last, 'y ~ x | fe | endog ~ instrument'"
        )
    depvars = split_terms(lhs)
    if not depvars:
        raise SpecError(f"formula {fml!r} has no outcome before '~'")
    terms = split_terms(parts[0])
    intercept = True
    cleaned = []
    for t in terms:
        if t in ("0", "-1"):
            intercept = False
        elif t == "1":
            continue
        else:
            cleaned.append(t)
    fe = split_terms(parts[1]) if len(parts) == 2 else []
    if fe == ["0"]:
        fe = []
    canon = []
    for f in fe:
        try:
            canon.append("^".join(quote_name(p) for p in _fe_pieces(f)))
        except GrammarError as exc:
            raise grammar_error(f"fixed effect {f!r} in {fml!r}", f, exc, FE_ALLOWED) from None
    return Formula(raw=fml, depvars=depvars, terms=cleaned, fe=canon,
                   intercept=intercept and not fe, endog=endog, instruments=instruments)


def _iv_part(parts: list[str], fml: str) -> tuple[list[str], list[str]]:
    """Remove an IV part ``endog ~ instr`` (the last of ``parts``) and return its terms."""
    if len(parts) < 2 or len(_split_top(parts[-1], "~")) < 2:
        return [], []
    sides = _split_top(parts.pop(), "~")
    endog, instruments = split_terms(sides[0]), split_terms(sides[1])
    if not endog or not instruments or len(sides) > 2:
        raise SpecError(
            f"the IV part of {fml!r} must look like 'endog ~ instrument1 + instrument2'"
        )
    bad = []
    for e in endog:
        try:
            if parse_term(e).kind != "column":
                bad.append(e)
        except GrammarError:
            bad.append(e)
    if bad:
        raise SpecError(f"endogenous regressors {bad} in {fml!r} must be column names "
                        "(between backticks when they hold spaces, brackets or operators)")
    return endog, instruments


def model_formula(columns: Collection[Any], ys: list[str], rhs: list[str],
                  fe: list[str] | tuple[str, ...] = ()) -> str:
    """A formula for :func:`policylab.feols` built from names given as arguments.

    Each outcome and regressor is the column of that exact name when there is one
    (written between backticks when needed), else a term of the grammar; anything else
    is a SpecError. ``fe`` holds terms from :func:`fe_terms`. The result never sends a
    term to formulaic.
    """
    def one(x: Any) -> str:
        if not isinstance(x, str) or not x.strip():
            raise SpecError(f"{x!r} is not a column name; names are given as text")
        try:
            return resolve_term(x, columns).text
        except GrammarError as exc:
            raise grammar_error(f"{x!r} is not a column of the data, and as a term",
                                x, exc, TERMS_ALLOWED) from None

    fml = f"{' + '.join(one(y) for y in ys)} ~ {' + '.join(one(t) for t in rhs) or '1'}"
    return fml + (f" | {' + '.join(fe)}" if fe else "")


def check_term(text: str, columns: Collection[Any], key: str) -> list[str]:
    """Problems with a term named under spec key ``key`` (grammar, unknown columns),
    found without evaluating anything."""
    import difflib

    try:
        term = resolve_term(text, columns)
    except GrammarError as exc:
        return [str(grammar_error(f"{key}: {text!r} is not a column of the data, and as a "
                                  "term", text, exc, TERMS_ALLOWED))]
    out = []
    for c in term.cols:
        if c not in columns:
            close = difflib.get_close_matches(c, [str(x) for x in columns], n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            out.append(f"{key}: column {c!r} is not in the data{hint}")
    return out


def check_fe_term(text: str, columns: Collection[Any], key: str) -> list[str]:
    """Problems with a fixed-effect term named under spec key ``key``."""
    if text in columns:
        return []
    try:
        pieces = _fe_pieces(text)
    except GrammarError as exc:
        return [str(grammar_error(f"{key}: {text!r} is not a column of the data, and as a "
                                  "fixed effect", text, exc, FE_ALLOWED))]
    return [p for c in pieces for p in check_term(quote_name(c), columns, key)]


def _expand_i(df: pd.DataFrame, term: Term) -> tuple[np.ndarray, list[str]]:
    """Dummies of ``i()`` and ``C()`` terms (NaN where the variable is missing)."""
    var = term.cols[0]
    x = term.cols[1] if len(term.cols) > 1 else None
    ref = None if term.ref is None else list(term.ref)
    require_columns(df, list(term.cols), f"column of {term.label!r}")
    s = df[var]
    levels = pd.unique(s.dropna())
    try:
        levels = np.sort(levels)
    except TypeError:
        pass
    if ref is not None:
        unknown = [r for r in ref if r not in set(levels.tolist())]
        if unknown:
            raise SpecError(
                f"ref={unknown} in {term.label!r} is not a level of {var!r}; levels: "
                f"{list(levels)[:10]}"
            )
        levels = [v for v in levels if v not in ref]
    xv = None if x is None else pd.to_numeric(df[x], errors="coerce").to_numpy(float)
    if not len(levels):
        raise SpecError(f"{term.label!r} leaves no levels after removing ref")
    miss = s.isna().to_numpy()
    vals = s.to_numpy()
    # column-major: each dummy is one contiguous write
    out = np.empty((len(df), len(levels)), order="F")
    names = []
    for j, lv in enumerate(levels):
        d = out[:, j]
        np.equal(vals, lv, out=d, casting="unsafe")
        if miss.any():
            d[miss] = np.nan
        if xv is not None:
            d *= xv
        names.append(f"C({var})[{lv}]" if term.kind == "cat" else
                     f"{var}::{lv}" + (f":{x}" if x else ""))
    return out, names


def _as_column(t: str, df: pd.DataFrame, extra: dict[str, Any]) -> str | None:
    """The column a term is, when it is one (plain, backticked, or an exact name)."""
    if t in extra or t in df.columns or _IDENT.match(t):
        return t
    try:
        term = parse_term(t)
    except GrammarError:
        return None
    return term.cols[0] if term.kind == "column" else None


def _numeric(df: pd.DataFrame, c: str) -> np.ndarray:
    col = df[c]
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        from policylab.data.panel import require_numeric

        require_numeric(df, [c])
    return pd.to_numeric(col).to_numpy(dtype=float, na_value=np.nan)


def _grammar_block(df: pd.DataFrame, term: Term) -> tuple[np.ndarray, list[str]]:
    """Evaluate a term of the grammar with numpy (never as Python text)."""
    if term.kind in ("i", "cat"):
        return _expand_i(df, term)
    require_columns(df, list(term.cols), f"column of {term.label!r}")
    if term.kind == "fn":
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            v = _FUNCS[term.fn](_numeric(df, term.cols[0]))
    else:
        v = _numeric(df, term.cols[0]).copy()
        for c in term.cols[1:]:
            v *= _numeric(df, c)
    return v[:, None], [term.label]


def build_matrix(
    df: pd.DataFrame, terms: list[str], intercept: bool,
    extra: dict[str, Any] | None = None, *, formulaic: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Evaluate right-hand-side terms to a float matrix (NaN where undefined).

    ``extra`` maps plain term names that are not columns of ``df`` to float arrays
    aligned with its rows, or to callables that fill a given output column in place
    (callers that build regressors, such as event-study dummies, pass them here
    instead of copying them into the frame). Returns the matrix and the term names
    (columns as the data spell them). A term outside the grammar is a SpecError, unless
    ``formulaic`` (set by feols for a formula the user wrote) hands it to formulaic.
    """
    extra = extra or {}
    as_cols = [_as_column(t, df, extra) for t in terms]
    if not intercept and terms and all(c is not None for c in as_cols):
        # plain columns: fill one preallocated matrix (no per-block copies)
        require_columns(df, [c for c in as_cols if c not in extra], "regressor")
        # column-major: each column is one contiguous copy, and feols demeans in place
        out = np.empty((len(df), len(terms)), order="F")
        for j, t in enumerate(as_cols):
            if t in extra:
                if callable(extra[t]):
                    extra[t](out[:, j])
                else:
                    out[:, j] = extra[t]
                continue
            col = df[t]
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                from policylab.data.panel import require_numeric

                require_numeric(df, [t])
            if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub":
                # numpy-backed: straight into the matrix (no intermediate copy)
                out[:, j] = col.to_numpy()
            else:  # nullable / arrow dtypes: pd.NA becomes NaN
                out[:, j] = pd.to_numeric(col).to_numpy(dtype=float, na_value=np.nan)
        return out, [str(c) for c in as_cols]
    if extra:
        df = df.assign(**{k: _materialise(v, len(df)) for k, v in extra.items()})
    blocks: list[np.ndarray] = []
    names: list[str] = []
    if intercept:
        blocks.append(np.ones((len(df), 1)))
        names.append("Intercept")
    require_columns(df, [c for c in as_cols if c is not None], "regressor")
    pending: list[str] = []

    def flush() -> None:
        if not pending:
            return
        # only terms of a formula the user wrote reach here (model_formula and the
        # default formulaic=False refuse anything outside the grammar), as in pyfixest
        import formulaic as fml

        try:
            mm = fml.model_matrix("0 + " + " + ".join(pending), df, na_action="ignore")
        except Exception as exc:  # formulaic raises many types for user typos
            raise SpecError(f"cannot evaluate terms {pending}: {exc}") from exc
        blocks.append(np.asarray(mm, dtype=float))
        names.extend(str(c) for c in mm.columns)
        pending.clear()

    for t, c in zip(terms, as_cols):
        if c is not None:
            flush()
            blocks.append(_numeric(df, c)[:, None])
            names.append(str(c))
            continue
        try:
            term = parse_term(t)
        except GrammarError as exc:
            if not formulaic:
                raise grammar_error(f"{t!r} is not a column of the data, and as a term", t,
                                    exc, TERMS_ALLOWED) from None
            pending.append(t)
            continue
        flush()
        m, nm = _grammar_block(df, term)
        blocks.append(m)
        names.extend(nm)
    flush()
    if not blocks:
        return np.empty((len(df), 0)), []
    # column-major like the plain-column path (feols demeans the matrix in place)
    out = np.empty((len(df), sum(b.shape[1] for b in blocks)), order="F")
    j = 0
    for b in blocks:
        out[:, j:j + b.shape[1]] = b
        j += b.shape[1]
    return out, names


def fe_terms(fe: str | list[str] | tuple[str, ...] | None, unit: str, time: str, *,
             allow_empty: bool = False, what: str = "the model") -> list[str]:
    """Normalise an estimator's ``fe=`` to a list of terms like ``["unit", "a^b"]``.

    Accepts None (``unit`` and ``time``), a formula string (``"unit + province^year"``,
    the syntax after ``|`` in :func:`policylab.feols`, a leading ``|`` allowed) or a
    list of terms. An empty list or ``"0"`` means no fixed effects, allowed only with
    ``allow_empty``. A term outside the grammar is kept as one literal column name
    (written between backticks), checked against the data by :func:`fe_columns`.
    """
    if fe is None:
        return [quote_name(unit), quote_name(time)]
    if isinstance(fe, str):
        raw = fe.strip()
        terms = split_terms(raw[1:] if raw.startswith("|") else raw)
    else:
        terms = [str(f) for f in fe]
    terms = [t for t in terms if t.strip()]
    if not terms or [t.strip() for t in terms] in (["0"], ["."]):
        if allow_empty:
            return []
        raise SpecError(
            f"fe={fe!r} names no fixed effect; {what} needs at least one, "
            f"e.g. fe='{unit} + {time}' (the default)"
        )
    out = []
    for t in terms:
        try:
            pieces: tuple[str, ...] = _fe_pieces(t)
        except GrammarError:
            pieces = (t,)  # one literal name; fe_columns says if the data lack it
        # "a ^ b" and "a^b" are the same term
        out.append("^".join(quote_name(p) for p in pieces))
    return out


def fe_label(term: str) -> str:
    """A fixed-effect term as shown in results (``a^b``, names as the data spell them)."""
    try:
        return "^".join(_fe_pieces(term))
    except GrammarError:
        return term


def fe_columns(df: pd.DataFrame, fe: list[str]) -> list[list[str]]:
    """The columns each fixed-effect term interacts; a SpecError names a missing one.

    A term that is exactly a column's name is that column; otherwise it is read as
    ``a^b`` (names plain or between backticks).
    """
    import difflib

    out = []
    for f in fe:
        if f in df.columns:
            out.append([f])
            continue
        try:
            pieces = list(_fe_pieces(f))
        except GrammarError:
            pieces = [p.strip() for p in f.split("^")]
        missing = [p for p in pieces if p not in df.columns]
        if missing:
            close = difflib.get_close_matches(missing[0], [str(c) for c in df.columns], n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise SpecError(f"fixed effect {fe_label(f)!r}: column {missing[0]!r} is not in "
                            f"the data{hint}; {FE_ALLOWED}")
        out.append(pieces)
    return out


def _materialise(v: Any, n: int) -> np.ndarray:
    if not callable(v):
        return v
    out = np.empty(n)
    v(out)
    return out


def _factorize(s: pd.Series, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing); integer columns with a compact range skip hashing.

    Large compact integer keys (never missing) are coded by one compiled pass, into
    ``out`` when given (an int64 vector of the column's length), which is then returned.
    """
    if pd.api.types.is_integer_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        v = s.to_numpy()
        if v.size:
            lo, hi = int(v.min()), int(v.max())
            if hi - lo < 4 * v.size + 1024:
                return compact_codes(v, lo, hi, out)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques)


def fe_codes(df: pd.DataFrame, fe: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (n, m) of each fixed effect and a mask of rows with missing keys."""
    resolved = fe_columns(df, fe)
    n = len(df)
    codes = np.empty((len(fe), n), dtype=np.int64).T  # each FE's codes contiguous
    miss = np.zeros(n, dtype=bool)
    for j, pieces in enumerate(resolved):
        col = codes.T[j]
        # a single large integer key is coded straight into place (and is never missing)
        c, _ = _factorize(df[pieces[0]], out=col if len(pieces) == 1 else None)
        if c is col:
            continue
        for p in pieces[1:]:
            c2, u2 = _factorize(df[p])
            bad = (c < 0) | (c2 < 0)
            c = np.where(bad, -1, c.astype(np.int64) * max(len(u2), 1) + c2)
            c = pd.factorize(c)[0]
            c[bad] = -1
        miss |= c < 0
        codes[:, j] = c
    return codes, miss

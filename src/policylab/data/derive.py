"""Derived columns: the spec's ``[derive]`` section (``name = "expression"``).

An expression is read by the row-filter grammar (:mod:`policylab.data.filters`),
widened with + - * / and a fixed list of functions; nothing is ever run as Python or
handed to pandas ``eval``/``query``. Keys are computed in order, so a key may use an
earlier one::

    [derive]
    period  = "quarterly(Quarter)"          # "Q42010" -> 203 (Stata's %tq numbering)
    treated = "state in ['FL', 'TX']"       # a condition gives a 0/1 column
    post    = "year >= policy_year"         # missing policy_year: never treated -> 0
    cohort  = "first_time(post == 1)"       # per unit: first period it holds, else missing
    l_hom   = "log(homicide)"
    rate    = "homicide / population * 100000"
    gdp_l1  = "lag(gdp, 1)"                 # within unit, matched on the period (gaps -> missing)
    m_gdp   = "mean(gdp, by=[region, year])"

Conditions follow the filters: a missing value never satisfies a comparison except
``!=``, so ``year >= policy_year`` is 0 where ``policy_year`` is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.filters import (
    Arith,
    BoolOp,
    Call,
    Cmp,
    Col,
    Lit,
    Missing,
    Neg,
    Not,
    RowFilter,
    compare,
    parse_expression,
    truth,
)
from policylab.errors import DataError, SpecError

__all__ = ["Derivation", "parse_derive", "apply_derive", "DERIVE_ALLOWED", "FUNCTIONS",
           "period_unit", "period_fix", "quarterly", "monthly"]

# name -> (fewest, most positional arguments, keywords)
FUNCTIONS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "log": (1, 1, ()), "log1p": (1, 1, ()), "exp": (1, 1, ()), "sqrt": (1, 1, ()),
    "abs": (1, 1, ()),
    "lag": (1, 2, ("k",)), "lead": (1, 2, ("k",)), "diff": (1, 2, ("k",)),
    "first_time": (1, 1, ()),
    "quarterly": (1, 1, ()), "monthly": (1, 1, ()), "yq": (2, 2, ()), "ym": (2, 2, ()),
    "mean": (1, 1, ("by",)), "sum": (1, 1, ("by",)), "min": (1, 1, ("by",)),
    "max": (1, 1, ("by",)),
    "ifelse": (3, 3, ()),
}
DERIVE_ALLOWED = (
    "a derived column is a condition (as in filters: == != < <= > >= in [...], and / or "
    "/ not, isna(col) / notna(col); gives 0/1) or arithmetic (+ - * /) on columns and "
    "numbers, with the functions log, log1p, exp, sqrt, abs, lag(x, k), lead(x, k), "
    "diff(x, k), first_time(condition), quarterly(col), monthly(col), yq(year, q), "
    "ym(year, m), mean/sum/min/max(x, by=col or [cols]) and ifelse(condition, a, b); "
    "columns between backticks when they hold dots, spaces or operators; never run as "
    "Python (docs/safety.md)"
)
_STATA_EPOCH = 1960  # quarterly()/monthly() count from 1960 as Stata's %tq / %tm do


@dataclass(frozen=True)
class Derivation:
    """One parsed ``[derive]`` entry."""

    name: str
    text: str
    node: Any
    columns: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"derive.{self.name}"


def _check_calls(node: Any, where: str) -> None:
    """Arity and keywords of every call, so a wrong call fails when the spec is read."""
    if isinstance(node, Call):
        lo, hi, kws = FUNCTIONS[node.name]
        if not lo <= len(node.args) <= hi:
            n = f"{lo}" if lo == hi else f"{lo} or {hi}"
            raise SpecError(f"{where}: {node.name}() takes {n} argument(s), got "
                            f"{len(node.args)}; {DERIVE_ALLOWED}")
        for key, value in node.kwargs:
            if key not in kws:
                raise SpecError(f"{where}: {node.name}() has no keyword {key!r}"
                                + (f" (it takes {', '.join(kws)})" if kws else ""))
            if key == "k" and not (isinstance(value, Lit) and isinstance(value.value, int)
                                   and not isinstance(value.value, bool)):
                raise SpecError(f"{where}: k= of {node.name}() is a whole number, e.g. k=1")
        if kws == ("by",) and "by" not in dict(node.kwargs):
            raise SpecError(f"{where}: {node.name}() needs by=, the group column(s), e.g. "
                            f"{node.name}(gdp, by=region) or by=[region, year]")
        if node.name in ("lag", "lead", "diff") and len(node.args) == 2:
            k = node.args[1]
            if not (isinstance(k, Lit) and isinstance(k.value, int)):
                raise SpecError(f"{where}: the order of {node.name}() is a whole number, "
                                f"e.g. {node.name}(gdp, 1)")
        children: tuple[Any, ...] = node.args
    elif isinstance(node, (Arith, Cmp)):
        children = (node.left, node.right)
    elif isinstance(node, BoolOp):
        children = node.items
    elif isinstance(node, (Not, Neg)):
        children = (node.item,)
    else:
        children = ()
    for c in children:
        _check_calls(c, where)


def parse_derive(name: str, text: str) -> Derivation:
    """Parse one ``[derive]`` entry; a SpecError names ``derive.<name>`` and the fix."""
    where = f"derive.{name}"
    if not isinstance(name, str) or not name.strip():
        raise SpecError("derive: a derived column needs a name (the key)")
    if not isinstance(text, str):
        raise SpecError(f"{where}: the expression is a text between quotes, got {text!r}")
    node, cols = parse_expression(text, where, functions=FUNCTIONS, arithmetic=True,
                                  allowed=DERIVE_ALLOWED)
    _check_calls(node, where)
    return Derivation(name, text, node, cols)


def period_unit(derive: Mapping[str, str], column: str) -> str | None:
    """"quarter" or "month" when ``column`` is derived by quarterly()/yq() or
    monthly()/ym(), else None (read from the syntax, nothing is evaluated)."""
    text = derive.get(column)
    if not isinstance(text, str):
        return None
    try:
        node = parse_derive(column, text).node
    except SpecError:
        return None
    if isinstance(node, Call):
        return {"quarterly": "quarter", "yq": "quarter", "monthly": "month",
                "ym": "month"}.get(node.name)
    return None


# ------------------------------------------------------------------ period strings
_ROMAN_ZH = {"一": 1, "二": 2, "三": 3, "四": 4}
_QUARTER = [
    (re.compile(r"^[Qq]([1-4])[\s\-/_.]*(\d{4})$"), 2, 1),         # Q42010, Q4-2010
    (re.compile(r"^(\d{4})[\s\-/_.]*[Qq]([1-4])$"), 1, 2),         # 2010Q4, 2010-Q4
    (re.compile(r"^([1-4])[Qq][\s\-/_.]*(\d{4})$"), 2, 1),         # 4Q2010
    (re.compile(r"^(\d{4})\s*年\s*第?\s*([1-4一二三四])\s*季度?$"), 1, 2),  # 2010年第4季度
]
_MONTH_NAMES = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_MONTH = [
    (re.compile(r"^(\d{4})\s*[mM\-/.]\s*(\d{1,2})$"), 1, 2),        # 2010m3, 2010-03
    (re.compile(r"^(\d{4})-(\d{1,2})-\d{1,2}(?:[ T].*)?$"), 1, 2),  # 2010-03-15 (a date)
    (re.compile(r"^(\d{1,2})/(\d{4})$"), 2, 1),                     # 03/2010
    (re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月$"), 1, 2),          # 2010年3月
    (re.compile(r"^([A-Za-z]{3})[a-z]*\.?[\s\-]*(\d{4})$"), 2, 1),  # Mar 2010, March-2010
]


def _parse_periods(s: pd.Series, patterns: list[tuple[re.Pattern[str], int, int]],
                   per_year: int, where: str, what: str) -> pd.Series:
    # each distinct value is read once (a long panel repeats a few dozen periods)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    parsed = np.array([_one_period(str(v).strip(), patterns, per_year) for v in uniques],
                      dtype=float)
    out = np.where(codes >= 0, parsed[np.maximum(codes, 0)] if len(parsed) else np.nan,
                   np.nan)
    bad_codes = (codes >= 0) & np.isnan(out)
    bad = list(s[bad_codes])
    if bad:
        examples = ", ".join(repr(b) for b in list(dict.fromkeys(bad))[:3])
        raise DataError(f"{where}: {len(bad)} values of {s.name!r} are not {what}, e.g. "
                        f"{examples}; write them like the others or drop those rows with "
                        "data.query")
    return pd.Series(out, index=s.index)


def _one_period(text: str, patterns: list[tuple[re.Pattern[str], int, int]],
                per_year: int) -> float:
    for pat, gy, gp in patterns:
        m = pat.match(text)
        if m is None:
            continue
        year, part = m.group(gy), m.group(gp)
        if part.isalpha():
            sub = _ROMAN_ZH.get(part) or _MONTH_NAMES.get(part.lower()[:3])
            if sub is None:
                return np.nan
        else:
            sub = int(part)
        if not 1 <= sub <= per_year:
            return np.nan
        return float((int(year) - _STATA_EPOCH) * per_year + sub - 1)
    return np.nan


def quarterly(s: pd.Series, where: str = "quarterly()") -> pd.Series:
    """Quarters as Stata's %tq numbers (quarters since 1960Q1: 2010Q4 -> 203) from text
    such as "Q42010", "2010Q4", "2010-Q4" or "2010年第4季度"; missing stays missing."""
    if pd.api.types.is_numeric_dtype(s):
        raise DataError(f"{where}: {s.name!r} holds numbers; quarterly() reads text such as "
                        "'Q42010' or '2010Q4' (for year and quarter columns use yq(year, q))")
    return _parse_periods(s, _QUARTER, 4, where, "quarters like 'Q42010' or '2010Q4'")


def monthly(s: pd.Series, where: str = "monthly()") -> pd.Series:
    """Months as Stata's %tm numbers (months since 1960m1: 2010m3 -> 602) from text
    such as "2010m3", "2010-03", "2010-03-15", "03/2010", "Mar 2010", "2010年3月", or
    from dates; missing stays missing."""
    if pd.api.types.is_datetime64_any_dtype(s):
        d = s.dt
        return ((d.year - _STATA_EPOCH) * 12 + d.month - 1).astype(float)
    if pd.api.types.is_numeric_dtype(s):
        raise DataError(f"{where}: {s.name!r} holds numbers; monthly() reads text such as "
                        "'2010m3' or '2010-03' (for year and month columns use ym(year, m))")
    return _parse_periods(s, _MONTH, 12, where, "months like '2010m3' or '2010-03'")


def period_fix(s: pd.Series, column: str) -> str | None:
    """The ``[derive]`` entry that turns a text time column of quarters or months into
    period numbers (for error messages), or None when its values are neither."""
    from policylab.data.names import quote_name

    sample = s.dropna().astype(str).head(50).rename(column)
    if sample.empty:
        return None
    for fn, name in ((quarterly, "quarterly"), (monthly, "monthly")):
        try:
            fn(sample)
        except DataError:
            continue
        return (f"derive period numbers and make them the time: [derive] period = "
                f"\"{name}({quote_name(column, dots=False)})\" and data.time = \"period\"")
    return None


# ------------------------------------------------------------------ evaluation
class _Eval:
    """Evaluates one parsed entry on a frame; values are Series on ``df.index``."""

    def __init__(self, d: Derivation, df: pd.DataFrame, unit: str, time: str) -> None:
        self.d, self.df, self.unit, self.time = d, df, unit, time
        self.f = RowFilter(text=d.text, where=d.where, node=d.node, columns=d.columns)

    def fail(self, msg: str) -> DataError:
        return DataError(f"{self.d.where} = {self.d.text!r}: {msg}")

    def series(self, v: Any) -> pd.Series:
        if isinstance(v, pd.Series):
            return v
        if isinstance(v, np.ndarray):
            return pd.Series(v, index=self.df.index)
        if isinstance(v, list):
            raise self.fail("a list can only follow 'in' or 'not in'")
        return pd.Series(np.full(len(self.df), v), index=self.df.index)

    def number(self, v: Any, what: str) -> pd.Series:
        s = self.series(v)
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.astype(float)
        if not pd.api.types.is_numeric_dtype(s.dtype):
            name = f"column {s.name!r}" if s.name is not None else "a value"
            raise self.fail(f"{what} needs numbers, but {name} holds text (e.g. "
                            f"{s.dropna().iloc[0] if s.notna().any() else None!r}); compare "
                            "it (col == 'x') or convert it (quarterly(), monthly())")
        return s.astype(float)

    def condition(self, v: Any) -> pd.Series:
        return pd.Series(truth(v if not isinstance(v, np.ndarray) else v, len(self.df),
                               self.f), index=self.df.index)

    def key_column(self, which: str, fn: str) -> pd.Series:
        col = self.unit if which == "unit" else self.time
        if col not in self.df.columns:
            raise self.fail(f"{fn}() works within data.unit over data.time, and {which} "
                            f"column {col!r} is not in the data yet; derive it in an earlier "
                            "key")
        s = self.df[col]
        if which == "time" and not pd.api.types.is_numeric_dtype(s):
            raise self.fail(f"{fn}() needs a numeric time; {col!r} holds text like "
                            f"{s.dropna().iloc[0] if s.notna().any() else None!r} — derive "
                            "period numbers first (quarterly() / monthly()) and use them as "
                            "data.time")
        return s

    def ev(self, node: Any) -> Any:
        if isinstance(node, Col):
            if node.name not in self.df.columns:
                raise self.fail(f"column {node.name!r} is not in the data (keys are computed "
                                "in order: a key can use only the keys above it)")
            return self.df[node.name]
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Missing):
            m = self.ev(node.col).isna()
            return ~m if node.negate else m
        if isinstance(node, Not):
            return ~self.condition(self.ev(node.item))
        if isinstance(node, BoolOp):
            acc = self.condition(self.ev(node.items[0]))
            for it in node.items[1:]:
                v = self.condition(self.ev(it))
                acc = (acc & v) if node.op == "and" else (acc | v)
            return acc
        if isinstance(node, Cmp):
            a, b = self.ev(node.left), self.ev(node.right)
            if not isinstance(a, pd.Series) and not isinstance(b, pd.Series):
                a = self.series(a)
            return self.series(compare(node, a, b, self.df, self.f))
        if isinstance(node, Neg):
            return -self.number(self.ev(node.item), "'-'")
        if isinstance(node, Arith):
            return self.arith(node)
        if isinstance(node, Call):
            return self.call(node)
        raise self.fail(f"cannot evaluate {node!r}")  # pragma: no cover

    def arith(self, node: Arith) -> pd.Series:
        a = self.number(self.ev(node.left), repr(node.op))
        b = self.number(self.ev(node.right), repr(node.op))
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        zero = (b == 0) & a.notna()
        if zero.any():
            raise self.fail(f"division by zero in {int(zero.sum())} rows "
                            f"({self.rows(zero)}); keep the rows with a non-zero "
                            "denominator in data.query, or use ifelse(den == 0, ..., ...)")
        return a / b

    def rows(self, mask: pd.Series) -> str:
        cols = [c for c in (self.unit, self.time) if c in self.df.columns]
        first = [t[0] if len(t) == 1 else t for t in
                 self.df.loc[mask, cols].head(3).itertuples(index=False, name=None)]
        label = cols[0] if len(cols) == 1 else f"({', '.join(cols)})"
        return f"first at {label} " + ", ".join(map(repr, first))

    def call(self, node: Call) -> pd.Series:
        name, kw = node.name, dict(node.kwargs)
        if name in ("log", "log1p", "exp", "sqrt", "abs"):
            return self.elementwise(name, self.number(self.ev(node.args[0]), f"{name}()"))
        if name in ("lag", "lead", "diff"):
            k = node.args[1].value if len(node.args) > 1 else kw.get("k", Lit(1)).value
            x = self.number(self.ev(node.args[0]), f"{name}()")
            lagged = self.shifted(x, -k if name == "lead" else k, name)
            return x - lagged if name == "diff" else lagged
        if name == "first_time":
            cond = self.condition(self.ev(node.args[0]))
            unit, time = self.key_column("unit", name), self.key_column("time", name)
            first = time[cond.to_numpy()].groupby(unit[cond.to_numpy()]).min()
            return pd.Series(unit.map(first).to_numpy(dtype=float), index=self.df.index)
        if name in ("quarterly", "monthly"):
            s = self.series(self.ev(node.args[0]))
            return (quarterly if name == "quarterly" else monthly)(s, self.d.where)
        if name in ("yq", "ym"):
            per = 4 if name == "yq" else 12
            y = self.number(self.ev(node.args[0]), f"{name}()")
            p = self.number(self.ev(node.args[1]), f"{name}()")
            bad = p.notna() & ((p < 1) | (p > per) | (p != np.round(p)))
            if bad.any():
                raise self.fail(f"the {'quarter' if per == 4 else 'month'} must be a whole "
                                f"number 1-{per}; {int(bad.sum())} rows are not "
                                f"({self.rows(bad)})")
            return (y - _STATA_EPOCH) * per + p - 1
        if name in ("mean", "sum", "min", "max"):
            return self.group_stat(name, node, kw["by"])
        cond = self.condition(self.ev(node.args[0]))  # ifelse
        a, b = self.series(self.ev(node.args[1])), self.series(self.ev(node.args[2]))
        return a.where(cond, b)

    def elementwise(self, name: str, x: pd.Series) -> pd.Series:
        bad = {"log": x <= 0, "log1p": x <= -1, "sqrt": x < 0}.get(name)
        if bad is not None and bad.any():
            need = {"log": "> 0", "log1p": "> -1", "sqrt": ">= 0"}[name]
            hint = " (log1p(x) takes zeros)" if name == "log" else ""
            raise self.fail(f"{name}() needs values {need}, but {int(bad.sum())} rows are "
                            f"not ({self.rows(bad)}){hint}; restrict the rows in data.query "
                            "or use ifelse()")
        fn = {"log": np.log, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt,
              "abs": np.abs}[name]
        return fn(x)

    def shifted(self, x: pd.Series, k: int, name: str) -> pd.Series:
        if k == 0:
            raise self.fail(f"the order of {name}() must not be 0")
        unit, time = self.key_column("unit", name), self.key_column("time", name)
        keys = pd.DataFrame({"u": unit.to_numpy(), "t": time.to_numpy()})
        if keys.duplicated().any():
            raise self.fail(f"{name}() needs one row per (unit, time), but some "
                            f"({self.unit}, {self.time}) pairs repeat")
        source = pd.Series(x.to_numpy(), index=pd.MultiIndex.from_frame(keys))
        wanted = pd.MultiIndex.from_arrays([keys["u"], keys["t"] - k])
        return pd.Series(source.reindex(wanted).to_numpy(), index=self.df.index)

    def group_stat(self, name: str, node: Call, by: Any) -> pd.Series:
        cols = [c.name for c in (by if isinstance(by, tuple) else (by,))
                if isinstance(c, Col)]
        if not cols or len(cols) != len(by if isinstance(by, tuple) else (by,)):
            raise self.fail(f"by= of {name}() names group columns, e.g. by=region or "
                            "by=[region, year]")
        missing = [c for c in cols if c not in self.df.columns]
        if missing:
            raise self.fail(f"group column {missing[0]!r} of {name}() is not in the data")
        x = self.number(self.ev(node.args[0]), f"{name}()")
        groups = [self.df[c].to_numpy() for c in cols]
        return x.groupby(groups).transform(name)


def _result(v: Any, ev: _Eval) -> pd.Series:
    s = ev.series(v)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("int64")
    return s.rename(None)


def apply_derive(df: pd.DataFrame, derive: Mapping[str, str], unit: str, time: str,
                 problems: list[str] | None = None) -> pd.DataFrame:
    """A new frame with the ``[derive]`` columns added in order (``df`` is not changed).

    Parameters
    ----------
    df : DataFrame
        The data as read (and merged).
    derive : mapping
        name -> expression, in the order they are computed.
    unit, time : str
        The panel keys (lags, leads and first_time work within unit over time).
    problems : list, optional
        When given, every failing key is appended to it (and skipped) instead of
        raising at the first, so ``policylab check`` reports them all at once.

    Raises
    ------
    SpecError, DataError
        Naming ``derive.<key>``, the expression and the fix.
    """
    out = df.copy()
    for name, text in derive.items():
        try:
            d = parse_derive(name, text)
            if name in df.columns:
                raise SpecError(f"derive.{name}: the data already have a column {name!r}; "
                                "choose another name (derive never replaces data)")
            ev = _Eval(d, out, unit, time)
            out[name] = _result(ev.ev(d.node), ev).to_numpy()
        except (SpecError, DataError) as exc:
            if problems is None:
                raise
            problems.append(str(exc))
    return out

"""fixest-style formulas: ``y1 + y2 ~ x1 + log(x2) + i(rel, ref=-1) | unit + year``.

Plain column names are read directly; ``i()`` terms are expanded here (fixest
semantics: one dummy per level except ``ref``, optionally times a continuous
variable); anything else (``log(x)``, ``I(x**2)``, ``a:b``) goes to formulaic.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import require_columns
from policylab.engine.threads import COMPILED_ROWS
from policylab.errors import SpecError

__all__ = ["Formula", "parse_formula", "build_matrix", "fe_terms", "split_terms"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


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


def split_terms(expr: str) -> list[str]:
    """Split on top-level '+' (not inside brackets or quotes)."""
    out, depth, cur, quote = [], 0, [], None
    for ch in expr:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "+" and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [t for t in out if t]


def parse_formula(fml: str) -> Formula:
    """Parse ``lhs ~ rhs | fe``; raises SpecError with the offending part named."""
    if not isinstance(fml, str) or "~" not in fml:
        raise SpecError(f"formula must look like 'y ~ x1 + x2 | unit + year', got {fml!r}")
    lhs, rest = fml.split("~", 1)
    parts = rest.split("|")
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
    for f in fe:
        for piece in f.split("^"):
            if not _IDENT.match(piece.strip()):
                raise SpecError(
                    f"fixed effect {f!r} in {fml!r} must be a column name or an "
                    "interaction like 'province^year'"
                )
    return Formula(raw=fml, depvars=depvars, terms=cleaned, fe=fe, intercept=intercept and not fe,
                   endog=endog, instruments=instruments)


def _iv_part(parts: list[str], fml: str) -> tuple[list[str], list[str]]:
    """Remove an IV part ``endog ~ instr`` (the last of ``parts``) and return its terms."""
    if len(parts) < 2 or "~" not in parts[-1]:
        return [], []
    endog_s, instr_s = parts.pop().split("~", 1)
    endog, instruments = split_terms(endog_s), split_terms(instr_s)
    if not endog or not instruments or "~" in instr_s:
        raise SpecError(
            f"the IV part of {fml!r} must look like 'endog ~ instrument1 + instrument2'"
        )
    bad = [e for e in endog if not _IDENT.match(e)]
    if bad:
        raise SpecError(f"endogenous regressors {bad} in {fml!r} must be column names")
    return endog, instruments


def _parse_i(term: str) -> tuple[str, str | None, list[object] | None]:
    try:
        call = ast.parse(term, mode="eval").body
    except SyntaxError as exc:
        raise SpecError(f"cannot parse term {term!r}: {exc.msg}") from exc
    if not isinstance(call, ast.Call) or not call.args:
        raise SpecError(f"i() needs a variable: {term!r}, e.g. i(rel_year, ref=-1)")
    names = []
    for a in call.args:
        if not isinstance(a, ast.Name):
            raise SpecError(f"arguments of {term!r} must be column names")
        names.append(a.id)
    ref = None
    for kw in call.keywords:
        if kw.arg != "ref":
            raise SpecError(f"i() accepts ref= only, got {kw.arg!r} in {term!r}")
        val = ast.literal_eval(kw.value)
        ref = list(val) if isinstance(val, (list, tuple)) else [val]
    return names[0], (names[1] if len(names) > 1 else None), ref


def _expand_i(df: pd.DataFrame, term: str) -> tuple[np.ndarray, list[str]]:
    var, x, ref = _parse_i(term)
    require_columns(df, [var] + ([x] if x else []), f"column of {term!r}")
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
                f"ref={unknown} in {term!r} is not a level of {var!r}; levels: "
                f"{list(levels)[:10]}"
            )
        levels = [v for v in levels if v not in ref]
    xv = None if x is None else pd.to_numeric(df[x], errors="coerce").to_numpy(float)
    if not len(levels):
        raise SpecError(f"{term!r} leaves no levels after removing ref")
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
        names.append(f"{var}::{lv}" + (f":{x}" if x else ""))
    return out, names


def build_matrix(
    df: pd.DataFrame, terms: list[str], intercept: bool,
    extra: dict[str, Any] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Evaluate right-hand-side terms to a float matrix (NaN where undefined).

    ``extra`` maps plain term names that are not columns of ``df`` to float arrays
    aligned with its rows, or to callables that fill a given output column in place
    (callers that build regressors, such as event-study dummies, pass them here
    instead of copying them into the frame).
    """
    extra = extra or {}
    if not intercept and terms and all(_IDENT.match(t) for t in terms):
        # plain columns: fill one preallocated matrix (no per-block copies)
        require_columns(df, [t for t in terms if t not in extra], "regressor")
        # column-major: each column is one contiguous copy, and feols demeans in place
        out = np.empty((len(df), len(terms)), order="F")
        for j, t in enumerate(terms):
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
        return out, list(terms)
    if extra:
        df = df.assign(**{k: _materialise(v, len(df)) for k, v in extra.items()})
    blocks: list[np.ndarray] = []
    names: list[str] = []
    if intercept:
        blocks.append(np.ones((len(df), 1)))
        names.append("Intercept")
    simple = [t for t in terms if _IDENT.match(t)]
    require_columns(df, simple, "regressor")
    pending: list[str] = []

    def flush() -> None:
        if not pending:
            return
        import formulaic

        try:
            mm = formulaic.model_matrix("0 + " + " + ".join(pending), df, na_action="ignore")
        except Exception as exc:  # formulaic raises many types for user typos
            raise SpecError(f"cannot evaluate terms {pending}: {exc}") from exc
        blocks.append(np.asarray(mm, dtype=float))
        names.extend(str(c) for c in mm.columns)
        pending.clear()

    for t in terms:
        if _IDENT.match(t):
            flush()
            col = df[t]
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                from policylab.data.panel import require_numeric

                require_numeric(df, [t])
            blocks.append(pd.to_numeric(col).to_numpy(dtype=float, na_value=np.nan)[:, None])
            names.append(t)
        elif t.startswith("i("):
            flush()
            m, nm = _expand_i(df, t)
            blocks.append(m)
            names.extend(nm)
        else:
            pending.append(t)
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


_FE_PIECE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def fe_terms(fe: str | list[str] | tuple[str, ...] | None, unit: str, time: str, *,
             allow_empty: bool = False, what: str = "the model") -> list[str]:
    """Normalise an estimator's ``fe=`` to a list of terms like ``["unit", "a^b"]``.

    Accepts None (``unit`` and ``time``), a formula string (``"unit + province^year"``,
    the syntax after ``|`` in :func:`policylab.feols`, a leading ``|`` allowed) or a
    list of terms. An empty list or ``"0"`` means no fixed effects, allowed only with
    ``allow_empty``.
    """
    if fe is None:
        return [unit, time]
    if isinstance(fe, str):
        raw = fe.strip()
        terms = split_terms(raw[1:] if raw.startswith("|") else raw)
    else:
        terms = [str(f).strip() for f in fe]
    terms = [t for t in terms if t]
    if not terms or terms in (["0"], ["."]):
        if allow_empty:
            return []
        raise SpecError(
            f"fe={fe!r} names no fixed effect; {what} needs at least one, "
            f"e.g. fe='{unit} + {time}' (the default)"
        )
    for t in terms:
        for piece in t.split("^"):
            if not _FE_PIECE.match(piece.strip()):
                raise SpecError(
                    f"fixed effect {t!r} in fe={fe!r} must be a column name or an "
                    "interaction like 'province^year'"
                )
    # "a ^ b" and "a^b" are the same term
    return ["^".join(p.strip() for p in t.split("^")) for t in terms]


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
            if hi - lo < 4 * v.size + 1024 and v.size >= COMPILED_ROWS:
                from policylab.engine._passes import compact_int_codes

                codes = np.empty(v.size, dtype=np.int64) if out is None else out
                levels = compact_int_codes(v.astype(np.int64, copy=False), lo,
                                                hi - lo + 1, codes)
                return codes, levels
            if hi - lo < 4 * v.size + 1024:
                present = np.zeros(hi - lo + 1, dtype=bool)
                present[v - lo] = True
                remap = np.cumsum(present) - 1
                return remap[v - lo].astype(np.int64), np.flatnonzero(present) + lo
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques)


def fe_codes(df: pd.DataFrame, fe: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (n, m) of each fixed effect and a mask of rows with missing keys."""
    cols = sorted({p.strip() for f in fe for p in f.split("^")})
    require_columns(df, cols, "fixed-effect column")
    n = len(df)
    codes = np.empty((len(fe), n), dtype=np.int64).T  # each FE's codes contiguous
    miss = np.zeros(n, dtype=bool)
    for j, f in enumerate(fe):
        pieces = [p.strip() for p in f.split("^")]
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

"""fixest's stepwise formulas: ``csw()``, ``csw0()``, ``sw()``, ``sw0()``.

``y ~ csw(x1, x2) | csw0(unit, year)`` stands for several models. This module
rewrites such a formula into the plain formulas it stands for, before
:func:`policylab.estimators.formula.parse_formula` sees them, in the order fixest and
pyfixest estimate them: fixed-effect variants outermost, then outcomes, then
right-hand-side variants.

* ``sw(a, b)``: one model with ``a``, one with ``b``;
* ``sw0(a, b)``: first without either, then as ``sw``;
* ``csw(a, b)``: cumulative, ``a`` then ``a + b``;
* ``csw0(a, b)``: first without either, then as ``csw``.

The rewriting is textual and never evaluates anything; quoted and backtick-quoted
names are left alone.
"""

from __future__ import annotations

import re

from policylab.errors import SpecError
from policylab.estimators.formula import _split_top, top_level

__all__ = ["expand_stepwise", "has_stepwise"]

_CALL = re.compile(r"(?<![A-Za-z0-9_.])(csw0|csw|sw0|sw)\s*\(")


def _calls(part: str) -> list[re.Match[str]]:
    """Stepwise calls at the top level of a formula part (not inside quotes)."""
    masked = list(part)
    quote = None
    for i, ch in enumerate(part):
        if quote:
            masked[i] = " "
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            masked[i] = " "
    return list(_CALL.finditer("".join(masked)))


def has_stepwise(fml: str) -> bool:
    """True when ``fml`` contains csw(), csw0(), sw() or sw0() outside quotes."""
    return isinstance(fml, str) and bool(_calls(fml))


def _variants(part: str, fml: str) -> list[str]:
    """The versions of one formula part, its stepwise call (if any) expanded."""
    calls = _calls(part)
    if not calls:
        return [part]
    if len(calls) > 1:
        raise SpecError(
            f"formula {fml!r} has {len(calls)} stepwise functions in one part; fixest "
            "allows one per part (e.g. 'y ~ csw(x1, x2) | sw0(unit, year)')"
        )
    m = calls[0]
    depth, end = 0, None
    for i in range(m.end() - 1, len(part)):
        if part[i] == "(":
            depth += 1
        elif part[i] == ")":
            depth -= 1
            if depth == 0:
                end = i
                break
    if end is None:
        raise SpecError(f"unbalanced brackets in {m.group(1)}() of formula {fml!r}")
    args = [a.strip() for a in _split_top(part[m.end():end], ",")]
    if not all(args):
        raise SpecError(f"{m.group(1)}() in {fml!r} has an empty argument")
    kind = m.group(1)
    if kind.startswith("csw"):
        steps = [" + ".join(args[:j]) for j in range(1, len(args) + 1)]
    else:
        steps = list(args)
    if kind.endswith("0"):
        steps = ["", *steps]
    before, after = part[:m.start()], part[end + 1:]
    return [before + s + after for s in steps]


def _clean(part: str) -> str:
    """Join the non-empty '+' terms of a part (an expanded empty step leaves '+ +')."""
    return " + ".join(t.strip() for t in _split_top(part, "+") if t.strip())


def expand_stepwise(fml: str) -> list[str]:
    """The plain formulas a stepwise formula stands for (``[fml]`` when it has none).

    Parameters
    ----------
    fml : str
        A formula such as ``"y1 + y2 ~ csw(x1, x2) | sw0(unit, year)"``.

    Returns
    -------
    list of str
        One formula per model, fixed-effect variants outermost, then outcomes, then
        right-hand-side variants (the order of fixest and pyfixest).
    """
    if not has_stepwise(fml):
        return [fml]
    tilde = top_level(fml, "~")
    if not tilde:
        raise SpecError(f"formula must look like 'y ~ csw(x1, x2) | unit', got {fml!r}")
    lhs, rest = fml[:tilde[0][0]], fml[tilde[0][0] + 1:]
    if _calls(lhs):
        raise SpecError(
            f"stepwise functions are supported on the right-hand side and in the fixed "
            f"effects, not among the outcomes of {fml!r}; list outcomes as 'y1 + y2 ~ ...'"
        )
    parts = _split_top(rest, "|")
    # an IV part ('endog ~ instr') stays as written
    iv = [p for p in parts[1:] if "~" in p]
    plain = [p for p in parts if p not in iv]
    if len(plain) > 2:
        raise SpecError(f"formula {fml!r} has more than one fixed-effects part")
    if iv and _calls(iv[0]):
        raise SpecError(f"stepwise functions are not supported in the IV part of {fml!r}")
    rhs_steps = [_clean(p) or "1" for p in _variants(plain[0], fml)]
    fe_steps = [_clean(p) for p in _variants(plain[1], fml)] if len(plain) == 2 else [""]
    outcomes = [t.strip() for t in _split_top(lhs, "+") if t.strip()]
    out = []
    for fe in fe_steps:
        for y in outcomes:
            for rhs in rhs_steps:
                pieces = [f"{y} ~ {rhs}"]
                if fe and fe != "0":
                    pieces.append(fe)
                pieces.extend(p.strip() for p in iv)
                out.append(" | ".join(pieces))
    return out

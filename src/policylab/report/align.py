"""One row per quantity when estimators name it differently.

Callaway-Sant'Anna calls its overall effect ``simple:ATT`` (or ``dynamic:ATT``...),
the imputation estimators ``ATT``, a two-way DID its treatment column; event-time
effects are ``dynamic:e`` (CS), ``rel::e`` (Sun-Abraham), ``tau::h`` (imputation,
did2s) and ``pre_k``/``post_k`` (event study). :func:`row_names` maps each result's
terms to one row name per quantity ("ATT", ``pre_k``, ``post_k``) so that a table of
several estimators shows them on one row; the original names stay usable in
``keep``/``drop``/``order`` through :func:`aliases`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ATT", "row_names", "aliases", "chronological"]

ATT = "ATT"
_STAGGERED_ATT = re.compile(r"(?:simple|dynamic|group|calendar):ATT|ATT")
_EVENT_TIME = re.compile(r"(?:dynamic:|rel::|tau::)(-?\d+)")


def _event_row(e: int) -> str:
    # the event study's own names; report.labels.term_label shows them as t-k / t+k
    return f"pre_{-e}" if e < 0 else f"post_{e}"


def _auto(term: str, treat_term: str | None, did_is_att: bool) -> str:
    if _STAGGERED_ATT.fullmatch(term):
        return ATT
    m = _EVENT_TIME.fullmatch(term)
    if m:
        return _event_row(int(m.group(1)))
    if did_is_att and treat_term is not None and term == treat_term:
        return ATT
    return term


def row_names(terms_by_result: Sequence[Sequence[str]], metas: Sequence[Mapping[str, Any]],
              rename: Mapping[str, str] | None = None, align: bool = True,
              ) -> list[list[str]]:
    """The table row of every term of every result.

    ``rename`` (original term -> row) is applied first. With ``align``, the
    staggered estimators' overall ATT becomes ``"ATT"`` and their event-time terms
    ``pre_k``/``post_k``; a DID's treatment term (``meta["treat_term"]``) joins the
    ATT row only when another column reports an estimator-named ATT, so a table of
    DIDs alone keeps the treatment's own name (and label). A term whose row would
    collide with another term of the same result keeps its own name.
    """
    rename = dict(rename or {})
    staggered = align and any(
        _STAGGERED_ATT.fullmatch(t) for terms in terms_by_result for t in terms
        if t not in rename)
    out: list[list[str]] = []
    for terms, meta in zip(terms_by_result, metas):
        rows = [rename[t] if t in rename else
                _auto(t, meta.get("treat_term"), staggered) if align else t for t in terms]
        seen: dict[str, int] = {}
        for r in rows:
            seen[r] = seen.get(r, 0) + 1
        out.append([r if seen[r] == 1 or r == t else t for r, t in zip(rows, terms)])
    return out


def aliases(terms_by_result: Sequence[Sequence[str]],
            rows_by_result: Sequence[Sequence[str]]) -> dict[str, set[str]]:
    """Row name -> every name that selects it (itself and the original terms)."""
    out: dict[str, set[str]] = {}
    for terms, rows in zip(terms_by_result, rows_by_result):
        for t, r in zip(terms, rows):
            out.setdefault(r, {r}).add(t)
    return out


def chronological(rows: list[str]) -> list[str]:
    """Event-time rows (``pre_k``/``post_k``) in time order, as one block where the first
    of them stands; other rows keep their places. Estimators estimate different leads
    (Sun-Abraham -4, CS -3...), so first appearance alone scatters them."""
    pat = re.compile(r"(pre|post)_(\d+)")

    def when(r: str) -> int:
        kind, k = r.split("_")
        return -int(k) if kind == "pre" else int(k)

    events = sorted((r for r in rows if pat.fullmatch(r)), key=when)
    if not events:
        return rows
    start = next(i for i, r in enumerate(rows) if pat.fullmatch(r))
    rest = [r for r in rows if not pat.fullmatch(r)]
    return rest[:start] + events + rest[start:]

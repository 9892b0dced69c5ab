"""The report's frame: what turns a battery's outputs into a paper.

A headline summary (the main estimate with the interval recommended for the design
and the robustness verdicts), the statuses of steps whose own checks failed, the test
statistics a paper cites under the table or figure they belong to, mechanical
identities between outcomes, and table/figure numbering with captions and notes.
Everything here reads Results and numbers the steps produced; the only statistics it
asks for are the resampling pre-trend tests (:func:`pretrend_tests`, through the
event study's public ``pretrend_test``). Every word comes from
:mod:`policylab.report.labels`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from policylab.messages import message_key, reason_of
from policylab.report.labels import report_word, translate_warning, word

__all__ = ["FEW_TREATED", "pretrend_tests", "settle_status", "headline", "identities",
           "fmt_p", "p_is", "fmt_num", "number_sections", "translated_warnings",
           "identity_sentences", "degenerate"]

# below this many treated assignment groups CRV1 under-covers (docs, issue 18):
# the wild cluster bootstrap and randomization inference are reported first
FEW_TREATED = 10


def fmt_p(p: Any) -> str:
    """A p-value as papers print it ("<0.001" below 0.001)."""
    try:
        v = float(p)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(v):
        return ""
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def p_is(p: Any) -> str:
    """"p = 0.094" or "p < 0.001"."""
    text = fmt_p(p)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def fmt_num(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals and a true minus sign left to the reader's font."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return f"{v:.{digits}f}" if math.isfinite(v) else ""


def few_treated(n_treated_groups: int | None) -> bool:
    return n_treated_groups is not None and n_treated_groups < FEW_TREATED


def pretrend_tests(es: Any, n_treated_groups: int | None, seed: int,
                   draws: int = 999, executor: Any = None) -> dict[str, Any]:
    """The joint lead tests a paper cites, the recommended one named.

    With few treated groups the Wald test over-rejects (issue 18's Monte Carlo: 19-38%
    at a nominal 5%), so the restricted wild cluster bootstrap leads and
    randomization inference follows; otherwise the Wald F test leads.
    """
    tests: dict[str, Any] = {}
    for method in ("wald", "wild", "ri"):
        try:
            extra = {"executor": executor} if method == "ri" else {}
            tests[method] = es.pretrend_test(method, draws=draws, seed=seed, **extra)
        except Exception as exc:  # a resampling test that cannot run is reported, not fatal
            why = reason_of(exc)  # policylab's own reason keeps its key (zh words)
            tests[method] = {"method": method, "error": why if message_key(why) else
                             f"{type(exc).__name__}: {exc}"}
    order = ["wild", "ri", "wald"] if few_treated(n_treated_groups) else ["wald", "wild", "ri"]
    order = [m for m in order if "p_value" in tests[m]] + [m for m in order
                                                           if "p_value" not in tests[m]]
    return {"tests": tests, "order": order, "recommended": order[0]}


def crv1_note(n_treated_groups: int | None, lang: str) -> str | None:
    """The sentence under a table of CRV1 standard errors when they are not the
    recommended inference (few treated groups), else None."""
    if not few_treated(n_treated_groups):
        return None
    return report_word("crv1_note", lang, g=n_treated_groups)


def settle_status(out: Any) -> None:
    """Mark a step "warned" when its own check failed (PSM-DID balance after matching)."""
    if out.status != "ok":
        return
    bad: list[str] = []
    for r in out.results.values():
        bal = getattr(r, "balance", None)
        table = getattr(bal, "table", None)
        if table is not None and "balanced" in table:
            bad += [v for v in table.loc[~table["balanced"].astype(bool), "variable"]
                    if v not in bad]
    if bad:
        out.status = "warned"
        out.error = ("balance not reached after matching (|standardized bias| >= 10%) for "
                     + ", ".join(map(str, bad)))
        out.numbers["check_failed"] = {"balance": bad}


def _treat_row(r: Any) -> dict[str, Any] | None:
    term = (getattr(r, "meta", None) or {}).get("treat_term")
    t = r.tidy()
    hit = t[t["term"] == term] if term is not None else t.iloc[:0]
    return hit.iloc[0].to_dict() if len(hit) else None


def _by_key(outputs: list[Any]) -> dict[str, Any]:
    return {o.key: o for o in outputs}


def headline(outputs: list[Any], n_treated_groups: int | None, lang: str,
             labels: dict[str, str], digits: int = 3) -> dict[str, Any]:
    """The first screen: one row per outcome and the robustness verdicts."""
    steps = _by_key(outputs)
    few = few_treated(n_treated_groups)
    base, wild = steps.get("baseline"), steps.get("wild_bootstrap")
    rows = []
    for name, r in (base.results.items() if base and base.status != "failed" else []):
        if name.endswith("(no controls)"):
            continue
        row = _treat_row(r)
        if row is None:
            continue
        crv1 = f"[{fmt_num(row['conf_low'], digits)}, {fmt_num(row['conf_high'], digits)}]"
        w = wild.results.get(name) if wild and wild.status != "failed" else None
        if few and w is not None:
            rec = f"[{fmt_num(w.conf_low, digits)}, {fmt_num(w.conf_high, digits)}]"
            rec_kind, p = report_word("ci_wild", lang), fmt_p(w.p_value)
        else:
            rec, rec_kind, p = crv1, report_word("ci_crv1", lang), fmt_p(row["p_value"])
        rows.append({"outcome": labels.get(name, name), "estimate": fmt_num(row["estimate"],
                                                                            digits),
                     "recommended": rec + word("in_parens", lang, x=rec_kind), "p": p,
                     "crv1": crv1 if few and w is not None else ""})
    why = report_word("why_wild" if few else "why_crv1", lang, g=n_treated_groups)
    out = {"rows": rows, "why": why, "checks": _checks(steps, lang, labels),
           "words": {k: report_word(k, lang) for k in (
               "headline", "outcome", "estimate", "recommended_ci", "crv1_ci",
               "p_recommended", "checks", "check", "result")}}
    out["tables"] = _headline_tables(out, lang)
    return out


def _headline_tables(h: dict[str, Any], lang: str) -> list[Any]:
    """The headline as two paper Tables (for Word; the HTML lays it out itself)."""
    from policylab.report.tables import Table

    w, rows, tables = h["words"], h["rows"], []
    if rows:
        crv1 = any(r["crv1"] for r in rows)
        header = [[w["outcome"], w["estimate"], w["recommended_ci"], w["p_recommended"]]
                  + ([w["crv1_ci"]] if crv1 else [])]
        body = [[r["outcome"], r["estimate"], r["recommended"], r["p"]]
                + ([r["crv1"]] if crv1 else []) for r in rows]
        tables.append(Table(header=header, body=body, notes=[h["why"]], lang=lang))
    if h["checks"]:
        tables.append(Table(header=[[w["check"], w["result"]]],
                            body=[list(c) for c in h["checks"]], title=w["checks"], lang=lang))
    return tables


def _pretrend_check(es_out: Any, lang: str) -> list[tuple[str, str]]:
    pt = es_out.numbers.get("pretrend_tests") if es_out else None
    if not pt:
        return []
    m = pt["recommended"]
    t = pt["tests"][m]
    return [(report_word("pretrend", lang, method=report_word(f"method_{m}", lang)),
             p_is(t["p_value"]))]


def _checks(steps: dict[str, Any], lang: str, labels: dict[str, str]
            ) -> list[tuple[str, str]]:
    out = _pretrend_check(steps.get("event_study"), lang)
    pl = steps.get("placebo")
    if pl and "placebo" in pl.results:
        out.append((report_word("placebo_p", lang), p_is(pl.results["placebo"].p_value)))
    wb = steps.get("wild_bootstrap")
    if wb and wb.status != "failed" and wb.results:
        out.append((report_word("wild_p", lang), word("semi_sep", lang).join(
            f"{labels.get(k, k)}{report_word('colon', lang)}{p_is(v.p_value)}"
            for k, v in wb.results.items())))
    psm = steps.get("psm_did")
    if psm and psm.status in ("ok", "warned"):
        bad = (psm.numbers.get("check_failed") or {}).get("balance")
        out.append((report_word("balance", lang), report_word(
            "unbalanced", lang, vars=_join([labels.get(b, b) for b in bad], lang))
            if bad else report_word("balanced", lang)))
    counts = {s: sum(o.status == s for o in steps.values())
              for s in ("ok", "warned", "skipped", "failed")}
    out.append((report_word("steps", lang), report_word("steps_count", lang, **counts)))
    return out


def _join(items: list[str], lang: str) -> str:
    return word("list_sep", lang).join(items)


def identities(df: Any, outcomes: list[str], controls: list[str], tol: float = 1e-8
               ) -> list[tuple[str, str, str, str]]:
    """Outcome pairs that differ by a control exactly: (y1, y2, control, sign).

    ``y1 = y2 - c`` (sign "-") or ``y1 = y2 + c`` (sign "+") on every row where all three
    are observed, to ``tol``: with ``c`` among the controls the two treatment
    coefficients are the same number (only the control's coefficient moves by one).
    Found on the data, not from the names.
    """
    found = []
    for i, y1 in enumerate(outcomes):
        for y2 in outcomes[i + 1:]:
            for c in controls:
                if c in (y1, y2) or not all(v in df for v in (y1, y2, c)):
                    continue
                a, b, x = (df[v].to_numpy(float) for v in (y1, y2, c))
                ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(x)
                if ok.sum() < 3:
                    continue
                for sign, diff in (("-", a[ok] - (b[ok] - x[ok])), ("+", a[ok] - (b[ok] + x[ok]))):
                    scale = max(1.0, float(np.max(np.abs(a[ok]))))
                    if float(np.max(np.abs(diff))) <= tol * scale:
                        found.append((y1, y2, c, sign))
    return found


def identity_sentences(base_out: Any, df: Any, outcomes: list[str], controls: list[str],
                       lang: str, labels: dict[str, str]) -> list[str]:
    """The baseline section's sentences for :func:`identities`, naming its columns."""
    cols = {name: i + 1 for i, name in enumerate(base_out.results)}
    out = []
    for y1, y2, c, sign in identities(df, outcomes, controls):
        if y1 not in cols or y2 not in cols:
            continue
        if sign == "+":  # y1 = y2 + c reads better as y2 = y1 - c
            y1, y2, sign = y2, y1, "-"
        out.append(report_word("identity", lang,
                               a=f"({min(cols[y1], cols[y2])})",
                               b=f"({max(cols[y1], cols[y2])})",
                               y1=labels.get(y1, y1), y2=labels.get(y2, y2),
                               c=labels.get(c, c)))
    return out


def translated_warnings(warnings: list[str], lang: str, labels: dict[str, str],
                        untranslated: list[str]) -> list[str]:
    """Each warning in the reader's words; unknown ones are collected in ``untranslated``."""
    out = []
    for w in warnings:
        text, known = translate_warning(w, lang, labels)
        if not known and w not in untranslated:
            untranslated.append(w)
        if text not in out:
            out.append(text)
    return out


def degenerate(fig: Any) -> str | None:
    """Why a figure is not worth drawing ("no_points", "one_point"), or None.

    Data are the points of scatter collections, bars and lines other than reference
    lines (a line of two points spanning the axes, as axhline/axvline draw). Axes drawn
    without a frame that hold text are diagrams and always drawn.
    """
    points = 0
    for ax in getattr(fig, "axes", []):
        if not ax.axison and ax.texts:
            return None  # a diagram (boxes and arrows, e.g. the mediation path): no data
        for coll in ax.collections:
            points += len(coll.get_offsets()) if hasattr(coll, "get_offsets") else 0
            if hasattr(coll, "get_paths") and not hasattr(coll, "get_sizes"):
                points += len(coll.get_paths())  # fill_between bands, images
        points += len(ax.patches) + len(ax.images)
        for line in ax.lines:
            x = np.asarray(line.get_xdata(), dtype=object)
            if len(x) > 2 or (len(x) and not _reference_line(line)):
                points += len(x)
    if points == 0:
        return "no_points"
    return "one_point" if points == 1 else None


def _reference_line(line: Any) -> bool:
    # axhline/axvline draw in axes coordinates on one side: x or y is [0, 1]
    try:
        x, y = list(line.get_xdata()), list(line.get_ydata())
    except Exception:  # an odd artist: count it as data
        return False
    return len(x) == 2 and (x == [0, 1] or y == [0, 1])


def number_sections(sections: list[dict[str, Any]], lang: str,
                    start: tuple[int, int, int] = (0, 0, 0)) -> tuple[int, int, int]:
    """Number sections, tables and figures in order of appearance, captions in place.

    Tables are replaced by captioned copies, which the table files are written from.
    ``start`` is how many sections, tables and figures come before ``sections`` (a
    report numbered a few sections at a time); returns the counts after them.
    """
    n0, nt, nf = start
    for i, s in enumerate(sections, n0 + 1):
        s["number"] = i
        tables = []
        for t in s.get("tables", []):
            nt += 1
            tables.append(dataclasses.replace(
                t, title=report_word("table_caption", lang, n=nt, title=t.title or s["title"])))
        s["tables"] = tables
        for f in s.get("figures", []):
            nf += 1
            f["caption"] = report_word("figure_caption", lang, n=nf,
                                       title=f.get("title") or s["title"])
    return n0 + len(sections), nt, nf

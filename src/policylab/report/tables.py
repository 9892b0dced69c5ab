"""esttab-style regression tables: one layout model, many renderers.

``etable`` lays out several Results side by side (coefficients with stars, SEs below,
rows for controls and fixed effects, N, R-squared, clusters, notes matching the vcov
used); ``table_from_frame`` turns any tidy DataFrame into the same Table. A Table
renders to text, Markdown, LaTeX (booktabs), HTML, Word (three-line table) and Excel.
"""

from __future__ import annotations

import dataclasses
import html as _html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policylab.messages import Message
from policylab.report.labels import level_label, message_text, term_label, word
from policylab.report.numbers import Num, column_kind

__all__ = ["Table", "etable", "table_from_frame", "result_html"]


@dataclass
class Table:
    """A paper table: header rows, body rows (first cell is the row label), rules, notes.

    ``rules`` are body-row indices after which a thin rule is drawn (e.g. between the
    coefficients and the statistics block). ``values`` runs parallel to ``body`` and
    holds a :class:`~policylab.report.numbers.Num` where a cell is a number (None for
    text), so Excel gets numeric cells and LaTeX true minus signs. ``spans`` maps a
    header cell ``(row, col)`` to the number of columns it covers (group headers).
    ``label`` is the LaTeX ``\\label``.
    """

    header: list[list[str]]
    body: list[list[str]]
    title: str | None = None
    notes: list[str] = field(default_factory=list)
    rules: list[int] = field(default_factory=list)
    lang: str = "en"
    values: list[list[Num | None]] = field(default_factory=list)
    spans: dict[tuple[int, int], int] = field(default_factory=dict)
    label: str | None = None

    @property
    def ncols(self) -> int:
        return max(len(r) for r in self.header + self.body)

    def to_dataframe(self) -> pd.DataFrame:
        """Body as a DataFrame with the last header row as column names, prefixed by
        the group header above a column ("Control group: Mean") so names stay unique."""
        cols = list(self.header[-1]) if self.header else None
        if cols is not None and len(self.header) > 1:
            group = [""] * len(cols)
            for (i, j), span in self.spans.items():
                if i == len(self.header) - 2 and self.header[i][j]:
                    group[j:j + span] = [self.header[i][j]] * span
            cols = [f"{g}: {c}" if g else c for g, c in zip(group, cols)]
        return pd.DataFrame(self.body, columns=cols)

    # ------------------------------------------------------------------ text
    def to_text(self) -> str:
        """Monospaced plain text (console)."""
        rows = self.header + self.body
        w = [max(_width(r[j]) for r in rows if j < len(r)) for j in range(self.ncols)]

        def fmt(r: list[str]) -> str:
            return "  ".join(_pad(c, w[j], left=j == 0) for j, c in enumerate(r))

        total = sum(w) + 2 * (len(w) - 1)
        out = [self.title] if self.title else []
        out.append("=" * total)
        out += [fmt(r) for r in self.header]
        out.append("-" * total)
        for i, r in enumerate(self.body):
            out.append(fmt(r))
            if i in self.rules:
                out.append("-" * total)
        out.append("=" * total)
        out += self.notes
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown."""
        head = self.header[-1] if self.header else [""] * self.ncols
        pre = [" ".join(r).strip() for r in self.header[:-1]]
        out = [f"**{self.title}**", ""] if self.title else []
        if pre and any(pre):
            out.append("| " + " | ".join(self.header[0]) + " |")
            out.append("|" + "---|" * self.ncols)
            for r in self.header[1:-1]:
                out.append("| " + " | ".join(r) + " |")
            out.append("| " + " | ".join(head) + " |")
        else:
            out.append("| " + " | ".join(head) + " |")
            out.append("|" + "---|" * self.ncols)
        for r in self.body:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        out += [""] + self.notes if self.notes else []
        return "\n".join(out) + "\n"

    def to_latex(self, *, fragment: bool = False, label: str | None = None) -> str:
        """booktabs LaTeX: a ``table`` float with caption, ``\\label`` and notes, or with
        ``fragment=True`` the ``tabular`` alone for ``\\input``. English compiles with
        pdflatex + booktabs; Chinese needs xelatex + ctex (docs/outputs.md)."""
        from policylab.report.latex import table_to_latex

        return table_to_latex(self, fragment=fragment, label=label)

    def to_html(self) -> str:
        """An HTML ``<table class="three-line">`` (style it with the report's CSS)."""
        e = _html.escape
        out = ['<table class="three-line">']
        if self.title:
            out.append(f"<caption>{e(self.title)}</caption>")
        out.append("<thead>")
        for i, r in enumerate(self.header):
            cells, j = [], 0
            while j < self.ncols:
                span = self.spans.get((i, j), 1)
                text = e(r[j]) if j < len(r) else ""
                if span > 1:
                    cls = ' class="group"' if text else ""
                    cells.append(f'<th colspan="{span}"{cls}>{text}</th>')
                else:
                    cells.append(f"<th>{text}</th>")
                j += span
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</thead><tbody>")
        # a column with any long text cell (definitions, sources) wraps and aligns left
        prose = {j for i, r in enumerate(self.body) for j, c in enumerate(r)
                 if _is_prose(c, self.values[i] if i < len(self.values) else [], j)}
        for i, r in enumerate(self.body):
            cls = ' class="rule"' if i in self.rules else ""
            out.append(f"<tr{cls}>" + "".join(
                f'<td class="text">{e(c)}</td>' if j in prose else f"<td>{e(c)}</td>"
                for j, c in enumerate(r)) + "</tr>")
        out.append("</tbody>")
        if self.notes:
            out.append(f'<tfoot><tr><td colspan="{self.ncols}">'
                       + "<br>".join(e(x) for x in self.notes) + "</td></tr></tfoot>")
        out.append("</table>")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        # Jupyter: the same table, scrolling inside its own box when wide
        return (f'<div style="overflow-x:auto"><style>{_NOTEBOOK_CSS}</style>'
                f"{self.to_html()}</div>")

    def add_to_docx(self, doc: Any, fonts: Sequence[str] | None = None) -> Any:
        """Append as a three-line table to a python-docx Document; returns the table.

        ``fonts`` is (Latin, East Asian), default Times New Roman and 宋体 (SimSun).
        """
        from policylab.report.docx import DEFAULT_FONTS, add_table

        return add_table(doc, self, tuple(fonts or DEFAULT_FONTS))

    def to_docx(self, path: str | Path, fonts: Sequence[str] | None = None) -> Path:
        """A Word file (A4; landscape for a table of more than nine columns) holding this
        table, written atomically."""
        from policylab.report.docx import DEFAULT_FONTS, write_table

        return write_table(self, path, tuple(fonts or DEFAULT_FONTS))

    def to_excel(self, path: str | Path) -> Path:
        """An Excel sheet with the same layout: numeric cells with number formats (stars
        and brackets are part of the format), text as text, three-line borders."""
        from policylab.report.xlsx import table_to_excel

        return table_to_excel(self, path)

    def write(self, path: str | Path) -> Path:
        """Write the table in the format its file name ends with (.md, .tex, .html,
        .txt, .csv, .xlsx, .docx), atomically; returns the path."""
        from policylab.errors import SpecError
        from policylab.report.io import write_text

        target = Path(path)
        ext = target.suffix.lower()
        if ext == ".xlsx":
            return self.to_excel(target)
        if ext == ".docx":
            return self.to_docx(target)
        if ext == ".csv":
            return write_text(target, self.to_dataframe().to_csv(index=False))
        render = {".md": self.to_markdown, ".tex": self.to_latex, ".html": self.to_html,
                  ".txt": self.to_text}.get(ext)
        if render is None:
            raise SpecError(f"cannot write a table as {target.name!r}: the name must end "
                            "with .md, .tex, .html, .txt, .csv, .xlsx or .docx")
        return write_text(target, render())


_NOTEBOOK_CSS = (
    "table.three-line{border-collapse:collapse;font-variant-numeric:tabular-nums}"
    "table.three-line thead tr:first-child th{border-top:2px solid currentColor}"
    "table.three-line thead tr:last-child th{border-bottom:1px solid currentColor}"
    "table.three-line tbody tr:last-child td{border-bottom:2px solid currentColor}"
    "table.three-line th.group{border-bottom:1px solid currentColor}"
    "table.three-line th,table.three-line td{padding:.15rem .7rem;text-align:center}"
    "table.three-line td:first-child{text-align:left}"
    "table.three-line tfoot td{text-align:left;font-size:85%}")


def _is_prose(text: str, nums: Sequence[Any], j: int) -> bool:
    """A text cell long enough to wrap (definitions, sources) rather than widen the
    table; numbers and short labels never wrap."""
    return j > 0 and (j >= len(nums) or nums[j] is None) and _width(text) > 28


def _width(s: str) -> int:
    # CJK characters take two columns in a terminal
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def _pad(s: str, w: int, left: bool) -> str:
    gap = " " * (w - _width(s))
    return s + gap if left else gap + s


def _stars(p: float, levels: Sequence[float]) -> str:
    if not np.isfinite(p):
        return ""
    a, b, c = sorted(levels, reverse=True)
    return "***" if p < c else "**" if p < b else "*" if p < a else ""


def _fe_label(fe: str, meta: dict[str, Any], lang: str, labels: dict[str, str]) -> str:
    if fe == meta.get("unit"):
        return word("unit_fe", lang)
    if fe == meta.get("time"):
        from policylab.report.labels import time_fe

        # quarters or months are not years: the row says the time unit
        return time_fe(fe, lang, meta.get("time_unit"))
    return word("fe", lang, name=labels.get(fe, fe))


def _se_kind(r: Any, lang: str, labels: dict[str, str]) -> str | None:
    """Which standard errors a result reports, in words (None: it does not say)."""
    meta = getattr(r, "meta", None) or {}
    # the clusters by name in the reader's words (the spec's label, 省份 for "province")
    vc, cl = meta.get("vcov"), [level_label(c, lang, labels) for c in meta.get("cluster") or ()]
    sep = word("and_sep", lang)
    by = sep.join(labels.get(c, c) for c in cl)
    # Callaway-Sant'Anna's multiplier bootstrap (a yes/no); "in" first, so a result whose
    # old "bootstrap" key (a count) was renamed is not read through its deprecated alias
    if "bootstrap" in meta and meta["bootstrap"] and cl:
        return word("boot_clustered", lang, by=by)
    if vc in ("CRV1", "CRV3") or (vc is None and cl):
        # no vcov key: the staggered estimators' influence-function / CRV1 SEs
        return word("clustered", lang, by=by)
    if vc == "hetero":
        return word("robust", lang)
    if vc == "iid":
        return word("iid", lang)
    return None


def _cols(idx: list[int], lang: str) -> str:
    cols = word("list_sep", lang).join(f"({i + 1})" for i in idx)
    return word("note_col_list", lang, cols=cols)


def _vcov_note(results: Sequence[Any], lang: str, labels: dict[str, str],
               se: str = "se") -> str:
    """What the brackets hold (SE, t, p or CI, as ``se=`` chose) and which standard
    errors they come from; columns with different standard errors are named."""
    what = word(f"note_{se}", lang, kind="")
    kinds = [_se_kind(r, lang, labels) for r in results]
    distinct = list(dict.fromkeys(kinds))
    prefix, stop = word("note_lead", lang), word("stop", lang)
    if distinct == [None]:
        return f"{prefix}{what}{stop}"
    if len(distinct) == 1:
        kind = distinct[0]
        if se == "se":
            return f"{prefix}{word('note_se_kind', lang, kind=kind)}{stop}"
        return f"{prefix}{word('note_from', lang, what=what, kind=kind)}"
    parts = [word("note_cols", lang, cols=_cols([i for i, k in enumerate(kinds) if k == d],
                                                lang), kind=d or word("unstated", lang))
             for d in distinct]
    key = "note_mixed" if se == "se" else "note_from_mixed"
    return prefix + word(key, lang, what=what, parts=word("semi_sep", lang).join(parts))


def etable(
    results: Any,
    *,
    keep: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
    labels: dict[str, str] | None = None,
    digits: int = 3,
    stars: Sequence[float] = (0.1, 0.05, 0.01),
    se: str = "se",
    lang: str = "en",
    headers: Sequence[str] | None = None,
    group_headers: Sequence[tuple[str, int]] | None = None,
    stats: Sequence[str] = ("N", "r2", "r2_within", "n_clusters", "ymean"),
    controls: bool | Sequence[bool] | None = None,
    fe_rows: bool = True,
    notes: Sequence[str] | None = None,
    title: str | None = None,
    rename: dict[str, str] | None = None,
    align: bool = True,
    constant: bool = False,
) -> Table:
    """Regression results side by side, as Stata's esttab or fixest's etable.

    Parameters
    ----------
    results : Result or list of Results
        Anything with ``tidy()``; FeolsResult/DIDResult add fit statistics and FE rows.
        pyfixest ``Feols``/``Fepois``/``Feiv`` fits (and a ``FixestMulti``) are read
        through their ``tidy()``, N, fixed effects, vcov type and R-squared.
    keep, drop, order : list of str, optional
        Terms to show / hide / put first (``keep`` also orders when ``order`` is None).
        A row can be named by its row name ("ATT", "post_0") or by any estimator's own
        term that landed on it ("simple:ATT", "rel::0").
    labels : dict, optional
        Display names for terms, outcomes and FE columns (Chinese or English).
    digits : int
        Decimals of coefficients and SEs (statistics use the same within a row).
    stars : (a, b, c)
        Significance levels of *, **, *** (default 0.1, 0.05, 0.01).
    se : {"se", "t", "p", "ci"}
        What goes below each coefficient (as esttab's ``se`` / ``t`` / ``p`` / ``ci``):
        a display choice, not a variance estimator (the variance is each model's own
        ``vcov``; :func:`policylab.match` and :func:`policylab.did2s` choose theirs with
        ``variance=``).
    lang : {"en", "zh"}
        Language of row labels and notes.
    headers : list of str, optional
        Column headers under the model numbers (default: the dependent variables).
    group_headers : list of (label, span), optional
        A header row above the headers, e.g. [("CO2", 2), ("Intensity", 2)].
    stats : list of str
        Bottom rows among "N", "r2", "r2_within", "n_clusters", "ymean".
    controls : bool or list of bool, optional
        Show a "Controls Yes/No" row (default: when any model's meta has controls; the
        control terms themselves are then hidden unless kept).
    fe_rows : bool
        One Yes/No row per fixed effect.
    notes : list of str, optional
        Extra notes; the SE-type and star notes are always added.
    rename : dict, optional
        Original term -> row, to put differently named terms on one row, e.g.
        ``{"post": "ATT", "did": "ATT"}``; show a row's name with ``labels``.
    align : bool
        One row per quantity across estimators (default): the overall ATT of
        Callaway-Sant'Anna (``simple:ATT``...), the imputation estimators (``ATT``)
        and, beside them, a DID's treatment term on an "ATT" row; event-time effects
        (``dynamic:e``, ``rel::e``, ``tau::h``, ``pre_k``/``post_k``) on rows shown as
        t-k / t+k. ``align=False`` keeps every estimator's own term names.
    """
    from policylab.report.align import aliases, chronological, row_names
    from policylab.report.foreign import as_table_result, expand_results

    res = [as_table_result(r, i) for i, r in enumerate(expand_results(results))]
    labels = dict(labels or {})
    n = len(res)
    metas = [getattr(r, "meta", {}) or {} for r in res]
    raw = [_checked_tidy(r, i) for i, r in enumerate(res)]
    rows = row_names([list(map(str, t["term"])) for t in raw], metas, rename, align)
    names = aliases([list(map(str, t["term"])) for t in raw], rows)
    tidies = [t.assign(term=r) for t, r in zip(raw, rows)]
    if constant:
        tidies = [_with_constant(r, t) for r, t in zip(res, tidies)]
    ctrl_sets = [list(m.get("controls") or []) for m in metas]
    show_controls = controls if controls is not None else any(ctrl_sets)
    ctrl_terms = {c for cs in ctrl_sets for c in cs} if show_controls is True or (
        isinstance(show_controls, (list, tuple))) else set()
    terms: list[str] = []
    for t in tidies:
        for term in t["term"]:
            if term not in terms:
                terms.append(term)
    terms = _select(chronological(terms) if align else terms, names, keep, drop, order,
                    ctrl_terms)
    if constant:
        terms = [t for t in terms if t != _CONS] + [_CONS]
    # a column resting on fewer than 2 treated clusters has no usable cluster-robust p
    no_stars = {i for i, m in enumerate(metas)
                if (m.get("design") or {}).get("n_treated_groups", 2) < 2}
    body, values = _coef_rows(terms, tidies, labels, digits, stars, se, no_stars, lang)
    rules = [len(body) - 1] if body else []
    yes, no = word("yes", lang), word("no", lang)
    if show_controls:
        flags = show_controls if isinstance(show_controls, (list, tuple)) else [
            bool(c) for c in ctrl_sets]
        body.append([word("controls", lang)] + [yes if f else no for f in flags])
    if fe_rows:
        all_fe: list[str] = []
        for m in metas:
            for f in m.get("fe") or []:
                if f not in all_fe:
                    all_fe.append(f)
        for f in all_fe:
            lab = labels.get(f"{f} FE") or _fe_label(f, next((m for m in metas if f in (
                m.get("fe") or [])), {}), lang, labels)
            body.append([lab] + [yes if f in (m.get("fe") or []) else no for m in metas])
    values += [[None] * (n + 1) for _ in range(len(body) - len(values))]
    if len(body) - 1 not in rules and body:
        rules.append(len(body) - 1)
    for s in stats:
        cells = [_stat_cell(r, s, digits) for r in res]
        if any(c.text if isinstance(c, Num) else c for c in cells):
            body.append([word(s, lang)] + [c.text if isinstance(c, Num) else c for c in cells])
            values.append([None] + [c if isinstance(c, Num) else None for c in cells])
    head_deps = list(headers) if headers is not None else [
        labels.get(m.get("depvar", ""), m.get("depvar", "")) for m in metas]
    header = []
    spans: dict[tuple[int, int], int] = {}
    if group_headers:
        row = [""]
        for lab, span in group_headers:
            if span > 1:
                spans[(0, len(row))] = int(span)
            row += [lab] + [""] * (span - 1)
        header.append(row + [""] * (n + 1 - len(row)))
    header.append([""] + [f"({i + 1})" for i in range(n)])
    header.append([word("term", lang)] + head_deps)
    a, b, c = sorted(stars, reverse=True)
    note_list = [_vcov_note(res, lang, labels, se)]
    note_stars = word("note_stars", lang, a=a, b=b, c=c, a_pct=f"{a:.0%}", b_pct=f"{b:.0%}",
                      c_pct=f"{c:.0%}")
    if lang == "en":
        note_list.append(note_stars)
    else:  # Chinese journals put the stars in the same note as the standard errors
        stop = word("stop", lang)
        note_list[-1] = note_list[-1].rstrip(stop) + word("semi_sep", lang) + note_stars + stop
    if no_stars:
        from policylab.report.labels import report_word

        note_list.append(report_word("stars_off", lang, cols=", ".join(
            f"({i + 1})" for i in sorted(no_stars))))
    note_list += list(notes or [])
    return Table(header=header, body=body, title=title, notes=note_list, rules=rules, lang=lang,
                 values=values, spans=spans)


_CONS = "_cons"


def _with_constant(r: Any, tidy: pd.DataFrame) -> pd.DataFrame:
    """The model's tidy rows with its constant as the ``_cons`` row (its Intercept
    moved there); unchanged when the model reports no constant."""
    get = getattr(r, "constant", None)
    row = get() if callable(get) else None
    if row is None:  # e.g. a pyfixest fit: its own intercept, when it has one
        row = tidy[tidy["term"] == "Intercept"]
    tidy = tidy[tidy["term"] != "Intercept"]
    if row is None or len(row) == 0:
        return tidy
    return pd.concat([tidy, row.assign(term=_CONS)], ignore_index=True)


def _checked_tidy(r: Any, position: int) -> pd.DataFrame:
    t = r.tidy()
    need = ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]
    missing = [c for c in need if c not in getattr(t, "columns", [])]
    if missing:
        from policylab.errors import SpecError

        raise SpecError(f"etable: model ({position + 1}) ({type(r).__name__}) has a tidy() "
                        f"without the columns {missing}; pass policylab results or "
                        "pyfixest fits")
    return t


def _select(terms: list[str], names: dict[str, set[str]], keep: Sequence[str] | None,
            drop: Sequence[str] | None, order: Sequence[str] | None,
            ctrl_terms: set[str]) -> list[str]:
    """The rows to show, in order; keep/drop/order may name a row or an original term."""
    def rows_of(wanted: Sequence[str]) -> list[str]:
        out: list[str] = []
        for w in wanted:
            out += [t for t in terms if w in names.get(t, {t}) and t not in out]
        return out

    if keep is not None:
        kept = rows_of(keep)
        return kept if order is None else [t for t in rows_of(order) if t in kept]
    dropped = set(rows_of(drop or ()))
    # a control is hidden by its own name only: it never lands on an aligned row
    out = [t for t in terms if t not in ctrl_terms and t not in dropped]
    if order:
        first = [t for t in rows_of(order) if t in out]
        out = first + [t for t in out if t not in first]
    return out


def _row_label(term: str, labels: dict[str, str], lang: str) -> str:
    if term == _CONS:
        return labels.get(term) or word("constant", lang)
    return labels.get(term) or term_label(term, lang) or term


def _coef_rows(terms: list[str], tidies: list[pd.DataFrame], labels: dict[str, str],
               digits: int, stars: Sequence[float], se: str, no_stars: set[int] = frozenset(),
               lang: str = "en") -> tuple[list[list[str]], list[list[Num | None]]]:
    """A coefficient row (stars) and the row below it (SE, t, p or CI) per term."""
    body: list[list[str]] = []
    values: list[list[Num | None]] = []
    for term in terms:
        row: list[Num | None] = [None]
        sub: list[Num | None] = [None]
        for j, t in enumerate(tidies):
            hit = t[t["term"] == term]
            if hit.empty:
                row.append(None)
                sub.append(None)
                continue
            h = hit.iloc[0]
            row.append(Num(float(h["estimate"]), digits=digits,
                           stars="" if j in no_stars else _stars(h.get("p_value", np.nan),
                                                                   stars)))
            if se == "t":
                sub.append(Num(float(h["statistic"]), digits=2, wrap="()"))
            elif se == "p":
                sub.append(Num(float(h["p_value"]), "pvalue", digits=digits, wrap="()"))
            elif se == "ci":
                sub.append(Num((float(h["conf_low"]), float(h["conf_high"])), "interval",
                               digits=digits, wrap="[]"))
            else:
                sub.append(Num(float(h["std_error"]), digits=digits, wrap="()"))
        for cells, label in ((row, _row_label(term, labels, lang)), (sub, "")):
            body.append([label] + [c.text if c is not None else "" for c in cells[1:]])
            values.append(cells)
    return body, values


def _stat_cell(r: Any, s: str, digits: int) -> Num | str:
    """One model's entry in a statistics row (N, clusters, mean of y, R-squared...)."""
    if s == "N":
        nobs = getattr(r, "nobs", None)
        return Num(float(nobs), "integer", thousands=True) if nobs else ""
    if s == "n_clusters":
        nc = getattr(r, "n_clusters", None) or {}
        if len(nc) == 1:
            return Num(float(next(iter(nc.values()))), "integer")
        return ", ".join(str(v) for v in nc.values())
    v = getattr(r, "depvar_mean" if s == "ymean" else s, None)
    return Num(float(v) if v is not None else np.nan, digits=digits)


def table_from_frame(
    df: pd.DataFrame,
    *,
    title: str | None = None,
    lang: str = "en",
    digits: int = 3,
    labels: dict[str, str] | None = None,
    index: bool = False,
    notes: Sequence[str] | None = None,
) -> Table:
    """Any DataFrame as a paper Table.

    Each column is shown by its kind (:func:`policylab.report.numbers.column_kind`):
    integers, years and event times as integers ("-6", "2011", "500"), p-values with
    "<0.001" below 0.001, other numbers with ``digits`` decimals, booleans as Yes/No
    (是/否), text through ``labels``. Numeric cells keep their number for Excel/LaTeX.
    """
    labels = dict(labels or {})
    if lang == "zh":
        from policylab.report.labels import COLUMNS_ZH

        labels = {**COLUMNS_ZH, **labels}
    d = df.reset_index() if index else df
    names = [str(c[-1] if isinstance(c, tuple) else c) for c in d.columns]
    kinds = [column_kind(c, d.iloc[:, j]) for j, c in enumerate(names)]
    # counts get a thousands separator as N does in regression tables; years never do
    counts = [k == "integer" and c in _COUNT_COLUMNS for c, k in zip(names, kinds)]
    body: list[list[str]] = []
    values: list[list[Num | None]] = []
    for row in d.itertuples(index=False, name=None):
        texts, nums = [], []
        for v, kind, count in zip(row, kinds, counts):
            cell = _frame_cell(v, kind, digits, lang, labels)
            if count and isinstance(cell, Num):
                cell = dataclasses.replace(cell, thousands=True)
            nums.append(cell if isinstance(cell, Num) else None)
            texts.append(cell.text if isinstance(cell, Num) else cell)
        body.append(texts)
        values.append(nums)
    header, spans = _frame_header(d.columns, labels)
    return Table(header=header, body=body, title=title, notes=list(notes or []), lang=lang,
                 values=values, spans=spans)


_COUNT_COLUMNS = {"n", "n_obs", "nobs", "N", "draws", "draws_requested", "n_treated_units",
                  "clusters", "n_clusters"}


def _frame_header(cols: pd.Index, labels: dict[str, str]
                  ) -> tuple[list[list[str]], dict[tuple[int, int], int]]:
    """Header rows of a frame: one row, or with two-level (MultiIndex) columns a group
    row whose runs of equal names span their columns (as ``\\multicolumn``)."""
    if not isinstance(cols, pd.MultiIndex) or cols.nlevels != 2:
        return [[labels.get(str(c), str(c)) for c in cols]], {}
    top = [str(a) if a is not None and str(a) else "" for a, _ in cols]
    group: list[str] = []
    spans: dict[tuple[int, int], int] = {}
    j = 0
    while j < len(top):
        k = j
        while k + 1 < len(top) and top[k + 1] == top[j] and top[j]:
            k += 1
        group += [labels.get(top[j], top[j])] + [""] * (k - j)
        if k > j:
            spans[(0, j)] = k - j + 1
        j = k + 1
    return [group, [labels.get(str(b), str(b)) for _, b in cols]], spans


def _frame_cell(v: Any, kind: str, digits: int, lang: str, labels: dict[str, str],
                ) -> Num | str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return word("yes", lang) if v else word("no", lang)
    if isinstance(v, Message):  # why a test did not run: worded by its key
        return message_text(v, lang, labels)
    if isinstance(v, (int, float, np.integer, np.floating)):
        if kind in ("integer", "pvalue", "percent"):
            return Num(float(v), kind, digits=digits)
        if kind == "text":  # a number in a column of words: as it comes
            return Num(float(v), "integer" if isinstance(v, (int, np.integer)) else "number",
                       digits=digits)
        return Num(float(v), digits=digits)
    return labels.get(str(v)) or term_label(str(v), lang) or str(v)


def result_html(result: Any, lang: str = "en") -> str:
    """A Result as HTML for Jupyter: a regression table (:func:`etable`) for results with
    coefficients and a covariance, the tidy table otherwise, then the warnings."""
    e = _html.escape
    try:
        if hasattr(result, "vcov_matrix") and getattr(result, "terms", None):
            table = etable(result, lang=lang, title=type(result).__name__)
        else:
            table = table_from_frame(result.tidy(), lang=lang, title=type(result).__name__)
    except Exception:  # a display hook must never fail: show the text summary instead
        return f"<pre>{e(str(result))}</pre>"
    warns = getattr(result, "warnings", None) or []
    items = "".join(f"<li>{e(str(w))}</li>" for w in warns)
    return table._repr_html_() + (f"<ul>{items}</ul>" if items else "")

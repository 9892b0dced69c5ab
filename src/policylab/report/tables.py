"""esttab-style regression tables: one layout model, many renderers.

``etable`` lays out several Results side by side (coefficients with stars, SEs below,
rows for controls and fixed effects, N, R-squared, clusters, notes matching the vcov
used); ``table_from_frame`` turns any tidy DataFrame into the same Table. A Table
renders to text, Markdown, LaTeX (booktabs), HTML, Word (three-line table) and Excel.
"""

from __future__ import annotations

import html as _html
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policylab.report.labels import word

__all__ = ["Table", "etable", "table_from_frame"]


@dataclass
class Table:
    """A paper table: header rows, body rows (first cell is the row label), rules, notes.

    ``rules`` are body-row indices after which a thin rule is drawn (e.g. between the
    coefficients and the statistics block).
    """

    header: list[list[str]]
    body: list[list[str]]
    title: str | None = None
    notes: list[str] = field(default_factory=list)
    rules: list[int] = field(default_factory=list)
    lang: str = "en"

    @property
    def ncols(self) -> int:
        return max(len(r) for r in self.header + self.body)

    def to_dataframe(self) -> pd.DataFrame:
        """Body as a DataFrame with the last header row as column names."""
        cols = list(self.header[-1]) if self.header else None
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

    def to_latex(self) -> str:
        """booktabs LaTeX; notes under the table."""
        def esc(s: str) -> str:
            for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                         ("#", r"\#"), ("$", r"\$")):
                s = s.replace(a, b)
            return re.sub(r"(\*+)", lambda m: "$^{" + m.group(1) + "}$", s)

        n = self.ncols
        lines = [r"\begin{table}[htbp]\centering"]
        if self.title:
            lines.append(rf"\caption{{{esc(self.title)}}}")
        lines += [rf"\begin{{tabular}}{{l{'c' * (n - 1)}}}", r"\toprule"]
        lines += [" & ".join(esc(c) for c in r) + r" \\" for r in self.header]
        lines.append(r"\midrule")
        for i, r in enumerate(self.body):
            lines.append(" & ".join(esc(c) for c in r) + r" \\")
            if i in self.rules:
                lines.append(r"\midrule")
        lines += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            lines.append(r"\par\footnotesize " + r" \\ ".join(esc(x) for x in self.notes))
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """An HTML ``<table class="three-line">`` (style it with the report's CSS)."""
        e = _html.escape
        out = ['<table class="three-line">']
        if self.title:
            out.append(f"<caption>{e(self.title)}</caption>")
        out.append("<thead>")
        for r in self.header:
            out.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in r) + "</tr>")
        out.append("</thead><tbody>")
        for i, r in enumerate(self.body):
            cls = ' class="rule"' if i in self.rules else ""
            out.append(f"<tr{cls}>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
        out.append("</tbody>")
        if self.notes:
            out.append(f'<tfoot><tr><td colspan="{self.ncols}">'
                       + "<br>".join(e(x) for x in self.notes) + "</td></tr></tfoot>")
        out.append("</table>")
        return "\n".join(out)

    def add_to_docx(self, doc: Any) -> None:
        """Append as a three-line table (top/bottom thick rules, header rule) to a Document."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        if self.title:
            p = doc.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.add_run(self.title).bold = True
        rows = self.header + self.body
        t = doc.add_table(rows=len(rows), cols=self.ncols)
        for i, r in enumerate(rows):
            for j in range(self.ncols):
                cell = t.cell(i, j)
                cell.text = r[j] if j < len(r) else ""
                para = cell.paragraphs[0]
                para.alignment = WD_ALIGN_PARAGRAPH.LEFT if j == 0 else WD_ALIGN_PARAGRAPH.CENTER
                for run in para.runs:
                    run.font.size = Pt(9)
        nh = len(self.header)
        for j in range(self.ncols):
            _border(t.cell(0, j), top=12)
            _border(t.cell(nh - 1, j), bottom=6)
            _border(t.cell(len(rows) - 1, j), bottom=12)
            for i in self.rules:
                _border(t.cell(nh + i, j), bottom=4)
        for note in self.notes:
            p = doc.add_paragraph(note)
            for run in p.runs:
                run.font.size = Pt(8)

    def to_docx(self, path: str | Path) -> Path:
        """A Word file holding this table (written atomically)."""
        from docx import Document

        doc = Document()
        self.add_to_docx(doc)
        return _atomic(path, doc.save)

    def to_excel(self, path: str | Path) -> Path:
        """An Excel sheet with the same layout and three-line borders."""
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Border, Font, Side

        wb = Workbook()
        ws = wb.active
        ws.title = "table"
        r0 = 1
        if self.title:
            ws.cell(1, 1, self.title).font = Font(bold=True)
            r0 = 2
        rows = self.header + self.body
        thick, thin = Side(style="medium"), Side(style="thin")
        for i, r in enumerate(rows):
            for j in range(self.ncols):
                c = ws.cell(r0 + i, j + 1, r[j] if j < len(r) else "")
                c.alignment = Alignment(horizontal="left" if j == 0 else "center")
                top = thick if i == 0 else None
                bottom = (thin if i == len(self.header) - 1 or (i - len(self.header)) in self.rules
                          else thick if i == len(rows) - 1 else None)
                c.border = Border(top=top, bottom=bottom)
        for k, note in enumerate(self.notes):
            ws.cell(r0 + len(rows) + k, 1, note).font = Font(size=9)
        return _atomic(path, wb.save)


def _atomic(path: str | Path, save: Any) -> Path:
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=target.suffix)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _border(cell: Any, top: int | None = None, bottom: int | None = None) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tcPr = cell._tc.get_or_add_tcPr()
    borders = tcPr.find(qn("w:tcBorders"))
    if borders is None:
        borders = OxmlElement("w:tcBorders")
        tcPr.append(borders)
    for edge, size in (("top", top), ("bottom", bottom)):
        if size:
            el = OxmlElement(f"w:{edge}")
            el.set(qn("w:val"), "single")
            el.set(qn("w:sz"), str(size))
            el.set(qn("w:color"), "000000")
            borders.append(el)


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


def _num(x: float, digits: int) -> str:
    return "" if x is None or not np.isfinite(x) else f"{x:,.{digits}f}".replace(",", "") \
        if abs(x) < 1e6 else f"{x:.{digits}e}"


def _fe_label(fe: str, meta: dict[str, Any], lang: str) -> str:
    if fe == meta.get("unit"):
        return word("unit_fe", lang)
    if fe == meta.get("time"):
        return word("time_fe", lang)
    return word("fe", lang, name=fe)


def _vcov_note(results: Sequence[Any], lang: str, labels: dict[str, str]) -> str:
    kinds = {(r.meta.get("vcov"), tuple(r.meta.get("cluster") or ())) for r in results
             if hasattr(r, "meta")}
    if len(kinds) != 1:
        return word("note_se", lang, kind="") if lang != "en" else word("note_se", lang)
    (vc, cl), = kinds
    if vc in ("CRV1", "CRV3"):
        by = " and ".join(labels.get(c, c) for c in cl) if lang == "en" else "、".join(
            labels.get(c, c) for c in cl)
        kind = word("clustered", lang, by=by)
    elif vc == "hetero":
        kind = word("robust", lang)
    else:
        kind = word("iid", lang)
    if lang == "en":
        return f"{word('note_se', lang)} ({kind})."
    return f"{word('note', lang)}：{word('note_se', lang, kind=kind)}。"


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
) -> Table:
    """Regression results side by side, as Stata's esttab or fixest's etable.

    Parameters
    ----------
    results : Result or list of Results
        Anything with ``tidy()``; FeolsResult/DIDResult add fit statistics and FE rows.
    keep, drop, order : list of str, optional
        Terms to show / hide / put first (``keep`` also orders when ``order`` is None).
    labels : dict, optional
        Display names for terms, outcomes and FE columns (Chinese or English).
    digits : int
        Decimals of coefficients and SEs (statistics use the same within a row).
    stars : (a, b, c)
        Significance levels of *, **, *** (default 0.1, 0.05, 0.01).
    se : {"se", "t", "p", "ci"}
        What goes below each coefficient.
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
    """
    res = list(results) if isinstance(results, (list, tuple)) else [results]
    labels = dict(labels or {})
    n = len(res)
    tidies = [r.tidy() for r in res]
    metas = [getattr(r, "meta", {}) or {} for r in res]
    ctrl_sets = [list(m.get("controls") or []) for m in metas]
    show_controls = controls if controls is not None else any(ctrl_sets)
    ctrl_terms = {c for cs in ctrl_sets for c in cs} if show_controls is True or (
        isinstance(show_controls, (list, tuple))) else set()
    terms: list[str] = []
    for t in tidies:
        for term in t["term"]:
            if term not in terms:
                terms.append(term)
    if keep is not None:
        terms = [t for t in (order or keep) if t in terms] if order is None else \
            [t for t in order if t in terms and t in keep]
    else:
        terms = [t for t in terms if t not in ctrl_terms and t not in (drop or ())]
        if order:
            terms = [t for t in order if t in terms] + [t for t in terms if t not in order]
    body: list[list[str]] = []
    for term in terms:
        row, sub = [labels.get(term, term)], [""]
        for t in tidies:
            hit = t[t["term"] == term]
            if hit.empty:
                row.append("")
                sub.append("")
                continue
            h = hit.iloc[0]
            row.append(_num(h["estimate"], digits) + _stars(h.get("p_value", np.nan), stars))
            if se == "t":
                sub.append(f"({_num(h['statistic'], 2)})")
            elif se == "p":
                sub.append(f"({_num(h['p_value'], digits)})")
            elif se == "ci":
                sub.append(f"[{_num(h['conf_low'], digits)}, {_num(h['conf_high'], digits)}]")
            else:
                sub.append(f"({_num(h['std_error'], digits)})")
        body += [row, sub]
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
                m.get("fe") or [])), {}), lang)
            body.append([lab] + [yes if f in (m.get("fe") or []) else no for m in metas])
    if len(body) - 1 not in rules and body:
        rules.append(len(body) - 1)
    for s in stats:
        vals = []
        for r in res:
            if s == "N":
                vals.append(f"{getattr(r, 'nobs', 0):,}" if getattr(r, "nobs", None) else "")
            elif s == "n_clusters":
                nc = getattr(r, "n_clusters", None) or {}
                vals.append(", ".join(str(v) for v in nc.values()) if nc else "")
            elif s == "ymean":
                vals.append(_num(getattr(r, "depvar_mean", np.nan), digits))
            else:
                vals.append(_num(getattr(r, s, np.nan), digits))
        if any(vals):
            body.append([word(s, lang)] + vals)
    head_deps = list(headers) if headers is not None else [
        labels.get(m.get("depvar", ""), m.get("depvar", "")) for m in metas]
    header = []
    if group_headers:
        row = [""]
        for lab, span in group_headers:
            row += [lab] + [""] * (span - 1)
        header.append(row + [""] * (n + 1 - len(row)))
    header.append([""] + [f"({i + 1})" for i in range(n)])
    header.append([word("term", lang)] + head_deps)
    a, b, c = sorted(stars, reverse=True)
    note_list = [_vcov_note(res, lang, labels)]
    if lang == "en":
        note_list.append(word("note_stars", lang, a=a, b=b, c=c))
    else:
        note_list[-1] = note_list[-1].rstrip("。") + "；" + word(
            "note_stars", lang, a_pct=f"{a:.0%}", b_pct=f"{b:.0%}", c_pct=f"{c:.0%}") + "。"
    note_list += list(notes or [])
    return Table(header=header, body=body, title=title, notes=note_list, rules=rules, lang=lang)


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
    """Any DataFrame as a paper Table: numbers with ``digits`` decimals per column
    (integers without), labels applied to column names and string cells."""
    labels = dict(labels or {})
    if lang == "zh":
        from policylab.report.labels import COLUMNS_ZH

        labels = {**COLUMNS_ZH, **labels}
    d = df.reset_index() if index else df
    cols = [str(c) for c in d.columns]
    body = []
    for _, r in d.iterrows():
        row = []
        for c in d.columns:
            v = r[c]
            if isinstance(v, (bool, np.bool_)):
                row.append(word("yes", lang) if v else word("no", lang))
            elif isinstance(v, (int, np.integer)):
                row.append(f"{int(v):,}")
            elif isinstance(v, (float, np.floating)):
                if np.isfinite(v) and float(v).is_integer() and pd.api.types.is_integer_dtype(
                        d[c].dropna().astype(float).round().astype("Int64")) and c in (
                        "n", "N", "nobs", "n_obs", "draws", "count"):
                    row.append(f"{int(v):,}")
                else:
                    row.append(_num(float(v), digits))
            else:
                row.append(labels.get(str(v), str(v)) if v is not None else "")
        body.append(row)
    header = [[labels.get(c, c) for c in cols]]
    return Table(header=header, body=body, title=title, notes=list(notes or []), lang=lang)

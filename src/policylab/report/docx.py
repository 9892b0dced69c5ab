"""Word output: three-line tables with journal fonts on A4, and the study report.

Tables are real three-line tables (a heavy rule above the header and below the body, a
light rule under the header, no vertical lines), group headers are merged cells with a
rule under the group; text is Times New Roman for Latin script and 宋体 (SimSun) for
Chinese (``w:eastAsia``), both configurable; the page is A4 with 25 mm margins.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from policylab.report.io import write_atomic

__all__ = ["write_report", "add_table", "new_document", "DEFAULT_FONTS"]

DEFAULT_FONTS = ("Times New Roman", "SimSun")  # (Latin, East Asian); SimSun is 宋体
_RULE = {"heavy": 12, "light": 6, "thin": 4}  # eighths of a point: 1.5, 0.75, 0.5 pt



def _fonts_on(rpr_owner: Any, fonts: Sequence[str]) -> None:
    from docx.oxml.ns import qn

    rpr = rpr_owner.get_or_add_rPr()
    rfonts = rpr.get_or_add_rFonts()
    latin, east = fonts
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        rfonts.set(qn(attr), latin)
    rfonts.set(qn("w:eastAsia"), east)
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(theme), None)  # a theme font would override the names


WIDE_COLUMNS = 9  # a table with more columns goes on a landscape page


def _a4(sec: Any, landscape: bool = False, margin_mm: float = 25.0) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm

    sec.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = (Mm(297), Mm(210)) if landscape else (Mm(210), Mm(297))
    sec.left_margin = sec.right_margin = Mm(margin_mm)
    sec.top_margin = sec.bottom_margin = Mm(margin_mm)


def new_document(fonts: Sequence[str] = DEFAULT_FONTS, margin_mm: float = 25.0,
                 landscape: bool = False) -> Any:
    """A python-docx Document on A4 with ``fonts`` = (Latin, East Asian) in every style."""
    from docx import Document

    return Document(io.BytesIO(_blank_document(tuple(fonts), float(margin_mm),
                                               bool(landscape))))


@lru_cache(maxsize=8)
def _blank_document(fonts: tuple[str, ...], margin_mm: float, landscape: bool) -> bytes:
    # styled once per process and reopened from bytes: restyling the ~160 styles of a
    # fresh document for each of a study's table files cost more than the tables
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE

    doc = Document()
    for sec in doc.sections:
        _a4(sec, landscape, margin_mm)
    for style in doc.styles:
        if style.type in (WD_STYLE_TYPE.PARAGRAPH, WD_STYLE_TYPE.CHARACTER,
                          WD_STYLE_TYPE.TABLE):
            _fonts_on(style.element, fonts)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _cell_border(cell: Any, **edges: int) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tcPr = cell._tc.get_or_add_tcPr()
    borders = tcPr.find(qn("w:tcBorders"))
    if borders is None:
        borders = OxmlElement("w:tcBorders")
        tcPr.append(borders)
    for edge, size in edges.items():
        old = borders.find(qn(f"w:{edge}"))
        if old is not None:
            borders.remove(old)
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000")
        borders.append(el)


def _no_table_borders(t: Any) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tblPr = t._tbl.tblPr
    old = tblPr.find(qn("w:tblBorders"))
    if old is not None:
        tblPr.remove(old)
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    tblPr.append(borders)


def _paragraph(container: Any, text: str, fonts: Sequence[str], size: float,
               align: Any = None, bold: bool = False) -> Any:
    p = container.paragraphs[0] if hasattr(container, "merge") else container.add_paragraph()
    return _style_paragraph(p, text, fonts, size, align, bold)


def _style_paragraph(p: Any, text: str, fonts: Sequence[str], size: float, align: Any,
                     bold: bool) -> Any:
    from docx.shared import Pt

    if align is not None:
        p.alignment = align
    p.paragraph_format.space_after = Pt(0)
    run = p.add_run(text)
    run.font.size = Pt(size)
    run.bold = bold or None
    _fonts_on(run._r, fonts)
    return p


@lru_cache(maxsize=64)
def _cell_paragraph(fonts: tuple[str, ...], size: float, align: Any, bold: bool) -> Any:
    """A table cell's ``<w:p>`` with an empty run, styled as :func:`_paragraph` styles it.

    Built once per style and copied into each cell: styling a run through python-docx
    (rPr, fonts, size) took most of a report's table-writing time.
    """
    from docx.oxml import OxmlElement
    from docx.text.paragraph import Paragraph

    p = Paragraph(OxmlElement("w:p"), None)
    _style_paragraph(p, "", fonts, size, align, bold)
    return p._p


def _cell_text(cell: Any, text: str, fonts: Sequence[str], size: float, align: Any) -> None:
    """Fill an empty table cell exactly as ``_paragraph(cell, text, ...)`` would."""
    p = copy.deepcopy(_cell_paragraph(tuple(fonts), size, align, False))
    if text:
        p.r_lst[0].text = text
    cell._tc.replace(cell._tc.p_lst[0], p)


def add_table(doc: Any, table: Any, fonts: Sequence[str] = DEFAULT_FONTS,
              size: float = 9.0) -> Any:
    """Append ``table`` (title above, notes below) as a three-line table; returns it."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    center, left = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.LEFT
    if table.title:
        _paragraph(doc, table.title, fonts, size + 1, align=center, bold=True)
    rows, n, nh = table.header + table.body, table.ncols, len(table.header)
    t = doc.add_table(rows=len(rows), cols=n)
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    _no_table_borders(t)
    covered = set()
    for (i, j), span in table.spans.items():
        if span > 1:
            t.cell(i, j).merge(t.cell(i, j + span - 1))
            covered.update((i, k) for k in range(j + 1, j + span))
    # the cell grid once: Table.cell() rebuilds every cell of the table on each call,
    # which made a 200-cell table cost 40,000 cell look-ups (seconds per report)
    grid = [row.cells for row in t.rows]
    for i, r in enumerate(rows):
        for j in range(n):
            if (i, j) in covered:
                continue
            _cell_text(grid[i][j], r[j] if j < len(r) else "", fonts, size,
                       left if j == 0 else center)
    for j in range(n):
        _cell_border(grid[0][j], top=_RULE["heavy"])
        _cell_border(grid[nh - 1][j], bottom=_RULE["light"])
        _cell_border(grid[len(rows) - 1][j], bottom=_RULE["heavy"])
        for i in table.rules:
            if nh + i < len(rows) - 1:
                _cell_border(grid[nh + i][j], bottom=_RULE["thin"])
    for (i, j), span in table.spans.items():
        if span > 1 and i < nh - 1 and rows[i][j]:
            _cell_border(grid[i][j], bottom=_RULE["thin"])  # rule under a group header
    _set_widths(t, grid, _column_shares(rows, n, table.spans, nh), _text_width(doc),
                table.spans)
    for note in table.notes:
        _paragraph(doc, note, fonts, size - 1)
    return t


def _text_width(doc: Any) -> int:
    """The width between the margins of the document's last section (EMU)."""
    sec = doc.sections[-1]
    return int(sec.page_width - sec.left_margin - sec.right_margin)


def _display_len(text: str) -> int:
    # a CJK character is about two Latin ones wide
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _column_shares(rows: list[list[str]], n: int, spans: dict[tuple[int, int], int],
                   n_header: int = 0) -> list[float]:
    """Each column's share of the text width, by its longest cell: the row labels get
    the room they need (an equal share wrapped "Secondary industry share (%)" over three
    lines beside half-empty columns); a header may wrap onto two lines, so it counts
    half; merged group cells are left out."""
    covered = {(i, j) for (i, j), span in spans.items() if span > 1}
    need = [4] * n
    for i, r in enumerate(rows):
        for j in range(min(n, len(r))):
            if (i, j) not in covered:
                length = _display_len(r[j])
                need[j] = max(need[j], -(-length // 2) if i < n_header and j else length)
    need[0] = min(need[0], 40)  # a very long label wraps rather than squeeze the numbers
    need = [min(x, 24) if j else x for j, x in enumerate(need)]
    total = float(sum(need))
    return [x / total for x in need]


def _set_widths(t: Any, grid: list[list[Any]], shares: list[float], width: int,
                spans: dict[tuple[int, int], int]) -> None:
    from docx.shared import Emu

    t.autofit = False
    for j, share in enumerate(shares):
        w = Emu(int(width * share))
        t.columns[j].width = w
        for row in grid:
            row[j].width = w
    for (i, j), span in spans.items():  # a merged cell spans its columns' widths
        if span > 1:
            grid[i][j].width = Emu(int(width * sum(shares[j:j + span])))


def _add_report_table(doc: Any, table: Any, fonts: Sequence[str]) -> None:
    # a wide table gets a landscape page of its own; the text goes on in portrait
    from docx.enum.section import WD_SECTION

    wide = table.ncols > WIDE_COLUMNS
    if wide:
        _a4(doc.add_section(WD_SECTION.NEW_PAGE), landscape=True)
    add_table(doc, table, fonts)
    doc.add_paragraph()
    if wide:
        _a4(doc.add_section(WD_SECTION.NEW_PAGE))


def _figure_png(f: dict[str, Any]) -> Any:
    png = f.get("png")
    if png is not None and Path(png).exists():
        return str(png)
    buf = io.BytesIO()
    f["figure"].savefig(buf, format="png", dpi=300, bbox_inches="tight")
    buf.seek(0)
    return buf


def _add_headline(doc: Any, headline: dict[str, Any], fonts: Sequence[str]) -> None:
    """The first page's summary: main estimates and robustness verdicts (Tables)."""
    doc.add_heading(headline["words"]["headline"], level=1)
    for table in headline.get("tables", []):
        add_table(doc, table, fonts)
        doc.add_paragraph()


def write_report(sections: list[dict[str, Any]], path: str | Path, *, lang: str = "en",
                 title: str = "Report", provenance: dict[str, Any] | None = None,
                 overview: str = "", fonts: Sequence[str] = DEFAULT_FONTS,
                 headline: dict[str, Any] | None = None) -> Path:
    """Write ``report.docx`` (sections as in :func:`policylab.report.html.render_report`).

    ``fonts`` is (Latin font, East Asian font), Times New Roman and 宋体 by default.
    ``headline`` (see :func:`policylab.study.frame.headline`) opens the report.
    """
    from docx.shared import Mm

    from policylab.report.labels import report_words

    w = report_words(lang)
    doc = new_document(fonts)
    width = doc.sections[0].page_width - doc.sections[0].left_margin \
        - doc.sections[0].right_margin
    doc.add_heading(title, level=0)
    if overview:
        doc.add_paragraph(overview)
    if headline:
        _add_headline(doc, headline, fonts)
    for i, s in enumerate(sections, 1):
        doc.add_heading(f"{s.get('number', i)}. {s['title']}", level=1)
        if s.get("status") in ("failed", "warned"):
            doc.add_paragraph(f"{w[s['status']]}{w['colon']}{s.get('error')}")
        for p in s.get("text", []):
            doc.add_paragraph(p)
        for t in s.get("tables", []):
            _add_report_table(doc, t, fonts)
        for f in s.get("figures", []):
            if f.get("caption"):
                _paragraph(doc, f["caption"], fonts, 10.5)
            doc.add_picture(_figure_png(f), width=min(width, Mm(160)))
            for note in f.get("notes", []):
                _paragraph(doc, note, fonts, 9)
        if s.get("warnings"):
            doc.add_paragraph(w["warnings"] + w["colon"].rstrip())
            for x in s["warnings"]:
                doc.add_paragraph(x, style="List Bullet")
    if provenance:
        doc.add_heading(w["provenance"], level=1)
        for k, v in provenance.items():
            doc.add_paragraph(f"{k}: {v}")
    return write_atomic(path, doc.save)

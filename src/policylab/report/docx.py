"""Word output: three-line tables with journal fonts on A4, and the study report.

Tables are real three-line tables (a heavy rule above the header and below the body, a
light rule under the header, no vertical lines), group headers are merged cells with a
rule under the group; text is Times New Roman for Latin script and 宋体 (SimSun) for
Chinese (``w:eastAsia``), both configurable; the page is A4 with 25 mm margins.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from policylab.report.io import write_atomic
from policylab.report.ooxml import Part, part, refuse_non_xml, write_package

__all__ = ["write_report", "add_table", "write_table", "new_document", "prepare",
           "DEFAULT_FONTS"]

DEFAULT_FONTS = ("Times New Roman", "SimSun")  # (Latin, East Asian); SimSun is 宋体
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
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


@dataclass(frozen=True)
class _Package:
    """A blank document's package, ready to take a body: every part but
    ``word/document.xml`` compressed once, and that part's text around the body."""

    parts: tuple[Part | None, ...]
    head: str  # document.xml up to the body's content
    tail: str  # the last section's properties to the end
    text_width: int  # between the margins, EMU


_DOCUMENT_PART = "word/document.xml"


@lru_cache(maxsize=8)
def _package(fonts: tuple[str, ...], margin_mm: float, landscape: bool) -> _Package:
    import zipfile

    if landscape:  # the portrait package with its page turned: styled and deflated once
        base = _package(fonts, margin_mm, False)
        tail = _turned(base.tail, margin_mm)
        return _Package(base.parts, base.head, tail, _width_between_margins(tail))
    parts: list[Part | None] = []
    with zipfile.ZipFile(io.BytesIO(_blank_document(fonts, margin_mm, False))) as z:
        for name in z.namelist():
            data = z.read(name)
            if name == _DOCUMENT_PART:
                xml = data.decode("utf-8")
                parts.append(None)
            else:
                parts.append(part(name, data))
    cut = xml.rindex("<w:sectPr")
    return _Package(tuple(parts), xml[:cut], xml[cut:], _width_between_margins(xml[cut:]))


def _width_between_margins(tail: str) -> int:
    # the width python-docx reads back (twips, not the millimetres asked for), in EMU
    twips = {k: int(v) for k, v in re.findall(r'w:(w|left|right)="(\d+)"', tail)}
    return (twips["w"] - twips["left"] - twips["right"]) * 635


def _turned(tail: str, margin_mm: float) -> str:
    """The end of a portrait document.xml (its last section's properties on) with the
    section set on a landscape A4 page, as :func:`_a4` sets it in a document."""
    from docx.oxml import parse_xml
    from docx.section import Section
    from lxml import etree

    cut = tail.index("</w:sectPr>") + len("</w:sectPr>")
    sect = parse_xml(tail[:cut].replace("<w:sectPr", f'<w:sectPr xmlns:w="{_W}"', 1))
    _a4(Section(sect, None), landscape=True, margin_mm=margin_mm)
    xml = etree.tostring(sect, encoding="unicode").replace(f' xmlns:w="{_W}"', "", 1)
    return xml + tail[cut:]


def prepare(fonts: Sequence[str] = DEFAULT_FONTS) -> None:
    """Style the blank A4 document for ``fonts`` and compress its package now.

    Each process does this once, on its first Word table or report (~0.05-0.1 s CPU); a
    process that forks writer processes can call it first so that they share the work.
    """
    _package(tuple(fonts), 25.0, True)  # builds the portrait package under it


def write_table(table: Any, path: str | Path, fonts: Sequence[str] = DEFAULT_FONTS,
                size: float = 9.0) -> Path:
    """Write ``table`` alone to the Word file ``path``, atomically: the document
    :func:`new_document` starts (landscape for a table of more than
    :data:`WIDE_COLUMNS` columns) with the table as :func:`add_table` appends it."""
    f = tuple(fonts)
    pkg = _package(f, 25.0, table.ncols > WIDE_COLUMNS)
    document = (pkg.head + _table_xml(table, f, size, pkg.text_width) + pkg.tail).encode("utf-8")
    return write_package(path, [p or part(_DOCUMENT_PART, document) for p in pkg.parts])


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
def _paragraph_open(fonts: tuple[str, ...], size: float, align: Any, bold: bool) -> str:
    """The XML of a paragraph styled as :func:`_paragraph` styles it, up to its run's
    text: ``<w:p><w:pPr>..</w:pPr><w:r><w:rPr>..</w:rPr>``.

    python-docx styles it once per style; every paragraph of a table is then written
    as text: styling each cell's run through python-docx took most of a study's
    table-writing time.
    """
    from docx.oxml import OxmlElement
    from docx.text.paragraph import Paragraph
    from lxml import etree

    p = Paragraph(OxmlElement("w:p"), None)
    _style_paragraph(p, "", fonts, size, align, bold)
    xml = etree.tostring(p._p, encoding="unicode")
    body = xml[xml.index(">") + 1:]  # without the w: namespace declaration
    if not body.endswith("</w:rPr></w:r></w:p>"):
        raise AssertionError(f"unexpected paragraph XML from python-docx: {xml}")
    return "<w:p>" + body[:-len("</w:r></w:p>")]


def _run_text(text: str) -> str:
    """A run's content as python-docx writes ``run.text = text``: ``<w:t>`` (keeping
    leading and trailing spaces), a tab as ``<w:tab/>``, a line end as ``<w:br/>``."""
    if not text:
        return ""
    refuse_non_xml(text, "Word")
    out, chunk = [], []

    def flush() -> None:
        t = "".join(chunk)
        chunk.clear()
        if t:
            esc = t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            space = ' xml:space="preserve"' if len(t.strip()) < len(t) else ""
            out.append(f"<w:t{space}>{esc}</w:t>")

    if "\t" not in text and "\n" not in text and "\r" not in text:
        chunk.append(text)
    else:
        for ch in text:
            if ch in "\t\r\n":
                flush()
                out.append("<w:tab/>" if ch == "\t" else "<w:br/>")
            else:
                chunk.append(ch)
    flush()
    return "".join(out)


def _paragraph_xml(text: str, fonts: tuple[str, ...], size: float, align: Any = None,
                   bold: bool = False) -> str:
    return _paragraph_open(fonts, size, align, bold) + _run_text(text) + "</w:r></w:p>"


def _border_xml(edge: str, size: int) -> str:
    return f'<w:{edge} w:val="single" w:sz="{size}" w:space="0" w:color="000000"/>'


# python-docx's table properties after ``alignment = CENTER``, ``autofit = False`` and
# the table borders switched off (a three-line table draws its rules on the cells)
_TBL_PR = (
    '<w:tblPr><w:tblW w:type="auto" w:w="0"/><w:jc w:val="center"/>'
    '<w:tblLayout w:type="fixed"/><w:tblLook w:firstColumn="1" w:firstRow="1" '
    'w:lastColumn="0" w:lastRow="0" w:noHBand="0" w:noVBand="1" w:val="04A0"/>'
    '<w:tblBorders><w:top w:val="nil"/><w:left w:val="nil"/><w:bottom w:val="nil"/>'
    '<w:right w:val="nil"/><w:insideH w:val="nil"/><w:insideV w:val="nil"/>'
    "</w:tblBorders></w:tblPr>")


def _twips(emu: float) -> int:
    # as python-docx stores a width: whole EMU, rounded to twips
    return int(round(int(emu) / 635.0))


def _table_xml(table: Any, fonts: tuple[str, ...], size: float, width: int) -> str:
    """``table`` as WordprocessingML: the title paragraph, the ``<w:tbl>`` and the notes,
    written in one go (the cells as text, not through python-docx's cell API)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    center, left = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.LEFT
    rows, n, nh = table.header + table.body, table.ncols, len(table.header)
    last = len(rows) - 1
    out = [_paragraph_xml(table.title, fonts, size + 1, center, True)] if table.title else []
    shares = _column_shares(rows, n, table.spans, nh)
    col = [_twips(width * share) for share in shares]
    spans = {key: span for key, span in table.spans.items() if span > 1}
    rule_rows = {nh + i for i in table.rules if nh + i < last}
    grid_cols = "".join(f'<w:gridCol w:w="{w}"/>' for w in col)
    out.append(f"<w:tbl>{_TBL_PR}<w:tblGrid>{grid_cols}</w:tblGrid>")
    for i, r in enumerate(rows):
        # the rules of a three-line table; a later rule wins where two meet, as when
        # each was drawn over the last: group rule > body rule > bottom > under header
        row_bottom = (_RULE["thin"] if i in rule_rows else _RULE["heavy"] if i == last
                      else _RULE["light"] if i == nh - 1 else None)
        out.append("<w:tr>")
        j = 0
        while j < n:
            span = spans.get((i, j), 1)
            text = r[j] if j < len(r) else ""
            bottom = row_bottom
            if span > 1:
                w = _twips(width * sum(shares[j:j + span]))
                grid = f'<w:gridSpan w:val="{span}"/>'
                if i < nh - 1 and text:
                    bottom = _RULE["thin"]  # the rule under a group header (\cmidrule)
            else:
                w, grid = col[j], ""
            edges = ((_border_xml("top", _RULE["heavy"]) if i == 0 else "")
                     + (_border_xml("bottom", bottom) if bottom else ""))
            out.append(f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{w}"/>{grid}'
                       + (f"<w:tcBorders>{edges}</w:tcBorders>" if edges else "")
                       + "</w:tcPr>"
                       + _paragraph_xml(text, fonts, size, left if j == 0 else center)
                       + "</w:tc>")
            j += span
        out.append("</w:tr>")
    out.append("</w:tbl>")
    out += [_paragraph_xml(note, fonts, size - 1) for note in table.notes]
    return "".join(out)


def add_table(doc: Any, table: Any, fonts: Sequence[str] = DEFAULT_FONTS,
              size: float = 9.0) -> Any:
    """Append ``table`` (title above, notes below) as a three-line table; returns it."""
    from docx.oxml import parse_xml
    from docx.table import Table as WordTable

    xml = _table_xml(table, tuple(fonts), size, _text_width(doc))
    box = parse_xml(f'<w:body xmlns:w="{_W}">{xml}</w:body>')
    body = doc.element.body
    end = body.sectPr  # the last section's properties stay last
    tbl = None
    for el in list(box):
        if end is not None:
            end.addprevious(el)
        else:
            body.append(el)
        if el.tag == f"{{{_W}}}tbl":
            tbl = el
    return WordTable(tbl, doc._body)


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


class _Styled:
    """``doc.add_paragraph(text, style=name)`` with each style's id looked up once:
    python-docx finds a style by name with a search of all ~160 styles per paragraph."""

    def __init__(self, doc: Any) -> None:
        self.doc, self.ids = doc, {}

    def __call__(self, text: str, style: str) -> Any:
        from docx.enum.style import WD_STYLE_TYPE

        if style not in self.ids:
            self.ids[style] = self.doc.part.get_style_id(style, WD_STYLE_TYPE.PARAGRAPH)
        p = self.doc.add_paragraph(text)
        p._p.style = self.ids[style]  # what Paragraph.style = name sets
        return p

    def heading(self, text: str, level: int) -> Any:
        # as Document.add_heading names its styles
        return self(text, "Title" if level == 0 else f"Heading {level}")


class _Pictures:
    """``doc.add_picture`` with the drawing ids counted here: python-docx finds the next
    free id by searching every attribute of the document for each picture, which cost
    more than the pictures once the report's tables were in.

    The report's only numbered (``id``) elements are its pictures, so after the first
    search each picture takes the next number, the id python-docx would have found.
    """

    def __init__(self, doc: Any) -> None:
        self.doc, self.next_id = doc, None

    def add(self, image: Any, width: Any) -> None:
        from docx.oxml.shape import CT_Inline

        part = self.doc.part
        if self.next_id is None:
            self.next_id = part.next_id
        rid, img = part.get_or_add_image(image)
        cx, cy = img.scaled_dimensions(width, None)
        inline = CT_Inline.new_pic_inline(self.next_id, rid, img.filename, cx, cy)
        self.next_id += 1
        self.doc.add_paragraph().add_run()._r.add_drawing(inline)


def _add_headline(doc: Any, headline: dict[str, Any], fonts: Sequence[str],
                  styled: _Styled) -> None:
    """The first page's summary: main estimates and robustness verdicts (Tables)."""
    styled.heading(headline["words"]["headline"], 1)
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
    styled, pictures = _Styled(doc), _Pictures(doc)
    styled.heading(title, 0)
    if overview:
        doc.add_paragraph(overview)
    if headline:
        _add_headline(doc, headline, fonts, styled)
    for i, s in enumerate(sections, 1):
        styled.heading(f"{s.get('number', i)}. {s['title']}", 1)
        if s.get("status") in ("failed", "warned"):
            doc.add_paragraph(f"{w[s['status']]}{w['colon']}{s.get('error')}")
        for p in s.get("text", []):
            doc.add_paragraph(p)
        for t in s.get("tables", []):
            _add_report_table(doc, t, fonts)
        for f in s.get("figures", []):
            if f.get("caption"):
                _paragraph(doc, f["caption"], fonts, 10.5)
            pictures.add(_figure_png(f), width=min(width, Mm(160)))
            for note in f.get("notes", []):
                _paragraph(doc, note, fonts, 9)
        if s.get("warnings"):
            doc.add_paragraph(w["warnings"] + w["colon"].rstrip())
            for x in s["warnings"]:
                styled(x, "List Bullet")
    if provenance:
        styled.heading(w["provenance"], 1)
        for k, v in provenance.items():
            doc.add_paragraph(f"{k}: {v}")
    return write_atomic(path, doc.save)

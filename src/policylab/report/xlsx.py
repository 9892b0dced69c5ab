"""A Table as an Excel sheet: numbers are numeric cells, text is text.

A coefficient is stored as the number -0.2301 with the number format
``0.000"***";"-"0.000"***"``, so Excel shows ``-0.230***`` exactly as the paper
while the cell still computes; a standard error is 0.0067 shown ``(0.007)``; p-values
below 0.001 show ``<0.001``; counts and years are integers. Confidence intervals (two
numbers in one cell) are text. Text is stored as an inline string, never as a formula;
text that a spreadsheet would read as a formula (a label starting with ``=``, ``+``,
``-``, ``@``, tab or CR) also gets Excel's quote prefix, so it is never evaluated, not
even after the user edits the cell.

The workbook is written as SpreadsheetML directly, in the layout openpyxl writes (the
same parts, cell styles and sheet settings): a table has a few dozen cells and a handful
of styles, and building openpyxl's object model for each of a study's tables cost more
than the tables (and importing openpyxl more than that).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from policylab.report.numbers import Num
from policylab.report.ooxml import Part, part, refuse_non_xml, write_package

__all__ = ["table_to_excel", "put_text"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MAX_TEXT = 32767  # Excel's longest cell text; longer text is cut, as openpyxl cuts it
_BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9,
                    "0.00%": 10, "0.00E+00": 11, "@": 49}
_FONTS = {"plain": '<font><name val="Calibri"/><family val="2"/><color theme="1"/>'
                   '<sz val="11"/><scheme val="minor"/></font>',
          "bold": '<font><b val="1"/></font>', "note": '<font><sz val="9"/></font>'}
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-"


class _Styles:
    """The workbook's cell formats (``cellXfs``), each distinct one numbered once."""

    def __init__(self) -> None:
        self.formats: dict[str, int] = {}  # custom number formats, from 164
        self.fonts = ["plain"]
        self.borders: list[tuple[str | None, str | None]] = [(None, None)]
        self.xfs: dict[tuple[Any, ...], int] = {(0, 0, 0, None, False): 0}

    def id(self, fmt: str | None = None, font: str = "plain", align: str | None = None,
           top: str | None = None, bottom: str | None = None, quote: bool = False) -> int:
        fmt = fmt or "General"
        fmt_id = _BUILTIN_FORMATS.get(fmt)
        if fmt_id is None:
            fmt_id = self.formats.setdefault(fmt, 164 + len(self.formats))
        if font not in self.fonts:
            self.fonts.append(font)
        if (top, bottom) not in self.borders:
            self.borders.append((top, bottom))
        key = (fmt_id, self.fonts.index(font), self.borders.index((top, bottom)), align,
               quote)
        return self.xfs.setdefault(key, len(self.xfs))

    def xml(self) -> bytes:
        fmts = "".join(f'<numFmt numFmtId="{i}" formatCode="{_attr(code)}"/>'
                       for code, i in self.formats.items())
        borders = ['<border><left/><right/><top/><bottom/><diagonal/></border>'] + [
            "<border>" + (f'<top style="{t}"/>' if t else "")
            + (f'<bottom style="{b}"/>' if b else "") + "</border>"
            for t, b in self.borders[1:]]
        xfs = []
        for (fmt_id, font, border, align, quote), _ in sorted(self.xfs.items(),
                                                              key=lambda kv: kv[1]):
            head = (f'<xf numFmtId="{fmt_id}" fontId="{font}" fillId="0" borderId="{border}"'
                    + (' applyAlignment="1"' if align else "")
                    + f' pivotButton="0" quotePrefix="{int(quote)}" xfId="0"')
            xfs.append(f'{head}><alignment horizontal="{align}"/></xf>' if align
                       else f"{head}/>")
        return (f'<styleSheet xmlns="{_MAIN}">'
                + (f'<numFmts count="{len(self.formats)}">{fmts}</numFmts>' if fmts else "")
                + f'<fonts count="{len(self.fonts)}">'
                + "".join(_FONTS[f] for f in self.fonts) + "</fonts>"
                '<fills count="2"><fill><patternFill/></fill>'
                '<fill><patternFill patternType="gray125"/></fill></fills>'
                f'<borders count="{len(borders)}">{"".join(borders)}</borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
                'borderId="0"/></cellStyleXfs>'
                f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0" '
                'hidden="0"/></cellStyles><tableStyles count="0" '
                'defaultTableStyle="TableStyleMedium9" defaultPivotStyle="PivotStyleLight16"/>'
                "</styleSheet>").encode("utf-8")


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _column(j: int) -> str:
    """Column letters of the 0-based column ``j`` (A, ..., Z, AA, ...)."""
    name = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        name = chr(65 + r) + name
    return name


def put_text(ws: Any, row: int, col: int, text: str) -> Any:
    """Write ``text`` into a cell of an openpyxl worksheet as a string, never as a
    formula (for users adding to a sheet with openpyxl)."""
    cell = ws.cell(row, col)
    cell.value = text
    cell.data_type = "s"  # openpyxl would otherwise store "=..." as a live formula
    if text.startswith(_FORMULA_START):
        cell.quotePrefix = True
    return cell


def _text_cell(ref: str, style: int, text: str) -> str:
    """An inline-string cell (never a formula), as openpyxl writes ``data_type = "s"``."""
    text = text[:_MAX_TEXT]
    refuse_non_xml(text, "Excel")
    if not text:
        return f'<c r="{ref}" s="{style}" t="inlineStr"></c>'
    space = ' xml:space="preserve"' if text.strip() and text != text.strip() else ""
    esc = (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
           .replace("\r", "&#13;"))
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{esc}</t></is></c>'


def _number_cell(ref: str, style: int, value: float) -> str:
    return f'<c r="{ref}" s="{style}" t="n"><v>{value:.16g}</v></c>'


def _cell(ref: str, text: str, value: Any, styles: _Styles, **look: Any) -> str:
    """A table cell: a number in its display format where ``value`` is a number that
    has one, else the text."""
    if isinstance(value, Num):
        v, fmt = value.excel()
        if fmt is not None:
            return _number_cell(ref, styles.id(fmt, **look), v)
    return _text_cell(ref, styles.id(quote=text.startswith(_FORMULA_START), **look), text)


def _sheet(table: Any, styles: _Styles) -> bytes:
    """The worksheet XML: title, three-line borders, merged group headers, notes."""
    rows = table.header + table.body
    n, nh, last = table.ncols, len(table.header), len(table.header + table.body) - 1
    r0 = 2 if table.title else 1
    groups = {(i, j): span for (i, j), span in table.spans.items() if span > 1}
    covered = {(i, k): bool(rows[i][j]) for (i, j), span in groups.items()
               for k in range(j + 1, j + span)}
    out = []
    if table.title:
        out.append('<row r="1">' + _text_cell("A1", styles.id(
            font="bold", quote=table.title.startswith(_FORMULA_START)), table.title)
                   + "</row>")
    for i, r in enumerate(rows):
        vals = table.values[i - nh] if nh <= i < nh + len(table.values) else []
        top = "medium" if i == 0 else None
        bottom = ("thin" if i == nh - 1 or (i - nh) in table.rules
                  else "medium" if i == last else None)
        cells = []
        for j in range(n):
            ref = f"{_column(j)}{r0 + i}"
            if (i, j) in covered:  # a merged cell: no value, the group's rules
                style = styles.id(top=top, bottom="thin" if covered[i, j] else None)
                cells.append(f'<c r="{ref}" s="{style}" t="n"></c>')
                continue
            below = ("thin" if rows[i][j] else None) if (i, j) in groups else bottom
            cells.append(_cell(ref, r[j] if j < len(r) else "",
                               vals[j] if j < len(vals) else None, styles,
                               align="left" if j == 0 else "center", top=top, bottom=below))
        out.append(f'<row r="{r0 + i}">{"".join(cells)}</row>')
    for k, note in enumerate(table.notes):
        row = r0 + len(rows) + k
        out.append(f'<row r="{row}">' + _text_cell(f"A{row}", styles.id(
            font="note", quote=note.startswith(_FORMULA_START)), note) + "</row>")
    end_row = r0 + len(rows) + len(table.notes) - 1
    # CJK characters are about two Latin characters wide
    widths = [min(60, max(8, max((sum(2 if ord(ch) > 0x2E80 else 1 for ch in r[j])
                                  for r in rows if j < len(r)), default=4) + 2))
              for j in range(n)]
    cols = "".join(f'<col width="{w}" customWidth="1" min="{j + 1}" max="{j + 1}"/>'
                   for j, w in enumerate(widths))
    merges = "".join(f'<mergeCell ref="{_column(j)}{r0 + i}:{_column(j + span - 1)}{r0 + i}"/>'
                     for (i, j), span in groups.items())
    return (f'<worksheet xmlns="{_MAIN}"><sheetPr><outlinePr summaryBelow="1" '
            'summaryRight="1"/><pageSetUpPr/></sheetPr>'
            f'<dimension ref="A1:{_column(max(n, 1) - 1)}{end_row}"/>'
            '<sheetViews><sheetView workbookViewId="0"><selection activeCell="A1" '
            'sqref="A1"/></sheetView></sheetViews>'
            '<sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
            + (f"<cols>{cols}</cols>" if cols else "")
            + f'<sheetData>{"".join(out)}</sheetData>'
            + (f'<mergeCells count="{len(groups)}">{merges}</mergeCells>' if groups else "")
            + '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" '
            'footer="0.5"/></worksheet>').encode("utf-8")


@lru_cache(maxsize=1)
def _fixed_parts() -> dict[str, Part]:
    """The parts every table's workbook shares, deflated once per process."""
    theme = (Path(__file__).parent / "templates" / "xlsx_theme1.xml").read_bytes()
    types = "".join(
        f'<Override PartName="/{name}" ContentType="{_CT}{kind}"/>' for name, kind in (
            ("xl/styles.xml", "officedocument.spreadsheetml.styles+xml"),
            ("xl/theme/theme1.xml", "officedocument.theme+xml"),
            ("docProps/core.xml", "package.core-properties+xml"),
            ("docProps/app.xml", "officedocument.extended-properties+xml"),
            ("xl/worksheets/sheet1.xml", "officedocument.spreadsheetml.worksheet+xml"),
            ("xl/workbook.xml", "officedocument.spreadsheetml.sheet.main+xml")))
    fixed = {
        "docProps/app.xml": '<Properties xmlns="http://schemas.openxmlformats.org/'
                            'officeDocument/2006/extended-properties"><Application>'
                            "policylab</Application></Properties>",
        "xl/theme/theme1.xml": theme,
        "_rels/.rels": f'<Relationships xmlns="{_PKG_REL}">' + "".join(
            f'<Relationship Type="{t}" Target="{target}" Id="rId{k}"/>' for k, (t, target)
            in enumerate(((f"{_REL}/officeDocument", "xl/workbook.xml"),
                          (_PKG_REL.replace("relationships", "relationships/metadata/"
                                            "core-properties"), "docProps/core.xml"),
                          (f"{_REL}/extended-properties", "docProps/app.xml")), 1))
        + "</Relationships>",
        "xl/workbook.xml": f'<workbook xmlns="{_MAIN}"><workbookPr/><workbookProtection/>'
                           '<bookViews><workbookView visibility="visible" minimized="0" '
                           'showHorizontalScroll="1" showVerticalScroll="1" showSheetTabs="1" '
                           'tabRatio="600" firstSheet="0" activeTab="0" '
                           'autoFilterDateGrouping="1"/></bookViews><sheets>'
                           f'<sheet xmlns:r="{_REL}" name="table" sheetId="1" '
                           'state="visible" r:id="rId1"/></sheets><definedNames/>'
                           '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{_PKG_REL}">' + "".join(
            f'<Relationship Type="{_REL}/{t}" Target="{target}" Id="rId{k}"/>'
            for k, (t, target) in enumerate((("worksheet", "/xl/worksheets/sheet1.xml"),
                                             ("styles", "styles.xml"),
                                             ("theme", "theme/theme1.xml")), 1))
        + "</Relationships>",
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/'
                               '2006/content-types"><Default Extension="rels" ContentType='
                               f'"{_CT}package.relationships+xml"/><Default Extension="xml" '
                               f'ContentType="application/xml"/>{types}</Types>',
    }
    return {name: part(name, data if isinstance(data, bytes) else data.encode("utf-8"))
            for name, data in fixed.items()}


def _core() -> bytes:
    import datetime as dt

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp = ('xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/'
             'XMLSchema-instance" xsi:type="dcterms:W3CDTF"')
    return ('<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties"><dc:creator xmlns:dc="http://purl.org/dc/elements/'
            f'1.1/">policylab</dc:creator><dcterms:created {stamp}>{now}</dcterms:created>'
            f"<dcterms:modified {stamp}>{now}</dcterms:modified></cp:coreProperties>"
            ).encode()


def table_to_excel(table: Any, path: str | Path) -> Path:
    """Write ``table`` to ``path`` (one sheet, three-line borders, merged group headers)."""
    styles = _Styles()
    sheet = _sheet(table, styles)  # first: it numbers the styles
    fixed = _fixed_parts()
    parts = [fixed["docProps/app.xml"], part("docProps/core.xml", _core()),
             fixed["xl/theme/theme1.xml"], part("xl/worksheets/sheet1.xml", sheet),
             part("xl/styles.xml", styles.xml())]
    parts += [fixed[name] for name in ("_rels/.rels", "xl/workbook.xml",
                                       "xl/_rels/workbook.xml.rels", "[Content_Types].xml")]
    return write_package(path, parts)

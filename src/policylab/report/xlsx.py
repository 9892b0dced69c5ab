"""A Table as an Excel sheet: numbers are numeric cells, text is text.

A coefficient is stored as the number -0.2301 with the number format
``0.000"***";"-"0.000"***"``, so Excel shows ``-0.230***`` exactly as the paper
while the cell still computes; a standard error is 0.0067 shown ``(0.007)``; p-values
below 0.001 show ``<0.001``; counts and years are integers. Confidence intervals (two
numbers in one cell) are text. Text that a spreadsheet would read as a formula (a
label starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is stored as a string with
Excel's quote prefix, so it is never evaluated, not even after the user edits the cell.
"""

from __future__ import annotations

from copy import copy
from pathlib import Path
from typing import Any

from policylab.report.io import write_atomic
from policylab.report.numbers import Num

__all__ = ["table_to_excel", "put_text"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def put_text(ws: Any, row: int, col: int, text: str) -> Any:
    """Write ``text`` into a cell as a string, never as a formula."""
    cell = ws.cell(row, col)
    cell.value = text
    cell.data_type = "s"  # openpyxl would otherwise store "=..." as a live formula
    if text.startswith(_FORMULA_START):
        cell.quotePrefix = True
    return cell


def _put(ws: Any, row: int, col: int, text: str, value: Any) -> Any:
    if isinstance(value, Num):
        v, fmt = value.excel()
        if fmt is not None:
            cell = ws.cell(row, col, v)
            cell.number_format = fmt
            return cell
    return put_text(ws, row, col, text)


def table_to_excel(table: Any, path: str | Path) -> Path:
    """Write ``table`` to ``path`` (one sheet, three-line borders, merged group headers)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "table"
    r0 = 1
    if table.title:
        put_text(ws, 1, 1, table.title).font = Font(bold=True)
        r0 = 2
    n, nh = table.ncols, len(table.header)
    rows = table.header + table.body
    thick, thin = Side(style="medium"), Side(style="thin")
    # a table has a handful of distinct cell styles: each is built (and hashed into the
    # workbook's style lists) once and copied after, the same style ids in the same order
    styles: dict[tuple[Any, ...], Any] = {}
    for i, r in enumerate(rows):
        vals = table.values[i - nh] if nh <= i < nh + len(table.values) else []
        top = thick if i == 0 else None
        bottom = (thin if i == nh - 1 or (i - nh) in table.rules
                  else thick if i == len(rows) - 1 else None)
        for j in range(n):
            text = r[j] if j < len(r) else ""
            cell = _put(ws, r0 + i, j + 1, text, vals[j] if j < len(vals) else None)
            key = (tuple(cell._style or ()), j == 0, i == 0, bottom)
            if key in styles:
                cell._style = copy(styles[key])
                continue
            cell.alignment = Alignment(horizontal="left" if j == 0 else "center")
            cell.border = Border(top=top, bottom=bottom)
            styles[key] = copy(cell._style)
    for (i, j), span in table.spans.items():
        if span > 1:
            ws.merge_cells(start_row=r0 + i, start_column=j + 1, end_row=r0 + i,
                           end_column=j + span)
            for k in range(j, j + span):  # the partial rule under a group (\cmidrule)
                c = ws.cell(r0 + i, k + 1)
                c.border = Border(top=c.border.top, bottom=thin if rows[i][j] else None)
    for k, note in enumerate(table.notes):
        put_text(ws, r0 + len(rows) + k, 1, note).font = Font(size=9)
    for j in range(n):
        # CJK characters are about two Latin characters wide
        width = max((sum(2 if ord(ch) > 0x2E80 else 1 for ch in r[j])
                     for r in rows if j < len(r)), default=4)
        ws.column_dimensions[get_column_letter(j + 1)].width = min(60, max(8, width + 2))
    return write_atomic(path, wb.save)

"""Excel cell styles read back: each cell keeps its own number format, alignment,
border and font, though the writer builds each distinct style once and copies it."""

from __future__ import annotations

from policylab.report.numbers import Num
from policylab.report.tables import Table


def _table() -> Table:
    return Table(header=[["", "(1)", "(2)"]],
                 body=[["did", "-0.230***", "0.012"], ["", "(0.007)", "(0.030)"],
                       ["N", "570", "570"]],
                 values=[[None, Num(-0.2301, stars="***"), Num(0.012)],
                         [None, Num(0.0067, wrap="()"), Num(0.03, wrap="()")],
                         [None, Num(570, "integer"), Num(570, "integer")]],
                 rules=[1], title="Table 1", notes=["note"])


def _line(side):
    return side.style if side is not None else None


def test_every_cell_keeps_its_format_border_alignment_and_font(tmp_path):
    from openpyxl import load_workbook

    ws = load_workbook(_table().to_excel(tmp_path / "t.xlsx")).active
    assert ws["A1"].value == "Table 1" and ws["A1"].font.b
    header, coef, se, n = (list(r) for r in ws.iter_rows(min_row=2, max_row=5))
    assert [_line(c.border.top) for c in header] == ["medium"] * 3
    assert [_line(c.border.bottom) for c in header] == ["thin"] * 3
    assert [_line(c.border.top) for c in coef] == [None] * 3
    assert [_line(c.border.bottom) for c in coef] == [None] * 3
    assert [_line(c.border.bottom) for c in se] == ["thin"] * 3  # the rule after row 1
    assert [_line(c.border.bottom) for c in n] == ["medium"] * 3
    for row in (header, coef, se, n):
        assert [c.alignment.horizontal for c in row] == ["left", "center", "center"]
        assert not any(c.font.b for c in row)
    assert coef[1].value == -0.2301 and coef[1].number_format.startswith('0.000"***"')
    assert coef[2].value == 0.012 and '"***"' not in coef[2].number_format
    assert se[1].number_format == se[2].number_format and se[1].number_format.startswith('"("')
    assert n[1].value == 570 and n[1].number_format == "0"
    assert ws["A6"].value == "note" and ws["A6"].font.sz == 9

"""Excel tables read back with openpyxl: the workbook is written as SpreadsheetML
directly (not through openpyxl's object model), so these check what a reader of the
file sees: merged groups and their rules, text kept as text, widths, refusals."""

from __future__ import annotations

import zipfile

import pytest

from policylab.report.numbers import Num
from policylab.report.tables import Table


def _side(side):
    return getattr(side, "style", None)


def _grouped(lang: str = "en") -> Table:
    group = "碳排放" if lang == "zh" else "CO2"
    return Table(header=[["", group, "", ""], ["", "(1)", "(2)", "(3)"]],
                 body=[["did", "-0.230***", "0.012", "0.5"], ["N", "570", "570", "570"]],
                 values=[[None, Num(-0.2301, stars="***"), Num(0.012), Num(0.5)],
                         [None, Num(570, "integer"), Num(570, "integer"), Num(570, "integer")]],
                 spans={(0, 1): 2}, lang=lang)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_merged_group_and_its_rules_read_back(tmp_path, lang):
    from openpyxl import load_workbook

    t = _grouped(lang)
    ws = load_workbook(t.to_excel(tmp_path / "t.xlsx")).active
    assert ws.title == "table" and [str(r) for r in ws.merged_cells.ranges] == ["B1:C1"]
    group = list(ws.iter_rows(min_row=1, max_row=1))[0]
    assert [c.value for c in group] == [None, t.header[0][1], None, None]
    # the heavy top rule over the whole row, a thin rule under the group's two columns
    assert [_side(c.border.top) for c in group] == ["medium"] * 4
    assert [_side(c.border.bottom) for c in group] == [None, "thin", "thin", None]
    assert group[1].alignment.horizontal == "center"
    assert [_side(c.border.bottom) for c in ws[2]] == ["thin"] * 4  # under the header
    assert [_side(c.border.bottom) for c in ws[4]] == ["medium"] * 4  # the bottom rule
    assert [c.value for c in ws[4]] == ["N", 570, 570, 570]
    assert ws.max_row == 4 and ws.max_column == 4
    # openpyxl reads a merged range's rules off its first cell; Excel draws each cell's
    # own, so the covered cell C1 must carry them too
    assert _raw_border(tmp_path / "t.xlsx", "C1") == ("medium", "thin")


def _raw_border(path, ref):
    from lxml import etree

    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(path) as z:
        sheet = etree.fromstring(z.read("xl/worksheets/sheet1.xml"))
        styles = etree.fromstring(z.read("xl/styles.xml"))
    s = int(sheet.find(f".//m:c[@r='{ref}']", ns).get("s"))
    xf = styles.findall("m:cellXfs/m:xf", ns)[s]
    border = styles.findall("m:borders/m:border", ns)[int(xf.get("borderId"))]
    return tuple(getattr(border.find(f"m:{edge}", ns), "get", lambda _: None)("style")
                 for edge in ("top", "bottom"))


def test_text_stays_text_with_its_spaces_and_a_formula_is_never_one(tmp_path):
    from openpyxl import load_workbook

    odd = ["  lead & <tag> ", "=SUM(A1:A9)", "-x", "a\r\nb", "省份 R² ≥ 0"]
    t = Table(header=[["term", "x"]], body=[[s, s] for s in odd], title="=title",
              notes=["+note"])
    path = t.to_excel(tmp_path / "t.xlsx")
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()
    ws = load_workbook(path).active
    assert ws["A1"].value == "=title" and ws["A1"].data_type == "s" and ws["A1"].font.b
    cells = [c for row in ws.iter_rows(min_row=3, max_row=7) for c in row]
    assert [c.value for c in cells] == [s for s in odd for _ in range(2)]
    assert all(c.data_type == "s" for c in cells)
    assert [c.quotePrefix for c in cells[::2]] == [False, True, True, False, False]
    assert ws["A8"].value == "+note" and ws["A8"].quotePrefix and ws["A8"].font.sz == 9


def test_columns_are_as_wide_as_their_text_cjk_counting_double(tmp_path):
    from openpyxl import load_workbook

    t = Table(header=[["变量", "x", "mean of a long outcome name"]],
              body=[["试点政策试点政策", "1", "2"]])
    ws = load_workbook(t.to_excel(tmp_path / "t.xlsx")).active
    widths = [ws.column_dimensions[c].width for c in "ABC"]
    assert widths == [18, 8, 29]  # 8 CJK characters = 16, +2; at least 8; 27 + 2


@pytest.mark.parametrize("bad", ["a\x07b", "a\ufffeb", "a\ud800b"])
def test_control_character_is_refused_and_no_file_is_left(tmp_path, bad):
    from policylab.errors import DataError

    # characters XML 1.0 cannot hold: a clear error, not a broken file or a raw traceback
    t = Table(header=[["term", "x"]], body=[[bad, "1"]])
    with pytest.raises(DataError, match="control character"):
        t.to_excel(tmp_path / "t.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_pandas_reads_the_numbers_as_numbers(tmp_path):
    pd = pytest.importorskip("pandas")

    df = pd.read_excel(_grouped().to_excel(tmp_path / "t.xlsx"), header=None)
    assert df.iloc[2, 1] == pytest.approx(-0.2301) and df.iloc[3, 3] == 570
    assert df.iloc[1].tolist()[1:] == ["(1)", "(2)", "(3)"]

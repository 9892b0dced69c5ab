"""Word tables read back with python-docx: the table XML is written in one piece (not
cell by cell through python-docx), so these check what a reader of the file sees:
text, rules, merged groups, fonts, sizes, alignment, page shape, picture ids."""

from __future__ import annotations

import zipfile

import pytest

from policylab.report.numbers import Num
from policylab.report.tables import Table

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _table(lang: str = "en") -> Table:
    group = "碳排放" if lang == "zh" else "CO2"
    return Table(
        header=[["", group, "", ""], ["", "(1)", "(2)", "(3)"]],
        body=[["did", "-0.230***", "0.012", "0.5"], ["", "(0.007)", "(0.030)", "(0.1)"],
              ["N", "570", "570", "570"]],
        values=[[None, Num(-0.2301, stars="***"), Num(0.012), Num(0.5)],
                [None, Num(0.0067, wrap="()"), Num(0.03, wrap="()"), Num(0.1, wrap="()")],
                [None, Num(570, "integer"), Num(570, "integer"), Num(570, "integer")]],
        spans={(0, 1): 2}, rules=[1], lang=lang,
        title="表1 基准回归" if lang == "zh" else "Table 1. Baseline",
        notes=["注：括号内为标准误。" if lang == "zh" else "Note: standard errors."])


def _bottom(cell):
    b = cell._tc.tcPr.find(f"{W}tcBorders")
    el = None if b is None else b.find(f"{W}bottom")
    return None if el is None else int(el.get(f"{W}sz"))


def _fonts(run):
    rf = run._r.rPr.rFonts
    return rf.get(f"{W}ascii"), rf.get(f"{W}hAnsi"), rf.get(f"{W}eastAsia")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_rules_groups_text_and_alignment_read_back(tmp_path, lang):
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    t = _table(lang)
    doc = Document(str(t.to_docx(tmp_path / "t.docx")))
    tab = doc.tables[0]
    assert [[c.text for c in row.cells] for row in tab.rows] == [
        ["", t.header[0][1], t.header[0][1], ""]] + t.header[1:] + t.body
    # the body rule after row 1 (thin), the group rule under the merged "CO2" (thin),
    # none under the empty cells of the group row, light under the header, heavy last
    assert [_bottom(c) for c in tab.rows[0].cells] == [None, 4, 4, None]
    assert [_bottom(c) for c in tab.rows[1].cells] == [6] * 4
    assert [_bottom(c) for c in tab.rows[2].cells] == [None] * 4
    assert [_bottom(c) for c in tab.rows[3].cells] == [4] * 4
    assert [_bottom(c) for c in tab.rows[4].cells] == [12] * 4
    for row in tab.rows:
        aligns = [c.paragraphs[0].alignment for c in row.cells]
        assert aligns == [WD_ALIGN_PARAGRAPH.LEFT] + [WD_ALIGN_PARAGRAPH.CENTER] * 3
        assert {r.font.size.pt for c in row.cells for r in c.paragraphs[0].runs} <= {9.0}
    # the merged group is one cell as wide as the two columns under it
    grid = [int(g.get(f"{W}w")) for g in tab._tbl.tblGrid.findall(f"{W}gridCol")]
    merged = tab.rows[0]._tr.findall(f"{W}tc")[1]
    assert int(merged.tcPr.find(f"{W}tcW").get(f"{W}w")) == pytest.approx(
        grid[1] + grid[2], abs=1)
    # title above (bold, 10 pt, centred) and notes below (8 pt), in the journal fonts
    title, note = doc.paragraphs[0], doc.paragraphs[-1]
    assert title.text == t.title and title.runs[0].bold and title.runs[0].font.size.pt == 10
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert note.text == t.notes[0] and note.runs[0].font.size.pt == 8
    runs = [r for p in doc.paragraphs for r in p.runs] + [
        r for row in tab.rows for c in row.cells for r in c.paragraphs[0].runs]
    assert {_fonts(r) for r in runs} == {("Times New Roman", "Times New Roman", "SimSun")}


def test_zh_table_keeps_a_chosen_east_asian_font(tmp_path):
    from docx import Document

    doc = Document(str(_table("zh").to_docx(tmp_path / "t.docx", fonts=("Arial", "宋体"))))
    runs = [r for p in doc.paragraphs for r in p.runs] + [
        r for row in doc.tables[0].rows for c in row.cells for r in c.paragraphs[0].runs]
    assert {_fonts(r) for r in runs} == {("Arial", "Arial", "宋体")}


def test_odd_text_survives_as_python_docx_reads_it(tmp_path):
    from docx import Document

    odd = ["  lead & <tag> ", "a\tb", "two\nlines", "R² ≥ 0 — 省份"]
    t = Table(header=[["term", "x"]], body=[[s, s] for s in odd], notes=['"quoted" & <n>'])
    doc = Document(str(t.to_docx(tmp_path / "t.docx")))
    assert [[c.text for c in row.cells] for row in doc.tables[0].rows[1:]] == [
        [s, s] for s in odd]
    assert doc.paragraphs[-1].text == '"quoted" & <n>'
    with zipfile.ZipFile(tmp_path / "t.docx") as z:
        assert z.testzip() is None


@pytest.mark.parametrize("bad", ["a\x01b", "a\ufffeb", "a\ud800b"])
def test_control_character_is_refused_and_no_file_is_left(tmp_path, bad):
    from policylab.errors import DataError

    # characters XML 1.0 cannot hold: a clear error, not a broken file or a raw traceback
    t = Table(header=[["term", "x"]], body=[[bad, "1"]])
    with pytest.raises(DataError, match="control character"):
        t.to_docx(tmp_path / "t.docx")
    assert list(tmp_path.iterdir()) == []


def test_wide_table_file_is_landscape_narrow_is_portrait(tmp_path):
    from docx import Document

    wide = Table(header=[[f"c{j}" for j in range(11)]], body=[[str(j) for j in range(11)]])
    for t, landscape in ((wide, True), (_table(), False)):
        d = Document(str(t.to_docx(tmp_path / "t.docx")))
        sec = d.sections[0]
        assert (sec.page_width > sec.page_height) is landscape
        text = sec.page_width - sec.left_margin - sec.right_margin
        grid = d.tables[0]._tbl.tblGrid.findall(f"{W}gridCol")
        # the columns fill the width between the margins (to a twip per column)
        assert sum(int(g.get(f"{W}w")) for g in grid) * 635 == pytest.approx(
            text, abs=635 * len(grid))


def test_tables_added_to_a_users_document_stay_in_order(tmp_path):
    from docx import Document

    doc = Document()
    doc.add_paragraph("before")
    first = _table().add_to_docx(doc)
    doc.add_paragraph("between")
    second = _table("zh").add_to_docx(doc)
    doc.add_paragraph("after")
    assert first.rows[2].cells[1].text == "-0.230***" and len(second.rows) == 5
    doc.save(str(tmp_path / "u.docx"))
    back = Document(str(tmp_path / "u.docx"))
    kinds = [el.tag.replace(W, "") for el in back.element.body]
    texts = [p.text for p in back.paragraphs]
    assert kinds == ["p", "p", "tbl", "p", "p", "p", "tbl", "p", "p", "sectPr"]
    assert texts == ["before", "Table 1. Baseline", "Note: standard errors.", "between",
                     "表1 基准回归", "注：括号内为标准误。", "after"]


def test_report_pictures_have_distinct_ids_and_headings_their_styles(tmp_path):
    from docx import Document

    from policylab.report.docx import write_report
    from policylab.report.style import new_figure

    def fig():
        f, ax = new_figure("en")
        ax.plot([0, 1], [1, 0])
        return {"name": "f", "figure": f, "caption": "Figure", "notes": ["n"]}

    sections = [{"key": k, "title": k, "status": "ok", "text": ["t"], "tables": [_table()],
                 "figures": [fig(), fig()], "warnings": ["w"]} for k in ("A", "B")]
    doc = Document(str(write_report(sections, tmp_path / "r.docx", title="R",
                                    provenance={"seed": 1})))
    ids = [int(el.get("id")) for el in doc.element.body.iter(
        "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}docPr")]
    assert len(ids) == 4 and len(set(ids)) == 4 and min(ids) >= 1
    styles = [(p.style.name, p.text) for p in doc.paragraphs if p.style.name != "Normal"]
    assert styles == [("Title", "R"), ("Heading 1", "1. A"), ("List Bullet", "w"),
                      ("Heading 1", "2. B"), ("List Bullet", "w"),
                      ("Heading 1", "Provenance")]
    assert len(doc.tables) == 2 and len(doc.inline_shapes) == 4


def test_prepared_fonts_are_the_ones_a_table_gets(tmp_path):
    from docx import Document

    from policylab.report.docx import prepare

    prepare(("Arial", "KaiTi"))  # what a run does before forking its writers
    wide = Table(header=[[f"c{j}" for j in range(11)]], body=[[str(j) for j in range(11)]])
    for t in (wide, _table("zh")):
        doc = Document(str(t.to_docx(tmp_path / "t.docx", fonts=("Arial", "KaiTi"))))
        rf = doc.styles["Normal"].element.rPr.rFonts
        assert (rf.get(f"{W}ascii"), rf.get(f"{W}eastAsia")) == ("Arial", "KaiTi")
        runs = [r for row in doc.tables[0].rows for c in row.cells for r in c.paragraphs[0].runs]
        assert {_fonts(r) for r in runs} == {("Arial", "Arial", "KaiTi")}

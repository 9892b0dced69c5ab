"""Files a journal takes: permissions, Excel cells, Word three-line tables, LaTeX that
compiles (pdflatex for English, xelatex + ctex for Chinese, when installed)."""

import os
import shutil
import stat
import subprocess

import numpy as np
import pandas as pd
import pytest

from policylab.estimators.feols import FeolsResult
from policylab.report.tables import etable, table_from_frame

HOSTILE = ["=HYPERLINK(\"http://x\",\"click\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def _res(b, se, controls, depvar, fe=("province", "year")):
    return FeolsResult(
        nobs=12570, terms=["did", "ln_gdp"], beta=np.array(b),
        vcov_matrix=np.diag(np.square(se)), df_t=29, r2=0.9912, r2_within=0.4215,
        n_clusters={"province": 30}, depvar_mean=8.9213,
        meta={"depvar": depvar, "fe": list(fe), "vcov": "CRV1", "cluster": ["province"],
              "controls": controls, "unit": "province", "time": "year"})


@pytest.fixture
def models():
    fe = ("province", "region^year")
    return [_res([-0.1934, 0.0], [0.0271, 1.0], [], "ln_co2", fe),
            _res([-0.2301, 0.5218], [0.0067, 0.0207], ["ln_gdp"], "ln_co2", fe),
            _res([0.012, 0.5], [0.03, 0.02], ["ln_gdp"], "ln_int", fe)]


def _frame():
    return pd.DataFrame({"rel_time": [-2.0, -1.0, 0.0], "cohort": [2011, 2011, 2012],
                         "estimate": [-0.05, 0.0, 0.21], "p_value": [0.3, np.nan, 0.0002],
                         "label": HOSTILE[:3]})


# --------------------------------------------------------------------- permissions
@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_every_output_file_is_0644_under_umask_022(tmp_path, umask022, models):
    from policylab.report.docx import write_report as write_docx
    from policylab.report.html import write_report as write_html
    from policylab.report.style import new_figure, save_figure, styled

    t = etable(models)
    with styled("en"):
        fig, ax = new_figure("en")
        ax.plot([0, 1], [0, 1])
    section = {"key": "s", "title": "S", "status": "ok", "text": [], "tables": [t],
               "figures": [{"name": "f", "figure": fig}], "warnings": []}
    paths = [t.to_excel(tmp_path / "t.xlsx"), t.to_docx(tmp_path / "t.docx"),
             *save_figure(fig, tmp_path / "fig", ("png", "pdf", "svg")),
             write_html([section], tmp_path / "report.html"),
             write_docx([section], tmp_path / "report.docx")]
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name
    # nothing but the outputs: no temporary files left beside them
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_table_write_picks_the_format_from_the_name(tmp_path, umask022, models):
    from policylab.errors import SpecError

    t = etable(models)
    for ext in ("md", "tex", "html", "txt", "csv", "xlsx", "docx"):
        p = t.write(tmp_path / f"t.{ext}")
        assert p.stat().st_size > 0 and stat.S_IMODE(p.stat().st_mode) == 0o644
    assert (tmp_path / "t.tex").read_text().startswith(r"\begin{table}")
    with pytest.raises(SpecError, match=r"\.odt"):
        t.write(tmp_path / "t.odt")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from policylab.report.io import write_atomic, write_text

    target = write_text(tmp_path / "a.txt", "old")

    def broken(p):
        open(p, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert target.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["a.txt"]


# --------------------------------------------------------------------------- Excel
def test_excel_numbers_are_numeric_cells_and_text_is_never_a_formula(tmp_path, models):
    from openpyxl import load_workbook

    t = etable(models, labels={"did": HOSTILE[0]}, group_headers=[("CO2", 2), ("Int", 1)],
               title="=1+1")
    ws = load_workbook(t.to_excel(tmp_path / "t.xlsx")).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    label = next(c for c in cells if c.value == HOSTILE[0])
    assert label.data_type == "s" and label.quotePrefix
    assert ws["A1"].value == "=1+1" and ws["A1"].data_type == "s"
    coef = next(c for c in cells if c.value == pytest.approx(-0.2301))
    assert coef.data_type == "n"
    assert coef.number_format == '0.000"***";"-"0.000"***"'
    se = next(c for c in cells if c.value == pytest.approx(0.0067))
    assert se.number_format == '"("0.000")";"(""-"0.000")"'
    n = [c for c in cells if c.value == 12570]
    assert len(n) == 3 and all(isinstance(c.value, int) for c in n)
    assert "B2:C2" in {str(r) for r in ws.merged_cells.ranges}


def test_excel_frame_integers_and_p_values(tmp_path):
    from openpyxl import load_workbook

    df = _frame().assign(label=HOSTILE[3:])
    ws = load_workbook(table_from_frame(df).to_excel(tmp_path / "f.xlsx")).active
    rows = [[c for c in r] for r in ws.iter_rows(min_row=2)]
    assert [r[0].value for r in rows] == [-2, -1, 0]
    assert all(isinstance(r[0].value, int) and r[0].number_format == "0" for r in rows)
    assert [r[1].value for r in rows] == [2011, 2011, 2012]
    assert rows[2][3].value == pytest.approx(0.0002)
    assert rows[2][3].number_format.startswith('[<0.001]"<0.001"')
    assert [r[4].value for r in rows] == HOSTILE[3:]
    assert all(r[4].data_type == "s" and r[4].quotePrefix for r in rows)


# ---------------------------------------------------------------------------- Word
def _rfonts(run):
    from docx.oxml.ns import qn

    rf = run._r.rPr.rFonts
    return rf.get(qn("w:ascii")), rf.get(qn("w:eastAsia"))


def test_word_table_is_three_line_a4_with_fonts_and_merged_groups(tmp_path, models):
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Mm

    t = etable(models, group_headers=[("CO2", 2), ("强度", 1)], lang="zh",
               labels={"did": "试点政策"})
    doc = Document(str(t.to_docx(tmp_path / "t.docx")))
    sec = doc.sections[0]
    assert abs(sec.page_width - Mm(210)) < Mm(1) and abs(sec.page_height - Mm(297)) < Mm(1)
    tab = doc.tables[0]
    runs = [r for row in tab.rows for c in row.cells for p in c.paragraphs for r in p.runs]
    assert runs and all(_rfonts(r) == ("Times New Roman", "SimSun") for r in runs)
    # merged group header: one cell spanning columns 2-3
    first = tab.rows[0]._tr.findall(qn("w:tc"))
    spans = [tc.tcPr.find(qn("w:gridSpan")) for tc in first]
    assert [int(s.get(qn("w:val"))) if s is not None else 1 for s in spans] == [1, 2, 1]
    assert tab.rows[0].cells[1].text == "CO2"

    def border(cell, edge):
        b = cell._tc.tcPr.find(qn("w:tcBorders"))
        el = None if b is None else b.find(qn(f"w:{edge}"))
        return None if el is None else int(el.get(qn("w:sz")))

    nh, last = len(t.header), len(tab.rows) - 1
    for j in range(t.ncols):
        assert border(tab.cell(0, j), "top") == 12  # heavy top rule
        assert border(tab.cell(nh - 1, j), "bottom") == 6  # light rule under the header
        assert border(tab.cell(last, j), "bottom") == 12  # heavy bottom rule
    tbl_borders = tab._tbl.tblPr.find(qn("w:tblBorders"))
    assert {el.get(qn("w:val")) for el in tbl_borders} == {"nil"}  # no vertical lines
    for row in tab.rows:
        for c in row.cells:
            b = c._tc.tcPr.find(qn("w:tcBorders"))
            assert b is None or (b.find(qn("w:left")) is None and b.find(qn("w:right")) is None)


def test_word_fonts_are_configurable(tmp_path, models):
    from docx import Document

    path = etable(models).to_docx(tmp_path / "t.docx", fonts=("Arial", "KaiTi"))
    runs = [r for row in Document(str(path)).tables[0].rows for c in row.cells
            for p in c.paragraphs for r in p.runs]
    assert {_rfonts(r) for r in runs} == {("Arial", "KaiTi")}


# --------------------------------------------------------------------------- LaTeX
SPECIALS = r"a_b & 50% $5 #1 {x} ~y \z ^w <> | ρ ≥ R² – é"


def test_latex_escapes_every_special_character(models):
    from policylab.report.latex import escape

    assert escape(r"\&%$#_{}~^") == (r"$\backslash$\&\%\$\#\_\{\}\~{}\^{}")
    tex = etable(models, labels={"did": SPECIALS}).to_latex()
    assert r"region\^{}year FE" in tex
    assert r"$-$0.230$^{***}$" in tex and " -0.230" not in tex
    assert r"\label{tab:table}" in tex


def test_latex_fragment_is_the_tabular_alone(models):
    frag = etable(models, title="Baseline").to_latex(fragment=True)
    assert frag.startswith(r"\begin{tabular}") and frag.rstrip().endswith(r"\end{tabular}")
    assert r"\caption" not in frag and r"\label" not in frag
    full = etable(models, title="Baseline (TWFE)").to_latex(label="tab:base")
    assert r"\caption{Baseline (TWFE)}" in full and r"\label{tab:base}" in full


def test_latex_group_headers_use_multicolumn_and_cmidrule(models):
    tex = etable(models, group_headers=[("CO2", 2), ("Intensity", 1)]).to_latex()
    assert r"\multicolumn{2}{c}{CO2}" in tex and r"\cmidrule(lr){2-3}" in tex
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex


def _wide_table(lang):
    rng = np.random.default_rng(3)
    cols = [f"treated: mean_{i}" if lang == "en" else f"处理组: 均值{i}" for i in range(14)]
    df = pd.DataFrame(rng.normal(size=(3, 14)) * 1000, columns=cols)
    return table_from_frame(df.assign(variable=["a", "b", "c"]), lang=lang,
                            title="Wide" if lang == "en" else "宽表")


def _compile(engine, tmp_path, preamble, tables):
    # the fragment goes into a float of the document's own (its width is the author's)
    frag = table_from_frame(_frame().drop(columns="label"), lang=tables[0].lang)
    (tmp_path / "frag.tex").write_text(frag.to_latex(fragment=True), encoding="utf-8")
    body = "\n".join(t.to_latex() for t in tables)
    doc = (preamble + "\n\\usepackage{booktabs,graphicx}\n\\begin{document}\n" + body
           + "\n\\begin{table}\\centering\\input{frag}\\end{table}\n\\end{document}\n")
    (tmp_path / "doc.tex").write_text(doc, encoding="utf-8")
    out = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert out.returncode == 0, log[-3000:]
    assert "Missing character" not in log
    assert "Overfull \\hbox" not in log  # wide tables are scaled to the text width
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed (.ci/run installs texlive)")
def test_english_tables_compile_with_pdflatex(tmp_path, models):
    tables = [etable(models, labels={"did": SPECIALS}, title="Baseline: ln CO2_t & 50%",
                     group_headers=[("CO2", 2), ("Intensity", 1)], se="p"),
              table_from_frame(_frame(), title="Event study"), _wide_table("en")]
    _compile("pdflatex", tmp_path, r"\documentclass{article}", tables)


@pytest.mark.skipif(shutil.which("xelatex") is None,
                    reason="xelatex not installed (.ci/run installs texlive-xetex)")
def test_chinese_tables_compile_with_xelatex_and_ctex(tmp_path, models):
    labels = {"did": "试点政策 × 碳排放", "province": "省份", "region^year": "地区×年份"}
    tables = [etable(models, labels=labels, lang="zh", title="基准回归结果",
                     group_headers=[("碳排放", 2), ("碳强度", 1)]),
              table_from_frame(_frame(), lang="zh", title="事件研究"), _wide_table("zh")]
    _compile("xelatex", tmp_path, r"\documentclass{ctexart}", tables)


def test_word_report_is_a4_with_journal_fonts_in_every_style(tmp_path, models):
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Mm

    from policylab.report.docx import write_report
    from policylab.report.style import new_figure, styled

    with styled("zh"):
        fig, ax = new_figure("zh")
        ax.plot([0, 1], [1, 0])
    section = {"key": "b", "title": "基准回归", "status": "ok", "text": ["说明"],
               "tables": [etable(models, lang="zh")], "figures": [{"name": "f", "figure": fig}],
               "warnings": ["警示"]}
    doc = Document(str(write_report([section], tmp_path / "r.docx", lang="zh", title="报告")))
    sec = doc.sections[0]
    assert abs(sec.page_width - Mm(210)) < Mm(1) and abs(sec.page_height - Mm(297)) < Mm(1)
    for name in ("Normal", "Title", "Heading 1", "List Bullet"):
        rf = doc.styles[name].element.rPr.rFonts
        assert (rf.get(qn("w:ascii")), rf.get(qn("w:eastAsia"))) == ("Times New Roman", "SimSun")
        assert rf.get(qn("w:asciiTheme")) is None  # a theme font would win over the name
    assert len(doc.tables) == 1 and len(doc.inline_shapes) == 1
    assert doc.inline_shapes[0].width <= sec.page_width - sec.left_margin - sec.right_margin


def test_wide_word_tables_get_landscape_pages(tmp_path, models):
    from docx import Document
    from docx.shared import Mm

    from policylab.report.docx import write_report

    wide = _wide_table("en")
    d = Document(str(wide.to_docx(tmp_path / "wide.docx")))
    assert d.sections[0].page_width > d.sections[0].page_height > Mm(200)
    section = {"key": "b", "title": "B", "status": "ok", "text": [], "figures": [],
               "tables": [etable(models), wide, etable(models)], "warnings": []}
    doc = Document(str(write_report([section], tmp_path / "r.docx")))
    shapes = [s.page_width > s.page_height for s in doc.sections]
    assert shapes == [False, True, False]  # portrait, landscape for the wide one, portrait
    assert all(abs(min(s.page_width, s.page_height) - Mm(210)) < Mm(1) for s in doc.sections)


def test_latex_caption_leaves_the_numbering_to_latex(models):
    # the report numbers its tables ("Table 5. ", "表5 "); \caption numbers again, so
    # the caption keeps the words (no "Table 1: Table 5. ...") and \ref works
    en = etable(models, title="Table 5. Baseline", notes=["95% CI [-0.243, -0.211]"])
    tex = en.to_latex()
    assert r"\caption{Baseline}" in tex and r"\label{tab:baseline}" in tex
    assert r"[$-$0.243, $-$0.211]" in tex  # a true minus in the notes too
    zh = etable(models, title="表5 基准回归", lang="zh").to_latex()
    assert r"\caption{基准回归}" in zh


def test_word_columns_give_the_row_labels_their_room(tmp_path, models):
    from docx import Document

    labels = {"did": "Secondary industry share of GDP (%)"}
    path = etable(models, labels=labels).to_docx(tmp_path / "t.docx")
    t = Document(str(path)).tables[0]
    widths = [c.width for c in t.rows[-1].cells]
    assert widths[0] > 2 * max(widths[1:])  # the label column is not an equal share
    sec = Document(str(path)).sections[0]
    text = sec.page_width - sec.left_margin - sec.right_margin
    assert abs(sum(widths) - text) < 0.01 * text  # and the table spans the text width

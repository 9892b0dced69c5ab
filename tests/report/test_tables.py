"""Golden-file tests of every renderer, on a fixed hand-made result (stable numbers)."""

import os
from pathlib import Path

import numpy as np
import pytest

from policylab.estimators.feols import FeolsResult
from policylab.report.tables import etable, table_from_frame

GOLDEN = Path(__file__).parent / "golden"


def _res(b, se, controls, depvar):
    return FeolsResult(
        nobs=570, terms=["did", "ln_gdp"], beta=np.array(b), vcov_matrix=np.diag(np.square(se)),
        df_t=29, r2=0.9912, r2_within=0.4215, n_clusters={"province": 30}, depvar_mean=8.9213,
        meta={"depvar": depvar, "fe": ["province", "year"], "vcov": "CRV1",
              "cluster": ["province"], "controls": controls, "unit": "province", "time": "year"},
    )


@pytest.fixture
def models():
    return [_res([-0.1934, 0.0], [0.0271, 1.0], [], "ln_co2"),
            _res([-0.2301, 0.5218], [0.0067, 0.0207], ["ln_gdp"], "ln_co2")]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("fmt", ["text", "markdown", "latex", "html"])
def test_renderers_match_golden(models, lang, fmt):
    labels = {"did": "DID" if lang == "en" else "试点政策", "ln_co2": "ln CO2",
              "province": "province" if lang == "en" else "省份"}
    t = etable(models, labels=labels, lang=lang, keep=["did"], controls=[False, True])
    got = getattr(t, f"to_{fmt}")()
    path = GOLDEN / f"etable_{lang}.{ {'text': 'txt', 'markdown': 'md', 'latex': 'tex', 'html': 'html'}[fmt]}"
    if os.environ.get("POLICYLAB_UPDATE_GOLDEN"):  # regenerate, then review the diff
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


def test_stars_decimals_and_no_english_in_chinese_table(models):
    t = etable(models, lang="zh", labels={"did": "试点政策", "ln_co2": "碳排放", "province": "省份"},
               keep=["did"], controls=[False, True])
    text = t.to_text()
    assert "-0.193***" in text and "(0.027)" in text and "-0.230***" in text
    for english in ("Controls", "FE", "Yes", "No", "R-squared", "Standard errors"):
        assert english not in text
    assert "注：括号内为聚类到省份层面的稳健标准误" in text


def test_docx_and_excel_are_written(models, tmp_path):
    t = etable(models)
    d = t.to_docx(tmp_path / "t.docx")
    x = t.to_excel(tmp_path / "t.xlsx")
    from docx import Document
    from openpyxl import load_workbook

    doc = Document(str(d))
    cells = [c.text for row in doc.tables[0].rows for c in row.cells]
    assert "-0.193***" in cells and "(0.027)" in cells
    ws = load_workbook(x).active
    assert any(c.value == "-0.230***" for row in ws.iter_rows() for c in row)


def test_table_from_frame_keeps_decimals_per_column():
    import pandas as pd

    t = table_from_frame(pd.DataFrame({"name": ["a", "b"], "x": [1.23456, 2.0], "n": [3, 40]}),
                         digits=2)
    assert t.body == [["a", "1.23", "3"], ["b", "2.00", "40"]]

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


def test_table_from_frame_keeps_decimals_per_column():
    import pandas as pd

    t = table_from_frame(pd.DataFrame({"name": ["a", "b"], "x": [1.23456, 2.0], "n": [3, 40]}),
                         digits=2)
    assert t.body == [["a", "1.23", "3"], ["b", "2.00", "40"]]


def test_integers_years_and_event_time_print_as_integers():
    import pandas as pd

    df = pd.DataFrame({
        "rel_time": [-6.0, -5.0, 0.0, np.nan],  # float because of the NaN
        "cohort": [2011, 2012, 2013, 2014],
        "draws_requested": [500.0, 500.0, np.nan, 499.0],
        "estimate": [-1.5, 2.0, 3.0, 1.0],  # a measurement stays decimal even when whole
        "p_value": [0.0004, 0.5, 0.0012, np.nan],
        "significant": [True, False, True, False],
        "name": ["a", "b", "c", "d"],
    })
    t = table_from_frame(df, digits=3)
    col = {h: [r[j] for r in t.body] for j, h in enumerate(t.header[0])}
    assert col["rel_time"] == ["-6", "-5", "0", ""]
    assert col["cohort"] == ["2011", "2012", "2013", "2014"]
    assert col["draws_requested"] == ["500", "500", "", "499"]
    assert col["estimate"] == ["-1.500", "2.000", "3.000", "1.000"]
    assert col["p_value"] == ["<0.001", "0.500", "0.001", ""]
    assert col["significant"] == ["Yes", "No", "Yes", "No"]
    assert col["name"] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("name, values, kind", [
    ("n_obs", [10, 20], "integer"),
    ("n_obs", [10.0, np.nan], "integer"),
    ("year", [2010.0, 2011.0], "integer"),
    ("mean", [1.0, 2.0], "number"),
    ("treated: mean", [1.0, 2.0], "number"),
    ("处理组: 均值", [1.0, 2.0], "number"),
    ("twfe", [-0.23, 0.1], "number"),
    ("p_left", [0.2, 0.01], "pvalue"),
    ("label", ["x", "y"], "text"),
    ("mixed", [1, 2.5], "number"),
])
def test_column_kind_by_dtype_values_and_name(name, values, kind):
    import pandas as pd

    from policylab.report.numbers import column_kind

    assert column_kind(name, pd.Series(values, dtype=object if name == "mixed" else None)) \
        == kind


def test_etable_p_values_below_floor_and_cells_keep_numbers(models):
    t = etable(models, keep=["did"], se="p")
    assert t.body[1][1:] == ["(<0.001)", "(<0.001)"]
    est = t.values[0][1]
    assert est.value == pytest.approx(-0.1934) and est.stars == "***"
    n_row = next(i for i, r in enumerate(t.body) if r[0] == "N")
    assert t.values[n_row][1].value == 570 and t.values[n_row][1].kind == "integer"


def test_group_headers_are_spans_in_html(models):
    t = etable(models, group_headers=[("CO2", 2)])
    assert t.spans == {(0, 1): 2}
    assert '<th colspan="2" class="group">CO2</th>' in t.to_html()


def test_tables_and_results_render_as_html_in_notebooks(models):
    from policylab.report.tables import result_html

    html = table_from_frame(__import__("pandas").DataFrame({"x": [1.5]}))._repr_html_()
    assert html.startswith('<div style="overflow-x:auto">') and "<table" in html
    res = models[1]
    res.warnings.append("only 6 treated clusters")
    out = res._repr_html_()
    assert out == result_html(res)
    assert "-0.230***" in out and "<li>only 6 treated clusters</li>" in out


@pytest.mark.parametrize("se, en, zh", [
    ("t", "t statistics in parentheses, based on standard errors (clustered by province).",
     "注：括号内为t值，基于聚类到省份层面的稳健标准误"),
    ("ci", "95% confidence intervals in brackets, based on standard errors",
     "注：方括号内为95%置信区间，基于聚类到省份层面的稳健标准误"),
])
def test_note_says_what_the_brackets_hold(models, se, en, zh):
    assert etable(models, se=se).notes[0].startswith(en)
    assert etable(models, se=se, lang="zh", labels={"province": "省份"}).notes[0].startswith(zh)


def test_a_robustness_samples_warning_is_named_after_it_in_both_languages():
    from policylab.messages import Message
    from policylab.report.labels import translate_warning

    raw = Message("study.in_sample", name="Drop municipalities",
                  text=Message("did.few_treated_clusters", n=2, level="province"))
    assert raw == ("[sample: Drop municipalities] only 2 treated province clusters: "
                   "cluster-robust SEs over-reject with so few treated clusters; report "
                   "wild_bootstrap() and placebo_test() (randomization inference)")
    en, known = translate_warning(raw, "en")
    assert known and en.startswith("Sample \u201cDrop municipalities\u201d: Only 2 treated")
    zh, known = translate_warning(raw, "zh")
    assert known and zh.startswith("样本\u201cDrop municipalities\u201d：处理组仅有2个省份聚类")
    assert "wild_bootstrap()" not in zh


def test_constant_row_in_chinese_and_english():
    import numpy as np
    import pandas as pd

    from policylab.estimators.feols import feols
    from policylab.report.tables import etable

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"u": np.repeat(np.arange(20), 5), "t": np.tile(np.arange(5), 20),
                       "x": rng.normal(size=100)})
    df["y"] = 1.5 + 0.5 * df["x"] + rng.normal(size=100)
    fe, ols = feols("y ~ x | u + t", df), feols("y ~ x", df)
    zh = etable([fe, ols], constant=True, lang="zh")
    rows = [r[0] for r in zh.body]
    assert "常数项" in rows and "Intercept" not in rows
    i = rows.index("常数项")
    c_fe, c_ols = fe.constant().iloc[0], ols.constant().iloc[0]
    assert zh.values[i][1].value == c_fe["estimate"] and zh.values[i][2].value == c_ols["estimate"]
    assert zh.values[i + 1][1].value == c_fe["std_error"]
    en = etable([fe, ols], lang="en")  # off by default: no constant row for the FE model
    assert "Constant" not in [r[0] for r in en.body]


def test_a_share_is_a_percentage_in_text_and_excel():
    import pandas as pd

    from policylab.report.numbers import Num, column_kind

    n = Num(0.244, "percent")
    assert n.text == "24.40%" and n.excel() == (0.244, "0.00%")
    assert column_kind("share", pd.Series([0.244, 0.1])) == "percent"

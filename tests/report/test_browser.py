"""The HTML report in a real browser (headless Chromium, Debian package `chromium`)."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from policylab.report.html import write_report
from policylab.report.style import new_figure, styled
from policylab.report.tables import table_from_frame

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars"]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(.ci/run installs it)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    import pandas as pd

    d = tmp_path_factory.mktemp("report")
    with styled("zh"):
        fig, ax = new_figure("zh")
        ax.plot([0, 1, 2], [0.1, -0.2, 0.05])
        ax.set_title("事件研究")
    table = table_from_frame(pd.DataFrame({"变量": ["试点政策"], "estimate": [-0.23]}),
                             lang="zh", title="基准回归")
    sections = [
        {"key": "baseline", "title": "基准回归", "status": "ok", "text": ["说明文字。"],
         "tables": [table], "figures": [{"name": "es", "figure": fig}], "warnings": []},
        {"key": "placebo", "title": "安慰剂检验", "status": "failed", "error": "示例错误",
         "text": [], "tables": [], "figures": [], "warnings": ["只有6个处理组聚类"]},
    ]
    path = write_report(sections, d / "report.html", lang="zh", title="测试报告",
                        provenance={"policylab": "test"})
    return path


def _run(args, timeout=90):
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True,
                          timeout=timeout)


def test_report_opens_without_console_errors_and_images_decode(report):
    out = _run(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000",
                "--dump-dom", report.as_uri()])
    dom = out.stdout
    assert 'data-images="ok"' in dom, "an embedded figure failed to decode"
    assert 'data-image-count="1"' in dom
    for section in ("baseline", "placebo", "diagnostics", "provenance"):
        assert f'id="{section}"' in dom
    console_errors = [ln for ln in out.stderr.splitlines()
                      if "CONSOLE" in ln and re.search(r"error|uncaught", ln, re.I)]
    assert not console_errors, console_errors


def test_screenshot_at_1280px_is_not_blank(report, tmp_path):
    shot = tmp_path / "report.png"
    _run([f"--screenshot={shot}", "--window-size=1280,1400", report.as_uri()])
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[1] == 1280
    gray = img[..., :3].mean(axis=2)
    assert gray.std() > 0.05  # text, tables and figure, not an empty page
    assert (gray < 0.5).mean() > 0.005


# ------------------------------------------------------------------ layout at 1280 px
MEASURE = (Path(__file__).parent / "_measure.js").read_text(encoding="utf-8")
SMALL_STUDY = """
[study]
title = "碳交易试点的减排效应"
seed = 7

[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"

[treatment]
column = "did"
group = "treat"

[model]
outcomes = ["ln_co2"]
controls = ["ln_gdp", "fdi"]

[battery.placebo]
draws = 100
exact = false

[battery.wild_bootstrap]
draws = 99

[output]
formats = ["html"]
language = "zh"
"""


def _measure(report_path, tmp_path, width, print_css=False):
    """Load a copy of the report with the measuring script at ``width`` CSS px; with
    ``print_css`` the print rules apply on screen (a page of that width)."""
    text = report_path.read_text(encoding="utf-8")
    if print_css:
        text = text.replace("@media print {", "@media all {")
    copy = tmp_path / f"measured_{width}_{int(print_css)}.html"
    copy.write_text(text.replace("</body>", f"<script>{MEASURE}</script></body>"),
                    encoding="utf-8")
    dom = _run([f"--window-size={width},900", "--virtual-time-budget=3000", "--dump-dom",
                copy.as_uri()]).stdout

    def attr(name):
        return html.unescape(re.search(rf'data-{name}="([^"]*)"', dom).group(1))

    return {"viewport": int(attr("viewport")), "page": int(attr("page-width")),
            "outside": json.loads(attr("outside")), "tables": json.loads(attr("tables"))}


@pytest.fixture(scope="module")
def study_report(tmp_path_factory):
    from policylab.study.pipeline import run_study

    d = tmp_path_factory.mktemp("small_study")
    (d / "study.toml").write_text(SMALL_STUDY, encoding="utf-8")
    run_study(d / "study.toml", d / "out", progress=False)
    return d / "out" / "report.html"


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(3, 28)),
                        columns=[f"bias_after_covariate_{i}" for i in range(28)])
    wide.insert(0, "variable", ["ln_gdp", "fdi", "a_long_variable_name_without_any_space"])
    cols = ["estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high",
            "p_value_coef", "p_value_t", "draws_requested", "n_treated_units",
            "mean_treated_before", "bias_after"]
    mid = pd.DataFrame(rng.normal(size=(4, 12)), columns=cols)
    with styled("en"):
        fig, ax = new_figure("en", size=(16, 3))
        ax.plot([0, 1], [0, 1])
    long = "x" * 400  # an unbreakable word: a path, a hash, a pasted formula
    sections = [{"key": "wide", "title": "Wide", "status": "ok", "text": ["see " + long],
                 "tables": [table_from_frame(wide, title="Balance (28 covariates)"),
                            table_from_frame(mid, title="Placebo (12 columns)")],
                 "figures": [{"name": "f", "figure": fig}], "warnings": ["warning " + long]},
                {"key": "failed", "title": "F", "status": "failed", "error": long,
                 "text": [], "tables": [], "figures": [], "warnings": []}]
    d = tmp_path_factory.mktemp("wide")
    return write_report(sections, d / "report.html", provenance={"panel": long})


def test_small_study_report_fits_1280px_without_scrolling_tables(study_report, tmp_path):
    m = _measure(study_report, tmp_path, 1280)
    assert m["viewport"] == 1280
    assert m["page"] <= 1280 and m["outside"] == []
    assert m["tables"], "the study report has tables"
    assert [t for t in m["tables"] if t["scroll"] > t["box"] + 1] == []


def test_wide_content_never_widens_the_page(wide_report, tmp_path):
    m = _measure(wide_report, tmp_path, 1280)
    assert m["page"] <= 1280 and m["outside"] == []
    by_caption = {t["caption"]: t for t in m["tables"]}
    # twelve columns fit; twenty-nine scroll inside their own box, not the page
    assert by_caption["Placebo (12 columns)"]["scroll"] <= by_caption[
        "Placebo (12 columns)"]["box"] + 1
    big = by_caption["Balance (28 covariates)"]
    assert big["scroll"] > big["box"] and big["box"] <= 1280


@pytest.mark.parametrize("which", ["study_report", "wide_report"])
def test_tables_fit_an_a4_page_in_print(which, request, tmp_path):
    report = request.getfixturevalue(which)
    # A4 minus the print margins, in CSS px (96 per inch): portrait 186 mm, landscape 273 mm
    portrait, landscape = 703, 1032
    narrow = _measure(report, tmp_path, portrait, print_css=True)
    # on a portrait page only the tables that print on a landscape page may stick out
    assert [o for o in narrow["outside"] if not o["inWide"]] == []
    for t in narrow["tables"]:
        if not t["wide"]:
            assert t["table"] <= portrait, t
    broad = _measure(report, tmp_path, landscape, print_css=True)
    for t in broad["tables"]:
        assert t["table"] <= landscape, t


def test_print_uses_a4_and_landscape_pages_for_wide_tables(wide_report, tmp_path):
    pdf = tmp_path / "report.pdf"
    _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", wide_report.as_uri()])
    boxes = re.findall(rb"MediaBox\s*\[0 0 ([\d.]+) ([\d.]+)\]", pdf.read_bytes())
    sizes = {(round(float(w)), round(float(h))) for w, h in boxes}
    assert sizes == {(595, 842), (842, 595)}  # A4 portrait, and landscape for the wide table

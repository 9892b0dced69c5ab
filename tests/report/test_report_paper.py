"""The study report as a paper: headline first, numbered captions, the test statistics
a paper cites under their table or figure, statuses, identities, one language."""

import html
import re

import pytest

SPEC = """
[study]
title = "Paper frame"
seed = 11

[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"

[[transforms]]
kind = "co2"
name = "co2_accounted"
factors = "carbon_trading_study"

[[transforms]]
kind = "deflate"
columns = ["gdp"]
price_index = "deflator"
base = 2000

[[transforms]]
kind = "ratio"
numerator = "co2_accounted"
denominator = "gdp_real"
name = "intensity"

[[transforms]]
kind = "log"
columns = ["co2_accounted", "intensity"]

[treatment]
column = "did"
group = "treat"

[model]
outcomes = ["ln_co2_accounted", "ln_intensity"]
controls = ["ln_gdp", "fdi"]
cluster = "province"

[model.labels]
did = "{did}"
ln_co2_accounted = "{co2}"
ln_intensity = "{intensity}"
ln_gdp = "{gdp}"
fdi = "FDI"
coal_share = "{coal}"
sec_share = "{sec}"

[battery.event_study]
window = [-4, 4]

[battery.psm_did]
enabled = true
covariates = ["ln_gdp", "coal_share", "sec_share", "fdi"]

[battery.placebo]
draws = 100
exact = false

[battery.wild_bootstrap]
draws = 199

[battery.staggered]
enabled = false

[battery.spec_curve]
enabled = false

[battery.mediation]
enabled = false

[battery.moderation]
enabled = false

[battery.heterogeneity]
enabled = false

[output]
language = "{lang}"
formats = ["html", "docx"]
"""

LABELS = {"en": {"did": "Pilot x Post", "co2": "ln CO2", "intensity": "ln CO2 intensity",
                 "gdp": "ln GDP", "coal": "Coal share", "sec": "Industry share"},
          "zh": {"did": "碳交易试点", "co2": "碳排放（对数）", "intensity": "碳排放强度（对数）",
                 "gdp": "经济规模（对数）", "coal": "煤炭占比", "sec": "第二产业占比"}}

# internal names that must never reach a reader of the Chinese report
FORBIDDEN = ["Pre-trend power", "mean_treated_before", "bias_after", "_did_x_",
             "declining", "growing", "draws_requested", "wild_bootstrap()", "placebo_test()",
             "std_error", "p_value", "conf_low", "rel_time", "pre_1", "post_0"]
SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b")


def _text(path):
    """What a reader sees: the report's text without scripts, styles, images, and the
    provenance block (which quotes the panel's own column names)."""
    s = path.read_text(encoding="utf-8")
    s = re.sub(r"<(script|style|nav).*?</\1>", " ", s, flags=re.S)
    s = re.sub(r'src="data:[^"]*"', " ", s)
    s = s[:s.find('id="provenance"')]
    return html.unescape(re.sub(r"<[^>]+>", " ", s))


def _run(tmp_path_factory, lang):
    from policylab.study.pipeline import run_study

    d = tmp_path_factory.mktemp(f"paper_{lang}")
    spec = SPEC.replace("{lang}", lang)
    for k, v in LABELS[lang].items():
        spec = spec.replace("{" + k + "}", v)
    (d / "study.toml").write_text(spec, encoding="utf-8")
    summary = run_study(d / "study.toml", d / "out", progress=False)
    return summary, _text(summary.report_html)


@pytest.fixture(scope="module")
def en(tmp_path_factory):
    return _run(tmp_path_factory, "en")


@pytest.fixture(scope="module")
def zh(tmp_path_factory):
    return _run(tmp_path_factory, "zh")


def test_headline_first_with_the_recommended_interval(en):
    summary, text = en
    head = text[text.find("Main results at a glance"):text.find("1. Descriptive")]
    assert head, "the headline opens the report, before section 1"
    # 6 treated provinces: the wild bootstrap interval first, CRV1 labelled as such
    assert "(wild cluster bootstrap)" in head and "CRV1" in head
    assert "fewer than 10" in head
    wb = summary.steps[[s.key for s in summary.steps].index("wild_bootstrap")]
    r = wb.results["ln_co2_accounted"]
    assert f"[{r.conf_low:.3f}, {r.conf_high:.3f}] (wild cluster bootstrap)" in head
    for check in ("Joint pre-trend test (wild cluster bootstrap)", "Placebo test p",
                  "Wild cluster bootstrap p", "PSM balance after matching", "Steps"):
        assert check in head


def test_tables_and_figures_numbered_in_order(en):
    _, text = en
    tables = [int(n) for n in re.findall(r"Table (\d+)\. ", text)]
    figures = [int(n) for n in re.findall(r"Figure (\d+)\. ", text)]
    assert tables == list(range(1, len(tables) + 1)) and len(tables) >= 5
    assert figures == list(range(1, len(figures) + 1)) and len(figures) >= 3
    sections = re.findall(r"(?<!Table )(?<!Figure )\b(\d+)\. (Descriptive|Baseline|Parallel)",
                          text)
    # numbered in order (the setting / overview section, when present, comes first)
    nums = [int(n) for n, _ in sections]
    assert len(nums) == 3 and nums == list(range(nums[0], nums[0] + 3))


def test_test_statistics_where_a_paper_cites_them(en):
    summary, text = en
    es = next(s for s in summary.steps if s.key == "event_study")
    pt = es.numbers["pretrend_tests"]
    assert pt["recommended"] == "wild"
    fig = text[text.find("Event study: dynamic effects"):]
    note = fig[:fig.find("Figure", 10)]
    wald = pt["tests"]["wald"]
    assert f"F = {wald['statistic']:.2f}" in note and "(recommended)" in note
    assert note.find("wild cluster bootstrap") < note.find("cluster-robust Wald F")
    assert "Wild cluster bootstrap (Webb weights, 199 draws)" in text  # under baseline
    assert "Placebo test: 100 random reassignments" in text
    assert "Balance after matching" in text


def test_failed_check_is_warned_everywhere(en):
    summary, text = en
    psm = next(s for s in summary.steps if s.key == "psm_did")
    assert psm.status == "warned" and "balance" in psm.error
    assert "This step's own check failed" in text


def test_mechanical_identity_flagged_in_baseline(en):
    _, text = en
    start = re.search(r"\d+\. Baseline", text).start()
    base = text[start:text.find("Table", text.find("Table", start) + 1)]
    assert ("Columns (2) and (4) are identical by construction: ln CO2 intensity = ln CO2 "
            "- ln GDP") in base


def test_english_report_has_no_chinese_and_no_internal_names(en):
    _, text = en
    assert not re.search(r"[\u4e00-\u9fff]", text)
    for token in ("wild_bootstrap()", "placebo_test()", "std_error", "rel_time", "p_value"):
        assert token not in text


def test_chinese_report_is_chinese(zh):
    _, text = zh
    assert "主要结果概览" in text and "表1 " in text and "图1 " in text
    assert "野聚类自助法" in text and "平行趋势联合检验" in text
    bad = [t for t in FORBIDDEN if t in text]
    assert bad == []
    assert SNAKE.findall(text) == []

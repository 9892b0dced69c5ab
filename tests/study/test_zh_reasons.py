"""A Chinese report says in Chinese why something did not run or failed (issue 15): the
reasons are catalogue messages, worded in the report's language, and results.json
carries their keys (``error_key`` of a failed step, ``number_keys`` of a reason among a
step's numbers). An exception policylab did not word keeps its own text, inside a
Chinese sentence."""

import json
import re

import docx
import pytest

from conftest import run_grants_study, three_year_grants
from policylab.errors import EstimationError
from policylab.messages import Message
from policylab.study import steps

CJK = re.compile(r"[\u4e00-\u9fff]")
# two English words in a row (a sentence), not a name such as "Callaway-Sant'Anna"
ENGLISH = re.compile(r"[A-Za-z]{3,}[ ,]+[a-z]{3,}")


def _single_cluster(ctx):
    raise EstimationError(Message("wild.single_cluster", cluster="firm"))


def _unexpected(ctx):
    raise ValueError("boom from a library")


@pytest.fixture(scope="module")
def zh_run(tmp_path_factory):
    # six treated firms (few treated groups: the study wants the randomization pre-test
    # of Callaway-Sant'Anna first, which a three-year panel cannot give), one lead (the
    # HonestDiD bounds need two); the placebo step fails with policylab's keyed error,
    # the specification curve with an exception policylab did not word
    df = three_year_grants()
    treated = df.loc[df["did"] == 1, "firm"].unique()
    df.loc[df["firm"].isin(treated[6:]), "did"] = 0
    tmp = tmp_path_factory.mktemp("zh")
    battery = ("[battery.event_study]\nwindow = [-2, 1]\n\n[battery.pretrends]\ndraws = 99\n\n"
               "[battery.staggered]\nestimators = [\"att_gt\"]\npretest_draws = 99\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(steps.STEPS, "placebo", _single_cluster)
        mp.setitem(steps.STEPS, "spec_curve", _unexpected)
        res = run_grants_study(tmp, battery, ("baseline", "event_study", "pretrends",
                                              "staggered", "placebo", "spec_curve", "samples"),
                               df=df, formats='["html", "docx"]', language="zh")
    out = tmp / "out"
    html = (out / "report.html").read_text(encoding="utf-8")
    doc = docx.Document(out / "report.docx")
    text = "\n".join(p.text for p in doc.paragraphs)
    return res, html, text, out


def _line(text: str, start: str) -> str:
    found = [ln for ln in re.split(r"<[^>]+>|\n", text) if start in ln]
    assert found, start
    return found[0]


def test_a_keyed_failure_carries_its_key_and_reads_chinese(zh_run):
    res, html, text, out = zh_run
    pl = res["placebo"]
    assert pl["status"] == "failed"
    assert pl["error_key"] == {"key": "wild.single_cluster", "params": {"cluster": "firm"}}
    # results.json keeps the API's English beside the key
    assert pl["error"].startswith("bootstrap cluster 'firm' has a single value")
    for where in (html, text):
        line = _line(where, "此步骤运行失败：")
        assert "野聚类自助法至少需要两个聚类" in line and "企业" in line
        assert not ENGLISH.search(line), line


def test_an_unexpected_failure_keeps_its_text_in_a_chinese_sentence(zh_run):
    res, html, text, out = zh_run
    sc = res["spec_curve"]
    assert sc["status"] == "failed" and sc["error_key"] is None
    assert sc["error"] == "ValueError: boom from a library"
    for where in (html, text):
        assert "此步骤运行失败：ValueError: boom from a library" in where
    # the manifest lists it among the texts the report could not word
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "ValueError: boom from a library" in manifest["untranslated_warnings"]


def test_reasons_for_what_did_not_run_read_chinese_and_keep_their_keys(zh_run):
    res, html, text, out = zh_run
    pt = res["pretrends"]
    assert pt["status"] == "ok", pt["error"]
    assert pt["number_keys"]["not_run.honest_did"]["key"] == "pretrends.two_leads"
    line = _line(html, "未运行：HonestDiD敏感性分析")
    assert "敏感性分析需要除基准期外至少两个政策前时期" in line
    # the randomization lead test needs three periods before adoption: said under its table
    assert pt["number_keys"]["pretrend_tests_not_run.ri"]["key"] == "pretrend_ri.few_pre_periods"
    assert "随机化推断未运行：随机化推断需要首次实施之前至少有三期。" in html
    # Callaway-Sant'Anna's randomization pre-test needs three periods before adoption
    st = res["staggered"]
    assert st["numbers"]["att_gt_pretest_ri"]["p_value"] is None
    assert st["number_keys"]["att_gt_pretest_ri.reason"]["key"] == "cs_pretest.few_pre_periods"
    line = _line(html, "（随机化推断）未运行：")
    assert "首次实施（1988）之前至少有三期" in line
    for where in (html, text):
        for ln in re.split(r"<[^>]+>|\n", where):
            if "未运行" in ln or "失败" in ln:
                assert CJK.search(ln) and not ENGLISH.search(ln.replace(
                    "ValueError: boom from a library", "")), ln

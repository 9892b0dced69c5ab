"""Messages: estimators attach keys and numbers; every key's words (English and Chinese)
live in one catalogue (policylab.message_catalogue), and the report words a message by
its key in the reader's language.

The keys the source uses are read from src/ with ``ast`` (every ``Message("key", ...)``
call), so a new message without words, or words no code uses, fails here.
"""

from __future__ import annotations

import ast
import copy
import io
import pickle
import re
import string
import tokenize
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policylab.errors import PolicyLabWarning
from policylab.message_catalogue import CATALOGUE
from policylab.messages import (
    Message,
    message_from_record,
    message_key,
    message_record,
    render,
)
from policylab.report.labels import message_text, translate_warning

SRC = Path(__file__).resolve().parents[1] / "src" / "policylab"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _message_calls() -> list[tuple[str, list[str], list[str]]]:
    """(where, possible keys, keyword names) of every Message(...) call in src/."""
    calls = []
    for f in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Message"
                    and node.args):
                continue
            arg, keys = node.args[0], []
            for e in ([arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]):
                if isinstance(e, ast.Constant) and isinstance(e.value, str):
                    keys.append(e.value)
            where = f"{f.relative_to(SRC)}:{node.lineno}"
            calls.append((where, keys, [k.arg for k in node.keywords if k.arg]))
    return calls


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _key_strings_in_source() -> set[str]:
    """Every string constant in src/ (outside the catalogue) that is a catalogue key."""
    found = set()
    for f in SRC.rglob("*.py"):
        if f.name == "message_catalogue.py":
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in CATALOGUE:
                found.add(node.value)
    return found


def test_every_key_the_source_uses_has_english_and_chinese_words():
    calls = _message_calls()
    assert len(calls) > 40  # the reader found the calls (estimators, inference, study)
    for where, keys, kwargs in calls:
        for key in keys:
            assert key in CATALOGUE, f"{where}: {key!r} has no words in the catalogue"
            w = CATALOGUE[key]
            # every field of every wording is a parameter the call gives
            for lang, template in (("en", w.en), ("zh", w.zh), ("api", w.api or "")):
                missing = _fields(template) - set(kwargs)
                assert not missing, f"{where}: {key} ({lang}) needs {sorted(missing)}"
            declared = {*w.names, *w.levels, *w.categories, *w.categories.values()}
            assert declared <= set(kwargs), f"{where}: {key} declares {declared}"


def test_every_catalogue_entry_is_used_and_worded_in_both_languages():
    used = _key_strings_in_source()
    assert set(CATALOGUE) - used == set(), "words no code uses"
    for key, w in CATALOGUE.items():
        assert w.en.strip() and w.zh.strip(), key
        assert w.zh != w.en, f"{key}: the Chinese is the English"
        assert CJK.search(w.zh) or not re.sub(r"\{[^}]*\}|[：:\s]", "", w.zh), key
        # the report's words name no Python function or argument (the API's may)
        assert not re.search(r"\w+\(\)|\w+=", w.en + w.zh), key
        # the Chinese and the report's English use the same parameters
        assert _fields(w.zh) == _fields(w.en), key


def test_every_wording_formats_with_its_parameters():
    for key, w in CATALOGUE.items():
        params = {f: 1 for f in _fields(w.en) | _fields(w.zh) | _fields(w.api or "")}
        params.update({p: "c" for p in (*w.names, *w.levels, *w.categories.values())})
        m = Message(key, **params)
        assert str(m) and render(m, "zh") and render(m, "en")


def test_message_is_its_api_english_and_survives_processes():
    m = Message("placebo.few_draws", n=199, step=200)
    assert m == "only 199 placebo draws: p-values move in steps of 1/200"
    assert isinstance(m, str) and m.key == "placebo.few_draws" and m.params["n"] == 199
    for back in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert back == m and back.key == m.key and dict(back.params) == dict(m.params)
    with pytest.raises(TypeError):
        m.params["n"] = 5  # read-only
    with pytest.raises(KeyError, match="message_catalogue"):
        Message("no.such.key")
    assert message_key(m) == "placebo.few_draws" and message_key("plain text") is None


def test_report_words_by_key_with_the_spec_labels():
    m = Message("psm.unbalanced", vars=["ln_gdp", "fdi"])
    assert m.endswith("for ['ln_gdp', 'fdi']")  # the API's English, as before
    assert message_text(m, "en", {"ln_gdp": "ln GDP"}) == (
        "Balance not reached after matching (|standardized bias| >= 10%) for: ln GDP, fdi.")
    assert message_text(m, "zh", {"ln_gdp": "经济发展水平"}) == (
        "匹配后以下协变量未达到平衡（标准化偏差绝对值≥10%）：经济发展水平、fdi。")
    # a message inside a message (a step's "not run: why") is worded in the same language
    nested = Message("study.not_run", reason=Message("study.no_mediators"))
    assert nested == "Not run: no mediators given (battery.mediation.mediators)"
    assert message_text(nested, "zh") == "未运行：研究设定中未给出中介变量。"
    # recognition is by key, the same in every language
    for lang in ("en", "zh"):
        assert translate_warning(m, lang)[1] and not translate_warning(str(m), lang)[1]


def _panel(n_units: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_units):
        for t in range(2000, 2008):
            d = int(u < 4 and t >= 2004)
            rows.append({"unit": u, "year": t, "d": d, "x": rng.normal(),
                         "y": 0.5 * d + rng.normal()})
    return pd.DataFrame(rows)


def test_estimator_warnings_are_keyed_and_warn_in_english():
    import policylab as pl

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PolicyLabWarning)
        res = pl.did(_panel(), y="y", treat="d", unit="unit", time="year")
    keys = [message_key(w) for w in res.warnings]
    assert "did.few_treated_clusters" in keys and None not in keys
    shown = [str(w.message) for w in caught if issubclass(w.category, PolicyLabWarning)]
    assert any(s.startswith("only 4 treated unit clusters") for s in shown)
    zh = translate_warning(res.warnings[keys.index("did.few_treated_clusters")], "zh")[0]
    assert zh.startswith("处理组仅有4个个体聚类")


def test_a_refused_design_says_why_in_the_report_language():
    import policylab as pl
    from policylab.estimators.design import DesignNotHonoured, build_design
    from policylab.messages import reason_of

    gen = pd.read_csv(SRC.parents[1] / "tests" / "validation" / "data" / "imputation_fe.csv")
    d = build_design(gen, unit="unit", time="year", cohort="cohort", weights="w",
                     fe="unit + year + region^year")
    with pytest.raises(DesignNotHonoured) as caught:
        pl.bacon_decomposition(d, y="y")
    why = reason_of(caught.value)
    # the exception reads as before for the Python user ...
    assert str(caught.value) == str(why) and str(why).startswith(
        "the Bacon decomposition cannot honour the design's weights ('w'); fixed effects")
    assert message_key(why) == "design.not_honoured"
    # ... and the report words every part of it
    zh = message_text(why, "zh", {"w": "人口权重"})
    assert zh.startswith("Goodman-Bacon分解无法处理研究设计中的权重（人口权重）、")
    assert "region^year" in zh and not re.search(r"[a-z]{4,} [a-z]{4,}", zh)
    assert reason_of(ValueError("plain")) == "plain"
    # a keyed reason is fully worded; an exception's own text inside a message is not,
    # and the run lists it among the untranslated warnings
    assert translate_warning(Message("study.not_run", reason=why), "zh")[1]
    foreign = Message("study.not_run", reason=reason_of(ValueError("plain")))
    assert translate_warning(foreign, "zh") == ("未运行：plain", False)


def test_a_message_record_survives_json_and_words_the_same_in_both_languages():
    import json

    reason = Message("design.not_honoured", what="att_gt", parts=["weights", "fe"])
    m = Message("compare.not_run", name="Callaway-Sant'Anna", why=reason)
    rec = message_record(m)
    assert rec == {"key": "compare.not_run", "params": {
        "name": "Callaway-Sant'Anna",
        "why": {"key": "design.not_honoured",
                "params": {"what": "att_gt", "parts": ["weights", "fe"]}}}}
    back = message_from_record(json.loads(json.dumps(rec)))
    assert back == m and back.key == m.key
    for lang in ("en", "zh"):
        assert render(back, lang) == render(m, lang)
    assert render(m, "zh").endswith("运行。") and not render(m, "zh").endswith("。。")
    assert message_record("a library's own warning") is None


def test_the_staggered_estimators_refusals_read_in_the_report_language():
    # the reasons a study shows for an estimator it could not run (an unbalanced panel
    # in which every unit adopts) are catalogue messages, so a Chinese report reads
    # Chinese and the manifest has nothing untranslated to list
    import policylab as pl
    from policylab.errors import PolicyLabError
    from policylab.messages import reason_of

    d = pd.read_csv(Path(__file__).resolve().parent / "validation" / "data" / "mpdta.csv")
    d = d[d["first.treat"] > 0]  # every county adopts: no never-treated units
    gap = d.drop(index=d.index[[0, 7]])  # two county-years missing: unbalanced
    kw = dict(y="lemp", unit="countyreal", time="year", cohort="first.treat")
    cases = [(pl.sun_abraham, d, "sunab.no_never_treated"),
             (pl.bacon_decomposition, gap, "bacon.unbalanced"),
             (pl.did_imputation, d, "imputation.not_identified")]
    english = re.compile(r"[A-Za-z]{3,}(?: [A-Za-z]{3,}){2,}")
    for fn, data, key in cases:
        with pytest.raises(PolicyLabError) as err:
            fn(data, **kw)
        why = reason_of(err.value)
        assert message_key(why) == key, fn.__name__
        zh = render(why, "zh")
        assert CJK.search(zh) and not english.search(zh), zh
        # the Python user still reads the API's English, naming what to do
        assert str(err.value) == str(why) and not CJK.search(str(why))
    # the study samples instead when a placebo cannot be enumerated, and says why
    full = pd.read_csv(Path(__file__).resolve().parent / "validation" / "data" / "mpdta.csv")
    base = pl.did(full, **kw)
    with pytest.raises(PolicyLabError) as err:
        pl.placebo_test(base, exact=True, draws=9)
    why = reason_of(err.value)
    assert message_key(why) == "placebo.exact_needs_one_date" and "exact=False" in str(why)
    note = Message("placebo.exact_impossible", why=why, draws=9)
    assert CJK.search(render(note, "zh")) and not english.search(render(note, "zh"))
    with pytest.raises(PolicyLabError, match=r"control_cohort='last'"):
        pl.sun_abraham(d, **kw)
    with pytest.raises(PolicyLabError, match=r"autosample=True"):
        pl.did_imputation(d, **kw)


def test_every_report_word_has_chinese_words_without_an_english_sentence():
    # the report's own words (report/labels.py) beside the messages: every English word
    # has its Chinese, and no Chinese word is an English phrase (names such as
    # "Callaway-Sant'Anna" or "Rubin's B" are fine, two English words in a row are not)
    from policylab.report import labels as L

    english = re.compile(r"[A-Za-z]{3,}[ ,]+[a-z]{3,}")
    tables = {name: getattr(L, name) for name in ("WORDS", "REPORT", "FIGURES", "VALUES",
                                                  "ESTIMATOR_NAMES", "STEP_TITLES")}
    tables["COLUMNS"] = {"en": L.COLUMNS_EN, "zh": L.COLUMNS_ZH}
    for name, t in tables.items():
        assert set(t["en"]) <= set(t["zh"]), (name, sorted(set(t["en"]) - set(t["zh"])))
        for key, zh in t["zh"].items():
            assert not english.search(re.sub(r"\{[^}]*\}", "", zh)), (name, key, zh)
    for key, w in CATALOGUE.items():
        assert not english.search(re.sub(r"\{[^}]*\}", "", w.zh)), (key, w.zh)
    # the estimators' names a Chinese table or legend shows
    assert L.cell_label("Imputation (BJS)", "zh", {}) == "插补估计量（BJS）"
    assert L.cell_label("later vs earlier treated", "zh", {}) == "晚处理组 vs 早处理组"
    assert L.cell_label("city", "zh", {}) == "城市" and L.cell_label("city", "en", {}) == "city"
    # a message's name param: an analysis by its name, a column by the spec's label
    m = Message("study.estimator_not_run", name="honest_did", reason=Message(
        "pretrends.two_leads"))
    assert message_text(m, "zh") == "未运行：HonestDiD敏感性分析：敏感性分析需要除基准期外至少两个政策前时期。"
    assert message_text(Message("compare.not_run", name="group", why="x"), "en") == (
        "group was not run: x.")


# Chinese ideographs, CJK punctuation (、。) and full-width forms (：，（）)
_CJK_OR_FULL_WIDTH = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _code_strings_with_cjk(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string token in ``path`` holding Chinese, docstrings and
    comments left out (comments are not string tokens; docstrings are found by ast)."""
    text = path.read_text(encoding="utf-8")
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.add(body[0].lineno)
    kinds = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    return [(tok.start[0], tok.string)
            for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            if tok.type in kinds and _CJK_OR_FULL_WIDTH.search(tok.string)
            and not (tok.type == tokenize.STRING and tok.start[0] in docstrings)]


def test_the_checker_sees_chinese_in_code_but_not_in_docstrings_or_comments(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""模块。"""\n\n\ndef g(lang):\n    """函数。"""\n    # 注释\n'
                 '    return "x" if lang == "en" else f"第{lang}列"\n', encoding="utf-8")
    assert [line for line, _ in _code_strings_with_cjk(f)] == [7]


def test_figures_tables_and_steps_hold_no_chinese_words_of_their_own():
    # every zh/en word of the figures and the battery lives in report/labels.py (issue 15)
    files = [*sorted((SRC / "report" / "figures").glob("*.py")), SRC / "report" / "tables.py",
             *(SRC / "study" / f"{m}.py" for m in ("steps", "render", "frame"))]
    found = {str(f.relative_to(SRC)): hits for f in files if (hits := _code_strings_with_cjk(f))}
    assert not found, found


def test_every_figure_word_is_in_english_and_chinese_with_the_same_placeholders():
    from policylab.report.labels import FIGURE_WORDS, figure_words

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}

    for figure, table in FIGURE_WORDS.items():
        assert set(table) == {"en", "zh"}, figure
        assert set(table["en"]) == set(table["zh"]), figure
        for key, en in table["en"].items():
            zh = table["zh"][key]
            assert en and zh and fields(en) == fields(zh), (figure, key)
        # a language without words of its own reads the English ones
        assert figure_words(figure, "fr") == table["en"]
    assert figure_words("bacon", "zh")["twfe"].format(v=0.0691) == "双向固定效应 = 0.069"

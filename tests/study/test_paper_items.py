"""Every item of the two reference studies has its place in the report, produced from
the example specs (examples/*.toml) on the bundled synthetic data.

Fast settings: the slow steps these tests do not look at are switched off and the
resampling steps draw little; the items themselves are checked by section id (step key)
and table / figure key in results.json, report.html and the table files.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import pytest

from policylab.data.datasets import energy_rights_pilot
from policylab.report.numbers import format_p
from policylab.study.pipeline import run_study
from policylab.study.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
OFF = ("staggered", "pretrends", "placebo", "wild_bootstrap", "spec_curve", "moderation")


def _fast(spec):
    b = spec.battery
    for key in OFF:
        getattr(b, key).enabled = False
    b.samples = []
    b.mediation.draws = 49
    b.heterogeneity.permutation_draws = 0
    spec.output.formats = ["html", "md", "csv"]
    return spec


def _run(tmp, name):
    spec = _fast(load_spec(ROOT / "examples" / f"{name}.toml"))
    if name == "energy_rights_pilot":
        spec.battery.moderation.enabled = True  # its interaction terms reach the zh report
        # the example reads its CSV: the same synthetic study, bundled
        energy_rights_pilot().df.to_csv(tmp / "energy.csv", index=False)
        spec.data.path = str(tmp / "energy.csv")
    summary = run_study(ROOT / "examples" / f"{name}.toml", tmp / "out", spec=spec,
                        progress=False)
    out = summary.out_dir
    return (json.loads((out / "results.json").read_text(encoding="utf-8")),
            (out / "report.html").read_text(encoding="utf-8"), out)


@pytest.fixture(scope="module")
def carbon(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("carbon"), "carbon_trading_pilot")


@pytest.fixture(scope="module")
def energy(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("energy"), "energy_rights_pilot")


def _table(out: Path, step: str, key: str) -> str:
    return (out / "tables" / f"{step}_{key}.md").read_text(encoding="utf-8")


def _csv(out: Path, step: str, key: str):
    import pandas as pd

    return pd.read_csv(out / "tables" / f"{step}_{key}.csv")


def test_carbon_overview_pilots_factors_definitions(carbon):
    res, html, out = carbon
    ov = res["overview"]
    assert ov["status"] == "ok"
    pilots = ov["numbers"]["pilots"]
    # the roster's seven markets (six provinces and Shenzhen), with opening and firms
    assert len(pilots) == 7
    assert {"Beijing", "Shenzhen", "Hubei"} <= {p["Pilot market"] for p in pilots}
    beijing = next(p for p in pilots if p["Pilot market"] == "Beijing")
    assert beijing["Trading from"] == "2013-11-28" and beijing["Firms first covered"] == 415
    # the paper's initial prices (yuan/t), ranges as printed; none published for Shenzhen
    assert beijing["Initial price (yuan/t)"] == "50-80"
    shenzhen = next(p for p in pilots if p["Pilot market"] == "Shenzhen")
    assert shenzhen["Initial price (yuan/t)"] in (None, "")
    # Table 2: coal coefficient x carbon factor; the CO2 factor is carbon x 44/12
    fac = ov["numbers"]["factors_carbon_trading_study"]
    coal = next(r for r in fac if r["Fuel"] == "Raw coal")
    assert coal["Coal-equivalent coefficient"] == pytest.approx(0.7143)
    assert coal["Coefficient unit"] == "kgce/kg"
    gas = next(r for r in fac if r["Fuel"] == "Natural gas")
    assert gas["Coefficient unit"] == "kgce/m3" and gas["Unit of use"] == "100 million m3"
    assert coal["CO2 emission factor (t CO2/t ce)"] == pytest.approx(0.7559 * 44 / 12)
    defs = {r["column"]: r for r in ov["numbers"]["definitions"]}
    assert defs["tech"]["Unit"] == "%" and "technology" in defs["tech"]["Definition"]
    assert list(defs)[:3] == ["ln_co2_accounted", "ln_intensity", "did"]
    # the papers' variable types, written once per run (the merged cell)
    types = [r["Type"] for r in ov["numbers"]["definitions"]]
    assert types[:4] == ["Dependent variable", "", "Core explanatory variable",
                         "Control variables"]
    assert "Symbol" not in defs["tech"]  # no symbols in the spec: no symbol column
    for key in ("pilots", "factors_carbon_trading_study", "definitions"):
        assert (out / "tables" / f"overview_{key}.md").is_file()
        # the panel's sample line belongs under the estimation tables, not the setting's
        assert "Sample:" not in _table(out, "overview", key)
    assert "Sample: 570 observations" in _table(out, "baseline", "baseline")
    # PSM-DID's own note gives its matched sample; the panel's line would contradict it
    assert "Sample: 570 observations" not in _table(out, "psm_did", "psm_did")
    assert "Shenzhen" in html and "Raw coal" in html
    # the definitions are in their own table, so the descriptives do not repeat them;
    # treated and control sit under group headers (Control group: N, Mean, SD, ...)
    desc = _csv(out, "descriptives", "descriptives")
    assert "Definition" not in desc.columns
    assert {"Control group: Mean", "Treated group: SD", "Treated group: N"} <= set(desc.columns)


def test_carbon_baseline_shows_the_controls(carbon):
    res, _, out = carbon
    md = _table(out, "baseline", "baseline")
    assert "ln GDP" in md and "FDI / GDP" in md
    # four models: both outcomes without and with controls
    assert "(4)" in md and "(5)" not in md
    base = res["baseline"]["results"]["ln_co2_accounted"]["tidy"]
    fdi = next(r for r in base if r["term"] == "fdi")["estimate"]
    assert f"{fdi:.3f}" in md
    # ln intensity = ln CO2 - ln real GDP and ln GDP is a control: flagged, not hidden
    assert res["baseline"]["numbers"]["identities"] == [["ln_co2_accounted", "ln_intensity"]]
    assert any("mechanical identity" in w for w in res["baseline"]["warnings"])
    # Chinese journals' style: the constant (Stata's _cons) below the controls
    lines = md.split("\n")
    const = next(i for i, ln in enumerate(lines) if ln.startswith("| Constant"))
    assert const > next(i for i, ln in enumerate(lines) if ln.startswith("| FDI / GDP"))
    assert lines[const + 1].count("(") == 4  # its standard errors, every column


def test_energy_outcomes_are_not_flagged_as_identities(energy):
    # domestic and abroad transfer are not a control away from each other
    assert energy[0]["baseline"]["numbers"]["identities"] == []


def test_carbon_psm_four_columns_on_the_matched_sample(carbon):
    res, _, out = carbon
    psm = res["psm_did"]
    assert psm["numbers"]["did_sample"] == "matched"
    assert {"ln_co2_accounted", "ln_co2_accounted (no controls)", "ln_intensity",
            "ln_intensity (no controls)"} <= set(psm["results"])
    md = _table(out, "psm_did", "psm_did")
    assert "(4)" in md and "(5)" not in md
    # the columns are the four DIDs, in the order outcome x (no controls, controls)
    no_c = psm["results"]["ln_intensity (no controls)"]["tidy"][0]["estimate"]
    assert f"{no_c:.3f}" in md.split("\n")[md.split("\n").index(next(
        ln for ln in md.split("\n") if ln.startswith("| Pilot x Post")))]
    assert (out / "tables" / "psm_did_balance.md").is_file()
    # the paper matched the pooled province-years; the note says how the sample was made
    assert psm["numbers"]["design"] is not None
    assert "unit-years matched pooled across years" in md and "Constant" in md
    # the step's own balance check: warned, not "ok", while a covariate stays unbalanced
    assert psm["status"] == "warned" and psm["numbers"]["check_failed"]["balance"]
    assert any("pooled matching" in w for w in psm["warnings"])


def test_event_study_and_raw_trends_for_every_outcome(carbon, energy):
    for (res, _, out), outcomes in ((carbon, ["ln_co2_accounted", "ln_intensity"]),
                                    (energy, ["ln_ntt", "ln_ntt_domestic", "ln_ntt_abroad"])):
        es = res["event_study"]
        assert set(es["numbers"]["pretrend_test_by_outcome"]) == set(outcomes)
        figs = {p.stem for p in (out / "figures").glob("event_study_*.png")}
        for i, y in enumerate(outcomes):
            sfx = "" if i == 0 else f"_{y}"
            assert f"event_study_event_study{sfx}" in figs
            assert f"event_study_parallel_trends{sfx}" in figs
            assert f"event_study{sfx}" in es["results"]
        # the first outcome keeps its keys (later steps and earlier runs use them)
        assert es["numbers"]["pretrend_test"] == es["numbers"]["pretrend_test_by_outcome"][outcomes[0]]
        # the joint pre-trend test the papers cite sits under each event-study table
        for i, y in enumerate(outcomes):
            md = _table(out, "event_study", "event_study" + ("" if i == 0 else f"_{y}"))
            stat = es["numbers"]["pretrend_test_by_outcome"][y]["statistic"]
            header = next(ln for ln in md.splitlines() if ln.startswith("|"))
            cells = [c.strip() for c in header.strip("|").split("|")]
            assert cells[0] in ("Event time", "相对时间")  # one name per row, not two
            assert not {"Term", "变量"} & set(cells)
            assert f"F({es['numbers']['pretrend_test_by_outcome'][y]['df1']}, " in md
            assert f"= {stat:.3f}" in md
            # the recommended test is quoted first, by name (few treated clusters here)
            leads = es["numbers"]["pretrend_tests_by_outcome"][y]
            rec = leads["tests"][leads["recommended"]]
            notes = [ln for ln in md.split("\n") if "F(" in ln or "Wald(" in ln]
            assert f"p = {format_p(rec['p_value'], 3)}" in notes[0]
            if leads["recommended"] == "wild" and "carbon" in str(out):
                assert "(recommended: wild cluster bootstrap" in notes[0]


def test_carbon_mediation_three_equations_with_same_year_runs(carbon):
    res, html, out = carbon
    med = res["mediation"]
    assert med["status"] == "ok"
    # each outcome, with the lags and without them (the runs that motivated the lags)
    assert {"mediation lag ln_intensity", "mediation same_year ln_co2_accounted",
            "mediation same_year ln_intensity"} <= set(med["results"])
    md = _table(out, "mediation", "mediation_tech")
    # same year (a, Y1, Y2) then two-period lag (a, Y1, Y2)
    assert "Same year" in md and "2-period lag" in md and "(6)" in md
    for row in ("Total effect c", "Indirect effect a×b", "Sobel p", "Share mediated"):
        assert row in md
    eff = med["results"]["mediation"]["tidy"]
    tech = next(r for r in eff if r["term"] == "tech_lag2")
    assert f"{tech['a']:.3f}" in md and f"{tech['b']:.3f}" in md
    if tech["share"] is not None:
        assert f"{100 * tech['share']:.2f}%" in md
    summary = _table(out, "mediation", "mediation_effects")
    assert "Sobel p" in summary and "Share mediated" in summary and "c_prime" not in summary
    if tech["sobel_p"] < 0.001:
        assert "<0.001" in summary
    if tech["share"] is not None:  # one format for the share, the papers' (24.40%)
        assert f"{100 * tech['share']:.2f}%" in summary
    # all mediators in one model: its own title, its rows named in words
    joint = _table(out, "mediation", "mediation_joint")
    assert "Mediation through all mediators together" in joint
    # N is 510 there (two-period lags): the panel's "570 observations" line would clash
    assert "Sample: 570 observations" not in joint
    assert "joint:" not in summary and "(all mediators in one model)" in summary
    # the coal share has no lag: its table has one block (a, Y1, Y2)
    coal = _table(out, "mediation", "mediation_coal_share")
    assert "(3)" in coal and "(4)" not in coal
    figs = {p.stem for p in (out / "figures").glob("mediation_*.png")}
    assert {"mediation_mediation_path", "mediation_mediation_path_ln_intensity"} <= figs


def test_energy_mechanism_tests_in_the_papers_form(energy):
    res, _, out = energy
    mech = res["mechanisms"]
    assert mech["status"] == "ok"
    for m, sign in (("elec_share", 1), ("energy_intensity", -1), ("market", 1)):
        a = mech["results"][f"{m}: policy"]["tidy"]
        did_row = next(r for r in a if r["term"] in ("did", "_did"))
        # the generator moves each mechanism with the policy (+0.03, -0.05, +0.25)
        assert sign * did_row["estimate"] > 0 and did_row["p_value"] < 0.05, m
        on = mech["results"][f"{m}: outcome"]["tidy"]
        assert [r["term"] for r in on][0] == m
    md = _table(out, "mechanisms", "mechanisms")
    assert "(6)" in md and "(7)" not in md
    assert "能源结构（电力占比）" in md and "市场化水平" in md


def test_energy_heterogeneity_pooled_column_and_spec_order(energy):
    res, _, out = energy
    het = res["heterogeneity"]
    md = _table(out, "heterogeneity", "heterogeneity_resource_type")
    head = next(ln for ln in md.split("\n") if "成长型城市" in ln)
    cells = [c.strip() for c in head.strip("|").split("|")]
    assert cells[1:] == ["资源型城市", "成长型城市", "成熟型城市", "衰退型城市", "再生型城市",
                         "非资源型城市"]
    pooled = het["results"]["resource_type: 资源型城市"]
    # the pooled column is the four resource-based types together
    df = energy_rights_pilot().df
    assert pooled["nobs"] == int((df["resource_type"] != "non-resource").sum())
    old = _table(out, "heterogeneity", "heterogeneity_old_industrial")
    assert "老工业基地" in old and "非老工业基地" in old


def test_energy_psm_matched_and_definitions(energy):
    res, html, out = energy
    assert res["psm_did"]["numbers"]["did_sample"] == "matched"
    md = _table(out, "psm_did", "psm_did")
    assert "(6)" in md
    pilots = res["overview"]["numbers"]["pilots"]
    assert sorted(p["试点市场"] for p in pilots) == sorted(["浙江", "福建", "河南", "四川"])
    assert {p["开市时间"] for p in pilots} == {"2017-01-01"} and "首批纳入企业数" not in pilots[0]
    defs = res["overview"]["numbers"]["definitions"]
    assert {"变量类型", "变量名称", "变量定义", "单位", "数据来源", "column"} == set(defs[0])
    assert defs[0]["变量类型"] == "被解释变量"
    assert "变量定义" in html


def test_path_diagram_draws_the_coefficients_and_leaves_rcparams_alone():
    import matplotlib

    from policylab.report.figures.mediation_path import mediation_path_figure

    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    paths = [{"mediator": "M1", "a": 0.3, "a_p": 0.001, "b": 0.1, "b_p": 0.2,
              "c_prime": -0.2, "c_prime_p": 0.03, "c": -0.23, "c_p": 0.0001},
             {"mediator": "M2", "a": -1.5, "a_p": 0.08, "b": 0.02, "b_p": 0.009,
              "c_prime": -0.19, "c_prime_p": 0.5, "c": -0.23, "c_p": 0.0001}]
    fig = mediation_path_figure(paths, treatment="D", outcome="Y", digits=3)
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"a = 0.300***", "b = 0.100", "c' = -0.200**  (c = -0.230***)",
            "a = -1.500*", "b = 0.020***", "c' = -0.190  (c = -0.230***)"} <= texts
    assert {"D", "M1", "M2", "Y"} <= texts
    assert len(fig.axes) == 2
    assert dict(matplotlib.rcParams) == before and matplotlib.get_backend() == backend
    matplotlib.pyplot.close(fig)


# internal names that must never reach a reader of the Chinese report
SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b")


def _reader_text(html_text: str) -> str:
    """What a reader sees: no scripts, styles, images or the provenance block."""
    s = re.sub(r"<(script|style|nav).*?</\1>", " ", html_text, flags=re.S)
    s = re.sub(r'src="data:[^"]*"', " ", s)
    s = s[:s.find('id="provenance"')]
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", s))


def test_energy_zh_report_has_no_internal_names_and_every_warning_translated(energy):
    _, html, out = energy
    text = _reader_text(html)
    assert SNAKE.findall(text) == []
    for token in ("_did_x_", "p = <", "enters with a", "permutation draws", "Mean outcome"):
        assert token not in text
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["untranslated_warnings"] == []
    # the moderation table names the interaction by the spec's labels
    md = _table(out, "moderation", "moderation")
    assert "用能权交易试点×能源结构（电力占比）" in md


def test_carbon_report_words_every_warning_by_its_key(carbon):
    # policylab's own warnings are messages with keys, worded in the report's language
    # (every key has Chinese words too: tests/test_messages.py); only text policylab did
    # not write could be left untranslated, and the study writes none
    res, html, out = carbon
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["untranslated_warnings"] == []
    warned = [w for step in res.values() if isinstance(step, dict)
              for w in step.get("warnings", [])]
    assert warned  # the carbon study has few treated clusters: the report says so
    text = _reader_text(html)
    for api_only in ("wild_bootstrap()", "placebo_test()", "meta['dropped']"):
        assert api_only not in text


def test_results_json_keys_every_warning_beside_its_text(carbon):
    # "warnings" stays a list of texts (the API's English); "warning_keys" holds, at the
    # same place, each one's catalogue key and params, from which any language is worded
    from policylab.message_catalogue import CATALOGUE
    from policylab.messages import message_from_record, render

    res, _, _ = carbon
    pairs = []
    for step in res.values():
        assert len(step["warning_keys"]) == len(step["warnings"])
        pairs += zip(step["warnings"], step["warning_keys"], strict=True)
        assert step["error_key"] is None or step["error_key"]["key"] in CATALOGUE
        for r in step["results"].values():
            pairs += zip(r.get("warnings", []), r.get("warning_keys", []), strict=True)
    keyed = [(text, rec) for text, rec in pairs if rec is not None]
    assert keyed and len(keyed) == len(pairs)  # policylab wrote every one of them
    for text, rec in keyed:
        m = message_from_record(rec)
        assert str(m) == text
        assert render(m, "zh") != render(m, "en")
    skipped = [s for s in res.values() if s["status"] == "skipped"]
    assert skipped and all(s["error_key"]["key"] in CATALOGUE for s in skipped)


def test_carbon_report_tables_in_paper_layout(carbon):
    _, html, out = carbon
    text = _reader_text(html)
    assert SNAKE.findall(text) == []
    # every figure has its own caption (no bare "Figure n. Figure")
    assert not re.search(r"Figure \d+\. Figure\b", text)
    assert "Event study: dynamic effects (ln CO2 intensity)" in text
    # balance in pstest layout: unmatched and matched rows, nine columns
    bal = _csv(out, "psm_did", "balance")
    assert list(bal.columns[:3]) == ["Variable", "Sample", "Mean treated"]
    assert list(bal["Sample"][:2]) == ["Unmatched", "Matched"]


"""`policylab run` prints its console summary in the study's language (the spec's
``output.language``), with words from the report's catalogue; cli.py itself holds no
Chinese."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import run_grants_study
from policylab.cli import app
from policylab.errors import EstimationError
from policylab.messages import Message
from policylab.study import steps
from test_messages import _code_strings_with_cjk

CJK = re.compile(r"[\u4e00-\u9fff]")


def _single_cluster(ctx):
    raise EstimationError(Message("wild.single_cluster", cluster="firm"))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_run_summary_speaks_the_studys_language(tmp_path, monkeypatch, language):
    # the baseline and a placebo step failing with policylab's keyed error: the
    # summary's words, not the battery, are under test; the helper writes the spec (and
    # runs it once), the command runs it again
    monkeypatch.setitem(steps.STEPS, "placebo", _single_cluster)
    run_grants_study(tmp_path, "", ("baseline", "placebo", "samples"), language=language)
    r = CliRunner().invoke(app, ["run", str(tmp_path / "study.toml"), "--out",
                                 str(tmp_path / "out")])
    assert r.exit_code == 1, r.output  # a step failed
    placebo = " ".join(r.output[r.output.index("  placebo "):].split())
    # the step's line of the summary (the progress bar above it names the step too)
    baseline = next(ln for ln in r.output.splitlines() if ln.startswith("  baseline "))
    if language == "zh":
        # status, warning count and seconds in Chinese: no Latin letter after the key
        assert "完成" in baseline and baseline.endswith("秒")
        assert not re.search("[A-Za-z]", baseline.replace("baseline", ""))
        # (the console wraps the long output path: only the line's start is read)
        assert re.search(r"^用时[\d.]+秒（计算[\d.]+秒.*；输出目录：", r.output, re.M)
        assert "finished" not in r.output and "outputs in" not in r.output
        # the failed step's reason from its key, in Chinese
        assert placebo.startswith("placebo 失败") and "野聚类自助法至少需要两个聚类" in placebo
    else:
        assert " ok" in baseline and not CJK.search(r.output)
        # the API's English, as before
        assert placebo.startswith("placebo failed") and "'firm' has a single value" in placebo
        assert re.search(r"^finished in [\d.]+s \(computing [\d.]+s.*; outputs in ",
                         r.output, re.M)


def test_cli_holds_no_chinese_words_of_its_own():
    # its words live in report/labels.py (the one catalogue)
    cli = Path(__file__).resolve().parents[2] / "src" / "policylab" / "cli.py"
    assert _code_strings_with_cjk(cli) == []


@pytest.mark.parametrize(("study", "expected"), [
    ("carbon_trading_pilot", "running the carbon_trading_pilot example ("),
    ("energy_rights_pilot", "运行示例研究 energy_rights_pilot（")])
def test_the_demo_announces_its_example_in_the_examples_language(monkeypatch, tmp_path,
                                                                 study, expected):
    # the run itself is the test above's; here only the line printed before it
    import policylab.cli as cli

    ran = []
    monkeypatch.setattr(cli, "run", lambda spec, out, **kw: ran.append(spec))
    r = CliRunner().invoke(app, ["demo", "--study", study, "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert " ".join(r.output.split()).startswith(expected), r.output
    assert ran and ran[0].name == f"{study}.toml"

"""The HTML report in a real browser (headless Chromium, Debian package `chromium`)."""

import re
import shutil
import subprocess

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

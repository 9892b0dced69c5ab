"""The report's frame (policylab.study.frame): identities, statuses, warnings, figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from policylab.messages import Message  # noqa: E402
from policylab.report.labels import translate_warning  # noqa: E402
from policylab.study.frame import (  # noqa: E402
    crv1_note,
    degenerate,
    fmt_p,
    identities,
    p_is,
    pretrend_tests,
    settle_status,
)
from policylab.study.pipeline import StepOutput  # noqa: E402


def test_identity_found_on_the_data_not_the_names():
    rng = np.random.default_rng(3)
    n = 200
    a, b, c = (rng.normal(size=n) for _ in range(3))
    df = pd.DataFrame({"out_a": a, "ctl": c, "noise": rng.normal(size=n)})
    df["out_b"] = df["out_a"] - df["ctl"]  # e.g. ln intensity = ln CO2 - ln GDP
    df.loc[5, "out_a"] = np.nan  # a missing row does not hide the identity
    assert identities(df, ["out_a", "out_b"], ["noise", "ctl"]) == [
        ("out_a", "out_b", "ctl", "+")]
    assert identities(df, ["out_b", "out_a"], ["ctl"]) == [("out_b", "out_a", "ctl", "-")]
    df["out_b"] += 1e-4 * b  # no longer exact: nothing to flag
    assert identities(df, ["out_a", "out_b"], ["ctl"]) == []


def test_p_values_print_as_papers_print_them():
    assert fmt_p(0.0004) == "<0.001" and p_is(0.0004) == "p < 0.001"
    assert p_is(0.0941) == "p = 0.094"
    assert fmt_p(float("nan")) == ""


class _Balance:
    def __init__(self, ok):
        self.table = pd.DataFrame({"variable": ["x1", "x2"], "balanced": ok})


class _Psm:
    def __init__(self, ok):
        self.balance = _Balance(ok)


def test_failed_balance_makes_the_step_warned_not_ok():
    out = StepOutput("psm_did", "PSM-DID", results={"y": _Psm([True, False])})
    settle_status(out)
    assert out.status == "warned" and "x2" in out.error and "x1" not in out.error
    good = StepOutput("psm_did", "PSM-DID", results={"y": _Psm([True, True])})
    settle_status(good)
    assert good.status == "ok" and good.error is None
    failed = StepOutput("psm_did", "PSM-DID", status="failed", error="boom",
                        results={"y": _Psm([False, False])})
    settle_status(failed)
    assert failed.status == "failed" and failed.error == "boom"


def test_messages_worded_by_key_foreign_text_reported():
    w = Message("did.few_treated_clusters", n=6, level="province")
    # the Python user reads the API's English, naming the functions to call
    assert "report wild_bootstrap() and placebo_test()" in w and w.startswith("only 6 treated")
    zh, known = translate_warning(w, "zh", {})
    assert known and "6" in zh and "省份" in zh and "wild_bootstrap" not in zh
    en, known = translate_warning(w, "en", {})
    assert known and "wild_bootstrap()" not in en and "6 treated province" in en
    bal = Message("psm.unbalanced", vars=["ln_gdp", "fdi"])
    assert str(bal).endswith("for ['ln_gdp', 'fdi']")
    zh, known = translate_warning(bal, "zh", {"ln_gdp": "经济发展水平"})
    assert known and "经济发展水平" in zh and "ln_gdp" not in zh and "fdi" in zh
    sub = Message("heterogeneity.few_treated_clusters", col="resource_type",
                  value="declining", n=3, level="province")
    zh, _ = translate_warning(sub, "zh", {"resource_type": "资源型城市类型"})
    assert "资源型城市类型" in zh and "衰退型" in zh and "declining" not in zh
    # text policylab did not write (a library's warning) is shown as is and reported
    text, known = translate_warning("something new", "zh", {})
    assert (text, known) == ("something new", False)
    # the same English sentence as a plain string is not a message: no guessing by pattern
    assert translate_warning(str(w), "zh", {}) == (str(w), False)


def test_degenerate_figures_are_recognised():
    fig, ax = plt.subplots()
    ax.axhline(0)
    assert degenerate(fig) == "no_points"
    fig1, ax1 = plt.subplots()
    ax1.scatter([0.3], [1.0])
    ax1.axvline(0)
    assert degenerate(fig1) == "one_point"
    fig2, ax2 = plt.subplots()
    ax2.plot([1, 2, 3], [1, 0, 2])
    ax2.axhline(0)
    assert degenerate(fig2) is None
    plt.close("all")


class _ES:
    def __init__(self):
        self.calls = []

    def pretrend_test(self, method, draws=999, seed=None):
        self.calls.append(method)
        if method == "ri":
            raise ValueError("no never-treated years")
        return {"method": method, "statistic": 2.0, "p_value": {"wald": 0.03,
                                                               "wild": 0.11}[method]}


def test_recommended_pretrend_test_depends_on_treated_groups():
    few = pretrend_tests(_ES(), 6, seed=1)
    assert few["recommended"] == "wild" and few["order"][-1] == "ri"  # ri failed: last
    assert "error" in few["tests"]["ri"]
    many = pretrend_tests(_ES(), 25, seed=1)
    assert many["recommended"] == "wald"


def test_a_diagram_without_axes_is_not_degenerate():
    import matplotlib.pyplot as plt

    from policylab.study.frame import degenerate

    fig, ax = plt.subplots()
    ax.annotate("", xy=(0.8, 0.5), xytext=(0.2, 0.5), arrowprops={"arrowstyle": "->"})
    ax.text(0.1, 0.5, "D")
    ax.axis("off")
    assert degenerate(fig) is None
    fig2, ax2 = plt.subplots()
    assert degenerate(fig2) == "no_points"
    plt.close("all")


def test_crv1_tables_are_marked_only_when_treated_groups_are_few():
    assert "6 treated" in crv1_note(6, "en") and "wild cluster bootstrap" in crv1_note(6, "en")
    assert "6个分配单位" in crv1_note(6, "zh") and "野聚类自助法" in crv1_note(6, "zh")
    assert crv1_note(25, "en") is None and crv1_note(None, "zh") is None

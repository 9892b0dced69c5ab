"""No input text is ever evaluated: column names are names, filters are parsed.

Probe files that a Python payload would create must never appear, whether the payload
is a CSV header (through ``policylab init`` -> ``check`` -> ``run`` and every API
argument that names a column), a term in an argument, or a row filter. Odd and Chinese
column names give the numbers of the same model on ASCII-renamed columns.
"""

from __future__ import annotations

import tomllib
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import policylab as pl
from policylab.cli import app
from policylab.data.filters import apply_filter, parse_filter
from policylab.errors import SpecError

warnings.filterwarnings("ignore", category=pl.errors.PolicyLabWarning)

# Python that creates the file PROBE if it is ever evaluated ({p} is its path)
PAYLOADS = [
    "__import__('os').system('touch {p}')",
    "open('{p}', 'w')",
    "eval(\"open('{p}', 'w')\")",
    "exec(\"open('{p}', 'w').close()\")",
    "log(__import__('pathlib').Path('{p}').touch() or 1)",
    "I(__import__('pathlib').Path('{p}').touch())",
]


def _payloads(tmp_path):
    probe = tmp_path / "PROBE"
    return probe, [p.format(p=probe) for p in PAYLOADS]


def _panel(seed: int = 0, units: int = 30, periods: int = 8) -> pd.DataFrame:
    """A balanced panel: 12 of ``units`` treated from the fifth period; an x with a
    true slope 0.3, a weight, a unit-level region (three values)."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(2000, 2000 + periods), units)
    d = ((np.arange(units) < 12)[u] & (t >= 2004)).astype(int)
    x = rng.normal(size=u.size)
    return pd.DataFrame({
        "unit": u, "year": t, "did": d, "x": x, "z": rng.normal(size=u.size),
        "w": rng.uniform(0.5, 2.0, u.size), "region": (np.arange(units) % 3)[u],
        "band": (np.arange(units) % 2)[u],
        "y": 0.5 * d + 0.3 * x + rng.normal(size=units)[u] + rng.normal(size=u.size),
    })


def _same(a, b, rtol=1e-10):
    np.testing.assert_allclose(a.beta, b.beta, rtol=rtol)
    np.testing.assert_allclose(np.asarray(a.vcov()), np.asarray(b.vcov()), rtol=1e-8)


DID_ASCII = dict(y="y", treat="did", unit="unit", time="year", controls=["x"],
                 fe=["unit", "year"], cluster="region", weights="w")


def _did_renamed(df: pd.DataFrame, names: dict[str, str]):
    """did() on ``df`` with columns renamed by ``names``, arguments renamed alike."""
    kw = {}
    for k, v in DID_ASCII.items():
        kw[k] = [names.get(c, c) for c in v] if isinstance(v, list) else names.get(v, v)
    return pl.did(df.rename(columns=names), **kw)


# --------------------------------------------------------------- names as arguments
@pytest.mark.parametrize("role", ["y", "did", "unit", "year", "x", "w", "region"])
@pytest.mark.parametrize("k", range(len(PAYLOADS)))
def test_payload_headers_are_columns_in_every_did_argument(tmp_path, role, k):
    probe, payloads = _payloads(tmp_path)
    df = _panel()
    base = pl.did(df, **DID_ASCII)
    res = _did_renamed(df, {role: payloads[k]})
    _same(base, res)
    assert not probe.exists()
    if role in ("did", "x"):  # regressors keep the column's name as the data spell it
        assert payloads[k] in res.terms


@pytest.mark.parametrize("k", range(len(PAYLOADS)))
def test_payload_headers_in_the_other_estimators_and_inference(tmp_path, k):
    probe, payloads = _payloads(tmp_path)
    p = payloads[k]
    df = _panel()
    odd = df.rename(columns={"x": p, "region": p + " by", "z": p + " m"})
    es0 = pl.event_study(df, y="y", treat="did", unit="unit", time="year",
                         controls=["x"], window=(-3, 3))
    es1 = pl.event_study(odd, y="y", treat="did", unit="unit", time="year",
                         controls=[p], window=(-3, 3))
    _same(es0, es1)
    h0 = pl.heterogeneity(df, y="y", treat="did", unit="unit", time="year",
                          by=["region"], controls=["x"], permutation_draws=0)
    h1 = pl.heterogeneity(odd, y="y", treat="did", unit="unit", time="year",
                          by=[p + " by"], controls=[p], permutation_draws=0)
    np.testing.assert_allclose(h0.tests["statistic"], h1.tests["statistic"], rtol=1e-10)
    m0 = pl.mediation(df, y="y", treat="did", unit="unit", time="year", mediators=["z"],
                      draws=0)
    m1 = pl.mediation(odd, y="y", treat="did", unit="unit", time="year",
                      mediators=[p + " m"], draws=0)
    np.testing.assert_allclose(m0.tidy()["estimate"], m1.tidy()["estimate"], rtol=1e-10)
    mo0 = pl.moderation(df, y="y", treat="did", unit="unit", time="year", moderator="z",
                        controls=["x"])
    mo1 = pl.moderation(odd, y="y", treat="did", unit="unit", time="year",
                        moderator=p + " m", controls=[p])
    _same(mo0, mo1)
    ps0 = pl.psm_did(df, y="y", treat="did", unit="unit", time="year", covariates=["x", "z"])
    ps1 = pl.psm_did(odd, y="y", treat="did", unit="unit", time="year",
                     covariates=[p, p + " m"])
    _same(ps0.did, ps1.did)
    # inference that re-reads the fitted model: placebo dates and the wild bootstrap
    r0 = pl.did(df, y="y", treat="did", unit="unit", time="year", controls=["x"])
    r1 = pl.did(odd, y="y", treat="did", unit="unit", time="year", controls=[p])
    t0, t1 = (pl.placebo_test(r, kind="timing", seed=1).tidy() for r in (r0, r1))
    np.testing.assert_allclose(t0["p_value"], t1["p_value"], rtol=1e-10)
    w0, w1 = (pl.wild_bootstrap(r, param="did", draws=99, seed=1).tidy() for r in (r0, r1))
    np.testing.assert_allclose(w0["p_value"], w1["p_value"], rtol=1e-10)
    assert not probe.exists()


@pytest.mark.parametrize("arg", ["controls", "y", "fe", "cluster", "weights"])
@pytest.mark.parametrize("k", range(len(PAYLOADS)))
def test_payload_that_names_no_column_is_a_spec_error(tmp_path, arg, k):
    probe, payloads = _payloads(tmp_path)
    kw = dict(DID_ASCII)
    kw[arg] = [payloads[k]] if arg in ("controls", "fe") else payloads[k]
    with pytest.raises(pl.errors.PolicyLabError):
        pl.did(_panel(), **kw)
    assert not probe.exists()


NON_COLUMN_CALLS = {
    "event_study": lambda p: pl.event_study(_panel(), y="y", treat="did", unit="unit",
                                            time="year", controls=[p], window=(-3, 3)),
    "mediation": lambda p: pl.mediation(_panel(), y="y", treat="did", unit="unit",
                                        time="year", mediators=["z"], controls=[p],
                                        draws=0),
    "heterogeneity": lambda p: pl.heterogeneity(_panel(), y="y", treat="did", unit="unit",
                                                time="year", by=["region"], controls=[p]),
    "sun_abraham": lambda p: pl.sun_abraham(_panel().assign(g=lambda d: np.where(
        d["unit"] < 12, 2004, 0)), y="y", cohort="g", unit="unit", time="year", controls=[p]),
    "feols_weights": lambda p: pl.feols("y ~ x | unit", _panel(), weights=p),
    "feols_cluster": lambda p: pl.feols("y ~ x | unit", _panel(), vcov={"CRV1": p}),
}


@pytest.mark.parametrize("call", list(NON_COLUMN_CALLS))
@pytest.mark.parametrize("k", range(len(PAYLOADS)))
def test_payload_arguments_of_other_estimators_are_errors(tmp_path, call, k):
    probe, payloads = _payloads(tmp_path)
    with pytest.raises(pl.errors.PolicyLabError):
        NON_COLUMN_CALLS[call](payloads[k])
    assert not probe.exists()


def test_categorical_term_equals_formulaic_and_explicit_dummies():
    df = _panel().assign(k=lambda d: d["unit"] % 5 + d["year"] % 2)
    a = pl.did(df, y="y", treat="did", unit="unit", time="year", fe=["unit"],
               controls=["x", "C(k)"])
    # formulaic reads C() in a formula the user writes: an oracle we did not write
    b = pl.feols("y ~ did + x + C(k) | unit", df, vcov={"CRV1": "unit"})
    np.testing.assert_allclose(a.coef()[["did", "x"]], b.coef()[["did", "x"]], rtol=1e-10)
    dums = {f"k{v}": (df["k"] == v).astype(float) for v in sorted(df["k"].unique())[1:]}
    c = pl.did(df.assign(**dums), y="y", treat="did", unit="unit", time="year", fe=["unit"],
               controls=["x", *dums])
    np.testing.assert_allclose(a.coef()[["did", "x"]], c.coef()[["did", "x"]], rtol=1e-10)


def test_term_error_names_the_term_and_what_is_allowed():
    with pytest.raises(SpecError, match=r"(?s)'I\(x\*\*2\)'.*allowed.*log\(x\).*i\(var"):
        pl.did(_panel(), **{**DID_ASCII, "controls": ["I(x**2)"]})


def test_grammar_terms_in_arguments_are_evaluated_without_python():
    df = _panel()
    df["wpos"] = df["w"]
    a = pl.did(df, **{**DID_ASCII, "controls": ["x", "log(w)", "x:z"]})
    b = pl.did(df.assign(lw=np.log(df["w"]), xz=df["x"] * df["z"]),
               **{**DID_ASCII, "controls": ["x", "lw", "xz"]})
    _same(a, b)
    assert a.terms == ["did", "x", "log(w)", "x:z"]


def test_i_term_in_an_argument_equals_explicit_dummies():
    df = _panel()
    a = pl.did(df, y="y", treat="did", unit="unit", time="year", fe=["unit"],
               controls=["i(year, ref=[2000])"])
    dums = {f"d{t}": (df["year"] == t).astype(float) for t in range(2001, 2008)}
    b = pl.did(df.assign(**dums), y="y", treat="did", unit="unit", time="year", fe=["unit"],
               controls=list(dums))
    _same(a, b)
    assert a.terms[1:] == [f"year::{t}" for t in range(2001, 2008)]


def test_check_names_the_key_and_the_closest_column_of_a_filter(tmp_path):
    _panel().to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "s.toml").write_text(
        '[data]\npath = "d.csv"\nunit = "unit"\ntime = "year"\n[treatment]\n'
        'column = "did"\n[model]\noutcomes = ["y"]\n[battery]\n'
        'samples = [{ name = "a", query = "regoin == 1" }]\n', encoding="utf-8")
    r = CliRunner().invoke(app, ["check", str(tmp_path / "s.toml")])
    assert r.exit_code == 2
    assert "battery.samples[0].query" in r.output and "'region'" in r.output


# ------------------------------------------------------------------- x1-x2 is a column
def _two_way_demean(v: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Within transform of a balanced panel (closed form, no policylab code)."""
    s = pd.Series(v)
    return (v - s.groupby(u).transform("mean") - s.groupby(t).transform("mean")
            + v.mean()).to_numpy()


def test_column_named_x1_minus_x2_is_that_column():
    df = _panel()
    rng = np.random.default_rng(5)
    df["x1"], df["x2"] = rng.normal(size=len(df)), rng.normal(size=len(df))
    df["x1-x2"] = rng.normal(size=len(df))  # unrelated to x1 - x2
    df["y"] = df["y"] + 0.7 * df["x1-x2"]
    r = pl.did(df, y="y", treat="did", unit="unit", time="year", controls=["x1-x2"])
    u, t = df["unit"].to_numpy(), df["year"].to_numpy()
    X = np.column_stack([_two_way_demean(df[c].to_numpy(float), u, t)
                         for c in ("did", "x1-x2")])
    beta = np.linalg.lstsq(X, _two_way_demean(df["y"].to_numpy(), u, t), rcond=None)[0]
    np.testing.assert_allclose(r.beta, beta, rtol=1e-8)
    assert r.terms == ["did", "x1-x2"]
    # written by the user in a formula, the backticked name is the column too
    f = pl.feols("y ~ did + `x1-x2` | unit + year", df)
    np.testing.assert_allclose(f.beta, beta, rtol=1e-8)
    assert f.terms == ["did", "x1-x2"]


# ------------------------------------------------------------------- Chinese names
ZH = {"unit": "省份", "year": "年份", "did": "处理组×政策后", "x": "地区生产总值(亿元)",
      "y": "碳排放 (万吨)", "w": "权重", "region": "地区[划分]", "band": "沿海地区"}


def test_chinese_names_in_every_role_give_the_ascii_numbers():
    df = _panel()
    _same(pl.did(df, **DID_ASCII), _did_renamed(df, ZH))
    r = _did_renamed(df, ZH)
    assert r.terms == ["处理组×政策后", "地区生产总值(亿元)"]
    assert r.meta["fe"] == ["省份", "年份"] and r.meta["cluster"] == ["地区[划分]"]
    zh = df.rename(columns=ZH)
    h0 = pl.heterogeneity(df, y="y", treat="did", unit="unit", time="year",
                          by=["region"], controls=["x"], weights="w", permutation_draws=19,
                          seed=3)
    h1 = pl.heterogeneity(zh, y=ZH["y"], treat=ZH["did"], unit="省份", time="年份",
                          by=[ZH["region"]], controls=[ZH["x"]], weights="权重",
                          permutation_draws=19, seed=3)
    np.testing.assert_allclose(h0.tests["p_value"], h1.tests["p_value"], rtol=1e-10)
    # interacted fixed effects and a formula string naming them
    a = pl.did(df, y="y", treat="did", unit="unit", time="year", fe="unit + region^year")
    b = pl.did(zh, y=ZH["y"], treat=ZH["did"], unit="省份", time="年份",
               fe="省份 + `地区[划分]`^年份")
    _same(a, b)


# ------------------------------------------------------------------- row filters
FILTERS = [
    "year >= 2003", "year > 2002 and region != 1", "region in [0, 2]",
    "region not in [1]", "not year < 2004", "2001 < year <= 2005",
    "(year < 2002) | (region == 2) & (did == 0)", "~(x > 0)", "x > 0 or z < -1",
    "name == 'a b'", "name != \"c'd\"", "region == [0, 1]", "x < z", "did == True",
    "year >= 2003 & x > -0.5", "-1 < x",
]


@pytest.mark.parametrize("q", FILTERS)
def test_filter_keeps_the_rows_pandas_query_keeps(q):
    df = _panel().assign(name=lambda d: np.where(d["unit"] % 3 == 0, "a b", "c'd"))
    df.loc[::7, "x"] = np.nan
    expect = df.query(q, engine="python")  # pandas is the oracle of the row set here
    pd.testing.assert_frame_equal(apply_filter(df, q), expect)


def test_filter_names_odd_and_chinese_columns():
    df = _panel().rename(columns={"region": "地区 (划分)", "x": "x1-x2"})
    got = apply_filter(df, "`地区 (划分)` == 1 and `x1-x2` > 0")
    assert len(got) and (got["地区 (划分)"] == 1).all() and (got["x1-x2"] > 0).all()
    na = _panel()
    na.loc[::5, "x"] = np.nan
    assert apply_filter(na, "isna(x)").index.equals(na.index[na["x"].isna()])
    assert apply_filter(na, "notna(x)").index.equals(na.index[na["x"].notna()])


@pytest.mark.parametrize("k", range(len(PAYLOADS)))
@pytest.mark.parametrize("how", ["parse", "spec_curve"])
def test_filter_payloads_are_spec_errors(tmp_path, k, how):
    probe, payloads = _payloads(tmp_path)
    with pytest.raises(SpecError, match="not allowed|unexpected"):
        if how == "parse":
            apply_filter(_panel(), payloads[k], "battery.samples[1].query")
        else:
            pl.spec_curve(_panel(), "y", "did", unit="unit", time="year",
                          samples={"evil": payloads[k]})
    assert not probe.exists()


@pytest.mark.parametrize("q, where", [
    ("x.sum() > 0", "attribute"), ("x[0] > 1", "indexing"), ("x + 1 > 2", "arithmetic"),
    ("x = 1", "'=='"), ("(x > 1", "expected ')'"), ("@v > 1", "unexpected '@'"),
    ("len(x) > 1", "function len"), ("x >", "ends too early"),
])
def test_filter_errors_name_the_key_position_and_grammar(q, where):
    with pytest.raises(SpecError) as e:
        parse_filter(q, "battery.samples[1].query")
    msg = str(e.value)
    assert msg.startswith("battery.samples[1].query:")
    assert where in msg and "position" in msg and "comparisons" in msg


# ------------------------------------------------------------------- the CLI
SPEC_TAIL = """
[battery]
event_study = {{ enabled = false }}
pretrends = {{ enabled = false }}
placebo = {{ enabled = false }}
wild_bootstrap = {{ enabled = false }}
descriptives = {{ enabled = false }}
samples = [{{ name = "late", query = {query} }}]
"""


def _fast(spec_text: str, query: str) -> str:
    """The spec ``init`` wrote, with the slow steps off and one sample filter."""
    from policylab.study.template import toml_string

    head = spec_text.split("[battery]")[0]
    return head + SPEC_TAIL.format(query=toml_string(query)) + '\n[output]\nformats = ["md"]\n'


@pytest.mark.parametrize("k", range(len(PAYLOADS)))
def test_cli_init_check_run_with_payload_headers(tmp_path, k):
    probe, payloads = _payloads(tmp_path)
    p = payloads[k]
    # payload headers as outcome (starts with "log"), controls, unit and fixed effects
    df = _panel().rename(columns={"x": p, "z": p + " 2", "region": "地区(亿元)"})
    if p.startswith("log"):
        df = df.rename(columns={"y": "yy"})
    csv = tmp_path / "数据 'q' \"d\".csv"
    df.to_csv(csv, index=False)
    spec = tmp_path / "study.toml"
    runner = CliRunner()
    r = runner.invoke(app, ["init", str(csv), "--out", str(spec), "--unit", "unit",
                            "--time", "year"])
    assert r.exit_code == 0, r.output
    written = tomllib.loads(spec.read_text(encoding="utf-8"))
    assert p in [pl.data.names.unquote_name(c) for c in
                 written["model"]["outcomes"] + written["model"]["controls"]]
    spec.write_text(_fast(spec.read_text(encoding="utf-8"), f"`{p}` > -5 and year >= 2001"),
                    encoding="utf-8")
    r = runner.invoke(app, ["check", str(spec)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "out"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert not probe.exists()


@pytest.mark.parametrize("k", range(len(PAYLOADS)))
def test_cli_check_refuses_payload_filters_and_terms(tmp_path, k):
    probe, payloads = _payloads(tmp_path)
    _panel().to_csv(tmp_path / "d.csv", index=False)
    base = ('[data]\npath = "d.csv"\nunit = "unit"\ntime = "year"\n'
            '[treatment]\ncolumn = "did"\n[model]\noutcomes = ["y"]\n')
    from policylab.study.template import toml_string

    cases = {
        "data.query": base.replace('time = "year"\n',
                                   f'time = "year"\nquery = {toml_string(payloads[k])}\n'),
        "battery.samples[0].query": base + f"[battery]\nsamples = [{{ name = 'a', query = "
                                           f"{toml_string(payloads[k])} }}]\n",
        "model.controls": base.replace('outcomes = ["y"]',
                                       f'outcomes = ["y"]\ncontrols = '
                                       f'[{toml_string(payloads[k])}]'),
    }
    runner = CliRunner()
    for key, text in cases.items():
        spec = tmp_path / "s.toml"
        spec.write_text(text, encoding="utf-8")
        for cmd in (["check", str(spec)], ["run", str(spec), "--out", str(tmp_path / "o")]):
            r = runner.invoke(app, cmd)
            assert r.exit_code == 2, r.output
            assert key in r.output, r.output
    assert not probe.exists()


STUDY = """
[data]
path = "panel.csv"
unit = {unit}
time = {year}
query = {query}

[treatment]
column = {did}

[model]
outcomes = [{y}]
controls = [{x}]
fe = [{unit_t}, {year_t}]
cluster = {region}
weights = {w}

[battery]
event_study = {{ enabled = false }}
pretrends = {{ enabled = false }}
placebo = {{ enabled = false }}
wild_bootstrap = {{ enabled = false }}
spec_curve = {{ enabled = false }}
heterogeneity = {{ enabled = true, by = [{band}], permutation_draws = 0 }}
samples = [{{ name = "s", query = {squery} }}]

[output]
formats = ["csv"]
"""


def _study(d, names: dict[str, str]):
    from policylab.data.names import quote_name
    from policylab.study.pipeline import run_study
    from policylab.study.template import toml_string as q

    n = {k: names.get(k, k) for k in ["x", "unit", "year", "did", "y", "w", "region", "band"]}
    _panel().rename(columns=names).to_csv(d / "panel.csv", index=False)
    t = STUDY.format(
        unit=q(n["unit"]), year=q(n["year"]), did=q(n["did"]), y=q(n["y"]),
        region=q(n["region"]), w=q(n["w"]), band=q(n["band"]), x=q(quote_name(n["x"])),
        unit_t=q(quote_name(n["unit"])),
        year_t=q(quote_name(n["year"])),
        query=q(f"{quote_name(n['year'], dots=False)} >= 2001"),
        squery=q(f"{quote_name(n['region'], dots=False)} in [0, 2]"))
    (d / "s.toml").write_text(t, encoding="utf-8")
    s = run_study(d / "s.toml", d / "out", progress=False)
    # every step runs or is skipped for a stated reason; none fails on a name
    assert all(st.status in ("ok", "skipped") for st in s.steps), [
        (st.key, st.status, st.error) for st in s.steps]
    out = {}
    for f in sorted((d / "out" / "tables").glob("*.csv")):
        key = f.stem.replace(n["band"], "band")
        out[key] = pd.read_csv(f).select_dtypes("number").to_numpy()
    return out


def test_study_with_chinese_names_everywhere_gives_the_ascii_numbers(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "z").mkdir()
    a = _study(tmp_path / "a", {})
    z = _study(tmp_path / "z", ZH)
    assert a.keys() == z.keys() and len(a) >= 5
    for k in a:
        np.testing.assert_allclose(a[k], z[k], rtol=1e-8, equal_nan=True)

"""Bad and hostile inputs get policylab's own error, naming the argument, key, column,
file or rows at fault — through the Python API and through the CLI (exit code 2, an
``error:`` line, never a traceback)."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.data.readers import read_table
from policylab.errors import DataError, EstimationError, PolicyLabWarning, SpecError
from policylab.study.spec import SpecProblems, load_spec


def _panel(effect: float = 0.4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units, years = 12, 8
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    df["d"] = ((df["unit"] < 4) & (df["year"] >= 2004)).astype(float)
    df["x1"] = rng.normal(size=len(df))
    df["m"] = rng.normal(size=len(df)) + df["d"]
    df["g"] = (df["unit"] % 2).astype(str)
    df["y"] = effect * df["d"] + 0.5 * df["x1"] + rng.normal(size=len(df))
    df["const"] = 3.0
    df["one"] = 1
    return df


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return _panel()


@pytest.fixture(scope="module")
def base(df):
    return pl.did(df, y="y", treat="d", unit="unit", time="year")


KW = dict(treat="d", unit="unit", time="year")

# (id, call(df, base), error class, words the message must contain)
API_CASES = [
    ("constant outcome", lambda df, b: pl.did(df, y="const", **KW), EstimationError,
     ["'const'", "constant"]),
    ("outcome among controls", lambda df, b: pl.did(df, y="y", controls=["x1", "y"], **KW),
     SpecError, ["'y'", "controls"]),
    ("one cluster", lambda df, b: pl.did(df, y="y", cluster="one", **KW), EstimationError,
     ["'one'", "two clusters"]),
    ("y=123", lambda df, b: pl.did(df, y=123, **KW), SpecError, ["y=123"]),
    ("controls=[1]", lambda df, b: pl.did(df, y="y", controls=[1], **KW), SpecError,
     ["controls", "1"]),
    ("window as text", lambda df, b: pl.event_study(df, y="y", window="(-3,3)", **KW),
     SpecError, ["window", "(-3,3)"]),
    ("window reversed", lambda df, b: pl.event_study(df, y="y", window=(3, -3), **KW),
     SpecError, ["window"]),
    ("event y list", lambda df, b: pl.event_study(df, y=["y"], **KW), SpecError, ["y="]),
    ("placebo draws=0", lambda df, b: pl.placebo_test(b, draws=0, exact=False), SpecError,
     ["draws=0"]),
    ("placebo draws=-1", lambda df, b: pl.placebo_test(b, draws=-1, exact=False), SpecError,
     ["draws=-1"]),
    ("placebo draws=1e9", lambda df, b: pl.placebo_test(b, draws=1e9, exact=False),
     SpecError, ["draws=1,000,000,000", "limit"]),
    ("placebo draws=True", lambda df, b: pl.placebo_test(b, draws=True), SpecError,
     ["draws=True"]),
    ("placebo seed=-5", lambda df, b: pl.placebo_test(b, draws=10, exact=False, seed=-5),
     SpecError, ["seed=-5"]),
    ("placebo seed=1.5", lambda df, b: pl.placebo_test(b, draws=10, seed=1.5), SpecError,
     ["seed=1.5"]),
    ("placebo exact='yes'", lambda df, b: pl.placebo_test(b, exact="yes"), SpecError,
     ["exact='yes'", "auto"]),
    ("placebo max_exact=0", lambda df, b: pl.placebo_test(b, max_exact=0), SpecError,
     ["max_exact"]),
    ("wild draws=0", lambda df, b: pl.wild_bootstrap(b, draws=0), SpecError, ["draws=0"]),
    ("wild draws=2.5", lambda df, b: pl.wild_bootstrap(b, draws=2.5), SpecError,
     ["draws=2.5"]),
    ("wild draws='999'", lambda df, b: pl.wild_bootstrap(b, draws="999"), SpecError,
     ["draws='999'"]),
    ("wild seed=-5", lambda df, b: pl.wild_bootstrap(b, draws=99, seed=-5), SpecError,
     ["seed=-5"]),
    ("cluster bootstrap draws=0", lambda df, b: pl.cluster_bootstrap(b, draws=0), SpecError,
     ["draws=0"]),
    ("mediation draws=-1",
     lambda df, b: pl.mediation(df, y="y", mediators=["m"], draws=-1, **KW), SpecError,
     ["draws=-1"]),
    ("mediation mediators=[1]",
     lambda df, b: pl.mediation(df, y="y", mediators=[1], draws=0, **KW), SpecError,
     ["mediators"]),
    ("heterogeneity permutation_draws=-1",
     lambda df, b: pl.heterogeneity(df, y="y", by=["g"], permutation_draws=-1, **KW),
     SpecError, ["permutation_draws=-1"]),
    ("spec curve draws=0",
     lambda df, b: pl.spec_curve(df, "y", "d", unit="unit", time="year",
                                 inference="permutation", draws=0), SpecError, ["draws=0"]),
    ("att_gt draws=-1",
     lambda df, b: pl.att_gt(df, "y", "unit", "year", "d", bootstrap=True, draws=-1),
     SpecError, ["draws=-1"]),
    ("match bootstrap_draws=-2",
     lambda df, b: pl.match(df, "d", ["x1"], bootstrap_draws=-2), SpecError,
     ["bootstrap_draws=-2"]),
    ("event ref as text", lambda df, b: pl.event_study(df, y="y", ref="a", **KW), SpecError,
     ["ref='a'"]),
    ("empty data", lambda df, b: pl.did(df.iloc[:0], y="y", **KW), DataError, ["no rows"]),
    ("wild one cluster", lambda df, b: pl.wild_bootstrap(b, cluster="one", draws=99),
     EstimationError, ["'one'", "two clusters"]),
    ("wild level=95", lambda df, b: pl.wild_bootstrap(b, level=95, draws=99), SpecError,
     ["level=95"]),
    ("pretrend power of a did", lambda df, b: pl.pretrend_power(b), SpecError,
     ["event_study()", "DIDResult"]),
    ("joint wild draws=0", lambda df, b: pl.joint_wild_test(b, ["d"], draws=0), SpecError,
     ["draws=0"]),
    ("joint wild terms=[1]", lambda df, b: pl.joint_wild_test(b, [1]), SpecError,
     ["terms"]),
    ("pretrend RI seed=-1", lambda df, b: pl.pretrend_ri_test(b, seed=-1), SpecError,
     ["seed=-1"]),
    ("simulate draws=1e9", lambda df, b: pl.simulate(df, "y", draws=1e9, **KW), SpecError,
     ["draws=1,000,000,000"]),
    ("read unit=5", lambda df, b: pl.read("x.csv", unit=5, time="year"), SpecError,
     ["unit=5"]),
]


@pytest.mark.parametrize("call, cls, words", [c[1:] for c in API_CASES],
                         ids=[c[0] for c in API_CASES])
def test_api_bad_input_gets_a_named_error(df, base, call, cls, words):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(cls) as info:
            call(df, base)
    assert type(info.value) is cls or isinstance(info.value, cls)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_controls_as_one_string_is_one_name(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = pl.did(df, y="y", controls="x1", **KW)
        b = pl.did(df, y="y", controls=["x1"], **KW)
    assert a.terms == b.terms and "x1" in a.terms
    np.testing.assert_allclose(a.coef().to_numpy(), b.coef().to_numpy(), rtol=1e-12)


def test_draws_that_cannot_fit_in_memory_are_refused_before_work(df, base, monkeypatch):
    import policylab.validation as v

    monkeypatch.setattr(v, "available_memory", lambda: 1 << 28)
    with pytest.raises(EstimationError, match=r"9,000,000 draws x 12 clusters.*GiB"):
        pl.wild_bootstrap(base, draws=9_000_000)
    with pytest.raises(EstimationError, match=r"9,000,000 draws x 12 clusters.*GiB"):
        pl.joint_wild_test(base, ["d"], draws=9_000_000)
    cs = df.assign(cohort=np.where(df["unit"] < 4, 2004, 0))
    with pytest.raises(EstimationError, match=r"9,000,000 bootstrap draws x \d+ ATT"):
        pl.att_gt(cs, "y", "unit", "year", "cohort", bootstrap=True, draws=9_000_000)


# ---------------------------------------------------------------------------- files

def _gbk_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [{"省份": f"省{i}", "年份": t, "地区生产总值(亿元)": float(rng.normal()),
             "d": int(i < 4 and t >= 2005)} for i in range(12) for t in range(2000, 2010)]
    return pd.DataFrame(rows)


def _xlsx(path: Path, sheet_prefix: bytes = b"", pad: int = 0) -> Path:
    good = path.with_name("good.xlsx")
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_excel(good, index=False)
    with zipfile.ZipFile(good) as z, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as o:
        for m in z.infolist():
            data = z.read(m)
            if m.filename == "xl/worksheets/sheet1.xml":
                data = sheet_prefix + data + b" " * pad
            o.writestr(m.filename, data)
    return path


ENTITIES = (b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>')

FILE_CASES = [
    ("header only", lambda d: (d / "h.csv").write_text("a,b\n") and d / "h.csv",
     DataError, ["'h.csv'", "no data rows"]),
    ("empty file", lambda d: (d / "e.csv").write_bytes(b"") or d / "e.csv",
     DataError, ["'e.csv'", "empty"]),
    ("xlsx not a zip", lambda d: (d / "c.xlsx").write_text("a,b\n1,2\n") and d / "c.xlsx",
     DataError, ["'c.xlsx'", "not a zip"]),
    ("xlsx truncated", lambda d: _truncate(_xlsx(d / "t.xlsx")), DataError, ["'t.xlsx'"]),
    ("xlsx entities", lambda d: _xlsx(d / "x.xlsx", sheet_prefix=ENTITIES), DataError,
     ["'x.xlsx'", "entities"]),
    ("xlsx zip bomb", lambda d: _xlsx(d / "b.xlsx", pad=40 << 20), DataError,
     ["'b.xlsx'", "inflates", "sheet1.xml"]),
    ("data path is a folder", lambda d: (d / "dir.csv").mkdir() or d / "dir.csv", DataError,
     ["dir.csv", "folder"]),
    ("missing file", lambda d: d / "nope.csv", DataError, ["nope.csv", "not found"]),
    ("unknown extension", lambda d: (d / "a.json").write_text("{}") and d / "a.json",
     DataError, ["'a.json'", "extension"]),
    ("parquet that is text", lambda d: (d / "p.parquet").write_text("x") and d / "p.parquet",
     DataError, ["'p.parquet'"]),
    ("dta that is text", lambda d: (d / "s.dta").write_text("x" * 300) and d / "s.dta",
     DataError, ["'s.dta'"]),
]


def _truncate(p: Path) -> Path:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


@pytest.mark.parametrize("make, cls, words", [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_bad_files_get_a_data_error_naming_the_file(tmp_path, make, cls, words):
    path = make(tmp_path)
    with pytest.raises(cls) as info:
        read_table(path)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_gbk_csv_is_detected_and_recorded(tmp_path):
    want = _gbk_frame()
    want.to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    got = read_table(tmp_path / "gbk.csv")
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got.attrs["policylab_encoding"] == "gb18030"
    panel = pl.read(tmp_path / "gbk.csv", unit="省份", time="年份", encoding="gbk")
    assert list(panel.df.columns)[:2] == ["省份", "年份"]


def test_utf8_with_bom_reads_clean_names(tmp_path):
    _gbk_frame().to_csv(tmp_path / "bom.csv", index=False, encoding="utf-8-sig")
    got = read_table(tmp_path / "bom.csv")
    assert got.columns[0] == "省份"
    assert got.attrs["policylab_encoding"] == "utf-8"


@pytest.mark.parametrize("encoding, cls, words", [
    ("utf-8", DataError, ["'gbk.csv'", "'utf-8'", "gb18030"]),
    ("klingon", DataError, ["encoding='klingon'"]),
])
def test_wrong_encoding_is_named(tmp_path, encoding, cls, words):
    _gbk_frame().to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    with pytest.raises(cls) as info:
        read_table(tmp_path / "gbk.csv", encoding=encoding)
    for w in words:
        assert w in str(info.value)


def test_encoding_for_a_binary_format_is_refused(tmp_path):
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "a.parquet")
    with pytest.raises(SpecError, match="encoding='gbk'"):
        read_table(tmp_path / "a.parquet", encoding="gbk")


# ----------------------------------------------------------------------------- specs

SPEC = """[study]
title = "试点"
seed = {seed}

[data]
path = "{path}"
unit = "省份"
time = "年份"
{extra}
[treatment]
column = "d"

[model]
outcomes = ["地区生产总值(亿元)"]

[battery.placebo]
draws = {draws}
exact = {exact}
"""


def _study(tmp_path: Path, *, encoding: str = "utf-8", seed: str = "1", draws: str = "99",
           exact: str = '"auto"', extra: str = "", path: str = "gbk.csv",
           name: str = "s.toml") -> Path:
    _gbk_frame().to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    spec = tmp_path / name
    spec.write_bytes(SPEC.format(seed=seed, path=path, extra=extra, draws=draws,
                                 exact=exact).encode(encoding))
    return spec


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_spec_with_bom_is_read(tmp_path, encoding):
    s = load_spec(_study(tmp_path, encoding=encoding))
    assert s.study.title == "试点"


def test_spec_in_no_known_encoding_names_the_fix(tmp_path):
    (tmp_path / "bin.toml").write_bytes(b"\x81\x20\xff\x00 = 1\n")
    with pytest.raises(SpecError, match="save it as UTF-8"):
        load_spec(tmp_path / "bin.toml")


def test_spec_in_gbk_is_read_with_a_warning(tmp_path):
    with pytest.warns(PolicyLabWarning, match="GBK"):
        s = load_spec(_study(tmp_path, encoding="gbk"))
    assert s.data.unit == "省份"


def test_spec_in_gbk_that_is_valid_utf8_is_read_as_gbk(tmp_path):
    # "省 省" in GBK is CA A1 20 CA A1: valid UTF-8 ("ʡ ʡ"), but not what was written
    spec = tmp_path / "s.toml"
    spec.write_bytes('[study]\ntitle = "省 省"\n[data]\ndataset = "carbon_pilot"\n'
                     'unit = "u"\ntime = "t"\n[treatment]\ncolumn = "d"\n[model]\n'
                     'outcomes = ["y"]\n'.encode("gbk"))
    with pytest.warns(PolicyLabWarning, match="GBK"):
        s = load_spec(spec)
    assert s.study.title == "省 省"


def test_spec_path_that_is_a_folder(tmp_path):
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)


def test_spec_counts_and_seeds_all_reported_at_once(tmp_path):
    with pytest.raises(SpecProblems) as info:
        load_spec(_study(tmp_path, seed="-5", draws="0", exact='"maybe"'))
    text = str(info.value)
    assert "3 problem(s)" in text
    assert "study.seed (line 3): seed=-5" in text
    assert "battery.placebo.draws (line 17): draws=0" in text
    assert "battery.placebo.exact (line 18): exact='maybe'" in text


@pytest.mark.parametrize("draws", ["1e9", "2.5", "true", '"many"'])
def test_spec_absurd_counts(tmp_path, draws):
    with pytest.raises(SpecProblems, match="battery.placebo.draws"):
        load_spec(_study(tmp_path, draws=draws))


@pytest.mark.parametrize("old, new", [('"yes"', True), ('"no"', False)])
def test_spec_exact_yes_no_still_read_with_the_new_spelling(tmp_path, old, new):
    with pytest.warns(FutureWarning, match=rf"s.toml \(line 18\): .*exact = {str(new).lower()}"):
        s = load_spec(_study(tmp_path, exact=old))
    assert s.battery.placebo.exact is new


def test_merge_file_with_duplicate_keys_names_them(tmp_path):
    from policylab.study.prepare import prepare

    pd.DataFrame({"省份": ["省0", "省1", "省0"], "区域": ["东", "西", "东"]}).to_csv(
        tmp_path / "region.csv", index=False, encoding="gbk")
    spec = _study(tmp_path, extra='[[data.merges]]\npath = "region.csv"\non = ["省份"]\n')
    with pytest.raises(DataError) as info:
        prepare(load_spec(spec), tmp_path)
    msg = str(info.value)
    assert "'region.csv'" in msg and "['省份']" in msg and "省0" in msg and "[2, 4]" in msg


def test_encodings_go_into_the_provenance(tmp_path):
    from policylab.study.prepare import prepare

    pd.DataFrame({"省份": [f"省{i}" for i in range(12)], "区域": ["东"] * 12}).to_csv(
        tmp_path / "region.csv", index=False, encoding="utf-8")
    spec = _study(tmp_path, extra='encoding = "gbk"\n[[data.merges]]\npath = "region.csv"\n'
                                  'on = ["省份"]\n')
    panel, prov = prepare(load_spec(spec), tmp_path)
    assert prov["data_encodings"] == {"gbk.csv": "gbk", "region.csv": "utf-8"}
    assert "区域" in panel.df.columns


# ------------------------------------------------------------------------------- CLI

def _cli(*args: str):
    from typer.testing import CliRunner

    from policylab.cli import app

    return CliRunner().invoke(app, list(map(str, args)))


def _assert_input_error(res, *words: str) -> None:
    out = res.output
    assert res.exit_code == 2, out
    assert out.lstrip().startswith("error:"), out
    assert "Traceback" not in out, out
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    flat = " ".join(out.split())
    for w in words:
        assert w in flat, (w, out)


CLI_CASES = [
    ("check: spec is a folder", lambda d: ("check", d), ["is a folder"]),
    ("check: spec missing", lambda d: ("check", d / "none.toml"), ["not found"]),
    ("check: draws=0", lambda d: ("check", _study(d, draws="0")), ["battery.placebo.draws"]),
    ("check: seed=-5", lambda d: ("check", _study(d, seed="-5")), ["study.seed", "seed=-5"]),
    ("check: exact='maybe'", lambda d: ("check", _study(d, exact='"maybe"')),
     ["battery.placebo.exact"]),
    ("check: data missing", lambda d: ("check", _study(d, path="nope.csv")), ["nope.csv"]),
    ("check: data is a folder",
     lambda d: (d / "data").mkdir() or ("check", _study(d, path="data")), ["folder"]),
    ("check: merge duplicate keys",
     lambda d: (pd.DataFrame({"省份": ["省0", "省0"], "r": [1, 2]}).to_csv(d / "m.csv",
                                                                        index=False)
                or ("check", _study(d, extra='[[data.merges]]\npath = "m.csv"\n'
                                              'on = ["省份"]\n'))),
     ["'m.csv'", "not unique"]),
    ("describe: header-only csv",
     lambda d: (d / "h.csv").write_text("u,t\n") and ("describe", d / "h.csv", "--unit", "u",
                                                     "--time", "t"), ["no data rows"]),
    ("describe: corrupt xlsx",
     lambda d: (d / "c.xlsx").write_text("nope") and ("describe", d / "c.xlsx", "--unit",
                                                      "u", "--time", "t"), ["'c.xlsx'"]),
    ("init: xlsx zip bomb", lambda d: ("init", _xlsx(d / "b.xlsx", pad=40 << 20)),
     ["inflates"]),
]


@pytest.mark.parametrize("make, words", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_exits_2_with_one_error(tmp_path, make, words):
    _assert_input_error(_cli(*make(tmp_path)), *words)


def test_cli_check_reads_gbk_data_and_bom_spec(tmp_path):
    res = _cli("check", _study(tmp_path, encoding="utf-8-sig"))
    assert res.exit_code == 0, res.output
    assert "is valid" in res.output


def test_placebo_both_shifts_adoption_earlier_than_the_real_date(base):
    # the real adoption is in the 5th of 8 years: fake dates before it once crashed
    # (a shifted path shorter than the window)
    res = pl.placebo_test(base, kind="both", draws=50, seed=1)
    assert res.meta["draws"] == 50 and len(res.estimates) == 50
    assert 1 / 51 <= res.p_value <= 1
    assert np.isfinite(res.estimates).all() and res.estimates.std() > 0


def test_init_into_a_missing_folder_is_a_clear_error(tmp_path):
    from typer.testing import CliRunner

    from policylab.cli import app

    csv = tmp_path / "d.csv"
    csv.write_text("unit,year,y\n1,2000,1.0\n1,2001,2.0\n2,2000,1.5\n2,2001,2.5\n")
    res = CliRunner().invoke(app, ["init", str(csv), "--out", str(tmp_path / "no" / "x.toml")])
    assert res.exit_code == 2
    assert "does not exist" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "no").exists()

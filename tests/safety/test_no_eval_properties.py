"""Property tests of the name, term and filter grammars and of ``init``'s TOML
(hypothesis; examples bounded, no deadline)."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policylab.cli import app
from policylab.data.filters import apply_filter
from policylab.data.names import quote_name, tokenize, unquote_name
from policylab.estimators.formula import fe_terms, model_formula, parse_formula
from policylab.study.template import toml_string

NAMES = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s and s != "")


@settings(max_examples=300, deadline=None)
@given(NAMES)
def test_any_name_quoted_reads_back_as_one_name(name):
    toks = tokenize(quote_name(name))
    assert len(toks) == 2 and toks[0].kind in ("name", "qname") and toks[0].value == name
    assert unquote_name(quote_name(name)) == name


@settings(max_examples=200, deadline=None)
@given(st.lists(NAMES, min_size=3, max_size=3, unique=True))
def test_model_formula_keeps_every_column_a_column(names):
    y, x, u = names
    f = parse_formula(model_formula([y, x, u], [y], [x], fe_terms(None, u, x)))
    assert [unquote_name(t) for t in f.depvars] == [y]
    assert [unquote_name(t) for t in f.terms] == [x]
    assert [unquote_name(t) for t in f.fe] == [u, x]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_toml_string_round_trips(text):
    want = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    assert tomllib.loads(f"k = {toml_string(text)}")["k"] == want


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\x00"),
                        min_size=1, max_size=10), min_size=3, max_size=3, unique=True),
       st.text(alphabet="ab'\"\\ 数据\n", min_size=1, max_size=8))
def test_init_writes_a_spec_that_parses_and_names_the_columns(tmp_path_factory, cols, fname):
    d = tmp_path_factory.mktemp("init")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"unit": np.repeat(np.arange(6), 4), "year": np.tile(np.arange(4), 6)
                       + 2000})
    df["did"] = ((df["unit"] < 3) & (df["year"] >= 2002)).astype(int)
    for c in cols:
        if c not in df:
            df[c] = rng.normal(size=len(df))
    data = d / (fname.replace("/", "_") + ".parquet")
    df.to_parquet(data)
    spec = d / "s.toml"
    r = CliRunner().invoke(app, ["init", str(data), "--out", str(spec), "--unit", "unit",
                                 "--time", "year"])
    assert r.exit_code == 0, r.output
    raw = tomllib.loads(spec.read_text(encoding="utf-8"))
    assert (d / raw["data"]["path"]).resolve() == data.resolve()
    named = [unquote_name(c) for c in raw["model"]["outcomes"] + raw["model"]["controls"]]
    assert set(named) <= set(df.columns) and named
    r = CliRunner().invoke(app, ["check", str(spec)])
    assert r.exit_code == 0, r.output


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.integers(0, 5, 60).astype(float), "b": rng.normal(size=60),
                       "s": rng.choice(["p", "q", "r"], 60)})
    df.loc[::9, "a"] = np.nan
    return df


ATOMS = st.one_of(
    st.builds(lambda op, v: f"a {op} {v}", st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
              st.integers(-1, 5)),
    st.builds(lambda op, v: f"b {op} {v}", st.sampled_from(["<", ">="]),
              st.floats(-2, 2).map(lambda x: round(x, 2))),
    st.builds(lambda neg, vs: f"s {'not in' if neg else 'in'} {vs!r}", st.booleans(),
              st.lists(st.sampled_from(["p", "q", "r"]), max_size=3)),
    st.builds(lambda v: f"s == {v!r}", st.sampled_from(["p", "q", "x"])),
)
FILTERS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.builds(lambda x, y, op: f"({x}) {op} ({y})", inner, inner,
                  st.sampled_from(["and", "or", "&", "|"])),
        st.builds(lambda x: f"not ({x})", inner),
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(FILTERS)
def test_filter_grammar_keeps_the_rows_pandas_query_keeps(q):
    df = _frame()
    # pandas query (python engine) is the oracle of the row set
    pd.testing.assert_frame_equal(apply_filter(df, q), df.query(q, engine="python"))

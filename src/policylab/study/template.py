"""``policylab init``: a commented spec template for a data file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from policylab.data.names import quote_name
from policylab.errors import DataError

__all__ = ["detect_keys", "spec_template", "toml_string"]

_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
          "\r": "\\r"}


def toml_string(value: object) -> str:
    """``value`` as a TOML basic string: quotes, backslashes and control characters
    escaped, so any file or column name (newlines, quotes, Chinese) reads back as is."""
    out = []
    for ch in str(value):
        o = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04X}")
        elif 0xD800 <= o <= 0xDFFF:  # undecodable bytes of a file name: not text
            out.append("\\uFFFD")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_list(values: list[object]) -> str:
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def _term(name: object) -> str:
    """A column named in a term key (controls, outcomes, fe): between backticks unless
    plain, so that it is read as a name whatever it holds."""
    return quote_name(str(name))

_TIME_NAMES = ("year", "time", "period", "t", "yr", "年份", "年")
_UNIT_NAMES = ("id", "unit", "province", "city", "code", "firm", "county", "region",
               "prov", "省份", "城市", "name")


def detect_keys(df: pd.DataFrame) -> tuple[str, str]:
    """Guess (unit, time): an integer-like time column and a unit making rows unique."""
    lower = {c: str(c).lower() for c in df.columns}
    time_cands = [c for c in df.columns if lower[c] in _TIME_NAMES]
    time_cands += [
        c for c in df.columns
        if c not in time_cands and pd.api.types.is_integer_dtype(df[c])
        and df[c].between(1900, 2100).all() and df[c].nunique() <= 100
    ]
    unit_cands = [c for c in df.columns if lower[c] in _UNIT_NAMES or lower[c].endswith("_id")]
    unit_cands += [c for c in df.columns if c not in unit_cands]
    for t in time_cands:
        for u in unit_cands:
            if u == t:
                continue
            if not df.duplicated([u, t]).any() and df[u].nunique() > 1:
                return str(u), str(t)
    raise DataError(
        "could not detect the unit and time columns; pass --unit and --time "
        f"(columns: {list(df.columns)[:15]})"
    )


def spec_template(df: pd.DataFrame, data: Path, unit: str | None = None,
                  time: str | None = None, spec_dir: Path | None = None) -> str:
    """Return TOML text for a new study on ``data`` with every battery step explained.

    Every name from the file (its path, its columns) is written as an escaped TOML
    string, and columns in term keys (outcomes, controls, fixed effects) between
    backticks when they are not plain names, so the spec parses and names the same
    columns whatever they hold. ``spec_dir`` is where the spec will be written (the data
    path is relative to it; default: the data's folder).
    """
    import os

    if unit is None or time is None:
        du, dt = detect_keys(df)
        unit, time = unit or du, time or dt
    numeric = [c for c in df.columns if c not in (unit, time)
               and pd.api.types.is_numeric_dtype(df[c])]
    # unit-constant columns (ids, group flags) can be neither outcome nor treatment
    varies = [c for c in numeric if (df.groupby(unit)[c].nunique(dropna=True) > 1).any()]
    binary = [c for c in varies if set(pd.unique(df[c].dropna())) <= {0, 1}]
    named = [c for c in binary if str(c).lower() in ("did", "treat_post", "treatpost", "d",
                                                      "treated_post", "policy", "pilot")]
    treat = (named or binary or ["did"])[0]
    cont = [c for c in varies if c not in binary]
    logs = [c for c in cont if str(c).lower().startswith(("ln", "log", "y"))]
    outcome = (logs or cont or ["y"])[0]
    controls = [c for c in cont if c != outcome][:4]
    where = Path(spec_dir) if spec_dir is not None else Path(data).parent
    try:
        rel = Path(os.path.relpath(Path(data).resolve(), where.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        rel = Path(data).resolve().as_posix()
    path, u, t = toml_string(rel), toml_string(unit), toml_string(time)
    y, d = _toml_list([_term(outcome)]), toml_string(treat)
    ctrl = _toml_list([_term(c) for c in controls])
    fe = _toml_list([_term(unit), _term(time)])
    return f'''# policylab study spec for data.path below
# Validate with `policylab check <this file>`, run with `policylab run <this file> --out results`.
# Names: keys that name one column (unit, time, treatment, cluster) take it exactly as in
# the data; outcomes, controls and fixed effects are terms, where a column whose name is
# not a plain name is written between backticks (see docs/safety.md).

[study]
title = "Policy evaluation"
seed = 2011                      # every random step (placebo, bootstrap) uses this seed

[data]
path = {path}              # relative to this file; CSV, Excel, .dta or Parquet
unit = {u}                  # detected unit column
time = {t}                  # detected time column (integer periods)
# query = "year >= 2005"         # keep some rows (comparisons, in [...], and/or/not)

# Data preparation, applied in order. Kinds: co2, log, log1p, lag, lead, diff,
# winsorize, per_capita, deflate, ratio.
# [[transforms]]
# kind = "log"
# columns = {_toml_list([outcome])}

[treatment]
column = {d}               # a ready 0/1 treatment column; or use
# cohort = "first_treated_year"  # a cohort column (never treated = 0 or missing), or
# roster = "carbon_trading"      # a bundled policy roster with date = "announcement"
# assign = "province"            # level at which treatment is assigned (default: unit)
# group = "treat"                # 0/1 treated-group column, for descriptives and trends

[model]
outcomes = {y}
controls = {ctrl}
# fe = {fe}      # default: unit and time fixed effects
# cluster = {u}             # default: the level at which treatment is assigned

[battery]
# Every step can be switched off (enabled = false) or made required (required = true).
event_study = {{ window = [-5, 5], ref = -1 }}
placebo = {{ kind = "units", draws = 1000 }}
wild_bootstrap = {{ draws = 9999, weights = "webb" }}
# psm_did = {{ covariates = {ctrl}, method = "kernel", bwidth = 0.06 }}
# mediation = {{ mediators = ["m1"], lags = {{ m1 = 2 }} }}
# heterogeneity = {{ by = ["region"] }}
# samples = [{{ name = "drop municipalities", query = "municipality == 0" }}]

[output]
language = "en"                  # or "zh"
formats = ["html", "docx", "md"]
'''

"""``policylab init``: a commented spec template for a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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



def detect_keys(df: pd.DataFrame) -> tuple[str, str]:
    """Guess (unit, time); see :func:`policylab.study.guess.detect_keys`."""
    from policylab.study.guess import detect_keys as detect

    return detect(df)


def _comment(lines: list[str], width: int = 88) -> str:
    import textwrap

    out = []
    for line in lines:
        # a column name holding a newline must not end the comment
        line = "".join(ch if ch.isprintable() else "\ufffd" for ch in line)
        out += textwrap.wrap(line, width - 4, initial_indent="# - ",
                             subsequent_indent="#   ") or ["#"]
    return "\n".join(out)


def _left_out(g: Any) -> list[str]:
    return [f"not proposed: {c!r}, {why}" for c, why in g.left_out.items()]


def spec_template(df: pd.DataFrame, data: Path, unit: str | None = None,
                  time: str | None = None, spec_dir: Path | None = None) -> str:
    """Return TOML text for a new study on ``data``, with what init read as comments.

    Every name from the file (its path, its columns) is written as an escaped TOML
    string, and columns in term keys (outcomes, controls, fixed effects) between
    backticks when they are not plain names, so the spec parses and names the same
    columns whatever they hold. ``spec_dir`` is where the spec will be written (the data
    path is relative to it; default: the data's folder).
    """
    import os

    from policylab.study.guess import guess_study

    for key, col in (("--unit", unit), ("--time", time)):
        if col is not None and col not in df.columns:
            raise DataError(f"{key} {col!r} is not a column of the data (columns: "
                            f"{list(df.columns)[:15]})")
    g = guess_study(df, unit, time)
    where = Path(spec_dir) if spec_dir is not None else Path(data).parent
    try:
        rel = Path(os.path.relpath(Path(data).resolve(), where.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        rel = Path(data).resolve().as_posix()
    ts = toml_string
    ctrl = _toml_list([_term(c) for c in g.controls])
    y = _toml_list([_term(g.outcome or "y")])
    derive = "\n".join(f"{_key(k)} = {ts(v)}" for k, v in g.derive.items())
    if not g.treat and not g.cohort:
        treat = ('column = "treated"             # NOT FOUND in the data: define it in '
                 '[derive] above\n')
        u0 = df[g.unit].dropna().iloc[0] if g.unit in df else "A"
        times = sorted(pd.to_numeric(pd.Series(g.derive_values.get(g.time, df.get(g.time))),
                                     errors="coerce").dropna().unique()) or [2010]
        example = (f"{quote_name(g.unit, dots=False)} in [{u0!r}] and "
                   f"{quote_name(g.time, dots=False)} >= {int(times[len(times) // 2])}")
        derive += (f"\n# treated = {ts(example)}  # e.g. these units from this period on"
                   "\n# treated = \"year >= policy_year\"  # or from a policy-year column "
                   "(missing: never)")
    elif g.treat:
        treat = f"column = {ts(g.treat)}               # 0/1 treatment (see above)\n"
        if g.cohort:
            treat += f"# cohort = {ts(g.cohort)}          # the same treatment as cohorts\n"
    else:
        treat = f"cohort = {ts(g.cohort)}               # first treated period (see above)\n"
    treat += (f"group = {ts(g.group)}                  # treated group (descriptives)\n"
              if g.group else "# group = \"treat\"                # 0/1 treated-group column\n")
    weights = (f"weights = {ts(g.weights)}          # see above; delete for unweighted\n"
               if g.weights else "# weights = \"population\"        # regression weights\n")
    fe_alt = (f"# fe = {_toml_list([_term(g.unit), _term(g.region) + '^' + _term(g.time)])}  "
              f"# unit and {g.region}-by-period effects\n" if g.region else "")
    lo, hi = g.window
    time_word = {"quarter": "quarterly", "month": "monthly"}.get(g.time_unit or "",
                                                                 "whole-number")
    return f'''# policylab study spec for data.path below, written by `policylab init`.
# Check it with `policylab check <this file>` (it lists every problem at once), then run
# it with `policylab run <this file> --out results`.
# Names: keys that name one column (unit, time, treatment, cluster) take it exactly as in
# the data; outcomes, controls and fixed effects are terms, where a column whose name is
# not a plain name is written between backticks (see docs/safety.md).
#
# What init read in the data ({len(df)} rows, {len(df.columns)} columns):
{_comment(g.notes + _left_out(g))}

[study]
title = "Policy evaluation"
seed = 2011                      # every random step (placebo, bootstrap) uses this seed

[data]
path = {ts(rel)}              # relative to this file; CSV, Excel, .dta or Parquet
unit = {ts(g.unit)}                  # detected unit column
time = {ts(g.time)}                  # detected time column ({time_word} periods)
# query = "year >= 2005"         # keep some rows (comparisons, in [...], and/or/not)

[derive]
# New columns, computed in order before the query (a key may use the keys above):
# conditions give 0/1, e.g. treated = "state in ['FL', 'TX']", post = "year >= policy_year";
# first_time(post == 1), log(x), x / pop, lag(x, 1), mean(x, by=region), quarterly(q).
{derive}

# Data preparation, applied in order. Kinds: co2, log, log1p, lag, lead, diff,
# winsorize, per_capita, deflate, ratio.
# [[transforms]]
# kind = "log"
# columns = {_toml_list([g.outcome or "y"])}

[treatment]
{treat}# roster = "carbon_trading"      # or a bundled policy roster with date = "announcement"
# assign = "province"            # level at which treatment is assigned (default: unit)

[model]
outcomes = {y}
controls = {ctrl}     # candidates only: keep the ones the policy cannot move
# fe = {_toml_list([_term(g.unit), _term(g.time)])}      # default: unit and time fixed effects
{fe_alt}# cluster = {ts(g.unit)}             # default: the level at which treatment is assigned
{weights}
[battery]
# Every step can be switched off (enabled = false) or made required (required = true).
event_study = {{ window = [{lo}, {hi}], ref = -1 }}
placebo = {{ kind = "units", draws = 1000 }}
wild_bootstrap = {{ draws = 9999, weights_type = "webb" }}
# psm_did = {{ covariates = {ctrl}, method = "kernel", bwidth = 0.06 }}
# mediation = {{ mediators = ["m1"], lags = {{ m1 = 2 }} }}
# heterogeneity = {{ by = ["region"] }}
# samples = [{{ name = "drop municipalities", query = "municipality == 0" }}]

[output]
language = "en"                  # or "zh"
formats = ["html", "docx", "md"]
'''


def _key(name: str) -> str:
    """A TOML key: bare when it is letters, digits, _ and -, else a quoted string."""
    import re

    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_string(name)

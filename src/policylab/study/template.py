"""``policylab init``: a commented spec template for a data file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from policylab.errors import DataError

__all__ = ["detect_keys", "spec_template"]

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
                  time: str | None = None) -> str:
    """Return TOML text for a new study on ``data`` with every battery step explained."""
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
    return f'''# policylab study spec for {data.name}
# Validate with `policylab check <this file>`, run with `policylab run <this file> --out results`.

[study]
title = "Policy evaluation"
seed = 2011                      # every random step (placebo, bootstrap) uses this seed

[data]
path = "{data.name}"              # relative to this file; CSV, Excel, .dta or Parquet
unit = "{unit}"                  # detected unit column
time = "{time}"                  # detected time column (integer periods)

# Data preparation, applied in order. Kinds: co2, log, log1p, lag, lead, diff,
# winsorize, per_capita, deflate, ratio.
# [[transforms]]
# kind = "log"
# columns = ["{outcome}"]

[treatment]
column = "{treat}"               # a ready 0/1 treatment column; or use
# cohort = "first_treated_year"  # a cohort column (never treated = 0 or missing), or
# roster = "carbon_trading"      # a bundled policy roster with date = "announcement"
# assign = "province"            # level at which treatment is assigned (default: unit)
# group = "treat"                # 0/1 treated-group column, for descriptives and trends

[model]
outcomes = ["{outcome}"]
controls = {json.dumps(controls)}
# fe = ["{unit}", "{time}"]      # default: unit and time fixed effects
# cluster = "{unit}"             # default: the level at which treatment is assigned

[battery]
# Every step can be switched off (enabled = false) or made required (required = true).
event_study = {{ window = [-5, 5], ref = -1 }}
placebo = {{ kind = "units", draws = 1000 }}
wild_bootstrap = {{ draws = 9999, weights = "webb" }}
# psm_did = {{ covariates = {json.dumps(controls)}, method = "kernel", bwidth = 0.06 }}
# mediation = {{ mediators = ["m1"], lags = {{ m1 = 2 }} }}
# heterogeneity = {{ by = ["region"] }}
# samples = [{{ name = "drop municipalities", query = "municipality == 0" }}]

[output]
language = "en"                  # or "zh"
formats = ["html", "docx", "md"]
'''

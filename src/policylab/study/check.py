"""``policylab check``: every problem of a spec and its data, found in one pass.

Schema problems (unknown keys, bad values, a reversed window) do not stop the check:
the offending keys are set aside and the rest of the spec is checked against the data
— derived columns, the sample filter, the panel keys, every column the spec names and
the design's own rules (a 0/1 treatment with treated and untreated units, positive
weights, at least two clusters, groups and samples that hold treated units, controls
that are not the outcome itself) — so one run lists everything to fix.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import PolicyLabError, SpecError
from policylab.study.spec import (
    StudySpec,
    check_columns,
    raw_spec,
    read_spec_text,
    schema_errors,
    validate_raw,
)

__all__ = ["CheckReport", "check_study"]


@dataclass
class CheckReport:
    """What ``policylab check`` found: ``problems`` (each names the key or column and
    the fix; any makes the spec invalid), ``notes`` (worth reading, not errors) and the
    panel's one-line summary when the data could be read."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    panel: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check_study(path: str | Path) -> CheckReport:
    """Check a spec file and its data; never raises for a problem of the spec or data."""
    p = Path(path)
    rep = CheckReport()
    try:
        text = read_spec_text(p)
        raw = raw_spec(text, "yaml" if p.suffix.lower() in (".yaml", ".yml") else "toml",
                       p.name)
    except SpecError as exc:
        rep.problems.extend(getattr(exc, "problems", None) or [str(exc)])
        return rep
    spec, problems = validate_raw(raw, text, p.name)
    rep.problems.extend(problems)
    if spec is None:
        spec = _salvage(raw)
    if spec is None:
        rep.notes.append("the data and columns are checked once the keys above are given")
        return rep
    try:
        _check_data(spec, p.parent, rep)
    except PolicyLabError as exc:  # a data problem the steps above did not foresee
        rep.problems.append(str(exc))
    return rep


def _salvage(raw: dict[str, Any]) -> StudySpec | None:
    """The spec without its invalid keys (defaults in their place), so the data can be
    checked in the same pass; None when a required key is missing."""
    r = copy.deepcopy(raw)
    for _ in range(5):
        errs = schema_errors(r)
        if not errs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return StudySpec.model_validate(r)
        for err in sorted(errs, key=lambda e: [str(x) for x in e["loc"]], reverse=True):
            if err["type"] == "missing" or not _drop(r, tuple(err["loc"])):
                return None
    return None


def _drop(r: Any, loc: tuple[Any, ...]) -> bool:
    node = r
    for k in loc[:-1]:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        del node[loc[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _check_data(spec: StudySpec, base: Path, rep: CheckReport) -> None:
    from policylab.data.filters import apply_filter, check_filter
    from policylab.data.panel import Panel
    from policylab.study.prepare import apply_transforms, load_data

    d = spec.data
    unfiltered = spec.model_copy(update={"data": d.model_copy(update={"query": None})})
    derive_problems: list[str] = []
    try:
        df, _ = load_data(unfiltered, base, derive_problems)
    except PolicyLabError as exc:
        rep.problems.append(str(exc))
        rep.notes.append("the columns are checked once the data can be read")
        return
    rep.problems.extend(derive_problems)
    failed = [k for k in spec.derive if k not in df.columns]  # reported once, above
    if d.query:
        q = check_filter(d.query, [*df.columns, *failed], "data.query")
        rep.problems.extend(q)
        if not q and not failed:
            try:
                df = apply_filter(df, d.query, "data.query")
            except PolicyLabError as exc:
                rep.problems.append(str(exc))
    column_problems = check_columns(spec, [*df.columns, *failed])
    keys_ok = _key_problems(spec, df, rep)
    if keys_ok:
        try:
            panel = Panel(df, unit=d.unit, time=d.time)
            if not any(x.startswith("transforms[") for x in column_problems):
                panel = apply_transforms(panel, spec.transforms)
            df = panel.df
            rep.panel = repr(panel)
        except PolicyLabError as exc:
            rep.problems.append(str(exc))
    rep.problems.extend(column_problems)
    if keys_ok:
        _design_problems(spec, df, rep)


def _key_problems(spec: StudySpec, df: pd.DataFrame, rep: CheckReport) -> bool:
    """data.unit and data.time present, and the time a number (a quarter such as
    "Q42010" is derived into one); False when the panel cannot be built."""
    d = spec.data
    if d.unit not in df.columns or d.time not in df.columns:
        return False  # named by check_columns
    t = df[d.time]
    if pd.api.types.is_numeric_dtype(t):
        return True
    from policylab.data.derive import period_fix

    sample = t.dropna().astype(str)
    fix = period_fix(t, d.time) or "write the period numbers as integers"
    rep.problems.append(f"data.time: column {d.time!r} holds text such as "
                        f"{sample.iloc[0] if len(sample) else None!r}, not period numbers; "
                        f"{fix}")
    return False


def _quoted(name: str) -> str:
    from policylab.data.names import quote_name

    return quote_name(name, dots=False)


def _numeric(df: pd.DataFrame, col: str | None) -> bool:
    return col is not None and col in df.columns and pd.api.types.is_numeric_dtype(df[col])


def _treated_rows(spec: StudySpec, df: pd.DataFrame) -> pd.Series | None:
    """Rows of ever-treated units (None when the treatment cannot be read)."""
    tr, unit = spec.treatment, spec.data.unit
    col = tr.column or tr.cohort
    if not _numeric(df, col):
        return None
    c = df[col]
    if tr.column and set(pd.unique(c.dropna())) <= {0, 1}:
        return (c == 1).groupby(df[unit]).transform("any")
    return (c > 0) & np.isfinite(c)  # a cohort (or a column that is one: see above)


def _design_problems(spec: StudySpec, df: pd.DataFrame, rep: CheckReport) -> None:
    m, tr = spec.model, spec.treatment
    out = rep.problems
    for y in m.outcomes:
        if y in df.columns and not _numeric(df, y):
            out.append(f"model.outcomes: {y!r} holds text, not numbers")
    if tr.column and tr.column in df.columns:
        _check_dummy(df, tr.column, spec, out)
    if tr.cohort and tr.cohort in df.columns:
        _check_cohort(df, tr.cohort, spec, rep)
    if m.weights and m.weights in df.columns:
        w = pd.to_numeric(df[m.weights], errors="coerce")
        bad = int((~(w > 0)).sum())
        if bad:
            out.append(f"model.weights: {m.weights!r} must be positive numbers, but {bad} "
                       "rows are missing, zero, negative or text; keep the other rows "
                       f"with data.query = \"{_quoted(m.weights)} > 0\"")
    for key, col in (("model.cluster", m.cluster),
                     ("battery.wild_bootstrap.cluster", spec.battery.wild_bootstrap.cluster)):
        if col and col in df.columns and df[col].nunique() < 2:
            out.append(f"{key}: {col!r} has {df[col].nunique()} distinct value(s); "
                       "clustered standard errors need at least two clusters")
    _check_controls(spec, df, out)
    treated = _treated_rows(spec, df)
    if treated is None:
        return
    _check_groups(spec, df, treated, out)


def _check_dummy(df: pd.DataFrame, col: str, spec: StudySpec, out: list[str]) -> None:
    s = df[col]
    time = spec.data.time
    if not pd.api.types.is_numeric_dtype(s) or not set(pd.unique(s.dropna())) <= {0, 1}:
        vals = pd.unique(s.dropna())[:5].tolist()
        if _numeric(df, col) and len(vals) and all(
                v == 0 or (time in df and df[time].min() <= v <= df[time].max()) for v in vals):
            fix = (f"it looks like a first-treated period: write treatment.cohort = "
                   f"\"{col}\" instead of treatment.column")
        else:
            fix = ("derive a 0/1 column, e.g. [derive] did = \"year >= policy_year\", and "
                   "name it in treatment.column")
        out.append(f"treatment.column: {col!r} must be 0/1, but holds {vals}; {fix}")
        return
    if not (s == 1).any() or not (s == 0).any():
        out.append(f"treatment.column: {col!r} is {'never' if not (s == 1).any() else 'always'}"
                   " 1 in the data (after data.query): a DID needs treated and untreated "
                   "observations")


def _check_cohort(df: pd.DataFrame, col: str, spec: StudySpec, rep: CheckReport) -> None:
    c = df[col]
    if not pd.api.types.is_numeric_dtype(c):
        rep.problems.append(f"treatment.cohort: {col!r} holds text; it is the first treated "
                            "period as a number (never treated: 0 or missing)")
        return
    first = c[(c > 0) & np.isfinite(c)]
    if first.empty:
        rep.problems.append(f"treatment.cohort: {col!r} has no treated units (every value is "
                            "0, missing or inf, which mean never treated)")
        return
    t = df[spec.data.time]
    late = sorted(set(first[first > t.max()].tolist()))
    if late:
        rep.notes.append(f"treatment.cohort: cohorts {late[:5]} of {col!r} start after the "
                         f"last period ({t.max()}): those units are never treated in the data")


def _check_controls(spec: StudySpec, df: pd.DataFrame, out: list[str]) -> None:
    """Controls that cannot be controls: the outcome (or its level), the time index,
    the unit id, the treatment."""
    m, d = spec.model, spec.data
    for c in m.controls:
        if c not in df.columns:
            continue
        if c in m.outcomes:
            out.append(f"model.controls: {c!r} is also an outcome; drop it from the controls")
        elif c in (d.time, d.unit):
            out.append(f"model.controls: {c!r} is the panel's {'time' if c == d.time else 'unit'}"
                       " index, which the fixed effects already absorb; drop it (for a trend "
                       f"write i({c}) or a [derive] column)")
        elif c in (spec.treatment.column, spec.treatment.cohort):
            out.append(f"model.controls: {c!r} is the treatment; drop it from the controls")
        elif not _numeric(df, c):
            out.append(f"model.controls: {c!r} holds text; write C({c}) for its categories")
        else:
            for y in m.outcomes:
                how = _mechanical(df, y, c)
                if how:
                    out.append(f"model.controls: {c!r} is the outcome {y!r} itself ({y} = "
                               f"{how}); a control that is the outcome absorbs the effect — "
                               "drop it")


def _mechanical(df: pd.DataFrame, y: str, c: str) -> str | None:
    """How outcome ``y`` is a transform of control ``c`` (log, log1p, identity), if it is."""
    if not _numeric(df, y):
        return None
    a = df[y].to_numpy(float)
    b = df[c].to_numpy(float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return None
    a, b = a[ok], b[ok]
    with np.errstate(all="ignore"):
        for how, f in (("log", np.log), ("log1p", np.log1p), ("", lambda v: v)):
            fb = f(b)
            fine = np.isfinite(fb)
            if fine.mean() > 0.95 and np.allclose(a[fine], fb[fine], rtol=1e-6, atol=1e-8):
                return f"{how}({c})" if how else c
    return None


def _check_groups(spec: StudySpec, df: pd.DataFrame, treated: pd.Series,
                  out: list[str]) -> None:
    """Heterogeneity groups and alternative samples that hold no treated unit."""
    from policylab.data.filters import parse_filter

    b = spec.battery
    if b.heterogeneity.enabled:
        for col in b.heterogeneity.by:
            if col not in df.columns:
                continue
            has = treated.groupby(df[col]).any()
            empty = [g for g, v in has.items() if not v]
            if empty:
                out.append(f"battery.heterogeneity.by: groups {empty[:5]} of {col!r} hold no "
                           "treated unit, so their effect cannot be estimated; merge them "
                           "with others or drop them with data.query")
    for i, s in enumerate(b.samples):
        if not s.query:
            continue
        try:
            keep = parse_filter(s.query, f"battery.samples[{i}].query").mask(df)
        except PolicyLabError:
            continue  # named by check_columns
        if not treated[keep].any():
            out.append(f"battery.samples[{i}] ({s.name}): the sample {s.query!r} holds no "
                       "treated unit")
        elif treated[keep].all():
            out.append(f"battery.samples[{i}] ({s.name}): the sample {s.query!r} holds no "
                       "untreated unit")

"""What ``policylab init`` reads in a data file, as an applied economist would.

Every guess comes with its reason (written as comments in the spec): the unit and time
keys (quarter and month text such as "Q42010" or "2010m3" becomes a period number
through ``[derive]``), a 0/1 treatment that switches on within units, a post-period
column, a first-treated-period (cohort) or policy-year column, a unit-constant treated
group, population-like weights, the outcome, and controls that are not the outcome in
another form, the time index, a region-by-period dummy or an id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.names import quote_name
from policylab.errors import DataError

__all__ = ["Guess", "guess_study", "detect_keys"]

_TIME_NAMES = ("year", "time", "period", "t", "yr", "年份", "年", "quarter", "month",
               "date", "qtr", "季度", "月份")
_UNIT_NAMES = ("id", "unit", "province", "city", "code", "firm", "county", "region",
               "prov", "省份", "城市", "name", "state", "sid", "fips", "country",
               "countyreal", "statefip", "stfips", "iso", "iso3", "company", "stkcd")
_TREAT_NAMES = ("did", "treat_post", "treatpost", "d", "treated_post", "policy", "pilot",
                "post", "treatment", "treated", "law", "reform", "cdl", "adopted")
_COHORT_NAMES = ("effyear", "first.treat", "first_treat", "firsttreat", "cohort", "gname",
                 "g", "adopt_year", "adoption_year", "year_treated", "treat_year",
                 "first_treated", "policy_year", "law_year", "start_year", "yeartreated",
                 "treatyear")
_WEIGHT_NAMES = ("pop", "population", "weight", "weights", "wt", "wgt", "w", "pweight",
                 "aweight", "fweight", "popwt", "人口", "权重")
_LOG_PREFIXES = ("ln_", "log_", "l_", "ln", "log")


@dataclass
class Guess:
    """init's reading of a data file (every field with its reason in ``notes``)."""

    unit: str
    time: str
    derive: dict[str, str] = field(default_factory=dict)
    time_unit: str | None = None  # "quarter" / "month" when derived from text
    treat: str | None = None
    cohort: str | None = None
    group: str | None = None
    weights: str | None = None
    outcome: str | None = None
    controls: list[str] = field(default_factory=list)
    region: str | None = None
    window: tuple[int, int] = (-5, 5)
    notes: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    derive_values: dict[str, pd.Series] = field(default_factory=dict)  # derived columns


def _lower(c: Any) -> str:
    return str(c).lower()


def _period_text(s: pd.Series) -> tuple[str, pd.Series] | None:
    """("quarterly" | "monthly", period numbers) when every value of a text column is
    a quarter or a month."""
    from policylab.data.derive import monthly, quarterly
    from policylab.errors import PolicyLabError

    if pd.api.types.is_numeric_dtype(s) or s.dropna().empty:
        return None
    for name, fn in (("quarterly", quarterly), ("monthly", monthly)):
        try:
            return name, fn(s)
        except PolicyLabError:
            continue
    return None


def _time_candidates(df: pd.DataFrame) -> list[tuple[str, pd.Series, str | None]]:
    """(column, numeric periods, "quarterly"/"monthly" or None) in order of preference."""
    out: list[tuple[str, pd.Series, str | None]] = []
    seen: set[str] = set()

    def add(c: Any, vals: pd.Series, how: str | None) -> None:
        if str(c) not in seen:
            seen.add(str(c))
            out.append((str(c), vals, how))

    for c in df.columns:
        if _lower(c) in _TIME_NAMES and pd.api.types.is_integer_dtype(df[c]):
            add(c, df[c], None)
    for c in df.columns:
        if df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
            hit = _period_text(df[c])
            if hit:
                add(c, hit[1], hit[0])
    for c in df.columns:
        s = df[c]
        if (pd.api.types.is_integer_dtype(s) and s.between(1900, 2100).all()
                and s.nunique() <= 100):
            add(c, s, None)
    return out


def _unit_candidates(df: pd.DataFrame, time: str) -> list[str]:
    named = [str(c) for c in df.columns if _lower(c) in _UNIT_NAMES
             or _lower(c).endswith(("_id", "id", "code"))]
    rest = [str(c) for c in df.columns if str(c) not in named]
    # a unit repeats over periods: at most half as many units as rows
    return [c for c in named + rest if c != time and 1 < df[c].nunique() <= len(df) / 2
            and not df[c].isna().any()]


def detect_keys(df: pd.DataFrame) -> tuple[str, str]:
    """Guess (unit, time): a time column (years, period numbers, or quarter/month
    text) and a unit that makes the rows unique."""
    for t, _, _ in _time_candidates(df):
        for u in _unit_candidates(df, t):
            if not df.duplicated([u, t]).any():
                return u, t
    raise DataError(
        "could not detect the unit and time columns; pass --unit and --time "
        f"(columns: {list(df.columns)[:15]})"
    )


def _within(df: pd.DataFrame, by: str, c: str) -> bool:
    """Whether column ``c`` varies within some group of ``by``."""
    return bool((df.groupby(by)[c].nunique(dropna=True) > 1).any())


def _is_binary(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            and set(pd.unique(s.dropna())) <= {0, 1} and s.nunique() == 2
            ) or pd.api.types.is_bool_dtype(s)


def _absorbing(df: pd.DataFrame, unit: str, c: str) -> bool:
    """0/1 and never switching back off within a unit (sorted by time)."""
    d = df.groupby(unit)[c].diff().dropna()
    return bool((d >= 0).all())


def _cohort_like(df: pd.DataFrame, unit: str, t: pd.Series, c: str) -> bool:
    """Constant within unit, every value never-treated (0, missing, inf) or a period
    inside the data (or before it), with some units treated."""
    s = df[c]
    if not pd.api.types.is_numeric_dtype(s) or _within(df, unit, c):
        return False
    v = s[np.isfinite(s.to_numpy(float)) & (s != 0)]
    if v.empty or v.nunique() < 1 or len(v) == len(s) and v.nunique() == 1:
        return False
    return bool(((v == np.round(v)) & (v <= t.max() + 1) & (v >= t.min() - 50)).all())


def _mechanical_name(y: str, c: str) -> bool:
    low_y, low_c = y.lower(), c.lower()
    return any(low_y == p + low_c for p in _LOG_PREFIXES)


def _same_quantity(df: pd.DataFrame, y: str, c: str) -> str | None:
    """How ``y`` and ``c`` are one quantity in two forms (either the log or log1p of the
    other), by name or by value."""
    for a_name, b_name in ((y, c), (c, y)):
        if _mechanical_name(a_name, b_name):
            return f"{a_name} is log({b_name}) by its name"
    cols = {y: df[y].to_numpy(float), c: df[c].to_numpy(float)}
    ok = np.isfinite(cols[y]) & np.isfinite(cols[c])
    if ok.sum() < 3:
        return None
    for a_name, b_name in ((y, c), (c, y)):
        a, b = cols[a_name], cols[b_name]
        with np.errstate(all="ignore"):
            for how, f in (("log", np.log), ("log1p", np.log1p)):
                fb = f(b[ok])
                fine = np.isfinite(fb)
                if fine.mean() > 0.95 and np.allclose(a[ok][fine], fb[fine], rtol=1e-6,
                                                      atol=1e-8):
                    return f"{a_name} = {how}({b_name}) in the data"
    return None


def guess_study(df: pd.DataFrame, unit: str | None = None,
                time: str | None = None) -> Guess:
    """Read a data file as a person would; see the module docstring."""
    if unit is None or time is None:
        du, dt = detect_keys(df) if time is None else _unit_for(df, time)
        unit, time = unit or du, time or dt
    g = Guess(unit=str(unit), time=str(time))
    work = df.copy()
    hit = _period_text(df[time]) if time in df.columns else None
    if hit:
        name, periods = hit
        g.time_unit = "quarter" if name == "quarterly" else "month"
        new = "period" if "period" not in df.columns else "period_num"
        g.derive[new] = f"{name}({quote_name(time, dots=False)})"
        first = df[time].dropna().iloc[0]
        g.notes.append(f"time: {time!r} holds {g.time_unit}s as text (e.g. {first!r}); "
                       f"[derive] turns them into period numbers {new!r} counted as Stata's "
                       f"%t{g.time_unit[0]} ({g.time_unit}s since 1960: {first!r} -> "
                       f"{int(periods.iloc[0]) if periods.notna().iloc[0] else '?'})")
        work[new] = periods
        g.derive_values[new] = periods
        g.left_out[time] = "the time as text (its period numbers are the time)"
        g.time = new
    else:
        g.notes.append(f"time: {time!r} (whole-number periods)")
    g.notes.append(f"unit: {unit!r} ({work[unit].nunique()} units; one row per unit and "
                   "period)")
    _treatment(work, g)
    _weights(work, g)
    _outcome_controls(work, g)
    _region(work, g)
    return g


def _unit_for(df: pd.DataFrame, time: str) -> tuple[str, str]:
    for u in _unit_candidates(df, time):
        if not df.duplicated([u, time]).any():
            return u, time
    raise DataError(f"could not detect the unit column for time {time!r}; pass --unit")


def _treatment(df: pd.DataFrame, g: Guess) -> None:
    u, t = g.unit, g.time
    df = df.sort_values([u, t], kind="mergesort")
    cols = [c for c in df.columns if str(c) not in (u, t)]
    binary = [str(c) for c in cols if _is_binary(df[c])]
    switching = [c for c in binary if _within(df, u, c)]
    unit_const = [c for c in binary if c not in switching]
    # a post-period column is the same for every unit in a period
    time_only = [c for c in switching if not _within(df, t, c)]
    dummies = [c for c in switching if c not in time_only and _absorbing(df, u, c)
               and _within(df, t, c)]
    named = [c for c in dummies if c.lower() in _TREAT_NAMES]
    cohorts = [str(c) for c in cols if _cohort_like(df, u, df[t], str(c))]
    cohorts.sort(key=lambda c: c.lower() not in _COHORT_NAMES)
    # an unnamed dummy must look like a policy: match the cohort when there is one, and
    # not switch on only in the last period (a period-by-region dummy does)
    for c in [c for c in dummies if c not in named]:
        first = df.loc[df[c] == 1].groupby(u)[t].min()
        if (first == df[t].max()).all() or (cohorts and not _matches(df, u, t, c,
                                                                      cohorts[0])):
            dummies.remove(c)
            g.left_out[c] = ("a 0/1 column that switches on only in the last period"
                             if (first == df[t].max()).all() else
                             f"a 0/1 column that does not switch on at {cohorts[0]!r}")
    for c in [c for c in switching if c not in dummies and c not in time_only]:
        g.left_out[c] = "a 0/1 column that switches off again (e.g. a region-by-period dummy)"
    if cohorts:
        g.cohort = cohorts[0]
        n = df.loc[np.isfinite(df[g.cohort].to_numpy(float)) & (df[g.cohort] != 0),
                   u].nunique()
        never = "0" if (df[g.cohort] == 0).any() else "missing" if df[g.cohort].isna().any() \
            else "inf"
        g.notes.append(f"cohort: {g.cohort!r} is constant within units and holds first "
                       f"treated periods ({n} treated units, never treated coded {never}); "
                       f"{df[g.cohort].replace(0, np.nan).nunique()} adoption dates")
    if named or dummies:
        g.treat = (named or dummies)[0]
        g.notes.append(f"treatment: {g.treat!r} is 0/1, switches on within units and never "
                       "off (staggered adoption: the DID indicator)")
        if g.cohort:
            same = _matches(df, u, t, g.treat, g.cohort)
            g.notes.append(f"treatment: {g.treat!r} " + (
                f"switches on in each unit's {g.cohort!r}: both describe one treatment" if same
                else f"does NOT switch on at {g.cohort!r} in every unit: check which is right"))
    for c in dummies:
        if c != g.treat:
            g.left_out[c] = f"another 0/1 column that switches on (the treatment is {g.treat!r})"
    if not dummies and g.cohort:
        g.notes.append(f"treatment: no 0/1 column switches on within units; the cohort "
                       f"{g.cohort!r} defines it (treated from that period on)")
    ever = _ever_treated(df, g)
    if ever is not None:
        # a unit characteristic (union member, SOE, coastal) is 0/1 and constant within
        # units too; only the units the treatment reaches make the treated group
        for c in [c for c in unit_const
                  if not any(df.groupby(u)[c].first().eq(e).all() for e in ever)]:
            unit_const.remove(c)
            g.left_out[c] = (f"0/1 and constant within units, but not the units "
                             f"{g.treat or g.cohort!r} treats (a characteristic: e.g. "
                             "[battery.heterogeneity] by)")
    if unit_const:
        grp = sorted(unit_const, key=lambda c: c.lower() not in ("treat", "treated",
                                                                  "treatment", "group"))[0]
        g.group = grp
        g.notes.append(f"group: {grp!r} is 0/1 and constant within units (the treated group)")
    if time_only:
        post = sorted(time_only, key=lambda c: "post" not in c.lower())[0]
        g.left_out[post] = "a post-period indicator (the same for every unit in a period)"
        if not g.treat and not g.cohort and g.group:
            name = next(n for n in ("did", "treat_post", "did_derived") if n not in df)
            g.derive[name] = (f"{quote_name(g.group, dots=False)} == 1 and "
                              f"{quote_name(post, dots=False)} == 1")
            g.treat = name
            g.notes.append(f"treatment: derived as treated group {g.group!r} x post period "
                           f"{post!r}")
    _window(df, g)


def _ever_treated(df: pd.DataFrame, g: Guess) -> list[pd.Series] | None:
    """Per unit, 1 when the guessed treatment reaches it (None when no treatment was
    found); with a cohort, both readings of a cohort after the last period (treated
    group or not yet)."""
    u, t = g.unit, g.time
    if g.treat:
        return [df.groupby(u)[g.treat].max().eq(1).astype(int)]
    if g.cohort:
        first = df.groupby(u)[g.cohort].first()
        c = first.to_numpy(float)
        some = np.isfinite(c) & (c != 0)
        return [pd.Series(x.astype(int), index=first.index)
                for x in (some & (c <= float(df[t].max())), some)]
    return None


def _matches(df: pd.DataFrame, u: str, t: str, dummy: str, cohort: str) -> bool:
    """Whether ``dummy`` switches on in each unit's ``cohort`` period (never: never)."""
    first = df.loc[df[dummy] == 1].groupby(u)[t].min()
    c = df.groupby(u)[cohort].first()
    c = c.where(np.isfinite(c.to_numpy(float)), 0).fillna(0)
    inside = c.where(c <= df[t].max(), 0)  # cohorts after the data: never in the data
    return bool(first.reindex(c.index).fillna(0).eq(inside).all())


def _window(df: pd.DataFrame, g: Guess) -> None:
    t = df[g.time]
    if g.cohort:
        c = df[g.cohort].to_numpy(float)
        first = c[np.isfinite(c) & (c != 0)]
    elif g.treat and g.treat in df:
        first = df.loc[df[g.treat] == 1].groupby(g.unit)[g.time].min().to_numpy(float)
    else:
        return
    if not len(first):
        return
    lo = int(max(-5, t.min() - first.max()))
    hi = int(min(5, t.max() - first.min()))
    g.window = (min(lo, -2), max(hi, 0))


def _weights(df: pd.DataFrame, g: Guess) -> None:
    for c in df.columns:
        low = _lower(c)
        s = df[c]
        if str(c) in (g.unit, g.time) or not pd.api.types.is_numeric_dtype(s):
            continue
        if low.startswith(_LOG_PREFIXES) or low.startswith("l") and low[1:] in _WEIGHT_NAMES:
            continue
        named = low in _WEIGHT_NAMES or low.startswith(("pop", "weight")) or low.endswith(
            ("_wt", "_weight", "_pop"))
        if named and (s > 0).all():
            g.weights = str(c)
            g.notes.append(f"weights: {g.weights!r} is named like a population or weight "
                           "and is positive everywhere (delete the line for unweighted "
                           "estimates)")
            return


_CONTROL_MISSING = 0.05  # share of the outcome's rows a proposed control may lack


def _outcome_controls(df: pd.DataFrame, g: Guess) -> None:
    u, t = g.unit, g.time
    taken = {u, t, g.treat, g.cohort, g.group, g.weights, *g.left_out, *g.derive}
    numeric = [str(c) for c in df.columns if str(c) not in taken
               and pd.api.types.is_numeric_dtype(df[c]) and not _is_binary(df[c])]
    cont = []
    for c in numeric:
        if not _within(df, u, c):
            g.left_out[c] = "constant within units (an id or a unit trait: the unit FE absorb it)"
        elif not _within(df, t, c):
            g.left_out[c] = "the same for every unit in a period (a time index: the time FE " \
                            "absorb it)"
        else:
            cont.append(c)
    logs = [c for c in cont if _lower(c).startswith(_LOG_PREFIXES + ("y",))]
    g.outcome = (logs or cont or [None])[0]
    if g.outcome is None:
        g.notes.append("outcome: no numeric column varies within units and periods; write "
                       "it in model.outcomes")
        return
    g.notes.append(f"outcome: {g.outcome!r}" + (" (a log outcome)" if g.outcome in logs else
                                                 " (the first continuous column)"))
    has_y = df[g.outcome].notna()
    sparse: dict[str, int] = {}
    for c in cont:
        if c == g.outcome:
            continue
        same = _same_quantity(df, g.outcome, c)
        gone = int((has_y & df[c].isna()).sum())
        if same:
            g.left_out[c] = f"the outcome in another form ({same})"
        elif gone > _CONTROL_MISSING * has_y.sum():
            sparse[c] = gone
        elif len(g.controls) < 4:
            g.controls.append(c)
    if sparse:
        # a control drops every row where it is missing from every model: a few such
        # columns can leave a fraction of the panel without the user noticing
        g.notes.append(
            f"not proposed as controls, each missing in more than "
            f"{_CONTROL_MISSING:.0%} of the {int(has_y.sum())} rows with the outcome (it "
            "would drop them from every model): "
            + ", ".join(f"{c!r} ({n})" for c, n in sparse.items()))


def _region(df: pd.DataFrame, g: Guess) -> None:
    """A coarser unit-constant grouping (region) for region-by-period fixed effects."""
    n_units = df[g.unit].nunique()
    for c in df.columns:
        low = _lower(c)
        if str(c) in (g.unit, g.time) or not re.search(r"region|division|地区|区域", low):
            continue
        if not _within(df, g.unit, c) and 1 < df[c].nunique() < n_units / 2:
            g.region = str(c)
            g.left_out.setdefault(str(c), "a unit-constant region (for region-by-period FE)")
            return

"""Who is treated when, and in which model: one Design carried to every estimator.

A Design holds the panel keys, the treatment (0/1 and cohort), the assignment level,
the fixed effects, the cluster, the weights, the controls and the sample, each checked
once here. Every DID-family estimator takes a Design as its data argument
(``pl.did(design, y="y")``); their keyword forms (``pl.did(df, y=, treat=, fe=, ...)``)
build one with :func:`build_design` and run the same code.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.engine.passes import varies_within
from policylab.errors import DataError, SpecError
from policylab.estimators.formula import _factorize, fe_terms
from policylab.messages import Message

__all__ = ["Design", "DesignNotHonoured", "build_design", "as_design", "cohort_frame", "cohort_inputs",
           "model_fe_terms", "require_fe_columns", "design_record", "takes_design",
           "TREAT_COL",
           "COHORT_COL"]

F = TypeVar("F", bound=Callable[..., Any])

TREAT_COL = "_did"
COHORT_COL = "_cohort"


class DesignNotHonoured(SpecError):
    """An estimator cannot honour part of a Design (weights, fixed effects, controls,
    clusters); the message names the part. The study shows such a step as not run."""


@dataclass(frozen=True)
class Design:
    """A panel with its treatment and its model.

    ``df`` holds the kept rows with ``treat_col`` (0/1) and ``_cohort`` (first treated
    period; 0 = never treated). ``fe`` lists the absorbed fixed-effect terms (``a^b``
    interacts; default unit and time), ``cluster`` the clustering column (default: the
    assignment level), ``weights`` the observation-weight column, ``controls`` the
    control terms, ``sample`` a description of a row restriction, ``dropped`` the rows
    removed while building (and why). Build with :func:`build_design`; derive variants
    with :meth:`replace` (no data are copied).
    """

    df: pd.DataFrame
    unit: str
    time: str
    treat_col: str
    assign: str
    facts: dict[str, Any] = field(default_factory=dict)
    fe: tuple[str, ...] = ()
    cluster: str | None = None
    weights: str | None = None
    controls: tuple[str, ...] = ()
    sample: str | None = None
    treatment: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    unit_codes: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def cohort(self) -> pd.Series:
        """First treated period per row (0 = never)."""
        return self.df[COHORT_COL]

    @property
    def cluster_col(self) -> str:
        """The clustering column actually used (the assignment level by default)."""
        return self.cluster or self.assign

    @property
    def extra_fe(self) -> list[str]:
        """Fixed-effect terms other than the plain unit and time effects."""
        return [f for f in self.fe if f not in (self.unit, self.time)]

    @property
    def two_way(self) -> bool:
        """Whether the fixed effects are exactly unit and time (the textbook TWFE)."""
        return sorted(self.fe) == sorted({self.unit, self.time})

    @property
    def nobs(self) -> int:
        return len(self.df)

    def replace(self, **changes: Any) -> Design:
        """A copy with some model parts changed (``controls=[]``, ``weights=None``,
        ``fe=[...]``, or ``df=`` the same rows with extra columns); the data are shared,
        the new parts are checked."""
        if "fe" in changes:
            changes["fe"] = tuple(fe_terms(changes["fe"], self.unit, self.time,
                                           allow_empty=True))
            require_fe_columns(self.df, list(changes["fe"]))
        if "controls" in changes:
            changes["controls"] = tuple(_as_names(changes["controls"], "controls"))
        if changes.get("weights") is not None:
            _check_weights(self.df, changes["weights"])
        if changes.get("cluster") is not None:
            _check_cluster(self.df, changes["cluster"])
        if "df" in changes and len(changes["df"]) != len(self.df):
            raise SpecError("replace(df=...) takes the same rows with extra columns; build "
                            "a new design for another sample")
        return dataclasses.replace(self, **changes)

    def record(self, **used: Any) -> dict[str, Any]:
        """The model this design describes, as a compact dict (results' metadata and
        the study's results.json); ``used`` overrides parts an estimator changed (the
        rows it kept in ``nobs``, a ``vcov`` given instead of the cluster)."""
        rec = {
            "unit": self.unit, "time": self.time, "treatment": self.treatment,
            "assign": self.assign, "fe": list(self.fe), "cluster": self.cluster_col,
            "weights": self.weights, "controls": list(self.controls),
            "sample": self.sample, "nobs": self.nobs, "dropped": dict(self.dropped),
        }
        rec.update(used)
        return rec

    def meta(self, **used: Any) -> dict[str, Any]:
        """``meta["design"]`` of a Result: the facts (treated units, cohorts, ...) and
        the record of the model used."""
        return {**self.facts, **self.record(**used)}

    def refuse(self, what: str, *, weights: bool = False, fe: bool = False,
               controls: bool = False, cluster: bool = False) -> None:
        """Raise a SpecError naming the parts of the design ``what`` cannot honour.

        The flags say which parts the estimator lacks: ``fe=True`` means it absorbs only
        unit and time effects, ``cluster=True`` that it clusters only by unit.
        """
        reasons = []
        if weights and self.weights:
            reasons.append(Message("design.part_weights", col=self.weights))
        if fe and not self.two_way:
            reasons.append(Message("design.part_fe", unit=self.unit, time=self.time,
                                   fe=" + ".join(self.fe) or "none"))
        if controls and self.controls:
            reasons.append(Message("design.part_controls", controls=list(self.controls),
                                   joined=", ".join(self.controls)))
        if cluster and self.cluster_col != self.unit:
            reasons.append(Message("design.part_cluster", col=self.cluster_col))
        if reasons:
            raise DesignNotHonoured(Message("design.not_honoured", what=what, parts=reasons))


def _as_names(v: Any, what: str) -> list[str]:
    """A list of column names or terms from a string (one name) or a sequence."""
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if not isinstance(v, Sequence) or not all(isinstance(x, str) for x in v):
        raise SpecError(f"{what}= must be a list of column names, got {v!r}")
    return list(v)


def _check_weights(df: pd.DataFrame, weights: str) -> None:
    require_columns(df, [weights], "weights column")
    w = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise DataError(f"weights column {weights!r} must be non-negative numbers; "
                        f"{int(bad.sum())} rows are missing, negative or not numbers "
                        "(e.g. row " + repr(df.index[int(np.argmax(bad))]) + "); fix or "
                        "drop them")


def _check_cluster(df: pd.DataFrame, cluster: str) -> None:
    from policylab.data.names import unquote_name
    from policylab.estimators.formula import split_terms

    # a cluster that is a column's name is that column (names are names), else 'a + b'
    cols = [cluster] if cluster in df.columns else [unquote_name(c)
                                                    for c in split_terms(cluster)]
    require_columns(df, cols, "cluster column")
    for c in cols:
        n = int(df[c].isna().sum())
        if n:
            raise DataError(f"cluster column {c!r} is missing in {n} rows; fill it or "
                            "drop those rows")


def require_fe_columns(df: pd.DataFrame, fe: list[str]) -> None:
    """SpecError naming the fixed-effect terms whose columns are not in the data."""
    from policylab.estimators.formula import fe_columns, fe_label

    try:
        fe_columns(df, fe)  # odd names between backticks, or a column's exact name
    except SpecError as exc:
        raise SpecError(f"fe={' + '.join(fe_label(t) for t in fe)!r}: {exc}") from None


def model_fe_terms(fe: str | Sequence[str] | None, unit: str, time: str,
                   what: str = "the imputation model") -> list[str]:
    """:func:`policylab.estimators.formula.fe_terms` for a model that needs at least
    one fixed effect."""
    return fe_terms(fe, unit, time, what=what)


def cohort_frame(data: Any, y: str, unit: str | None, time: str | None, cohort: str
                 ) -> tuple[pd.DataFrame, str, str]:
    """The frame, unit and time of a cohort-column estimator (read only)."""
    if isinstance(data, Panel):
        unit, time = unit or data.unit, time or data.time
        df = data.df
    else:
        df = as_pandas(data)
    if unit is None or time is None:
        raise SpecError("unit= and time= are required unless data is a Panel")
    require_columns(df, [y, unit, time, cohort])
    return df, unit, time


def design_record(*, unit: str, time: str, treatment: str, nobs: int,
                  fe: Sequence[str] | None = None, cluster: str | None = None,
                  weights: str | None = None, controls: Sequence[str] = (),
                  design: Design | None = None) -> dict[str, Any]:
    """``meta["design"]`` of a Result: the Design's record when one was given, else the
    same keys from the keyword arguments the estimator used."""
    if design is not None:
        return design.meta(nobs=nobs)
    return {"unit": unit, "time": time, "treatment": treatment, "assign": unit,
            "fe": list(fe or []), "cluster": cluster or unit, "weights": weights,
            "controls": list(controls), "sample": None, "nobs": nobs, "dropped": {}}


def cohort_inputs(data: Any, what: str, y: str, unit: str | None, time: str | None,
                  cohort: str | None, **model: Any
                  ) -> tuple[pd.DataFrame, str, str, str, dict[str, Any], Design | None]:
    """Inputs of an estimator that reads a cohort column: the frame, unit, time, cohort
    column and its model arguments (``controls``, ``fe``, ``cluster``, ``weights``),
    taken from a Design (which then fixes them all) or from the keywords."""
    if isinstance(data, Design):
        as_design(data, what, unit=unit, time=time, cohort=cohort, **model)
        require_columns(data.df, [y], "outcome")
        parts = {"controls": list(data.controls), "fe": list(data.fe),
                 "cluster": data.cluster_col, "weights": data.weights}
        return (data.df, data.unit, data.time, COHORT_COL,
                {k: parts[k] for k in model}, data)
    cohort = cohort or "cohort"
    df, unit, time = cohort_frame(data, y, unit, time, cohort)
    return df, unit, time, cohort, model, None


def takes_design(what: str, **lacks: bool) -> Callable[[F], F]:
    """Decorator for an estimator that builds its designs from keywords (``treat=``,
    ``unit=``, ``controls=``, ``fe=``, ``cluster=``, ``weights=`` ...): a Design given as
    ``data`` becomes its kept rows and the keywords that rebuild the same model
    (treatment from its 0/1 column). ``lacks`` names parts the estimator cannot honour
    (as :meth:`Design.refuse`); keywords the Design already fixes are refused."""

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            bound = sig.bind(*args, **kw)
            d = bound.arguments.get("data")
            if not isinstance(d, Design):
                return fn(*args, **kw)
            d.refuse(what, **lacks)
            parts = {"unit": d.unit, "time": d.time, "treat": d.treat_col, "cohort": None,
                     "roster": None, "date": "announcement", "assign": d.assign,
                     "controls": list(d.controls), "fe": list(d.fe), "cluster": d.cluster,
                     "weights": d.weights}
            parts = {k: v for k, v in parts.items() if k in sig.parameters}
            as_design(d, what, **{k: bound.arguments[k] for k in parts
                                  if k in bound.arguments})
            bound.arguments.update(parts, data=d.df)
            return fn(*bound.args, **bound.kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


def as_design(data: Any, what: str, **kw: Any) -> Design:
    """``data`` itself when it is a Design (then no other design argument may be
    given), else :func:`build_design` of ``data`` with the keyword arguments."""
    if isinstance(data, Design):
        given = sorted(k for k, v in kw.items()
                       if v is not None and not (k == "date" and v == "announcement")
                       and not (isinstance(v, (list, tuple)) and not v))
        if given:
            raise SpecError(f"{what}: data is a Design, which already fixes {given}; "
                            "change them with design.replace(...) instead of passing "
                            "them again")
        return data
    return build_design(data, **kw)


def _first_treated(codes: np.ndarray, n_units: int, t: np.ndarray,
                   d: np.ndarray) -> np.ndarray:
    """First treated period of each row's unit (0 = never treated)."""
    on = d == 1
    first = np.full(n_units, np.inf)
    np.minimum.at(first, codes[on], t[on].astype(float))
    return np.where(np.isfinite(first), first, 0.0).astype(np.int64)[codes]


def _varies_within(codes: np.ndarray, values: np.ndarray) -> bool:
    """Whether ``values`` take more than one value (missing counts as one) in a group."""
    if values.dtype.kind not in "fiub":
        values = pd.factorize(values, use_na_sentinel=False)[0]
    return varies_within(codes, values)


def _switching_off(codes: np.ndarray, t: np.ndarray, d: np.ndarray, units: Any) -> list:
    """Units (first ten) whose treatment goes from 1 back to 0 over time."""
    sorted_ = np.all(np.diff(codes) >= 0) and np.all(np.diff(t)[np.diff(codes) == 0] > 0)
    order = slice(None) if sorted_ else np.lexsort((t, codes))
    c, dd = codes[order], d[order]
    off = (c[1:] == c[:-1]) & (dd[:-1] == 1) & (dd[1:] == 0)
    return list(units[np.unique(c[1:][off])][:10])


def _treatment_from_column(df: pd.DataFrame, treat: str, codes: np.ndarray, n_units: int,
                           t: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Check a 0/1 column; returns the rows to keep (None: all; missing treatment is
    dropped, not read as 0) and the cohort of every row."""
    require_columns(df, [treat], "treatment column")
    dv = pd.to_numeric(df[treat], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    # not 0/1, or not a number at all (coerced to NaN where the column is not NaN)
    bad = ~((dv == 0) | (dv == 1)) & (~np.isnan(dv) | df[treat].notna().to_numpy())
    if bad.any():
        example = df[treat].iloc[int(np.argmax(bad))]
        example = example.item() if isinstance(example, np.generic) else example
        raise DataError(f"treatment column {treat!r} must be 0/1, found {example!r}; "
                        "for a cohort (first treated year) column use cohort=")
    _refuse_treated_at_nonpositive_time(df, treat, t, dv)
    missing = np.isnan(dv)
    if not missing.any():
        return None, _first_treated(codes, n_units, t, dv)
    on = ~missing
    cohort = np.zeros(len(dv), dtype=np.int64)
    cohort[on] = _first_treated(codes[on], n_units, t[on], dv[on])
    return on, cohort


def _refuse_treated_at_nonpositive_time(df: pd.DataFrame, treat: str, t: np.ndarray,
                                        dv: np.ndarray) -> None:
    """Cohort 0 means never treated (as in R's did and Stata's csdid): a unit first
    treated at time 0 or before would be read as never treated and become a control
    in the staggered estimators, so such a time coding is refused with the fix."""
    if t.dtype.kind not in "iuf":
        return
    early = (dv == 1) & (t <= 0)
    if not early.any() or np.all(t == t[0]):  # one period: a cross-section, no cohorts
        return
    i = int(np.argmax(early))
    tv = t[i].item() if isinstance(t[i], np.generic) else t[i]
    raise DataError(
        f"treatment column {treat!r} is 1 at time {tv!r} (row {df.index[i]!r}; "
        f"{int(early.sum())} rows at time <= 0): policylab codes a unit's first treated "
        "period as its cohort and 0 as never treated, so treatment must start at a "
        "positive time; shift the time column (e.g. time + 1) or use calendar years")


def _treatment_columns(df: pd.DataFrame, *, unit: str, time: str, treat: str | None,
                       cohort: str | None, roster: Any, date: str, assign: str,
                       codes: np.ndarray, n_units: int,
                       ) -> tuple[str, np.ndarray | None, str, dict[str, np.ndarray]]:
    """The treatment column, the rows to keep, a description of the source, and the
    columns to add to ``df``: ``_cohort`` (and the 0/1 column when built here)."""
    t = df[time].to_numpy()
    if treat is not None:
        keep, ci = _treatment_from_column(df, treat, codes, n_units, t)
        return treat, keep, f"column {treat}", {COHORT_COL: ci}
    treat_col = "did" if "did" not in df.columns else TREAT_COL
    if cohort is not None:
        require_columns(df, [cohort], "cohort column")
        c = pd.to_numeric(df[cohort], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        c = np.where(np.isfinite(c), c, 0.0)  # never treated: 0, missing or inf
        if (c < 0).any():
            raise DataError(f"cohort column {cohort!r} has negative values")
        if _varies_within(codes, c):
            raise DataError(f"cohort column {cohort!r} must be constant within each {unit!r}")
        ci = c.astype(np.int64)
        return treat_col, None, f"cohort {cohort}", {
            COHORT_COL: ci, treat_col: ((ci > 0) & (t >= ci)).astype(np.int64)}
    from policylab.data.rosters import roster_treatment

    cols = roster_treatment(df, roster, unit=unit, time=time, date=date,
                            member_of=None if assign == unit else assign, prefix="_r")
    name = roster if isinstance(roster, str) else "given roster"
    return treat_col, None, f"roster {name} ({date})", {
        COHORT_COL: cols["_r_cohort"].to_numpy(), treat_col: cols["_r_did"].to_numpy()}


def _add_columns(df: pd.DataFrame, new: dict[str, np.ndarray]) -> pd.DataFrame:
    """``df`` with ``new`` added (or replaced) in one concat: inserting columns one at a
    time into a frame read from a wide CSV (one block per column) fragments it, and
    pandas then prints a PerformanceWarning on every insert."""
    kept = df.drop(columns=[c for c in new if c in df.columns])
    return pd.concat([kept, pd.DataFrame(new, index=df.index)], axis=1)


def _facts(df: pd.DataFrame, treat_col: str, codes: np.ndarray, units: np.ndarray,
           t: np.ndarray, assign: str, unit: str, switching: bool) -> dict[str, Any]:
    """The facts a referee asks about: treated units and groups, cohorts, switching."""
    d = df[treat_col].to_numpy(float)
    n_units = len(units)
    ever_u = np.bincount(codes, weights=d, minlength=n_units) > 0
    first_t = int(np.min(t)) if t.size else 0
    # the cohort is constant within units: work on one value per unit
    g_u = np.zeros(n_units, dtype=np.int64)
    g_u[codes] = df[COHORT_COL].to_numpy()
    # adoption after the last period (or a sentinel such as 9999) is not seen in-sample
    cohorts = np.unique(g_u[(g_u > 0) & (g_u <= (np.max(t) if t.size else 0))])
    present = np.bincount(codes, minlength=n_units) > 0
    always = units[(g_u > 0) & (g_u <= first_t) & present]
    if assign == unit:
        n_groups, n_treated_groups = int(present.sum()), int(ever_u.sum())
    else:
        assign_vals = df[assign].to_numpy()
        n_groups = int(pd.unique(assign_vals).size)
        n_treated_groups = int(pd.unique(assign_vals[ever_u[codes]]).size)
    return {
        "n_units": int(present.sum()),
        "n_treated_units": int(ever_u.sum()),
        "n_assign_groups": n_groups,
        "n_treated_groups": n_treated_groups,
        "cohorts": [int(c) for c in cohorts],
        "staggered": len(cohorts) > 1,
        # a cohort or roster builds an absorbing treatment; only a 0/1 column can switch off
        "switching_off_units": _switching_off(codes, t, d, units) if switching else [],
        "always_treated_units": list(always[:10]),
        "share_treated_obs": float(d.mean()) if d.size else 0.0,
    }


def build_design(
    data: Any,
    *,
    unit: str | None = None,
    time: str | None = None,
    treat: str | None = None,
    cohort: str | None = None,
    roster: str | pd.DataFrame | None = None,
    date: str = "announcement",
    assign: str | None = None,
    controls: Sequence[str] | str | None = None,
    fe: str | Sequence[str] | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    sample: Any = None,
    sample_name: str | None = None,
) -> Design:
    """Resolve the treatment and the model into a Design, checking every part once.

    Parameters
    ----------
    data : Panel or DataFrame
        The panel (never modified).
    unit, time : str
        Panel keys (taken from a Panel when omitted).
    treat, cohort, roster, date
        Exactly one of ``treat`` (0/1 column; rows where it is missing are dropped and
        counted in ``dropped["treatment missing"]``, never read as 0), ``cohort``
        (first treated period; never-treated coded 0, missing or inf) or ``roster``
        (+ ``date``).
    assign : str, optional
        Level at which treatment is assigned when above the unit (cities inside pilot
        provinces); constant within each unit. Default: the unit.
    controls : list of str, optional
        Control terms of the regressions.
    fe : str or list of str, optional
        Fixed effects (default unit and time); ``"unit + region^year"`` or a list;
        ``[]`` for none.
    cluster : str, optional
        Cluster column (default: the assignment level).
    weights : str, optional
        Observation-weight column (non-negative, not missing).
    sample : boolean array or Series, optional
        Rows to keep (the treatment timing is read from all rows first, so a unit
        treated before the sample starts keeps its adoption date).
    sample_name : str, optional
        How the sample was chosen, for the record (e.g. the filter text).

    Returns
    -------
    Design
    """
    if isinstance(data, Panel):
        unit, time = unit or data.unit, time or data.time
    df = as_pandas(data)
    if df.empty:
        raise DataError("the data have no rows (an empty table, or a filter that kept "
                        "nothing); check the file and the sample")
    if unit is None or time is None:
        raise SpecError("unit= and time= are required unless data is a policylab.Panel")
    given = [k for k, v in (("treat", treat), ("cohort", cohort), ("roster", roster)) if v is not None]
    if len(given) != 1:
        raise SpecError("give exactly one of treat= (0/1 column), cohort= (first treated "
                        f"period) or roster= (policy roster); got {given or 'none'}")
    assign = assign or unit
    require_columns(df, [unit, time, assign])
    codes, units = _factorize(df[unit])
    if (codes < 0).any():
        raise DataError(f"unit column {unit!r} is missing in {int((codes < 0).sum())} rows; "
                        "drop them or fill the unit identifier")
    treat_col, keep, source, new = _treatment_columns(
        df, unit=unit, time=time, treat=treat, cohort=cohort, roster=roster, date=date,
        assign=assign, codes=codes, n_units=len(units))
    df = _add_columns(df, new)
    if assign != unit and _varies_within(codes, df[assign].to_numpy()):
        raise DataError(f"assign={assign!r} must be constant within each {unit!r} "
                        "(a unit belongs to one assignment group)")
    dropped: dict[str, int] = {}
    if keep is not None:
        dropped["treatment missing"] = int((~keep).sum())
    if sample is not None:
        mask = np.asarray(sample, dtype=bool)
        if mask.shape != (len(df),):
            raise SpecError(f"sample= must be a boolean mask of the {len(df)} rows")
        dropped["outside the sample"] = int((~mask if keep is None else keep & ~mask).sum())
        keep = mask if keep is None else keep & mask
    if keep is not None and not keep.all():
        df, codes = df.loc[keep], codes[keep]
    fe_list = fe_terms(fe, unit, time, allow_empty=True)
    require_fe_columns(df, fe_list)
    if weights is not None:
        _check_weights(df, weights)
    if cluster is not None:
        _check_cluster(df, cluster)
    ctrl = _as_names(controls, "controls")
    facts = _facts(df, treat_col, codes, units, df[time].to_numpy(), assign, unit,
                   switching=treat is not None)
    if dropped.get("treatment missing"):
        facts["treatment_missing_rows"] = dropped["treatment missing"]
    return Design(df=df, unit=unit, time=time, treat_col=treat_col, assign=assign,
                  facts=facts, fe=tuple(fe_list), cluster=cluster, weights=weights,
                  controls=tuple(ctrl), sample=sample_name, treatment=source,
                  dropped={k: v for k, v in dropped.items() if v}, unit_codes=codes)

"""Two-way fixed-effects difference-in-differences with the checks a referee expects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from policylab.data.panel import require_columns
from policylab.errors import SpecError
from policylab.estimators.design import as_design
from policylab.estimators.feols import FeolsResult, feols
from policylab.estimators.formula import model_formula
from policylab.estimators.result import ResultList
from policylab.messages import Message

__all__ = ["did", "DIDResult"]


@dataclass
class DIDResult(FeolsResult):
    """A FeolsResult whose treatment term is known (``meta["treat_term"]``), with the
    treatment design's facts and the model used (fixed effects, cluster, weights,
    controls, sample) in ``meta["design"]``."""

    @property
    def att(self) -> float:
        """The DID estimate (coefficient of the treatment term)."""
        return float(self.coef()[self.meta["treat_term"]])

    def summary(self) -> str:
        """The regression summary plus the design and the inference it uses."""
        f = self.meta["design"]
        head = (f"DID: {self.meta['depvar']} on {self.meta['treat_term']}; "
                f"{f['n_treated_units']} of {f['n_units']} units treated "
                f"({f['n_treated_groups']} of {f['n_assign_groups']} {self.meta['assign']} "
                f"groups); SE {self.meta['vcov_label']}")
        return head + "\n" + super().summary()


def did(
    data: Any,
    y: str | Sequence[str],
    treat: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    controls: Sequence[str] = (),
    fe: str | Sequence[str] | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    *,
    cohort: str | None = None,
    roster: str | pd.DataFrame | None = None,
    date: str = "announcement",
    assign: str | None = None,
    vcov: Any = None,
    post_controls: Sequence[str] = (),
    ssc: Any = None,
) -> DIDResult | ResultList:
    """Two-way fixed-effects DID: ``y ~ D + controls | unit + time``.

    Parameters
    ----------
    data : Design, Panel or DataFrame
        A :class:`~policylab.estimators.design.Design` carries the treatment, controls,
        fixed effects, cluster, weights and sample (then give none of those here);
        otherwise one is built from the keyword arguments.
    y : str or list of str
        Outcome(s); a list returns a ResultList.
    treat, cohort, roster : str
        Exactly one: a 0/1 treatment column; a cohort column (first treated period,
        never-treated 0 or missing); or a bundled roster name ("carbon_trading",
        "energy_rights") with ``date="announcement" | "market_opening"``.
    unit, time : str
        Panel keys (taken from a Panel when omitted).
    controls : list of str
        Control variables (plain columns or formula terms such as ``log(gdp)``).
    fe : str or list of str, optional
        Fixed effects (default: unit and time), as ``"city + province^year"`` or a
        list; ``"province^year"`` interacts; ``[]`` for none.
    cluster : str, optional
        Clustering column. Default: the level at which treatment is assigned
        (``assign``, else the unit), as the design-based argument recommends.
    weights : str, optional
        Analytic weights column.
    assign : str, optional
        Level at which treatment is assigned if above the unit (e.g. "province" for a
        city panel); also the permutation level of placebo tests.
    vcov : optional
        Overrides ``cluster``: "iid", "hetero", or ``{"CRV1": "a+b"}``.
    post_controls : list of str
        Controls you know may be affected by the policy; they are flagged as bad
        controls in the warnings.

    Returns
    -------
    DIDResult (or ResultList for several outcomes) with warnings for few treated
    clusters, staggered timing, treatment switching off, always-treated units and flagged
    post-treatment controls.
    """
    from policylab.validation import as_names

    y, controls = as_names(y, "y", allow_empty=False), as_names(controls, "controls")
    post_controls = as_names(post_controls, "post_controls")
    design = as_design(data, "did", unit=unit, time=time, treat=treat, cohort=cohort,
                       roster=roster, date=date, assign=assign, controls=controls, fe=fe,
                       cluster=cluster, weights=weights)
    unit, time, assign_ = design.unit, design.time, design.assign
    controls = list(design.controls)
    ys = [y] if isinstance(y, str) else list(y)
    require_columns(design.df, ys, "outcome")
    fe = list(design.fe)
    if vcov is None:
        vcov = {"CRV1": design.cluster_col}
    elif design.cluster is not None:
        raise SpecError("give either cluster= or vcov=, not both")
    fml = model_formula(design.df.columns, ys, [design.treat_col, *controls], fe)
    res = feols(fml, design.df, vcov=vcov, weights=design.weights, ssc=ssc)
    results = [res] if isinstance(res, FeolsResult) else list(res)
    out = []
    for r in results:
        d = r.derive(DIDResult)
        d.meta.update(
            treat_term=design.treat_col, unit=unit, time=time, assign=assign_,
            controls=controls, cohort_col="_cohort",
            design=design.meta(nobs=r.nobs, **({} if vcov == {"CRV1": design.cluster_col}
                                               else {"cluster": None, "vcov": str(vcov)})),
            cluster_default=design.cluster is None and vcov == {"CRV1": assign_},
        )
        if design.dropped:
            d.meta["dropped"] = {**design.dropped, **d.meta.get("dropped", {})}
        if design.treat_col not in d.terms:
            from policylab.errors import EstimationError

            raise EstimationError(
                f"the treatment {design.treat_col!r} was dropped "
                f"({d.meta['dropped_terms'].get(design.treat_col, 'collinear')}); it does "
                "not vary within units and periods after the fixed effects"
            )
        _referee_warnings(d, design.facts, list(post_controls), controls)
        out.append(d)
    return out[0] if len(out) == 1 else ResultList(out)


def _referee_warnings(res: DIDResult, f: dict[str, Any], post: list[str],
                      controls: list[str]) -> None:
    g = f["n_treated_groups"]
    if g < 10:
        res.warn(Message("did.few_treated_clusters", n=g, level=res.meta["assign"]))
    if f["staggered"]:
        res.warn(Message("did.staggered", k=len(f["cohorts"]), cohorts=f["cohorts"][:6]))
    if f.get("treatment_missing_rows"):
        res.warn(Message("did.treatment_missing", n=f["treatment_missing_rows"]))
    if f["switching_off_units"]:
        res.warn(Message("did.switching_off", units=f["switching_off_units"][:5]))
    if f["always_treated_units"]:
        res.warn(Message("did.always_treated", units=f["always_treated_units"][:5]))
    bad = [c for c in post if c in controls]
    if bad:
        res.warn(Message("did.post_treatment_controls", controls=bad))

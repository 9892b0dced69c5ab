"""Re-studentise a fitted model with another variance (fixest ``summary(fit, vcov=)``).

The coefficients stay; the covariance matrix, degrees of freedom, label and cluster
counts are recomputed from the result's :class:`~policylab.estimators.fit.Fit` by the
engine's one variance entry point, exactly as if the model had been fitted with that
vcov.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from policylab.engine import vcov as vc
from policylab.errors import SpecError
from policylab.estimators.fit import cluster_codes, few_clusters_warnings, fit_variance
from policylab.estimators.vcov_spec import resolve_ssc, resolve_vcov
from policylab.messages import message_key

__all__ = ["restudentise"]



def restudentise(res: Any, vcov: Any = None, ssc: Any = None) -> Any:
    """A copy of the feols-type ``res`` with the variance ``vcov`` (and ``ssc``).

    Parameters
    ----------
    res : FeolsResult or a subclass (DIDResult)
    vcov : str or dict, optional
        As feols' ``vcov=``; default: the one the model was fitted with.
    ssc : str, dict or SSC, optional
        Default: the model's.

    Returns
    -------
    A result of the same type: same coefficients, new standard errors.
    """
    fit = res.fit
    if fit is None:
        raise SpecError(f"this {type(res).__name__} keeps no fit to re-studentise (a streamed "
                        "fit keeps only sums: refit feols_stream with the vcov you want)")
    s = (res.meta.get("ssc") or vc.SSC()) if ssc is None else resolve_ssc(ssc)
    if vcov is None:
        kind, cols = res.meta.get("vcov", "iid"), list(res.meta.get("cluster") or [])
    else:
        kind, cols, _ = resolve_vcov(vcov, None, list(fit.fe_names), fit.data.columns)
    if fit.iv and kind == "CRV3":
        raise SpecError("IV models support vcov 'iid', 'hetero' and CRV1 clustering; the CRV3 "
                        "jackknife would have to re-estimate the first stage")
    codes = cluster_codes(fit, cols) if cols else ()
    var = fit_variance(kind, fit, codes, cols, s)
    idx = [fit.terms.index(t) for t in res.terms]
    meta = {**res.meta, "vcov": kind, "vcov_label": var.label, "cluster": list(cols),
            "ssc": s}
    meta.pop("vcov_default", None)
    if isinstance(meta.get("design"), dict) and vcov is not None:
        meta["design"] = {**meta["design"], "cluster": None, "vcov": str(vcov)}
        meta["cluster_default"] = False
    out = replace(
        res, meta=meta, vcov_matrix=var.V[np.ix_(idx, idx)], df_t=var.df,
        n_clusters=dict(zip(cols, var.n_clusters)),
        warnings=[w for w in res.warnings if message_key(w) != "feols.few_clusters"],
        fit=replace(fit, cluster_codes=codes, cluster_cols=tuple(cols), df_k=var.df_k),
    )
    if res.first_stage:
        out.first_stage, out.first_stage_f = _first_stages(res, vcov, ssc)
        if isinstance(meta.get("iv"), dict):
            meta["iv"] = {**meta["iv"], "first_stage_f": dict(out.first_stage_f)}
    for msg in few_clusters_warnings(var, cols):
        out.warn(msg)
    return out


def _first_stages(res: Any, vcov: Any, ssc: Any) -> tuple[list[Any], dict[str, float]]:
    """The first stages with the new variance, and their excluded instruments' F."""
    exog = set(res.terms)
    firsts, fstats = [], {}
    for r1 in res.first_stage:
        r1 = r1.vcov(vcov, ssc=ssc)
        firsts.append(r1)
        fstats[r1.meta["depvar"]] = float(
            r1.wald_test([t for t in r1.terms if t not in exog])["statistic"])
    return firsts, fstats

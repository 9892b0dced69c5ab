"""Fits from other libraries, seen through the Result protocol's table side.

:func:`policylab.etable` lays out anything with ``tidy()`` in policylab's columns
(term, estimate, std_error, statistic, p_value, conf_low, conf_high). pyfixest's
``Feols``/``Fepois``/``Feiv`` fits have a ``tidy()`` with fixest's column names
("Estimate", "Std. Error", ...) and keep N, the fixed effects, the vcov type, the
clusters and R-squared on the fit; :func:`as_table_result` reads those (the same
attributes pyfixest's own ``etable`` reads) into a :class:`ForeignFit`. A multiple
estimation (``FixestMulti``) becomes one column per model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import SpecError

__all__ = ["ForeignFit", "as_table_result", "expand_results"]

_TIDY = ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]
# fixest's tidy() column names -> policylab's (t or z statistics, for feols or fepois)
_FIXEST_COLUMNS = {"Estimate": "estimate", "Std. Error": "std_error", "t value": "statistic",
                   "z value": "statistic", "Pr(>|t|)": "p_value", "Pr(>|z|)": "p_value",
                   "2.5%": "conf_low", "97.5%": "conf_high"}


@dataclass
class ForeignFit:
    """Coefficients and fit statistics of a model policylab did not estimate."""

    coefs: pd.DataFrame
    nobs: int
    meta: dict[str, Any] = field(default_factory=dict)
    r2: float | None = None
    r2_within: float | None = None
    n_clusters: dict[str, int] = field(default_factory=dict)
    depvar_mean: float | None = None

    def tidy(self) -> pd.DataFrame:
        """term, estimate, std_error, statistic, p_value, conf_low, conf_high."""
        return self.coefs.copy()


def _is_pyfixest(obj: Any) -> bool:
    return type(obj).__module__.startswith("pyfixest") and hasattr(obj, "tidy")


def _finite(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def _from_pyfixest(fit: Any) -> ForeignFit:
    raw = fit.tidy()
    coefs = raw.rename(columns=_FIXEST_COLUMNS).reset_index(names="term")
    missing = [c for c in _TIDY if c not in coefs.columns]
    if missing:
        raise SpecError(f"cannot read this {type(fit).__name__} fit: its tidy() has no "
                        f"{missing} (columns {list(raw.columns)}); pass policylab results "
                        "or a pyfixest fit with the usual summary columns")
    fixef = getattr(fit, "_fixef", None) or ""
    fe = [f.strip() for f in str(fixef).split("+") if f.strip() and f.strip() != "0"]
    detail = str(getattr(fit, "_vcov_type_detail", "") or "")
    vcov = "hetero" if detail.startswith("HC") else detail or None
    cluster = list(getattr(fit, "_clustervar", None) or [])
    groups = [int(g) for g in (getattr(fit, "_G", None) or [])]
    n_clusters = {cluster[0]: min(groups)} if len(cluster) == 1 and groups else {}
    meta = {"depvar": str(getattr(fit, "_depvar", "")), "fe": fe, "vcov": vcov,
            "cluster": cluster, "formula": str(getattr(fit, "_fml", "")),
            "estimator": f"pyfixest {getattr(fit, '_method', type(fit).__name__)}"}
    return ForeignFit(coefs=coefs[_TIDY], nobs=int(fit._N), meta=meta,
                      r2=_finite(getattr(fit, "_r2", None)),
                      r2_within=_finite(getattr(fit, "_r2_within", None)) if fe else None,
                      n_clusters=n_clusters)


def expand_results(results: Any) -> list[Any]:
    """A list of models from one model, a list, or a pyfixest multiple estimation."""
    items = list(results) if isinstance(results, (list, tuple)) else [results]
    out: list[Any] = []
    for r in items:
        multi = getattr(r, "all_fitted_models", None)
        if _is_pyfixest(r) and isinstance(multi, dict):
            out += list(multi.values())
        else:
            out.append(r)
    return out


def as_table_result(obj: Any, position: int) -> Any:
    """``obj`` itself when it follows the Result protocol, else an adapter; a
    SpecError naming the column when it cannot be shown."""
    if _is_pyfixest(obj):
        return _from_pyfixest(obj)
    if not callable(getattr(obj, "tidy", None)):
        raise SpecError(f"etable: model ({position + 1}) is a {type(obj).__name__}, which has "
                        "no tidy(); pass policylab results or pyfixest fits")
    return obj

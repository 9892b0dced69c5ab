"""policylab: evaluate policies from panel data, from raw statistics to the report.

Top-level names are imported lazily so that ``import policylab`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "Panel": "policylab.data.panel",
    "read": "policylab.data.readers",
    "feols": "policylab.estimators.feols",
    "feols_stream": "policylab.estimators.feols_stream",
    "spec_curve": "policylab.estimators.spec_curve",
    "Design": "policylab.estimators.design",
    "build_design": "policylab.estimators.design",
    "did": "policylab.estimators.did",
    "event_study": "policylab.estimators.event_study",
    "parallel_trends": "policylab.estimators.event_study",
    "att_gt": "policylab.estimators.staggered",
    "sun_abraham": "policylab.estimators.staggered",
    "did_imputation": "policylab.estimators.imputation",
    "did2s": "policylab.estimators.imputation",
    "bacon_decomposition": "policylab.estimators.bacon",
    "compare_estimators": "policylab.estimators.compare",
    "pretrend_power": "policylab.inference.pretrends",
    "honest_did": "policylab.inference.pretrends",
    "placebo_test": "policylab.inference.placebo",
    "wild_bootstrap": "policylab.inference.wild",
    "joint_wild_test": "policylab.inference.joint_wild",
    "pretrend_ri_test": "policylab.inference.pretrend_ri",
    "simulate": "policylab.study.simulate",
    "cluster_bootstrap": "policylab.inference.bootstrap",
    "propensity_score": "policylab.estimators.psm",
    "match": "policylab.estimators.psm",
    "balance_table": "policylab.estimators.psm",
    "psm_did": "policylab.estimators.psm",
    "mediation": "policylab.estimators.mediation",
    "moderation": "policylab.estimators.moderation",
    "heterogeneity": "policylab.estimators.heterogeneity",
    "descriptives": "policylab.estimators.descriptives",
    "etable": "policylab.report.tables",
    "write_dta": "policylab.report.stata",
    "PolicyLabError": "policylab.errors",
    "DataError": "policylab.errors",
    "SpecError": "policylab.errors",
    "EstimationError": "policylab.errors",
    "ConvergenceError": "policylab.errors",
    "PolicyLabWarning": "policylab.errors",
}

# sub-packages reachable as attributes (policylab.datasets, policylab.accounting, ...)
_SUBMODULES = {
    "accounting": "policylab.accounting",
    "datasets": "policylab.data.datasets",
    "engine": "policylab.engine",
    "execution": "policylab.execution",
    "estimators": "policylab.estimators",
    "inference": "policylab.inference",
    "report": "policylab.report",
    "study": "policylab.study",
}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'policylab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

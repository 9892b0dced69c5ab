"""Estimators: regressions with fixed effects, DID, event studies, PSM, mechanisms."""

from policylab.estimators.feols import FeolsResult, feols
from policylab.estimators.result import CoefResult, Result, ResultList

__all__ = ["feols", "FeolsResult", "Result", "CoefResult", "ResultList"]

"""The typed record of a fitted regression: what inference after the fit reads.

A :class:`Fit` holds the arrays of the estimation (the demeaned regressors and outcome,
weights, fixed-effect and cluster codes, residuals, bread), the degrees-of-freedom
facts, which rows of which data were used and the formula pieces. Results of ``feols``
and the estimators built on it carry one as ``.fit``; the wild bootstrap, placebo
tests, predictions and re-studentisation (``result.vcov("hetero")``) read it by
attribute.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from policylab.engine import fixed_effects as dm
from policylab.engine import vcov as vc
from policylab.errors import EstimationError, PolicyLabDeprecationWarning, SpecError
from policylab.messages import Message

__all__ = ["Fit", "cluster_codes", "check_clusters", "fit_variance", "few_clusters_warnings",
           "model_view"]


@dataclass(frozen=True, eq=False)
class Fit(vc.FitArrays):
    """A fitted linear model on its estimation rows (engine arrays plus provenance).

    Attributes
    ----------
    X, y, beta, resid, bread, weights, fe_codes, fe_levels
        As :class:`policylab.engine.vcov.FitArrays`.
    data : DataFrame
        The data the model was fitted on (not copied; never modified).
    rows : Index
        Labels of the estimation rows in ``data``, in the order of the arrays.
    terms : tuple of str
        Names of the columns of ``X`` (the kept regressors, including any the result
        hides, such as varying slopes).
    fe_names : tuple of str
        The absorbed fixed effects (``"a^b"`` for interactions).
    cluster_codes : tuple of ndarray
        Dense codes of the clustering variables of the fitted vcov (empty if none).
    cluster_cols : tuple of str
        Their names.
    df_k : int
        The K of the fitted vcov's small-sample factor.
    formula : str
        The formula as fitted.
    extra_columns : Mapping
        Regressors the caller built (arrays aligned with the rows of ``data``, or
        functions filling such a column), not columns of ``data``.
    iv : bool
        A 2SLS fit: ``X`` holds the fitted endogenous regressors.
    means : ndarray or None
        Weighted means of the outcome and of each column of ``X`` on the estimation
        rows before the fixed effects were absorbed (outcome first): the grand means
        Stata's areg/reghdfe add back to report a constant. None when not recorded.
    """

    data: pd.DataFrame = field(default_factory=pd.DataFrame)
    rows: pd.Index = field(default_factory=lambda: pd.RangeIndex(0))
    terms: tuple[str, ...] = ()
    fe_names: tuple[str, ...] = ()
    cluster_codes: tuple[np.ndarray, ...] = ()
    cluster_cols: tuple[str, ...] = ()
    df_k: int = 0
    formula: str = ""
    extra_columns: Mapping[str, Any] = field(default_factory=dict)
    iv: bool = False
    means: np.ndarray | None = None

    def positions(self) -> np.ndarray:
        """Positions of the estimation rows in ``data``."""
        if len(self.rows) == len(self.data):
            return np.arange(len(self.data))
        return self.data.index.get_indexer(self.rows)

    def sample(self) -> pd.DataFrame:
        """The estimation rows of ``data`` (a view by label; do not modify)."""
        return self.data if len(self.rows) == len(self.data) else self.data.loc[self.rows]


def cluster_codes(fit: Fit, columns: list[str]) -> tuple[np.ndarray, ...]:
    """Dense codes of clustering ``columns`` on the estimation rows of ``fit``.

    Clustering by fixed-effect columns reuses their codes; other columns are coded on
    the estimation rows and must be present in every one of them.
    """
    from policylab.estimators.formula import fe_codes

    if fit.fe_codes is not None and all(c in fit.fe_names for c in columns):
        return tuple(fit.fe_codes[:, fit.fe_names.index(c)] for c in columns)
    codes, miss = fe_codes(fit.sample(), columns)
    if miss.any():
        raise SpecError(f"cluster column(s) {columns} are missing in {int(miss.sum())} rows "
                        "of the estimation sample; a new vcov cannot drop rows: refit "
                        "with the clusters in the model, or fill them")
    return tuple(dm.densify(codes[:, j])[0] for j in range(codes.shape[1]))


def check_clusters(codes: tuple[np.ndarray, ...], columns: list[str], nobs: int) -> None:
    """At least two clusters per clustering variable, else an error naming it."""
    for c, name in zip(codes, columns):
        if int(c.max()) + 1 < 2:
            raise EstimationError(f"cluster column {name!r} has a single value in the {nobs} "
                                  "rows used: cluster-robust SEs need at least two clusters; "
                                  "cluster by a finer column or use vcov='hetero'")


_MODEL_KEYS = ("data", "rows", "y", "X", "weights", "fe_codes", "cluster_codes", "resid",
               "bread", "df_k", "fe_levels", "extra_columns")


def model_view(fit: Fit | None) -> Mapping[str, Any]:
    """The read-only mapping ``result.model`` used to be (deprecated: use ``.fit``)."""
    warnings.warn("result.model is deprecated and will be removed in the next release; "
                  "read the typed fit instead: result.fit.X, result.fit.resid, "
                  "result.fit.rows, ... (policylab.estimators.fit.Fit)",
                  PolicyLabDeprecationWarning, stacklevel=3)
    if fit is None:
        return MappingProxyType({})
    d: dict[str, Any] = {k: getattr(fit, k) for k in _MODEL_KEYS}
    d["cluster_codes"] = list(fit.cluster_codes)
    if fit.iv:
        d["iv"] = True
    return MappingProxyType(d)


def fit_variance(kind: str, fit: vc.FitArrays, cl_k: tuple[np.ndarray, ...],
              cl_cols: list[str], ssc: vc.SSC) -> vc.Variance:
    """The engine's variance of ``kind`` for the fit, after checking the clusters by
    name (at least two each)."""
    if kind in ("CRV1", "CRV3"):
        check_clusters(cl_k, cl_cols, fit.nobs)
    return vc.variance(kind, vc.variance_pieces(kind, fit, cl_k), ssc, names=cl_cols)


def few_clusters_warnings(var: vc.Variance, cl_cols: list[str]) -> list[Message]:
    """The referee's warning when fewer than 30 clusters back a cluster-robust variance."""
    if var.n_clusters and min(var.n_clusters) < 30:
        return [Message("feols.few_clusters", n=min(var.n_clusters), clusters=list(cl_cols))]
    return []

"""The Result protocol every estimator returns.

``.tidy()`` gives the coefficient table (term, estimate, std_error, statistic,
p_value, conf_low, conf_high); ``.summary()`` a plain-text view; ``.plot()`` a figure
where one exists; ``nobs``; and metadata (formula, fixed effects, vcov, clusters,
seed, dropped observations and why, warnings). Tables and reports consume only this.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# scipy.special, not scipy.stats: the same functions, a fraction of the import time
from scipy import special

from policylab.errors import PolicyLabWarning, SpecError

__all__ = ["Result", "CoefResult", "ResultList", "TIDY_COLUMNS"]

TIDY_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]


@dataclass
class Result:
    """Base of every estimator's result: metadata, warnings and the protocol methods.

    Subclasses implement :meth:`tidy`; the rest has sensible defaults.
    """

    nobs: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:  # pragma: no cover - abstract
        """Coefficient table with the columns of :data:`TIDY_COLUMNS`."""
        raise NotImplementedError

    def summary(self) -> str:
        """A plain-text summary: the tidy table, N, metadata and warnings."""
        lines = [f"{type(self).__name__}  (N = {self.nobs:,})"]
        for k in ("formula", "estimator", "fe", "vcov_label"):
            if self.meta.get(k):
                lines.append(f"  {k}: {self.meta[k]}")
        tab = self.tidy()
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            lines.append(tab.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        dropped = self.meta.get("dropped") or {}
        for why, n in dropped.items():
            if n:
                lines.append(f"  dropped {n} observations: {why}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, *args: Any, **kwargs: Any) -> Any:
        """Draw the result's figure, where one exists."""
        raise NotImplementedError(f"{type(self).__name__} has no figure")

    def _repr_html_(self) -> str:
        # Jupyter shows a result as the report's table; estimators format no text
        from policylab.report.tables import result_html

        return result_html(self)

    def warn(self, message: str) -> None:
        """Record a referee-style warning and emit it as a PolicyLabWarning."""
        if message not in self.warnings:
            self.warnings.append(message)
            _warnings.warn(message, PolicyLabWarning, stacklevel=3)


@dataclass
class CoefResult(Result):
    """A result with named coefficients and a covariance matrix.

    Inference uses the t distribution with ``df_t`` degrees of freedom (None: normal).
    """

    terms: list[str] = field(default_factory=list)
    beta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vcov_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    df_t: float | None = None

    def coef(self) -> pd.Series:
        """Estimates as a Series indexed by term."""
        return pd.Series(self.beta, index=self.terms, name="estimate")

    def se(self) -> pd.Series:
        """Standard errors as a Series indexed by term."""
        return pd.Series(self._se_array(), index=self.terms, name="std_error")

    def _se_array(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov_matrix))

    def vcov(self) -> pd.DataFrame:
        """The covariance matrix, labelled by term."""
        return pd.DataFrame(self.vcov_matrix, index=self.terms, columns=self.terms)

    def tstat(self) -> pd.Series:
        """t statistics."""
        return pd.Series(self._t_array(), index=self.terms, name="statistic")

    def _t_array(self, se: np.ndarray | None = None) -> np.ndarray:
        s = self._se_array() if se is None else se
        with np.errstate(divide="ignore", invalid="ignore"):  # as pandas' division
            return np.asarray(self.beta, float) / s

    def pvalue(self) -> pd.Series:
        """Two-sided p-values."""
        return pd.Series(self._p_array(self._t_array()), index=self.terms, name="p_value")

    def _p_array(self, t: np.ndarray) -> np.ndarray:
        a = np.abs(t)
        return 2 * (special.stdtr(self.df_t, -a) if self.df_t else special.ndtr(-a))

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals (columns conf_low, conf_high)."""
        lo, hi = self._ci_arrays(level)
        return pd.DataFrame({"conf_low": lo, "conf_high": hi}, index=self.terms)

    def _ci_arrays(self, level: float, se: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        if not 0 < level < 1:
            raise SpecError(f"level must be in (0, 1), got {level}")
        q = (special.stdtrit(self.df_t, 0.5 + level / 2) if self.df_t
             else special.ndtri(0.5 + level / 2))
        b = np.asarray(self.beta, float)
        s = self._se_array() if se is None else se
        return b - q * s, b + q * s

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Coefficient table: term, estimate, std_error, statistic, p_value, CI."""
        # on arrays: the Series of coef(), se(), tstat() ... cost more than the numbers
        # (about 2 ms a table, and a study makes about a hundred)
        se = self._se_array()
        t = self._t_array(se)
        lo, hi = self._ci_arrays(level, se)
        return pd.DataFrame(
            {
                "term": self.terms,
                "estimate": self.beta,
                "std_error": se,
                "statistic": t,
                "p_value": self._p_array(t),
                "conf_low": lo,
                "conf_high": hi,
            }
        )

    def plot(self, ax: Any = None, terms: list[str] | None = None, level: float = 0.95,
             lang: str = "en", title: str | None = None) -> Any:
        """Coefficient plot: point estimates with confidence-interval bars.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Draw into it (default: a new figure).
        terms : list of str, optional
            Terms to show, in this order (default: all but the intercept).
        level : float
            Confidence level of the bars.
        lang : {"en", "zh"}
        title : str, optional

        Returns
        -------
        matplotlib Figure (the user's backend and rcParams are left as they were).
        """
        from policylab.report.figures.coefplot import coefplot_figure

        return coefplot_figure([("", _plot_terms(self, terms, level))], ax=ax, level=level,
                               lang=lang, title=title)

    def wald_test(self, terms: list[str], value: np.ndarray | None = None) -> dict[str, float]:
        """Joint Wald test that ``terms`` equal ``value`` (default 0).

        Returns the F statistic (Wald / q), its p-value with (q, df_t) degrees of
        freedom (chi-square / q when df_t is None), and q.
        """
        missing = [t for t in terms if t not in self.terms]
        if missing:
            raise SpecError(f"terms not in the model: {missing}; model terms: {self.terms}")
        idx = [self.terms.index(t) for t in terms]
        b = self.beta[idx] - (0.0 if value is None else np.asarray(value, float))
        V = self.vcov_matrix[np.ix_(idx, idx)]
        q = len(idx)
        w = float(b @ np.linalg.solve(V, b))
        f = w / q
        p = float(special.fdtrc(q, self.df_t, f) if self.df_t else special.chdtrc(q, w))
        return {"statistic": f, "p_value": p, "df1": q, "df2": self.df_t or np.inf}


def _plot_terms(res: CoefResult, terms: list[str] | None, level: float) -> pd.DataFrame:
    tab = res.tidy(level)
    if terms is None:
        return tab[tab["term"] != "Intercept"]
    missing = [t for t in terms if t not in set(tab["term"])]
    if missing:
        raise SpecError(f"terms {missing} are not in the model; its terms: {list(tab['term'])}")
    return tab.set_index("term").loc[list(terms)].reset_index()


class ResultList(list):
    """Several results (e.g. one per outcome of ``y1 + y2 ~ x`` or per stepwise model),
    indexable by position; ``pl.etable(results)`` shows them side by side."""

    def plot(self, ax: Any = None, terms: list[str] | None = None, level: float = 0.95,
             lang: str = "en", title: str | None = None) -> Any:
        """Coefficient plot of every model, side by side (see :meth:`CoefResult.plot`)."""
        from policylab.report.figures.coefplot import coefplot_figure

        models = []
        for i, r in enumerate(self):
            keep = terms if terms is None else [t for t in terms if t in r.terms]
            models.append((f"({i + 1}) {r.meta.get('depvar', '')}".strip(),
                           _plot_terms(r, keep, level)))
        return coefplot_figure(models, ax=ax, level=level, lang=lang, title=title)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Stacked tidy tables with a ``model`` column."""
        frames = []
        for i, r in enumerate(self):
            t = r.tidy(level)
            t.insert(0, "model", r.meta.get("depvar", i))
            frames.append(t)
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> str:
        """Summaries of every result, one after the other."""
        return "\n\n".join(r.summary() for r in self)

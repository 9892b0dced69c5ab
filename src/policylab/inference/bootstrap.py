"""Pairs cluster bootstrap: whole clusters resampled with replacement.

For a regression Result the draws are batched: a cluster drawn k times enters with
weight k (exactly the regression on the resampled data, duplicated units keeping
identical fixed effects), and every draw's coefficients come from its weighted Gram
matrix (closed form for balanced two-way panels). Any other statistic can be passed as a
function of a resampled DataFrame (then one call per draw).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from policylab.engine import bootstrap_kernels as bk
from policylab.engine import fixed_effects as fx
from policylab.errors import SpecError
from policylab.estimators.feols import FeolsResult
from policylab.estimators.result import Result

__all__ = ["cluster_bootstrap", "BootstrapResult"]


@dataclass
class BootstrapResult(Result):
    """Bootstrap draws (draws x statistics) with percentile and bias-corrected CIs."""

    estimate: np.ndarray = field(default_factory=lambda: np.zeros(0))
    draws: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    names: list[str] = field(default_factory=list)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """estimate, bootstrap SE, percentile CI and bias-corrected (BC) CI per term."""
        a = 1 - level
        d = self.draws[np.all(np.isfinite(self.draws), axis=1)]
        rows = []
        for j, name in enumerate(self.names):
            b = d[:, j]
            est = self.estimate[j]
            prop = np.clip(np.mean(b < est), 1 / (len(b) + 1), len(b) / (len(b) + 1))
            z0 = stats.norm.ppf(prop)
            zq = stats.norm.ppf([a / 2, 1 - a / 2])
            lo, hi = np.quantile(b, [a / 2, 1 - a / 2])
            blo, bhi = np.quantile(b, stats.norm.cdf(2 * z0 + zq))
            se = float(np.std(b, ddof=1))
            rows.append({"term": name, "estimate": est, "std_error": se,
                         "statistic": est / se if se else np.nan,
                         "p_value": float(2 * stats.norm.sf(abs(est / se))) if se else np.nan,
                         "conf_low": lo, "conf_high": hi, "bc_low": blo, "bc_high": bhi,
                         "draws": len(b)})
        return pd.DataFrame(rows)


def cluster_bootstrap(
    source: Any,
    statistic: Callable[[pd.DataFrame], Any] | None = None,
    *,
    cluster: str | None = None,
    draws: int = 999,
    seed: int | None = None,
) -> BootstrapResult:
    """Resample whole clusters with replacement.

    Parameters
    ----------
    source : FeolsResult / DIDResult, or DataFrame
        A regression result (its coefficients are bootstrapped, batched), or data for
        ``statistic``.
    statistic : callable, optional
        With a DataFrame: a function of the resampled data (clusters drawn twice appear
        twice, with a new id in ``_boot_cluster``; the original data carry the cluster
        codes there too) returning a number or an array.
    cluster : str, optional
        Resampling unit (default: the result's cluster).
    draws : int
        Bootstrap replications.
    seed : int, optional
        Seed; draw b uses the b-th row of ``rng.integers(0, G, (draws, G))``.
    """
    from policylab.validation import check_count, check_seed

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    rng = np.random.default_rng(seed)
    if isinstance(source, FeolsResult):
        m = source.fit
        df = m.sample()
        cl_name = cluster or (source.meta.get("cluster") or [None])[0]
        if cl_name is None:
            raise SpecError("cluster_bootstrap needs cluster= for a model without clusters")
        cl = pd.factorize(df[cl_name])[0]
        G = int(cl.max()) + 1
        terms = source.terms
        ycol = source.meta["depvar"]
        missing = [t for t in terms if t not in df.columns]
        if missing:
            raise SpecError(f"terms {missing} are not data columns; bootstrap a model of plain "
                            "columns or pass a statistic function")
        Z = df[[ycol, *terms]].to_numpy(float)
        W = bk.cluster_weights(G, draws, rng)
        fe = m.fe_codes
        balanced = False
        if fe is not None and fe.shape[1] == 2 and m.weights is None:
            balanced = (fx.is_balanced_twoway(fe[:, 0], fe[:, 1])
                        and fx.nested_in_check(fe[:, 0], cl))
        if balanced:
            unit_cl = np.zeros(int(fe[:, 0].max()) + 1, dtype=np.int64)
            unit_cl[fe[:, 0]] = cl
            grams = bk.balanced_grams(Z, fe[:, 0], fe[:, 1], W[:, unit_cl])
        else:
            row_w = W[:, cl] * (1.0 if m.weights is None else m.weights[None, :])
            grams = bk.weighted_grams(Z, fe, row_w)
        k = len(terms)
        out = np.full((draws, k), np.nan)
        for b, g in enumerate(grams):
            A = g[1:, 1:]
            if np.linalg.cond(A) < 1e12:
                out[b] = np.linalg.solve(A, g[1:, 0])
        res = BootstrapResult(nobs=source.nobs, estimate=source.beta.copy(), draws=out,
                              names=list(terms),
                              meta={"cluster": cl_name, "draws": draws, "seed": seed,
                                    "method": "closed-form balanced two-way" if balanced
                                    else "weighted demeaning per draw"})
        bad = int((~np.isfinite(out).all(axis=1)).sum())
        if bad:
            res.warn(f"{bad} of {draws} draws had a singular design and were discarded")
        return res
    if statistic is None or cluster is None:
        raise SpecError("with data, give statistic= (a function) and cluster=")
    data = source.df if hasattr(source, "df") else source
    groups = pd.Index(data[cluster].unique())
    parts = {g: data[data[cluster] == g] for g in groups}
    orig = data.assign(_boot_cluster=pd.factorize(data[cluster])[0])
    est = np.atleast_1d(np.asarray(statistic(orig), float))
    out = np.empty((draws, est.size))
    idx = rng.integers(0, len(groups), (draws, len(groups)))
    for b in range(draws):
        d = pd.concat([parts[groups[i]].assign(_boot_cluster=j) for j, i in enumerate(idx[b])])
        out[b] = np.atleast_1d(np.asarray(statistic(d), float))
    names = [f"stat{j}" for j in range(est.size)]
    return BootstrapResult(nobs=len(data), estimate=est, draws=out, names=names,
                           meta={"cluster": cluster, "draws": draws, "seed": seed,
                                 "method": "loop over resampled data"})

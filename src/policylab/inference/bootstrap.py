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
from scipy import special

from policylab.errors import SpecError
from policylab.estimators.feols import FeolsResult
from policylab.estimators.result import Result
from policylab.inference.randomization import draw_statistics
from policylab.inference.resampling import (
    GramDraws,
    closed_form_twoway,
    cluster_multiplicities,
    cluster_resamples,
    weighted_gram_draws,
)
from policylab.messages import Message

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
            z0 = special.ndtri(prop)
            zq = special.ndtri(np.array([a / 2, 1 - a / 2]))
            lo, hi = np.quantile(b, [a / 2, 1 - a / 2])
            blo, bhi = np.quantile(b, special.ndtr(2 * z0 + zq))
            se = float(np.std(b, ddof=1))
            rows.append({"term": name, "estimate": est, "std_error": se,
                         "statistic": est / se if se else np.nan,
                         "p_value": float(2 * special.ndtr(-abs(est / se))) if se else np.nan,
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
    executor: Any = None,
    progress: bool = False,
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
    executor : optional
        Where the draws run, in chunks (see :mod:`policylab.execution`); the resamples
        are drawn from ``seed`` in this process, so the numbers do not depend on it. A
        ``statistic`` function must then be importable by the workers (a module-level
        function, not a lambda, for ``"processes"`` with the spawn start method).
    progress : bool
        Show a progress bar over the chunks of draws.
    """
    from policylab.validation import check_count, check_seed

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    bar = "cluster bootstrap" if progress else None
    if isinstance(source, FeolsResult):
        return _regression_bootstrap(source, cluster, draws, seed, executor, bar)
    if statistic is None or cluster is None:
        raise SpecError("with data, give statistic= (a function) and cluster=")
    data = source.df if hasattr(source, "df") else source
    groups = pd.Index(data[cluster].unique())
    orig = data.assign(_boot_cluster=pd.factorize(data[cluster])[0])
    est = np.atleast_1d(np.asarray(statistic(orig), float))
    shared = {"parts": [data[data[cluster] == g] for g in groups], "statistic": statistic}
    idx = cluster_resamples(len(groups), draws, seed)
    out = draw_statistics(_statistic_chunk, idx, shared=shared, chunk_size=_CHUNK_LOOP,
                          executor=executor, progress=bar).reshape(draws, est.size)
    names = [f"stat{j}" for j in range(est.size)]
    return BootstrapResult(nobs=len(data), estimate=est, draws=out, names=names,
                           meta={"cluster": cluster, "draws": draws, "seed": seed,
                                 "method": "loop over resampled data"})


#: resampled data sets per executor task when a statistic function is looped over
_CHUNK_LOOP = 25


def _statistic_chunk(idx: np.ndarray, shared: dict[str, Any]) -> np.ndarray:
    """The user's statistic on each resampled data set of a chunk (an executor task)."""
    parts, statistic = shared["parts"], shared["statistic"]
    out = []
    for row in idx:
        d = pd.concat([parts[i].assign(_boot_cluster=j) for j, i in enumerate(row)])
        out.append(np.atleast_1d(np.asarray(statistic(d), float)))
    return np.stack(out)


def _regression_bootstrap(source: FeolsResult, cluster: str | None, draws: int,
                          seed: int | None, executor: Any, bar: str | None
                          ) -> BootstrapResult:
    """The coefficients of every draw from its weighted Gram matrix (batched)."""
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
    fe = m.fe_codes
    twoway = (closed_form_twoway(fe[:, 0], fe[:, 1], cl, m.weights)
              if fe is not None and fe.shape[1] == 2 else None)
    g = GramDraws(Z, cl, fe, m.weights, twoway)
    grams = weighted_gram_draws(g, cluster_multiplicities(G, draws, seed),
                                executor=executor, progress=bar)
    k = len(terms)
    out = np.full((draws, k), np.nan)
    for b, gm in enumerate(grams):
        A = gm[1:, 1:]
        if np.linalg.cond(A) < 1e12:
            out[b] = np.linalg.solve(A, gm[1:, 0])
    res = BootstrapResult(nobs=source.nobs, estimate=source.beta.copy(), draws=out,
                          names=list(terms),
                          meta={"cluster": cl_name, "draws": draws, "seed": seed,
                                "method": g.method})
    bad = int((~np.isfinite(out).all(axis=1)).sum())
    if bad:
        res.warn(Message("bootstrap.singular_draws", n=bad, draws=draws))
    return res

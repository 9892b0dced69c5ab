"""Variance estimators and their small-sample corrections.

The default (``SSC()``) is fixest's, which pyfixest copies and which equals Stata's
reghdfe/xtreg in the usual cases:

* iid: sigma^2 = RSS / (N - K);
* HC1 ("robust"): N / (N - K);
* CRV1: G / (G - 1) x (N - 1) / (N - K), with K counting slopes plus the fixed-effect
  levels of fixed effects *not* nested in the cluster (each FE after the first loses
  one level to the shared intercept; a fully nested FE keeps one);
* two-way clustering: V = V1 + V2 - V12, each scaled by min(G) / (min(G) - 1).

Other programs differ only in these factors; :data:`PRESETS` names them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policylab.engine.threads import COMPILED_ROWS

__all__ = [
    "SSC",
    "PRESETS",
    "df_k",
    "small_sample_factor",
    "cluster_sums",
    "vcov_iid",
    "vcov_hc1",
    "vcov_crv1",
    "vcov_crv3",
    "score_sums",
    "nested_in",
]


@dataclass(frozen=True)
class SSC:
    """Small-sample correction settings (names follow fixest/pyfixest ``ssc()``).

    Parameters
    ----------
    k_adj : bool
        Apply the (N - 1) / (N - K) factor (N / (N - K) for HC1).
    k_fixef : {"nonnested", "full", "none"}
        Which fixed-effect levels count in K.
    G_adj : bool
        Apply G / (G - 1) to cluster-robust variances.
    G_df : {"min", "conventional"}
        Multi-way clustering: one min(G) factor for all terms, or each its own G.
    n_form : bool
        Use N / (N - K) instead of (N - 1) / (N - K) for clustered variances too (R plm).
    """

    k_adj: bool = True
    k_fixef: str = "nonnested"
    G_adj: bool = True
    G_df: str = "min"
    n_form: bool = False

    def __post_init__(self) -> None:
        if self.k_fixef not in ("nonnested", "full", "none"):
            raise ValueError(f"k_fixef must be 'nonnested', 'full' or 'none', got {self.k_fixef!r}")
        if self.G_df not in ("min", "conventional"):
            raise ValueError(f"G_df must be 'min' or 'conventional', got {self.G_df!r}")


PRESETS: dict[str, SSC] = {
    # fixest / pyfixest defaults; Stata reghdfe and xtreg, fe vce(cluster) agree when
    # the panel FE is nested in the cluster.
    "fixest": SSC(),
    "pyfixest": SSC(),
    "reghdfe": SSC(),
    # R plm vcovHC(method = "arellano", type = "HC1", cluster = "group"): N / (N - K)
    # with K the slopes only, and no G/(G-1)
    "plm": SSC(k_adj=True, k_fixef="none", G_adj=False, n_form=True),
    # R lm with explicit dummies + sandwich::vcovCL(type = "HC1"): every dummy counts
    "sandwich": SSC(k_fixef="full", G_df="conventional"),
    # no correction at all (the textbook sandwich)
    "none": SSC(k_adj=False, k_fixef="none", G_adj=False),
}


def nested_in(fe: np.ndarray, cluster: np.ndarray) -> bool:
    """True when every level of ``fe`` lies inside a single cluster."""
    if fe.shape[0] >= COMPILED_ROWS:
        from policylab.engine._passes import is_nested

        return bool(is_nested(fe, cluster))
    G = int(fe.max()) + 1
    first = np.full(G, -1, dtype=np.int64)
    first[fe[::-1]] = cluster[::-1]
    return bool((first[fe] == cluster).all())


def df_k(
    k: int, fe_levels: np.ndarray, nested: np.ndarray | None, ssc: SSC
) -> int:
    """The K of the (N - 1) / (N - K) factor: slopes plus counted fixed-effect levels."""
    fe_levels = np.asarray(fe_levels, dtype=np.int64)
    n_fe = fe_levels.size
    if n_fe == 0 or ssc.k_fixef == "none":
        return int(k)
    k_fe_adj = int(fe_levels.sum()) - (n_fe - 1)
    if ssc.k_fixef == "full" or nested is None or not np.any(nested):
        return int(k + k_fe_adj)
    nested = np.asarray(nested, dtype=bool)
    return int(k + k_fe_adj - fe_levels[nested].sum() + nested.sum())


def small_sample_factor(
    vcov_type: str, N: int, K: int, G: int | None = None, ssc: SSC = SSC()
) -> float:
    """Scale factor applied to the raw sandwich (or to RSS/N for iid).

    ``K`` is :func:`df_k`'s count; ``G`` the (minimum) number of clusters.
    """
    adj = 1.0
    if ssc.k_adj:
        adj = N / (N - K) if vcov_type == "hetero" or ssc.n_form else (N - 1) / (N - K)
    if vcov_type == "CRV" and ssc.G_adj:
        if G is None or G < 2:
            raise ValueError("cluster-robust variance needs at least two clusters")
        adj *= G / (G - 1)
    return adj


def cluster_sums(S: np.ndarray, cl: np.ndarray, G: int | None = None) -> np.ndarray:
    """Sum the rows of S (n, k) within clusters; returns (G, k)."""
    G = int(cl.max()) + 1 if G is None else G
    out = np.empty((G, S.shape[1]))
    for j in range(S.shape[1]):
        out[:, j] = np.bincount(cl, weights=S[:, j], minlength=G)
    return out


def vcov_iid(bread: np.ndarray, resid: np.ndarray, weights: np.ndarray | None, N: int, K: int,
             ssc: SSC = SSC()) -> np.ndarray:
    """Homoskedastic variance: bread x sum(w u^2) / (N - K)."""
    u2 = resid**2 if weights is None else weights * resid**2
    denom = (N - K) if ssc.k_adj else N
    return bread * (u2.sum() / denom)


def vcov_hc1(bread: np.ndarray, scores: np.ndarray, factor: float) -> np.ndarray:
    """Heteroskedasticity-robust sandwich; ``scores`` = X * (w u) row-wise."""
    meat = scores.T @ scores
    return factor * (bread @ meat @ bread)


def vcov_crv1(bread: np.ndarray, scores: np.ndarray, cl: np.ndarray, factor: float) -> np.ndarray:
    """One-way cluster-robust sandwich (``cl``: dense cluster codes)."""
    s = cluster_sums(scores, cl)
    return factor * (bread @ (s.T @ s) @ bread)


def score_sums(X: np.ndarray, uw: np.ndarray, cl: np.ndarray) -> np.ndarray:
    """Cluster sums of the scores X * uw (G x k) without forming the n x k scores."""
    G = int(cl.max()) + 1
    if X.shape[0] >= COMPILED_ROWS:
        from policylab.engine._passes import cluster_score_sums

        return cluster_score_sums(X, uw, cl, G)
    out = np.empty((G, X.shape[1]))
    for j in range(X.shape[1]):
        out[:, j] = np.bincount(cl, weights=X[:, j] * uw, minlength=G)
    return out


def vcov_crv3(
    X: np.ndarray, y: np.ndarray, beta: np.ndarray, cl: np.ndarray,
    weights: np.ndarray | None, factor: float,
) -> np.ndarray:
    """Leave-one-cluster-out jackknife variance (CRV3) on the (demeaned) design.

    Exact for models whose fixed effects are nested in the clusters; otherwise the
    fixed effects are held at their full-sample projection (as pyfixest does).
    """
    G = int(cl.max()) + 1
    Xw = X if weights is None else X * weights[:, None]
    XtX = Xw.T @ X
    Xty = Xw.T @ y
    k = X.shape[1]
    XtX_g = np.zeros((G, k, k))
    Xty_g = cluster_sums(Xw * y[:, None], cl, G)
    for g in range(G):
        m = cl == g
        XtX_g[g] = Xw[m].T @ X[m]
    diffs = np.empty((G, k))
    for g in range(G):
        diffs[g] = np.linalg.solve(XtX - XtX_g[g], Xty - Xty_g[g]) - beta
    return factor * (diffs.T @ diffs)

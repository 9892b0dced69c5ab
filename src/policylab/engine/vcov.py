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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from policylab.engine.threads import COMPILED_ROWS

__all__ = [
    "SSC",
    "PRESETS",
    "KINDS",
    "FitArrays",
    "VariancePieces",
    "Variance",
    "variance_pieces",
    "variance",
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
    fixed effects are held at their full-sample projection (pyfixest 0.60 differs
    slightly there).
    """
    diffs = _jackknife(X, y, beta, cl, weights)
    return factor * (diffs.T @ diffs)


#: the variance kinds :func:`variance` knows (fixest's names)
KINDS = ("iid", "hetero", "CRV1", "CRV3")

_LABELS = {"iid": "iid", "hetero": "heteroskedasticity-robust (HC1)"}


@dataclass(frozen=True, eq=False)
class FitArrays:
    """A least-squares fit on the estimation rows, as arrays.

    Attributes
    ----------
    X : ndarray, shape (N, k)
        The regressors as fitted: fixed effects absorbed (demeaned), kept columns only.
    y : ndarray, shape (N,)
        The outcome as fitted (demeaned).
    beta : ndarray, shape (k,)
    resid : ndarray, shape (N,)
        Residuals on the unweighted scale.
    bread : ndarray, shape (k, k)
        (X' W X)^{-1}.
    weights : ndarray or None
        Analytic weights of the rows.
    fe_codes : ndarray, shape (N, n_fe), or None
        Dense integer codes of each absorbed fixed effect.
    fe_levels : ndarray of int
        Levels of each fixed effect counted in the degrees of freedom.
    """

    X: np.ndarray
    y: np.ndarray
    beta: np.ndarray
    resid: np.ndarray
    bread: np.ndarray
    weights: np.ndarray | None
    fe_codes: np.ndarray | None
    fe_levels: np.ndarray

    @property
    def nobs(self) -> int:
        """Rows of the fit."""
        return int(self.X.shape[0])


@dataclass(frozen=True, eq=False)
class VariancePieces:
    """What a variance needs from a fit: the bread, the degrees-of-freedom facts and the
    one meat of the chosen kind. Computed from the rows (:func:`variance_pieces`) or
    accumulated while streaming them (``feols_stream``).

    Attributes
    ----------
    bread : ndarray (k, k)
    nobs : int
    fe_levels : ndarray of int
        Levels of each absorbed fixed effect (empty without fixed effects).
    nested : ndarray of bool or None
        Per fixed effect: nested in a clustering variable (None: not clustered).
    rss : float
        iid: the weighted residual sum of squares.
    meat : ndarray (k, k) or None
        hetero: the sum of the outer products of the scores x_i w_i u_i.
    cluster_sums : tuple of ndarray (G_j, k)
        CRV1: score sums by cluster, one per clustering variable; two-way clustering
        adds the sums by their intersection as a third.
    n_clusters : tuple of int
        Clusters of each entry of ``cluster_sums`` (CRV3: of the one variable).
    jackknife : ndarray (G, k) or None
        CRV3: leave-one-cluster-out coefficients minus the full-sample ones.
    """

    bread: np.ndarray
    nobs: int
    fe_levels: np.ndarray
    nested: np.ndarray | None = None
    rss: float = np.nan
    meat: np.ndarray | None = None
    cluster_sums: tuple[np.ndarray, ...] = ()
    n_clusters: tuple[int, ...] = ()
    jackknife: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Variance:
    """Outcome of :func:`variance`.

    Attributes
    ----------
    V : ndarray (k, k)
        The covariance matrix of the coefficients.
    df : float
        Degrees of freedom of the t distribution (N - K; min(G) - 1 when clustered).
    label : str
        What it is, e.g. "CRV1 clustered by unit".
    df_k : int
        The K of the small-sample factor (slopes plus counted fixed-effect levels).
    n_clusters : tuple of int
        Clusters of each clustering variable (empty unless clustered).
    factor : float
        The scale applied to the raw sandwich bread x meat x bread (to bread x RSS
        for iid; of the first term for two-way clustering): statistics that rebuild the
        sandwich for new columns (placebo draws) studentise with it.
    """

    V: np.ndarray
    df: float
    label: str
    df_k: int
    n_clusters: tuple[int, ...] = ()
    factor: float = 1.0


def _check_kind(kind: str, clusters: Sequence[np.ndarray]) -> None:
    if kind not in KINDS:
        raise ValueError(f"variance kind must be one of {KINDS}, got {kind!r}")
    if kind in ("CRV1", "CRV3") and not 1 <= len(clusters) <= (2 if kind == "CRV1" else 1):
        raise ValueError(f"{kind} takes {'one or two' if kind == 'CRV1' else 'one'} "
                         f"clustering variables, got {len(clusters)}")


def variance_pieces(kind: str, fit: FitArrays,
                    clusters: Sequence[np.ndarray] = ()) -> VariancePieces:
    """The pieces :func:`variance` needs for ``kind``, from the rows of ``fit``.

    Parameters
    ----------
    kind : {"iid", "hetero", "CRV1", "CRV3"}
    fit : FitArrays
    clusters : sequence of ndarray
        Dense integer cluster codes of the rows (CRV1: one or two; CRV3: one).
    """
    _check_kind(kind, clusters)
    u, w = fit.resid, fit.weights
    base = {"bread": fit.bread, "nobs": fit.nobs, "fe_levels": np.asarray(fit.fe_levels)}
    if kind == "iid":
        u2 = u**2 if w is None else w * u**2
        return VariancePieces(**base, rss=float(u2.sum()))
    uw = u if w is None else u * w
    if kind == "hetero":
        scores = fit.X * uw[:, None]
        return VariancePieces(**base, meat=scores.T @ scores)
    cl = [np.asarray(c) for c in clusters]
    fe = fit.fe_codes
    nested = None
    if fe is not None:
        nested = np.array([any(nested_in(fe[:, j], c) for c in cl) for j in range(fe.shape[1])])
    Gs = tuple(int(c.max()) + 1 for c in cl)
    if kind == "CRV3":
        jack = _jackknife(fit.X, fit.y, fit.beta, cl[0], w)
        return VariancePieces(**base, nested=nested, n_clusters=Gs, jackknife=jack)
    if len(cl) == 1:
        sums: tuple[np.ndarray, ...] = (score_sums(fit.X, uw, cl[0]),)
        return VariancePieces(**base, nested=nested, cluster_sums=sums, n_clusters=Gs)
    inter = _intersection(cl[0], cl[1])
    scores = fit.X * uw[:, None]
    ways = (cl[0], cl[1], inter)
    return VariancePieces(**base, nested=nested,
                          cluster_sums=tuple(cluster_sums(scores, c) for c in ways),
                          n_clusters=(*Gs, int(inter.max()) + 1))


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense codes of the (a, b) pairs present, in the order of a * G_b + b."""
    key = a * (int(b.max()) + 1) + b
    present = np.bincount(key) > 0
    return (np.cumsum(present) - 1)[key].astype(np.int64)


def variance(kind: str, pieces: VariancePieces, ssc: SSC = SSC(),
             names: Sequence[str] = ()) -> Variance:
    """The covariance matrix of a fit's coefficients: the one place a variance is made.

    Parameters
    ----------
    kind : {"iid", "hetero", "CRV1", "CRV3"}
        Homoskedastic; heteroskedasticity-robust (HC1); cluster-robust (one- or two-way,
        by the number of ``pieces.cluster_sums``); leave-one-cluster-out jackknife.
    pieces : VariancePieces
        From :func:`variance_pieces` (rows in memory) or accumulated by a streaming fit.
    ssc : SSC
        Small-sample correction.
    names : sequence of str
        The clustering variables, for the label.

    Returns
    -------
    Variance
        ``V``, the t degrees of freedom ``df``, the ``label``, the ``df_k`` of the
        small-sample factor, the clusters per variable and the ``factor`` applied.
    """
    if kind not in KINDS:
        raise ValueError(f"variance kind must be one of {KINDS}, got {kind!r}")
    p, N, k = pieces, pieces.nobs, pieces.bread.shape[0]
    K = df_k(k, p.fe_levels, p.nested if kind in ("CRV1", "CRV3") else None, ssc)
    if kind == "iid":
        denom = (N - K) if ssc.k_adj else N
        return Variance(p.bread * (p.rss / denom), N - K, _LABELS[kind], K, (), 1.0 / denom)
    if kind == "hetero":
        fac = small_sample_factor("hetero", N, K, ssc=ssc)
        return Variance(fac * (p.bread @ p.meat @ p.bread), N - K, _LABELS[kind], K, (), fac)
    label = f"{kind} clustered by {' and '.join(names)}"
    if kind == "CRV3":
        G = p.n_clusters[0]
        fac = small_sample_factor("CRV", N, K, G, ssc)
        return Variance(fac * (p.jackknife.T @ p.jackknife), G - 1, label, K, (G,), fac)
    if len(p.cluster_sums) == 1:
        G = p.n_clusters[0]
        S = p.cluster_sums[0]
        fac = small_sample_factor("CRV", N, K, G, ssc)
        return Variance(fac * (p.bread @ (S.T @ S) @ p.bread), G - 1, label, K, (G,), fac)
    # two-way (Cameron, Gelbach and Miller 2011): V = V_a + V_b - V_ab
    Gs = p.n_clusters
    gmin = min(Gs) if ssc.G_df == "min" else None
    V = np.zeros((k, k))
    facs = []
    for S, G, sign in zip(p.cluster_sums, Gs, (1, 1, -1)):
        fac = small_sample_factor("CRV", N, K, gmin or G, ssc)
        facs.append(fac)
        V += sign * (fac * (p.bread @ (S.T @ S) @ p.bread))
    return Variance(V, min(Gs[:2]) - 1, label, K, tuple(Gs[:2]), facs[0])


def _jackknife(X: np.ndarray, y: np.ndarray, beta: np.ndarray, cl: np.ndarray,
               weights: np.ndarray | None) -> np.ndarray:
    """Leave-one-cluster-out coefficients minus ``beta`` (G x k), on the (demeaned)
    design: exact when the fixed effects are nested in the clusters; otherwise they are
    held at their full-sample projection (pyfixest 0.60 differs slightly there)."""
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
    return diffs

"""Out-of-core two-way fixed-effects regression from sufficient statistics.

Rows arrive in chunks grouped by the first fixed effect (the panel unit): every unit's
rows are complete within one chunk. Pass 1 accumulates, over within-unit demeaned data
(x~ = x - xbar_i), the cross-products of [X, D_t] and y, where D_t are the
second fixed effect's dummies (e.g. years): X~'X~, X~'y~, per-level sums of X~ and y~,
and D~'D~ = diag(n_t) - sum_i c_i c_i' / n_i (c_i: unit i's counts per level). The
slopes solve the small (k + T) normal equations exactly (Frisch-Waugh-Lovell), so the
result equals the in-memory within estimator. Pass 2 recomputes each row's residual and
its FWL regressor X.. = X~ - D~ Gamma to accumulate cluster score sums for robust and
cluster-robust variances.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from policylab.engine.ols import collinear_columns

__all__ = ["WithinAccumulator", "within_fit", "ScoreAccumulator"]


def _unit_starts(unit: np.ndarray) -> np.ndarray:
    # unit codes are grouped (sorted) within a chunk
    return np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])


def _demean_within(A: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    means = np.add.reduceat(A, starts, axis=0) / counts[:, None]
    return A - np.repeat(means, counts, axis=0)


class WithinAccumulator:
    """Pass-1 sufficient statistics for y ~ X | unit (+ second FE with ``n_levels``)."""

    def __init__(self, k: int, n_levels: int = 0) -> None:
        self.k, self.T = k, n_levels
        self.xx = np.zeros((k, k))
        self.xy = np.zeros(k)
        self.yy = 0.0
        self.tx = np.zeros((n_levels, k))
        self.ty = np.zeros(n_levels)
        self.t_count = np.zeros(n_levels)
        self.tt_corr = np.zeros((n_levels, n_levels))
        self.n = 0
        self.n_units = 0
        self.singletons = 0
        self.y_sum = 0.0
        self.y_sq = 0.0

    def add(self, unit: np.ndarray, X: np.ndarray, y: np.ndarray,
            t: np.ndarray | None = None) -> None:
        """Add complete units (rows grouped by ``unit``); single-row units are dropped."""
        starts = _unit_starts(unit)
        counts = np.diff(np.r_[starts, len(unit)])
        single = np.repeat(counts == 1, counts)
        if single.any():
            self.singletons += int(single.sum())
            keep = ~single
            unit, X, y = unit[keep], X[keep], y[keep]
            t = None if t is None else t[keep]
            starts = _unit_starts(unit) if len(unit) else np.zeros(0, dtype=np.int64)
            counts = np.diff(np.r_[starts, len(unit)])
        if len(unit) == 0:
            return
        self.n += len(unit)
        self.n_units += len(starts)
        self.y_sum += float(y.sum())
        self.y_sq += float(y @ y)
        Z = _demean_within(np.column_stack([X, y]), starts, counts)
        Xt, yt = Z[:, :-1], Z[:, -1]
        self.xx += Xt.T @ Xt
        self.xy += Xt.T @ yt
        self.yy += float(yt @ yt)
        if self.T:
            for j in range(self.k):
                self.tx[:, j] += np.bincount(t, weights=Xt[:, j], minlength=self.T)
            self.ty += np.bincount(t, weights=yt, minlength=self.T)
            self.t_count += np.bincount(t, minlength=self.T)
            local = np.repeat(np.arange(len(starts)), counts)
            C = sparse.csr_matrix((np.ones(len(t)), (local, t)), shape=(len(starts), self.T))
            Cw = sparse.diags(1.0 / counts) @ C
            self.tt_corr += (C.T @ Cw).toarray()


def within_fit(acc: WithinAccumulator, tol: float = 1e-10) -> dict[str, np.ndarray]:
    """Solve the accumulated normal equations.

    Returns beta (slopes, NaN where dropped), kept (mask of slopes kept), gamma (second-FE
    coefficients, first kept level = 0), Gamma (FWL projection of X on the demeaned
    second-FE dummies, T x k), bread ((X..'X..)^{-1} for the kept slopes) and rss.
    """
    k, T = acc.k, acc.T
    tt = np.diag(acc.t_count) - acc.tt_corr if T else np.zeros((0, 0))
    M = np.block([[acc.xx, acc.tx.T], [acc.tx, tt]]) if T else acc.xx.copy()
    rhs = np.r_[acc.xy, acc.ty] if T else acc.xy.copy()
    dropped = collinear_columns(M, None, tol)
    keep = np.ones(k + T, dtype=bool)
    keep[list(dropped)] = False
    sol = np.zeros(k + T)
    Mk = M[np.ix_(keep, keep)]
    sol[keep] = np.linalg.solve(Mk, rhs[keep])
    beta = np.where(keep[:k], sol[:k], np.nan)
    gamma = sol[k:]
    kx = keep[:k]
    kt = keep[k:]
    if T and kt.any():
        A = tt[np.ix_(kt, kt)]
        Gam = np.zeros((T, k))
        Gam[np.ix_(kt, kx)] = np.linalg.solve(A, acc.tx[np.ix_(kt, kx)])
        schur = acc.xx[np.ix_(kx, kx)] - acc.tx[np.ix_(kt, kx)].T @ Gam[np.ix_(kt, kx)]
    else:
        Gam = np.zeros((T, k))
        schur = acc.xx[np.ix_(kx, kx)]
    bread = np.linalg.inv(schur)
    rss = acc.yy - float(sol[keep] @ rhs[keep])
    return {"beta": beta, "kept": kx, "gamma": gamma, "Gamma": Gam, "bread": bread,
            "rss": rss, "dropped": dropped}


class ScoreAccumulator:
    """Pass-2 statistics: residuals and cluster sums of FWL scores X.. * u."""

    def __init__(self, fit: dict[str, np.ndarray], n_clusters: int | None) -> None:
        self.fit = fit
        self.kx = fit["kept"]
        k = int(self.kx.sum())
        self.G = n_clusters
        self.cluster_sums = np.zeros((n_clusters, k)) if n_clusters else None
        self.meat_hetero = np.zeros((k, k))
        self.rss = 0.0

    def add(self, unit: np.ndarray, X: np.ndarray, y: np.ndarray, t: np.ndarray | None = None,
            cluster: np.ndarray | None = None) -> None:
        """Add complete units (same chunks and singleton rule as pass 1)."""
        starts = _unit_starts(unit)
        counts = np.diff(np.r_[starts, len(unit)])
        keep = ~np.repeat(counts == 1, counts)
        if not keep.all():
            unit, X, y = unit[keep], X[keep], y[keep]
            t = None if t is None else t[keep]
            cluster = None if cluster is None else cluster[keep]
            starts = _unit_starts(unit) if len(unit) else np.zeros(0, dtype=np.int64)
            counts = np.diff(np.r_[starts, len(unit)])
        if len(unit) == 0:
            return
        f = self.fit
        Xk = X[:, self.kx]
        cols = [Xk, y[:, None]]
        if t is not None:
            cols += [f["gamma"][t][:, None], f["Gamma"][t][:, self.kx]]
        Z = _demean_within(np.column_stack(cols), starts, counts)
        k = Xk.shape[1]
        Xt, yt = Z[:, :k], Z[:, k]
        fitted = Xt @ f["beta"][self.kx]
        if t is not None:
            fitted = fitted + Z[:, k + 1]
            Xt = Xt - Z[:, k + 2:]
        u = yt - fitted
        self.rss += float(u @ u)
        S = Xt * u[:, None]
        self.meat_hetero += S.T @ S
        if self.cluster_sums is not None:
            for j in range(k):
                self.cluster_sums[:, j] += np.bincount(cluster, weights=S[:, j],
                                                       minlength=self.G)

"""Imputation DID (Borusyak, Jaravel and Spiess 2024) and Gardner's two-stage DID.

Unit and time effects (and control slopes) are estimated on untreated observations
only; each treated observation's effect is y minus its imputed untreated outcome, and
estimands are averages of these effects (all treated observations, or by horizon).
Standard errors use BJS's conservative formula with the imputation weights
v = -Z0 (Z0'Z0)^+ Z1' w, clustered by unit (or ``cluster``); treated residuals are
deviations from the cohort x horizon mean effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import LinearOperator, cg

from policylab.errors import EstimationError
from policylab.estimators.result import CoefResult
from policylab.estimators.staggered import _prepare

__all__ = ["did_imputation", "did2s"]


def _two_way_fit(r: np.ndarray, u: np.ndarray, t: np.ndarray, nu: int, nt: int,
                 tol: float = 1e-14, maxiter: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Unit and time effects of r = a_u + l_t + e by Gauss-Seidel (normalised l[0] = 0)."""
    a = np.zeros(nu)
    lam = np.zeros(nt)
    cu = np.bincount(u, minlength=nu).astype(float)
    ct = np.bincount(t, minlength=nt).astype(float)
    scale = max(np.abs(r).max(), 1.0)
    for _ in range(maxiter):
        a_new = np.bincount(u, weights=r - lam[t], minlength=nu) / np.maximum(cu, 1)
        lam_new = np.bincount(t, weights=r - a_new[u], minlength=nt) / np.maximum(ct, 1)
        delta = max(np.abs(a_new - a).max(), np.abs(lam_new - lam).max())
        a, lam = a_new, lam_new
        if delta < tol * scale:
            break
    else:
        raise EstimationError("the imputation model's fixed effects did not converge")
    a = a + lam[0]
    lam = lam - lam[0]
    return a, lam


def _imputation_core(data: Any, y: str, unit: str | None, time: str | None, cohort: str,
                     controls: Sequence[str], horizons: Sequence[int] | None,
                     cluster: str | None) -> dict[str, Any]:
    df, unit, time = _prepare(data, y, unit, time, cohort)
    df = df.dropna(subset=[y, *controls]).copy()
    G = pd.to_numeric(df[cohort], errors="coerce").replace([np.inf], np.nan).fillna(0)
    D = ((G > 0) & (df[time] >= G)).to_numpy()
    u, units = pd.factorize(df[unit])
    t, times = pd.factorize(df[time])
    nu, nt = len(units), len(times)
    yv = df[y].to_numpy(float)
    X = df[list(controls)].to_numpy(float) if controls else np.zeros((len(df), 0))
    u0, t0 = u[~D], t[~D]
    if np.setdiff1d(np.unique(u[D]), u0).size:
        raise EstimationError("some treated units have no untreated period (always treated); "
                              "their unit effects cannot be imputed")
    if np.setdiff1d(np.unique(t[D]), t0).size:
        raise EstimationError("some periods have no untreated observation; time effects for "
                              "them cannot be imputed")
    beta = np.zeros(X.shape[1])
    if X.shape[1]:
        from policylab.engine.fixed_effects import demean

        Z0 = demean(np.column_stack([yv[~D], X[~D]]), np.column_stack([u0, t0]))
        beta = np.linalg.lstsq(Z0[:, 1:], Z0[:, 0], rcond=None)[0]
    r0 = yv[~D] - X[~D] @ beta
    a, lam = _two_way_fit(r0, u0, t0, nu, nt)
    y0hat = a[u] + lam[t] + X @ beta
    tau = np.where(D, yv - y0hat, np.nan)
    rel = (df[time].to_numpy() - G.to_numpy())
    # estimands: the overall ATT and one per horizon
    targets = {"ATT": D.astype(float)}
    hs = sorted(set(rel[D].astype(int))) if horizons is None else list(horizons)
    for h in hs:
        m = D & (rel == h)
        if m.any():
            targets[f"tau::{h}"] = m.astype(float)
    W = np.column_stack([w / w.sum() for w in targets.values()])
    est = np.array([np.nansum(W[:, k] * np.nan_to_num(tau)) for k in range(W.shape[1])])
    # imputation weights for untreated obs: v0 = -Z0 (Z0'Z0)^+ Z1' w1 (Z = [unit, time, X])
    n0 = (~D).sum()
    Zu = sparse.csr_matrix((np.ones(len(df)), (np.arange(len(df)), u)), shape=(len(df), nu))
    Zt = sparse.csr_matrix((np.ones(len(df)), (np.arange(len(df)), t)), shape=(len(df), nt))
    Z = sparse.hstack([Zu, Zt, sparse.csr_matrix(X)]).tocsr()
    Z0, Z1 = Z[~D], Z[D]
    A = LinearOperator((Z.shape[1], Z.shape[1]), matvec=lambda v: Z0.T @ (Z0 @ v))
    V = np.zeros((len(df), W.shape[1]))
    for k in range(W.shape[1]):
        b = Z1.T @ W[D, k]
        g, info = cg(A, b, rtol=1e-12, atol=0.0, maxiter=20_000)
        if info != 0:
            raise EstimationError("imputation weights did not converge")
        V[~D, k] = -(Z0 @ g)
        V[D, k] = W[D, k]
    # residuals: untreated from the imputation model, treated around cohort x horizon means
    eps = np.zeros(len(df))
    eps[~D] = r0 - (a[u0] + lam[t0])
    cell = pd.Series(tau[D]).groupby([G.to_numpy()[D], rel[D]]).transform("mean").to_numpy()
    eps[D] = tau[D] - cell
    cl = pd.factorize(df[cluster or unit])[0]
    S = np.vstack([np.bincount(cl, weights=V[:, k] * eps) for k in range(W.shape[1])])
    cov = S @ S.T
    return {"est": est, "cov": cov, "names": list(targets), "tau": tau, "D": D, "rel": rel,
            "nobs": len(df), "n0": int(n0), "beta": beta, "resid_y": yv - y0hat,
            "clusters": int(cl.max()) + 1, "unit": unit, "time": time}


def did_imputation(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str = "cohort",
    *,
    controls: Sequence[str] = (),
    horizons: Sequence[int] | None = None,
    cluster: str | None = None,
) -> CoefResult:
    """Borusyak-Jaravel-Spiess imputation estimator: the overall ATT (``ATT``) and the
    effect at each horizon (``tau::h``), with BJS's conservative clustered SEs.

    Works on unbalanced panels; never-treated units are coded 0 or missing in
    ``cohort``. ``controls`` enter the imputation model linearly.
    """
    c = _imputation_core(data, y, unit, time, cohort, controls, horizons, cluster)
    return CoefResult(nobs=c["nobs"], terms=c["names"], beta=c["est"], vcov_matrix=c["cov"],
                      df_t=None, meta={"depvar": y, "estimator": "BJS imputation",
                                       "untreated_obs": c["n0"], "clusters": c["clusters"],
                                       "cluster": [cluster or c["unit"]],
                                       "rel_times": [int(n.split("::")[1]) for n in c["names"][1:]]})


def did2s(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str = "cohort",
    *,
    controls: Sequence[str] = (),
    event_study: bool = False,
    cluster: str | None = None,
) -> CoefResult:
    """Gardner's two-stage DID: stage 1 estimates unit and time effects (and control
    slopes) on untreated observations; stage 2 regresses the residualised outcome on the
    treatment (or horizon dummies). The point estimates equal the imputation
    estimator's; SEs use the same influence function (which accounts for stage 1)."""
    c = _imputation_core(data, y, unit, time, cohort, controls, None, cluster)
    ry, D, rel = c["resid_y"], c["D"], c["rel"]
    if event_study:
        hs = sorted(set(rel[D].astype(int)))
        beta = np.array([ry[D & (rel == h)].mean() for h in hs])
        names = [f"tau::{h}" for h in hs]
        idx = [c["names"].index(n) for n in names]
    else:
        beta = np.array([ry[D].sum() / D.sum()])  # OLS of ry on D without intercept
        names, idx = ["ATT"], [0]
    return CoefResult(nobs=c["nobs"], terms=names, beta=beta,
                      vcov_matrix=c["cov"][np.ix_(idx, idx)], df_t=None,
                      meta={"depvar": y, "estimator": "Gardner two-stage",
                            "cluster": [cluster or c["unit"]]})

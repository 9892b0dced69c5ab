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

from policylab.errors import EstimationError, SpecError
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
            "clusters": int(cl.max()) + 1, "unit": unit, "time": time, "Z": Z, "eps1": eps,
            "cl": cl, "nu": nu, "df": df}


def _gardner_vcov(c: dict[str, Any], X2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Gardner (2022) / Butts and Gardner two-stage GMM covariance, clustered.

    Score of observation i: X2_i e2_i - e1_i (X10 Gamma')_i with
    Gamma = X2'X1 (X10'X10)^-1, X1 the first-stage design (unit and time dummies, one
    time dummy dropped, controls), X10 its untreated rows (treated rows zeroed), e1 the
    first-stage and e2 the second-stage residuals; no small-sample factor (as the R
    did2s package and pyfixest).
    """
    from scipy.sparse.linalg import splu

    D = c["D"]
    Z = c["Z"].tocsc()
    keep = np.ones(Z.shape[1], bool)
    keep[c["nu"]] = False  # first time dummy: collinear with the unit dummies
    X1 = Z[:, keep].tocsr()
    X10 = sparse.diags((~D).astype(float)) @ X1
    A = (X10.T @ X10).tocsc()
    rhs = np.asarray(X1.T @ X2)
    G = splu(A).solve(rhs)  # Gamma' (p1 x k2)
    e2 = c["resid_y"] - X2 @ b2
    e1 = np.where(D, 0.0, c["eps1"])
    score = X2 * e2[:, None] - e1[:, None] * np.asarray(X10 @ G)
    W = np.zeros((int(c["cl"].max()) + 1, X2.shape[1]))
    np.add.at(W, c["cl"], score)
    B = np.linalg.inv(X2.T @ X2)
    return B @ (W.T @ W) @ B


def did_imputation(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str = "cohort",
    *,
    controls: Sequence[str] = (),
    horizons: Sequence[int] | None = None,
    pretrends: int | None = None,
    cluster: str | None = None,
) -> CoefResult:
    """Borusyak-Jaravel-Spiess imputation estimator: the overall ATT (``ATT``) and the
    effect at each horizon (``tau::h``), with BJS's conservative clustered SEs.

    Parameters
    ----------
    data, y, unit, time, cohort
        Long panel (unbalanced allowed); never-treated units coded 0, missing or inf in
        ``cohort``.
    controls : list of str
        Time-varying controls entering the imputation model linearly.
    horizons : list of int, optional
        Event times to report (default: all observed post-treatment horizons).
    pretrends : int, optional
        BJS's separate pre-trend test: on untreated observations only, regress y on
        unit and time effects, the controls and dummies for the last ``pretrends``
        pre-treatment periods (-1, ..., -k) of eventually treated units, clustered
        like the estimator. The coefficients are in ``meta["pretrends"]`` (a tidy
        table) and their joint Wald test in ``meta["pretrend_test"]``; they are not
        part of the ATT covariance (BJS report them separately).
    cluster : str, optional
        Cluster column (default: unit).
    """
    c = _imputation_core(data, y, unit, time, cohort, controls, horizons, cluster)
    meta = {"depvar": y, "estimator": "BJS imputation", "untreated_obs": c["n0"],
            "clusters": c["clusters"], "cluster": [cluster or c["unit"]],
            "rel_times": [int(n.split("::")[1]) for n in c["names"][1:]], "ref": None}
    if pretrends:
        from policylab.estimators.feols import feols

        d = c["df"].loc[~c["D"]].copy()
        rel = c["rel"][~c["D"]]
        treated_ever = pd.to_numeric(d[cohort], errors="coerce").fillna(0).to_numpy() > 0
        names = []
        for k in range(1, int(pretrends) + 1):
            nm = f"pre_{k}"
            d[nm] = (treated_ever & (rel == -k)).astype(float)
            if d[nm].any():
                names.append(nm)
        if not names:
            raise EstimationError("no pre-treatment observations of treated units for the "
                                  "pre-trend test")
        rhs = " + ".join(names + list(controls))
        fit = feols(f"{y} ~ {rhs} | {c['unit']} + {c['time']}", d,
                    vcov={"CRV1": cluster or c["unit"]})
        tab = fit.tidy()
        tab = tab[tab["term"].isin(names)].assign(
            term=lambda t: [f"pre::{-int(n.split('_')[1])}" for n in t["term"]])
        meta["pretrends"] = tab.reset_index(drop=True)
        meta["pretrend_test"] = fit.wald_test(names)
    return CoefResult(nobs=c["nobs"], terms=c["names"], beta=c["est"], vcov_matrix=c["cov"],
                      df_t=None, meta=meta)


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
    vcov: str = "gardner",
) -> CoefResult:
    """Gardner's two-stage DID: stage 1 estimates unit and time effects (and control
    slopes) on untreated observations; stage 2 regresses the residualised outcome on the
    treatment (or horizon dummies). The point estimates equal the imputation
    estimator's. ``vcov="gardner"`` (default) gives the two-stage GMM covariance that
    accounts for stage 1 (as R did2s and pyfixest); ``"bjs"`` the imputation
    estimator's conservative covariance."""
    if vcov not in ("gardner", "bjs"):
        raise SpecError(f"vcov must be 'gardner' or 'bjs', got {vcov!r}")
    c = _imputation_core(data, y, unit, time, cohort, controls, None, cluster)
    ry, D, rel = c["resid_y"], c["D"], c["rel"]
    if event_study:
        hs = sorted(set(rel[D].astype(int)))
        X2 = np.column_stack([(D & (rel == h)).astype(float) for h in hs])
        names = [f"tau::{h}" for h in hs]
        idx = [c["names"].index(n) for n in names]
    else:
        X2 = D.astype(float)[:, None]  # OLS of the residualised y on D without intercept
        names, idx = ["ATT"], [0]
    beta = np.linalg.solve(X2.T @ X2, X2.T @ ry)
    cov = (_gardner_vcov(c, X2, beta) if vcov == "gardner"
           else c["cov"][np.ix_(idx, idx)])
    return CoefResult(nobs=c["nobs"], terms=names, beta=beta, vcov_matrix=cov, df_t=None,
                      meta={"depvar": y, "estimator": "Gardner two-stage",
                            "cluster": [cluster or c["unit"]],
                            "vcov_label": ("two-stage GMM (Gardner)" if vcov == "gardner"
                                           else "BJS conservative") + ", clustered by "
                            + (cluster or c["unit"]),
                            "rel_times": [int(n.split("::")[1]) for n in names]
                            if event_study else None, "ref": None})

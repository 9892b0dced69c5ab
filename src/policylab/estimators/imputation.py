"""Imputation DID (Borusyak, Jaravel and Spiess 2024) and Gardner's two-stage DID.

The model of untreated outcomes, ``y = fixed effects + X b + e`` (default fixed effects:
unit and time; any others with ``fe=``, e.g. ``"unit + province^year"``), is fitted by
(weighted) least squares on untreated observations only; each treated observation's
effect is y minus its imputed untreated outcome, and estimands are (weighted) averages
of these effects: all treated observations, or by horizon.

Standard errors use BJS's conservative formula with the imputation weights
``v = -W0 Z0 (Z0' W0 Z0)^+ Z1' e`` (``e`` the estimand's weights on treated rows, ``W0``
the observation weights of untreated rows), clustered by unit (or ``cluster``); treated
residuals are deviations from the cohort x period average effect, averaged with Stata
did_imputation's "smart" weights. Gardner's two-stage covariance reuses the same solve.

The fixed effects are absorbed with the engine's demeaning (control slopes by
Frisch-Waugh-Lovell); the fixed-effect coefficients needed to extrapolate to treated
rows and the imputation weights come from the normal equations of the untreated rows,
solved directly by eliminating the largest fixed effect (the unit) and pseudo-inverting
the small Schur complement on the others' levels (e.g. periods), or, when those have
too many levels, by Jacobi-preconditioned conjugate gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from policylab.data.panel import require_columns
from policylab.engine.fixed_effects import demean
from policylab.errors import EstimationError, SpecError
from policylab.estimators.design import (
    cohort_frame,
    cohort_inputs,
    design_record,
    model_fe_terms,
    require_fe_columns,
)
from policylab.estimators.formula import fe_codes
from policylab.estimators.result import CoefResult
from policylab.messages import Message
from policylab.validation import renamed_arg

__all__ = ["did_imputation", "did2s"]



def _dummies(codes: np.ndarray) -> sparse.csr_matrix:
    """Sparse one-hot matrix of integer codes (n, m): one block of columns per FE."""
    n, m = codes.shape
    sizes = codes.max(axis=0) + 1
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return sparse.csr_matrix(
        (np.ones(n * m), (codes + offsets).ravel(), np.arange(0, n * m + 1, m)),
        shape=(n, int(sizes.sum())),
    )


def _pcg(matvec: Callable[[np.ndarray], np.ndarray], B: np.ndarray, dinv: np.ndarray,
         rtol: float = 1e-13, maxiter: int = 20_000, patience: int = 50
         ) -> tuple[np.ndarray, np.ndarray]:
    """Jacobi-preconditioned conjugate gradient for A X = B (A symmetric PSD, each
    column of B in the range of A), all columns at once.

    Returns, per column, the iterate with the smallest relative residual
    ``|A x - b| / |b|`` and that residual. Consistent singular systems (redundant
    fixed-effect levels) converge to a solution; an inconsistent column stalls and
    keeps a large residual. A column stops when its residual is below ``rtol`` or has
    not improved for ``patience`` iterations: with millions of rows rounding can hold
    the residual above ``rtol`` (about 1e-11 at 2M rows), and iterating on lets the
    iterate drift along the null space of A and diverge.
    """
    B = np.asarray(B, dtype=float).reshape(B.shape[0], -1)
    X = np.zeros_like(B)
    R = B.copy()
    bn = np.linalg.norm(B, axis=0)
    bn[bn == 0] = 1.0
    Zp = dinv[:, None] * R
    P = Zp.copy()
    rz = np.einsum("ij,ij->j", R, Zp)
    res = np.linalg.norm(R, axis=0) / bn
    best, X_best, stale = res.copy(), X.copy(), np.zeros(B.shape[1], dtype=np.int64)
    active = np.flatnonzero(res > rtol)
    it = 0
    while active.size and it < maxiter:
        it += 1
        Pa = P[:, active]
        AP = matvec(Pa)
        pap = np.einsum("ij,ij->j", Pa, AP)
        ok = pap > 0
        alpha = np.where(ok, rz[active] / np.where(ok, pap, 1.0), 0.0)
        X[:, active] += alpha * Pa
        Ra = R[:, active] - alpha * AP
        R[:, active] = Ra
        Za = dinv[:, None] * Ra
        rz_new = np.einsum("ij,ij->j", Ra, Za)
        beta = np.where(rz[active] > 0, rz_new / np.where(rz[active] > 0, rz[active], 1.0),
                        0.0)
        P[:, active] = Za + beta * Pa
        rz[active] = rz_new
        res[active] = np.linalg.norm(Ra, axis=0) / bn[active]
        better = res[active] < best[active]
        up = active[better]
        best[up] = res[up]
        X_best[:, up] = X[:, up]
        stale[active] = np.where(better, 0, stale[active] + 1)
        active = active[(res[active] > rtol) & ok & (stale[active] < patience)]
    return X_best, best


Solve = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _schur_solver(codes0: np.ndarray, om0: np.ndarray, sizes: np.ndarray,
                  max_dense: int = 2000) -> Solve | None:
    """Direct solver of the untreated normal equations ``(F0' W0 F0) X = B`` (F0 the
    fixed-effect dummies of the untreated rows, laid out as :func:`_dummies`).

    The block of the fixed effect with the most levels (the unit) is diagonal, so it is
    eliminated exactly and what is left is the Schur complement on the levels of the
    other fixed effects (for unit + time a periods x periods matrix), formed in O(n)
    and pseudo-inverted densely once; each solve is then O(levels x columns). Returns
    None (the caller iterates instead) when the other fixed effects have more than
    ``max_dense`` levels together. The solve returns, as :func:`_pcg`, the relative
    residual ``|A x - b| / |b|`` of each column: exactly that of the reduced system.
    """
    m = codes0.shape[1]
    sizes = np.asarray(sizes, dtype=np.int64)
    big = int(np.argmax(sizes))
    rest = [j for j in range(m) if j != big]
    nb, mr = int(sizes[big]), int(sizes[rest].sum())
    if mr > max_dense:
        return None
    d = np.bincount(codes0[:, big], weights=om0, minlength=nb)
    if not (d > 0).all():
        return None
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    idx_b = offsets[big] + np.arange(nb)
    idx_r = np.concatenate([offsets[j] + np.arange(sizes[j]) for j in rest] or
                           [np.zeros(0, np.int64)])
    # rest levels numbered 0..mr-1 in layout order; C = Fb' W Fr, A_rr = Fr' W Fr
    rc = (codes0[:, rest] + np.concatenate([[0], np.cumsum(sizes[rest])[:-1]])
          if rest else np.zeros((len(om0), 0), np.int64))
    k = len(rest)
    C = sparse.csr_matrix((np.repeat(om0, k), (np.repeat(codes0[:, big], k), rc.ravel())),
                          shape=(nb, mr))
    pairs = (rc[:, :, None] * mr + rc[:, None, :]).ravel()
    A_rr = np.bincount(pairs, weights=np.repeat(om0, k * k), minlength=mr * mr)
    S = A_rr.reshape(mr, mr) - (C.T @ sparse.diags(1.0 / d) @ C).toarray()
    S = (S + S.T) / 2
    lam, Q = np.linalg.eigh(S) if mr else (np.zeros(0), np.zeros((0, 0)))
    keep = lam > 1e-11 * max(float(lam.max(initial=0.0)), 1e-300)
    S_pinv = (Q[:, keep] / lam[keep]) @ Q[:, keep].T

    def solve(B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        B = np.asarray(B, dtype=float).reshape(B.shape[0], -1)
        Bd = B[idx_b] / d[:, None]
        rhs = B[idx_r] - C.T @ Bd
        xr = S_pinv @ rhs
        X = np.empty_like(B)
        X[idx_b] = Bd - (C @ xr) / d[:, None]
        X[idx_r] = xr
        bn = np.linalg.norm(B, axis=0)
        bn[bn == 0] = 1.0
        return X, np.linalg.norm(S @ xr - rhs, axis=0) / bn

    return solve


def _normal_solver(F0: sparse.csr_matrix, om0: np.ndarray, codes0: np.ndarray,
                   sizes: np.ndarray) -> Solve:
    """Solver of the untreated normal equations ``(F0' W0 F0) X = B``: the direct
    (Schur-complement) solve when it applies and its residual is at rounding level,
    otherwise Jacobi-preconditioned conjugate gradients."""
    F0T = F0.T.tocsr()
    dinv = 1.0 / np.asarray(F0T @ om0).ravel()
    direct = _schur_solver(codes0, om0, sizes)

    def normal_op(P: np.ndarray) -> np.ndarray:
        return F0T @ (om0[:, None] * (F0 @ P))

    def solve(B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if direct is not None:
            X, r = direct(B)
            if (r <= 1e-10).all():
                return X, r
        return _pcg(normal_op, B, dinv)

    return solve


def _pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense codes of the pairs (a, b) of two non-negative integer code arrays."""
    return pd.factorize(a.astype(np.int64) * (int(b.max()) + 1) + b)[0]


def _weights_array(df: pd.DataFrame, weights: str | None) -> np.ndarray | None:
    if weights is None:
        return None
    require_columns(df, [weights], "weights column")
    w = pd.to_numeric(df[weights], errors="coerce").to_numpy(float)
    neg = np.isfinite(w) & (w < 0)
    if neg.any():
        raise SpecError(f"weights column {weights!r} has {int(neg.sum())} negative values")
    return w


def _estimation_sample(df: pd.DataFrame, y: str, time: str, cohort: str,
                       controls: list[str], fe_list: list[str], cl_col: str,
                       weights: str | None
                       ) -> tuple[pd.DataFrame, pd.Series, np.ndarray, dict[str, int]]:
    """Rows with outcome, controls, fixed-effect keys, cluster and a positive weight;
    their cohorts (0 never treated), the treated-row mask and the rows dropped."""
    dropped: dict[str, int] = {}
    # rows without outcome, controls, fixed-effect keys, cluster or a positive weight
    vals = df[[y, *controls]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(vals).all(axis=1)
    _, miss_fe = fe_codes(df, fe_list)
    bad |= miss_fe | df[cl_col].isna().to_numpy()
    w_all = _weights_array(df, weights)
    if w_all is not None:
        bad |= ~np.isfinite(w_all) | (w_all == 0)
    if bad.any():
        dropped["missing values" + (" or zero weights" if weights else "")] = int(bad.sum())
    df = df.loc[~bad]
    G = pd.to_numeric(df[cohort], errors="coerce").replace([np.inf], np.nan).fillna(0)
    D = ((G > 0) & (df[time] >= G)).to_numpy()
    if not D.any():
        raise EstimationError(Message("imputation.no_treated", time=time, cohort=cohort))
    if D.all():
        raise EstimationError(Message("imputation.no_untreated"))
    return df, G, D, dropped


def _imputable_rows(df: pd.DataFrame, G: pd.Series, D: np.ndarray, fe_list: list[str],
                    autosample: bool, dropped: dict[str, int]
                    ) -> tuple[pd.DataFrame, pd.Series, np.ndarray, np.ndarray, list[str]]:
    """Refuse (or, with ``autosample``, drop and say so) treated rows whose fixed-effect
    levels are never seen untreated; returns the rows kept, their fixed-effect codes
    and the notes. ``dropped`` is updated in place."""
    # treated rows whose fixed-effect levels are never seen untreated (Stata
    # did_imputation: "could not impute FE"; error unless autosample)
    codes, _ = fe_codes(df, fe_list)
    unseen = np.zeros(len(df), bool)
    parts = []
    for j, term in enumerate(fe_list):
        seen = np.bincount(codes[~D, j], minlength=int(codes[:, j].max()) + 1) > 0
        miss = D & ~seen[codes[:, j]]
        if miss.any():
            parts.append(Message("imputation.unseen_fe", n=int(miss.sum()), term=term,
                                 levels=int(np.unique(codes[miss, j]).size)))
        unseen |= miss
    notes: list[str] = []
    if unseen.any():
        if not autosample:
            raise EstimationError(Message("imputation.not_identified", n=int(unseen.sum()),
                                          parts=parts))
        notes.append(Message("imputation.not_imputable", n=int(unseen.sum()), parts=parts))
        dropped["treated, fixed effects not imputable"] = int(unseen.sum())
        df = df.loc[~unseen]
        G, D = G[~unseen], D[~unseen]
        codes, _ = fe_codes(df, fe_list)  # dense again without the dropped levels
    return df, G, D, codes, notes


def _estimand_weights(rel1: np.ndarray, horizons: Sequence[int] | None, om1: np.ndarray
                      ) -> tuple[list[str], np.ndarray]:
    """Names and weights over the treated rows (columns sum to 1) of the overall ATT and
    of one effect per horizon present, each weighted by the observation weights."""
    hs = sorted(set(rel1.astype(int))) if horizons is None else list(horizons)
    hs = [h for h in hs if (rel1 == h).any()]
    names = ["ATT", *[f"tau::{h}" for h in hs]]
    E1 = np.zeros((len(rel1), len(names)))
    E1[:, 0] = om1
    for k, h in enumerate(hs, start=1):
        m = rel1 == h
        E1[m, k] = om1[m]
    return names, E1 / E1.sum(axis=0)


def _bjs_cov(E1: np.ndarray, V0: np.ndarray, eps0: np.ndarray, tau1: np.ndarray,
             cl: np.ndarray, ncl: int, D: np.ndarray, G1: np.ndarray, rel1: np.ndarray
             ) -> np.ndarray:
    """Borusyak-Jaravel-Spiess conservative covariance of the estimands: cluster sums
    of ``v = e (tau - cell average)`` on treated rows and ``V0 eps`` on untreated rows
    (``V0 = -W0 P``, ``P`` the imputation map of the estimand weights ``E1``)."""
    # treated residuals around cohort x period averages with Stata's smart weights:
    # within a cell, rows weigh e_i times their cluster's total e in the cell
    cell = _pair_codes(pd.factorize(G1)[0], pd.factorize(rel1)[0])
    ncell = int(cell.max()) + 1
    cc = _pair_codes(cl[D], cell)
    K = E1.shape[1]
    S = np.zeros((K, ncl))
    for k in range(K):
        e = E1[:, k]
        cw = np.bincount(cc, weights=e)[cc]
        den = np.bincount(cell, weights=cw * e, minlength=ncell)
        num = np.bincount(cell, weights=cw * e * tau1, minlength=ncell)
        avg = np.divide(num, den, out=np.zeros(ncell), where=den != 0)
        S[k] = (np.bincount(cl[D], weights=e * (tau1 - avg[cell]), minlength=ncl)
                + np.bincount(cl[~D], weights=V0[:, k] * eps0, minlength=ncl))
    return S @ S.T


def _imputation_core(data: Any, y: str, unit: str | None, time: str | None, cohort: str,
                     controls: Sequence[str], horizons: Sequence[int] | None,
                     cluster: str | None, fe: str | Sequence[str] | None = None,
                     weights: str | None = None, autosample: bool = False,
                     ) -> dict[str, Any]:
    """Fit the untreated-outcome model, impute, and build the BJS covariance.

    Returns a dict with the estimates, covariance, per-row effects and the pieces the
    two-stage covariance needs (``impute_map`` maps estimand weights on treated rows
    to ``Z0 (Z0' W0 Z0)^+ Z1' e`` on untreated rows).
    """
    df, unit, time = cohort_frame(data, y, unit, time, cohort)
    fe_list = model_fe_terms(fe, unit, time)
    require_fe_columns(df, fe_list)
    controls = list(controls)
    require_columns(df, controls, "control")
    cl_col = cluster or unit
    require_columns(df, [cl_col], "cluster column")
    n_in = len(df)
    df, G, D, dropped = _estimation_sample(df, y, time, cohort, controls, fe_list, cl_col,
                                           weights)
    df, G, D, codes, notes = _imputable_rows(df, G, D, fe_list, autosample, dropped)
    n = len(df)
    G_arr = G.to_numpy(float)
    yv = df[y].to_numpy(float)
    X = (df[controls].apply(pd.to_numeric).to_numpy(float) if controls
         else np.zeros((n, 0)))
    om = np.ones(n) if weights is None else pd.to_numeric(df[weights]).to_numpy(float)
    om0, om1 = om[~D], om[D]
    k_x = X.shape[1]

    # --- step 1: weighted FE regression on untreated rows (FWL for the control slopes)
    codes0 = codes[~D]
    # the control rows of untreated and treated observations, taken once (row takes
    # by position: a boolean mask over an n x k array is several times slower)
    X0, X1 = X.take(np.flatnonzero(~D), axis=0), X.take(np.flatnonzero(D), axis=0)
    Zt = demean(np.column_stack([yv[~D], X0]), codes0,
                None if weights is None else om0, return_info=True)
    Z0t, info = Zt
    if not info.converged:
        raise EstimationError("the imputation model's fixed effects did not converge "
                              f"({info.iterations} sweeps)")
    yt, Xt = Z0t[:, 0], Z0t[:, 1:]
    beta = np.zeros(k_x)
    XtWXt_pinv = np.zeros((k_x, k_x))
    if k_x:
        sw = np.sqrt(om0)
        beta = np.linalg.lstsq(Xt * sw[:, None], yt * sw, rcond=None)[0]
        XtWXt_pinv = np.linalg.pinv((Xt * om0[:, None]).T @ Xt)
    r0 = yv[~D] - X0 @ beta
    eps0 = yt - Xt @ beta  # untreated residuals
    F = _dummies(codes)
    F0, F1 = F[~D], F[D]
    solve = _normal_solver(F0, om0, codes0, codes.max(axis=0) + 1)

    # fixed-effect coefficients: solve (F0'W F0) a = F0'W f0, f0 the fitted FE part
    f0 = r0 - eps0
    # unweighted: the weights are ones, and multiplying by them (n-row temporaries at
    # firm scale) changes no bit
    unit_w = weights is None
    a, res = solve(F0.T @ (f0 if unit_w else om0 * f0))
    fe_part = F @ a[:, 0]
    scale = max(float(np.abs(f0).max()), 1.0)
    if np.abs(fe_part[~D] - f0).max() > 1e-7 * scale:
        raise EstimationError("the imputation model's fixed-effect coefficients did not "
                              f"converge (relative residual {res[0]:.1e})")
    y0hat = fe_part + X @ beta
    tau = np.where(D, yv - y0hat, np.nan)
    rel = df[time].to_numpy() - G_arr
    X0w = X0 if unit_w else X0 * om0[:, None]

    def impute_map(E: np.ndarray) -> np.ndarray:
        """``Z0 (Z0'W0 Z0)^+ Z1' E`` on untreated rows for weights E on treated rows."""
        E = E.reshape(E.shape[0], -1)
        B = F1.T @ E
        h, r = solve(B)
        if (r > 1e-8).any():
            bn = np.linalg.norm(B, axis=0)
            raise EstimationError(
                "an estimand is not identified from untreated observations: the fixed "
                f"effects ({' + '.join(fe_list)}) are collinear among untreated "
                "observations but not in the full sample (e.g. disconnected groups); "
                f"relative residual {r.max():.1e} of {bn.max():.3g}. Restrict the sample "
                "or use coarser fixed effects")
        P = F0 @ h
        if k_x:
            gx = XtWXt_pinv @ (X1.T @ E - X0w.T @ P)
            P = P + Xt @ gx
        return P

    # --- estimands: the overall ATT and one per horizon, weighted by observation weights
    rel1 = rel[D]
    names, E1 = _estimand_weights(rel1, horizons, om1)
    est = E1.T @ tau[D]
    # --- BJS conservative covariance: v = e on treated rows, -W0 P on untreated rows
    V0 = -impute_map(E1) if unit_w else -om0[:, None] * impute_map(E1)
    cl = pd.factorize(df[cl_col])[0]
    ncl = int(cl.max()) + 1
    cov = _bjs_cov(E1, V0, eps0, tau[D], cl, ncl, D, G_arr[D], rel1)
    eps = np.zeros(n)
    eps[~D] = eps0
    return {"est": est, "cov": cov, "names": names, "tau": tau, "D": D, "rel": rel,
            "nobs": n, "n0": int((~D).sum()), "beta": beta, "resid_y": yv - y0hat,
            "clusters": ncl, "unit": unit, "time": time, "eps1": eps, "cl": cl,
            "df": df, "fe": fe_list, "weights": om, "impute_map": impute_map,
            "dropped": dropped, "notes": notes, "n_in": n_in}


def _gardner_vcov(c: dict[str, Any], X2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Gardner (2022) / Butts and Gardner two-stage GMM covariance, clustered.

    Score of observation i: ``w_i X2_i e2_i - w_i (1 - D_i) e1_i (Z_i Gamma')`` with
    ``Gamma = X2'W Z (Z0'W0 Z0)^+``, Z the first-stage design (fixed-effect dummies and
    controls), Z0 its untreated rows, w the observation weights, e1 the first-stage and
    e2 the second-stage residuals; bread ``(X2'W X2)^-1``; no small-sample factor (as
    the R did2s package and pyfixest). ``Z0 Gamma'`` is the imputation map applied to
    the treated rows' ``w X2``.
    """
    D, w = c["D"], c["weights"]
    e2 = c["resid_y"] - X2 @ b2
    P = c["impute_map"](w[D][:, None] * X2[D])
    score = X2 * (w * e2)[:, None]
    score[~D] -= (w[~D] * c["eps1"][~D])[:, None] * P
    S = np.zeros((c["clusters"], X2.shape[1]))
    np.add.at(S, c["cl"], score)
    B = np.linalg.inv((X2 * w[:, None]).T @ X2)
    return B @ (S.T @ S) @ B


def _meta_common(c: dict[str, Any], weights: str | None) -> dict[str, Any]:
    return {"fe": list(c["fe"]), "weights": weights, "dropped": dict(c["dropped"]),
            "untreated_obs": c["n0"], "clusters": c["clusters"]}


def _record(c: dict[str, Any], cohort: str, cluster: str | None, weights: str | None,
            controls: Sequence[str], design: Any) -> dict[str, Any]:
    """``meta["design"]``: the model the imputation estimators used."""
    return design_record(unit=c["unit"], time=c["time"], treatment=f"cohort {cohort}",
                         nobs=c["nobs"], fe=c["fe"], cluster=cluster or c["unit"],
                         weights=weights, controls=controls, design=design)


def did_imputation(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str | None = None,
    *,
    controls: Sequence[str] = (),
    fe: str | Sequence[str] | None = None,
    horizons: Sequence[int] | None = None,
    pretrends: int | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    autosample: bool = False,
) -> CoefResult:
    """Borusyak-Jaravel-Spiess imputation estimator: the overall ATT (``ATT``) and the
    effect at each horizon (``tau::h``), with BJS's conservative clustered SEs.

    Parameters
    ----------
    data, y, unit, time, cohort
        Long panel (unbalanced allowed); never-treated units coded 0, missing or inf in
        ``cohort`` (default column "cohort"). ``data`` may be a
        :class:`~policylab.estimators.design.Design`, which then gives the cohort,
        controls, fixed effects, cluster and weights.
    controls : list of str
        Time-varying controls entering the imputation model linearly.
    fe : str or list of str, optional
        Fixed effects of the untreated-outcome (imputation) model, as Stata
        did_imputation's ``fe()`` and the first stage ``~ 0 | unit + year`` of
        did2s: default ``unit + time``; e.g. ``"unit + province^year"`` (interactions
        with ``^``, the syntax :func:`policylab.feols` uses after ``|``) or
        ``["unit", "province^year"]``.
    horizons : list of int, optional
        Event times to report (default: all observed post-treatment horizons).
    pretrends : int, optional
        BJS's separate pre-trend test: on untreated observations only, regress y on
        the fixed effects, the controls and dummies for the last ``pretrends``
        pre-treatment periods (-1, ..., -k) of eventually treated units, weighted and
        clustered like the estimator. The coefficients are in ``meta["pretrends"]``
        (a tidy table) and their joint Wald test in ``meta["pretrend_test"]``; they are
        not part of the ATT covariance (BJS report them separately).
    cluster : str, optional
        Cluster column (default: unit).
    weights : str, optional
        Observation weights (Stata ``[aw=]``, pyfixest ``weights=``): the imputation
        model is fitted by weighted least squares, and the estimands are
        weight-weighted averages of the treated observations' effects (BJS's ``wtr``
        proportional to the weights); the SEs use the implied imputation weights.
        Rows with missing or zero weight are dropped.
    autosample : bool
        Every treated observation's fixed-effect levels must be seen among untreated
        observations (a unit treated in every period, a period or province-year in
        which every unit is treated cannot be imputed). As Stata did_imputation, the
        default raises an EstimationError naming how many treated rows and which
        fixed effect; ``autosample=True`` drops those rows with a warning (counted in
        ``meta["dropped"]``) and the estimands average over the remaining treated
        observations.

    Returns
    -------
    CoefResult
        Terms ``ATT`` and ``tau::h``; ``meta`` holds the fixed effects, weights,
        dropped rows, untreated and cluster counts.
    """
    data, unit, time, cohort, m, design = cohort_inputs(
        data, "did_imputation", y, unit, time, cohort, controls=controls, fe=fe,
        cluster=cluster, weights=weights)
    controls, fe, cluster, weights = m["controls"], m["fe"], m["cluster"], m["weights"]
    c = _imputation_core(data, y, unit, time, cohort, controls, horizons, cluster, fe,
                         weights, autosample)
    meta = {"depvar": y, "estimator": "BJS imputation", **_meta_common(c, weights),
            "cluster": [cluster or c["unit"]], "design": _record(c, cohort, cluster,
                                                                  weights, controls, design),
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
        from policylab.estimators.formula import model_formula

        fit = feols(model_formula(d.columns, [y], names + list(controls), c["fe"]), d,
                    vcov={"CRV1": cluster or c["unit"]}, weights=weights)
        tab = fit.tidy()
        tab = tab[tab["term"].isin(names)].assign(
            term=lambda t: [f"pre::{-int(n.split('_')[1])}" for n in t["term"]])
        meta["pretrends"] = tab.reset_index(drop=True)
        meta["pretrend_test"] = fit.wald_test(names)
    res = CoefResult(nobs=c["nobs"], terms=c["names"], beta=c["est"], vcov_matrix=c["cov"],
                     df_t=None, meta=meta)
    for msg in c["notes"]:
        res.warn(msg)
    return res


def did2s(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str | None = None,
    *,
    controls: Sequence[str] = (),
    fe: str | Sequence[str] | None = None,
    event_study: bool = False,
    cluster: str | None = None,
    weights: str | None = None,
    variance: str | None = None,
    autosample: bool = False,
    vcov: str | None = None,
) -> CoefResult:
    """Gardner's two-stage DID.

    Stage 1 estimates the fixed effects (default unit and time) and control slopes on
    untreated observations; stage 2 regresses the residualised outcome on the
    treatment (or horizon dummies). The point estimates equal the imputation
    estimator's.

    Parameters
    ----------
    data, y, unit, time, cohort
        As :func:`did_imputation`.
    controls : list of str
        Controls of the first stage.
    fe : str or list of str, optional
        First-stage fixed effects, as ``first_stage = ~ 0 | unit + year`` in R/pyfixest
        did2s: default ``unit + time``; e.g. ``"unit + province^year"``.
    event_study : bool
        Horizon dummies (``tau::h``) instead of one ATT.
    cluster : str, optional
        Cluster column (default: unit).
    weights : str, optional
        Observation weights, used in both stages and in the covariance (as pyfixest
        and R did2s ``weights``).
    variance : {"gardner", "bjs"}
        Which variance estimator: ``"gardner"`` (default): the two-stage GMM covariance
        that accounts for stage 1 (what R did2s and pyfixest report); ``"bjs"``: the
        imputation estimator's conservative covariance (Borusyak, Jaravel and Spiess,
        as :func:`did_imputation`). Both are clustered by ``cluster``.
    autosample : bool
        As :func:`did_imputation`: drop treated rows whose fixed effects are never seen
        untreated instead of raising.
    vcov : {"gardner", "bjs"}, optional
        Deprecated name of ``variance`` (accepted for one release with a
        :class:`~policylab.errors.PolicyLabDeprecationWarning`): everywhere else in
        policylab ``vcov`` is the variance spec (``"hetero"``, ``{"CRV1": col}``).

    Returns
    -------
    CoefResult
    """
    variance = renamed_arg(variance, vcov, "variance", "vcov", "did2s", default="gardner")
    if variance not in ("gardner", "bjs"):
        raise SpecError(f"did2s: variance must be 'gardner' or 'bjs', got {variance!r}")
    data, unit, time, cohort, m, design = cohort_inputs(
        data, "did2s", y, unit, time, cohort, controls=controls, fe=fe, cluster=cluster,
        weights=weights)
    controls, fe, cluster, weights = m["controls"], m["fe"], m["cluster"], m["weights"]
    c = _imputation_core(data, y, unit, time, cohort, controls, None, cluster, fe, weights,
                         autosample)
    ry, D, rel, w = c["resid_y"], c["D"], c["rel"], c["weights"]
    if event_study:
        hs = sorted(set(rel[D].astype(int)))
        X2 = np.column_stack([(D & (rel == h)).astype(float) for h in hs])
        names = [f"tau::{h}" for h in hs]
        idx = [c["names"].index(n) for n in names]
    else:
        X2 = D.astype(float)[:, None]  # WLS of the residualised y on D without intercept
        names, idx = ["ATT"], [0]
    Xw = X2 * w[:, None]
    beta = np.linalg.solve(Xw.T @ X2, Xw.T @ ry)
    cov = (_gardner_vcov(c, X2, beta) if variance == "gardner"
           else c["cov"][np.ix_(idx, idx)])
    cl_name = cluster or c["unit"]
    res = CoefResult(
        nobs=c["nobs"], terms=names, beta=beta, vcov_matrix=cov, df_t=None,
        meta={"depvar": y, "estimator": "Gardner two-stage", **_meta_common(c, weights),
              "cluster": [cl_name],
              "design": _record(c, cohort, cluster, weights, controls, design),
              "variance": variance,
              "vcov_label": ("two-stage GMM (Gardner)" if variance == "gardner"
                             else "BJS conservative") + ", clustered by " + cl_name,
              "rel_times": [int(n.split("::")[1]) for n in names] if event_study else None,
              "ref": None})
    for msg in c["notes"]:
        res.warn(msg)
    return res

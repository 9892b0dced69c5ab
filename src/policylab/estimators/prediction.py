"""Residuals, fitted values and fixed-effect estimates of a fitted feols model.

feols absorbs the fixed effects without estimating them. Their sum on each
estimation row is recovered exactly as ``y - X b - u`` (u the residual), and split
into one effect per level by alternating group means, as fixest's ``fixef()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from policylab.data.panel import require_columns
from policylab.errors import ConvergenceError, SpecError
from policylab.estimators.formula import build_matrix, parse_formula

__all__ = ["residuals", "predict", "fixed_effects"]


def _positions(res: Any) -> np.ndarray:
    data = res.fit.data
    if not data.index.is_unique:
        raise SpecError(
            "predict / fixef need row labels that identify rows; the data's index has "
            "duplicates: fit on data.reset_index(drop=True)"
        )
    return data.index.get_indexer(res.fit.rows)


def _regressors(res: Any) -> list[str]:
    """The formula terms the coefficients came from (exogenous, then endogenous)."""
    if res.meta.get("slopes"):
        raise SpecError(
            f"fixef() and predict(newdata) are not available for varying slopes "
            f"({', '.join(res.meta['slopes'])}); resid() and predict() on the estimation "
            "sample are"
        )
    f = parse_formula(res.meta["formula"])
    return [*f.terms, *f.endog]


def _design(res: Any, data: pd.DataFrame, extra: dict[str, Any] | None) -> np.ndarray:
    """Raw regressor matrix on ``data`` in the order of ``res.terms`` (0 where a dummy
    level is absent; NaN where a regressor the model does not know is non-zero)."""
    terms = _regressors(res)
    f = parse_formula(res.meta["formula"])
    # the fitted formula's terms (a user's feols formula may hold formulaic terms)
    X, names = build_matrix(data, terms, intercept=f.intercept, extra=extra, formulaic=True)
    pos = {n: j for j, n in enumerate(names)}
    out = np.zeros((len(data), len(res.terms)))
    for j, t in enumerate(res.terms):
        if t in pos:
            out[:, j] = X[:, pos[t]]
    dropped = set(res.meta.get("dropped_terms") or {})
    unknown = [j for n, j in pos.items() if n not in set(res.terms) and n not in dropped]
    if unknown:
        # e.g. a level of i() the estimation never saw: no coefficient to use
        bad = (X[:, unknown] != 0).any(axis=1)
        out[bad] = np.nan
    return out


def _extra_on_rows(res: Any, pos: np.ndarray) -> dict[str, Any] | None:
    extra = res.fit.extra_columns
    if not extra or res.fit.iv:
        return None
    n = len(res.fit.data)
    out = {}
    for k, v in extra.items():
        if callable(v):
            full = np.empty(n)
            v(full)
            v = full
        out[k] = np.asarray(v, float)[pos]
    return out


def _outcome(res: Any, data: pd.DataFrame) -> np.ndarray:
    y, _ = build_matrix(data, [res.meta["depvar"]], intercept=False, formulaic=True)
    return y[:, 0]


def residuals(res: Any) -> pd.Series:
    """Residuals on the estimation sample (unweighted), indexed by row label."""
    return pd.Series(np.asarray(res.fit.resid, float), index=res.fit.rows,
                     name="resid")


def _fe_sum(res: Any) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Per-row sum of fixed effects, the estimation rows, and their positions."""
    pos = _positions(res)
    sub = res.fit.data.iloc[pos]
    X = _design(res, sub, _extra_on_rows(res, pos))
    u = np.asarray(res.fit.resid, float)
    return _outcome(res, sub) - X @ res.beta - u, sub, pos


def _fe_labels(sub: pd.DataFrame, term: str, codes: np.ndarray) -> pd.Index:
    """Level labels of one fixed effect, in the order of its dense codes."""
    pieces = [p.strip() for p in term.split("^")]
    first = pd.DataFrame({p: sub[p].to_numpy() for p in pieces}).groupby(codes).first()
    if len(pieces) == 1:
        return pd.Index(first[pieces[0]].to_numpy(), name=term)
    return pd.MultiIndex.from_frame(first.reset_index(drop=True))


def _split_sum(d: np.ndarray, codes: np.ndarray, tol: float = 1e-13,
               max_iter: int = 100_000) -> list[np.ndarray]:
    """Effects alpha_j with sum_j alpha_j[codes_j] = d (alternating group means)."""
    Q = codes.shape[1]
    G = [int(codes[:, j].max()) + 1 for j in range(Q)]
    counts = [np.bincount(codes[:, j], minlength=G[j]) for j in range(Q)]
    alpha = [np.zeros(g) for g in G]
    fitted = np.zeros_like(d)
    scale = 1.0 + float(np.abs(d).max(initial=0.0))
    for _ in range(max_iter):
        for j in range(Q):
            c = codes[:, j]
            r = d - fitted + alpha[j][c]
            new = np.bincount(c, weights=r, minlength=G[j]) / counts[j]
            fitted += new[c] - alpha[j][c]
            alpha[j] = new
        if np.abs(d - fitted).max(initial=0.0) <= tol * scale:
            return alpha
    raise ConvergenceError(
        f"fixed effects were not recovered to {tol:g} in {max_iter} sweeps; the fixed "
        "effects may be nearly disconnected"
    )


def _normalise(alpha: list[np.ndarray], codes: np.ndarray,
               labels: list[pd.Index]) -> list[np.ndarray]:
    """Every FE after the first at 0 for its first sorted level, per connected set."""
    if len(alpha) < 2:
        return alpha
    G = [len(a) for a in alpha]
    offs = np.cumsum([0, *G])
    rows = np.repeat(codes[:, 0], codes.shape[1] - 1)
    cols = (codes[:, 1:] + offs[1:-1]).ravel()
    graph = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(offs[-1],) * 2)
    _, comp = csgraph.connected_components(graph, directed=False)
    for j in range(1, len(alpha)):
        comp_j = comp[offs[j]:offs[j + 1]]
        try:
            order = labels[j].argsort()
        except TypeError:  # levels of mixed types: first appearance
            order = np.arange(G[j])
        seen: set[int] = set()
        for lv in order:
            c = int(comp_j[lv])
            if c in seen:
                continue
            seen.add(c)
            shift = alpha[j][lv]
            alpha[j][comp_j == c] -= shift
            alpha[0][comp[:offs[1]] == c] += shift
    return alpha


def fixed_effects(res: Any) -> dict[str, pd.Series]:
    """Estimated fixed effects of ``res``: {fixed effect: Series indexed by level}."""
    fe = list(res.meta.get("fe") or [])
    if not fe:
        raise SpecError(f"the model {res.meta.get('formula')!r} has no fixed effects")
    cached = res.__dict__.get("_fixef")
    if cached is not None:
        return {k: v.copy() for k, v in cached.items()}
    d, sub, _ = _fe_sum(res)
    codes = res.fit.fe_codes
    labels = [_fe_labels(sub, t, codes[:, j]) for j, t in enumerate(fe)]
    alpha = _normalise(_split_sum(d, codes), codes, labels)
    out = {t: pd.Series(a, index=labels[j], name=t).sort_index()
           for j, (t, a) in enumerate(zip(fe, alpha))}
    res.__dict__["_fixef"] = out  # the estimates, computed once per result
    return {k: v.copy() for k, v in out.items()}


def predict(res: Any, newdata: pd.DataFrame | None = None) -> pd.Series:
    """Fitted values X b + fixed effects, on the estimation rows or on ``newdata``."""
    if newdata is None:
        y = _outcome(res, res.fit.data.iloc[_positions(res)])
        return pd.Series(y - np.asarray(res.fit.resid, float),
                         index=res.fit.rows, name="fitted")
    if not isinstance(newdata, pd.DataFrame):
        raise SpecError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    if res.fit.extra_columns and not res.fit.iv:
        raise SpecError(
            "this model has regressors built by the estimator, not columns of the data; "
            "predict() works on the estimation sample only (newdata=None)"
        )
    # built together with the estimation rows, so i() / categorical terms see every
    # level (and the reference) even when newdata holds only some of them; columns
    # missing from newdata disappear from the join and are reported by build_matrix
    fe = list(res.meta.get("fe") or [])
    require_columns(newdata, sorted({p.strip() for t in fe for p in t.split("^")}),
                    "fixed-effect column of newdata")
    sample = res.fit.data.iloc[_positions(res)]
    both = pd.concat([newdata, sample], join="inner", ignore_index=True)
    yhat = _design(res, both, None)[:len(newdata)] @ res.beta
    if fe:
        effects = fixed_effects(res)
        for t in fe:
            pieces = [p.strip() for p in t.split("^")]
            idx = effects[t].index
            keys = (pd.MultiIndex.from_frame(newdata[pieces]) if len(pieces) > 1
                    else pd.Index(newdata[pieces[0]]))
            at = idx.get_indexer(keys)
            vals = np.where(at >= 0, effects[t].to_numpy()[np.maximum(at, 0)], np.nan)
            yhat = yhat + vals
    return pd.Series(yhat, index=newdata.index, name="fitted")

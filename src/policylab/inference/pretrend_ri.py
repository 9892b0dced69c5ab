"""Randomization inference for the event study's joint pre-trend test.

The cluster-robust Wald test of the leads over-rejects when few clusters are treated
(on the bundled carbon design, 6 treated of 30 provinces, a nominal 5% test rejected in
about 30% of datasets without a pre-trend; the restricted wild bootstrap of the same
statistic still in about 10%). Reassigning adoption dates across assignment groups and
recomputing the same Wald statistic gives a test whose size is exact whenever the groups
are exchangeable under the null of no effect at any event time, whatever the number of
treated clusters (Fisher 1935; MacKinnon and Webb 2020 for DID with few treated
clusters).

The test uses the years before the first adoption only. On the full sample the sharp
null would have to include "no effect after adoption" too: real post-adoption effects of
units that a draw labels as controls leak into its fixed effects and residuals, and the
test then over-rejects (10% at a nominal 5% on the carbon design). Before any adoption
the sample does not depend on who is treated, so the test is exact under "no
differential pre-trend" when assignment groups are exchangeable.

Each draw permutes the adoption dates (cohorts) across assignment groups, rebuilds the
lead dummies with the event study's window, reference period and endpoint bin, purges
them of the model's fixed effects (and weights) in one batch per chunk, partials out the
controls (Frisch-Waugh-Lovell: the controls' projection is computed once) and forms the
cluster-robust Wald statistic of the leads. The observed statistic is computed by the
same code on the real assignment, so small-sample factors, which are constant across
draws, do not matter.

When the assignment groups are few (provinces), every draw is computed from sums at the
(assignment group x period) level (periods that get the same dummy under every adoption
date, such as those in the endpoint bin, are one period here) instead of the rows: a draw's lead dummies are sums of
the indicators of the cells (group, period) its treated groups occupy, D = A P with A
the n x cells indicator matrix and P a 0/1 cells x leads map given by the draw. With
Ã = M A (the cell indicators purged of the fixed effects, weights and controls once),
D̃'D̃ = P'(Ã'Ã)P, D̃'ỹ = P'(Ã'ỹ), and the score of cluster g is
P'(Ã_g'ỹ_g) - P'(Ã_g'Ã_g)P b. One pass over the rows gives the per-cluster cell Gram
matrices and cross products; each draw then costs O(clusters x cells²) for the cells of
its treated groups instead of O(rows x leads) plus a demeaning. The statistics are the
same numbers (the purging is linear), to rounding. On a balanced unit x period panel
without weights Ã needs no demeaning at all: a purged cell indicator is a function of
the row's (group, period), so the sums come from sums of the purged outcome and
controls over (cluster, group, period) (:func:`_balanced_cell_sums`). The draws are
computed a batch at a time (:func:`_cell_walds`): a reassignment permutes the adoption
dates, so every draw has as many cells under a dummy, gathered into one array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from policylab.engine import fixed_effects as fx
from policylab.engine.cell_scores import cell_route, cluster_cell_scores
from policylab.engine.threads import one_blas_thread, threads_for
from policylab.errors import SpecError
from policylab.estimators.design import COHORT_COL
from policylab.estimators.formula import build_matrix, fe_codes, parse_formula
from policylab.estimators.result import Result
from policylab.inference.randomization import draw_statistics, p_values, permutations
from policylab.messages import Message

__all__ = ["PretrendRIResult", "pretrend_ri_test"]

_CHUNK = 64  # draws demeaned together
_TASK = 512  # draws per executor task
_CELL_GRAMS = 20_000_000  # most clusters x cells² numbers the cell-level path stores
_CELL_BLOCK_BYTES = 256 * 2**20  # purged cell indicators held at once (n x block)
_WALD_BATCH = 128  # most draws computed together from the cell-level sums
_WALD_NUMBERS = 4_000_000  # most numbers of their draws x clusters x cells² blocks (32 MB)


@dataclass
class PretrendRIResult(Result):
    """Randomization p-value of the joint test that every lead is zero."""

    statistic: float = np.nan
    p_value: float = np.nan
    stats: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row: the Wald statistic (F form), the randomization p-value, the draws."""
        m = self.meta
        return pd.DataFrame([{"test": "randomization", "statistic": self.statistic,
                              "df": len(m["leads"]), "p_value": self.p_value,
                              "draws": m["draws"], "groups": m["groups"],
                              "treated_groups": m["treated_groups"]}])


@dataclass
class _Inputs:
    y: np.ndarray  # outcome purged of FE and controls, sqrt(w) scale
    C: np.ndarray  # controls purged of FE, sqrt(w) scale (n x c)
    CtC_inv: np.ndarray
    fe: np.ndarray | None
    w: np.ndarray | None
    cl: np.ndarray
    G: int
    cl_sum: Any  # sparse G x n cluster indicator: cluster sums as one product
    bounds: np.ndarray  # rows are sorted by cluster: cluster g is rows bounds[g]:bounds[g+1]
    t: np.ndarray  # period of each row
    t_last: int  # last period of the whole sample (adoption after it is never)
    group: np.ndarray  # assignment-group code of each row
    cohort_g: np.ndarray  # adoption period of each assignment group (0 = never)
    times: list[int]  # event times of the dummies, reference excluded
    leads: list[int]  # positions of the leads among ``times``
    lo: int
    hi: int
    binned: bool


def _pre_adoption_rows(es: Any) -> pd.DataFrame:
    """The event study's estimation rows in the years before the first adoption."""
    fit = es.regression.fit
    data = fit.data
    if not data.index.is_unique:
        raise SpecError("pretrend_ri_test needs the event study's data to have a unique "
                        "row index; reset_index() before event_study()")
    df = data.iloc[data.index.get_indexer(fit.rows)]
    t = df[es.meta["time"]].to_numpy()
    c = df[COHORT_COL].to_numpy()
    adopted = c[(c > 0) & (c <= t.max())]
    if not adopted.size:
        raise SpecError(Message("pretrend_ri.no_adopter"))
    pre = df[t < adopted.min()]
    if pre[es.meta["time"]].nunique() < 3:
        raise SpecError(Message("pretrend_ri.few_pre_periods"))
    return pre


def _inputs(es: Any) -> _Inputs:
    reg = es.regression
    meta = es.meta
    df = _pre_adoption_rows(es)
    f = parse_formula(meta["formula"])
    dummy_names = set(reg.fit.extra_columns)
    controls = [t for t in f.terms if t not in dummy_names]
    Z, _ = build_matrix(df, [meta["depvar"], *controls], intercept=False)
    w = None if not meta.get("weights") else df[meta["weights"]].to_numpy(float)
    codes, miss = fe_codes(df, list(meta["fe"])) if meta["fe"] else (None, np.zeros(len(df),
                                                                                     bool))
    if len(meta["cluster"]) != 1:
        raise SpecError("pretrend_ri_test needs one-way clustered errors in the event study")
    cl, _ = pd.factorize(df[meta["cluster"][0]])
    keep = np.isfinite(Z).all(axis=1) & ~miss & (cl >= 0)
    if w is not None:
        keep &= np.isfinite(w) & (w > 0)
    df, Z, cl = df[keep], Z[keep], cl[keep]
    w = None if w is None else w[keep]
    fe = None if codes is None else np.column_stack(
        [fx.densify(codes[keep, j])[0] for j in range(codes.shape[1])])
    Zd = Z if fe is None else fx.demean(Z, fe, w)
    if w is not None:
        Zd = Zd * np.sqrt(w)[:, None]
    y, C = Zd[:, 0], Zd[:, 1:]
    CtC_inv = np.linalg.pinv(C.T @ C) if C.shape[1] else np.zeros((0, 0))
    yc = y - C @ (CtC_inv @ (C.T @ y)) if C.shape[1] else y
    full = es.regression.fit.data
    group, groups = pd.factorize(full[meta["assign"]])
    cohort = full[COHORT_COL].to_numpy()
    cohort_g = np.zeros(len(groups), dtype=np.int64)
    cohort_g[group] = cohort
    if (cohort_g[group] != cohort).any():
        raise SpecError(Message("pretrend_ri.mixed_dates", assign=meta["assign"]))
    rows_group = pd.Index(groups).get_indexer(df[meta["assign"]])
    lo, hi = meta["window"]
    leads = [e for e in meta["rel_times"] if e < 0]
    cl = fx.densify(cl)[0]
    G = int(cl.max()) + 1
    # rows sorted by cluster (a permutation of the rows changes no statistic): each
    # cluster's rows are one slice for the cell-level sums
    o = np.argsort(cl, kind="stable")
    cl, yc, C = cl[o], yc[o], C[o]
    fe = None if fe is None else fe[o]
    w = None if w is None else w[o]
    return _Inputs(
        y=yc, C=C, CtC_inv=CtC_inv, fe=fe, w=w, cl=cl, G=G,
        cl_sum=sparse.csr_matrix((np.ones(len(cl)), (cl, np.arange(len(cl)))),
                                 shape=(G, len(cl))),
        bounds=np.searchsorted(cl, np.arange(G + 1)),
        t=df[meta["time"]].to_numpy(np.int64)[o], t_last=int(full[meta["time"]].max()),
        group=rows_group[o], cohort_g=cohort_g,
        times=leads, leads=list(range(len(leads))), lo=lo, hi=hi,
        binned=bool(meta.get("binned", True)),
    )


def _event_column(inp: Any, group: np.ndarray, t: np.ndarray,
                  cohort_g: np.ndarray) -> np.ndarray:
    """Which dummy (position in ``inp.times``, -1 for none) each (group, period) gets
    (``cohort_g`` may be a stack of assignments, B x groups: then B x len(group))."""
    c = cohort_g[..., group]
    treated = (c > 0) & (c <= inp.t_last)
    rel = np.where(treated, t - c, np.iinfo(np.int64).min)
    if inp.binned:
        rel = np.where(treated, np.clip(rel, inp.lo, inp.hi), rel)
    match = rel[..., None] == np.asarray(inp.times)
    return np.where(match.any(axis=-1), match.argmax(axis=-1), -1)


def _dummies(inp: _Inputs, cohort_g: np.ndarray) -> np.ndarray:
    """Event-time dummies (n x len(times)) for one assignment of adoption dates."""
    col = _event_column(inp, inp.group, inp.t, cohort_g)
    return (col[:, None] == np.arange(len(inp.times))[None, :]).astype(float)


def _wald(inp: _Inputs, D: np.ndarray) -> float:
    """Cluster-robust Wald statistic of the leads (unscaled meat) for purged dummies D."""
    if inp.C.shape[1]:
        D = D - inp.C @ (inp.CtC_inv @ (inp.C.T @ D))
    keep = np.flatnonzero(np.abs(D).max(axis=0) > 1e-12)
    leads = [j for j, col in enumerate(keep) if col in inp.leads]
    if not leads:
        return np.nan
    D = D[:, keep]
    H = np.linalg.pinv(D.T @ D)
    b = H @ (D.T @ inp.y)
    u = inp.y - D @ b
    scores = np.zeros((inp.G, D.shape[1]))
    np.add.at(scores, inp.cl, D * u[:, None])
    t = scores @ H[:, leads]  # G x q: each lead's cluster score sums
    meat = t.T @ t
    bl = b[leads]
    return float(bl @ np.linalg.lstsq(meat, bl, rcond=None)[0]) / len(leads)


def _purge(inp: _Inputs, D: np.ndarray) -> np.ndarray:
    if inp.fe is not None:
        D = fx.demean(D, inp.fe, inp.w)
    return D if inp.w is None else D * np.sqrt(inp.w)[:, None]


def _batch_wald(inp: _Inputs, Dd: np.ndarray, k: int) -> np.ndarray:
    """Wald statistics of a chunk of draws at once (Dd: n x B*k purged dummies).

    Draws whose dummies are degenerate (an event time no group reaches) go through
    :func:`_wald`, which drops the empty columns.
    """
    n = Dd.shape[0]
    if inp.C.shape[1]:
        Dd = Dd - inp.C @ (inp.CtC_inv @ (inp.C.T @ Dd))
    # draw-major (B, k, n): every product below is a batched BLAS call
    Dt = np.ascontiguousarray(Dd.T).reshape(-1, k, n)
    B = Dt.shape[0]
    gram = Dt @ Dt.transpose(0, 2, 1)
    diag = np.einsum("bkk->bk", gram)
    ok = (diag > 1e-10 * max(float(diag.max()), 1e-300)).all(axis=1)
    out = np.full(B, np.nan)
    for j in np.flatnonzero(~ok):
        out[j] = _wald(inp, Dt[j].T)
    if not ok.any():
        return out
    Dt, gram = Dt[ok], gram[ok]
    Hinv = np.linalg.inv(gram)
    b = (Hinv @ (Dt @ inp.y)[:, :, None])[:, :, 0]
    u = inp.y[None, :] - (b[:, None, :] @ Dt)[:, 0, :]
    S = (inp.cl_sum @ (Dt * u[:, None, :]).reshape(-1, n).T).T.reshape(-1, k, inp.G)
    T = Hinv[:, inp.leads, :] @ S  # B x q x G: each lead's cluster score sums
    meat = T @ T.transpose(0, 2, 1)
    bl = b[:, inp.leads]
    out[ok] = np.einsum("bq,bq->b", bl, np.linalg.solve(meat, bl[:, :, None])[:, :, 0])
    out[ok] /= len(inp.leads)
    return out


def _draw_stats(inp: _Inputs, perms: np.ndarray) -> np.ndarray:
    """Wald statistics of the assignments in ``perms`` (B x groups), chunk by chunk."""
    k = len(inp.times)
    out = np.empty(len(perms))
    for s in range(0, len(perms), _CHUNK):
        block = perms[s:s + _CHUNK]
        D = np.concatenate([_dummies(inp, inp.cohort_g[p]) for p in block], axis=1)
        out[s:s + len(block)] = _batch_wald(inp, _purge(inp, D), k)
    return out


def _stats_chunk(perms: np.ndarray, shared: _Inputs | _Cells) -> np.ndarray:
    """Wald statistics of a chunk of assignments (an executor task): from the cell-level
    sums, or from the rows."""
    if isinstance(shared, _Cells):
        return _cell_walds(shared, shared.cohort_g[perms])
    return _draw_stats(shared, perms)


@dataclass
class _Cells:
    """Sums at the (assignment group x period) level that every draw is computed from."""

    group: np.ndarray  # assignment group of each cell
    t: np.ndarray  # a period of each cell (its class of periods share their dummies)
    gram: np.ndarray  # Ã'Ã (cells x cells), Ã the purged cell indicators
    ay: np.ndarray  # Ã'ỹ (cells)
    gram_g: np.ndarray  # per cluster Ã_g'Ã_g (G x cells x cells)
    ay_g: np.ndarray  # per cluster Ã_g'ỹ_g (G x cells)
    cohort_g: np.ndarray
    times: list[int]
    leads: list[int]
    t_last: int
    lo: int
    hi: int
    binned: bool


def _period_classes(inp: _Inputs) -> tuple[np.ndarray, np.ndarray]:
    """Classes of pre-adoption periods that every adoption date maps to the same dummy.

    Returns the class of each row (-1: no adoption date gives the row's period a lead
    dummy) and one period of each class. Periods binned together for every date (the
    endpoint bin) are one class: fewer cells, same dummies.
    """
    periods = np.unique(inp.t)
    cohorts = np.unique(inp.cohort_g[(inp.cohort_g > 0) & (inp.cohort_g <= inp.t_last)])
    grid_t = np.repeat(periods, len(cohorts))
    col = _event_column(inp, np.arange(len(grid_t)), grid_t, np.tile(cohorts, len(periods)))
    col = col.reshape(len(periods), -1)
    valid = (col >= 0).any(axis=1)
    if not valid.any():
        return np.full(len(inp.t), -1), periods[:0]
    _, first, cls = np.unique(col[valid], axis=0, return_index=True, return_inverse=True)
    period_cls = np.full(len(periods), -1)
    period_cls[valid] = cls.ravel()
    return period_cls[np.searchsorted(periods, inp.t)], periods[valid][first]


def _purged_cells(inp: _Inputs, row_cell: np.ndarray, c0: int, c1: int) -> np.ndarray:
    """Ã for cells c0..c1-1: their row indicators purged of FE, weights and controls.

    Built and purged in place, column-major (no n x cells temporaries besides Ã).
    """
    n = len(inp.y)
    rows = np.flatnonzero((row_cell >= c0) & (row_cell < c1))
    A = np.zeros((n, c1 - c0), order="F")
    A[rows, row_cell[rows] - c0] = 1.0
    if inp.fe is not None:
        with threads_for(n * max(1, A.shape[1] // 8)):
            fx.demean_inplace(A, inp.fe, inp.w)
    if inp.w is not None:
        A *= np.sqrt(inp.w)[:, None]
    if inp.C.shape[1]:
        coef = inp.CtC_inv @ (inp.C.T @ A)
        for j in range(A.shape[1]):
            A[:, j] -= inp.C @ coef[:, j]
    return A


def _cell_inputs(inp: _Inputs) -> _Cells | None:
    """The cell-level sums, or None when clusters x cells² would be too many numbers."""
    row_cls, periods = _period_classes(inp)
    cells = len(inp.cohort_g) * len(periods)
    if cells == 0 or inp.G * cells * cells > _CELL_GRAMS:
        return None
    with one_blas_thread():  # tall-and-thin products: BLAS threads cost more than they save
        layout = _balanced_layout(inp)
        out = None if layout is None else _balanced_cell_sums(inp, row_cls, periods, *layout)
        return _cell_sums(inp, row_cls, periods) if out is None else out


def _balanced_layout(inp: _Inputs) -> tuple[np.ndarray, int] | None:
    """The period index of each row and the number of periods when the fixed effects
    are exactly unit and period of a balanced panel, units inside one assignment group
    each and no weights (the purged cell indicators then have a closed form), else None.
    """
    if inp.w is not None or inp.fe is None or inp.fe.shape[1] != 2 or not len(inp.t):
        return None
    nested = fx.nested_in_check  # numpy: one O(n) pass, nothing to compile
    periods, t_idx = np.unique(inp.t, return_inverse=True)
    T = len(periods)
    for a, b in ((0, 1), (1, 0)):
        unit, per = inp.fe[:, a], inp.fe[:, b]
        n_u = int(unit.max()) + 1
        if (n_u * T == len(unit) and nested(per, t_idx) and nested(t_idx, per)
                and nested(unit, inp.group)
                and np.bincount(unit * T + t_idx, minlength=n_u * T).max() == 1):
            return t_idx, T
    return None


def _cluster_products(A: np.ndarray, B: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per cluster the sum of ``a_i b_i'`` over its rows (rows sorted by cluster, cluster
    g is rows ``starts[g]:starts[g + 1]``, none empty): G x A.shape[1] x B.shape[1]."""
    G = len(starts) - 1
    out = np.zeros((G, A.shape[1], B.shape[1]))
    if G <= 4096:
        for g in range(G):
            r = slice(starts[g], starts[g + 1])
            out[g] = A[r].T @ B[r]
        return out
    # many small clusters: outer products a block of clusters at a time (~32 MB)
    rows = max(1, 2**22 // max(1, A.shape[1] * B.shape[1]))
    g0 = 0
    while g0 < G:
        g1 = min(G, max(g0 + 1, int(np.searchsorted(starts, starts[g0] + rows, "right")) - 1))
        r0, r1 = starts[g0], starts[g1]
        prod = np.einsum("ni,nj->nij", A[r0:r1], B[r0:r1])
        out[g0:g1] = np.add.reduceat(prod, starts[g0:g1] - r0, axis=0)
        g0 = g1
    return out


def _balanced_cell_sums(inp: _Inputs, row_cls: np.ndarray, periods: np.ndarray,
                        t_idx: np.ndarray, T: int) -> _Cells | None:
    """:func:`_cell_sums` in closed form for a balanced unit x period panel.

    Purged of unit and period effects, the indicator of cell (h, s) (group h, class of
    periods s with |s| periods) is 1[g=h]1[t in s] - 1[g=h]|s|/T - 1[t in s]U_h/U
    + U_h|s|/(UT) (U_h units in group h of U): a function of the row's (group, period)
    only. So every sum the draws need comes from sums of the purged outcome and
    controls over (cluster, group, period): one pass over the rows, no n x cells
    matrix. The controls are partialled out as in :func:`_purged_cells`
    (Ã = MA - C̃Γ, Γ = (C̃'C̃)⁺C̃'MA). None when the (cluster, group, period) keys
    times cells would take more memory than the purge's blocks.
    """
    n_groups, n_c = len(inp.cohort_g), len(periods)
    cls_of_t = np.full(T, -1)
    cls_of_t[t_idx] = row_cls
    size = np.bincount(cls_of_t[cls_of_t >= 0], minlength=n_c).astype(float)
    units_h = np.bincount(inp.group[t_idx == 0], minlength=n_groups).astype(float)
    U = units_h.sum()
    # the purged cell indicators at each (group, period): n_groups*T x cells
    cg, cs = np.repeat(np.arange(n_groups), n_c), np.tile(np.arange(n_c), n_groups)
    same_g = (np.repeat(np.arange(n_groups), T)[:, None] == cg[None, :]).astype(float)
    in_s = (np.tile(cls_of_t, n_groups)[:, None] == cs[None, :]).astype(float)
    R = (same_g * (in_s - size[cs] / T) - in_s * (units_h[cg] / U)
         + units_h[cg] * size[cs] / (U * T))
    # sums over (cluster, group, period) keys; rows are sorted by cluster, so are keys
    key, inv = np.unique((inp.cl * n_groups + inp.group) * T + t_idx, return_inverse=True)
    nk = len(key)
    if nk * len(cg) * 8 > _CELL_BLOCK_BYTES:  # clusters across groups: the purge is leaner
        return None
    cnt = np.bincount(inv, minlength=nk).astype(float)
    ys = np.bincount(inv, weights=inp.y, minlength=nk)
    c = inp.C.shape[1]
    Cs = np.column_stack([np.bincount(inv, weights=inp.C[:, j], minlength=nk)
                          for j in range(c)]) if c else np.zeros((nk, 0))
    Rk = R[key % (n_groups * T)]
    kstarts = np.searchsorted(key // (n_groups * T), np.arange(inp.G + 1))
    gram_g = _cluster_products(Rk * np.sqrt(cnt)[:, None], Rk * np.sqrt(cnt)[:, None],
                               kstarts)
    ay_g = _cluster_products(Rk, ys[:, None], kstarts)[:, :, 0]
    if c:
        X_g = _cluster_products(Rk, Cs, kstarts)  # G x cells x c: MA_g'C̃_g
        Gam = inp.CtC_inv @ X_g.sum(axis=0).T  # c x cells
        CC_g = _cluster_products(inp.C, inp.C, inp.bounds)
        Cy_g = _cluster_products(inp.C, inp.y[:, None], inp.bounds)[:, :, 0]
        XG = X_g @ Gam
        gram_g += Gam.T @ CC_g @ Gam - XG - XG.transpose(0, 2, 1)
        ay_g -= Cy_g @ Gam
    return _Cells(
        group=cg, t=np.tile(periods, n_groups),
        gram=gram_g.sum(axis=0), ay=ay_g.sum(axis=0), gram_g=gram_g, ay_g=ay_g,
        cohort_g=inp.cohort_g, times=inp.times, leads=inp.leads, t_last=inp.t_last,
        lo=inp.lo, hi=inp.hi, binned=inp.binned)


def _cell_sums(inp: _Inputs, row_cls: np.ndarray, periods: np.ndarray) -> _Cells:
    n_groups, n_t = len(inp.cohort_g), len(periods)
    cells = n_groups * n_t
    row_cell = np.where(row_cls >= 0, inp.group * n_t + row_cls, -1)
    block = max(1, _CELL_BLOCK_BYTES // (8 * max(len(inp.y), 1)))
    starts = list(range(0, cells, block))
    gram_g = np.zeros((inp.G, cells, cells))
    ay_g = np.zeros((inp.G, cells))
    bounds = inp.bounds
    for i, p0 in enumerate(starts):
        p1 = min(p0 + block, cells)
        Ap = _purged_cells(inp, row_cell, p0, p1)
        for g in range(inp.G):
            ay_g[g, p0:p1] = inp.y[bounds[g]:bounds[g + 1]] @ Ap[bounds[g]:bounds[g + 1]]
        # the purging is global (fixed effects span clusters), so a pair of blocks needs
        # both held at once; later blocks are recomputed rather than all stored
        for q0 in starts[i:]:
            q1 = min(q0 + block, cells)
            Aq = Ap if q0 == p0 else _purged_cells(inp, row_cell, q0, q1)
            for g in range(inp.G):
                r = slice(bounds[g], bounds[g + 1])
                gram_g[g, p0:p1, q0:q1] = Ap[r].T @ Aq[r]
                gram_g[g, q0:q1, p0:p1] = gram_g[g, p0:p1, q0:q1].T
    return _Cells(
        group=np.repeat(np.arange(n_groups), n_t), t=np.tile(periods, n_groups),
        gram=gram_g.sum(axis=0), ay=ay_g.sum(axis=0), gram_g=gram_g, ay_g=ay_g,
        cohort_g=inp.cohort_g, times=inp.times, leads=inp.leads, t_last=inp.t_last,
        lo=inp.lo, hi=inp.hi, binned=inp.binned)


def _cell_wald(cells: _Cells, cohort_g: np.ndarray) -> float:
    """:func:`_wald` for one assignment, from the cell-level sums."""
    col = _event_column(cells, cells.group, cells.t, cohort_g)
    s = np.flatnonzero(col >= 0)
    P = np.zeros((len(s), len(cells.times)))
    P[np.arange(len(s)), col[s]] = 1.0
    H = P.T @ cells.gram[np.ix_(s, s)] @ P
    diag = np.diag(H)
    # a dummy no treated cell reaches, or one the fixed effects absorb, is dropped (its
    # purged column is zero up to rounding), as _wald drops empty columns
    keep = np.flatnonzero(diag > 1e-20 * max(float(diag.max(initial=0.0)), 1e-300))
    leads = [j for j, c in enumerate(keep) if c in cells.leads]
    if not leads:
        return np.nan
    Pk = P[:, keep]
    Hinv = np.linalg.pinv(H[np.ix_(keep, keep)])
    b = Hinv @ (cells.ay[s] @ Pk)
    PGP = Pk.T @ cells.gram_g[:, s][:, :, s] @ Pk  # G x k x k
    scores = cells.ay_g[:, s] @ Pk - PGP @ b  # G x k: each cluster's score sums
    t = scores @ Hinv[:, leads]
    meat = t.T @ t
    bl = b[leads]
    return float(bl @ np.linalg.lstsq(meat, bl, rcond=None)[0]) / len(leads)


def _cell_walds(cells: _Cells, cohorts: np.ndarray) -> np.ndarray:
    """:func:`_cell_wald` for many assignments (rows of ``cohorts``, B x groups) at once.

    A reassignment permutes the adoption dates, so every draw has the same number of
    cells under a dummy; the draws' cells are gathered into B x cells x cells blocks
    and every product is batched. Draws where a dummy is empty or absorbed, or whose
    meat is singular, go through :func:`_cell_wald` (its column dropping and lstsq).
    """
    B, k = len(cohorts), len(cells.times)
    out = np.full(B, np.nan)
    col = _event_column(cells, cells.group, cells.t, cohorts)
    active = col >= 0
    m = active.sum(axis=1)
    same = m == m[0] if B else np.zeros(0, bool)
    rest = list(np.flatnonzero(~same))
    # draws x clusters x cells² numbers held at once: at most _WALD_NUMBERS
    size = int(max(1, min(_WALD_BATCH, _WALD_NUMBERS // max(1, len(cells.ay_g) * m[0] ** 2))
                   )) if B else 1
    route = cell_route(B, len(cells.ay_g), len(cells.group), int(m[0])) if B else "auto"
    with one_blas_thread():  # many small products: BLAS threads cost more than they save
        for b0 in range(0, B, size):
            idx = np.flatnonzero(same[b0:b0 + size]) + b0
            if len(idx):
                stats, bad = _cell_wald_batch(cells, col[idx], active[idx], int(m[0]), k,
                                              route)
                out[idx] = stats
                rest += list(idx[bad])
    for b in rest:
        out[b] = _cell_wald(cells, cohorts[b])
    return out


def _cell_wald_batch(cells: _Cells, col: np.ndarray, active: np.ndarray, m: int,
                     k: int, route: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Statistics of a batch whose draws each have ``m`` cells under a dummy, and which
    draws the batch cannot do (a dropped dummy or a singular meat)."""
    B = len(col)
    # each draw's active cells in increasing order (as np.flatnonzero gives them)
    s = np.argsort(~active, axis=1, kind="stable")[:, :m]
    cs = np.take_along_axis(col, s, axis=1)  # the dummy of each of those cells
    P = (cs[:, :, None] == np.arange(k)).astype(float)
    H = P.transpose(0, 2, 1) @ cells.gram[s[:, :, None], s[:, None, :]] @ P
    diag = np.einsum("bkk->bk", H)
    bad = ~(diag > 1e-20 * np.maximum(diag.max(axis=1, initial=0.0), 1e-300)[:, None]
            ).all(axis=1)
    leads = cells.leads
    if not leads:
        return np.full(B, np.nan), np.zeros(B, bool)
    Hinv = np.linalg.pinv(np.where(bad[:, None, None], np.eye(k), H))
    b = (Hinv @ (cells.ay[s][:, None, :] @ P).transpose(0, 2, 1))[:, :, 0]
    # each cluster's score sums P'(Ã_g'ỹ_g) - P'(Ã_g'Ã_g)P b: the engine picks a route
    # that gathers no B x G x m x m block (the gather was most of the test's time)
    scores = cluster_cell_scores(cells.gram_g, cells.ay_g, s, cs, b, route)  # B x G x k
    t = scores @ Hinv[:, :, leads]  # B x G x q
    meat = t.transpose(0, 2, 1) @ t
    bl = b[:, leads]
    meat[bad] = np.eye(len(leads))
    try:
        sol = np.linalg.solve(meat, bl[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        return np.full(B, np.nan), np.ones(B, bool)
    stats = np.einsum("bq,bq->b", bl, sol) / len(leads)
    stats[bad] = np.nan
    return stats, bad


def pretrend_ri_test(
    es: Any,
    *,
    draws: int = 999,
    seed: int | None = None,
    progress: bool = False,
    executor: Any = None,
) -> PretrendRIResult:
    """Randomization p-value of the joint test that every lead of an event study is zero.

    Parameters
    ----------
    es : EventStudyResult
        From :func:`policylab.event_study` (its window, reference period, bins, fixed
        effects, controls, weights and cluster are kept in every draw).
    draws : int
        Random reassignments of adoption dates across assignment groups.
    seed : int, optional
        Seed of the reassignments.
    progress : bool
        Show a progress bar.
    executor : optional
        Where the draws run (see :mod:`policylab.execution`); the reassignments are
        drawn from ``seed`` in this process, so the numbers do not depend on it.

    Returns
    -------
    PretrendRIResult
        ``statistic`` (the observed Wald statistic over the number of leads, on the
        unscaled cluster-robust meat), ``p_value`` = (1 + #draws at least as large) /
        (1 + draws), ``stats`` (the draws).
    """
    from policylab.validation import check_count, check_seed

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    if getattr(es, "regression", None) is None or not getattr(es, "lead_terms", None):
        raise SpecError("pretrend_ri_test needs an event_study() result with leads")
    inp = _inputs(es)
    n_groups = len(inp.cohort_g)
    perms = permutations(n_groups, draws, seed)
    cells = _cell_inputs(inp)
    if cells is not None:  # few assignment groups: every draw from cell-level sums
        obs = _cell_wald(cells, inp.cohort_g)
        shared: _Inputs | _Cells = cells
    else:
        obs = _wald(inp, _purge(inp, _dummies(inp, inp.cohort_g)))
        shared = inp
    stats = draw_statistics(_stats_chunk, perms, shared=shared, chunk_size=_TASK,
                            executor=executor, progress="pre-trend RI" if progress else None)
    pv = p_values(obs, stats, exact=False)
    p, valid = pv.right, pv.draws
    return PretrendRIResult(
        nobs=es.nobs, statistic=obs, p_value=float(p), stats=stats,
        meta={"leads": list(es.lead_terms), "draws": valid, "groups": n_groups,
              "treated_groups": int((inp.cohort_g > 0).sum()), "seed": seed,
              "assign": es.meta["assign"], "depvar": es.meta.get("depvar")},
    )

"""Coefficient and clustered t statistic of many reassigned treatments (numbers only).

A placebo draw treats s of the G assignment groups, group g with treatment path h
(a 0/1 or dose path over the periods), so its treatment column is a sum of basis
columns 1[group g] x p_h(t). By Frisch-Waugh-Lovell each draw's coefficient is
d~'e / d~'d~ and its cluster-robust variance fac x sum_c (sum_{i in c} d~_i (e_i -
b d~_i))^2 / (d~'d~)^2, with e the outcome net of the fixed effects and controls and
d~ the draw's column net of the same. Three exact ways to get them, chosen by cost:

* ``"balanced"``: balanced unit x time panel, unweighted, groups and clusters of whole
  units: closed form from per-unit sums pooled into group x cluster cells
  (:mod:`policylab.engine.placebo_kernels`), O(treated cells) per draw;
* ``"subsets"``: the partialled basis and its per-cluster Gram matrices, s^2 x clusters
  per draw (:class:`policylab.engine.batched.BasisStats`): few groups, few treated;
* ``"basis"``: any fixed effects and weights, with the other effects' levels few
  enough for a dense basis: each basis column is demeaned once, exactly, and kept as
  its coefficients on the fixed effects not nested in the groups and on the controls
  (see :meth:`PlaceboDraws._setup_basis`); a draw's column is rebuilt from their sums
  in one pass over the rows, O(rows x (effects + controls)) per draw, no iterations;
* ``"columns"``: any fixed effects and weights: the draws' columns are built and
  demeaned in batches by the engine's demeaning, the controls projected off with one
  QR of the controls, O(rows x sweeps) per draw.
"""

from __future__ import annotations

import numpy as np

from policylab.engine import batched
from policylab.engine import fixed_effects as fx
from policylab.engine.threads import one_blas_thread, threads_for
from policylab.engine.vcov import nested_in

__all__ = ["PlaceboDraws", "smallest_k"]

METHODS = ("balanced", "subsets", "basis", "columns")
#: the "basis" method keeps the fixed-effect dummies not nested in the groups as a
#: dense rows x levels matrix while setting up: at most this many entries
BASIS_ENTRIES = 30_000_000


def smallest_k(R: np.ndarray, k: int, ordered: bool) -> np.ndarray:
    """Column indices of the k smallest values of each row of ``R`` (in order of value
    when ``ordered``); a row whose k-th smallest value is tied starts with -1."""
    from policylab.engine.placebo_kernels import smallest_k as kernel

    with threads_for(R.size * 4):
        return kernel(np.ascontiguousarray(R), int(k), bool(ordered))


class PlaceboDraws:
    """Statistics of treatments that reassign ``paths`` across assignment groups.

    Parameters
    ----------
    y : (n,) outcome, already net of the fixed effects (weighted demeaning if weighted)
    C : (n, K) controls, net of the fixed effects the same way
    fe : (n, m) int fixed-effect codes, or None
    weights : (n,) observation weights, or None
    cluster : (n,) dense cluster codes, or None (heteroskedasticity-robust)
    group : (n,) dense assignment-group codes; period : (n,) column of ``paths``
    paths : (H, T) the treatment paths a treated group may receive
    fac : small-sample factor of the clustered variance
    treated : groups treated per draw; draws : how many draws will be asked for (to
        choose the cheapest exact method); method : force one of :data:`METHODS`
    """

    def __init__(self, y: np.ndarray, C: np.ndarray, fe: np.ndarray | None,
                 weights: np.ndarray | None, cluster: np.ndarray | None,
                 group: np.ndarray, period: np.ndarray, paths: np.ndarray, fac: float,
                 treated: int, draws: int, method: str | None = None) -> None:
        self.n, self.G = len(y), int(group.max()) + 1
        self.H = paths.shape[0]
        self.fe, self.w, self.cl, self.fac = fe, weights, cluster, float(fac)
        self.group, self.period, self.paths = group, period, paths
        sw = None if weights is None else np.sqrt(weights)
        self.sw = sw
        ys = y if sw is None else y * sw
        Cs = C if sw is None else C * sw[:, None]
        # F-ordered: the compiled kernels read each control column in one sweep
        self.Q = np.asfortranarray(np.linalg.qr(Cs)[0] if C.shape[1]
                                   else np.zeros((self.n, 0)))
        self.e = ys - self.Q @ (self.Q.T @ ys)
        units = self._balanced_units()
        costs = self._costs(units, C.shape[1], treated)
        if method is not None and (method not in METHODS or costs[method] is None):
            raise ValueError(f"method {method!r} does not apply here")
        if method is None:  # the cheapest set-up plus draws
            method = min((c[0] + draws * c[1], m) for m, c in costs.items() if c)[1]
        self.method = method
        self.per_draw = costs[method][1]
        if method == "balanced":
            self._setup_balanced(units, C)
        elif method == "subsets":
            self._setup_subsets()
        elif method == "basis":
            with one_blas_thread():  # tall-and-thin products: the pool costs more
                self._setup_basis(*self._basis_fe())

    # ----- choosing
    def _balanced_units(self) -> np.ndarray | None:
        fe, cl = self.fe, self.cl
        if self.w is not None or fe is None or fe.shape[1] != 2 or cl is None:
            return None
        for j in (0, 1):
            u, t = fe[:, j], fe[:, 1 - j]
            if (fx.is_balanced_twoway(u, t) and nested_in(u, self.group)
                    and nested_in(u, cl) and nested_in(t, self.period)
                    and nested_in(self.period, t)):
                return u
        return None

    def _costs(self, units: np.ndarray | None, K: int, s: int
               ) -> dict[str, tuple[float, float] | None]:
        """Rough operation counts (set-up, per draw) of each method that applies."""
        n, m, H = self.n, self.G * self.H, self.H
        Gc = n if self.cl is None else int(self.cl.max()) + 1
        costs: dict[str, tuple[float, float] | None] = {"balanced": None, "subsets": None}
        if units is not None:
            # a draw visits its groups' cells (group x cluster): at most the units of
            # a group and at most the clusters
            per_cell = min((int(units.max()) + 1) / self.G, Gc)
            L = H + K + 1 + K * K + H * K
            costs["balanced"] = (n * H * (K + 2) * 2 + Gc * L * L,
                                 s * per_cell * (2 * K + 8 + L) + L * L)
        if batched.BasisStats.fits(Gc, m) and n * m * 8 <= 2e9:
            # numpy set-up with n x m temporaries and the per-cluster Grams: about ten
            # times the time per counted operation of the compiled sweeps (measured
            # with benchmarks/bench_placebo_levels.py)
            costs["subsets"] = (10 * n * m * (m + 10 + 2 * K), Gc * s * s)
        iters = 1 if self.fe is None or self.fe.shape[1] <= 2 else 20
        costs["columns"] = (0.0, n * (10 * iters + 4 * K + 8))
        costs["basis"] = None
        unit, other = self._basis_fe()
        lev = int(other.max(initial=-1)) + 1
        if n * lev <= BASIS_ENTRIES:
            # set-up: sums by level, the Gram of the within-unit dummies (units x
            # levels^2), its eigenvectors and the basis' coefficients, counted twice
            # (numpy); a draw: its share of one sweep of the rows per block of draws
            # (a row: a pass over the lanes with the controls four at a time)
            F, U = other.shape[1], 0 if unit is None else int(unit.max()) + 1
            K4 = max(4, -(-K // 4) * 4)
            costs["basis"] = (2 * (n * (F * F + H * (F + K) + K * F) + U * lev * lev
                                   + lev ** 3 + m * lev * lev),
                              n * (K4 + 4) / 2 + s * (lev + K))
        return costs

    # ----- set-ups
    def _setup_balanced(self, units: np.ndarray, C: np.ndarray) -> None:
        u = fx.densify(units)[0]
        U = int(u.max()) + 1
        cl, e, K, H = self.cl, self.e, C.shape[1], self.H
        Gc = int(cl.max()) + 1
        g_unit = np.empty(U, dtype=np.int64)
        g_unit[u] = self.group
        c_unit = np.empty(U, dtype=np.int64)
        c_unit[u] = cl
        # a draw needs a group's units only through their sums per cluster: pool the
        # units into cells (group x cluster), numbered group by group
        keys, cell_unit = np.unique(g_unit * Gc + c_unit, return_inverse=True)
        cell = np.asarray(cell_unit).ravel()[u]  # each row's cell
        n_cells = len(keys)
        ccl = keys % Gc
        gptr = np.r_[0, np.cumsum(np.bincount(keys // Gc, minlength=self.G))].astype(np.int64)
        gsize = np.bincount(g_unit, minlength=self.G).astype(np.int64)
        Pt = self.paths[:, self.period]  # (H, n): each row's value of each path

        def by(codes: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
            return np.bincount(codes, weights=v, minlength=size)

        r = np.stack([by(cell, e * Pt[h], n_cells) for h in range(H)], axis=1)
        q = np.zeros((n_cells, H, K))
        for h in range(H):
            for k in range(K):
                q[:, h, k] = by(cell, C[:, k] * Pt[h], n_cells)
        pc = self.paths - self.paths.mean(axis=1, keepdims=True)
        Rc = np.zeros((Gc, K, K))
        for k in range(K):
            for j in range(k, K):
                Rc[:, k, j] = Rc[:, j, k] = by(cl, C[:, k] * C[:, j], Gc)
        Wc = np.zeros((Gc, K))
        for k in range(K):
            Wc[:, k] = by(cl, C[:, k] * e, Gc)
        Rrc = np.stack([by(ccl, r[:, h], Gc) for h in range(H)], axis=1)
        Qc = np.zeros((Gc, H, K))
        for h in range(H):
            for k in range(K):
                Qc[:, h, k] = by(ccl, q[:, h, k], Gc)
        Ginv = np.linalg.inv(C.T @ C) if K else np.zeros((0, 0))
        # an untreated cluster's score is -Y_c.w for a vector w of the draw (see
        # placebo_kernels.balanced_coef_t): Y = [sums r, sums C~e, units, vec sums C~C~',
        # 2 vec sums q]
        Y = np.ascontiguousarray(np.hstack([Rrc, Wc, by(c_unit, np.ones(U), Gc)[:, None],
                                            Rc.reshape(Gc, K * K), 2 * Qc.reshape(Gc, H * K)]))
        ccount = np.bincount(cell_unit, minlength=n_cells).astype(np.float64)
        self._bal = (H, gptr, gsize, ccl, ccount, r, q, (pc * pc).sum(axis=1), pc @ pc.T,
                     Ginv, Y, Y.T @ Y, self.fac)

    def _basis_fe(self) -> tuple[np.ndarray | None, np.ndarray]:
        """The fixed effect with the most levels among those nested in the assignment
        groups (None if none is), and the others' codes shifted to disjoint ranges
        (n x effects; a draw's column is sparse within the first, dense in the others)."""
        if getattr(self, "_fe_split", None) is not None:
            return self._fe_split
        fe = np.zeros((self.n, 0), dtype=np.int64) if self.fe is None else self.fe
        levels = [int(fe[:, j].max()) + 1 for j in range(fe.shape[1])]
        nested = [j for j in range(fe.shape[1]) if nested_in(fe[:, j], self.group)]
        first = max(nested, key=lambda j: levels[j]) if nested else None
        rest = [j for j in range(fe.shape[1]) if j != first]
        offsets = np.cumsum([0] + [levels[j] for j in rest])[:-1]
        other = np.ascontiguousarray(fe[:, rest] + offsets, dtype=np.int64)
        self._fe_split = (None if first is None else fe[:, first], other)
        return self._fe_split

    def _setup_basis(self, unit: np.ndarray | None, other: np.ndarray) -> None:
        """Every basis column 1[group g] x p_h(t) net of the fixed effects and the
        controls, kept as coefficients (no n x G*H matrix).

        With ``unit`` the effect nested in the groups, FWL splits the projection on the
        effects: within-unit demeaning, then the within-unit demeaned dummies W~ of the
        other effects. A basis column within-unit demeaned stays on its group's rows
        (sp), and its coefficients on W~ solve the normal equations of W~ (see
        :func:`_within_coefs`; rank-deficient dummies, such as year beside region x
        year, get none); the controls' basis Q is projected off the result. Exact: no
        alternating projections.
        """
        n, H, sw = self.n, self.H, self.sw
        w = np.ones(n) if self.w is None else self.w
        sw1 = np.ones(n) if sw is None else sw
        Pt = self.paths[:, self.period].T  # (n, H): each row's value of each path
        if unit is None:
            u, U = np.zeros(n, dtype=np.int64), 0
            inv_wu = np.zeros(0)
            pbar = np.zeros((1, H))
        else:
            u, U = fx.densify(unit)
            u = u.astype(np.int64)
            wu = np.bincount(u, weights=w, minlength=U)
            inv_wu = 1.0 / wu
            pbar = np.stack([np.bincount(u, weights=w * Pt[:, h], minlength=U)
                             for h in range(H)], axis=1) * inv_wu[:, None]
        dev = Pt - pbar[u]  # within-unit path values; a basis column is sw x dev on its group
        Phi, QW = _within_coefs(u, U, inv_wu, other, w, sw1, self.group, self.G, dev,
                                self.Q)
        K = self.Q.shape[1]
        Bq = np.empty((self.G * H, K))
        for h in range(H):  # each basis column's sums against Q: its group's rows
            for k in range(K):
                Bq[h::H, k] = np.bincount(self.group, weights=self.Q[:, k] * sw1 * dev[:, h],
                                          minlength=self.G)
        Gam = Bq - Phi @ QW.T
        # the kernel sweeps the rows unit by unit (a unit's mean of the effects' part
        # just before its rows), each row with one code: its combination of levels
        order = None if U == 0 or (np.diff(u) >= 0).all() else np.argsort(u, kind="stable")
        uptr = np.r_[0, np.cumsum(np.bincount(u, minlength=U))] if U else np.array([0, n])

        def rows(v: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(v if order is None else v[order])

        combo, combos = _combinations(other)
        # the kernel takes the controls four at a time: zero columns pad them
        Q4 = np.zeros((n, max(4, -(-K // 4) * 4)))
        Q4[:, :K] = self.Q
        cl = np.arange(n) if self.cl is None else self.cl
        # a row's within-unit path value is rebuilt in the kernels from pbar: an n x H
        # table would be most of the memory each draw reads
        self._basis = (rows(self.group), rows(combo), combos, uptr.astype(np.int64),
                       rows(w), rows(sw1), rows(self.period), np.ascontiguousarray(pbar),
                       rows(Q4), rows(self.e), rows(cl), int(cl.max()) + 1, U,
                       np.ascontiguousarray(Phi), np.ascontiguousarray(Gam), inv_wu)

    def _setup_subsets(self) -> None:
        n, H = self.n, self.H
        basis = np.zeros((n, self.G * H))
        rows = np.arange(n)
        for h in range(H):
            basis[rows, self.group * H + h] = self.paths[h][self.period]
        self._stats = batched.BasisStats(self._partial(basis), self.e, self.cl, self.fac)

    def _partial(self, D: np.ndarray) -> np.ndarray:
        """Columns net of the fixed effects and the controls (weighted: scaled by sqrt w)."""
        D = fx.demean(D, self.fe, self.w) if self.fe is not None else np.array(D, float)
        if self.sw is not None:
            D *= self.sw[:, None]
        if self.Q.shape[1]:
            D -= self.Q @ (self.Q.T @ D)
        return D

    # ----- draws
    def coef_t(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients and t statistics of the draws ``idx`` (draws x s basis columns
        g * H + h: group g treated with path h)."""
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        if self.method == "subsets":
            return self._stats.coef_t_subsets(idx)
        if self.method == "balanced":
            return self._balanced(idx)
        if self.method == "basis":
            return self._basis_draws(idx)
        return self._columns(idx)

    def _basis_draws(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from policylab.engine.placebo_kernels import NB, basis_coef_t

        (group, combo, combos, uptr, w, sw1, period, pbar, Qr, e, cl, Gc, U, Phi, Gam,
         inv_wu) = self._basis
        paths = np.ascontiguousarray(self.paths, dtype=np.float64)
        # a lane's arithmetic does not depend on the block's width: a few draws (the
        # real assignment) take a narrow block
        nb = max(1, min(NB, len(idx)))
        with threads_for(int(len(idx) * self.per_draw)):
            return basis_coef_t(idx, self.H, group, combo, combos, uptr, w, sw1, period,
                                paths, pbar, Qr, e, cl, Gc, U, Phi, Gam, inv_wu, self.fac,
                                nb)

    def _balanced(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from policylab.engine.placebo_kernels import balanced_coef_t

        with threads_for(int(len(idx) * self.per_draw)):
            return balanced_coef_t(idx, *self._bal)

    def _columns(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from policylab.engine.placebo_kernels import columns_coef_t, fill_draw_columns

        cl = np.arange(self.n) if self.cl is None else self.cl
        Gc = int(cl.max()) + 1
        size = max(1, 1_000_000 // self.n)  # columns per batch: a few MB
        bs, ts = [], []
        with threads_for(int(len(idx) * self.per_draw)):
            for lo in range(0, len(idx), size):
                part = idx[lo:lo + size]
                D = np.empty((self.n, len(part)), order="F")
                fill_draw_columns(part, self.H, self.group, self.period, self.paths, D)
                if self.fe is not None:
                    D = fx.demean(D, self.fe, self.w)
                if self.sw is not None:
                    D *= self.sw[:, None]
                b, t = columns_coef_t(D, self.Q, self.e, cl, Gc, self.fac)
                bs.append(b)
                ts.append(t)
        return np.concatenate(bs), np.concatenate(ts)


def _combinations(other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's combination of the effects' levels (n,), and the levels of each
    combination (combinations x effects)."""
    n, F = other.shape
    if F == 0:
        return np.zeros(n, dtype=np.int64), np.zeros((1, 0), dtype=np.int64)
    key = other[:, 0]
    for f in range(1, F):
        key = np.unique(key * (int(other[:, f].max()) + 1) + other[:, f],
                        return_inverse=True)[1].ravel()
    key, size = fx.densify(key)
    combos = np.empty((size, F), dtype=np.int64)
    combos[key] = other
    return key, combos


#: :func:`_within_coefs` solves the normal equations of the within-unit dummies when
#: each eigenvalue of their Gram is either zero or at least this share of the largest
#: (errors of about 1e-16 / GRAM_COND relative), else it takes the SVD of the dummies
GRAM_COND = 1e-5
#: eigenvalues of the Gram under this share of its largest diagonal entry before
#: demeaning are zero: redundant dummies, which rounding leaves near 1e-15 (the SVD
#: would keep only singular values over 1e-10 of the largest: eigenvalues over 1e-20)
GRAM_ZERO = 1e-11


def _within_coefs(u: np.ndarray, U: int, inv_wu: np.ndarray, other: np.ndarray,
                  w: np.ndarray, sw: np.ndarray, group: np.ndarray, G: int,
                  dev: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (G*H x levels) of each basis column sw x dev (on its group's rows)
    on the dummies of ``other`` demeaned within the units ``u`` (weighted, scaled by
    sw: W~), and Q'W~ (K x levels).

    The products come from sums by level, never the n x levels W~: W~'W~ =
    W'diag(w)W - M'diag(1/w_u)M with M (units x levels) the units' weighted dummy sums,
    and since a basis column is already demeaned within units, W~'sp = W'diag(w) dev
    on its group's rows. The minimum-norm solution through the Gram's eigenvectors
    projects exactly as the SVD of W~ does (the kernels use the coefficients only
    through that projection); the SVD is the fallback for ill-conditioned dummies
    (:data:`GRAM_COND`).
    """
    n, F = other.shape
    H, K = dev.shape[1], Q.shape[1]
    lev = int(other.max(initial=-1)) + 1
    if lev == 0:
        return np.zeros((G * H, 0)), np.zeros((K, 0))

    def by_level(codes: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
        return sum(np.bincount(codes[:, f], weights=v, minlength=size) for f in range(F))

    A = sum(by_level(other * lev + other[:, f:f + 1], w, lev * lev)
            for f in range(F)).reshape(lev, lev)
    # the scale of the dummies before demeaning: an effect nested in the units leaves
    # rounding only, whatever the largest eigenvalue of what is left
    scale = float(np.diag(A).max())
    swQ = sw[:, None] * Q
    QW = np.array([by_level(other, swQ[:, k], lev) for k in range(K)]).reshape(K, lev)
    if U:
        M = by_level(u[:, None] * lev + other, w, U * lev).reshape(U, lev)
        Mw = M * inv_wu[:, None]  # the units' weighted means of the dummies
        A -= M.T @ Mw
        SQ = np.array([np.bincount(u, weights=swQ[:, k], minlength=U) for k in range(K)])
        QW -= SQ.reshape(K, U) @ Mw
    lam, V = np.linalg.eigh(A)
    keep = lam > scale * GRAM_ZERO
    if not keep.any():  # every dummy is constant within units: nothing to project
        return np.zeros((G * H, lev)), QW
    if lam[keep].min() < lam[-1] * GRAM_COND:  # ill-conditioned or near the zero line
        return _within_coefs_svd(u, U, inv_wu, other, w, sw, group, G, dev, Q, scale)
    V = V[:, keep]
    B = np.empty((G * H, lev))
    gcode = group[:, None] * lev + other
    for h in range(H):
        B[h::H] = by_level(gcode, w * dev[:, h], G * lev).reshape(G, lev)
    return ((B @ V) / lam[keep]) @ V.T, QW


def _within_coefs_svd(u: np.ndarray, U: int, inv_wu: np.ndarray, other: np.ndarray,
                      w: np.ndarray, sw: np.ndarray, group: np.ndarray, G: int,
                      dev: np.ndarray, Q: np.ndarray, scale: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_within_coefs` through the SVD of the dense n x levels W~ (``scale``: the
    largest diagonal entry of the dummies' Gram before demeaning)."""
    n, F = other.shape
    H = dev.shape[1]
    lev = int(other.max(initial=-1)) + 1
    Wt = np.zeros((n, lev))
    rows = np.arange(n)
    for f in range(F):
        Wt[rows, other[:, f]] = 1.0
    if U:
        means = sum(np.bincount(u * lev + other[:, f], weights=w, minlength=U * lev)
                    for f in range(F)).reshape(U, lev)
        Wt -= (means * inv_wu[:, None])[u]
    Wt *= sw[:, None]
    Uw, S, Vt = np.linalg.svd(Wt, full_matrices=False)
    # (relative to the scale too: an effect nested in the units leaves rounding only)
    r = int((S > max(S[0], np.sqrt(scale)) * 1e-10).sum())
    Uw, S, Vt = Uw[:, :r], S[:r], Vt[:r]
    # each basis column's sums against W~'s left singular vectors: its group's rows
    Bu = np.empty((G * H, r))
    for h in range(H):
        for k in range(r):
            Bu[h::H, k] = np.bincount(group, weights=Uw[:, k] * sw * dev[:, h], minlength=G)
    return (Bu / S) @ Vt, Q.T @ Wt

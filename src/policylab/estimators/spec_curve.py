"""Specification-curve (multiverse) analysis with joint permutation inference.

A grid of specifications (outcomes x control sets x samples x fixed-effect sets x
clustering) is estimated with the fixed effects absorbed once per distinct
(sample, fixed-effect set): the outcomes, the treatment and the union of all controls
are demeaned together, and each specification is then a small least-squares problem on
those columns (Frisch-Waugh-Lovell). With observation weights the demeaning uses
weighted means and every demeaned column is multiplied by the square root of the
weights once, so the same unweighted least squares on those columns is weighted least
squares, and its cluster score sums are the weighted scores (x w u) of feols. The joint test of Simonsohn, Simmons and Nelson
(2020) permutes the treatment across assignment units, re-estimates every specification
under each permutation in batch, and compares the observed median estimate and the
share of significant estimates with their permutation distributions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, special

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.engine import fixed_effects as fx
from policylab.engine import vcov as vc
from policylab.errors import DataError, EstimationError, SpecError
from policylab.estimators.design import Design, DesignNotHonoured, as_design
from policylab.estimators.formula import fe_codes, fe_columns
from policylab.estimators.result import Result
from policylab.inference.randomization import draw_statistics, p_values, permutations
from policylab.messages import Message

__all__ = ["spec_curve", "SpecCurveResult"]


@dataclass
class SpecCurveResult(Result):
    """Every specification's estimate, with the curve's summary and joint test.

    ``specs`` has one row per specification: outcome, controls, sample, fe, cluster,
    estimate, std_error, statistic, p_value, conf_low, conf_high, nobs.
    """

    specs: pd.DataFrame = field(default_factory=pd.DataFrame)
    joint: dict[str, Any] = field(default_factory=dict)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per specification (term = a readable label of its choices)."""
        t = self.specs.copy()
        t.insert(0, "term", t["outcome"] + " | " + t["controls"] + " | " + t["sample"] + " | "
                 + t["fe"] + " | " + t["cluster"])
        return t

    @property
    def share_significant(self) -> float:
        """Share of specifications significant at the chosen level."""
        return float((self.specs["p_value"] < self.meta["alpha"]).mean())

    @property
    def median_estimate(self) -> float:
        """Median estimate across specifications."""
        return float(self.specs["estimate"].median())

    def summary(self) -> str:
        """Counts, median, share significant and the joint test."""
        lines = [
            f"Specification curve: {len(self.specs)} specifications (N rows up to {self.nobs:,})",
            f"  median estimate: {self.median_estimate:.6g}",
            f"  share significant at {self.meta['alpha']:g}: {self.share_significant:.3f}",
        ]
        for k, v in self.joint.items():
            lines.append(f"  joint test {k}: {v}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def plot(self, lang: str = "en", **kwargs: Any) -> Any:
        """The specification-curve figure: sorted estimates over the indicator panel."""
        from policylab.report.figures.spec_curve import spec_curve_figure

        return spec_curve_figure(self.specs, alpha=self.meta["alpha"], lang=lang, **kwargs)


def _as_named(x: Any, what: str) -> dict[str, Any]:
    if isinstance(x, dict):
        return dict(x)
    if isinstance(x, (list, tuple)):
        return {(" + ".join(v) if isinstance(v, (list, tuple)) else str(v)) or "none": v
                for v in x}
    raise SpecError(f"{what} must be a dict of name -> choice or a list of choices")


def _check_weights(df: pd.DataFrame, weights: str) -> None:
    """DataError for weights that are negative or not numbers (missing ones are dropped
    with the row, as feols does)."""
    require_columns(df, [weights], "weights column")
    w = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = (np.isnan(w) & df[weights].notna().to_numpy()) | (w < 0) | np.isinf(w)
    if bad.any():
        raise DataError(f"weights column {weights!r} must be non-negative numbers; "
                        f"{int(bad.sum())} rows are negative or not numbers (e.g. row "
                        f"{df.index[int(np.argmax(bad))]!r}); fix or drop them")


def _codes(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    c, miss = fe_codes(df, cols)
    if miss.any():  # callers pass complete rows
        raise EstimationError("missing values in fixed-effect or cluster columns")
    return np.column_stack([fx.densify(c[:, j])[0] for j in range(c.shape[1])])


def _treat_paths(df: pd.DataFrame, treat: str, assign: str, time: str) -> pd.DataFrame:
    return df.pivot_table(index=assign, columns=time, values=treat, aggfunc="max")


def _from_design(d: Design, treat: str | None, unit: str | None, time: str | None,
                 assign: str | None, controls: Any, fe: Any, cluster: Any,
                 weights: str | None) -> tuple:
    """The curve's inputs from a Design: its rows, keys, weights and (unless grids are
    given) its own controls, fixed effects and cluster; refuses what the curve cannot
    fit (a two-way cluster: each specification clusters by one column)."""
    as_design(d, "spec_curve", treat=treat, unit=unit, time=time, assign=assign,
              weights=weights)
    if cluster is None and d.cluster_col not in d.df.columns:
        raise DesignNotHonoured(Message("design.two_way_cluster",
                                        what=Message("name.spec_curve"), col=d.cluster_col))
    if controls is None:
        controls = {"design": list(d.controls)}
    if fe is None:
        fe = {"+".join(d.fe) or "none": list(d.fe)}
    return (d.df, d.treat_col, d.unit, d.time, d.assign, controls, fe,
            cluster or [d.cluster_col], d.weights)


def spec_curve(
    data: Any,
    y: str | list[str],
    treat: str | None = None,
    *,
    unit: str | None = None,
    time: str | None = None,
    controls: dict[str, list[str]] | list[list[str]] | None = None,
    samples: dict[str, str | None] | None = None,
    fe: dict[str, list[str]] | list[list[str]] | None = None,
    cluster: list[str] | None = None,
    assign: str | None = None,
    weights: str | None = None,
    level: float = 0.95,
    inference: str = "none",
    draws: int = 500,
    seed: int | None = None,
    ssc: vc.SSC = vc.SSC(),
    executor: Any = None,
    chunk_size: int = 100,
    progress: bool = False,
) -> SpecCurveResult:
    """Estimate every specification of a grid and summarise the curve.

    Parameters
    ----------
    data : Design, Panel or DataFrame
        A :class:`~policylab.estimators.design.Design` gives the treatment, unit, time,
        assignment level and observation weights, and the default control set, fixed
        effects (``a^b`` terms included) and cluster (its own; the grids given here
        replace them). A design clustered two ways is refused with a
        ``DesignNotHonoured`` SpecError unless ``cluster=`` is given.
    y : str or list of str
        Outcome(s).
    treat : str
        0/1 treatment column (not with a Design).
    unit, time : str
        Panel keys (taken from a Panel).
    controls : dict or list
        Control sets, e.g. ``{"none": [], "economic": ["gdp", "pop"]}``.
    samples : dict
        Sample name -> row filter such as ``"year >= 2005 and region != 'west'"``
        (None = all rows); the restricted grammar of :mod:`policylab.data.filters`
        (comparisons, ``in [...]``, ``and``/``or``/``not``), never run as Python.
    fe : dict or list
        Fixed-effect sets, e.g. ``{"unit+year": ["unit", "year"]}`` (default unit+time);
        ``"region^year"`` is one fixed effect per (region, year) pair, as in feols.
    cluster : list of str
        Clustering columns, one specification each (default: ``assign`` or unit).
    assign : str
        Level at which treatment is assigned (permutation unit; default unit).
    weights : str, optional
        Column of analytic (precision) weights, as feols ``weights=``: every
        specification is weighted least squares with weighted demeaning and CRV1 on the
        weighted scores, and so is every permutation draw (the weights stay with their
        rows). Rows with a missing or zero weight are dropped, as feols does. Not with a
        Design (it carries its own).
    level : float
        Confidence level; significance uses alpha = 1 - level.
    inference : {"none", "permutation"}
        Joint test by permuting treatment across assignment units (``draws`` times).
    executor : optional
        Where permutation chunks run: None/"serial", "processes", "dask", a Dask
        scheduler address or Client (see :mod:`policylab.execution`). The permutations
        are drawn from ``seed`` in this process, so the numbers are identical whatever
        the executor and ``chunk_size`` (draws per task).
    """
    from policylab.validation import as_names, check_count, check_seed

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    chunk_size = check_count(chunk_size, "chunk_size")
    y = as_names(y, "y", allow_empty=False)

    from policylab.execution import using_executor

    # an executor made here from "dask" or an address is closed when the grid is done
    with using_executor(executor) as ex:
        return _spec_curve(data, y, treat, unit=unit, time=time, controls=controls,
                           samples=samples, fe=fe, cluster=cluster, assign=assign,
                           weights=weights, level=level, inference=inference, draws=draws, seed=seed,
                           ssc=ssc, executor=ex, chunk_size=chunk_size, progress=progress)


def _spec_curve(
    data: Any,
    y: str | list[str],
    treat: str | None,
    *,
    unit: str | None = None,
    time: str | None = None,
    controls: dict[str, list[str]] | list[list[str]] | None = None,
    samples: dict[str, str | None] | None = None,
    fe: dict[str, list[str]] | list[list[str]] | None = None,
    cluster: list[str] | None = None,
    assign: str | None = None,
    weights: str | None = None,
    level: float = 0.95,
    inference: str = "none",
    draws: int = 500,
    seed: int | None = None,
    ssc: vc.SSC = vc.SSC(),
    executor: Any = None,
    chunk_size: int = 100,
    progress: bool = False,
) -> SpecCurveResult:
    """:func:`spec_curve` on a resolved executor."""
    if isinstance(data, Design):
        design = data
        data, treat, unit, time, assign, controls, fe, cluster, weights = _from_design(
            data, treat, unit, time, assign, controls, fe, cluster, weights)
    else:
        design = None
    if isinstance(data, Panel):
        unit, time = unit or data.unit, time or data.time
    if unit is None or time is None:
        raise SpecError("spec_curve needs unit= and time= (or a Panel)")
    if treat is None:
        raise SpecError("spec_curve needs treat= (a 0/1 column) or a Design")
    df = as_pandas(data)
    ys = [y] if isinstance(y, str) else list(y)
    controls_d = _as_named(controls if controls is not None else {"none": []}, "controls")
    samples_d = dict(samples) if samples else {"full": None}
    from policylab.data.filters import check_filter

    # every sample filter is read by the restricted grammar (never pandas query)
    bad = [p for name, q in samples_d.items() if q
           for p in check_filter(q, df.columns, f"samples[{name!r}]")]
    if bad:
        raise SpecError("; ".join(bad))
    fe_d = _as_named(fe, "fe") if fe is not None else {f"{unit}+{time}": [unit, time]}
    assign = assign or unit
    clusters = list(cluster) if cluster else [assign]
    all_controls = sorted({c for v in controls_d.values() for c in v})
    require_columns(df, ys + [treat, unit, time, assign] + all_controls + clusters)
    for name, cols in fe_d.items():  # a^b terms name columns too
        try:
            fe_columns(df, list(cols))
        except SpecError as exc:
            raise SpecError(f"fe[{name!r}]: {exc}") from None
    if weights is not None:
        _check_weights(df, weights)
    alpha = 1 - level
    if inference not in ("none", "permutation"):
        raise SpecError("inference must be 'none' or 'permutation'")
    groups = df[assign].dropna().unique()
    blocks: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    max_n = 0
    from policylab.execution import map_tasks

    ex = executor
    cfg = {"df": df, "ys": ys, "treat": treat, "unit": unit, "controls": all_controls, "sets": controls_d,
           "clusters": clusters, "assign": assign, "time": time, "alpha": alpha, "ssc": ssc,
           "groups": groups, "permutation": inference == "permutation", "weights": weights}
    tasks = list(itertools.product(samples_d.items(), fe_d.items()))
    for blk, blk_rows in map_tasks(_prepare_block, tasks, shared=cfg, executor=ex,
                                   progress="specifications" if progress else None):
        blocks.append(blk)
        rows.extend(blk_rows)
        max_n = max(max_n, blk["n"])
    specs = pd.DataFrame(rows)
    res = SpecCurveResult(nobs=max_n, specs=specs,
                          meta={"alpha": alpha, "treat": treat, "assign": assign,
                                "n_specs": len(specs), "inference": inference,
                                "draws": draws if inference == "permutation" else 0,
                                "seed": seed, "weights": weights})
    if design is not None:  # the grids vary controls, samples, FE sets and clusters
        res.meta["design"] = design.meta(nobs=max_n)
    if inference == "permutation":
        _joint_test(res, specs, blocks, ys, all_controls, controls_d, alpha, ssc,
                    len(groups), draws, seed, chunk_size, ex, progress)
    if len(groups) < 10:
        res.warn(Message("spec_curve.few_units", n=len(groups)))
    return res


def _joint_test(res: SpecCurveResult, specs: pd.DataFrame, blocks: list[dict[str, Any]],
                ys: list[str], all_controls: list[str], sets: dict[str, list[str]],
                alpha: float, ssc: vc.SSC, n_groups: int, draws: int, seed: int | None,
                chunk_size: int, executor: Any, progress: bool) -> None:
    """Simonsohn-Simmons-Nelson joint test: every specification re-estimated under each
    permutation of the treatment across assignment units (the randomization core's
    permutations and p-values), compared on the median estimate and the share
    significant."""
    shared = {"blocks": blocks, "ys": ys, "controls": all_controls, "sets": sets,
              "alpha": alpha, "ssc": ssc, "n_groups": n_groups,
              "sign": np.sign(specs["estimate"].to_numpy())}
    Et, SIGt = draw_statistics(_permutation_chunk, permutations(n_groups, draws, seed),
                               shared=shared, chunk_size=chunk_size, executor=executor,
                               progress="permutations" if progress else None)
    E, SIG = Et.T, SIGt.T
    sig_obs = (specs["p_value"] < alpha).to_numpy()
    obs_med = float(np.median(specs["estimate"]))
    # a draw whose fake treatment is absorbed in some specification (e.g. it treats
    # only groups a sample leaves out) has no estimate there: it is left out of both
    # p-values (NaN: degenerate) rather than counted as not extreme
    ok = np.isfinite(E).all(axis=0)
    null_med = np.where(ok, np.median(np.where(ok, E, 0.0), axis=0), np.nan)
    null_share = np.where(ok, SIG.mean(axis=0), np.nan)
    med = p_values(obs_med, null_med, exact=False)
    share = p_values(float(sig_obs.mean()), null_share, exact=False)
    res.joint = {"median_estimate_p": med.two_sided, "share_significant_p": share.right,
                 "draws": med.draws, "draws_degenerate": med.degenerate}
    if med.degenerate:
        res.warn(Message("spec_curve.degenerate_draws", n=med.degenerate, draws=draws,
                         used=med.draws))
    res.meta["permutation_estimates"] = E


def _estimate(blk: dict[str, Any], fake_d: np.ndarray | None, ys: list[str],
              all_controls: list[str], sets: dict[str, list[str]], alpha: float,
              ssc: vc.SSC) -> list[Any]:
    """Estimates of every (cluster, control set, outcome) spec of one block.

    With ``fake_d`` (demeaned fake treatments, n x draws) returns, per spec, the draws'
    estimates and p-values instead of the real estimate.
    """
    out = []
    Bd, yd, n = blk["Bd"], blk["yd"], blk["n"]
    for cl_name, cl in blk["clusters"].items():
        G = int(cl.max()) + 1
        fe_k = blk["fe_k"]
        nested = np.array([vc.nested_in(fe_k[:, j], cl) for j in range(fe_k.shape[1])])
        S = sparse.csr_matrix((np.ones(n), (cl, np.arange(n))), shape=(G, n))
        q = special.stdtrit(G - 1, 1 - alpha / 2)
        for c_name, c_cols in sets.items():
            idx = [0] + [1 + all_controls.index(c) for c in c_cols]
            X = Bd[:, idx]
            K = vc.df_k(X.shape[1], blk["fe_levels"], nested, ssc)
            fac = vc.small_sample_factor("CRV", n, K, G, ssc)
            C = X[:, 1:]
            if C.shape[1]:
                # Frisch-Waugh-Lovell: partial the controls out of everything else
                CtC = C.T @ C

                def proj(A: np.ndarray, C: np.ndarray = C, CtC: np.ndarray = CtC) -> np.ndarray:
                    return A - C @ np.linalg.lstsq(CtC, C.T @ A, rcond=None)[0]
            else:
                def proj(A: np.ndarray) -> np.ndarray:
                    return A
            yc = proj(yd)
            D = proj(X[:, :1] if fake_d is None else fake_d)
            dd = (D**2).sum(axis=0)
            if fake_d is None and dd[0] <= 1e-12 * max((X[:, 0] ** 2).sum(), 1e-300):
                raise EstimationError(
                    f"the treatment is absorbed by the fixed effects in block {blk['name']}"
                )
            for j, yname in enumerate(ys):
                b = (D.T @ yc[:, j]) / dd
                U = yc[:, j][:, None] - D * b
                Sg = S @ (D * U)
                se = np.sqrt(fac * (Sg**2).sum(axis=0)) / dd
                p = 2 * special.stdtr(G - 1, -np.abs(b / se))
                if fake_d is None:
                    meta = {"outcome": yname, "controls": c_name, "cluster": cl_name}
                    out.append((float(b[0]), float(se[0]), float(p[0]),
                                (float(b[0] - q * se[0]), float(b[0] + q * se[0])), meta))
                else:
                    out.append((b, p))
    return out


def _permutation_chunk(perms: np.ndarray, shared: dict[str, Any]) -> tuple[Any, Any]:
    """Estimates of every spec (draws x specs) under a chunk of reassignments of the
    treatment (rows of ``perms``: permutations of the assignment groups)."""
    size = len(perms)
    est, sig = [], []
    for blk in shared["blocks"]:
        in_sub = np.zeros(shared["n_groups"], dtype=bool)
        in_sub[blk["present"]] = True
        targets = [blk["local"][t] for t in blk["present"]]
        basis = blk.get("basis")
        by_selection = "n_paths" in blk  # draws are 0/1 selections of basis columns
        fake = None if by_selection else np.zeros((blk["n"], size))
        sel = np.zeros((len(targets) * blk["n_paths"], size)) if by_selection else None
        for d, p in enumerate(perms):
            # the k-th group present in this sample receives the path of the k-th
            # present source in p
            src = np.empty(len(targets), dtype=np.int64)
            src[targets] = [blk["local"][q] for q in p[in_sub[p]]]
            if not by_selection:
                fake[:, d] = blk["P"][src[blk["g_of_row"]], blk["t_of_row"]]
            else:
                pid = blk["path_id"][src]
                on = pid >= 0
                sel[np.arange(len(src))[on] * blk["n_paths"] + pid[on], d] = 1.0
        if "fast" in blk:
            stats_ = _fast_estimates(blk["fast"], sel)
        else:
            fd = basis @ sel if by_selection else _demeaned(fake, blk)
            stats_ = _estimate(blk, fd, shared["ys"], shared["controls"], shared["sets"],
                               shared["alpha"], shared["ssc"])
        for b, p in stats_:
            est.append(b)
            sig.append(p)
    E = np.vstack(est)
    Pv = np.vstack(sig)
    SIG = (Pv < shared["alpha"]) & (np.sign(E) == shared["sign"][:, None])
    return E.T, SIG.T


def _add_path_basis(blk: dict[str, Any], max_bytes: float = 1.5e9) -> None:
    """Demeaned basis columns 1[group g] x path_h(t), one per group and distinct path.

    Every reassignment's treatment column is a sum of basis columns and demeaning is
    linear, so each draw's demeaned treatment is the basis times a 0/1 selection: the
    fixed effects are absorbed once for all draws. Skipped (draws are then demeaned
    directly) when the basis would not fit in ``max_bytes``.
    """
    P = blk["P"]
    nonzero = np.abs(P).sum(axis=1) > 0
    paths, path_id = np.unique(P[nonzero], axis=0, return_inverse=True)
    ids = np.full(P.shape[0], -1, dtype=np.int64)
    ids[nonzero] = np.asarray(path_id).ravel()
    n, H = blk["n"], len(paths)
    m = P.shape[0] * H
    if H == 0 or n * m * 8 > max_bytes:
        return
    if _balanced_twoway_block(blk):
        # the draws' statistics follow from the paths and per-cell sums
        # (_balanced_cross_products); the n x m basis only when they cannot be used
        blk.update(closed_paths=paths, path_id=ids, n_paths=H)
        return
    else:
        basis = np.zeros((n, m))
        rows = np.arange(n)
        for h in range(H):
            basis[rows, blk["g_of_row"] * H + h] = paths[h][blk["t_of_row"]]
        basis = _demeaned(basis, blk, inplace=True)
    blk.update(basis=basis, path_id=ids, n_paths=H)


def _balanced_twoway_block(blk: dict[str, Any]) -> bool:
    """Whether the block's basis has the closed form of :func:`_balanced_basis`: no
    weights, exactly unit and time effects on a balanced panel, groups constant within
    units."""
    iu = blk.get("unit_fe")
    if blk["w"] is not None or iu is None or blk["fe_k"].shape[1] != 2:
        return False
    unit, t = blk["fe_k"][:, iu], blk["fe_k"][:, 1 - iu]
    return fx.is_balanced_twoway(unit, t) and fx.nested_in_check(unit, blk["g_of_row"])


def _balanced_basis(blk: dict[str, Any], paths: np.ndarray) -> np.ndarray:
    """The demeaned basis of a balanced two-way block in closed form: demeaning
    a_i b_t by unit and time effects leaves (a_i - mean a)(b_t - mean b), so column
    (g, h) is (1[group g] - share of units in g) x (path_h(t) - its mean over the
    periods). One write per entry, no pass of the demeaning (the same numbers to
    rounding)."""
    g, n, G = blk["g_of_row"], blk["n"], blk["P"].shape[0]
    H = len(paths)
    share = np.bincount(g, minlength=G) / n
    dev = (paths - paths.mean(axis=1, keepdims=True)).T[blk["t_of_row"]]  # n x H
    basis = np.empty((n, G * H))
    flat = basis.reshape(-1)
    own = np.arange(n) * (G * H) + g * H  # each row's own group's first column
    for h in range(H):
        # an outer product per path (an inner loop over the groups, not over one path)
        np.multiply.outer(dev[:, h], -share, out=basis[:, h::H])
        flat[own + h] += dev[:, h]
    return basis


def _add_fast_stats(blk: dict[str, Any], ys: list[str], all_controls: list[str],
                    sets: dict[str, list[str]], ssc: vc.SSC, max_bytes: float = 5e8) -> None:
    """Per-spec sufficient statistics of the demeaned basis, so a draw costs O(m^2 G).

    With D = PB s (PB: the basis with the controls partialled out, s: a draw's 0/1
    selection), the estimate is (PB'y . s) / (s' PB'PB s) and the cluster score sums are
    (S PB*y) s - b (s' C_g s), where C_g are the per-cluster Gram matrices of PB.

    Everything follows from the per-cluster cross products Z_g'Z_g of Z = [basis,
    controls, outcomes], one pass over the rows per cluster variable: with the
    coefficients K of the basis on a control set C, PB_g'PB_g = B_g'B_g - B_g'C_g K -
    K'C_g'B_g + K'C_g'C_g K, and the same for the scores. Control sets and outcomes are
    then small algebra instead of a pass over the n x m basis each (the numbers agree
    with partialling the rows out first to rounding).
    """
    closed = blk.get("closed_paths")
    m = blk["P"].shape[0] * len(closed) if closed is not None else blk["basis"].shape[1]
    k, ny = len(all_controls), len(ys)
    width = m + k + ny
    if any((int(cl.max()) + 1) * width * width * 8 > max_bytes
           or (closed is not None and (int(cl.max()) + 1) * blk["P"].size * (k + ny) * 8
               > max_bytes) for cl in blk["clusters"].values()):
        return
    # the columns side by side: basis, controls (Bd without the treatment), outcomes
    parts = [blk["Bd"][:, 1:], blk["yd"]]
    entries = []
    for cl in blk["clusters"].values():
        G = int(cl.max()) + 1
        fe_k = blk["fe_k"]
        nested = np.array([vc.nested_in(fe_k[:, j], cl) for j in range(fe_k.shape[1])])
        Mg = (_balanced_cross_products(blk, closed, parts, cl, G) if closed is not None
              else _cluster_cross_products([blk["basis"], *parts], cl, G))
        T = Mg.sum(axis=0)
        iB = np.arange(m)
        for c_cols in sets.values():
            iC = np.array([m + all_controls.index(c) for c in c_cols], dtype=np.int64)
            K = vc.df_k(1 + len(iC), blk["fe_levels"], nested, ssc)
            fac = vc.small_sample_factor("CRV", blk["n"], K, G, ssc)
            for j in range(ny):
                iy = m + k + j
                Cg, A = _partialled_cluster_sums(Mg, T, iB, iC, iy)
                entries.append({"gram": Cg.sum(axis=0), "by": A.sum(axis=0), "A": A,
                                "Cg": Cg, "fac": fac, "G": G})
    blk["fast"] = entries


def _balanced_cross_products(blk: dict[str, Any], paths: np.ndarray,
                             parts: list[np.ndarray], cl: np.ndarray, C: int) -> np.ndarray:
    """:func:`_cluster_cross_products` of [basis, parts] for a balanced two-way block
    without the basis: its column (g, h) is (a_g - s_g) d_h(t) (a_g = 1[group g], s_g
    the share of rows in g, d_h the path less its mean; :func:`_balanced_basis`), so
    every product with it is a sum over (cluster, group, period) cells of the row counts
    and of the sums of ``parts``: O(n) work and no n x m matrix."""
    g, t, n = blk["g_of_row"], blk["t_of_row"], blk["n"]
    G, T, H = blk["P"].shape[0], paths.shape[1], len(paths)
    s = np.bincount(g, minlength=G) / n
    d = paths - paths.mean(axis=1, keepdims=True)  # H x T
    key = (cl.astype(np.int64) * G + g) * T + t
    cells = C * G * T
    r = np.bincount(key, minlength=cells).reshape(C, G, T).astype(float)
    X = np.concatenate(parts, axis=1)
    q = X.shape[1]
    Xs = np.stack([np.bincount(key, weights=X[:, j], minlength=cells) for j in range(q)],
                  axis=-1).reshape(C, G, T, q)
    f = d[:, None, :] * d[None, :, :]  # H x H x T: d_h d_h'
    A = np.einsum("cgt,hkt->cghk", r, f)  # sum_t f r(c, g, t)
    Bt = np.einsum("ct,hkt->chk", r.sum(axis=1), f)
    sg = s[None, :, None, None, None]
    sg2 = s[None, None, None, :, None]
    # sum_i (a_ig - s_g)(a_ig' - s_g') f(t_i), cell by cell
    BB = (sg * sg2 * Bt[:, None, :, None, :] - sg * A.transpose(0, 2, 1, 3)[:, None]
          - sg2 * A[:, :, :, None, :])
    idx = np.arange(G)
    BB[:, idx, :, idx, :] += A.transpose(1, 0, 2, 3)
    BX = (np.einsum("ht,cgtj->cghj", d, Xs)
          - s[None, :, None, None] * np.einsum("ht,ctj->chj", d, Xs.sum(axis=1))[:, None])
    m = G * H
    out = np.empty((C, m + q, m + q))
    out[:, :m, :m] = BB.reshape(C, m, m)
    out[:, :m, m:] = BX.reshape(C, m, q)
    out[:, m:, :m] = out[:, :m, m:].transpose(0, 2, 1)
    out[:, m:, m:] = _cluster_cross_products(parts, cl, C)
    return out


def _cluster_cross_products(parts: list[np.ndarray], cl: np.ndarray, G: int) -> np.ndarray:
    """Z_g'Z_g (G x w x w) of the columns of ``parts`` side by side, per cluster code in
    ``cl``: a cluster's rows are gathered at a time (never a sorted copy of all)."""
    order = np.argsort(cl, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(cl, minlength=G))]
    w = sum(p.shape[1] for p in parts)
    out = np.empty((G, w, w))
    for g in range(G):
        r = order[bounds[g]:bounds[g + 1]]
        Zg = np.concatenate([p[r] for p in parts], axis=1)
        np.matmul(Zg.T, Zg, out=out[g])
    return out


def _partialled_cluster_sums(Mg: np.ndarray, T: np.ndarray, iB: np.ndarray, iC: np.ndarray,
                             iy: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster PB_g'PB_g (G x m x m) and PB_g'yc_g (G x m), where PB and yc are the
    basis and the outcome with the controls ``iC`` partialled out over all rows (their
    coefficients from the totals ``T``), from the per-cluster cross products ``Mg``."""
    BB = Mg[:, iB[:, None], iB]
    By = Mg[:, iB, iy]
    if not len(iC):
        return BB, By
    CC = T[np.ix_(iC, iC)]
    coef = np.linalg.lstsq(CC, T[np.ix_(iC, np.r_[iB, iy])], rcond=None)[0]
    Kb, gy = coef[:, :-1], coef[:, -1]
    BC = Mg[:, iB[:, None], iC]           # G x m x k
    CCg = Mg[:, iC[:, None], iC]          # G x k x k
    Cy = Mg[:, iC, iy]                    # G x k
    BCK = BC @ Kb                         # G x m x m
    Cg = BB - BCK - BCK.transpose(0, 2, 1) + Kb.T @ CCg @ Kb
    A = By - Cy @ Kb - BC @ gy + (Kb.T @ CCg @ gy[:, None])[..., 0]
    return Cg, A


def _fast_estimates(entries: list[dict[str, Any]], sel: np.ndarray) -> list[Any]:
    out = []
    for e in entries:
        # quadratic forms as matrix products (BLAS): the einsum of the three operands
        # loops in C without BLAS, O(G m^2 d) scalar steps, 30 s with a unit-level
        # assignment of 157 firms clustered by firm
        dd = ((e["gram"] @ sel) * sel).sum(axis=0)
        # dd = 0: the draw treats nobody in this specification's sample (NaN, left out
        # of the joint test by the caller)
        dd = np.where(dd > 1e-12 * max(float(np.abs(dd).max(initial=0.0)), 1e-300), dd,
                      np.nan)
        b = (e["by"] @ sel) / dd
        q = ((e["Cg"] @ sel) * sel[None]).sum(axis=1)
        sg = e["A"] @ sel - b * q
        se = np.sqrt(e["fac"] * (sg**2).sum(axis=0)) / dd
        out.append((b, 2 * special.stdtr(e["G"] - 1, -np.abs(b / se))))
    return out


def _prepare_block(task: Any, cfg: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Absorb one (sample, FE set)'s fixed effects and estimate all its specifications.

    With permutation inference the block also carries what the draws need; the large
    demeaned arrays are dropped when the per-cluster statistics make them unnecessary.
    """
    (s_name, query), (fe_name, fe_cols) = task
    ys, treat, all_controls, assign = cfg["ys"], cfg["treat"], cfg["controls"], cfg["assign"]
    sub, fe_k, w = _block_rows(cfg, s_name, query, fe_name, list(fe_cols))
    cols = ys + [treat] + all_controls
    blk = {"name": (s_name, fe_name), "fe_k": fe_k, "w": w,
           "sw": None if w is None else np.sqrt(w),
           # unit and time effects only: which column is the unit's (the closed form)
           "unit_fe": (list(fe_cols).index(cfg["unit"])
                       if sorted(fe_cols) == sorted([cfg["unit"], cfg["time"]]) else None)}
    Zd = _demeaned(sub[cols].to_numpy(float), blk)
    blk.update(yd=Zd[:, :len(ys)], Bd=Zd[:, len(ys):], fe_levels=fx.fe_dof(fe_k),
               n=len(sub), clusters={c: _codes(sub, [c])[:, 0] for c in cfg["clusters"]})
    rows = [
        {**meta, "sample": s_name, "fe": fe_name, "estimate": b, "std_error": se,
         "statistic": b / se, "p_value": p, "conf_low": ci[0], "conf_high": ci[1],
         "nobs": blk["n"]}
        for b, se, p, ci, meta in _estimate(blk, None, ys, all_controls, cfg["sets"],
                                            cfg["alpha"], cfg["ssc"])
    ]
    if cfg["permutation"]:
        paths = _treat_paths(sub, treat, assign, cfg["time"])
        gidx = pd.Index(paths.index)
        full_pos = {g: i for i, g in enumerate(cfg["groups"])}
        blk.update(
            P=np.nan_to_num(paths.to_numpy(float)),
            g_of_row=gidx.get_indexer(sub[assign]),
            t_of_row=pd.Index(paths.columns).get_indexer(sub[cfg["time"]]),
            present=np.array(sorted(full_pos[g] for g in gidx)),
            local={full_pos[g]: i for i, g in enumerate(gidx)},
        )
        _add_path_basis(blk)
        if "basis" in blk or "closed_paths" in blk:
            _add_fast_stats(blk, ys, all_controls, cfg["sets"], cfg["ssc"])
        if "closed_paths" in blk and "fast" not in blk:  # the draws need the basis
            blk["basis"] = _balanced_basis(blk, blk.pop("closed_paths"))
        if "fast" in blk:
            for big in ("basis", "closed_paths", "Bd", "yd", "g_of_row", "t_of_row", "w",
                        "sw"):
                blk.pop(big, None)
    else:
        for big in ("Bd", "yd", "w", "sw"):
            blk.pop(big, None)
    return blk, rows


def _block_rows(cfg: dict[str, Any], s_name: str, query: str | None, fe_name: str,
                fe_cols: list[str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """The rows of one (sample, FE set), their dense fixed-effect codes and weights.

    Rows missing a column (or a weight), with a zero weight, or alone in a fixed-effect
    group are dropped, in that order, as feols drops them.
    """
    df, weights = cfg["df"], cfg["weights"]
    if query:
        from policylab.data.filters import apply_filter

        sub = apply_filter(df, query, f"samples[{s_name!r}]")
    else:
        sub = df
    cols = cfg["ys"] + [cfg["treat"]] + cfg["controls"]
    ok = np.array(sub[cols + cfg["clusters"] + [cfg["assign"]]].notna().all(axis=1))
    if fe_cols:
        codes, miss = fe_codes(sub, fe_cols)
        ok &= ~miss
    else:  # no fixed effects: the intercept is one constant "fixed effect"
        codes = np.zeros((len(sub), 1), dtype=np.int64)
    if weights is not None:
        w = pd.to_numeric(sub[weights], errors="coerce").to_numpy(dtype=float,
                                                                  na_value=np.nan)
        ok &= np.nan_to_num(w) > 0
    sub, codes = sub[ok], codes[ok]
    fe_k = np.column_stack([fx.densify(codes[:, j])[0] for j in range(codes.shape[1])])
    keep = fx.drop_singletons(fe_k)
    sub, fe_k = sub[keep], np.column_stack([fx.densify(fe_k[keep, j])[0]
                                            for j in range(fe_k.shape[1])])
    if len(sub) == 0:
        raise EstimationError(f"sample {s_name!r} with FE {fe_name!r} has no observations")
    return sub, fe_k, None if weights is None else w[ok][keep]


def _demeaned(A: np.ndarray, blk: dict[str, Any], inplace: bool = False) -> np.ndarray:
    """Columns of ``A`` with the block's fixed effects absorbed; with weights, weighted
    demeaning times sqrt(w), so that plain least squares on the result is weighted.
    ``inplace`` overwrites ``A`` (a float64 matrix the caller owns: the path basis)
    instead of copying it (the same numbers)."""
    if inplace:
        from policylab.engine.threads import threads_for

        with threads_for(A.shape[0] * max(1, A.shape[1] // 8)):
            fx.demean_inplace(A, blk["fe_k"], blk["w"])
        out = A
    else:
        out = fx.demean(A, blk["fe_k"], blk["w"])
    if blk["w"] is None:
        return out
    if inplace:
        out *= blk["sw"][:, None]
        return out
    return out * (blk["sw"] if out.ndim == 1 else blk["sw"][:, None])

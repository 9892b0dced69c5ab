"""Propensity scores, matching (kernel, nearest neighbour, radius, Mahalanobis),
balance diagnostics (pstest) and PSM-DID (psmatch2 semantics)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from policylab.data.panel import Panel, as_pandas, require_columns, require_numeric
from policylab.engine import binary_choice as bc
from policylab.engine import matching as mk
from policylab.errors import DataError, EstimationError, SpecError
from policylab.estimators.result import Result
from policylab.messages import Message
from policylab.validation import RenamedKeys, renamed_arg

__all__ = ["propensity_score", "match", "balance_table", "psm_did", "PropensityResult",
           "MatchResult", "BalanceResult", "PsmDidResult"]


@dataclass
class PropensityResult(Result):
    """A fitted logit/probit score model; ``score`` and ``index`` (x'b) per row."""

    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    index: np.ndarray = field(default_factory=lambda: np.zeros(0))
    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """The score model's coefficient table."""
        return self.table.copy()


def propensity_score(data: Any, treat: str, covariates: Sequence[str],
                     score_model: str | None = None, weights: str | None = None, *,
                     method: str | None = None) -> PropensityResult:
    """Logit (default) or probit of ``treat`` on ``covariates`` (maximum likelihood).

    Note: Stata's psmatch2 uses probit unless ``logit`` is given; here logit is the
    default, as in most applied work.

    Parameters
    ----------
    score_model : {"logit", "probit"}, optional
        The score model (default ``"logit"``); the same keyword as in :func:`match` and
        :func:`psm_did`, where ``method`` is the matching method.
    weights : str, optional
        Sampling weights column: the score model maximises the weighted likelihood (R
        ``glm(..., weights=)``, which MatchIt fits with its ``s.weights``); the
        coefficient table's SEs are glm's, and the pseudo R2 is the weighted one.
    method : {"logit", "probit"}, optional
        Deprecated name of ``score_model`` (accepted for one release with a
        :class:`~policylab.errors.PolicyLabDeprecationWarning`).
    """
    score_model = renamed_arg(score_model, method, "score_model", "method",
                              "propensity_score", default="logit")
    df = data.df if isinstance(data, Panel) else (
        data if isinstance(data, pd.DataFrame) else as_pandas(data))  # read only
    cov = list(covariates)
    cols = [treat, *cov, *([weights] if weights else [])]
    require_columns(df, cols)
    require_numeric(df, cols)
    sub = df[cols].dropna()
    if len(sub) < len(df):
        raise DataError(f"{len(df) - len(sub)} rows have missing {treat!r}, covariates"
                        + (f" or weights {weights!r}" if weights else "")
                        + "; drop or impute them before matching")
    d = sub[treat].to_numpy(float)
    if not ((d == 0) | (d == 1)).all() or d.min() == d.max():
        raise DataError(f"treatment {treat!r} must be 0/1 with both values present")
    if score_model not in ("logit", "probit"):
        raise SpecError(f"score_model must be 'logit' or 'probit', got {score_model!r}")
    X = np.column_stack([np.ones(len(sub)), sub[cov].to_numpy(float)])
    w = None
    if weights:
        w = sub[weights].to_numpy(float)
        if (w < 0).any() or w[d == 1].sum() <= 0 or w[d == 0].sum() <= 0:
            raise DataError(f"weights {weights!r} must be non-negative with a positive sum "
                            "among the treated and among the controls")
    fit = _score_fit(d, X, score_model, w)
    names = ["_cons", *cov]
    se = np.sqrt(np.diag(fit.cov))
    z = fit.params / se
    # normal inference, as statsmodels' Logit/Probit and GLM report it
    q = stats.norm.ppf(0.975)
    table = pd.DataFrame({"term": names, "estimate": fit.params, "std_error": se,
                          "statistic": z, "p_value": 2 * stats.norm.sf(np.abs(z)),
                          "conf_low": fit.params - q * se, "conf_high": fit.params + q * se})
    score = fit.prob
    # McFadden's pseudo R2 with the intercept-only log likelihood in closed form
    # (statsmodels' prsquared refits the null model); weighted: both likelihoods are
    ww = np.ones(len(d)) if w is None else w
    pbar = np.average(d, weights=ww)
    llnull = ww.sum() * (pbar * np.log(pbar) + (1 - pbar) * np.log(1 - pbar))
    res = PropensityResult(nobs=len(sub), score=score, index=fit.index, table=table,
                           meta=RenamedKeys({"score_model": score_model, "covariates": cov,
                                             "treat": treat, "weights": weights,
                                             "iterations": fit.iterations,
                                             "pseudo_r2": float(1 - fit.llf / llnull)},
                                            renamed={"method": "score_model"},
                                            where="PropensityResult.meta"))
    if fit.status == "quasi_separation":
        res.warn(Message("psm.score_quasi_separation", n=fit.n_perfect,
                         method=score_model))
    return res


def _score_fit(d: np.ndarray, X: np.ndarray, method: str, w: np.ndarray | None
               ) -> bc.BinaryFit:
    """The score model by maximum likelihood (the engine's Newton-Raphson): Logit/Probit
    as statsmodels fits them, or with sampling weights the binomial GLM with them as
    prior weights (R glm's ``weights=``); complete separation, collinear covariates and
    no convergence raise."""
    fit = bc.binary_fit(X, d, link=method, weights=w, max_iter=200)
    if fit.status == "separation":
        raise EstimationError(
            f"the {method} score model predicts the treatment perfectly (complete "
            "separation): no treated unit has a comparable control, so there is nothing "
            "to match; drop or coarsen the covariates that separate them")
    if fit.status == "singular":
        raise EstimationError(
            f"the {method} score model failed: the covariates are collinear (or constant) "
            "in the matching sample; drop one of them")
    if fit.status == "no_convergence":
        raise EstimationError(
            f"the {method} score model did not converge in {fit.iterations} Newton steps; "
            "check the covariates for extreme scales or near-separation")
    return fit


@dataclass
class MatchResult(Result):
    """Per-row matching output (psmatch2's ``_pscore``, ``_treated``, ``_support``,
    ``_weight``) in ``rows``; the ATT when an outcome was given."""

    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    att: float = np.nan
    att_se: float = np.nan
    score_model: PropensityResult | None = None
    matches: list[np.ndarray] | None = None

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """The ATT on the cross-section (when an outcome was matched); ``se_method``
        names the standard error shown (Abadie-Imbens, psmatch2's or bootstrap)."""
        z = stats.norm.ppf(0.5 + level / 2)
        return pd.DataFrame([{"term": "ATT", "estimate": self.att, "std_error": self.att_se,
                              "statistic": self.att / self.att_se if self.att_se else np.nan,
                              "p_value": float(2 * stats.norm.sf(abs(self.att / self.att_se)))
                              if self.att_se else np.nan,
                              "conf_low": self.att - z * self.att_se,
                              "conf_high": self.att + z * self.att_se,
                              "n_treated_on_support": int(((self.rows["_treated"] == 1)
                                                           & (self.rows["_support"] == 1)).sum()),
                              "se_method": self.meta.get("att_se_method", "")}])

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Propensity-score densities of treated and controls, before and after."""
        from policylab.report.figures.psm import score_density_figure

        return score_density_figure(self.rows, lang=lang, **kw)


def match(
    data: Any,
    treat: str,
    covariates: Sequence[str] | None = None,
    *,
    outcome: str | None = None,
    score: str | np.ndarray | None = None,
    method: str = "kernel",
    kernel: str = "epan",
    bwidth: float = 0.06,
    k: int = 1,
    caliper: float | None = None,
    std_caliper: bool = False,
    replace: bool = True,
    ties: bool = True,
    tie_tol: float = 1e-12,
    tie_rule: str = "exact",
    metric: str | None = None,
    variance: str | None = None,
    var_matches: int = 1,
    bias_adjust: bool | Sequence[str] = False,
    common: bool = True,
    trim: float | None = None,
    score_model: str | None = None,
    bootstrap_draws: int | None = None,
    seed: int | None = None,
    weights: str | None = None,
    score_weighted: bool = True,
    se: str | None = None, model: str | None = None, bootstrap: int | None = None,
) -> MatchResult:
    """Match treated to control rows on the propensity score (psmatch2 semantics).

    Parameters
    ----------
    method : {"kernel", "nearest", "radius", "mahalanobis"}
        Kernel matching (``kernel`` in epan/gaussian/biweight/uniform/tricube,
        ``bwidth``, default 0.06 as psmatch2); ``k``-nearest neighbours (``replace``,
        ``caliper``, ``ties``: controls within ``tie_tol`` of the k-th distance share the
        weight; ``tie_rule="matching"`` reproduces R Matching's rule: squared
        variance-standardized distances within 1e-5 of the k-th);
        radius (all controls within ``caliper``); ``"mahalanobis"`` is
        ``method="nearest", metric="mahalanobis"``.
    metric : {None, "mahalanobis", "ivariance"}
        For nearest neighbours: None matches on the propensity score; otherwise on the
        covariates themselves, with Stata ``teffects nnmatch``'s metric names:
        Mahalanobis (R Matching ``Weight = 2``) or inverse variance (each covariate
        over its SD; R Matching's default ``Weight = 1``). Covariate matching is with
        replacement.
    caliper, std_caliper : float, bool
        Largest allowed distance. ``std_caliper=False`` (psmatch2): in score units.
        ``std_caliper=True`` (MatchIt's ``caliper=, std.caliper=TRUE``, R Matching's
        ``caliper=``): in standard deviations of the score (all units), or, when
        matching on covariates, of each covariate (as R Matching, which then takes the
        nearest controls among those inside every covariate's caliper).
    variance : {"ai", "psmatch2"}, optional
        Variance (SE) of the nearest-neighbour ATT. Default ``"ai"``: Abadie and Imbens (2006),
        what R ``Matching::Match`` and Stata ``teffects nnmatch`` report (conditional
        variances from ``var_matches`` neighbours in the same treatment arm; 0 assumes
        homoskedasticity, Match's ``Var.calc = 0``). ``"psmatch2"``: psmatch2's
        approximation, which ignores that controls are reused and that the score is
        estimated (psmatch2's own help says so). Kernel and radius matching report
        psmatch2's (or ``bootstrap_draws``). The SE shown is named in
        ``tidy()["se_method"]``.
    bias_adjust : bool or list of str
        Abadie-Imbens (2011) bias correction (``Match(BiasAdjust=TRUE)``,
        ``teffects nnmatch, biasadj()``): each match is adjusted by a regression of the
        outcome on the matching variables (True; the score when matching on it) or on
        the given columns, fitted on the matched controls weighted by their use.
    common : bool
        psmatch2's ``common``: treated rows with a score above the controls' maximum or
        below their minimum are off support.
    trim : float, optional
        Also drop the treated with the lowest control density (share, e.g. 0.02).
    outcome : str, optional
        Outcome for the cross-sectional ATT (and its SE, see ``variance``).
    score_model : {"logit", "probit"}, optional
        The propensity score model (default ``"logit"``), as :func:`propensity_score`.
    bootstrap_draws : int, optional
        For kernel matching, the ATT's SE from this many bootstrap draws (rows of the
        treated and of the controls resampled, scores held fixed; ``seed``); 0 (the
        default) reports the analytic SE.
    weights : str, optional
        Sampling weights column (MatchIt's ``s.weights``). They do not change who is
        matched to whom; the score model is fitted with them (``score_weighted``), and
        :func:`balance_table` and :func:`psm_did` weight by them (times the matching
        weights after matching). The cross-sectional ATT (``outcome=``) is not defined
        with them here: weight a regression of the outcome on the treatment by
        ``rows["_weight"]`` x the sampling weights, as MatchIt advises, or use
        :func:`psm_did`.
    score_weighted : bool
        Fit the score model with the sampling weights (default True, as MatchIt, which
        passes ``s.weights`` to ``glm``); False fits it unweighted.
    se, model, bootstrap : optional
        Deprecated names of ``variance``, ``score_model`` and ``bootstrap_draws``
        (accepted for one release with a
        :class:`~policylab.errors.PolicyLabDeprecationWarning`).
    """
    variance, score_model, bootstrap_draws, seed = _match_args(
        variance, score_model, bootstrap_draws, seed, se=se, model=model, bootstrap=bootstrap)
    df = data.df if isinstance(data, Panel) else (
        data if isinstance(data, pd.DataFrame) else as_pandas(data))  # read only
    require_columns(df, [treat])
    if weights is not None:
        _check_sampling_weights(df, weights, outcome)
    d = df[treat].to_numpy()
    ps_model = None
    if score is None:
        if not covariates:
            raise SpecError("give covariates= (to fit a score) or score=")
        ps_model = propensity_score(df, treat, covariates, score_model,
                                    weights=weights if score_weighted else None)
        p = ps_model.score
    else:
        p = df[score].to_numpy(float) if isinstance(score, str) else np.asarray(score, float)
    t_idx, c_idx = np.flatnonzero(d == 1), np.flatnonzero(d == 0)
    pt, pc = p[t_idx], p[c_idx]
    support_t = _common_support(pt, pc, common, trim)
    y = df[outcome].to_numpy(float) if outcome else None
    se_kind = _se_kind(method, variance, bias_adjust, var_matches)
    if method == "mahalanobis":
        metric = metric or "mahalanobis"
    nn = None
    if method == "kernel":
        w_c, cf = _kernel_weights(pt, pc, y, c_idx, support_t, kernel, bwidth)
        matches: list[np.ndarray] | None = None
    elif method in ("nearest", "radius", "mahalanobis"):
        nn = _NNSpec.build(df, p, covariates, method, metric, k, caliper, std_caliper,
                           replace, ties, tie_tol, tie_rule)
        matches = nn.match(t_idx, c_idx)
        w_c, cf = _set_weights(matches, y, c_idx, support_t)
    else:
        raise SpecError(f"method must be kernel, nearest, radius or mahalanobis, got {method!r}")
    rows = _matched_rows(df.index, p, d, t_idx, c_idx, support_t, w_c)
    res = MatchResult(nobs=len(df), rows=rows, score_model=ps_model, matches=matches,
                      meta={"method": method, "kernel": kernel, "bwidth": bwidth, "k": k,
                            "caliper": caliper, "std_caliper": std_caliper,
                            "metric": metric, "replace": replace, "ties": ties,
                            "common": common, "treat": treat,
                            "covariates": list(covariates or []), "outcome": outcome,
                            "weights": weights, "score_weighted": ps_model is not None
                            and bool(ps_model.meta["weights"])},
                      warnings=list(ps_model.warnings) if ps_model is not None else [])
    if y is not None:
        if se_kind == "ai" or bias_adjust:
            on_sets = [m for m, s_ in zip(matches, support_t) if s_]
            cf[support_t], ai_se, ai_label = _abadie_imbens(
                df, nn, y, t_idx[support_t], c_idx, on_sets, var_matches, bias_adjust)
            if bias_adjust:
                res.meta["bias_adjust"] = nn.bias_columns(bias_adjust)
        yt = y[t_idx][support_t]
        res.att = float(np.mean(yt - cf[support_t]))
        if se_kind == "ai":
            res.att_se, res.meta["att_se_method"] = ai_se, ai_label
        else:
            res.att_se = _psmatch2_se(yt, y[c_idx], w_c, int(support_t.sum()))
            res.meta["att_se_method"] = ("psmatch2 approximation (ignores reuse of controls "
                                         "and the estimated score)")
        if method == "kernel" and bootstrap_draws:
            res.att_se = _kernel_bootstrap_se(pt[support_t], yt, pc, y[c_idx], kernel,
                                              bwidth, bootstrap_draws, seed)
            res.meta["att_se_method"] = f"bootstrap ({bootstrap_draws} draws, seed {seed})"
    off = int((~support_t).sum())
    if off:
        res.meta["off_support_treated"] = off
        if off / len(t_idx) > 0.1:
            res.warn(Message("psm.off_support", off=off, n=len(t_idx)))
    return res



def _check_sampling_weights(df: pd.DataFrame, weights: str, outcome: str | None) -> None:
    """Sampling weights are a numeric, non-negative, complete column; the matched
    cross-sectional ATT has no weighted form here."""
    if outcome is not None:
        raise SpecError(f"match(outcome={outcome!r}) with weights={weights!r}: the "
                        "matching ATT and its standard errors are not defined with sampling "
                        "weights here; regress the outcome on the treatment on the matched "
                        "rows weighted by rows['_weight'] x the sampling weights (MatchIt's "
                        "advice), or use psm_did(weights=...)")
    require_columns(df, [weights], "weights column")
    require_numeric(df, [weights])
    w = df[weights].to_numpy(float)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise DataError(f"weights column {weights!r} must be non-negative numbers; "
                        f"{int(bad.sum())} rows are missing or negative")


def _common_support(pt: np.ndarray, pc: np.ndarray, common: bool, trim: float | None
                    ) -> np.ndarray:
    """Treated rows on the support: inside the controls' score range (``common``) and
    above the ``trim`` quantile of the control score density."""
    support_t = np.ones(len(pt), dtype=bool)
    if common:
        support_t &= (pt >= pc.min()) & (pt <= pc.max())
    if trim:
        dens = stats.gaussian_kde(pc)(pt)
        support_t &= dens > np.quantile(dens, trim)
    return support_t


def _kernel_weights(pt: np.ndarray, pc: np.ndarray, y: np.ndarray | None,
                    c_idx: np.ndarray, support_t: np.ndarray, kernel: str, bwidth: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Kernel matching: control weights and the treated rows' counterfactual means.
    Treated rows with no control within the bandwidth leave ``support_t`` (in place)."""
    cf = np.full(len(pt), np.nan)
    s0, cf_on, w = mk.kernel_match(pt[support_t], pc, kernel, bwidth,
                                   None if y is None else y[c_idx])
    has = s0 > 0
    if not has.all():
        sup_pos = np.flatnonzero(support_t)
        support_t[sup_pos[~has]] = False  # no control within the bandwidth
        # the control weights must not count treated units that left the support
        _, cf_on, w = mk.kernel_match(pt[support_t], pc, kernel, bwidth,
                                      None if y is None else y[c_idx])
    cf[support_t] = cf_on
    return w, cf


def _set_weights(matches: list[np.ndarray], y: np.ndarray | None, c_idx: np.ndarray,
                 support_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour or radius matching: control weights (each treated row gives
    weight 1 shared over its matches) and counterfactual means. Treated rows without a
    match leave ``support_t`` (in place)."""
    w_c = np.zeros(len(c_idx))
    cf = np.full(len(matches), np.nan)
    for i, mset in enumerate(matches):
        if not support_t[i] or len(mset) == 0:
            support_t[i] = False
            continue
        w_c[mset] += 1.0 / len(mset)
        if y is not None:
            cf[i] = y[c_idx][mset].mean()
    return w_c, cf


def _matched_rows(index: pd.Index, p: np.ndarray, d: np.ndarray, t_idx: np.ndarray,
                  c_idx: np.ndarray, support_t: np.ndarray, w_c: np.ndarray
                  ) -> pd.DataFrame:
    """psmatch2's per-row columns: _pscore, _treated, _support, _weight."""
    rows = pd.DataFrame(index=index)
    rows["_pscore"] = p
    rows["_treated"] = d.astype(int)
    rows["_support"] = 1
    rows.iloc[t_idx[~support_t], rows.columns.get_loc("_support")] = 0
    rows["_weight"] = np.nan
    rows.iloc[t_idx[support_t], rows.columns.get_loc("_weight")] = 1.0
    wc = np.where(w_c > 0, w_c, np.nan)
    rows.iloc[c_idx, rows.columns.get_loc("_weight")] = wc
    return rows


def _psmatch2_se(yt: np.ndarray, yc: np.ndarray, w_c: np.ndarray, n1: int) -> float:
    """psmatch2's approximate SE: var(y_t)/N1 + sum_j w_j^2 var(y_c) / N1^2."""
    used = w_c > 0
    return float(np.sqrt(np.var(yt, ddof=1) / n1
                         + (w_c[used] ** 2).sum()
                         * np.var(yc[used], ddof=1) / n1**2)
                 ) if n1 > 1 and used.sum() > 1 else np.nan


def _kernel_bootstrap_se(pt_on: np.ndarray, yt_on: np.ndarray, pc: np.ndarray,
                         yc_all: np.ndarray, kernel: str, bwidth: float, bootstrap: int,
                         seed: int | None) -> float:
    """SE of the kernel-matching ATT from ``bootstrap`` draws."""
    # psmatch2 reports no SE for kernel matching: resample treated and control
    # rows (scores held fixed, as Stata's `bootstrap: psmatch2` users do)
    rng = np.random.default_rng(seed)
    atts = np.empty(bootstrap)
    for b in range(bootstrap):
        it = rng.integers(0, len(pt_on), len(pt_on))
        ic = rng.integers(0, len(pc), len(pc))
        s0, cfb, _ = mk.kernel_match(pt_on[it], pc[ic], kernel, bwidth, yc_all[ic])
        ok = s0 > 0
        atts[b] = np.mean(yt_on[it][ok] - cfb[ok]) if ok.any() else np.nan
    return float(np.nanstd(atts, ddof=1))


_METRICS = (None, "mahalanobis", "ivariance")


@dataclass
class _NNSpec:
    """Where nearest neighbours are looked for: on the score, or on covariates in
    coordinates whose Euclidean distance is R Matching's metric (standardized by their
    SD: ``Weight = 1``; times a square root of the inverse scaled correlation matrix:
    ``Weight = 2``, Mahalanobis)."""

    method: str
    p: np.ndarray
    z: np.ndarray
    x: np.ndarray | None
    cols: list[str]
    k: int
    caliper: float | np.ndarray | None
    replace: bool
    ties: bool
    tie_tol: float
    tol_sq: float | None  # tie slack in squared metric units (None: rounding only)

    @classmethod
    def build(cls, df: pd.DataFrame, p: np.ndarray, covariates: Sequence[str] | None,
              method: str, metric: str | None, k: int, caliper: float | None,
              std_caliper: bool, replace: bool, ties: bool, tie_tol: float,
              tie_rule: str) -> _NNSpec:
        if tie_rule not in ("exact", "matching"):
            raise SpecError("tie_rule must be 'exact' or 'matching'")
        if metric not in _METRICS:
            raise SpecError(f"metric must be 'mahalanobis' or 'ivariance' (or None for the "
                            f"propensity score), got {metric!r}")
        if k < 1:
            raise SpecError(f"k (neighbours) must be at least 1, got {k}")
        tol = 1e-5 if tie_rule == "matching" else None
        sd_p = float(np.std(p, ddof=1))
        if metric is None or method == "radius":
            cal = caliper * sd_p if caliper is not None and std_caliper else caliper
            return cls(method, p, (p / (sd_p if sd_p > 0 else 1.0))[:, None], None,
                       ["_pscore"], k, cal, replace, ties, tie_tol, tol)
        if not covariates:
            raise SpecError(f"matching on covariates (metric={metric!r}) needs covariates=")
        if not replace:
            raise SpecError("matching on covariates is with replacement; use replace=True "
                            "or match on the score (metric=None)")
        cols = list(covariates)
        require_columns(df, cols)
        require_numeric(df, cols)
        x = df[cols].to_numpy(float)
        sd = x.std(axis=0, ddof=1)
        z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        if metric == "mahalanobis":
            lam, vec = np.linalg.eigh(np.linalg.pinv(z.T @ z / len(z)))
            z = z @ (vec * np.sqrt(np.clip(lam, 0, None)))
        if caliper is not None and not std_caliper:
            raise SpecError("a caliper on covariates is in standard deviations of each "
                            "covariate (R Matching): give std_caliper=True")
        cal = None if caliper is None else caliper * sd
        return cls(method, p, z, x, cols, k, cal, replace, ties, tie_tol, tol)

    def match(self, t_idx: np.ndarray, c_idx: np.ndarray) -> list[np.ndarray]:
        """Matched control positions (into ``c_idx``) for each treated row."""
        pt, pc = self.p[t_idx], self.p[c_idx]
        if self.method == "radius":
            if self.caliper is None:
                raise SpecError("radius matching needs caliper=")
            order = np.argsort(pc, kind="stable")
            pcs = pc[order]
            return [order[np.searchsorted(pcs, v - self.caliper, "left"):
                          np.searchsorted(pcs, v + self.caliper, "right")] for v in pt]
        if self.x is None:
            var = float(np.var(self.p, ddof=1))
            return mk.nearest_match(pt, pc, k=self.k, caliper=self.caliper,
                                    replace=self.replace, ties=self.ties, tol=self.tie_tol,
                                    tol_sq=None if self.tol_sq is None else self.tol_sq * var)
        zt, zc = self.z[t_idx], self.z[c_idx]
        if self.caliper is None:
            out = mk.metric_match(zt, zc, self.k, self.tol_sq)
        else:
            # as R Matching: the nearest among the controls inside every covariate's
            # caliper (not the nearest overall, dropped when outside)
            xt, xc = self.x[t_idx], self.x[c_idx]
            out = []
            for i in range(len(t_idx)):
                inside = np.flatnonzero((np.abs(xc - xt[i]) <= self.caliper).all(axis=1))
                m = mk.metric_match(zt[i:i + 1], zc[inside], self.k, self.tol_sq)[0] if len(
                    inside) else np.zeros(0, dtype=np.int64)
                out.append(inside[m])
        if not self.ties:
            out = [m[np.argsort(((zc[m] - zt[i]) ** 2).sum(axis=1), kind="stable")[:self.k]]
                   for i, m in enumerate(out)]
        return out

    def coords(self, idx: np.ndarray) -> np.ndarray:
        """Rows in the matching metric (for the within-arm variance matches)."""
        return self.z[idx]

    def bias_columns(self, bias_adjust: bool | Sequence[str]) -> list[str]:
        """The regressors of the bias correction."""
        return self.cols if bias_adjust is True else list(bias_adjust)

    def bias_matrix(self, df: pd.DataFrame, bias_adjust: bool | Sequence[str]) -> np.ndarray:
        if bias_adjust is True:
            return self.p[:, None] if self.x is None else self.x
        cols = list(bias_adjust)
        require_columns(df, cols)
        require_numeric(df, cols)
        return df[cols].to_numpy(float)


def _se_kind(method: str, variance: str | None, bias_adjust: Any, var_matches: int) -> str:
    kind = variance or ("ai" if method in ("nearest", "mahalanobis") else "psmatch2")
    if kind not in ("ai", "psmatch2"):
        raise SpecError("variance must be 'ai' (Abadie-Imbens) or 'psmatch2', got "
                        f"{variance!r}")
    if method not in ("nearest", "mahalanobis") and (kind == "ai" or bias_adjust):
        raise SpecError("variance='ai' and bias_adjust= are defined for nearest-neighbour "
                        "matching (method='nearest' or 'mahalanobis')")
    if var_matches < 0:
        raise SpecError(f"var_matches must be 0 (homoskedastic) or a positive count, got "
                        f"{var_matches}")
    return kind


def _abadie_imbens(df: pd.DataFrame, nn: _NNSpec, y: np.ndarray, t_on: np.ndarray,
                   c_idx: np.ndarray, on_sets: list[np.ndarray], var_matches: int,
                   bias_adjust: bool | Sequence[str]) -> tuple[np.ndarray, float, str]:
    """Counterfactual per treated on support (bias-corrected if asked), the
    Abadie-Imbens (2006) SE of the ATT and its label."""
    k1, k2 = mk.match_counts(on_sets, len(c_idx))
    pair_y = [y[c_idx][m] for m in on_sets]
    if bias_adjust:
        pair_y = _bias_adjusted(df, nn, bias_adjust, y, t_on, c_idx, on_sets, k1)
    cf = np.array([v.mean() for v in pair_y])
    yt = y[t_on]
    tau = yt - cf
    att = float(tau.mean())
    sig2 = np.zeros(len(c_idx))
    if var_matches == 0:
        # R Matching's Var.calc = 0: half the mean squared deviation of the (adjusted)
        # matched differences, one variance for everyone
        sig2[:] = 0.5 * np.mean([np.mean((yt[i] - v - att) ** 2)
                                 for i, v in enumerate(pair_y)])
        label = "Abadie-Imbens (2006), homoskedastic conditional variance"
    else:
        usedc = k1 > 0
        # neighbours among all controls; only the used controls' variances enter
        sig2[usedc] = mk.within_arm_variance(nn.coords(c_idx), y[c_idx], var_matches,
                                             nn.tol_sq)[usedc]
        label = (f"Abadie-Imbens (2006), conditional variances from {var_matches} "
                 "within-arm matches")
    se = float(np.sqrt(mk.abadie_imbens_att_var(tau, att, k1, k2, sig2)))
    return cf, se, label


def _bias_adjusted(df: pd.DataFrame, nn: _NNSpec, bias_adjust: bool | Sequence[str],
                   y: np.ndarray, t_on: np.ndarray, c_idx: np.ndarray,
                   on_sets: list[np.ndarray], k1: np.ndarray) -> list[np.ndarray]:
    """Abadie-Imbens (2011) bias-corrected matched control outcomes per treated:
    y_j + (Z_i - Z_j)'b, with b the slopes of the outcome on [1, Z] among the controls,
    weighted by the times each is used (R Matching's ``BiasAdjust``)."""
    Z = nn.bias_matrix(df, bias_adjust)
    if not np.isfinite(Z).all():
        raise DataError(f"bias_adjust columns {nn.bias_columns(bias_adjust)} have missing "
                        "values")
    used = k1 > 0
    Zc = Z[c_idx][used]
    if used.sum() <= Z.shape[1]:
        raise EstimationError(f"bias adjustment needs more matched controls ({int(used.sum())}"
                              f") than regressors ({Z.shape[1] + 1})")
    A = np.column_stack([np.ones(len(Zc)), Zc])
    sw = np.sqrt(k1[used])
    b = np.linalg.lstsq(A * sw[:, None], y[c_idx][used] * sw, rcond=None)[0][1:]
    yc, zc = y[c_idx], Z[c_idx]
    return [yc[m] + (Z[i] - zc[m]) @ b for i, m in zip(t_on, on_sets)]


@dataclass
class BalanceResult(Result):
    """pstest-style balance table before and after matching."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary_stats: dict[str, float] = field(default_factory=dict)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Per covariate: means, %bias before/after (pstest), MatchIt's SMD before/after,
        % reduction, t-test p, variance ratio, and whether |bias| < 10% after matching."""
        return self.table.copy()

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Standardized % bias of each covariate before and after matching."""
        from policylab.report.figures.psm import bias_figure

        return bias_figure(self.table, lang=lang, **kw)


def balance_table(matched: MatchResult, data: Any,
                  covariates: Sequence[str] | None = None,
                  weights: str | None = None) -> BalanceResult:
    """Balance before and after matching, as Stata's ``pstest, both``.

    Standardized % bias = 100 (mean_t - mean_c) / sqrt((var_t + var_c) / 2), with the
    *unmatched* variances in the denominator both before and after (as pstest);
    after matching, control means use the matching weights and only treated rows on
    support count. Rubin's B and R use the score model's linear index.

    ``smd_before`` / ``smd_after`` are MatchIt's standardized mean differences for the
    ATT (``summary(matchit(...))``'s "Std. Mean Diff."): the same mean difference over
    the treated group's SD before matching (for a two-valued covariate sqrt(p(1 - p))),
    a ratio, not a percentage (the usual threshold is 0.1 in absolute value).

    Parameters
    ----------
    weights : str, optional
        Sampling weights column; default: the one the matching used
        (``matched.meta["weights"]``). With them, as MatchIt's ``summary`` with
        ``s.weights``: every mean is weighted by the sampling weights before matching
        and by matching weights x sampling weights after; the SDs of the denominators
        are those of the unmatched sample weighted by the sampling weights (MatchIt's
        weighted variance for ``smd_*``; pstest's columns, which have no weighted form
        in Stata, use Stata's analytic-weight variance, sum w (x - m)^2 / sum w x
        n / (n - 1)). The t-tests are weighted regressions of the covariate on the
        treatment, the variance ratios ratios of weighted variances.
    """
    df = data.df if isinstance(data, Panel) else as_pandas(data)
    cov = list(covariates or matched.meta["covariates"])
    weights = weights or matched.meta.get("weights")
    require_columns(df, cov + ([weights] if weights else []))
    r = matched.rows
    t = (r["_treated"] == 1).to_numpy()
    c = ~t
    on = t & (r["_support"] == 1).to_numpy()
    wc = r["_weight"].fillna(0).to_numpy()
    mc_after = c & (wc > 0)
    sw = np.ones(len(df)) if weights is None else df[weights].to_numpy(float)
    sm_ = _Samples(t, c, on, mc_after, sw, sw * wc, weights is not None)
    table = pd.DataFrame([sm_.row(v, df[v].to_numpy(float)) for v in cov])
    summ: dict[str, float] = {}
    if matched.score_model is not None:
        summ = sm_.rubin(matched.score_model.index)
    res = BalanceResult(nobs=len(df), table=table, summary_stats=summ,
                        meta={"covariates": cov, "weights": weights})
    bad = table.loc[~table["balanced"], "variable"].tolist()
    if bad:
        res.warn(Message("psm.unbalanced", vars=bad))
    if summ and (summ["B_after"] >= 25 or not 0.5 <= summ["R_after"] <= 2):
        res.warn(Message("psm.rubin", b=summ["B_after"], r=summ["R_after"]))
    return res


def _aw_var(x: np.ndarray, w: np.ndarray) -> float:
    """Stata's analytic-weight variance: sum w (x - m)^2 / sum w x n / (n - 1), the
    weighted mean m (w = 1: the sample variance)."""
    m = np.average(x, weights=w)
    return float(np.sum(w * (x - m) ** 2) / w.sum() * len(x) / max(len(x) - 1, 1))


def _two_valued(x: np.ndarray) -> bool:
    """Whether ``x`` takes exactly two distinct values (one pass; no sort of the
    column as np.unique would do)."""
    other = x[x != x[0]] if len(x) else x
    return bool(len(other)) and bool(np.all(other == other[0]))


def _matchit_var(x: np.ndarray, w: np.ndarray, two_valued: bool) -> float:
    """The treated SD^2 of MatchIt's standardized mean difference: p(1 - p) for a
    two-valued covariate, else MatchIt's weighted variance sum w (x - m)^2 / (1 -
    sum w^2) with w normalised to sum to 1 (w = 1: the sample variance)."""
    wn = w / w.sum()
    m = np.sum(wn * x)
    if two_valued:
        return float(np.sum(wn * (x - m) ** 2))
    return float(np.sum(wn * (x - m) ** 2) / (1 - np.sum(wn**2)))


@dataclass
class _Samples:
    """The rows and weights of a balance table: treated and controls before matching
    (weights ``s``, the sampling weights or 1), the treated on support and the used
    controls after (``s`` and matching weight x ``s``)."""

    t: np.ndarray
    c: np.ndarray
    on: np.ndarray
    mc: np.ndarray
    s: np.ndarray
    s_after: np.ndarray
    weighted: bool

    @functools.cached_property
    def subsets(self) -> tuple[np.ndarray, ...]:
        """The weights of the treated, the controls, the treated on support (``s``)
        and the used controls (``s_after``)."""
        return self.s[self.t], self.s[self.c], self.s[self.on], self.s_after[self.mc]

    def row(self, v: str, x: np.ndarray) -> dict[str, Any]:
        """One covariate's line: means, pstest's bias, MatchIt's SMD, tests, ratios."""
        t, c, on, mc, s = self.t, self.c, self.on, self.mc, self.s
        # each subset of x taken once (the weights' subsets once per table)
        xt, xc, xon, xmc = x[t], x[c], x[on], x[mc]
        st, sc, son, samc = self.subsets
        mt0, mc0 = np.average(xt, weights=st), np.average(xc, weights=sc)
        if self.weighted:
            vt0, vc0 = _aw_var(xt, st), _aw_var(xc, sc)
            p0 = _weighted_t_p(x[t | c], t[t | c].astype(float), s[t | c])
        else:
            vt0, vc0 = xt.var(ddof=1), xc.var(ddof=1)
            p0 = float(stats.ttest_ind(xt, xc).pvalue)
        sd0 = np.sqrt((vt0 + vc0) / 2)
        b0 = 100 * (mt0 - mc0) / sd0
        mt1, mc1 = np.average(xon, weights=son), np.average(xmc, weights=samc)
        b1 = 100 * (mt1 - mc1) / sd0
        # after: weighted regression of x on treatment in the matched sample
        p1 = _weighted_t_p(np.r_[xon, xmc], np.r_[np.ones(len(xon)), np.zeros(len(xmc))],
                           np.r_[son, samc])
        vt1 = _aw_var(xon, son) if self.weighted else xon.var(ddof=1)
        vc1 = _aw_var(xmc, samc)
        # MatchIt's standardized mean difference for the ATT: over the SD of the
        # treated before matching (two-valued covariates: sqrt(p(1 - p)))
        sd_t = np.sqrt(_matchit_var(xt, st, _two_valued(x)))
        return {"variable": v, "mean_treated_before": mt0, "mean_control_before": mc0,
                "bias_before": b0, "mean_treated_after": mt1, "mean_control_after": mc1,
                "bias_after": b1,
                "smd_before": (mt0 - mc0) / sd_t if sd_t > 0 else np.nan,
                "smd_after": (mt1 - mc1) / sd_t if sd_t > 0 else np.nan,
                "bias_reduction": 100 * (1 - abs(b1) / abs(b0)) if b0 else np.nan,
                "p_before": p0, "p_after": p1, "var_ratio_before": vt0 / vc0,
                "var_ratio_after": vt1 / vc1 if vc1 > 0 else np.nan,
                "balanced": abs(b1) < 10}

    def rubin(self, idx: np.ndarray) -> dict[str, float]:
        """Rubin's B (standardized % difference of the score index) and R (its
        variance ratio) before and after matching."""
        t, c, on, mc, s, sa = self.t, self.c, self.on, self.mc, self.s, self.s_after
        if self.weighted:
            vt, vc, vt1 = _aw_var(idx[t], s[t]), _aw_var(idx[c], s[c]), _aw_var(idx[on], s[on])
        else:
            vt, vc, vt1 = idx[t].var(ddof=1), idx[c].var(ddof=1), idx[on].var(ddof=1)
        bt = 100 * abs(np.average(idx[t], weights=s[t]) - np.average(idx[c], weights=s[c])
                       ) / np.sqrt((vt + vc) / 2)
        mc1 = np.average(idx[mc], weights=sa[mc])
        vc1 = np.sum(sa[mc] * (idx[mc] - mc1) ** 2) / sa[mc].sum()
        ba = 100 * abs(np.average(idx[on], weights=s[on]) - mc1) / np.sqrt((vt1 + vc1) / 2)
        return {"B_before": float(bt), "R_before": float(vt / vc), "B_after": float(ba),
                "R_after": float(vt1 / vc1)}


def _weighted_t_p(x: np.ndarray, d: np.ndarray, w: np.ndarray) -> float:
    X = np.column_stack([np.ones_like(d), d])
    W = w / w.mean()
    XtWX = (X * W[:, None]).T @ X
    beta = np.linalg.solve(XtWX, (X * W[:, None]).T @ x)
    u = x - X @ beta
    s2 = np.sum(W * u**2) / (len(x) - 2)
    se = np.sqrt(s2 * np.linalg.inv(XtWX)[1, 1])
    return float(2 * stats.t.sf(abs(beta[1] / se), len(x) - 2))


@dataclass
class PsmDidResult(Result):
    """PSM-DID: the DID on the matched panel, the matching and its balance table."""

    did: Any = None
    matching: MatchResult | None = None
    balance: BalanceResult | None = None

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """The matched DID's coefficient table."""
        return self.did.tidy(level)

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Score densities before and after matching."""
        return self.matching.plot(lang=lang, **kw)


def psm_did(
    data: Any,
    y: str,
    covariates: Sequence[str],
    treat: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    controls: Sequence[str] = (),
    fe: Sequence[str] | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    *,
    cohort: str | None = None,
    roster: str | None = None,
    date: str = "announcement",
    assign: str | None = None,
    mode: str = "base_year",
    base_year: int | None = None,
    method: str = "kernel",
    did_sample: str | None = None,
    score_weighted: bool = True,
    sample: str | None = None,
    **match_kw: Any,
) -> PsmDidResult:
    """PSM-DID: match treated and control units, then run the DID on the matched panel.

    Parameters
    ----------
    data : Design, Panel or DataFrame
        A :class:`~policylab.estimators.design.Design` carries the treatment, controls,
        fixed effects (``region^year`` included), cluster, sampling weights and sample
        (then give none of those here); otherwise one is built from the keywords.
    weights : str, optional
        Sampling (observation) weights, used as MatchIt uses its ``s.weights``: in the
        score model (``score_weighted``), in the balance table (weighted means and SDs,
        see :func:`balance_table`) and in the DID, which is weighted by matching weights
        x sampling weights. They do not change who is matched to whom. A unit's weight
        in the matching (score model, balance) is its row's in the matched cross-section
        (``base_year``: the base year; weights that vary over time are allowed); the DID
        weights each row by its own weight times its unit's matching weight.
    mode : {"base_year", "period", "pooled"}
        "base_year" (default, recommended): match units once on their covariates in a
        pre-treatment base year (default: the year before the first adoption) and keep
        the matched units in every year. "period": match year by year (controls change
        across years); "pooled": match all unit-years at once, treated units' rows with
        never-treated units' rows of any year, and run the DID on the matched unit-years
        (the reference carbon study's design; post-policy covariates enter the score).
        Both warn.
    method : {"kernel", "nearest", "radius", "mahalanobis"}
        The matching method, as :func:`match` (the score model is ``score_model=``).
    did_sample : {"weighted", "matched", "support"}, optional
        The DID's rows and weights: ``"weighted"`` (default): weighted by the matching
        weights (psmatch2 ``[aw=_weight]``; times the sampling weights when given);
        ``"matched"``: on rows with a positive weight; ``"support"``: on the
        common-support sample (``_support == 1``); the last two are weighted by the
        sampling weights only. (The design's ``sample`` is the rows kept before matching.)
    score_weighted : bool
        Fit the score model with the sampling weights (default True, MatchIt's default).
    sample : {"weighted", "matched", "support"}, optional
        Deprecated name of ``did_sample`` (accepted for one release with a
        :class:`~policylab.errors.PolicyLabDeprecationWarning`).
    **match_kw
        Passed to :func:`match` (score_model, kernel, bwidth, k, caliper, variance,
        bootstrap_draws, ...); its deprecated names ``model``, ``se`` and ``bootstrap``
        are accepted for one release with the same warning.
    """
    from policylab.estimators.did import did

    did_sample = renamed_arg(did_sample, sample, "did_sample", "sample", "psm_did",
                             default="weighted")
    match_kw = _new_names("psm_did", match_kw,
                          {old: match_kw.pop(old, None) for old in _MATCH_RENAMED})

    design = _psm_design(data, unit, time, treat, cohort, roster, date, assign, controls, fe,
                         cluster, weights)
    unit, time, sw = design.unit, design.time, design.weights
    base = design.df  # read only: the matched rows are copied out of it once
    require_columns(base, [y, *covariates])
    if did_sample not in ("weighted", "matched", "support"):
        raise SpecError("did_sample must be weighted, matched or support, got "
                        f"{did_sample!r}")
    codes = _unit_codes(design)
    ever_u = np.bincount(codes, weights=base[design.treat_col].to_numpy(float)) > 0
    ever = ever_u[codes].astype(int)
    kw = dict(method=method, weights=sw, score_weighted=score_weighted, **match_kw)
    m, match_data, row_w, row_sup, warn = _psm_match(base, ever, design, covariates, mode,
                                                     base_year, kw)
    keep = row_sup == 1 if did_sample == "support" else row_w > 0  # NaN: not matched
    used = base[keep].assign(_ever_treated=ever[keep], _weight=row_w[keep],
                             _support=row_sup[keep])
    wcol = sw
    if did_sample == "weighted":
        wcol = "_weight"
        if sw is not None:
            # MatchIt: the DID's weights are the matching weights x the sampling weights
            wcol = "_psm_weight"
            used["_psm_weight"] = used["_weight"] * used[sw]
    if used.empty or used["_ever_treated"].nunique() < 2:
        raise EstimationError("no matched treated and control units remain")
    # rows of the design's panel, already checked and in order: no second Panel pass
    res_did = did(used, y=y, unit=unit, time=time, treat=design.treat_col,
                  controls=list(design.controls), fe=list(design.fe), cluster=design.cluster,
                  weights=wcol, assign=design.assign)
    # the model the user gave, on the matched rows; the matching weights are on top
    res_did.meta["design"].update(weights=sw, sample=design.sample,
                                  treatment=design.treatment,
                                  matching_weights=did_sample == "weighted")
    bal = balance_table(m, match_data, covariates) if m.score_model is not None else None
    res = PsmDidResult(nobs=res_did.nobs, did=res_did, matching=m, balance=bal,
                       meta=RenamedKeys({"mode": mode, "did_sample": did_sample,
                                         "n_before": len(base), "n_after": res_did.nobs,
                                         "depvar": y, "treat_term": res_did.meta["treat_term"],
                                         "weights": sw,
                                         "score_weighted": bool(sw) and score_weighted,
                                         "notes": _weights_notes(sw, score_weighted)},
                                        renamed={"sample": "did_sample"},
                                        where="PsmDidResult.meta"))
    n_treated = int(ever_u.sum())
    if n_treated < 10:
        res.warn(Message("psm.few_treated", n=n_treated))
    for w in warn + m.warnings + (bal.warnings if bal else []):
        res.warn(w)
    return res


# match()'s keywords renamed in this release (old -> new), also accepted through psm_did
_MATCH_RENAMED = {"model": "score_model", "se": "variance", "bootstrap": "bootstrap_draws"}


def _new_names(where: str, kw: dict[str, Any], old: dict[str, Any],
               stacklevel: int = 4) -> dict[str, Any]:
    """``kw`` with match()'s keywords given under their old names (``old``, see
    ``_MATCH_RENAMED``) moved to the new ones, each with a PolicyLabDeprecationWarning
    (``stacklevel``: at the user's call); a keyword given under both names is a SpecError."""
    for name, value in old.items():
        if value is not None:
            new = _MATCH_RENAMED[name]
            kw[new] = renamed_arg(kw.get(new), value, new, name, where, stacklevel=stacklevel)
    return kw


def _match_args(variance: str | None, score_model: str | None, bootstrap_draws: int | None,
                seed: int | None, **old: Any) -> tuple[str | None, str, int, int | None]:
    """match()'s renamed keywords (their old names warn), with the defaults filled in and
    the count and seed checked."""
    from policylab.validation import check_count, check_seed

    a = _new_names("match", {"variance": variance, "score_model": score_model,
                             "bootstrap_draws": bootstrap_draws}, old, stacklevel=5)
    draws = 0 if a["bootstrap_draws"] is None else a["bootstrap_draws"]
    return (a["variance"], "logit" if a["score_model"] is None else a["score_model"],
            check_count(draws, "bootstrap_draws", lo=0), check_seed(seed))


def _psm_design(data: Any, unit: str | None, time: str | None, treat: str | None,
                cohort: str | None, roster: str | None, date: str, assign: str | None,
                controls: Sequence[str], fe: Sequence[str] | None, cluster: str | None,
                weights: str | None) -> Any:
    """The Design of a PSM-DID: ``data`` itself when it is one, else built from the
    keywords (the whole model: the DID on the matched rows honours every part)."""
    from policylab.estimators.design import Design, as_design, build_design

    if isinstance(data, Design):
        return as_design(data, Message("name.psm_did"), unit=unit, time=time, treat=treat, cohort=cohort,
                         roster=roster, date=date, assign=assign, controls=list(controls),
                         fe=fe, cluster=cluster, weights=weights)
    panel = data if isinstance(data, Panel) else Panel(data, unit=unit, time=time)
    return build_design(panel, treat=treat, cohort=cohort, roster=roster, date=date,
                        assign=assign, controls=list(controls), fe=fe, cluster=cluster,
                        weights=weights)


def _psm_match(base: pd.DataFrame, ever: np.ndarray, design: Any,
               covariates: Sequence[str], mode: str, base_year: int | None,
               kw: dict[str, Any]
               ) -> tuple[MatchResult, pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Match in ``mode``: the matching, the data it matched on, each row's matching
    weight and support (NaN where its unit or row was not matched on) and the
    warnings."""
    time = design.time
    warn: list[str] = []
    if mode == "base_year":
        first = int(base.loc[base[design.treat_col] == 1, time].min())
        by = base_year if base_year is not None else max(t for t in base[time].unique()
                                                         if t < first)
        in_by = (base[time] == by).to_numpy()
        codes = _unit_codes(design)
        # each base-year row's unit code rides along (rows may be left out below)
        cross = base[in_by].assign(_ever_treated=ever[in_by], _psm_unit=codes[in_by])
        n_units = int((np.bincount(codes) > 0).sum())
        n_cross = int((np.bincount(codes[in_by]) > 0).sum())
        if n_cross < n_units:
            warn.append(Message("psm.missing_in_base_year", n=n_units - n_cross, year=by))
        cross = _complete(cross, covariates, kw, warn, f"{time} = {by}")
        m = match(cross, "_ever_treated", covariates, **kw)
        # a unit's matching weight and support are its base-year row's (by unit code:
        # no hashing of the unit column over every row)
        pos = np.full(int(codes.max()) + 1, -1)
        pos[cross["_psm_unit"].to_numpy()] = np.arange(len(cross))
        at = pos[codes]
        found = at >= 0
        row_w, row_sup = np.full(len(base), np.nan), np.full(len(base), np.nan)
        row_w[found] = m.rows["_weight"].to_numpy(float)[at[found]]
        row_sup[found] = m.rows["_support"].to_numpy(float)[at[found]]
        return m, cross, row_w, row_sup, warn
    df = base.assign(_ever_treated=ever)
    # the matching (and its balance table) sees the rows with every covariate; each row
    # of the panel gets its weight and support, NaN for the rows left out
    complete = _complete(df, covariates, kw, warn, "all years")
    if mode == "period":
        rows = pd.concat([match(g, "_ever_treated", covariates, **kw).rows
                          for _, g in complete.groupby(time)]).reindex(complete.index)
        m = MatchResult(nobs=len(complete), rows=rows, meta={
            "method": kw["method"], "mode": mode, "covariates": list(covariates),
            "weights": kw["weights"]})
        warn.append(Message("psm.period_matching"))
    elif mode == "pooled":
        m = match(complete, "_ever_treated", covariates, **kw)
        # ever-treated rows vs never-treated rows: no unit matches itself, years mix
        warn.append(Message("psm.pooled_matching"))
    else:
        raise SpecError(f"mode must be base_year, period or pooled, got {mode!r}")
    rows = m.rows.reindex(df.index)
    return (m, complete, rows["_weight"].to_numpy(float), rows["_support"].to_numpy(float),
            warn)


def _unit_codes(design: Any) -> np.ndarray:
    """Integer codes of the design's units, row by row (the design's own when it has
    them)."""
    if design.unit_codes is not None and len(design.unit_codes) == len(design.df):
        return np.asarray(design.unit_codes, dtype=np.int64)
    return pd.factorize(design.df[design.unit])[0].astype(np.int64)


def _complete(frame: pd.DataFrame, covariates: Sequence[str], kw: dict[str, Any],
              warn: list[Any], where: str) -> pd.DataFrame:
    """The rows with every covariate (and sampling weight): a row missing one has no
    propensity score, so it is not matched (psmatch2 leaves it out the same way)."""
    cols = [*covariates, *([kw["weights"]] if kw.get("weights") else [])]
    miss = frame[cols].isna()
    bad = miss.any(axis=1).to_numpy()
    if not bad.any():
        return frame
    which = [c for c in cols if miss[c].any()]
    warn.append(Message("psm.missing_covariates", n=int(bad.sum()), where=where,
                        cols=", ".join(which)))
    return frame[~bad]


def _weights_notes(weights: str | None, score_weighted: bool) -> list[Message]:
    """The PSM-DID table's note on sampling weights (none without them)."""
    if not weights:
        return []
    return [Message("psm.sampling_weights" if score_weighted
                    else "psm.sampling_weights_unweighted_score", col=weights)]

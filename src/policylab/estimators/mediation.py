"""Mediation analysis in the DID design: the stepwise (Baron-Kenny) system with the
same fixed effects, controls and clustering as the DID, Sobel-family tests, and a
batched cluster bootstrap resampling whole clusters."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.engine import bootstrap_kernels as bk
from policylab.errors import (
    EstimationError,
    PolicyLabDeprecationWarning,
    PolicyLabWarning,
    SpecError,
)
from policylab.estimators.design import takes_design
from policylab.estimators.did import did
from policylab.estimators.formula import build_matrix
from policylab.estimators.result import Result
from policylab.inference.resampling import (
    GramDraws,
    closed_form_twoway,
    cluster_multiplicities,
    weighted_gram_draws,
)
from policylab.messages import Message, message_key

__all__ = ["mediation", "MediationResult"]

@dataclass
class MediationResult(Result):
    """Indirect effects per mediator (and jointly), with each step's regression.

    ``step_results[m]`` = [total effect c, D -> M (a), Y on D and M (b, c')]; each is a
    DIDResult usable in :func:`policylab.etable`.
    """

    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    step_results: dict[str, list[Any]] = field(default_factory=dict)
    boot_draws: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per mediator (and ``joint:`` rows): a, b, c, c', indirect a*b (the
        estimate), its Sobel SE and p-value, Aroian/Goodman p, the CI (``conf_low``,
        ``conf_high``: bootstrap percentile when drawn, else normal with the Sobel SE; see
        ``meta["ci_method"]``), bias-corrected bootstrap CI, share, and ``rho_at_zero``
        (the Imai-Keele-Tingley sensitivity parameter at which the ACME vanishes)."""
        return self.effects.copy()

    def summary(self) -> str:
        """The mediation table in the papers' layout, followed by the notes."""
        cols = ["term", "a", "b", "c", "c_prime", "estimate", "sobel_p", "conf_low",
                "conf_high", "share", "rho_at_zero"]
        tab = self.effects[[c for c in cols if c in self.effects]].rename(
            columns={"estimate": "a*b", "c_prime": "c'", "sobel_p": "Sobel p"})
        lines = [f"MediationResult  (N = {self.nobs:,}; {self.meta.get('ci_method', '')})"]
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            lines.append(tab.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """ACME against the sensitivity parameter rho (Imai-Keele-Tingley), per
        mediator, with bootstrap bands when drawn."""
        from policylab.report.figures.mechanisms import mediation_sensitivity_figure

        return mediation_sensitivity_figure(self.sensitivity, lang=lang, **kw)


def _sobel_family(a: float, sa: float, b: float, sb: float) -> dict[str, float]:
    base = b**2 * sa**2 + a**2 * sb**2
    out = {}
    for name, var in (("sobel", base), ("aroian", base + sa**2 * sb**2),
                      ("goodman", base - sa**2 * sb**2)):
        se = np.sqrt(var) if var > 0 else np.nan
        z = a * b / se if se and np.isfinite(se) else np.nan
        out[f"{name}_se"] = se
        out[f"{name}_p"] = float(2 * special.ndtr(-abs(z))) if np.isfinite(z) else np.nan
    return out


def _effect_row(term: str, med: str, a_fit: Any, b_fit: Any, total: Any) -> dict[str, Any]:
    """One row of the effects table: a from the mediator equation, b and c' from the
    outcome equation ``b_fit``, c from the total-effect equation, Sobel-family tests."""
    D = total.meta["treat_term"]
    a, sa = float(a_fit.coef()[D]), float(a_fit.se()[D])
    b, sb = float(b_fit.coef()[med]), float(b_fit.se()[med])
    return {"term": term, "a": a, "a_se": sa, "a_p": float(a_fit.pvalue()[D]), "b": b,
            "b_se": sb, "b_p": float(b_fit.pvalue()[med]), "c": float(total.coef()[D]),
            "c_se": float(total.se()[D]), "c_prime": float(b_fit.coef()[D]),
            "estimate": a * b, **_sobel_family(a, sa, b, sb)}


def _draws_and_seed(draws: int | None, bootstrap: int | None, seed: int | None,
                    lang: str | None) -> tuple[int, int | None]:
    """mediation()'s bootstrap draws (``draws=``, or its deprecated name ``bootstrap=``)
    and seed, checked; ``lang=`` is a deprecated no-op. The warnings point at the user's
    call (through mediation and its Design wrapper)."""
    from policylab.validation import check_count, check_seed, renamed_arg

    if lang is not None:
        warnings.warn("mediation(lang=...) is deprecated, has no effect and will be removed "
                      "in the next release: the notes are messages with keys that the report "
                      "words in its own language (policylab.report.labels.message_text)",
                      PolicyLabDeprecationWarning, stacklevel=4)
    draws = renamed_arg(draws, bootstrap, "draws", "bootstrap", "mediation", default=500,
                        stacklevel=5)
    return check_count(draws, "draws", lo=0), check_seed(seed)


@takes_design(Message("name.mediation"))
def mediation(
    data: Any,
    y: str,
    mediators: Sequence[str],
    treat: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    controls: Sequence[str] = (),
    fe: Sequence[str] | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    *,
    vcov: Any = None,
    cohort: str | None = None,
    roster: str | None = None,
    date: str = "announcement",
    assign: str | None = None,
    lags: dict[str, int] | None = None,
    draws: int | None = None,
    seed: int | None = None,
    level: float = 0.95,
    joint: bool = True,
    rho: Sequence[float] | None = None,
    lang: str | None = None,
    progress: bool = False,
    executor: Any = None,
    bootstrap: int | None = None,
) -> MediationResult:
    """Stepwise mediation with DID fixed effects, controls and clustering.

    For each mediator M: total effect c (Y on D), a (M on D), b and c' (Y on D and M);
    the indirect effect a*b with Sobel, Aroian and Goodman tests, cluster-bootstrap
    percentile and bias-corrected CIs (whole clusters resampled, all draws batched), and
    the share a*b/c where it is meaningful. With several mediators, ``joint`` adds the
    system with all mediators in the outcome equation.

    Parameters
    ----------
    mediators : list of str
        Mediator columns.
    unit, time : str
        Panel keys. A cross-section: give ``time=None`` (and ``unit=None`` if rows have
        no id); the equations then have only an intercept unless ``fe=`` says otherwise,
        and the panel checks (units treated in the first period, staggered timing) are
        not run.
    controls : list of str
        Plain columns or formula terms such as ``C(educ)``, read exactly as by
        :func:`policylab.did`.
    vcov : optional
        The variance of every equation, spelled as in :func:`policylab.did` /
        ``feols``: ``"iid"`` (classical OLS SEs: the Sobel SE is then the textbook
        sqrt(b^2 se_a^2 + a^2 se_b^2)), ``"hetero"`` (HC1) or ``{"CRV1": "col"}``.
        Default: clustered as ``did`` (``cluster``, else the assignment level).
    lags : dict, optional
        Mediator -> lag order; e.g. ``{"tech": 2}`` uses tech two periods earlier
        (within unit, never across gaps) and reports the observations lost.
    draws : int, optional
        Cluster bootstrap draws (default 500; 0 to skip), as ``draws=`` of
        :func:`policylab.wild_bootstrap` and :func:`policylab.placebo_test`.
    rho : sequence of float, optional
        Grid of the Imai-Keele-Tingley sensitivity parameter (the correlation between
        the errors of the mediator and outcome equations; default -0.9 to 0.9 by 0.05).
        ``sensitivity`` holds ACME(rho) and ADE(rho) for each single mediator, computed
        on the within-transformed data; ACME(0) equals a*b.
    lang : optional
        Deprecated, no effect (removed in the next release): the notes are messages
        (:class:`policylab.messages.Message`) that the report words in its language.
    progress : bool
        Show a progress bar over the bootstrap's chunks of draws.
    executor : optional
        Where the bootstrap draws run (see :mod:`policylab.execution`); the resamples
        are drawn from ``seed`` in this process, so the numbers do not depend on it.
    bootstrap : int, optional
        Deprecated name of ``draws`` (accepted for one release with a
        :class:`~policylab.errors.PolicyLabDeprecationWarning`).

    Other Parameters
    ----------------
    data, y, treat, fe, cluster, weights, cohort, roster, date, assign
        As in :func:`policylab.did`.

    Notes
    -----
    The bootstrap resamples whole clusters. A cluster drawn k times enters with weight
    k: k copies of a unit, each with its own unit effect, give the same fit as one copy
    with weight k, while the time effects are re-estimated on the resampled data. Reusing
    the full-sample within transformation would be wrong for the time effects (their
    means change with the draw), so each draw is re-demeaned with those weights: in
    closed form for balanced two-way panels (unit means are fixed, only the weighted
    time means move), by weighted alternating projections otherwise. Every equation of
    the system then follows from the draw's Gram matrix of [y, D, M..., controls], so
    all regressions of all draws are small solves. Draws equal a loop that resamples
    units with the same seed and reruns feols (tested draw for draw).
    """
    from policylab.validation import RenamedKeys, as_names

    # the resolved count keeps the name the code below uses
    bootstrap, seed = _draws_and_seed(draws, bootstrap, seed, lang)
    mediators, controls = as_names(mediators, "mediators"), as_names(controls, "controls")
    if not mediators:
        raise SpecError("mediation needs at least one mediator")
    panel, xsec = _as_panel(data, unit, time)
    unit, time = panel.unit, panel.time
    if xsec and fe is None:
        fe = []
    panel, meds, notes = _lag_mediators(panel, list(mediators), lags or {})
    tkw = dict(treat=treat, cohort=cohort, roster=roster, date=date, assign=assign)
    require_columns(panel.df, [y, *meds])
    # one estimation sample for every equation; controls are read by the regression's
    # own term reader, so formula terms (C(educ), log(x)) mean what they mean in did()
    Zs, zs_names = build_matrix(panel.df, [y, *meds, *controls], intercept=False)
    sample = panel.df[np.isfinite(Zs).all(axis=1)]
    dropped = len(panel.df) - len(sample)
    if dropped:
        notes.append(Message("mediation.missing_dropped", n=dropped))
    # every row kept: the panel itself (not validated and sorted again)
    eq = _Equations(panel if not dropped else Panel(sample, unit=unit, time=time),
                    dict(unit=unit, time=time, fe=fe, cluster=cluster, weights=weights,
                         vcov=vcov, **tkw))
    total = eq(y, list(controls))
    D = total.meta["treat_term"]
    c, sc = float(total.coef()[D]), float(total.se()[D])
    rows, steps = [], {}
    a_eq = {m: eq(m, list(controls)) for m in meds}
    for m in meds:
        full = eq(y, [m, *controls])
        steps[m] = [total, a_eq[m], full]
        rows.append(_effect_row(m, m, a_eq[m], full, total))
    if joint and len(meds) > 1:
        fullj = eq(y, [*meds, *controls])
        steps["joint"] = [total, *[a_eq[m] for m in meds], fullj]
        rows += [_effect_row(f"joint:{m}", m, a_eq[m], fullj, total) for m in meds]
    eff = pd.DataFrame(rows)
    eff["std_error"] = eff["sobel_se"]
    eff["statistic"] = eff["estimate"] / eff["sobel_se"]
    eff["p_value"] = eff["sobel_p"]
    meaningful = (np.sign(eff["estimate"]) == np.sign(c)) & (abs(c) > 2 * sc)
    eff["share"] = np.where(meaningful, eff["estimate"] / c, np.nan)
    if not meaningful.all():
        bad = eff.loc[~meaningful, "term"].tolist()
        notes.append(Message("mediation.share_not_reported", terms=bad))
    res = MediationResult(nobs=total.nobs, effects=eff, step_results=steps, notes=notes,
                          meta=RenamedKeys({"depvar": y, "treat_term": D, "mediators": meds,
                                "controls": list(controls), "cluster": total.meta["cluster"],
                                "vcov": total.meta["vcov"],
                                "vcov_label": total.meta["vcov_label"],
                                "cross_section": xsec,
                                "draws": bootstrap, "seed": seed, "level": level},
                                renamed={"bootstrap": "draws"}, where="MediationResult.meta"))
    rho_grid = np.round(np.arange(-0.9, 0.9001, 0.05), 10) if rho is None else np.asarray(
        rho, float)
    if np.any(np.abs(rho_grid) >= 1):
        raise SpecError("rho: the sensitivity parameter is a correlation, strictly inside "
                        "(-1, 1)")
    point, boot = _system_grams(total, meds, list(controls), bootstrap, seed, progress,
                                executor, None if dropped else (Zs, zs_names))
    _sensitivity(res, point, meds, rho_grid)
    _intervals(res, meds, joint and len(meds) > 1, bootstrap, level, rho_grid, boot)
    res.notes.append(Message("mediation.critique"))
    for w in eq.warnings:
        # a cross-section has one period: "treated in the first period" is no finding
        if not (xsec and message_key(w) in _PANEL_ONLY):
            res.warn(w)
    return res


_PANEL_ONLY = ("did.always_treated",)


def _lag_mediators(panel: Panel, meds: list[str], lags: dict[str, int]
                   ) -> tuple[Panel, list[str], list[str]]:
    """Each lagged mediator replaced by its lag column, with a note of the rows lost."""
    notes: list[str] = []
    for mname, k in lags.items():
        if mname not in meds:
            raise SpecError(f"lags: {mname!r} is not one of the mediators {meds}")
        before = int(panel.df[mname].notna().sum())
        panel = panel.lag(mname, k)
        lagged = f"{mname}_lag{k}"
        lost = before - int(panel.df[lagged].notna().sum())
        meds[meds.index(mname)] = lagged
        notes.append(Message("mediation.lagged", mediator=mname, k=k, lagged=lagged, lost=lost))
    return panel, meds, notes


def _intervals(res: MediationResult, meds: list[str], joint: bool, bootstrap: int,
               level: float, rho: np.ndarray, boot: tuple[np.ndarray, str] | None) -> None:
    """conf_low/conf_high: bootstrap percentile when drawn (``boot``: the draws' Gram
    matrices and how they were formed), else normal (Sobel SE)."""
    if boot is not None:
        _bootstrap(res, meds, joint, *boot, level, rho)
        res.effects["conf_low"] = res.effects["boot_low"]
        res.effects["conf_high"] = res.effects["boot_high"]
        res.meta["ci_method"] = f"cluster bootstrap percentile, {bootstrap} draws"
    else:
        q = special.ndtri(0.5 + level / 2)
        res.effects["conf_low"] = res.effects["estimate"] - q * res.effects["sobel_se"]
        res.effects["conf_high"] = res.effects["estimate"] + q * res.effects["sobel_se"]
        res.meta["ci_method"] = "normal with the Sobel SE"


class _Equations:
    """Fits the system's equations with did() on one sample; their referee warnings
    are collected (and emitted once, by mediation) instead of once per equation."""

    def __init__(self, sample: Panel, common: dict[str, Any]) -> None:
        from policylab.estimators.design import build_design

        common = dict(common)
        self.vcov = common.pop("vcov")
        # one design for every equation (the rows, treatment and facts are the same;
        # only the controls differ): the panel is checked once, not once per equation
        self.design = build_design(sample, **common)
        self.warnings: list[str] = []

    def __call__(self, dep: str, controls: list[str]) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PolicyLabWarning)
            r = did(self.design.replace(controls=controls), y=dep, vcov=self.vcov)
        for w in caught:  # others (numerical, pandas) pass through unchanged
            if not issubclass(w.category, PolicyLabWarning):
                warnings.warn(w.message, w.category, stacklevel=2)
        self.warnings.extend(r.warnings)
        return r


def _as_panel(data: Any, unit: str | None, time: str | None) -> tuple[Panel, bool]:
    """The data as a Panel, and whether it is a cross-section (one period; ``time=None``
    adds a constant period, ``unit=None`` too a row id)."""
    if isinstance(data, Panel):
        return data, data.df[data.time].nunique() == 1
    if time is None:
        df = as_pandas(data)
        extra = {"_period": 0} if unit is not None else {"_period": 0,
                                                          "_obs": np.arange(len(df))}
        clash = [c for c in extra if c in df.columns]
        if clash:
            raise SpecError(f"columns {clash} exist; give time= (and unit=) explicitly")
        df = df.assign(**extra)
        return Panel(df, unit=unit or "_obs", time="_period"), True
    if unit is None:
        raise SpecError("give unit= with time= (or neither, for a cross-section)")
    p = Panel(data, unit=unit, time=time)
    return p, p.df[time].nunique() == 1


def _system_matrix(total: Any, meds: list[str], controls: list[str],
                   pre: tuple[np.ndarray, list[str]] | None = None
                   ) -> tuple[np.ndarray, list[int]]:
    """The raw columns [y, D, mediators..., controls...] of the estimation sample (the
    controls' terms expanded by the regression's own reader, as in the fits), and the
    positions of the controls. ``pre``: [y, mediators..., controls...] already read
    from the rows the fits' data were built from (used when the fits kept every row of
    it: only D is read again)."""
    fit, D = total.fit, total.meta["treat_term"]
    if pre is not None and len(pre[0]) == len(fit.data) == len(fit.rows):
        Zs, zn = pre
        Z = np.empty((len(Zs), Zs.shape[1] + 1), order="F")
        Z[:, 0], Z[:, 2:] = Zs[:, 0], Zs[:, 1:]
        Z[:, 1] = fit.data[D].to_numpy(float)
        names = [zn[0], D, *zn[1:]]
    else:
        Z, names = build_matrix(fit.sample(), [total.meta["depvar"], D, *meds, *controls],
                                intercept=False)
    # control columns absorbed by the fixed effects (or collinear) left the regressions
    keep = [j for j, nm in enumerate(names) if j < 2 + len(meds) or nm in total.terms]
    return (Z if len(keep) == Z.shape[1] else Z[:, keep]), list(range(2 + len(meds),
                                                                      len(keep)))


def _boot_codes(total: Any) -> np.ndarray:
    """Integer codes of the resampled blocks: the clusters of a one-way clustered
    variance, else the units (which are the observations of a cross-section)."""
    cl = total.fit.cluster_codes
    if len(cl) == 1:
        return cl[0]
    if len(cl) > 1:
        raise SpecError("the mediation bootstrap resamples one clustering variable")
    return pd.factorize(total.fit.sample()[total.meta["unit"]])[0]


def _system_grams(total: Any, meds: list[str], controls: list[str], bootstrap: int,
                  seed: int | None, progress: bool, executor: Any,
                  pre: tuple[np.ndarray, list[str]] | None = None
                  ) -> tuple[np.ndarray, tuple[np.ndarray, str] | None]:
    """The Gram matrix of the demeaned [y, D, M..., controls] on the estimation sample
    (1 x k x k) and, with ``bootstrap`` draws, those of the cluster bootstrap's draws
    and how they were formed. The system's columns are read once, and the sample's
    matrix is the first row of the draws' (multiplicity 1 for every cluster): one pass
    of the resampling core serves both."""
    Z, _ = _system_matrix(total, meds, controls, pre)
    if not bootstrap:
        return _grams(total, Z, None)[0], None
    G = int(_boot_codes(total).max()) + 1
    Wc = cluster_multiplicities(G, bootstrap, seed)  # draws x G
    grams, method = _grams(total, Z, np.vstack([np.ones((1, G)), Wc]), progress, executor)
    return grams[:1], (grams[1:], method)


def _grams(total: Any, Z: np.ndarray, Wc: np.ndarray | None, progress: bool = False,
           executor: Any = None) -> tuple[np.ndarray, str]:
    """Weighted Gram matrices of the demeaned system columns ``Z`` for cluster
    multiplicities ``Wc`` (draws x clusters; the resampling core, chunked on
    ``executor``); ``None``: the estimation sample itself."""
    m = total.fit
    df = m.sample()
    if Wc is None:
        w = np.ones((1, len(Z))) if m.weights is None else m.weights[None, :]
        return bk.weighted_grams(Z, m.fe_codes, w), "estimation sample"
    cl = _boot_codes(total)
    unit_codes = pd.factorize(df[total.meta["unit"]])[0]
    time_codes = pd.factorize(df[total.meta["time"]])[0]
    twoway = (closed_form_twoway(unit_codes, time_codes, cl, m.weights)
              if sorted(total.meta["fe"]) == sorted([total.meta["unit"], total.meta["time"]])
              else None)
    g = GramDraws(Z, cl, m.fe_codes, m.weights, twoway)
    grams = weighted_gram_draws(g, Wc, executor=executor,
                                progress="mediation bootstrap" if progress else None)
    return grams, g.method


def _acme_curve(grams: np.ndarray, im: int, ictrl: list[int],
                rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Imai-Keele-Yamamoto (2010, Theorem 2) ACME(rho) for linear models, per Gram
    matrix: a * sigma1/sigma2 * (rho~ - rho * sqrt((1 - rho~^2) / (1 - rho^2))), with
    sigma1, sigma2 the residual SDs of the total-effect and mediator equations and rho~
    their correlation. Returns (draws x len(rho), rho~ per draw)."""
    a = bk.solve_stack(grams, im, [1, *ictrl])[:, 0]
    P = bk.partial_gram(grams, [0, im], [1, *ictrl])
    s11, s22, s12 = P[:, 0, 0], P[:, 1, 1], P[:, 0, 1]
    rt = s12 / np.sqrt(s11 * s22)
    scale = (a * np.sqrt(s11 / s22))[:, None]
    curve = scale * (rt[:, None] - rho[None, :] * np.sqrt((1 - rt[:, None] ** 2)
                                                          / (1 - rho[None, :] ** 2)))
    return curve, rt


def _sensitivity(res: MediationResult, point: np.ndarray, meds: list[str],
                 rho: np.ndarray) -> None:
    total_c = float(res.effects["c"].iloc[0])
    ictrl = list(range(2 + len(meds), point.shape[1]))
    frames = []
    rt_of = {}
    for j, med in enumerate(meds):
        curve, rt = _acme_curve(point, 2 + j, ictrl, rho)
        rt_of[med] = float(rt[0])
        frames.append(pd.DataFrame({"mediator": med, "rho": rho, "acme": curve[0],
                                    "ade": total_c - curve[0]}))
    res.sensitivity = pd.concat(frames, ignore_index=True)
    res.effects["rho_at_zero"] = res.effects["term"].map(rt_of)
    res.meta["sensitivity"] = (
        "Imai-Keele-Tingley ACME(rho) for linear models on the within-transformed data; "
        "rho is the correlation of the mediator- and outcome-equation errors (rho = 0 is "
        "sequential ignorability); rho_at_zero is where the ACME vanishes (an unobserved "
        "confounder explaining R2_M* x R2_Y* = rho_at_zero^2 of both residual variances)")


def _bootstrap(res: MediationResult, meds: list[str], joint: bool, grams: np.ndarray,
               method: str, level: float, rho: np.ndarray) -> None:
    draws = len(grams)
    ictrl = list(range(2 + len(meds), grams.shape[1]))
    iy, iD = 0, 1
    draws_out = {}
    curves = {}
    for j, med in enumerate(meds):
        im = 2 + j
        a = bk.solve_stack(grams, im, [iD, *ictrl])[:, 0]
        b = bk.solve_stack(grams, iy, [iD, im, *ictrl])[:, 1]
        draws_out[med] = a * b
        curves[med] = _acme_curve(grams, im, ictrl, rho)[0]
    if joint:
        ims = list(range(2, 2 + len(meds)))
        for j, med in enumerate(meds):
            a = bk.solve_stack(grams, 2 + j, [iD, *ictrl])[:, 0]
            b = bk.solve_stack(grams, iy, [iD, *ims, *ictrl])[:, 1 + j]
            draws_out[f"joint:{med}"] = a * b
    alpha = 1 - level
    eff = res.effects
    for key in ("boot_low", "boot_high", "bc_low", "bc_high", "boot_se"):
        eff[key] = np.nan
    bad = np.zeros(draws, dtype=bool)
    for d in draws_out.values():
        bad |= ~np.isfinite(d)
    if bad.all():
        raise EstimationError("every bootstrap draw was singular; check the controls")
    if bad.any():
        res.warn(Message("mediation.degenerate_draws", n=int(bad.sum()), draws=draws))
        draws_out = {k: v[~bad] for k, v in draws_out.items()}
        curves = {k: v[~bad] for k, v in curves.items()}
    for i, term in enumerate(eff["term"]):
        d = draws_out[term]
        est = eff.loc[i, "estimate"]
        eff.loc[i, ["boot_low", "boot_high"]] = np.quantile(d, [alpha / 2, 1 - alpha / 2])
        prop = np.clip(np.mean(d < est), 1 / (len(d) + 1), len(d) / (len(d) + 1))
        z0 = special.ndtri(prop)
        zq = special.ndtri(np.array([alpha / 2, 1 - alpha / 2]))
        eff.loc[i, ["bc_low", "bc_high"]] = np.quantile(d, special.ndtr(2 * z0 + zq))
        eff.loc[i, "boot_se"] = np.std(d, ddof=1)
    sens = res.sensitivity
    for med, curve in curves.items():
        rows = (sens["mediator"] == med).to_numpy()
        lo, hi = np.quantile(curve, [alpha / 2, 1 - alpha / 2], axis=0)
        sens.loc[rows, "acme_low"] = lo
        sens.loc[rows, "acme_high"] = hi
    res.boot_draws = draws_out
    res.meta["bootstrap_method"] = method

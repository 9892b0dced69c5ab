"""Callaway-Sant'Anna results: ATT(g,t) and their aggregations.

:class:`AttGtResult` keeps the unit influence functions of every ATT(g,t); the
aggregations (simple, dynamic, group, calendar), their analytic and multiplier-bootstrap
standard errors, the uniform bands and the bootstrap pre-test are all computed from
them (the bootstrap itself is :mod:`policylab.engine.multiplier`). ``att_gt`` in
:mod:`policylab.estimators.staggered` builds the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from policylab.engine.multiplier import (
    MULTIPLIERS,
    influence_sums,
    influence_vcov,
    multiplier_draws,
    robust_se,
    sup_t_crit,
)
from policylab.engine.threads import one_blas_thread
from policylab.errors import SpecError
from policylab.estimators.result import CoefResult, Result
from policylab.messages import Message
from policylab.validation import renamed_arg

__all__ = ["AggregateResult", "AttGtResult", "bootstrap_draws", "check_bootstrap",
           "pretest_cells"]


def check_bootstrap(draws: int, weights_type: str, columns: int) -> None:
    """Refuse bootstrap settings before any draw: an unknown multiplier law
    (``weights_type``), fewer than two draws, or draws x columns that would not fit in
    memory."""
    if weights_type not in MULTIPLIERS:
        raise SpecError("weights_type (the multiplier bootstrap's weights) must be 'mammen' "
                        f"or 'rademacher', got {weights_type!r}")
    if draws < 2:
        raise SpecError("draws must be at least 2")
    from policylab.validation import check_memory

    check_memory(8.0 * draws * columns, f"{draws:,} bootstrap draws x {columns} ATT(g,t)",
                 "use fewer draws")


def bootstrap_draws(S: np.ndarray, n: int, draws: int, seed: int | None,
                    weights_type: str, single: bool = True, chunk: int = 128) -> np.ndarray:
    """:func:`policylab.engine.multiplier.multiplier_draws` after
    :func:`check_bootstrap`."""
    check_bootstrap(draws, weights_type, S.shape[1])
    return multiplier_draws(S, n, draws, seed, weights_type, single, chunk)


def pretest_cells(cells: pd.DataFrame, G: np.ndarray, clusters: np.ndarray | None,
                   anticipation: int) -> tuple[np.ndarray, list[int]]:
    """Pre-treatment cells the pre-tests use, and the cohorts left out.

    A cohort whose treated units sit in a single cluster has no estimable sampling
    variance of its own (its part of the cluster-summed influence function is one
    number, centred to zero), so its pre-treatment ATT(g,t) would enter a Wald or
    sup-t statistic with only the comparison units' variance and look like a strong
    violation (castle doctrine: one-state cohorts, |t| up to 20). Those cells are left
    out and the cohorts named; R did keeps them and then reports no statistic.
    """
    g = cells["group"].to_numpy()
    pre = (cells["time"] < g - anticipation).to_numpy()
    thin = []
    for gg in np.unique(g[pre]):
        members = G == gg
        n_cl = (len(np.unique(clusters[members])) if clusters is not None
                else int(members.sum()))
        if n_cl < 2:
            thin.append(int(gg))
    return pre & ~np.isin(g, thin), thin


@dataclass
class AggregateResult(CoefResult):
    """An aggregation of ATT(g,t): the overall effect first, then by event time, group or
    period (``meta["type"]``). With the bootstrap, ``band_low``/``band_high`` give the
    simultaneous (sup-t) band over the by-values. ``inf`` holds the unit influence
    functions of the estimates (units x terms, scaled like ``AttGtResult.inf``)."""

    inf: np.ndarray | None = field(default=None, repr=False)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """term, by, estimate, std_error, ..., and the uniform band when bootstrapped."""
        t = super().tidy(level)
        t.insert(1, "by", self.meta["by_values"])
        if self.meta.get("band_crit") is not None:
            se = t["std_error"]
            t["band_low"] = t["estimate"] - self.meta["band_crit"] * se
            t["band_high"] = t["estimate"] + self.meta["band_crit"] * se
            t.loc[0, ["band_low", "band_high"]] = np.nan
        return t

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Event-study style plot of the dynamic aggregation."""
        from policylab.report.figures.staggered import aggregate_figure

        return aggregate_figure(self.tidy(), kind=self.meta["type"], lang=lang, **kw)


@dataclass
class AttGtResult(Result):
    """Group-time ATTs with their influence functions (one column per cell).

    ``inf`` holds the unit-level influence functions scaled so that the estimation
    error of cell k is approximately ``inf[:, k].mean()``; ``clusters`` maps each unit
    to its cluster (None: the unit itself); ``unit_weights`` holds the sampling weights
    (mean 1; None: unweighted). ``boot`` caches multiplier-bootstrap draws
    (draws x (cells + cohorts)) of the cell influence functions followed by the
    centred cohort indicators ``1[G = g] - P(G = g)``; every aggregation's influence
    function is a linear combination of these columns, so its draws are ``boot`` times
    a small matrix. ``boot_key`` = (draws, seed, weights) says which draws they are.
    """

    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    inf: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    unit_group: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pretest: dict[str, float] = field(default_factory=dict)
    clusters: np.ndarray | None = None
    unit_weights: np.ndarray | None = None
    boot: np.ndarray | None = field(default=None, repr=False)
    boot_key: tuple[int, int | None, str] | None = None

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """term "ATT(g,t)", group, time, estimate, std_error, statistic, p_value,
        conf_low, conf_high (pointwise) and, when bootstrapped, band_low/band_high (the
        simultaneous band R did reports)."""
        t = self.cells.copy()
        z = ndtri(0.5 + level / 2)
        t["statistic"] = t["estimate"] / t["std_error"]
        t["p_value"] = 2 * ndtr(-np.abs(t["statistic"]))
        t["conf_low"] = t["estimate"] - z * t["std_error"]
        t["conf_high"] = t["estimate"] + z * t["std_error"]
        crit = self.meta.get("band_crit")
        if crit is not None and level == self.meta.get("level"):
            t["band_low"] = t["estimate"] - crit * t["std_error"]
            t["band_high"] = t["estimate"] + crit * t["std_error"]
        t.insert(0, "term", [f"ATT({g},{tt})" for g, tt in zip(t["group"], t["time"])])
        return t

    def summary(self) -> str:
        """The ATT(g,t) table, the pre-test and the inference settings."""
        lines = [super().summary()]
        m = self.meta
        lines.append(f"  control group: {m['control_group']}; method: {m['method']}; "
                     f"base period: {m['base_period']}; anticipation: {m['anticipation']}")
        lines.append(f"  standard errors: {m['se_label']}")
        if self.pretest.get("statistic") is not None:
            lines.append(f"  pre-test of parallel trends (Wald, {self.pretest['df']} df): "
                         f"chi2 = {self.pretest['statistic']:.4g}, "
                         f"p = {self.pretest['p_value']:.5f}")
            if self.pretest.get("note"):
                lines.append(f"    {self.pretest['note']}")
        elif self.pretest:
            lines.append(f"  pre-test of parallel trends: not computable "
                         f"({self.pretest['reason']})")
        return "\n".join(lines)

    def pretest_bootstrap(self, draws: int | None = None, seed: int | None = None,
                          weights_type: str | None = None, *,
                          bootstrap_weights: str | None = None) -> dict[str, Any]:
        """Pre-test of parallel trends by the multiplier bootstrap (sup-t).

        The statistic is the largest |ATT(g,t)| / SE over the pre-treatment cells, its
        null distribution the same maximum over the multiplier-bootstrap draws of the
        cells (R did's ``mboot``, one multiplier per cluster, the draws ``att_gt``'s
        uniform band uses): the p-value is the share of draws at or above the
        statistic, so p < 1 - level exactly when the uniform band over the
        pre-treatment cells excludes zero somewhere. It needs no inverse of the
        covariance, so it exists where the Wald test's covariance is singular, and its
        critical value comes from the cluster-level draws rather than a chi-square.
        SEs are the bootstrap's (interquartile range / 1.349, as R did); cells with no
        bootstrap variation, and cohorts with a single treated cluster (as in
        ``pretest``), are left out.

        Parameters
        ----------
        draws, seed, weights_type : int, int, {"mammen", "rademacher"}, optional
            Default to those given to ``att_gt`` (999, None, "mammen"); the draws are
            shared with ``.aggregate()``'s bootstrap for the same settings.
        bootstrap_weights : optional
            Deprecated name of ``weights_type`` (accepted for one release).

        Returns
        -------
        dict
            test, statistic, p_value, n_cells (tested), draws, seed, weights; statistic
            and p_value None with a ``reason`` when no pre-treatment cell varies.
        """
        draws = int(draws or self.meta.get("draws", 999))
        seed = self.meta.get("seed") if seed is None else seed
        bw = renamed_arg(weights_type, bootstrap_weights, "weights_type", "bootstrap_weights",
                         "pretest_bootstrap", self._weights_type())
        c = self.cells
        pre, thin = pretest_cells(c, self.unit_group, self.clusters,
                                   self.meta.get("anticipation", 0))
        out: dict[str, Any] = {"test": "sup-t (multiplier bootstrap)", "draws": draws,
                               "seed": seed, "weights": bw, "n_cells": 0}
        if thin:
            out["excluded_cohorts"] = thin
        if not pre.any():
            return {**out, "statistic": None, "p_value": None,
                    "reason": Message("cs.pretest_boot_no_cells")}
        boot = self._draws(draws, seed, bw)[:, :self.inf.shape[1]][:, pre]
        se = robust_se(boot)
        ok = np.isfinite(se)
        if not ok.any():
            return {**out, "statistic": None, "p_value": None,
                    "reason": Message("cs.pretest_boot_no_variation")}
        a = c.loc[pre, "estimate"].to_numpy()[ok]
        stat = float(np.max(np.abs(a) / se[ok]))
        tmax = np.max(np.abs(boot[:, ok]) / se[ok], axis=1)
        return {**out, "statistic": stat, "p_value": float(np.mean(tmax >= stat)),
                "n_cells": int(ok.sum())}

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """ATT(g,t) by period, one panel per cohort (pre-periods in grey)."""
        from policylab.report.figures.staggered import att_gt_figure

        return att_gt_figure(self.tidy(), lang=lang, **kw)

    # -------------------------------------------------------------- bootstrap reuse
    def _cohorts(self) -> tuple[np.ndarray, np.ndarray]:
        """Cohorts with at least one cell and their shares P(G = g) among all units;
        with sampling weights w (mean 1) the weighted shares ``mean(w 1[G = g])``, as
        R did's ``pg``."""
        groups = np.unique(self.cells["group"].to_numpy())
        if self.unit_weights is None:
            share = np.array([np.mean(self.unit_group == gg) for gg in groups])
        else:
            share = np.array([np.mean(self.unit_weights * (self.unit_group == gg))
                              for gg in groups])
        return groups, share

    def _cohort_inf(self) -> np.ndarray:
        """Centred cohort indicators ``w 1[G = g] - P(G = g)`` (units x cohorts; w = 1
        unweighted): the influence functions of the cohort shares."""
        groups, share = self._cohorts()
        ind = self.unit_group[:, None] == groups[None, :]
        if self.unit_weights is None:
            return ind - share[None, :]
        return ind * self.unit_weights[:, None] - share[None, :]

    def _extended_inf(self) -> np.ndarray:
        """[cell influence functions, centred cohort indicators] (units x (cells +
        cohorts)): the basis every aggregation's influence function lives in."""
        return np.hstack([self.inf, self._cohort_inf()])

    def _draws(self, draws: int, seed: int | None, weights: str) -> np.ndarray:
        """Bootstrap draws of the extended basis; computed once per (draws, seed,
        weights) and kept, so ATT(g,t) and every aggregation share the same draws."""
        key = (int(draws), seed, weights)
        if self.boot is None or self.boot_key != key:
            E = self._extended_inf()
            self.boot = bootstrap_draws(influence_sums(E, self.clusters), E.shape[0],
                                        draws, seed, weights)
            self.boot_key = key
        return self.boot

    def _weights_type(self) -> str:
        # results made before the rename kept it under its old name
        return self.meta.get("weights_type", self.meta.get("bootstrap_weights", "mammen"))

    def aggregate(self, type: str = "dynamic", *, bootstrap: bool | None = None,
                  draws: int | None = None, seed: int | None = None,
                  weights_type: str | None = None, level: float = 0.95,
                  min_e: float = -np.inf, max_e: float = np.inf,
                  bootstrap_weights: str | None = None) -> AggregateResult:
        """Aggregate to "simple", "dynamic" (event time), "group" or "calendar" effects.

        Standard errors come from the influence functions, including the estimation of
        the group-share weights (as R ``did::aggte``), clustered like ``att_gt``. The
        bootstrap settings default to those given to ``att_gt``; with the bootstrap
        the SEs are the bootstrap's and ``band_low/band_high`` form the uniform band.
        The bootstrap reuses the multipliers ``att_gt`` drew when draws, seed and
        weights match (with ``seed=None`` too: then the aggregation shares att_gt's
        unseeded draws): an aggregation is linear in the cell influence functions and
        the cohort indicators, so its draws are those draws times a fixed matrix,
        identical to bootstrapping its own influence function with the same seed.
        ``min_e``/``max_e`` restrict the event times of the dynamic aggregation.
        ``weights_type`` is the multiplier distribution ("mammen", "rademacher");
        ``bootstrap_weights`` its deprecated name (accepted for one release).
        """
        bootstrap = self.meta.get("bootstrap", False) if bootstrap is None else bootstrap
        draws = draws or self.meta.get("draws", 999)
        seed = self.meta.get("seed") if seed is None else seed
        bw = renamed_arg(weights_type, bootstrap_weights, "weights_type", "bootstrap_weights",
                         "aggregate", self._weights_type())
        labels, ests, A, C = self._targets(type, min_e, max_e)
        H = self._cohort_inf()
        with one_blas_thread():
            F = self.inf @ A + H @ C
            V = influence_vcov(F, self.clusters)
        crit = None
        if bootstrap:
            D = self._draws(draws, seed, bw)
            with one_blas_thread():
                out = D @ np.vstack([A, C])
            se_b = robust_se(out)
            if len(ests) > 1:
                # the band covers the by-values; the overall effect is not part of it
                crit = sup_t_crit(out[:, 1:], se_b[1:], level)
            sd = np.sqrt(np.diag(V))
            scale = np.divide(se_b, sd, out=np.ones_like(sd), where=sd > 0)
            V = V * np.outer(scale, scale)
        terms = [f"{type}:{lab}" for lab in labels]
        return AggregateResult(
            nobs=self.nobs, terms=terms, beta=np.array(ests), vcov_matrix=V, df_t=None,
            inf=F,
            meta={**self.meta, "type": type, "by_values": labels, "band_crit": crit,
                  "bootstrap": bool(bootstrap), "draws": draws, "seed": seed,
                  "weights_type": bw, "level": level,
                  "rel_times": [lab for lab in labels[1:]] if type == "dynamic" else None,
                  "estimator": "Callaway-Sant'Anna", "ref": None})

    def _targets(self, type: str, min_e: float, max_e: float
                 ) -> tuple[list[Any], list[float], np.ndarray, np.ndarray]:
        """Labels, estimates and the linear maps of an aggregation.

        Returns ``(labels, estimates, A, C)``: the influence function of target j is
        ``inf @ A[:, j] + H @ C[:, j]`` with ``H`` the centred cohort indicators. The
        C part is R did's ``wif`` (estimating the weights P(G = g)): for weights
        ``p_k / s`` (s = sum of p over the cells used) and estimate theta it is
        ``sum_k (1[G = g_k] - p_k) (att_k - theta) / s``.
        """
        c = self.cells
        g, t = c["group"].to_numpy(), c["time"].to_numpy()
        att = c["estimate"].to_numpy()
        groups, pg_grp = self._cohorts()
        gidx = np.searchsorted(groups, g)
        pg = pg_grp[gidx]
        post = t >= g - self.meta.get("anticipation", 0)
        ncell, ngrp = len(att), len(groups)

        def combine(keep: np.ndarray, weights: np.ndarray, with_wif: bool
                    ) -> tuple[float, np.ndarray, np.ndarray]:
            idx = np.flatnonzero(keep)
            s = weights[idx].sum()
            a = np.zeros(ncell)
            a[idx] = weights[idx] / s
            est = float(att[idx] @ a[idx])
            cg = np.zeros(ngrp)
            if with_wif:
                np.add.at(cg, gidx[idx], (att[idx] - est) / s)
            return est, a, cg

        labels: list[Any] = []
        ests: list[float] = []
        As: list[np.ndarray] = []
        Cs: list[np.ndarray] = []

        def add(label: Any, est: float, a: np.ndarray, cg: np.ndarray) -> None:
            labels.append(label)
            ests.append(est)
            As.append(a)
            Cs.append(cg)

        if type == "simple":
            add("ATT", *combine(post, pg, True))
        elif type == "dynamic":
            et = t - g
            es = np.array([e for e in sorted(set(et)) if min_e <= e <= max_e])
            if not len(es):
                raise SpecError(f"no event times between min_e={min_e} and max_e={max_e}")
            for e in es:
                add(int(e), *combine(et == e, pg, True))
            nonneg = np.array(labels) >= 0
            if not nonneg.any():
                raise SpecError("the dynamic aggregation needs at least one event time >= 0")
            # overall: the plain mean of the non-negative event-time effects
            ov = float(np.mean(np.array(ests)[nonneg]))
            a = np.mean(np.array(As)[nonneg], axis=0)
            cg = np.mean(np.array(Cs)[nonneg], axis=0)
            labels, ests = ["ATT", *labels], [ov, *ests]
            As, Cs = [a, *As], [cg, *Cs]
        elif type == "group":
            for gg in groups:
                add(int(gg), *combine((g == gg) & post, np.ones_like(att), False))
            w = pg_grp / pg_grp.sum()
            ge = np.array(ests)
            ov = float(ge @ w)
            a = np.array(As).T @ w
            # weights over cohorts estimated: wif over the cohort columns directly
            cg = (ge - ov) / pg_grp.sum()
            labels, ests = ["ATT", *labels], [ov, *ests]
            As, Cs = [a, *As], [cg, *Cs]
        elif type == "calendar":
            periods = [tt for tt in sorted(set(t)) if tt >= groups.min()]
            for tt in periods:
                add(int(tt), *combine((t == tt) & post, pg, True))
            ov = float(np.mean(ests))
            a = np.mean(np.array(As), axis=0)
            cg = np.mean(np.array(Cs), axis=0)
            labels, ests = ["ATT", *labels], [ov, *ests]
            As, Cs = [a, *As], [cg, *Cs]
        else:
            raise SpecError(f"type must be simple, dynamic, group or calendar, got {type!r}")
        return labels, ests, np.column_stack(As), np.column_stack(Cs)

"""Moderation: treatment x (centred) moderator in the DID design, and the policy's
marginal effect across the moderator's range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from policylab.data.panel import require_columns
from policylab.estimators.design import as_design
from policylab.estimators.did import DIDResult, did

__all__ = ["moderation", "ModerationResult"]


@dataclass
class ModerationResult(DIDResult):
    """The interacted DID; ``marginal`` holds the policy's effect across the moderator."""

    marginal: pd.DataFrame = field(default_factory=pd.DataFrame)

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Marginal effect of the policy against the moderator, with CIs and the
        Johnson-Neyman bounds inside the plotted range."""
        from policylab.report.figures.mechanisms import marginal_effect_figure

        kw.setdefault("bounds", self.meta.get("johnson_neyman", ()))
        return marginal_effect_figure(self.marginal, moderator=self.meta["moderator"],
                                      lang=lang, **kw)


def moderation(
    data: Any,
    y: str,
    moderator: str,
    treat: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    controls: Sequence[str] = (),
    fe: Sequence[str] | None = None,
    cluster: str | None = None,
    *,
    cohort: str | None = None,
    roster: str | None = None,
    date: str = "announcement",
    assign: str | None = None,
    weights: str | None = None,
    center: bool = True,
    grid: int = 25,
    level: float = 0.95,
) -> ModerationResult:
    """DID with ``D x (M - mean M)``: the policy's effect as a function of a moderator.

    The coefficient of D is the effect at the mean moderator (``center=True``) or at
    M = 0; ``marginal`` evaluates b_D + b_int (m - mean) with CIs on a grid over the
    observed range of M (5th to 95th percentile); ``meta["johnson_neyman"]`` lists the
    moderator values where the CI of the marginal effect touches zero (the
    Johnson-Neyman bounds of the region of significance; empty when there are none).

    Parameters
    ----------
    data : Design, Panel or DataFrame
        A :class:`~policylab.estimators.design.Design` gives the treatment, controls,
        fixed effects, cluster, weights and sample (then give none of them here).
    moderator : str
        Numeric moderator column; time-varying moderators also enter as a main effect.
    center : bool
        Centre the moderator at its sample mean before interacting.
    grid : int
        Number of points of the marginal-effect curve.
    level : float
        Confidence level of the marginal-effect CIs.

    Other Parameters
    ----------------
    y, treat, unit, time, controls, fe, cluster, cohort, roster, date, assign, weights
        As in :func:`policylab.did`.
    """
    design = as_design(data, "moderation", unit=unit, time=time, treat=treat, cohort=cohort,
                       roster=roster, date=date, assign=assign, controls=controls, fe=fe,
                       cluster=cluster, weights=weights)
    df = design.df
    require_columns(df, [moderator])
    m = pd.to_numeric(df[moderator])
    mean = float(m.mean()) if center else 0.0
    D = design.treat_col
    inter = f"{D}_x_{moderator}"
    cen = f"{moderator}_c"
    df = df.assign(**{cen: m - mean, inter: df[D] * (m - mean)})
    # the same design (treatment, FE, cluster, weights, sample) with the two new terms
    base = did(design.replace(df=df, controls=[inter, cen, *design.controls]), y=y)
    V = base.vcov()
    grid_m = np.linspace(np.nanquantile(m, 0.05), np.nanquantile(m, 0.95), grid)
    x = grid_m - mean
    eff = base.coef()[D] + base.coef()[inter] * x
    se = np.sqrt(V.loc[D, D] + 2 * x * V.loc[D, inter] + x**2 * V.loc[inter, inter])
    q = (special.stdtrit(base.df_t, 0.5 + level / 2) if base.df_t
         else special.ndtri(0.5 + level / 2))
    marginal = pd.DataFrame({"moderator": grid_m, "effect": eff, "std_error": se,
                             "conf_low": eff - q * se, "conf_high": eff + q * se})
    fields_ = {k: getattr(base, k) for k in base.__dataclass_fields__}
    jn = _johnson_neyman(float(base.coef()[D]), float(base.coef()[inter]), V.loc[D, D],
                         V.loc[D, inter], V.loc[inter, inter], q)
    res = ModerationResult(**fields_, marginal=marginal)
    res.meta.update(moderator=moderator, moderator_mean=mean, interaction_term=inter,
                    johnson_neyman=[float(x + mean) for x in jn], level=level)
    return res


def _johnson_neyman(bd: float, bi: float, vdd: float, vdi: float, vii: float,
                    q: float) -> list[float]:
    """Centred moderator values x with (bd + bi x)^2 = q^2 Var(bd + bi x)."""
    A, B, C = bi**2 - q**2 * vii, 2 * (bd * bi - q**2 * vdi), bd**2 - q**2 * vdd
    if abs(A) < 1e-300:
        return [] if abs(B) < 1e-300 else [-C / B]
    disc = B**2 - 4 * A * C
    if disc < 0:
        return []
    r = np.sqrt(disc)
    return sorted({(-B - r) / (2 * A), (-B + r) / (2 * A)})

"""Moderation: treatment x (centred) moderator in the DID design, and the policy's
marginal effect across the moderator's range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from policylab.data.panel import Panel, require_columns
from policylab.estimators.design import build_design
from policylab.estimators.did import DIDResult, did

__all__ = ["moderation", "ModerationResult"]


@dataclass
class ModerationResult(DIDResult):
    """The interacted DID; ``marginal`` holds the policy's effect across the moderator."""

    marginal: pd.DataFrame = field(default_factory=pd.DataFrame)

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Marginal effect of the policy against the moderator, with CIs."""
        from policylab.report.figures.mechanisms import marginal_effect_figure

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
    center: bool = True,
    grid: int = 25,
    level: float = 0.95,
) -> ModerationResult:
    """DID with ``D x (M - mean M)``: the coefficient of D is the effect at the mean
    moderator; ``marginal`` evaluates b_D + b_int (m - mean) with CIs over the observed
    range of M (5th to 95th percentile)."""
    panel = data if isinstance(data, Panel) else Panel(data, unit=unit, time=time)
    design = build_design(panel, treat=treat, cohort=cohort, roster=roster, date=date,
                          assign=assign)
    df = design.df
    require_columns(df, [moderator])
    m = pd.to_numeric(df[moderator])
    mean = float(m.mean()) if center else 0.0
    D = design.treat_col
    inter = f"{D}_x_{moderator}"
    cen = f"{moderator}_c"
    df = df.assign(**{cen: m - mean, inter: df[D] * (m - mean)})
    base = did(Panel(df, unit=panel.unit, time=panel.time), y=y, treat=D,
               controls=[inter, cen, *controls], fe=fe, cluster=cluster,
               assign=design.assign)
    V = base.vcov()
    grid_m = np.linspace(np.nanquantile(m, 0.05), np.nanquantile(m, 0.95), grid)
    x = grid_m - mean
    eff = base.coef()[D] + base.coef()[inter] * x
    se = np.sqrt(V.loc[D, D] + 2 * x * V.loc[D, inter] + x**2 * V.loc[inter, inter])
    q = stats.t.ppf(0.5 + level / 2, base.df_t) if base.df_t else stats.norm.ppf(0.5 + level / 2)
    marginal = pd.DataFrame({"moderator": grid_m, "effect": eff, "std_error": se,
                             "conf_low": eff - q * se, "conf_high": eff + q * se})
    fields_ = {k: getattr(base, k) for k in base.__dataclass_fields__}
    res = ModerationResult(**fields_, marginal=marginal)
    res.meta.update(moderator=moderator, moderator_mean=mean, interaction_term=inter)
    return res

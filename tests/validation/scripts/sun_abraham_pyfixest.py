"""Oracle: Sun-Abraham with non-default fixed effects and observation weights, from an
explicit pyfixest 0.60 regression on cohort x relative-time dummies plus a hand
aggregation (independent of policylab's sun_abraham).

pyfixest's own saturated event study (``pf.event_study(..., estimator="saturated")``,
used for the unweighted unit + year case in imputation_pyfixest.py) takes neither
weights nor other fixed effects. So here the dummies ``1[cohort = g, year - g = e]``
(every treated cohort g and observed e except the reference e = -1; never-treated
units all zero) are built by hand and passed to ``pf.feols`` with the fixed effects
and weights of each case, CRV1 by unit. Each event time's estimate is the
share-weighted sum of its cohorts' coefficients, the shares being the summed weights
of each cohort's rows at that event time over the estimation sample (fixest's
``aggregate(use_weights = TRUE)``: ``colSums(w * sign(X))``; counts when unweighted),
and its SE is ``sqrt(R V R')``.

Check of the route itself: on mpdta with unit + year and no weights, it reproduces
pyfixest's saturated event study aggregated with shares (stored as
``route_check_max_rel_diff``).

Data: tests/validation/data/imputation_fe.csv (written by imputation_pyfixest.py: 240
units in 4 regions, 2001-2012, cohorts 2004/2006/2008/2010 and never treated,
unbalanced, control ``x``, row-level weights ``w``). The region x year effect is a
precomputed ``region_year`` column (policylab: ``fe="unit + region^year"``).

    /tmp/pfvenv/bin/python tests/validation/scripts/sun_abraham_pyfixest.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf

HERE = Path(__file__).resolve().parents[1]


def saturated(d: pd.DataFrame, y: str, unit: str, time: str, cohort: str, fe: str,
              weights: str | None = None, controls: tuple[str, ...] = ()) -> dict:
    """Explicit interacted regression + share aggregation."""
    d = d.reset_index(drop=True).copy()
    g = d[cohort].to_numpy()
    rel = np.where(g > 0, d[time].to_numpy() - g, -9999)
    cols, key = [], []
    for gg in sorted(set(g[g > 0])):
        for e in sorted(set(rel[g == gg])):
            if e == -1:
                continue
            nm = f"D_{int(gg)}_{'m' if e < 0 else 'p'}{abs(int(e))}"
            d[nm] = ((g == gg) & (rel == e)).astype(float)
            cols.append(nm)
            key.append((int(gg), int(e)))
    rhs = " + ".join(cols + list(controls))
    fit = pf.feols(f"{y} ~ {rhs} | {fe}", data=d, vcov={"CRV1": unit}, weights=weights,
                   fixef_tol=1e-14)
    coef, V = fit.coef(), fit._vcov
    names = list(coef.index)
    kept = [c for c in cols if c in names]
    assert kept == cols, f"pyfixest dropped {set(cols) - set(kept)}"
    # estimation sample (rows pyfixest kept): its data frame index
    used = d.loc[fit._data.index]
    w = np.ones(len(used)) if weights is None else used[weights].to_numpy(float)
    mass = {c: float(w @ used[c].to_numpy()) for c in cols}
    rels = sorted({e for _, e in key})
    est, se = [], []
    for e in rels:
        R = np.zeros(len(names))
        idx = [names.index(c) for c, (_, ee) in zip(cols, key) if ee == e]
        tot = sum(mass[names[i]] for i in idx)
        for i in idx:
            R[i] = mass[names[i]] / tot
        est.append(float(R @ coef.to_numpy()))
        se.append(float(np.sqrt(R @ np.asarray(V) @ R)))
    return {"rel": rels, "estimate": est, "se": se, "nobs": int(fit._N),
            "cohort_terms": cols, "cohort_coef": [float(coef[c]) for c in cols],
            "cohort_mass": [mass[c] for c in cols]}


def main() -> None:
    out: dict[str, object] = {"pyfixest_version": pf.__version__}
    # the route against pyfixest's own saturated event study (unit + year, unweighted)
    m = pd.read_csv(HERE / "data" / "mpdta.csv")
    mine = saturated(m, "lemp", "countyreal", "year", "first.treat", "countyreal + year")
    sa = pf.event_study(m, yname="lemp", idname="countyreal", tname="year",
                        gname="first.treat", estimator="saturated", cluster="countyreal")
    agg = sa.aggregate(agg="period", weighting="shares")
    assert [int(v) for v in agg.index] == mine["rel"]
    diff = max(np.max(np.abs(np.array(mine["estimate"])
                             / agg["Estimate"].astype(float).to_numpy() - 1)),
               np.max(np.abs(np.array(mine["se"])
                             / agg["Std. Error"].astype(float).to_numpy() - 1)))
    out["route_check_max_rel_diff"] = float(diff)
    assert diff < 1e-8, diff

    g = pd.read_csv(HERE / "data" / "imputation_fe.csv")
    g["region_year"] = g["region"] * 10_000 + g["year"]
    kw = dict(y="y", unit="unit", time="year", cohort="cohort")
    out["sa_weights"] = saturated(g, **kw, fe="unit + year", weights="w")
    out["sa_fe_region_year"] = saturated(g, **kw, fe="unit + region_year")
    out["sa_fe_region_year_weights"] = saturated(g, **kw, fe="unit + region_year",
                                                 weights="w")
    out["sa_fe_region_year_x_weights"] = saturated(g, **kw, fe="unit + region_year",
                                                   weights="w", controls=("x",))
    (HERE / "oracles" / "sun_abraham_pyfixest.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: (v if not isinstance(v, dict) else v["estimate"][:4])
                      for k, v in out.items()}, indent=1))


if __name__ == "__main__":
    main()

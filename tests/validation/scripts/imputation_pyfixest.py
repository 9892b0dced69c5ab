"""Oracle: Gardner's two-stage DID (point estimates and GMM SEs, clustered by unit) and
the Sun-Abraham saturated event study from pyfixest 0.60.

1. mpdta (tests/validation/data/mpdta.csv; never treated have first.treat = 0) without
   the 2004 cohort: its counties have a single untreated year, which pyfixest's first
   stage drops as singletons and then fails on. Default first stage (county + year),
   with and without a control.
2. A generated staggered design (tests/validation/data/imputation_fe.csv, written by
   ``make_design`` below with a fixed seed): 240 units in 4 regions, 2001-2012,
   cohorts 2004/2006/2008/2010 and never treated, unbalanced after 2004, a control
   ``x`` and row-level weights ``w`` that vary within units. did2s with the first
   stage ``~ 0 | unit + region_year`` (policylab: ``fe="unit + region^year"``), with
   weights, and with both (ATT and event study).

pyfixest recovers the first-stage fixed effects with scipy's lsqr at atol = btol = 1e-6
by default, which moves its points by up to 2.6e-4 (relative) on mpdta; here
``Feols.fixef`` runs at 1e-14 and the first stage demeans to 1e-14, so the oracle is
exact to ~1e-12. The interacted FE is
passed as a precomputed ``region_year`` column: pyfixest 0.60's did2s refuses
``region^year`` in the first stage ("The fixef() method is currently not supported for
models with '^' transformations").

    /tmp/pfvenv/bin/python tests/validation/scripts/imputation_pyfixest.py
"""

from __future__ import annotations

import functools
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf
from pyfixest.estimation.models.feols_ import Feols

HERE = Path(__file__).resolve().parents[1]

_fixef = Feols.fixef


def _tight_fixef(self: Feols, atol: float = 1e-14, btol: float = 1e-14) -> object:
    return _fixef(self, atol=atol, btol=btol)


Feols.fixef = _tight_fixef  # type: ignore[method-assign]
pf_did2s = importlib.import_module("pyfixest.did.did2s")
pf_did2s.feols = functools.partial(pf_did2s.feols, fixef_tol=1e-14, fixef_maxiter=100_000)


def make_design(seed: int = 20240607) -> pd.DataFrame:
    """Staggered adoption with region-by-year shocks, unbalanced, weighted."""
    rng = np.random.default_rng(seed)
    n_units, years = 240, np.arange(2001, 2013)
    unit = np.arange(1, n_units + 1)
    region = rng.integers(1, 5, n_units)
    cohort = rng.choice([0, 2004, 2006, 2008, 2010], n_units, p=[0.3, 0.15, 0.2, 0.2, 0.15])
    cohort[:8] = 0  # never-treated units in every region
    region[:8] = np.repeat([1, 2, 3, 4], 2)
    pop = rng.lognormal(0.0, 0.6, n_units)
    alpha = rng.normal(0, 1, n_units)
    shock = rng.normal(0, 0.5, (5, len(years)))  # region x year
    d = pd.DataFrame({"unit": np.repeat(unit, len(years)),
                      "year": np.tile(years, n_units)})
    d["region"] = np.repeat(region, len(years))
    d["cohort"] = np.repeat(cohort, len(years))
    ui = d["unit"].to_numpy() - 1
    ti = d["year"].to_numpy() - years[0]
    d["x"] = rng.normal(0, 1, len(d)) + 0.3 * ti / 10 + 0.5 * alpha[ui]
    g = d["cohort"].to_numpy()
    on = (g > 0) & (d["year"].to_numpy() >= g)
    h = np.where(on, d["year"].to_numpy() - g, 0)
    effect = np.where(on, 0.4 + 0.08 * h + 0.1 * (g == 2006) + rng.normal(0, 0.2, len(d)), 0)
    d["y"] = (alpha[ui] + shock[d["region"].to_numpy(), ti] + 0.7 * d["x"] + effect
              + rng.normal(0, 0.3, len(d)))
    d["w"] = pop[ui] * (1 + 0.3 * rng.uniform(size=len(d)))
    # unbalanced: drop 6 % of rows from 2005 on (every cohort keeps >= 3 untreated rows)
    drop = (d["year"] >= 2005) & (rng.uniform(size=len(d)) < 0.06)
    d = d.loc[~drop].reset_index(drop=True)
    d["region_year"] = d["region"] * 10_000 + d["year"]
    return d.round({"x": 10, "y": 10, "w": 10})


def _fit(d: pd.DataFrame, first: str, second: str, weights: str | None = None) -> dict:
    fit = pf.did2s(d, yname="y", first_stage=first, second_stage=second, treatment="D",
                   cluster="unit", weights=weights)
    return {"coef": fit.coef().tolist(), "se": fit.se().tolist(),
            "terms": list(fit.coef().index)}


def main() -> None:
    out: dict[str, object] = {}
    d = pd.read_csv(HERE / "data" / "mpdta.csv")
    d = d[d["first.treat"] != 2004].reset_index(drop=True)
    g = d["first.treat"]
    d["D"] = ((g > 0) & (d.year >= g)).astype(bool)
    d["lpop_trend"] = d["lpop"] * (d.year - 2003) / 10  # lpop is time-invariant
    d["h"] = np.where(d["D"], d.year - g, -1000)
    att = pf.did2s(d, yname="lemp", first_stage="~ 0 | countyreal + year",
                   second_stage="~ D", treatment="D", cluster="countyreal")
    out["did2s_att"] = {"coef": att.coef().tolist(), "se": att.se().tolist(),
                        "terms": list(att.coef().index)}
    es = pf.did2s(d, yname="lemp", first_stage="~ 0 | countyreal + year",
                  second_stage="~ i(h, ref=-1000)", treatment="D", cluster="countyreal")
    out["did2s_es"] = {"coef": es.coef().tolist(), "se": es.se().tolist(),
                       "terms": list(es.coef().index)}
    att_x = pf.did2s(d, yname="lemp", first_stage="~ lpop_trend | countyreal + year",
                     second_stage="~ D", treatment="D", cluster="countyreal")
    out["did2s_att_lpop_trend"] = {"coef": att_x.coef().tolist(), "se": att_x.se().tolist()}
    # Sun-Abraham: pyfixest's saturated event study (cohort x relative-time dummies,
    # never treated as controls) aggregated with cohort shares, on the full mpdta
    full = pd.read_csv(HERE / "data" / "mpdta.csv")
    sa = pf.event_study(full, yname="lemp", idname="countyreal", tname="year",
                        gname="first.treat", estimator="saturated", cluster="countyreal")
    agg = sa.aggregate(agg="period", weighting="shares")
    out["sun_abraham"] = {"rel": [int(v) for v in agg.index],
                          "estimate": agg["Estimate"].astype(float).tolist(),
                          "se": agg["Std. Error"].astype(float).tolist(),
                          "cohort_terms": list(sa.coef().index),
                          "cohort_coef": sa.coef().tolist(), "cohort_se": sa.se().tolist()}

    # --- generated design: non-default first stage and weights
    path = HERE / "data" / "imputation_fe.csv"
    design = make_design()
    design.drop(columns="region_year").to_csv(path, index=False)
    g = pd.read_csv(path)  # exactly the numbers the test reads
    g["region_year"] = g["region"] * 10_000 + g["year"]
    g["D"] = (g["cohort"] > 0) & (g["year"] >= g["cohort"])
    g["h"] = np.where(g["D"], g["year"] - g["cohort"], -1000)
    es2 = "~ i(h, ref=-1000)"
    out["fe_region_year_att"] = _fit(g, "~ 0 | unit + region_year", "~ D")
    out["fe_region_year_es"] = _fit(g, "~ 0 | unit + region_year", es2)
    out["fe_region_year_x_att"] = _fit(g, "~ x | unit + region_year", "~ D")
    out["weights_att"] = _fit(g, "~ 0 | unit + year", "~ D", weights="w")
    out["weights_es"] = _fit(g, "~ 0 | unit + year", es2, weights="w")
    out["fe_region_year_weights_att"] = _fit(g, "~ 0 | unit + region_year", "~ D",
                                             weights="w")
    out["fe_region_year_weights_es"] = _fit(g, "~ 0 | unit + region_year", es2,
                                            weights="w")
    out["fe_region_year_x_weights_att"] = _fit(g, "~ x | unit + region_year", "~ D",
                                               weights="w")
    out["pyfixest_version"] = pf.__version__
    (HERE / "oracles" / "imputation_pyfixest.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

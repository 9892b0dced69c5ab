"""Oracle: event-study coefficients, SEs and the joint lead test from pyfixest, with the
relative-time dummies built by pyfixest's own ``i(rel, ref=...)`` (never-treated units
put in the reference category, which sets all their dummies to zero). Writes
tests/validation/oracles/event_study_pyfixest.json.

    python tests/validation/scripts/event_study_pyfixest.py

Cases: the castle-doctrine state panel (tests/validation/data/castle.csv, staggered
2006-2010) with binned endpoints and the reference at -1 or at the first period; mpdta
(tests/validation/data/mpdta.csv) without binning (treated rows outside the window
dropped); the unbalanced energy-rights city panel with a control and province clusters.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf

from policylab.data.datasets import energy_rights_pilot

HERE = Path(__file__).resolve().parents[1]
OUT = HERE / "oracles" / "event_study_pyfixest.json"


def rel_time(df: pd.DataFrame, cohort: str, time: str, window: tuple[int, int], ref: int,
             binned: bool) -> pd.DataFrame:
    rel = np.where(df[cohort] > 0, df[time] - df[cohort], np.nan)
    lo, hi = window
    if binned:
        rel = np.clip(rel, lo, hi)
    else:
        keep = np.isnan(rel) | ((rel >= lo) & (rel <= hi))
        df, rel = df.loc[keep], rel[keep]
    return df.assign(rel=np.nan_to_num(rel, nan=ref).astype(int))


def fit(df: pd.DataFrame, y: str, ref: int, fe: str, cluster: str, controls: str = "") -> dict:
    m = pf.feols(f"{y} ~ i(rel, ref={ref}){controls} | {fe}", df, vcov={"CRV1": cluster},
                 fixef_tol=1e-12)
    coef = {int(k.split("::")[1]): v for k, v in m.coef().items() if k.startswith("rel::")}
    se = {int(k.split("::")[1]): v for k, v in m.se().items() if k.startswith("rel::")}
    names = list(m.coef().index)
    leads = [i for i, k in enumerate(names) if k.startswith("rel::") and int(k[5:]) < 0]
    R = np.eye(len(names))[leads]
    # pyfixest switches to the chi-square form when R is not the identity: statistic = W
    w = m.wald_test(R=R)
    return {"coef": coef, "se": se, "nobs": int(m._N), "lead_wald_chi2": float(w["statistic"]),
            "lead_wald_q": len(leads)}


def main() -> None:
    out = {"pyfixest": pf.__version__}
    castle = pd.read_csv(HERE / "data" / "castle.csv")
    for ref in (-1, -6):
        d = rel_time(castle, "effyear", "year", (-6, 3), ref, binned=True)
        out[f"castle_ref{ref}"] = fit(d, "l_homicide", ref, "sid + year", "sid")
    mp = pd.read_csv(HERE / "data" / "mpdta.csv")
    d = rel_time(mp, "first.treat", "year", (-3, 3), -1, binned=False)
    out["mpdta_unbinned"] = fit(d, "lemp", -1, "countyreal + year", "countyreal")
    e = energy_rights_pilot(unbalanced=0.1, seed=5).df
    d = rel_time(e, "cohort", "year", (-4, 3), -1, binned=True)
    out["energy_unbalanced"] = fit(d, "ln_ntt", -1, "city + year", "province", " + ln_pgdp")
    OUT.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Oracle: Callaway-Sant'Anna with sampling weights on mpdta from moderndid 0.2 (the
Python port of R ``did``; ``weightsname=`` as R's), analytic SEs and a multiplier
bootstrap.

The weights are a generated unit-level column (constant within counties, as att_gt
requires for panel data), written with the county id to
tests/validation/data/mpdta_weights.csv by ``make_weights`` below (fixed seed): a
lognormal draw times 1.5 for the more populous half of the counties, so weighting
moves the estimates. Cases: unconditional and doubly robust with ``~ lpop`` (the
covariate in R did's mpdta example), never- and not-yet-treated controls; ipw and
reg with never-treated controls; ATT(g,t), the pre-test and the simple, dynamic,
group and calendar aggregations.

moderndid 0.2 estimates the weighted ATT(g,t) and influence functions as R did, but its
``att_gt`` hands ``aggte`` no unit weights: it looks the raw weight column up in
``time_invariant_data``, which holds only the normalised ``weights`` column, so
``MPResult.weights_ind`` is None and ``aggte`` falls back to unweighted group shares.
R did's ``compute.aggte`` weights them (``weights.ind <- dta$w``;
``pg <- mean(weights.ind * (G == g))``, and the same weights in ``wif``). So the
script puts the unit weights back (``_with_weights``, aligned with ``MPResult.G`` from
moderndid's own preprocessing) before calling ``aggte``: the aggregations are then
moderndid's port of R's formulas with R's weights. The unpatched numbers are kept
under ``aggregations_without_weights`` for reference. A bootstrap case (20,000 draws, clustered by county,
unconditional, never-treated) gives SEs and sup-t critical values to compare within
Monte Carlo error.

    /tmp/csvenv/bin/python tests/validation/scripts/cs_moderndid_weights.py
"""

from __future__ import annotations

import json
from pathlib import Path

import moderndid
import numpy as np
import pandas as pd
import polars as pl
from moderndid import aggte, att_gt
from moderndid.core.preprocess import (
    BasePeriod,
    ControlGroup,
    DIDConfig,
    EstimationMethod,
    PreprocessDataBuilder,
)

HERE = Path(__file__).resolve().parents[1]
BITERS = 20_000


def make_weights(seed: int = 20240611) -> pd.DataFrame:
    """One weight per county: lognormal(0, 0.5), times 1.5 above the median lpop."""
    d = pd.read_csv(HERE / "data" / "mpdta.csv")
    u = d.drop_duplicates("countyreal").sort_values("countyreal")
    rng = np.random.default_rng(seed)
    w = rng.lognormal(0.0, 0.5, len(u)) * np.where(u["lpop"] > u["lpop"].median(), 1.5, 1.0)
    return pd.DataFrame({"countyreal": u["countyreal"].to_numpy(), "w": np.round(w, 10)})


CASES = {
    "never_nocov": dict(est_method="reg", control_group="nevertreated"),
    "notyet_nocov": dict(est_method="reg", control_group="notyettreated"),
    "never_lpop_dr": dict(est_method="dr", control_group="nevertreated", xformla="~lpop"),
    "notyet_lpop_dr": dict(est_method="dr", control_group="notyettreated", xformla="~lpop"),
    "never_lpop_ipw": dict(est_method="ipw", control_group="nevertreated", xformla="~lpop"),
    "never_lpop_reg": dict(est_method="reg", control_group="nevertreated", xformla="~lpop"),
}


def _with_weights(r, d: pl.DataFrame, kw: dict):
    """The MPResult with ``weights_ind`` set to the unit weights in moderndid's unit
    order (its own preprocessing, as inside att_gt), as R did's aggte uses them."""
    config = DIDConfig(yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                       xformla=kw.get("xformla", "~1"), weightsname="w",
                       control_group=ControlGroup(kw["control_group"]),
                       est_method=EstimationMethod(kw["est_method"]),
                       base_period=BasePeriod("varying"))
    dp = PreprocessDataBuilder().with_data(d).with_config(config).validate().transform().build()
    tid = dp.time_invariant_data
    assert np.array_equal(tid["first.treat"].to_numpy(), np.asarray(r.G))
    return r._replace(weights_ind=tid["weights"].to_numpy())


def main() -> None:
    path = HERE / "data" / "mpdta_weights.csv"
    make_weights().to_csv(path, index=False)
    w = pd.read_csv(path)  # exactly the numbers the test reads
    d = pd.read_csv(HERE / "data" / "mpdta.csv").merge(w, on="countyreal", how="left")
    assert d["w"].notna().all()
    d = pl.from_pandas(d)
    out: dict[str, object] = {"moderndid_version": moderndid.__version__}
    for label, kw in CASES.items():
        r0 = att_gt(data=d, yname="lemp", tname="year", idname="countyreal",
                    gname="first.treat", weightsname="w", boot=False, **kw)
        assert r0.weights_ind is None  # see the module docstring
        r = _with_weights(r0, d, kw)
        rec = {"cell_group": np.asarray(r.groups).tolist(),
               "cell_time": np.asarray(r.times).tolist(),
               "att": np.asarray(r.att_gt).tolist(), "se": np.asarray(r.se_gt).tolist(),
               "pretest_p": float(getattr(r, "wald_pvalue", np.nan) or np.nan)}
        for agg in ("simple", "dynamic", "group", "calendar"):
            a = aggte(r, type=agg, boot=False)
            rec[agg] = {"overall_att": float(a.overall_att),
                        "overall_se": float(a.overall_se)}
            if agg != "simple":
                rec[agg]["egt"] = np.asarray(a.event_times).tolist()
                rec[agg]["att"] = np.asarray(a.att_by_event).tolist()
                rec[agg]["se"] = np.asarray(a.se_by_event).tolist()
        rec["aggregations_without_weights"] = {
            agg: float(aggte(r0, type=agg, boot=False).overall_att)
            for agg in ("simple", "dynamic", "group", "calendar")}
        out[label] = rec
    bkw = dict(est_method="reg", control_group="nevertreated")
    r = att_gt(data=d, yname="lemp", tname="year", idname="countyreal",
               gname="first.treat", weightsname="w", boot=True, biters=BITERS, cband=True,
               random_state=20240611, **bkw)
    r = _with_weights(r, d, bkw)
    a = aggte(r, type="dynamic", boot=True, biters=BITERS, cband=True,
              random_state=20240611)
    out["boot"] = {"biters": BITERS, "se": np.asarray(r.se_gt).tolist(),
                   "crit": float(r.critical_value),
                   "dyn_se": np.asarray(a.se_by_event).tolist(),
                   "dyn_overall_se": float(a.overall_se),
                   "dyn_crit": np.asarray(a.critical_values).tolist()}
    (HERE / "oracles" / "cs_moderndid_weights.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: (v["att"][:3], v["simple"]) for k, v in out.items()
                      if k in CASES}, indent=1))


if __name__ == "__main__":
    main()

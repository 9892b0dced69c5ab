"""Write docs/validity.md: coverage and test size on both reference designs.

    python scripts/validity_table.py [--reps 200] [--draws 199] [--executor processes]

Design-based Monte Carlo (:func:`policylab.simulate`) on the bundled data of each
reference study: the real regressors, fixed effects, treatment and clusters are kept,
the effect is set to zero, and each replication hands every unit the residual series of
another unit. Each replication records whether each interval covers the truth and
whether each joint pre-trend test rejects at 5%.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

import policylab as pl

OUT = Path(__file__).resolve().parents[1] / "docs" / "validity.md"

DESIGNS = {
    "carbon": dict(
        title="Carbon-trading pilots: 30 provinces x 2000-2018, 6 treated provinces "
              "(clusters: provinces)",
        data=lambda: pl.datasets.carbon_pilot(), y="ln_co2", treat="did",
        controls=["ln_gdp", "fdi"], cluster="province", window=(-6, 6)),
    "energy": dict(
        title="Energy-use-rights pilots: 256 cities x 2006-2019, cities of 4 treated "
              "provinces (clusters and assignment: provinces; cities of the overlapping "
              "carbon pilot excluded)",
        data=lambda: _energy(), y="ln_ntt", treat="did",
        controls=["ln_pgdp", "urban", "fiscal", "tertiary"], cluster="province",
        assign="province", window=(-6, 2)),
}

LABELS = {("effect", "crv1"): "CRV1 t interval (cluster-robust, G-1 df)",
          ("effect", "wild"): "Wild cluster bootstrap interval (WCR, Webb)",
          ("effect", "ri"): "Randomization inference (test inversion)",
          ("pretrend", "wald"): "Joint lead test: CRV1 Wald (F)",
          ("pretrend", "wild"): "Joint lead test: wild cluster bootstrap (WCR, Webb)",
          ("pretrend", "ri"): "Joint lead test: randomization inference (pre-adoption years)"}


def _energy() -> pd.DataFrame:
    df = pl.datasets.energy_rights_pilot().df
    overlap = df.groupby("city")["carbon_pilot"].transform("max") > 0
    return df[~overlap].reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--draws", type=int, default=199)
    ap.add_argument("--executor", default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore", pl.PolicyLabWarning)
    sections = []
    for d in DESIGNS.values():
        t0 = time.perf_counter()
        data = d["data"]()
        kw = {k: d[k] for k in ("treat", "controls", "cluster") if k in d}
        if "assign" in d:
            kw["assign"] = d["assign"]
        if isinstance(data, pd.DataFrame):
            kw.update(unit="city", time="year")
        res = pl.simulate(data, y=d["y"], truth=0.0, reps=args.reps, draws=args.draws,
                          pretrend_window=d["window"], seed=2026, executor=args.executor,
                          **kw)
        t = res.tidy()
        lines = [f"### {d['title']}", "",
                 f"{args.reps} replications, {args.draws} bootstrap / randomization draws "
                 f"each, errors: {res.meta['errors']}; {time.perf_counter() - t0:.0f} s.", "",
                 "| method | coverage of the 95% interval | rejects a true null at 5% | "
                 "Monte Carlo SE |", "|---|---|---|---|"]
        for row in t.itertuples():
            cov = "" if pd.isna(row.coverage) else f"{100 * row.coverage:.1f}%"
            lines.append(f"| {LABELS[(row.target, row.method)]} | {cov} | "
                         f"{100 * row.rejection_rate:.1f}% | {100 * row.mc_se:.1f} |")
        e = t[t["target"] == "effect"].iloc[0]
        lines += ["", f"Point estimate: bias {e['bias']:+.4f}, RMSE {e['rmse']:.4f} "
                  "(true effect 0).", ""]
        sections.append("\n".join(lines))
    text = HEADER + "\n" + "\n".join(sections) + FOOTER
    OUT.write_text(text, encoding="utf-8")
    print(text)


HEADER = """# Validity: do the intervals cover, do the tests hold their size?

Both reference studies have few treated clusters: 6 treated of 30 provinces (carbon
trading), 4 treated provinces of 30 for 256 cities (energy-use rights). Cluster-robust
(CRV1) standard errors and Wald tests are known to be too optimistic there (MacKinnon
and Webb 2017, 2020). This page measures it on the studies' own designs with
`pl.simulate` (or `policylab simulate spec.toml`): the real regressors, fixed effects,
treatment and clusters are kept, the true effect is set to zero, and each replication
hands every unit the residual series of another unit (so serial correlation and the
spread of the residuals are those of the data). A method that holds its size rejects a
true null in about 5% of replications (within two Monte Carlo SEs).

Regenerate with `python scripts/validity_table.py` (this file is its output).

"""

FOOTER = """
## What policylab does with this

- With fewer than 10 treated assignment groups the study reads the wild cluster
  bootstrap first: its interval for the effect and its joint test of the leads held
  their size on both designs, where the CRV1 Wald test of the leads rejected a true null
  four to eight times too often. Randomization inference is reported beside them; its
  lead test was conservative here.
- The joint pre-trend test by randomization inference uses the years before the first
  adoption: real post-adoption effects of units that a draw relabels as controls would
  otherwise leak into the test (it then over-rejects).
- With the treated units fixed and outcomes redrawn from the bundled generators (rather
  than this design-based resampling), the wild bootstrap lead test rejected 10-12% on
  the carbon design and 6-8% on the energy design (200 datasets each): better than the
  Wald test's 30-50%, not yet exact. Treat a lead test near the 5% line with caution.
- Run `pl.simulate(...)` on your own data to get this table for your design.
"""

if __name__ == "__main__":
    main()

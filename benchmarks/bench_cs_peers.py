"""Callaway-Sant'Anna with a multiplier bootstrap: policylab against every Python CS
implementation that installs (moderndid, diff-diff, csdid, differences), side by side on
one staggered panel (default 1,000,000 rows: 100,000 units x 10 years, cohorts 2005 and
2008 and never treated, no covariates; ``--covariates K`` adds K unit-level covariates,
the first of which shifts the outcome's trend, so the covariate-adjusted estimators
differ from the unconditional one).

Each implementation runs in its own fresh process: a warm-up call on the first 5,000
rows (numba / compiled kernels load then, outside the timing), then ``--repeat`` timed
calls on the whole panel in that process, best reported (the machine may be shared): ATT(g,t) with a ``--draws``-draw multiplier bootstrap plus the dynamic
(event-time) aggregation with its bootstrap, where the peer has one. Every peer runs
the estimator ``--method`` (default "reg"; without covariates "dr", "reg" and "ipw" are
the same numbers); with ``--covariates`` use ``--method dr`` for the doubly robust
estimator R did uses by default (a logit and a weighted regression per ATT(g,t)). The
covariates are constant within units, so every convention (R did's first period,
diff-diff's base period) gives the same design; the cohorts do not depend on them, so
the propensity scores stay far from any trimming bound (diff-diff clips at 0.01 and
0.99 by default, R did trims comparison units at 0.995). A peer that is not installed,
fails or runs past ``--timeout`` is reported as such.

The check column compares each peer's overall ATT with policylab's matching
aggregation: the dynamic overall (average of post-treatment event-time effects) for
moderndid, csdid and differences; the simple overall (group-size weighted average of
post-treatment ATT(g,t)) for diff-diff, whose event-study container has no overall.

Run with a Python that has policylab and the peers installed. None of them is a
project dependency; the shared venv has moderndid and diff-diff (not csdid or
differences, whose rows it reports as not installed), so
``python benchmarks/bench_cs_peers.py`` runs there; for all four, a separate venv:

    python -m venv /tmp/csvenv && /tmp/csvenv/bin/pip install -e . moderndid diff-diff \
        csdid differences
    /tmp/csvenv/bin/python benchmarks/bench_cs_peers.py [--rows 1e6] [--draws 999]
    /tmp/csvenv/bin/python benchmarks/bench_cs_peers.py --covariates 2 --method dr
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")

PEERS = ["policylab", "moderndid", "diff-diff", "csdid", "differences"]


def design(rows: int, seed: int = 1, covariates: int = 0) -> pd.DataFrame:
    """The bench_staggered.py CS design: 10 years, cohorts after 2009 never treated;
    with ``covariates`` K > 0, unit-level columns x1..xK (standard normal) and a trend
    of 0.05 x1 per year in the outcome."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_staggered import panel

    d = panel(rows, years=10, seed=seed)
    d["g"] = np.where(d["g"] > 2009, 0, d["g"])
    if covariates:
        ids = d["id"].to_numpy()
        x = np.random.default_rng(seed + 1).normal(size=(ids.max() + 1, covariates))
        for j in range(covariates):
            d[f"x{j + 1}"] = x[ids, j]
        d["y"] += 0.05 * d["x1"] * (d["year"] - 2000)
    return d


def _run(name: str, d: pd.DataFrame, draws: int, covs: list[str], method: str
         ) -> dict[str, float]:
    """One full CS fit + bootstrap + dynamic aggregation; returns the overall ATTs."""
    xf = "~" + "+".join(covs) if covs else None
    if name == "policylab":
        import policylab as pl

        cs = pl.att_gt(d, y="y", unit="id", time="year", cohort="g", bootstrap=True,
                       draws=draws, seed=1, covariates=covs or None, method=method)
        dyn = cs.aggregate("dynamic")
        simple = cs.aggregate("simple", bootstrap=False)  # its point estimate only
        return {"dynamic": float(dyn.beta[0]), "simple": float(simple.beta[0])}
    if name == "moderndid":
        import polars as pol
        from moderndid import aggte, att_gt

        m = att_gt(data=pol.from_pandas(d), yname="y", tname="year", idname="id",
                   gname="g", est_method=method, boot=True, biters=draws,
                   **({"xformla": xf} if xf else {}))
        a = aggte(m, type="dynamic", boot=True, biters=draws)
        return {"dynamic": float(a.overall_att)}
    if name == "diff-diff":
        from diff_diff import CallawaySantAnna

        r = CallawaySantAnna(estimation_method=method, n_bootstrap=draws,
                             bootstrap_weights="mammen", seed=1).fit(
            d, outcome="y", unit="id", time="year", first_treat="g",
            covariates=covs or None)
        r.aggregate("event_study")
        return {"simple": float(r.overall_att)}
    if name == "csdid":
        from csdid.att_gt import ATTgt

        a = ATTgt(yname="y", gname="g", idname="id", tname="year", data=d,
                  biters=draws, xformla=xf).fit(est_method=method, bstrap=True)
        a.aggte(typec="dynamic", biters=draws)
        return {"dynamic": float(a.atte["overall_att"])}
    if name == "differences":
        from differences import ATTgt

        di = d.assign(g=d["g"].where(d["g"] > 0)).set_index(["id", "year"])
        m = ATTgt(data=di, cohort_column="g")
        m.fit(formula="y ~ " + " + ".join(covs) if covs else "y", est_method=method,
              boot_iterations=draws, random_state=1, progress_bar=False)
        ev = m.aggregate("event", overall=True, boot_iterations=draws, random_state=1)
        return {"dynamic": float(ev.iloc[0, 0])}
    raise ValueError(name)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def child(name: str, path: str, draws: int, repeat: int, covs: list[str], method: str
          ) -> None:
    """Warm up on 5,000 rows, then time the full panel ``repeat`` times; print one
    JSON line with the best time and all of them."""
    d = pd.read_pickle(path)
    ids = d["id"].unique()[:500]
    _run(name, d[d["id"].isin(ids)].reset_index(drop=True), min(draws, 99), covs, method)
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        att = _run(name, d, draws, covs, method)
        times.append(time.perf_counter() - t)
    print(json.dumps({"seconds": min(times), "runs": times, "att": att,
                      "version": _version(name)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--draws", type=int, default=999)
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed calls per implementation (same process); best is reported")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per peer")
    ap.add_argument("--peers", default=",".join(PEERS[1:]))
    ap.add_argument("--covariates", type=int, default=0,
                    help="unit-level covariates x1..xK in the design and every fit")
    ap.add_argument("--method", default="reg", choices=["reg", "ipw", "dr"])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    covs = [f"x{j + 1}" for j in range(args.covariates)]
    if args.child:
        child(args.child, args.data, args.draws, args.repeat, covs, args.method)
        return
    d = design(int(args.rows), covariates=args.covariates)
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "panel.pkl")
        d.to_pickle(path)
        for name in ["policylab", *[p for p in args.peers.split(",") if p]]:
            cmd = [sys.executable, __file__, "--child", name, "--data", path,
                   "--draws", str(args.draws), "--repeat", str(args.repeat),
                   "--covariates", str(args.covariates), "--method", args.method]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True,
                                   timeout=args.timeout)
                line = [x for x in p.stdout.splitlines() if x.startswith("{")]
                out[name] = (json.loads(line[-1]) if p.returncode == 0 and line else
                             {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:120]})
            except subprocess.TimeoutExpired:
                out[name] = {"error": f"not finished in {args.timeout:.0f} s"}
            print(f"# {name}: {out[name]}", file=sys.stderr, flush=True)
    base = out["policylab"]
    units = d["id"].nunique()
    print(f"Callaway-Sant'Anna, {len(d):,} rows ({units:,} units x "
          f"{d['year'].nunique()} years), "
          + (f"method {args.method!r} with {len(covs)} covariates, " if covs
             else f"method {args.method!r}, no covariates, ")
          + f"{args.draws}-draw multiplier bootstrap of "
          f"ATT(g,t) and of the dynamic aggregation; best of {args.repeat} runs in one "
          "process per implementation\n")
    print("| implementation | seconds | peer / policylab | overall ATT | check |")
    print("|---|---|---|---|---|")
    for name, r in out.items():
        label = f"{name} {r.get('version', '')}".strip()
        if "error" in r:
            print(f"| {label} | - | - | - | {r['error']} |")
            continue
        kind, val = next(iter(r["att"].items()))
        if name == "policylab":
            print(f"| {label} | {r['seconds']:.2f} | 1.0x | "
                  f"{r['att']['dynamic']:.10f} (dynamic), {r['att']['simple']:.10f} "
                  "(simple) | - |")
            continue
        diff = abs(val - base["att"][kind]) if "att" in base else float("nan")
        ratio = r["seconds"] / base["seconds"] if "seconds" in base else float("nan")
        print(f"| {label} | {r['seconds']:.2f} | {ratio:.1f}x | {val:.10f} ({kind}) | "
              f"abs diff {diff:.1e} |")


if __name__ == "__main__":
    main()

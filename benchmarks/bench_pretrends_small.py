"""The pre-trend numbers of the bundled studies: the routes before and after, in one run.

    python benchmarks/bench_pretrends_small.py [--repeat 3] [--study energy_rights_pilot ...]

For each bundled example the event study of its first outcome is fitted as the study
fits it (the spec's design: roster, assignment to provinces, controls, clusters), then
each computation is timed both ways in this process, best of ``--repeat``, in CPU
seconds (``time.process_time``: the machine is shared, wall time is not comparable):

* pre-trend RI (999 reassignments): each draw's cluster score sums by gathering a
  draws x clusters x m² block of the cell Gram matrices (``route=gather``, the route
  before) against the engine's pick (``auto``: one matrix product per cluster, or the
  compiled pass when numba is already set up) and the compiled pass itself;
* pre-trend power (Roth 2022, 400,000 simulated draws): the simulation in one piece
  (the route before) against the blocked one;
* ``CoefResult.tidy`` (the study makes about a hundred tables): through the Series
  accessors (the route before) against the arrays;
* ``honest_did``: with the folded-normal critical value computed afresh each call (the
  route before) against the cached one.

Each line says whether the numbers are the same (max relative difference). The
compiled pass's first call in a process also sets numba up (about 0.3 s), which the
study pays once per process; it is timed apart ("numba set-up").
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("carbon_trading_pilot", "energy_rights_pilot")


def cpu_best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return min(times), out


def study_event_study(name: str) -> Any:
    """The event study of the example's first outcome, as its study fits it."""
    from policylab.estimators.event_study import event_study
    from policylab.study.context import Context
    from policylab.study.prepare import prepare, with_data_labels
    from policylab.study.spec import load_spec
    from policylab.study.steps import model_design

    path = ROOT / "examples" / f"{name}.toml"
    spec = load_spec(path)
    panel, prov = prepare(spec, path.parent)
    spec = with_data_labels(spec, prov["data_labels"])
    ctx = Context(spec=spec, panel=panel, base_dir=path.parent, lang=spec.output.language,
                  seed=spec.study.seed)
    es_spec = spec.battery.event_study
    return event_study(model_design(ctx), y=spec.model.outcomes[0],
                       window=tuple(es_spec.window), ref=es_spec.ref), spec.study.seed


def one_piece_pass_probability(a: np.ndarray, corr: np.ndarray, crit: float,
                               draws: int = 400_000, seed: int = 0) -> tuple[Any, Any]:
    """pretrend_power's simulation before it went in blocks: every draw at once."""
    z = np.random.default_rng(seed).standard_normal((draws, len(a))) @ np.linalg.cholesky(
        corr).T
    lo, hi = np.full(draws, -np.inf), np.full(draws, np.inf)
    ok = np.ones(draws, dtype=bool)
    for j, aj in enumerate(a):
        if aj == 0:
            ok &= np.abs(z[:, j]) <= crit
            continue
        e1, e2 = (-crit - z[:, j]) / aj, (crit - z[:, j]) / aj
        lo, hi = np.maximum(lo, np.minimum(e1, e2)), np.minimum(hi, np.maximum(e1, e2))
    ok &= lo <= hi
    return np.sort(lo[ok]), np.sort(hi[ok])


def series_tidy(res: Any, level: float = 0.95) -> pd.DataFrame:
    """CoefResult.tidy before it worked on arrays: one Series accessor per column."""
    ci = res.confint(level)
    return pd.DataFrame({"term": res.terms, "estimate": res.beta,
                         "std_error": res.se().to_numpy(),
                         "statistic": res.tstat().to_numpy(),
                         "p_value": res.pvalue().to_numpy(),
                         "conf_low": ci["conf_low"].to_numpy(),
                         "conf_high": ci["conf_high"].to_numpy()})


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    both = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("inf")
    scale = np.maximum(np.abs(a[both]), np.abs(b[both]))
    return float(np.max(np.abs(a[both] - b[both]) / np.where(scale > 0, scale, 1),
                        initial=0.0))


def row(study: str, what: str, before: float, after: float, diff: float) -> None:
    print(f"| {study} | {what} | {before:.3f} | {after:.3f} | {before / after:.1f}x | "
          f"{diff:.1e} |", flush=True)


def bench_ri(study: str, es: Any, seed: int, repeat: int) -> None:
    import policylab.inference.pretrend_ri as ri
    from policylab.engine.threads import compiled_ready, prepare_compiled

    real = ri.cell_route

    def run(route: str | None) -> Any:
        ri.cell_route = real if route is None else (lambda *a: route)
        try:
            return ri.pretrend_ri_test(es, draws=999, seed=seed).stats
        finally:
            ri.cell_route = real

    t_old, old = cpu_best(lambda: run("gather"), repeat)
    was_ready = compiled_ready()
    t_new, new = cpu_best(lambda: run(None), repeat)  # numba not set up: numpy route
    row(study, f"pre-trend RI, 999 draws (auto{'' if was_ready else ', numba not set up'})",
        t_old, t_new, rel_diff(old, new))
    t = time.process_time()
    prepare_compiled()
    setup = time.process_time() - t
    t_c, comp = cpu_best(lambda: run("compiled"), repeat)
    row(study, f"pre-trend RI, 999 draws (compiled; numba set-up {setup:.2f} s apart)",
        t_old, t_c, rel_diff(old, comp))


def bench_power(study: str, es: Any, repeat: int) -> None:
    from scipy.special import ndtri

    from policylab.inference.pretrends import _PassProbability, event_study_inputs

    beta, Sigma, e, ref = event_study_inputs(es)
    pre = e < 0
    sd = np.sqrt(np.diag(Sigma))
    corr = Sigma[np.ix_(pre, pre)] / np.outer(sd[pre], sd[pre])
    a = (e - ref).astype(float)[pre] / sd[pre]
    crit = float(ndtri(0.975))
    t_old, (lo, hi) = cpu_best(lambda: one_piece_pass_probability(a, corr, crit), repeat)
    t_new, pp = cpu_best(lambda: _PassProbability(a, corr, crit), repeat)
    diff = max(rel_diff(lo, pp.lo), rel_diff(hi, pp.hi)) if len(lo) == len(pp.lo) else np.inf
    row(study, "pre-trend power, 400,000 draws", t_old, t_new, diff)


def bench_tidy(study: str, es: Any, repeat: int) -> None:
    from policylab.estimators.result import CoefResult

    res = CoefResult(nobs=es.nobs, terms=list(es.terms), beta=es.beta,
                     vcov_matrix=es.vcov_matrix, df_t=es.df_t)
    t_old, old = cpu_best(lambda: [series_tidy(res) for _ in range(100)], repeat)
    t_new, new = cpu_best(lambda: [res.tidy() for _ in range(100)], repeat)
    cols = ["std_error", "statistic", "p_value", "conf_low", "conf_high"]
    row(study, "CoefResult.tidy x 100", t_old, t_new,
        rel_diff(old[0][cols].to_numpy(), new[0][cols].to_numpy()))


def bench_honest(study: str, es: Any, repeat: int) -> None:
    import policylab.inference.pretrends as pt

    cached = pt._folded_cv

    def run(fresh: bool) -> pd.DataFrame:
        cached.cache_clear()
        pt._folded_cv = cached.__wrapped__ if fresh else cached
        try:
            return pt.honest_did(es).grid
        finally:
            pt._folded_cv = cached

    t_old, old = cpu_best(lambda: run(True), repeat)
    t_new, new = cpu_best(lambda: run(False), repeat)
    cols = ["estimate", "conf_low", "conf_high"]
    row(study, "honest_did (9 M, 9 Mbar, breakdown)", t_old, t_new,
        rel_diff(old[cols].to_numpy(), new[cols].to_numpy()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--study", nargs="*", default=list(EXAMPLES), choices=EXAMPLES)
    args = ap.parse_args()
    print("| study | computation | before (CPU s) | after (CPU s) | ratio | max rel diff |")
    print("|---|---|---|---|---|---|")
    fitted = {s: study_event_study(s) for s in args.study}
    for s, (es, seed) in fitted.items():  # numpy routes first: numba not yet set up
        bench_power(s, es, args.repeat)
        bench_tidy(s, es, args.repeat)
        bench_honest(s, es, args.repeat)
    for s, (es, seed) in fitted.items():
        bench_ri(s, es, seed, args.repeat)


if __name__ == "__main__":
    main()

"""The pre-trend numbers of the bundled studies: the code before and after, in one run.

    python benchmarks/bench_pretrends_small.py [--before /work/main/src] [--repeat 3]
                                               [--study energy_rights_pilot ...]

For each bundled example the event study of its first outcome is fitted as the study
fits it (the spec's design: roster, assignment to provinces, controls, clusters); then
the public calls the study's pre-trend steps make are timed in a fresh process for each
source tree (this checkout's, and ``--before``'s, e.g. the main checkout before the
change), best of ``--repeat``, in CPU seconds (``time.process_time``: the machine is
shared, wall time is not comparable):

* ``pretrend_ri_test(es, draws=999)``, the randomization pre-test (the study runs it
  for each outcome);
* ``pretrend_power(es)`` (Roth 2022; 400,000 simulated draws);
* ``honest_did(es)`` (9 smoothness bounds, 9 relative-magnitude bounds, breakdowns);
* ``tidy()`` of the event study x 100 (the study makes about a hundred tables).

The first call of each in a process is timed apart ("first"): a study calls most of
them once per process, so the first call (memory mapped afresh, lazy imports) is what
it pays. Each row checks that both trees give the same numbers (max relative
difference). In this checkout's process the routes of the RI's cluster score sums are
also timed against each other (``gather``: the route before; ``gemm``; ``compiled``,
with numba's one-off set-up timed apart).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

warnings.simplefilter("ignore")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("carbon_trading_pilot", "energy_rights_pilot")


def study_event_study(name: str) -> tuple[Any, int]:
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


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(CPU seconds of the first call, best of the next ``repeat``, the result)."""
    t = time.process_time()
    out = fn()
    first = time.process_time() - t
    times = []
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return first, min(times), out


def measure(studies: list[str], repeat: int) -> dict[str, Any]:
    """The timings and numbers of the public calls, in this process's source tree."""
    import policylab.inference.pretrends as pt
    from policylab.inference.pretrend_ri import pretrend_ri_test

    out: dict[str, Any] = {}
    for name in studies:
        es, seed = study_event_study(name)

        def honest(es: Any = es) -> Any:
            cache = getattr(pt._folded_cv, "cache_clear", None)
            if cache is not None:  # each timed call starts without cached values
                cache()
            return pt.honest_did(es)

        calls = {
            "pretrend_ri_test, 999 draws": (
                lambda es=es, seed=seed: pretrend_ri_test(es, draws=999, seed=seed),
                lambda r: np.r_[r.statistic, r.p_value, r.stats]),
            "pretrend_power": (lambda es=es: pt.pretrend_power(es),
                               lambda r: r.table.to_numpy(float).ravel()),
            "honest_did": (honest, lambda r: np.r_[
                r.grid[["estimate", "conf_low", "conf_high"]].to_numpy().ravel(),
                list(r.breakdown.values())]),
            "tidy x 100": (lambda es=es: [es.tidy() for _ in range(100)],
                           lambda r: r[0].iloc[:, 1:].to_numpy(float).ravel()),
        }
        for label, (fn, numbers) in calls.items():
            first, best, res = timed(fn, repeat)
            out[f"{name}|{label}"] = {"first": first, "best": best,
                                      "numbers": numbers(res).tolist()}
    return out


def routes(studies: list[str], repeat: int) -> None:
    """The RI's cluster score routes against each other (this checkout only)."""
    import policylab.inference.pretrend_ri as ri
    from policylab.engine.threads import prepare_compiled

    real = ri.cell_route
    print("\n| study | pretrend_ri_test, 999 draws: route | CPU s | vs gather |")
    print("|---|---|---|---|")
    for name in studies:
        es, seed = study_event_study(name)
        base = None
        for route in ("gather", "gemm", "compiled"):
            ri.cell_route = lambda *a, route=route: route
            try:
                if route == "compiled":
                    t = time.process_time()
                    prepare_compiled()
                    setup = time.process_time() - t
                _, best, _ = timed(lambda es=es, seed=seed: ri.pretrend_ri_test(
                    es, draws=999, seed=seed), repeat)
            finally:
                ri.cell_route = real
            base = base or best
            extra = f" (numba set-up {setup:.2f} s apart)" if route == "compiled" else ""
            print(f"| {name} | {route}{extra} | {best:.3f} | {base / best:.1f}x |",
                  flush=True)


def rel_diff(a: list[float], b: list[float]) -> float:
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    if a_.shape != b_.shape or not np.array_equal(np.isnan(a_), np.isnan(b_)):
        return float("inf")
    ok = ~np.isnan(a_)
    scale = np.maximum(np.abs(a_[ok]), np.abs(b_[ok]))
    return float(np.max(np.abs(a_[ok] - b_[ok]) / np.where(scale > 0, scale, 1),
                        initial=0.0))


def in_tree(src: str, studies: list[str], repeat: int) -> dict[str, Any]:
    """:func:`measure` in a fresh process on the sources in ``src``."""
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    here = str(Path(__file__).parent)
    code = (f"import json, sys; sys.path.insert(0, {here!r}); "
            "import bench_pretrends_small as b; "
            f"print('RESULT ' + json.dumps(b.measure({studies!r}, {repeat})))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"the run on {src} failed:\n{proc.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default=None, help="policylab sources before the change")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--study", nargs="*", default=list(EXAMPLES), choices=EXAMPLES)
    args = ap.parse_args()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"load average before: {load}\n")
    after = in_tree(str(ROOT / "src"), args.study, args.repeat)
    before = in_tree(args.before, args.study, args.repeat) if args.before else None
    print("| study | call | before: first / best (CPU s) | after: first / best | ratio "
          "(first / best) | max rel diff |")
    print("|---|---|---|---|---|---|")
    for key, a in after.items():
        study, label = key.split("|")
        if before is None:
            print(f"| {study} | {label} | | {a['first']:.3f} / {a['best']:.3f} | | |")
            continue
        b = before[key]
        print(f"| {study} | {label} | {b['first']:.3f} / {b['best']:.3f} | "
              f"{a['first']:.3f} / {a['best']:.3f} | {b['first'] / a['first']:.1f}x / "
              f"{b['best'] / a['best']:.1f}x | {rel_diff(b['numbers'], a['numbers']):.1e} |",
              flush=True)
    routes(args.study, args.repeat)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"\nload average after: {load}")


if __name__ == "__main__":
    main()

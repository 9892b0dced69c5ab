"""Firm scale: the whole battery on a generated firm panel of millions of firm-years.

    python benchmarks/bench_study_scale.py [--firms 200000] [--years 10] [--scheduler ADDR]

Generates a firm panel shaped like the industrial-enterprise data Chinese pilot studies
use (``firm_panel``: firms in 30 provinces, pilots assigned to provinces from a common
year, a few controls, a mediator, a moderator, two subgroup columns, a known effect),
writes it as Parquet with a study spec that turns every step on (999 placebo draws with
province-level assignment, 999 wild-bootstrap draws, kernel PSM-DID, mediation with a
bootstrap, moderation, heterogeneity, event study, robustness samples), runs
``run_study`` in this process and prints the split by step, the wall time, CPU seconds,
peak RSS (psutil; per step the peak so far) and the load average. ``--scheduler`` runs
the same study through a Dask scheduler address ("tcp://host:8786", or "local" for a
LocalCluster started here) and checks that results.json equals the in-process run's
numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

PILOT_PROVINCES = (3, 7, 11, 18, 22, 26)  # six of 30 provinces
PILOT_YEAR = 2016


def firm_panel(firms: int = 200_000, years: int = 10, seed: int = 2016,
               effect: float = -0.05) -> pd.DataFrame:
    """A balanced firm x year panel with province-level pilots (vectorised, ~1 s at 2M).

    Columns: firm, year, province, treat (firm in a pilot province), did, ln_output
    (outcome), ln_emission (second outcome), ln_capital, ln_labor, leverage (controls),
    rd (mediator: the pilot raises R&D, R&D lowers emissions), soe (0/1 moderator and
    subgroup), size_class (subgroup: small/medium/large), age.
    """
    rng = np.random.default_rng(seed)
    t0 = PILOT_YEAR - years // 2
    province = rng.integers(0, 30, firms)
    treat_f = np.isin(province, PILOT_PROVINCES).astype(np.int8)
    soe_f = (rng.random(firms) < 0.2).astype(np.int8)
    size_f = rng.choice(np.array(["small", "medium", "large"]), firms, p=[0.6, 0.3, 0.1])
    alpha = rng.normal(0, 1, firms) + 0.3 * treat_f
    prov_shock = rng.normal(0, 0.05, (30, years))
    year_fx = np.linspace(0, 0.3, years)

    n = firms * years
    firm = np.repeat(np.arange(firms, dtype=np.int64), years)
    t = np.tile(np.arange(years), firms)
    prov = np.repeat(province, years)
    treat = np.repeat(treat_f, years)
    post = (t + t0 >= PILOT_YEAR).astype(np.int8)
    did = (treat * post).astype(np.int8)
    soe = np.repeat(soe_f, years)
    ln_capital = np.repeat(alpha, years) * 0.5 + rng.normal(0, 0.3, n)
    ln_labor = np.repeat(alpha, years) * 0.4 + rng.normal(0, 0.3, n)
    leverage = np.clip(0.5 + rng.normal(0, 0.15, n), 0, 1)
    rd = 0.1 * did * (1 - 0.5 * soe) + 0.2 * ln_capital + rng.normal(0, 0.2, n)
    common = np.repeat(alpha, years) + year_fx[t] + prov_shock[prov, t]
    ln_output = (common + 0.3 * ln_capital + 0.5 * ln_labor - 0.2 * leverage
                 + effect * did * (1 - 0.5 * soe) + rng.normal(0, 0.3, n))
    ln_emission = (0.8 * common + 0.2 * ln_capital - 0.3 * rd + effect * did
                   + rng.normal(0, 0.3, n))
    return pd.DataFrame({
        "firm": firm, "year": t + t0, "province": prov, "treat": treat, "did": did,
        "ln_output": ln_output, "ln_emission": ln_emission, "ln_capital": ln_capital,
        "ln_labor": ln_labor, "leverage": leverage, "rd": rd, "soe": soe,
        "size_class": np.repeat(size_f, years),
        "age": np.repeat(rng.integers(1, 30, firms), years) + t,
    })


SPEC = """
[study]
title = "Firm-scale battery"
seed = 7

[data]
path = "firms.parquet"
unit = "firm"
time = "year"

[treatment]
column = "did"
group = "treat"
assign = "province"

[model]
outcomes = ["ln_output", "ln_emission"]
controls = ["ln_capital", "ln_labor", "leverage"]
cluster = "province"

[battery.event_study]
window = [-4, 4]
ref = -1

[battery.psm_did]
enabled = true
covariates = ["ln_capital", "ln_labor", "leverage"]
method = "kernel"
bwidth = 0.06

[battery.placebo]
kind = "units"
draws = 999
exact = false

[battery.wild_bootstrap]
draws = 999

[battery.mediation]
enabled = true
mediators = ["rd"]
draws = 999

[battery.moderation]
enabled = true
moderators = ["soe"]

[battery.mechanisms]
enabled = true
variables = ["rd"]

[battery.heterogeneity]
enabled = true
by = ["soe", "size_class"]

[[battery.samples]]
name = "Private firms"
query = "soe == 0"

[output]
language = "en"
formats = ["html", "docx", "md", "csv", "xlsx"]
"""


class PeakRSS:
    """Sample this process's RSS every 50 ms (ru_maxrss also counts the generator)."""

    def __init__(self) -> None:
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def numbers(out: Path) -> dict:
    """Every step's estimates from results.json (what must not depend on the executor)."""
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {k: {"results": v["results"], "numbers": v["numbers"]} for k, v in res.items()}


def max_rel_diff(a: object, b: object) -> float:
    """Largest relative difference between two results.json trees (inf if their shape or
    any text differs): optimisation steps move by ~1e-9 with the BLAS thread count."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return float("inf")
        return max((max_rel_diff(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return float("inf")
        return max((max_rel_diff(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, float) and isinstance(b, (int, float)):
        if np.isnan(a) and np.isnan(b):
            return 0.0
        return abs(a - b) / max(abs(a), abs(b), 1e-300) if a != b else 0.0
    return 0.0 if a == b else float("inf")


def run(spec: Path, out: Path, scheduler: str | None) -> tuple[dict, float, float, int]:
    from policylab.study.pipeline import run_study

    cpu, t = time.process_time(), time.perf_counter()
    step_cpu: dict[str, float] = {}
    step_peak: dict[str, int] = {}
    last = [cpu]
    mem = PeakRSS()

    def on_step(o: object) -> None:
        # CPU seconds of this process (all its threads) since the previous step ended;
        # the first step's share includes reading and preparing the data
        now = time.process_time()
        step_cpu[o.key] = now - last[0]  # type: ignore[attr-defined]
        step_peak[o.key] = mem.peak  # type: ignore[attr-defined]
        last[0] = now
        print(f"  done {o.key}: cpu {step_cpu[o.key]:.1f}s, peak so far "  # type: ignore[attr-defined]
              f"{mem.peak / 2**30:.2f} GB", flush=True)

    with mem:
        # as the CLI runs it: fitted arrays dropped once no later step reads them
        summary = run_study(spec, out, progress=False, executor=scheduler, force=True,
                            on_step=on_step, keep_fits=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    print(f"{'step':<16}{'status':>10}{'wall s':>10}{'cpu s':>10}{'peak GB':>10}")
    for s in summary.steps:
        print(f"{s.key:<16}{s.status:>10}{s.seconds:>10.2f}{step_cpu.get(s.key, 0):>10.2f}"
              f"{step_peak.get(s.key, 0) / 2**30:>10.2f}" + (f"  {s.error}" if s.error else ""))
    print(f"after the steps (tables, figures, writing): cpu {time.process_time() - last[0]:.1f}s")
    print("split:", {k: round(v, 2) for k, v in manifest.get("split_seconds", {}).items()})
    return manifest, wall, cpu, mem.peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--firms", type=int, default=200_000)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--scheduler", default=None,
                    help='Dask scheduler address, or "local" for a LocalCluster')
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        df = firm_panel(args.firms, args.years)
        df.to_parquet(d / "firms.parquet", index=False)
        print(f"generated {len(df):,} rows in {time.perf_counter() - t:.1f}s; "
              f"load {load()}; {os.cpu_count()} cores")
        del df
        (d / "study.toml").write_text(SPEC, encoding="utf-8")
        manifest, wall, cpu, peak = run(d / "study.toml", d / "out", None)
        print(f"in process: wall {wall:.1f}s, cpu {cpu:.1f}s, peak RSS {peak / 2**30:.2f} GB, "
              f"load {load()}")
        if args.scheduler:
            cluster = client = None
            address = args.scheduler
            if address == "local":
                from dask.distributed import Client, LocalCluster

                cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
                client = Client(cluster)
                address = cluster.scheduler_address
            try:
                _, wall2, cpu2, _ = run(d / "study.toml", d / "out_dask", address)
            finally:
                if client is not None:
                    client.close()
                    cluster.close()
            a, b = numbers(d / "out"), numbers(d / "out_dask")
            print(f"dask: wall {wall2:.1f}s; results.json identical: {a == b}; "
                  f"largest relative difference of a number: {max_rel_diff(a, b):.2g}")


if __name__ == "__main__":
    main()

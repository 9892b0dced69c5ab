"""Whole-study runs: each bundled example through ``policylab run`` in a fresh process.

    python benchmarks/bench_study.py [--reps 3] [--study carbon_trading_pilot ...]
                                     [--before /work/main/src] [--serial]

Each run is a new Python process (imports, JIT cache loading and all), as a researcher
rerunning the study after a change of the spec would see it. Prints, per run, the wall
time measured outside the process and the split the run records in its manifest
(``split_seconds``): start-up (imports before the run starts), preparing the data,
computing (the steps, including drawing their figures) and writing (from the last step
to the published folder) add up to the wall time; figures and tables are the seconds
the writer processes spent rasterising figures and writing table files, overlapping
the computing and the reports (``policylab.study.workers``), reports the HTML and Word
reports, waiting how long the run waited for the writers after its last step. Also the
CPU seconds of the run and its writers (cpu), of the run's own process (own) and of
the writers (writers = cpu - own), and the load average before and after. The
machine is shared: compare the split and the CPU seconds, not the wall time alone, and
repeat.

    --inline     write everything in the run's own process (POLICYLAB_WRITERS=inline)
    --serial     run the steps in the run's own process (POLICYLAB_STEPS=serial), not in
                 forked lanes
    --bytecode   let the runs keep compiled bytecode (in a cache folder of the benchmark's
                 own, PYTHONPYCACHEPREFIX) even where PYTHONDONTWRITEBYTECODE is set, as
                 an installed wheel has it: otherwise every fresh process compiles
                 policylab's ~100 modules from source (~0.6 s CPU in the run alone)
    --before SRC also run each example with the policylab sources in SRC (e.g. the main
                 checkout's src, the code before a change), interleaved with the runs of
                 this checkout, and print the ratios of the best runs (before / after)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("carbon_trading_pilot", "energy_rights_pilot")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path(
        "/proc/loadavg").exists() else "n/a"


def run_once(study: str, out: Path, inline: bool = False, src: Path = ROOT / "src",
             serial: bool = False, pycache: Path | None = None) -> dict:
    """One fresh-process run of the sources in ``src``; returns wall, child CPU and the
    manifest's split."""
    spec = ROOT / "examples" / f"{study}.toml"
    env = {**os.environ, "PYTHONPATH": str(src) + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    if inline:
        env["POLICYLAB_WRITERS"] = "inline"
    if serial:
        env["POLICYLAB_STEPS"] = "serial"
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RUN, "run", str(spec), "--out",
                           str(out), "--quiet", "--force"], env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{study} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    split = manifest.get("split_seconds", {})
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own = next((float(line.split()[1]) for line in proc.stderr.splitlines()
                if line.startswith("OWN_CPU ")), float("nan"))
    return {"wall": wall, "cpu": cpu, "own": own, "writers": cpu - own,
            "startup": wall - manifest["total_seconds"], **split,
            "peak_mb": manifest.get("peak_memory_mb")}


# the CLI in the child, which prints its own CPU seconds (not its writers') at exit
_RUN = """
import atexit, resource, sys
def _own():
    r = resource.getrusage(resource.RUSAGE_SELF)
    print(f"OWN_CPU {r.ru_utime + r.ru_stime:.3f}", file=sys.stderr)
atexit.register(_own)
sys.argv = ["policylab", *sys.argv[1:]]
from policylab.cli import main
main()
"""

COLS = ("wall", "cpu", "own", "writers", "startup", "prepare", "computing", "writing",
        "figures", "tables", "reports", "waiting")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--study", nargs="*", default=list(EXAMPLES), choices=EXAMPLES)
    ap.add_argument("--inline", action="store_true", help="no writer processes")
    ap.add_argument("--serial", action="store_true", help="no step lanes")
    ap.add_argument("--bytecode", action="store_true",
                    help="keep compiled bytecode (PYTHONPYCACHEPREFIX), as an install has")
    ap.add_argument("--before", type=Path, default=None,
                    help="policylab sources to compare with (e.g. /work/main/src)")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
          + (", writers inline" if args.inline else "")
          + (", steps serial" if args.serial else "")
          + (", bytecode kept" if args.bytecode else ", bytecode "
             + ("not written (PYTHONDONTWRITEBYTECODE)" if sys.flags.dont_write_bytecode
                else "as the environment has it")))
    pycache = Path(tempfile.mkdtemp(prefix="bench_study_pyc_")) if args.bytecode else None
    print(f"{'study':<22}{'code':>7}{'run':>5}" + "".join(f"{c:>10}" for c in COLS)
          + f"{'peak MB':>9}  load before -> after")
    codes = [("after", ROOT / "src")]
    if args.before is not None:
        codes.insert(0, ("before", args.before.resolve()))
    if pycache is not None or args.before is not None:
        # once, untimed: compiled bytecode as an install has it, and numba's cache of
        # the other sources (numba keys it by the sources' folder)
        for _, src in codes:
            with tempfile.TemporaryDirectory() as tmp:
                run_once(args.study[0], Path(tmp) / "out", args.inline, src, args.serial,
                         pycache)
    for study in args.study:
        rows: dict[str, list[dict]] = {name: [] for name, _ in codes}
        for k in range(args.reps):
            for name, src in codes:  # interleaved: both see the same load
                with tempfile.TemporaryDirectory() as tmp:
                    lb = load()
                    r = run_once(study, Path(tmp) / "out", args.inline, src, args.serial,
                                 pycache)
                    rows[name].append(r)
                    print(f"{study:<22}{name:>7}{k + 1:>5}"
                          + "".join(f"{r.get(c, 0):>10.2f}" for c in COLS)
                          + f"{r['peak_mb'] or 0:>9.0f}  {lb} -> {load()}", flush=True)
        best = {name: min(rs, key=lambda r: r["wall"]) for name, rs in rows.items()}
        for name, b in best.items():
            print(f"{study:<22}{name:>7}{'best':>5}"
                  + "".join(f"{b.get(c, 0):>10.2f}" for c in COLS))
        if "before" in best:
            b, a = best["before"], best["after"]
            print(f"{study:<22} before/after (best runs): wall {b['wall'] / a['wall']:.2f}x, "
                  f"cpu {b['cpu'] / a['cpu']:.2f}x, own cpu {b['own'] / a['own']:.2f}x")


if __name__ == "__main__":
    main()

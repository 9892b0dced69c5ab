"""att_gt's panel preparation (balancing, R did's makeBalancedPanel rule, then the
outcome scatter) now vs a previous version, in CPU seconds, on bench_staggered.py's
panel: balanced, and with 1% of the outcomes missing.

    python benchmarks/bench_cs_balance.py [--rows 1e6] [--before ede3250]

``--before`` is a git revision (its ``estimators/cohort_tables.py`` is loaded beside
the current one) or the path of such a file. Both sides must agree on the kept rows.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_staggered import panel  # noqa: E402

from policylab.estimators import cohort_tables as new  # noqa: E402

FILE = "src/policylab/estimators/cohort_tables.py"


def load_before(before: str) -> ModuleType:
    path = Path(before)
    if not path.is_file():
        text = subprocess.run(["git", "show", f"{before}:{FILE}"], check=True,
                              capture_output=True, text=True).stdout
        path = Path(tempfile.mkdtemp()) / "cohort_tables_before.py"
        path.write_text(text)
    spec = importlib.util.spec_from_file_location("cohort_tables_before", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def prepare_before(mod: ModuleType, df: pd.DataFrame) -> tuple:
    kept, _ = mod.balanced_rows(df, "y", "id", "year", [])
    return mod.wide_outcomes(kept, "y", "id", "year")


def prepare_now(df: pd.DataFrame) -> tuple:
    kept, _, codes = new.balanced_rows(df, "y", "id", "year", [])
    return new.wide_outcomes(kept, "y", "id", "year", codes)


def cpu(f, *args, repeat: int = 5) -> tuple[float, tuple]:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        out = f(*args)
        best = min(best, time.process_time() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--before", default="ede3250")
    args = ap.parse_args()
    before = load_before(args.before)
    df = panel(int(args.rows))
    holes = df.assign(y=df["y"].mask(np.random.default_rng(2).random(len(df)) < 0.01))
    print("| panel | before (CPU s) | now (CPU s) | ratio | check |")
    print("|---|---|---|---|---|")
    for name, d in ((f"balanced, {len(df):,} rows", df),
                    (f"1% outcomes missing, {len(df):,} rows", holes)):
        t_b, out_b = cpu(prepare_before, before, d)
        t_n, out_n = cpu(prepare_now, d)
        same = all(np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
                   for a, b in zip(out_b, out_n))
        print(f"| {name} | {t_b:.3f} | {t_n:.3f} | {t_b / t_n:.1f}x | "
              f"{'same' if same else 'DIFFERENT'} |")


if __name__ == "__main__":
    main()

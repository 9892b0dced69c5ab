"""Speed of the study-data layer: the two synthetic generators and CO2 accounting.

    python benchmarks/bench_datasets.py

There is no peer package for the generators (their budget is 0.2 s each). For the
accounting the side-by-side is what a user writes by hand: one pandas expression per
fuel with the coefficients typed in (the Stata ``gen co2 = coal*0.7143*0.7559*44/12 +
...`` way), on a 1M-row fuel panel.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from policylab.accounting import co2_emissions
from policylab.data.datasets import carbon_pilot, energy_rights_pilot

COAL = {"coal": 0.7143, "coke": 0.9714, "crude_oil": 1.4286, "gasoline": 1.4714,
        "kerosene": 1.4714, "diesel": 1.4571, "fuel_oil": 1.4286, "natural_gas": 12.143}
CARB = {"coal": 0.7559, "coke": 0.855, "crude_oil": 0.5857, "gasoline": 0.5538,
        "kerosene": 0.5714, "diesel": 0.5914, "fuel_oil": 0.6185, "natural_gas": 0.4483}


def best(fn, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    for name, gen in (("carbon_pilot()", carbon_pilot), ("energy_rights_pilot()",
                                                          energy_rights_pilot),
                      ("energy_rights_pilot(unbalanced=.1, missing=.02)",
                       lambda: energy_rights_pilot(unbalanced=0.1, missing=0.02))):
        print(f"{name:50s} {best(gen) * 1e3:7.1f} ms")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.gamma(2.0, 500.0, (1_000_000, 8)), columns=list(COAL))

    def by_hand():
        return sum(df[f] * COAL[f] * CARB[f] * 44 / 12 for f in COAL)

    ours = best(lambda: co2_emissions(df))
    hand = best(by_hand)
    diff = np.max(np.abs(co2_emissions(df)["total"] / by_hand() - 1))
    print(f"co2_emissions, 1M rows: {ours:.3f} s; by hand {hand:.3f} s; ratio "
          f"{ours / hand:.2f}x; max rel. diff {diff:.1e}")


if __name__ == "__main__":
    main()

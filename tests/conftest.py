import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

# property tests draw the same examples on every run: CI never fails on a new draw
settings.register_profile("policylab", derandomize=True, print_blob=True)
settings.load_profile("policylab")


def make_panel(n_units: int = 40, n_periods: int = 8, seed: int = 0, drop: float = 0.0) -> pd.DataFrame:
    """A small two-way panel with two regressors and a cluster-level group."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "year": np.tile(np.arange(2000, 2000 + n_periods), n_units),
        }
    )
    df["x1"] = rng.normal(size=len(df))
    df["x2"] = rng.normal(size=len(df)) + 0.1 * df["unit"]
    df["y"] = 0.5 * df["x1"] - 0.3 * df["x2"] + 0.2 * df["unit"] + rng.normal(size=len(df))
    if drop:
        df = df.sample(frac=1 - drop, random_state=seed).sort_index()
    return df.reset_index(drop=True)


@pytest.fixture
def panel_df() -> pd.DataFrame:
    return make_panel()

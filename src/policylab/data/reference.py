"""Bundled reference tables: China's 30 provincial units of the carbon study."""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["provinces"]


def provinces() -> pd.DataFrame:
    """The 30 provincial units (mainland without Tibet): code, English and Chinese
    names, region (east/central/west) and whether the unit is a municipality."""
    path = resources.files("policylab.data").joinpath("tables", "provinces.csv")
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)

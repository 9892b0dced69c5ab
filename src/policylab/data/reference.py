"""Bundled reference tables: China's 30 provincial units of the carbon study and their
prefecture-level units. Sources in ``policylab/data/tables/SOURCES.md``."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from policylab.errors import DataError

__all__ = ["provinces", "cities", "province_names"]


def _table(name: str, **kw) -> pd.DataFrame:
    path = resources.files("policylab.data").joinpath("tables", name)
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, **kw)


def provinces() -> pd.DataFrame:
    """The 30 provincial units (mainland without Tibet).

    Returns
    -------
    DataFrame with columns code (GB/T 2260, two digits), name_en, name_zh, region
    (east/central/west) and municipality (1 for Beijing, Tianjin, Shanghai, Chongqing).
    """
    return _table("provinces.csv")


def cities(kind: str | list[str] | None = None) -> pd.DataFrame:
    """The 331 prefecture-level units of the 30 provinces (municipalities as one unit).

    Parameters
    ----------
    kind : str or list of str, optional
        Keep only these kinds: "prefecture-level city", "autonomous prefecture",
        "prefecture", "league", "municipality". Default: all.

    Returns
    -------
    DataFrame with columns code (GB/T 2260, six digits), name_zh, name_en (pinyin), kind,
    province, province_zh. Built from the cpca 0.5.5 package's division codes (see
    SOURCES.md); English names are romanisations, not official names.
    """
    tab = _table("cities.csv", dtype={"code": str})
    if kind is None:
        return tab
    kinds = [kind] if isinstance(kind, str) else list(kind)
    unknown = sorted(set(kinds) - set(tab["kind"]))
    if unknown:
        raise DataError(f"unknown city kind(s) {unknown}; choose from {sorted(set(tab['kind']))}")
    return tab[tab["kind"].isin(kinds)].reset_index(drop=True)


def province_names() -> dict[str, str]:
    """Map every spelling of a province the tables know (English, Chinese short name,
    Chinese full name such as 北京市 or 广西壮族自治区) to its English name."""
    tab = provinces()
    out = dict(zip(tab["name_en"], tab["name_en"]))
    out.update(zip(tab["name_zh"], tab["name_en"]))
    suffix = {"Inner Mongolia": "自治区", "Guangxi": "壮族自治区", "Ningxia": "回族自治区",
              "Xinjiang": "维吾尔自治区"}
    for en, zh, muni in zip(tab["name_en"], tab["name_zh"], tab["municipality"]):
        out[zh + suffix.get(en, "市" if muni else "省")] = en
    return out

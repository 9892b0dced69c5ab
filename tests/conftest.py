import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

# property tests draw the same examples on every run: CI never fails on a new draw
settings.register_profile("policylab", derandomize=True, print_blob=True)
settings.load_profile("policylab")


@pytest.fixture(autouse=True, scope="session")
def _policylab_cache(tmp_path_factory):
    """policylab's cache (CJK font subsets of Chinese reports) in a temporary folder
    for the test session, not the user's cache folder."""
    old = os.environ.get("POLICYLAB_CACHE_DIR")
    os.environ["POLICYLAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("policylab-cache"))
    yield
    if old is None:
        os.environ.pop("POLICYLAB_CACHE_DIR", None)
    else:
        os.environ["POLICYLAB_CACHE_DIR"] = old


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


# ------------------------------------------------ panels shaped like public ones (issue 17)
def castle_like(seed: int = 0) -> pd.DataFrame:
    """50 states x 2000-2010 as Cheng & Hoekstra's castle-doctrine panel: staggered laws
    (effyear missing for never-treated states, ``post`` its 0/1 DID), population weights,
    a census region, region-by-year dummies, ``homicide`` and ``l_homicide`` = its log."""
    rng = np.random.default_rng(seed)
    states = np.arange(1, 51)
    eff = np.full(50, np.nan)
    eff[:21] = rng.choice([2005, 2006, 2007, 2008, 2009], 21)
    region = rng.choice(["Northeast", "Midwest", "South", "West"], 50)
    years = np.arange(2000, 2011)
    df = pd.DataFrame({"sid": np.repeat(states, 11), "year": np.tile(years, 50)})
    df["state"] = "S" + df["sid"].astype(str)
    df["region"] = region[df["sid"] - 1]
    df["effyear"] = eff[df["sid"] - 1]
    df["post"] = (df["year"] >= df["effyear"]).astype(int)
    df["population"] = np.repeat(rng.uniform(5e5, 3e7, 50), 11).round()
    df["income"] = rng.normal(30000, 4000, len(df))
    df["unemployrt"] = rng.uniform(3, 10, len(df))
    df["poverty"] = rng.uniform(8, 20, len(df))
    df["police"] = rng.uniform(150, 300, len(df))
    df["homicide"] = np.exp(1.5 + 0.08 * df["post"] + rng.normal(0, 0.2, len(df))
                            + 0.02 * (df["year"] - 2000))
    df["l_homicide"] = np.log(df["homicide"])
    for yr in (2001, 2005, 2010):  # region 2 x year dummies, as in the published data
        df[f"r2{yr}"] = ((df["region"] == "Midwest") & (df["year"] == yr)).astype(int)
    return df


def mpdta_like(seed: int = 0) -> pd.DataFrame:
    """500 counties x 2003-2007 as R did's mpdta: ``first.treat`` (0 = never), ``treat``
    (unit-constant group), ``lpop`` (constant), ``lemp`` the outcome."""
    rng = np.random.default_rng(seed)
    n = 500
    ft = rng.choice([0, 2004, 2006, 2007], n, p=[0.6, 0.1, 0.15, 0.15])
    df = pd.DataFrame({"year": np.tile(np.arange(2003, 2008), n),
                       "countyreal": np.repeat(np.arange(8001, 8001 + n), 5)})
    df["lpop"] = np.repeat(rng.normal(3, 1.5, n), 5)
    f = np.repeat(ft, 5)
    df["lemp"] = 5 + 0.3 * df["lpop"] - 0.04 * ((f > 0) & (df["year"] >= f)) + rng.normal(
        0, 0.5, len(df))
    df["first.treat"] = f
    df["treat"] = (f > 0).astype(int)
    return df


def organ_like(seed: int = 0) -> pd.DataFrame:
    """27 states x 6 quarters as The Effect's organ-donation panel: quarters as text
    ("Q42010"), ``Quarter_Num`` 1-6 (a time index), ``Rate`` the outcome; no treatment
    column (California from Q32011 is defined by the user)."""
    rng = np.random.default_rng(seed)
    states = ["California"] + [f"State{i}" for i in range(1, 27)]
    quarters = ["Q42010", "Q12011", "Q22011", "Q32011", "Q42011", "Q12012"]
    df = pd.DataFrame({"State": np.repeat(states, 6), "Quarter": np.tile(quarters, 27),
                       "Quarter_Num": np.tile(np.arange(1, 7), 27)})
    df["Rate"] = rng.uniform(0.3, 0.8, len(df)).round(4)
    return df


# ------------------------------------------------ study specs that run only some steps
def steps_off(*keep: str) -> str:
    """TOML turning off every battery step except ``keep``: every step is on by
    default, so a test of one step names the few it needs rather than the many it does
    not (and a step added later does not slow every such test)."""
    from policylab.study.steps import _ORDER

    return "\n".join(f"[battery.{k}]\nenabled = false\n" for k in _ORDER if k not in keep)


def three_year_grants(seed: int = 3) -> pd.DataFrame:
    """Jobtraining-shaped: 120 firms, 1987-1989, grants from 1988 or 1989 (``did``),
    outcome ``y``."""
    rng = np.random.default_rng(seed)
    firm = np.repeat(np.arange(120), 3)
    year = np.tile([1987, 1988, 1989], 120)
    first = np.repeat(rng.choice([0, 1988, 1989], 120, p=[0.5, 0.25, 0.25]), 3)
    did = ((first > 0) & (year >= first)).astype(int)
    y = 0.3 * did + rng.normal(size=120).repeat(3) + 0.1 * (year - 1987) \
        + rng.normal(size=360)
    return pd.DataFrame({"firm": firm, "year": year, "did": did, "y": y})


def run_grants_study(tmp_path, battery: str, keep: tuple[str, ...],
                     df: pd.DataFrame | None = None, formats: str = '["md"]',
                     language: str = "en") -> dict:
    """Run a study of :func:`three_year_grants` (or ``df``) with the ``battery`` TOML
    and only the steps in ``keep`` on, its report in ``language``; returns
    results.json."""
    import json

    from policylab.study.pipeline import run_study

    (three_year_grants() if df is None else df).to_csv(tmp_path / "grants.csv", index=False)
    spec = tmp_path / "study.toml"
    spec.write_text(f"""
[data]
path = "grants.csv"
unit = "firm"
time = "year"

[treatment]
column = "did"

[model]
outcomes = ["y"]

{battery}
{steps_off(*keep)}
[output]
formats = {formats}
language = "{language}"
""")
    run_study(spec, tmp_path / "out", progress=False)
    return json.loads((tmp_path / "out" / "results.json").read_text())

"""Locate the example study specs (examples/*.toml) in a checkout or an installed wheel."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

__all__ = ["example_spec", "example_language", "EXAMPLES"]

EXAMPLES = ("carbon_trading_pilot", "energy_rights_pilot")


def example_spec(name: str) -> Path:
    """Path of ``examples/<name>.toml`` (bundled into the wheel as policylab/_examples)."""
    if name not in EXAMPLES:
        raise FileNotFoundError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
    fname = f"{name}.toml"
    bundled = resources.files("policylab").joinpath("_examples", fname)
    if bundled.is_file():
        return Path(str(bundled))
    repo = Path(__file__).resolve().parents[3] / "examples" / fname
    if repo.is_file():
        return repo
    raise FileNotFoundError(f"example spec {fname} not found (looked in the package and {repo})")


def example_language(spec: Path) -> str:
    """The report language of a bundled example spec (``output.language``, "en" if
    unset): the demo's first console line is in it."""
    with open(spec, "rb") as fh:
        lang = tomllib.load(fh).get("output", {}).get("language", "en")
    return lang if lang in ("en", "zh") else "en"

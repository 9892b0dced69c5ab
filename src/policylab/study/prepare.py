"""Turn a study spec's data section and transforms into an analysis-ready Panel."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from policylab.data.panel import Panel, require_columns
from policylab.errors import DataError, SpecError
from policylab.study.spec import StudySpec, Transform

__all__ = ["load_data", "apply_transforms", "file_hash", "prepare"]


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file (for the run manifest)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_data(spec: StudySpec, base_dir: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Load the main file (or bundled dataset) and merges; returns data and file hashes."""
    from policylab.data.readers import read_table

    d = spec.data
    hashes: dict[str, str] = {}
    if d.dataset:
        from policylab.data import datasets

        df = getattr(datasets, d.dataset)(seed=d.seed).df.copy()
        hashes[f"bundled:{d.dataset}(seed={d.seed})"] = hashlib.sha256(
            pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
        ).hexdigest()
    elif d.path:
        p = (base_dir / d.path).resolve()
        df = read_table(p)
        hashes[str(d.path)] = file_hash(p)
    else:
        raise SpecError("data: give either data.path (a file) or data.dataset (a bundled study)")
    for m in d.merges:
        p = (base_dir / m.path).resolve()
        other = read_table(p)
        require_columns(other, m.on, f"merge key of {m.path!r}")
        require_columns(df, m.on, "merge key")
        before = len(df)
        df = df.merge(other, on=m.on, how=m.how, validate="many_to_one")
        if len(df) != before and m.how == "left":
            raise DataError(f"merging {m.path!r} changed the row count; its keys are not unique")
        hashes[str(m.path)] = file_hash(p)
    if d.query:
        from policylab.data.filters import apply_filter

        # the restricted filter grammar: never pandas query, which runs Python
        df = apply_filter(df, d.query, "data.query")
    return df, hashes


def _apply(panel: Panel, t: Transform) -> Panel:
    if t.kind == "co2":
        from policylab.accounting import co2_emissions

        em = co2_emissions(panel.df, factors=t.factors, output=t.output,
                           fuels=t.columns or None)
        return panel.assign(**{t.name or "co2": em["total"].to_numpy()})
    if t.kind in ("ratio", "intensity"):
        require_columns(panel.df, [t.numerator, t.denominator])
        num = pd.to_numeric(panel.df[t.numerator])
        den = pd.to_numeric(panel.df[t.denominator])
        if (den == 0).any():
            raise DataError(f"transform {t.kind}: {t.denominator!r} has zeros")
        return panel.assign(**{t.name or f"{t.numerator}_per_{t.denominator}": num / den * t.scale})
    name = t.name if len(t.columns) == 1 else None
    if t.kind == "log":
        return panel.log(t.columns, name)
    if t.kind == "log1p":
        return panel.log(t.columns, name, log1p=True)
    if t.kind == "lag":
        return panel.lag(t.columns, t.k, name)
    if t.kind == "lead":
        return panel.lead(t.columns, t.k, name)
    if t.kind == "diff":
        return panel.diff(t.columns, t.k, name)
    if t.kind == "winsorize":
        return panel.winsorize(t.columns, t.lower, t.upper)
    if t.kind == "per_capita":
        if not t.population:
            raise SpecError("transform per_capita needs population=")
        return panel.per_capita(t.columns, t.population, t.scale)
    if t.kind == "deflate":
        if not t.price_index or t.base is None:
            raise SpecError("transform deflate needs price_index= and base=")
        return panel.deflate(t.columns, t.price_index, t.base)
    raise SpecError(f"unknown transform kind {t.kind!r}")  # pragma: no cover


def apply_transforms(panel: Panel, transforms: list[Transform]) -> Panel:
    """Apply the spec's transforms in order; errors name the transform's position."""
    for i, t in enumerate(transforms):
        try:
            panel = _apply(panel, t)
        except (DataError, SpecError) as exc:
            raise type(exc)(f"transforms[{i}] ({t.kind}): {exc}") from exc
    return panel


def prepare(spec: StudySpec, base_dir: Path) -> tuple[Panel, dict[str, Any]]:
    """Load, merge, filter and transform the data; returns the Panel and provenance."""
    df, hashes = load_data(spec, base_dir)
    panel = Panel(df, unit=spec.data.unit, time=spec.data.time)
    panel = apply_transforms(panel, spec.transforms)
    return panel, {"data_hashes": hashes, "panel": panel.describe()}

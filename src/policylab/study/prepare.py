"""Turn a study spec's data section and transforms into an analysis-ready Panel."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from policylab.data.panel import Panel, require_columns
from policylab.errors import DataError, SpecError
from policylab.study.spec import StudySpec, Transform

__all__ = ["load_data", "apply_transforms", "file_hash", "prepare", "data_labels",
           "with_data_labels"]


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file (for the run manifest)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _merge(df: pd.DataFrame, other: pd.DataFrame, on: list[str], how: str,
           name: str) -> pd.DataFrame:
    """Many-to-one merge; duplicate keys in the merged file are a DataError naming them."""
    require_columns(other, on, f"merge key of {name!r}")
    require_columns(df, on, "merge key")
    dup = other.duplicated(on, keep=False)
    if dup.any():
        rows = other.loc[dup, on]
        keys = rows.drop_duplicates().head(3).itertuples(index=False, name=None)
        lines = [int(i) + 2 for i in rows.index[:4]]  # +2: header line, 1-based
        raise DataError(
            f"merge file {name!r}: the keys {on} are not unique ({int(dup.sum())} rows "
            f"share a key, e.g. {list(keys)} at lines {lines}); each key must appear once "
            "— aggregate or deduplicate that file first"
        )
    mismatch = [c for c in on if df[c].dtype.kind != other[c].dtype.kind
                and {df[c].dtype.kind, other[c].dtype.kind} & {"O", "U", "S", "T"}]
    if mismatch:
        c = mismatch[0]
        raise DataError(f"merge key {c!r} is {df[c].dtype} in the data but {other[c].dtype} "
                        f"in {name!r}; make both text or both numbers")
    return df.merge(other, on=on, how=how, validate="many_to_one")


def data_labels(df: pd.DataFrame) -> dict[str, str]:
    """The labels a Stata file carried, as spec labels: column -> variable label and
    "column=code" -> value label (also "column=1.0" for a float column of codes)."""
    from policylab.data.readers import VALUE_LABELS_ATTR, VARIABLE_LABELS_ATTR

    out = dict(df.attrs.get(VARIABLE_LABELS_ATTR, {}))
    for col, mapping in df.attrs.get(VALUE_LABELS_ATTR, {}).items():
        for code, text in mapping.items():
            out[f"{col}={code}"] = text
            if float(code).is_integer():
                out[f"{col}={float(code)}"] = text
    return out


def with_data_labels(spec: StudySpec, labels: dict[str, str]) -> StudySpec:
    """A copy of ``spec`` whose ``model.labels`` also hold the data's own labels; the
    spec's labels win. The caller's spec is not changed."""
    if not labels:
        return spec
    model = spec.model.model_copy(update={"labels": {**labels, **spec.model.labels}})
    return spec.model_copy(update={"model": model})


def load_data(spec: StudySpec, base_dir: Path, problems: list[str] | None = None,
              ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Load the main file (or bundled dataset) and merges, add the derived columns and
    keep the rows of data.query; returns data and file hashes. With ``problems`` (a
    list), failing derived columns are listed there and skipped instead of raising.

    The text encoding each CSV file was read with (path -> encoding) is kept in the
    frame's ``attrs["policylab_encodings"]``, the labels Stata files carried
    (:func:`data_labels`) in ``attrs["policylab_labels"]``; :func:`prepare` puts both
    in the provenance.
    """
    from policylab.data.readers import ENCODING_ATTR, read_table

    d = spec.data
    hashes: dict[str, str] = {}
    encodings: dict[str, str] = {}
    labels: dict[str, str] = {}
    if d.dataset:
        from policylab.data import datasets

        df = getattr(datasets, d.dataset)(seed=d.seed).df.copy()
        hashes[f"bundled:{d.dataset}(seed={d.seed})"] = hashlib.sha256(
            pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
        ).hexdigest()
    elif d.path:
        p = (base_dir / d.path).resolve()
        df = read_table(p, encoding=d.encoding)
        hashes[str(d.path)] = file_hash(p)
        if ENCODING_ATTR in df.attrs:
            encodings[str(d.path)] = df.attrs[ENCODING_ATTR]
        labels.update(data_labels(df))
    else:
        raise SpecError("data: give either data.path (a file) or data.dataset (a bundled study)")
    for m in d.merges:
        p = (base_dir / m.path).resolve()
        other = read_table(p, encoding=m.encoding)
        if ENCODING_ATTR in other.attrs:
            encodings[str(m.path)] = other.attrs[ENCODING_ATTR]
        labels = {**data_labels(other), **labels}
        df = _merge(df, other, m.on, m.how, str(m.path))
        hashes[str(m.path)] = file_hash(p)
    df.attrs["policylab_encodings"] = encodings
    df.attrs["policylab_labels"] = labels
    if spec.derive:
        from policylab.data.derive import apply_derive

        # the expression grammar of derive: parsed, never Python or pandas eval
        df = apply_derive(df, spec.derive, d.unit, d.time, problems)
        df.attrs["policylab_encodings"] = encodings
        df.attrs["policylab_labels"] = labels
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
    encodings = dict(df.attrs.get("policylab_encodings", {}))
    labels = dict(df.attrs.get("policylab_labels", {}))
    try:
        panel = Panel(df, unit=spec.data.unit, time=spec.data.time)
    except DataError as exc:
        from policylab.data.derive import period_fix

        t = spec.data.time
        fix = (period_fix(df[t], t) if t in df and not pd.api.types.is_numeric_dtype(df[t])
               else None)
        if fix is None:
            raise
        raise DataError(f"data.time: {exc}; {fix}") from None
    panel = apply_transforms(panel, spec.transforms)
    return panel, {"data_hashes": hashes, "data_encodings": encodings,
                   "data_labels": labels,
                   "derived": [{"name": k, "expression": v} for k, v in spec.derive.items()],
                   "panel": panel.describe()}

"""What a battery step is given and what it gives back.

Kept apart from :mod:`policylab.study.pipeline` so that the steps, which the pipeline
runs, need not import the pipeline back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policylab.study.spec import StudySpec

__all__ = ["Context", "StepOutput"]


@dataclass
class StepOutput:
    """What one battery step produced."""

    key: str
    title: str
    results: dict[str, Any] = field(default_factory=dict)
    tables: list[tuple[str, Any]] = field(default_factory=list)
    figures: list[tuple[str, Any]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Context:
    """Everything a step needs: the spec, the prepared panel, shared results."""

    spec: StudySpec
    panel: Any
    base_dir: Path
    lang: str
    seed: int
    cache: dict[str, Any] = field(default_factory=dict)

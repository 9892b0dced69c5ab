"""Write a finished battery to disk: tables, figures, report.html, report.docx.

Each file is written on its own: when one cannot be written (a writer fails, a disk
quota, an odd name) the failure is recorded and every other file is still written,
so finished work is never lost to one output. File names built from user text
(column names, labels) go through :func:`policylab.study.outdir.safe_filename`;
the reports keep the original text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policylab.study.outdir import safe_filename
from policylab.study.spec import StudySpec

__all__ = ["write_all", "Rendered"]

_TABLE_WRITERS = {
    "md": ("to_markdown", ".md"),
    "tex": ("to_latex", ".tex"),
    "html": ("to_html", ".html"),
}


@dataclass
class Rendered:
    """What :func:`write_all` produced: the two reports and every file it could not write."""

    report_html: Path | None = None
    report_docx: Path | None = None
    failures: list[dict[str, str]] = field(default_factory=list)

    def attempt(self, root: Path, path: Path, step: str, write: Callable[[], Any]) -> bool:
        """Run one writer; on failure record it (and remove any half-written file)."""
        try:
            write()
            return True
        except Exception as exc:  # any writer failure must not cost the other outputs
            if path.is_file():
                path.unlink()
            self.failures.append({"file": path.relative_to(root).as_posix(), "step": step,
                                  "error": f"{type(exc).__name__}: {exc}"})
            return False


def _table_writer(table: Any, fmt: str, path: Path) -> Callable[[], Any] | None:
    if fmt in _TABLE_WRITERS:
        method = _TABLE_WRITERS[fmt][0]
        return lambda: path.write_text(getattr(table, method)(), encoding="utf-8")
    if fmt == "csv":
        return lambda: table.to_dataframe().to_csv(path, index=False)
    if fmt == "xlsx":
        return lambda: table.to_excel(path)
    if fmt == "docx":
        return lambda: table.to_docx(path)
    return None


def _ext(fmt: str) -> str:
    return _TABLE_WRITERS[fmt][1] if fmt in _TABLE_WRITERS else f".{fmt}"


def _write_tables(root: Path, out: Any, formats: list[str], taken: set[str],
                  done: Rendered) -> None:
    for name, table in out.tables:
        stem = safe_filename(f"{out.key}_{name}", taken)
        for fmt in formats:
            path = root / "tables" / f"{stem}{_ext(fmt)}"
            writer = _table_writer(table, fmt, path)
            if writer is not None:
                done.attempt(root, path, out.key, writer)


def _write_figures(root: Path, out: Any, formats: tuple[str, ...], taken: set[str],
                   done: Rendered) -> list[dict[str, Any]]:
    from policylab.report.style import save_figure

    figs = []
    for name, fig in out.figures:
        stem = safe_filename(f"{out.key}_{name}", taken)
        written: list[Path] = []
        for fmt in formats:
            path = root / "figures" / f"{stem}.{fmt}"
            done.attempt(root, path, out.key, lambda p=path, f=fmt, g=fig, w=written:
                         w.extend(save_figure(g, p, formats=(f,))))
        png = next((p for p in written if p.suffix == ".png"), None)
        figs.append({"name": name, "figure": fig, "png": png})
    return figs


def write_all(tmp: Path, spec: StudySpec, outputs: list[Any], ctx: Any) -> Rendered:
    """Write every table and figure, then the HTML and Word reports, into ``tmp``."""
    import matplotlib.pyplot as plt

    (tmp / "tables").mkdir(exist_ok=True)
    (tmp / "figures").mkdir(exist_ok=True)
    done = Rendered()
    taken_tables: set[str] = set()
    taken_figures: set[str] = set()
    sections = []
    for out in outputs:
        figs = _write_figures(tmp, out, tuple(spec.output.figure_formats), taken_figures, done)
        _write_tables(tmp, out, list(spec.output.formats), taken_tables, done)
        sections.append({
            "key": out.key, "title": out.title, "status": out.status, "error": out.error,
            "text": list(out.text), "tables": [t for _, t in out.tables],
            "figures": figs, "warnings": list(out.warnings),
        })
    provenance = {"policylab": __import__("policylab").__version__,
                  "panel": ctx.panel.describe(), "seed": spec.study.seed}
    kw = {"lang": spec.output.language, "title": spec.study.title, "provenance": provenance}
    if "html" in spec.output.formats:
        from policylab.report.html import write_report as write_html

        path = tmp / "report.html"
        if done.attempt(tmp, path, "report", lambda: write_html(sections, path, **kw)):
            done.report_html = path
    if "docx" in spec.output.formats:
        from policylab.report.docx import write_report as write_docx

        path = tmp / "report.docx"
        if done.attempt(tmp, path, "report", lambda: write_docx(sections, path, **kw)):
            done.report_docx = path
    for s in sections:
        for f in s["figures"]:
            plt.close(f["figure"])
    return done

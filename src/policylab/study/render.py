"""Write a finished battery to disk: tables, figures, report.html, report.docx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policylab.study.spec import StudySpec

__all__ = ["write_all"]

_TABLE_WRITERS = {
    "md": ("to_markdown", ".md"),
    "tex": ("to_latex", ".tex"),
    "csv": ("to_csv", ".csv"),
}


def _write_table(table: Any, stem: Path, formats: list[str]) -> None:
    for fmt in formats:
        if fmt in _TABLE_WRITERS:
            method, ext = _TABLE_WRITERS[fmt]
            if fmt == "csv":
                table.to_dataframe().to_csv(stem.with_suffix(ext), index=False)
            else:
                stem.with_suffix(ext).write_text(getattr(table, method)(), encoding="utf-8")
        elif fmt == "xlsx":
            table.to_excel(stem.with_suffix(".xlsx"))
        elif fmt == "docx":
            table.to_docx(stem.with_suffix(".docx"))
        elif fmt == "html":
            stem.with_suffix(".html").write_text(table.to_html(), encoding="utf-8")


def write_all(tmp: Path, spec: StudySpec, outputs: list[Any], ctx: Any) -> tuple[Path | None, Path | None]:
    """Write every table and figure, then the HTML and Word reports, into ``tmp``."""
    import matplotlib.pyplot as plt

    from policylab.report.style import save_figure

    tables_dir, fig_dir = tmp / "tables", tmp / "figures"
    tables_dir.mkdir()
    fig_dir.mkdir()
    sections = []
    for out in outputs:
        figs = []
        for name, fig in out.figures:
            paths = save_figure(fig, fig_dir / f"{out.key}_{name}",
                                formats=tuple(spec.output.figure_formats))
            png = next((p for p in paths if str(p).endswith(".png")), None)
            figs.append({"name": name, "figure": fig, "png": png})
        for name, table in out.tables:
            _write_table(table, tables_dir / f"{out.key}_{name}", list(spec.output.formats))
        sections.append({
            "key": out.key, "title": out.title, "status": out.status, "error": out.error,
            "text": list(out.text), "tables": [t for _, t in out.tables],
            "figures": figs, "warnings": list(out.warnings),
        })
    provenance = {"policylab": __import__("policylab").__version__,
                  "panel": ctx.panel.describe(), "seed": spec.study.seed}
    html_path = docx_path = None
    if "html" in spec.output.formats:
        from policylab.report.html import write_report as write_html

        html_path = tmp / "report.html"
        write_html(sections, html_path, lang=spec.output.language, title=spec.study.title,
                   provenance=provenance)
    if "docx" in spec.output.formats:
        from policylab.report.docx import write_report as write_docx

        docx_path = tmp / "report.docx"
        write_docx(sections, docx_path, lang=spec.output.language, title=spec.study.title,
                   provenance=provenance)
    for s in sections:
        for f in s["figures"]:
            plt.close(f["figure"])
    return html_path, docx_path

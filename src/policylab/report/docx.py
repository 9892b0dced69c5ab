"""The study report as a Word document: same sections, three-line tables, figures."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from policylab.report.tables import _atomic

__all__ = ["write_report"]

_WORDS = {"en": {"failed": "This step failed", "warnings": "Warnings",
                 "provenance": "Provenance"},
          "zh": {"failed": "此步骤运行失败", "warnings": "警示", "provenance": "运行信息"}}


def write_report(sections: list[dict[str, Any]], path: str | Path, *, lang: str = "en",
                 title: str = "Report", provenance: dict[str, Any] | None = None,
                 overview: str = "") -> Path:
    """Write ``report.docx`` (sections as in :func:`policylab.report.html.render_report`)."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Inches

    w = _WORDS.get(lang, _WORDS["en"])
    doc = Document()
    if lang == "zh":
        style = doc.styles["Normal"]
        style.font.name = "SimSun"
        style.element.rPr.rFonts.set(qn("w:eastAsia"), "SimSun")
    doc.add_heading(title, level=0)
    if overview:
        doc.add_paragraph(overview)
    for i, s in enumerate(sections, 1):
        doc.add_heading(f"{i}. {s['title']}", level=1)
        if s.get("status") == "failed":
            doc.add_paragraph(f"{w['failed']}: {s.get('error')}")
        for p in s.get("text", []):
            doc.add_paragraph(p)
        for t in s.get("tables", []):
            t.add_to_docx(doc)
            doc.add_paragraph()
        for f in s.get("figures", []):
            png = f.get("png")
            if png is not None and Path(png).exists():
                doc.add_picture(str(png), width=Inches(6))
            else:
                buf = io.BytesIO()
                f["figure"].savefig(buf, format="png", dpi=150)
                buf.seek(0)
                doc.add_picture(buf, width=Inches(6))
        if s.get("warnings"):
            doc.add_paragraph(w["warnings"] + ":")
            for x in s["warnings"]:
                doc.add_paragraph(x, style="List Bullet")
    if provenance:
        doc.add_heading(w["provenance"], level=1)
        for k, v in provenance.items():
            doc.add_paragraph(f"{k}: {v}")
    return _atomic(path, doc.save)

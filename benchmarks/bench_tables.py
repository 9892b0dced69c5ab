"""Writing a study's tables as Word and Excel files: policylab against the plain route
a user writes with python-docx and openpyxl, cell by cell, in one run.

    python benchmarks/bench_tables.py [--reps 3] [--scale 1] [--before /work/main/src]

The tables are a study's set as the bundled examples have it (24 tables, about 1,800
cells): regression tables of 4-6 models with a group header row (zh and en), an event
study (15 event times), descriptives of 10 variables (a wide, landscape table),
heterogeneity by 3 groups, placebo and pre-trend summaries; ``--scale`` repeats the
set. Each route writes every table to its own .docx and .xlsx, and all of them into
one Word document (as report.docx holds them). The peer does what a user would: per
cell ``cell.text = ...``, the run's fonts (Latin and East Asian) and size, the
paragraph's alignment, the rule on each cell of a rule row (``w:tcBorders``), merged
group cells; in openpyxl a value, number format, alignment and border per cell.

Prints CPU seconds (``time.process_time``; the machine is shared, so CPU, not wall
time) of the best of ``--reps`` runs per route and part, and the ratio peer / policylab.
The first policylab run also pays its one-off per-process setup (styling the blank Word
document once), shown separately. ``--before SRC`` also times policylab's route with the
sources in SRC (the code before a change), each in a fresh process, and prints the
ratios before / after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from policylab.estimators.feols import FeolsResult
from policylab.report.docx import add_table, new_document
from policylab.report.tables import Table, etable, table_from_frame

FONTS = ("Times New Roman", "SimSun")


def _model(rng: np.random.Generator, depvar: str, k: int = 3) -> FeolsResult:
    terms = ["did"] + [f"x{i}" for i in range(1, k)]
    se = rng.uniform(0.005, 0.05, k)
    return FeolsResult(
        nobs=570, terms=terms, beta=rng.normal(0, 0.2, k), vcov_matrix=np.diag(se ** 2),
        df_t=29, r2=0.99, r2_within=0.42, n_clusters={"province": 30}, depvar_mean=8.9,
        meta={"depvar": depvar, "fe": ["province", "year"], "vcov": "CRV1",
              "cluster": ["province"], "controls": terms[1:], "unit": "province",
              "time": "year"})


def study_tables(scale: int = 1, seed: int = 0) -> list[Table]:
    """A study's tables (see the module docstring)."""
    rng = np.random.default_rng(seed)
    out: list[Table] = []
    for _ in range(scale):
        for lang in ("zh", "en"):
            for ncols in (4, 6, 5, 6, 4, 5):
                models = [_model(rng, f"y{j % 3}", k=4) for j in range(ncols)]
                groups = [("CO2" if lang == "en" else "碳排放", ncols // 2),
                          ("Intensity" if lang == "en" else "碳强度", ncols - ncols // 2)]
                out.append(etable(models, lang=lang, group_headers=groups,
                                  title=f"Table {len(out) + 1}", controls=False))
            es = pd.DataFrame({"rel_time": range(-6, 9), "estimate": rng.normal(0, .1, 15),
                               "std_error": rng.uniform(.01, .05, 15),
                               "p_value": rng.uniform(0, 1, 15), "n": [570] * 15})
            out.append(table_from_frame(es, lang=lang, title="Event study"))
            desc = pd.DataFrame(rng.normal(size=(10, 10)),
                                columns=["N", "mean", "sd", "min", "p25", "p50", "p75", "max",
                                         "treated", "control"])
            desc.insert(0, "variable", [f"variable {i}" for i in range(10)])
            out.append(table_from_frame(desc, lang=lang, title="Descriptives"))
            het = pd.DataFrame({"group": ["east", "central", "west"],
                                "estimate": rng.normal(0, .1, 3),
                                "std_error": rng.uniform(.01, .05, 3),
                                "p_value": rng.uniform(0, 1, 3), "n_obs": [190] * 3})
            out.append(table_from_frame(het, lang=lang, title="Heterogeneity"))
            out.append(table_from_frame(het.iloc[:2], lang=lang, title="Heterogeneity 2"))
            for name in ("Placebo", "Pre-trend tests"):
                small = pd.DataFrame({"test": ["a", "b", "c", "d"],
                                      "statistic": rng.normal(size=4),
                                      "p_value": rng.uniform(0, 1, 4)})
                out.append(table_from_frame(small, lang=lang, title=name))
    return out


# ---------------------------------------------------------------- the plain route
def _peer_run_fonts(run, size: float, bold: bool = False) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    run.font.size = Pt(size)
    run.font.name = FONTS[0]
    run.bold = bold or None
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONTS[1])


def _peer_border(cell, edge: str, size: int) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tcPr = cell._tc.get_or_add_tcPr()
    borders = tcPr.find(qn("w:tcBorders"))
    if borders is None:
        borders = OxmlElement("w:tcBorders")
        tcPr.append(borders)
    el = OxmlElement(f"w:{edge}")
    for k, v in (("val", "single"), ("sz", str(size)), ("space", "0"), ("color", "000000")):
        el.set(qn(f"w:{k}"), v)
    borders.append(el)


def peer_docx_table(doc, t: Table) -> None:
    """One table the way a user writes it with python-docx."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    if t.title:
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _peer_run_fonts(p.add_run(t.title), 10, bold=True)
    rows, n = t.header + t.body, t.ncols
    table = doc.add_table(rows=len(rows), cols=n)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for (i, j), span in t.spans.items():
        if span > 1:
            table.cell(i, j).merge(table.cell(i, j + span - 1))
    for i, r in enumerate(rows):
        cells = table.rows[i].cells
        for j in range(n):
            if j and cells[j]._tc is cells[j - 1]._tc:
                continue  # inside a merged cell
            p = cells[j].paragraphs[0]
            p.alignment = WD_ALIGN_PARAGRAPH.LEFT if j == 0 else WD_ALIGN_PARAGRAPH.CENTER
            _peer_run_fonts(p.add_run(r[j] if j < len(r) else ""), 9)
            if i == 0:
                _peer_border(cells[j], "top", 12)
            if i == len(t.header) - 1 or i == len(rows) - 1:
                _peer_border(cells[j], "bottom", 12 if i == len(rows) - 1 else 6)
    for note in t.notes:
        _peer_run_fonts(doc.add_paragraph().add_run(note), 8)


def peer_docx_file(t: Table, path: Path) -> None:
    from docx import Document

    doc = Document()
    peer_docx_table(doc, t)
    doc.save(str(path))


def peer_xlsx_file(t: Table, path: Path) -> None:
    """One table the way a user writes it with openpyxl."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side

    wb = Workbook()
    ws = wb.active
    ws.title = "table"
    r0 = 1
    if t.title:
        ws.cell(1, 1, t.title).font = Font(bold=True)
        r0 = 2
    rows, nh = t.header + t.body, len(t.header)
    medium, thin = Side(style="medium"), Side(style="thin")
    for i, r in enumerate(rows):
        vals = t.values[i - nh] if nh <= i < nh + len(t.values) else []
        for j in range(t.ncols):
            v = vals[j] if j < len(vals) else None
            value, fmt = v.excel() if v is not None else (r[j] if j < len(r) else "", None)
            cell = ws.cell(r0 + i, j + 1, value)
            if fmt:
                cell.number_format = fmt
            cell.alignment = Alignment(horizontal="left" if j == 0 else "center")
            cell.border = Border(top=medium if i == 0 else None,
                                 bottom=thin if i == nh - 1 else medium
                                 if i == len(rows) - 1 else None)
    for (i, j), span in t.spans.items():
        if span > 1:
            ws.merge_cells(start_row=r0 + i, start_column=j + 1, end_row=r0 + i,
                           end_column=j + span)
    for k, note in enumerate(t.notes):
        ws.cell(r0 + len(rows) + k, 1, note).font = Font(size=9)
    wb.save(str(path))


# ---------------------------------------------------------------------- timing
def _cpu(fn) -> float:
    c = time.process_time()
    fn()
    return time.process_time() - c


def routes(tables: list[Table], out: Path) -> dict[str, dict[str, object]]:
    def pl_docx() -> None:
        for k, t in enumerate(tables):
            t.to_docx(out / f"pl_{k}.docx")

    def pl_xlsx() -> None:
        for k, t in enumerate(tables):
            t.to_excel(out / f"pl_{k}.xlsx")

    def pl_one() -> None:
        doc = new_document(FONTS)
        for t in tables:
            add_table(doc, t, FONTS)
        doc.save(str(out / "pl_all.docx"))

    def peer_docx() -> None:
        for k, t in enumerate(tables):
            peer_docx_file(t, out / f"peer_{k}.docx")

    def peer_xlsx() -> None:
        for k, t in enumerate(tables):
            peer_xlsx_file(t, out / f"peer_{k}.xlsx")

    def peer_one() -> None:
        from docx import Document

        doc = Document()
        for t in tables:
            peer_docx_table(doc, t)
        doc.save(str(out / "peer_all.docx"))

    return {"Word, a file per table": {"policylab": pl_docx, "peer": peer_docx},
            "Excel, a file per table": {"policylab": pl_xlsx, "peer": peer_xlsx},
            "Word, all in one document": {"policylab": pl_one, "peer": peer_one}}


def _best(tables: list[Table], reps: int, who: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        plan = routes(tables, Path(tmp))
        return {part: min(_cpu(fns[who]) for _ in range(reps)) for part, fns in plan.items()}


def _fresh(src: str, reps: int, scale: int) -> dict[str, float]:
    """policylab's route with the sources in ``src``, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, __file__, "--json", "--reps", str(reps),
                          "--scale", str(scale)], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--before", help="policylab sources to compare with (e.g. main's src)")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    import docx  # noqa: F401  imports are not what is timed
    import openpyxl  # noqa: F401

    tables = study_tables(args.scale)
    if args.json:  # one side of --before: the first run (with the setup), then the best
        with tempfile.TemporaryDirectory() as tmp:
            first = _cpu(routes(tables, Path(tmp))["Word, a file per table"]["policylab"])
        print(json.dumps({"first Word run": first, **_best(tables, args.reps, "policylab")}))
        return
    cells = sum((len(t.header) + len(t.body)) * t.ncols for t in tables)
    print(f"{len(tables)} tables, {cells} cells; CPU seconds, best of {args.reps}")
    if args.before:
        here = str(Path(__file__).resolve().parents[1] / "src")
        runs = [(_fresh(args.before, args.reps, args.scale), _fresh(here, args.reps,
                                                                    args.scale))
                for _ in range(2)]  # interleaved: the machine's load changes
        before = {k: min(r[0][k] for r in runs) for k in runs[0][0]}
        after = {k: min(r[1][k] for r in runs) for k in runs[0][1]}
        print(f"{'policylab':28s} {'before':>8s} {'after':>8s} {'ratio':>7s}")
        for part in before:
            print(f"{part:28s} {before[part]:8.3f} {after[part]:8.3f} "
                  f"{before[part] / after[part]:6.1f}x")
        return
    with tempfile.TemporaryDirectory() as tmp:
        first = _cpu(routes(tables, Path(tmp))["Word, a file per table"]["policylab"])
    print(f"(policylab's first Word run, with the per-process setup: {first:.3f} s)")
    best = {who: _best(tables, args.reps, who) for who in ("peer", "policylab")}
    print(f"{'':28s} {'peer':>8s} {'policylab':>10s} {'ratio':>7s}")
    for part in best["peer"]:
        p, q = best["peer"][part], best["policylab"][part]
        print(f"{part:28s} {p:8.3f} {q:10.3f} {p / q:6.1f}x")
    p, q = sum(best["peer"].values()), sum(best["policylab"].values())
    print(f"{'all':28s} {p:8.3f} {q:10.3f} {p / q:6.1f}x")


if __name__ == "__main__":
    main()

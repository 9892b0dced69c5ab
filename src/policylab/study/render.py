"""Write a finished battery to disk: tables, figures, report.html, report.docx.

Each file is written on its own: when one cannot be written (a writer fails, a disk
quota, an odd name) the failure is recorded and every other file is still written,
so finished work is never lost to one output. File names built from user text
(column names, labels) go through :func:`policylab.study.outdir.safe_filename`;
the reports keep the original text.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policylab.report.labels import columns, report_word
from policylab.study.frame import (
    degenerate,
    fmt_num,
    headline,
    identity_sentences,
    number_sections,
    p_is,
    translated_warnings,
)
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
    untranslated: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # figures, tables, reports

    @contextmanager
    def timed(self, part: str) -> Iterator[None]:
        """Add the wall time of the block to ``seconds[part]``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - t

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


def _write_tables(root: Path, key: str, tables: list[tuple[str, Any]], formats: list[str],
                  taken: set[str], done: Rendered) -> None:
    for name, table in tables:
        stem = safe_filename(f"{key}_{name}", taken)
        for fmt in formats:
            path = root / "tables" / f"{stem}{_ext(fmt)}"
            writer = _table_writer(table, fmt, path)
            if writer is not None:
                done.attempt(root, path, key, writer)


def _write_figures(root: Path, out: Any, formats: tuple[str, ...], taken: set[str],
                   done: Rendered) -> list[dict[str, Any]]:
    from policylab.report.style import save_figure

    figs = []
    for name, fig in out.figures:
        why = degenerate(fig)
        if why:  # nothing to see: a sentence in the report instead of an empty plot
            figs.append({"name": name, "figure": fig, "png": None, "degenerate": why})
            continue
        stem = safe_filename(f"{out.key}_{name}", taken)
        written: list[Path] = []
        for fmt in formats:
            path = root / "figures" / f"{stem}.{fmt}"
            done.attempt(root, path, out.key, lambda p=path, f=fmt, g=fig, w=written:
                         w.extend(save_figure(g, p, formats=(f,))))
        png = next((p for p in written if p.suffix == ".png"), None)
        figs.append({"name": name, "figure": fig, "png": png})
    return figs


def _provenance(ctx: Any) -> dict[str, Any]:
    """What a reader needs to rerun the study, in the report's words: the version, the
    panel (observations, units, periods, balanced or not) and the seed (the manifest
    records the spec and the data files with their hashes)."""
    from policylab import __version__

    lang = ctx.lang
    d = ctx.panel.describe()
    panel = _sample_note(ctx, lang) or f"{d.get('n_rows')} rows"
    if "balanced" in d:
        panel += " " + report_word("prov_balanced" if d["balanced"] else "prov_unbalanced",
                                   lang)
    return {"policylab": __version__, report_word("prov_panel", lang): panel,
            report_word("prov_seed", lang): ctx.spec.study.seed}


def _sample_note(ctx: Any, lang: str) -> str:
    try:
        df = ctx.panel.df
        t = df[ctx.panel.time]
        return report_word("sample", lang, n=f"{len(df):,}", units=df[ctx.panel.unit].nunique(),
                           t0=int(t.min()), t1=int(t.max()))
    except Exception:  # a panel without a numeric time: no sample line
        return ""


def _pretrend_lines(out: Any, lang: str) -> list[str]:
    pt = out.numbers.get("pretrend_tests")
    if not pt:
        return []
    lines = []
    for m in pt["order"]:
        t = pt["tests"][m]
        if "p_value" not in t:
            continue
        tag = report_word("recommended" if m == pt["recommended"] else "not_recommended",
                          lang)
        line = report_word("pretrend_line_ri" if m == "ri" else "pretrend_line", lang,
                           method=report_word(f"method_{m}", lang),
                           stat=fmt_num(t["statistic"], 2), p=p_is(t["p_value"]))
        lines.append(f"{line} ({tag})" if lang == "en" else f"{line}（{tag}）")
    k = pt["tests"][pt["recommended"]].get("df1", "")
    return [report_word("pretrend_note", lang, k=k), *lines]


def _figure_notes(out: Any, name: str, lang: str) -> list[str]:
    if out.key == "event_study" and name == "event_study":
        return _pretrend_lines(out, lang)
    if out.key == "placebo" and "placebo" in out.results:
        r = out.results["placebo"]
        return [report_word("placebo_note", lang, draws=f"{len(r.estimates):,}",
                            p=p_is(r.p_value),
                            how=report_word("how_exact" if r.exact else "how_random", lang))]
    return []


def _table_notes(out: Any, name: str, outputs: dict[str, Any], lang: str,
                 labels: dict[str, str]) -> list[str]:
    notes: list[str] = []
    if out.key == "baseline":
        wb = outputs.get("wild_bootstrap")
        for y, w in (wb.results.items() if wb is not None and wb.status != "failed" else []):
            note = report_word("wild_note", lang, weights=columns(lang).get(w.meta.get("weights"), w.meta.get("weights")),
                               draws=w.meta.get("draws", ""), p=p_is(w.p_value),
                               lo=fmt_num(w.conf_low), hi=fmt_num(w.conf_high))
            notes.append(f"{labels.get(y, y)}: {note}" if len(wb.results) > 1 else note)
    if out.key == "psm_did" and name == "balance":
        bad = (out.numbers.get("check_failed") or {}).get("balance")
        notes.append(report_word("balance_bad", lang, vars=("、" if lang == "zh" else ", ")
                                 .join(labels.get(b, b) for b in bad)) if bad
                     else report_word("balance_ok", lang))
    return notes


def _relabel(t: Any, lang: str, labels: dict[str, str]) -> Any:
    """A table with the words steps left in cells, headers and title in the reader's
    language (numbers untouched)."""
    from policylab.report.labels import cell_label

    def cell(text: str, num: Any) -> str:
        return text if num is not None or not text else cell_label(text, lang, labels)

    vals = t.values or [[None] * len(r) for r in t.body]
    body = [[cell(c, vals[i][j] if j < len(vals[i]) else None) for j, c in enumerate(r)]
            for i, r in enumerate(t.body)]
    header = [[cell(c, None) for c in r] for r in t.header]
    title = cell_label(t.title, lang, {}) if t.title else t.title
    return dataclasses.replace(t, header=header, body=body, title=title)


def _section(out: Any, figs: list[dict[str, Any]], ctx: Any, outputs: dict[str, Any],
             untranslated: list[str]) -> dict[str, Any]:
    """One report section: captions' titles, notes under tables and figures, the
    warnings in the reader's words, and the baseline's mechanical identities."""
    from policylab.report.labels import figure_title, translate_warning

    lang, labels = ctx.lang, dict(ctx.spec.model.labels)
    sample = _sample_note(ctx, lang)
    tables = [dataclasses.replace(_relabel(t, lang, labels),
                                  notes=[*t.notes, *_table_notes(out, name, outputs, lang,
                                                                 labels),
                                         *([sample] if sample else [])])
              for name, t in out.tables]
    text = [translate_warning(p, lang, labels)[0] for p in out.text]
    for f in figs:
        f["title"] = figure_title(f["name"], lang, labels, list(ctx.spec.model.outcomes))
        f["notes"] = _figure_notes(out, f["name"], lang)
        if f.get("degenerate"):
            text.append(report_word("no_figure", lang, why=report_word(f["degenerate"], lang)))
    drawn = [f for f in figs if not f.get("degenerate")]
    if out.key == "baseline":
        m = ctx.spec.model
        text += identity_sentences(out, ctx.panel.df, list(m.outcomes), list(m.controls),
                                   lang, labels)
    error = out.error
    bad = (out.numbers.get("check_failed") or {}).get("balance")
    if out.status == "warned" and bad:
        error = report_word("balance_bad", lang, vars=("、" if lang == "zh" else ", ").join(
            labels.get(b, b) for b in bad))
    elif out.status == "warned" and error:
        error = translated_warnings([error], lang, labels, untranslated)[0]
    return {"key": out.key, "title": out.title, "status": out.status, "error": error,
            "status_word": report_word(f"status_{out.status}", lang),
            "text": text, "tables": tables, "figures": drawn, "all_figures": figs,
            "warnings": translated_warnings(list(out.warnings), lang, labels, untranslated)}


def write_all(tmp: Path, spec: StudySpec, outputs: list[Any], ctx: Any) -> Rendered:
    """Write every table and figure, then the HTML and Word reports, into ``tmp``."""
    import matplotlib.pyplot as plt

    (tmp / "tables").mkdir(exist_ok=True)
    (tmp / "figures").mkdir(exist_ok=True)
    done = Rendered()
    taken_tables: set[str] = set()
    taken_figures: set[str] = set()
    sections = []
    by_key = {o.key: o for o in outputs}
    for out in outputs:
        with done.timed("figures"):
            figs = _write_figures(tmp, out, tuple(spec.output.figure_formats), taken_figures,
                                  done)
        sections.append(_section(out, figs, ctx, by_key, done.untranslated))
    number_sections(sections, ctx.lang)
    # the table files are the report's tables: same words, notes and number
    for out, sec in zip(outputs, sections):
        named = [(name, t) for (name, _), t in zip(out.tables, sec["tables"])]
        with done.timed("tables"):
            _write_tables(tmp, out.key, named, list(spec.output.formats), taken_tables, done)
    design = ctx.cache.get("design")
    n_groups = design.facts.get("n_treated_groups") if design is not None else None
    summary = headline(outputs, n_groups, ctx.lang, dict(spec.model.labels),
                       digits=spec.output.digits)
    provenance = _provenance(ctx)
    kw = {"lang": spec.output.language, "title": spec.study.title, "provenance": provenance,
          "headline": summary}
    if "html" in spec.output.formats:
        from policylab.report.html import write_report as write_html

        path = tmp / "report.html"
        with done.timed("reports"):
            if done.attempt(tmp, path, "report", lambda: write_html(sections, path, **kw)):
                done.report_html = path
    if "docx" in spec.output.formats:
        from policylab.report.docx import write_report as write_docx

        path = tmp / "report.docx"
        with done.timed("reports"):
            if done.attempt(tmp, path, "report", lambda: write_docx(sections, path, **kw)):
                done.report_docx = path
    for s in sections:
        for f in s["all_figures"]:
            plt.close(f["figure"])
    return done

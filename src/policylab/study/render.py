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

from policylab.report.labels import columns, report_word, word
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
from policylab.study.workers import Job, WorkerDied, Workers

__all__ = ["write_all", "Rendered", "FigureFiles", "Sections"]

_TABLE_WRITERS = {
    "md": ("to_markdown", ".md"),
    "tex": ("to_latex", ".tex"),
    "html": ("to_html", ".html"),
}
_OTHER_TABLES = ("csv", "xlsx", "docx")


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


def _table_files(root: Path, outputs: list[Any], sections: list[dict[str, Any]],
                 formats: list[str], taken: set[str] | None = None
                 ) -> list[tuple[str, Path, Any, str]]:
    """(step, path, table, format) of every table file; the table files are the
    report's tables (same words, notes and number). ``taken`` holds the file names
    given to the tables of earlier sections."""
    taken = set() if taken is None else taken
    files = []
    for out, sec in zip(outputs, sections):
        for (name, _), table in zip(out.tables, sec["tables"]):
            stem = safe_filename(f"{out.key}_{name}", taken)
            files += [(out.key, root / "tables" / f"{stem}{_ext(fmt)}", table, fmt)
                      for fmt in formats if fmt in _TABLE_WRITERS or fmt in _OTHER_TABLES]
    return files


def _write_tables(root: Path, files: list[tuple[str, Path, Any, str]]) -> dict[str, Any]:
    """Write the table files (runs in a writer process): what failed, how long it took."""
    done = Rendered()
    with done.timed("tables"):
        for key, path, table, fmt in files:
            writer = _table_writer(table, fmt, path)
            if writer is not None:
                done.attempt(root, path, key, writer)
    return {"failures": done.failures, "seconds": done.seconds.get("tables", 0.0)}


def _save_figures(root: Path, key: str, drawn: list[tuple[Any, list[Path]]]
                  ) -> dict[str, Any]:
    """Write each figure to its paths (runs in a writer process): the paths written,
    what failed and how long it took."""
    from policylab.report.html import screen_png
    from policylab.report.raster import rasterize
    from policylab.report.style import save_figure, write_png

    done = Rendered()
    written: list[list[str]] = []
    screens: list[bytes | None] = []
    with done.timed("figures"):
        for fig, paths in drawn:
            ok: list[str] = []
            pixels: dict[str, Any] = {}  # the PNG's, for the report's copy

            def save(p: Path, g: Any = fig, kept: dict[str, Any] = pixels) -> None:
                if p.suffix != ".png":
                    save_figure(g, p, formats=(p.suffix[1:],))
                    return
                kept["png"] = rasterize(g, 300)
                write_png(kept["png"], p)

            for path in paths:
                if done.attempt(root, path, key, lambda p=path: save(p)):
                    ok.append(str(path))
            written.append(ok)
            # the HTML report's copy, from the pixels just drawn (scaling the file
            # down there would decode it again)
            png_ok = any(p.endswith(".png") for p in ok)
            screens.append(screen_png(pixels["png"]) if png_ok else None)
    return {"written": written, "screens": screens, "failures": done.failures,
            "seconds": done.seconds["figures"]}


def _headless(fig: Any) -> bool:
    """Whether ``fig`` draws on a plain Agg canvas (no window system behind it)."""
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return type(fig.canvas) in (FigureCanvasAgg, FigureCanvasBase)


_INLINE = Workers(fork=False)


class FigureFiles:
    """Each step's figures, written to files as soon as the step has finished.

    :meth:`start` hands a finished step's figures to a writer process (see
    :mod:`policylab.study.workers`), so rasterising them overlaps the next steps;
    :meth:`collect` waits for them. File names are given here, in step order, so they
    do not depend on which writer finishes first.
    """

    def __init__(self, root: Path, formats: Any, workers: Workers) -> None:
        self.root, self.formats, self.workers = root, tuple(formats), workers
        self._taken: set[str] = set()
        self._started: dict[int, tuple[Job, list[dict[str, Any]]]] = {}
        self._adopted: set[int] = set()

    def start(self, out: Any) -> None:
        """Start writing ``out``'s figures (a degenerate one gets no file)."""
        plan: list[dict[str, Any]] = []
        for name, fig in out.figures:
            why = degenerate(fig)
            if why:  # nothing to see: a sentence in the report instead of an empty plot
                plan.append({"name": name, "figure": fig, "png": None, "degenerate": why})
                continue
            stem = safe_filename(f"{out.key}_{name}", self._taken)
            plan.append({"name": name, "figure": fig, "png": None, "paths": [
                self.root / "figures" / f"{stem}.{fmt}" for fmt in self.formats]})
        drawn = [(f["figure"], f["paths"]) for f in plan if "paths" in f]
        # a figure on a GUI canvas (Tk, Qt: the user's interactive backend) is saved
        # here: a forked child must not talk to the parent's window-system connection
        forked = self.workers if all(map(_headless, (g for g, _ in drawn))) else _INLINE
        job = (forked.submit(lambda: _save_figures(self.root, out.key, drawn)) if drawn
               else Job(value={"written": [], "failures": [], "seconds": 0.0}))
        self._started[id(out)] = (job, plan)

    def written_here(self, out: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Write ``out``'s figures now, in this process (a step lane, which drew them),
        and hand back what :meth:`adopt` takes: the figures as dicts and the writer's
        failures and seconds. A figure whose PNG was written is dropped from its dict
        (and closed): the reports read the PNG; one without a PNG stays, for the
        reports to draw. File names depend only on the step's key and figure names,
        so they are the names a serial run gives."""
        import matplotlib.pyplot as plt

        self.start(out)
        done = Rendered()
        self.collect(out, done)
        plan = self._started.pop(id(out))[1]
        for f in plan:
            if f.get("png") is not None:
                plt.close(f["figure"])
                f["figure"] = None
        return plan, {"failures": done.failures,
                      "seconds": done.seconds.get("figures", 0.0)}

    def adopt(self, out: Any, plan: list[dict[str, Any]], answer: dict[str, Any]) -> None:
        """Take ``out``'s figures as another process wrote them (see
        :meth:`written_here`) instead of starting a writer for them."""
        self._started[id(out)] = (Job(value=answer), plan)
        self._adopted.add(id(out))

    def planned(self, out: Any) -> list[dict[str, Any]]:
        """``out``'s figures as dicts (name, figure, and degenerate or, once
        :meth:`collect` has run, png), started if they were not."""
        if id(out) not in self._started:
            self.start(out)
        return self._started[id(out)][1]

    def collect(self, out: Any, done: Rendered) -> None:
        """Wait for ``out``'s figure files: fill in each figure's png (None if it could
        not be written) and add failures and the writer's seconds to ``done``."""
        plan = self.planned(out)
        job = self._started[id(out)][0]
        if id(out) in self._adopted:  # written in a lane: its failures and seconds only
            self._adopted.discard(id(out))
            answer = job.result()
            done.failures.extend(answer["failures"])
            done.seconds["figures"] = done.seconds.get("figures", 0.0) + answer["seconds"]
            return
        drawn = [f for f in plan if "paths" in f]
        if not drawn:  # none drawn, or collected already
            return
        try:
            answer = job.result()
        except WorkerDied as exc:  # the whole writer failed: none of its files count
            answer = {"written": [[] for _ in drawn], "seconds": 0.0, "failures": [
                {"file": p.relative_to(self.root).as_posix(), "step": out.key,
                 "error": str(exc)} for f in drawn for p in f["paths"]]}
            for f in drawn:
                for p in f["paths"]:
                    p.unlink(missing_ok=True)
        done.failures.extend(answer["failures"])
        done.seconds["figures"] = done.seconds.get("figures", 0.0) + answer["seconds"]
        screens = answer.get("screens") or [None] * len(drawn)
        for f, ok, screen in zip(drawn, answer["written"], screens):
            f["png"] = next((Path(p) for p in ok if p.endswith(".png")), None)
            f["screen"] = screen if f["png"] is not None else None
            del f["paths"]


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
        lines.append(line + word("in_parens", lang, x=tag))
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
            kind = w.meta.get("weights_type")
            note = report_word("wild_note", lang, weights_type=columns(lang).get(kind, kind),
                               draws=w.meta.get("draws", ""), p=p_is(w.p_value),
                               lo=fmt_num(w.conf_low), hi=fmt_num(w.conf_high))
            notes.append(f"{labels.get(y, y)}{report_word('colon', lang)}{note}"
                         if len(wb.results) > 1 else note)
    if out.key == "psm_did" and name == "balance":
        bad = (out.numbers.get("check_failed") or {}).get("balance")
        notes.append(report_word("balance_bad", lang, vars=word("list_sep", lang)
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


#: tables the panel's sample line does not describe: the pilot markets, emission
#: factors and definitions; the robustness columns on other samples (each has its N);
#: PSM-DID, whose own note gives the matched sample ("523 of 570 observations"); the
#: mediation tables, whose lagged mediators drop early years (each column has its N)
_NO_SAMPLE_NOTE = ("overview", "samples", "psm_did", "mediation")


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
                                         *([sample] if sample and out.key not in
                                           _NO_SAMPLE_NOTE else [])])
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
        error = report_word("balance_bad", lang, vars=word("list_sep", lang).join(
            labels.get(b, b) for b in bad))
    elif out.status in ("warned", "failed") and error:
        # a keyed error in the reader's words; an exception's own text as it is (listed
        # among the untranslated in the manifest)
        error = translated_warnings([error], lang, labels, untranslated)[0]
    return {"key": out.key, "title": out.title, "status": out.status, "error": error,
            "status_word": report_word(f"status_{out.status}", lang),
            "text": text, "tables": tables, "figures": drawn, "all_figures": figs,
            "warnings": translated_warnings(list(out.warnings), lang, labels, untranslated)}


def _report_kw(spec: StudySpec, outputs: list[Any], ctx: Any) -> dict[str, Any]:
    design = ctx.cache.get("design")
    n_groups = design.facts.get("n_treated_groups") if design is not None else None
    summary = headline(outputs, n_groups, ctx.lang, dict(spec.model.labels),
                       digits=spec.output.digits)
    title = spec.study.title
    if title == report_word("default_title", "en"):  # the spec's default, not the user's
        title = report_word("default_title", spec.output.language)
    return {"lang": spec.output.language, "title": title,
            "provenance": _provenance(ctx), "headline": summary}


def _report(fmt: str, tmp: Path, sections: list[dict[str, Any]], kw: dict[str, Any]
            ) -> dict[str, Any]:
    """Write report.html or report.docx (runs in a writer process, the two reports
    beside each other: with Chinese text, subsetting the CJK font for the HTML report
    takes seconds)."""
    if fmt == "html":
        from policylab.report.html import write_report
    else:
        from policylab.report.docx import write_report

    done, path = Rendered(), tmp / f"report.{fmt}"
    with done.timed("reports"):
        ok = done.attempt(tmp, path, "report", lambda: write_report(sections, path, **kw))
    return {"failures": done.failures, "seconds": done.seconds["reports"], "written": ok}


def _table_jobs(files: list[tuple[str, Path, Any, str]]
                ) -> list[list[tuple[str, Path, Any, str]]]:
    """The table files cut in two writers' shares of about equal work: the Word tables
    (a document each) in one, every other format in the other."""
    docx = [f for f in files if f[3] == "docx"]
    rest = [f for f in files if f[3] != "docx"]
    return [part for part in (docx, rest) if part]


def _answer(job: Job, root: Path, files: list[tuple[str, Path]]) -> dict[str, Any]:
    """A writer's answer; when the writer as a whole failed, each of its ``files``
    (step, path) is recorded as failed and removed if it was written."""
    try:
        return job.result()
    except WorkerDied as exc:
        for _, path in files:
            path.unlink(missing_ok=True)
        return {"seconds": 0.0, "written": False, "failures": [
            {"file": path.relative_to(root).as_posix(), "step": step, "error": str(exc)}
            for step, path in files]}


#: steps whose report section reads a later step's results (the baseline's table notes
#: give the wild cluster bootstrap's p-value): its section waits for those steps
_SECTION_NEEDS = {"baseline": ("wild_bootstrap",)}


class Sections:
    """The report's sections, built in the plan's order as the steps finish.

    :meth:`add` takes each finished step (in the plan's order); a section is built,
    numbered and given its table files as soon as the steps it reads have finished
    (:data:`_SECTION_NEEDS`), so the sections and table files are those of building
    them all at the end. :meth:`write_early` hands the table files of the sections
    built so far to a writer (``workers``): while forked lanes compute the last steps,
    the tables then no longer wait for the last step (:func:`write_all` writes the rest
    and collects the writers' answers).
    """

    def __init__(self, root: Path, spec: StudySpec, ctx: Any, figures: FigureFiles,
                 planned: list[str], workers: Workers | None = None) -> None:
        self.root, self.spec, self.ctx, self.figures = root, spec, ctx, figures
        self.workers = workers if workers is not None else _INLINE
        self.planned = set(planned)
        self.outputs: list[Any] = []
        self.by_key: dict[str, Any] = {}
        self.sections: list[dict[str, Any]] = []
        self.untranslated: list[str] = []
        self.files: list[tuple[str, Path, Any, str]] = []
        self.written = 0  # self.files[:written] went to the early writers
        self.jobs: list[tuple[Job, list[tuple[str, Path, Any, str]]]] = []
        self._taken: set[str] = set()
        self._counts = (0, 0, 0)

    def add(self, out: Any) -> None:
        """Take the next finished step; build every section that can now be built."""
        self.outputs.append(out)
        self.by_key[out.key] = out
        self._build()

    def write_early(self) -> None:
        """Start writing the table files of the sections built since the last call, in
        one writer."""
        if self.written < len(self.files):
            (self.root / "tables").mkdir(exist_ok=True)
            part = self.files[self.written:]
            self.written = len(self.files)
            self.jobs.append((self.workers.submit(lambda: _write_tables(self.root, part)),
                              part))

    def _ready(self, out: Any) -> bool:
        return all(k in self.by_key or k not in self.planned
                   for k in _SECTION_NEEDS.get(out.key, ()))

    def _build(self, final: bool = False) -> None:
        while len(self.sections) < len(self.outputs):
            out = self.outputs[len(self.sections)]
            if not (final or self._ready(out)):
                return
            sec = _section(out, self.figures.planned(out), self.ctx, self.by_key,
                           self.untranslated)
            self._counts = number_sections([sec], self.ctx.lang, self._counts)
            self.sections.append(sec)
            self.files += _table_files(self.root, [out], [sec],
                                       list(self.spec.output.formats), self._taken)

    def finish(self) -> list[tuple[str, Path, Any, str]]:
        """Build the sections left (every step has been added): the table files not
        written yet."""
        self._build(final=True)
        return self.files[self.written:]


def write_all(tmp: Path, spec: StudySpec, outputs: list[Any], ctx: Any,
              figures: FigureFiles | None = None, workers: Workers | None = None,
              built: Sections | None = None) -> Rendered:
    """Write every table and figure, then the HTML and Word reports, into ``tmp``.

    ``figures`` holds the figure files the run started writing while it computed;
    ``built`` the report's sections built (and table files written) while it
    computed, every one of ``outputs`` added; ``workers`` writes the table files left
    (two writers) and the HTML and Word reports beside each other (all optional:
    without them everything is written here, in order).
    """
    import matplotlib.pyplot as plt

    (tmp / "tables").mkdir(exist_ok=True)
    (tmp / "figures").mkdir(exist_ok=True)
    workers = workers if workers is not None else Workers(fork=False)
    figures = figures if figures is not None else FigureFiles(
        tmp, spec.output.figure_formats, workers)
    if built is None:
        built = Sections(tmp, spec, ctx, figures, [o.key for o in outputs])
        for out in outputs:
            built.add(out)
    left = built.finish()
    done = Rendered(untranslated=built.untranslated)
    files, sections = built.files, built.sections
    tables = built.jobs + [(workers.submit(lambda part=part: _write_tables(tmp, part)), part)
                           for part in _table_jobs(left)]
    with done.timed("waiting"):
        for out in outputs:
            figures.collect(out, done)
    kw = _report_kw(spec, outputs, ctx)
    # both reports in writer processes, beside each other and the table files; a report
    # draws a figure that has no PNG file (figure_formats without png), so one on a GUI
    # canvas keeps them in this process (see FigureFiles.start)
    unsaved = [f["figure"] for s in sections for f in s["figures"] if f.get("png") is None]
    writer = workers if all(map(_headless, unsaved)) else _INLINE
    reports = {fmt: writer.submit(lambda f=fmt: _report(f, tmp, sections, kw))
               for fmt in ("html", "docx") if fmt in spec.output.formats}
    none = {"failures": [], "seconds": 0.0, "written": False}
    with done.timed("waiting"):
        answers = [_answer(job, tmp, [(f[0], f[1]) for f in part]) for job, part in tables]
        page, docx = (_answer(reports[fmt], tmp, [("report", tmp / f"report.{fmt}")])
                      if fmt in reports else none for fmt in ("html", "docx"))
    # the table files' failures in the files' order, whichever writer met them
    order = {path.relative_to(tmp).as_posix(): i for i, (_, path, _, _) in enumerate(files)}
    done.failures += sorted((f for a in answers for f in a["failures"]),
                            key=lambda f: order.get(f["file"], len(order)))
    done.failures += page["failures"] + docx["failures"]
    done.seconds.update(tables=sum(a["seconds"] for a in answers),
                        reports=page["seconds"] + docx["seconds"])
    done.report_html = tmp / "report.html" if page["written"] else None
    done.report_docx = tmp / "report.docx" if docx["written"] else None
    for s in sections:
        for f in s["all_figures"]:
            if f["figure"] is not None:  # None: written and closed in a step lane
                plt.close(f["figure"])
    for out in outputs:  # a lane's figures came back for the caller: not kept open
        for _, fig in out.figures:
            if fig is not None:
                plt.close(fig)
    return done

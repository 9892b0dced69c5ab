"""The ``policylab`` command: run, check, init, describe, demo, simulate.

Exit codes: 0 success; 1 the run finished but optional steps failed; 2 bad input (spec,
data, options); 3 a required step failed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

app = typer.Typer(
    name="policylab",
    help="Evaluate policies from panel data: DID, event studies, PSM-DID, placebo tests, reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
if TYPE_CHECKING:
    from policylab.study.pipeline import RunSummary

console = Console()
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole for grep and logs


def _show_version(value: bool) -> None:
    if value:
        from policylab import __version__

        console.print(f"policylab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """Evaluate policies from panel data: DID, event studies, PSM-DID, placebo tests, reports."""
    # the command only writes figures to files, never shows a window: drawing on Agg
    # also lets a run's steps and writers fork on a desktop, where matplotlib would pick
    # a window system's backend (a backend the user set in the environment is kept)
    os.environ.setdefault("MPLBACKEND", "Agg")

EXIT_OK, EXIT_PARTIAL, EXIT_INPUT, EXIT_FAILED = 0, 1, 2, 3


def _fail(exc: Exception, code: int = EXIT_INPUT) -> None:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
    raise typer.Exit(code)


_FORCE_HELP = ("write into an existing folder policylab did not write: only files "
               "policylab writes are replaced, nothing is deleted")


@app.command()
def run(
    spec: Path = typer.Argument(..., help="study spec (.toml, .yaml)"),
    out: Path = typer.Option(None, "--out", "-o", show_default="<spec name>-results",
                             help="output folder (new, empty, or written by policylab)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress, only errors"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary on stdout"),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="Dask scheduler address (tcp://host:8786), or "
                                       "'processes' for local worker processes"),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
) -> None:
    """Run the whole battery a study spec describes; write tables, figures and report."""
    from policylab.errors import PolicyLabError
    from policylab.study.pipeline import StudyFailed, run_study

    if out is None:
        out = Path(f"{spec.stem}-results")
    try:
        # the CLI never reads a result's fitted arrays after its step: drop them early
        summary = run_study(spec, out, progress=not (quiet or as_json), executor=scheduler,
                            force=force, keep_fits=False)
    except StudyFailed as exc:
        _fail(exc, EXIT_FAILED)
    except PolicyLabError as exc:
        _fail(exc, EXIT_INPUT)
    code = EXIT_PARTIAL if summary.partial else EXIT_OK
    if as_json:
        print(json.dumps({
            "out": str(summary.out_dir),
            "report_html": str(summary.report_html) if summary.report_html else None,
            "report_docx": str(summary.report_docx) if summary.report_docx else None,
            "steps": {s.key: {"status": s.status, "seconds": round(s.seconds, 3),
                              "error": s.error, "warnings": len(s.warnings)}
                      for s in summary.steps},
            "output_failures": summary.output_failures,
            "seconds": round(summary.seconds, 3),
        }, indent=2, ensure_ascii=False))
    elif not quiet:
        _print_summary(summary)
    raise typer.Exit(code)


def _print_summary(summary: RunSummary) -> None:
    from rich.cells import cell_len
    from rich.markup import escape

    from policylab.report.labels import (
        report_word,
        report_words,
        translate_warning,
    )

    lang = summary.lang  # the words come from the report's catalogue

    def say(key: str, **kw: object) -> str:
        return report_word(key, lang, **kw)

    for s in summary.steps:
        n = len(s.warnings)
        # "ok" alone would hide what the report flags: a failed own check is "warned"
        word, colour = report_words(lang).get(f"status_{s.status}", s.status), {"failed": "red", "warned": "yellow",
                                                   "skipped": "cyan"}.get(s.status, "green")
        if n and s.status in ("ok", "warned"):
            word = say("console_status_with", status=word,
                       warnings=say("console_warning" if n == 1 else "console_warnings", n=n))
            colour = "yellow"
        # padded by display width: a Chinese character takes two columns
        mark = f"[{colour}]{word}[/{colour}]" + " " * max(0, 14 - cell_len(word))
        # a keyed reason in the study's language (English: the API's words, as before)
        why = translate_warning(s.error, lang)[0] if s.error and lang != "en" else s.error
        console.print(f"  {s.key:<16} {mark} " + say("console_step_seconds",
                                                     seconds=f"{s.seconds:6.2f}") +
                      (f"  {escape(why)}" if why else ""), highlight=False)
    for f in summary.output_failures:
        err.print(f"[yellow]{say('console_warning_label')}[/yellow]{say('colon')}" + say(
            "console_not_written", file=escape(f["file"]), error=escape(f["error"])),
            highlight=False)
    if summary.report_html:
        console.print(say("console_report", path=escape(str(summary.report_html))),
                      highlight=False)
    sp = summary.split
    parts = (say("console_split", **{k: f"{sp[k]:.1f}" for k in
                                      ("computing", "figures", "writing")}) if sp else "")
    console.print(say("console_finished", seconds=f"{summary.seconds:.1f}", split=parts,
                      out=escape(str(summary.out_dir))), highlight=False)


@app.command()
def check(spec: Path = typer.Argument(..., help="study spec (.toml, .yaml)")) -> None:
    """Validate a spec and its data in one pass: keys and values, derived columns, every
    column it names, and the design's rules (0/1 treatment, weights, clusters, groups
    and samples with treated units); lists every problem, exit code 2 if any."""
    from rich.markup import escape

    from policylab.study.check import check_study

    rep = check_study(spec)
    n = len(rep.problems)
    if n:
        err.print(f"[red]error:[/red] {escape(spec.name)}: {n} problem{'s' if n > 1 else ''}",
                  highlight=False)
        for p in rep.problems:
            err.print(f"  - {escape(p)}", highlight=False)
    for note in rep.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    if n:
        raise typer.Exit(EXIT_INPUT)
    console.print(f"[green]{escape(spec.name)} is valid[/green]: {escape(rep.panel or '')}",
                  highlight=False)


@app.command()
def init(
    data: Path = typer.Argument(..., help="data file (CSV, Excel, .dta, Parquet)"),
    out: Path = typer.Option(None, "--out", "-o", help="where to write the spec"),
    unit: str = typer.Option(None, "--unit", help="unit column (detected if omitted)"),
    time: str = typer.Option(None, "--time", help="time column (detected if omitted; "
                             "quarters or months as text become period numbers)"),
    force: bool = typer.Option(False, "--force", help="replace an existing spec file"),
) -> None:
    """Write a commented spec for a data file: unit and time, treatment, cohort, weights,
    outcome and controls as detected, with the reasons as comments."""
    from policylab.data.readers import read_table
    from policylab.errors import PolicyLabError
    from policylab.study.template import spec_template

    target = out or data.with_suffix(".toml")
    if target.exists() and target.resolve() == data.resolve():
        _fail(FileExistsError(f"{target} is the data file; choose another --out"))
    if target.is_dir():
        _fail(IsADirectoryError(f"{target} is a folder; give a file name, e.g. "
                                f"--out {target / 'study.toml'}"))
    if target.exists() and not force:
        _fail(FileExistsError(f"{target} exists; choose another --out, or --force to "
                              "replace it"))
    if not target.parent.is_dir():
        _fail(FileNotFoundError(f"cannot write {target}: the folder {target.parent} does "
                                "not exist; create it or choose another --out"))
    try:
        df = read_table(data)
        text = spec_template(df, data, unit=unit, time=time, spec_dir=target.parent)
    except PolicyLabError as exc:
        _fail(exc)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _fail(OSError(f"cannot write {target}: {exc.strerror or exc}"))
    console.print(f"wrote {target}; read its comments, then `policylab check {target}`",
                  highlight=False)


@app.command()
def describe(
    data: Path = typer.Argument(..., help="CSV, Excel, Stata .dta or Parquet file"),
    unit: str = typer.Option(..., "--unit", help="unit identifier column"),
    time: str = typer.Option(..., "--time", help="time column (integer periods)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Print panel facts: units, periods, balance, gaps."""
    from policylab.data.readers import read
    from policylab.errors import PolicyLabError

    try:
        panel = read(data, unit=unit, time=time)
    except PolicyLabError as exc:
        _fail(exc)
    facts = panel.describe()
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    for k, v in facts.items():
        console.print(f"{k:>22}: {v}")


@app.command()
def demo(
    out: Path = typer.Option(None, "--out", "-o", show_default="policylab-demo-<study>",
                             help="output folder (new, empty, or written by policylab)"),
    study: str = typer.Option("carbon_trading_pilot", "--study",
                              help="carbon_trading_pilot or energy_rights_pilot"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
) -> None:
    """Run a reference study on bundled synthetic data and print where the report is."""
    from policylab.study.examples import example_spec

    try:
        spec = example_spec(study)
    except FileNotFoundError as exc:
        _fail(exc)
    if out is None:
        out = Path(f"policylab-demo-{study}")
    from policylab.report.labels import report_word
    from policylab.study.examples import example_language

    console.print(report_word("console_demo", example_language(spec), study=study,
                              spec=spec), highlight=False)
    run(spec, out, quiet=quiet, as_json=False, scheduler=None, force=force)


@app.command()
def simulate(
    spec: Path = typer.Argument(..., help="study spec (.toml, .yaml)"),
    out: Path = typer.Option(None, "--out", "-o", show_default="<spec name>-simulation",
                             help="output folder (new, empty, or written by policylab)"),
    outcome: str = typer.Option(None, "--outcome", help="one of model.outcomes (default: "
                                "the first)"),
    generator: str = typer.Option(None, "--generator", help="draw each data set from a "
                                  "bundled generator (carbon_pilot, energy_rights_pilot) "
                                  "instead of resampling the study's residuals"),
    truth: float = typer.Option(None, "--truth", help="true effect (default 0; with "
                                "--generator, the generator's)"),
    simulation_draws: int = typer.Option(None, "--simulation-draws", show_default="200",
                                         help="replications (simulated data sets)"),
    draws: int = typer.Option(199, "--draws", help="bootstrap / randomization draws each"),
    seed: int = typer.Option(None, "--seed", help="default: the spec's study.seed"),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="Dask scheduler address (tcp://host:8786), or "
                                       "'processes' for local worker processes"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress, only errors"),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    reps: int = typer.Option(None, "--reps", hidden=True,
                             help="deprecated name of --simulation-draws"),
) -> None:
    """Monte Carlo of the study's design: bias, RMSE, CI coverage and test size."""
    import warnings

    from policylab.errors import (
        PolicyLabDeprecationWarning,
        PolicyLabError,
        PolicyLabWarning,
        SpecError,
    )
    from policylab.study.simulate_spec import simulate_spec, simulation_table

    try:
        if reps is not None:
            # the old flag, accepted for one release (a FutureWarning: shown by default)
            if simulation_draws is not None:
                raise SpecError("give --simulation-draws only (--reps is its deprecated name)")
            warnings.warn(f"--reps is deprecated and will be removed in the next release: "
                          f"write --simulation-draws {reps}", PolicyLabDeprecationWarning,
                          stacklevel=1)
            simulation_draws = reps
        with warnings.catch_warnings():
            # the design's referee warnings (few treated clusters, ...) are what this
            # command measures; they would repeat for every replication
            warnings.simplefilter("ignore", PolicyLabWarning)
            run_ = simulate_spec(spec, out or Path(f"{spec.stem}-simulation"),
                                 outcome=outcome, generator=generator, truth=truth,
                                 simulation_draws=simulation_draws, draws=draws, seed=seed,
                                 executor=scheduler,
                                 progress=not quiet, force=force)
    except PolicyLabError as exc:
        _fail(exc)
    if not quiet:
        from rich.table import Table

        table = Table("method", "coverage", "rejects", "MC SE", box=None)
        for r in simulation_table(run_.result).itertuples():
            table.add_row(r.label, "" if r.coverage != r.coverage else
                          f"{100 * r.coverage:.1f}%", f"{100 * r.rejection_rate:.1f}%",
                          f"{100 * r.mc_se:.1f}")
        console.print(table)
        console.print(f"finished in {run_.seconds:.1f}s; outputs in {run_.out_dir}",
                      highlight=False)


def main() -> None:  # pragma: no cover
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The ``policylab`` command: run, check, init, describe, demo.

Exit codes: 0 success; 1 the run finished but optional steps failed; 2 bad input (spec,
data, options); 3 a required step failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    name="policylab",
    help="Evaluate policies from panel data: DID, event studies, PSM-DID, placebo tests, reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


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

EXIT_OK, EXIT_PARTIAL, EXIT_INPUT, EXIT_FAILED = 0, 1, 2, 3


def _fail(exc: Exception, code: int = EXIT_INPUT) -> None:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(code)


@app.command()
def run(
    spec: Path = typer.Argument(..., help="study spec (.toml, .yaml)"),
    out: Path = typer.Option(Path("policylab-out"), "--out", "-o", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress, only errors"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary on stdout"),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="Dask scheduler address (tcp://host:8786), or "
                                       "'processes' for local worker processes"),
) -> None:
    """Run the whole battery a study spec describes; write tables, figures and report."""
    from policylab.errors import PolicyLabError
    from policylab.study.pipeline import StudyFailed, run_study

    try:
        summary = run_study(spec, out, progress=not (quiet or as_json), executor=scheduler)
    except StudyFailed as exc:
        _fail(exc, EXIT_FAILED)
    except PolicyLabError as exc:
        _fail(exc, EXIT_INPUT)
    code = EXIT_PARTIAL if summary.failed else EXIT_OK
    if as_json:
        print(json.dumps({
            "out": str(summary.out_dir),
            "report_html": str(summary.report_html) if summary.report_html else None,
            "report_docx": str(summary.report_docx) if summary.report_docx else None,
            "steps": {s.key: {"status": s.status, "seconds": round(s.seconds, 3),
                              "error": s.error} for s in summary.steps},
            "seconds": round(summary.seconds, 3),
        }, indent=2))
    elif not quiet:
        for s in summary.steps:
            mark = "[green]ok[/green]" if s.status == "ok" else f"[red]{s.status}[/red]"
            console.print(f"  {s.key:<16} {mark}  {s.seconds:6.2f}s" +
                          (f"  {s.error}" if s.error else ""))
        console.print(f"report: {summary.report_html}")
        console.print(f"finished in {summary.seconds:.1f}s; outputs in {summary.out_dir}")
    raise typer.Exit(code)


@app.command()
def check(spec: Path = typer.Argument(..., help="study spec (.toml, .yaml)")) -> None:
    """Validate a spec (keys, values and every column it names) without running it."""
    from policylab.errors import PolicyLabError
    from policylab.study.prepare import prepare
    from policylab.study.spec import SpecProblems, check_columns, load_spec

    try:
        s = load_spec(spec)
        panel, _ = prepare(s, spec.parent)
        problems = check_columns(s, list(panel.df.columns))
        if problems:
            raise SpecProblems(problems, spec.name)
    except PolicyLabError as exc:
        _fail(exc)
    console.print(f"[green]{spec.name} is valid[/green]: {panel!r}")


@app.command()
def init(
    data: Path = typer.Argument(..., help="data file (CSV, Excel, .dta, Parquet)"),
    out: Path = typer.Option(None, "--out", "-o", help="where to write the spec"),
    unit: str = typer.Option(None, "--unit", help="unit column (detected if omitted)"),
    time: str = typer.Option(None, "--time", help="time column (detected if omitted)"),
) -> None:
    """Write a commented spec template for a data file, detecting unit and time columns."""
    from policylab.data.readers import read_table
    from policylab.errors import PolicyLabError
    from policylab.study.template import spec_template

    try:
        df = read_table(data)
        text = spec_template(df, data, unit=unit, time=time)
    except PolicyLabError as exc:
        _fail(exc)
    target = out or data.with_suffix(".toml")
    if target.exists():
        _fail(FileExistsError(f"{target} exists; choose another --out"))
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    console.print(f"wrote {target}; edit it, then `policylab check {target}`")


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
    out: Path = typer.Option(Path("policylab-demo"), "--out", "-o", help="output folder"),
    study: str = typer.Option("carbon_trading_pilot", "--study",
                              help="carbon_trading_pilot or energy_rights_pilot"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Run a reference study on bundled synthetic data and print where the report is."""
    from policylab.study.examples import example_spec

    try:
        spec = example_spec(study)
    except FileNotFoundError as exc:
        _fail(exc)
    console.print(f"running the {study} example ({spec})")
    run(spec, out, quiet, False, None)


def main() -> None:  # pragma: no cover
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()

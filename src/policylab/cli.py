"""The ``policylab`` command."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    name="policylab",
    help="Evaluate policies from panel data: DID, event studies, PSM-DID, placebo tests, reports.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.command()
def describe(
    data: Path = typer.Argument(..., help="CSV, Excel, Stata .dta or Parquet file"),
    unit: str = typer.Option(..., "--unit", help="unit identifier column"),
    time: str = typer.Option(..., "--time", help="time column (integer periods)"),
) -> None:
    """Print panel facts: units, periods, balance, gaps."""
    from policylab.data.readers import read
    from policylab.errors import PolicyLabError

    try:
        panel = read(data, unit=unit, time=time)
    except PolicyLabError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    for k, v in panel.describe().items():
        console.print(f"{k:>22}: {v}")


@app.command()
def demo(
    out: Path = typer.Option(Path("policylab-demo"), "--out", help="output folder"),
) -> None:
    """Run the worked example on bundled synthetic data."""
    from policylab._demo import run_demo

    run_demo(out, console)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

"""``policylab simulate``: the Monte Carlo of :func:`policylab.simulate` for a study spec.

Two sources of replications:

- the study's own design (default): the spec's data, transforms, treatment and model
  (controls, fixed effects, cluster, weights) become one Design; each replication keeps
  it, sets the effect to ``truth`` (default 0) and resamples the errors from the fitted
  residuals;
- a bundled generator (``generator="carbon_pilot"`` or ``"energy_rights_pilot"``): each
  replication draws a new data set from the generator with its own seed, runs the
  spec's merges, filter and transforms on it and fits the spec's model; the truth is the
  generator's average effect on the treated unless given.

The table (bias, RMSE, coverage, test size per inference method) and the replications
are written to an output folder under the same rules as ``policylab run``: the folder
is new, empty or marked as policylab's, outputs are built aside and moved into place.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from policylab.errors import SpecError
from policylab.study.simulate import SimulationResult, simulate

__all__ = ["simulate_spec", "SimulationRun", "GENERATORS"]

# the generators' own outcome for which truth["att"] is the effect (ln CO2 intensity
# moves with ln CO2 one for one: GDP is not affected and is a control)
GENERATORS = {"carbon_pilot": ("ln_co2", "ln_co2_accounted", "ln_intensity"),
              "energy_rights_pilot": ("ln_ntt",)}

_LABELS = {("effect", "crv1"): "CRV1 t interval (cluster-robust, G-1 df)",
           ("effect", "wild"): "Wild cluster bootstrap (WCR, Webb weights)",
           ("effect", "ri"): "Randomization inference (test inversion)",
           ("pretrend", "wald"): "Joint lead test: CRV1 Wald (F)",
           ("pretrend", "wild"): "Joint lead test: wild cluster bootstrap",
           ("pretrend", "ri"): "Joint lead test: randomization inference"}


@dataclass
class SimulationRun:
    """What ``policylab simulate`` did: the result and where it was written."""

    result: SimulationResult
    out_dir: Path
    files: list[str]
    outcome: str
    source: str  # "design" or "generator:<name>"
    seconds: float


@dataclass
class _SpecGenerator:
    """``seed -> Design``: a bundled generator through the spec's preparation and model.

    A top-level class (not a closure) so Dask and process workers can receive it.
    """

    spec: Any
    base_dir: Path
    name: str
    with_truth: bool = False  # return (design, the generator's att for this seed)

    def panel(self, seed: int) -> tuple[Any, Any]:
        """The spec (data from the generator) and its prepared panel for one seed."""
        from policylab.study.prepare import prepare

        data = self.spec.data.model_copy(update={"dataset": self.name, "path": None,
                                                  "seed": int(seed)})
        spec = self.spec.model_copy(update={"data": data})
        return spec, prepare(spec, self.base_dir)[0]

    def __call__(self, seed: int) -> Any:
        from policylab.data import datasets

        spec, panel = self.panel(seed)
        design = _design(spec, panel, self.base_dir)
        if not self.with_truth:
            return design
        # the expected effect on the treated where the generator draws heterogeneous
        # effects (its drawn cities' average is covered more than nominally: see
        # docs/validity.md), else its ATT
        truth = getattr(datasets, self.name)(seed=int(seed)).truth
        pop = truth.get("att_population")
        return design, truth["att"] if pop is None else pop


def _design(spec: Any, panel: Any, base_dir: Path) -> Any:
    from policylab.study.context import Context
    from policylab.study.steps import build_model_design

    ctx = Context(spec=spec, panel=panel, base_dir=base_dir, lang="en", seed=spec.study.seed)
    return build_model_design(ctx, sample_name=spec.data.query)


def _pick_outcome(spec: Any, outcome: str | None) -> str:
    outcomes = list(spec.model.outcomes)
    if outcome is None:
        return outcomes[0]
    if outcome not in outcomes:
        raise SpecError(f"--outcome {outcome!r} is not one of model.outcomes {outcomes}")
    return outcome


def _check_generator_truth(name: str, outcome: str, truth: float | None) -> None:
    if truth is None and outcome not in GENERATORS[name]:
        raise SpecError(f"the {name} generator's true effect is known for "
                        f"{list(GENERATORS[name])}; give --truth for {outcome!r}")


def _inputs(spec_path: Path, spec: Any) -> list[Path]:
    base = spec_path.parent
    paths = [spec_path] + [base / p for p in (spec.data.path, *(m.path for m in spec.data.merges))
                           if p]
    return [p for p in paths if p]


def simulate_spec(
    spec_path: str | Path,
    out_dir: str | Path,
    *,
    outcome: str | None = None,
    generator: str | None = None,
    truth: float | None = None,
    simulation_draws: int | None = None,
    draws: int = 199,
    seed: int | None = None,
    executor: Any = None,
    progress: bool = True,
    force: bool = False,
    reps: int | None = None,
) -> SimulationRun:
    """Run :func:`policylab.simulate` for a study spec and write its table.

    Parameters
    ----------
    spec_path : path
        The study spec (.toml / .yaml).
    out_dir : path
        Output folder (new, empty, or written by policylab; see docs/safety.md).
    outcome : str, optional
        One of ``model.outcomes`` (default: the first).
    generator : {"carbon_pilot", "energy_rights_pilot"}, optional
        Draw each replication's data from this bundled generator instead of resampling
        the study's own residuals.
    truth : float, optional
        The true effect (design: default 0; generator: its ``truth["att"]``).
    simulation_draws, draws, seed, executor, progress
        As for :func:`policylab.simulate` (seed default: the spec's ``study.seed``).
    force : bool
        Write into a folder policylab did not write (replacing only its own files).
    reps : int, optional
        Deprecated name of ``simulation_draws`` (accepted for one release with a
        :class:`~policylab.errors.PolicyLabDeprecationWarning`).

    Returns
    -------
    SimulationRun
    """
    from policylab.study.outdir import claim_out_dir
    from policylab.study.prepare import prepare
    from policylab.study.spec import SpecProblems, check_columns, load_spec
    from policylab.validation import renamed_arg

    simulation_draws = renamed_arg(simulation_draws, reps, "simulation_draws", "reps",
                                   "simulate_spec", default=200)
    t0 = time.perf_counter()
    spec_path = Path(spec_path)
    spec = load_spec(spec_path)
    if generator is not None and generator not in GENERATORS:
        raise SpecError(f"--generator {generator!r}: choose {' or '.join(GENERATORS)}")
    target = claim_out_dir(out_dir, protect=_inputs(spec_path, spec), force=force)
    y = _pick_outcome(spec, outcome)
    es = spec.battery.event_study
    window = tuple(es.window) if es.enabled else None
    common = dict(simulation_draws=simulation_draws, draws=draws,
                  seed=spec.study.seed if seed is None else seed,
                  pretrend_window=window, executor=executor, progress=progress)
    gen = None
    if generator is not None:
        _check_generator_truth(generator, y, truth)
        gen = _SpecGenerator(spec, spec_path.parent, generator, with_truth=truth is None)
    # the spec is checked against the data each replication will see before any work
    if gen is None:
        spec_used, panel = spec, prepare(spec, spec_path.parent)[0]
    else:
        spec_used, panel = gen.panel(spec.data.seed)
    problems = check_columns(spec_used, list(panel.df.columns))
    if problems:
        raise SpecProblems(problems, spec_path.name)
    if gen is None:
        source = "design"
        res = simulate(_design(spec, panel, spec_path.parent), y=y,
                       truth=0.0 if truth is None else truth, **common)
    else:
        source = f"generator:{generator}"
        res = simulate(gen, y=y, truth=truth, **common)
    files = _write(target, res, spec_path, y, source)
    return SimulationRun(res, target.path, files, y, source, time.perf_counter() - t0)


def simulation_table(res: SimulationResult) -> pd.DataFrame:
    """The tidy summary with a readable method label (what the files and console show)."""
    t = res.tidy()
    t.insert(2, "label", [_LABELS.get((a, b), b) for a, b in zip(t["target"], t["method"])])
    return t


def markdown_table(res: SimulationResult) -> str:
    """The table as Markdown (percentages), as docs/validity.md shows it."""
    lines = ["| method | coverage of the interval | rejects a true null | Monte Carlo SE |",
             "|---|---|---|---|"]
    for row in simulation_table(res).itertuples():
        cov = "" if pd.isna(row.coverage) else f"{100 * row.coverage:.1f}%"
        lines.append(f"| {row.label} | {cov} | {100 * row.rejection_rate:.1f}% | "
                     f"{100 * row.mc_se:.1f} |")
    return "\n".join(lines)


def _truth_text(res: SimulationResult) -> str:
    t = res.meta["truth"]
    return "per replication (the generator's)" if t is None else f"{t:g}"


def _write(target: Any, res: SimulationResult, spec_path: Path, y: str,
           source: str) -> list[str]:
    from policylab.study.outdir import Staging

    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in res.meta.items()}
    with Staging(target) as stage:
        root = stage.path
        simulation_table(res).to_csv(root / "simulation.csv", index=False)
        res.records.to_csv(root / "replications.csv", index=False)
        head = (f"# Monte Carlo: {y} ({source})\n\n{res.meta['reps']} replications, "
                f"{res.meta['draws']} draws each, nominal level {res.meta['alpha']}, "
                f"true effect {_truth_text(res)}, seed {res.meta['seed']}.\n\n")
        (root / "simulation.md").write_text(head + markdown_table(res) + "\n",
                                            encoding="utf-8")

        def finish(failures: list[dict[str, str]]) -> None:
            (root / "simulation.json").write_text(json.dumps(
                {"spec": str(spec_path), "outcome": y, "source": source, "meta": meta,
                 "output_failures": failures}, indent=2, ensure_ascii=False, default=str),
                encoding="utf-8")

        files = stage.files()
        failures = stage.publish(["simulation.json"], finish)
    if failures:
        from policylab.errors import OutputError

        raise OutputError("could not write " + ", ".join(
            f"{f['file']} ({f['error']})" for f in failures))
    return [*files, "simulation.json"]

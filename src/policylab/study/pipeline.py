"""Run a study's whole battery and write tables, figures, report and manifest.

The output folder is checked before anything is computed (see
:mod:`policylab.study.outdir`: policylab only ever replaces what policylab wrote).
Outputs are assembled in a hidden folder next to the destination and moved into place
only when the run has finished, so a failed run never leaves a half-written report
behind. An optional step that fails is recorded (in the report and the manifest) and
the run goes on; a required step that fails stops the run. A file that cannot be
written is recorded too, and every other file, results.json and manifest.json
included, is still written.

On a small panel the steps after the baseline run beside each other in forked child
processes ("lanes", see :func:`_lanes`), which send their finished steps back pickled;
the run hands them on in the plan's order, so figures, tables and results.json are
those of a serial run (``POLICYLAB_STEPS=serial``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import PolicyLabError, PolicyLabWarning
from policylab.messages import message_key, message_record, reason_of
from policylab.study.context import Context, StepOutput
from policylab.study.outdir import Staging, claim_out_dir
from policylab.study.spec import SpecProblems, StudySpec, check_columns, load_spec

__all__ = ["StepOutput", "Context", "RunSummary", "run_study", "StudyFailed"]


class StudyFailed(PolicyLabError):
    """A required step failed; nothing was written."""


@dataclass
class RunSummary:
    """Where a run wrote its outputs and how each step went."""

    out_dir: Path
    report_html: Path | None
    report_docx: Path | None
    steps: list[StepOutput]
    seconds: float
    output_failures: list[dict[str, str]] = field(default_factory=list)
    split: dict[str, float] = field(default_factory=dict)
    #: the study's language (spec ``output.language``): the console summary's words
    lang: str = "en"

    @property
    def failed(self) -> list[str]:
        return [s.key for s in self.steps if s.status == "failed"]

    @property
    def partial(self) -> bool:
        """A step failed or a file could not be written (the CLI exits 1)."""
        return bool(self.failed or self.output_failures)


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("policylab", "numpy", "pandas", "scipy", "statsmodels", "numba", "matplotlib",
                "formulaic", "pydantic", "python-docx", "openpyxl", "jinja2"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return _jsonable(obj.to_dict())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)


def result_record(res: Any) -> dict[str, Any]:
    """Every number a Result contributes to the report, machine-readable."""
    rec: dict[str, Any] = {"type": type(res).__name__}
    try:
        rec["tidy"] = res.tidy()
    except Exception:  # some results (tables) have no tidy
        pass
    for attr in ("nobs", "r2", "r2_within", "adj_r2", "depvar_mean", "n_clusters", "p_value",
                 "f_stat"):
        if hasattr(res, attr) and not callable(getattr(res, attr)):
            rec[attr] = getattr(res, attr)
    meta = getattr(res, "meta", None) or {}
    rec["meta"] = {k: v for k, v in meta.items() if k not in ("ssc",)}
    rec["warnings"] = list(getattr(res, "warnings", []) or [])
    rec["warning_keys"] = [message_record(w) for w in rec["warnings"]]
    return _jsonable(rec)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, sort_keys=True),
                    encoding="utf-8")


def _peak_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except Exception:  # pragma: no cover - non-POSIX
        return float("nan")


def run_study(
    spec_path: str | Path,
    out_dir: str | Path,
    *,
    progress: bool = True,
    spec: StudySpec | None = None,
    on_step: Callable[[StepOutput], None] | None = None,
    executor: Any = None,
    force: bool = False,
    keep_fits: bool = True,
) -> RunSummary:
    """Run the battery a spec describes and write everything into ``out_dir``.

    Parameters
    ----------
    spec_path : path
        The TOML/YAML spec (relative data paths are resolved against its folder).
    out_dir : path
        Destination folder. It must be new, empty, or written by an earlier policylab
        run (it then holds ``.policylab-output.json``); only files policylab wrote are
        replaced or removed, anything else in it is left alone. The current folder,
        the spec's folder, folders holding the data, the home folder and files are
        refused before any computing.
    progress : bool
        Show a live progress bar.
    spec : StudySpec, optional
        An already-parsed spec (then ``spec_path`` only locates relative files).
    on_step : callable, optional
        Called with each finished step (for logging).
    executor : optional
        Where parallel steps run (see :mod:`policylab.execution`), e.g. a Dask scheduler
        address "tcp://host:8786"; the numbers do not depend on it.
    force : bool
        Write into an existing folder that policylab did not write; files policylab
        writes are replaced there, nothing else is touched or deleted.
    keep_fits : bool
        Keep each result's fitted arrays (``result.fit``: design matrix, residuals,
        codes) in the returned summary, so that results can be re-studentised or
        predicted from afterwards (default). ``False`` (the CLI) drops them from a
        step's results as soon as no later step reads them: on a firm panel of
        millions of rows they would otherwise add up to gigabytes. ``False`` also
        leaves out of the summary the Figure objects of steps run in lanes (their
        files are written; the summary's ``figures`` then name them with None). The
        numbers, tables, figures and reports are the same either way.

    Raises
    ------
    OutputError
        ``out_dir`` may not receive outputs (raised before any computing).
    StudyFailed
        A required step failed; nothing was written.
    """
    from policylab.study.prepare import prepare, with_data_labels

    t_start = time.perf_counter()
    spec_path = Path(spec_path)
    if spec is None:
        spec = load_spec(spec_path)
    spec_text = spec_path.read_bytes() if spec_path.is_file() else spec.model_dump_json().encode()
    base_dir = spec_path.parent if spec_path.is_file() else Path.cwd()
    inputs = [spec_path] if spec_path.is_file() else []
    inputs += [base_dir / p for p in (spec.data.path, *(m.path for m in spec.data.merges)) if p]
    target = claim_out_dir(out_dir, protect=inputs, force=force)

    t0 = time.perf_counter()
    panel, provenance = prepare(spec, base_dir)
    # a Stata file's variable and value labels name its columns in the tables
    spec = with_data_labels(spec, provenance["data_labels"])
    problems = check_columns(spec, list(panel.df.columns))
    if problems:
        raise SpecProblems(problems, spec_path.name)
    prep_seconds = time.perf_counter() - t0

    ctx = Context(spec=spec, panel=panel, base_dir=base_dir, lang=spec.output.language,
                  seed=spec.study.seed)
    from policylab.study.render import FigureFiles, Sections
    from policylab.study.steps import planned_steps
    from policylab.study.workers import Workers

    # the staging folder exists from here: each step's figures are written into it by a
    # writer process while the next steps compute (the folder and any writer still
    # running go when the with-block ends, whatever happened)
    with Staging(target) as stage, Workers() as workers:
        root = stage.path
        figures = FigureFiles(root, spec.output.figure_formats, workers)
        # the report's sections, built as the steps finish (their table files written
        # then when the steps run in lanes)
        sections = Sections(root, spec, ctx, figures, [k for k, _ in planned_steps(spec)],
                            workers)
        t_steps = time.perf_counter()
        outputs = _run_steps(ctx, progress=progress, executor=executor, on_step=on_step,
                             after_step=figures.start, keep_fits=keep_fits,
                             figures=figures, sections=sections)
        t_write = time.perf_counter()
        rendered = _render(root, spec, outputs, ctx, figures, workers, sections)
        split = _split(prep_seconds, t_write - t_steps, outputs, rendered.seconds)
        _write_json(root / "results.json", _results(outputs, rendered.failures))
        manifest = {
            "spec": str(spec_path),
            "spec_sha256": hashlib.sha256(spec_text).hexdigest(),
            "versions": _versions(),
            "data": provenance,
            "seeds": {"study": spec.study.seed, "data": spec.data.seed},
            "timings_seconds": {"prepare": prep_seconds,
                                **{o.key: round(o.seconds, 4) for o in outputs}},
            "steps": {o.key: {"status": o.status, "error": o.error,
                              "traceback": o.numbers.get("traceback")} for o in outputs},
            "peak_memory_mb": _peak_mb(),
            "split_seconds": split,
            # warnings the report could not put in the reader's language (shown as is)
            "untranslated_warnings": list(rendered.untranslated),
        }

        def finish(move_failures: list[dict[str, str]]) -> None:
            failures = rendered.failures + move_failures
            manifest["output_failures"] = failures
            manifest["warnings"] = sorted({w for o in outputs for w in o.warnings}
                                          | {_failure_text(f) for f in failures})
            manifest["total_seconds"] = time.perf_counter() - t_start
            split["writing"] = round(time.perf_counter() - t_write, 4)
            split["other"] = round(manifest["total_seconds"] - sum(
                split[k] for k in ("prepare", "computing", "writing")), 4)
            _write_json(root / "manifest.json", manifest)

        failures = rendered.failures + stage.publish(["manifest.json"], finish)
    failed_files = {f["file"] for f in failures}
    dest = target.path

    def placed(p: Path | None) -> Path | None:
        if p is None or p.relative_to(root).as_posix() in failed_files:
            return None
        return dest / p.relative_to(root)

    return RunSummary(out_dir=dest, report_html=placed(rendered.report_html),
                      report_docx=placed(rendered.report_docx), steps=outputs,
                      seconds=time.perf_counter() - t_start, output_failures=failures,
                      split=split, lang=spec.output.language)


def _run_steps(ctx: Context, *, progress: bool, executor: Any,
               on_step: Callable[[StepOutput], None] | None,
               after_step: Callable[[StepOutput], None],
               keep_fits: bool = True, figures: Any = None,
               sections: Any = None) -> list[StepOutput]:
    """Run the planned steps; an optional step that fails is recorded, a required one
    raises :class:`StudyFailed`. ``after_step`` and ``on_step`` get each finished step,
    in the plan's order, whether the steps ran here or in lanes (see :func:`_lanes`).
    With ``figures`` (the run's :class:`~policylab.study.render.FigureFiles`) a lane
    writes the figures of its steps itself, and ``after_step`` is not called for them:
    ``figures`` adopts the files. ``sections`` (the run's
    :class:`~policylab.study.render.Sections`) is given each finished step too, after
    its figures."""
    from contextlib import ExitStack

    from policylab.execution import using_executor
    from policylab.study.steps import planned_steps

    executors = ExitStack()
    plan = planned_steps(ctx.spec)
    outputs: list[StepOutput] = []
    bar = None
    lanes = 1
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("[bold]{task.description:<28}"), BarColumn(),
                       TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
        bar.start()
        task = bar.add_task("preparing", total=len(plan))

    def finished(out: StepOutput, written: Any = None) -> None:
        outputs.append(out)
        if written is not None:
            figures.adopt(out, *written)
        else:
            after_step(out)
        if sections is not None:
            sections.add(out)
        if on_step:
            on_step(out)
        if bar is not None:
            bar.advance(task)

    def run_here(group: list[tuple[str, bool]]) -> None:
        for key, required in group:
            if bar is not None:
                bar.update(task, description=key)
            out = _run_step(ctx, key, required)
            if not keep_fits:
                release_fits(out.results, keep=_reachable(ctx.cache))
            finished(out)

    try:
        # one executor for every draw-heavy step; a cluster made here is closed in the
        # finally below, whatever happens after it is made
        ctx.cache["executor"] = executors.enter_context(using_executor(executor))
        lanes = _lanes(ctx, executor)
        head, groups = _step_groups(plan) if lanes > 1 else (plan, [])
        run_here(head)
        if groups:
            _run_lanes(ctx, groups, lanes, keep_fits, figures, run_here, finished,
                       (lambda keys: bar.update(task, description=keys))
                       if bar is not None else None, sections)
    finally:
        if bar is not None:
            bar.stop()
        executors.close()
    if not keep_fits:  # no step reads the shared results any more
        release_fits(ctx.cache, keep=set())
        if lanes > 1:  # a lane's copies of its shared results came back with the steps
            release_fits([o.results for o in outputs], keep=set())
    return outputs


#: at most this many bytes of panel for running steps in forked lanes: a forked child
#: shares the parent's memory only until either writes to it (Python's reference counts
#: do, page by page), so on a firm panel of millions of rows lanes would double the
#: memory for little gain (the draws there already run through the executor)
LANE_MAX_BYTES = 64 * 2**20
#: steps that read what an earlier step left in the context's cache (the event study
#: and its lead tests): run in one lane, in order
_CHAINED = (("event_study", "pretrends"),)
#: steps run before the lanes fork, in order: the cheap first steps build the design
#: and the baseline fits every later step reads from the cache
_HEAD = ("overview", "descriptives", "baseline")


def _lanes(ctx: Context, executor: Any) -> int:
    """How many processes run the steps after the first ones.

    Independent steps (given the Design) run beside each other in forked child
    processes when the panel is small and no executor was given (an executor already
    spreads the draws of each step); one (all steps here, in order) with a scheduler,
    on a large panel, with an interactive matplotlib backend, where fork is unavailable (see
    :func:`policylab.study.workers.fork_usable`), or with ``POLICYLAB_STEPS=serial``
    in the environment. The numbers are the same either way: each step draws from the
    study's seed, not from a stream shared with the steps before it.
    """
    import os

    from policylab.study.workers import fork_usable

    if (executor is not None or not fork_usable()
            or os.environ.get("POLICYLAB_STEPS", "").lower() == "serial"):
        return 1
    try:
        size = int(ctx.panel.df.memory_usage(index=True, deep=False).sum())
    except Exception:  # no frame to size: stay in one process
        return 1
    if size > LANE_MAX_BYTES:
        return 1
    import matplotlib

    # a lane draws its figures: only on plain Agg canvases, never on an interactive
    # backend's (a forked child must not share the window-system connection); this
    # resolves the backend as the first figure would
    if matplotlib.get_backend().lower() != "agg":
        return 1
    return min(os.cpu_count() or 1, 4)


def _step_groups(plan: list[tuple[str, bool]]
                 ) -> tuple[list[tuple[str, bool]], list[list[tuple[str, bool]]]]:
    """The plan as (steps run first, here; groups of steps for the lanes, in plan
    order): a step and the later steps that read its cached results share a group."""
    n_head = 0
    while n_head < len(plan) and plan[n_head][0] in _HEAD:
        n_head += 1
    groups: list[list[tuple[str, bool]]] = []
    home: dict[str, list[tuple[str, bool]]] = {}
    for item in plan[n_head:]:
        chain = next((c for c in _CHAINED if item[0] in c), None)
        if chain is not None and chain in home:
            home[chain].append(item)
            continue
        groups.append([item])
        if chain is not None:
            home[chain] = groups[-1]
    return plan[:n_head], groups


_LANE: dict[str, Any] = {}
#: rough CPU seconds of each step in a lane on the bundled examples, its figures'
#: files included (the larger of the two examples), only to start the longest first
#: (the order steps are handed on in does not depend on it); a step put last because
#: its figures were not counted (moderation: 0.2 s computing, 0.6 s figures) left the
#: other lane idle at the end
_STEP_COST = {"event_study": 2.2, "pretrends": 0.9, "mediation": 2.0, "staggered": 1.8,
              "psm_did": 1.2, "placebo": 1.1, "heterogeneity": 0.85, "moderation": 0.85,
              "spec_curve": 0.75, "samples": 0.2}
_LANE_IMPORTS = ("matplotlib.pyplot", "matplotlib.backends.backend_agg", "PIL.PngImagePlugin",
                 # what PIL's Image.open loads first (each figure writer opens its PNG)
                 "PIL.BmpImagePlugin", "PIL.GifImagePlugin", "PIL.JpegImagePlugin",
                 "PIL.PpmImagePlugin", "scipy.stats", "numba", "psutil",
                 "policylab.study.steps")
_WRITER_IMPORTS = ("docx", "jinja2", "policylab.report.docx",
                   "policylab.report.xlsx", "policylab.report.html")


def _import_quietly(names: tuple[str, ...]) -> None:
    """Import ``names`` now, skipping any that is not installed (an optional dependency:
    the step or writer that needs it says so)."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _prepare_word() -> None:
    """Build the blank Word document the table files and report.docx start from, once,
    here (the run waits for its lanes) rather than in each writer forked later."""
    try:
        from policylab.report.docx import prepare
    except ImportError:  # python-docx missing: the Word files say so themselves
        return
    prepare()


class _LaneStopped(BaseException):
    """SIGTERM in a lane (the run stops its lanes): unwinds, so that a figure being
    written removes its temporary file, before the lane exits."""


_IN_STEPS = [False]


def _stop_lane(signum: int, frame: Any) -> None:
    import os

    if not _IN_STEPS[0]:  # idle in the pool's loop: nothing being written
        os._exit(143)
    raise _LaneStopped


def _lane_init(parent: int) -> None:
    """A lane ends with the run: when the run's process is killed outright (SIGKILL,
    the OOM killer), which stops no lane, Linux sends the lanes SIGTERM (idle lanes
    would otherwise wait for work for ever, each holding the others' pipes open)."""
    import os
    import signal

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux / no libc
        return
    if os.getppid() != parent:  # the run died before the line above
        os._exit(143)


def _lane_group(i: int) -> tuple[str, Any]:
    """Run group ``i`` in a lane (a forked child): its outputs, or the message of the
    required step that failed."""
    import os
    import signal

    # stopped lanes must not leave half-written hidden files in the outputs being built
    signal.signal(signal.SIGTERM, _stop_lane)
    _IN_STEPS[0] = True
    try:
        return _lane_steps(i)
    except _LaneStopped:
        os._exit(143)  # the pool's worker loop would catch the exception and go on
    finally:
        _IN_STEPS[0] = False


def _lane_steps(i: int) -> tuple[str, Any]:
    ctx, group, keep_fits = _LANE["ctx"], _LANE["groups"][i], _LANE["keep_fits"]
    files = _LANE["figures"]
    outs: list[tuple[StepOutput, Any]] = []
    try:
        for key, required in group:
            out = _run_step(ctx, key, required)
            if not keep_fits:
                release_fits(out.results, keep=_reachable(ctx.cache))
            written = None
            if files is not None:
                # the lane that drew the figures writes them: nothing to pickle back
                # but their names and file paths, no writer to fork
                written = files.written_here(out)
                if not keep_fits:  # nobody reads the Figure objects after the run
                    out.figures = [(name, f["figure"]) for (name, _), f in
                                   zip(out.figures, written[0])]
            outs.append((out, written))
    except StudyFailed as exc:
        return "failed", str(exc)
    return "ok", outs


def _run_lanes(ctx: Context, groups: list[list[tuple[str, bool]]], lanes: int,
               keep_fits: bool, figures: Any,
               run_here: Callable[[list[tuple[str, bool]]], None],
               finished: Callable[..., None],
               describe: Callable[[str], None] | None, sections: Any = None) -> None:
    """Run ``groups`` in ``lanes`` forked processes, handing each finished step to
    ``finished`` in plan order. A group whose outputs cannot come back (a result that
    does not pickle, a lane that died) is run again here. While the lanes compute,
    ``sections`` (:class:`~policylab.study.render.Sections`) starts writing the table
    files of the steps handed on whenever the run waits for a lane."""
    import multiprocessing
    import os
    import pickle

    from policylab.report.style import style_rc

    # what several lanes need is imported once, here, rather than in each lane: the
    # figures' machinery (the run draws the figures that come back, too), the
    # statistics and the compiled kernels most steps load (a second copy cost about
    # 1.5 s of CPU on the bundled examples, on a machine whose cores the lanes share
    # with the figure writers)
    _import_quietly(_LANE_IMPORTS)

    # the figures come back pickled and are drawn here: a font the lanes would register
    # (the bundled CJK font) must be registered here, and so before they fork
    style_rc(ctx.lang)

    lane_files = None
    if figures is not None:
        from policylab.study.render import FigureFiles
        from policylab.study.workers import Workers

        lane_files = FigureFiles(figures.root, figures.formats, Workers(fork=False))
    _LANE.update(ctx=ctx, groups=groups, keep_fits=keep_fits, figures=lane_files)
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pool, done = None, False
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns on fork in a process with threads (BLAS, the progress
            # bar); the lanes run only steps and never touch their locks
            warnings.simplefilter("ignore", DeprecationWarning)
            # not multiprocessing.Pool: it replaces a lane that dies (killed, crashed)
            # and waits for its result for ever; here its steps run again in this process
            pool = ProcessPoolExecutor(min(lanes, len(groups)),
                                       mp_context=multiprocessing.get_context("fork"),
                                       initializer=_lane_init, initargs=(os.getpid(),))
            # the longest groups first, so that no long step starts last and leaves a
            # lane idle (results are still taken in the plan's order)
            order = sorted(range(len(groups)), key=lambda i: -sum(
                _STEP_COST.get(k, 0.1) for k, _ in groups[i]))
            jobs = {i: pool.submit(_lane_group, i) for i in order}
        pending = [jobs[i] for i in range(len(groups))]
        # while the lanes compute, what the writers of the tables and reports load
        # is loaded here, once, instead of in each writer forked after the steps
        # (two of them load python-docx)
        _import_quietly(_WRITER_IMPORTS)
        _prepare_word()
        for i, (group, job) in enumerate(zip(groups, pending)):
            if sections is not None and (i == 0 or not job.done()):
                # about to wait for a lane: the table files of the steps handed on
                # since the last wait go to one writer now (a writer per step would
                # fork the run once per step when results come in a burst)
                sections.write_early()
            if describe is not None:
                describe(", ".join(k for k, _ in group))
            try:
                status, value = job.result()
            except (BrokenProcessPool, pickle.PicklingError, TypeError, AttributeError):
                # a lane died, or the group's outputs do not pickle: run it here
                run_here(group)
                continue
            if status == "failed":
                raise StudyFailed(value)
            for out, written in value:
                finished(out, written)
        done = True
    finally:
        _LANE.clear()
        if pool is not None:
            _stop_lanes(pool, done)


def _stop_lanes(pool: Any, done: bool) -> None:
    """Let idle lanes exit after the last result; after an error or Ctrl-C here, stop
    them at once (nothing they still compute is read)."""
    if done:
        pool.shutdown(wait=True)
        return
    # the executor has no terminate(), and forgets its processes on shutdown
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.join(timeout=5)


def _walk(obj: Any, depth: int = 0):  # noqa: ANN202 - a generator of objects
    """The object and what it holds: list, tuple and dict items, and the attributes
    of result objects (a Result's ``regression``, ``first_stage``, ...), a few levels
    deep; never into frames or arrays."""
    yield obj
    if depth >= 4 or isinstance(obj, (pd.DataFrame, pd.Series, np.ndarray, str, bytes)):
        return
    if isinstance(obj, dict):
        items: Any = obj.values()
    elif isinstance(obj, (list, tuple)):
        items = obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items = (getattr(obj, f.name, None) for f in dataclasses.fields(obj))
    else:
        return
    for v in items:
        yield from _walk(v, depth + 1)


def _reachable(cache: dict[str, Any]) -> set[int]:
    """Ids of the results later steps may read (everything the context's cache
    holds)."""
    return {id(o) for o in _walk(cache)}


def release_fits(results: Any, keep: set[int]) -> None:
    """Drop the fitted arrays (``.fit``) of the results in ``results`` except those
    whose id is in ``keep``: their numbers (coefficients, variance, statistics,
    ``tidy()``) stay, re-studentising or predicting from them no longer works."""
    from policylab.estimators.fit import Fit

    for o in _walk(results):
        if id(o) in keep or not isinstance(getattr(o, "fit", None), Fit):
            continue
        try:
            o.fit = None
        except (AttributeError, dataclasses.FrozenInstanceError, TypeError):
            continue  # a frozen record: leave it as it is


def _run_step(ctx: Context, key: str, required: bool) -> StepOutput:
    from policylab.study.frame import settle_status
    from policylab.study.steps import STEPS, step_title

    t1 = time.perf_counter()
    try:
        # referee warnings are collected into the report, not printed mid-run
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PolicyLabWarning)
            out = STEPS[key](ctx)
        settle_status(out)  # a step whose own check failed is "warned", not "ok"
    except Exception as exc:
        if required:
            raise StudyFailed(
                f"required step {key!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        # the report shows the error once, from the status (html box, docx paragraph):
        # policylab's own keyed error in the report's language (results.json error_key),
        # anything else as the exception's text
        why = reason_of(exc)
        out = StepOutput(key=key, title=step_title(ctx.lang, key), status="failed",
                         error=why if isinstance(exc, PolicyLabError) and message_key(why)
                         else f"{type(exc).__name__}: {exc}")
        out.numbers["traceback"] = traceback.format_exc(limit=6)
    out.seconds = time.perf_counter() - t1
    return out


def _split(prep_seconds: float, computing: float, outputs: list[StepOutput],
           rendered: dict[str, float]) -> dict[str, float]:
    """Where a run's time went (seconds, wall).

    ``prepare``, ``computing`` (from the first step to the last, drawing their figures
    included; ``steps`` adds up each step's own seconds, more than ``computing`` when
    steps ran beside each other in lanes), ``writing``
    (from the last step to the published folder: reports, results.json, manifest, and
    waiting for the writers) and ``other`` (checking the spec and the folder) add up to
    the run's total. ``figures`` and ``tables`` are the work of the writer processes,
    which overlaps the computing and the reports (see :mod:`policylab.study.workers`);
    ``reports`` is the HTML and Word reports; ``waiting`` is how long the run waited for
    the writers after the last step. ``writing`` and ``other`` are filled in when the run
    is published.
    """
    return {"prepare": round(prep_seconds, 4),
            "computing": round(computing, 4),
            "steps": round(sum(o.seconds for o in outputs), 4),
            "figures": round(rendered.get("figures", 0.0), 4),
            "tables": round(rendered.get("tables", 0.0), 4),
            "reports": round(rendered.get("reports", 0.0), 4),
            "waiting": round(rendered.get("waiting", 0.0), 4),
            "writing": 0.0, "other": 0.0}


def _failure_text(f: dict[str, str]) -> str:
    return f"could not write {f['file']}: {f['error']}"


def _results(outputs: list[StepOutput], failures: list[dict[str, str]]) -> dict[str, Any]:
    """results.json: every step's numbers.

    A result that cannot be recorded is noted in its place and appended to ``failures``.
    """
    results: dict[str, Any] = {}
    for o in outputs:
        records: dict[str, Any] = {}
        for name, r in o.results.items():
            try:
                records[name] = result_record(r)
            except Exception as exc:  # one odd result must not cost the others
                records[name] = {"type": type(r).__name__,
                                 "error": f"{type(exc).__name__}: {exc}"}
                failures.append({"file": f"results.json#{o.key}.{name}", "step": o.key,
                                 "error": f"{type(exc).__name__}: {exc}"})
        results[o.key] = {
            "status": o.status,
            "error": o.error,
            "error_key": message_record(o.error),
            "results": records,
            "numbers": {k: v for k, v in o.numbers.items() if k != "traceback"},
            "warnings": o.warnings,
            # each warning's catalogue key and params (None: text policylab did not key)
            "warning_keys": [message_record(w) for w in o.warnings],
            # the same for every message among the numbers (a reason why something did
            # not run), by its place: "not_run.honest_did", "att_gt_pretest_ri.reason"
            "number_keys": dict(_number_keys(o.numbers)),
            "output_failures": [f for f in failures if f.get("step") == o.key],
        }
    return results


def _number_keys(value: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(place, message record) of every keyed message inside a step's numbers."""
    rec = message_record(value)
    if rec is not None:
        yield where, rec
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "traceback":
                yield from _number_keys(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _number_keys(v, f"{where}.{i}")


def _render(root: Path, spec: StudySpec, outputs: list[StepOutput], ctx: Context,
            figures: Any, workers: Any, sections: Any = None) -> Any:
    from policylab.study.render import Rendered, write_all

    try:
        return write_all(root, spec, outputs, ctx, figures, workers, sections)
    except Exception as exc:  # the writer as a whole broke: keep the numbers regardless
        return Rendered(failures=[{"file": "report", "step": "report",
                                   "error": f"{type(exc).__name__}: {exc}"}])
    finally:
        workers.close()  # nothing may still write while the folder is published

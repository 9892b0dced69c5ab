"""``feols_stream``: fixed-effects regression on data larger than memory.

The data are scanned from Parquet/CSV files (or globs) by DuckDB. Nothing is sorted:
rows are spilled once into Arrow files by a hash of the panel unit, so every unit's
rows land in one partition, and each partition is read back (two passes) into memory
on its own. With ``presorted=True`` the files are streamed twice in their own order
instead (no spill), re-cut so no unit straddles two batches.

The algebra (``policylab.engine.streaming``): the first fixed effect (the unit) is
absorbed exactly by demeaning within each unit, partition by partition; the remaining
fixed effects must be either

* **small** (at most ``max_fe_levels`` levels: year, region^year, ...): their dummies,
  demeaned within units, enter dense normal equations ``A = D~'W D~`` and
  ``B = D~'W [X, y]~`` accumulated over partitions and absorbed by
  Frisch-Waugh-Lovell (``[X, y].. = [X, y]~ - D~ A^+ B``); or
* **absorbed by the unit** (constant within each unit, e.g. a firm's industry or
  province when firms never move): their dummies vanish after within-unit demeaning,
  so only their level counts (degrees of freedom) are needed.

A second pass recomputes each row's residual and accumulates the variance pieces:
the RSS, the HC1 meat and score sums by cluster code (any clustering column; clusters
need not be nested in units because scores add up). Memory grows with the number of
clusters and the small effects' levels, not with the rows. Results equal the in-memory
``feols`` (same formula, weights, vcov and small-sample corrections) up to rounding.
"""

from __future__ import annotations

import os
import queue
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policylab.data import scan
from policylab.data.names import is_plain_name, unquote_name
from policylab.engine import streaming as st
from policylab.engine import vcov as vc
from policylab.errors import DataError, EstimationError, SpecError
from policylab.estimators.feols import FeolsResult
from policylab.estimators.formula import parse_formula
from policylab.estimators.vcov_spec import resolve_ssc, resolve_vcov
from policylab.messages import Message

__all__ = ["feols_stream"]

#: rows per hash partition (at most): its per-unit sums, level table and code table
#: stay in cache (at 10M rows, partitions of 156k rows took about half the CPU time of
#: the passes over partitions of 1.25M rows)
PARTITION_ROWS = 2**18


def _column_name(term: str, what: str) -> str:
    """A formula term that is one column name (plain or between backticks), else a
    SpecError: nothing is computed in SQL, so a name stays a name."""
    t = term.strip()
    name = unquote_name(t)
    if name != t or is_plain_name(t):
        return name
    raise SpecError(
        f"feols_stream takes column names as {what}; {term!r} is an expression. "
        "Compute it as a column of the files beforehand (e.g. in DuckDB), or use "
        "feols() in memory"
    )


def _fe_columns(term: str) -> list[str]:
    """The columns of a fixed-effect term ``a^b`` (a '^' between backticks is a name's)."""
    pieces, cur, quoted = [], [], False
    for ch in term:
        if ch == "`":
            quoted = not quoted
        if ch == "^" and not quoted:
            pieces.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    pieces.append("".join(cur))
    return [_column_name(p, "fixed effects") for p in pieces]


@dataclass
class _Spec:
    """What the model reads: columns, fixed-effect terms, clustering, weights."""

    y: str
    xs: list[str]
    unit: str
    fe_terms: list[list[str]]  # the other fixed effects, each a list of columns (a^b)
    kind: str
    cluster: list[str] | None  # columns of the clustering term (a^b allowed)
    weights: str | None
    fe_names: list[str] = field(default_factory=list)
    ssc: vc.SSC = field(default_factory=vc.SSC)

    @property
    def numeric(self) -> list[str]:
        return list(dict.fromkeys([self.y, *self.xs] + ([self.weights] if self.weights else [])))

    @property
    def keys(self) -> list[str]:
        cols = [self.unit, *(c for t in self.fe_terms for c in t), *(self.cluster or [])]
        return list(dict.fromkeys(cols))

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(self.keys + self.numeric))


def _parse(fml: str, vcov: Any, weights: str | None, cluster: Any = None,
           columns: Any = ()) -> _Spec:
    f = parse_formula(fml)
    if len(f.depvars) != 1:
        raise SpecError(f"feols_stream takes one outcome, got {f.depvars}; fit one at a time")
    if f.endog:
        raise SpecError(f"feols_stream does not fit IV models ({' + '.join(f.endog)} ~ "
                        f"{' + '.join(f.instruments)}); use feols() in memory for 2SLS")
    if not f.fe:
        raise SpecError("feols_stream needs the panel unit as first fixed effect: "
                        "'y ~ x | unit' (+ further effects such as year or region^year)")
    unit_term = f.fe[0]
    if len(_fe_columns(unit_term)) > 1:
        raise SpecError(f"the first fixed effect {unit_term!r} must be one column (the panel "
                        "unit the data are streamed by); make the interaction a column first")
    kind, cl_cols, _ = resolve_vcov(vcov, cluster, f.fe, columns)
    if kind == "CRV3" or len(cl_cols) > 1:
        given = f"cluster={cluster!r}" if cluster is not None else f"vcov={vcov!r}"
        raise SpecError(f"{given}: feols_stream supports 'iid', 'hetero' and one-way "
                        "{'CRV1': column}; use feols() in memory for CRV3 or two-way clustering")
    fe_terms = [_fe_columns(t) for t in f.fe[1:]]
    cl = _fe_columns(cl_cols[0]) if cl_cols else None
    return _Spec(
        y=_column_name(f.depvars[0], "outcome"),
        xs=[_column_name(t, "regressors") for t in f.terms],
        unit=_column_name(unit_term, "fixed effects"), fe_terms=fe_terms, kind=kind,
        cluster=cl, weights=weights, fe_names=list(f.fe),
    )


class _Levels:
    """Integer codes of a (possibly interacted) key from its sorted distinct values."""

    def __init__(self, columns: list[str], distinct: dict[str, np.ndarray]) -> None:
        self.columns = columns
        self.parts = [pd.Index(pd.unique(distinct[c])) for c in columns]
        self.n = len(distinct[columns[0]])
        keys = self._key([distinct[c] for c in columns])
        self.order = np.argsort(keys, kind="stable")
        self.sorted_keys = keys[self.order]

    def _key(self, values: list[np.ndarray]) -> np.ndarray:
        key = np.zeros(len(values[0]), dtype=np.int64)
        for part, v in zip(self.parts, values):
            key = key * len(part) + part.get_indexer(v)
        return key

    def codes(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        if len(self.columns) == 1:
            return self.parts[0].get_indexer(raw[self.columns[0]]).astype(np.int64)
        pos = np.searchsorted(self.sorted_keys, self._key([raw[c] for c in self.columns]))
        return self.order[pos]


@dataclass
class _Plan:
    """Everything learnt about the data before the passes."""

    cond: str
    n_total: int  # rows matching the user's filter
    small: list[_Levels]
    large: list[_Levels]
    offsets: np.ndarray
    cluster: _Levels | None
    slots: list[tuple[str, int]]  # each non-unit FE term: ("small" | "large", index)
    unit: _Levels | None = None  # codes of a non-integer unit (for the hash partitions)
    n_rows: int = 0  # complete rows (known after the first read)

    @property
    def n_missing(self) -> int:
        return self.n_total - self.n_rows


def _conditions(spec: _Spec, where: str | None, numeric: bool = True) -> str:
    q = scan.quote_ident
    parts = [f"{q(c)} IS NOT NULL" for c in spec.keys]
    if numeric:
        parts += [f"isfinite(CAST({q(c)} AS DOUBLE))" for c in spec.numeric]
    if numeric and spec.weights:
        # a weight of 0 drops its row, as in feols (bad weights were refused by _plan)
        parts.append(f"CAST({q(spec.weights)} AS DOUBLE) <> 0")
    cond = " AND ".join(parts)
    return f"({where}) AND {cond}" if where else cond


def _bad_weights(spec: _Spec) -> list[str]:
    """The SQL aggregate counting rows whose weight is missing, not a number, infinite
    or negative (none without weights)."""
    if not spec.weights:
        return []
    w = f"TRY_CAST({scan.quote_ident(spec.weights)} AS DOUBLE)"
    return [f"count(*) FILTER (WHERE NOT coalesce(isfinite({w}) AND {w} >= 0, false))"]


def _plan(spec: _Spec, source: Any, where: str | None, max_fe_levels: int,
          presorted: bool, have: list[str]) -> _Plan:
    """Check the columns, count the rows (and the bad weights, refused) and read the
    levels of the non-unit effects.

    Only the key columns are scanned here (levels of rows later dropped for missing
    values get no observations and drop out of the normal equations by themselves)."""
    missing = [c for c in spec.columns if c not in have]
    if missing:
        raise DataError(f"columns {missing} are not in the scanned data (it has {have[:20]})")
    n_total, *n_bad = scan.scan_aggregate(source, ["count(*)", *_bad_weights(spec)], where)
    if n_bad and n_bad[0]:
        # the Design's and feols' rule: a bad weight is refused, not dropped quietly
        raise DataError(f"weights column {spec.weights!r} must be non-negative numbers; "
                        f"{int(n_bad[0])} rows are missing, negative or not numbers; fix "
                        "or drop them")
    keys = _conditions(spec, where, numeric=False)
    small: list[_Levels] = []
    large: list[_Levels] = []
    slots: list[tuple[str, int]] = []
    for cols in spec.fe_terms:
        d = scan.distinct_rows(source, cols, keys, limit=max_fe_levels + 1)
        if len(d[cols[0]]) > max_fe_levels:
            slots.append(("large", len(large)))
            large.append(_Levels(cols, scan.distinct_rows(source, cols, keys)))
        else:
            slots.append(("small", len(small)))
            small.append(_Levels(cols, d))
    offsets = np.cumsum([0] + [lv.n for lv in small])
    cluster = None
    if spec.cluster and spec.cluster != [spec.unit]:
        cluster = _Levels(spec.cluster, scan.distinct_rows(source, spec.cluster, keys))
    plan = _Plan(_conditions(spec, where), int(n_total), small, large, offsets, cluster, slots)
    if not presorted:
        first = scan.read_rows(source, [spec.unit], keys, limit=1)[spec.unit]
        if first.dtype.kind not in "iu":
            plan.unit = _Levels([spec.unit], scan.distinct_rows(source, [spec.unit], keys))
    return plan


def _columns(spec: _Spec, plan: _Plan, raw: dict[str, np.ndarray],
             key: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A batch's numeric columns [X, y, (w)] and its integer keys [unit key, small-FE
    codes, (cluster code), large-FE codes]."""
    fcols = [raw[c] for c in [*spec.xs, spec.y]]
    if spec.weights:
        fcols.append(raw[spec.weights])
    codes = [key] + [lv.codes(raw) + plan.offsets[j] for j, lv in enumerate(plan.small)]
    codes += [plan.cluster.codes(raw)] if plan.cluster is not None else []
    codes += [lv.codes(raw) for lv in plan.large]
    return fcols, codes


def _code(spec: _Spec, plan: _Plan, raw: dict[str, np.ndarray],
          key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A batch as two row blocks: F = [X, y, (w)] and K = [unit key, codes...]."""
    rows, _ = st.group_by_partition(*_columns(spec, plan, raw, key), 0)
    return st.split_rows(rows, len(spec.xs) + 1 + bool(spec.weights))


def _chunk(spec: _Spec, plan: _Plan, F: np.ndarray, K: np.ndarray, bits: int = 0) -> st.Chunk:
    """A chunk of complete units: local unit codes from the unit keys in K[:, 0] (all in
    one hash partition of ``bits`` bits)."""
    unit, rows = st.code_keys(K[:, 0], bits)
    k1, ms = len(spec.xs) + 1, len(plan.small)
    c = 1 + ms + (plan.cluster is not None)
    return st.Chunk(unit, F[:, :k1], F[:, k1] if spec.weights else None,
                    K[:, 1:1 + ms], K[:, 1 + ms] if plan.cluster is not None else None,
                    K[:, c:], unit_rows=rows)


def _ordered_map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int) -> Iterator[Any]:
    """``fn(item)`` for each item on ``workers`` threads, yielded in the items' order (at
    most workers + 1 in flight), so sums folded from the results do not depend on the
    number of threads."""
    if workers <= 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers, thread_name_prefix="policylab-stream") as pool:
        pending: deque[Any] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _progress(total: int, label: str, enabled: bool) -> Any:
    if not enabled:
        return _null_bar()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                   TimeElapsedColumn(), transient=True)
    return _bar(bar, total)


@contextmanager
def _bar(bar: Any, total: int) -> Iterator[Callable[[int], None]]:
    with bar:
        task = bar.add_task("", total=total)
        yield lambda n=1: bar.advance(task, n)


@contextmanager
def _null_bar() -> Iterator[Callable[[int], None]]:
    yield lambda n=1: None


def _complete_units(
    batches: Iterator[dict[str, np.ndarray]], unit: str
) -> Iterator[dict[str, np.ndarray]]:
    """Re-cut ordered batches so that no unit is split across two of them."""
    carry: dict[str, np.ndarray] | None = None
    for b in batches:
        if carry is not None:
            b = {k: np.concatenate([carry[k], b[k]]) for k in b}
        u = b[unit]
        if len(u) == 0:
            continue
        last = np.flatnonzero(u != u[-1])
        cut = int(last[-1]) + 1 if last.size else 0
        carry = {k: v[cut:] for k, v in b.items()}
        if cut:
            yield {k: v[:cut] for k, v in b.items()}
    if carry is not None and len(carry[unit]):
        yield carry


class _Source:
    """Chunks of complete units, as many times as asked (one per pass).

    Default: one unordered scan codes the rows (unit key, FE and cluster codes, floats)
    and spills them into hash partitions of the unit; each pass reads the partitions
    back one at a time. ``presorted``: the files are streamed in their order each pass.
    """

    def __init__(self, spec: _Spec, plan: _Plan, source: Any, presorted: bool,
                 batch_rows: int, spill_dir: Any, progress: bool, workers: int) -> None:
        self.spec, self.plan, self.source = spec, plan, source
        self.presorted, self.batch_rows, self.progress = presorted, batch_rows, progress
        self.workers, self.bits = workers, 0
        self.parts: scan.HashPartitions | None = None
        self._tmp: Any = None
        if not presorted:
            self._spill(spill_dir)

    def _spill(self, spill_dir: Any) -> None:
        spec, plan = self.spec, self.plan
        self._tmp = tempfile.TemporaryDirectory(prefix="policylab-stream-", dir=spill_dir)
        n_int = 1 + len(plan.small) + (plan.cluster is not None) + len(plan.large)
        # a power of two, partitions of at most PARTITION_ROWS rows (up to 4,096 of them):
        # a partition's units then fit in the core's cache while it is swept
        size = min(self.batch_rows, PARTITION_ROWS)
        self.bits = min(12, max(0, int(np.ceil(np.log2(max(1, plan.n_total / size))))))
        self.parts = scan.HashPartitions(self._tmp.name, 2**self.bits,
                                         len(spec.xs) + 1 + bool(spec.weights), n_int)
        batches = scan.scan_batches(self.source, spec.columns, where=plan.cond, keep_order=False,
                                    batch_rows=min(self.batch_rows, 1_000_000))

        # row blocks are reused batch after batch (workers + 2 are ever in use): fresh
        # ones cost a page fault per 4 kB, as much as the scatter itself
        width = sum(self.parts.shape)
        pool: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        for _ in range(self.workers + 2):
            pool.put(None)

        def grouped(raw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            u = raw[spec.unit]
            key = u.astype(np.int64) if u.dtype.kind in "iu" else plan.unit.codes(raw)
            buf = pool.get()
            if buf is None or len(buf) < len(u):
                buf = np.empty((len(u), width))
            rows, bounds = st.group_by_partition(*_columns(spec, plan, raw, key), self.bits,
                                                 out=buf[:len(u)])
            return buf, rows, bounds

        # the scan (DuckDB's threads) and the coding of earlier batches (worker threads)
        # run while this thread writes, in the order the scan hands the batches over
        with _progress(plan.n_total, "partitioning rows by unit", self.progress) as adv:
            for buf, rows, bounds in _ordered_map(grouped, batches, self.workers):
                self.parts.add_grouped(rows, bounds)
                pool.put(buf)
                adv(len(rows))
        self.parts.close()
        plan.n_rows = int(self.parts.rows.sum())

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def map(self, fn: Callable[[st.Chunk], Any], label: str) -> Iterator[Any]:
        """``fn`` of every chunk (on ``workers`` threads), in the chunks' order."""
        if self.presorted:
            yield from _ordered_map(fn, self._stream(label), self.workers)
            return
        parts, bits = self.parts, self.bits
        # partitions are read into reused buffers (workers + 2 are ever in use: fresh
        # ones cost a page fault per 4 kB); a buffer goes back once its result is folded
        words = int(parts.rows.max(initial=0)) * sum(parts.shape)
        pool: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        for _ in range(self.workers + 2):
            pool.put(None)

        def one(p: int) -> tuple[np.ndarray, Any]:
            buf = pool.get()
            if buf is None:
                buf = np.empty(words)
            return buf, fn(_chunk(self.spec, self.plan, *parts.read(p, buf), bits))

        with _progress(parts.n_parts, label, self.progress) as adv:
            for buf, out in _ordered_map(one, range(parts.n_parts), self.workers):
                yield out
                pool.put(buf)
                adv(1)

    def _stream(self, label: str) -> Iterator[st.Chunk]:
        raw_batches = _complete_units(scan.scan_batches(
            self.source, self.spec.columns, where=self.plan.cond,
            batch_rows=self.batch_rows), self.spec.unit)
        rows = 0
        with _progress(self.plan.n_total, label, self.progress) as adv:
            for raw in raw_batches:
                key = pd.factorize(raw[self.spec.unit])[0]
                yield _chunk(self.spec, self.plan, *_code(self.spec, self.plan, raw, key))
                rows += len(key)
                adv(len(key))
        self.plan.n_rows = rows


def feols_stream(
    fml: str,
    source: str | Path | list[str],
    vcov: str | dict[str, str] | None = None,
    weights: str | None = None,
    *,
    cluster: str | list[str] | None = None,
    where: str | None = None,
    ssc: Any = None,
    batch_rows: int = 2_000_000,
    presorted: bool = False,
    max_fe_levels: int = 1000,
    collin_tol: float = 1e-10,
    spill_dir: str | Path | None = None,
    progress: bool | None = None,
    workers: int | None = None,
) -> FeolsResult:
    """Fixed-effects OLS/WLS streamed from Parquet/CSV files that need not fit in RAM.

    Parameters
    ----------
    fml : str
        ``"y ~ x1 + x2 | unit + year + region^year"`` with plain column names
        (backtick-quote odd names). The first fixed effect is the panel unit; every
        other one must have at most ``max_fe_levels`` levels or be constant within
        units (then the unit absorbs it).
    source : path, glob or list of paths
        Parquet or CSV files, e.g. ``"firms/*.parquet"``.
    vcov : str or dict
        "iid", "hetero" or ``{"CRV1": column}`` (any column, ``a^b`` allowed); a column
        name is shorthand for ``{"CRV1": column}``, "cluster" clusters by the unit (the
        first fixed effect), as in :func:`policylab.feols`. Default: clustered by the
        unit.
    cluster : str, optional
        Clustering column, as feols' ``cluster=`` (``"firm"``, ``"~firm"``); the same
        as ``vcov={"CRV1": ...}``. One-way only.
    weights : str, optional
        Column of analytic (precision) weights, as in :func:`policylab.feols`:
        non-negative numbers, none missing in the rows ``where`` selects (a DataError
        counts the bad rows otherwise); rows weighted 0 are dropped.
    where : str, optional
        SQL row filter pushed down to the scan, e.g. ``"year >= 2005"``.
    ssc : optional
        Small-sample correction, as in :func:`policylab.feols`.
    batch_rows : int
        Rows per hash partition (at most 262,144, so each partition's units stay in the
        CPU cache), or per batch when presorted; memory is roughly ``(workers + 1) x
        batch_rows x columns x 40`` bytes plus the scan's batches of up to a million rows.
    presorted : bool
        The files are already ordered by unit: stream them twice in their order instead
        of spilling hash partitions to disk.
    max_fe_levels : int
        Largest number of levels of a non-unit fixed effect kept as a dense block.
    collin_tol : float
        Tolerance for dropping collinear or absorbed regressors (as in feols).
    spill_dir : path, optional
        Folder for the temporary partitions (default: the system temp folder); they
        take about ``rows x columns x 8`` bytes and are removed at the end.
    progress : bool, optional
        Show progress bars (default: when the terminal is interactive).
    workers : int, optional
        Threads that read and sum chunks side by side (default: the cores, at most 4).
        The results do not depend on it: chunks' sums are added in a fixed order.
    """
    have = scan.scan_columns(source)
    spec = _parse(fml, vcov, weights, cluster, have)
    spec.ssc = resolve_ssc(ssc)
    if batch_rows < 1 or max_fe_levels < 1:
        raise SpecError("batch_rows and max_fe_levels must be positive integers")
    plan = _plan(spec, source, where, max_fe_levels, presorted, have)
    show = sys.stderr.isatty() if progress is None else progress
    n_workers = min(4, os.cpu_count() or 1) if workers is None else int(workers)
    src = _Source(spec, plan, source, presorted, batch_rows, spill_dir, show, max(1, n_workers))
    try:
        acc, excluded, n_single = _pass_gram(spec, plan, src)
        fit = st.solve_gram(acc, collin_tol)
        sc, dof = _pass_scores(spec, plan, src, fit, excluded, acc)
    finally:
        src.close()
    return _result(fml, spec, plan, source, acc, fit, sc, dof, n_single)


def _kept(ch: st.Chunk, excluded: np.ndarray) -> st.Chunk:
    """Drop rows in excluded (singleton) levels of the small effects, then single-row
    units — the in-memory rule, iterated across passes until nothing changes."""
    if excluded.any() and ch.D.shape[1]:
        keep = ~excluded[ch.D].any(axis=1)
        if not keep.all():
            ch = ch.take(keep)
    return st.drop_singleton_units(ch)[0]


def _check_absorbed(spec: _Spec, plan: _Plan, ch: st.Chunk) -> None:
    for j, lv in enumerate(plan.large):
        if not st.unit_nested(ch.unit, ch.extra[:, j]):
            term = "^".join(lv.columns)
            raise SpecError(
                f"fixed effect {term!r} has more than max_fe_levels levels and varies within "
                f"the unit {spec.unit!r}: feols_stream absorbs the first fixed effect by "
                "streaming whole units and keeps the others in memory as dense blocks, so a "
                "large one must be constant within units. Make the finer of the two the first "
                f"fixed effect (e.g. '| {term} + {spec.unit}' if each {term!r} lies inside "
                f"one {spec.unit!r}), raise max_fe_levels if {term!r} has a few thousand "
                "levels, or use feols() in memory"
            )


def _pass_gram(spec: _Spec, plan: _Plan,
               src: _Source) -> tuple[st.GramAccumulator, np.ndarray, int]:
    """Pass 1 (repeated only while dropping singletons uncovers new ones)."""
    T, k = int(plan.offsets[-1]), len(spec.xs)
    excluded = np.zeros(T, dtype=bool)
    first = True

    def sums(ch: st.Chunk) -> st.GramPart | None:
        if first:
            _check_absorbed(spec, plan, ch)
        ch = _kept(ch, excluded)
        return st.gram_part(ch, k, T) if len(ch.unit) else None

    while True:
        acc = st.GramAccumulator(k, T)
        for part in src.map(sums, "pass 1 of 2: cross-products"):
            if part is not None:
                acc.fold(part)
        first = False
        new = (acc.level_n == 1) & ~excluded
        if not new.any():
            break
        excluded |= new
    if plan.n_rows == 0:
        raise EstimationError(f"no complete rows (of {plan.n_total:,} matching the filter): "
                              f"every row misses one of {spec.columns}")
    if acc.n == 0:
        raise EstimationError("no observations left after dropping singletons")
    return acc, excluded, plan.n_rows - acc.n


@dataclass
class _Dof:
    fe_levels: np.ndarray
    nested: np.ndarray | None
    n_clusters: int


@dataclass
class _Scored:
    """One chunk after pass 2: its rows, local cluster codes and sums."""

    ch: st.Chunk
    local: np.ndarray | None  # cluster of each row, 0..n_local-1 (None: no clusters)
    ids: np.ndarray | None  # global cluster of each local one (None: the units in order)
    units_nested: bool
    part: st.ScorePart


def _score_chunk(ch: st.Chunk, fit: st.StreamFit, excluded: np.ndarray,
                 clustered: bool, by_unit: bool) -> _Scored | None:
    """Pass-2 sums of one chunk by its local clusters (thread-safe)."""
    ch = _kept(ch, excluded)
    if len(ch.unit) == 0:
        return None
    if not clustered:
        return _Scored(ch, None, None, True, st.score_part(replace(ch, cluster=None), fit, 0))
    if by_unit:
        local, ids, nested = ch.unit, None, True
        n_local = len(ch.unit_rows) if ch.unit_rows is not None else int(ch.unit.max()) + 1
    else:
        local, _ = st.code_keys(ch.cluster)
        n_local = int(local.max()) + 1
        ids = np.empty(n_local, dtype=np.int64)
        ids[local] = ch.cluster
        nested = st.unit_nested(ch.unit, local)
    return _Scored(ch, local, ids, nested, st.score_part(replace(ch, cluster=local), fit, n_local))


def _pass_scores(spec: _Spec, plan: _Plan, src: _Source, fit: st.StreamFit,
                 excluded: np.ndarray,
                 acc: st.GramAccumulator) -> tuple[st.ScoreAccumulator, _Dof]:
    """Pass 2: residuals, score sums by cluster, and the levels / nesting behind K."""
    by_unit = spec.cluster == [spec.unit]
    n_units = acc.n_units
    G = None
    if spec.kind == "CRV1":
        G = n_units if by_unit else plan.cluster.n
    sc = st.ScoreAccumulator(fit, G)
    T = int(plan.offsets[-1])
    small_nest = st.NestingTracker(T)
    large_nest = [st.NestingTracker(lv.n) for lv in plan.large]
    large_seen = [np.zeros(lv.n, dtype=bool) for lv in plan.large]
    unit_in_cluster, counter = True, 0
    for out in src.map(lambda ch: _score_chunk(ch, fit, excluded, G is not None, by_unit),
                       "pass 2 of 2: residuals and scores"):
        if out is None:
            continue
        ch = out.ch
        for j in range(len(plan.large)):
            large_seen[j][ch.extra[:, j]] = True
        if G is None:
            sc.fold(out.part, None)
            continue
        ids = out.ids
        if ids is None:  # clusters are the units, numbered in the order of the chunks
            ids = np.arange(counter, counter + len(out.part.cluster_n))
            counter += len(ids)
        unit_in_cluster &= out.units_nested
        if T:
            small_nest.add(ch.D, out.local, ids)
        for j in range(len(plan.large)):
            large_nest[j].add(ch.extra[:, j], out.local, ids)
        sc.fold(out.part, ids)
    levels, nested = [n_units], [unit_in_cluster]
    for term, (kind, j) in zip(spec.fe_terms, plan.slots):
        if kind == "small":
            lo, hi = plan.offsets[j], plan.offsets[j + 1]
            levels.append(int((acc.level_n[lo:hi] > 0).sum()))
            nested.append(spec.cluster == term or small_nest.nested_in_range(lo, hi))
        else:
            levels.append(int(large_seen[j].sum()))
            nested.append(spec.cluster == term or large_nest[j].nested)
    n_cl = n_units if by_unit else int((sc.cluster_n > 0).sum()) if G else 0
    return sc, _Dof(np.array(levels), np.array(nested) if G else None, n_cl)


def _variance(spec: _Spec, acc: st.GramAccumulator, fit: st.StreamFit,
              sc: st.ScoreAccumulator, dof: _Dof, s: vc.SSC) -> vc.Variance:
    """The engine's variance from the streamed sums (the meat of the chosen kind)."""
    base = {"bread": fit.bread, "nobs": acc.n, "fe_levels": dof.fe_levels}
    if spec.kind == "iid":
        return vc.variance("iid", vc.VariancePieces(**base, rss=sc.rss), s)
    if spec.kind == "hetero":
        return vc.variance("hetero", vc.VariancePieces(**base, meat=sc.meat_hetero), s)
    G = dof.n_clusters
    name = "^".join(spec.cluster)
    if G < 2:
        raise EstimationError(f"only {G} cluster in {name!r} after dropping "
                              "missing values and singletons; cluster-robust SEs need two")
    pieces = vc.VariancePieces(**base, nested=dof.nested, cluster_sums=(sc.cluster_sums,),
                               n_clusters=(G,))
    return vc.variance("CRV1", pieces, s, names=[name])


def _result(fml: str, spec: _Spec, plan: _Plan, source: Any, acc: st.GramAccumulator,
            fit: st.StreamFit, sc: st.ScoreAccumulator, dof: _Dof,
            n_single: int) -> FeolsResult:
    from scipy import special

    s = spec.ssc
    var = _variance(spec, acc, fit, sc, dof, s)
    V, df_t, label = var.V, var.df, var.label
    N, k = acc.n, int(fit.kept.sum())
    rss, tss, tss_w = sc.rss, float(acc.moments.css[-1]), sc.tss_within
    if tss_w <= 1e-20 * max(tss, 1e-300):
        raise EstimationError(f"the outcome {spec.y!r} has no variation left after the fixed "
                              f"effects ({' + '.join(spec.fe_names)})")
    k_fe = int((dof.fe_levels - 1).sum() + 1)
    f_stat = f_p = np.nan
    if k and N > k + k_fe:
        f_stat = ((tss_w - rss) / k) / (rss / (N - k - k_fe))
        f_p = float(special.fdtrc(k, N - k - k_fe, f_stat))
    dropped = {key: v for key, v in (("missing values", plan.n_missing),
                                     ("singletons", n_single)) if v}
    names = [x for x, kk in zip(spec.xs, fit.kept) if kk]
    cl_name = "^".join(spec.cluster) if spec.kind == "CRV1" else None
    res = FeolsResult(
        nobs=N,
        meta={"formula": fml, "depvar": spec.y, "fe": list(spec.fe_names), "vcov": spec.kind,
              "vcov_label": label, "cluster": [cl_name] if cl_name else [], "ssc": s,
              "weights": spec.weights, "dropped": dropped,
              "dropped_terms": {spec.xs[j]: why for j, why in fit.dropped.items()},
              "demean": "streamed sufficient statistics", "source": str(source)},
        terms=names, beta=fit.beta, vcov_matrix=V, df_t=df_t,
        r2=1 - rss / tss if tss > 0 else np.nan,
        adj_r2=1 - (rss / tss) * (N - 1) / (N - k - k_fe) if tss > 0 else np.nan,
        r2_within=1 - rss / tss_w,
        adj_r2_within=1 - (rss / tss_w) * (N - k_fe) / (N - k - k_fe),
        rss=rss, f_stat=float(f_stat), f_pvalue=f_p,
        n_clusters={cl_name: dof.n_clusters} if cl_name else {},
        depvar_mean=float(acc.moments.mean[-1]),
    )
    fes = " + ".join(spec.fe_names)
    for j, why in fit.dropped.items():
        res.warn(Message("feols.absorbed", term=spec.xs[j], fe=fes) if why == "no variation"
                 else Message("feols.collinear", term=spec.xs[j]))
    if cl_name and dof.n_clusters < 30:
        res.warn(Message("feols.few_clusters", n=dof.n_clusters, clusters=[cl_name]))
    return res

"""The study spec: one TOML (or YAML) file that describes a whole evaluation.

The schema is a set of pydantic models; unknown keys are errors (a typo must not be
silently ignored). :func:`load_spec` reports every problem at once, each naming the key
(with its line number) and the fix; :func:`check_columns` then checks every column the
spec names against the data, suggesting the closest names.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from policylab import validation as _v
from policylab.errors import PolicyLabDeprecationWarning, SpecError

__all__ = [
    "StudySpec",
    "load_spec",
    "parse_spec_text",
    "check_columns",
    "SpecProblems",
]


_FILTER_HELP = (
    "row filter: comparisons (== != < <= > >=), in [...] / not in [...], and / or / not, "
    "parentheses, numbers, 'strings', True / False, column names (backticks around odd "
    "names) and isna(col) / notna(col); never run as Python (see docs/safety.md)"
)


def _valid_filter(v: str | None) -> str | None:
    """Check a row filter's syntax when the spec is read (columns come later)."""
    if v is None:
        return v
    from policylab.data.filters import parse_filter

    try:
        parse_filter(v, "filter")
    except SpecError as exc:
        raise ValueError(str(exc)) from None
    return v


def _valid_derive(v: str) -> str:
    """Check a derived column's syntax when the spec is read (columns come later)."""
    from policylab.data.derive import parse_derive

    try:
        parse_derive("_", v)
    except SpecError as exc:
        raise ValueError(str(exc).removeprefix("derive._: ")) from None
    return v


DeriveExpr = Annotated[str, AfterValidator(_valid_derive)]
_DERIVE_HELP = (
    "new columns, computed in order before data.query (a key may use the keys above): "
    "name = \"expression\" with conditions as in filters (0/1), + - * /, log, log1p, "
    "exp, sqrt, abs, lag(x, k), lead(x, k), diff(x, k), first_time(condition), "
    "quarterly(col), monthly(col), yq(year, q), ym(year, m), mean/sum/min/max(x, "
    "by=col) and ifelse(condition, a, b); never run as Python (docs/safety.md, Derived columns)"
)


def _names(v: list[str] | None) -> list[str] | None:
    """A column written between backticks in a term list is that column's name (the
    estimators take names literally)."""
    from policylab.data.names import unquote_name

    return None if v is None else [unquote_name(x) if isinstance(x, str) else x for x in v]


_TERMS_HELP = (
    "column names, or terms log(x), log1p(x), exp(x), sqrt(x), a:b, C(var), "
    "i(var, ref=...); a "
    "name holding spaces, brackets or operators may go between backticks"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _counted(lo: int) -> BeforeValidator:
    # the same rule as the API (policylab.validation): whole numbers in [lo, MAX_DRAWS]
    return BeforeValidator(lambda v, info: _v.check_count(v, info.field_name or "count", lo))


def _seeded(v: Any, info: ValidationInfo) -> int:
    seed = _v.check_seed(v, info.field_name or "seed")
    if seed is None:
        raise ValueError("a seed must be a non-negative whole number")
    return seed


def _exact(v: Any) -> bool | str:
    if v in ("yes", "no"):
        import warnings

        new = "true" if v == "yes" else "false"
        warnings.warn(f'battery.placebo.exact = "{v}" is deprecated; write exact = {new} '
                      "(true, false or \"auto\")", FutureWarning, stacklevel=2)
        return v == "yes"
    return _v.check_exact(v)


Count = Annotated[int, _counted(1)]
CountOrZero = Annotated[int, _counted(0)]
Seed = Annotated[int, BeforeValidator(_seeded)]


class Merge(_Strict):
    """Another file joined onto the main data."""

    path: str
    on: list[str]
    how: Literal["left", "inner"] = "left"
    encoding: str | None = Field(None, description="text encoding of a CSV file, e.g. "
                                 "gb18030 (default: UTF-8, else detected)")


class DataSpec(_Strict):
    """Where the data are and how the panel is keyed."""

    path: str | None = Field(None, description="CSV, Excel, .dta or Parquet file, relative to the spec")
    dataset: Literal["carbon_pilot", "energy_rights_pilot"] | None = Field(
        None, description="a bundled synthetic study instead of a file"
    )
    seed: Seed = Field(2011, description="seed of the bundled synthetic study")
    encoding: str | None = Field(None, description="text encoding of a CSV file, e.g. "
                                 "gb18030 for GBK from Chinese Windows (default: UTF-8, "
                                 "else detected; recorded in manifest.json)")
    unit: str
    time: str
    merges: list[Merge] = []
    query: str | None = Field(None, description=_FILTER_HELP + "; applied before transforms")

    _query = field_validator("query")(_valid_filter)


class Transform(_Strict):
    """One step of data preparation, applied in order."""

    kind: Literal[
        "co2", "log", "log1p", "lag", "lead", "diff", "winsorize", "per_capita", "deflate",
        "ratio", "intensity",
    ]
    columns: list[str] = []
    name: str | None = None
    k: int = 1
    lower: float = 0.01
    upper: float = 0.99
    population: str | None = None
    scale: float = 1.0
    price_index: str | None = None
    base: int | None = None
    numerator: str | None = None
    denominator: str | None = None
    factors: str = "carbon_trading_study"
    output: Literal["co2", "carbon"] = "co2"


class TreatmentSpec(_Strict):
    """Who is treated when: a 0/1 column, a cohort column, or a roster plus a date."""

    column: str | None = Field(None, description="ready 0/1 treatment column")
    cohort: str | None = Field(None, description="first treated period; never-treated coded 0 or missing")
    roster: str | None = Field(None, description="bundled roster name, e.g. carbon_trading")
    date: Literal["announcement", "market_opening"] = "announcement"
    assign: str | None = Field(None, description="level at which treatment is assigned (default: unit)")
    group: str | None = Field(None, description="0/1 treated-group column (for descriptives and trends)")

    def kind(self) -> str:
        given = [k for k in ("column", "cohort", "roster") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of treatment.column, treatment.cohort, treatment.roster")
        return given[0]


class ModelSpec(_Strict):
    """The baseline model."""

    outcomes: list[str] = Field(..., min_length=1, description="outcome columns")
    controls: list[str] = Field([], description="control variables: " + _TERMS_HELP)
    fe: list[str] | None = Field(None, description="fixed effects (default: unit and time): "
                                 "columns or interactions a^b, odd names between backticks")
    cluster: str | None = Field(None, description="cluster column (default: assignment level)")
    weights: str | None = None
    labels: dict[str, str] = {}

    _names = field_validator("outcomes", "controls", "fe")(_names)


class Variable(_Strict):
    """What a variable is, for the variable-definition table (and the descriptives)."""

    symbol: str = Field("", description="its symbol in the paper, e.g. 'lnCO2' (the "
                        "definition table shows a symbol column when any is given)")
    definition: str = Field("", description="how the variable is defined or measured")
    unit: str = Field("", description="its unit, e.g. '10k t' or '%'")
    source: str = Field("", description="where the data come from")


class Step(_Strict):
    enabled: bool = True
    required: bool = False


def _renamed_keys(v: Any, section: str, renamed: dict[str, str],
                  why: dict[str, str] | None = None) -> Any:
    """The keys of ``[battery.<section>]`` renamed in this release (``{old: new}``): an
    old key still loads for one release, with a PolicyLabDeprecationWarning naming the
    new one (and ``why[old]``, what the new key means); both at once is an error."""
    if not isinstance(v, dict) or not any(k in v for k in renamed):
        return v
    import warnings

    v = dict(v)
    for old, new in renamed.items():
        if old not in v:
            continue
        if new in v:
            raise ValueError(f"give {new} only ({old} is its deprecated name)")
        note = f" ({why[old]})" if why and old in why else ""
        warnings.warn(f"battery.{section}.{old} is deprecated and will be removed in the next "
                      f"release; write {new} = {v[old]!r}{note}",
                      PolicyLabDeprecationWarning, stacklevel=2)
        v[new] = v.pop(old)
    return v


class Descriptives(Step):
    columns: list[str] = []
    by: str | None = None


class Baseline(Step):
    required: bool = True
    without_controls: bool = True
    show_controls: bool = Field(True, description="print the control variables' "
                                "coefficients in the baseline table (Chinese journals' "
                                "style); false: one 'Controls: Yes' row")
    constant: bool | None = Field(None, description="print the constant row (Constant / "
                                  "常数项: Stata areg/reghdfe's _cons, the regression after "
                                  "adding back the grand means, its SE from the same "
                                  "variance); default: with show_controls (Chinese "
                                  "journals' style)")


class Overview(Step):
    """The study's setting: the pilot markets of the treatment roster, the emission
    factors of the CO2 accounting, the variable definitions (each shown when the spec
    has it)."""

    roster: str | None = Field(None, description="bundled roster whose pilot markets are "
                               "tabled (default: the treatment's roster)")


class Mechanisms(Step):
    """Mechanism tests in the papers' form: for each mechanism variable M, the policy's
    effect on M (the study's DID with M as outcome) and the outcome on M."""

    variables: list[str] = Field([], description="mechanism variables (default: the "
                                 "moderation step's moderators)")


class EventStudy(Step):
    window: tuple[int, int] = (-5, 5)
    ref: int = -1
    normalize_trends: bool = False

    @field_validator("window")
    @classmethod
    def _window(cls, v: tuple[int, int]) -> tuple[int, int]:
        return _v.check_window(v)


class Staggered(Step):
    estimators: list[Literal["att_gt", "sun_abraham", "did_imputation", "bacon"]] = [
        "att_gt", "sun_abraham", "did_imputation", "bacon",
    ]
    control_group: Literal["never", "notyet"] = Field(
        "never", description="Callaway-Sant'Anna's comparison units: never treated (as R "
        "did, csdid and pl.att_gt) or also not yet treated")
    pretest_draws: int = Field(
        999, ge=99, description="multiplier-bootstrap draws of the Callaway-Sant'Anna "
        "pre-test (sup-t over the pre-treatment ATT(g,t)), reported beside the analytic "
        "Wald test")


class Pretrends(Step):
    power: bool = True
    honest: bool = True
    honest_target: int | Literal["average"] = Field(
        0, description="effect the Honest DiD bounds are for: a post period (0 = first "
        "treated year) or 'average' of the post periods")
    honest_source: Literal["auto", "twfe", "cs"] = Field(
        "auto", description="event study the Honest DiD bounds and the pre-trend power use: "
        "the TWFE event study, or Callaway-Sant'Anna's (att_gt with the universal base "
        "period, aggregated by event time); 'auto' takes Callaway-Sant'Anna when adoption "
        "is staggered and the staggered step runs att_gt")
    draws: int = Field(
        999, ge=99, description="draws of the wild-bootstrap and randomization-inference "
        "joint pre-trend tests of the TWFE event study")


class PsmDid(Step):
    covariates: list[str] = Field([], description="matching covariates (default: the "
                                  "model's controls; skipped when there are none)")

    _names = field_validator("covariates")(_names)
    method: Literal["kernel", "nearest", "radius"] = "kernel"
    kernel: str = "epan"
    bwidth: float = 0.06
    mode: Literal["base_year", "period", "pooled"] = "base_year"
    did_sample: Literal["matched", "support", "weighted"] = Field(
        "weighted", description="the DID's rows and weights, as pl.psm_did(did_sample=): "
        "weighted by the matching weights, the matched rows, or the common support; the "
        "old key sample is accepted for one release")

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, v: Any) -> Any:
        # "sample" is the rows kept (model.sample / build_design(sample=)) everywhere else
        return _renamed_keys(v, "psm_did", {"sample": "did_sample"})


class Placebo(Step):
    kind: Literal["units", "timing", "both"] = "units"
    draws: Count = 1000
    exact: Annotated[bool | Literal["auto"], BeforeValidator(_exact)] = Field(
        "auto", description='enumerate every assignment: true, false or "auto" (when '
        "there are at most 2,000,000)")


class WildBootstrap(Step):
    draws: Count = 9999
    weights_type: Literal["rademacher", "webb", "mammen"] = Field(
        "webb", description="the bootstrap weight distribution, as "
        "pl.wild_bootstrap(weights_type=) (pyfixest's name); the old key weights is "
        "accepted for one release")
    cluster: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_weights_key(cls, v: Any) -> Any:
        # "weights" is the observation weights everywhere else (model.weights)
        return _renamed_keys(v, "wild_bootstrap", {"weights": "weights_type"},
                             why={"weights": "the bootstrap weight distribution"})


class Sample(_Strict):
    """An alternative sample for robustness."""

    name: str
    query: str | None = Field(None, description="keep the rows that pass this "
                              + _FILTER_HELP)
    drop_units: list[Any] = []
    years: tuple[int, int] | None = None
    winsorize: list[str] = []
    extra_controls: list[str] = Field([], description="controls added in this sample: "
                                      + _TERMS_HELP)

    _query = field_validator("query")(_valid_filter)
    _names = field_validator("extra_controls")(_names)


class Mediation(Step):
    mediators: list[str] = []
    lags: dict[str, int] = {}
    draws: CountOrZero = Field(500, description="cluster bootstrap draws (0 to skip), as "
                               "pl.mediation(draws=); the old key bootstrap is accepted "
                               "for one release")
    same_year: bool = Field(True, description="for each lagged mediator also run it "
                            "without the lag, side by side (the same-year run that "
                            "motivates the lag)")
    diagram: bool = Field(True, description="draw the mediation path diagram (a, b, c')")

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, v: Any) -> Any:
        # "bootstrap" is a yes/no (att_gt's multiplier bootstrap) everywhere else
        return _renamed_keys(v, "mediation", {"bootstrap": "draws"})


class Moderation(Step):
    moderators: list[str] = []


class Pooled(_Strict):
    """A pooled group of levels, shown as its own column before its members."""

    label: str
    levels: list[Any]


class Heterogeneity(Step):
    by: list[str] = []
    permutation_draws: CountOrZero = Field(
        500, description="permutation draws of the difference test (0 to skip); the old "
        "key permutations is accepted for one release")
    bootstrap_draws: CountOrZero = Field(
        999, description="wild cluster bootstrap draws of the difference test (0 to skip); "
        "the old key bootstrap is accepted for one release")
    levels: dict[str, dict[str, str]] = Field(
        {}, description="per column: level -> display name, in the order the columns "
        "are shown (e.g. resource_type = {growing = '成长型城市', ...})")
    pooled: dict[str, list[Pooled]] = Field(
        {}, description="per column: groups of levels estimated together, shown first "
        "(e.g. resource-based cities = growing + mature + declining + regenerating)")

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, v: Any) -> Any:
        # two kinds of draws: each count says which (bootstrap alone is a yes/no elsewhere)
        return _renamed_keys(v, "heterogeneity", {"permutations": "permutation_draws",
                                                  "bootstrap": "bootstrap_draws"})


class SpecCurve(Step):
    control_sets: dict[str, list[str]] = Field(
        {}, description="name -> controls; default: none and the model's controls")
    inference: Literal["none", "permutation"] = "permutation"
    draws: Count = 500


class Battery(_Strict):
    """Which steps run: every step is enabled by default and may be switched off
    (``enabled = false``) or made required. A step that does not apply (no mediators
    given, one adoption date for Bacon, weights an estimator cannot take) is listed as
    skipped with its reason."""

    overview: Overview = Overview()
    descriptives: Descriptives = Descriptives()
    baseline: Baseline = Baseline()
    event_study: EventStudy = EventStudy()
    staggered: Staggered = Staggered()
    pretrends: Pretrends = Pretrends()
    psm_did: PsmDid = PsmDid()
    placebo: Placebo = Placebo()
    wild_bootstrap: WildBootstrap = WildBootstrap()
    samples: list[Sample] = []
    mediation: Mediation = Mediation()
    moderation: Moderation = Moderation()
    mechanisms: Mechanisms = Mechanisms()
    heterogeneity: Heterogeneity = Heterogeneity()
    spec_curve: SpecCurve = SpecCurve()


class Output(_Strict):
    language: Literal["en", "zh"] = "en"
    formats: list[Literal["html", "docx", "xlsx", "tex", "md", "csv"]] = ["html", "docx", "md"]
    figure_formats: list[Literal["png", "pdf", "svg"]] = ["png"]
    digits: int = 3


class StudyMeta(_Strict):
    title: str = "Policy evaluation"
    description: str = ""
    seed: Seed = 2011


class StudySpec(_Strict):
    """A whole study."""

    study: StudyMeta = StudyMeta()
    data: DataSpec
    derive: dict[str, DeriveExpr] = Field({}, description=_DERIVE_HELP)
    transforms: list[Transform] = []
    treatment: TreatmentSpec
    model: ModelSpec
    variables: dict[str, Variable] = Field(
        {}, description="column -> definition, unit and source (the variable-definition "
        "table and the descriptives' definition column)")
    battery: Battery = Battery()
    output: Output = Output()

    @field_validator("treatment")
    @classmethod
    def _one_treatment(cls, v: TreatmentSpec) -> TreatmentSpec:
        v.kind()
        return v


class SpecProblems(SpecError):
    """Every problem found in a spec, each naming the key or column and the fix."""

    def __init__(self, problems: list[str], source: str = "spec") -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a key path in TOML or YAML text."""
    keys = [str(k) for k in loc if not isinstance(k, int)]
    if not keys:
        return None
    lines = text.splitlines()
    last = keys[-1]
    pat = re.compile(rf"^\s*(\"?{re.escape(last)}\"?)\s*[=:]")
    start = 0
    # narrow the search to the deepest TOML section that holds the key
    # ([battery.wild_bootstrap] for battery.wild_bootstrap.draws), else the first key's
    for depth in range(len(keys) - 1, 0, -1):
        head = ".".join(keys[:depth])
        hit = next((i for i, line in enumerate(lines)
                    if line.strip().strip("[]").strip() == head), None)
        if hit is not None:
            start = hit
            break
    else:
        for i, line in enumerate(lines):
            s = line.strip()
            if s.startswith("[") and keys[0] in s:
                start = i
                break
    for i in range(start, len(lines)):
        if pat.search(lines[i]) or re.search(rf"\b{re.escape(last)}\s*=", lines[i]):
            return i + 1
    return None


def raw_spec(text: str, fmt: str = "toml", source: str = "spec") -> dict[str, Any]:
    """The spec text as nested dicts (TOML or YAML), before validation."""
    try:
        if fmt == "toml":
            import tomllib

            raw = tomllib.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text) or {}
    except Exception as exc:  # syntax errors from either parser
        raise SpecProblems([f"syntax error: {exc}"], source) from exc
    if not isinstance(raw, dict):
        raise SpecProblems(["the spec must be a table of keys (data, treatment, model, ...)"],
                           source)
    return raw


def parse_spec_text(text: str, fmt: str = "toml", source: str = "spec") -> StudySpec:
    """Parse and validate spec text; raises :class:`SpecProblems` listing every problem."""
    spec, problems = validate_raw(raw_spec(text, fmt, source), text, source)
    if spec is None:
        raise SpecProblems(problems, source)
    return spec


def validate_raw(raw: dict[str, Any], text: str, source: str = "spec",
                 ) -> tuple[StudySpec | None, list[str]]:
    """The validated spec (None when invalid) and every schema problem, each naming
    the key, its line in ``text`` and the fix."""
    try:
        import warnings

        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always", FutureWarning)
            spec = StudySpec.model_validate(raw)
        for w in seen:  # deprecated spellings ("key = ... is deprecated"): say where
            key = str(w.message).split(" ", 1)[0]
            line = _line_of(text, tuple(key.split(".")))
            where = f"{source}" + (f" (line {line})" if line else "")
            warnings.warn(f"{where}: {w.message}", w.category, stacklevel=4)
        return spec, []
    except ValidationError as exc:
        return None, [_problem(err, text) for err in exc.errors()]


def schema_errors(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """pydantic's error records for ``raw`` (empty when it is a valid spec)."""
    try:
        StudySpec.model_validate(raw)
    except ValidationError as exc:
        return list(exc.errors())
    return []


def _problem(err: Any, text: str) -> str:
    loc = tuple(err["loc"])
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    key = key.lstrip(".") or "(top level)"
    line = _line_of(text, loc)
    where = f"{key}" + (f" (line {line})" if line else "")
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        parent = StudySpec
        for p in loc[:-1]:
            if isinstance(p, int):
                continue
            fld = getattr(parent, "model_fields", {}).get(str(p))
            ann = getattr(fld, "annotation", None) if fld else None
            parent = _model_of(ann) or parent
        known = list(getattr(parent, "model_fields", {}))
        close = difflib.get_close_matches(str(loc[-1]), known, n=2)
        msg = "unknown key" + (f"; did you mean {' or '.join(close)}?" if close else
                               f"; allowed: {', '.join(known)}")
    elif err["type"] == "missing":
        msg = "required key is missing"
    return f"{where}: {msg}"


def _model_of(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in getattr(ann, "__args__", ()) or ():
        m = _model_of(a)
        if m is not None:
            return m
    return None


def read_spec_text(p: Path) -> str:
    """The text of a spec file: UTF-8 (a byte-order mark is dropped; UTF-16 with its
    byte-order mark is read too), else GB18030.

    TOML is UTF-8 by definition, but Notepad and Excel on Chinese Windows save GBK; such
    a file is read when it decodes as GB18030, with a warning to re-save it as UTF-8.
    """
    if p.is_dir():
        raise SpecError(f"{str(p)!r} is a folder, not a spec file; give the .toml or .yaml "
                        "file inside it (create one with `policylab init DATA`)")
    if not p.exists():
        raise SpecError(f"spec file not found: {str(p)!r}; create one with `policylab init DATA`")
    raw = p.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Notepad's "Unicode" is UTF-16 with a BOM
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    from policylab.data.encoding import gbk_read_as_utf8

    try:
        text = raw.decode("utf-8-sig")
        if not gbk_read_as_utf8(raw, text):
            return text
    except UnicodeDecodeError as exc:
        utf8_error = exc.start
    else:
        utf8_error = None  # valid UTF-8 by accident: GBK read as UTF-8 is a jumble
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise SpecError(
            f"{p.name}: not UTF-8 text (byte {utf8_error}) nor GBK/GB18030; "
            "save it as UTF-8 (in Notepad: Save as -> Encoding: UTF-8)") from None
    import warnings

    from policylab.errors import PolicyLabWarning

    warnings.warn(f"{p.name} is saved in GBK/GB18030, not UTF-8 as TOML/YAML require; it "
                  "was read as GB18030 — save it as UTF-8 to silence this warning",
                  PolicyLabWarning, stacklevel=3)
    return text


def load_spec(path: str | Path) -> StudySpec:
    """Read a study spec from a .toml, .yaml or .yml file (UTF-8, BOM or not; GBK read
    with a warning)."""
    p = Path(path)
    text = read_spec_text(p)
    fmt = "yaml" if p.suffix.lower() in (".yaml", ".yml") else "toml"
    return parse_spec_text(text, fmt, source=p.name)


_PRODUCED = {"log": "ln_{c}", "log1p": "ln1p_{c}", "lag": "{c}_lag{k}", "lead": "{c}_lead{k}",
             "diff": "d_{c}", "winsorize": "{c}_w", "per_capita": "{c}_pc", "deflate": "{c}_real"}


def produced_columns(t: Transform) -> list[str]:
    """Column names a transform adds."""
    if t.kind in ("co2",):
        return [t.name or "co2"]
    if t.kind in ("ratio", "intensity"):
        return [t.name or f"{t.numerator}_per_{t.denominator}"]
    if t.name and len(t.columns) == 1:
        return [t.name]
    return [_PRODUCED[t.kind].format(c=c, k=t.k) for c in t.columns]


def check_columns(spec: StudySpec, columns: list[str]) -> list[str]:
    """Every column the spec names that the data (after transforms) lack, with hints."""
    avail = list(columns)
    problems: list[str] = []

    def need(col: str | None, key: str) -> None:
        if col is None or col in avail:
            return
        close = difflib.get_close_matches(col, avail, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        problems.append(f"{key}: column {col!r} is not in the data{hint}")

    need(spec.data.unit, "data.unit")
    need(spec.data.time, "data.time")
    for i, t in enumerate(spec.transforms):
        for c in t.columns:
            need(c, f"transforms[{i}].columns")
        for attr in ("population", "price_index", "numerator", "denominator"):
            need(getattr(t, attr), f"transforms[{i}].{attr}")
        avail.extend(produced_columns(t))
    tr = spec.treatment
    need(tr.column, "treatment.column")
    if tr.column and tr.column not in avail and tr.column not in spec.derive:
        problems[-1] += (f" Or define it in [derive], e.g. {tr.column} = \"state in ['A', "
                         f"'B'] and year >= 2005\" or {tr.column} = \"year >= policy_year\"")
    need(tr.cohort, "treatment.cohort")
    need(tr.assign, "treatment.assign")
    need(tr.group, "treatment.group")
    m = spec.model
    for c in m.outcomes:
        need(c, "model.outcomes")
    from policylab.data.filters import check_filter
    from policylab.estimators.formula import check_fe_term, check_term

    # terms and filters are read by their grammars, never evaluated (docs/safety.md)
    for c in m.controls:
        problems.extend(_foreign(c, avail, "model.controls", "control")
                        or check_term(c, avail, "model.controls"))
    for c in m.fe or []:
        problems.extend(_foreign(c, avail, "model.fe", "fe")
                        or check_fe_term(c, avail, "model.fe"))
    need(m.cluster, "model.cluster")
    need(m.weights, "model.weights")
    b = spec.battery
    for c in b.descriptives.columns:
        need(c, "battery.descriptives.columns")
    need(b.descriptives.by, "battery.descriptives.by")
    for c in b.psm_did.covariates:
        need(c, "battery.psm_did.covariates")
    for c in b.mediation.mediators:
        need(c, "battery.mediation.mediators")
    for c in b.moderation.moderators:
        need(c, "battery.moderation.moderators")
    for c in b.heterogeneity.by:
        need(c, "battery.heterogeneity.by")
    for c in b.mechanisms.variables:
        need(c, "battery.mechanisms.variables")
    for name, cols in b.spec_curve.control_sets.items():
        for c in cols:
            need(c, f"battery.spec_curve.control_sets.{name}")
    need(b.wild_bootstrap.cluster, "battery.wild_bootstrap.cluster")
    for i, s in enumerate(b.samples):
        for c in s.winsorize:
            need(c, f"battery.samples[{i}].winsorize")
        for c in s.extra_controls:
            problems.extend(check_term(c, avail, f"battery.samples[{i}].extra_controls"))
        if s.query:
            problems.extend(check_filter(s.query, avail, f"battery.samples[{i}].query"))
    return problems


_STATA_OPS = {"L": "lag", "F": "lead", "D": "diff"}


def foreign_spelling(text: str, columns: list[str], kind: str) -> str | None:
    """How a Stata or fixest spelling of a fixed effect (``kind="fe"``) or control
    (``kind="control"``) is written here, or None when ``text`` is not one (or names a
    column as it stands): ``region*year`` / ``region#year`` / ``i.region#i.year`` ->
    ``region^year``; ``i.year`` -> ``year`` (fe) or ``C(year)`` (control); ``L.gdp`` ->
    a lag in [derive]."""
    t = text.strip()
    if t in columns:
        return None
    cols = set(columns)

    def bare(piece: str) -> str | None:
        p = piece.strip()
        p = re.sub(r"^(?:i|c|ib\d+|ibn)\.", "", p)
        m = re.fullmatch(r"(?:factor|as\.factor|C|i)\((.+)\)", p)
        p = m.group(1).strip() if m else p
        return p if p in cols else None

    lag = re.fullmatch(r"([LFD])(\d*)\.(.+)", t)
    if lag and lag.group(3) in cols and kind == "control":
        fn, k, x = _STATA_OPS[lag.group(1)], lag.group(2) or "1", lag.group(3)
        return (f"a derived column: [derive] {x}_{fn}{k} = \"{fn}({x}, {k})\", then "
                f"{x}_{fn}{k} in the controls")
    pieces = [q for q in re.split(r"##|#|\*|:|\^", t)]
    names = [bare(q) for q in pieces]
    if None in names:
        return None
    if kind == "fe":
        return "^".join(names)  # type: ignore[arg-type]
    if len(names) == 1:
        plain = t.startswith("c.") or not re.match(r"^(i|ib\d+|ibn)\.|factor\(|as\.factor", t)
        return names[0] if plain else f"C({names[0]})"
    if "##" in t or "*" in t:  # a##b, a*b: both and their product
        return ", ".join([*names, ":".join(names)])  # type: ignore[list-item]
    return ":".join(names)  # type: ignore[arg-type]


def _foreign(text: str, columns: list[str], key: str, kind: str) -> list[str]:
    hint = foreign_spelling(text, columns, kind)
    if hint is None or hint == text:
        return []
    return [f"{key}: {text!r} is Stata/fixest spelling; here write {hint!r}"
            if "derived" not in hint else
            f"{key}: {text!r} is Stata's lag/lead operator; here write {hint}"]


def spec_reference() -> str:
    """Markdown reference of every spec key, generated from the schema."""
    lines = ["# Study spec reference", "",
             "Generated from the schema (`policylab.study.spec`); do not edit by hand.", ""]

    def walk(model: type[BaseModel], prefix: str) -> None:
        rows = []
        nested = []
        for name, fld in model.model_fields.items():
            key = f"{prefix}{name}"
            sub = _model_of(fld.annotation)
            ann = str(fld.annotation).replace("typing.", "").replace("policylab.study.spec.", "")
            ann = re.sub(r"<class '(\w+)'>", r"\1", ann).replace("|", "or")
            ann = re.sub(r"Annotated\[(\w+), [^\]]*\]", r"\1", ann)  # validators: no addresses
            if getattr(fld.annotation, "__origin__", None) is list and sub is not None:
                key += "[]"
            if fld.is_required():
                default = "required"
            elif sub is not None:
                default = "(table)"
            else:
                default = f"`{fld.default!r}`"
            rows.append(f"| `{key}` | {ann} | {default} | {fld.description or ''} |")
            if sub is not None:
                nested.append((sub, f"{key}."))
        lines.append(f"## `{prefix.rstrip('.') or 'top level'}`")
        lines.append("")
        if model.__doc__:
            lines.append(model.__doc__.strip().splitlines()[0])
            lines.append("")
        lines.append("| key | type | default | meaning |")
        lines.append("|---|---|---|---|")
        lines.extend(rows)
        lines.append("")
        for sub, p in nested:
            walk(sub, p)

    walk(StudySpec, "")
    return "\n".join(lines) + "\n"

"""One meaning per word (issue 15), second part: ``bootstrap`` is a yes/no (att_gt's
multiplier bootstrap) and a count of draws is ``draws`` (``<kind>_draws`` where a function
draws two kinds); ``sample`` is the rows kept, ``window`` an event window ``(lo, hi)``,
``method`` the matching / estimation method and ``score_model`` the propensity score's
link. Every old name still works for one release with a PolicyLabDeprecationWarning
naming the new one, and gives the same numbers; both names at once is a SpecError
naming both."""

from __future__ import annotations

import contextlib
import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.data.datasets import carbon_pilot, energy_rights_pilot
from policylab.errors import PolicyLabDeprecationWarning, SpecError
from policylab.study.spec import parse_spec_text


@contextlib.contextmanager
def _no_deprecation():
    """Any deprecation warning inside fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PolicyLabDeprecationWarning)
        yield


def _old_and_new(fn, old: dict, new: dict, where: str, **kw):
    """``fn`` called with the old names (must warn, naming each new one, at the user's
    line) and with the new ones (must not warn); both names at once must be refused."""
    with pytest.warns(PolicyLabDeprecationWarning) as rec:
        r_old = fn(**kw, **old)
    msgs = [str(w.message) for w in rec if issubclass(w.category, PolicyLabDeprecationWarning)]
    for o, n in zip(old, new, strict=True):
        assert any(f"{where}({o}=...) is deprecated" in m and f"{n}=" in m for m in msgs), msgs
    # the warning points at this file (the user's call), not at policylab's insides
    assert all(w.filename == __file__ for w in rec
               if issubclass(w.category, PolicyLabDeprecationWarning)), [w.filename for w in rec]
    with _no_deprecation():
        r_new = fn(**kw, **new)
    for o, n in zip(old, new, strict=True):
        with pytest.raises(SpecError, match=rf"{n}= only \({o}= is its deprecated name\)"):
            fn(**kw, **{**new, o: old[o]})
    return r_old, r_new


@pytest.fixture(scope="module")
def cities():
    p = energy_rights_pilot(seed=4)
    return pl.Panel(p.df[p.df.year >= 2012], unit="city", time="year")


def test_heterogeneity_permutation_and_bootstrap_draws(cities):
    kw = dict(data=cities, y="ln_ntt", treat="did", by=["old_industrial"],
              controls=["ln_pgdp"], assign="province", seed=3)
    old, new = _old_and_new(pl.heterogeneity, {"permutations": 19, "bootstrap": 29},
                            {"permutation_draws": 19, "bootstrap_draws": 29},
                            "heterogeneity", **kw)
    pd.testing.assert_frame_equal(old.tests, new.tests)
    pd.testing.assert_frame_equal(old.estimates, new.estimates)
    tests = new.tests.set_index("test")
    assert tests.loc["permutation", "draws_requested"] == 19
    assert new.meta["permutation_draws"] == 19 and new.meta["bootstrap_draws"] == 29
    # the old meta keys are not stored but still read, with the warning
    assert "permutations" not in new.meta and "bootstrap" not in new.meta
    with pytest.warns(PolicyLabDeprecationWarning, match=r"meta\['bootstrap_draws'\]"):
        assert new.meta["bootstrap"] == 29
    with pytest.warns(PolicyLabDeprecationWarning, match=r"meta\['permutation_draws'\]"):
        assert new.meta.get("permutations") == 19


def test_mediation_draws():
    p = carbon_pilot(seed=3)
    small = pl.Panel(p.df[p.df.year >= 2004], unit="province", time="year")
    kw = dict(data=small, y="ln_co2", treat="did", mediators=["coal_share"],
              controls=["ln_gdp"], seed=5)
    old, new = _old_and_new(pl.mediation, {"bootstrap": 49}, {"draws": 49}, "mediation",
                            **kw)
    pd.testing.assert_frame_equal(old.tidy(), new.tidy())
    np.testing.assert_array_equal(old.boot_draws["coal_share"], new.boot_draws["coal_share"])
    assert len(new.boot_draws["coal_share"]) == 49
    assert new.meta["draws"] == 49 and "bootstrap" not in new.meta
    with pytest.warns(PolicyLabDeprecationWarning, match=r"meta\['draws'\]"):
        assert new.meta["bootstrap"] == 49
    # the same through a Design (mediation's Design wrapper sits between the user and it)
    d = pl.build_design(small, treat="did", controls=["ln_gdp"])
    with pytest.warns(PolicyLabDeprecationWarning, match="draws=0") as rec:
        pl.mediation(d, y="ln_co2", mediators=["coal_share"], bootstrap=0)
    assert rec[0].filename == __file__


def _cross_section(n=300, seed=1):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.4 * x1 - 0.3 * x2 - 0.8)))).astype(int)
    return pd.DataFrame({"d": d, "x1": x1, "x2": x2, "y": 1 + d + x1 + rng.normal(size=n)})


def test_propensity_score_model():
    df = _cross_section()
    old, new = _old_and_new(pl.propensity_score, {"method": "probit"},
                            {"score_model": "probit"}, "propensity_score",
                            data=df, treat="d", covariates=["x1", "x2"])
    np.testing.assert_array_equal(old.score, new.score)
    logit = pl.propensity_score(df, "d", ["x1", "x2"])
    assert not np.allclose(logit.score, new.score)  # the keyword reaches the fit
    # the fourth positional argument is the score model, as it was
    np.testing.assert_array_equal(pl.propensity_score(df, "d", ["x1", "x2"], "probit").score,
                                  new.score)
    assert new.meta["score_model"] == "probit" and logit.meta["score_model"] == "logit"
    with pytest.warns(PolicyLabDeprecationWarning, match=r"meta\['score_model'\]"):
        assert new.meta["method"] == "probit"
    with pytest.raises(SpecError, match="score_model must be 'logit' or 'probit'"):
        pl.propensity_score(df, "d", ["x1"], score_model="kernel")


def test_match_variance_score_model_and_bootstrap_draws():
    df = _cross_section()
    kw = dict(data=df, treat="d", covariates=["x1", "x2"], outcome="y", seed=4)
    # nearest neighbour: psmatch2's variance instead of Abadie-Imbens, a probit score
    old, new = _old_and_new(pl.match, {"se": "psmatch2", "model": "probit"},
                            {"variance": "psmatch2", "score_model": "probit"}, "match",
                            method="nearest", **kw)
    pd.testing.assert_frame_equal(old.tidy(), new.tidy())
    assert new.tidy()["se_method"].iloc[0].startswith("psmatch2")
    ai = pl.match(method="nearest", score_model="probit", **kw)
    assert ai.att == new.att and ai.att_se != new.att_se
    # kernel matching: the ATT's SE from bootstrap draws
    old, new = _old_and_new(pl.match, {"bootstrap": 30}, {"bootstrap_draws": 30}, "match",
                            **kw)
    assert old.att_se == new.att_se and new.meta["att_se_method"].startswith("bootstrap (30")
    analytic = pl.match(**kw)
    assert analytic.att == new.att and analytic.att_se != new.att_se
    with pytest.raises(SpecError, match="variance must be 'ai'"):
        pl.match(variance="robust", method="nearest", **kw)


def _firms():
    p = carbon_pilot(seed=2).df
    return p[p.year >= 2006]


def test_psm_did_did_sample_and_match_keywords():
    kw = dict(data=_firms(), y="ln_co2", covariates=["ln_gdp", "fdi"], treat="did",
              unit="province", time="year", method="nearest")
    old, new = _old_and_new(pl.psm_did, {"sample": "matched", "model": "probit"},
                            {"did_sample": "matched", "score_model": "probit"}, "psm_did",
                            **kw)
    pd.testing.assert_frame_equal(old.tidy(), new.tidy())
    assert new.meta["did_sample"] == "matched" and "sample" not in new.meta
    with pytest.warns(PolicyLabDeprecationWarning, match=r"meta\['did_sample'\]"):
        assert new.meta["sample"] == "matched"
    weighted = pl.psm_did(**kw, score_model="probit")
    assert weighted.meta["did_sample"] == "weighted"
    assert weighted.did.coef()[weighted.meta["treat_term"]] != new.did.coef()[
        new.meta["treat_term"]]
    with pytest.raises(SpecError, match="did_sample must be weighted, matched or support"):
        pl.psm_did(**kw, did_sample="all")


def test_placebo_window():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"u": np.repeat(np.arange(18), 9), "t": np.tile(np.arange(2000, 2009), 18)})
    df["d"] = ((df.u < 6) & (df.t >= 2004)).astype(float)
    df["y"] = 0.3 * df.d + rng.normal(size=len(df))
    res = pl.did(df, y="y", treat="d", unit="u", time="t")
    old, new = _old_and_new(pl.placebo_test, {"window": "all"}, {"placebo_window": "all"},
                            "placebo_test", result=res, kind="timing")
    np.testing.assert_array_equal(old.estimates, new.estimates)
    assert new.meta["fake_dates"] == [2002, 2003, 2005, 2006, 2007, 2008]
    assert new.meta["placebo_window"] == "all" and "window" not in new.meta
    with pytest.warns(PolicyLabDeprecationWarning, match=r"meta\['placebo_window'\]"):
        assert new.meta["window"] == "all"
    pre = pl.placebo_test(res, kind="timing")
    assert pre.meta["placebo_window"] == "pre" and pre.meta["fake_dates"] == [2002, 2003]
    with pytest.raises(SpecError, match="placebo_window must be 'pre' or 'all'"):
        pl.placebo_test(res, kind="timing", placebo_window=(-3, 3))


def test_simulate_simulation_draws():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"unit": np.repeat(np.arange(12), 6),
                       "year": np.tile(np.arange(2000, 2006), 12)})
    df["did"] = ((df.unit < 4) & (df.year >= 2003)).astype(float)
    df["y"] = rng.normal(size=len(df))
    kw = dict(data=df, y="y", unit="unit", time="year", treat="did", methods=("crv1",),
              progress=False, seed=3)
    old, new = _old_and_new(pl.simulate, {"reps": 4}, {"simulation_draws": 4}, "simulate",
                            **kw)
    pd.testing.assert_frame_equal(old.records, new.records)
    assert len(new.records) == 4


def test_cs_pretest_size_simulation_draws():
    from policylab.inference.cs_pretest import cs_pretest_size

    def gen(seed):
        return pl.datasets.carbon_pilot(seed, staggered=True).df

    kw = dict(dgp=gen, y="ln_co2", unit="province", time="year", draws=19, progress=False)
    old, new = _old_and_new(cs_pretest_size, {"reps": 2}, {"simulation_draws": 2},
                            "cs_pretest_size", **kw)
    pd.testing.assert_frame_equal(old, new)
    assert (new["reps"] == 2).all()


SPEC = """
[data]
path = "x.csv"
unit = "province"
time = "year"

[treatment]
column = "did"

[model]
outcomes = ["y"]
controls = ["x"]

[battery.psm_did]
{psm}

[battery.mediation]
mediators = ["m"]
{med}

[battery.heterogeneity]
by = ["g"]
{het}
"""
OLD = {"psm": 'sample = "matched"', "med": "bootstrap = 70",
       "het": "permutations = 80\nbootstrap = 90"}
NEW = {"psm": 'did_sample = "matched"', "med": "draws = 70",
       "het": "permutation_draws = 80\nbootstrap_draws = 90"}


def test_spec_old_keys_load_with_the_warning():
    with pytest.warns(PolicyLabDeprecationWarning) as rec:
        old = parse_spec_text(SPEC.format(**OLD))
    msgs = " | ".join(str(w.message) for w in rec)
    for key, new in (("psm_did.sample", "did_sample = 'matched'"),
                     ("mediation.bootstrap", "draws = 70"),
                     ("heterogeneity.permutations", "permutation_draws = 80"),
                     ("heterogeneity.bootstrap", "bootstrap_draws = 90")):
        assert f"battery.{key} is deprecated" in msgs and new in msgs, (key, msgs)
    with _no_deprecation():
        new = parse_spec_text(SPEC.format(**NEW))
    assert old.battery == new.battery
    b = new.battery
    assert (b.psm_did.did_sample, b.mediation.draws) == ("matched", 70)
    assert (b.heterogeneity.permutation_draws, b.heterogeneity.bootstrap_draws) == (80, 90)
    # the defaults are unchanged
    d = parse_spec_text(SPEC.format(psm="", med="", het="")).battery
    assert (d.psm_did.did_sample, d.mediation.draws) == ("weighted", 500)
    assert (d.heterogeneity.permutation_draws, d.heterogeneity.bootstrap_draws) == (500, 999)


@pytest.mark.parametrize("section,both", [
    ("psm", 'sample = "matched"\ndid_sample = "support"'),
    ("med", "bootstrap = 70\ndraws = 70"),
    ("het", "permutations = 80\npermutation_draws = 80"),
    ("het", "bootstrap = 90\nbootstrap_draws = 90"),
])
def test_spec_refuses_both_keys(section, both):
    text = SPEC.format(**{**NEW, section: both})
    new, old = both.split("\n")[1].split(" =")[0], both.split(" =")[0]
    with pytest.raises(SpecError, match=rf"give {new} only \({old} is its deprecated name\)"):
        parse_spec_text(text)


# --- the words stay consistent ---------------------------------------------------------

# old names kept for one release, each a deprecated alias of the new name: to be removed
# in the next release (then this table empties and the scan below covers them too)
DEPRECATED = {
    ("heterogeneity", "permutations"): "permutation_draws",
    ("heterogeneity", "bootstrap"): "bootstrap_draws",
    ("mediation", "bootstrap"): "draws",
    ("match", "bootstrap"): "bootstrap_draws",
    ("match", "se"): "variance",
    ("match", "model"): "score_model",
    ("psm_did", "sample"): "did_sample",
    ("propensity_score", "method"): "score_model",
    ("placebo_test", "window"): "placebo_window",
    ("placebo_test", "level"): "assign",
    ("simulate", "reps"): "simulation_draws",
    ("simulate_spec", "reps"): "simulation_draws",
    ("cs_pretest_size", "reps"): "simulation_draws",
    ("did2s", "vcov"): "variance",
    ("att_gt", "bootstrap_weights"): "weights_type",
    ("aggregate", "bootstrap_weights"): "weights_type",
    ("pretest_bootstrap", "bootstrap_weights"): "weights_type",
    ("wild_bootstrap", "weights"): "weights_type",
    ("joint_wild_test", "weights"): "weights_type",
}


def _public_callables():
    """Every public function of policylab, its estimators and inference (their ``__all__``),
    and the public methods of the public classes there: what a user can call by name."""
    import importlib
    import pkgutil

    mods = [pl]
    for pkg in ("policylab.estimators", "policylab.inference", "policylab.study"):
        p = importlib.import_module(pkg)
        mods += [importlib.import_module(f"{pkg}.{m.name}")
                 for m in pkgutil.iter_modules(p.__path__) if not m.name.startswith("_")]
    seen = {}
    for mod in mods:
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if inspect.isclass(obj):
                for meth_name, meth in vars(obj).items():
                    if inspect.isfunction(meth) and not meth_name.startswith("_"):
                        seen[id(meth)] = (meth_name, meth)
            elif callable(obj) and not name.startswith("_"):
                seen[id(obj)] = (name, inspect.unwrap(obj))
    return list(seen.values())


def _hint(p: inspect.Parameter) -> str:
    """A parameter's annotation as written (``from __future__ import annotations`` keeps
    it a string; otherwise the class's name)."""
    a = p.annotation
    return a if isinstance(a, str) else getattr(a, "__name__", str(a))


def _word_problems(name: str, fn) -> list[str]:
    """What in ``fn``'s signature breaks the one-meaning-per-word rule."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return []
    problems = []
    for p in params.values():
        if p.kind is p.VAR_KEYWORD:
            continue  # simulate(**model): the model's keywords, not a word of its own
        if (name, p.name) in DEPRECATED:
            # an alias for one release: None by default (so "not given" is detectable),
            # next to the new name
            if p.default is not None or DEPRECATED[(name, p.name)] not in params:
                problems.append(f"{name}({p.name}=): a deprecated alias must default to "
                                f"None beside {DEPRECATED[(name, p.name)]}=")
            continue
        hint = _hint(p)
        if p.name in ("permutations", "reps", "n_boot", "n_reps", "nboot", "n_draws"):
            problems.append(f"{name}({p.name}=): a count of draws is draws= (or <kind>_draws=)")
        if p.name == "bootstrap" and hint not in ("bool", "bool | None"):
            problems.append(f"{name}(bootstrap: {hint}): bootstrap is a yes/no; a count is "
                            "draws= / bootstrap_draws=")
        if p.name == "window" and not hint.startswith("tuple"):
            problems.append(f"{name}(window: {hint}): window is an event window (lo, hi)")
        if (p.name == "model" and "str" in hint) or (p.name == "se" and name != "etable"):
            # etable(se=) is the table's display choice ("se", "t", "p", "ci")
            problems.append(f"{name}({p.name}=): say score_model= / variance=")
    return problems


def test_public_callables_are_found():
    names = {n for n, _ in _public_callables()}
    assert {"did", "att_gt", "aggregate", "heterogeneity", "mediation", "match", "psm_did",
            "placebo_test", "event_study", "compare_estimators", "simulate",
            "wild_bootstrap", "spec_curve", "cs_pretest_size", "etable"} <= names
    # every deprecated alias listed is still there (the table is not stale)
    params = {(n, p) for n, fn in _public_callables()
              for p in inspect.signature(fn).parameters}
    assert set(DEPRECATED) <= params, set(DEPRECATED) - params


def test_one_meaning_per_word_in_public_signatures():
    problems = [m for name, fn in _public_callables() for m in _word_problems(name, fn)]
    assert not problems, "\n".join(problems)


def test_the_scan_catches_the_old_words():
    # the signatures of the last release fail the rule above
    def heterogeneity(data, permutations: int = 1000, bootstrap: int = 999):
        """the old heterogeneity"""

    def placebo_test(result, window: str = "pre"):
        """the old placebo_test"""

    def match(data, se: str | None = None, model: str = "logit"):
        """the old match"""

    assert len(_word_problems("heterogeneity", heterogeneity)) == 2
    assert len(_word_problems("placebo_test", placebo_test)) == 1
    assert len(_word_problems("match", match)) == 2
    # and the new ones pass
    def new(data, bootstrap: bool = False, window: tuple[int, int] = (-5, 5),
            permutation_draws: int = 1000):
        """the rule kept"""

    assert _word_problems("new", new) == []


def test_etable_does_not_read_a_renamed_count_as_the_multiplier_bootstrap(cities):
    # heterogeneity's meta once said bootstrap=999 (a count), which read as att_gt's
    # multiplier bootstrap; the count is bootstrap_draws now and no alias is touched
    h = pl.heterogeneity(cities, y="ln_ntt", treat="did", by=["old_industrial"],
                         controls=["ln_pgdp"], assign="province", permutation_draws=0,
                         bootstrap_draws=9, seed=1)
    from policylab.report.tables import _se_kind

    with _no_deprecation():
        kind = _se_kind(h, "en", {})
    assert "bootstrap" not in (kind or "")

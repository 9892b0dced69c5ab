"""compare_estimators with results already fitted (``fitted=``): the same numbers as
fitting them inside, and a result fitted on another model is refused, not compared."""

from pathlib import Path

import pandas as pd
import pytest

import policylab as pl
from policylab.errors import SpecError
from policylab.estimators.design import build_design

DATA = Path(__file__).parents[1] / "validation" / "data" / "mpdta.csv"


@pytest.fixture(scope="module")
def design():
    df = pd.read_csv(DATA)
    return build_design(df, unit="countyreal", time="year", cohort="first.treat",
                        controls=["lpop"])


def test_reused_results_give_the_numbers_of_fitting_them(design):
    fresh = pl.compare_estimators(design, y="lemp", window=(-3, 3))
    es = pl.event_study(design, y="lemp", window=(-3, 3))
    cs = pl.att_gt(design, y="lemp", control_group="notyet")
    sa = pl.sun_abraham(design, y="lemp")
    reused = pl.compare_estimators(design, y="lemp", window=(-3, 3),
                                   fitted={"twfe": es, "att_gt": cs, "sun_abraham": sa})
    assert set(fresh.tidy().estimator) == {"TWFE", "Sun-Abraham", "Callaway-Sant'Anna",
                                           "Imputation (BJS)"}
    pd.testing.assert_frame_equal(reused.tidy(), fresh.tidy(), check_exact=True)
    assert reused.results["TWFE"] is es and reused.results["Sun-Abraham"] is sa
    assert reused.nobs == fresh.nobs and reused.meta == fresh.meta


def test_a_result_of_another_model_is_refused(design):
    es = pl.event_study(design, y="lemp", window=(-3, 3), ref=-2)
    with pytest.raises(SpecError, match="ref=-2"):
        pl.compare_estimators(design, y="lemp", window=(-3, 3), fitted={"twfe": es})
    es = pl.event_study(design, y="lemp", window=(-2, 2))
    with pytest.raises(SpecError, match="window"):
        pl.compare_estimators(design, y="lemp", window=(-3, 3), fitted={"twfe": es})
    cs = pl.att_gt(design, y="lemp", control_group="never")
    with pytest.raises(SpecError, match="control_group='never'"):
        pl.compare_estimators(design, y="lemp", window=(-3, 3), fitted={"att_gt": cs})
    with pytest.raises(SpecError, match="an aggregation"):
        pl.compare_estimators(design, y="lemp", window=(-3, 3),
                              fitted={"att_gt": pl.att_gt(design, y="lemp",
                                                          control_group="notyet")
                                      .aggregate("dynamic")})
    other = build_design(pd.read_csv(DATA), unit="countyreal", time="year",
                         cohort="first.treat")  # no controls
    sa = pl.sun_abraham(other, y="lemp")
    with pytest.raises(SpecError, match="design controls"):
        pl.compare_estimators(design, y="lemp", window=(-3, 3), fitted={"sun_abraham": sa})
    with pytest.raises(SpecError, match="estimator keys"):
        pl.compare_estimators(design, y="lemp", window=(-3, 3), fitted={"TWFE": es})


def test_an_event_study_shrunk_to_the_data_is_still_the_one_asked_for(design):
    # mpdta has leads back to -4 only: the window is clipped and still reusable
    fresh = pl.compare_estimators(design, y="lemp", window=(-6, 3), estimators=("twfe",))
    es = pl.event_study(design, y="lemp", window=(-6, 3))
    assert tuple(es.meta["window"]) != (-6, 3)
    reused = pl.compare_estimators(design, y="lemp", window=(-6, 3), estimators=("twfe",),
                                   fitted={"twfe": es})
    pd.testing.assert_frame_equal(reused.tidy(), fresh.tidy(), check_exact=True)


def test_the_asked_window_is_read_from_the_metadata(design):
    # event_study records the window asked for: the comparison reads it, not the
    # warning's text; a result without it (fitted before) falls back on the warning
    fresh = pl.compare_estimators(design, y="lemp", window=(-6, 3), estimators=("twfe",))
    kw = dict(y="lemp", window=(-6, 3), estimators=("twfe",))
    quiet = pl.event_study(design, y="lemp", window=(-6, 3))
    quiet.warnings = [w for w in quiet.warnings if w.key != "event.window_clipped"]
    assert quiet.meta["window_requested"] == (-6, 3)
    reused = pl.compare_estimators(design, **kw, fitted={"twfe": quiet})
    pd.testing.assert_frame_equal(reused.tidy(), fresh.tidy(), check_exact=True)
    with pytest.raises(SpecError, match=r"window=\(-6, 3\) where this comparison fits "
                                        r"window=\(-5, 3\)"):
        pl.compare_estimators(design, y="lemp", window=(-5, 3), estimators=("twfe",),
                              fitted={"twfe": quiet})
    old = pl.event_study(design, y="lemp", window=(-6, 3))
    del old.meta["window_requested"]
    reused = pl.compare_estimators(design, **kw, fitted={"twfe": old})
    pd.testing.assert_frame_equal(reused.tidy(), fresh.tidy(), check_exact=True)

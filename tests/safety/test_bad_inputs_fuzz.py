"""Whatever bytes a file holds and whatever value an argument gets, policylab answers
with a result or its own error — never a raw exception (hypothesis, derandomized: the
same examples on every run)."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylab.data.readers import read_table
from policylab.errors import PolicyLabError, SpecError
from policylab.validation import MAX_DRAWS, as_names, check_count, check_seed

FAST = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                st.text(max_size=5), st.lists(st.integers(), max_size=3),
                st.complex_numbers(), st.binary(max_size=4))


@FAST
@given(value=ANY)
def test_counts_are_whole_numbers_in_range_or_a_spec_error(value):
    try:
        n = check_count(value, "draws")
    except SpecError as exc:
        assert "draws=" in str(exc)
    else:
        assert isinstance(n, int) and 1 <= n <= MAX_DRAWS
        assert n == value and not isinstance(value, bool)


@FAST
@given(value=ANY)
def test_seeds_are_none_or_non_negative_or_a_spec_error(value):
    try:
        s = check_seed(value)
    except SpecError as exc:
        assert "seed=" in str(exc)
    else:
        assert s is None or (isinstance(s, int) and s >= 0)


@FAST
@given(value=st.one_of(ANY, st.lists(st.text(min_size=1), max_size=3)))
def test_names_are_lists_of_strings_or_a_spec_error(value):
    try:
        names = as_names(value, "controls")
    except SpecError as exc:
        assert "controls" in str(exc)
    else:
        assert all(isinstance(n, str) for n in names)
        if isinstance(value, str):
            assert names == [value]


@FAST
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".tsv", ".xlsx",
                                                               ".dta", ".parquet"]))
def test_any_bytes_give_a_table_or_a_policylab_error(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(data)
    try:
        df = read_table(path)
    except PolicyLabError:
        return
    assert len(df) > 0


@FAST
@given(parts=st.dictionaries(st.sampled_from(["[Content_Types].xml", "xl/workbook.xml",
                                              "xl/worksheets/sheet1.xml", "a.bin"]),
                             st.binary(max_size=200), max_size=4))
def test_any_zip_named_xlsx_gives_a_table_or_a_policylab_error(tmp_path_factory, parts):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    path = tmp_path_factory.mktemp("fuzz") / "f.xlsx"
    path.write_bytes(buf.getvalue())
    with pytest.raises(PolicyLabError):
        read_table(path)

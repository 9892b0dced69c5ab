"""CSV files in the encodings users really have are read as written, and the encoding
used is recorded; files the detector cannot place get an error naming the fix."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from policylab.data.readers import read_table

YEARS = range(2000, 2012)

TEXTS = {
    # GBK bytes that are also valid UTF-8: 省 is CA A1, UTF-8's "ʡ"
    "gbk valid as utf8": "prov,year\n" + "".join(f"省{i},{t}\n" for i in range(12) for t in YEARS),
    # 模 is C4 A3, UTF-8's Latvian "ģ"
    "gbk as lone latin": "prov,year\n" + "".join(f"模{i},{t}\n" for i in range(4) for t in YEARS),
    "yearbook": "地区,年份,地区生产总值(亿元),人口(万人)\n" + "".join(
        f"{p},{t},1.5,2.5\n" for p in ["北京", "天津", "河北", "内蒙古"] for t in YEARS),
    "ascii with gdp": "地区,GDP增长率,年份\n" + "".join(f"北京,1.0,{t}\n" for t in YEARS),
    "traditional": "地區,年份,生產總值\n" + "".join(f"臺北,{t},1.0\n高雄,{t},2.0\n" for t in YEARS),
    "french": "ville,année\n" + "".join(f"Orléans,{t}\nBéziers,{t}\n" for t in YEARS),
    "german": "Stadt,Jahr\n" + "".join(f"München,{t}\nKöln,{t}\n" for t in YEARS),
    "russian": "город,год\n" + "".join(f"Москва,{t}\n" for t in YEARS),
}

CASES = [
    ("gbk valid as utf8", "gbk", "gb18030"),
    ("gbk valid as utf8", "utf-8", "utf-8"),
    ("gbk as lone latin", "gbk", "gb18030"),
    ("yearbook", "gbk", "gb18030"),
    ("yearbook", "gb18030", "gb18030"),
    ("yearbook", "utf-8", "utf-8"),
    ("yearbook", "utf-8-sig", "utf-8"),
    ("traditional", "big5", None),
    ("ascii with gdp", "gbk", "gb18030"),
    ("french", "utf-8", "utf-8"),
    ("french", "latin-1", None),
    ("german", "utf-8", "utf-8"),
    ("german", "latin-1", None),
    ("russian", "utf-8", "utf-8"),
]


@pytest.mark.parametrize("name, written, recorded", CASES,
                         ids=[f"{n} in {w}" for n, w, _ in CASES])
def test_csv_is_read_as_written(tmp_path, name, written, recorded):
    text = TEXTS[name]
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode(written))
    got = read_table(path)
    want = pd.read_csv(io.StringIO(text))
    pd.testing.assert_frame_equal(got, want)
    if recorded is not None:
        assert got.attrs["policylab_encoding"] == recorded


def test_binary_file_named_csv_gets_the_encoding_fix(tmp_path):
    import numpy as np

    from policylab.errors import DataError

    path = tmp_path / "photo.csv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"'photo.csv'.*encoding="):
        read_table(path)


def test_scans_of_gbk_files_say_how_to_read_them(tmp_path):
    import policylab as pl
    from policylab.errors import DataError, SpecError

    (tmp_path / "a.csv").write_bytes(TEXTS["yearbook"].encode("gbk"))
    with pytest.raises(DataError, match=r"\*\.csv.*encoding='gb18030'"):
        pl.read(str(tmp_path / "*.csv"), unit="地区", time="年份")
    with pytest.raises(SpecError, match="encoding='gbk'.*UTF-8 only"):
        pl.read(str(tmp_path / "*.csv"), unit="地区", time="年份", encoding="gbk")
    panel = pl.read(tmp_path / "a.csv", unit="地区", time="年份")
    assert panel.df.shape == (48, 4)

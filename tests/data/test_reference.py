import pytest

from policylab.data.reference import cities, province_names, provinces
from policylab.errors import DataError


def test_thirty_provinces_without_tibet():
    p = provinces()
    assert len(p) == 30 and p["code"].is_unique
    assert "Tibet" not in set(p["name_en"]) and "西藏" not in set(p["name_zh"])
    assert set(p.loc[p.municipality == 1, "name_en"]) == {"Beijing", "Tianjin", "Shanghai",
                                                          "Chongqing"}


def test_city_table_is_consistent_with_provinces():
    c = cities()
    p = provinces()
    assert c["code"].is_unique and len(c) == 331
    assert set(c["province"]) == set(p["name_en"])
    # the two-digit province prefix of every GB/T 2260 city code is its province's code
    code_of = dict(zip(p["name_en"], p["code"].astype(str)))
    assert (c["code"].str[:2] == c["province"].map(code_of)).all()
    # known memberships and prefecture counts of the energy-rights pilot provinces
    row = c.set_index("name_zh").loc["深圳市"]
    assert (row["name_en"], row["province"]) == ("Shenzhen", "Guangdong")
    counts = c[c.kind == "prefecture-level city"].groupby("province").size()
    assert counts[["Zhejiang", "Fujian", "Henan"]].tolist() == [11, 9, 17]
    assert len(cities("municipality")) == 4
    with pytest.raises(DataError, match="unknown city kind"):
        cities("county")


def test_province_names_accept_chinese_spellings():
    names = province_names()
    assert names["广西壮族自治区"] == "Guangxi"
    assert names["北京市"] == names["北京"] == names["Beijing"] == "Beijing"
    assert names["河南省"] == "Henan"
    assert len(set(names.values())) == 30

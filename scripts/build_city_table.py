"""Build src/policylab/data/tables/cities.csv, the bundled prefecture-level table.

Run once, offline, by a maintainer; policylab never runs it and does not depend on
either package it uses::

    pip download cpca==0.5.5 --no-deps && unzip cpca-0.5.5-py3-none-any.whl -d cpca_whl
    pip install pypinyin
    python scripts/build_city_table.py cpca_whl/cpca/resources/adcodes.csv

Source: the adcodes table (GB/T 2260 administrative division codes with names) shipped
in the PyPI package cpca 0.5.5 (MIT licence, DQinYuan/chinese_province_city_area_mapper).
English names are pinyin romanisations made with pypinyin, with the polyphonic
characters of city names fixed by hand (e.g. 六安 Lu'an, 丽水 Lishui); they are not
official English names.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from pypinyin import Style, lazy_pinyin

OUT = Path(__file__).resolve().parents[1] / "src" / "policylab" / "data" / "tables"
MUNICIPALITIES = {"11", "12", "31", "50"}
DROP_PROVINCES = {"54", "71", "81", "82"}  # Tibet (not in the studies), Taiwan, HK, Macau
# polyphonic characters pypinyin reads wrongly in these names
FIXES = {"六安": "Lu'an", "丽水": "Lishui", "蚌埠": "Bengbu", "长沙": "Changsha",
         "长春": "Changchun", "长治": "Changzhi", "重庆": "Chongqing", "大理": "Dali",
         "朝阳": "Chaoyang", "阿拉善": "Alxa", "巴音郭楞": "Bayingolin", "阿克苏": "Aksu",
         "和田": "Hotan", "喀什": "Kashgar", "克孜勒苏柯尔克孜": "Kizilsu",
         "伊犁哈萨克": "Ili", "博尔塔拉蒙古": "Bortala", "昌吉回族": "Changji",
         "乌鲁木齐": "Urumqi", "克拉玛依": "Karamay", "哈密": "Hami", "吐鲁番": "Turpan",
         "塔城": "Tacheng", "阿勒泰": "Altay", "呼和浩特": "Hohhot", "包头": "Baotou",
         "鄂尔多斯": "Ordos", "呼伦贝尔": "Hulunbuir", "巴彦淖尔": "Bayannur",
         "乌兰察布": "Ulanqab", "锡林郭勒": "Xilingol", "兴安": "Hinggan",
         "海东": "Haidong", "厦门": "Xiamen", "东莞": "Dongguan", "儋州": "Danzhou",
         "亳州": "Bozhou", "泸州": "Luzhou", "衢州": "Quzhou", "濮阳": "Puyang",
         "漯河": "Luohe", "莆田": "Putian", "黄冈": "Huanggang", "肇庆": "Zhaoqing",
         "沧州": "Cangzhou", "葫芦岛": "Huludao", "铁岭": "Tieling", "大兴安岭": "Da Hinggan Ling",
         "哈尔滨": "Harbin", "齐齐哈尔": "Qiqihar", "西安": "Xi'an", "延安": "Yan'an",
         "吉安": "Ji'an", "雅安": "Ya'an", "广安": "Guang'an", "泰安": "Tai'an",
         "淮安": "Huai'an", "马鞍山": "Ma'anshan", "普洱": "Pu'er", "伊犁": "Ili",
         "博尔塔拉": "Bortala", "克孜勒苏": "Kizilsu", "红河": "Honghe", "海西": "Haixi"}
SUFFIXES = [("自治州", "Autonomous Prefecture", "autonomous prefecture"),
            ("地区", "Prefecture", "prefecture"), ("盟", "League", "league"),
            ("市", "", "prefecture-level city")]
ETHNIC = ["藏族羌族", "彝族", "藏族", "土家族苗族", "苗族侗族", "布依族苗族", "哈尼族彝族",
          "壮族苗族", "傣族景颇族", "傣族", "白族", "傈僳族", "蒙古族藏族", "回族", "朝鲜族",
          "哈萨克", "蒙古", "柯尔克孜", "景颇族", "苗族", "蒙古族"]
ETHNIC.sort(key=len, reverse=True)  # longest first: 哈尼族彝族 before 彝族


def _english(stem: str) -> str:
    for k, v in FIXES.items():
        if stem == k:
            return v
    word = "".join(lazy_pinyin(stem, style=Style.NORMAL, errors="ignore"))
    return word[:1].upper() + word[1:]


def main(path: str) -> None:
    ad = pd.read_csv(path, dtype={"adcode": str})
    ad["prov"] = ad["adcode"].str[:2]
    provinces = pd.read_csv(OUT / "provinces.csv", dtype={"code": str})
    pen = dict(zip(provinces["code"], provinces["name_en"]))
    pzh = dict(zip(provinces["code"], provinces["name_zh"]))
    rows = []
    for code, name_zh in ad[ad["adcode"].str.endswith("0000000000")][["prov", "name"]].values:
        if code in DROP_PROVINCES:
            continue
        if code in MUNICIPALITIES:
            rows.append((code + "0000", name_zh, pen[code], "municipality", code))
            continue
        pref = ad[(ad["prov"] == code) & (ad["adcode"].str[2:4] != "00")
                  & ad["adcode"].str.endswith("00000000")]
        for adcode, nm in pref[["adcode", "name"]].values:
            if "直辖" in nm:  # county-level units under the province: not prefectures
                continue
            for zh_suf, en_suf, kind in SUFFIXES:
                if nm.endswith(zh_suf):
                    stem = nm[: -len(zh_suf)]
                    for eth in ETHNIC:
                        if kind == "autonomous prefecture" and stem.endswith(eth):
                            stem = stem[: -len(eth)]
                            break
                    en = (_english(stem) + " " + en_suf).strip()
                    rows.append((adcode[:6], nm, en, kind, code))
                    break
            else:
                raise SystemExit(f"unrecognised prefecture name {nm!r}")
    out = pd.DataFrame(rows, columns=["code", "name_zh", "name_en", "kind", "province_code"])
    out["province"] = out["province_code"].map(pen)
    out["province_zh"] = out["province_code"].map(pzh)
    out = out.sort_values("code").drop(columns="province_code")
    out.to_csv(OUT / "cities.csv", index=False)
    print(f"wrote {len(out)} prefecture-level units in {out['province'].nunique()} provinces")


if __name__ == "__main__":
    main(sys.argv[1])

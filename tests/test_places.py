"""rasd.extract.places: gazetteer loading, data hygiene and matching rules (short examples written for the purpose)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from rasd.extract.places import GAZETTEER_CSV, PLACES_YAML, Gazetteer, Place, PlaceMention, find_places
from rasd.text.normalize import clean_chars, fold, is_normalized

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.load()


def places(text: str, gaz: Gazetteer, **kw) -> list[PlaceMention]:
    return find_places(fold(clean_chars(text)), gaz, **kw)


def names(text: str, gaz: Gazetteer, **kw) -> list[str]:
    return [m.name_en for m in places(text, gaz, **kw)]


# -- data hygiene ------------------------------------------------------------------------------

def _arabic_entries(cfg: dict):
    for sect in ("aliases", "sites", "regions", "stop_names", "weak_names"):
        for e in cfg.get(sect, []):
            yield from e["ar"]
    yield from cfg.get("strong_names", [])
    yield from cfg.get("governorate_first", [])
    yield from cfg.get("directions", {})
    for words in cfg.get("cues", {}).values():
        yield from words


def test_places_yaml_entries_are_normalized():
    cfg = yaml.safe_load(PLACES_YAML.read_text(encoding="utf-8"))
    bad = [w for w in _arabic_entries(cfg) if not is_normalized(w)]
    assert not bad
    assert cfg.get("source")


def test_places_yaml_references_exist(gaz):
    cfg = yaml.safe_load(PLACES_YAML.read_text(encoding="utf-8"))
    for a in cfg["aliases"]:
        assert gaz.get(a["place_id"]) is not None, a
    for pid in cfg["names_en"]:
        assert gaz.get(pid) is not None, pid
    ids = [s["id"] for s in cfg["sites"] + cfg["regions"]]
    assert len(ids) == len(set(ids))


def test_common_word_tables_are_normalized():
    for name in ("common_names.tsv", "clitic_words.tsv"):
        rows = (ROOT / "rasd/data/gazetteer" / name).read_text(encoding="utf-8").splitlines()[1:]
        assert rows
        assert all(is_normalized(r.split("\t")[0]) for r in rows)


def test_vendored_gazetteer_shape_and_attribution():
    with GAZETTEER_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8470
    assert {"place_id", "name_ar", "alt_names_ar", "place_type", "admin1_pcode", "lat", "lon"} <= set(rows[0])
    folder = GAZETTEER_CSV.parent
    assert (folder / "SOURCE.md").exists() and "OCHA" in (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert not (folder / "source").exists()


def test_gazetteer_lookups(gaz):
    assert len(gaz.ids()) == 8470
    jasim = gaz.get("C6111")
    assert isinstance(jasim, Place)
    assert (jasim.name_en, jasim.place_type, jasim.admin1_pcode, jasim.admin3) == ("Jasim", "town", "SY12", "Jasim")
    assert gaz.get("nope") is None
    assert Gazetteer.load() is gaz  # loaded once per process
    assert gaz.admin1_pcode("Daraa") == gaz.admin1_pcode("Dar'a") == gaz.admin1_pcode("درعا") == "SY12"


# -- matching ----------------------------------------------------------------------------------

def test_offsets_slice_the_cleaned_text(gaz):
    cleaned = clean_chars("قُتِلَ شابٌّ في مدينةِ جاسمٍ، وأُصيبَ آخرُ في «طفس»")
    ms = find_places(fold(cleaned), gaz)
    assert [cleaned[m.start:m.end] for m in ms] == ["جاسم", "طفس"]
    assert [m.text for m in ms] == ["جاسم", "طفس"]


@pytest.mark.parametrize("prefix", ["", "و", "ب", "ل", "ف", "ك", "وب", "ول", "وك"])
def test_each_proclitic(gaz, prefix):
    assert names(f"قصف على {prefix}جاسم اليوم", gaz) == ["Jasim"]


@pytest.mark.parametrize("form", ["الحراك", "بالحراك", "والحراك", "للحراك", "وللحراك", "فالحراك", "وبالحراك"])
def test_article_combinations(gaz, form):
    assert names(f"اشتباكات {form} ليلا", gaz) == ["Al-Hirak"]


def test_no_match_inside_a_word(gaz):
    assert names("الجاسميون والحراكيون", gaz) == []
    assert names("طفسي", gaz) == []


@pytest.mark.parametrize("spelling", ["إنخل", "أنخل", "انخل", "آنخل"])
def test_alef_variants(gaz, spelling):
    assert names(f"في بلدة {spelling} شمالي درعا", gaz)[0] == "Inkhil"


def test_multi_word_names(gaz):
    assert names("غارة على بصرى الشام", gaz) == ["Busra al-Sham"]
    assert names("انفجار في دير الزور", gaz) == ["Deir ez-Zor"]


def test_media_aliases(gaz):
    m = places("مظاهرة في القامشلو", gaz)[0]
    assert (m.place_id, m.name_en) == ("C4564", "Qamishli")
    for text in ("اشتباكات في درعا البلد", "قصف على درعا المحطة", "اغتيال في حي المنشية", "توتر في حي طريق السد"):
        m = places(text, gaz)[0]
        assert (m.place_id, m.name_en, m.geo_precision) == ("C5993", "Daraa", 1), text
    assert names("انفجار قرب مقام السيدة زينب", gaz)[-1] == "Sayyeda Zeinab"


def test_governorate_name_as_city_or_governorate(gaz):
    assert [(m.place_type, m.geo_precision) for m in places("قتل مدني في مدينة درعا", gaz)] == [("city", 1)]
    assert [(m.place_type, m.geo_precision) for m in places("قتل مدني في درعا", gaz)] == [("city", 1)]
    m = places("حملة اعتقالات في محافظة درعا", gaz)[0]
    assert (m.place_id, m.place_type, m.geo_precision, m.name_en) == ("SY12", "governorate", 3, "Daraa Governorate")
    assert [m.place_type for m in places("قصف على القنيطرة", gaz)] == ["governorate"]   # the destroyed city
    assert [m.place_type for m in places("في مدينة القنيطرة", gaz)] == ["city"]
    # the cue carries over a coordination: "محافظتي السويداء والقنيطرة"
    assert [m.place_type for m in places("في محافظتي السويداء والقنيطرة", gaz)] == ["governorate", "governorate"]


def test_countryside_regions(gaz):
    m = places("هجوم على حاجز في ريف درعا الغربي", gaz)[0]
    assert (m.place_id, m.place_type, m.name_en, m.geo_precision, m.admin1_pcode) == (
        None, "region", "Western Daraa countryside", 2, "SY12")
    assert 32.6 < m.lat < 32.9 and 35.8 < m.lon < 36.1  # among the western villages (Tafas, Tell Shihab …)
    assert names("في الريف الغربي لدرعا", gaz) == ["Western Daraa countryside"]
    assert names("في الريف الشمالي الغربي لمحافظة حماة", gaz) == ["North-western Hama countryside"]
    assert names("في ريف حمص", gaz) == ["Homs countryside"]
    # a bare "الريف الغربي" is the countryside of the governorate the text is about
    assert names("في ريف إدلب الجنوبي. وفي الريف الغربي قصف", gaz) == [
        "Southern Idlib countryside", "Western Idlib countryside"]
    assert names("قصف في الريف الغربي", gaz) == []


def test_fixed_regions(gaz):
    m = places("هجمات في البادية السورية", gaz)[0]
    assert (m.name_en, m.geo_precision, m.admin1) == ("Syrian desert", 3, None)
    assert names("قوات على الساحل السوري", gaz) == ["Syrian coast"]
    assert names("غارات في شمال غرب سوريا", gaz) == ["North-western Syria"]
    assert names("في بادية السويداء", gaz) == ["Suwayda desert"]


def test_shared_name_resolved_by_context(gaz):
    # نوى: a Daraa town and villages in Homs and Hama
    assert places("قصف على نوى", gaz)[0].admin1_pcode == "SY12"                    # town > village
    assert places("قتل شخص في قرية نوى بريف حمص", gaz)[0].admin1_pcode == "SY04"   # locator
    assert places("تل شهاب", gaz, hint_admin1="Homs")[0].admin1_pcode == "SY04"     # hint
    assert places("تل شهاب", gaz, hint_admin1="SY12")[0].admin1_pcode == "SY12"
    ms = places("قصف على ريف حمص الشمالي. وقتل مدني في تل شهاب", gaz)          # governorate in the text
    assert ms[-1].admin1_pcode == "SY04" and "C6033" in ms[-1].candidates


def test_locator_is_flagged(gaz):
    ms = places("قتل شاب في جاسم شمالي درعا", gaz)
    assert [(m.name_en, m.is_locator) for m in ms] == [("Jasim", False), ("Daraa", True)]
    ms = places("قتل شاب في جاسم ونوى", gaz)
    assert [m.is_locator for m in ms] == [False, False]


@pytest.mark.parametrize("text", [
    "طالب المحتجون بالحرية والكرامة والعدالة",      # villages الحرية, الكرامة
    "علما أن القصف لم يتوقف",                        # Alma / "knowing that"
    "وقال الشاب جاسم الحريري إن القصف استمر",        # a person called Jasim
    "نقلت قناة الميادين عن مصادرها",                 # a TV channel
    "هرب المسلحون إلى لبنان",                          # not ل + the village بنان
    "فتح الباب أمام المفاوضات",                        # al-Bab / "the door"
    "انتصار الثورة السورية",                           # al-Thawrah / "the revolution"
    "قال \"اياد جعارة\" إن الوضع هادئ",              # quoted person name
    "تجمع الأهالي أمام المدينة",                       # "the city"
    "حاصرت الفصائل منزل راجي فلحوط",                  # not ف + ل + the village حوط
])
def test_common_words_are_not_places(gaz, text):
    assert places(text, gaz) == []


def test_common_word_names_with_a_cue(gaz):
    assert names("وقتل شاب في بلدة علما", gaz) == ["Alma"]
    assert names("سيطرت القوات على مدينة الباب", gaz) == ["Al Bab"]
    m = places("اشتباكات في قرية الحرية بريف حماة", gaz)[0]
    assert (m.name_en, m.admin1_pcode, m.weak) == ("Hurriyeh", "SY05", True)


def test_precision_near_area_and_subdistrict(gaz):
    assert places("اشتباكات قرب مدينة تدمر", gaz)[0].geo_precision == 2
    assert places("اشتباكات في محيط بلدة جاسم", gaz)[0].geo_precision == 2
    assert places("غارة على منطقة الكسوة", gaz)[0].geo_precision == 2
    assert places("قصف على جنوب دمشق", gaz)[0].geo_precision == 2              # beside the city
    assert names("في العاصمة السورية", gaz) == ["Damascus"]
    m = places("اشتباكات في ناحية جنديرس", gaz)[0]
    assert (m.place_type, m.geo_precision) == ("subdistrict", 2)
    m = places("تظاهر العشرات في مدينة درباسية", gaz)[0]   # subdistrict name -> its seat town
    assert (m.place_type, m.place_id) == ("town", "C5054")


def test_sites_beat_same_named_villages(gaz):
    m = places("اشتباكات في محيط سد تشرين", gaz)[0]
    assert (m.name_en, m.place_type, m.geo_precision) == ("Tishreen Dam", "site", 2)


def test_neighbourhood_cue_never_gives_a_village(gaz):
    # Jasim has no OCHA neighbourhoods; العالية is also a Daraa village, but "حي" rules that out
    assert names("تحصن المسلحون في حي العالية غربي مدينة جاسم", gaz) == ["Jasim"]


def test_neighbourhood_needs_its_city(gaz):
    assert places("في حي الكرك", gaz) == []                      # which city's الكرك?
    # the nearest place named before it is another city: not Hasakah's الفيلات
    assert names("غارات على دير الزور. وقتل قيادي في حي الفيلات جنوبي المدينة", gaz) == ["Deir ez-Zor"]
    m = places("انفجار في حي الكرك بمدينة درعا", gaz)[0]
    assert (m.name_en, m.place_type, m.detail_id) == ("Daraa", "neighbourhood", "N0505")


def test_mentions_sorted_and_non_overlapping_on_seeds(gaz):
    seeds = sorted((ROOT / "data/sample").glob("*.txt"))
    assert seeds
    for path in seeds:
        text = fold(clean_chars(path.read_text(encoding="utf-8")))
        ms = find_places(text, gaz)
        assert all(a.end <= b.start for a, b in zip(ms, ms[1:]))
        assert all(text[m.start:m.end] == m.text for m in ms)
        assert all(m.geo_precision in (1, 2, 3) for m in ms)
    assert any(m.name_en == "Jasim" for m in find_places(fold(clean_chars(seeds[0].read_text(encoding="utf-8"))), gaz))


# -- compiled matching == pure Python ----------------------------------------------------------

def test_compiled_matching_equals_pure_python(gaz, monkeypatch):
    """find_places with the compiled scanner (rasd/_acscan.c longest_words with its context) gives exactly what the
    pure-Python path gives (pyahocorasick, places._raw_hits, places._hit_context), on the seeds, the test-case
    texts and copies with quote marks scattered into them (the quote-skipping offset map)."""
    import json
    import random

    import rasd.extract.common as common
    import rasd.extract.places as P

    pytest.importorskip("rasd._acscan", reason="compiled scanner not built (pip install -e .)")
    import ahocorasick

    assert hasattr(gaz.automaton, "longest_words")
    monkeypatch.setattr(common, "_Automaton", ahocorasick.Automaton)
    pure = P._load_gazetteer.__wrapped__()
    assert not hasattr(pure.automaton, "longest_words")
    texts = [fold(clean_chars(p.read_text(encoding="utf-8"))) for p in sorted((ROOT / "data" / "sample").glob("*.txt"))]
    for p in sorted((ROOT / "tests" / "cases").glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            req = json.loads(line).get("req") if line.strip() else None
            if isinstance(req, str):
                texts.append(fold(clean_chars(req)))
    rng = random.Random(2)
    quoted = []
    for t in texts:
        chars = list(t)
        for _ in range(max(1, len(chars) // 30)):
            chars.insert(rng.randrange(len(chars) + 1), '"')
        quoted.append("".join(chars))
    compiled = [find_places(t, gaz, hint_admin1=h) for t in texts + quoted for h in (None, "Daraa")]
    want = [find_places(t, pure, hint_admin1=h) for t in texts + quoted for h in (None, "Daraa")]
    assert sum(map(len, want)) > 500
    assert compiled == want

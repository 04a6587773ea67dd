"""rasd.extract.actors: lexicon hygiene and matching rules (short examples written for the purpose)."""
from __future__ import annotations

import datetime as dt

import pytest
import yaml

from rasd.extract.actors import ACTORS_YAML, ActorLexicon, ActorMention, find_actors
from rasd.text.normalize import clean_chars, fold, is_normalized

FALL = dt.date(2024, 12, 8)


@pytest.fixture(scope="module")
def lex() -> ActorLexicon:
    return ActorLexicon.load()


def actors(text: str, lex: ActorLexicon, day: dt.date | None = dt.date(2022, 10, 15)) -> list[ActorMention]:
    return find_actors(fold(clean_chars(text)), lex, day)


def ids(text: str, lex: ActorLexicon, day: dt.date | None = dt.date(2022, 10, 15)) -> list[str]:
    return [m.actor_id for m in actors(text, lex, day)]


def test_yaml_entries_normalized_and_complete():
    data = yaml.safe_load(ACTORS_YAML.read_text(encoding="utf-8"))
    assert data.get("source")
    seen = set()
    for e in data["actors"]:
        assert e["id"] not in seen and e["id"].replace("_", "").isalnum() and e["id"] == e["id"].lower()
        seen.add(e["id"])
        assert e["name"] and 1 <= int(e["inter"]) <= 8
        assert e["aliases_ar"], e["id"]
        bad = [a for a in e["aliases_ar"] if not is_normalized(a)]
        assert not bad, (e["id"], bad)
        if e.get("valid_from") and e.get("valid_to"):
            assert e["valid_from"] < e["valid_to"]


def test_required_actors_present(lex):
    names = {a.name for a in lex.actors.values()}
    for required in ("Military Forces of Syria (2000-2024)", "Islamic State (ISIS)", "Hayat Tahrir al-Sham (HTS)",
                     "Syrian Democratic Forces (SDF)", "Asayish", "Syrian National Army (SNA)", "Military Forces of Israel",
                     "Military Forces of Turkey", "Military Forces of Russia", "Iran-backed militias / IRGC", "Hezbollah",
                     "Global Coalition against ISIS (US-led)", "8th Brigade", "Military Security", "Air Force Intelligence",
                     "State Security", "Political Security", "4th Division", "Local armed groups",
                     "Unidentified armed group", "Civilians", "Protesters", "Rioters", "General Security (Syria)",
                     "Internal Security Forces (Syria)", "Former regime remnants (pro-Assad insurgents)",
                     "Men of Dignity Movement (Rijal al-Karama)", "Suwayda Military Council", "National Guard (Suwayda)",
                     "Tribal fighters (Bedouin)", "Armed opposition / 'terrorist groups' (state-media term)"):
        assert required in names, required


@pytest.mark.parametrize("day", [dt.date(2015, 1, 1), dt.date(2024, 12, 1), dt.date(2024, 12, 7), FALL,
                                 dt.date(2025, 3, 7), dt.date(2025, 9, 1), dt.date(2026, 2, 1)])
def test_each_alias_means_one_actor_on_any_day(lex, day):
    for alias, acts in lex.by_alias.items():
        valid = {a.name for a in acts if a.valid_on(day)}
        assert len(valid) <= 1, (alias, day, valid)


def test_undated_reading_is_unique(lex):
    for alias, acts in lex.by_alias.items():
        if len(acts) > 1:
            assert sum(a.undated for a in acts) <= 1, alias


def test_regime_words_change_meaning_on_8_december_2024(lex):
    text = "هاجمت قوات النظام حاجزا"
    assert ids(text, lex, dt.date(2024, 12, 7)) == ["syria_military_2000_2024"]
    assert ids(text, lex, FALL) == ["former_regime_remnants"]
    assert ids(text, lex, None) == ["syria_military_2000_2024"]
    assert ids("قتل جندي من الجيش العربي السوري", lex, dt.date(2025, 1, 5)) == ["syria_military_2024"]
    assert ids("قتل جندي من الجيش العربي السوري", lex, dt.date(2019, 1, 5)) == ["syria_military_2000_2024"]
    m = actors("هاجمت قوات النظام حاجزا", lex, FALL)[0]
    assert "syria_military_2000_2024" in m.alternatives


def test_transitional_forces(lex):
    day = dt.date(2025, 3, 7)
    assert ids("انتشار الأمن العام وقوات وزارة الدفاع وإدارة العمليات العسكرية", lex, day) == [
        "syria_general_security", "syria_military_2024", "syria_military_operations_department"]
    assert ids("هاجمت فلول النظام البائد دورية للأمن الداخلي", lex, day) == [
        "former_regime_remnants", "syria_internal_security"]
    # before the fall, "قوى الأمن الداخلي" is the Kurdish Asayish, "جهاز الأمن العام" HTS's service in Idlib
    assert ids("هجوم على قوى الأمن الداخلي", lex, dt.date(2022, 7, 1)) == ["asayish"]
    assert ids("اعتقل جهاز الأمن العام شابا", lex, dt.date(2022, 7, 1)) == ["hts_general_security_idlib"]


def test_suwayda_and_tribes(lex):
    day = dt.date(2025, 8, 20)
    assert ids("اشتباكات بين رجال الكرامة والحرس الوطني ومقاتلي العشائر", lex, day) == [
        "men_of_dignity", "suwayda_national_guard", "tribal_fighters"]
    assert ids("أعلن الحرس الوطني", lex, dt.date(2023, 1, 1)) == []  # before the Suwayda National Guard existed


def test_state_media_phrasing(lex):
    assert ids("تصدت وحداتنا لهجوم شنه الإرهابيون", lex, dt.date(2019, 12, 8)) == [
        "syria_military_2000_2024", "state_media_terrorists"]
    assert ids("استهدفت التنظيمات الإرهابية المسلحة الكلية", lex, dt.date(2023, 10, 5)) == ["state_media_terrorists"]


def test_foreign_forces_longest_match(lex):
    assert ids("قصفت قوات الاحتلال التركي قرية", lex) == ["turkey_military"]
    assert ids("توغلت قوات الاحتلال الإسرائيلي", lex) == ["israel_military"]
    assert ids("غارة لطيران التحالف الدولي", lex) == ["coalition"]
    assert ids("قصف الطيران الروسي", lex) == ["russia_military"]
    assert ids("مقر للحرس الثوري الإيراني وحزب الله", lex) == ["iran_backed_militias", "hezbollah"]


@pytest.mark.parametrize("text,expected", [
    ("وقوات النظام", "قوات النظام"), ("بقوات النظام", "قوات النظام"), ("لقوات النظام", "قوات النظام"),
    ("فداعش", "داعش"), ("كداعش", "داعش"), ("والنظام", "النظام"), ("للنظام", "نظام"), ("وللنظام", "نظام"),
    ("فالنظام", "النظام"), ("وبقوات النظام", "قوات النظام"),
])
def test_proclitics(lex, text, expected):
    ms = actors(f"هاجم {text} البلدة", lex)
    assert [m.text for m in ms] == [expected]


def test_foreign_namesakes(lex):
    assert ids("أوقف الأمن العام اللبناني سوريين", lex, dt.date(2025, 5, 1)) == ["lebanon_military"]


def test_word_boundaries(lex):
    assert ids("الأنظمة النظامية الداعشيون", lex) == []


def test_offsets_and_order(lex):
    cleaned = clean_chars("قُتِلَ عنصرٌ من «الأمن العسكري» برصاص مجهولين، ومدنيّان")
    ms = find_actors(fold(cleaned), lex, dt.date(2022, 1, 1))
    assert [cleaned[m.start:m.end] for m in ms] == ["الأمن العسكري", "مجهولين", "مدنيان"]
    assert all(a.end <= b.start for a, b in zip(ms, ms[1:]))
    assert [m.inter for m in ms] == [1, 3, 7]


def test_loaded_once(lex):
    assert ActorLexicon.load() is lex
    assert lex.get("isis").name == "Islamic State (ISIS)"


def test_cached_readings_follow_the_day(monkeypatch):
    # find_actors keeps each day's alias readings on the lexicon; alternating days, and a cache cleared
    # past its size, must give what a fresh lexicon gives for that day.
    import rasd.extract.actors as actors_mod

    text = "اشتباكات بين قوات النظام والجيش السوري وقوى الامن الداخلي في درعا"
    days = [dt.date(2022, 10, 15), dt.date(2025, 3, 7), None, dt.date(2022, 10, 15), FALL, None, dt.date(2025, 3, 7)]
    want = {d: ids(text, ActorLexicon(list(ActorLexicon.load().actors.values())), d) for d in set(days)}
    assert want[dt.date(2022, 10, 15)] != want[dt.date(2025, 3, 7)]  # the readings really differ
    monkeypatch.setattr(actors_mod, "_MAX_DAYS", 2)
    lex = ActorLexicon(list(ActorLexicon.load().actors.values()))
    for d in days * 2:
        assert ids(text, lex, d) == want[d], d
    assert len(lex._readings) <= 2

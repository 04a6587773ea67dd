"""rasd.extract.event_types: the trigger lexicon as data, its matcher and the ACLED type rules."""
from __future__ import annotations

import pytest
import yaml

from rasd.extract.event_types import DATA, TypeLexicon, classify
from rasd.schema import ACLED_TAXONOMY
from rasd.text.normalize import clean_chars, fold, is_normalized


@pytest.fixture(scope="module")
def lex() -> TypeLexicon:
    return TypeLexicon.load()


def hits(lex, text):
    return lex.scan(fold(clean_chars(text)))


def stems(lex, text, cat="trigger"):
    return [h.stem for h in hits(lex, text) if h.cat == cat]


def decide(lex, text, **kw):
    hs = hits(lex, text)
    kw.setdefault("armed_victims", False)
    kw.setdefault("state_actor", False)
    kw.setdefault("has_casualties", True)
    return [(d.event_type, d.sub_event_type) for d in classify(lex, [h for h in hs if h.cat == "trigger"], **kw)]


# -- data hygiene ---------------------------------------------------------------------------------

def test_every_entry_is_normalized_and_documented():
    doc = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    assert doc.get("source") and doc.get("notes")
    words = [s.rstrip("_") for g in doc["groups"] for s in g["stems"]]
    words += doc["negatives"] + doc["stops"] + [w for ws in doc["cues"].values() for w in ws]
    for name, ctx in doc["context"].items():
        assert ctx.get("note"), name
        words += ctx["words"]
    assert words and all(is_normalized(w) for w in words), [w for w in words if not is_normalized(w)]
    for g in doc["groups"]:
        assert g.get("note"), g
        assert g["sub"] in ACLED_TAXONOMY[g["type"]], g


def test_loaded_once(lex):
    assert TypeLexicon.load() is lex


# -- matching ---------------------------------------------------------------------------------------

def test_clitics_and_article_are_allowed_before_a_stem(lex):
    assert "قصف" in stems(lex, "وبالقصف المدفعي")
    assert "اشتباكات" in stems(lex, "والاشتباكات مستمرة")


def test_a_stem_inside_another_word_is_not_a_trigger(lex):
    # Stems match at the start of a word only: "قتل" is not found inside "مقاتل".
    assert "قتل" not in stems(lex, "مقاتلون")


def test_stops_and_whole_words(lex):
    assert stems(lex, "خرجوا احتجاجاً على القرار") == []  # "in protest at": not a protest
    assert stems(lex, "الارتقاء بالواقع الخدمي") == []  # "improving", not martyrdom
    assert "سيطر" in stems(lex, "سيطر الفصيل أمس على البلدة")
    assert "سيطر" not in stems(lex, "المناطق الخاضعة لسيطرة الحكومة")


def test_longest_trigger_wins(lex):
    hs = [h for h in hits(lex, "هجوم انتحاري") if h.cat == "trigger"]
    assert [h.stem for h in hs] == ["هجوم انتحاري"]


# -- ACLED type rules -----------------------------------------------------------------------------

def test_weapon_fixes_sub_event_type(lex):
    assert decide(lex, "انفجار عبوة ناسفة")[0] == ("Explosions/Remote violence", "Remote explosive/landmine/IED")
    assert decide(lex, "انفجار لغم أرضي")[0][1] == "Remote explosive/landmine/IED"
    assert decide(lex, "غارة جوية على البلدة")[0][1] == "Air/drone strike"
    assert decide(lex, "استهداف بطائرة مسيرة")[0][1] == "Air/drone strike"
    assert decide(lex, "قصف مدفعي على الحي")[0][1] == "Shelling/artillery/missile attack"
    assert decide(lex, "فجر انتحاري نفسه")[0][1] == "Suicide bomb"
    assert decide(lex, "رمى قنبلة يدوية")[0][1] == "Grenade"


def test_killing_without_weapon_follows_the_victims(lex):
    assert decide(lex, "قتل برصاص مجهولين", armed_victims=True)[0] == ("Battles", "Armed clash")
    assert decide(lex, "قتل برصاص مجهولين", armed_victims=False)[0] == ("Violence against civilians", "Attack")
    assert decide(lex, "هجوم على حاجز", armed_victims=True)[0] == ("Battles", "Armed clash")


def test_clash_and_shelling_in_one_sentence_are_two_events(lex):
    types = decide(lex, "اشتباكات عنيفة تزامنا مع قصف مدفعي")
    assert ("Battles", "Armed clash") in types
    assert ("Explosions/Remote violence", "Shelling/artillery/missile attack") in types


def test_takeover_by_state_forces_is_government_regains(lex):
    assert decide(lex, "سيطر الفصيل على البلدة", state_actor=False)[0][1] == "Non-state actor overtakes territory"
    assert decide(lex, "سيطر الجيش على البلدة", state_actor=True)[0][1] == "Government regains territory"


def test_strategic_developments_and_protests(lex):
    assert decide(lex, "حملة اعتقالات في البلدة", has_casualties=False)[0] == ("Strategic developments", "Arrests")
    assert decide(lex, "وصلت تعزيزات عسكرية", has_casualties=False)[0] == ("Strategic developments", "Other")
    assert decide(lex, "فرض حظر التجوال", has_casualties=False)[0] == ("Strategic developments", "Other")
    assert decide(lex, "توصل الطرفان إلى اتفاق", has_casualties=False)[0] == ("Strategic developments", "Agreement")
    assert decide(lex, "خرجت مظاهرة في المدينة", has_casualties=False)[0] == ("Protests", "Peaceful protest")
    assert decide(lex, "اختطف مسلحون شابا", has_casualties=False)[0] == (
        "Violence against civilians", "Abduction/forced disappearance")


def test_protest_with_violence_is_a_riot(lex):
    assert decide(lex, "محتجون هاجموا مقر البلدية")[0] == ("Riots", "Violent demonstration")


def test_no_trigger_no_event(lex):
    assert decide(lex, "زار الوزير المدينة وافتتح مركزا صحيا") == []

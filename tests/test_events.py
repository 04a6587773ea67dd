"""rasd.extract.events: the assembler's contract and its coding rules (short examples written for the purpose)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rasd.extract.events import Extractor
from rasd.schema import ACLED_TAXONOMY, EVENTS
from rasd.text.normalize import clean_chars

ROOT = Path(__file__).resolve().parent.parent
PUB = dt.date(2023, 5, 14)  # a Sunday


@pytest.fixture(scope="module")
def ex() -> Extractor:
    return Extractor.load()


def art(text, pub=PUB, **kw):
    d = {"article_id": "a1", "doc_key": "k1", "text": clean_chars(text), "published_at": pub,
         "outlet": None, "title": None, "language": "ar"}
    d.update(kw)
    return d


def run(ex, text, pub=PUB, **kw):
    return ex.extract(art(text, pub, **kw))


# -- contract ---------------------------------------------------------------------------------------

def test_rows_have_every_events_column_and_valid_values(ex):
    a = art("قتل ثلاثة مدنيين بقصف مدفعي على بلدة طفس، صباح اليوم الأحد.")
    rows = ex.extract(a)
    assert rows
    for r in rows:
        assert set(r) == set(EVENTS.column_names)
        assert a["text"][r["evidence_start"]:r["evidence_end"]] == r["evidence"]
        assert r["sub_event_type"] in ACLED_TAXONOMY[r["event_type"]]
        assert r["date_precision"] in ("day", "week", "month")
        assert 0 <= r["confidence"] <= 1
        assert len(r["event_id"]) == 16 and r["correction"] is None
        assert r["article_id"] == "a1" and r["doc_key"] == "k1"


def test_event_ids_are_stable_and_unique(ex):
    text = "قصفت طائرات مسيرة مواقع في مدينة سراقب ومدينة أريحا، ليل أمس."
    a, b = run(ex, text), run(ex, text)
    assert [r["event_id"] for r in a] == [r["event_id"] for r in b]
    assert len({r["event_id"] for r in a}) == len(a)


def test_non_arabic_and_empty_articles_give_nothing(ex):
    assert run(ex, "قتل مدني في جاسم اليوم", language="en") == []
    assert run(ex, "") == []
    assert run(ex, "   \n\n ") == []


@pytest.mark.parametrize("bad", [
    {}, {"text": None}, {"text": 42}, {"text": "قتل", "published_at": "not a date"},
    {"text": "\x00\x01 قتل ٣ في درعا", "published_at": dt.datetime(2023, 5, 14, 10)},
    {"text": "." * 5000}, {"text": "قتل " * 2000},
])
def test_never_raises(ex, bad):
    assert isinstance(ex.extract(bad), list)


@pytest.mark.parametrize("bad", [None, "text", 42, ["قتل"]])
def test_never_raises_on_non_dicts(ex, bad):
    assert ex.extract(bad) == []


# -- dates ----------------------------------------------------------------------------------------

def test_sentence_without_date_carries_the_paragraph_date(ex):
    rows = run(ex, "اندلعت اشتباكات في مدينة جاسم، مساء أمس السبت.\nوقتل خلالها عنصران من الفصائل.")
    assert len(rows) == 1
    assert rows[0]["event_date"] == dt.date(2023, 5, 13) and rows[0]["fatalities"] == 2


def test_no_date_in_text_falls_back_to_publication_with_week_precision(ex):
    rows = run(ex, "أصيب ثلاثة مدنيين بقصف مدفعي على بلدة طفس بريف درعا.")
    assert rows and rows[0]["event_date"] == PUB and rows[0]["date_precision"] == "week"


def test_occurrence_date_beats_the_claim_date(ex):
    rows = run(ex, "تبنى التنظيم، يوم أمس السبت، هجوما على حاجز للجيش في مدينة جاسم، الذي وقع يوم الخميس، "
                   "وأدى إلى مقتل عنصرين.")
    assert rows and rows[0]["event_date"] == dt.date(2023, 5, 11)


def test_old_history_is_not_an_event_but_recent_background_is(ex):
    assert run(ex, "وكانت قوات النظام قد سيطرت على مدينة جاسم في تموز 2018 بعد معارك عنيفة.") == []
    rows = run(ex, "وفي 3 آذار الماضي، قتل شخصان بانفجار عبوة ناسفة في مدينة جاسم.")
    assert rows and rows[0]["event_date"] == dt.date(2023, 3, 3) and rows[0]["fatalities"] == 2


def test_article_without_publication_date_reads_relative_days_against_its_own_dates(ex):
    rows = run(ex, "دخلت أرتال عسكرية، مساء الجمعة 14 من تشرين الأول، إلى مدينة جاسم.\n"
                   "وشهدت مدينة جاسم، صباح الجمعة، اشتباكات عنيفة قتل فيها أربعة مقاتلين.", pub=None)
    assert rows and all(r["event_date"] == dt.date(2022, 10, 14) for r in rows)


# -- places -----------------------------------------------------------------------------------------

def test_most_specific_place_and_not_the_victims_hometown(ex):
    rows = run(ex, "قتل شاب من أبناء مدينة طفس برصاص مجهولين في مدينة جاسم شمالي درعا، اليوم الأحد.")
    assert [r["location"] for r in rows] == ["Jasim"]


def test_a_toll_for_several_places_is_kept_once_at_their_common_place(ex):
    rows = run(ex, "قتل 12 شخصا بقصف جوي على مدينتي سراقب وأريحا، ليل أمس.")
    with_toll = [r for r in rows if r["fatalities"]]
    assert len(with_toll) == 1 and with_toll[0]["fatalities"] == 12
    assert with_toll[0]["geo_precision"] >= 2
    assert {r["location"] for r in rows if not r["fatalities"]} >= {"Saraqab", "Ariha"}


# -- casualties and merging ---------------------------------------------------------------------------

def test_cumulative_toll_replaces_and_repeated_figure_is_not_added(ex):
    rows = run(ex, "قتل ثلاثة أشخاص بانفجار عبوة ناسفة في مدينة جاسم، اليوم الأحد.\n"
                   "وأفاد مصدر محلي بأن حصيلة القتلى ارتفعت إلى خمسة.\n"
                   "وكان الانفجار قد أدى إلى مقتل خمسة أشخاص.")
    assert len(rows) == 1 and rows[0]["fatalities"] == 5


def test_subsets_are_not_added(ex):
    rows = run(ex, "قتل ثمانية مدنيين بينهم ثلاثة أطفال بقصف على بلدة طفس، اليوم الأحد.")
    assert rows[0]["fatalities"] == 8


def test_same_place_day_and_type_merge(ex):
    rows = run(ex, "قتل شاب برصاص مجهولين في مدينة جاسم، اليوم الأحد.\n"
                   "كما أصيب شاب آخر برصاص مجهولين في مدينة جاسم.")
    assert len(rows) == 1 and rows[0]["fatalities"] == 1 and rows[0]["wounded"] == 1


def test_summary_lead_is_absorbed_by_the_located_events(ex):
    rows = run(ex, "قتل شخصان في هجومين منفصلين في محافظة درعا، اليوم الأحد.\n"
                   "وقتل شاب برصاص مجهولين في مدينة جاسم.\n"
                   "وفي مدينة طفس، قتل شاب آخر برصاص مجهولين.")
    assert sorted(r["location"] for r in rows) == ["Jasim", "Tafas"]


# -- negatives ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "أقيم حفل تخريج دورة جديدة في مدينة درعا، اليوم الأحد.",
    "ضرب زلزال بقوة 5 درجات مدينة اللاذقية، اليوم الأحد، دون وقوع إصابات.",
    "أطلقت مديرية الصحة حملة اللقاح الوطنية في محافظة الحسكة، اليوم الأحد.",
    "افتتح معرض الكتاب في مدينة دمشق، اليوم الأحد.",
    "وثق المرصد مقتل 37 شخصا في محافظة حماة منذ مطلع العام.",
])
def test_non_conflict_articles_give_no_events(ex, text):
    assert run(ex, text) == []


# -- the seeds (data/sample may be used in tests) ------------------------------------------------

def test_seed_articles_give_their_main_events(ex):
    text = (ROOT / "data" / "sample" / "004_debb04998c220257.txt").read_text(encoding="utf-8")
    rows = ex.extract(art(text, pub=dt.date(2022, 10, 21)))
    by_place = {r["location"]: r for r in rows}
    assert any(r["location"] == "Jasim" and r["fatalities"] == 25 and r["fatalities_qualifier"] == "more_than"
               for r in rows)
    assert by_place["Alma"]["event_date"] == dt.date(2022, 10, 18) and by_place["Alma"]["fatalities"] == 1
    # A Military Security member shot by unknown gunmen: Battles/Armed clash.
    assert by_place["Daraa"]["event_type"] == "Battles" and by_place["Daraa"]["event_date"] == dt.date(2022, 10, 20)


# -- actors -----------------------------------------------------------------------------------------

def test_unknown_gunmen_are_the_perpetrator_and_civilians_the_target(ex):
    rows = run(ex, "قتل مدني برصاص مسلحين مجهولين في مدينة جاسم، اليوم الأحد.")
    assert rows[0]["actor1"] == "Unidentified armed group"
    assert rows[0]["actor2"].startswith("Civilians")


def test_civilians_are_never_the_perpetrator(ex):
    rows = run(ex, "أصيب ثلاثة مدنيين بقصف مدفعي لقوات النظام على بلدة طفس، اليوم الأحد.")
    assert rows and rows[0]["actor1"] != "Civilians" and not (rows[0]["actor1"] or "").startswith("Civilians")


# -- the accuracy harness -----------------------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_scores_the_seeds(tmp_path, capsys):
    from rasd import evaluate

    corpus = evaluate.shared_dir() / "corpus"
    if not (corpus / "seeds.gold.jsonl").exists():
        pytest.skip("shared corpus not available")
    assert evaluate.main(["--corpus", str(corpus / "seeds"), "--gold", str(corpus / "seeds.gold.jsonl"),
                          "--out", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("seeds: casualty-event F1 ") and "events F1" in line
    assert (tmp_path / "seeds" / "events.parquet").exists()

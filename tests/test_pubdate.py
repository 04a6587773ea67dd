"""rasd.text.pubdate.infer_published_at on short texts written for the purpose, plus the seeds."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasd.text.normalize import clean_chars
from rasd.text.pubdate import infer_published_at

INGEST = dt.date(2026, 11, 22)
SEEDS = Path(__file__).resolve().parent.parent / "data" / "sample"


def pub(text, ingest=INGEST):
    d, basis = infer_published_at(clean_chars(text), ingest)
    return (d.isoformat() if d else None), basis


@pytest.mark.parametrize("text,expected", [
    # datelines near the top
    ("هجوم على حاجز في درعا\n2022.10.20 | 17:50 دمشق\nقتل عنصران بهجوم.", "2022-10-20"),
    ("اتفاق تهدئة في الريف\nالاثنين 7 يونيو 2021 11:40 ص\nأفادت مصادر بالتوصل إلى اتفاق.", "2021-06-07"),
    ("19/05/2020 10:05PM\nأصيب 3 عناصر الثلاثاء في هجوم.", "2020-05-19"),
    (" date 2024-02-11 انفجرت عبوة ناسفة قرب سوق شعبي.", "2024-02-11"),
    ("أخبار محلية | 09 11 2023\nأفادت مصادر بمقتل عنصرين.", "2023-11-09"),
    ("عنوان الخبر\nهيئة التحرير4 مارس 2021آخر تحديث :\nدخلت القوات إلى البلدة.", "2021-03-04"),
    ("عنوان\n07:30 م\nالسبت 13 مارس 2021\n(وكالات)\nاندلعت اشتباكات قرب الحدود.", "2021-03-13"),
    ("إدلب\n17 يناير 2022، 4:15 م\nقالت مصادر محلية إن قذيفة سقطت.", "2022-01-17"),
    # a dateline at the end
    ("جرحى بقصف على ريف حماة.\nوأفادت مصادر بسقوط ضحايا.\nالمحرر\n11.06.2022 13:20", "2022-06-11"),
    # labelled date beats a site clock with a Hijri date
    ("• الاثنين 18 رجب 1440هـ - 25 مارس 2019م\nعنوان الخبر\nتاريخ النشر: الأحد 12 أغسطس 2018\nقتل 5.", "2018-08-12"),
    # the top dateline beats a page-furniture date at the end
    ("الأخبار\n14/02/2020\nعنوان\nأصيب جنديان.\nاقرأ المزيد\n03/07/2023", "2020-02-14"),
    # today + weekday + day-month, year fixed by the weekday (15 March was a Tuesday in 2022)
    ("انسحاب القوات من المدينة\nوقال قيادي سابق اليوم، الثلاثاء 15 من آذار، إن الانسحاب جاء بعد مفاوضات.", "2022-03-15"),
    # yesterday + weekday + full date: published the next day
    ("دوى انفجار ليل أمس الاثنين الـ 11 من آذار / مارس الجاري، من العام 2019، في البلدة.", "2019-03-12"),
])
def test_text_basis(text, expected):
    assert pub(text) == (expected, "text")


def test_inferred_from_today_weekday_and_caption_date():
    # "today, Tuesday" + a caption dated 15 March 2022 (a Tuesday)
    text = "صورة من المدينة - 15 من آذار 2022 (ناشطون)\nبدأت القوات بسحب حشودها التي استقدمتها صباح اليوم، الثلاثاء، إلى المدينة."
    assert pub(text) == ("2022-03-15", "inferred")


def test_inferred_needs_the_weekday_to_agree():
    # 14 March 2022 was a Monday: not "today, Tuesday"
    text = "صورة من المدينة - 14 من آذار 2022 (ناشطون)\nقال مصدر اليوم الثلاثاء إن الاشتباكات توقفت."
    assert pub(text) == (None, "unknown")
    # "yesterday, Monday" makes today a Tuesday: 15 March 2022 agrees
    text = "صورة من المدينة - 15 من آذار 2022 (ناشطون)\nوكانت القوات قد دخلت أمس الاثنين إلى المدينة."
    assert pub(text) == ("2022-03-15", "inferred")


def test_inferred_only_from_dates_at_the_page_edges():
    body = "\n".join(f"سطر رقم {i} من نص الخبر." for i in range(10))
    text = "عنوان\nقال مصدر اليوم الثلاثاء إن الاشتباكات توقفت.\n" + body + "\nوفي 15 من آذار 2022 قتل شاب.\n" + body
    assert pub(text) == (None, "unknown")


def test_inferred_weekday_cues_must_agree():
    text = "صورة - 15 من آذار 2022 (ناشطون)\nقال مصدر اليوم الثلاثاء إن القوات دخلت أمس الأحد."
    assert pub(text) == (None, "unknown")


@pytest.mark.parametrize("text,expected", [
    ("عنوان\n2023-04-16T10:22:00+03:00\nنص الخبر هنا.", "2023-04-16"),
    ("عنوان\nنشر بتاريخ 16/04/2023\nنص.", "2023-04-16"),
    ("عنوان\nLast update: 2023-04-16\nنص.", "2023-04-16"),
    ("عنوان\nالكاتب: أحمد محمد | 16 أبريل 2023\nنص.", "2023-04-16"),
    ("عنوان\nحلب - 12 كانون الثاني 2023\nنص.", "2023-01-12"),
    ("عنوان\nالأحد، 16 أبريل 2023 10:22 صباحاً\nنص.", "2023-04-16"),
    ("عنوان\nالجمعة 2 نيسان\nقال مصدر إن القصف استمر.", "2021-04-02"),  # year fixed by the weekday
    ("خبر.\nتفاصيل.\nتاريخ النشر: 2023-04-16", "2023-04-16"),  # a label at the end
])
def test_more_dateline_forms(text, expected):
    assert pub(text) == (expected, "text")


@pytest.mark.parametrize("text", [
    "",
    "قتل شاب برصاص مجهولين في مدينة جاسم اليوم.",
    # a photo caption date inside a long line is not a dateline
    "حفل تخريج دورة عسكرية لأحد الفصائل في المدينة الجنوبية - 8 من تموز 2020 (ناشطون محليون في المنطقة)\nدخلت قوات إلى المدينة مساء الجمعة 14 من تشرين الأول.",
    # weekday + date of an event, without today/yesterday, does not date the article
    "قصفت المدفعية مواقع في الريف.\nوقال المتحدث مساء الأحد، 9 من آب، إن القصف توقف بعد ساعات.",
    # an event date in the first sentence is not a publication date
    "في مساء يوم 21 حزيران/يونيو 2019، عثر الأهالي على جثة شاب في أرض زراعية قرب الطريق العام بين قريتين في الريف الشمالي.",
    # only weekdays: the day is known, the date is not
    "قتل أربعة عناصر اليوم.\nوقرر الوجهاء أمس الأول الخميس طرد الخلايا.",
])
def test_unknown_is_not_guessed(text):
    assert pub(text) == (None, "unknown")


def test_never_after_ingest_date():
    assert pub("2022.10.20 | 17:50 دمشق\nخبر.", ingest=dt.date(2022, 10, 1)) == (None, "unknown")


def test_weekday_year_is_before_ingest_date():
    text = "قال مصدر اليوم الجمعة 2 نيسان إن القصف استمر."
    assert pub(text, ingest=dt.date(2021, 6, 1)) == ("2021-04-02", "text")
    assert pub(text, ingest=dt.date(2021, 3, 1)) == ("2010-04-02", "text")


def test_seeds_where_their_text_dates_them():
    got = {}
    for p in sorted(SEEDS.glob("*.txt")):
        got[p.name[:3]] = infer_published_at(clean_chars(p.read_text(encoding="utf-8")), INGEST)
    assert got["001"] == (dt.date(2022, 10, 20), "text")
    assert got["002"] == (dt.date(2022, 3, 15), "text")
    for k in ("000", "003", "004"):  # only weekdays / event dates: not guessed
        assert got[k] == (None, "unknown"), k


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_property_never_crashes(text):
    d, basis = infer_published_at(text, INGEST)
    assert basis in ("text", "inferred", "unknown")
    assert (d is None) == (basis == "unknown")
    assert d is None or d <= INGEST

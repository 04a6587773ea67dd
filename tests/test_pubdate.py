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
    ("اتفاق جديد في درعا\nالأربعاء 1 سبتمبر 2021 09:18 ص\nأفاد المرصد بإبرام اتفاق.", "2021-09-01"),
    ("07/03/2022 07:49AM\nقتل 15 عسكريا الأحد في هجوم.", "2022-03-07"),
    (" date 2025-06-22 أقدم انتحاري على تفجير نفسه داخل كنيسة.", "2025-06-22"),
    ("تقارير وتحقيقات | 26 03 2024\nأفاد المرصد بمقتل عناصر.", "2024-03-26"),
    ("عنوان الخبر\nفريق التحرير13 أكتوبر 2022آخر تحديث :\nسيطرت الهيئة على المدينة.", "2022-10-13"),
    ("عنوان\n09:00 م\nالخميس 06 فبراير 2025\n(وكالات)\nاشتبكت القوات مع مسلحين.", "2025-02-06"),
    ("منبج\n24 ديسمبر 2024، 1:30 م\nقالت وسائل إعلام محلية إن سيارة انفجرت.", "2024-12-24"),
    # a dateline at the end
    ("قتلى بغارات على ريف إدلب.\nوأفادت مصادر بسقوط ضحايا.\nسيريانيوز\n23.08.2023 16:04", "2023-08-23"),
    # labelled date beats a site clock with a Hijri date
    ("• الأربعاء 08 ربيع الأول 1438هـ - 07 ديسمبر 2016م\nعنوان الخبر\nتاريخ النشر: الخميس 07 مايو 2015\nقتل 16.", "2015-05-07"),
    # the top dateline beats a page-furniture date at the end
    ("الأخبار\n01/09/2021\nعنوان\nاستشهد 4 جنود.\nاقرأ المزيد\n22/11/2024", "2021-09-01"),
    # today + weekday + day-month, year fixed by the weekday (15 March was a Tuesday in 2022)
    ("انسحاب القوات من المدينة\nوقال قيادي سابق اليوم، الثلاثاء 15 من آذار، إن الانسحاب جاء بعد مفاوضات.", "2022-03-15"),
    # yesterday + weekday + full date: published the next day
    ("سمع دوي انفجار ليل أمس الخميس الـ 25 من تشرين الأول / أكتوبر الجاري، من العام 2018، في المدينة.", "2018-10-26"),
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
    "أغارت طائرات على مواقع.\nوقال الوزير مساء الثلاثاء، 25 من شباط، إن الطيران هاجم مواقع في الجنوب.",
    # an event date in the first sentence is not a publication date
    "في صباح يوم 4 تشرين الثاني/نوفمبر 2025، وقع حادث إعدام ميداني في قرية بريف حمص حيث اقتحمت مجموعة مسلحة إحدى المداجن.",
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

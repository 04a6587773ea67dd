"""Property tests (hypothesis) for the parsers, adding only what tests/test_numbers.py, test_dates.py and
test_places.py do not already cover (those check: never crashes on arbitrary text, spans round-trip, figures are
non-negative, no date after publication without a future word). Here: the place finder on arbitrary Unicode,
translation invariance, the number-word parser, and figures and dates written in any of their forms.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasd.extract.dates import find_dates, load_lexicon
from rasd.extract.numbers import find_numbers, parse_number_words
from rasd.extract.places import Gazetteer, find_places
from rasd.text.normalize import clean_chars, fold

SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Syria with a margin (the quality gate's lat_in_syria / lon_in_syria bounds are the contract).
LAT, LON = (32.0, 37.6), (35.4, 42.6)


@lru_cache(maxsize=1)
def _gaz() -> Gazetteer:
    return Gazetteer.load()


@lru_cache(maxsize=1)
def _place_words() -> list[str]:
    """Surface forms the matcher knows (a sample), with cue and direction words, to build place-like text."""
    keys = sorted(_gaz().keys)
    step = max(1, len(keys) // 400)
    return keys[::step] + ["مدينه", "بلده", "قريه", "حي", "ريف", "شمالي", "جنوب", "قرب", "في", "ب", "و", "،", "."]


_ARABICISH = st.text(alphabet=st.characters(min_codepoint=0x0600, max_codepoint=0x06FF) | st.sampled_from(" \n.،-\"'0123456789"),
                     max_size=200)
_ANY = st.one_of(st.text(max_size=300), _ARABICISH)


def _place_text():
    return st.lists(st.sampled_from(_place_words()), max_size=25).map(" ".join)


def _check_mentions(folded: str, ms) -> None:
    gaz = _gaz()
    ids = gaz.ids()
    last = 0
    for m in ms:
        assert 0 <= m.start < m.end <= len(folded)
        assert folded[m.start:m.end] == m.text
        assert m.start >= last, "mentions sorted and non-overlapping"
        last = m.end
        assert m.geo_precision in (1, 2, 3)
        assert m.place_id is None or m.place_id in ids, m.place_id
        assert LAT[0] <= m.lat <= LAT[1] and LON[0] <= m.lon <= LON[1], (m.name_en, m.lat, m.lon)
        assert m.name_en and m.name_ar


@SLOW
@given(_ANY)
def test_places_never_crash_on_arbitrary_unicode(t):
    folded = fold(clean_chars(t))
    _check_mentions(folded, find_places(folded, _gaz()))


@SLOW
@given(st.data())
def test_places_invariants_on_place_like_text(data):
    text = data.draw(_place_text())
    folded = fold(clean_chars(text))
    _check_mentions(folded, find_places(folded, _gaz()))


@SLOW
@given(st.data(), st.integers(1, 40))
def test_places_shift_with_leading_whitespace(data, k):
    """Padding the text moves every mention by the padding and changes nothing else."""
    folded = fold(clean_chars(data.draw(_place_text())))
    a = find_places(folded, _gaz())
    b = find_places(" " * k + folded, _gaz())
    assert [(m.start + k, m.end + k, m.place_id, m.geo_precision) for m in a] == [(m.start, m.end, m.place_id, m.geo_precision) for m in b]


@SLOW
@given(_ANY, st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["SY01", "SY14", "Daraa", "درعا", "x"])))
def test_places_accept_any_admin1_hint(t, hint):
    folded = fold(clean_chars(t))
    _check_mentions(folded, find_places(folded, _gaz(), hint))


@settings(max_examples=300, deadline=None)
@given(_ANY)
def test_parse_number_words_never_crashes_and_is_non_negative(t):
    v = parse_number_words(t)
    assert v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)


_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**9), st.sampled_from([None, _ARABIC_INDIC, _PERSIAN]))
def test_a_written_figure_is_read_back_exactly_in_any_digit_script(n, table):
    digits = str(n) if table is None else str(n).translate(table)
    folded = fold(clean_chars(f"قتل {digits} شخصا في القصف"))
    values = [m.value for m in find_numbers(folded)]
    assert n in values, (n, digits, values)
    assert all(v is None or v >= 0 for v in values)


@lru_cache(maxsize=1)
def _month_forms() -> list[list[str]]:
    return [[f["form"] for f in m["forms"]] for m in load_lexicon()["months"]]


@SLOW
@given(st.dates(min_value=dt.date(2011, 1, 1), max_value=dt.date(2030, 12, 31)), st.integers(0, 30), st.data())
def test_an_explicit_date_is_read_back_in_any_month_spelling(day, lag, data):
    """'<d> <month> <yyyy>' with any listed month name (Levantine, Egyptian, Maghrebi) is that day, whatever the
    publication date after it."""
    form = data.draw(st.sampled_from(_month_forms()[day.month - 1]))
    text = f"قتل رجل يوم {day.day} {form} {day.year} في قصف."
    ms = find_dates(fold(clean_chars(text)), day + dt.timedelta(days=lag))
    assert any(m.date == day and m.precision == "day" for m in ms), (text, [(m.text, m.date) for m in ms])


@SLOW
@given(st.dates(min_value=dt.date(2011, 1, 1), max_value=dt.date(2030, 12, 31)), st.integers(0, 30))
def test_a_numeric_date_is_read_back(day, lag):
    text = f"قتل رجل بتاريخ {day.day}/{day.month}/{day.year} في قصف."
    ms = find_dates(fold(clean_chars(text)), day + dt.timedelta(days=lag))
    assert any(m.date == day for m in ms), (text, [(m.text, m.date) for m in ms])

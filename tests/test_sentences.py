"""Sentence splitting: terminators, protected dots, quotes, whitespace stripping."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rasd.text.normalize import fold
from rasd.text.sentences import split_sentences


def _texts(t: str) -> list[str]:
    return [t[s:e] for s, e in split_sentences(t)]


def test_splits_on_arabic_and_latin_terminators():
    assert _texts("قتل شخص. وأصيب آخر! هل انتهى؟ نعم؛ انتهى") == ["قتل شخص.", "وأصيب آخر!", "هل انتهى؟", "نعم؛", "انتهى"]


def test_splits_on_newlines_and_drops_empty_lines():
    assert _texts("العنوان\n\nالفقرة الأولى.\n") == ["العنوان", "الفقرة الأولى."]


def test_does_not_split_dotted_dates_or_decimals():
    assert _texts("في 2022.10.20 قتل شاب. وبلغت النسبة 3.5 بالمئة.") == [
        "في 2022.10.20 قتل شاب.", "وبلغت النسبة 3.5 بالمئة."]


def test_does_not_split_single_letter_abbreviations():
    assert _texts("قال د. أحمد إن الوضع سيئ. ثم غادر") == ["قال د. أحمد إن الوضع سيئ.", "ثم غادر"]
    assert _texts("قال مسؤول في U.S. Army إن. ثم") [0].startswith("قال مسؤول في U.S. Army")


def test_full_stop_inside_a_short_quote_does_not_split():
    assert _texts('قال: "قتل شاب. وأصيب آخر". ثم هدأ') == ['قال: "قتل شاب. وأصيب آخر".', "ثم هدأ"]
    assert _texts("«قتل شاب. وأصيب آخر» وقال المصدر.") == ["«قتل شاب. وأصيب آخر» وقال المصدر."]


def test_closing_quote_stays_with_its_sentence_opening_quote_does_not():
    assert _texts("وقال «انتهى الأمر.» ثم غادر") == ["وقال «انتهى الأمر.»", "ثم غادر"]
    assert _texts('قتل شاب. "وقال" آخر.') == ["قتل شاب.", '"وقال" آخر.']


def test_runs_of_terminators_stay_together():
    assert _texts("ماذا حدث؟! لا أحد يعرف...") == ["ماذا حدث؟!", "لا أحد يعرف..."]


def test_spans_are_stripped_and_work_on_folded_text():
    t = "  أُصيب طفل.   وقُتل رجل.  "
    spans = split_sentences(t)
    assert [t[s:e] for s, e in spans] == ["أُصيب طفل.", "وقُتل رجل."]
    assert split_sentences(fold(t)) == spans


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_property_spans_are_ordered_nonempty_and_stripped(t):
    spans = split_sentences(t)
    last = 0
    for s, e in spans:
        assert last <= s < e <= len(t)
        assert not t[s].isspace() and not t[e - 1].isspace()
        last = e


def test_line_start_is_kept_after_a_newline():
    assert _texts("العنوان\n«قال» المصدر.\n.") == ["العنوان", "«قال» المصدر.", "."]

"""Numbers: lexicon hygiene, word parsing, qualifiers, roles, and properties."""
from __future__ import annotations

import dataclasses

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rasd.extract.numbers import DATA_DIR, NumberMention, find_numbers, number_lexicon, parse_number_words
from rasd.text.normalize import clean_chars, fold, is_normalized

# Sections whose mapping keys are glosses or values, not lexicon forms.
_GLOSS_VALUES = {"forms"}


def _forms(node, path=""):
    """Every lexicon form in numbers.yaml (keys of value maps, list items), skipping notes."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("notes", "source"):
                continue
            if isinstance(v, (dict, list)):
                yield from _forms(v, f"{path}/{k}")
            if path.endswith(("/values", "/duals", "vague/forms")):
                yield f"{path}/{k}", str(k)
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, str):
                yield path, v
            else:
                yield from _forms(v, path)


def test_numbers_lexicon_entries_are_normalized():
    raw = yaml.safe_load((DATA_DIR / "numbers.yaml").read_text(encoding="utf-8"))
    forms = list(_forms(raw))
    assert len(forms) > 150
    bad = [(p, f) for p, f in forms if not all(is_normalized(w) for w in f.split())]
    assert not bad, bad
    assert raw["source"] and raw["notes"]


def test_lexicon_is_loaded_once():
    assert number_lexicon() is number_lexicon()


@pytest.mark.parametrize("text,value", [
    ("خمسة وعشرون", 25), ("ثلاث", 3), ("ثلاثة عشر", 13), ("إحدى عشرة", 11), ("اثنا عشر", 12),
    ("مائتين", 200), ("ثلاثمئة وخمسون", 350), ("ثلاثة آلاف وخمسمئة", 3500), ("ألف", 1000),
    ("عشرين ألف", 20000), ("مليون", 1000000), ("٤٢", 42), ("42", 42),
])
def test_parse_number_words(text, value):
    assert parse_number_words(text) == value


@pytest.mark.parametrize("text", ["", "شخص", "خمسة أشخاص", "عشرات", "الأحد"])
def test_parse_number_words_rejects_non_numbers(text):
    assert parse_number_words(text) is None


def test_units_in_descending_order_only_join_with_wa():
    # "ثلاثة وخمسة" is two numbers, not 8.
    ms = find_numbers(fold("ثلاثة وخمسة"))
    assert [m.value for m in ms] == [3, 5]


def test_mention_fields_and_frozen():
    m = find_numbers(fold("قتل نحو 50 شخصا"))[0]
    assert (m.value, m.qualifier, m.role, m.text) == (50, "about", "count", "نحو 50")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.value = 3  # type: ignore[misc]


def test_year_after_levantine_month_is_not_a_count():
    roles = [m.role for m in find_numbers(fold("في 14 من تشرين الأول 2022"))]
    assert roles[0] == "date"
    assert roles[-1] in ("year", "count")  # never used as a figure: no person noun follows


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_property_never_crashes_and_spans_round_trip(t):
    cleaned = clean_chars(t)
    folded = fold(cleaned)
    for m in find_numbers(folded):
        assert isinstance(m, NumberMention)
        assert m.value is None or (isinstance(m.value, int) and m.value >= 0)
        assert m.qualifier in ("exact", "at_least", "more_than", "about", "vague")
        assert 0 <= m.start < m.end <= len(folded)
        assert folded[m.start : m.end] == m.text
        assert len(cleaned[m.start : m.end]) == len(m.text)


_WORDS = st.sampled_from("ثلاثة ثلاث خمسة وعشرون عشرين مئة ألف آلاف عشرات عدد من نحو أكثر على الأقل لا يقل عن 5 12 2022 شخصا عنصرا عاما و .".split())


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=12))
def test_property_number_like_text(words):
    folded = fold(clean_chars(" ".join(words)))
    for m in find_numbers(folded):
        assert m.value is None or m.value >= 0
        assert folded[m.start : m.end] == m.text

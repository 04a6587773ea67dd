"""Casualty figures: lexicon hygiene, API, rules that need more than one golden case, properties.

Most single-sentence rules are golden cases in tests/cases/casualties.jsonl.
"""
from __future__ import annotations

import dataclasses

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rasd.extract.casualties import CasualtyMention, casualty_lexicon, find_casualties
from rasd.extract.numbers import DATA_DIR
from rasd.text.normalize import clean_chars, fold, is_normalized
from rasd.text.sentences import split_sentences


def _f(text: str) -> str:
    return fold(clean_chars(text))


def _kinds(text: str, start: int = 0, end: int | None = None):
    return [(m.kind, m.n, m.qualifier) for m in find_casualties(_f(text), start, end)]


def _forms(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("notes", "source"):
                continue
            if k == "form":
                yield v
            elif isinstance(v, (dict, list)):
                yield from _forms(v)
            elif isinstance(k, str) and isinstance(v, str) and k not in ("pos", "victims"):
                yield k  # action/weak maps: form -> gloss
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, str):
                yield v
            else:
                yield from _forms(v)


def test_casualty_lexicon_entries_are_normalized():
    raw = yaml.safe_load((DATA_DIR / "casualties.yaml").read_text(encoding="utf-8"))
    forms = list(_forms(raw))
    assert len(forms) > 400
    bad = [f for f in forms if not all(is_normalized(w) for w in str(f).split())]
    assert not bad, bad
    assert raw["source"] and raw["notes"]


def test_every_entry_or_section_has_notes_and_lexicon_loads_once():
    raw = yaml.safe_load((DATA_DIR / "casualties.yaml").read_text(encoding="utf-8"))
    assert set(raw["kinds"]) == {"killed", "wounded", "detained"}
    for spec in raw["kinds"].values():
        assert all(isinstance(g, str) and g for g in (spec.get("action") or {}).values())  # per-entry gloss
        assert all(isinstance(g, str) and g for g in (spec.get("weak") or {}).values())
        for sec in ("verb", "count"):
            assert spec[sec].get("notes"), sec
        assert all(ph.get("notes") for ph in spec.get("phrases") or [])
    assert all(p.get("notes") for p in raw["persons"])
    for sec in ("named_one", "non_persons", "part_markers", "cumulative_cues", "no_casualties", "irrealis",
                "count_figure_only", "kin", "duals_ambiguous"):
        assert raw[sec].get("notes"), sec
    assert casualty_lexicon() is casualty_lexicon()


def test_api_shape():
    m = find_casualties(_f("قتل 3 أشخاص"))[0]
    assert isinstance(m, CasualtyMention)
    assert (m.kind, m.n, m.qualifier, m.cumulative, m.victims) == ("killed", 3, "exact", False, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.n = 4  # type: ignore[misc]


def test_offsets_slice_the_cleaned_text():
    cleaned = clean_chars("وأفاد المرصد بمقتلِ ٣ أشخاصٍ وإصابةِ خمسة آخرين.")
    ms = find_casualties(fold(cleaned))
    # Spans start at the trigger word with its clitics (ب، و).
    assert [cleaned[m.start : m.end] for m in ms] == ["بمقتل ٣ أشخاص", "وإصابة خمسة آخرين"]


def test_window_restricts_to_one_sentence():
    text = _f("قتل 3 أشخاص في القصف. وأصيب 4 آخرون في البلدة المجاورة.")
    (s1, e1), (s2, e2) = split_sentences(text)
    assert [(m.kind, m.n) for m in find_casualties(text, s1, e1)] == [("killed", 3)]
    assert [(m.kind, m.n) for m in find_casualties(text, s2, e2)] == [("wounded", 4)]
    assert all(s2 <= m.start and m.end <= e2 for m in find_casualties(text, s2, e2))


def test_anaphora_across_sentences_in_a_window():
    text = "تحصن 4 مسلحين في مبنى. وقصفت الطائرات المبنى ما أدى لمقتلهم جميعا."
    assert _kinds(text) == [("killed", 4, "exact")]
    # Restricted to the second sentence alone there is no antecedent: vague.
    f = _f(text)
    s2, e2 = split_sentences(f)[1]
    assert [(m.kind, m.n, m.qualifier) for m in find_casualties(f, s2, e2)] == [("killed", None, "vague")]


def test_figure_before_its_plural_verb_across_a_comma_is_not_taken_from_another_clause():
    # The figure of the first clause is already used; the verb of the second has none of its own.
    assert _kinds("قتل 5 عناصر، والذين قتلوا كانوا في الحاجز.") == [("killed", 5, "exact")]


def test_cumulative_toll_update():
    ms = find_casualties(_f("قتل 12 شخصا في التفجير. ثم ارتفعت حصيلة القتلى إلى 19."))
    assert [(m.n, m.cumulative) for m in ms] == [(12, False), (19, True)]


def test_victims_when_obvious():
    assert [m.victims for m in find_casualties(_f("مقتل 3 أطفال وإصابة 4 عناصر"))] == ["civilians", "fighters"]


def test_combined_figure_is_not_split():
    ms = find_casualties(_f("أسفر التفجير عن مقتل وإصابة 12 شخصا."))
    assert [(m.kind, m.n, m.qualifier, m.combined_n) for m in ms] == [
        ("killed", None, "vague", 12), ("wounded", None, "vague", 12)]


def test_state_media_phrasing():
    assert _kinds("ارتقاء 3 شهداء وإصابة 7 مواطنين بجروح جراء اعتداء إرهابي") == [
        ("killed", 3, "exact"), ("wounded", 7, "exact")]
    assert _kinds("وأسفر الاعتداء عن استشهاد مواطن وإصابة اثنين آخرين") == [("killed", 1, "exact"), ("wounded", 2, "exact")]


def test_numbers_that_are_not_people():
    for text in ["دمرت 4 آليات وقتل في 2019", "بلغت الخسائر 300 ألف دولار", "انفجر 3 ألغام في الحقل",
                 "أصيب المبنى بـ 5 قذائف", "اعتقل قبل 3 سنوات", "على بعد 10 كم من المدينة"]:
        assert all(m.n in (None, 0, 1) for m in find_casualties(_f(text))), text


def test_detained_kinds():
    assert _kinds("اعتقلت دورية 5 شبان") == [("detained", 5, "exact")]
    assert _kinds("خطف مجهولون طفلا من أمام منزله") == [("detained", 1, "exact")]
    assert _kinds("اقتياد شابين إلى جهة مجهولة") == [("detained", 2, "exact")]


def test_long_article_is_linear_enough():
    para = "وقال المصدر إن قوات الأمن دخلت البلدة ونشرت حواجز في شوارعها الرئيسية وسط توتر. "
    text = _f((para * 200) + "وقتل 3 أشخاص في الاشتباكات.")
    assert _kinds(text) == [("killed", 3, "exact")]


_ALPHABET = st.sampled_from(list("قتلمصرعاسشهدجوحبنيةىأإآءؤئـ٠١٢٣0123456789 .،؛\n\"«»") + ["مقتل", "قتلى", " 5 ", "أشخاص", "عشرات", "وجرح"])


def _lexicon_words():
    lex = casualty_lexicon()
    words = sorted(lex.triggers)[::3] + sorted(lex.persons)[::3] + sorted(lex.named_one) + sorted(lex.non_persons)[::5]
    words += ("بين من و في إلى على الأقل أكثر نحو عدد عشرات 5 12 2022 ، . \" لقي حتفه مصرعه أودى بحياة فجر نفسه "
              "دون وقوع إصابات بينهم منهم عددهم حصيلة ارتفع آخر آخرين اثنين ما لا يقل عن أحد م ق ت ل").split()
    return words


_WORDS = st.lists(st.sampled_from(_lexicon_words()), max_size=30).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(_ALPHABET, max_size=60).map("".join), _WORDS))
def test_property_never_crashes_values_and_spans(t):
    cleaned = clean_chars(t)
    folded = fold(cleaned)
    for m in find_casualties(folded):
        assert m.kind in ("killed", "wounded", "detained")
        assert m.n is None or (isinstance(m.n, int) and m.n >= 0)
        assert m.qualifier in ("exact", "at_least", "more_than", "about", "vague")
        assert (m.n is None) == (m.qualifier == "vague")
        assert 0 <= m.start < m.end <= len(folded)
        assert folded[m.start : m.end] == m.text == fold(cleaned[m.start : m.end])


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(-5, 80), st.integers(-5, 80))
def test_property_windows_stay_inside(t, a, b):
    folded = fold(clean_chars(t))
    for m in find_casualties(folded, a, b if b > 0 else None):
        assert max(0, a) <= m.start and (b <= 0 or m.end <= b)


def test_headline_ending_in_two_dots():
    assert _kinds("مقتل شقيقين.. الاغتيالات لا تتوقف") == [("killed", 2, "exact")]


def test_split_letter_count_noun():
    # SOHR: "قـ ـتـ ـلى" -> clean_chars -> "ق ت لى"
    assert _kinds("سقوط 4 قـ ـتـ ـلى في القصف") == [("killed", 4, "exact")]


def test_cue_hints_cover_every_cumulative_cue():
    # find_casualties skips the toll-cue check when no hint string is in the text: every cue word, with
    # its clitics, must contain a hint, or a toll after it would lose its cumulative flag.
    from rasd.extract.casualties import _cue_hints

    hints = _cue_hints()
    lex = casualty_lexicon()
    assert hints and set(hints) <= lex.cumulative
    assert all(any(h in w for h in hints) for w in lex.cumulative_all)


def test_toll_cue_found_with_and_without_hint_in_window():
    text = _f("ارتفعت حصيلة القتلى إلى 19 شخصا. وقتل 3 أشخاص في درعا.")
    ms = find_casualties(text)
    assert [(m.n, m.cumulative) for m in ms] == [(19, True), (3, False)]
    # a window after the cue: no hint inside it, nothing cumulative
    k = text.index("وقتل")
    assert [(m.n, m.cumulative) for m in find_casualties(text, k)] == [(3, False)]


def test_form_cache_is_bounded_and_exact():
    from rasd.extract.numbers import FormCache

    calls = []
    c = FormCache(lambda f: calls.append(f) or len(f), 3)
    assert [c[w] for w in ("a", "bb", "a", "ccc", "dddd", "bb")] == [1, 2, 1, 3, 4, 2]
    assert len(c) <= 3 and calls == ["a", "bb", "ccc", "dddd", "bb"]  # emptied when full, then recomputed

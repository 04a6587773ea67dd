"""The compiled Aho-Corasick scanner (rasd/_acscan.c) gives exactly what pyahocorasick gives.

Every extraction automaton (places, actors, trigger stems, casualty seeds, date triggers) is rebuilt in
pyahocorasick from the same keys and values and both are run on the seed articles, the texts of the
test cases and edge strings: the (end index, value) lists must be equal, values the very same objects
(actors caches by id()), in the same order, also on text[start:end] windows.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import ahocorasick
import pytest

from rasd.extract import casualties, dates
from rasd.extract.actors import ActorLexicon
from rasd.extract.common import new_automaton
from rasd.extract.event_types import TypeLexicon
from rasd.extract.places import Gazetteer
from rasd.text.normalize import clean_chars, fold

acscan = pytest.importorskip("rasd._acscan", reason="compiled scanner not built (pip install -e .)")

ROOT = Path(__file__).resolve().parent.parent
EDGE = ["", "ا", "حلب", "وبحلب،حلب", "الحلبيةحلب", "\U0001f600حلب\U0001f600", "x" * 50, "قتل\u00a0شاب", " " * 3]


def _texts() -> list[str]:
    texts = [clean_chars(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "data" / "sample").glob("*.txt"))]
    for p in sorted((ROOT / "tests" / "cases").glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                req = json.loads(line).get("req")
                if isinstance(req, str):
                    texts.append(req)
    return [fold(t) for t in texts] + EDGE


class _Twin:
    """Records every add_word into a compiled and a pyahocorasick automaton (same keys, same values)."""

    def __init__(self):
        self.compiled, self.pure = acscan.Automaton(), ahocorasick.Automaton()

    def add_word(self, key, value):
        a, b = self.compiled.add_word(key, value), self.pure.add_word(key, value)
        assert a == b, key  # both say whether the key is new (a repeated key replaces the value)
        return a

    def make_automaton(self):
        self.compiled.make_automaton()
        self.pure.make_automaton()

    def iter(self, *a):
        return self.compiled.iter(*a)


@pytest.fixture(scope="module")
def twins() -> dict:
    """Every extraction automaton, built afresh (the cached loaders bypassed) through _Twin."""
    import rasd.extract.actors as actors
    import rasd.extract.common as common
    import rasd.extract.event_types as event_types
    import rasd.extract.places as places

    mp = pytest.MonkeyPatch()
    mp.setattr(common, "_Automaton", _Twin)
    try:
        out = {"places": places._load_gazetteer.__wrapped__().automaton,
               "actors": actors._load_lexicon.__wrapped__().automaton,
               "types": event_types.TypeLexicon.from_path(event_types.DATA).automaton,
               "casualties": casualties._automaton.__wrapped__(),
               "dates": dates._grammar.__wrapped__().ac}
    finally:
        mp.undo()
    assert all(isinstance(t, _Twin) for t in out.values())
    return out


def test_extractors_use_the_compiled_scanner():
    # A build error must not silently leave rasd on the slower path.
    assert new_automaton().__class__ is acscan.Automaton
    for name, a in {"places": Gazetteer.load().automaton, "actors": ActorLexicon.load().automaton,
                    "types": TypeLexicon.load().automaton, "casualties": casualties._automaton(),
                    "dates": dates._grammar().ac}.items():
        assert isinstance(a, acscan.Automaton), name


@pytest.mark.parametrize("name", ["places", "actors", "types", "casualties", "dates"])
def test_same_hits_as_pyahocorasick(name, twins):
    tw = twins[name]
    rng = random.Random(7)
    for t in _texts():
        got, want = list(tw.compiled.iter(t)), list(tw.pure.iter(t))
        assert [g[0] for g in got] == [w[0] for w in want], t[:80]
        assert all(g[1] is w[1] for g, w in zip(got, want)), t[:80]  # the very same value objects
        if len(t) > 4:
            s = rng.randrange(0, len(t) // 2)
            e = rng.randrange(s, len(t) + 1)
            assert list(tw.compiled.iter(t, s, e)) == list(tw.pure.iter(t, s, e)), t[:80]
            assert list(tw.compiled.iter(t, s)) == list(tw.pure.iter(t, s)), t[:80]


def test_small_automaton_edges():
    words = ["ا", "اب", "ب", "باب", "ابا", "بابا", "\U0001f600", "a\U0001f600b", "حلب", "لب"]
    c, p = acscan.Automaton(), ahocorasick.Automaton()
    for i, w in enumerate(words + ["اب"]):  # "اب" twice: the second value replaces the first
        assert c.add_word(w, i) == p.add_word(w, i)
    c.make_automaton()
    p.make_automaton()
    assert len(c) == len(p)
    for t in ["", "بابابا", "ابابا\U0001f600", "a\U0001f600b\U0001f600", "حلبلب", "xxاب", "ببب"]:
        assert list(c.iter(t)) == list(p.iter(t)), t
        for s in range(len(t) + 1):
            assert list(c.iter(t, s, len(t) - 1)) == list(p.iter(t, s, len(t) - 1)), (t, s)
    empty = acscan.Automaton()
    empty.make_automaton()
    assert list(empty.iter("حلب")) == []
    fresh = acscan.Automaton()
    fresh.add_word("حلب", 1)
    with pytest.raises(AttributeError):
        fresh.iter("حلب")  # not built yet (pyahocorasick raises AttributeError too)


def test_built_module_is_not_stale():
    # The .so of an editable install sits next to its source; an edited _acscan.c needs `pip install -e .`.
    src = ROOT / "rasd" / "_acscan.c"
    so = Path(acscan.__file__)
    if so.parent == src.parent:
        assert so.stat().st_mtime >= src.stat().st_mtime, "rasd/_acscan.c changed: rebuild (pip install -e .)"


_KEY_LEN = {"places": lambda v: v[0], "actors": lambda v: len(v[0]), "types": lambda v: v[1] + len(v[0]),
            "casualties": lambda v: v, "dates": lambda v: v[2]}


@pytest.mark.parametrize("name", ["places", "actors", "types", "casualties", "dates"])
def test_word_hits_compiled_equals_fallback(name, twins):
    # iter_words (C) against common._word_hits (the Python loop over pyahocorasick the extractors used before)
    from rasd.extract.common import PROCLITICS, _word_hits

    tw = twins[name]
    for t in _texts():
        for prefixes in (PROCLITICS, None):
            for word_end in (True, False):
                got = list(tw.compiled.iter_words(t, prefixes, word_end))
                want = list(_word_hits(tw.pure, t, _KEY_LEN[name], prefixes, word_end))
                assert [g[:3] for g in got] == [w[:3] for w in want], (t[:80], prefixes is None, word_end)
                assert all(g[3] is w[3] for g, w in zip(got, want))


def test_word_hits_edges():
    from rasd.extract.common import PROCLITICS, _word_hits

    c, p = acscan.Automaton(), ahocorasick.Automaton()
    for w in ("حلب", "لب", "نظام", "ب"):
        c.add_word(w, len(w))
        p.add_word(w, len(w))
    c.make_automaton()
    p.make_automaton()
    for t in ["حلب", "بحلب", "وبحلب", "وللنظام", "فبحلب", "اوبحلب", "حلبي", "ووبالحلب", "x\U0001f600بحلب", "ب ب"]:
        for prefixes in (PROCLITICS, None, {"و", "بال"}):
            for word_end in (True, False):
                assert list(c.iter_words(t, prefixes, word_end)) == list(
                    _word_hits(p, t, lambda v: v, prefixes, word_end)), (t, word_end)


def _quoted_variants(texts: list[str], seed: int = 11) -> list[str]:
    """The texts with quote marks put at random places: around names, between a proclitic and a name
    (و"الشدادي"), doubled, at the very start and end."""
    rng = random.Random(seed)
    out = []
    for t in texts:
        chars = list(t)
        for _ in range(max(1, len(chars) // 40)):
            chars.insert(rng.randrange(len(chars) + 1), '"' * rng.choice((1, 1, 2)))
        out.append("".join(chars))
    return out + ['"حلب"', 'و"حلب"', 'بريف "درعا" و"الحسكة"', '""', '"', 'وب"ال"حسكه']


def test_longest_words_compiled_equals_fallback(twins):
    # Automaton.longest_words (C) against places._raw_hits (the Python it replaces) on the places automaton:
    # the same kept matches, spans, proclitics and the very same entries objects.
    from rasd.extract.common import PROCLITICS
    from rasd.extract.places import _hit_context, _raw_hits

    tw = twins["places"]
    context = Gazetteer.load().context_words
    n_cues = 0
    texts = _texts()
    for t in texts + _quoted_variants(texts):
        got = tw.compiled.longest_words(t, PROCLITICS, '"')
        want = _raw_hits(t, tw.pure)
        assert [g[:3] + g[4:] for g in got] == [w[:3] + w[4:] for w in want], t[:80]
        assert all(g[3] is w[3] for g, w in zip(got, want))
        if '"' not in t:
            assert tw.compiled.longest_words(t, PROCLITICS, None) == got
        # with the context words: (cue, not_place, near, clitic_word) as places._hit_context reads them
        ctx = tw.compiled.longest_words(t, PROCLITICS, '"', context)
        assert [c[:6] for c in ctx] == got
        assert [c[6:] for c in ctx] == [_hit_context(t, w, *context)[:4] for w in want], t[:80]
        n_cues += sum(c[6] is not None for c in ctx)
    assert n_cues > 50


def test_longest_words_random_small_automaton():
    # Random texts over a tiny alphabet (proclitic letters, the article, spaces, quotes) against keys that
    # overlap, nest and tie in length: the overlap resolution and the quote mapping must match _raw_hits.
    from rasd.extract.common import PROCLITICS
    from rasd.extract.places import _raw_hits

    keys = ["حلب", "بحلب", "الحلب", "حلب ب", "لب", "ب ب", "وحل", "بالب", "حل"]
    rng = random.Random(5)
    c, p = acscan.Automaton(), ahocorasick.Automaton()
    for i, k in enumerate(keys):
        v = (len(k), k, (("p", i),) if i % 4 != 1 else (), (("a", i),) if i % 3 != 2 else ())
        c.add_word(k, v)
        p.add_word(k, v)
    c.make_automaton()
    p.make_automaton()
    pieces = ["و", "ب", "ل", "ال", "حلب", "حل", " ", " ", '"', "ف", "ك", "x"]
    for _ in range(3000):
        t = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 14)))
        assert c.longest_words(t, PROCLITICS, '"') == _raw_hits(t, p), t


def test_longest_words_rejects_bad_arguments():
    from rasd.extract.common import PROCLITICS

    a = acscan.Automaton()
    a.add_word("حلب", 1)  # not a (len, key, plain, article) value
    a.make_automaton()
    with pytest.raises(TypeError):
        a.longest_words("في حلب", PROCLITICS, '"')
    with pytest.raises(TypeError):
        a.longest_words("في حلب", PROCLITICS, '""')
    with pytest.raises(TypeError):
        a.longest_words("في حلب", ["و"], '"')


def test_prev_words_compiled_equals_fallback():
    from rasd.extract.places import _PUNCT, _prev_words

    rng = random.Random(3)
    alphabet = list("حلبدرعا") + [" ", " ", "\n", "\t", "\u00a0", "\u2009"] + list(_PUNCT) + ["\U0001f600", "1"]
    texts = _texts()[:40] + ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 90))) for _ in range(400)]
    for t in texts:
        for _ in range(12):
            pos = rng.randrange(0, len(t) + 1)
            n, window = rng.choice((1, 2, 3, 5)), rng.choice((0, 5, 20, 60))
            want = _prev_words(t, pos, n, window, _PUNCT)
            assert acscan.prev_words(t, pos, n, window, _PUNCT) == want, (t, pos, n, window)

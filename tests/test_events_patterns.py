"""The assembler's faster pattern paths give exactly what the plain regexes give.

``_Gated`` skips a context regex when none of its words is in the text; ``_clause_starts`` tries the
clause-opener regex only on the separators before an opener word. Both must agree with the regex itself,
on real sentences and on strings built to hit the edges (commas, space runs, no-break spaces, openers
glued to other words, a window ending inside a word).
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from rasd.extract.events import _clause_starts, _Gated, _rx
from rasd.text.normalize import clean_chars, fold

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"

EDGE = [
    "قتل شاب، بينما أصيب آخر",
    "قتل شاب ,  فيما أصيب آخر",
    "قتل شاب وفي حين  أصيب",
    "قتل شاب فيما بينما أصيب",
    "قتل شاب\u00a0بينما أصيب",
    "قتل شاب،\u00a0\u00a0في حين أصيب",
    "قتل شاب فضلا عن   جرح",
    "قتل شاب،بينما",            # no space after the opener: no cut
    "لافيما بينما ",             # opener glued to a word, then a real one
    "بينما أصيب شاب",            # at the very start: no separator before it
    "وسبق أن قتل", "الامر الذي نفاه المصدر", "عدم مشاركة أي عنصر في الاشتباكات",
    "في عام 2018 قتل", "منذ سنة 1999،", "بريف حلب", "من قبل قوات", "جنوبي مدينة ", "التابعة لبلدة",
]


def _texts() -> list[str]:
    texts = [fold(clean_chars(p.read_text(encoding="utf-8"))) for p in sorted(SAMPLE.glob("*.txt"))]
    return texts + [fold(t) for t in EDGE]


def test_clause_starts_equal_finditer():
    clause = _rx().clause
    rng = random.Random(7)
    pieces = ["بينما", "وبينما", "فيما", "في", "حين", "وفي", "بالاضافه", "الي", "اضافه", "فضلا", "عن", "علاوه",
              "علي", "سبق", "ان", "وسبق", "،", ",", " ", "  ", "\n", "\u00a0", "x", "ب", "و"]
    fuzz = ["".join(rng.choice(pieces) + rng.choice(["", " "]) for _ in range(rng.randint(1, 12)))
            for _ in range(3000)]
    n = 0
    for t in _texts() + fuzz:
        want = [m.start() for m in clause.finditer(t)]
        assert _clause_starts(t, clause) == want, t
        n += len(want)
    assert n > 50  # the inputs do hold clause openers


@pytest.mark.parametrize("name", [f for f in _rx().__dataclass_fields__ if isinstance(getattr(_rx(), f), _Gated)])
def test_gated_pattern_equals_regex(name):
    g = getattr(_rx(), name)
    rng = random.Random(name)
    hits = 0
    for t in _texts():
        spans = [(i, min(len(t), i + rng.choice([10, 15, 25, 60, 300])))
                 for i in (rng.randint(0, len(t)) for _ in range(100))]
        for w in g.need:  # windows ending just after a needed word, as the assembler cuts them
            k = t.find(w)
            while k >= 0:
                spans += [(max(0, k - 12), k + len(w) + d) for d in (0, 1, 3)]
                k = t.find(w, k + 1)
        for i, j in spans:
            w = t[i:j]
            for fn in ("search", "match"):
                a, b = getattr(g.rx, fn)(w), getattr(g, fn)(w)
                assert (a and (a.span(), a.groups())) == (b and (b.span(), b.groups())), (name, fn, w)
            assert g.rx.findall(w) == g.findall(w)
            a, b = g.rx.search(t, i, j), g.search(t, i, j)
            assert (a and a.span()) == (b and b.span()), (name, i, j)
            hits += a is not None
    assert hits, f"{name}: the samples never exercise a match"


def test_casualty_sentence_end_helpers_equal_regex():
    """casualties._after_last_end / _first_end give what _SENT_END.finditer / .search give on a span."""
    from rasd.extract.casualties import _SENT_END, _after_last_end, _first_end

    rng = random.Random(3)
    alphabet = ["ب", "ت", ".", "5", "0", "!", "?", "؟", "؛", "\n", " ", "x", "9", "…"]
    texts = [fold(clean_chars(p.read_text(encoding="utf-8"))) for p in sorted(SAMPLE.glob("*.txt"))]
    spans = [(t, i, min(len(t), i + 90)) for t in texts for i in range(0, len(t), 37)]
    for _ in range(20000):
        t = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        s = rng.randint(0, len(t))
        spans.append((t, s, rng.randint(s, len(t))))
    for t, s, e in spans:
        last = s
        for m in _SENT_END.finditer(t, s, e):
            last = m.end()
        first = _SENT_END.search(t, s, e)
        assert _after_last_end(t, s, e) == last, (t, s, e)
        assert _first_end(t, s, e) == (first.start() if first else -1), (t, s, e)

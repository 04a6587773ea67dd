"""Language check: is an article Arabic enough for the Arabic extractor?

Characters are counted with whole-string regexes over character classes built once from
``unicodedata`` (so the counts are exactly those of a per-character ``unicodedata.category``
loop, for the running Python's Unicode version). The classes cover the Basic Multilingual
Plane, where the regex engine tests a character in constant time; the rare characters
beyond it (emoji, mathematical letters) are classified one by one.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable

_ARABIC = re.compile("[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_EN_WORDS = frozenset("the of and to in is was for on that with by at from as were has have said killed".split())
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")
_EN_WORD = re.compile(r"[a-z]+")


def has_astral(text: str) -> bool:
    """Whether ``text`` has characters beyond the BMP (they take two UTF-16 code units; lone surrogates one)."""
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


@lru_cache(maxsize=1)
def bmp_categories() -> tuple[str, ...]:
    """``unicodedata.category`` of every BMP code point."""
    return tuple([unicodedata.category(chr(cp)) for cp in range(0x10000)])


def bmp_class(codepoints) -> str:
    """A regex character class ``[...]`` of the given BMP code points, in increasing order ("" if none)."""
    parts: list[str] = []
    start = prev = None
    for cp in list(codepoints) + [None]:
        if cp is not None and prev is not None and cp == prev + 1:
            prev = cp
            continue
        if start is not None:
            parts.append(f"\\u{start:04x}" if start == prev else f"\\u{start:04x}-\\u{prev:04x}")
        start = prev = cp
    return "[" + "".join(parts) + "]" if parts else ""


class CharCounter:
    """Counts the characters of a string for which ``pred`` holds, without a Python loop per character.

    ``bmp``: the BMP code points for which ``pred`` holds, in increasing order (computed from ``pred`` if
    not given); the regex engine tests those in constant time, the rare characters beyond the BMP are
    tested one by one with ``pred``.
    """

    def __init__(self, pred: Callable[[str], bool], bmp=None):
        self.pred = pred
        if bmp is None:
            bmp = [cp for cp in range(0x10000) if pred(chr(cp))]
        cls = bmp_class(bmp)
        self._runs = re.compile(cls + "+") if cls else None

    def count(self, text: str, astral: bool | None = None) -> int:
        """``astral``: whether ``text`` has characters beyond the BMP (None: look)."""
        n = len(text) - len(self._runs.sub("", text)) if self._runs is not None else 0
        if astral is None:
            astral = has_astral(text)
        if astral:
            pred = self.pred
            n += sum(1 for ch in _ASTRAL.findall(text) if pred(ch))
        return n


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def _is_arabic_letter(ch: str) -> bool:
    return _is_letter(ch) and bool(_ARABIC.match(ch))


def _is_latin_letter(ch: str) -> bool:
    return _is_letter(ch) and "LATIN" in unicodedata.name(ch, "")


def _is_other_letter(ch: str) -> bool:
    return _is_letter(ch) and not _ARABIC.match(ch)


@lru_cache(maxsize=1)
def _counters() -> tuple[CharCounter, CharCounter, CharCounter]:
    """Counters of Arabic letters, other letters (few in Arabic text: a cheap count) and Latin letters."""
    cats = bmp_categories()
    letters = [cp for cp, cat in enumerate(cats) if cat.startswith("L")]
    arabic = [cp for cp in letters if _ARABIC.match(chr(cp))]
    other = [cp for cp in letters if not _ARABIC.match(chr(cp))]
    latin = [cp for cp in letters if "LATIN" in unicodedata.name(chr(cp), "")]
    return (CharCounter(_is_arabic_letter, arabic), CharCounter(_is_other_letter, other),
            CharCounter(_is_latin_letter, latin))


def _letters(text: str) -> tuple[int, int, bool]:
    """(letters, Arabic letters, whether the text has characters beyond the BMP)."""
    arabic, other, _ = _counters()
    astral = has_astral(text)
    n_ar = arabic.count(text, astral)
    return n_ar + other.count(text, astral), n_ar, astral


def arabic_share(text: str) -> float:
    """Share of letters that are Arabic (0 when the text has no letters)."""
    n, n_ar, _ = _letters(text)
    if not n:
        return 0.0
    return n_ar / n


def detect_language(text: str, min_arabic_share: float = 0.5) -> str:
    """"ar" when at least ``min_arabic_share`` of the letters are Arabic; else "en" for English
    (Latin script with common English words), "other" for anything else, "und" with no letters."""
    n, n_ar, astral = _letters(text)
    if not n:
        return "und"
    if n_ar / n >= min_arabic_share:
        return "ar"
    if _counters()[2].count(text, astral) / n >= 0.5:
        words = _EN_WORD.findall(text.lower())
        if words and sum(1 for w in words if w in _EN_WORDS) / len(words) >= 0.05:
            return "en"
    return "other"

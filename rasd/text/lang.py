"""Language check: is an article Arabic enough for the Arabic extractor?"""
from __future__ import annotations

import re
import unicodedata

_ARABIC = re.compile("[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_EN_WORDS = frozenset("the of and to in is was for on that with by at from as were has have said killed".split())


def arabic_share(text: str) -> float:
    """Share of letters that are Arabic (0 when the text has no letters)."""
    letters = [c for c in text if unicodedata.category(c).startswith("L")]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _ARABIC.match(c)) / len(letters)


def detect_language(text: str, min_arabic_share: float = 0.5) -> str:
    """"ar" when at least ``min_arabic_share`` of the letters are Arabic; else "en" for English
    (Latin script with common English words), "other" for anything else, "und" with no letters."""
    letters = [c for c in text if unicodedata.category(c).startswith("L")]
    if not letters:
        return "und"
    if arabic_share(text) >= min_arabic_share:
        return "ar"
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    if latin / len(letters) >= 0.5:
        words = re.findall(r"[a-z]+", text.lower())
        if words and sum(1 for w in words if w in _EN_WORDS) / len(words) >= 0.05:
            return "en"
    return "other"

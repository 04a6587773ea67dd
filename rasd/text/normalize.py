"""Arabic text normalisation shared by article text, lexicons and the gazetteer.

Two layers:

* ``clean_chars`` may change the length of the text (NFKC, drops tatweel,
  diacritics and invisible marks). Its output is the *cleaned text* stored in
  the warehouse; every evidence offset refers to it.
* ``fold`` maps one character to one character, so ``fold(cleaned)`` has the
  same offsets as ``cleaned``. Extractors match on the folded form and report
  offsets that slice the cleaned text directly.

``normalize`` = ``fold(clean_chars(s))`` is what lexicon and gazetteer entries
go through, so that they compare equal to folded article text.
"""
from __future__ import annotations

import re
import unicodedata

# Harakat (U+064B–U+065F), superscript alef (U+0670), Quranic annotation marks
# (U+06D6–U+06ED) and tatweel (U+0640): outlets use them inconsistently
# ("مقتلُ وإصابةُ"), and "مـ ـقـ ـتـ ـل" is written with tatweel and spaces
# by SOHR to dodge platform filters (the spaces are handled by the extractor).
_DROP = re.compile("[\u064B-\u065F\u0670\u06D6-\u06ED\u0640\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF\u00AD]")
_SPACES = re.compile("[ \t\u00A0\u2000-\u200A\u202F\u205F\u3000]+")

_FOLD_PAIRS = {
    # Hamza/madda on alef and wasla are written interchangeably (أنخل/إنخل/انخل).
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
    # Final ya and alef maqsura are swapped freely, Egyptian-style (على/علي).
    "ى": "ي",
    # Ta marbuta is often written as ha (درعا البلده / قرية).
    "ة": "ه",
    # Hamza seats vary between outlets (مسؤول/مسئول, رئيس).
    "ؤ": "و", "ئ": "ي",
    # Persian/Urdu letters that leak in from keyboards and OCR.
    "ک": "ك", "ی": "ي", "ە": "ه", "ھ": "ه",
    # Quote marks: outlets mix “…”, «…» and "…" around names (“اللواء الثامن”).
    "“": '"', "”": '"', "«": '"', "»": '"', "„": '"', "‟": '"', "″": '"',
    "‘": "'", "’": "'", "‚": "'", "‛": "'",
    "٪": "%", "–": "-", "—": "-", "−": "-",
}
# Arabic-Indic (٠-٩) and Persian (۰-۹) digits to ASCII.
for _i in range(10):
    _FOLD_PAIRS[chr(0x0660 + _i)] = str(_i)
    _FOLD_PAIRS[chr(0x06F0 + _i)] = str(_i)
# Arabic decimal and thousands separators (٫ ٬) to ASCII.
_FOLD_PAIRS["٫"] = "."
_FOLD_PAIRS["٬"] = ","
_FOLD_TABLE = str.maketrans(_FOLD_PAIRS)


_ODD_SPACES = re.compile("[\t\u00A0\u2000-\u200A\u202F\u205F\u3000]")


def clean_chars(text: str) -> str:
    """NFKC, drop diacritics/tatweel/invisible marks, unify line ends and spaces (length may change)."""
    text = unicodedata.normalize("NFKC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _DROP.search(text) is not None:
        text = _DROP.sub("", text)
    # every run of spaces becomes one space: nothing to do when all runs already are single spaces
    if "  " in text or _ODD_SPACES.search(text) is not None:
        text = _SPACES.sub(" ", text)
    return text


# One str.replace per pair present (a C scan each) is ~6x faster than str.translate with a dict table on
# Arabic text; no pair's replacement is another pair's source, so the order does not matter.
_FOLD_ITEMS = tuple(_FOLD_PAIRS.items())
_UPPER = re.compile("[A-Z]+")


def fold(text: str) -> str:
    """Length-preserving matching form: alef/hamza, ya, ta marbuta, digits, quotes unified; Latin lower-cased."""
    for a, b in _FOLD_ITEMS:
        if a in text:
            text = text.replace(a, b)
    # str.lower is length-preserving for ASCII only; keep it to ASCII letters.
    if _UPPER.search(text) is None:
        return text
    return _UPPER.sub(lambda m: m.group(0).lower(), text)


def normalize(text: str) -> str:
    """The form lexicon and gazetteer entries are stored and compared in."""
    return fold(clean_chars(text)).strip()


def is_normalized(text: str) -> bool:
    return normalize(text) == text

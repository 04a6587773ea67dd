"""Bytes to text: BOMs, UTF-8, and the legacy Arabic code pages, checked for plausibility.

charset-normalizer is consulted, but on its own it confuses the Arabic single-byte
code pages (Mac Arabic comes out as Thai, short Windows-1256 texts as Latin), so every
candidate decoding is scored on what Arabic text looks like: the article "ال" is the
most frequent Arabic bigram, and a wrong code page turns it into "ان"/"اف" and puts
Latin accented letters inside Arabic words. A decoding that still looks garbled is
refused (``DecodeError``): rasd quarantines it rather than storing mojibake.
"""
from __future__ import annotations

import codecs
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rasd.text.lang import CharCounter, bmp_categories


class DecodeError(ValueError):
    """The bytes are binary or cannot be decoded into plausible text."""


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str


# File signatures of common binary formats users drop into folders by mistake.
_MAGIC = (
    (b"%PDF", "PDF"), (b"\x89PNG", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF8", "GIF image"),
    (b"PK\x03\x04", "ZIP/Office archive"), (b"\x1f\x8b", "gzip archive"), (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ", "xz archive"), (b"7z\xbc\xaf", "7z archive"), (b"Rar!", "RAR archive"),
    (b"\xd0\xcf\x11\xe0", "OLE/legacy Office file"), (b"\x7fELF", "ELF executable"), (b"MZ", "Windows executable"),
    (b"PAR1", "Parquet file"), (b"SQLite format 3", "SQLite database"),
)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: they share a prefix
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)

# Legacy Arabic code pages, in order of preference when two give the same text
# (ISO-8859-6 and Mac Arabic share the Arabic letter block).
ARABIC_CODEPAGES = ("cp1256", "iso8859_6", "mac_arabic")

_ARABIC = re.compile("[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_WORD_CHAR = r"[^\s\d.,;:!?()\[\]{}\"'«»“”<>/\\|@#%&*+=_~^`-]"
_WORD = re.compile(_WORD_CHAR + "+")
# A word character (see _WORD) that is an ASCII letter or neither ASCII nor in the Arabic blocks of _ARABIC:
# only a word with one of these can mix scripts or carry a mojibake symbol (see _looks_clean).
_SUSPECT_CHAR = ("[A-Za-z\u0080-\u05FF\u0700-\u074F\u0780-\u089F\u0900-\uFB4F\uFE00-\uFE6F\uFF00-\U0010FFFF]"
                 "(?<![\\s\\d«»“”])")
_SUSPECT = re.compile(_SUSPECT_CHAR)
_SUSPECT_LINE = re.compile(f"^.*?{_SUSPECT_CHAR}.*", re.M)  # words never span a line break


def _is_arabic(ch: str) -> bool:
    return bool(_ARABIC.match(ch))


def _is_bad_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch not in "\t\n\r\f\v"


@lru_cache(maxsize=1)
def _bad_counter() -> CharCounter:
    bmp = [cp for cp, cat in enumerate(bmp_categories()) if cat in ("Cc", "Cs", "Co", "Cn") and chr(cp) not in "\t\n\r\f\v"]
    return CharCounter(_is_bad_control, bmp)


def _bad_controls(text: str) -> int:
    """Control, surrogate, private-use and unassigned characters (tab and line ends excepted)."""
    return _bad_counter().count(text)


# Approximate letter frequencies of Arabic news text (per cent). A wrong code page swaps frequent
# letters for rare ones (cp1256 "ل" read as ISO-8859-6 is "ف", ISO "ل" read as cp1256 is "ن").
_LETTER_FREQ = {
    "ا": 12.0, "ل": 10.5, "ي": 7.5, "م": 6.0, "و": 5.8, "ن": 5.5, "ر": 4.5, "ت": 4.0, "ب": 4.0,
    "ع": 3.5, "د": 3.0, "ة": 2.8, "ف": 2.8, "ه": 2.5, "ق": 2.5, "س": 2.5, "ك": 2.0, "ح": 2.0,
    "أ": 2.0, "ج": 1.2, "ى": 1.0, "ط": 0.9, "ش": 0.9, "ص": 0.9, "خ": 0.8, "إ": 0.8, "ذ": 0.6,
    "ز": 0.5, "ض": 0.5, "ث": 0.5, "ء": 0.5, "ئ": 0.5, "غ": 0.4, "آ": 0.2, "ؤ": 0.2, "ظ": 0.2,
    "،": 1.0, "؟": 0.1, "؛": 0.1,
}
_RARE = 0.02
# ASCII symbols glued to Arabic letters ("ظ]س", "^تف") come from Mac Arabic read for Windows-1256.
_GLUED = re.compile(r"(?:[\u0621-\u064A][\[\]^_{}|~`@#$\\]|[\[\]^_{}|~`@#$\\][\u0621-\u064A])")


def _letter_score(text: str) -> float:
    """Log-likelihood of the Arabic characters under Arabic letter frequencies, relative to uniform."""
    score = 0.0
    for ch in text:
        # Harakat are neutral: vocalised headlines are legitimate; misplaced ones are penalised apart.
        if "\u0600" <= ch <= "\u06FF" and not "\u064B" <= ch <= "\u0652":
            score += math.log(_LETTER_FREQ.get(ch, _RARE) / 3.0)
    return score


def plausibility(text: str) -> float:
    """Score a candidate decoding; higher is more text-like. Negative means garbled."""
    if not text:
        return 0.0
    bad = _bad_controls(text) + text.count("\ufffd")
    mixed = 0  # words mixing Arabic letters with other non-ASCII letters or symbols: mojibake
    odd = 0  # non-ASCII words made of symbols, box drawing, Thai etc. next to nothing Arabic
    arabic_words = 0
    for w in _WORD.findall(text):
        if w.isascii():
            continue
        has_ar = any(_is_arabic(c) for c in w)
        other = [c for c in w if (c.isalpha() or not c.isascii()) and not _is_arabic(c)]
        if has_ar and other:
            mixed += 1
        elif has_ar:
            arabic_words += 1
        elif any(unicodedata.category(c)[0] not in "LM" for c in other):
            odd += 1
    # Orphan harakat (a diacritic after a space or another diacritic) come from a wrong code page.
    orphan = len(re.findall("(?:^|[\\s\u064B-\u0652])[\u064B-\u0652]", text))
    al = text.count("ال")
    # Mac Arabic writes spaces as 0xA0, which ISO-8859-6 reads as no-break spaces.
    nbsp = text.count("\u00a0")
    glued = len(_GLUED.findall(text))
    return (3.0 * al + arabic_words + _letter_score(text) - 4.0 * mixed - 2.0 * odd - 2.0 * orphan
            - 4.0 * glued - 10.0 * bad - 0.1 * nbsp)


def _mojibake_symbol(c: str) -> bool:
    # Latin-1 symbols and box drawing are what a wrong code page leaves inside words.
    return "\u0080" <= c <= "\u00bf" or "\u2500" <= c <= "\u25ff" or c in "\u00d7\u00f7"


def _looks_clean(text: str) -> bool:
    """No control characters, and the non-ASCII words are not mojibake (mixed scripts in one word)."""
    # A stray control character (an old DOS end-of-file mark) is tolerated; binary data has many.
    if _bad_controls(text) > len(text) // 1000 or "\ufffd" in text:
        return False
    # Only a word with an ASCII letter or a character that is neither ASCII nor Arabic can mix scripts or
    # carry a mojibake symbol: judge the words of the lines that have one, character by character.
    bad = 0
    lines = _SUSPECT_LINE.findall(text) if _SUSPECT.search(text) is not None else ()
    suspects = (w for line in lines for w in _WORD.findall(line) if not w.isascii() and _SUSPECT.search(w))
    for w in suspects:
        scripts = set()
        sym = False
        for c in w:
            if c.isascii():
                if c.isalpha():
                    scripts.add("LATIN")
            elif _is_arabic(c):
                if c.isalpha():
                    scripts.add("ar")
            elif unicodedata.category(c)[0] in "LM":
                scripts.add(unicodedata.name(c, "?").split(" ")[0])
            elif _mojibake_symbol(c):
                sym = True
        if len(scripts) > 1 or (sym and scripts):
            bad += 1
    if bad <= 1:
        return True  # whatever the number of non-ASCII words (none at all is clean too)
    n_words = sum(1 for w in _WORD.findall(text) if not w.isascii())
    return bad <= max(1, 0.05 * n_words)


def looks_clean(text: str) -> bool:
    """Public check used on text that arrives already decoded (JSONL fields)."""
    return _looks_clean(text)


def sniff_binary(data: bytes) -> str | None:
    """Name the binary format if the bytes are clearly not text, else None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def _try(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM: NUL bytes in alternate positions (ASCII) or Arabic high bytes 0x06."""
    if len(data) % 2 or len(data) < 4:
        return None
    even, odd = data[0::2], data[1::2]
    for enc, hi in (("utf-16-le", odd), ("utf-16-be", even)):
        share = (hi.count(0) + hi.count(6)) / len(hi)
        if share > 0.9:
            text = _try(data, enc)
            if text is not None and _looks_clean(text):
                return text
    return None


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode article bytes; ``declared`` is an encoding named by the source (HTML meta charset).

    Raises ``DecodeError`` for binary or undecodable input.
    """
    kind = sniff_binary(data)
    if kind:
        raise DecodeError(f"binary file ({kind})")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            text = _try(data, enc)
            if text is None or not _looks_clean(text):
                raise DecodeError(f"undecodable text (has a {enc} byte-order mark but does not decode)")
            return Decoded(text.lstrip("\ufeff"), enc)
    if b"\x00" in data:
        text = _utf16_without_bom(data)
        if text is not None:
            return Decoded(text, "utf-16")
        raise DecodeError("binary file (contains NUL bytes)")
    text = _try(data, "utf-8")
    if text is not None:
        if not _looks_clean(text):
            raise DecodeError("binary or garbled content (control characters in UTF-8 text)")
        return Decoded(text, "utf-8")

    candidates: dict[str, str] = {}
    if declared:
        try:
            enc = codecs.lookup(declared).name
        except LookupError:
            enc = None
        if enc:
            t = _try(data, enc)
            if t is not None:
                candidates[enc] = t
    for enc in ARABIC_CODEPAGES:
        t = _try(data, enc)
        if t is not None:
            candidates.setdefault(codecs.lookup(enc).name, t)
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None:
            enc = codecs.lookup(best.encoding).name
            t = _try(data, enc)
            if t is not None:
                candidates.setdefault(enc, t)
    except Exception:  # a detector failure must not stop ingest; the code pages above remain
        pass
    scored = []
    for order, (enc, t) in enumerate(candidates.items()):
        if _looks_clean(t):
            scored.append((plausibility(t), -order, enc, t))
    if not scored:
        raise DecodeError("undecodable text (not UTF-8/UTF-16, and no Arabic code page gives clean text)")
    score, _, enc, t = max(scored)
    # Letter frequencies rank candidates; whether the winner is text at all is judged without them.
    if score - _letter_score(t) < 0:
        raise DecodeError("undecodable text (every candidate decoding looks garbled)")
    return Decoded(t, enc)

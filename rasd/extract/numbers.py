"""Numbers in folded Arabic news text: digits, number words, vague quantities and qualifiers.

Works on ``fold(cleaned_text)`` (offsets are valid in the cleaned text). Each mention carries
its qualifier (exact | at_least | more_than | about | vague) and a ``role`` telling whether the
number counts things (``count``) or is a date, year, time, duration, measure, amount of money,
percentage or decimal: "25 عاما", "14 من تشرين الأول", "5 كم", "50%" are never people.
A range "(ما) بين 10 و15" is its lower bound with qualifier at_least.
The lexicon is ``rasd/data/numbers.yaml``; it is loaded once, lazily.
"""
from __future__ import annotations

import operator
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from pathlib import Path

import yaml

from rasd.extract.common import compiled_twin, fast_init
from rasd.text.normalize import normalize

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
QUALIFIERS = ("exact", "at_least", "more_than", "about", "vague")


@dataclass(frozen=True)
class NumberMention:
    start: int
    end: int
    text: str
    value: int | None  # None when vague
    qualifier: str  # exact|at_least|more_than|about|vague
    role: str = "count"  # count|date|year|time|duration|measure|money|percent|decimal
    words: bool = False  # written in words rather than digits


# Tokens: Arabic words, digit groups (with their internal separators: 2022.10.20, 1,200, 10:30),
# Latin words, newlines and single punctuation marks.
TOKEN_RE = re.compile(r"[\u0621-\u064A\u0671-\u06D3]+|[0-9]+(?:[.,:/\-][0-9]+)*|[a-z]+|\n|[^\s\u0621-\u064A0-9a-z]")
_THOUSANDS_RE = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+$")
_DIGITS_RE = re.compile(r"^[0-9]+$")
# Clitics a number word may carry: conjunctions و/ف, prepositions ب/ل/ك ("بخمسة", "وثلاثة").
_NUM_PREFIXES = ("", "و", "ف", "ب", "ل", "ك", "وب", "ول", "فب", "فل", "وك")
_YEAR_CUES = frozenset({"عام", "العام", "لعام", "سنه", "السنه", "لسنه", "منذ", "مطلع", "اواخر", "اوايل", "بدايه", "نهايه", "خلال"})
_TIME_CUES = frozenset({"الساعه", "ساعه"})


def _tokenize(folded: str, start: int = 0, end: int | None = None) -> list[tuple[int, int, str]]:
    """Tokens (start, end, form) of folded[start:end] (the pure-Python tokenizer)."""
    end = len(folded) if end is None else end
    ms = list(TOKEN_RE.finditer(folded, start, end))
    # map() over the match methods runs the per-token calls in C (faster than a comprehension)
    return list(zip(map(_M_START, ms), map(_M_END, ms), map(_M_GROUP, ms)))


_M_START, _M_END, _M_GROUP = re.Match.start, re.Match.end, re.Match.group

try:  # the same tokens from a C loop (rasd/_casscan.c, built by setup.py; tests/test_casscan.py)
    from rasd._casscan import tokenize as _c_tokenize
except ImportError:  # not built: the regex above
    _c_tokenize = None

tokenize = _c_tokenize or _tokenize  # (folded, start=0, end=None) -> [(start, end, form)]
_FORM = operator.itemgetter(2)


@dataclass(frozen=True)
class _NumLex:
    units: dict[str, int]
    teen_heads: dict[str, int]
    teen_tails: frozenset[str]
    one_of: frozenset[str]
    tens: dict[str, int]
    hundreds: dict[str, int]
    multipliers: dict[str, int]
    mult_duals: dict[str, int]
    vague: frozenset[str]
    vague_phrases: dict[tuple[str, ...], str]
    before: dict[tuple[str, ...], str]
    after: dict[tuple[str, ...], str]
    units_of: dict[str, str]  # noun -> role
    unit_phrases: dict[tuple[str, ...], str]
    starters: frozenset[str]  # every word form that can begin a number (clitics included)
    before_last: frozenset[str]  # last words of the "before" qualifier phrases (fast pre-check)
    after_first: frozenset[str]  # first words of the "after" qualifier phrases


def _norm_keys(d: dict) -> dict:
    return {normalize(str(k)): v for k, v in d.items()}


@lru_cache(maxsize=1)
def number_lexicon() -> _NumLex:
    """Load rasd/data/numbers.yaml once."""
    raw = yaml.safe_load((DATA_DIR / "numbers.yaml").read_text(encoding="utf-8"))
    before: dict[tuple[str, ...], str] = {}
    for q, phrases in raw["qualifiers"]["before"].items():
        for p in phrases:
            words = normalize(p).split()
            before[tuple(words)] = q
            for c in ("و", "ف", "ب"):  # "ونحو 40", "وأكثر من 30", "بأكثر من 50"
                before[(c + words[0], *words[1:])] = q
    after: dict[tuple[str, ...], str] = {}
    for q, phrases in raw["qualifiers"]["after"].items():
        for p in phrases:
            after[tuple(normalize(p).split())] = q
    units_of: dict[str, str] = {}
    unit_phrases: dict[tuple[str, ...], str] = {}
    for role, forms in raw["units_of"].items():
        if role == "notes":
            continue
        for f in forms:
            t = tuple(normalize(f).split())
            if len(t) == 1:
                units_of[t[0]] = role
            else:
                unit_phrases[t] = role
    words = set()
    for sect in ("units", "teen_heads", "tens", "hundreds"):
        words.update(_norm_keys(raw[sect]["values"]))
    words.update(_norm_keys(raw["multipliers"]["values"]))
    words.update(_norm_keys(raw["multipliers"]["duals"]))
    words.update(normalize(f) for f in raw["one_of"]["forms"])
    vague = {normalize(f) for f in raw["vague"]["forms"]}
    starters = {p + w for p in _NUM_PREFIXES for w in words}
    starters.update(vague)
    starters.update(p + w for p in ("و", "ف", "ب") for w in vague)
    starters.update({"عدد", "عددا", "العديد"})
    return _NumLex(
        before_last=frozenset(p[-1] for p in before) | {"ال"},
        after_first=frozenset(p[0] for p in after),
        starters=frozenset(starters),
        units=_norm_keys(raw["units"]["values"]),
        teen_heads=_norm_keys(raw["teen_heads"]["values"]),
        teen_tails=frozenset(normalize(f) for f in raw["teen_tails"]["forms"]),
        one_of=frozenset(normalize(f) for f in raw["one_of"]["forms"]),
        tens=_norm_keys(raw["tens"]["values"]),
        hundreds=_norm_keys(raw["hundreds"]["values"]),
        multipliers=_norm_keys(raw["multipliers"]["values"]),
        mult_duals=_norm_keys(raw["multipliers"]["duals"]),
        vague=frozenset(normalize(f) for f in raw["vague"]["forms"]),
        vague_phrases={tuple(normalize(p).split()): "vague" for p in raw["vague_phrases"]["forms"]},
        before=before,
        after=after,
        units_of=units_of,
        unit_phrases=unit_phrases,
    )


class FormCache(dict):
    """form -> fn(form), computed on first use (fn must be a pure function of the form); emptied when it
    holds ``limit`` entries (forms, 10^4..10^6). A dict lookup (``cache[form]``, ``map(cache.__getitem__,
    forms)``) costs a fraction of an lru_cache call; the values are the same."""

    __slots__ = ("fn", "limit")

    def __init__(self, fn, limit: int):
        super().__init__()
        self.fn, self.limit = fn, limit

    def __missing__(self, form):
        if len(self) >= self.limit:
            self.clear()
        v = self[form] = self.fn(form)
        return v


def _word_value_of(form: str) -> tuple[str, int, str] | None:
    """(category, value, stripped prefix) of a number word with clitics, or None.

    Categories: unit, teen_head, tens, hundreds, mult, mult_dual.
    """
    lex = number_lexicon()
    for p in _NUM_PREFIXES:
        if p and not form.startswith(p):
            continue
        w = form[len(p):]
        if len(w) < 2:
            continue
        if w in lex.units:
            return ("unit", lex.units[w], p)
        if w in lex.tens:
            return ("tens", lex.tens[w], p)
        if w in lex.hundreds:
            return ("hundreds", lex.hundreds[w], p)
        if w in lex.teen_heads:
            return ("teen_head", lex.teen_heads[w], p)
        if w in lex.mult_duals:
            return ("mult_dual", lex.mult_duals[w], p)
        if w in lex.multipliers:
            return ("mult", lex.multipliers[w], p)
    return None


_word_value = FormCache(_word_value_of, 65536).__getitem__


def _parse_words(toks, i: int, n: int) -> tuple[int, int] | None:
    """Parse a number written in words starting at token i: (value, last token index) or None."""
    lex = number_lexicon()
    total = 0
    cur = 0
    last = -1
    prev_cat = ""
    j = i
    first = True
    while j < n:
        wv = _word_value(toks[j][2])
        if wv is None:
            break
        cat, val, pfx = wv
        if not first:
            # Later parts are joined with و ("خمسة وعشرون", "مئة وخمسون"); only in descending
            # magnitude, so "ثلاثة وخمسة" stays two numbers.
            if pfx != "و" or cat in ("mult", "teen_head"):
                break
            if cat == "tens" and prev_cat not in ("unit", "hundreds", "mult", "mult_dual", "teen"):
                break
            if cat == "unit" and prev_cat not in ("hundreds", "mult", "mult_dual"):
                break
            if cat == "hundreds" and prev_cat not in ("mult", "mult_dual"):
                break
        elif pfx not in _NUM_PREFIXES:
            break
        if cat == "teen_head":
            if j + 1 < n and toks[j + 1][2] in lex.teen_tails:
                cur += val + 10
                j += 1
                prev_cat = "teen"
            else:
                break  # bare أحد/إحدى: handled by the caller as "one of"
        elif cat == "unit":
            cur += val
            prev_cat = "unit"
            if val < 10 and j + 1 < n and toks[j + 1][2] in lex.teen_tails:
                cur += 10  # ثلاثة عشر
                j += 1
                prev_cat = "teen"
            elif val < 10 and j + 1 < n and toks[j + 1][2] in lex.hundreds and lex.hundreds[toks[j + 1][2]] == 100:
                cur = cur - val + val * 100  # ثلاث مئة
                j += 1
                prev_cat = "hundreds"
        elif cat == "tens":
            cur += val
            prev_cat = "tens"
        elif cat == "hundreds":
            cur += val
            prev_cat = "hundreds"
        elif cat == "mult_dual":
            total += val
            prev_cat = "mult_dual"
        elif cat == "mult":
            total += (cur or 1) * val
            cur = 0
            prev_cat = "mult"
        last = j
        first = False
        j += 1
        # A multiplier may follow directly without و: "ثلاثة آلاف", "عشرين ألف".
        if j < n and prev_cat in ("unit", "tens", "hundreds", "teen"):
            w2 = toks[j][2]
            if w2 in lex.multipliers:
                total += cur * lex.multipliers[w2]
                cur = 0
                prev_cat = "mult"
                last = j
                j += 1
    if last < 0:
        return None
    return total + cur, last


def _match_phrase_ending(toks, k: int, phrases: dict[tuple[str, ...], str], lo: int) -> tuple[str, int] | None:
    """Longest phrase whose last token is toks[k]: (value, first token index)."""
    best = None
    for length in (4, 3, 2, 1):
        s = k - length + 1
        if s < lo:
            continue
        key = tuple(t[2] for t in toks[s : k + 1])
        if key in phrases:
            best = (phrases[key], s)
            break
    return best


def _match_phrase_starting(toks, k: int, phrases, hi: int):
    for length in (4, 3, 2, 1):
        if k + length > hi:
            continue
        key = tuple(t[2] for t in toks[k : k + length])
        if key in phrases:
            return phrases[key], k + length - 1
    return None


@dataclass(frozen=True)
class NumTok:
    """A number over tokens: first/last token (qualifier words included) and its value."""

    i0: int  # first token (qualifier included)
    i1: int  # last token
    value: int | None
    qualifier: str
    role: str
    words: bool
    core0: int  # first token of the figure itself (after the qualifier)


_new_numtok = fast_init(NumTok)


def _role(toks, i0: int, i1: int, n: int, value: int | None, digits: str | None) -> str:
    lex = number_lexicon()
    if digits is not None and not _DIGITS_RE.match(digits) and not _THOUSANDS_RE.match(digits):
        if ":" in digits:
            return "time"
        if re.match(r"^[0-9]+[./\-][0-9]+[./\-][0-9]+$", digits):
            return "date"
        return "decimal"
    nxt = toks[i1 + 1][2] if i1 + 1 < n else ""
    if nxt == "%":
        return "percent"
    role = lex.units_of.get(nxt)
    if role is None and i1 + 2 < n:
        r2 = lex.unit_phrases.get((nxt, toks[i1 + 2][2]))
        if r2:
            return r2
    if role is None and nxt == "من" and i1 + 2 < n:
        r3 = lex.units_of.get(toks[i1 + 2][2])
        if r3 == "date":
            role = "date"
    if role is None and nxt in ("/", "-") and i1 + 2 < n and toks[i1 + 2][2] in lex.units_of:
        role = "date"  # "14/تشرين"
    if role:
        return role
    prv = toks[i0 - 1][2] if i0 > 0 else ""
    if prv in _TIME_CUES:
        return "time"
    if digits is not None and len(digits) == 4 and value is not None and 1900 <= value <= 2100:
        if prv in _YEAR_CUES or lex.units_of.get(prv) == "date" or prv in ("/", "-", ",", "،") or nxt in ("م", "/", "-"):
            return "year"
    if prv in lex.units_of and lex.units_of[prv] == "date":
        return "date"  # "آذار 17"
    return "count"


def _num_start(form: str) -> bool:
    # a number starts at a starter word or a digit ("0" <= form < ":" is "0" <= form[0] <= "9")
    return form in number_lexicon().starters or "0" <= form < ":"


_NUM_STARTS = FormCache(_num_start, 200_000)


def scan_numbers(toks) -> list[NumTok]:
    """All numbers in a token list, left to right, non-overlapping."""
    lex = number_lexicon()
    n = len(toks)
    out: list[NumTok] = []
    cands = compress(range(n), map(_NUM_STARTS.__getitem__, map(_FORM, toks)))
    nxt_free = 0
    for i in cands:
        if i < nxt_free:
            continue
        form = toks[i][2]
        c0 = form[0]
        hit = None  # (core0, i1, value, qualifier, words, digits)
        if "0" <= c0 <= "9":
            digits = form
            value = None
            if _DIGITS_RE.match(form):
                value = int(form) if len(form) <= 12 else None
            elif _THOUSANDS_RE.match(form):
                value = int(form.replace(",", ""))
            i1 = i
            if value is not None and i + 1 < n and toks[i + 1][2] in lex.multipliers:
                value *= lex.multipliers[toks[i + 1][2]]  # "3 آلاف"
                i1 = i + 1
            hit = (i, i1, value, "exact", False, digits)
        elif "\u0621" <= c0 <= "\u064a":
            vp = _match_phrase_starting(toks, i, lex.vague_phrases, n) if form in ("عدد", "عددا", "العديد") else None
            if vp:
                hit = (i, vp[1], None, "vague", True, None)
            elif form in lex.vague or (len(form) > 2 and form[0] in "وفب" and form[1:] in lex.vague):
                hit = (i, i, None, "vague", True, None)
            else:
                pw = _parse_words(toks, i, n)
                if pw is not None:
                    hit = (i, pw[1], pw[0], "exact", True, None)
                else:
                    w = form[1:] if form[:1] in ("و", "ف", "ب", "ل") and form[1:] in lex.one_of else form
                    if w in lex.one_of and i + 1 < n and "\u0621" <= toks[i + 1][2][0] <= "\u064a":
                        hit = (i, i, 1, "exact", True, None)  # أحد عناصر / إحدى السيدات
        if hit is None:
            continue
        core0, i1, value, qual, words, digits = hit
        if value in (1000, 1000000) and words and core0 > 0 and toks[core0 - 1][2] in ("نصف", "ربع"):
            value = value // 2 if toks[core0 - 1][2] == "نصف" else value // 4  # "نصف مليون"
            core0 -= 1
        i0 = core0
        # A range "(ما) بين 10 و15": the lower bound, at least.
        if (value is not None and core0 > 0 and toks[core0 - 1][2] == "بين" and i1 + 2 < n
                and toks[i1 + 1][2] == "و" and _DIGITS_RE.match(toks[i1 + 2][2])):
            i0 = core0 - 2 if core0 > 1 and toks[core0 - 2][2] == "ما" else core0 - 1
            out.append(_new_numtok((i0, i1 + 2, value, "at_least", _role(toks, core0, i1 + 2, n, value, None), words, core0)))
            nxt_free = i1 + 3
            continue
        if qual != "vague":
            # "الــ 52" after a qualifier: the article's ال is split off by tatweel removal.
            k = i0 - 1
            if k >= 0 and toks[k][2] == "ال":
                k -= 1
            lo = out[-1].i1 + 1 if out else 0
            m = _match_phrase_ending(toks, k, lex.before, lo) if k >= lo and toks[k][2] in lex.before_last else None
            if m:
                qual, i0 = m
            elif i1 + 1 < n and toks[i1 + 1][2] in lex.after_first:
                m2 = _match_phrase_starting(toks, i1 + 1, lex.after, n)
                if m2:
                    qual, i1 = m2[0], m2[1]
        role = _role(toks, core0, i1, n, value, digits)
        out.append(_new_numtok((i0, i1, value, qual, role, words, core0)))
        nxt_free = i1 + 1
    return out


def find_numbers(folded: str) -> list[NumberMention]:
    """Every number mention (digits, words, vague quantities) in folded text, with qualifier and role."""
    toks = tokenize(folded)
    res = []
    for nt in scan_numbers(toks):
        s, e = toks[nt.i0][0], toks[nt.i1][1]
        res.append(NumberMention(s, e, folded[s:e], nt.value, nt.qualifier, nt.role, nt.words))
    return res


def parse_number_words(text: str) -> int | None:
    """Value of a number written in words ("خمسة وعشرون" -> 25), or of digits; None if not a number."""
    folded = normalize(text)
    toks = tokenize(folded)
    if not toks:
        return None
    if toks[0][2].isdigit() and len(toks) == 1:
        return int(toks[0][2])
    pw = _parse_words(toks, 0, len(toks))
    if pw is None or pw[1] != len(toks) - 1:
        return None
    return pw[0]


# The compiled build of this module (setup.py, Cython pure-Python mode), when built from this very source,
# replaces it for every importer (rasd.extract.common.compiled_twin).
_twin = compiled_twin(__name__, __file__)
if _twin is not None:
    sys.modules[__name__] = _twin

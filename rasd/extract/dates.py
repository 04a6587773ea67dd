"""Date mentions in folded Arabic news text, resolved to calendar dates.

One compiled regex (built once per process from ``rasd/data/dates.yaml``)
finds *tokens* in a single pass: numeric dates, day + month (+ year), month
(+ year), weekdays, relative days (اليوم/أمس/أمس الأول/غدا), parts of the day
(صباح/مساء/فجر/ليل), period phrases (خلال الأيام الماضية, الأسبوع الماضي) and
Hijri dates (recognised only so they are never read as Gregorian). Adjacent
tokens are then chained ("مساء" + "أمس" + "الخميس" + "14 من تشرين الأول") into one
mention and resolved against the publication date. Rules and their reasons:
``docs/dates.md``.
"""
from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from rasd.extract.common import compiled_twin, new_automaton

__all__ = ["DateMention", "find_dates", "load_lexicon"]


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    text: str
    date: dt.date  # first day of the period for week/month precision
    precision: str  # "day" | "week" | "month"
    kind: str  # "absolute" | "relative" | "weekday" | "period"
    year_explicit: bool


MIN_YEAR, MAX_YEAR = 1900, 2100

# Token ranks for chaining: منذ < part of day < اليوم/أمس < weekday < date.
_RANK = {"since": 0, "part": 1, "same": 2, "rel": 2, "wd": 3, "dm": 4, "num": 4, "hijri": 4, "mon": 4, "weekof": 4, "per": 4, "year": 9}
# What may stand between two chained tokens: spaces, commas, brackets, يوم, الموافق.
_GAP = re.compile(r'[\s،,()"\'\-:]*(?:(?:من\s+)?يوم\s*|الموافق\s*)?[\s،,()"\'\-:]*\Z')


# ---------------------------------------------------------------- lexicon / grammar


@lru_cache(maxsize=1)
def load_lexicon() -> dict:
    """The parsed ``rasd/data/dates.yaml``."""
    text = resources.files("rasd").joinpath("data/dates.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _forms(items) -> list[str]:
    return [i["form"] for i in items]


def _alt(forms) -> str:
    """Regex alternation of word forms as a character trie (Python's re tries plain
    alternatives one by one); any whitespace between words; longest form preferred."""
    trie: dict = {}
    for f in set(forms):
        node = trie
        for ch in " ".join(f.split()):
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node) -> str:
        alts = [(r"\s+" if ch == " " else re.escape(ch)) + emit(node[ch]) for ch in sorted(k for k in node if k)]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            return "(?:" + body + ")?"
        return body

    return "(?:" + emit(trie) + ")"


def _key(s: str) -> str:
    return " ".join(s.split())


# Clitics that attach to a date word ("وأمس", "والثلاثاء", "بالأمس", "وبالأمس") and the characters
# that may stand before a word (clean text has single spaces).
_CLITICS = ("", "و", "ف", "ب", "ل", "وب", "ول", "فب", "فل")
_BOUNDARY = " \n\t(\"'،,.:;؛-/|«»[]{}*•…!?؟"


class _Grammar:
    def __init__(self, lex: dict):
        self.month_of: dict[str, int] = {}
        self.ambiguous: set[str] = set()
        for m in lex["months"]:
            for f in m["forms"]:
                self.month_of[f["form"]] = m["month"]
                if f.get("ambiguous"):
                    self.ambiguous.add(f["form"])
        self.weekday_of = {f["form"]: w["weekday"] for w in lex["weekdays"] for f in w["forms"]}
        self.rel_offset = {r["form"]: r["offset"] for r in lex["relative_days"]}
        self.ordinal = {o["form"]: o["n"] for o in lex["ordinals"]}
        self.week_ordinal = {o["form"]: o["n"] for o in lex["week_ordinals"]}
        mods = lex["modifiers"]
        self.mod_kind = {f: k for k, items in mods.items() for f in _forms(items)}
        self.month_context = set(_forms(lex["month_context_before"]))
        self.part_forms = {f.split()[0] for f in _forms(lex["parts_of_day"])}

        MONTH = _alt(self.month_of)
        HIJRI = _alt(_forms(lex["hijri_months"]))
        WD = _alt(self.weekday_of)
        ORD = _alt(self.ordinal)
        WORD = _alt(self.week_ordinal)
        PAST_CUR_FUT = _alt(_forms(mods["past"]) + _forms(mods["current"]) + _forms(mods["future"]))
        YMOD = _alt(_forms(mods["past"]) + _forms(mods["current"]) + _forms(mods["future"]) + _forms(mods["same"]))
        PARTS = _alt(_forms(lex["parts_of_day"]))
        MPRE = _alt(_forms(lex["month_prefixes"]))
        rel_forms = [f for f in self.rel_offset if f != "اليوم"]
        today_block = _alt(_forms(lex["today_blockers_after"]) + list(self.ordinal))
        wd_block = "".join(f"(?<!{re.escape(b)} )" for b in _forms(lex["weekday_blockers_before"]))
        # Word start, allowing one or two attached clitics (و ف ب ل): "وأمس", "والثلاثاء", "بالأمس".
        W = r"(?:(?<!\w)|(?<=(?<!\w)[وفبل])|(?<=(?<!\w)[وف][بل]))"
        E = r"(?!\w)"
        YEAR4 = r"(?:19|20)\d\d"
        YEAR = YEAR4 + r"(?!\d)"

        def pair(n):  # a month name, optionally with its other-calendar name: "تشرين الاول/اكتوبر"
            return rf"(?P<{n}1>{MONTH}){E}(?:\s*[/\\(\-]\s*(?P<{n}2>{MONTH}){E}(?:\s*\))?)?"

        def ytail(n):  # "2022", "2022م", "، من العام 2019", "من العام الماضي"
            return (
                rf"(?:\s+(?P<{n}mod>{PAST_CUR_FUT}){E})?"
                rf"(?:[\s،,]*(?:من\s+)?(?:(?:العام|عام|سنه|السنه)\s+)?(?:(?:{PAST_CUR_FUT}|الجديد)\s+)?(?P<{n}y>{YEAR})(?:م{E})?"
                rf"|[\s،,]*من\s+(?:العام|عام|السنه)\s+(?P<{n}yrel>{YMOD}){E})?"
            )

        branches = [  # (name, regex), tried in this order at a trigger
            # 2022.10.20 / 2022-10-14 / 14/10/2022 / 05.02.2024 (same separator twice)
            ("num", rf"(?<![\d.,/\-])(?P<num>(?P<ny1>{YEAR4})(?P<ns1>[./\-])(?P<nm1>\d{{1,2}})(?P=ns1)(?P<nd1>\d{{1,2}})"
            rf"|(?P<nd2>\d{{1,2}})(?P<ns2>[./\-])(?P<nm2>\d{{1,2}})(?P=ns2)(?P<ny2>{YEAR4}))(?![\d]|[./\-]\d)"),
            # Hijri: "08 ربيع الاول 1438ه" -- swallowed, never read as Gregorian
            ("hijri", rf"(?<![\d.,/])(?P<hijri>(?:\d{{1,2}}\s*(?:من\s+)?)?{HIJRI}{E}(?:\s*\d{{3,4}}\s*ه?{E})?)"),
            # day + month (+ modifier/year): "14 من تشرين الاول", "الـ11 من ... 2019", "السابع عشر من شباط"
            ("dm", rf"(?<![\d.,/])(?P<dm>(?:(?P<d0>\d{{1,2}})\s*(?P<conj>و|-|الي{E}|حتي{E})\s*)?"
            rf"(?:(?:ال\s?)?(?P<dd>\d{{1,2}})(?!\d)\s*(?:من\s+)?|{W}(?P<dord>{ORD})\s+من\s+)"
            rf"(?:شهر\s+)?(?:{pair('dm')}|(?P<drelm>الشهر)\s+(?P<drelmod>{PAST_CUR_FUT}){E}|(?P<drelcur>الجاري|الحالي){E}){ytail('d')})"),
            # "الاسبوع الاول من العام الجديد 2023", "الاسبوع الاخير من تموز"
            ("weekof", rf"{W}(?P<weekof>الاسبوع\s+(?P<wko>{WORD})\s+من\s+(?:(?:شهر\s+)?{pair('wm')}{ytail('k')}"
            rf"|(?:العام|عام|السنه)\s+(?:(?:الجديد|الجاري|الحالي)\s+)?(?P<wky>{YEAR})))"),
            # period / relative phrases, from their core word; the preposition before them
            # (خلال/في/طيله/طوال, منذ/قبل + number) is picked up by _extend_back
            ("per", rf"{W}(?P<per>(?P<pdays>(?:ال)?ايام\s+(?:القليله\s+)?(?:الماضيه|الاخيره|المنصرمه|الفايته|السابقه){E})"
            rf"|(?P<plw>الاسبوع\s+(?:الماضي|المنصرم|الفايت|السابق){E})"
            rf"|(?P<ptw>(?:الاسبوع\s+(?:الجاري|الحالي)|هذا\s+الاسبوع){E})"
            rf"|(?P<plm>الشهر\s+(?:الماضي|المنصرم|الفايت|السابق){E})"
            rf"|(?P<ptm>(?:الشهر\s+(?:الجاري|الحالي)|هذا\s+الشهر){E})"
            rf"|(?P<pago>(?P<agou>ايام|يومين|اسبوع|اسبوعين){E}))"),
            ("since", rf"{W}(?P<since>منذ|اعتبارا\s+من|ابتداء\s+من){E}"),
            ("part", rf"{W}(?P<part>{PARTS}){E}(?:\s+(?:من\s+)?يوم{E})?"),
            # "في اليوم ذاته", "اليوم نفسه", "نفس اليوم": the day of the date mentioned just before
            ("same", rf"{W}(?P<same>اليوم\s+(?:ذاته|نفسه)|(?:نفس|ذات)\s+اليوم){E}"),
            # relative days; اليوم not before an ordinal/ذاته (اليوم الثاني, اليوم ذاته), nor "ال20" that is no date
            ("rel", rf"{W}(?:يوم\s+)?(?P<rel>{_alt(rel_forms)}|اليوم(?!\s+{today_block}{E})(?!\")"
            rf"(?!\s*ال\s?\d+(?!\d)(?!\s*(?:من\s+)?(?:شهر\s+)?{MONTH}{E}))){E}"),
            # "ليلة الخميس على الجمعة", "ليل الخميس - الجمعة": one night, dated to its first day
            ("wd", rf"{W}(?:يوم\s+)?{wd_block}(?P<wd>{WD}){E}(?!\s+عشر{E})"
            rf"(?:\s*(?:علي|الي|-|/)\s*(?P<wd2>{WD}){E})?(?:\s+(?P<wdmod>{PAST_CUR_FUT}){E})?"),
            # month without day: "تموز 2020", "ايلول الماضي", "مطلع شهر آب"
            ("mon", rf"{W}(?P<mon>(?:(?P<mpre>{MPRE})\s+)?(?:شهر\s+)?{pair('mm')}{ytail('m')})"),
            ("year", rf"(?<![\d.,/])(?P<year>{YEAR})"),
        ]

        # Each branch is tried only where one of its first words (or a digit run, "#") starts,
        # so a pass over an article costs a word scan plus a few anchored matches.
        def first(forms):
            return {f.split()[0] for f in forms}

        starts = {
            "num": {"#"},
            "hijri": {"#"} | first(_forms(lex["hijri_months"])),
            "dm": {"#"} | first(self.ordinal),
            "weekof": {"الاسبوع"},
            "per": set("ايام الايام الاسبوع هذا الشهر يومين اسبوع اسبوعين".split()),
            "since": {"منذ", "اعتبارا", "ابتداء"},
            "part": first(_forms(lex["parts_of_day"])),
            "same": {"اليوم", "نفس", "ذات"},
            "rel": {"يوم"} | first(self.rel_offset),
            "wd": {"يوم"} | set(self.weekday_of),
            "mon": {"شهر"} | first(_forms(lex["month_prefixes"])) | first(self.month_of),
            "year": {"#"},
        }
        compiled = [(name, re.compile(rx)) for name, rx in branches]
        self.dispatch: dict[str, tuple] = {}
        for word in set().union(*starts.values()):
            self.dispatch[word] = tuple((n, c.match) for n, c in compiled if word in starts[n])
        # Aho-Corasick over "<boundary><clitics><first word>" and single digits: finds every place
        # a branch may start in one C-level pass (a regex tried at every position is ~5x slower).
        self.ac = new_automaton()
        for word in self.dispatch:
            if word == "#":
                continue
            for clitic in _CLITICS:
                for b in _BOUNDARY:
                    key = b + clitic + word
                    self.ac.add_word(key, (word, 1 + len(clitic), len(key)))
        for d in "0123456789":
            self.ac.add_word(d, ("#", 0, 1))
        self.ac.make_automaton()


@lru_cache(maxsize=1)
def _grammar() -> _Grammar:
    return _Grammar(load_lexicon())


# ---------------------------------------------------------------- tokens


@dataclass
class _Tok:
    kind: str
    start: int
    end: int
    m: re.Match
    pre: str | None = None  # preposition before a period phrase (خلال, في, منذ, قبل ...)
    num: str | None = None  # "منذ 3 أيام": the number


# Before a period phrase: "خلال الأيام الماضية", "في الأسبوع الماضي"; "منذ 3 أيام", "قبل يومين".
_BACK_PREP = re.compile(r"(?:(?<=[^\w])|^)[وف]?(خلال|طيله|طوال|في)\s+\Z")
_AGO_WORDS = {"ثلاثه": 3, "اربعه": 4, "خمسه": 5, "سته": 6, "سبعه": 7, "ثمانيه": 8, "تسعه": 9, "عشره": 10}
_BACK_AGO = re.compile(r"(?:(?<=[^\w])|^)[وف]?(منذ|قبل)\s+(?:(\d{1,2}|" + "|".join(_AGO_WORDS) + r")\s+)?\Z")


def _triggers(folded: str, g: _Grammar) -> list[tuple[int, str]]:
    """(position, first word or "#"), in text order, where a branch may start."""
    y = " " + folded  # so that a word at the very start has a boundary before it
    n = len(y)
    out = []
    for end, (word, off, klen) in g.ac.iter(y):
        if word == "#":
            if not y[end - 1].isdigit():
                out.append((end - 1, "#"))
        elif end + 1 >= n or not y[end + 1].isalnum():
            out.append((end - klen + off, word))
    out.sort()
    return out


def _tokens(folded: str) -> list[_Tok]:
    g = _grammar()
    dispatch = g.dispatch
    out: list[_Tok] = []
    last = 0
    for pos, word in _triggers(folded, g):
        if word == "#":  # "الـ25" / "الـ 25" (tatweel already dropped) start before the digits
            start = pos
            if pos >= 2 and folded.startswith("ال", pos - 2) and (pos == 2 or not folded[pos - 3].isalnum()):
                start = pos - 2
            elif pos >= 3 and folded.startswith("ال ", pos - 3) and (pos == 3 or not folded[pos - 4].isalnum()):
                start = pos - 3
            if start >= last:
                pos = start
        if pos < last:
            continue
        for kind, match in dispatch[word]:
            m = match(folded, pos)
            if m is not None and m.end() > m.start():
                tok = _Tok(kind, m.start(), m.end(), m)
                if kind == "per" and not _extend_back(folded, tok):
                    continue
                while out and out[-1].start >= tok.start:  # "منذ" read before as a since-token
                    out.pop()
                out.append(tok)
                last = m.end()
                break
    return out


def _extend_back(folded: str, tok: _Tok) -> bool:
    """Pull the preposition before a period phrase into it; False if the phrase needs one and has none."""
    window_start = max(0, tok.start - 20)
    window = folded[window_start : tok.start]
    if tok.m.group("pago"):
        b = _BACK_AGO.search(window)
        if b is None or (b.start() == 0 and window_start > 0 and folded[window_start - 1].isalnum()):
            return False
        n = b.group(2)
        tok.pre, tok.num = b.group(1), (str(_AGO_WORDS[n]) if n in _AGO_WORDS else n)
    else:
        b = _BACK_PREP.search(window)
        if b is None or (b.start() == 0 and window_start > 0 and folded[window_start - 1].isalnum()):
            return True
        tok.pre = b.group(1)
    tok.start = window_start + b.start(1)
    return True


def _chains(folded: str, toks: list[_Tok]) -> list[list[_Tok]]:
    chains: list[list[_Tok]] = []
    cur: list[_Tok] = []
    for t in toks:
        if cur:
            last = cur[-1]
            gap = folded[last.end : t.start]
            ok = (
                _RANK[t.kind] > _RANK[last.kind]
                and t.kind != "year"
                and len(gap) <= 12
                and _GAP.match(gap) is not None
                and (t.kind not in ("mon", "per", "weekof") or all(c.kind == "since" for c in cur))
            )
            if ok:
                cur.append(t)
                continue
            chains.append(cur)
        cur = [t]
    if cur:
        chains.append(cur)
    return chains


# ---------------------------------------------------------------- date arithmetic


def _safe(y: int, m: int, d: int) -> dt.date | None:
    if not (MIN_YEAR <= y <= MAX_YEAR):
        return None
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _on_or_before(pub: dt.date, weekday: int, strict: bool = False) -> dt.date:
    back = (pub.weekday() - weekday) % 7
    if strict and back == 0:
        back = 7
    return pub - dt.timedelta(days=back)


def _after(pub: dt.date, weekday: int) -> dt.date:
    ahead = (weekday - pub.weekday()) % 7 or 7
    return pub + dt.timedelta(days=ahead)


def _yearless(m: int, d: int, pub: dt.date, mod: str | None) -> dt.date | None:
    """Year for a day-month without a year, from the publication date: the latest such day on or
    before publication (strictly before for الماضي); الجاري = this year; المقبل = the next one."""
    if mod == "current":
        return _safe(pub.year, m, d)
    if mod == "future":
        for y in range(pub.year, pub.year + 5):
            x = _safe(y, m, d)
            if x and x > pub:
                return x
        return None
    for y in range(pub.year, pub.year - 8, -1):  # 29 February: back to the last leap year
        x = _safe(y, m, d)
        if x and (x < pub if mod == "past" else x <= pub):
            return x
    return None


def weekday_year(m: int, d: int, weekday: int, ref: dt.date | None, years: list[int]) -> dt.date | None:
    """The date (m, d) in the year where it falls on `weekday`.

    An article is nearly always published within a couple of years of the latest year it
    mentions (M): the match in M..M+2 is taken first (within three years a day-month never falls
    on the same weekday twice). Otherwise, with `ref` (the ingest date), the latest match on or
    before it and not before M; without `ref`, nothing.
    """
    known = [y for y in years if MIN_YEAR <= y and (ref is None or y <= ref.year)]
    top = max(known) if known else None
    if top is not None:
        for y in range(top + 2, top - 1, -1):
            x = _safe(y, m, d)
            if x and x.weekday() == weekday and (ref is None or x <= ref):
                return x
    if ref is None:
        return None
    for y in range(ref.year, ref.year - 40, -1):
        x = _safe(y, m, d)
        if x and x <= ref and x.weekday() == weekday and (top is None or y >= top):
            return x
    return None


def _month_year(m: int, pub: dt.date, mod: str | None) -> int:
    if mod == "current":
        return pub.year
    if mod == "future":
        return pub.year if m > pub.month else pub.year + 1
    if mod == "past":
        return pub.year if m < pub.month else pub.year - 1
    return pub.year if m <= pub.month else pub.year - 1


# ---------------------------------------------------------------- resolution


@dataclass
class _Res:
    """A resolved chain, with the extra facts pubdate needs."""

    start: int
    end: int
    date: dt.date
    precision: str
    kind: str
    year_explicit: bool
    rel: int | None = None  # offset of اليوم/أمس/... in the chain
    weekday: int | None = None  # weekday named in the chain
    absolute: bool = False  # the chain carries a day + month
    year_from: str = ""  # "text" | "pub" | "weekday" | "context"


class _Ctx:
    def __init__(self, folded: str, toks: list[_Tok], pub: dt.date | None, ref: dt.date | None):
        self.folded, self.pub, self.ref = folded, pub, ref
        self.g = _grammar()
        self.toks = toks
        self._years: list[tuple[int, int]] | None = None

    @property
    def years(self) -> list[tuple[int, int]]:
        """(position, year) of every year written in the text (computed when first needed)."""
        if self._years is None:
            self._years = []
            for t in self.toks:
                gd = t.m.groupdict()
                for k in ("ny1", "ny2", "dy", "ky", "wky", "my", "year"):
                    if gd.get(k):
                        self._years.append((t.start, int(gd[k])))
                        break
        return self._years

    @property
    def all_years(self) -> list[int]:
        return sorted({y for _, y in self.years})

    def year_before(self, pos: int) -> int | None:
        """The year written last before `pos` ("من العام ذاته" refers to it)."""
        ys = [y for p, y in self.years if p < pos]
        return ys[-1] if ys else None

    def context_year(self, pos: int) -> int | None:
        """Year for a day-month without one when the publication date is unknown: the latest year
        written before it (history is recalled more than the future is announced), else in the text."""
        cap = self.ref.year if self.ref else MAX_YEAR
        ys = [y for p, y in self.years if p < pos and y <= cap] or [y for _, y in self.years if y <= cap]
        return max(ys) if ys else None


def _month(g: _Grammar, name: str | None) -> int | None:
    return g.month_of.get(_key(name)) if name else None


def _resolve(chain: list[_Tok], c: _Ctx) -> list[_Res]:
    g, pub = c.g, c.pub
    kinds = [t.kind for t in chain]
    anchor = chain[-1]
    if anchor.kind in ("since", "part", "year", "hijri") or "hijri" in kinds:
        return []
    start, end = chain[0].start, anchor.end
    since = "since" in kinds
    rel = wd = wmod = None
    for t in chain:
        if t.kind == "rel":
            rel = g.rel_offset[_key(t.m.group("rel"))]
        elif t.kind == "wd":
            wd = g.weekday_of[t.m.group("wd")]
            wmod = g.mod_kind.get(t.m.group("wdmod") or "")
    gd = anchor.m.groupdict()
    k = anchor.kind

    def out(date, precision, kind, yexp=False, s=start, e=end, absolute=False, year_from=""):
        if date is None:
            return []
        if since:  # "منذ الجمعة": a period from that start; "منذ صباح اليوم/أمس" stays a day
            kind = "period"
            short = precision == "day" and pub is not None and 0 <= (pub - date).days <= 1
            precision = "month" if precision == "month" else ("day" if short else "week")
        return [_Res(s, e, date, precision, kind, yexp, rel, wd, absolute, year_from)]

    if k == "num":
        y, mo, d = (gd["ny1"], gd["nm1"], gd["nd1"]) if gd["ny1"] else (gd["ny2"], gd["nm2"], gd["nd2"])
        return out(_safe(int(y), int(mo), int(d)), "day", "absolute", True, absolute=True, year_from="text")

    if k == "dm":
        d = int(gd["dd"]) if gd["dd"] else g.ordinal[_key(gd["dord"])]
        mod = g.mod_kind.get(gd["dmod"] or "")
        if gd["drelm"] or gd["drelcur"]:  # "14 من الشهر الجاري", "يوم 14 الجاري"
            if pub is None:
                return []
            relm = g.mod_kind.get(gd["drelmod"]) if gd["drelm"] else "current"
            first = pub.replace(day=1)
            if relm == "past":
                first = (first - dt.timedelta(days=1)).replace(day=1)
            elif relm == "future":
                first = (first + dt.timedelta(days=32)).replace(day=1)
            y, mo = first.year, first.month
            date, yexp, yfrom = _safe(y, mo, d), False, "pub"
        else:
            mo = _month(g, gd["dm1"])
            date, yexp, yfrom = None, False, ""
            if gd["dy"]:
                date, yexp, yfrom = _safe(int(gd["dy"]), mo, d), True, "text"
            elif gd["dyrel"]:
                yk = g.mod_kind.get(gd["dyrel"])
                if yk == "same":
                    y = c.year_before(anchor.start)
                else:
                    y = None if pub is None else pub.year + {"past": -1, "current": 0, "future": 1}[yk]
                date, yfrom = (_safe(y, mo, d) if y else None), "context"
            elif pub is not None:
                date, yfrom = _yearless(mo, d, pub, mod), "pub"
                if date and wd is not None and date.weekday() != wd and mod is None:
                    prev = _safe(date.year - 1, mo, d)
                    if prev and prev.weekday() == wd:
                        date = prev
            elif wd is not None:
                date, yfrom = weekday_year(mo, d, wd, c.ref, c.all_years), "weekday"
            else:
                y = c.context_year(anchor.start)
                date, yfrom = (_safe(y, mo, d) if y else None), "context"
        if date is None:
            return []
        d0 = gd["d0"]
        if d0:
            first = _safe(date.year, date.month, int(d0))
            if first is not None and first < date:
                if gd["conj"] == "و" and chain[0] is anchor:  # "14 و15 من تشرين الاول": two days, two mentions
                    s0, e0 = anchor.m.span("d0")
                    second = anchor.m.start("dd") if gd["dd"] else anchor.m.start("dord")
                    return [_Res(s0, e0, first, "day", "absolute", yexp, None, None, True, yfrom),
                            _Res(second, end, date, "day", "absolute", yexp, rel, wd, True, yfrom)]
                span = (date - first).days
                return out(first, "week" if span <= 7 else "month", "period", yexp, absolute=True, year_from=yfrom)
        return out(date, "day", "absolute", yexp, absolute=True, year_from=yfrom)

    if k == "mon":
        mo = _month(g, gd["mm1"])
        name = _key(gd["mm1"])
        mod = g.mod_kind.get(gd["mmod"] or "")
        paired = gd["mm2"] is not None
        y, yexp = None, False
        if gd["my"]:
            y, yexp = int(gd["my"]), True
        elif gd["myrel"]:
            yk = g.mod_kind.get(gd["myrel"])
            if yk == "same":
                y = c.year_before(anchor.start)
            elif pub is not None:
                y = pub.year + {"past": -1, "current": 0, "future": 1}[yk]
        if not (yexp or mod or gd["myrel"] or gd["mpre"] or paired or since):
            # bare month name: only after في/خلال/منذ..., and never an ambiguous form (آب, مارس)
            before = c.folded[max(0, anchor.start - 8) : anchor.start].split()
            if name in g.ambiguous or not before or before[-1] not in g.month_context:
                return []
        elif name in g.ambiguous and not (yexp or paired or (gd["mpre"] or "").startswith("شهر")):
            return []
        if y is None:
            if pub is None:
                return []
            y = _month_year(mo, pub, mod)
        return out(_safe(y, mo, 1), "month", "absolute" if yexp else "relative", yexp, year_from="text" if yexp else "pub")

    if k == "weekof":
        n = g.week_ordinal[_key(gd["wko"])]
        if gd["wky"]:
            y = int(gd["wky"])
            first = _safe(y, 1, 1) if n > 0 else _safe(y, 12, 25)
            if first and n > 1:
                first += dt.timedelta(days=7 * (n - 1))
            return out(first, "week", "period", True, year_from="text")
        mo = _month(g, gd["wm1"])
        y, yexp = None, False
        if gd["ky"]:
            y, yexp = int(gd["ky"]), True
        elif pub is not None:
            y = _month_year(mo, pub, g.mod_kind.get(gd["kmod"] or ""))
        if y is None:
            return []
        def week(y):
            if n > 0:
                return _safe(y, mo, 1 + 7 * (n - 1))
            return dt.date(y + (mo == 12), mo % 12 + 1, 1) - dt.timedelta(days=7)

        first = week(y)
        if not yexp and pub is not None and first and first > pub and not gd["kmod"]:
            first = week(y - 1)  # "الأسبوع الأخير من تموز" written in early July: last year's
        return out(first, "week", "period", yexp, year_from="text" if yexp else "pub")

    if pub is None:  # everything below is relative to the publication date
        return []

    if k == "per":
        pre = anchor.pre
        prep = pre in ("خلال", "طيله", "طوال", "في")
        if gd["pdays"]:
            return out(pub - dt.timedelta(days=7), "week", "period")
        if gd["plw"]:
            return out(pub - dt.timedelta(days=7), "week", "period" if prep else "relative")
        if gd["ptw"]:
            return out(pub - dt.timedelta(days=6), "week", "period" if prep else "relative")
        if gd["plm"]:
            first = (pub.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
            return out(first, "month", "period" if prep else "relative")
        if gd["ptm"]:
            return out(pub.replace(day=1), "month", "period" if prep else "relative")
        if gd["pago"]:
            unit, n = gd["agou"], anchor.num
            if unit == "يومين":
                days = 2
            elif unit == "اسبوع":
                days = 7 * (int(n) if n else 1)
            elif unit == "اسبوعين":
                days = 14
            else:
                days = int(n) if n else 7
            if days > 60:
                return []
            if pre == "قبل" and (n or unit != "ايام"):  # "قبل يومين/أسبوعين/6 أيام": that long ago
                return out(pub - dt.timedelta(days=days), "day" if unit not in ("اسبوع", "اسبوعين") else "week", "relative")
            return out(pub - dt.timedelta(days=days), "week", "period")
        return []

    if k == "rel":
        return out(pub + dt.timedelta(days=rel), "day", "relative")

    if k == "wd":
        if rel is not None:
            return out(pub + dt.timedelta(days=rel), "day", "relative")
        if wmod == "future":
            return out(_after(pub, wd), "day", "weekday")
        return out(_on_or_before(pub, wd, strict=wmod == "past"), "day", "weekday")
    return []


def _scan(folded: str, published_at: dt.date | None, ref: dt.date | None = None) -> list[_Res]:
    toks = _tokens(folded)
    ctx = _Ctx(folded, toks, published_at, ref)
    out: list[_Res] = []
    last_end = -1
    for chain in _chains(folded, toks):
        if chain[-1].kind == "same":  # anaphoric: the last day-precision date before it
            prev = next((r for r in reversed(out) if r.precision == "day"), None)
            if prev is None or (published_at and prev.date > published_at and not prev.year_explicit):
                continue
            out.append(_Res(chain[0].start, chain[-1].end, prev.date, "day", prev.kind, prev.year_explicit,
                            year_from=prev.year_from))
            last_end = chain[-1].end
            continue
        for r in _resolve(chain, ctx):
            if r.start >= last_end and r.end > r.start:
                out.append(r)
                last_end = r.end
    return out


def find_dates(folded: str, published_at: dt.date | None, ref: dt.date | None = None) -> list[DateMention]:
    """Date mentions in ``fold(cleaned_text)``, sorted and non-overlapping.

    Relative expressions (اليوم, أمس, الجمعة الماضية, الأسبوع الماضي ...) need
    ``published_at``; without it they are skipped. ``ref`` (e.g. the ingest date)
    is used only when ``published_at`` is unknown, to give a weekday + day-month
    without a year ("الجمعة 14 من تشرين الأول") the latest year, on or before
    ``ref``, in which that day is that weekday.
    """
    if isinstance(published_at, dt.datetime):
        published_at = published_at.date()
    return [
        DateMention(r.start, r.end, folded[r.start : r.end], r.date, r.precision, r.kind, r.year_explicit)
        for r in _scan(folded, published_at, ref)
    ]


# The compiled build of this module (setup.py, Cython pure-Python mode), when built from this very source,
# replaces it for every importer (rasd.extract.common.compiled_twin).
_twin = compiled_twin(__name__, __file__)
if _twin is not None:
    sys.modules[__name__] = _twin

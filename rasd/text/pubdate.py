"""Publication date of an article from its own text, when metadata lacks it.

Cues, strongest first (see docs/dates.md):

1. a labelled date near the top or at the end: "تاريخ النشر: الأحد 12 أغسطس 2018", " date 2024-02-11";
2. a dateline: a short line near the top, or among the last lines, that is mostly a
   date (and time, weekday, place, section name): "2022.10.20 | 17:50 دمشق",
   "الأربعاء 1 سبتمبر 2021 09:18 ص", "07/03/2022 07:49AM", "أخبار | 09 11 2023",
   "11.06.2022 13:20". Lines that also carry a Hijri date are a site's clock, not a dateline;
3. "today/yesterday + weekday + day-month" in the text ("اليوم، الثلاثاء 15 من آذار",
   "أمس الاثنين 11 آذار"): publication = that date (+1 for yesterday), the year being
   written or fixed by the weekday;

all giving basis "text". Weaker, basis "inferred": the text names today's weekday without a
date ("اليوم الثلاثاء", or "أمس الاثنين") and the latest full date written in its top or bottom
lines (a photo caption "15 من آذار 2022", an aggregator's "جلب بتاريخ …") falls on that weekday.
Otherwise ``(None, "unknown")``: nothing is guessed.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from rasd.extract.dates import _chains, _grammar, _scan, _tokens
from rasd.text.normalize import fold

__all__ = ["infer_published_at"]

HEAD_LINES = 8  # non-empty lines searched for a label or dateline at the top
TAIL_LINES = 3  # ... and at the end
MAX_DATELINE_CHARS = 90
MAX_DATELINE_WORDS = 4  # words left on a dateline once date, time, weekday and punctuation are gone


# Prepositions, conjunctions and reporting verbs: a line that has them besides its date is a
# sentence or caption, not a dateline ("دخلت قوات إلى المدينة مساء الجمعة 14 ...").
_PROSE_WORDS = frozenset("في الي من علي عن مع بعد قبل خلال منذ ان قال قالت افاد افادت اكد ذكر ذكرت و".split())


@lru_cache(maxsize=1)
def _patterns():
    g = _grammar()
    wd = "|".join(sorted(g.weekday_of, key=len, reverse=True))
    return {
        "label": re.compile(r"(?:تاريخ\s+النشر|تاريخ\s+نشر|نشر\s+(?:في|بتاريخ)|تم\s+النشر|(?<![a-z])(?:published(?:\s+on)?|date)(?![a-z]))\s*:?\s*"),
        # "09 11 2023": day, month, year separated by spaces (section datelines)
        "spaced": re.compile(r"(?<!\d)(\d{1,2})\s+(\d{1,2})\s+((?:19|20)\d\d)(?!\d)"),
        "time": re.compile(r"(?<!\d)\d{1,2}:\d{2}(?::\d{2})?\s*(?:am|pm|ص|م)?(?!\w)"),
        "weekday": re.compile(rf"(?:{wd})"),
        "caption": re.compile(r"\s*-"),  # (reversed text before the date) a dash just before it
        "caption_end": re.compile(r"\s*\("),  # and a bracketed source just after it
        "noise": re.compile(r"[\d|•·\-/.,،:;()\[\]_*#\"'|]+"),
    }


def _lines(folded: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in folded.split("\n"):
        if line.strip():
            out.append((pos, line))
        pos += len(line) + 1
    return out


def _valid(d: dt.date | None, ingest: dt.date) -> bool:
    return d is not None and dt.date(1990, 1, 1) <= d <= ingest


def _dateline(line: str, ingest: dt.date, labelled: bool) -> dt.date | None:
    """The date of `line` if the line is a dateline (or carries a label), else None."""
    p = _patterns()
    if not labelled and len(line.strip()) > MAX_DATELINE_CHARS:
        return None
    toks = _tokens(line)
    if any(t.kind == "hijri" for t in toks):
        return None  # a site clock ("الاثنين 18 رجب 1440هـ - 25 مارس 2019م")
    found: list[tuple[int, int, dt.date]] = []
    for r in _scan(line, None, ingest):
        if r.absolute and r.precision == "day" and (r.year_explicit or r.year_from == "weekday"):
            first = line[r.start : r.end].split()[0]
            if r.rel is not None or first in _grammar().part_forms:
                return None  # "مساء الجمعة 14 ..." / "اليوم ...": prose, not a dateline
            if not labelled and p["caption"].match(line[: r.start][::-1]) and p["caption_end"].match(line[r.end :]):
                return None  # photo caption: "... في المدينة- 15 من آذار 2022 (ناشطون)"
            found.append((r.start, r.end, r.date))
    if not found:
        for m in p["spaced"].finditer(line):
            try:
                found.append((m.start(), m.end(), dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))))
            except ValueError:
                pass
    if not found:
        return None
    if labelled:
        return found[0][2] if _valid(found[0][2], ingest) else None
    if len({f[2] for f in found}) > 1:
        return None
    rest = line
    for s, e, _ in sorted(found, reverse=True):
        rest = rest[:s] + " " + rest[e:]
    rest = p["time"].sub(" ", rest)
    rest = p["weekday"].sub(" ", rest)
    rest = p["noise"].sub(" ", rest)
    words = rest.split()
    if len(words) > MAX_DATELINE_WORDS or any(w in _PROSE_WORDS for w in words):
        return None
    d = found[0][2]
    return d if _valid(d, ingest) else None


def infer_published_at(cleaned_text: str, ingest_date: dt.date) -> tuple[dt.date | None, str]:
    """(publication date, basis) from the text: basis "text", "inferred", or (None, "unknown")."""
    if isinstance(ingest_date, dt.datetime):
        ingest_date = ingest_date.date()
    folded = fold(cleaned_text or "")
    lines = _lines(folded)
    if not lines:
        return None, "unknown"
    p = _patterns()
    head, tail = lines[:HEAD_LINES], lines[HEAD_LINES:][-TAIL_LINES:]

    # 1. labelled date near the top (or among the last lines)
    for _, line in head + tail:
        m = p["label"].search(line)
        if m:
            d = _dateline(line[m.end() :], ingest_date, labelled=True)
            if d:
                return d, "text"
    # 2. datelines: top first, then the last lines
    for _, line in head + tail:
        d = _dateline(line, ingest_date, labelled=False)
        if d:
            return d, "text"

    mentions = _scan(folded, None, ingest_date)
    # 3. "today/yesterday (weekday) day-month" anywhere: the first one
    for r in mentions:
        if r.rel is not None and r.rel <= 0 and r.absolute and r.precision == "day" and r.kind == "absolute":
            if r.year_explicit or r.year_from == "weekday":
                d = r.date - dt.timedelta(days=r.rel)
                if _valid(d, ingest_date):
                    return d, "text"
    # 4. inferred: today's weekday (from "اليوم الثلاثاء" / "أمس الخميس") agrees with the latest full
    #    date written in the page's top or bottom lines (a caption, a byline, an aggregator's note)
    today_wd = _today_weekday(folded)
    if today_wd is not None:
        edge = [(s, s + len(line)) for s, line in head + tail]
        full = [r.date for r in mentions
                if r.year_explicit and r.precision == "day" and _valid(r.date, ingest_date)
                and any(a <= r.start < b for a, b in edge)]
        if full and max(full).weekday() == today_wd:
            return max(full), "inferred"
    return None, "unknown"


def _today_weekday(folded: str) -> int | None:
    """Weekday of the publication day if the text names it consistently ("اليوم الجمعة", "أمس الخميس")."""
    g = _grammar()
    seen = set()
    toks = _tokens(folded)
    for chain in _chains(folded, toks):
        kinds = [t.kind for t in chain]
        if "rel" in kinds and "wd" in kinds and "dm" not in kinds:
            rel = next(t for t in chain if t.kind == "rel")
            wd = next(t for t in chain if t.kind == "wd")
            off = g.rel_offset[" ".join(rel.m.group("rel").split())]
            if off <= 0:
                seen.add((g.weekday_of[wd.m.group("wd")] - off) % 7)
    return seen.pop() if len(seen) == 1 else None

"""Golden-case runner for rasd.extract.dates.find_dates.

ctx: {"published_at": "YYYY-MM-DD" | null, "ref": "YYYY-MM-DD" (optional)}. `req` is cleaned
text (clean_chars output: no tatweel or diacritics) and may be unfolded: fold() is one-to-one,
so offsets into fold(req) slice req itself.
"""
from __future__ import annotations

import datetime as dt

from rasd.extract.dates import find_dates
from rasd.text.normalize import fold


def _date(s):
    return dt.date.fromisoformat(s) if s else None


def run(req: str, ctx: dict) -> list[dict]:
    out = []
    for m in find_dates(fold(req), _date(ctx.get("published_at")), ref=_date(ctx.get("ref"))):
        out.append({
            "text": req[m.start : m.end],
            "start": m.start,
            "end": m.end,
            "date": m.date.isoformat(),
            "precision": m.precision,
            "kind": m.kind,
            "year_explicit": m.year_explicit,
        })
    return out

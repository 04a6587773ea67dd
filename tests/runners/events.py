"""Golden-case runner for rasd.extract.events.Extractor.

`req` is cleaned text. ctx: "published_at" (ISO date), optional "title", "language".
Each event comes back with its type, date, place, figures and its evidence as start/end/text.
"""
from __future__ import annotations

import datetime as dt

from rasd.extract.events import Extractor


def run(req: str, ctx: dict) -> list[dict]:
    pub = ctx.get("published_at")
    article = {
        "article_id": "case", "doc_key": "case", "text": req, "outlet": None,
        "published_at": dt.date.fromisoformat(pub) if pub else None,
        "title": ctx.get("title"), "language": ctx.get("language", "ar"),
    }
    out = []
    for r in Extractor.load().extract(article):
        out.append({
            "event_type": r["event_type"], "sub_event_type": r["sub_event_type"],
            "event_date": r["event_date"].isoformat() if r["event_date"] else None,
            "date_precision": r["date_precision"], "location": r["location"], "admin1": r["admin1"],
            "geo_precision": r["geo_precision"],
            "fatalities": r["fatalities"], "fatalities_qualifier": r["fatalities_qualifier"],
            "wounded": r["wounded"], "detained": r["detained"],
            "start": r["evidence_start"], "end": r["evidence_end"], "text": r["evidence"],
        })
    return out

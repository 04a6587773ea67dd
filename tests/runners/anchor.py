"""Golden-case runner for rasd.anchor.anchor_undated (undated articles dated by corroboration).

`req` is the cleaned text of an article with no publication date. ctx: "dated" — a list of
{"text", "published_at"} of other, dated articles (their events are the evidence); "ingested" — the ingest
date (ISO). Returns one item per decision: published_at (ISO or null), reason ("anchored" or why not),
score; plus, when anchored, the article's events as "events": [[event_date, event_type, location, fatalities]].
An article whose text names no publication weekday gets no decision: [].
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa

from rasd.anchor import anchor_undated
from rasd.extract.events import Extractor
from rasd.schema import to_arrow
from rasd.settings import Settings


def run(req: str, ctx: dict) -> list[dict]:
    ex = Extractor.load()
    ingested = dt.datetime.fromisoformat(ctx.get("ingested", "2026-01-01") + "T00:00:00+00:00")
    events = []
    rows = [{"article_id": "undated", "doc_key": "undated", "text": req, "published_at": None, "status": "ok",
             "duplicate_of": None, "language": "ar", "ingested_at": ingested}]
    for n, d in enumerate(ctx.get("dated", [])):
        art = {"article_id": f"dated{n}", "doc_key": f"dated{n}", "text": d["text"], "language": "ar",
               "published_at": dt.date.fromisoformat(d["published_at"]), "status": "ok", "duplicate_of": None,
               "ingested_at": ingested}
        rows.append(art)
        events.extend(ex.extract(art))
    decisions, anchored = anchor_undated(pa.Table.from_pylist(rows), to_arrow("events", events), ex, Settings())
    out = []
    for d in decisions:
        item = {"published_at": d.published_at.isoformat() if d.published_at else None,
                "reason": d.reason if d.reason == "anchored" else d.reason.split(":")[0], "score": d.score}
        if d.published_at:
            item["events"] = [[e["event_date"].isoformat() if e["event_date"] else None, e["event_type"],
                               e["location"], e["fatalities"]] for e in anchored]
        out.append(item)
    return out

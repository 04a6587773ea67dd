"""Golden-case runner for rasd.extract.places.find_places.

ctx: {"hint_admin1": "Daraa" | "SY12" | null, "all": true to include locator mentions}. `req` is cleaned
text and may be unfolded: fold() is one-to-one, so offsets into fold(req) slice req itself.
Each item: text, start, end, place_id, name_en, place_type, admin1 (P-code), geo_precision, is_locator.
"""
from __future__ import annotations

from rasd.extract.places import Gazetteer, find_places
from rasd.text.normalize import fold


def run(req: str, ctx: dict) -> list[dict]:
    gaz = Gazetteer.load()
    out = []
    for m in find_places(fold(req), gaz, hint_admin1=ctx.get("hint_admin1")):
        out.append({
            "text": req[m.start:m.end], "start": m.start, "end": m.end,
            "place_id": m.place_id, "name_en": m.name_en, "place_type": m.place_type,
            "admin1": m.admin1_pcode, "geo_precision": m.geo_precision, "is_locator": m.is_locator,
        })
    return out

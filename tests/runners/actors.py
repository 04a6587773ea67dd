"""Golden-case runner for rasd.extract.actors.find_actors.

ctx: {"published_at": "YYYY-MM-DD" | null}. `req` is cleaned text and may be unfolded (fold() is one-to-one).
Each item: text, start, end, actor_id, name, inter.
"""
from __future__ import annotations

import datetime as dt

from rasd.extract.actors import ActorLexicon, find_actors
from rasd.text.normalize import fold


def run(req: str, ctx: dict) -> list[dict]:
    day = ctx.get("published_at")
    out = []
    for m in find_actors(fold(req), ActorLexicon.load(), dt.date.fromisoformat(day) if day else None):
        out.append({"text": req[m.start:m.end], "start": m.start, "end": m.end,
                    "actor_id": m.actor_id, "name": m.name, "inter": m.inter})
    return out

"""Golden-case runner for rasd.extract.casualties.find_casualties.

`req` is cleaned text (clean_chars output); the runner folds it (one-to-one, so offsets slice req).
ctx may give "start"/"end" to restrict the search to a window.
"""
from __future__ import annotations

from rasd.extract.casualties import find_casualties
from rasd.text.normalize import fold


def run(req: str, ctx: dict) -> list[dict]:
    out = []
    for m in find_casualties(fold(req), ctx.get("start", 0), ctx.get("end")):
        out.append({
            "kind": m.kind,
            "n": m.n,
            "qualifier": m.qualifier,
            "start": m.start,
            "end": m.end,
            "text": req[m.start : m.end],
            "cumulative": m.cumulative,
            "victims": m.victims,
            "combined_n": m.combined_n,
        })
    return out

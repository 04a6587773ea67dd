"""Anchor undated articles by corroboration with dated reports of the same places.

Some articles reach rasd with no publication date at all: no metadata, no dateline, only "اليوم" and
"أمس الجمعة". Their relative dates cannot be resolved, so the extractor emits no events for them. A coder would
date such a report by corroboration: "yesterday, Friday" puts the publication on a Saturday, and the dated
reports of the same town say which Saturday. This module does that, conservatively:

1. The text must name the publication day's weekday consistently ("اليوم الثلاثاء", "أمس الخميس" → Friday);
   otherwise the article stays undated.
2. The article is extracted twice, against two publication dates one week apart that fall on that weekday.
   Events whose dates move with the publication date are relative (an offset in days from it); the others
   carry their own dates and say nothing about the publication date.
3. Every dated day-level report of the same gazetteer place (from other articles) votes for the publication
   date that would put the relative event on its day: 1 for the same event type, 0.5 for another type; a
   week-precision relative event ("الأسبوع الماضي") votes for the dates whose week covers the report. Each
   relative event counts at most once per candidate date.
4. The best candidate (on a Saturday here, never after the ingest date) must score at least
   ``settings.anchor_min_score`` and beat the runner-up by ``settings.anchor_margin``; ties never anchor.

An anchored article gets ``published_at_basis = "corroboration"`` and is extracted against that date; the
decision and its score are logged. Documented in docs/resolution.md ("Undated articles").
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from rasd.extract.dates import _on_or_before
from rasd.text.normalize import fold
from rasd.text.pubdate import _today_weekday

BASIS = "corroboration"
SAME_TYPE, OTHER_TYPE = 1.0, 0.5  # votes of a corroborating report of the same / another event type


@dataclass(frozen=True)
class Decision:
    article_id: str
    doc_key: str
    published_at: dt.date | None
    score: float
    runner_up: float
    reason: str  # "anchored" or why not


def _relative_events(extractor, article: dict, weekday: int, ref: dt.date) -> list[dict]:
    """Events whose date follows the publication date, with ``offset`` (days) and ``span`` (1 or 7 days)."""
    p0 = _on_or_before(ref, weekday)
    p1 = p0 - dt.timedelta(days=7)
    first = extractor.extract({**article, "published_at": p0})
    second = {(e["evidence_start"], e["event_type"]): e for e in extractor.extract({**article, "published_at": p1})}
    out = []
    for e in first:
        other = second.get((e["evidence_start"], e["event_type"]))
        if other is None or e["event_date"] is None or other["event_date"] is None:
            continue
        if (e["event_date"] - other["event_date"]).days != 7 or not e.get("place_id"):
            continue  # a date of its own (or a coarse place): no evidence about the publication date
        span = {"day": 1, "week": 7}.get(e["date_precision"])
        if span:
            out.append({"offset": (e["event_date"] - p0).days, "span": span, "place_id": e["place_id"],
                        "event_type": e["event_type"]})
    return out


def _dated_index(events: pa.Table, place_ids: set[str]) -> dict[str, list[tuple[dt.date, str, str]]]:
    """Day-precision dated events at the given places: place_id -> [(date, event_type, article_id)]."""
    idx: dict[str, list] = defaultdict(list)
    if not place_ids or events.num_rows == 0:
        return idx
    cols = ["place_id", "event_date", "date_precision", "event_type", "article_id"]
    t = events.select(cols)
    mask = pc.is_in(t["place_id"], value_set=pa.array(sorted(place_ids), pa.string()))
    for r in t.filter(mask).to_pylist():
        if r["event_date"] is not None and r["date_precision"] == "day":
            idx[r["place_id"]].append((r["event_date"], r["event_type"], r["article_id"]))
    return idx


def _scores(rel: list[dict], idx, weekday: int, article_id: str, latest: dt.date) -> dict[dt.date, float]:
    scores: dict[dt.date, float] = defaultdict(float)
    for r in rel:
        best: dict[dt.date, float] = {}
        for day, etype, aid in idx.get(r["place_id"], ()):
            if aid == article_id:
                continue
            w = SAME_TYPE if etype == r["event_type"] else OTHER_TYPE
            # the publication dates p with p + offset <= day < p + offset + span, on the right weekday
            for k in range(r["span"]):
                p = day - dt.timedelta(days=r["offset"] + k)
                if p.weekday() == weekday and p <= latest and w > best.get(p, 0.0):
                    best[p] = w
        for p, w in best.items():
            scores[p] += w
    return scores


def anchor_undated(articles: pa.Table, events: pa.Table, extractor, settings, exclude=None,
                   today: dt.date | None = None) -> tuple[list[Decision], list[dict]]:
    """Decisions for the undated ok articles of ``articles`` (needs ``text``) and the events of those anchored.

    ``events`` are the run's extracted events (the dated evidence), less those of the articles in ``exclude``
    (ids of articles dated by an earlier anchoring, so that a re-run decides as the first run did). Articles
    whose text names no publication weekday are not considered (no decision is returned for them).
    """
    need = {"article_id", "text", "published_at", "status", "duplicate_of"}
    if articles.num_rows == 0 or not need <= set(articles.column_names):
        return [], []
    mask = pc.and_(pc.and_(pc.is_null(articles["published_at"]), pc.equal(articles["status"], "ok")),
                   pc.is_null(articles["duplicate_of"]))
    if "language" in articles.column_names:
        mask = pc.and_(mask, pc.equal(pc.fill_null(articles["language"], "ar"), "ar"))
    undated = articles.filter(mask)
    if undated.num_rows == 0:
        return [], []
    cols = [c for c in ("article_id", "doc_key", "text", "outlet", "title", "language", "ingested_at")
            if c in undated.column_names]
    today = today or dt.datetime.now(dt.timezone.utc).date()
    work = []
    for a in undated.select(cols).to_pylist():
        wd = _today_weekday(fold(a.get("text") or ""))
        if wd is None:
            continue
        ing = a.pop("ingested_at", None)
        ref = ing.date() if isinstance(ing, dt.datetime) else (ing or today)
        rel = _relative_events(extractor, a, wd, ref)
        work.append((a, wd, ref, rel))
    if not work:
        return [], []
    skip = set(exclude.to_pylist() if hasattr(exclude, "to_pylist") else (exclude or ()))
    if "published_at_basis" in articles.column_names:  # evidence: reports dated by their own metadata or text
        skip |= set(articles.filter(pc.equal(articles["published_at_basis"], BASIS))["article_id"].to_pylist())
    if skip:
        events = events.filter(pc.invert(pc.is_in(events["article_id"], value_set=pa.array(sorted(skip), pa.string()))))
    idx = _dated_index(events, {r["place_id"] for _, _, _, rel in work for r in rel})
    decisions, rows = [], []
    for a, wd, ref, rel in work:
        scores = _scores(rel, idx, wd, a["article_id"], ref)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        best = ranked[0] if ranked else (None, 0.0)
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if best[0] is None:
            reason = "no dated report of the same places on a matching day"
        elif best[1] < settings.anchor_min_score:
            reason = f"best date {best[0]} has score {best[1]} < {settings.anchor_min_score}"
        elif best[1] - second < settings.anchor_margin:
            reason = f"ambiguous: {best[0]} scores {best[1]}, runner-up {second}"
        else:
            reason = "anchored"
        date = best[0] if reason == "anchored" else None
        decisions.append(Decision(a["article_id"], a.get("doc_key") or "", date, best[1], second, reason))
        if date is not None:
            rows.extend(extractor.extract({**a, "published_at": date}))
    return decisions, rows

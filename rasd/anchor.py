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
from dataclasses import dataclass

import numpy as np
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


_EPOCH = dt.date(1970, 1, 1)  # date32 counts days from here; that day was a Thursday (weekday 3)


def _day(d: dt.date) -> int:
    return (d - _EPOCH).days


class _DatedIndex:
    """Day-precision dated reports at the given places, as numpy arrays sorted by (place, day, event type): one
    row per distinct (place, day, event type), with ``sole``, the code of the only article reporting it (an index
    into ``article_ids``; -1 for an article not in it), or -2 when several articles do. A report of the article
    being dated never votes for it; ``sole`` says whether anything is left once that article is set aside."""

    def __init__(self, events: pa.Table, place_ids: set[str], article_ids: list[str]):
        self.bounds: dict[str, tuple[int, int]] = {}
        self.types: dict[str | None, int] = {None: -1}
        empty = np.zeros(0, dtype=np.int64)
        self.day = self.type = self.sole = empty
        place_ids = {p for p in place_ids if p is not None}
        if not place_ids or events.num_rows == 0:
            return
        places = pa.array(sorted(place_ids), pa.string())
        t = events.select(["place_id", "event_date", "date_precision", "event_type", "article_id"])
        t = t.filter(pc.and_(pc.and_(pc.is_in(t["place_id"], value_set=places), pc.is_valid(t["event_date"])),
                             pc.equal(t["date_precision"], "day")))
        if not t.num_rows:
            return
        kinds = pc.unique(pc.drop_null(t["event_type"].combine_chunks()))
        self.types.update({k: i for i, k in enumerate(kinds.to_pylist())})

        def codes(col, value_set, missing):
            got = pc.index_in(col, value_set=value_set)
            return pc.fill_null(got, missing).to_numpy(zero_copy_only=False).astype(np.int64)

        place = codes(t["place_id"], places, -1)
        day = pc.fill_null(pc.cast(t["event_date"], pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        kind = codes(t["event_type"], kinds, -1)
        art = codes(t["article_id"], pa.array(article_ids, pa.string()), -1)
        order = np.lexsort((art, kind, day, place))
        place, day, kind, art = place[order], day[order], kind[order], art[order]
        new = np.ones(len(place), dtype=bool)
        new[1:] = (place[1:] != place[:-1]) | (day[1:] != day[:-1]) | (kind[1:] != kind[:-1])
        starts = np.flatnonzero(new)
        lo, hi = np.minimum.reduceat(art, starts), np.maximum.reduceat(art, starts)
        self.day, self.type, self.sole = day[starts], kind[starts], np.where(lo == hi, lo, -2)
        gplace = place[starts]
        firsts = np.flatnonzero(np.r_[True, gplace[1:] != gplace[:-1]])
        ends = np.r_[firsts[1:], len(gplace)]
        names = places.to_pylist()
        self.bounds = {names[gplace[i]]: (int(i), int(j)) for i, j in zip(firsts, ends)}


def _scores(rel: list[dict], idx: _DatedIndex, weekday: int, own: int, latest: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """(publication days as date32 values, their scores) for one undated article (``own``: its code in ``idx``):
    each relative event adds, for every candidate date, the best vote of a dated report (of another article) of
    its place that the event would fall on; the candidate must fall on ``weekday`` and not after ``latest``."""
    ps, ws = [], []
    last = _day(latest)
    for r in rel:
        span = idx.bounds.get(r["place_id"])
        if span is None:
            continue
        s, e = span
        day, sole = idx.day[s:e], idx.sole[s:e]
        w = np.where(idx.type[s:e] == idx.types.get(r["event_type"], -2), SAME_TYPE, OTHER_TYPE)
        base = day - r["offset"]
        k0 = (base + 3 - weekday) % 7  # the one shift k in 0..6 that puts p = base - k on the weekday
        cand_p, cand_w = [], []
        for k in range(0, r["span"], 7):  # p + offset <= day < p + offset + span
            p = base - k0 - k
            ok = (k0 + k < r["span"]) & (p <= last) & (sole != own)
            cand_p.append(p[ok])
            cand_w.append(w[ok])
        p, w = np.concatenate(cand_p), np.concatenate(cand_w)
        if not len(p):
            continue
        days, at = np.unique(p, return_inverse=True)
        best = np.zeros(len(days))
        np.maximum.at(best, at, w)  # each relative event counts once per candidate date: its best vote
        ps.append(days[best > 0])
        ws.append(best[best > 0])
    if not ps:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    days, at = np.unique(np.concatenate(ps), return_inverse=True)
    return days, np.bincount(at, weights=np.concatenate(ws), minlength=len(days))


REL_SCHEMA = pa.schema([("article_id", pa.string()), ("weekday", pa.int8()), ("ref", pa.date32()),
                        ("offset", pa.int32()), ("span", pa.int8()), ("place_id", pa.string()),
                        ("event_type", pa.string())])


def undated_candidates(articles: pa.Table) -> pa.Table:
    """The articles anchoring considers: ok, not duplicates, no publication date, Arabic (or unknown language)."""
    need = {"article_id", "text", "published_at", "status", "duplicate_of"}
    if articles.num_rows == 0 or not need <= set(articles.column_names):
        return articles.slice(0, 0)
    mask = pc.and_(pc.and_(pc.is_null(articles["published_at"]), pc.equal(articles["status"], "ok")),
                   pc.is_null(articles["duplicate_of"]))
    if "language" in articles.column_names:
        mask = pc.and_(mask, pc.equal(pc.fill_null(articles["language"], "ar"), "ar"))
    return articles.filter(mask)


def relative_table(undated: pa.Table, extractor, today: dt.date | None = None) -> pa.Table:
    """Steps 1-2 for each candidate (the costly part: two extractions each, done per batch, e.g. in
    ``extract_batch`` on a worker): one row per relative event, or one row with a null ``offset`` for an article
    whose text names its weekday but has no relative event. Articles naming no weekday get no row."""
    cols = [c for c in ("article_id", "doc_key", "text", "outlet", "title", "language", "ingested_at")
            if c in undated.column_names]
    today = today or dt.datetime.now(dt.timezone.utc).date()
    out: dict[str, list] = {f.name: [] for f in REL_SCHEMA}
    for a in undated.select(cols).to_pylist():
        wd = _today_weekday(fold(a.get("text") or ""))
        if wd is None:
            continue
        ing = a.pop("ingested_at", None)
        ref = ing.date() if isinstance(ing, dt.datetime) else (ing or today)
        rel = _relative_events(extractor, a, wd, ref) or [{"offset": None, "span": None, "place_id": None,
                                                           "event_type": None}]
        for r in rel:
            for k, v in (("article_id", a["article_id"]), ("weekday", wd), ("ref", ref), *r.items()):
                out[k].append(v)
    return pa.Table.from_pydict(out, schema=REL_SCHEMA)


def _work_items(rel: pa.Table) -> list[tuple[str, int, dt.date, list[dict]]]:
    """(article_id, weekday, ref, relative events) per article, in the table's order."""
    work: dict[str, tuple] = {}
    for r in rel.to_pylist():
        item = work.setdefault(r["article_id"], (r["article_id"], r["weekday"], r["ref"], []))
        if r["offset"] is not None:
            item[3].append({"offset": r["offset"], "span": r["span"], "place_id": r["place_id"],
                            "event_type": r["event_type"]})
    return list(work.values())


def anchor_undated(articles: pa.Table, events: pa.Table, extractor, settings, exclude=None,
                   today: dt.date | None = None, relative: pa.Table | None = None,
                   extract: bool = True) -> tuple[list[Decision], list[dict]]:
    """Decisions for the undated ok articles of ``articles`` (needs ``text``) and the events of those anchored.

    ``events`` are the run's extracted events (the dated evidence), less those of the articles in ``exclude``
    (ids of articles dated by an earlier anchoring, so that a re-run decides as the first run did). Articles
    whose text names no publication weekday are not considered (no decision is returned for them).
    ``relative``: ``relative_table`` of these articles when already computed (per batch); else computed here.
    Only the articles anchored are extracted again, so ``articles`` may be just their rows when ``relative`` is given;
    with ``extract=False`` they are not (the caller extracts them, e.g. as a batch on a worker) and no rows return.
    """
    if relative is None:
        relative = relative_table(undated_candidates(articles), extractor, today)
    work = _work_items(relative)
    if not work:
        return [], []
    skip = set(exclude.to_pylist() if hasattr(exclude, "to_pylist") else (exclude or ()))
    if "published_at_basis" in articles.column_names:  # evidence: reports dated by their own metadata or text
        skip |= set(articles.filter(pc.equal(articles["published_at_basis"], BASIS))["article_id"].to_pylist())
    if skip:
        events = events.filter(pc.invert(pc.is_in(events["article_id"], value_set=pa.array(sorted(skip), pa.string()))))
    ids = [aid for aid, _, _, _ in work]
    idx = _DatedIndex(events, {r["place_id"] for _, _, _, rel in work for r in rel}, ids)
    decisions, dates = [], {}
    for own, (aid, wd, ref, rel) in enumerate(work):
        days, scores = _scores(rel, idx, wd, own, ref)
        ranked = np.lexsort((days, -scores))[:2]  # highest score first, then the earliest date
        best = (_EPOCH + dt.timedelta(days=int(days[ranked[0]])), float(scores[ranked[0]])) if len(ranked) else (None, 0.0)
        second = float(scores[ranked[1]]) if len(ranked) > 1 else 0.0
        if best[0] is None:
            reason = "no dated report of the same places on a matching day"
        elif best[1] < settings.anchor_min_score:
            reason = f"best date {best[0]} has score {best[1]} < {settings.anchor_min_score}"
        elif best[1] - second < settings.anchor_margin:
            reason = f"ambiguous: {best[0]} scores {best[1]}, runner-up {second}"
        else:
            reason = "anchored"
        date = best[0] if reason == "anchored" else None
        decisions.append(Decision(aid, "", date, best[1], second, reason))
        if date is not None:
            dates[aid] = date
    rows = []
    if dates and extract:
        cols = [c for c in ("article_id", "doc_key", "text", "outlet", "title", "language") if c in articles.column_names]
        sub = articles.filter(pc.is_in(articles["article_id"], value_set=pa.array(sorted(dates), pa.string())))
        arts = {a["article_id"]: a for a in sub.select(cols).to_pylist()}
        for d in decisions:
            if d.published_at is not None:
                rows.extend(extractor.extract({**arts[d.article_id], "published_at": d.published_at}))
    keys = {}
    if "doc_key" in articles.column_names:
        ids = {d.article_id for d in decisions}
        sub = articles.filter(pc.is_in(articles["article_id"], value_set=pa.array(sorted(ids), pa.string())))
        keys = dict(zip(sub["article_id"].to_pylist(), sub["doc_key"].to_pylist()))
    decisions = [Decision(d.article_id, keys.get(d.article_id) or "", d.published_at, d.score, d.runner_up, d.reason)
                 for d in decisions]
    return decisions, rows

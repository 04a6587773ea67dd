"""Anchoring's scoring (rasd/anchor.py) in numpy equals the rule as written: a loop over every dated report."""
from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import pyarrow as pa

from rasd import anchor as A
from rasd.schema import to_arrow
from rasd.settings import Settings


def _loop_scores(rel, events, weekday, article_id, latest):
    """The scoring rule spelled out (the pre-numpy implementation): every dated day-level report of the place
    votes for the publication dates that put the relative event on its day; best vote per event and date."""
    idx = defaultdict(list)
    for r in events:
        if r["event_date"] is not None and r["date_precision"] == "day" and r["place_id"] is not None:
            idx[r["place_id"]].append((r["event_date"], r["event_type"], r["article_id"]))
    scores = defaultdict(float)
    for r in rel:
        best = {}
        for day, etype, aid in idx.get(r["place_id"], ()):
            if aid == article_id:
                continue
            w = A.SAME_TYPE if etype == r["event_type"] else A.OTHER_TYPE
            for k in range(r["span"]):
                p = day - dt.timedelta(days=r["offset"] + k)
                if p.weekday() == weekday and p <= latest and w > best.get(p, 0.0):
                    best[p] = w
        for p, w in best.items():
            scores[p] += w
    return dict(scores)


def _random_case(rng: random.Random, n_events: int):
    places = [f"p{i}" for i in range(4)] + [None]
    kinds = ["Battles", "Explosions", None]
    start = dt.date(2024, 1, 1)
    events = []
    for i in range(n_events):
        events.append({"event_id": f"e{i}", "article_id": rng.choice(["u0", "u1", "u2", "x1", "x2", "x3"]),
                       "place_id": rng.choice(places), "event_type": rng.choice(kinds),
                       "event_date": rng.choice([None, start + dt.timedelta(days=rng.randrange(60))]),
                       "date_precision": rng.choice(["day", "day", "day", "week", "month"])})
    rel = [{"offset": rng.randrange(-8, 2), "span": rng.choice([1, 1, 7, 8]), "place_id": rng.choice(places),
            "event_type": rng.choice(kinds + ["Protests"])} for _ in range(rng.randrange(1, 5))]
    return events, rel


def test_numpy_scores_equal_the_loop_over_reports():
    rng = random.Random(5)
    checked = 0
    for _ in range(300):
        events, rel = _random_case(rng, rng.randrange(0, 80))
        table = to_arrow("events", events) if events else to_arrow("events", [])
        ids = ["u0", "u1", "u2"]
        idx = A._DatedIndex(table, {r["place_id"] for r in rel}, ids)
        for own, aid in enumerate(ids):
            weekday = rng.randrange(7)
            latest = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(20, 70))
            days, scores = A._scores(rel, idx, weekday, own, latest)
            got = {A._EPOCH + dt.timedelta(days=int(d)): float(s) for d, s in zip(days, scores)}
            want = _loop_scores(rel, events, weekday, aid, latest)
            assert got == want
            checked += bool(want)
    assert checked > 100  # most cases have votes


def test_anchor_undated_picks_the_best_date_and_reports_ties():
    """Two reports of Nawa on Thursday 2024-03-07 vote for a publication on Friday 2024-03-08 ("yesterday,
    Thursday"); a report of its own (excluded) or of another week does not."""
    rel = pa.Table.from_pylist([
        {"article_id": "u", "weekday": 4, "ref": dt.date(2024, 3, 20), "offset": -1, "span": 1, "place_id": "nawa",
         "event_type": "Battles"}], schema=A.REL_SCHEMA)
    ev = [{"event_id": f"e{i}", "article_id": a, "place_id": "nawa", "event_type": t, "event_date": d,
           "date_precision": "day"}
          for i, (a, t, d) in enumerate([("x", "Battles", dt.date(2024, 3, 7)), ("y", "Explosions", dt.date(2024, 3, 7)),
                                         ("u", "Battles", dt.date(2024, 2, 29)), ("z", "Battles", dt.date(2024, 2, 29)),
                                         ("z", "Battles", dt.date(2024, 3, 28))])]
    arts = pa.table({"article_id": ["u"], "doc_key": ["ku"]})
    decisions, _ = A.anchor_undated(arts, to_arrow("events", ev), None, Settings(), relative=rel, extract=False)
    (d,) = decisions
    # 03-08 gets 1.0 (x, same type; y's 0.5 is not added: one vote per relative event and date), 03-01 gets 1.0
    # from z only (u's own report does not vote), 03-29 is after the ingest date: a tie, so no anchoring
    assert (d.score, d.runner_up, d.published_at, d.doc_key) == (1.0, 1.0, None, "ku")
    assert d.reason == "ambiguous: 2024-03-01 scores 1.0, runner-up 1.0"
    decisions, _ = A.anchor_undated(arts, to_arrow("events", ev[:3]), None, Settings(), relative=rel, extract=False)
    assert decisions[0].published_at == dt.date(2024, 3, 8) and decisions[0].score == 1.0

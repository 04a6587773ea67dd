"""collect_events: merging the new events into the sorted cache gives what sorting everything gives (bucket sort),
with corrections applied in place; the cache is written sorted and marked so."""
from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rasd import pipeline as P
from rasd.schema import TABLES, to_arrow
from rasd.settings import load_settings
from rasd.warehouse import Layout

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
CORRECTIONS = """
corrections:
  - event_id: e0007
    field: fatalities
    value: 4
    reason: follow-up report
    analyst: rk
    date: 2024-06-12
  - event_id: n0003
    field: event_type
    value: Protests
    reason: misread
    analyst: rk
    date: 2024-06-12
"""


def _events(prefix: str, n: int, articles: list[str], rng: random.Random) -> list[dict]:
    # few articles and few offsets: many ties on (article_id, evidence_start), which keep the order read
    return [dict(event_id=f"{prefix}{i:04d}", article_id=rng.choice(articles), doc_key="d", event_type="Battles",
                 sub_event_type="Armed clash", event_date=dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(90)),
                 date_precision="day", evidence_start=rng.choice([0, 5, 9]), evidence_end=12, confidence=0.9,
                 fatalities=rng.randrange(5), evidence=f"x{i}")
            for i in range(n)]


def _articles(ids: list[str], bad: set[str]) -> pa.Table:
    schema = TABLES["articles"].arrow_schema.append(pa.field("text", pa.string()))
    rows = [dict(article_id=a, doc_key=a, source_path=f"{a}.txt", published_at=dt.date(2024, 1, 1),
                 published_at_basis="metadata", language="ar", n_chars=1, content_hash=a,
                 status="quarantined" if a in bad else "ok", ingested_at=T0, text="t") for a in ids]
    return pa.Table.from_pylist(rows, schema=schema)


def _warehouse(tmp: Path, cache: pa.Table, sorted_cache: bool, n: int) -> P.RunContext:
    """A current publication whose _cache holds ``cache``, and a run folder with one new extract batch."""
    wh = tmp / f"wh-{sorted_cache}-{n}"
    pub = wh / "publications" / "20240501T000000Z-aaaaaa"
    (pub / "_cache").mkdir(parents=True)
    meta = dict([P._SORTED]) if sorted_cache else None
    pq.write_table(cache.replace_schema_metadata(meta), pub / "_cache" / P.EXTRACTED)
    os.symlink(os.path.relpath(pub, wh), wh / "current")
    work = Layout(wh).runs / f"20240502T000000Z-{n:06d}"
    work.mkdir(parents=True)
    return work


@pytest.mark.parametrize("with_corrections", [False, True])
def test_merging_into_the_sorted_cache_equals_sorting_everything(tmp_path, monkeypatch, with_corrections):
    rng = random.Random(3)
    ids = [f"{c}{k}" for c in "0a5f" for k in range(3)]  # ids starting with 4 characters: 4 sort buckets
    prev = to_arrow("events", _events("e", 400, ids[:9], rng))
    new = to_arrow("events", _events("n", 60, ids, rng))
    articles = _articles(ids, bad={"a1"})  # the events of a1 are left out
    settings = load_settings(workers=1)
    if with_corrections:
        path = tmp_path / "corrections.yaml"
        path.write_text(CORRECTIONS, encoding="utf-8")
        settings = load_settings(workers=1, corrections=path)
    # the previous run's cache as the bucket sort wrote it: sorted, its ties in the order they were read
    p_sorted = P._with_pos(prev, 0).sort_by(P._ORDER).drop_columns(["_pos"])
    outs = []
    for sorted_cache, merge_rows in ((True, 10_000), (True, 0), (False, 10_000)):
        monkeypatch.setattr(P, "_MERGE_ROWS", merge_rows)
        monkeypatch.setattr(P, "_CHUNK_ROWS", 64)  # many chunks: new events wait across chunk ends
        work = _warehouse(tmp_path, p_sorted if sorted_cache else prev, sorted_cache, len(outs))
        pq.write_table(articles, work / "articles.parquet")
        pq.write_table(new, work / "events-00000.parquet")
        ctx = P.RunContext(work.name, settings, tmp_path, work.parent.parent, work, T0)
        out = P.collect_events(ctx, [work / "events-00000.parquet"], work / "articles.parquet")
        outs.append((pq.read_table(out).replace_schema_metadata(None), pq.read_table(work / P.EXTRACTED)))
    (m_ev, m_cache), (b_ev, b_cache), (u_ev, _) = outs
    assert m_ev.equals(b_ev) and m_ev.equals(u_ev)
    assert P._SORTED[0] in m_cache.schema.metadata and m_cache.replace_schema_metadata(None).equals(
        b_cache.replace_schema_metadata(None))
    # what the whole-table sort gives: ok articles only, previous events first on ties
    want = pa.concat_tables([prev, new])
    want = P._with_pos(want.filter(pa.compute.not_equal(want["article_id"], "a1")), 0).sort_by(P._ORDER)
    assert m_ev["event_id"].to_pylist() == want["event_id"].to_pylist()
    fixed = {r["event_id"]: r for r in m_ev.to_pylist() if r["correction"]}
    cached = {r["event_id"]: r for r in m_cache.to_pylist()}
    if with_corrections:
        assert fixed["e0007"]["fatalities"] == 4 and fixed["n0003"]["event_type"] == "Protests"
        assert cached["e0007"]["correction"] is None  # the cache keeps events as extracted
        assert os.stat(Path(out)).st_ino != os.stat(work / P.EXTRACTED).st_ino
    else:
        assert not fixed and os.stat(Path(out)).st_ino == os.stat(work / P.EXTRACTED).st_ino  # one file

"""Incremental publication: files that did not change are linked from the current publication, rasd.duckdb is
updated in a copy, and the result equals a full rebuild; the current publication is never modified."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rasd import pipeline as P
from rasd import publish
from rasd.schema import TABLES, to_arrow
from rasd.settings import load_settings
from rasd.warehouse import DB_NAME, PUBLISHED_TABLES, Layout

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
T0 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)


def _article(i: int, published: dt.date | None, status: str = "ok") -> dict:
    return dict(article_id=f"a{i:03d}", doc_key=f"d{i}", source_path=f"{i}.txt", published_at=published,
                published_at_basis="metadata" if published else "unknown", language="ar", n_chars=20,
                content_hash=f"h{i}", status=status, ingested_at=T0, text=f"نص المقال {i}")


def _event(i: int, article: str, day: dt.date | None, killed: int = 2) -> dict:
    return dict(event_id=f"e{i:03d}", article_id=article, doc_key=article, event_date=day, date_precision="day",
                event_type="Battles", sub_event_type="Armed clash", admin1="Daraa", admin2="Daraa", fatalities=killed,
                fatalities_qualifier="exact", evidence="قتل", evidence_start=0, evidence_end=3, confidence=0.9)


def _incident(i: int, day: dt.date | None, killed: int = 2) -> dict:
    return dict(incident_id=f"i{i:03d}", event_date=day, date_precision="day", event_type="Battles",
                sub_event_type="Armed clash", admin1="Daraa", admin2="Daraa", fatalities_low=killed,
                fatalities_best=killed, fatalities_high=killed, n_reports=1, n_outlets=1, conflicting=False)


def _days(n: int, start=dt.date(2024, 1, 3)) -> list[dt.date | None]:
    """n dates over four months, every seventh undated."""
    return [None if i % 7 == 6 else start + dt.timedelta(days=9 * i % 120) for i in range(n)]


def _work(ctx: P.RunContext, n: int, changed_incident: int | None = None, quarantined: int = 0) -> None:
    """The work files aggregate reads, for articles 0..n-1 (one event and one incident each)."""
    days = _days(n)
    arts = [_article(i, d) for i, d in enumerate(days)]
    schema = TABLES["articles"].arrow_schema.append(pa.field("text", pa.string()))
    pq.write_table(pa.Table.from_pylist(arts, schema=schema), ctx.work / "articles.parquet")
    pq.write_table(to_arrow("events", [_event(i, f"a{i:03d}", d) for i, d in enumerate(days)]), ctx.work / "events.valid.parquet")
    incs = [_incident(i, d, killed=9 if i == changed_incident else 2) for i, d in enumerate(days)]
    pq.write_table(to_arrow("incidents", incs), ctx.work / "incidents.parquet")
    reps = [dict(incident_id=f"i{i:03d}", event_id=f"e{i:03d}", article_id=f"a{i:03d}", role="member") for i in range(n)]
    pq.write_table(to_arrow("incident_reports", reps), ctx.work / "incident_reports.parquet")
    q = [dict(table_name="events", row_id=f"x{i}", article_id=None, expectation="events.e", severity="critical")
         for i in range(quarantined)]
    pq.write_table(to_arrow("quarantine", q), ctx.work / "quarantine.events.parquet")


def _ctx(wh: Path, run_id: str) -> P.RunContext:
    work = Layout(wh).runs / run_id
    work.mkdir(parents=True)
    return P.RunContext(run_id, load_settings(), wh, wh, work, T0)


def _aggregate(ctx: P.RunContext, incremental: bool = True) -> dict:
    w = ctx.work
    return P.aggregate(ctx, w / "articles.parquet", w / "events.valid.parquet",
                       {"incidents": str(w / "incidents.parquet"), "incident_reports": str(w / "incident_reports.parquet")},
                       [w / "quarantine.events.parquet"], incremental=incremental)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _db_rows(db: Path) -> dict[str, list]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute("select table_name from information_schema.tables order by 1").fetchall()]
        return {n: con.execute(f'select * from "{n}" order by all').fetchall() for n in names}
    finally:
        con.close()


def _same_publication(a: Path, b: Path) -> None:
    for name in PUBLISHED_TABLES:
        fa, fb = sorted(p.name for p in (a / name).glob("*.parquet")), sorted(p.name for p in (b / name).glob("*.parquet"))
        assert fa == fb, name
        for f in fa:
            assert pq.read_table(a / name / f).equals(pq.read_table(b / name / f)), (name, f)
    assert _db_rows(a / DB_NAME) == _db_rows(b / DB_NAME)


@pytest.fixture()
def published(tmp_path):
    """A warehouse whose current publication holds 40 articles (aggregate + publish, no gate)."""
    wh = tmp_path / "wh"
    ctx = _ctx(wh, "20240501T000000Z-aaaaaa")
    _work(ctx, 40)
    agg = _aggregate(ctx)
    P.publish(ctx, Path(agg["staging"]), {})
    return wh


def test_tables_are_split_by_month_and_the_database_holds_the_same_rows(published):
    pub = Layout(published).current_publication()
    names = sorted(p.stem for p in (pub / "events").glob("*.parquet"))
    assert names == ["2024-01", "2024-02", "2024-03", "2024-04", "undated"]
    assert sorted(p.stem for p in (pub / "weekly_incidents").glob("*.parquet")) == ["all"]
    for f in (pub / "events").glob("2024-*.parquet"):
        months = {d.strftime("%Y-%m") for d in pq.read_table(f)["event_date"].to_pylist()}
        assert months == {f.stem}
    db = _db_rows(pub / DB_NAME)
    for name in PUBLISHED_TABLES:
        assert len(db[name]) == pq.ParquetDataset(list((pub / name).glob("*.parquet"))).read().num_rows, name


def test_an_incremental_publication_equals_a_full_rebuild(published):
    wh = published
    prev = Layout(wh).current_publication()
    before = _digest(prev)
    # 6 new articles (into existing months and a new one: May) and one older incident whose figure changed
    inc = _ctx(wh, "20240502T000000Z-bbbbbb")
    _work(inc, 46, changed_incident=3, quarantined=1)
    agg = _aggregate(inc)
    full = _ctx(wh, "20240502T000000Z-cccccc")
    for f in inc.work.glob("*.parquet"):
        shutil.copy2(f, full.work / f.name)
    ref = _aggregate(full, incremental=False)
    _same_publication(Path(agg["staging"]), Path(ref["staging"]))
    # only the files with new or changed rows were written; the others are the previous files (hard links)
    written = json.loads((inc.work / P.WRITTEN).read_text())["written"]
    assert written["events"] and set(written["events"]) < {"2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "undated"}
    staged = Path(agg["staging"])
    for name in ("articles", "events", "incidents"):
        for f in (staged / name).glob("*.parquet"):
            linked = f.stat().st_ino == (prev / name / f.name).stat().st_ino if (prev / name / f.name).exists() else False
            assert linked == (f.stem not in written[name]), (name, f.name)
    assert _digest(prev) == before  # the current publication was not touched
    P.publish(inc, staged, {})
    assert _digest(prev) == before  # nor by the swap


def test_the_database_is_updated_then_rebuilt_once_updates_have_grown_it(published, monkeypatch):
    ctx = _ctx(published, "20240502T000000Z-gggggg")
    _work(ctx, 44)
    assert _aggregate(ctx)["database"] == "updated"
    monkeypatch.setattr(P, "DB_REBUILD_GROWTH", 0.5)  # any file is now "grown": built whole again
    ctx = _ctx(published, "20240502T000000Z-hhhhhh")
    _work(ctx, 44)
    agg = _aggregate(ctx)
    assert agg["database"] == "built" and len(_db_rows(Path(agg["staging"]) / DB_NAME)["events"]) == 44


def test_a_failed_database_update_leaves_the_current_publication_as_it_was(published, monkeypatch):
    wh = published
    prev = Layout(wh).current_publication()
    before = _digest(prev)
    ctx = _ctx(wh, "20240502T000000Z-dddddd")
    _work(ctx, 45)

    def broken(con, sql_dir, create):
        raise duckdb.IOException("disk full (simulated)")

    monkeypatch.setattr(publish, "_sql_outputs", broken)
    with pytest.raises(duckdb.IOException):
        _aggregate(ctx)
    assert _digest(prev) == before and Layout(wh).current_publication() == prev
    assert not (ctx.staging / DB_NAME).exists()


def test_a_database_that_does_not_match_its_files_is_rebuilt(published):
    """The previous DuckDB file lost rows (edited by hand): the update's row counts differ, so it is rebuilt whole."""
    wh = published
    prev = Layout(wh).current_publication()
    db = prev / DB_NAME
    con = duckdb.connect(str(db))
    con.execute("delete from events where event_id = 'e001'")
    con.close()
    ctx = _ctx(wh, "20240502T000000Z-eeeeee")
    _work(ctx, 41)
    agg = _aggregate(ctx)
    rows = _db_rows(Path(agg["staging"]) / DB_NAME)
    assert len(rows["events"]) == 41 and any(r[0] == "e001" for r in rows["events"])


# ---------------------------------------------------------------- through the pipeline (GX gate included)


@pytest.fixture(scope="module")
def sample_wh(tmp_path_factory):
    wh = tmp_path_factory.mktemp("pub") / "wh"
    P.run_local(load_settings(), SAMPLE, wh, log=lambda *a: None)
    return wh


FUTURE_ARTICLE = "قتل شاب برصاص مجهولين في مدينة نوى بريف درعا الغربي، مساء الأحد 16 من تشرين الأول 2022.\n"


def test_an_incremental_run_quarantines_a_bad_new_article_and_matches_a_rebuild(sample_wh, tmp_path):
    wh = tmp_path / "wh"
    shutil.copytree(sample_wh, wh, symlinks=True)
    inp = tmp_path / "in"
    shutil.copytree(SAMPLE, inp)
    (inp / "future.txt").write_text(FUTURE_ARTICLE, encoding="utf-8")
    (inp / "future.json").write_text(json.dumps({"id": "future", "published_at": "2099-03-01", "outlet": "X"}),
                                     encoding="utf-8")
    summary = P.run_local(load_settings(), inp, wh, log=lambda *a: None)
    assert summary["articles_new"] == 1 and summary["gate"] == "passed"
    pub = Layout(wh).current_publication()
    con = duckdb.connect(str(pub / DB_NAME), read_only=True)
    status, reason = con.execute("select status, quarantine_reason from articles where doc_key = 'future'").fetchone()
    assert status == "quarantined" and "published_at_not_in_future" in reason
    assert con.execute("select count(*) from events e join articles a using (article_id) where a.doc_key = 'future'").fetchone()[0] == 0
    con.close()
    # the published (incrementally updated) result equals a full rebuild from the same run's work files
    work = Layout(wh).runs / pub.name
    full = P.RunContext("99990101T000000Z-ffffff", load_settings(), inp, wh, work, T0)
    ref = P.aggregate(full, work / "articles.parquet", work / "events.valid.parquet",
                      {"incidents": str(work / "incidents.parquet"), "incident_reports": str(work / "incident_reports.parquet")},
                      [work / "quarantine.events.parquet", work / "quarantine.incidents.parquet"], incremental=False)
    _same_publication(pub, Path(ref["staging"]))


def test_a_table_level_failure_on_an_incremental_run_blocks_and_keeps_the_publication(sample_wh, tmp_path, monkeypatch):
    wh = tmp_path / "wh"
    shutil.copytree(sample_wh, wh, symlinks=True)
    prev = Layout(wh).current_publication()
    before = _digest(prev)
    inp = tmp_path / "in"
    shutil.copytree(SAMPLE, inp)
    (inp / "extra.txt").write_text(FUTURE_ARTICLE, encoding="utf-8")
    sources = P._table_sources

    def duplicated_events(*a, **kw):  # every event twice: event_id_unique (table-level, critical) must block
        got = sources(*a, **kw)
        events = got["events"]

        def twice():
            import numpy as np

            for t, codes in events():
                yield pa.concat_tables([t, t]), np.concatenate([codes, codes])
        return {**got, "events": twice}

    monkeypatch.setattr(P, "_table_sources", duplicated_events)
    with pytest.raises(P.GateFailed) as ei:
        P.run_local(load_settings(), inp, wh, log=lambda *a: None)
    assert "event_id_unique" in str(ei.value)
    assert Layout(wh).current_publication() == prev and _digest(prev) == before


def test_the_database_update_touches_only_the_rows_that_changed(published, monkeypatch):
    """Six new articles (one event and incident each) and one older incident whose figure changed: the changed month
    files are rewritten whole, but rasd.duckdb deletes only the changed incident's old row and inserts only the new
    and changed rows; the result equals a full rebuild."""
    seen = {}
    real = publish.row_changes

    def spy(name, old_files, new_files):
        gone, new = real(name, old_files, new_files)
        seen[name] = (gone.num_rows, new.num_rows, sum(pq.read_metadata(f).num_rows for f in new_files if f.is_file()))
        return gone, new

    monkeypatch.setattr(publish, "row_changes", spy)
    inc = _ctx(published, "20240502T000000Z-iiiiii")
    _work(inc, 46, changed_incident=3)
    agg = _aggregate(inc)
    assert agg["database"] == "updated"
    assert seen["events"][:2] == (0, 6) and seen["incidents"][:2] == (1, 7) and seen["articles"][:2] == (0, 6)
    assert seen["events"][2] > 6  # the files written hold more rows than were inserted
    full = _ctx(published, "20240502T000000Z-jjjjjj")
    for f in inc.work.glob("*.parquet"):
        shutil.copy2(f, full.work / f.name)
    _same_publication(Path(agg["staging"]), Path(_aggregate(full, incremental=False)["staging"]))


def test_row_changes_pairs_rows_across_files():
    """A row that moved to another changed file is neither deleted nor inserted; a row whose content changed is
    deleted by its key and inserted again."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        jan = [_incident(i, dt.date(2024, 1, 5)) for i in range(4)]
        pq.write_table(to_arrow("incidents", jan), d / "old-01.parquet")
        # i001 unchanged but in the other file, i002 unchanged, i003 with a new figure, i000 moved to February
        pq.write_table(to_arrow("incidents", [jan[2], _incident(3, dt.date(2024, 1, 5), killed=7)]), d / "new-01.parquet")
        pq.write_table(to_arrow("incidents", [jan[1], _incident(0, dt.date(2024, 2, 5))]), d / "new-02.parquet")
        gone, new = publish.row_changes("incidents", [d / "old-01.parquet", d / "old-02.parquet"],
                                        [d / "new-01.parquet", d / "new-02.parquet"])
        assert gone.column_names == ["incident_id"] and gone["incident_id"].to_pylist() == ["i000", "i003"]
        assert new["incident_id"].to_pylist() == ["i003", "i000"] and new["fatalities_best"].to_pylist() == [7, 2]


def test_a_batch_is_split_by_file_in_order():
    """``_by_code`` gives each file's rows in reading order, as one take per code did (codes interleaved)."""
    import numpy as np

    rng = np.random.default_rng(5)
    codes = rng.choice([0, 202401, 202402, 202405], size=500)
    t = pa.table({"i": np.arange(500), "s": [f"r{i}" for i in range(500)]})
    got = {code: part for code, part in publish._by_code(t, codes)}
    assert sorted(got) == sorted(set(codes.tolist()))
    for code, part in got.items():
        assert part.equals(t.take(pa.array(np.flatnonzero(codes == code)))), code
    assert [c for c, _ in publish._by_code(t, np.full(500, 7))] == [7]  # one file: the batch itself


def test_each_file_keeps_its_row_ids_and_the_update_reads_only_what_changed(published, monkeypatch):
    """Every published file has its row ids in the publication's cache (linked when the file is linked); the
    next update takes them instead of hashing, reads an old file only for the keys of rows it lost, and its
    result equals the update made by hashing every changed file (ids cache removed) and a full rebuild."""
    import numpy as np

    from rasd.schema import conform

    prev = Layout(published).current_publication()
    for name in PUBLISHED_TABLES:
        for f in (prev / name).glob("*.parquet"):
            ids = np.load(prev / "_cache" / publish.ROW_IDS / name / f"{f.stem}.npy")
            assert (ids == publish._row_ids(conform(name, pq.read_table(f)))).all(), (name, f.name)
    reads = []
    real_read = pq.read_table

    def spy(path, *a, **kw):
        reads.append((Path(path), kw.get("columns")))
        return real_read(path, *a, **kw)

    monkeypatch.setattr(publish.pq, "read_table", spy)
    hashed = []
    real_ids = publish._row_ids
    monkeypatch.setattr(publish, "_row_ids", lambda t: hashed.append(t.num_rows) or real_ids(t))
    inc = _ctx(published, "20240502T000000Z-kkkkkk")
    _work(inc, 46, changed_incident=3)
    agg = _aggregate(inc)
    assert agg["database"] == "updated" and not hashed  # every id came from a cache
    old_reads = [(p, c) for p, c in reads if prev in p.parents]
    assert old_reads and all(c == list(TABLES[p.parent.name].key) for p, c in old_reads)  # keys only
    assert {p.parent.name for p, _ in old_reads} == {"incidents"}  # the only base table that lost a row
    staged = Path(agg["staging"])
    for name in ("events", "incidents"):
        for f in (staged / name).glob("*.parquet"):
            ids = staged / "_cache" / publish.ROW_IDS / name / f"{f.stem}.npy"
            assert ids.is_file(), (name, f.name)
            if (prev / name / f.name).exists() and f.stat().st_ino == (prev / name / f.name).stat().st_ino:
                assert ids.stat().st_ino == (prev / "_cache" / publish.ROW_IDS / name / ids.name).stat().st_ino
    monkeypatch.undo()
    # the same update hashing the rows (no ids cache) and a full rebuild give the same publication
    shutil.rmtree(prev / "_cache" / publish.ROW_IDS)
    again = _ctx(published, "20240502T000000Z-llllll")
    for f in inc.work.glob("*.parquet"):
        shutil.copy2(f, again.work / f.name)
    hashed_agg = _aggregate(again)
    assert hashed_agg["database"] == "updated"
    _same_publication(staged, Path(hashed_agg["staging"]))
    full = _ctx(published, "20240502T000000Z-mmmmmm")
    for f in inc.work.glob("*.parquet"):
        shutil.copy2(f, full.work / f.name)
    _same_publication(staged, Path(_aggregate(full, incremental=False)["staging"]))


def test_stale_row_ids_are_not_trusted(tmp_path):
    """An ids file whose length does not match its table file is ignored (the rows are hashed instead)."""
    import numpy as np

    pub = tmp_path / "pub"
    (pub / "incidents").mkdir(parents=True)
    (pub / "_cache" / publish.ROW_IDS / "incidents").mkdir(parents=True)
    t = to_arrow("incidents", [_incident(i, dt.date(2024, 1, 5)) for i in range(3)])
    pq.write_table(t, pub / "incidents" / "2024-01.parquet")
    ids = publish._row_ids(t)
    np.save(pub / "_cache" / publish.ROW_IDS / "incidents" / "2024-01.npy", ids[:2])
    assert publish._file_ids(pub / "incidents" / "2024-01.parquet") is None
    np.save(pub / "_cache" / publish.ROW_IDS / "incidents" / "2024-01.npy", ids)
    assert (publish._file_ids(pub / "incidents" / "2024-01.parquet") == ids).all()

"""The SQL files in sql/, run the way the publisher runs them, on a small hand-made DuckDB."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from rasd.resolve import resolve
from rasd.schema import TABLES, WEEKLY_INCIDENTS, to_arrow
from rasd.settings import Settings

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
D = date


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))


def parse(path: Path) -> tuple[str, str, str]:
    """(kind, description, body) as the publisher reads a file."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("-- kind: "), path
    kind = lines[0].removeprefix("-- kind: ").strip()
    assert kind in ("table", "view"), path
    assert lines[1].startswith("-- ") and len(lines[1]) > 10, path
    body = text.strip()
    if body.endswith(";"):
        body = body[:-1]
    return kind, lines[1][3:], body


def publish(tables: dict[str, list[dict]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    for name in ("articles", "events", "incidents", "incident_reports", "quarantine"):
        arrow = to_arrow(name, tables.get(name, []))  # noqa: F841 (read by DuckDB's replacement scan)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM arrow")
    for path in sql_files():
        kind, _, body = parse(path)
        con.execute(f"CREATE {kind.upper()} {path.stem} AS {body}")
    return con


def rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def article(aid, outlet, published):
    return dict(article_id=aid, doc_key=aid, source_path=f"{aid}.txt", url=f"https://example.org/{aid}", outlet=outlet,
                published_at=published, published_at_basis="metadata", n_chars=100, content_hash=aid, status="ok",
                ingested_at=None)


def event(eid, aid, day, killed=None, q=None, wounded=None, evidence="جملة الدليل"):
    return dict(event_id=eid, article_id=aid, doc_key=aid, event_date=day, date_precision="day", event_type="Battles",
                sub_event_type="Armed clash", fatalities=killed, fatalities_qualifier=q, wounded=wounded,
                wounded_qualifier="exact" if wounded is not None else None, evidence=evidence, evidence_start=0,
                evidence_end=len(evidence), confidence=0.9)


def incident(iid, day, admin1, admin2, low, best, high, wounded=None, n=1, conflicting=False, etype="Battles",
             actor1="Syrian government forces", actor2="Islamic State (ISIS)", lat=33.0, lon=36.0):
    return dict(incident_id=iid, event_date=day, date_precision="day", event_type=etype, sub_event_type="Armed clash",
                actor1=actor1, actor2=actor2, location="X", admin1=admin1, admin2=admin2, lat=lat, lon=lon,
                fatalities_low=low, fatalities_best=best, fatalities_high=high, wounded_best=wounded, n_reports=n,
                n_outlets=n, conflicting=conflicting)


ARTICLES = [article("a1", "Enab Baladi", D(2022, 10, 15)), article("a2", "Orient Net", D(2022, 10, 15)),
            article("a3", "North Press", D(2022, 10, 21))]
EVENTS = [event("e1", "a1", D(2022, 10, 14), 6, "exact", evidence="قتل ستة"),
          event("e2", "a2", D(2022, 10, 14), 8, "exact", 2, evidence="مقتل ثمانية وجرح اثنين"),
          event("e3", "a3", D(2022, 10, 17), 25, "more_than", evidence="أكثر من 25")]
INCIDENTS = [
    # Fri 14 Oct 2022 (ISO week 41, Monday 10 Oct; ACLED week from Sat 8 Oct)
    incident("inc_e1", D(2022, 10, 14), "Daraa", "Izra", 6, 6, 16, wounded=2, n=2, conflicting=True, lat=32.99, lon=36.06),
    # Sat 15 Oct: same ISO week, next ACLED week (Sat 15 Oct)
    incident("inc_b", D(2022, 10, 15), "Daraa", "Izra", 4, 4, 10, lat=32.99, lon=36.06),
    # Sun 16 Oct: same ISO week, no figures (sums coalesce to 0)
    incident("inc_c", D(2022, 10, 16), "Daraa", "Izra", None, None, None, actor1=None, actor2=None),
    # Mon 17 Oct: next ISO week; another governorate
    incident("inc_d", D(2022, 10, 17), "Idlib", "Ariha", 2, 3, 3, wounded=5, etype="Explosions/Remote violence"),
    # New Year's Day 2023 is a Sunday: ISO year 2022, week 52, Monday 26 Dec 2022
    incident("inc_e", D(2023, 1, 1), "Idlib", None, 1, 1, 1),
    # no date: not in any week
    incident("inc_f", None, "Idlib", "Ariha", 9, 9, 9),
    # held back by the quality gate: never aggregated
    incident("inc_q", D(2022, 10, 14), "Daraa", "Izra", 400, 400, 400),
]
LINKS = [dict(incident_id="inc_e1", event_id="e1", article_id="a1", role="member"),
         dict(incident_id="inc_e1", event_id="e2", article_id="a2", role="member"),
         dict(incident_id="inc_e1", event_id="e3", article_id="a3", role="summary")]
QUARANTINE = [dict(table_name="incidents", row_id="inc_q", article_id=None, expectation="plausible_figure",
                   severity="critical", detail="fatalities 400")]


@pytest.fixture(scope="module")
def con():
    c = publish(dict(articles=ARTICLES, events=EVENTS, incidents=INCIDENTS, incident_reports=LINKS, quarantine=QUARANTINE))
    yield c
    c.close()


def test_every_file_is_one_statement_with_a_header():
    names = {p.stem for p in sql_files()}
    assert {"weekly_incidents", "weekly_acled", "conflicting_reports", "incident_evidence", "weekly_by_actor"} <= names
    for path in sql_files():
        _, _, body = parse(path)
        assert len(duckdb.extract_statements(body)) == 1, path


def test_trailing_semicolon_tolerated(tmp_path):
    kind, _, body = parse(SQL_DIR / "weekly_incidents.sql")
    p = tmp_path / "x.sql"
    p.write_text(f"-- kind: {kind}\n-- d{'.' * 20}\n{body};\n", encoding="utf-8")
    assert not parse(p)[2].endswith(";")


def test_weekly_incidents_contract(con):
    table = con.sql("SELECT * FROM weekly_incidents").to_arrow_table()
    assert table.column_names == WEEKLY_INCIDENTS.column_names
    for f in WEEKLY_INCIDENTS.arrow_schema:
        assert table.schema.field(f.name).type == f.type, f.name
    got = rows(con, "SELECT * FROM weekly_incidents")
    assert all(r["week_start"].isoweekday() == 1 for r in got)  # Monday
    assert all(r[c] is not None for r in got for c in ("incidents", "fatalities_low", "wounded", "n_reports"))
    ny = next(r for r in got if r["admin1"] == "Idlib" and r["admin2"] is None)
    assert (ny["week_start"], ny["iso_year"], ny["iso_week"]) == (D(2022, 12, 26), 2022, 52)
    w41 = next(r for r in got if r["week_start"] == D(2022, 10, 10))
    assert (w41["iso_year"], w41["iso_week"], w41["incidents"]) == (2022, 41, 3)
    assert (w41["fatalities_low"], w41["fatalities_best"], w41["fatalities_high"], w41["wounded"]) == (10, 10, 26, 2)


def test_weekly_sums_equal_incident_sums(con):
    held = {q["row_id"] for q in QUARANTINE if q["severity"] == "critical"}
    expected = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for i in INCIDENTS:
        if i["event_date"] is None or i["incident_id"] in held:
            continue
        monday = i["event_date"] - timedelta(days=i["event_date"].weekday())
        acc = expected[monday]
        for k, col in enumerate(("fatalities_low", "fatalities_best", "fatalities_high", "wounded_best", "n_reports")):
            acc[k] += i[col] or 0
        acc[5] += 1
    got = {r["week_start"]: [r["fl"], r["fb"], r["fh"], r["w"], r["n"], r["inc"]] for r in rows(con, """
        SELECT week_start, sum(fatalities_low) fl, sum(fatalities_best) fb, sum(fatalities_high) fh,
               sum(wounded) w, sum(n_reports) n, sum(incidents) inc FROM weekly_incidents GROUP BY week_start""")}
    assert got == dict(expected)
    # and the same check in SQL, as a quality expectation would run it
    assert con.execute("""
        SELECT count(*) FROM (
            SELECT CAST(date_trunc('week', event_date) AS DATE) AS wk, sum(coalesce(fatalities_best, 0)) AS s
            FROM incidents WHERE event_date IS NOT NULL AND incident_id NOT IN (
                SELECT row_id FROM quarantine WHERE table_name = 'incidents' AND severity = 'critical')
            GROUP BY 1) AS a
        FULL JOIN (SELECT week_start AS wk, sum(fatalities_best) AS s FROM weekly_incidents GROUP BY 1) AS b USING (wk)
        WHERE a.s IS DISTINCT FROM b.s""").fetchone()[0] == 0


def test_weekly_acled_weeks_start_on_saturday(con):
    got = rows(con, "SELECT * FROM weekly_acled")
    assert list(got[0]) == ["week", "admin1", "event_type", "sub_event_type", "events", "fatalities",
                            "centroid_latitude", "centroid_longitude"]
    assert all(r["week"].isoweekday() == 6 for r in got)  # Saturday
    daraa = {r["week"]: r for r in got if r["admin1"] == "Daraa"}
    # Fri 14 Oct -> week of Sat 8 Oct; Sat 15 and Sun 16 Oct -> week of Sat 15 Oct
    assert daraa[D(2022, 10, 8)]["events"] == 1 and daraa[D(2022, 10, 8)]["fatalities"] == 6
    assert daraa[D(2022, 10, 15)]["events"] == 2 and daraa[D(2022, 10, 15)]["fatalities"] == 4
    assert daraa[D(2022, 10, 8)]["centroid_latitude"] == pytest.approx(32.99)


def test_conflicting_reports_lists_both_outlets(con):
    got = rows(con, "SELECT * FROM conflicting_reports")
    assert {r["incident_id"] for r in got} == {"inc_e1"}
    members = {r["outlet"]: (r["fatalities"], r["fatalities_qualifier"], r["evidence"]) for r in got if r["role"] == "member"}
    assert members == {"Enab Baladi": (6, "exact", "قتل ستة"), "Orient Net": (8, "exact", "مقتل ثمانية وجرح اثنين")}
    summary = [r for r in got if r["role"] == "summary"]
    assert [(r["outlet"], r["fatalities"], r["fatalities_qualifier"]) for r in summary] == [("North Press", 25, "more_than")]


def test_incident_evidence(con):
    got = rows(con, "SELECT * FROM incident_evidence WHERE incident_id = 'inc_e1'")
    figs = sorted((r["outlet"], r["figure"], r["value"]) for r in got)
    assert figs == [("Enab Baladi", "fatalities", 6), ("North Press", "fatalities", 25),
                    ("Orient Net", "fatalities", 8), ("Orient Net", "wounded", 2)]
    assert all(r["url"].startswith("https://") and r["evidence"] for r in got)


def test_weekly_by_actor(con):
    got = rows(con, "SELECT * FROM weekly_by_actor WHERE week_start = DATE '2022-10-10'")
    by = {r["actor"]: r for r in got}
    assert set(by) == {"Syrian government forces", "Islamic State (ISIS)"}  # inc_c has no actors
    assert by["Islamic State (ISIS)"]["incidents"] == 2 and by["Islamic State (ISIS)"]["fatalities_best"] == 10


def test_seeds_resolved_then_published_show_their_disagreement():
    """End to end on the hand-coded seeds: resolve -> DuckDB -> conflicting_reports and weekly sums."""
    from test_resolve import SEED_ARTICLES, SEED_EVENTS

    events, articles = to_arrow("events", SEED_EVENTS), to_arrow("articles", SEED_ARTICLES)
    incidents, links = resolve(events, articles, Settings())
    con = publish(dict(articles=SEED_ARTICLES, events=SEED_EVENTS, incidents=incidents.to_pylist(),
                       incident_reports=links.to_pylist()))
    got = rows(con, "SELECT outlet, fatalities, role FROM conflicting_reports WHERE role = 'member' ORDER BY outlet")
    assert [(r["outlet"], r["fatalities"]) for r in got] == [("Enab Baladi", 6), ("Orient Net", 8)]
    jasim = rows(con, """SELECT week_start, fatalities_low, fatalities_best, fatalities_high FROM weekly_incidents
                         WHERE admin2 = 'Izra' AND event_type = 'Battles' AND week_start >= DATE '2022-10-01'""")
    # 14 and 15 Oct are in the ISO week of Monday 10 Oct; the week summary added no incident in the next week
    assert jasim == [dict(week_start=D(2022, 10, 10), fatalities_low=10, fatalities_best=10, fatalities_high=26)]
    assert set(TABLES["incident_reports"].column_names) <= {c[0] for c in con.execute("DESCRIBE incident_reports").fetchall()}

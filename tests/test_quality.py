"""Quality gate: deliberately bad rows end up in quarantine; table-level failures block publishing.

GX is slow to import and run, so one bad dataset is validated once per module (fixtures
below) and the tests read the shared results.
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from rasd.quality import checks
from rasd.schema import QUARANTINE, to_arrow
from rasd.settings import Settings

TODAY = dt.date(2024, 6, 20)
PUB = dt.date(2024, 6, 10)
PLACES = {"SY0100", "SY0200"}
SETTINGS = Settings()


def article(aid, published_at=PUB, **kw):
    row = dict(article_id=aid, doc_key=aid, source_path=f"{aid}.txt", published_at=published_at,
               published_at_basis="metadata", language="ar", n_chars=100, content_hash="h" + aid, status="ok",
               ingested_at=dt.datetime(2024, 6, 11, tzinfo=dt.timezone.utc))
    row.update(kw)
    return row


def event(eid, aid="a_ok", **kw):
    evidence = kw.pop("evidence", "قتل شخصان في قصف على المدينة")
    row = dict(event_id=eid, article_id=aid, doc_key=aid, event_date=dt.date(2024, 6, 8), date_precision="day",
               event_type="Explosions/Remote violence", sub_event_type="Shelling/artillery/missile attack",
               location="Idlib", place_id="SY0100", admin1="Idlib", admin2="Idlib", lat=35.93, lon=36.63, geo_precision=1,
               fatalities=2, fatalities_qualifier="exact", evidence=evidence, evidence_start=0,
               evidence_end=len(evidence), confidence=0.9)
    row.update(kw)
    return row


def incident(iid, **kw):
    row = dict(incident_id=iid, event_date=dt.date(2024, 6, 8), date_precision="day",
               event_type="Explosions/Remote violence", sub_event_type="Shelling/artillery/missile attack",
               location="Idlib", place_id="SY0100", admin1="Idlib", admin2="Idlib", lat=35.93, lon=36.63,
               fatalities_low=2, fatalities_best=2, fatalities_high=2, wounded_best=None, detained_best=None,
               n_reports=1, n_outlets=1, conflicting=False)
    row.update(kw)
    return row


# Bad rows, each named after the expectation that must catch it.
BAD_EVENTS = {
    "ev_negative": ("events.fatalities_not_negative", dict(fatalities=-3)),
    "ev_absurd": ("events.fatalities_plausible", dict(fatalities=4000)),
    "ev_no_qualifier": ("events.fatalities_qualifier_present", dict(fatalities_qualifier=None)),
    "ev_after_pub": ("events.event_date_not_after_publication", dict(event_date=dt.date(2024, 6, 15))),
    "ev_typo": ("events.event_date_year_typo", dict(event_date=dt.date(2004, 6, 8))),
    "ev_too_old": ("events.event_date_within_window", dict(event_date=dt.date(2022, 1, 3))),
    "ev_outside_syria": ("events.lat_in_syria", dict(lat=31.95, lon=35.93, place_id="SY0200")),
    "ev_unknown_place": ("events.place_id_in_gazetteer", dict(place_id="XX9999")),
    "ev_bad_type": ("events.sub_event_type_in_taxonomy", dict(sub_event_type="Peaceful protest")),
    "ev_future_undated": ("events.event_date_not_in_future", dict(aid="a_undated", event_date=dt.date(2025, 3, 1))),
    "ev_future_article": ("articles.published_at_not_in_future", dict(aid="a_future", event_date=dt.date(2024, 6, 30))),
}
# Warnings: reported, never quarantined.
WARN_EVENTS = {"ev_script": dict(evidence="<script>alert('x')</script> قصف")}


def bad_tables():
    arts = [article("a_ok"), article("a_future", published_at=dt.date(2025, 1, 1)),
            article("a_old", published_at=dt.date(2009, 5, 1)),
            article("a_undated", published_at=None, published_at_basis="unknown")]
    evs = [event("ev_good"), event("ev_none", fatalities=None, fatalities_qualifier=None, place_id=None, lat=None, lon=None)]
    for eid, (_, kw) in BAD_EVENTS.items():
        kw = dict(kw)
        evs.append(event(eid, kw.pop("aid", "a_ok"), **kw))
    for eid, kw in WARN_EVENTS.items():
        evs.append(event(eid, **kw))
    incs = [incident("in_good"), incident("in_order", fatalities_low=5, fatalities_best=3, fatalities_high=9),
            incident("in_absurd", fatalities_best=900, fatalities_high=900, fatalities_low=900),
            incident("in_negative", fatalities_low=-1)]
    return {"articles": to_arrow("articles", arts), "events": to_arrow("events", evs), "incidents": to_arrow("incidents", incs)}


def weekly_rows(incs: pa.Table, tweak=None):
    """weekly_incidents aggregated the way the pipeline does, optionally tweaked to be wrong."""
    view = checks.recompute_weekly(checks.to_pandas(incs, "incidents"))
    rows = []
    for r in view.to_dict("records"):
        r = {k: (None if checks._is_missing(v) else v) for k, v in r.items()}
        ws = r["week_start"]
        rows.append(dict(week_start=ws, iso_year=ws.isocalendar()[0], iso_week=ws.isocalendar()[1], admin1=r["admin1"],
                         admin2=r["admin2"], event_type=r["event_type"], incidents=int(r["incidents_expected"]),
                         fatalities_low=int(r["fatalities_low_expected"]), fatalities_best=int(r["fatalities_best_expected"]),
                         fatalities_high=int(r["fatalities_high_expected"]), wounded=int(r["wounded_expected"]),
                         n_reports=int(r["n_reports_expected"])))
    if tweak:
        tweak(rows)
    return to_arrow("weekly_incidents", rows)


CORRECTIONS = """
- {event_id: ev_corrected, field: event_date, value: 2024-06-18, reason: wrong day picked, analyst: rk, date: 2024-06-12}
- {event_id: ev_fixed, field: fatalities, value: 4, reason: absurd figure was a misread date, analyst: rk, date: 2024-06-12}
- {event_id: ev_confirmed, field: fatalities, value: 1400, reason: confirmed by three sources, analyst: rk, date: 2024-06-12}
"""


@pytest.fixture(scope="module")
def row_run(tmp_path_factory):
    """One GX run over the bad dataset (with two analyst corrections applied first)."""
    from rasd.corrections import apply_event_corrections, load_corrections
    from rasd.quality.gate import row_checks
    tables = bad_tables()
    extra = to_arrow("events", [event("ev_corrected"), event("ev_fixed", fatalities=2000), event("ev_confirmed", fatalities=1400)])
    path = tmp_path_factory.mktemp("corr") / "corrections.yaml"
    path.write_text(CORRECTIONS, encoding="utf-8")
    events = pa.concat_tables([tables["events"], extra])
    tables["events"] = apply_event_corrections(events, load_corrections(path))
    quarantine, keep = row_checks(tables, SETTINGS, PLACES, today=TODAY)
    return tables, quarantine, keep


@pytest.fixture(scope="module")
def table_run(row_run, tmp_path_factory):
    """The clean-after-quarantine tables, plus a weekly table with a wrong sum and a duplicated key."""
    from rasd.quality.gate import apply_quarantine, table_checks
    tables, quarantine, keep = row_run
    final = apply_quarantine(tables, quarantine, keep)

    def tweak(rows):
        rows[0]["fatalities_best"] += 7
        rows.append(dict(rows[0]))
    final["weekly_incidents"] = weekly_rows(final["incidents"], tweak)
    # An article that is ok but a duplicate and still has events: "both ok and duplicate".
    arts = final["articles"].to_pylist() + [article("a_dup", duplicate_of="a_ok")]
    final["articles"] = to_arrow("articles", arts)
    final["events"] = to_arrow("events", final["events"].to_pylist() + [event("ev_dup", "a_dup")])
    out = tmp_path_factory.mktemp("gate")
    report = table_checks(final, SETTINGS, PLACES, out, quarantine=quarantine, today=TODAY)
    return report, out


@pytest.mark.slow
def test_bad_rows_are_quarantined_with_the_right_expectation(row_run):
    _, quarantine, _ = row_run
    assert quarantine.schema.equals(QUARANTINE.arrow_schema)
    pairs = set(zip(quarantine["row_id"].to_pylist(), quarantine["expectation"].to_pylist()))
    for eid, (expectation, _) in BAD_EVENTS.items():
        assert (eid, expectation) in pairs, (eid, expectation, sorted(p for p in pairs if p[0] == eid))


@pytest.mark.slow
def test_good_rows_and_warnings_are_kept(row_run):
    tables, quarantine, keep = row_run
    ids = dict(zip(tables["events"]["event_id"].to_pylist(), keep["events"].to_pylist()))
    assert ids["ev_good"] and ids["ev_none"] and ids["ev_script"]
    assert not any(ids[e] for e in BAD_EVENTS)
    assert "ev_script" not in quarantine["row_id"].to_pylist()


@pytest.mark.slow
def test_quarantine_rows_carry_article_evidence_and_detail(row_run):
    _, quarantine, _ = row_run
    rows = {(r["row_id"], r["expectation"]): r for r in quarantine.to_pylist()}
    r = rows[("ev_absurd", "events.fatalities_plausible")]
    assert r["table_name"] == "events" and r["article_id"] == "a_ok" and r["severity"] == "critical"
    assert "fatalities=4000" in r["detail"] and r["evidence"].startswith("قتل")
    typo = rows[("ev_typo", "events.event_date_year_typo")]
    assert "event_date=2004-06-08" in typo["detail"] and "published_at=2024-06-10" in typo["detail"]


@pytest.mark.slow
def test_bad_articles_are_quarantined_with_their_events(row_run):
    tables, quarantine, keep = row_run
    pairs = set(zip(quarantine["table_name"].to_pylist(), quarantine["row_id"].to_pylist(), quarantine["expectation"].to_pylist()))
    assert ("articles", "a_future", "articles.published_at_not_in_future") in pairs
    assert ("articles", "a_old", "articles.published_at_not_before_earliest") in pairs
    assert ("events", "ev_future_article", "articles.published_at_not_in_future") in pairs
    assert dict(zip(tables["articles"]["article_id"].to_pylist(), keep["articles"].to_pylist())) == {
        "a_ok": True, "a_future": False, "a_old": False, "a_undated": True}


@pytest.mark.slow
def test_bad_incidents_are_quarantined(row_run):
    tables, quarantine, keep = row_run
    pairs = set(zip(quarantine["row_id"].to_pylist(), quarantine["expectation"].to_pylist()))
    assert ("in_order", "incidents.fatalities_low_le_best") in pairs
    assert ("in_absurd", "incidents.fatalities_best_plausible") not in pairs  # a warning at incident level
    assert ("in_negative", "incidents.fatalities_low_not_negative") in pairs
    assert keep["incidents"].to_pylist() == [True, False, True, False]


@pytest.mark.slow
def test_table_failures_block_with_examples(table_run):
    report, _ = table_run
    assert not report.passed
    blocking = {(f["suite"], f["expectation"]) for f in report.blocking}
    assert ("weekly_incidents", "fatalities_best_sum_matches_incidents") in blocking
    assert ("weekly_incidents", "key_unique") in blocking
    assert ("articles", "ok_duplicate_has_no_events") in blocking
    sums = next(f for f in report.failures if f["expectation"] == "fatalities_best_sum_matches_incidents")
    assert sums["examples"] and "weekly_key" in sums["examples"][0]
    line = report.one_line()
    assert line.startswith("quality gate failed: ") and "weekly_incidents.fatalities_best_sum_matches_incidents (e.g. " in line
    md = report.summary_markdown()
    assert "FAILED" in md and "key_unique" in md and "Quarantined rows" in md


@pytest.mark.slow
def test_quarantined_rows_do_not_fail_the_final_tables(table_run):
    report, _ = table_run
    rows_failed = [f for f in report.failures if f["level"] == "row" and f["severity"] == "critical"]
    assert rows_failed == []
    warned = {f["expectation"] for f in report.failures if f["severity"] == "warning"}
    assert "evidence_has_no_markup" in warned


@pytest.mark.slow
def test_results_json_and_data_docs_are_written(table_run):
    report, out = table_run
    for name in ("articles", "events", "incidents", "weekly_incidents", "summary"):
        assert (out / "validation" / f"{name}.json").is_file()
    summary = json.loads((out / "validation" / "summary.json").read_text())
    assert summary["passed"] is False and summary["failures"]
    assert report.docs_index and report.docs_index.is_file()


@pytest.mark.slow
def test_data_docs_escape_article_text(table_run):
    _, out = table_run
    pages = list((out / "data_docs").rglob("*.html"))
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    assert "alert(" in text  # the evidence string is shown (as the warning's unexpected value) ...
    assert "<script>alert(" not in text  # ... but never as live markup
    assert "&lt;script&gt;alert(" in text


@pytest.mark.slow
def test_clean_tables_pass(tmp_path):
    """A second (small) GX run: a consistent dataset passes the gate."""
    from rasd.quality.gate import table_checks
    tables = {"articles": to_arrow("articles", [article("a_ok")]),
              "events": to_arrow("events", [event("e1"), event("e2", fatalities=None, fatalities_qualifier=None)]),
              "incidents": to_arrow("incidents", [incident("i1"), incident("i2", admin2=None, event_date=dt.date(2024, 6, 3))])}
    tables["weekly_incidents"] = weekly_rows(tables["incidents"])
    report = table_checks(tables, SETTINGS, PLACES, tmp_path, today=TODAY)
    assert report.passed, report.one_line()
    assert report.one_line() == "quality gate passed"


# ---- pure checks (no GX)

@pytest.mark.parametrize("event_date,published,expected", [
    (dt.date(2002, 3, 14), dt.date(2022, 3, 15), True),   # "2002" for "2022"
    (dt.date(2012, 12, 30), dt.date(2023, 1, 2), True),   # December event, January report, year mistyped
    (dt.date(2021, 3, 14), dt.date(2022, 3, 15), False),  # a year ago: window check's business, not a typo
    (dt.date(2002, 9, 1), dt.date(2022, 3, 15), False),   # 2022-09 is after publication and 2002 is no slip of 2021
    (dt.date(2202, 3, 14), dt.date(2022, 3, 15), True),   # swapped digits
    (dt.date(1990, 3, 14), dt.date(2022, 3, 15), False),  # far off, but no one-digit slip: only the window check applies
    (None, dt.date(2022, 3, 15), None),
])
def test_year_typo(event_date, published, expected):
    assert checks.year_typo(event_date, published, 400) is expected


def test_weekly_view_diffs_and_monday():
    incs = to_arrow("incidents", [incident("i1"), incident("i2", fatalities_best=4, fatalities_high=4)])
    weekly = weekly_rows(incs, lambda rows: rows.append(dict(rows[0], week_start=dt.date(2024, 6, 11), admin2="X")))
    view = checks.weekly_view(weekly, incs)
    first = view[view["admin2"] == "Idlib"].iloc[0]
    assert first["fatalities_best_diff"] == 0 and first["incidents_expected"] == 2 and first["week_start_weekday"] == 0
    stray = view[view["admin2"] == "X"].iloc[0]
    assert stray["week_start_weekday"] == 1 and stray["incidents_diff"] == 2 and stray["iso_week_ok"] is False


def test_suites_are_reviewable():
    from rasd.quality.gate import load_suites
    suites = load_suites(SETTINGS, TODAY)
    for name, spec in suites.items():
        for e in spec["expectations"]:
            assert e["type"].startswith("expect_") and e["meta"]["notes"]
            assert not any(isinstance(v, str) and v.startswith("$") for v in e["kwargs"].values()), e
    plaus = next(e for e in suites["events"]["expectations"] if e["meta"]["name"] == "fatalities_plausible")
    assert plaus["kwargs"]["max_value"] == SETTINGS.max_plausible_figure
    raw = json.loads(Path(checks.__file__).resolve().parents[2].joinpath("expectations", "events.json").read_text())
    assert any(e["kwargs"].get("max_value") == "$max_plausible_figure" for e in raw["expectations"])


@pytest.mark.slow
def test_gate_does_not_import_gx_at_import_time():
    code = "import sys, rasd.quality.gate, rasd.quality.checks, rasd.corrections; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_corrected_rows_are_validated_like_any_other(row_run):
    tables, quarantine, keep = row_run
    rows = {(r["row_id"], r["expectation"]): r for r in quarantine.to_pylist()}
    assert ("ev_corrected", "events.event_date_not_after_publication") in rows  # corrections are checked like any value ...
    kept = dict(zip(tables["events"]["event_id"].to_pylist(), keep["events"].to_pylist()))
    assert kept["ev_fixed"] and not kept["ev_corrected"]
    assert kept["ev_confirmed"]  # ... but setting a figure above the bound is the analyst's review of it
    fixed = next(r for r in tables["events"].to_pylist() if r["event_id"] == "ev_fixed")
    assert fixed["fatalities"] == 4 and fixed["correction"].startswith("fatalities 2000→4: absurd figure")


@pytest.mark.slow
def test_representatives_and_row_subsets(tmp_path):
    """GX sees one row per distinct value combination; every row with a bad value is quarantined, and with
    ``rows=`` only the rows asked for (table-level checks still see the whole table)."""
    from rasd.quality.gate import row_checks, table_checks
    arts = to_arrow("articles", [article("a_ok")])
    evs = [event(f"neg{k}", fatalities=-3) for k in range(5)] + [event(f"ok{k}", fatalities=k) for k in range(5)]
    events = to_arrow("events", evs)
    quarantine, keep = row_checks({"articles": arts, "events": events}, SETTINGS, PLACES, today=TODAY)
    bad = {r for r, x in zip(quarantine["row_id"].to_pylist(), quarantine["expectation"].to_pylist())
           if x == "events.fatalities_not_negative"}
    assert bad == {f"neg{k}" for k in range(5)}
    assert keep["events"].to_pylist() == [False] * 5 + [True] * 5
    # only some rows: a mask, or keys
    subset = [True, False, True, False, False] + [True] * 5
    for rows in ({"events": subset}, {"events": {"neg0", "neg2", "ok0"}}):
        q, k = row_checks({"articles": arts, "events": events}, SETTINGS, PLACES, today=TODAY, rows=rows)
        assert set(q["row_id"].to_pylist()) == {"neg0", "neg2"}
        assert k["events"].to_pylist() == [False, True, False, True, True] + [True] * 5
    # table level on the whole table even with a subset: a duplicated key outside the subset is found
    dup = to_arrow("events", [event("ok0"), event("ok0"), event("ok1")])
    incs = to_arrow("incidents", [incident("i1")])
    report = table_checks({"articles": arts, "events": dup, "incidents": incs, "weekly_incidents": weekly_rows(incs)},
                          SETTINGS, PLACES, tmp_path, today=TODAY, rows={"events": [False, False, True]})
    failed = {(f["suite"], f["expectation"]): f for f in report.failures}
    assert not report.passed and failed[("events", "event_id_unique")]["unexpected_count"] == 2


# ---- bounded-memory gate: chunked row checks, incremental row checks, table-level summaries over staged files

def _ctx(tmp_path, name="run"):
    from rasd.pipeline import RunContext
    work = tmp_path / name
    work.mkdir(parents=True)
    return RunContext(name, SETTINGS, tmp_path / "in", tmp_path / "wh", work, dt.datetime.now(dt.timezone.utc))


def _publish_row_checks(tmp_path, ctx):
    """Make ctx's ROW_CHECKS the cache of the warehouse's current publication (what aggregate + publish do)."""
    import os
    from rasd.pipeline import ROW_CHECKS
    pub = tmp_path / "wh" / "publications" / ctx.run_id
    (pub / "_cache").mkdir(parents=True)
    (pub / "_cache" / ROW_CHECKS).write_bytes((ctx.work / ROW_CHECKS).read_bytes())
    cur = tmp_path / "wh" / "current"
    if cur.is_symlink():
        cur.unlink()
    os.symlink(os.path.relpath(pub, cur.parent), cur)


def _rows_tables():
    """Bad articles and events where a failing article's events sit in several chunks of 3 rows."""
    tables = bad_tables()
    evs = tables["events"].to_pylist()
    evs += [event(f"fut{k}", "a_future") for k in range(4)] + [event(f"ok{k}", "a_ok", fatalities=k) for k in range(5)]
    evs.sort(key=lambda r: r["article_id"])  # as collect_events writes them
    return tables["articles"], to_arrow("events", evs)


def _write(t: pa.Table, path: Path, group_rows: int = 3) -> Path:
    import pyarrow.parquet as pq
    pq.write_table(t, path, row_group_size=group_rows)
    return path


@pytest.mark.slow
def test_chunked_and_incremental_row_checks_equal_one_check_of_everything(tmp_path, monkeypatch):
    """validate_rows checks a few rows at a time, and on a second run only changed rows; its quarantine rows (in
    order), kept events and marked articles equal those of one row_checks over the whole tables."""
    import pyarrow.parquet as pq
    import rasd.pipeline as P
    from rasd.quality.gate import apply_quarantine, row_checks
    monkeypatch.setattr(checks, "today_utc", lambda: TODAY)
    monkeypatch.setattr(P, "_gazetteer_ids", lambda: PLACES)
    monkeypatch.setattr(P, "_CHECK_ROWS", 4)
    arts, events = _rows_tables()
    want_q, want_keep = row_checks({"articles": arts, "events": events}, SETTINGS, PLACES)
    want_events = events.filter(want_keep["events"])
    want_arts = apply_quarantine({"articles": arts}, want_q, {})["articles"]

    def run(name, arts, events):
        ctx = _ctx(tmp_path, name)
        a, e = _write(arts, ctx.work / "articles.parquet"), _write(events, ctx.work / "events.parquet")
        got = P.validate_rows(ctx, a, e)
        return ctx, got, pq.read_table(got["quarantine"]), pq.read_table(got["events"]), pq.read_table(a)

    ctx, got, q, kept, marked = run("first", arts, events)
    assert q.to_pylist() == P.conform("quarantine", want_q).to_pylist()
    assert kept.to_pylist() == want_events.to_pylist() and marked.to_pylist() == want_arts.to_pylist()
    assert got["counts"]["checked_events"] == events.num_rows
    _publish_row_checks(tmp_path, ctx)
    # second run: the same rows plus one new bad event; the gate's marks were reset (as clean_articles does)
    new = event("new_neg", "a_ok", fatalities=-1)
    events2 = to_arrow("events", sorted(events.to_pylist() + [new], key=lambda r: r["article_id"]))
    want_q2, keep2 = row_checks({"articles": arts, "events": events2}, SETTINGS, PLACES)
    ctx2, got2, q2, kept2, marked2 = run("second", arts, events2)
    # checked again: events that did not pass (quarantined ones are judged afresh every run), all events of the
    # articles the gate quarantined (judged again too), and the new event; not the 8 events that passed
    again = {r["row_id"] for r in want_q.to_pylist() if r["table_name"] == "articles"}
    passed = set(kept["event_id"].to_pylist())
    todo = [r for r in events2.to_pylist() if r["event_id"] not in passed or r["article_id"] in again]
    assert len(todo) == events2.num_rows - 8 and got2["counts"]["checked_events"] == len(todo)
    assert q2.to_pylist() == P.conform("quarantine", want_q2).to_pylist()
    assert kept2.to_pylist() == events2.filter(keep2["events"]).to_pylist()
    assert marked2.to_pylist() == want_arts.to_pylist()


def _stage(tables: dict, folder: Path, cuts: dict) -> dict:
    """Write each table as Parquet files, cut at the given row positions (like a publication's month files)."""
    import pyarrow.parquet as pq
    files = {}
    for name, t in tables.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        bounds = [0, *cuts.get(name, []), t.num_rows]
        files[name] = []
        for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
            p = folder / name / f"2024-{k + 1:02d}.parquet"
            pq.write_table(t.slice(a, b - a), p)
            files[name].append(p)
    return files


def _failures(report):
    return sorted((f["suite"], f["expectation"], f["severity"], f["level"], f["unexpected_count"], json.dumps(f["examples"]))
                  for f in report.failures)


@pytest.mark.slow
def test_table_summaries_give_the_verdicts_of_whole_tables(table_run, row_run, tmp_path):
    """The table-level expectations on DuckDB summaries of staged files fail exactly as on whole pandas views."""
    from rasd.quality.gate import apply_quarantine, staged_table_checks, table_checks
    tables, quarantine, keep = row_run
    final = apply_quarantine(tables, quarantine, keep)
    final["articles"] = to_arrow("articles", final["articles"].to_pylist() + [
        article("a_dup", duplicate_of="a_ok"), article("a_lost", duplicate_of="nowhere"),
        article("a_held", status="quarantined", quarantine_reason="empty file"), article("a_ok")])  # a_ok twice
    final["events"] = to_arrow("events", final["events"].to_pylist() + [
        event("ev_dup", "a_dup"), event("ev_held", "a_held"), event("ev_orphan", "a_missing"), event("ev_good")])
    final["incidents"] = to_arrow("incidents", final["incidents"].to_pylist() + [
        incident("in_zero", n_reports=0, n_outlets=2), incident("in_good")])
    final["weekly_incidents"] = weekly_rows(final["incidents"], lambda rows: rows.__setitem__(0, {**rows[0], "incidents": 9}))
    whole = table_checks(final, SETTINGS, PLACES, tmp_path / "whole", quarantine=quarantine, today=TODAY)
    files = _stage(final, tmp_path / "staged", {"articles": [2, 4], "events": [3, 9], "incidents": [2]})
    rows = dict(final, article_dates=final["articles"])
    staged = staged_table_checks(files, rows, SETTINGS, PLACES, tmp_path / "out", quarantine=quarantine, today=TODAY)
    assert not whole.passed and not staged.passed
    assert _failures(staged) == _failures(whole)
    failed = {(f["suite"], f["expectation"]) for f in staged.blocking}
    assert {("articles", "article_id_unique"), ("articles", "ok_duplicate_has_no_events"),
            ("articles", "quarantined_article_has_no_events"), ("events", "event_id_unique"),
            ("events", "article_known"), ("incidents", "n_reports_positive"),
            ("weekly_incidents", "incidents_sum_matches_incidents")} <= failed
    assert staged.counts["rows"]["events"] == final["events"].num_rows
    assert (tmp_path / "out" / "validation" / "events.json").is_file() and staged.docs_index.is_file()


@pytest.mark.slow
def test_duplicate_key_across_unchanged_and_new_files_is_caught(tmp_path):
    """Only the new month's rows are checked row by row, but a key it shares with an unchanged month still fails."""
    from rasd.quality.gate import staged_table_checks
    arts = to_arrow("articles", [article("a_ok")])
    old = [event("e1"), event("e2", event_date=dt.date(2024, 5, 30))]
    new = [event("e3", event_date=dt.date(2024, 6, 9)), event("e1", event_date=dt.date(2024, 6, 9))]
    incs = to_arrow("incidents", [incident("i1")])
    files = _stage({"articles": arts, "events": to_arrow("events", old + new), "incidents": incs,
                    "weekly_incidents": weekly_rows(incs)}, tmp_path / "staged", {"events": [2]})
    rows = {"articles": arts.slice(0, 0), "events": to_arrow("events", new), "incidents": incs.slice(0, 0),
            "article_dates": arts}
    report = staged_table_checks(files, rows, SETTINGS, PLACES, tmp_path / "out", today=TODAY)
    assert not report.passed
    dup = next(f for f in report.blocking if f["expectation"] == "event_id_unique")
    assert dup["unexpected_count"] == 2 and dup["examples"] == [{"event_id": "e1"}, {"event_id": "e1"}]
    res = json.loads((tmp_path / "out" / "validation" / "events.json").read_text())
    validated = {r["expectation_config"]["meta"]["name"]: r["result"]["rasd_rows"]["validated"] for r in res["results"]}
    assert validated["event_id_unique"] == 4 and validated["fatalities_not_negative"] == 2  # whole table / new rows


def _gate_outputs(folder: Path) -> dict:
    """What validate_tables leaves: the gate summary and, per expectation, success and row counts."""
    val = folder / "validation"
    summary = json.loads((val / "summary.json").read_text())
    summary["counts"].pop("seconds")
    summary.pop("docs_index")
    per = {}
    for p in sorted(val.glob("*.json")):
        if p.name != "summary.json":
            for r in json.loads(p.read_text())["results"]:
                res = r.get("result") or {}
                per[(p.stem, r["expectation_config"]["meta"]["name"])] = (r["success"], res.get("rasd_rows", {}).get("validated"),
                                                                          res.get("rasd_rows", {}).get("unexpected"))
    return {"summary": summary, "results": per}


@pytest.mark.slow
def test_validate_tables_in_chunks_equals_one_check_of_everything(row_run, tmp_path, monkeypatch):
    """A first run's row-level checks at publication go a few rows at a time (bounded memory); the gate summary
    (failures, counts, examples) and every expectation's success and row counts equal one check of all rows."""
    import rasd.pipeline as P
    tables, quarantine, keep = row_run
    monkeypatch.setattr(checks, "today_utc", lambda: TODAY)
    monkeypatch.setattr(P, "_gazetteer_ids", lambda: PLACES)
    staged = dict(tables)  # unquarantined rows: row-level failures are reported at publication, not blocking
    staged["events"] = to_arrow("events", tables["events"].to_pylist() + [
        event(f"ev{k}", "a_ok", fatalities=k, evidence=f"<b>{k}</b>" if k % 3 else f"قتل {k}") for k in range(7)])
    staged["weekly_incidents"] = weekly_rows(tables["incidents"])
    staged["quarantine"] = quarantine
    outs = {}
    for rows in (10**6, 3):
        monkeypatch.setattr(P, "_TABLE_CHECK_ROWS", rows)
        stg = tmp_path / f"stg{rows}"
        _stage(staged, stg, {"articles": [2], "events": [4, 5, 11], "incidents": [1]})
        got = P.validate_tables(_ctx(tmp_path, f"run{rows}"), stg)
        outs[rows] = (got["passed"], got["failures"], _gate_outputs(stg / "quality"))
    assert outs[3] == outs[10**6]
    passed, failures, got = outs[3]
    assert got["results"][("events", "evidence_has_no_markup")][2] >= 4
    assert got["results"][("events", "fatalities_not_negative")][1] == staged["events"].num_rows
    assert any(f["expectation"] == "fatalities_not_negative" for f in failures)
    assert any("chunk 2" in p.name for p in (tmp_path / "stg3" / "quality" / "data_docs").rglob("*.html"))


@pytest.mark.slow
def test_rows_kept_from_the_hash_pass_give_the_same_quarantine(tmp_path, monkeypatch):
    """With fewer rows to check than one chunk, validate_rows checks the rows its hash pass read (no second read
    of the file, only the rule columns): the same quarantine rows (in order), kept events and marked articles as
    one row_checks over the whole tables."""
    import pyarrow.parquet as pq
    import rasd.pipeline as P
    from rasd.quality.gate import apply_quarantine, row_checks
    monkeypatch.setattr(checks, "today_utc", lambda: TODAY)
    monkeypatch.setattr(P, "_gazetteer_ids", lambda: PLACES)
    reads = []
    monkeypatch.setattr(P, "_marked_rows", lambda *a, **k: reads.append(a) or iter(()))
    arts, events = _rows_tables()
    want_q, want_keep = row_checks({"articles": arts, "events": events}, SETTINGS, PLACES)
    ctx = _ctx(tmp_path)
    a, e = _write(arts, ctx.work / "articles.parquet"), _write(events, ctx.work / "events.parquet")
    got = P.validate_rows(ctx, a, e)
    assert not reads and got["counts"]["checked_events"] == events.num_rows
    assert pq.read_table(got["quarantine"]).to_pylist() == P.conform("quarantine", want_q).to_pylist()
    assert pq.read_table(got["events"]).to_pylist() == events.filter(want_keep["events"]).to_pylist()
    assert pq.read_table(a).to_pylist() == apply_quarantine({"articles": arts}, want_q, {})["articles"].to_pylist()

"""Analyst corrections: loading (YAML and CSV), applying with an audit trail, merge/split requests."""
from __future__ import annotations

import datetime as dt

import pytest

from rasd.corrections import CorrectionsError, apply_event_corrections, load_corrections
from rasd.schema import to_arrow


def _events():
    base = dict(article_id="a1", doc_key="d1", event_date=dt.date(2024, 6, 8), date_precision="day",
                event_type="Explosions/Remote violence", sub_event_type="Shelling/artillery/missile attack",
                place_id="SY0100", location="Idlib", admin1="Idlib", lat=35.93, lon=36.63, geo_precision=1,
                evidence="قتل ستة مدنيين", evidence_start=0, evidence_end=14, confidence=0.9)
    return to_arrow("events", [
        dict(base, event_id="e1", fatalities=6, fatalities_qualifier="exact"),
        dict(base, event_id="e2", fatalities=None, fatalities_qualifier=None),
        dict(base, event_id="e3", fatalities=1, fatalities_qualifier="about"),
    ])


YAML = """
corrections:
  - event_id: e1
    field: fatalities
    value: 4
    reason: follow-up report names four victims
    analyst: rk
    date: 2024-06-12
  - event_id: e2
    field: event_date
    value: 2024-06-07
    reason: article says "yesterday", published on the 8th
    analyst: rk
    date: 2024-06-12
  - event_id: e2
    field: wounded
    value: 3
    reason: figure missed by the extractor
    analyst: mh
    date: 2024-06-13
  - event_id: e3
    field: sub_event_type
    value: Air/drone strike
    reason: the text says a drone
    analyst: mh
    date: 2024-06-13
  - merge: [e1, e3]
    reason: same strike, two outlets
    analyst: rk
    date: 2024-06-12
  - split: e2
    reason: a different village
    analyst: rk
    date: 2024-06-12
  - event_id: missing_event
    field: fatalities
    value: 1
    reason: stale id
    analyst: rk
    date: 2024-06-12
"""


@pytest.fixture
def yaml_file(tmp_path):
    p = tmp_path / "corrections.yaml"
    p.write_text(YAML, encoding="utf-8")
    return p


def test_correction_changes_values_and_audit(yaml_file):
    corr = load_corrections(yaml_file)
    report: list[str] = []
    out = apply_event_corrections(_events(), corr, report=report).to_pylist()
    e1, e2, e3 = out
    assert e1["fatalities"] == 4 and e1["fatalities_qualifier"] == "exact"
    assert e1["correction"].startswith("fatalities 6→4: follow-up report names four victims (rk, 2024-06-12)")
    assert "merge with e3" in e1["correction"]
    assert e2["event_date"] == dt.date(2024, 6, 7) and e2["wounded"] == 3 and e2["wounded_qualifier"] == "exact"
    assert "event_date 2024-06-08→2024-06-07" in e2["correction"] and "wounded null→3 (wounded_qualifier exact)" in e2["correction"]
    assert "split from its incident: a different village" in e2["correction"]
    assert e3["sub_event_type"] == "Air/drone strike"
    assert report and "missing_event" in report[0]


def test_merge_and_split_for_the_resolver(yaml_file):
    corr = load_corrections(yaml_file)
    assert corr.merge_pairs == [("e1", "e3")]
    assert corr.split_ids == {"e2"}
    assert corr.unknown_ids(["e1", "e2", "e3"]) == ["missing_event"]


def test_place_correction_fills_location_from_lookup():
    corr_rows = "event_id,field,value,reason,analyst,date\ne1,place_id,SY0200,wrong Idlib village,rk,2024-06-12\n"
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.csv"
        p.write_text(corr_rows, encoding="utf-8")
        corr = load_corrections(p)
    lookup = {"SY0200": dict(name_en="Aleppo", place_type="governorate", admin1="Aleppo", lat=36.2, lon=37.6)}.get
    e1 = apply_event_corrections(_events(), corr, place_lookup=lookup).to_pylist()[0]
    assert (e1["place_id"], e1["location"], e1["admin1"], e1["lat"], e1["geo_precision"]) == ("SY0200", "Aleppo", "Aleppo", 36.2, 3)
    assert e1["correction"] == "place_id SY0100→SY0200: wrong Idlib village (rk, 2024-06-12)"


def test_csv_merge_split_and_clearing(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(
        "event_id,field,value,reason,analyst,date\n"
        "e1,merge,e2,same event,rk,2024-06-12\n"
        "e3,split,,separate,rk,2024-06-12\n"
        "e3,fatalities,,figure was a date,rk,2024-06-12\n", encoding="utf-8")
    corr = load_corrections(p)
    assert corr.merge_pairs == [("e1", "e2")] and corr.split_ids == {"e3"}
    e3 = apply_event_corrections(_events(), corr).to_pylist()[2]
    assert e3["fatalities"] is None and e3["fatalities_qualifier"] is None
    assert e3["correction"].startswith("fatalities 1→null (fatalities_qualifier cleared): figure was a date")


@pytest.mark.parametrize("entry,message", [
    ("- {event_id: e1, field: fatalities, value: 4, analyst: rk, date: 2024-06-12}", "needs reason"),
    ("- {event_id: e1, field: evidence, value: x, reason: r, analyst: rk, date: 2024-06-12}", "cannot be corrected"),
    ("- {event_id: e1, field: fatalities, value: four, reason: r, analyst: rk, date: 2024-06-12}", "needs an integer"),
    ("- {merge: [e1], reason: r, analyst: rk, date: 2024-06-12}", "merge needs two"),
    ("- {event_id: e1, field: event_date, value: 12/06/2024, reason: r, analyst: rk, date: 2024-06-12}", "event_date"),
])
def test_bad_files_are_rejected_with_the_problem(tmp_path, entry, message):
    p = tmp_path / "c.yaml"
    p.write_text(entry + "\n", encoding="utf-8")
    with pytest.raises(CorrectionsError, match=message):
        load_corrections(p)


def test_no_file_means_no_corrections():
    corr = load_corrections(None)
    assert not corr and corr.merge_pairs == [] and corr.split_ids == set()
    t = _events()
    assert apply_event_corrections(t, corr) is t

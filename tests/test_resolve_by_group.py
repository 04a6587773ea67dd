"""A full resolve one group (governorate, event type) at a time gives exactly the one-piece result.

rasd.resolve._resolve_by_group keeps only one group's Python objects alive (memory at 1M articles); incident ids
are the only thing that can cross groups (an earlier incident whose reports moved to another group, or a new id
that another group keeps), and then it resolves in one piece. Compared here as whole tables, order included.
"""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

import rasd.resolve as R
from rasd.schema import to_arrow
from test_resolve import DARAA_GOV, JASIM, art, ev
from test_resolve_incremental import HOMS, S, _corpus


@pytest.fixture
def split_always(monkeypatch):
    monkeypatch.setattr(R, "GROUP_MIN_EVENTS", 0)


def _one_piece(e, a, previous=None):
    return R._resolve(e, a, S, previous, (), (), ())


@pytest.mark.parametrize("seed", range(6))
def test_by_group_equals_one_piece(split_always, seed):
    arts, events = _corpus(500 + seed, 250)
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    got = R._resolve_by_group(e, a, S, None, (), (), ())
    assert got is not None  # no previous publication: nothing can cross groups
    want = _one_piece(e, a)
    for g, w in zip(got[:2], want[:2]):
        assert g.equals(w)  # same rows in the same order
    assert sorted(map(str, got[2].to_pylist())) == sorted(map(str, want[2].to_pylist()))
    assert R.resolve_full(e, a, S)[:2] == tuple(want[:2])


@pytest.mark.parametrize("seed", range(6))
def test_with_previous_and_reports_moved_between_groups(split_always, seed):
    """Ids kept from a previous publication; some reports edited into another governorate or event type."""
    arts, events = _corpus(600 + seed, 250)
    e0, a = to_arrow("events", events), to_arrow("articles", arts)
    _, links0, _ = R.resolve_full(e0, a, S)
    rng = random.Random(seed)
    events1 = list(events)
    moved = 0 if seed < 2 else 3  # seeds 0, 1: no edits, so the split path is taken
    for k in rng.sample(range(len(events1)), moved):
        e = dict(events1[k])
        e.update(HOMS) if e["admin1"] != "Homs" else e.update(JASIM)
        events1[k] = e
    e1 = to_arrow("events", events1)
    want = _one_piece(e1, a, links0)
    got = R._resolve_by_group(e1, a, S, links0, (), (), ())
    if seed < 2:
        assert got is not None
    if got is not None:
        assert got[0].equals(want[0]) and got[1].equals(want[1])
    assert R.resolve_full(e1, a, S, previous=links0)[:2] == tuple(want[:2])


def test_new_id_kept_by_another_group(split_always):
    """inc_x was kept by y's incident (x left it earlier); x, now elsewhere, starts a new incident: inc_x_2."""
    d = date(2023, 3, 1)
    arts = [art("a1", "SOHR", d), art("a2", "Enab Baladi", d + timedelta(days=1))]
    events = [ev("x", "a1", d, HOMS, "Battles", "Armed clash"), ev("y", "a2", d, DARAA_GOV, "Battles", "Armed clash")]
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    import pyarrow as pa

    previous = pa.table({"incident_id": ["inc_x"], "event_id": ["y"], "article_id": ["a2"], "role": ["member"]})
    assert R._resolve_by_group(e, a, S, previous, (), (), ()) is None  # x's group would hand out inc_x too
    inc, links, _ = R.resolve_full(e, a, S, previous=previous)
    assert dict(zip(links["event_id"].to_pylist(), links["incident_id"].to_pylist())) == {"y": "inc_x", "x": "inc_x_2"}
    assert inc.equals(_one_piece(e, a, previous)[0])


def test_report_frame_in_slices_equals_whole(monkeypatch):
    """The state's per-report hashes do not depend on how the events are sliced while hashing."""
    arts, events = _corpus(700, 60)
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    whole = R._report_frame(e, a)
    monkeypatch.setattr(R, "_FRAME_ROWS", 7)
    sliced = R._report_frame(e, a)
    assert e.num_rows > 7 and sliced.equals(whole)

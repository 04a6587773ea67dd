"""Incremental resolution (rasd.resolve.resolve_incremental) gives exactly what resolving everything gives.

Dense random event sets (a few places in two governorates, named places with and without ids, districts and
governorates, week/month summaries with figures, undated reports, days across several segments) are resolved in
full; then articles are added, edited or removed, and the incremental result is compared with a full resolution
of the new events (same previous publication), as sorted tables, ids included.
"""
from __future__ import annotations

import random
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rasd.resolve import (SEGMENT_DAYS, _halo, reach_days, resolve, resolve_full, resolve_incremental)
from rasd.schema import to_arrow
from rasd.settings import Settings
from test_resolve import ALMA, DARAA, DARAA_GOV, GOV, ISIS, JASIM, LOCAL, NIMR, WEST_DARAA, art, ev

S = Settings()
NO_ID = dict(JASIM, location="Jasim farms", place_id=None, lat=32.995, lon=36.065)  # named place without id
HOMS = dict(location="Rastan", location_ar="الرستن", place_id="SY_RASTAN", admin1="Homs", admin2="Rastan",
            admin3="Rastan", lat=34.92, lon=36.73, geo_precision=1)
HOMS_GOV = dict(location="Homs", location_ar="حمص", place_id=None, admin1="Homs", admin2=None, admin3=None,
                lat=34.7, lon=36.7, geo_precision=3)
PLACES = [JASIM, JASIM, NIMR, DARAA, ALMA, WEST_DARAA, DARAA_GOV, NO_ID, HOMS, HOMS, HOMS_GOV]
TYPES = [("Battles", "Armed clash"), ("Battles", "Armed clash"), ("Explosions/Remote violence", "Air/drone strike"),
         ("Violence against civilians", "Attack")]
START = date(2023, 1, 2)
SPAN = 150  # days: several segments


def _event(rng, eid, aid, day):
    et, sub = rng.choice(TYPES)
    prec = rng.choice(["day"] * 7 + ["week", "week", "month"])
    q = rng.choice(["exact", "exact", "at_least", "more_than", "about", "vague", None])
    killed = None if q in ("vague", None) else rng.randrange(0, 40)
    if rng.random() < 0.02:
        day = None  # undated
    return ev(eid, aid, day, rng.choice(PLACES), et, sub, a1=rng.choice([LOCAL, GOV, "Unidentified armed group", None]),
              a2=rng.choice([ISIS, None]), precision=prec, killed=killed, kq=q, wounded=rng.choice([None, 1, 3]))


def _article(rng, k, first=START, span=SPAN):
    pub = first + timedelta(days=rng.randrange(span))
    a = art(f"a{k}", rng.choice(["Enab Baladi", "North Press", "Syria TV", "SOHR", None]), pub)
    evs = [_event(rng, f"e{k}_{j}", a["article_id"], pub - timedelta(days=rng.choice([0, 0, 1, 1, 2, 3, 6, 8])))
           for j in range(rng.choice([1, 2, 3, 4]))]
    return a, evs


def _corpus(seed, n, span=SPAN):
    rng = random.Random(seed)
    arts, events = [], []
    for k in range(n):
        a, evs = _article(rng, k, START, span)
        arts.append(a)
        events += evs
    return arts, events


def _sorted(t: pa.Table) -> list:
    return sorted(map(str, t.to_pylist()))


def _check(arts0, events0, arts1, events1, settings=S, max_share=1.0):
    """Full resolution of the first set, then the second set in full and incrementally: the same tables."""
    e0, a0 = to_arrow("events", events0), to_arrow("articles", arts0)
    inc0, links0, state0 = resolve_full(e0, a0, settings)
    assert (inc0, links0) == resolve(e0, a0, settings)
    e1, a1 = to_arrow("events", events1), to_arrow("articles", arts1)
    inc_f, links_f, state_f = resolve_full(e1, a1, settings, previous=links0)
    got = resolve_incremental(e1, a1, settings, state0, inc0, links0, max_share=max_share)
    assert got is not None
    inc_i, links_i, state_i, info = got
    assert _sorted(inc_i) == _sorted(inc_f)
    assert _sorted(links_i) == _sorted(links_f)
    assert _sorted(state_i) == _sorted(state_f)  # so the next run starts from the same state
    return info


@pytest.mark.parametrize("seed", range(8))
def test_new_articles_at_the_end(seed):
    arts, events = _corpus(seed, 600, span=500)
    rng = random.Random(1000 + seed)
    more_a, more_e = [], []
    for k in range(600, 616):
        a, evs = _article(rng, k, START + timedelta(days=500), 7)
        more_a.append(a)
        more_e += evs
    info = _check(arts, events, arts + more_a, events + more_e, max_share=0.5)
    assert 0 < info["resolved"] < len(events) / 3


# 34: a summary beyond B taken by a cluster of the segment before B, whose key changed (the state differed);
# 22, 44: a month summary no longer takes reports beyond B, and its old key is also that of the remade cluster
@pytest.mark.parametrize("seed", [*range(8), 22, 34, 44])
def test_additions_edits_and_deletions_anywhere(seed):
    arts, events = _corpus(100 + seed, 200)
    rng = random.Random(2000 + seed)
    arts1, events1 = list(arts), list(events)
    for k in range(200, 205):  # late articles about any time
        a, evs = _article(rng, k)
        arts1.append(a)
        events1 += evs
    gone = set(rng.sample([a["article_id"] for a in arts], 3))  # removed articles
    arts1 = [a for a in arts1 if a["article_id"] not in gone]
    events1 = [e for e in events1 if e["article_id"] not in gone]
    for k in rng.sample(range(len(events1)), 4):  # edited reports: date, figure, place
        e = dict(events1[k])
        if e["event_date"] is not None:
            e["event_date"] = e["event_date"] + timedelta(days=rng.choice([-2, -1, 1, 5]))
        e["fatalities"], e["fatalities_qualifier"] = rng.randrange(1, 50), "exact"
        e["location"], e["place_id"] = rng.choice([(JASIM["location"], JASIM["place_id"]), ("Nimr", "SY_NIMR")])
        events1[k] = e
    k = rng.randrange(len(arts1))  # an article re-dated (changes the order of reports)
    arts1[k] = dict(arts1[k], published_at=arts1[k]["published_at"] + timedelta(days=1))
    _check(arts, events, arts1, events1)


def _edge_day(first_change: date, settings, summary: bool) -> list[date]:
    """Days around the edges the incremental path computes from a change on ``first_change``."""
    lo = first_change.toordinal() - _halo(settings, not summary)
    s = ((lo - 1) // SEGMENT_DAYS) * SEGMENT_DAYS + 1
    t1, v = s - reach_days(settings), s - 2 * reach_days(settings)
    return [date.fromordinal(o + d) for o in (s, t1, v) for d in (-1, 0, 1)]


# 27: a new week report whose cluster takes reports beyond B (its key must be the new one in the state); 60: a
# cluster no longer takes reports beyond B
@pytest.mark.parametrize("seed", [*range(6), 27, 60])
@pytest.mark.parametrize("summary", [False, True])
def test_changes_at_the_edge_of_the_reach(seed, summary):
    """A new report whose zone boundaries (segment start, T1, V) fall right on days with reports of every kind."""
    arts, events = _corpus(300 + seed, 200)
    rng = random.Random(3000 + seed)
    change = START + timedelta(days=110 + rng.randrange(30))
    extra_a = []
    for k, day in enumerate(_edge_day(change, S, summary)):  # dense reports on the edge days, in the base already
        a = art(f"edge{k}", rng.choice(["Enab Baladi", "SOHR"]), day + timedelta(days=1))
        extra_a.append(a)
        for j in range(3):
            e = _event(rng, f"edge{k}_{j}", a["article_id"], day)
            if e["event_date"] is None:
                e["event_date"] = day
            events.append(e)
    arts += extra_a
    a = art("new", "Syria TV", change + timedelta(days=1))
    e = ev("new_1", "new", change, JASIM, precision="week" if summary else "day", killed=30)
    _check(arts, events, arts + [a], events + [e])


def test_settings_change_the_reach():
    wide = Settings(merge_date_slack_days=3, summary_window_slack_days=7)
    arts, events = _corpus(7, 160)
    rng = random.Random(7)
    a, evs = _article(rng, 999, START + timedelta(days=80), 5)
    _check(arts, events, arts + [a], events + evs, settings=wide)
    assert reach_days(wide) > reach_days(S)


def test_nothing_changed_returns_the_previous_tables():
    arts, events = _corpus(11, 60)
    e0, a0 = to_arrow("events", events), to_arrow("articles", arts)
    inc0, links0, state0 = resolve_full(e0, a0, S)
    inc, links, state, info = resolve_incremental(e0, a0, S, state0, inc0, links0)
    assert info["resolved"] == 0 and inc is inc0 and links is links0


def test_incident_held_back_by_the_gate_comes_back():
    """An incident the previous publication left out (quarantined) is resolved again, as a full run would."""
    arts, events = _corpus(12, 120)
    e0, a0 = to_arrow("events", events), to_arrow("articles", arts)
    inc0, links0, state0 = resolve_full(e0, a0, S)
    held = inc0["incident_id"][len(inc0) // 2]
    published = inc0.filter(pc.not_equal(inc0["incident_id"], held))
    pub_links = links0.filter(pc.not_equal(links0["incident_id"], held))
    full = resolve_full(e0, a0, S, previous=pub_links)
    inc, links, _, info = resolve_incremental(e0, a0, S, state0, published, pub_links)
    assert info["held_back"] >= 1
    assert _sorted(inc) == _sorted(full[0]) and _sorted(links) == _sorted(full[1])


def test_too_many_changes_fall_back():
    arts, events = _corpus(13, 80)
    e0, a0 = to_arrow("events", events), to_arrow("articles", arts)
    inc0, links0, state0 = resolve_full(e0, a0, S)
    moved = [dict(e, event_date=e["event_date"] + timedelta(days=1)) if e["event_date"] else e for e in events]
    assert resolve_incremental(to_arrow("events", moved), a0, S, state0, inc0, links0, max_share=0.5) is None


def _step(arts, events, state, inc, links, settings=S):
    """One incremental run from (state, inc, links); checked against a full run; returns the incremental tables."""
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    got = resolve_incremental(e, a, settings, state, inc, links, max_share=1.0)
    assert got is not None
    inc_i, links_i, state_i, info = got
    inc_f, links_f, state_f = resolve_full(e, a, settings, previous=links)
    assert _sorted(inc_i) == _sorted(inc_f)
    assert _sorted(links_i) == _sorted(links_f)
    assert _sorted(state_i) == _sorted(state_f)
    return inc_i, links_i, state_i, info


@pytest.mark.parametrize("seed", range(4))
def test_two_incremental_runs_in_a_row(seed):
    """An incremental run that starts from an incremental run's state still gives what a full run gives."""
    arts, events = _corpus(400 + seed, 300, span=300)
    rng = random.Random(4000 + seed)
    e0, a0 = to_arrow("events", events), to_arrow("articles", arts)
    inc, links, state = resolve_full(e0, a0, S)
    for step in range(2):
        for k in range(4):  # late articles about any time, and a few new ones at the end
            a, evs = _article(rng, 1000 * (step + 1) + k, START, 300)
            arts, events = arts + [a], events + evs
        a, evs = _article(rng, 1000 * (step + 1) + 99, START + timedelta(days=300 + 7 * step), 5)
        arts, events = arts + [a], events + evs
        k = rng.randrange(len(events))  # an edited report
        if events[k]["event_date"] is not None:
            events[k] = dict(events[k], event_date=events[k]["event_date"] + timedelta(days=rng.choice([-1, 2])))
        inc, links, state, _ = _step(arts, events, state, inc, links)


def test_distant_changes_in_one_group_get_their_own_zones():
    """Changes far apart in time are resolved in separate zones: the years between them are not resolved again."""
    arts, events = _corpus(21, 1200, span=1000)
    e0, a0 = to_arrow("events", events), to_arrow("articles", arts)
    inc, links, state = resolve_full(e0, a0, S)
    more_a, more_e = [], []
    for k, day in enumerate((100, 500, 900)):  # three reports at Jasim, far apart
        a = art(f"far{k}", "SOHR", START + timedelta(days=day + 1))
        more_a.append(a)
        more_e.append(ev(f"far{k}_1", a["article_id"], START + timedelta(days=day), JASIM, killed=3))
    *_, info = _step(arts + more_a, events + more_e, state, inc, links)
    assert info["zones"] == 3
    assert info["resolved"] < len(events) / 2

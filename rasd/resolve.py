"""Cross-article resolution: merge event reports into incidents and reconcile their figures.

The rules, with examples, are in ``docs/resolution.md``; every threshold comes from ``Settings``.
Entry point: :func:`resolve`.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Iterable

import pyarrow as pa

from rasd.schema import to_arrow

# Length in days of the period an event_date opens, by date_precision.
PERIOD_DAYS = {"day": 1, "week": 7, "month": 31}
PRECISION_ORDER = {"day": 0, "week": 1, "month": 2}
# Event types whose reports may disagree on the sub-event type and still be one incident: outlets often
# call the same bombardment artillery in one report and an air strike in another, or the same fight a
# clash in one and a takeover in another. For every other type the sub-event type must match too
# (an abduction and a killing, or an agreement and an arrest, are different incidents).
LOOSE_SUB_EVENT_TYPES = frozenset({"Battles", "Explosions/Remote violence"})
# Actor names that say nothing about who acted; they never contradict a named actor.
GENERIC_ACTOR_PREFIXES = ("unidentified", "unknown", "civilians", "local residents")
BUCKET_DAYS = 7  # width of the date buckets used for blocking (not a threshold: any width gives the same result)
_INF = math.inf


@dataclass(slots=True)
class _Report:
    idx: int
    event_id: str
    article_id: str
    outlet_key: str
    published: date | None
    day: int | None  # event_date as an ordinal
    precision: str
    event_type: str
    sub_event_type: str
    actor1: str | None
    actor2: str | None
    actor_keys: frozenset
    location: str | None
    place_id: str | None
    admin1: str | None
    admin2: str | None
    lat: float | None
    lon: float | None
    geo: int | None  # 1 named place, 2 part of a region, 3 governorate, None unknown
    row: dict = field(repr=False)
    rank: int = 0  # position in "earliest report first" order

    @property
    def end(self) -> int:
        return self.day + PERIOD_DAYS.get(self.precision, 1) - 1


def _actor_key(name: str | None) -> str | None:
    """Comparable actor key: case-folded, without a trailing '(…)' gloss; None for generic actors."""
    if not name:
        return None
    key = name.split(" (")[0].strip().casefold()
    if not key or key.startswith(GENERIC_ACTOR_PREFIXES):
        return None
    return key


def _geo(row: dict) -> int | None:
    g = row.get("geo_precision")
    if g is not None:
        return int(g)
    if row.get("place_id") or row.get("lat") is not None:
        return 1
    if row.get("admin2"):
        return 2
    if row.get("admin1"):
        return 3
    return None


def _haversine_km(a: _Report, b: _Report) -> float:
    if None in (a.lat, a.lon, b.lat, b.lon):
        return _INF
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _place_ok(a: _Report, b: _Report, km: float) -> bool:
    """Can a and b be at the same place? (see docs/resolution.md, "Place")."""
    if a.geo is None or b.geo is None:
        return False
    if a.admin1 and b.admin1 and a.admin1 != b.admin1:
        return False
    if a.geo == 1 and b.geo == 1:
        if a.place_id and b.place_id:
            # Two different named places are two places, however close: neighbouring villages each
            # have their own assassinations and raids on the same day.
            return a.place_id == b.place_id
        return _haversine_km(a, b) <= km
    if a.place_id and b.place_id and a.place_id == b.place_id:
        return True
    coarse = max(a.geo, b.geo)
    if a.geo > 1 and b.geo > 1:
        # two coarse places: "western Daraa countryside" and "eastern Daraa countryside" differ
        if a.place_id and b.place_id:
            return False
        if a.location and b.location and coarse == 2 and a.geo == b.geo:
            return a.location.casefold() == b.location.casefold()
    if coarse == 2:
        if a.admin2 and b.admin2:
            return a.admin2 == b.admin2
        return bool(a.admin1 and b.admin1)
    return bool(a.admin1 and b.admin1)


def _type_ok(a: _Report, b: _Report) -> bool:
    if a.event_type != b.event_type:
        return False
    return a.event_type in LOOSE_SUB_EVENT_TYPES or a.sub_event_type == b.sub_event_type


def _actors_ok(a: _Report, b: _Report) -> bool:
    """Actors contradict when both reports name specific actors and none is shared."""
    return not a.actor_keys or not b.actor_keys or bool(a.actor_keys & b.actor_keys)


def _figure(n, qualifier) -> tuple[int, int, float, int] | None:
    """(stated, lower bound, upper bound, high value) of one report's figure; None when not usable."""
    if n is None or qualifier == "vague":
        return None
    n = int(n)
    if qualifier == "more_than":
        return n, n + 1, _INF, n + 1
    if qualifier == "at_least":
        return n, n, _INF, n
    return n, n, n, n  # exact, about, or no qualifier given


def _lower_median(values: list[int]) -> int:
    values = sorted(values)
    return values[(len(values) - 1) // 2]


def reconcile(figures: Iterable[tuple], tolerance: float) -> tuple[int | None, int | None, int | None, bool]:
    """UCDP-style (low, best, high, conflicting) from (n, qualifier) pairs of the reports.

    low = smallest stated figure ("at least/more than N" counts as N); high = largest credible figure
    ("more than N" counts as N + 1); best = lower median of the stated figures (always a figure some
    report gave). Conflicting when the reports' ranges cannot all hold, by more than ``tolerance``
    relative to the larger bound.
    """
    parsed = [f for f in (_figure(n, q) for n, q in figures) if f is not None]
    if not parsed:
        return None, None, None, False
    stated = [p[0] for p in parsed]
    low, best, high = min(stated), _lower_median(stated), max(p[3] for p in parsed)
    lo_bound, hi_bound = max(p[1] for p in parsed), min(p[2] for p in parsed)
    conflicting = lo_bound > hi_bound and (lo_bound - hi_bound) / lo_bound > tolerance
    return low, best, high, conflicting


def _reports(events: pa.Table, articles: pa.Table) -> list[_Report]:
    art = {}
    if articles is not None and articles.num_rows:
        cols = [c for c in ("article_id", "outlet", "published_at") if c in articles.column_names]
        for r in articles.select(cols).to_pylist():
            art[r["article_id"]] = r
    out = []
    wanted = ("event_id", "article_id", "event_date", "date_precision", "event_type", "sub_event_type", "actor1",
              "actor2", "location", "place_id", "admin1", "admin2", "lat", "lon", "geo_precision", "fatalities",
              "fatalities_qualifier", "wounded", "wounded_qualifier", "detained", "detained_qualifier")
    events = events.select([c for c in wanted if c in events.column_names])
    for i, row in enumerate(events.to_pylist()):
        a = art.get(row["article_id"], {})
        outlet = (a.get("outlet") or "").strip()
        d = row.get("event_date")
        if isinstance(d, datetime):
            d = d.date()
        precision = row.get("date_precision") or "day"
        if precision not in PERIOD_DAYS:
            precision = "day"
        keys = frozenset(k for k in (_actor_key(row.get("actor1")), _actor_key(row.get("actor2"))) if k)
        out.append(_Report(
            idx=i, event_id=row["event_id"], article_id=row["article_id"],
            # an article without a known outlet still counts as one outlet of its own
            outlet_key=outlet.casefold() if outlet else f"article:{row['article_id']}",
            published=a.get("published_at"), day=d.toordinal() if d is not None else None,
            precision=precision, event_type=row.get("event_type") or "", sub_event_type=row.get("sub_event_type") or "",
            actor1=row.get("actor1"), actor2=row.get("actor2"), actor_keys=keys,
            location=row.get("location"), place_id=row.get("place_id"), admin1=row.get("admin1"),
            admin2=row.get("admin2"), lat=row.get("lat"), lon=row.get("lon"), geo=_geo(row), row=row,
        ))
    # "earliest report first": publication date, then event date, then event_id (unknowns last)
    for r in out:
        if isinstance(r.published, datetime):
            r.published = r.published.date()
    order = sorted(out, key=lambda r: (r.published or date.max, r.day if r.day is not None else 10**9, r.event_id))
    for rank, r in enumerate(order):
        r.rank = rank
    return out


class _Clusters:
    """Complete-linkage clusters under a cannot-link rule: one article never appears twice in a cluster."""

    def __init__(self, reports: list[_Report], compatible: set[tuple[int, int]]):
        self.reports = reports
        self.compatible = compatible
        self.of: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.articles: dict[int, set[str]] = {}

    def add(self, i: int) -> None:
        self.of[i] = i
        self.members[i] = [i]
        self.articles[i] = {self.reports[i].article_id}

    def can_join(self, ci: int, cj: int) -> bool:
        if self.articles[ci] & self.articles[cj]:
            return False
        return all((min(a, b), max(a, b)) in self.compatible for a in self.members[ci] for b in self.members[cj])

    def join(self, ci: int, cj: int) -> int:
        keep, drop = min(ci, cj), max(ci, cj)
        for m in self.members.pop(drop):
            self.of[m] = keep
            self.members[keep].append(m)
        self.articles[keep] |= self.articles.pop(drop)
        return keep


def _candidate_pairs(reports: list[_Report], idxs: list[int], slack: int) -> Iterable[tuple[int, int]]:
    """Pairs that share a block: same admin1 and event type, overlapping (slack-widened) date buckets.

    Within a block only pairs that can pass the place rule are formed: same place_id; a district-level
    report with the reports of its district (or of no known district); reports that can match anywhere in
    the governorate (governorate-level, or a named place without place_id) with all. So the work stays
    near-linear in the number of reports.
    """
    blocks: dict[tuple, list[int]] = defaultdict(list)
    for i in idxs:
        r = reports[i]
        if r.geo is None:
            continue  # no location: matches nothing
        for b in range((r.day - slack) // BUCKET_DAYS, (r.end + slack) // BUCKET_DAYS + 1):
            blocks[(r.admin1 or "", r.event_type, b)].append(i)
    seen: set[tuple[int, int]] = set()

    def pair_all(group: list[int]) -> None:
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                seen.add((min(group[x], group[y]), max(group[x], group[y])))

    for members in blocks.values():
        by_place: dict[str, list[int]] = defaultdict(list)
        by_admin2: dict[str | None, list[int]] = defaultdict(list)
        wild, district = [], []
        for i in members:
            r = reports[i]
            if r.place_id:
                by_place[r.place_id].append(i)
            by_admin2[r.admin2].append(i)
            if r.geo >= 3 or (r.geo == 1 and not r.place_id) or (r.geo == 2 and not r.admin2):
                wild.append(i)
            elif r.geo == 2:
                district.append(i)
        for g in by_place.values():
            pair_all(g)
        for i in district:
            for j in by_admin2[reports[i].admin2] + by_admin2[None]:
                if j != i:
                    seen.add((min(i, j), max(i, j)))
        for i in wild:
            for j in members:
                if j != i:
                    seen.add((min(i, j), max(i, j)))
    return sorted(seen)


def _compatible(a: _Report, b: _Report, settings, day_level: bool) -> bool:
    if a.article_id == b.article_id or not _type_ok(a, b) or not _actors_ok(a, b):
        return False
    slack = settings.merge_date_slack_days
    if day_level:
        if abs(a.day - b.day) > slack:
            return False
    elif a.day - slack > b.end or b.day - slack > a.end:
        return False
    return _place_ok(a, b, settings.merge_distance_km)


def _cluster(reports: list[_Report], idxs: list[int], settings, day_level: bool) -> list[list[int]]:
    """Greedy complete-linkage clustering, closest pairs first; coarse places join last (see docs)."""
    slack = settings.merge_date_slack_days
    compatible: set[tuple[int, int]] = set()
    scored = []
    for i, j in _candidate_pairs(reports, idxs, slack):
        a, b = reports[i], reports[j]
        if _compatible(a, b, settings, day_level):
            compatible.add((i, j))
            dist = 0.0 if a.place_id and a.place_id == b.place_id else _haversine_km(a, b)
            scored.append((abs(a.day - b.day), abs(a.end - b.end), dist, min(a.rank, b.rank), max(a.rank, b.rank), i, j))
    cl = _Clusters(reports, compatible)
    for i in idxs:
        cl.add(i)
    fine = {i for i in idxs if reports[i].geo == 1}
    scored.sort()
    for *_, i, j in scored:
        if i in fine and j in fine:
            ci, cj = cl.of[i], cl.of[j]
            if ci != cj and cl.can_join(ci, cj):
                cl.join(ci, cj)
    # A coarse report (near a town, a region, a governorate) joins a cluster of finer reports only when
    # exactly one such cluster fits; when several fit, which one it belongs to is unknowable.
    partners: dict[int, set[int]] = defaultdict(set)
    for i, j in compatible:
        partners[i].add(j)
        partners[j].add(i)
    for i in sorted((i for i in idxs if i not in fine), key=lambda k: reports[k].rank):
        options = {cl.of[j] for j in partners[i]} - {cl.of[i]}
        options = sorted(c for c in options if cl.can_join(cl.of[i], c))
        finer = [c for c in options if any(m in fine for m in cl.members[c])]
        if len(finer) == 1:
            cl.join(cl.of[i], finer[0])
        elif not finer and options:
            cl.join(cl.of[i], min(options, key=lambda c: min(reports[m].rank for m in cl.members[c])))
    return [sorted(m, key=lambda k: reports[k].rank) for m in cl.members.values()]


@dataclass
class _Incident:
    members: list[int]
    summaries: list[int] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    incident_id: str = ""


def _describe(reports: list[_Report], inc: _Incident, settings) -> None:
    ms = [reports[i] for i in inc.members]
    by_priority = sorted(ms, key=lambda r: (r.geo or 9, r.rank))
    dated = [r for r in ms if r.day is not None]
    if dated:
        finest = min(PRECISION_ORDER[r.precision] for r in dated)
        at = [r for r in dated if PRECISION_ORDER[r.precision] == finest]
        counts = Counter(r.day for r in at)
        day = min(counts, key=lambda d: (-counts[d], d))  # most reported date, earliest on ties
        event_date, precision = date.fromordinal(day), at[0].precision
    else:
        event_date, precision = None, min((r.precision for r in ms), key=PRECISION_ORDER.get)
    sub_counts = Counter(r.sub_event_type for r in ms)
    sub = min(sub_counts, key=lambda s: (-sub_counts[s], next(k for k, r in enumerate(by_priority) if r.sub_event_type == s)))
    actor = next((r for r in by_priority if r.actor1), by_priority[0])
    place = next((r for r in by_priority if r.geo is not None), by_priority[0])
    tol = settings.conflict_tolerance
    f_low, f_best, f_high, f_conf = reconcile(((r.row.get("fatalities"), r.row.get("fatalities_qualifier")) for r in ms), tol)
    _, w_best, _, w_conf = reconcile(((r.row.get("wounded"), r.row.get("wounded_qualifier")) for r in ms), tol)
    _, d_best, _, d_conf = reconcile(((r.row.get("detained"), r.row.get("detained_qualifier")) for r in ms), tol)
    inc.values = {
        "event_date": event_date, "date_precision": precision, "event_type": ms[0].event_type,
        "sub_event_type": sub, "actor1": actor.actor1, "actor2": actor.actor2,
        "location": place.location, "place_id": place.place_id, "admin1": place.admin1, "admin2": place.admin2,
        "lat": place.lat, "lon": place.lon,
        "fatalities_low": f_low, "fatalities_best": f_best, "fatalities_high": f_high,
        "wounded_best": w_best, "detained_best": d_best,
        "n_reports": len(ms), "n_outlets": len({r.outlet_key for r in ms}),
        "conflicting": bool(f_conf or w_conf or d_conf),
    }


def _covers(s: _Report, m: _Report, settings) -> bool:
    """Does week/month summary s cover day-level report m?"""
    w = settings.summary_window_slack_days
    return (m.day is not None and s.day - w <= m.day <= s.end + w and _type_ok(s, m) and _actors_ok(s, m)
            and _place_ok(s, m, settings.merge_distance_km))


def _apply_summary(reports: list[_Report], summary: list[int], covered: list[_Incident]) -> None:
    """Raise fatalities_high of the covered incidents so that together they reach the summary's figure.

    The excess (summary high minus the sum of the covered incidents' highs) is shared in proportion to
    the incidents' fatalities_best (equally when none has one), in whole people by largest remainder.
    """
    highs = [f[3] for f in (_figure(reports[i].row.get("fatalities"), reports[i].row.get("fatalities_qualifier"))
                            for i in summary) if f is not None]
    if not highs:
        return
    total = sum(inc.values["fatalities_high"] or 0 for inc in covered)
    excess = max(highs) - total
    if excess <= 0:
        return
    weights = [inc.values["fatalities_best"] or 0 for inc in covered]
    if not sum(weights):
        weights = [1] * len(covered)
    raw = [excess * w / sum(weights) for w in weights]
    shares = [int(math.floor(x)) for x in raw]
    order = sorted(range(len(covered)), key=lambda k: (-(raw[k] - shares[k]), k))
    for k in order[: excess - sum(shares)]:
        shares[k] += 1
    for inc, share in zip(covered, shares):
        if share:
            inc.values["fatalities_high"] = (inc.values["fatalities_high"] or 0) + share


def _assign_ids(reports: list[_Report], incidents: list[_Incident], previous: pa.Table | None) -> None:
    """Keep the previous publication's id where an incident keeps its reports; else inc_<earliest event_id>."""
    prev: dict[str, str] = {}
    if previous is not None and previous.num_rows:
        has_role = "role" in previous.column_names
        for r in previous.to_pylist():
            if not has_role or r.get("role") in (None, "member"):
                prev[r["event_id"]] = r["incident_id"]
    claims = []
    for k, inc in enumerate(incidents):
        counts = Counter(prev[reports[i].event_id] for i in inc.members if reports[i].event_id in prev)
        claims += [(-n, pid, reports[inc.members[0]].rank, k) for pid, n in counts.items()]
    used: set[str] = set()
    for _, pid, _, k in sorted(claims):
        if not incidents[k].incident_id and pid not in used:
            incidents[k].incident_id = pid
            used.add(pid)
    for inc in sorted(incidents, key=lambda x: reports[x.members[0]].rank):
        if inc.incident_id:
            continue
        for i in inc.members:  # members are in earliest-report order
            cand = f"inc_{reports[i].event_id}"
            if cand not in used:
                break
        n = 2
        while cand in used:
            cand, n = f"inc_{reports[inc.members[0]].event_id}_{n}", n + 1
        inc.incident_id = cand
        used.add(cand)


def _apply_overrides(reports, daily: list, settings, force_merge, force_split) -> list:
    """Analyst corrections: take split reports out of their incidents, then force merges of two reports' incidents."""
    if not force_merge and not force_split:
        return daily
    by_event = {r.event_id: r.idx for r in reports}
    for eid in sorted(force_split or ()):
        i = by_event.get(eid)
        for inc in daily:
            if i is not None and i in inc.members and len(inc.members) > 1:
                inc.members.remove(i)
                daily.append(_Incident([i]))
                break
    for a, b in force_merge or ():
        ia, ib = by_event.get(a), by_event.get(b)
        ka = next((k for k, inc in enumerate(daily) if ia in inc.members), None)
        kb = next((k for k, inc in enumerate(daily) if ib in inc.members), None)
        if ka is None or kb is None or ka == kb:
            continue  # unknown, summary-level, or already together
        daily[ka].members = sorted(set(daily[ka].members) | set(daily[kb].members))
        del daily[kb]
    for inc in daily:
        _describe(reports, inc, settings)
    return daily


def resolve(events: pa.Table, articles: pa.Table, settings, previous: pa.Table | None = None,
            previous_events: pa.Table | None = None, force_merge=(), force_split=()) -> tuple[pa.Table, pa.Table]:
    """Merge event reports from different articles into incidents.

    Returns ``(incidents, incident_reports)`` conforming to ``rasd.schema``. ``previous`` is the previous
    publication's ``incident_reports``; its ids are kept for incidents that keep their reports.
    ``previous_events`` is accepted for API symmetry and not needed (event ids are stable).
    ``force_merge`` (pairs of event ids) and ``force_split`` (event ids) are analyst corrections applied to
    day-level incidents after clustering.
    """
    reports = _reports(events, articles)
    day_idx = [r.idx for r in reports if r.precision == "day" and r.day is not None]
    summary_idx = [r.idx for r in reports if r.precision != "day" and r.day is not None]
    undated = [r.idx for r in reports if r.day is None]

    daily = [_Incident(m) for m in _cluster(reports, day_idx, settings, day_level=True)]
    daily += [_Incident([i]) for i in undated]  # nothing to match an undated report on: it stands alone
    for inc in daily:
        _describe(reports, inc, settings)
    daily = _apply_overrides(reports, daily, settings, force_merge, force_split)

    # Index day-level incidents by block (and by the named place they are at) so that each summary looks
    # only at its own governorate, weeks and town.
    index: dict[tuple, set[int]] = defaultdict(set)
    for k, inc in enumerate(daily):
        place = inc.values["place_id"] if min(reports[i].geo or 9 for i in inc.members) == 1 else None
        for i in inc.members:
            r = reports[i]
            if r.day is not None:
                index[(r.admin1 or "", r.event_type, r.day // BUCKET_DAYS)].add(k)
                index[(r.admin1 or "", r.event_type, r.day // BUCKET_DAYS, place)].add(k)

    summaries = _cluster(reports, summary_idx, settings, day_level=False)
    summaries.sort(key=lambda m: (max(PERIOD_DAYS[reports[i].precision] for i in m), min(reports[i].day for i in m),
                                  reports[m[0]].rank))
    standalone = []
    w = settings.summary_window_slack_days
    for members in summaries:
        ss = [reports[i] for i in members]
        lo, hi = max(s.day for s in ss) - w, min(s.end for s in ss) + w
        named = next((s.place_id for s in ss if s.geo == 1 and s.place_id), None)
        cand: set[int] = set()
        for s in ss[:1]:  # every summary report must cover the incident, so the first one's block suffices
            for b in range(lo // BUCKET_DAYS, hi // BUCKET_DAYS + 1):
                if named:  # a town-level summary: incidents at that town, or at no named place
                    cand |= index.get((s.admin1 or "", s.event_type, b, named), set())
                    cand |= index.get((s.admin1 or "", s.event_type, b, None), set())
                else:
                    cand |= index.get((s.admin1 or "", s.event_type, b), set())
        # a summary covers an incident placed at least as precisely as itself, whose every report it covers
        covered = [daily[k] for k in sorted(cand)
                   if min(reports[i].geo or 9 for i in daily[k].members) <= min(s.geo or 9 for s in ss)
                   and all(_covers(s, reports[i], settings) for s in ss for i in daily[k].members)]
        if covered:
            covered.sort(key=lambda inc: (inc.values["event_date"], reports[inc.members[0]].rank))
            for inc in covered:
                inc.summaries.extend(members)
            _apply_summary(reports, members, covered)
        else:
            inc = _Incident(members)
            _describe(reports, inc, settings)
            standalone.append(inc)

    incidents = daily + standalone
    _assign_ids(reports, incidents, previous)
    incidents.sort(key=lambda inc: (inc.values["event_date"] or date.max, inc.incident_id))
    inc_rows, link_rows = [], []
    for inc in incidents:
        inc_rows.append({"incident_id": inc.incident_id, **inc.values})
        links = [(i, "member") for i in inc.members] + [(i, "summary") for i in inc.summaries]
        for i, role in sorted(links, key=lambda x: (x[1], reports[x[0]].event_id)):
            link_rows.append({"incident_id": inc.incident_id, "event_id": reports[i].event_id,
                              "article_id": reports[i].article_id, "role": role})
    return to_arrow("incidents", inc_rows), to_arrow("incident_reports", link_rows)

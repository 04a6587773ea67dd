"""Cross-article resolution: merge event reports into incidents and reconcile their figures.

The rules, with examples, are in ``docs/resolution.md``; every threshold comes from ``Settings``.
Entry point: :func:`resolve`.
"""
from __future__ import annotations

import gc
import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from rasd.schema import INCIDENT_REPORTS, INCIDENTS

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
# Width in days of the date buckets that index day-level incidents for the summaries (not a threshold: any width
# gives the same result). 1: a summary looks only at the days of its widened period; a wider bucket makes every
# summary scan the incidents of the bucket's other days too, which grows with the square of the reports per day.
BUCKET_DAYS = 1
# Clustering runs in consecutive segments of this many days (Monday-aligned, from the oldest), so that a report's
# incident depends on a bounded stretch of time (docs/resolution.md, "Segments"); 14-56 days change little.
SEGMENT_DAYS = 28
_INF = math.inf


@dataclass(slots=True)
class _Report:
    idx: int
    event_id: str
    article_id: str
    outlet_key: str
    published: int | None  # publication date as an ordinal
    day: int | None  # event_date as an ordinal
    end: int | None  # last day of its period (= day for day precision)
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
    fatalities: int | None = None
    fatalities_qualifier: str | None = None
    wounded: int | None = None
    wounded_qualifier: str | None = None
    detained: int | None = None
    detained_qualifier: str | None = None
    rank: int = 0  # position in "earliest report first" order


def _actor_key(name: str | None) -> str | None:
    """Comparable actor key: case-folded, without a trailing '(…)' gloss; None for generic actors."""
    if not name:
        return None
    key = name.split(" (")[0].strip().casefold()
    if not key or key.startswith(GENERIC_ACTOR_PREFIXES):
        return None
    return key


def _geo(geo_precision, place_id, lat, admin1, admin2) -> int | None:
    if geo_precision is not None:
        return int(geo_precision)
    if place_id or lat is not None:
        return 1
    if admin2:
        return 2
    if admin1:
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


EVENT_COLUMNS = _EVENT_COLUMNS = ("event_id", "article_id", "event_date", "date_precision", "event_type", "sub_event_type", "actor1",
                  "actor2", "location", "place_id", "admin1", "admin2", "lat", "lon", "geo_precision", "fatalities",
                  "fatalities_qualifier", "wounded", "wounded_qualifier", "detained", "detained_qualifier")


ARTICLE_COLUMNS = ("article_id", "outlet", "published_at")  # what resolution reads of an article


# Columns whose values repeat (types, places, actors, an article's id over its events): one Python string per
# distinct value, shared by the rows, instead of one per row (at 100k articles this is ~40 % of resolve's memory).
_SHARED = frozenset({"article_id", "date_precision", "event_type", "sub_event_type", "actor1", "actor2", "location",
                     "place_id", "admin1", "admin2", "fatalities_qualifier", "wounded_qualifier", "detained_qualifier"})


def _column(table: pa.Table, name: str) -> list:
    if name not in table.column_names:
        return [None] * table.num_rows
    col = table.column(name)
    if name in _SHARED and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) and table.num_rows:
        enc = col.combine_chunks().dictionary_encode()
        values = enc.dictionary.to_pylist()
        return [None if k is None else values[k] for k in enc.indices.to_pylist()]
    return col.to_pylist()


# Event columns that may be read dictionary-encoded (``resolve_incidents`` does, at 1M articles they are ~400 MB as
# plain strings and ~30 MB as dictionaries); everything here decodes them to plain strings first (``_plain``), for a
# group or a slice at a time, so every result and every state hash is the same as with plain columns.
DICTIONARY_COLUMNS = ("date_precision", "event_type", "sub_event_type", "actor1", "actor2", "location", "place_id",
                      "admin1", "admin2", "fatalities_qualifier", "wounded_qualifier", "detained_qualifier")


def _plain(table: pa.Table) -> pa.Table:
    """``table`` with dictionary-encoded columns cast to their value type."""
    if not any(pa.types.is_dictionary(f.type) for f in table.schema):
        return table
    return pa.table({f.name: table[f.name].cast(f.type.value_type) if pa.types.is_dictionary(f.type) else table[f.name]
                     for f in table.schema})


def _as_date(d):
    return d.date() if isinstance(d, datetime) else d


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _ordinals(column) -> list:
    """Dates (date or timestamp column) as day ordinals, None for nulls, without making date objects."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("s", tz=column.type.tz)).cast(pa.date32()) if column.type.tz is None else \
            pa.array([_as_date(d) for d in column.to_pylist()], pa.date32())
    days = pc.add(column.cast(pa.date32()).cast(pa.int32()).cast(pa.int64()), _EPOCH_ORDINAL)
    return days.to_pylist()


def _reports(events: pa.Table, articles: pa.Table) -> list[_Report]:
    """One _Report per event row, read column by column (no per-row dicts)."""
    art: dict[str, tuple] = {}
    if articles is not None and articles.num_rows:
        ids = articles.column("article_id").to_pylist()
        outlets = _column(articles, "outlet")
        pubs = _ordinals(articles.column("published_at")) if "published_at" in articles.column_names else [None] * len(ids)
        for a, o, p in zip(ids, outlets, pubs):
            o = (o or "").strip()
            # an article without a known outlet still counts as one outlet of its own
            art[a] = (o.casefold() if o else f"article:{a}", p)
    actor_keys: dict[tuple, frozenset] = {}
    out = []
    append = out.append
    columns = [_ordinals(events.column(n)) if n == "event_date" and n in events.column_names else _column(events, n)
               for n in _EVENT_COLUMNS]
    for i, (eid, aid, day, precision, etype, sub, a1, a2, location, place_id, admin1, admin2, lat, lon, geo, fat, fq,
            wnd, wq, det, dq) in enumerate(zip(*columns)):
        outlet_key, published = art.get(aid) or (f"article:{aid}", None)
        if precision not in PERIOD_DAYS:
            precision = "day"
        keys = actor_keys.get((a1, a2))
        if keys is None:
            keys = actor_keys[(a1, a2)] = frozenset(k for k in (_actor_key(a1), _actor_key(a2)) if k)
        append(_Report(
            i, eid, aid, outlet_key, published, day, day + PERIOD_DAYS[precision] - 1 if day is not None else None,
            precision, etype or "", sub or "", a1, a2, keys, location, place_id, admin1, admin2, lat, lon,
            _geo(geo, place_id, lat, admin1, admin2), fat, fq, wnd, wq, det, dq,
        ))
    # "earliest report first": publication date, then event date, then event_id (unknowns last)
    late = 10**9
    order = sorted(out, key=lambda r: (r.published if r.published is not None else late,
                                       r.day if r.day is not None else late, r.event_id))
    for rank, r in enumerate(order):
        r.rank = rank
    return out


def _wild(r: _Report) -> bool:
    """Can match anywhere in its governorate: governorate-level, a named place without id, a region without district."""
    return r.geo >= 3 or (r.geo == 1 and not r.place_id) or (r.geo == 2 and not r.admin2)


def _paired(a: _Report, b: _Report) -> bool:
    """The blocking rule: only such pairs are ever compared (see docs/resolution.md, "Blocking").

    Same governorate key; then the same place_id, or a district-level report with the reports of its district
    (or of no known district), or a report that can match anywhere in the governorate with all.
    """
    if a.geo is None or b.geo is None or (a.admin1 or "") != (b.admin1 or ""):
        return False
    if a.place_id and a.place_id == b.place_id:
        return True
    if _wild(a) or _wild(b):
        return True
    if a.geo == 2 and b.admin2 in (a.admin2, None):
        return True
    return b.geo == 2 and a.admin2 in (b.admin2, None)


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


class _Clusters:
    """Complete-linkage clusters under a cannot-link rule: one article never appears twice in a cluster.

    A cluster's id is its smallest member. Compatibility of two reports is computed on demand (and
    remembered), never for all pairs up front; a singleton cluster keeps no state of its own.
    """

    def __init__(self, reports: list[_Report], settings, day_level: bool):
        self.reports = reports
        self.settings = settings
        self.day_level = day_level
        self.memo: dict[tuple[int, int], bool] = {}
        self.of = list(range(len(reports)))
        self.multi: dict[int, list[int]] = {}  # members of clusters of two or more
        self.articles: dict[int, set[str]] = {}
        self.fine: dict[int, bool] = {}
        self.first: dict[int, int] = {}  # earliest rank in the cluster

    def compatible(self, i: int, j: int) -> bool:
        key = (i, j) if i < j else (j, i)
        v = self.memo.get(key)
        if v is None:
            a, b = self.reports[i], self.reports[j]
            # cheap tests first (the same as _compatible's, in another order), then blocking and place
            if a.article_id == b.article_id or a.event_type != b.event_type or (
                    a.event_type not in LOOSE_SUB_EVENT_TYPES and a.sub_event_type != b.sub_event_type):
                v = False
            elif a.actor_keys and b.actor_keys and a.actor_keys.isdisjoint(b.actor_keys):
                v = False
            else:
                v = _paired(a, b) and _compatible(a, b, self.settings, self.day_level)
            self.memo[key] = v
        return v

    def members(self, c: int) -> list[int]:
        return self.multi.get(c) or [c]

    def is_fine(self, c: int) -> bool:
        v = self.fine.get(c)
        return self.reports[c].geo == 1 if v is None else v

    def earliest(self, c: int) -> int:
        v = self.first.get(c)
        return self.reports[c].rank if v is None else v

    def _articles(self, c: int) -> set[str]:
        return self.articles.get(c) or {self.reports[c].article_id}

    def can_join(self, ci: int, cj: int) -> bool:
        if not self._articles(ci).isdisjoint(self._articles(cj)):
            return False
        comp = self.compatible
        mj = self.members(cj)
        return all(comp(a, b) for a in self.members(ci) for b in mj)

    def join(self, ci: int, cj: int) -> int:
        keep, drop = min(ci, cj), max(ci, cj)
        fine, first = self.is_fine(keep) or self.is_fine(drop), min(self.earliest(keep), self.earliest(drop))
        articles = self._articles(keep) | self._articles(drop)
        dropped = self.multi.pop(drop, None) or [drop]
        for m in dropped:
            self.of[m] = keep
        self.multi[keep] = self.members(keep) + dropped
        self.articles[keep], self.fine[keep], self.first[keep] = articles, fine, first
        for d in (self.articles, self.fine, self.first):
            d.pop(drop, None)
        return keep


class _Window:
    """Reports sorted by (day, idx), for date-window look-ups (a sorted sweep); dates taken when first needed."""

    __slots__ = ("idx", "days", "reports")

    def __init__(self, idx: list[int], reports: list[_Report]):
        self.idx = idx
        self.days = None
        self.reports = reports

    def dates(self) -> list[int]:
        if self.days is None:
            reports = self.reports
            self.days = [reports[k].day for k in self.idx]
        return self.days

    def between(self, lo: int, hi: int) -> list[int]:
        days = self.days if self.days is not None else self.dates()
        return self.idx[bisect_left(days, lo):bisect_right(days, hi)]


def _cluster(reports: list[_Report], idxs: list[int], settings, day_level: bool) -> list[list[int]]:
    """Greedy complete-linkage clustering, closest pairs first; coarse places join last (see docs).

    Pairs are only looked for inside a governorate and event type, among reports sorted by date and within the
    date slack (a sorted sweep), and only where the blocking rule allows (same place_id; a district-level report
    with its district; a report that can be anywhere in the governorate with all): the work grows with the
    reports and their near neighbours, not with their square.
    """
    slack = settings.merge_date_slack_days
    longest = max(PERIOD_DAYS.values()) - 1
    cl = _Clusters(reports, settings, day_level)
    # Windows: the reports of one (governorate, event type), by date, and subsets of them that the blocking
    # rule and the actors rule let a coarse report be compared with (so it never scans reports it cannot match).
    lists: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    for i in sorted(idxs, key=lambda k: (reports[k].day, k)):
        r = reports[i]
        if r.geo is None:
            continue  # no location: matches nothing
        g = lists[(r.admin1 or "", r.event_type)]
        g["all"].append(i)
        if r.place_id:
            g[("place", r.place_id)].append(i)
        if r.geo == 1:
            admin2 = r.admin2
            for bucket in r.actor_keys or ("",):  # "": no specific actor
                g[("fine", bucket)].append(i)
                g[("fine", bucket, admin2)].append(i)
            g[("fine", None)].append(i)
            g[("fine", None, admin2)].append(i)
            if not r.place_id:
                g["fine_wild"].append(i)
                g["wild"].append(i)
        else:
            g["coarse"].append(i)
            if not r.place_id:
                g["coarse_noid"].append(i)
            if _wild(r):
                g["wild"].append(i)
    windows = {gk: {k: _Window(v, reports) for k, v in g.items()} for gk, g in lists.items()}

    def near(i: int, window: _Window | None):
        """Reports of the window whose dates can be compatible with report i (i itself excluded), lazily."""
        if window is None:
            return
        r = reports[i]
        days, idx = window.dates(), window.idx
        if day_level:
            lo, hi = r.day - slack, r.day + slack
        else:
            lo, hi = r.day - slack - longest, r.end + slack
        for x in range(bisect_left(days, lo), len(days)):
            if days[x] > hi:
                return
            j = idx[x]
            if j == i:
                continue
            if not day_level and (r.day - slack > reports[j].end or reports[j].day - slack > r.end):
                continue
            yield j

    # 1. fine reports (named places): every compatible pair, scored, merged closest first
    scored = []

    def score(i: int, j: int) -> None:
        if i > j:
            i, j = j, i
        if cl.compatible(i, j):
            a, b = reports[i], reports[j]
            dist = 0.0 if a.place_id and a.place_id == b.place_id else _haversine_km(a, b)
            scored.append((abs(a.day - b.day), abs(a.end - b.end), dist, min(a.rank, b.rank), max(a.rank, b.rank), i, j))

    for g in windows.values():
        for key, w in g.items():
            if isinstance(key, tuple) and key[0] == "place" and len(w.idx) > 1:
                idx, days, n = w.idx, w.dates(), len(w.idx)
                for x, i in enumerate(idx):
                    r = reports[i]
                    if r.geo != 1:
                        continue
                    reach = r.day + slack if day_level else r.end + slack
                    y = x + 1
                    while y < n and days[y] <= reach:
                        if reports[idx[y]].geo == 1:
                            score(i, idx[y])
                        y += 1
        for i in g["wild"].idx if "wild" in g else ():
            r = reports[i]
            if r.geo == 1:  # a named place without id: compared with every fine report nearby
                for j in near(i, g["all"]):
                    rj = reports[j]
                    if rj.geo == 1 and (rj.place_id or j > i):
                        score(i, j)
    scored.sort()
    for *_, i, j in scored:
        ci, cj = cl.of[i], cl.of[j]
        if ci != cj and cl.can_join(ci, cj):
            cl.join(ci, cj)

    # 2. A coarse report (near a town, a region, a governorate) joins a cluster of finer reports only when
    # exactly one such cluster fits; when several fit, which one it belongs to is unknowable.
    coarse = sorted((i for i in idxs if reports[i].geo is not None and reports[i].geo != 1), key=lambda k: reports[k].rank)
    for i in coarse:
        r = reports[i]
        g = windows[(r.admin1 or "", r.event_type)]
        # fine reports it can be compared with: its district's (or of no district, or a named place without id),
        # or the governorate's; only those whose actors do not contradict its own
        buckets = ("",) + tuple(r.actor_keys) if r.actor_keys else (None,)
        district = r.geo == 2 and r.admin2
        sources = []
        for bucket in buckets:
            if district:
                sources += [g.get(("fine", bucket, r.admin2)), g.get(("fine", bucket, None))]
            else:
                sources.append(g.get(("fine", bucket)))
        if district:
            sources.append(g.get("fine_wild"))
        # coarse reports: two coarse places with different place_ids never match
        if r.place_id:
            sources += [g.get(("place", r.place_id)), g.get("coarse_noid")]
        else:
            sources.append(g.get("coarse"))
        ci = cl.of[i]
        seen, finer, options = {ci}, [], []
        for window in sources:  # looked at lazily: most coarse reports are decided after a few candidates
            if window is None:
                continue
            for j in near(i, window):
                c = cl.of[j]
                if c in seen or not cl.compatible(i, j):
                    continue
                seen.add(c)
                if not cl.can_join(ci, c):
                    continue
                if cl.is_fine(c):
                    finer.append(c)
                    if len(finer) > 1:
                        break  # ambiguous: no need to look further
                else:
                    options.append(c)
            if len(finer) > 1:
                break
        if len(finer) == 1:
            cl.join(ci, finer[0])
        elif not finer and options:
            cl.join(ci, min(options, key=cl.earliest))
    rank = lambda k: reports[k].rank  # noqa: E731
    return [sorted(cl.multi[i], key=rank) if i in cl.multi else [i] for i in idxs if cl.of[i] == i]


def _segment(day: int) -> int:
    """Segment of a day ordinal: SEGMENT_DAYS-day stretches starting on a Monday (ordinal 1 is a Monday)."""
    return (day - 1) // SEGMENT_DAYS


def _halo(settings, day_level: bool) -> int:
    """How many days into the next segment a cluster of a segment can reach (its members are pairwise compatible)."""
    return settings.merge_date_slack_days + (0 if day_level else max(PERIOD_DAYS.values()) - 1)


def _segmented(reports: list[_Report], idxs: list[int], settings, day_level: bool,
               frozen: dict[int, str] | None = None, late: dict[int, tuple[int, str]] | None = None,
               kept_keys: dict[int, str] | None = None, late_taken: set[int] | None = None) -> list[list[int]]:
    """:func:`_cluster` segment by segment, oldest first (docs/resolution.md, "Segments").

    A segment's reports are clustered together with the next segment's first ``_halo`` days not yet taken; a cluster
    whose earliest report is in the segment is kept (taking its reports from the next segment with it), the others
    are left to the next segment. So a report's cluster depends on the reports of its segment and the halo, and on
    what the previous segment took. ``frozen``: reports whose cluster is already known (by cluster key), kept as is.
    ``late`` (report -> (first day B of a segment, cluster key)): reports from B on whose segments are not made again;
    they only serve as the halo of the segments before B, and those no cluster there takes keep their cluster (with
    the frozen reports of the same key).
    ``kept_keys`` is filled with the key of each kept (frozen or late) cluster, by its first report, and
    ``late_taken`` with the late reports a cluster of a segment before their B took.
    """
    out = []
    keep: dict[str, list[int]] = defaultdict(list)  # kept clusters by key
    if frozen:
        for i in idxs:
            key = frozen.get(i)
            if key is not None:
                keep[key].append(i)
        idxs = [i for i in idxs if i not in frozen]
    order = sorted(idxs, key=lambda k: (reports[k].day, k))
    days = [reports[k].day for k in order]
    halo = _halo(settings, day_level)
    taken: set[int] = set()
    x, n = 0, len(order)
    while x < n:
        nxt = (_segment(days[x]) + 1) * SEGMENT_DAYS + 1  # first day of the next segment
        y = bisect_left(days, nxt, x)
        z = bisect_left(days, nxt + halo, y)
        part = [i for i in order[x:z] if i not in taken] if taken else order[x:z]
        if late:
            part = [i for i in part if i not in late or nxt - SEGMENT_DAYS < late[i][0]]
        for m in _cluster(reports, part, settings, day_level) if part else ():
            if min(reports[i].day for i in m) < nxt:
                out.append(m)
                taken.update(i for i in m if reports[i].day >= nxt)
        x = y
    if late:
        for i in order:
            if i in late:
                if i not in taken:
                    keep[late[i][1]].append(i)
                elif late_taken is not None:
                    late_taken.add(i)
    rank = lambda k: reports[k].rank  # noqa: E731
    for key, m in keep.items():
        m.sort(key=rank)
        out.append(m)
        if kept_keys is not None:
            kept_keys[m[0]] = key
    return out


@dataclass
class _Incident:
    members: list[int]
    summaries: list[int] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    incident_id: str = ""


def _single(r: _Report, kind: str) -> tuple:
    """(low, best, high) of one report's figure of ``kind``."""
    f = _figure(getattr(r, kind), getattr(r, kind + "_qualifier"))
    return (None, None, None) if f is None else (f[0], f[0], f[3])


def _describe(reports: list[_Report], inc: _Incident, settings) -> None:
    ms = [reports[i] for i in inc.members]
    if len(ms) == 1:  # the common case, without the general machinery below (same result)
        r = ms[0]
        f = _figure(r.fatalities, r.fatalities_qualifier) if r.fatalities is not None else None
        f_low, f_best, f_high = (None, None, None) if f is None else (f[0], f[0], f[3])
        inc.values = {
            "event_date": date.fromordinal(r.day) if r.day is not None else None, "date_precision": r.precision,
            "event_type": r.event_type, "sub_event_type": r.sub_event_type, "actor1": r.actor1, "actor2": r.actor2,
            "location": r.location, "place_id": r.place_id, "admin1": r.admin1, "admin2": r.admin2,
            "lat": r.lat, "lon": r.lon, "fatalities_low": f_low, "fatalities_best": f_best, "fatalities_high": f_high,
            "wounded_best": _single(r, "wounded")[1] if r.wounded is not None else None,
            "detained_best": _single(r, "detained")[1] if r.detained is not None else None,
            "n_reports": 1, "n_outlets": 1, "conflicting": False,
        }
        return
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
    f_low, f_best, f_high, f_conf = reconcile(((r.fatalities, r.fatalities_qualifier) for r in ms), tol)
    _, w_best, _, w_conf = reconcile(((r.wounded, r.wounded_qualifier) for r in ms), tol)
    _, d_best, _, d_conf = reconcile(((r.detained, r.detained_qualifier) for r in ms), tol)
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


def _place_key(inc: _Incident) -> tuple:
    """Where an incident is, for "all at one place": its place_id, else its location within its district."""
    v = inc.values
    if v["place_id"]:
        return ("id", v["place_id"])
    return ("name", (v["location"] or "").casefold(), v["admin2"], v["admin1"])


def _summary_shares(reports: list[_Report], summary: list[int], covered: list[_Incident]) -> list[int]:
    """How much summary ``summary`` raises each covered incident's fatalities_high (0 when it does not).

    The excess (summary high minus the sum of the covered incidents' own highs) is shared in proportion to
    the incidents' fatalities_best (equally when none has one), in whole people by largest remainder.
    """
    highs = [f[3] for f in (_figure(reports[i].fatalities, reports[i].fatalities_qualifier) for i in summary)
             if f is not None]
    if not highs:
        return [0] * len(covered)
    total = sum(inc.values["fatalities_high"] or 0 for inc in covered)
    excess = max(highs) - total
    if excess <= 0:
        return [0] * len(covered)
    weights = [inc.values["fatalities_best"] or 0 for inc in covered]
    if not sum(weights):
        weights = [1] * len(covered)
    raw = [excess * w / sum(weights) for w in weights]
    shares = [int(math.floor(x)) for x in raw]
    order = sorted(range(len(covered)), key=lambda k: (-(raw[k] - shares[k]), k))
    for k in order[: excess - sum(shares)]:
        shares[k] += 1
    return shares


def _assign_ids(reports: list[_Report], incidents: list[_Incident], previous: pa.Table | None,
                reserved_ids=(), given: dict | None = None) -> None:
    """Keep the previous publication's id where an incident keeps its reports; else inc_<earliest event_id>.

    ``given`` (a dict) receives the kept ids ("claimed") and the new ones ("new")."""
    prev: dict[str, str] = {}
    if previous is not None and previous.num_rows:
        roles = _column(previous, "role")
        for eid, iid, role in zip(previous.column("event_id").to_pylist(), previous.column("incident_id").to_pylist(), roles):
            if role in (None, "member"):
                prev[eid] = iid
    claims = []
    if prev:
        get = prev.get
        for k, inc in enumerate(incidents):
            ms = inc.members
            if len(ms) == 1:  # most incidents: one report, one claim at most (the same as the general case below)
                pid = get(reports[ms[0]].event_id)
                if pid is not None:
                    claims.append((-1, pid, reports[ms[0]].rank, k))
                continue
            counts = Counter(prev[reports[i].event_id] for i in ms if reports[i].event_id in prev)
            claims += [(-n, pid, reports[ms[0]].rank, k) for pid, n in counts.items()]
    used: set[str] = set(reserved_ids or ())
    claimed = []
    for _, pid, _, k in sorted(claims):
        if not incidents[k].incident_id and pid not in used:
            incidents[k].incident_id = pid
            used.add(pid)
            claimed.append(pid)
    new = []
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
        new.append(cand)
    if given is not None:
        given["claimed"], given["new"] = claimed, new


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


def _covered(reports: list[_Report], members: list[int], daily: list[_Incident], cand: Iterable[Iterable[int]],
             inc_geo: dict[int, int], settings) -> list[_Incident]:
    """The day-level incidents summary ``members`` covers (docs/resolution.md, section 3), among the candidates
    ``cand`` (sets of incident positions, possibly overlapping), in no particular order.

    A town-level summary covers the incidents of its town. A summary placed no finer than a district or
    governorate covers the incidents of its area only when they are all at one place: when they are at several
    places, which of them (and how much of each) its figure counts is unknowable, and it covers none.
    """
    # The result does not depend on the order the candidates are looked at (the caller sorts what is covered, and
    # "several places" is found in any order), so a coarse summary stops at the second place it finds.
    ss = [reports[i] for i in members]
    s_geo = min(s.geo or 9 for s in ss)
    coarse = s_geo >= 2
    covered, places, seen = [], set(), set()
    for k in (k for block in cand for k in block):
        if k in seen:
            continue
        seen.add(k)
        inc = daily[k]
        if inc_geo[k] > s_geo or not all(_covers(s, reports[i], settings) for s in ss for i in inc.members):
            continue
        covered.append(inc)
        if coarse:
            places.add(_place_key(inc))
            if len(places) > 1:
                return []
    return covered


def resolve(events: pa.Table, articles: pa.Table, settings, previous: pa.Table | None = None,
            previous_events: pa.Table | None = None, force_merge=(), force_split=(),
            reserved_ids=()) -> tuple[pa.Table, pa.Table]:
    """Merge event reports from different articles into incidents.

    Returns ``(incidents, incident_reports)`` conforming to ``rasd.schema``. ``previous`` is the previous
    publication's ``incident_reports``; its ids are kept for incidents that keep their reports.
    ``previous_events`` is accepted for API symmetry and not needed (event ids are stable).
    ``force_merge`` (pairs of event ids) and ``force_split`` (event ids) are analyst corrections applied to
    day-level incidents after clustering. ``reserved_ids``: incident ids that must not be handed out (those of
    incidents carried over unchanged when only a subset of the events is resolved); a reserved id in
    ``previous`` is not kept either.
    """
    incidents, links, _ = _resolve_gc(events, articles, settings, previous, force_merge, force_split, reserved_ids)
    return incidents, links


def _resolve_gc(*args, **kwargs):
    # Hundreds of thousands of small objects and no reference cycles: the cyclic garbage collector would walk
    # them all again and again (~10 % of the time at 300k reports); it is switched off for the call.
    enabled = gc.isenabled()
    gc.disable()
    try:
        if len(args) == 7 and not kwargs and not args[4] and not args[5]:
            got = _resolve_by_group(*args)
            if got is not None:
                return got
        return _resolve(*args, **kwargs)
    finally:
        if enabled:
            gc.enable()


GROUP_MIN_EVENTS = 20_000  # below this many events resolve in one piece (same result; the per-group split costs more)


def _group_rows(events, previous):
    """Row indices of ``events`` per group (governorate, event type), in group order; None when an earlier incident's
    member reports are now in several groups (its id could then depend on another group)."""
    import numpy as np
    import polars as pl

    if "admin1" not in events.column_names or "event_type" not in events.column_names:
        return None
    ev = pl.from_arrow(_plain(events.select(["admin1", "event_type"]))).with_row_index("_row").with_columns(
        _g=pl.struct(pl.col("admin1").fill_null(""), pl.col("event_type").fill_null("")).rank("dense"))
    if previous is not None and previous.num_rows:
        p = pl.from_arrow(previous.select(["event_id", "incident_id", "role"]))
        prev_members = p.filter(pl.col("role").is_null() | (pl.col("role") == "member"))
        ids = pl.from_arrow(events.select(["event_id"])).with_row_index("_row")
        spread = prev_members.join(ids, on="event_id").join(ev.select(["_row", "_g"]), on="_row").group_by(
            "incident_id").agg(pl.col("_g").n_unique().alias("n"))
        if spread.filter(pl.col("n") > 1).height:
            return None
    order = ev.select(["_g", "_row"]).sort(["_g", "_row"])
    g, rows = order["_g"].to_numpy(), order["_row"].to_numpy().astype(np.int64)
    cuts = np.flatnonzero(np.diff(g)) + 1
    return np.split(rows, cuts) if rows.size else []


def _each_group(events, articles, settings, previous, reserved_ids, ids: dict):
    """``_resolve`` of each group in turn: yields (row indices, the group's events and articles, incidents,
    incident_reports, assignment). ``ids`` holds the groups ("_groups", from :func:`_group_rows`) and receives the ids
    each group kept ("claimed") and handed out ("new"), as Arrow, for :func:`_ids_cross`."""
    import numpy as np

    art_ids = articles["article_id"].combine_chunks() if articles is not None else None
    art_row = None  # each event's article row, when article ids are unique (then a take replaces a scan per group)
    if art_ids is not None and pc.count_distinct(art_ids).as_py() == len(art_ids):
        art_row = pc.fill_null(pc.index_in(events["article_id"], value_set=art_ids), -1).to_numpy()
    for g, rows in enumerate(ids.pop("_groups")):
        sub = events.take(pa.array(rows))
        if art_row is not None:
            at = art_row[rows]
            sub_articles = articles.take(pa.array(np.unique(at[at >= 0]).astype(np.int64)))  # in articles order
        else:
            sub_articles = articles.filter(pc.is_in(art_ids, value_set=pc.unique(sub["article_id"]))) \
                if art_ids is not None else articles
        sub_prev = previous.filter(pc.is_in(previous["event_id"], value_set=sub["event_id"].combine_chunks())) \
            if previous is not None and previous.num_rows else previous
        given: dict = {}
        inc, lnk, asg = _resolve(sub, sub_articles, settings, sub_prev, (), (), reserved_ids, given=given)
        for kind in ("claimed", "new"):
            got = given.get(kind) or []
            if got:
                ids.setdefault(kind, []).append(pa.table({"id": pa.array(got, pa.string()),
                                                          "g": pa.array([g] * len(got), pa.int32())}))
        yield rows, sub, sub_articles, inc, lnk, asg


def _ids_cross(ids: dict) -> bool:
    """Did a group hand out a new id that another group keeps from the previous publication, or that two groups
    both hand out? (Then the per-group result may differ from the one-piece one: resolve in one piece.)"""
    import polars as pl

    new = pl.from_arrow(pa.concat_tables(ids["new"])) if ids.get("new") else None
    if new is None or not new.height:
        return False
    if new["id"].n_unique() != new.height:
        return True
    if ids.get("claimed"):
        claimed = pl.from_arrow(pa.concat_tables(ids["claimed"]))
        if new.join(claimed, on="id", suffix="_c").filter(pl.col("g") != pl.col("g_c")).height:
            return True
    return False


def _resolve_by_group(events, articles, settings, previous, force_merge, force_split, reserved_ids):
    """:func:`_resolve`, one group (governorate, event type) at a time, so that the Python objects of only one group
    are alive at once (the whole-table state is Arrow); exactly the same tables. None (resolve in one piece) when
    small, or when the ids could depend on another group: an earlier incident whose reports are now in several
    groups, or a new id of one group that another group keeps from the previous publication (both need an edit
    that moves a report to another governorate or event type; checked, not assumed).
    """
    if events.num_rows < GROUP_MIN_EVENTS:
        return None
    groups = _group_rows(events, previous)
    if groups is None:
        return None
    ids: dict = {"_groups": groups}
    inc_parts, link_parts, assign_parts = [], [], []
    for *_, inc, lnk, asg in _each_group(events, articles, settings, previous, reserved_ids, ids):
        inc_parts.append(inc)
        link_parts.append(lnk)
        assign_parts.append(asg)
    if _ids_cross(ids):
        return None
    incidents = pa.concat_tables(inc_parts) if inc_parts else _empty_result()[0]
    incidents = incidents.sort_by([("event_date", "ascending"), ("incident_id", "ascending")])  # nulls last
    links = pa.concat_tables(link_parts) if link_parts else _empty_result()[1]
    pos = pc.index_in(links["incident_id"], value_set=incidents["incident_id"].combine_chunks())
    links = links.append_column("_pos", pos).sort_by([("_pos", "ascending"), ("role", "ascending"),
                                                      ("event_id", "ascending")]).drop_columns(["_pos"])
    return incidents, links, pa.concat_tables(assign_parts) if assign_parts else _empty_result()[2]


_ASSIGNMENT_SCHEMA = pa.schema([("event_id", pa.string()), ("cluster", pa.string()), ("incident_id", pa.string())])


def _empty_result():
    return INCIDENTS.arrow_schema.empty_table(), INCIDENT_REPORTS.arrow_schema.empty_table(), \
        _ASSIGNMENT_SCHEMA.empty_table()


# Batches the sorted outputs of resolve_to_files are written in (rows; memory ~ 1 KB per incident row in flight).
_WRITE_ROWS = 256_000


_SORT_MEMORY = "1GB"  # DuckDB memory for ordering the streamed outputs; 0.5–4 GB (1M articles: ~3.4M rows)


def resolve_to_files(events: pa.Table, articles: pa.Table, settings, previous: pa.Table | None, incidents_path,
                     links_path, state_path, tmp_dir) -> dict | None:
    """:func:`_resolve_to_files` with the cyclic garbage collector off (see :func:`_resolve_gc`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _resolve_to_files(events, articles, settings, previous, incidents_path, links_path, state_path, tmp_dir)
    finally:
        if enabled:
            gc.enable()


def _resolve_to_files(events: pa.Table, articles: pa.Table, settings, previous: pa.Table | None, incidents_path,
                      links_path, state_path, tmp_dir) -> dict | None:
    """:func:`resolve_full` (no analyst corrections) written straight to parquet files, with bounded memory: groups are
    resolved one at a time and each group's incidents, links and state rows go to temporary files at once; DuckDB
    then writes them out in :func:`resolve`'s order (incidents by event_date, undated last, then incident_id; links
    by incident, role, event_id; the state in ``events`` order). The files hold exactly the tables resolve_full
    returns. None (nothing written) when the ids could depend on another group (see :func:`_resolve_by_group`).
    Returns the row counts."""
    from pathlib import Path

    import duckdb
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    groups = _group_rows(events, previous)
    if groups is None:
        return None
    tmp = Path(tmp_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    parts = {k: tmp / f"_resolve_{k}.parquet" for k in ("inc", "links", "state")}
    state_schema = STATE_SCHEMA.append(pa.field("_row", pa.int64()))
    writers = {"inc": pq.ParquetWriter(parts["inc"], INCIDENTS.arrow_schema),
               "links": pq.ParquetWriter(parts["links"], INCIDENT_REPORTS.arrow_schema),
               "state": pq.ParquetWriter(parts["state"], state_schema)}
    ids: dict = {"_groups": groups}
    try:
        for rows, sub, sub_articles, inc, lnk, asg in _each_group(events, articles, settings, previous, (), ids):
            writers["inc"].write_table(inc)
            writers["links"].write_table(lnk)
            # the state's rows of this group (a row's hash depends on that row and its article only)
            art = pl.from_arrow(sub_articles.select([c for c in ARTICLE_COLUMNS if c in sub_articles.column_names]))
            frame = _report_slice(sub, art).with_columns(_row=pl.Series(rows, dtype=pl.Int64))
            state = frame.join(pl.from_arrow(asg), on="event_id", how="left").to_arrow()
            writers["state"].write_table(state.select(state_schema.names).cast(state_schema))
    finally:
        for w in writers.values():
            w.close()
    try:
        if _ids_cross(ids):
            return None
        con = duckdb.connect()
        con.execute(f"SET temp_directory = '{tmp / '_duckdb'}'")
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"SET memory_limit = '{_SORT_MEMORY}'")  # the sorts spill to temp_directory beyond it
        inc_q, links_q, state_q = (f"read_parquet('{parts[k]}')" for k in ("inc", "links", "state"))
        order = "event_date ASC NULLS LAST, incident_id ASC"
        counts = {}
        for name, path, schema, query in (
                ("incidents", incidents_path, INCIDENTS.arrow_schema,
                 f"SELECT * FROM {inc_q} ORDER BY {order}"),
                ("incident_reports", links_path, INCIDENT_REPORTS.arrow_schema,
                 f"SELECT l.* FROM {links_q} l JOIN (SELECT incident_id, row_number() OVER (ORDER BY {order}) AS _pos "
                 f"FROM {inc_q}) p USING (incident_id) ORDER BY p._pos, l.role, l.event_id"),
                ("state", state_path, STATE_SCHEMA, f"SELECT * EXCLUDE (_row) FROM {state_q} ORDER BY _row")):
            n = 0
            with pq.ParquetWriter(path, schema) as out:
                reader = con.sql(query).to_arrow_reader(_WRITE_ROWS)
                for batch in reader:
                    t = pa.Table.from_batches([batch])
                    out.write_table(t.select(schema.names).cast(schema))
                    n += t.num_rows
            counts[name] = n
        con.close()
        return counts
    finally:
        for path in parts.values():
            path.unlink(missing_ok=True)


def _group(r: _Report) -> tuple:
    """Reports of different groups (governorate, event type) never meet: resolution is independent per group."""
    return (r.admin1 or "", r.event_type)


def _resolve(events, articles, settings, previous, force_merge, force_split, reserved_ids, frozen=None,
             emit_from=None, late=None, late_taken=None, expect_taken=None, given=None):
    """resolve(); also returns each report's cluster (its first report's event_id) and incident id.

    ``frozen`` (event_id -> cluster key): reports whose cluster is known and kept. ``late`` (event_id -> (B, cluster
    key)): reports from day B on whose segments are not clustered again (see :func:`_segmented`); ``late_taken`` (a
    set) receives the event_ids of those a cluster of an earlier segment took; when they are not ``expect_taken``,
    returns None at once (the caller moves B on). ``emit_from``
    ((admin1 or "", event_type) -> list of (first day, end day) ordinals): only the incidents of those groups whose
    earliest report is in one of those ranges are returned (and given ids); the others only serve as what summaries
    may cover.
    """
    events = _plain(events)
    reports = _reports(events, articles)
    day_idx = [r.idx for r in reports if r.precision == "day" and r.day is not None]
    summary_idx = [r.idx for r in reports if r.precision != "day" and r.day is not None]
    undated = [r.idx for r in reports if r.day is None]
    fixed = tail = None
    kept_keys: dict[int, str] = {}  # first report of a kept cluster -> its key
    if frozen:
        fixed = {r.idx: frozen[r.event_id] for r in reports if r.event_id in frozen}
    if late:
        tail = {r.idx: late[r.event_id] for r in reports if r.event_id in late}

    taken_idx: set[int] = set()
    day_clusters = _segmented(reports, day_idx, settings, True, fixed, tail, kept_keys, taken_idx)
    summaries = _segmented(reports, summary_idx, settings, False, fixed, tail, kept_keys, taken_idx)
    if late_taken is not None:
        late_taken.update(reports[i].event_id for i in taken_idx)
        if expect_taken is not None and late_taken != expect_taken:
            return None
    daily = [_Incident(m) for m in day_clusters]
    daily += [_Incident([i]) for i in undated]  # nothing to match an undated report on: it stands alone
    # Describing is pure per incident, so with ``emit_from`` (a partial resolve: most incidents only serve as what a
    # summary may cover) an incident is described only when a summary looks at it or it is returned.
    lazy = emit_from is not None and not force_merge and not force_split
    if not lazy:
        for inc in daily:
            _describe(reports, inc, settings)
    daily = _apply_overrides(reports, daily, settings, force_merge, force_split)

    summaries.sort(key=lambda m: (max(PERIOD_DAYS[reports[i].precision] for i in m), min(reports[i].day for i in m),
                                  reports[m[0]].rank))
    # The blocks (governorate, event type, 7-day bucket) each summary looks in: its own governorate and weeks,
    # and for a town-level summary its town (or no named place).
    w = settings.summary_window_slack_days
    plans, blocks = [], set()
    for members in summaries:
        ss = [reports[i] for i in members]
        lo, hi = max(s.day for s in ss) - w, min(s.end for s in ss) + w
        named = next((s.place_id for s in ss if s.geo == 1 and s.place_id), None)
        s = ss[0]  # every summary report must cover the incident, so the first one's block suffices
        keys = [(s.admin1 or "", s.event_type, b) for b in range(lo // BUCKET_DAYS, hi // BUCKET_DAYS + 1)]
        blocks.update(keys)
        if named:  # a town-level summary: incidents at that town, or at no named place
            keys = [k + (p,) for k in keys for p in (named, None)]
        plans.append((members, keys))
    # Index the day-level incidents of those blocks only (by block, and by block and the named place they are at).
    index: dict[tuple, set[int]] = defaultdict(set)
    inc_geo: dict[int, int] = {}
    if blocks:
        for k, inc in enumerate(daily):
            for i in inc.members:
                r = reports[i]
                if r.day is None:
                    continue
                key = (r.admin1 or "", r.event_type, r.day // BUCKET_DAYS)
                if key not in blocks:
                    continue
                geo = inc_geo.get(k)
                if geo is None:
                    geo = inc_geo[k] = min(reports[m].geo or 9 for m in inc.members)
                    if not inc.values:
                        _describe(reports, inc, settings)
                index[key].add(k)
                if geo == 1:  # a town-level summary only ever covers incidents placed at a named place
                    index[key + (inc.values["place_id"],)].add(k)

    # Each summary is measured against the incidents' own highs; an incident covered by several summaries takes
    # the largest raise any of them gives it (so the order of summaries does not matter).
    standalone = []
    raised: dict[int, int] = {}
    for members, keys in plans:
        cand = [index[key] for key in keys if key in index]
        covered = _covered(reports, members, daily, cand, inc_geo, settings)
        if covered:
            covered.sort(key=lambda inc: (inc.values["event_date"], reports[inc.members[0]].rank))
            for inc, share in zip(covered, _summary_shares(reports, members, covered)):
                inc.summaries.extend(members)
                if share > raised.get(id(inc), 0):
                    raised[id(inc)] = share
        else:
            inc = _Incident(members)
            _describe(reports, inc, settings)
            standalone.append(inc)
    if raised:
        for inc in daily:
            share = raised.get(id(inc))
            if share:
                inc.values["fatalities_high"] = (inc.values["fatalities_high"] or 0) + share

    incidents = daily + standalone
    if emit_from is not None:
        def emitted(inc: _Incident) -> bool:
            ms = inc.members
            if len(ms) == 1:  # most incidents: one report
                anchor = reports[ms[0]].day
            else:
                anchor = min((d for d in (reports[i].day for i in ms) if d is not None), default=None)
            if anchor is None:
                return True
            r = reports[ms[0]]
            zones = emit_from.get((r.admin1 or "", r.event_type))
            if zones is None:
                return True
            for lo, hi in zones:
                if lo <= anchor < hi:
                    return True
            return False
        incidents = [inc for inc in incidents if emitted(inc)]
        for inc in incidents:
            if not inc.values:
                _describe(reports, inc, settings)
    _assign_ids(reports, incidents, previous, reserved_ids, given)
    incidents.sort(key=lambda inc: (inc.values["event_date"] or date.max, inc.incident_id))
    names = [n for n in INCIDENTS.arrow_schema.names if n != "incident_id"]
    columns = zip(*map(itemgetter(*names), (inc.values for inc in incidents))) if incidents else [[] for _ in names]
    inc_cols = {name: list(col) for name, col in zip(names, columns)}
    inc_cols["incident_id"] = [inc.incident_id for inc in incidents]
    link_cols: dict[str, list] = {f.name: [] for f in INCIDENT_REPORTS.arrow_schema}
    l_inc, l_ev, l_art, l_role = (link_cols[c] for c in ("incident_id", "event_id", "article_id", "role"))
    for inc in incidents:
        for role, group in (("member", inc.members), ("summary", inc.summaries)):
            if len(group) > 1:
                group = sorted(group, key=lambda i: reports[i].event_id)
            for i in group:
                l_inc.append(inc.incident_id)
                l_ev.append(reports[i].event_id)
                l_art.append(reports[i].article_id)
                l_role.append(role)
    # each report's cluster key (the event_id of the cluster's earliest report) and incident (members only)
    cluster = [None] * len(reports)
    for m in day_clusters + summaries:
        key = kept_keys.get(m[0]) or reports[m[0]].event_id  # a kept cluster keeps its key
        for i in m:
            cluster[i] = key
    for i in undated:
        cluster[i] = reports[i].event_id
    incident = [None] * len(reports)
    for inc in incidents:
        for i in inc.members:
            incident[i] = inc.incident_id
    assignment = pa.table({"event_id": [r.event_id for r in reports], "cluster": cluster, "incident_id": incident},
                          schema=pa.schema([("event_id", pa.string()), ("cluster", pa.string()),
                                            ("incident_id", pa.string())]))
    return (pa.Table.from_pydict(inc_cols, schema=INCIDENTS.arrow_schema),
            pa.Table.from_pydict(link_cols, schema=INCIDENT_REPORTS.arrow_schema), assignment)


# ------------------------------------------------------------------------------------------- incremental resolution
# The state a resolution leaves for the next run: one row per report with a hash of everything resolution reads of
# it (its event columns, its article's outlet and publication date), its group, date and kind, its cluster and
# its incident (members only). See docs/resolution.md, "Incremental resolution".
STATE_SCHEMA = pa.schema([("event_id", pa.string()), ("h", pa.uint64()), ("admin1", pa.string()),
                          ("event_type", pa.string()), ("day", pa.int32()), ("kind", pa.int8()),
                          ("cluster", pa.string()), ("incident_id", pa.string())])
_DAY, _SUMMARY, _UNDATED = 0, 1, 2


_FRAME_ROWS = 200_000  # events per slice when hashing the reports (memory: ~1 KB per event of the slice while hashed)


def _report_frame(events: pa.Table, articles: pa.Table):
    """Polars frame, one row per event in ``events`` order: event_id, h, admin1, event_type, day, kind.

    Made slice by slice (a row's hash depends on that row only), so the joined copy of the event columns exists for
    one slice at a time, never for the whole table."""
    import polars as pl

    art = pl.from_arrow(articles.select([c for c in ("article_id", "outlet", "published_at") if c in articles.column_names]))
    parts = [_report_slice(events.slice(k, _FRAME_ROWS), art)
             for k in range(0, max(events.num_rows, 1), _FRAME_ROWS)]
    return pl.concat(parts) if len(parts) > 1 else parts[0]


def _report_slice(events: pa.Table, art):
    import polars as pl

    cols = [c for c in _EVENT_COLUMNS if c in events.column_names]
    ev = pl.from_arrow(_plain(events.select(cols)))
    if not isinstance(ev, pl.DataFrame):
        ev = ev.to_frame()
    ev = ev.join(art.rename({c: f"_a_{c}" for c in art.columns if c != "article_id"}), on="article_id", how="left",
                 coalesce=True)
    h = ev.hash_rows(seed=11)
    day = (ev["event_date"].cast(pl.Date).cast(pl.Int32) + _EPOCH_ORDINAL) if "event_date" in ev.columns else \
        pl.Series([None] * ev.height, dtype=pl.Int32)
    prec = ev["date_precision"] if "date_precision" in ev.columns else pl.Series([None] * ev.height, dtype=pl.Utf8)
    return pl.DataFrame({
        "event_id": ev["event_id"], "h": h,
        "admin1": ev["admin1"].fill_null("") if "admin1" in ev.columns else pl.Series([""] * ev.height),
        "event_type": ev["event_type"].fill_null(""),
        "day": day.cast(pl.Int32),
    }).with_columns(
        kind=pl.when(pl.col("day").is_null()).then(pl.lit(_UNDATED, pl.Int8))
        .when(prec.is_in(["week", "month"])).then(pl.lit(_SUMMARY, pl.Int8)).otherwise(pl.lit(_DAY, pl.Int8)))


def resolution_state(events: pa.Table, articles: pa.Table, assignment: pa.Table) -> pa.Table:
    """The state a full resolution of ``events`` leaves (``assignment``: the third result of ``_resolve``)."""
    import polars as pl

    frame = _report_frame(events, articles).join(pl.from_arrow(assignment), on="event_id", how="left")
    return frame.to_arrow().cast(STATE_SCHEMA)


def resolve_full(events: pa.Table, articles: pa.Table, settings, previous: pa.Table | None = None,
                 force_merge=(), force_split=()) -> tuple[pa.Table, pa.Table, pa.Table]:
    """:func:`resolve`, plus the state the next run's :func:`resolve_incremental` starts from."""
    incidents, links, assignment = _resolve_gc(events, articles, settings, previous, force_merge, force_split, ())
    return incidents, links, resolution_state(events, articles, assignment)


def reach_days(settings) -> int:
    """How far before a change (in days) incidents can move: a summary covers incidents up to its period plus
    ``summary_window_slack_days`` on either side away, and its raise depends on every incident it covers."""
    return 2 * settings.summary_window_slack_days + max(PERIOD_DAYS.values()) + settings.merge_date_slack_days


def resolve_incremental(events: pa.Table, articles: pa.Table, settings, state: pa.Table, incidents: pa.Table,
                        links: pa.Table, max_share: float = 0.5):
    """Exactly :func:`resolve_full` (same tables, ids included) of ``events`` with ``links`` as previous, computed
    from the previous run's ``state`` and its published ``incidents`` and ``links`` by re-resolving only the
    groups (governorate, event type) and days a change can reach. None when more than ``max_share`` of the reports
    would be resolved again (then resolve everything). Returns ``(incidents, incident_reports, state, info)``.

    The changed reports (new, edited, gone, or in an incident the previous run did not publish) of a group are
    gathered into zones, one per run of changes close enough in time to interact (:func:`_zones`). In a zone, with
    S the first day of the segment of (earliest change - halo) and B the first day of the segment after the latest
    change: clusters of segments before S are unchanged; the segments from S to B are clustered again; the segments
    from B on are unchanged as long as the segments before B take the same reports beyond B as before (checked; else
    B moves on one segment); incidents whose earliest report is before T1 = S - reach or from U = B + reach on are
    unchanged, since every summary that covers them looks only at days before S or from B on; the incidents from T1
    to U are described again, from the reports from V = T1 - reach to W (what a summary covering one of them can
    look at), with the clusters outside [S, B) kept as they were.
    """
    import polars as pl

    cur = _report_frame(events, articles)
    old = pl.from_arrow(state)
    published = pl.from_arrow(incidents.select(["incident_id"]))
    # incidents the previous resolution made but the quality gate held back are resolved again like changes
    missing = old.filter(pl.col("incident_id").is_not_null()).join(published, on="incident_id", how="anti")
    dirty = cur.join(old.select(["event_id", "h"]), on=["event_id", "h"], how="anti")
    gone = old.join(cur.select(["event_id", "h"]), on=["event_id", "h"], how="anti")
    cols = ["event_id", "admin1", "event_type", "day", "kind"]
    changes = pl.concat([dirty.select(cols), gone.select(cols), missing.select(cols)])
    info = {"events": cur.height, "dirty": dirty.height, "gone": gone.height, "held_back": missing.height}
    if not changes.height:
        return incidents, links, state, {**info, "resolved": 0, "redone": 0, "redone_ids": pa.array([], pa.string())}
    slack = settings.merge_date_slack_days
    dated = changes.filter(pl.col("kind") != _UNDATED).with_columns(
        lo=pl.col("day") - pl.when(pl.col("kind") == _SUMMARY).then(_halo(settings, False)).otherwise(slack))
    extra: dict[tuple, int] = {}  # zone (admin1, event_type, S) -> segments its B moved on
    for _ in range(_MAX_TRIES):
        zones = _zones(dated, settings, extra)
        got = _incremental(events, articles, settings, cur, old, changes, missing, zones, incidents, links, max_share)
        if got is None:
            return None
        if isinstance(got, set):
            for key in got:
                extra[key] = extra.get(key, 0) + 1
            if max(extra.values()) > _MAX_MOVES:
                return None
            continue
        inc, lnk, st, more = got
        return inc, lnk, st, {**info, **more, "zones": zones.height, "extra_segments": sum(extra.values())}
    return None


_MAX_MOVES = 8  # how many segments a zone's B may move on before everything is resolved (it nearly never moves)
_MAX_TRIES = 12  # attempts of the whole incremental resolve (zones widened after a failed B check) before a full one


def _zones(dated, settings, extra: dict):
    """Per group, one zone per run of changes: a change starts a new zone when its S is two segments or more after
    the B of the zone before (then no report is in the halo of one zone and clustered again in the next; what the
    zones read may overlap). Columns: admin1, event_type and the zone's days S, B, T1, U, V, W."""
    import polars as pl

    reach, halo = reach_days(settings), _halo(settings, False)
    start = lambda d: ((d - 1) // SEGMENT_DAYS) * SEGMENT_DAYS + 1  # noqa: E731  first day of d's segment
    rows: list[list] = []

    def bounds(z):
        s, b = z[2], start(z[3]) + SEGMENT_DAYS * (1 + extra.get((z[0], z[1], z[2]), 0))
        t1, u = s - reach, b + reach
        return [z[0], z[1], s, b, t1, u, t1 - reach, u + reach + SEGMENT_DAYS + halo]

    zone = None
    for a1, et, lo, day in dated.select(["admin1", "event_type", "lo", "day"]).sort(["admin1", "event_type", "lo"]).iter_rows():
        s = start(lo)
        if zone is not None and zone[:2] == [a1, et] and s <= bounds(zone)[3] + SEGMENT_DAYS:
            zone[3] = max(zone[3], day)
            continue
        if zone is not None:
            rows.append(bounds(zone))
        zone = [a1, et, s, day]
    if zone is not None:
        rows.append(bounds(zone))
    names = ["admin1", "event_type", "S", "B", "T1", "U", "V", "W"]
    return pl.DataFrame(rows, schema={n: (pl.Utf8 if k < 2 else pl.Int32) for k, n in enumerate(names)}, orient="row")


def _incremental(events, articles, settings, cur, old, changes, missing, zones, incidents, links, max_share):
    """One attempt of resolve_incremental with these zones: its result; or the set of zones (admin1, event_type, S)
    whose B must move on; or None when there is too much to redo."""
    import numpy as np
    import polars as pl

    undated_ids = changes.filter(pl.col("kind") == _UNDATED)["event_id"]
    group = ["admin1", "event_type"]
    halo = _halo(settings, False)

    asof = dict(by=group, strategy="backward", check_sortedness=False)
    # the reports a zone reads: from V (summaries from V - halo: every summary cluster with a report from V on is
    # then complete; a partial one could cover more than the whole cluster does) to W; the last zone that begins
    # on or before a report is the one that reaches furthest
    rows = cur.with_row_index("_row")
    since = (pl.col("day") + pl.when(pl.col("kind") == _SUMMARY).then(halo).otherwise(0)).cast(pl.Int32).alias("_k")
    cur_z = rows.filter(pl.col("day").is_not_null()).with_columns(since).sort("_k").join_asof(
        zones.select([*group, "V", "W"]).sort("V"), left_on="_k", right_on="V", **asof)
    sub = pl.concat([cur_z.filter(pl.col("V").is_not_null() & (pl.col("day") <= pl.col("W"))).drop(["_k", "V", "W"]),
                     rows.filter(pl.col("kind").eq(_UNDATED) & pl.col("event_id").is_in(undated_ids.implode()))],
                    how="diagonal")
    if sub.height > max_share * max(cur.height, 1):
        return None
    # Unchanged reports keep their previous cluster unless it began in [S, B) of a zone (made again). Those in the
    # halo of a zone's B ([B, B + halo)) whose cluster began from S on are "late": the segments before B may take
    # them; the other kept ones are frozen.
    known = sub.join(old.select(["event_id", "h", "cluster"]), on=["event_id", "h"], how="inner")
    old_anchor = old.join(known.select("cluster").unique(), on="cluster").group_by("cluster").agg(
        pl.col("day").min().alias("_anchor"))
    known = known.filter(pl.col("day").is_not_null()).join(old_anchor, on="cluster")
    spans = zones.select([*group, "S", "B"])
    known = known.sort("_anchor").join_asof(spans.sort("S"), left_on="_anchor", right_on="S", **asof).with_columns(
        _free=pl.col("S").is_not_null() & (pl.col("_anchor") < pl.col("B"))).drop(["S", "B"])
    known = known.sort("day").join_asof(spans.sort("B"), left_on="day", right_on="B", **asof).with_columns(
        _late=pl.col("B").is_not_null() & (pl.col("day") < pl.col("B") + halo) & (pl.col("_anchor") >= pl.col("S")))
    frozen_rows = known.filter(~pl.col("_late") & ~pl.col("_free"))
    frozen = dict(zip(frozen_rows["event_id"].to_list(), frozen_rows["cluster"].to_list()))
    late_rows = known.filter(pl.col("_late"))
    late = dict(zip(late_rows["event_id"].to_list(), zip(late_rows["B"].to_list(), late_rows["cluster"].to_list())))

    # the previous incidents resolved again: those whose earliest report is in [T1, U) of a zone, undated ones with
    # a change, and those held back
    members = old.filter(pl.col("incident_id").is_not_null())
    inc_info = members.group_by("incident_id").agg(pl.col("admin1").first(), pl.col("event_type").first(),
                                                   pl.col("day").min().alias("_anchor"),
                                                   pl.col("event_id").is_in(undated_ids.implode()).any().alias("_und"))
    reach = zones.select([*group, "T1", "U"]).sort("T1")
    in_reach = inc_info.filter(pl.col("_anchor").is_not_null()).sort("_anchor").join_asof(
        reach, left_on="_anchor", right_on="T1", **asof)
    redo = pl.concat([in_reach.filter(pl.col("T1").is_not_null() & (pl.col("_anchor") < pl.col("U")))["incident_id"],
                      inc_info.filter(pl.col("_und"))["incident_id"], missing["incident_id"]]).unique()
    redo_arr = redo.to_arrow()
    kept = incidents.filter(pc.invert(pc.is_in(incidents["incident_id"], value_set=redo_arr)))
    kept_links = links.filter(pc.invert(pc.is_in(links["incident_id"], value_set=redo_arr)))

    mask = np.zeros(events.num_rows, dtype=bool)
    mask[sub["_row"].to_numpy()] = True
    sub_events = events.filter(pa.array(mask))
    sub_articles = articles.filter(pc.is_in(articles["article_id"], value_set=pc.unique(sub_events["article_id"])))
    previous = links.filter(pc.is_in(links["event_id"], value_set=sub_events["event_id"].combine_chunks()))
    emit_from: dict[tuple, list] = defaultdict(list)
    for a1, et, t1, u in zones.select([*group, "T1", "U"]).iter_rows():
        emit_from[(a1, et)].append((t1, u))
    late_taken: set[str] = set()
    expect = set(late_rows.filter(pl.col("_anchor") < pl.col("B"))["event_id"].to_list())
    got = _resolve_gc(sub_events, sub_articles, settings, previous, (), (), kept["incident_id"].to_pylist(),
                      frozen=frozen, emit_from=emit_from, late=late, late_taken=late_taken, expect_taken=expect)

    # The segments from B on were kept as they were: right only if the segments before B take the same reports
    # beyond B as before (they nearly always do); else B moves on.
    moved = late_rows.filter(pl.col("event_id").is_in(list(late_taken)) != (pl.col("_anchor") < pl.col("B")))
    if moved.height:
        return set(moved.select([*group, "S"]).unique().iter_rows())
    new_inc, new_links, assignment = got
    a = pl.from_arrow(assignment).join(sub.select(["event_id", *group, "day"]), on="event_id", how="left")
    a = a.join(a.group_by("cluster").agg(pl.col("day").min().alias("_anchor")), on="cluster", how="left")
    a = a.sort("_anchor").join_asof(reach, left_on="_anchor", right_on="T1", **asof)
    out_inc = pa.concat_tables([kept.select(new_inc.schema.names).cast(new_inc.schema), new_inc])
    out_links = pa.concat_tables([kept_links.select(new_links.schema.names).cast(new_links.schema), new_links])

    # the new state: the sub's reports as just resolved (their incident when it was resolved again, else as before)
    a = a.join(old.select(["event_id", pl.col("incident_id").alias("_old")]), on="event_id", how="left")
    a = a.with_columns(incident_id=pl.when(pl.col("_anchor").is_null()
                                           | (pl.col("T1").is_not_null() & (pl.col("_anchor") < pl.col("U"))))
                       .then(pl.col("incident_id")).otherwise(pl.col("_old")))
    assigned = pl.concat([
        old.join(sub.select("event_id"), on="event_id", how="anti").select(["event_id", "h", "cluster", "incident_id"]),
        a.select(["event_id"]).join(cur.select(["event_id", "h"]), on="event_id").join(
            a.select(["event_id", "cluster", "incident_id"]), on="event_id"),
    ])
    new_state = cur.join(assigned, on=["event_id", "h"], how="left").to_arrow().cast(STATE_SCHEMA)
    return out_inc, out_links, new_state, {"resolved": sub_events.num_rows, "redone": len(redo),
                                           "redone_ids": new_inc["incident_id"], "kept_before": len(frozen),
                                           "kept_after": len(late)}

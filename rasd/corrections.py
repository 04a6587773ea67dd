"""Analyst corrections: fix an event's figure, date, place or type, or force incidents to merge or split.

The file (YAML or CSV, path in ``settings.corrections``) is applied on every run before
validation, so a correction survives re-runs; each applied change is written to the
event's ``correction`` column as an audit trail. Corrected rows are validated like any
other row. See docs/quality.md for the file format.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa

from rasd.schema import EVENTS

log = logging.getLogger(__name__)

# Fields an analyst may correct, by kind (everything else is the extractor's or an id).
CORRECTABLE = {
    "figure": ("fatalities", "fatalities_qualifier", "wounded", "wounded_qualifier", "detained", "detained_qualifier"),
    "date": ("event_date", "date_precision"),
    "place": ("place_id", "location", "location_ar", "admin1", "admin2", "admin3", "lat", "lon", "geo_precision"),
    "type": ("event_type", "sub_event_type"),
    "actor": ("actor1", "actor2"),
}
FIELDS = {f for group in CORRECTABLE.values() for f in group}
FIGURES = ("fatalities", "wounded", "detained")
PLACE_FILLED = ("location", "admin1", "admin2", "admin3", "lat", "lon", "geo_precision")
_NULLS = {"", "null", "none", "~"}


class CorrectionsError(ValueError):
    """The corrections file cannot be used as written (all problems are listed)."""


@dataclass(frozen=True)
class FieldCorrection:
    event_id: str
    field: str
    value: object
    reason: str
    analyst: str
    date: str
    where: str = ""  # "file.yaml entry 3" / "file.csv line 4"


@dataclass(frozen=True)
class IncidentCorrection:
    kind: str  # merge | split
    event_ids: tuple[str, ...]
    reason: str
    analyst: str
    date: str
    where: str = ""


@dataclass(frozen=True)
class Corrections:
    fields: tuple[FieldCorrection, ...] = ()
    incidents: tuple[IncidentCorrection, ...] = ()
    path: Path | None = None

    @property
    def merge_pairs(self) -> list[tuple[str, str]]:
        """(event_id_a, event_id_b): the resolver must put both reports in one incident."""
        return [(c.event_ids[0], c.event_ids[1]) for c in self.incidents if c.kind == "merge"]

    @property
    def split_ids(self) -> set[str]:
        """Event ids the resolver must take out of their incident (into an incident of their own)."""
        return {c.event_ids[0] for c in self.incidents if c.kind == "split"}

    @property
    def event_ids(self) -> set[str]:
        return {c.event_id for c in self.fields} | {e for c in self.incidents for e in c.event_ids}

    def unknown_ids(self, known: Iterable[str]) -> list[str]:
        """Event ids named in the file that are not in ``known`` (sorted)."""
        return sorted(self.event_ids - set(known))

    def __bool__(self) -> bool:
        return bool(self.fields or self.incidents)


# --------------------------------------------------------------------------- loading

def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return str(v).strip()


def _parse_value(fld: str, raw):
    """The value converted to the events column's type (None clears the field)."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in _NULLS):
        return None
    typ = EVENTS.arrow_schema.field(fld).type
    if pa.types.is_integer(typ):
        if isinstance(raw, bool):
            raise ValueError(f"{fld} needs an integer, got {raw!r}")
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError(f"{fld} needs an integer, got {raw!r}")
            return int(raw)
        if isinstance(raw, int):
            return raw
        s = str(raw).strip()
        if not s.lstrip("-").isdigit():
            raise ValueError(f"{fld} needs an integer, got {raw!r}")
        return int(s)
    if pa.types.is_floating(typ):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{fld} needs a number, got {raw!r}") from None
    if pa.types.is_date(typ):
        if isinstance(raw, dt.datetime):
            return raw.date()
        if isinstance(raw, dt.date):
            return raw
        try:
            return dt.date.fromisoformat(str(raw).strip())
        except ValueError:
            raise ValueError(f"{fld} needs an ISO date (YYYY-MM-DD), got {raw!r}") from None
    return str(raw).strip()


def _entries_from_yaml(text: str) -> list[tuple[str, dict]]:
    import yaml

    data = yaml.safe_load(text)
    if data is None:
        return []
    if isinstance(data, dict):
        data = data.get("corrections", [])
    if not isinstance(data, list):
        raise CorrectionsError("a YAML corrections file is a list of entries (or {corrections: [...]})")
    return [(f"entry {i}", e) for i, e in enumerate(data, 1)]


def _entries_from_csv(text: str) -> list[tuple[str, dict]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"event_id", "field", "value", "reason", "analyst", "date"} - set(reader.fieldnames or ())
    if missing:
        raise CorrectionsError(f"CSV corrections need the columns event_id, field, value, reason, analyst, date (missing: {sorted(missing)})")
    out = []
    for row in reader:
        if not any((v or "").strip() for v in row.values()):
            continue
        fld = (row.get("field") or "").strip()
        if fld == "merge":  # event_id and value are the two reports to merge
            row = {"merge": [row.get("event_id"), row.get("value")], **{k: row.get(k) for k in ("reason", "analyst", "date")}}
        elif fld == "split":
            row = {"split": row.get("event_id"), **{k: row.get(k) for k in ("reason", "analyst", "date")}}
        out.append((f"line {reader.line_num}", row))
    return out


def load_corrections(path: Path | str | None) -> Corrections:
    """Read and check a corrections file (``.yaml``/``.yml`` or ``.csv``); None gives no corrections."""
    if path is None:
        return Corrections()
    path = Path(path)
    if not path.is_file():
        raise CorrectionsError(f"corrections file not found: {path}")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".yaml", ".yml"):
        entries = _entries_from_yaml(text)
    elif path.suffix.lower() == ".csv":
        entries = _entries_from_csv(text)
    else:
        raise CorrectionsError(f"corrections file must be .yaml, .yml or .csv: {path}")
    fields_: list[FieldCorrection] = []
    incidents: list[IncidentCorrection] = []
    problems: list[str] = []
    for where, e in entries:
        where = f"{path.name} {where}"
        if not isinstance(e, dict):
            problems.append(f"{where}: not a mapping")
            continue
        reason, analyst, date = _text(e.get("reason")), _text(e.get("analyst")), _text(e.get("date"))
        missing = [k for k, v in (("reason", reason), ("analyst", analyst), ("date", date)) if not v]
        if missing:
            problems.append(f"{where}: needs {', '.join(missing)}")
            continue
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            problems.append(f"{where}: date {date!r} is not an ISO date (YYYY-MM-DD)")
            continue
        if "merge" in e:
            ids = [_text(x) for x in (e["merge"] or [])] if isinstance(e["merge"], (list, tuple)) else []
            if len(ids) != 2 or not all(ids) or ids[0] == ids[1]:
                problems.append(f"{where}: merge needs two different event ids, e.g. merge: [id_a, id_b]")
                continue
            incidents.append(IncidentCorrection("merge", (ids[0], ids[1]), reason, analyst, date, where))
        elif "split" in e:
            eid = _text(e["split"])
            if not eid:
                problems.append(f"{where}: split needs an event id")
                continue
            incidents.append(IncidentCorrection("split", (eid,), reason, analyst, date, where))
        else:
            eid, fld = _text(e.get("event_id")), _text(e.get("field"))
            if not eid or not fld:
                problems.append(f"{where}: needs event_id and field (or merge: / split:)")
                continue
            if fld not in FIELDS:
                problems.append(f"{where}: field {fld!r} cannot be corrected (allowed: {', '.join(sorted(FIELDS))})")
                continue
            if "value" not in e:
                problems.append(f"{where}: needs a value (null to clear the field)")
                continue
            try:
                value = _parse_value(fld, e["value"])
            except (ValueError, TypeError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            fields_.append(FieldCorrection(eid, fld, value, reason, analyst, date, where))
    seen: dict[tuple[str, str], FieldCorrection] = {}
    for c in fields_:
        prev = seen.setdefault((c.event_id, c.field), c)
        if prev is not c and prev.value != c.value:
            problems.append(f"{c.where}: {c.event_id} {c.field} is corrected twice with different values ({prev.where})")
    if problems:
        raise CorrectionsError("corrections file has problems:\n  " + "\n  ".join(problems))
    return Corrections(tuple(fields_), tuple(incidents), path)


# --------------------------------------------------------------------------- applying

def _show(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _audit(what: str, c) -> str:
    return f"{what}: {c.reason} ({c.analyst}, {c.date})"


def _default_place_lookup():
    try:
        from rasd.extract.places import Gazetteer

        return Gazetteer.load().get
    except Exception as exc:  # the gazetteer is someone else's; never let it stop a correction
        log.warning("gazetteer unavailable for place corrections (%s); only place_id is changed", exc)
        return lambda _pid: None


def _place_fields(place) -> dict:
    """Location columns filled from a gazetteer place (an object with name_en, admin1..3, lat, lon)."""
    if place is None:
        return {}
    get = (lambda k: place.get(k)) if isinstance(place, dict) else (lambda k: getattr(place, k, None))
    ptype = get("place_type")
    return {
        "location": get("name_en") or get("location"), "admin1": get("admin1"), "admin2": get("admin2"),
        "admin3": get("admin3"), "lat": get("lat"), "lon": get("lon"),
        "geo_precision": 3 if ptype == "governorate" else (2 if ptype in ("district", "subdistrict") else 1),
    }


def apply_event_corrections(events: pa.Table, corr: Corrections, *,
                            place_lookup: Callable[[str], object] | None = None,
                            report: list[str] | None = None) -> pa.Table:
    """Apply field corrections to ``events`` and write the audit trail into ``correction``.

    Setting a figure also sets its qualifier to "exact" when it had none (and clearing
    a figure clears it), unless the file corrects the qualifier too. Setting place_id
    fills location/admin/lat/lon/geo_precision from the gazetteer (``place_lookup``:
    place_id -> place, default the rasd gazetteer) unless those are corrected too.
    Merge and split requests are noted in the audit column; the resolver applies them
    (``corr.merge_pairs``, ``corr.split_ids``). Unknown event ids are logged and
    appended to ``report``, never fatal.
    """
    if not corr:
        return events
    if "correction" not in events.column_names:
        events = events.append_column(pa.field("correction", pa.string()), pa.nulls(events.num_rows, pa.string()))
    rows = events.to_pylist()
    index = {r["event_id"]: i for i, r in enumerate(rows)}
    unknown = corr.unknown_ids(index)
    for eid in unknown:
        where = [c.where for c in (*corr.fields, *corr.incidents) if eid == getattr(c, "event_id", None) or eid in getattr(c, "event_ids", ())]
        msg = f"correction for unknown event {eid} ({', '.join(where)}) not applied"
        log.warning(msg)
        if report is not None:
            report.append(msg)
    explicit = {(c.event_id, c.field) for c in corr.fields}
    notes: dict[int, list[str]] = {}
    lookup = place_lookup
    for c in corr.fields:
        i = index.get(c.event_id)
        if i is None:
            continue
        row = rows[i]
        old = row.get(c.field)
        row[c.field] = c.value
        extra = []
        if c.field in FIGURES:
            q = f"{c.field}_qualifier"
            if (c.event_id, q) not in explicit:
                if c.value is None and row.get(q) is not None:
                    row[q] = None
                    extra.append(f"{q} cleared")
                elif c.value is not None and row.get(q) is None:
                    row[q] = "exact"
                    extra.append(f"{q} exact")
        if c.field == "place_id" and c.value is not None:
            if lookup is None:
                lookup = _default_place_lookup()
            filled = _place_fields(lookup(c.value))
            if not filled:
                extra.append("not in gazetteer")
            for k, v in filled.items():
                if (c.event_id, k) not in explicit:
                    row[k] = v
        what = f"{c.field} {_show(old)}→{_show(c.value)}" + (f" ({', '.join(extra)})" if extra else "")
        notes.setdefault(i, []).append(_audit(what, c))
    for c in corr.incidents:
        for eid in c.event_ids:
            i = index.get(eid)
            if i is None:
                continue
            if c.kind == "merge":
                other = next(e for e in c.event_ids if e != eid)
                notes.setdefault(i, []).append(_audit(f"merge with {other}", c))
            else:
                notes.setdefault(i, []).append(_audit("split from its incident", c))
    for i, entries in notes.items():
        prev = rows[i].get("correction")
        rows[i]["correction"] = "; ".join(([prev] if prev else []) + entries)
    return pa.Table.from_pylist(rows, schema=events.schema)

"""Pandas views of the warehouse tables with the computed columns the GX suites check.

Great Expectations checks one column (or a column pair) at a time, so cross-row and
cross-table rules are expressed here as plain computed columns that a suite then
constrains (e.g. ``days_before_publication`` <= window, ``week_start_weekday`` == 0).
No GX import here: these functions are cheap and unit-testable on their own.
"""
from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rasd.schema import ACLED_TAXONOMY, ARTICLE_STATUSES, DATE_PRECISIONS, PUBLISHED_AT_BASES, QUALIFIERS, TABLES

YEAR_TYPO_MIN_YEARS = 5  # years; |event year - publication year| from which a date is suspected to be a typo
WEEKLY_KEY = ("week_start", "admin1", "admin2", "event_type")
WEEKLY_SUMS = {  # weekly column -> incidents column it sums (None: a row count)
    "incidents": None,
    "fatalities_low": "fatalities_low",
    "fatalities_best": "fatalities_best",
    "fatalities_high": "fatalities_high",
    "wounded": "wounded_best",
    "n_reports": "n_reports",
}


# The table columns each computed column of a view is made from (``article_published_at``: the article's
# publication date, looked up through ``article_id``). A row's verdict under a row-level expectation depends only
# on these (and the settings), which is what lets the pipeline skip rows it has seen pass (rasd/pipeline.py).
COMPUTED_FROM = {
    "events": {
        "published_at": ["article_id", "article_published_at"],
        "article_known": ["article_id"],
        "days_before_publication": ["event_date", "article_id", "article_published_at"],
        "year_typo": ["event_date", "article_id", "article_published_at"],
        "fatalities_unreviewed": ["fatalities", "correction"],
        "wounded_unreviewed": ["wounded", "correction"],
        "detained_unreviewed": ["detained", "correction"],
        "place_in_gazetteer": ["place_id"],
        "evidence_span_ok": ["evidence", "evidence_start", "evidence_end"],
    },
    "incidents": {"place_in_gazetteer": ["place_id"]},
    "articles": {},
}


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def parameters(settings, today: dt.date | None = None) -> dict:
    """Values substituted for the ``$name`` placeholders in expectations/*.json."""
    today = today or today_utc()
    slack = int(getattr(settings, "publication_slack_days", 1))
    return {
        "max_plausible_figure": int(settings.max_plausible_figure),
        "earliest_date": dt.date.fromisoformat(str(settings.earliest_date)).isoformat(),
        "event_window_days": int(settings.event_window_days),
        "latest_publication_date": (today + dt.timedelta(days=slack)).isoformat(),
        "today": today.isoformat(),
        "qualifiers": list(QUALIFIERS),
        "date_precisions": list(DATE_PRECISIONS),
        "article_statuses": list(ARTICLE_STATUSES),
        "published_at_bases": list(PUBLISHED_AT_BASES),
        "acled_event_types": list(ACLED_TAXONOMY),
        "acled_type_pairs": [[t, s] for t, subs in ACLED_TAXONOMY.items() for s in subs],
    }


def to_pandas(table: pa.Table | None, name: str) -> pd.DataFrame:
    """A pandas view of an Arrow table (dates as ``datetime.date``; an absent table is empty)."""
    if table is None:
        table = TABLES[name].arrow_schema.empty_table()
    df = table.to_pandas(date_as_object=True)
    df.index = pd.RangeIndex(len(df))
    return df


def _days(a: pd.Series, b: pd.Series) -> pd.Series:
    """a - b in days for two columns of ``datetime.date`` (NaN where either is missing)."""
    return (pd.to_datetime(a) - pd.to_datetime(b)).dt.days.astype("float64")


def _one_digit_slip(a: int, b: int) -> bool:
    """a and b (4-digit years) differ by one substituted digit or two swapped neighbours."""
    x, y = f"{a:04d}", f"{b:04d}"
    diff = [i for i in range(len(x)) if x[i] != y[i]]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]]


def year_typo(event_date, published_at, window_days: int) -> bool | None:
    """True when event_date looks like a mistyped year ("2002" for "2022").

    Arabic reports write dates in digits, and a one-digit slip moves an event decades
    away. Flagged when the year is YEAR_TYPO_MIN_YEARS+ from the publication year, is one
    digit slip away from the publication year (or the year before, for a December event
    reported in January), and that corrected date falls within the event window.
    """
    if not isinstance(event_date, dt.date) or not isinstance(published_at, dt.date):
        return None
    if abs(event_date.year - published_at.year) < YEAR_TYPO_MIN_YEARS:
        return False
    for year in (published_at.year, published_at.year - 1):
        if not _one_digit_slip(event_date.year, year):
            continue
        try:
            fixed = event_date.replace(year=year)
        except ValueError:  # 29 February
            continue
        if 0 <= (published_at - fixed).days <= window_days:
            return True
    return False


_CORRECTED = re.compile(r"(?:^|; )([a-z0-9_]+) [^;→]*→")


def corrected_fields(audit) -> set[str]:
    """Fields an analyst correction set, read from the ``correction`` audit string ("fatalities 6→4: …")."""
    if not isinstance(audit, str):
        return set()
    return set(_CORRECTED.findall(audit))


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def _table(table: pa.Table | None, name: str) -> pa.Table:
    return TABLES[name].arrow_schema.empty_table() if table is None else table


def _lookup(keys: pa.ChunkedArray | pa.Array, table: pa.Table, key: str) -> pa.Array:
    """Row of ``table`` whose ``key`` equals each of ``keys`` (the last such row, as a dict built from it would
    give); null where there is none."""
    ids = table.column(key).combine_chunks()
    n = len(ids)
    reversed_ids = ids.take(pa.array(np.arange(n - 1, -1, -1, dtype="int64")))
    pos = pc.index_in(keys, value_set=reversed_ids)
    return pc.subtract(pa.scalar(n - 1, pa.int32()), pos.cast(pa.int32()))


def _objects(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow column as a numpy object column of True / False / None (as the Python loops built)."""
    codes = pc.if_else(pc.is_null(values), 0, pc.if_else(values.cast(pa.bool_()).fill_null(False), 1, 2))
    return np.array([None, True, False], dtype=object)[codes.to_numpy(zero_copy_only=False)]


def _bools(values) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(bool)


def _floats(values) -> np.ndarray:
    return np.array(pc.fill_null(values.cast(pa.float64()), float("nan")).to_numpy(zero_copy_only=False), copy=True)


def articles_view(articles: pa.Table | None, events: pa.Table | None) -> pd.DataFrame:
    arts, ev = _table(articles, "articles"), _table(events, "events")
    df = to_pandas(arts, "articles")
    counts = ev.group_by("article_id").aggregate([("article_id", "count")])
    pos = _lookup(arts.column("article_id"), counts, "article_id")
    count = pc.fill_null(counts.column("article_id_count").combine_chunks().take(pos), 0).to_numpy(zero_copy_only=False)
    count = count.astype("int64")
    status = arts.column("status")
    dup = pc.is_valid(arts.column("duplicate_of"))
    df["ok_duplicate_event_count"] = np.where(_bools(pc.and_(pc.equal(status, "ok"), dup)), count, 0)
    df["quarantined_event_count"] = np.where(_bools(pc.equal(status, "quarantined")), count, 0)
    known = pc.is_in(arts.column("duplicate_of"), value_set=arts.column("article_id").combine_chunks())
    df["duplicate_of_known"] = _objects(pc.if_else(dup, known, pa.scalar(None, pa.bool_())))
    return df


def events_view(events: pa.Table | None, articles: pa.Table | None, settings, place_ids: set[str]) -> pd.DataFrame:
    ev, arts = _table(events, "events"), _table(articles, "articles")
    df = to_pandas(ev, "events")
    published = arts.column("published_at").combine_chunks().take(_lookup(ev.column("article_id"), arts, "article_id"))
    published = published.cast(pa.date32())
    df["published_at"] = pd.Series(published.to_pandas(date_as_object=True).to_numpy(dtype=object), index=df.index,
                                   dtype="object")
    df["article_known"] = _bools(pc.is_in(ev.column("article_id"), value_set=arts.column("article_id").combine_chunks()))
    event_date = ev.column("event_date").cast(pa.date32())
    df["days_before_publication"] = _floats(pc.days_between(event_date, published))
    window = int(settings.event_window_days)
    # year_typo: None when either date is missing, False when the years are close; the rule itself for the rest
    gap = pc.abs(pc.subtract(pc.year(event_date), pc.year(published)))
    typo = _objects(pc.if_else(pc.less(gap, YEAR_TYPO_MIN_YEARS), False, pa.scalar(None, pa.bool_())))
    both = _bools(pc.and_(pc.is_valid(event_date), pc.is_valid(published)))
    far = np.flatnonzero(both & (typo == None))  # noqa: E711 (object column)
    typo[both & (typo != None)] = False  # noqa: E711
    for i in far:
        typo[i] = year_typo(df["event_date"].iat[i], df["published_at"].iat[i], window)
    df["year_typo"] = pd.Series(typo, index=df.index, dtype="object")
    corrections = ev.column("correction") if "correction" in ev.column_names else None
    corrected = np.flatnonzero(_bools(pc.is_valid(corrections))) if corrections is not None else []
    for fig in ("fatalities", "wounded", "detained"):
        values = _floats(ev.column(fig))
        for i in corrected:
            if fig in corrected_fields(corrections[int(i)].as_py()):
                values[i] = np.nan
        df[f"{fig}_unreviewed"] = values
    _place_column(df, place_ids, ev.column("place_id"))
    start, end = ev.column("evidence_start"), ev.column("evidence_end")
    length = pc.fill_null(pc.utf8_length(ev.column("evidence")), 0)
    span_ok = pc.and_(pc.greater_equal(start, 0), pc.equal(pc.subtract(end, start), length.cast(pa.int64())))
    df["evidence_span_ok"] = _bools(span_ok)
    return df


def incidents_view(incidents: pa.Table | None, place_ids: set[str]) -> pd.DataFrame:
    inc = _table(incidents, "incidents")
    df = to_pandas(inc, "incidents")
    _place_column(df, place_ids, inc.column("place_id"))
    return df


def _place_column(df: pd.DataFrame, place_ids: set[str], column=None) -> None:
    if column is None:
        column = pa.array(df["place_id"].to_numpy(dtype=object), pa.string(), from_pandas=True)
    known = pc.is_in(column, value_set=pa.array(sorted(place_ids or ()), pa.string()))
    df["place_in_gazetteer"] = pd.Series(_objects(pc.if_else(pc.is_valid(column), known, pa.scalar(None, pa.bool_()))),
                                         index=df.index, dtype="object")


def monday(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


def recompute_weekly(incidents: pd.DataFrame, presummed: bool = False) -> pd.DataFrame:
    """weekly_incidents as it should be, recomputed from the incidents view (``presummed``: from sums per week_start,
    admin1, admin2, event_type with the row count in ``_one``, as ``weekly_expected`` gets them)."""
    agg = {w: ("_one" if src is None else src) for w, src in WEEKLY_SUMS.items()}
    cols = {f"{w}_expected": (src, "sum") for w, src in agg.items()}
    date = "week_start" if presummed else "event_date"
    inc = incidents.loc[incidents[date].notna().to_numpy(dtype=bool)].copy()
    if not len(inc):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in WEEKLY_KEY} | {c: pd.Series(dtype="float64") for c in cols})
    if not presummed:
        inc["week_start"] = inc["event_date"].map(monday)
        inc["_one"] = 1
    out = inc.groupby(list(WEEKLY_KEY), dropna=False).agg(**cols).reset_index()
    return out


def weekly_view(weekly: pa.Table | None, incidents: pa.Table | None, held_incidents: set[str] = frozenset(),
                expected: pd.DataFrame | None = None) -> pd.DataFrame:
    """weekly_incidents outer-joined with the sums recomputed from incidents (or ``expected``, already recomputed),
    plus diff columns.

    ``held_incidents``: ids quarantined (critical), which are never aggregated.
    """
    df = to_pandas(weekly, "weekly_incidents")
    df["_in_weekly"] = True
    if expected is None:
        inc = to_pandas(incidents, "incidents")
        if held_incidents:
            inc = inc[~inc["incident_id"].isin(held_incidents)]
        expected = recompute_weekly(inc)
    # pandas joins NaN keys to NaN keys, which is what we want for null admin1/admin2.
    merged = df.merge(expected, how="outer", on=list(WEEKLY_KEY), sort=False)
    merged["_in_weekly"] = merged["_in_weekly"].astype("boolean").fillna(False).astype(bool)
    for w in WEEKLY_SUMS:
        merged[f"{w}_diff"] = merged[w].fillna(0).astype("float64") - merged[f"{w}_expected"].fillna(0).astype("float64")
    ws = merged["week_start"]
    merged["week_start_weekday"] = ws.map(lambda d: None if _is_missing(d) else d.weekday())
    iso_ok = []
    for d, y, w, present in zip(ws, merged["iso_year"], merged["iso_week"], merged["_in_weekly"]):
        if _is_missing(d) or not present:
            iso_ok.append(None)
        else:
            cal = d.isocalendar()
            iso_ok.append(bool(cal[0] == y and cal[1] == w))
    merged["iso_week_ok"] = pd.Series(iso_ok, index=merged.index, dtype="object")
    merged["weekly_key"] = _joined_key(merged, WEEKLY_KEY)
    merged.index = pd.RangeIndex(len(merged))
    return merged


def _joined_key(df: pd.DataFrame, columns) -> list[str]:
    """``"|".join`` of each row's values of ``columns`` (``str`` of each, "" for a missing one), column at a time."""
    out = None
    for c in columns:
        text = df[c].astype(str).to_numpy(dtype=object)
        text[df[c].isna().to_numpy(dtype=bool)] = ""
        out = text if out is None else out + "|" + text
    return [] if out is None else out.tolist()


def build_views(tables: dict[str, pa.Table], settings, place_ids: set[str],
                held_incidents: set[str] = frozenset()) -> dict[str, pd.DataFrame]:
    """The pandas frame each suite validates, keyed by suite name (only for tables present)."""
    place_ids = set(place_ids or ())
    views: dict[str, pd.DataFrame] = {}
    if "articles" in tables:
        views["articles"] = articles_view(tables["articles"], tables.get("events"))
    if "events" in tables:
        views["events"] = events_view(tables["events"], tables.get("articles"), settings, place_ids)
    if "incidents" in tables:
        views["incidents"] = incidents_view(tables["incidents"], place_ids)
    if "weekly_incidents" in tables:
        views["weekly_incidents"] = weekly_view(tables["weekly_incidents"], tables.get("incidents"), held_incidents)
    for df in views.values():
        df["_row"] = range(len(df))
    return views


def format_value(v) -> str:
    if _is_missing(v):
        return "null"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return str(v)


# ---------------------------------------------------------------- table-level columns as DuckDB queries over Parquet

def _files_table(paths: list) -> pa.Table:
    """Each file with the position of its first row in the table (files in the order ``read_table`` joins them)."""
    import pyarrow.parquet as pq

    rows = [pq.ParquetFile(p).metadata.num_rows for p in paths]
    offsets = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype("int64") if rows else np.zeros(0, dtype="int64")
    return pa.table({"filename": pa.array([str(p) for p in paths], pa.string()), "_off": pa.array(offsets)})


def _scan(con, name: str, paths: list, columns: list[str]) -> str:
    """SQL of table ``name`` read from ``paths`` (only ``columns``), with ``_pos``: the row's position in the table."""
    from rasd.schema import TABLES

    if not paths:
        cols = ", ".join(f'CAST(NULL AS {_duck_type(TABLES[name].arrow_schema.field(c).type)}) AS "{c}"' for c in columns)
        return f"SELECT {cols}, CAST(NULL AS BIGINT) AS _pos WHERE false"
    con.register(f"_files_{name}", _files_table(paths))
    files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
    cols = ", ".join(f's."{c}"' for c in columns)
    return (f"SELECT {cols}, f._off + s.file_row_number AS _pos FROM read_parquet({files}, filename = true, "
            f"file_row_number = true, union_by_name = true) s JOIN _files_{name} f ON s.filename = f.filename")


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "VARCHAR"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    return "BIGINT"


def summary_relations(con, files: dict[str, list], columns: dict[str, list[str]]) -> dict[str, str]:
    """SQL of the table-level view of articles, events and incidents over their staged files: the base ``columns``
    asked for, ``_pos``, and the computed columns of ``articles_view`` / ``events_view`` (same values)."""
    from rasd.schema import TABLES

    def base(name, extra=()):
        want = [c for c in TABLES[name].column_names if c in set(columns.get(name, ())) | set(extra)]
        return _scan(con, name, files.get(name, []), want)

    arts = base("articles", ("article_id", "status", "duplicate_of"))
    ev_ids = _scan(con, "events_ids", files.get("events", []), ["article_id"]) if files.get("events") else \
        "SELECT CAST(NULL AS VARCHAR) AS article_id, 0 AS _pos WHERE false"
    art_ids = _scan(con, "articles_ids", files.get("articles", []), ["article_id"]) if files.get("articles") else \
        "SELECT CAST(NULL AS VARCHAR) AS article_id, 0 AS _pos WHERE false"
    return {
        "articles": f"""
            WITH a AS ({arts}),
                 n AS (SELECT article_id, count(*) AS n FROM ({ev_ids}) GROUP BY article_id),
                 ids AS (SELECT DISTINCT article_id FROM ({art_ids}) WHERE article_id IS NOT NULL)
            SELECT a.*,
                   CASE WHEN a.status = 'ok' AND a.duplicate_of IS NOT NULL THEN coalesce(n.n, 0) ELSE 0 END
                       AS ok_duplicate_event_count,
                   CASE WHEN a.status = 'quarantined' THEN coalesce(n.n, 0) ELSE 0 END AS quarantined_event_count,
                   CASE WHEN a.duplicate_of IS NULL THEN NULL
                        ELSE a.duplicate_of IN (SELECT article_id FROM ids) END AS duplicate_of_known
            FROM a LEFT JOIN n ON a.article_id = n.article_id""",
        "events": f"""
            WITH e AS ({base("events", ("event_id", "article_id"))}),
                 ids AS (SELECT DISTINCT article_id FROM ({art_ids}) WHERE article_id IS NOT NULL)
            SELECT e.*, coalesce(e.article_id IN (SELECT article_id FROM ids), false) AS article_known FROM e""",
        "incidents": base("incidents", ("incident_id",)),
    }


def weekly_expected(con, incident_files: list, held_incidents: set[str] = frozenset()) -> pd.DataFrame:
    """``recompute_weekly`` of the staged incidents (held ones left out), summed by DuckDB a week at a time."""
    sums = [src for src in WEEKLY_SUMS.values() if src is not None]
    scan = _scan(con, "incidents_weekly", incident_files,
                 ["incident_id", "event_date", "admin1", "admin2", "event_type", *sums])
    con.register("_held", pa.table({"incident_id": pa.array(sorted(held_incidents), pa.string())}))
    cols = ", ".join(f'CAST(sum("{c}") AS DOUBLE) AS "{c}"' for c in sums)  # float64, as pandas sums them
    pre = con.sql(f"""
        SELECT CAST(date_trunc('week', event_date) AS DATE) AS week_start, admin1, admin2, event_type,
               count(*) AS _one, {cols}
        FROM ({scan}) WHERE event_date IS NOT NULL
          AND coalesce(incident_id NOT IN (SELECT incident_id FROM _held), true)
        GROUP BY ALL""").to_arrow_table()
    return recompute_weekly(pre.to_pandas(date_as_object=True), presummed=True)

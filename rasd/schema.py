"""The published warehouse contract: one definition for every table's columns.

``warehouse/README.md`` is generated from ``TABLES`` (``rasd schema --markdown``)
and a test checks that the committed README matches. Arrow schemas used when
writing Parquet come from here too, so a column cannot drift silently.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    description: str
    unit: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


S, D, I, F, B, T = pa.string(), pa.date32(), pa.int64(), pa.float64(), pa.bool_(), pa.timestamp("us", tz="UTC")

QUALIFIERS = ("exact", "at_least", "more_than", "about", "vague")
DATE_PRECISIONS = ("day", "week", "month")
PUBLISHED_AT_BASES = ("metadata", "text", "inferred", "corroboration", "unknown")
ARTICLE_STATUSES = ("ok", "quarantined")

# ACLED event types and their sub-event types.
ACLED_TAXONOMY: dict[str, tuple[str, ...]] = {
    "Battles": ("Armed clash", "Government regains territory", "Non-state actor overtakes territory"),
    "Explosions/Remote violence": (
        "Shelling/artillery/missile attack", "Air/drone strike", "Remote explosive/landmine/IED",
        "Suicide bomb", "Grenade", "Chemical weapon",
    ),
    "Violence against civilians": ("Attack", "Abduction/forced disappearance", "Sexual violence"),
    "Protests": ("Peaceful protest", "Protest with intervention", "Excessive force against protesters"),
    "Riots": ("Violent demonstration", "Mob violence"),
    "Strategic developments": (
        "Agreement", "Arrests", "Change to group/activity", "Disrupted weapons use",
        "Headquarters or base established", "Looting/property destruction",
        "Non-violent transfer of territory", "Other",
    ),
}

_fig = "the stated figure; null when the article does not report it"

ARTICLES = Table(
    "articles",
    "One row per input article (every input is accounted for, including quarantined ones).",
    ("article_id",),
    (
        Column("article_id", S, False, "Stable id: hash of the article's normalised text (of its raw bytes when undecodable)."),
        Column("doc_key", S, False, "The sidecar's or JSONL record's `id`, else the input file's stem."),
        Column("source_path", S, False, "Input path relative to the input folder (`file.jsonl#line` for JSONL records)."),
        Column("url", S, True, "Article URL from metadata."),
        Column("outlet", S, True, "Outlet name, from metadata or recognised in the text."),
        Column("title", S, True, "Headline from metadata, the HTML page, or the first line."),
        Column("published_at", D, True, "Publication date; null when nothing dates the article."),
        Column("published_at_basis", S, False, "metadata | text | inferred | corroboration (dated by matching reports, rasd/anchor.py) | unknown: where published_at comes from."),
        Column("language", S, True, "Detected language code (`ar`, `en`, …); non-Arabic articles are not extracted."),
        Column("n_chars", I, False, "Length of the cleaned text.", "characters"),
        Column("content_hash", S, False, "sha256 of the raw input bytes (the raw layer's key)."),
        Column("duplicate_of", S, True, "article_id of the first-seen copy when this is an exact or near duplicate."),
        Column("status", S, False, "ok | quarantined."),
        Column("quarantine_reason", S, True, "Why the article was quarantined (empty, binary, too large, undecodable, …)."),
        Column("ingested_at", T, False, "When rasd first ingested this article (UTC)."),
    ),
)

ARTICLE_TEXTS = Table(
    "article_texts",
    "The cleaned text every evidence offset refers to (kept apart from `articles` so BI tables stay small).",
    ("article_id",),
    (
        Column("article_id", S, False, "Article id."),
        Column("doc_key", S, False, "Article doc_key."),
        Column("text", S, False, "Cleaned text: boilerplate removed, diacritics and tatweel dropped, NFKC."),
    ),
)

EVENTS = Table(
    "events",
    "Each event as one article reports it, with its evidence sentence.",
    ("event_id",),
    (
        Column("event_id", S, False, "Stable id: hash of article_id and the evidence span."),
        Column("article_id", S, False, "The reporting article."),
        Column("doc_key", S, False, "The reporting article's doc_key."),
        Column("event_date", D, True, "Date of the event (the first day of the period for week/month precision)."),
        Column("date_precision", S, False, "day | week | month."),
        Column("event_type", S, False, "ACLED event type."),
        Column("sub_event_type", S, False, "ACLED sub-event type."),
        Column("actor1", S, True, "Canonical English name of the first actor."),
        Column("actor2", S, True, "Canonical English name of the second actor."),
        Column("location", S, True, "Place name in English (gazetteer)."),
        Column("location_ar", S, True, "Place name as written in the article."),
        Column("place_id", S, True, "Gazetteer P-code (OCHA)."),
        Column("admin1", S, True, "Governorate (English)."),
        Column("admin2", S, True, "District (English)."),
        Column("admin3", S, True, "Subdistrict (English)."),
        Column("lat", F, True, "Latitude of the place.", "degrees WGS84"),
        Column("lon", F, True, "Longitude of the place.", "degrees WGS84"),
        Column("geo_precision", I, True, "1 named place; 2 near a place / part of a region; 3 governorate only."),
        Column("fatalities", I, True, f"People killed: {_fig}.", "people"),
        Column("fatalities_qualifier", S, True, "exact | at_least | more_than | about | vague (null when no figure)."),
        Column("wounded", I, True, f"People wounded: {_fig}.", "people"),
        Column("wounded_qualifier", S, True, "Qualifier of `wounded`."),
        Column("detained", I, True, f"People arrested, captured or abducted: {_fig}.", "people"),
        Column("detained_qualifier", S, True, "Qualifier of `detained`."),
        Column("evidence", S, False, "The sentence(s) the event was read from, verbatim from the cleaned text."),
        Column("evidence_start", I, False, "Offset of the evidence in article_texts.text.", "characters"),
        Column("evidence_end", I, False, "End offset (exclusive) of the evidence.", "characters"),
        Column("confidence", F, False, "Extractor confidence, 0–1."),
        Column("correction", S, True, "Analyst corrections applied to this row (audit trail), null when none."),
    ),
)

INCIDENTS = Table(
    "incidents",
    "One real-world incident after merging reports across articles and outlets.",
    ("incident_id",),
    (
        Column("incident_id", S, False, "Stable id: derived from the incident's earliest report."),
        Column("event_date", D, True, "Date of the incident."),
        Column("date_precision", S, False, "day | week | month."),
        Column("event_type", S, False, "ACLED event type."),
        Column("sub_event_type", S, False, "ACLED sub-event type."),
        Column("actor1", S, True, "First actor."),
        Column("actor2", S, True, "Second actor."),
        Column("location", S, True, "Place name (English)."),
        Column("place_id", S, True, "Gazetteer P-code."),
        Column("admin1", S, True, "Governorate (English)."),
        Column("admin2", S, True, "District (English)."),
        Column("lat", F, True, "Latitude.", "degrees WGS84"),
        Column("lon", F, True, "Longitude.", "degrees WGS84"),
        Column("fatalities_low", I, True, "Most conservative credible fatality figure.", "people"),
        Column("fatalities_best", I, True, "Best estimate of fatalities.", "people"),
        Column("fatalities_high", I, True, "Highest credible fatality figure.", "people"),
        Column("wounded_best", I, True, "Best estimate of wounded.", "people"),
        Column("detained_best", I, True, "Best estimate of detained.", "people"),
        Column("n_reports", I, False, "Number of event reports merged.", "reports"),
        Column("n_outlets", I, False, "Number of distinct outlets reporting.", "outlets"),
        Column("conflicting", B, False, "True when reports disagree on a figure beyond the tolerance."),
    ),
)

INCIDENT_REPORTS = Table(
    "incident_reports",
    "Bridge: which event reports make up each incident.",
    ("incident_id", "event_id"),
    (
        Column("incident_id", S, False, "Incident."),
        Column("event_id", S, False, "Event report."),
        Column("article_id", S, False, "Article of the report."),
        Column("role", S, False, "member (a report of the incident) | summary (a week/month summary covering it)."),
    ),
)

WEEKLY_INCIDENTS = Table(
    "weekly_incidents",
    "Incidents per ISO week (Monday start), governorate, district and event type.",
    ("week_start", "admin1", "admin2", "event_type"),
    (
        Column("week_start", D, False, "Monday of the ISO week."),
        Column("iso_year", I, False, "ISO year."),
        Column("iso_week", I, False, "ISO week number."),
        Column("admin1", S, True, "Governorate (English)."),
        Column("admin2", S, True, "District (English)."),
        Column("event_type", S, False, "ACLED event type."),
        Column("incidents", I, False, "Number of incidents.", "incidents"),
        Column("fatalities_low", I, False, "Sum of fatalities_low.", "people"),
        Column("fatalities_best", I, False, "Sum of fatalities_best.", "people"),
        Column("fatalities_high", I, False, "Sum of fatalities_high.", "people"),
        Column("wounded", I, False, "Sum of wounded_best.", "people"),
        Column("n_reports", I, False, "Sum of n_reports.", "reports"),
    ),
)

QUARANTINE = Table(
    "quarantine",
    "Rows held back by a row-level quality expectation, with the reason; they are not in the aggregates.",
    ("table_name", "row_id", "expectation"),
    (
        Column("table_name", S, False, "Table the row came from."),
        Column("row_id", S, False, "The row's key (event_id, incident_id, …)."),
        Column("article_id", S, True, "Article behind the row, when there is one."),
        Column("expectation", S, False, "The expectation that failed."),
        Column("severity", S, False, "critical | warning."),
        Column("detail", S, True, "The offending values."),
        Column("evidence", S, True, "Evidence sentence, when the row is an event."),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (ARTICLES, ARTICLE_TEXTS, EVENTS, INCIDENTS, INCIDENT_REPORTS, WEEKLY_INCIDENTS, QUARANTINE)
}


def empty_table(name: str) -> pa.Table:
    return TABLES[name].arrow_schema.empty_table()


def to_arrow(name: str, rows: list[dict]) -> pa.Table:
    """Build a table in the contract's column order and types from plain dict rows."""
    schema = TABLES[name].arrow_schema
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.Table.from_pydict(cols, schema=schema)


def conform(name: str, table: pa.Table) -> pa.Table:
    """Select and cast an Arrow table to the contract (missing nullable columns become nulls)."""
    schema = TABLES[name].arrow_schema
    arrays = []
    for f in schema:
        if f.name in table.column_names:
            arrays.append(table[f.name].cast(f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


README_HEADER = """# The rasd warehouse

Generated from `rasd/schema.py` by `rasd schema > warehouse/README.md`; a test keeps the two equal.
Only this README is tracked; everything else here is written by `rasd run`.

Layout: `<warehouse>/<table>/*.parquet` (one folder per table, for BI tools and DuckDB/Polars readers; one file per
month: `articles` and `article_texts` by `published_at`, `events` and `incidents` by `event_date`, `incident_reports`
by its incident's `event_date`, e.g. `2024-03.parquet`, rows without a date in `undated.parquet`; `weekly_incidents`
and `quarantine` in `all.parquet`; a run rewrites only the files whose rows changed),
`<warehouse>/rasd.duckdb` (the same tables plus the SQL views of `sql/`), both pointing through
`<warehouse>/current`, which a run swaps atomically to a complete, validated publication in
`<warehouse>/publications/<run_id>/` (with `_publication.json`: rasd and data versions, counts, and `quality/`:
validation results and Data Docs). `raw/` keeps every input's bytes by sha256; `runs/<run_id>/` keeps work files
and the gate results of every run, including failed ones.

Dates are DATE, counts BIGINT, coordinates DOUBLE (WGS84). Figures are people; null means "not reported",
never zero. Views in rasd.duckdb: `weekly_acled`, `conflicting_reports`, `incident_evidence`, `weekly_by_actor`
(see `sql/`).
"""


def sql_type(t: pa.DataType) -> str:
    """The DuckDB/SQL name of an Arrow type, as BI users see it."""
    return {S: "VARCHAR", D: "DATE", I: "BIGINT", F: "DOUBLE", B: "BOOLEAN", T: "TIMESTAMP WITH TIME ZONE"}.get(t, str(t))


def markdown() -> str:
    """warehouse/README.md, generated from TABLES."""
    out = [README_HEADER]
    for t in TABLES.values():
        out.append(f"## `{t.name}`\n\n{t.description} Key: {', '.join(t.key)}.\n")
        out.append("| column | type | unit | nullable | meaning |\n|---|---|---|---|---|")
        for c in t.columns:
            desc = c.description.replace("|", "\\|")
            out.append(f"| `{c.name}` | {sql_type(c.type)} | {c.unit} | {'yes' if c.nullable else 'no'} | {desc} |")
        out.append("")
    return "\n".join(out)

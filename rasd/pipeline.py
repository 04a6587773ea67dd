"""The weekly pipeline as plain functions over batches; Prefect tasks in flows/ wrap each one.

Steps pass *paths* (Parquet files in the run's work folder), never DataFrames, so the same functions
run in-process, in Prefect tasks or on Dask workers. ``run_local`` chains them without Prefect.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rasd import __version__
from rasd.schema import TABLES, conform, to_arrow
from rasd.settings import Settings
from rasd.warehouse import Layout, read_table

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"


def pause_for_tests(point: str) -> None:
    """TEST-ONLY fault-injection hook: with RASD_TEST_PAUSE_AT=<point> and RASD_TEST_PAUSE_FILE=<path> set, the
    run writes <path> when it reaches <point> ("extract", "publish" or "swap") and waits while <path> exists (at most
    10 minutes), so a test can read the warehouse, start a second run or SIGKILL this one at a precise moment.
    It pauses once per process (then writes <path>.done). Without both variables it does nothing."""
    import os

    if os.environ.get("RASD_TEST_PAUSE_AT") != point or not os.environ.get("RASD_TEST_PAUSE_FILE"):
        return
    flag = Path(os.environ["RASD_TEST_PAUSE_FILE"])
    done = flag.with_name(flag.name + ".done")
    if done.exists():
        return
    flag.write_text(f"{point} {os.getpid()}\n", encoding="utf-8")
    deadline = time.monotonic() + 600
    while flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    done.touch()


class PipelineError(RuntimeError):
    """A run-stopping problem with a one-line reason for the CLI."""


class GateFailed(PipelineError):
    pass


@dataclass(frozen=True)
class RunContext:
    run_id: str
    settings: Settings
    input_dir: Path
    warehouse: Path
    work: Path
    started_at: dt.datetime
    since: dt.date | None = None

    @property
    def layout(self) -> Layout:
        return Layout(self.warehouse)

    @property
    def staging(self) -> Path:
        return self.layout.publications / f".staging-{self.run_id}"


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def start_run(settings: Settings, input_dir: Path, warehouse: Path, since: dt.date | None = None) -> RunContext:
    """Check the input, create the run's work folder; call with the writer lock held."""
    input_dir, warehouse = Path(input_dir).resolve(), Path(warehouse).resolve()
    if not input_dir.is_dir():
        raise PipelineError(f"input folder not found: {input_dir}")
    if warehouse == input_dir or input_dir in warehouse.parents:
        raise PipelineError("the warehouse must not be inside the input folder (inputs are never modified)")
    from rasd.publish import cleanup

    layout = Layout(warehouse)
    warehouse.mkdir(parents=True, exist_ok=True)
    cleanup(layout)
    run_id = new_run_id()
    work = layout.runs / run_id
    work.mkdir(parents=True)
    return RunContext(run_id, settings, input_dir, warehouse, work, dt.datetime.now(dt.timezone.utc), since)


# ---------------------------------------------------------------- ingest


def plan_batches(ctx: RunContext) -> list[Path]:
    """Discover inputs and write one manifest per batch of files."""
    from rasd.ingest.discover import discover

    items = [{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(it).items()} for it in discover(ctx.input_dir)]
    size = max(1, ctx.settings.batch_size)
    out = []
    for n, i in enumerate(range(0, len(items), size)):
        p = ctx.work / f"manifest-{n:05d}.json"
        # ASCII JSON: a file name that is not valid UTF-8 (an archive unpacked from Windows-1256) is a str with
        # lone surrogates, which JSON escapes and restores exactly; UTF-8 output would refuse it.
        p.write_text(json.dumps(items[i : i + size], ensure_ascii=True), encoding="utf-8")
        out.append(p)
    return out


def ingest_batch(ctx: RunContext, manifest: Path) -> Path:
    """Read, decode, archive and clean one batch of input files into a Parquet file of article records."""
    from rasd.ingest.discover import InputItem
    from rasd.ingest.readers import read_items

    items = []
    for d in json.loads(manifest.read_text(encoding="utf-8")):
        d["path"] = Path(d["path"])
        d["sidecar"] = Path(d["sidecar"]) if d.get("sidecar") else None
        items.append(InputItem(**d))
    records = read_items(items, ctx.input_dir, ctx.layout.raw, ctx.settings, ctx.started_at, ctx.started_at.date())
    out = manifest.with_name(manifest.name.replace("manifest", "ingested").replace(".json", ".parquet"))
    _write_records(records, out)
    return out


def _article_schema() -> pa.Schema:
    return TABLES["articles"].arrow_schema.append(pa.field("text", pa.string()))


def _write_records(records: list[dict], path: Path) -> None:
    schema = _article_schema()
    cols = {f.name: [_encodable(r.get(f.name)) for r in records] for f in schema}
    pq.write_table(pa.Table.from_pydict(cols, schema=schema), path)


def _encodable(v):
    """Strings as valid UTF-8: lone surrogates (undecodable file names, "\\ud800" in a sidecar) become visible escapes."""
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return v.encode("utf-8", "backslashreplace").decode("utf-8")
    return v


def clean_articles(ctx: RunContext, ingested: list[Path]) -> dict:
    """De-duplicate new articles against each other and the published warehouse; keep only what is new.

    Returns paths: ``articles`` (all articles of the new publication, with text) and ``new`` (batches of new,
    extractable articles).
    """
    from rasd.ingest.dedupe import DuplicateIndex

    prev_pub = ctx.layout.current_publication()
    prev_articles = read_table(prev_pub, "articles")
    prev_texts = read_table(prev_pub, "article_texts")
    idx = DuplicateIndex(threshold=ctx.settings.near_duplicate_threshold)
    known_ids: set[str] = set()
    root_of: dict[str, str] = {}  # article_id -> the first copy it duplicates (itself when original)
    known_hashes: set[tuple[str, str]] = set()
    texts: dict[str, str] = {}
    if prev_texts is not None:
        texts = dict(zip(prev_texts["article_id"].to_pylist(), prev_texts["text"].to_pylist()))
    if prev_articles is not None:
        for row in prev_articles.select(["article_id", "status", "duplicate_of", "content_hash", "source_path"]).to_pylist():
            known_ids.add(row["article_id"])
            root_of[row["article_id"]] = row["duplicate_of"] or row["article_id"]
            known_hashes.add((row["content_hash"], row["source_path"]))
            if row["status"] == "ok" and row["duplicate_of"] is None and row["article_id"] in texts:
                idx.add(row["article_id"], texts[row["article_id"]])
    new_rows: list[dict] = []
    skipped_since = 0
    for path in ingested:
        for r in pq.read_table(path).to_pylist():
            if (r["content_hash"], r["source_path"]) in known_hashes:
                continue  # this input was already published: a re-run adds nothing
            if ctx.since and r["published_at"] and r["published_at"] < ctx.since:
                skipped_since += 1
                continue
            first = None
            if r["article_id"] in known_ids:
                # The same text from another input (a copied or syndicated file): the ids of ok articles hash the
                # text, so this copy gets its own id (from its source path) and points to the first copy.
                first = root_of.get(r["article_id"], r["article_id"])
                r["article_id"] = hashlib.sha256(f"{r['article_id']}\0{r['source_path']}".encode("utf-8")).hexdigest()[:16]
                if r["article_id"] in known_ids:
                    continue
            known_ids.add(r["article_id"])
            known_hashes.add((r["content_hash"], r["source_path"]))
            if r["status"] == "ok" and r["text"]:
                r["duplicate_of"] = first or idx.check_and_add(r["article_id"], r["text"])
            root_of[r["article_id"]] = r["duplicate_of"] or r["article_id"]
            new_rows.append(r)
    schema = _article_schema()
    new_table = pa.Table.from_pylist(new_rows, schema=schema) if new_rows else schema.empty_table()
    prev_full = None
    if prev_articles is not None and prev_articles.num_rows:
        t = _reset_quality_status(conform("articles", prev_articles))
        text_col = [texts.get(a, "") for a in t["article_id"].to_pylist()]
        prev_full = t.append_column("text", pa.array(text_col, pa.string()))
    # Batches of extractable articles for the extract step: the new ones, and all of them when the rules changed.
    reextract = prev_full is not None and previous_extractor_version(ctx.layout) != extractor_version()
    to_extract = pa.concat_tables([prev_full, new_table]) if reextract else new_table
    extractable = to_extract.filter(
        pc.and_(pc.equal(to_extract["status"], "ok"), pc.is_null(to_extract["duplicate_of"]))
    ) if to_extract.num_rows else to_extract
    batches = []
    size = max(1, ctx.settings.batch_size)
    for n, i in enumerate(range(0, extractable.num_rows, size)):
        p = ctx.work / f"new-{n:05d}.parquet"
        pq.write_table(extractable.slice(i, size), p)
        batches.append(p)
    # All articles of the coming publication: previous + new.
    all_articles = pa.concat_tables([x for x in (prev_full, new_table) if x is not None]) if prev_full is not None else new_table
    all_path = ctx.work / "articles.parquet"
    pq.write_table(all_articles, all_path)
    n_dup = sum(1 for r in new_rows if r.get("duplicate_of"))
    n_q = sum(1 for r in new_rows if r["status"] == "quarantined")
    counts = {"new": len(new_rows), "duplicates": n_dup, "quarantined": n_q, "skipped_since": skipped_since,
              "total": all_articles.num_rows, "to_extract": extractable.num_rows}
    return {"articles": str(all_path), "new": [str(b) for b in batches], "reextract": reextract, "counts": counts}


def _reset_quality_status(articles: pa.Table) -> pa.Table:
    """Articles the quality gate quarantined last time are judged again this run (corrections may fix them)."""
    from rasd.quality.gate import QUALITY_REASON_PREFIX

    reasons = articles["quarantine_reason"].to_pylist()
    by_gate = [bool(r) and r.startswith(QUALITY_REASON_PREFIX) for r in reasons]
    if not any(by_gate):
        return articles
    status = ["ok" if g else s for g, s in zip(by_gate, articles["status"].to_pylist())]
    reasons = [None if g else r for g, r in zip(by_gate, reasons)]
    # keep the contract's fields (status is NOT NULL): a nullable copy no longer concatenates with the new articles
    f = articles.schema.field
    articles = articles.set_column(articles.schema.get_field_index("status"), f("status"), pa.array(status, f("status").type))
    return articles.set_column(articles.schema.get_field_index("quarantine_reason"), f("quarantine_reason"),
                               pa.array(reasons, f("quarantine_reason").type))


# ---------------------------------------------------------------- extract


def extract_batch(ctx: RunContext, batch: Path) -> Path:
    """Extract the events of one batch of new articles."""
    from rasd.extract.events import Extractor

    pause_for_tests("extract")
    ex = Extractor.load(ctx.settings)
    rows: list[dict] = []
    cols = ["article_id", "doc_key", "text", "published_at", "outlet", "title", "language"]
    for art in pq.read_table(batch, columns=cols).to_pylist():
        try:
            rows.extend(ex.extract(art))
        except Exception as e:  # one bad article must not stop the batch; it is named in the log
            raise PipelineError(f"extraction failed on article {art['doc_key']} ({art['article_id']}): {e!r}") from e
    out = Path(str(batch).replace("new-", "events-"))
    pq.write_table(to_arrow("events", rows), out)
    return out


EXTRACTED = "events.extracted.parquet"


def previous_extracted_events(layout: Layout) -> pa.Table | None:
    """Events as extracted in the current publication (its cache), else its published events."""
    pub = layout.current_publication()
    cached = pub / "_cache" / EXTRACTED if pub else None
    if cached is not None and cached.is_file():
        return pq.read_table(cached)
    return read_table(pub, "events")


def collect_events(ctx: RunContext, event_batches: list[Path], articles_path: Path, reextract: bool = False) -> Path:
    """Previously published events (unless everything was re-extracted) + the new batches, corrections applied."""
    prev = None if reextract else previous_extracted_events(ctx.layout)
    parts = [conform("events", prev)] if prev is not None and prev.num_rows else []
    parts += [pq.read_table(p) for p in event_batches]
    events = pa.concat_tables(parts) if parts else TABLES["events"].arrow_schema.empty_table()
    # Only events of articles that are ok and not duplicates.
    arts = pq.read_table(articles_path, columns=["article_id", "status", "duplicate_of"])
    ok = {a for a, s, d in zip(*(arts[c].to_pylist() for c in ("article_id", "status", "duplicate_of"))) if s == "ok" and d is None}
    events = events.filter(pa.array([a in ok for a in events["article_id"].to_pylist()], pa.bool_()))
    events = events.drop_columns(["correction"]).append_column("correction", pa.nulls(events.num_rows, pa.string()))
    # As extracted, before corrections and validation: the next run reuses these, so a quarantined event or a
    # withdrawn correction is judged afresh every run.
    pq.write_table(conform("events", events), ctx.work / EXTRACTED)
    if ctx.settings.corrections:
        from rasd.corrections import apply_event_corrections, load_corrections

        events = apply_event_corrections(events, load_corrections(ctx.settings.corrections))
    events = conform("events", events)
    out = ctx.work / "events.parquet"
    pq.write_table(events.sort_by([("article_id", "ascending"), ("evidence_start", "ascending")]), out)
    return out


# ---------------------------------------------------------------- validate (rows), resolve, aggregate


def _gazetteer_ids() -> set[str]:
    from rasd.extract.places import Gazetteer

    return Gazetteer.load().ids()


def validate_rows(ctx: RunContext, articles_path: Path, events_path: Path) -> dict:
    """Row-level expectations on articles and events: failing events go to quarantine, out of the aggregates."""
    from rasd.quality.gate import row_checks

    articles = conform("articles", pq.read_table(articles_path))
    events = pq.read_table(events_path)
    quarantine, keep = row_checks({"articles": articles, "events": events}, ctx.settings, _gazetteer_ids())
    kept = _apply_keep(events, keep.get("events"))
    if keep.get("articles") is not None and not all(keep["articles"].to_pylist()):
        from rasd.quality.gate import apply_quarantine

        marked = apply_quarantine({"articles": articles}, quarantine, keep)["articles"]
        full = pq.read_table(articles_path)
        full = full.set_column(full.schema.get_field_index("status"), full.schema.field("status"), marked["status"])
        full = full.set_column(full.schema.get_field_index("quarantine_reason"), full.schema.field("quarantine_reason"),
                               marked["quarantine_reason"])
        pq.write_table(full, articles_path)
    out_events = ctx.work / "events.valid.parquet"
    pq.write_table(kept, out_events)
    q_path = ctx.work / "quarantine.events.parquet"
    pq.write_table(conform("quarantine", quarantine), q_path)
    return {"events": str(out_events), "quarantine": str(q_path),
            "counts": {"events": events.num_rows, "kept": kept.num_rows, "quarantined_rows": quarantine.num_rows}}


def _apply_keep(table: pa.Table, keep: pa.BooleanArray | None) -> pa.Table:
    return table if keep is None else table.filter(keep)


def resolve_incidents(ctx: RunContext, events_path: Path, articles_path: Path) -> dict:
    """Merge reports across articles into incidents (ids stable against the previous publication)."""
    from rasd.resolve import resolve

    events = pq.read_table(events_path)
    articles = conform("articles", pq.read_table(articles_path))
    previous = read_table(ctx.layout.current_publication(), "incident_reports")
    merge, split = [], set()
    if ctx.settings.corrections:
        from rasd.corrections import load_corrections

        corr = load_corrections(ctx.settings.corrections)
        merge, split = corr.merge_pairs, corr.split_ids
    incidents, reports = resolve(events, articles, ctx.settings, previous, force_merge=merge, force_split=split)
    inc_path, rep_path = ctx.work / "incidents.parquet", ctx.work / "incident_reports.parquet"
    pq.write_table(conform("incidents", incidents), inc_path)
    pq.write_table(conform("incident_reports", reports), rep_path)
    return {"incidents": str(inc_path), "incident_reports": str(rep_path),
            "counts": {"incidents": incidents.num_rows, "reports": reports.num_rows}}


def validate_incidents(ctx: RunContext, paths: dict) -> dict:
    """Row-level expectations on incidents; failing incidents (and their bridge rows) are quarantined."""
    from rasd.quality.gate import row_checks

    incidents = pq.read_table(paths["incidents"])
    quarantine, keep = row_checks({"incidents": incidents}, ctx.settings, _gazetteer_ids())
    kept = _apply_keep(incidents, keep.get("incidents"))
    ids = set(kept["incident_id"].to_pylist())
    reports = pq.read_table(paths["incident_reports"])
    reports = reports.filter(pa.array([i in ids for i in reports["incident_id"].to_pylist()], pa.bool_()))
    pq.write_table(kept, paths["incidents"])
    pq.write_table(reports, paths["incident_reports"])
    q_path = ctx.work / "quarantine.incidents.parquet"
    pq.write_table(conform("quarantine", quarantine), q_path)
    return {**paths, "quarantine_incidents": str(q_path), "counts": {"incidents": kept.num_rows, "quarantined_rows": quarantine.num_rows}}


def aggregate(ctx: RunContext, articles_path: Path, events_path: Path, resolved: dict, quarantine_paths: list[Path]) -> dict:
    """Build the staging publication: Parquet tables, rasd.duckdb with sql/ tables and views."""
    from rasd.publish import build_database, write_parquet

    staging = ctx.staging
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    full = pq.read_table(articles_path)
    articles = conform("articles", full)
    texts = conform("article_texts", full.select(["article_id", "doc_key", "text"]).filter(
        pc.invert(pc.is_null(full["text"])) if full.num_rows else pa.array([], pa.bool_())))
    quarantine = pa.concat_tables([conform("quarantine", pq.read_table(p)) for p in quarantine_paths]) if quarantine_paths else TABLES["quarantine"].arrow_schema.empty_table()
    base = {
        "articles": articles,
        "article_texts": texts,
        "events": conform("events", pq.read_table(events_path)),
        "incidents": conform("incidents", pq.read_table(resolved["incidents"])),
        "incident_reports": conform("incident_reports", pq.read_table(resolved["incident_reports"])),
        "quarantine": quarantine,
    }
    extracted = ctx.work / EXTRACTED
    if extracted.is_file():
        (staging / "_cache").mkdir()
        shutil.copy2(extracted, staging / "_cache" / EXTRACTED)
    built = build_database(staging, base, SQL_DIR)
    for name, t in {**base, **built}.items():
        write_parquet(conform(name, t) if name in TABLES else t, staging / name)
    weekly = built.get("weekly_incidents")
    return {"staging": str(staging), "counts": {k: v.num_rows for k, v in {**base, **built}.items()},
            "weeks": weekly.num_rows if weekly is not None else 0}


def validate_tables(ctx: RunContext, staging: Path) -> dict:
    """All suites on the staged tables (table-level criticals block publishing); results kept with the run."""
    from rasd.quality.gate import table_checks

    tables = {name: conform(name, read_table(staging, name)) for name in ("articles", "events", "incidents", "weekly_incidents")}
    out_dir = staging / "quality"
    report = table_checks(tables, ctx.settings, _gazetteer_ids(), out_dir, quarantine=read_table(staging, "quarantine"))
    shutil.copytree(out_dir, ctx.work / "quality", dirs_exist_ok=True)
    return {"passed": report.passed, "one_line": report.one_line(), "markdown": report.summary_markdown(),
            "failures": report.failures}


def publish(ctx: RunContext, staging: Path, summary: dict) -> Path:
    """Swap the validated staging publication in (one rename)."""
    from rasd.publish import cleanup, swap_in, write_metadata

    meta = {"run_id": ctx.run_id, "rasd_version": __version__, "extractor_version": extractor_version(), "published_at": dt.datetime.now(dt.timezone.utc),
            "input_dir": str(ctx.input_dir), "data_versions": data_versions(), "summary": summary}
    write_metadata(Path(staging), meta)
    pause_for_tests("publish")
    try:
        final = swap_in(ctx.layout, Path(staging), ctx.run_id)
    except OSError as e:  # full disk, read-only target, ...
        now = ctx.layout.current_publication()
        if now is not None and now.name == ctx.run_id:  # failed after the pointer swap (the stable links)
            raise PipelineError(f"published run {ctx.run_id}, but a final step failed: {e}") from e
        raise PipelineError(f"publishing failed, the previous publication is unchanged: {e}") from e
    cleanup(ctx.layout)
    return final


def discard(ctx: RunContext, staging: Path | None) -> None:
    """A failed run leaves the previous publication untouched; its staging is kept under runs/ for inspection."""
    if staging and Path(staging).exists():
        shutil.move(str(staging), str(ctx.work / "rejected-publication"))


def extractor_version() -> str:
    """Hash of the extraction code and rule data: published events are reused only while it is unchanged."""
    import hashlib

    h = hashlib.sha256(__version__.encode())
    pkg = ROOT / "rasd"
    for p in sorted([*(pkg / "extract").rglob("*.py"), *(pkg / "text").rglob("*.py"), *(pkg / "data").rglob("*")]):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(pkg)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def previous_extractor_version(layout: Layout) -> str | None:
    pub = layout.current_publication()
    meta = pub / "_publication.json" if pub else None
    if meta is None or not meta.is_file():
        return None
    return json.loads(meta.read_text(encoding="utf-8")).get("extractor_version")


def data_versions() -> dict:
    """Content hashes of the rule data (lexicons, gazetteer), so a number can be traced to its rules."""
    import hashlib

    out = {}
    data = ROOT / "rasd" / "data"
    for p in sorted(data.rglob("*")):
        if p.is_file() and p.suffix in {".yaml", ".yml", ".csv", ".jsonl", ".json"}:
            out[str(p.relative_to(data))] = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    return out


def weekly_rows(staging: Path, limit: int = 50) -> list[dict]:
    t = read_table(Path(staging), "weekly_incidents")
    if t is None:
        return []
    rows = t.sort_by([("week_start", "descending"), ("fatalities_best", "descending")]).slice(0, limit).to_pylist()
    return [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()} for r in rows]


# ---------------------------------------------------------------- the whole run without Prefect


def run_local(settings: Settings, input_dir: Path, warehouse: Path, since: dt.date | None = None, log=print) -> dict:
    """The same steps the Prefect flow runs, in-process (tests, debugging)."""
    from rasd.warehouse import writer_lock

    with writer_lock(Layout(Path(warehouse))):
        ctx = start_run(settings, input_dir, warehouse, since)
        return run_steps(ctx, log=log)


def run_steps(ctx: RunContext, log=print) -> dict:
    t0 = time.perf_counter()
    manifests = plan_batches(ctx)
    ingested = [ingest_batch(ctx, m) for m in manifests]
    cleaned = clean_articles(ctx, ingested)
    ev_batches = [extract_batch(ctx, Path(b)) for b in cleaned["new"]]
    events_path = collect_events(ctx, ev_batches, Path(cleaned["articles"]), cleaned["reextract"])
    vr = validate_rows(ctx, Path(cleaned["articles"]), events_path)
    resolved = resolve_incidents(ctx, Path(vr["events"]), Path(cleaned["articles"]))
    resolved = validate_incidents(ctx, resolved)
    agg = aggregate(ctx, Path(cleaned["articles"]), Path(vr["events"]), resolved,
                    [Path(vr["quarantine"]), Path(resolved["quarantine_incidents"])])
    gate = validate_tables(ctx, Path(agg["staging"]))
    summary = summarize(ctx, cleaned, agg, gate)
    if not gate["passed"]:
        discard(ctx, Path(agg["staging"]))
        raise GateFailed(gate["one_line"])
    publish(ctx, Path(agg["staging"]), summary)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def summarize(ctx: RunContext, cleaned: dict, agg: dict, gate: dict) -> dict:
    c = agg["counts"]
    arts = read_table(Path(agg["staging"]), "articles")
    statuses = arts["status"].to_pylist() if arts is not None else []
    return {
        "run_id": ctx.run_id,
        "articles": len(statuses),
        "articles_new": cleaned["counts"]["new"],
        "quarantined_articles": statuses.count("quarantined"),
        "duplicates": sum(1 for d in arts["duplicate_of"].to_pylist() if d) if arts is not None else 0,
        "events": c.get("events", 0),
        "incidents": c.get("incidents", 0),
        "quarantined_rows": c.get("quarantine", 0),
        "weeks": len({r["week_start"] for r in read_table(Path(agg["staging"]), "weekly_incidents").to_pylist()}) if c.get("weekly_incidents") else 0,
        "gate": "passed" if gate["passed"] else "failed",
        "warehouse": str(ctx.warehouse),
    }

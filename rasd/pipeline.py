"""The weekly pipeline as plain functions over batches; Prefect tasks in flows/ wrap each one.

Steps pass *paths* (Parquet files in the run's work folder), never DataFrames, so the same functions
run in-process, in Prefect tasks or on Dask workers. ``run_local`` chains them without Prefect.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
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
from rasd.warehouse import DB_NAME, Layout, read_table

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


INPUTS = "inputs.parquet"  # publication cache: identity of every input file whose records are all published
INPUTS_PLAN = "inputs.plan.parquet"  # run folder: every discovered input, its identity, and whether it is read
_INPUT_SCHEMA = pa.schema([("source_path", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64()),
                           ("sidecar", pa.string()), ("sidecar_size", pa.int64()), ("sidecar_mtime_ns", pa.int64())])


def _input_identity(item, input_dir: Path) -> dict | None:
    """(size, mtime_ns) of an input file and of its sidecar; None when it cannot be stat'ed (it is then read)."""
    import os

    try:
        st = os.stat(item.path, follow_symlinks=item.kind != "link")
        side = os.stat(item.sidecar) if item.sidecar is not None else None
    except (OSError, ValueError):
        return None
    rel = None
    if item.sidecar is not None:
        # the sidecar's path relative to the input folder (string operations: pathlib costs ~1 s per 100k inputs)
        path, prefix = os.fspath(item.sidecar), os.path.join(os.fspath(input_dir), "")
        rel = _encodable(path[len(prefix):].replace(os.sep, "/") if path.startswith(prefix) else path)
    return {"source_path": _encodable(item.source_path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sidecar": rel,
            "sidecar_size": side.st_size if side else None, "sidecar_mtime_ns": side.st_mtime_ns if side else None}


def _identity_keys(t: pa.Table) -> pa.ChunkedArray:
    parts = [pc.fill_null(pc.cast(t[c], pa.string()), "") for c in _INPUT_SCHEMA.names]
    return pc.binary_join_element_wise(*parts, "\0")


def previous_inputs(layout: Layout, input_dir: Path) -> pa.Array:
    """Identity keys of the inputs the current publication holds completely (same input folder only)."""
    pub = layout.current_publication()
    path = pub / "_cache" / INPUTS if pub else None
    if path is None or not path.is_file():
        return pa.array([], pa.string())
    t = pq.read_table(path)
    if (t.schema.metadata or {}).get(b"input_dir", b"").decode("utf-8", "surrogateescape") != str(input_dir):
        return pa.array([], pa.string())  # another folder: the same relative paths may hold other files
    return _identity_keys(t).combine_chunks()


def plan_batches(ctx: RunContext) -> list[Path]:
    """Discover inputs and write one manifest per batch of the files to read.

    An input whose (size, mtime_ns), and its sidecar's, equal those recorded with the current publication is
    not read again: its articles are carried over from that publication. A changed or grown file (a JSONL feed
    that gained lines) is read again whole; records already published are then recognised by
    (content_hash, source_path) in ``clean_articles``. Every discovered input and its identity go to
    ``inputs.plan.parquet`` in the run folder (the next publication's input record is built from it).
    """
    from rasd.ingest.discover import discover

    found = discover(ctx.input_dir)
    # an input that cannot be stat'ed has no identity (null size): it is read, and never recorded as published
    idents = [_input_identity(it, ctx.input_dir) or {"source_path": _encodable(it.source_path)} for it in found]
    plan = pa.Table.from_pydict({c: [d.get(c) for d in idents] for c in _INPUT_SCHEMA.names}, schema=_INPUT_SCHEMA)
    known = pc.and_(pc.is_valid(plan["size"]), pc.is_in(_identity_keys(plan), value_set=previous_inputs(ctx.layout, ctx.input_dir)))
    read = pc.invert(known)
    plan = plan.append_column("read", read)
    pq.write_table(plan.replace_schema_metadata({"input_dir": str(ctx.input_dir).encode("utf-8", "surrogateescape")}),
                   ctx.work / INPUTS_PLAN)
    to_read = [it for it, r in zip(found, read.to_pylist()) if r]
    items = [{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(it).items()} for it in to_read]
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
    _write_minhash(records, _minhash_path(out))
    return out


def _minhash_path(ingested: Path) -> Path:
    """Beside each ingested batch: the MinHash signatures of its ok records with text (``clean_articles`` reads them)."""
    return ingested.with_name(ingested.name.replace(".parquet", ".minhash.npz"))


def _write_minhash(records: list[dict], path: Path) -> None:
    """Signatures computed here, in the batch's (worker) process, so de-duplication only compares them."""
    import numpy as np

    from rasd.ingest.dedupe import signatures

    rows = [i for i, r in enumerate(records) if r.get("status") == "ok" and r.get("text")]
    sigs, ok = signatures([_encodable(records[i]["text"]) for i in rows])  # the text as written to Parquet
    with open(path, "wb") as fh:
        np.savez(fh, n=np.asarray([len(records)]), rows=np.asarray(rows, dtype=np.int64), sigs=sigs, ok=ok)


def _batch_signatures(path: Path, t: pa.Table, cand: list[int]):
    """(signatures, has-shingles mask) of the rows ``cand`` of ingested batch ``t``: from its ``.minhash.npz`` when
    it covers them, else computed here."""
    import numpy as np

    from rasd.ingest.dedupe import signatures

    side = _minhash_path(path)
    if side.is_file():
        with np.load(side) as z:
            if int(z["n"][0]) == t.num_rows:
                pos = np.full(t.num_rows, -1, dtype=np.int64)
                pos[z["rows"]] = np.arange(len(z["rows"]))
                at = pos[np.asarray(cand, dtype=np.int64)]
                if (at >= 0).all():
                    return z["sigs"][at], z["ok"][at]
    return signatures(t["text"].take(pa.array(cand, pa.int64())).to_pylist())


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


MINHASH = "minhash.parquet"  # publication cache: MinHash signatures of the indexed originals (rasd/ingest/dedupe.py)
_LINE_SUFFIX = re.compile(r"#L\d+$")


def _record_keys(t: pa.Table) -> pa.ChunkedArray:
    """content_hash NUL source_path: one input record (a file, or a line of a JSONL file)."""
    return pc.binary_join_element_wise(t["content_hash"], t["source_path"], "\0")


def _aligned_texts(pub: Path | None, ids: pa.Array) -> pa.Array:
    """The published text of each article id ("" when it has none), in the order of ``ids``."""
    texts = read_table(pub, "article_texts")
    if texts is None or not texts.num_rows:
        return pa.array([""] * len(ids), pa.string())
    pos = pc.index_in(ids, value_set=texts["article_id"].combine_chunks())
    return pc.fill_null(pc.take(texts["text"].combine_chunks(), pos), "")


def _seed_index(idx, pub: Path, prev: pa.Table, texts: pa.Array) -> None:
    """Index the published originals (ok, not duplicates) in their published order, from the signatures stored
    with the publication; only articles missing there (an older publication) are hashed."""
    import numpy as np

    from rasd.ingest.dedupe import NUM_PERM, read_signatures, signatures

    eligible = pc.and_(pc.equal(prev["status"], "ok"), pc.is_null(prev["duplicate_of"])).combine_chunks()
    ids = prev["article_id"].combine_chunks().filter(eligible)
    n = len(ids)
    if not n:
        return
    sigs = np.full((n, NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)
    have = np.zeros(n, dtype=bool)
    cached = pub / "_cache" / MINHASH
    got = read_signatures(pq.read_table(cached)) if cached.is_file() else None
    if got is not None and len(got[0]):
        pos = pc.index_in(ids, value_set=got[0]).to_numpy(zero_copy_only=False)
        hit = ~np.isnan(pos) if pos.dtype.kind == "f" else pos >= 0
        sigs[hit] = got[1][pos[hit].astype(np.int64)]
        have[hit] = True
    missing = np.flatnonzero(~have)
    if len(missing):
        etexts = texts.filter(eligible)
        msigs, ok = signatures(etexts.take(pa.array(missing, pa.int64())).to_pylist())
        sigs[missing] = msigs
        have[missing] = ok
    keep = np.flatnonzero(have)
    idx.add_signatures(ids.take(pa.array(keep, pa.int64())).to_pylist(), sigs[keep])


class _ExtractBatches:
    """Extractable articles, written as Parquet batches of ``size`` rows (new-00000.parquet, ...)."""

    def __init__(self, work: Path, size: int):
        self.work, self.size = work, max(1, size)
        self.parts: list[pa.Table] = []
        self.n = 0
        self.paths: list[Path] = []

    def add(self, t: pa.Table) -> None:
        if not t.num_rows:
            return
        t = t.filter(pc.and_(pc.equal(t["status"], "ok"), pc.is_null(t["duplicate_of"])))
        if t.num_rows:
            self.parts.append(t)
            self.n += t.num_rows
        while self.n >= self.size:
            self._flush(self.size)

    def _flush(self, k: int) -> None:
        t = pa.concat_tables(self.parts)
        p = self.work / f"new-{len(self.paths):05d}.parquet"
        pq.write_table(t.slice(0, k), p)
        self.paths.append(p)
        rest = t.slice(k)
        self.parts, self.n = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> list[Path]:
        if self.n:
            self._flush(self.n)
        return self.paths


def clean_articles(ctx: RunContext, ingested: list[Path]) -> dict:
    """De-duplicate new articles against each other and the published warehouse; keep only what is new.

    Returns paths: ``articles`` (all articles of the new publication, with text) and ``new`` (batches of new,
    extractable articles). Streams: the published articles stay Arrow columns, the ingested batches are read one
    at a time, and only new records go through Python; the published originals' MinHash signatures come from the
    publication's ``_cache/minhash.parquet`` (written here for the next run, with ``inputs.parquet``: the inputs
    this publication holds completely, which ``plan_batches`` then skips).
    """
    from rasd.ingest.dedupe import BatchIndex, write_signature_table

    prev_pub = ctx.layout.current_publication()
    prev = read_table(prev_pub, "articles")
    prev = conform("articles", prev) if prev is not None and prev.num_rows else None
    idx = BatchIndex(threshold=ctx.settings.near_duplicate_threshold)
    schema = _article_schema()
    prev_full = None
    if prev is not None:
        prev_ids = prev["article_id"].combine_chunks()
        prev_keys = _record_keys(prev).combine_chunks()
        prev_root = pc.coalesce(prev["duplicate_of"], prev["article_id"]).combine_chunks()
        texts = _aligned_texts(prev_pub, prev_ids)
        _seed_index(idx, prev_pub, prev, texts)
        prev_full = _reset_quality_status(prev).append_column("text", texts).cast(schema)
    # Batches of extractable articles for the extract step: the new ones, and all of them when the rules changed.
    reextract = prev_full is not None and previous_extractor_version(ctx.layout) != extractor_version()
    batches = _ExtractBatches(ctx.work, ctx.settings.batch_size)
    all_path = ctx.work / "articles.parquet"
    writer = pq.ParquetWriter(all_path, schema)
    if prev_full is not None:
        writer.write_table(prev_full)
        if reextract:
            batches.add(prev_full)
    total = prev_full.num_rows if prev_full is not None else 0
    del prev_full
    seen_keys: set[bytes] = set()  # records of this run (16-byte digests of their keys: 1M of them in ~100 MB)
    root_of: dict[str, str] = {}  # new article_id -> the first copy it duplicates (itself when original)
    unpublished: set[str] = set()  # inputs (source paths) with a record this publication does not hold
    n_new = n_dup = n_q = skipped_since = 0
    try:
        for path in ingested:
            t = pq.read_table(path).cast(schema)
            if not t.num_rows:
                continue
            rkeys = _record_keys(t)
            keys = [k if k is None else hashlib.blake2b(k.encode("utf-8"), digest_size=16).digest() for k in rkeys.to_pylist()]
            ids = t["article_id"].to_pylist()
            sps = t["source_path"].to_pylist()
            status = t["status"].to_pylist()
            reasons = t["quarantine_reason"].to_pylist()
            published = t["published_at"].to_pylist()
            for sp, r in zip(sps, reasons):
                if r and r.startswith("unreadable"):
                    unpublished.add(sp)  # try again next run
            renamed = [hashlib.sha256(f"{a}\0{sp}".encode("utf-8")).hexdigest()[:16] for a, sp in zip(ids, sps)]
            if prev is not None:
                known = pc.is_in(rkeys, value_set=prev_keys).to_pylist()
                id_pos = pc.index_in(t["article_id"], value_set=prev_ids)
                in_prev = pc.is_valid(id_pos).to_pylist()
                prev_root_of = pc.take(prev_root, id_pos).to_pylist()
                renamed_in_prev = pc.is_in(pa.array(renamed, pa.string()), value_set=prev_ids).to_pylist()
            else:
                known = in_prev = renamed_in_prev = [False] * t.num_rows
                prev_root_of = [None] * t.num_rows
            # signatures of the texts that may need a near-duplicate check (computed by ingest_batch)
            cand = [i for i in range(t.num_rows) if not known[i] and status[i] == "ok"]
            text_col = t["text"]
            cand = [i for i, x in zip(cand, text_col.take(pa.array(cand, pa.int64())).to_pylist()) if x] if cand else []
            cand_pos = {i: j for j, i in enumerate(cand)}
            # 1. which records are new, their ids, and the first copy of an exact copy (an int: a row of this batch)
            take, new_ids, firsts, checks = [], [], [], []
            for i in range(t.num_rows):
                if known[i] or keys[i] in seen_keys:
                    continue  # this input was already published: a re-run adds nothing
                if ctx.since and published[i] and published[i] < ctx.since:
                    skipped_since += 1
                    unpublished.add(sps[i])
                    continue
                aid, first = ids[i], None
                if in_prev[i] or aid in root_of:
                    # The same text from another input (a copied or syndicated file): the ids of ok articles hash
                    # the text, so this copy gets its own id (from its source path) and points to the first copy.
                    first = prev_root_of[i] if in_prev[i] else root_of[aid]
                    aid = renamed[i]
                    if renamed_in_prev[i] or aid in root_of:
                        continue
                seen_keys.add(keys[i])
                root_of[aid] = len(take)  # settled below, once the batch's near duplicates are known
                if i in cand_pos and first is None:
                    checks.append(len(take))
                take.append(i)
                new_ids.append(aid)
                firsts.append(first)
            # 2. near duplicates of the checked rows, in order, against every earlier original
            found: dict[int, str | None] = {}
            if checks:
                sigs, ok = _batch_signatures(path, t, cand)
                at = [cand_pos[take[k]] for k in checks]
                found = dict(zip(checks, idx.check_batch([new_ids[k] for k in checks], sigs[at], ok[at])))
            dups = []
            for k, (i, aid, first) in enumerate(zip(take, new_ids, firsts)):
                if isinstance(first, int):
                    first = dups[first] or new_ids[first]
                dup = (first if first is not None else found.get(k)) if i in cand_pos else None
                root_of[aid] = dup or aid
                dups.append(dup)
                n_dup += dup is not None
                n_q += status[i] == "quarantined"
            if not take:
                continue
            new = t.take(pa.array(take, pa.int64()))
            new = new.set_column(schema.get_field_index("article_id"), schema.field("article_id"), pa.array(new_ids, pa.string()))
            new = new.set_column(schema.get_field_index("duplicate_of"), schema.field("duplicate_of"), pa.array(dups, pa.string()))
            writer.write_table(new)
            batches.add(new)
            n_new += new.num_rows
            total += new.num_rows
    finally:
        writer.close()
    paths = batches.close()
    write_signature_table(ctx.work / MINHASH, *idx.originals())
    _write_inputs_record(ctx, unpublished)
    counts = {"new": n_new, "duplicates": n_dup, "quarantined": n_q, "skipped_since": skipped_since,
              "total": total, "to_extract": sum(pq.read_metadata(p).num_rows for p in paths)}
    return {"articles": str(all_path), "new": [str(b) for b in paths], "reextract": reextract, "counts": counts}


def _write_inputs_record(ctx: RunContext, unpublished: set[str]) -> None:
    """inputs.parquet for the next publication: the planned inputs whose every record it holds."""
    plan_path = ctx.work / INPUTS_PLAN
    if not plan_path.is_file():
        return
    plan = pq.read_table(plan_path)
    sps = plan["source_path"].combine_chunks()
    unpub = sorted(unpublished)
    listed = pc.is_in(pa.array(unpub, pa.string()), value_set=sps).to_pylist()
    bad = pa.array(sorted({sp if inp else _LINE_SUFFIX.sub("", sp) for sp, inp in zip(unpub, listed)}), pa.string())
    keep = pc.and_(pc.invert(pc.is_in(sps, value_set=bad)), pc.is_valid(plan["size"]))
    out = plan.filter(keep).select(_INPUT_SCHEMA.names)
    pq.write_table(out.replace_schema_metadata(plan.schema.metadata), ctx.work / INPUTS)


def _reset_quality_status(articles: pa.Table) -> pa.Table:
    """Articles the quality gate quarantined last time are judged again this run (corrections may fix them)."""
    from rasd.quality.gate import QUALITY_REASON_PREFIX

    by_gate = pc.fill_null(pc.starts_with(articles["quarantine_reason"], QUALITY_REASON_PREFIX), False)
    if not QUALITY_REASON_PREFIX or not pc.any(by_gate).as_py():
        return articles
    # keep the contract's fields (status is NOT NULL): a nullable copy no longer concatenates with the new articles
    f = articles.schema.field
    status = pc.if_else(by_gate, pa.scalar("ok", f("status").type), articles["status"])
    reasons = pc.if_else(by_gate, pa.scalar(None, f("quarantine_reason").type), articles["quarantine_reason"])
    articles = articles.set_column(articles.schema.get_field_index("status"), f("status"), status)
    return articles.set_column(articles.schema.get_field_index("quarantine_reason"), f("quarantine_reason"), reasons)


# ---------------------------------------------------------------- extract


def extract_batch(ctx: RunContext, batch: Path) -> Path:
    """Extract the events of one batch of new articles; for its undated articles, also the two extractions
    anchoring compares (``rasd.anchor.relative_table``, written beside the events as ``anchor-*.parquet``)."""
    from rasd.anchor import relative_table, undated_candidates
    from rasd.extract.events import Extractor

    pause_for_tests("extract")
    ex = Extractor.load(ctx.settings)
    rows: list[dict] = []
    cols = ["article_id", "doc_key", "text", "published_at", "outlet", "title", "language"]
    table = pq.read_table(batch)
    for art in table.select(cols).to_pylist():
        try:
            rows.extend(ex.extract(art))
        except Exception as e:  # one bad article must not stop the batch; it is named in the log
            raise PipelineError(f"extraction failed on article {art['doc_key']} ({art['article_id']}): {e!r}") from e
    out = _sibling(batch, "new-", "events-")
    pq.write_table(relative_table(undated_candidates(table), ex), _anchor_path(out))
    pq.write_table(to_arrow("events", rows), out)
    return out


def _anchor_path(events_batch: Path) -> Path:
    return _sibling(events_batch, "events-", "anchor-")


def _sibling(path: Path, old: str, new: str) -> Path:
    """The batch file beside ``path`` whose name starts with ``new`` instead of ``old`` (only the file name changes:
    a warehouse folder may well be called "new-..." or "events-...")."""
    path = Path(path)
    return path.with_name(new + path.name[len(old):] if path.name.startswith(old) else path.name.replace(old, new, 1))


EXTRACTED = "events.extracted.parquet"


def previous_extracted_events(layout: Layout) -> pa.Table | None:
    """Events as extracted in the current publication (its cache), else its published events."""
    pub = layout.current_publication()
    cached = pub / "_cache" / EXTRACTED if pub else None
    if cached is not None and cached.is_file():
        return pq.read_table(cached)
    return read_table(pub, "events")


def _previous_event_files(layout: Layout) -> list[Path]:
    """The Parquet files of ``previous_extracted_events`` (read chunk by chunk by ``collect_events``)."""
    pub = layout.current_publication()
    if pub is None:
        return []
    cached = pub / "_cache" / EXTRACTED
    if cached.is_file():
        return [cached]
    folder = pub / "events"
    return sorted(folder.rglob("*.parquet")) if folder.is_dir() else []


_CHUNK_ROWS = 65536  # events read, filtered and written at a time by collect_events (~40 MB of Arrow)
_BUCKET_ROWS = 16384  # events buffered per sort bucket before they are written (16 buckets: ~170 MB at most)


def _event_chunks(ctx: RunContext, event_batches: list[Path], reextract: bool, columns: list[str] | None = None):
    """The run's events as Arrow tables of at most ``_CHUNK_ROWS`` rows: previously extracted ones (unless everything
    was re-extracted), then the new batches, in that order."""
    prev = [] if reextract else [(f, True) for f in _previous_event_files(ctx.layout)]
    for f, old in [*prev, *((Path(b), False) for b in event_batches)]:
        for t in _batches(f, columns or None, _CHUNK_ROWS):
            yield conform("events", t).select(columns) if old and columns else (conform("events", t) if old else t)


def collect_events(ctx: RunContext, event_batches: list[Path], articles_path: Path, reextract: bool = False,
                   pool=None) -> Path:
    """Previously published events (unless everything was re-extracted) + the new batches, corrections applied.
    ``pool``: the run's ``rasd.parallel.BatchPool``, if still open, extracts the articles anchoring dates.

    Streams: events are read, filtered and written ``_CHUNK_ROWS`` at a time; the sort by (article_id,
    evidence_start) goes through bucket files by the article id's first character (ids are hex digests, so about
    1/16 of the events is in memory at once), stable as a sort of the whole table."""
    arts = pq.read_table(articles_path, columns=["article_id", "status", "duplicate_of"])
    # Only events of articles that are ok and not duplicates.
    ok_ids = arts["article_id"].combine_chunks().filter(
        pc.and_(pc.equal(arts["status"], "ok"), pc.is_null(arts["duplicate_of"])).combine_chunks())
    ok_ids = pc.unique(pc.drop_null(ok_ids))
    del arts
    dates, anchored = anchor_articles(ctx, articles_path, ok_ids, event_batches, reextract, pool)
    dropped = pa.array(sorted(dates), pa.string())
    corr = None
    if ctx.settings.corrections:
        from rasd.corrections import load_corrections

        corr = load_corrections(ctx.settings.corrections)
        corr = corr if corr else None
    corr_ids = pa.array(sorted(corr.event_ids), pa.string()) if corr is not None else None
    schema = TABLES["events"].arrow_schema
    work_schema = schema.append(pa.field("_pos", pa.int64()))
    buckets: dict[str, tuple[pq.ParquetWriter, Path]] = {}
    touched: list[pa.Table] = []
    pending: dict[str, list[pa.Table]] = {}  # rows waiting for their bucket file (written _BUCKET_ROWS at a time)
    pos = 0

    def spill(t: pa.Table) -> None:
        """As extracted (the next run reuses these, so a quarantined event or a withdrawn correction is judged
        afresh every run); then into the sort buckets with its position, and aside when a correction names it."""
        nonlocal pos
        t = conform("events", t)
        extracted.write_table(t)
        t = t.append_column("_pos", pa.array(range(pos, pos + t.num_rows), pa.int64()))
        pos += t.num_rows
        if corr_ids is not None:
            hit = pc.is_in(t["event_id"], value_set=corr_ids)
            if pc.any(hit).as_py():
                touched.append(t.filter(hit))
        first = pc.utf8_slice_codeunits(t["article_id"], 0, 1)
        for key in pc.unique(first).to_pylist():
            part = t.filter(pc.equal(first, key)) if key is not None else t.filter(pc.is_null(first))
            k = "\x00null" if key is None else key
            pending.setdefault(k, []).append(part)
            if sum(x.num_rows for x in pending[k]) >= _BUCKET_ROWS:
                flush(k)

    def flush(k: str) -> None:
        parts = pending.pop(k, [])
        if not parts:
            return
        if k not in buckets:
            bp = ctx.work / f"collect-bucket-{len(buckets):03d}.parquet"
            buckets[k] = (pq.ParquetWriter(bp, work_schema), bp)
        buckets[k][0].write_table(pa.concat_tables(parts).cast(work_schema))

    extracted = pq.ParquetWriter(ctx.work / EXTRACTED, schema)
    try:
        for t in _event_chunks(ctx, event_batches, reextract):
            keep = pc.is_in(t["article_id"], value_set=ok_ids)
            if len(dropped):
                keep = pc.and_(keep, pc.invert(pc.is_in(t["article_id"], value_set=dropped)))
            t = t.filter(keep)
            t = t.drop_columns(["correction"]).append_column("correction", pa.nulls(t.num_rows, pa.string()))
            if t.num_rows:
                spill(t)
        if anchored is not None and anchored.num_rows:
            spill(anchored)
        for k in list(pending):
            flush(k)
    finally:
        extracted.close()
        paths = {k: bp for k, (_, bp) in buckets.items()}
        for w, _ in buckets.values():
            w.close()
    fixed = None
    if corr is not None:
        from rasd.corrections import apply_event_corrections

        # the rows a correction names, corrected together (unknown ids are reported once, for the whole run)
        sub = pa.concat_tables(touched) if touched else work_schema.empty_table()
        fixed = apply_event_corrections(sub.drop_columns(["_pos"]), corr)
        fixed = conform("events", fixed).append_column("_pos", sub["_pos"])
    out = ctx.work / "events.parquet"
    with pq.ParquetWriter(out, schema) as w:
        for k in sorted(paths, key=lambda k: (k == "\x00null", k)):  # nulls last, as sort_by puts them
            t = pq.read_table(paths[k])
            if fixed is not None and fixed.num_rows:
                mine = pc.is_in(fixed["_pos"], value_set=t["_pos"])
                if pc.any(mine).as_py():
                    t = pa.concat_tables([t.filter(pc.invert(pc.is_in(t["_pos"], value_set=fixed["_pos"]))),
                                          fixed.filter(mine).cast(t.schema)])
            t = t.sort_by([("article_id", "ascending"), ("evidence_start", "ascending"), ("_pos", "ascending")])
            w.write_table(conform("events", t.drop_columns(["_pos"])))
            Path(paths[k]).unlink()
        if not paths:
            w.write_table(schema.empty_table())
    return out


class _extractor:
    """The extraction rules, loaded on first use (anchoring extracts again only the articles it dates)."""

    def __init__(self, ctx: RunContext):
        self.settings, self._ex = ctx.settings, None

    def extract(self, article: dict) -> list[dict]:
        if self._ex is None:
            from rasd.extract.events import Extractor

            self._ex = Extractor.load(self.settings)
        return self._ex.extract(article)


def anchor_articles(ctx: RunContext, articles_path: Path, ok_ids: pa.Array, event_batches: list[Path],
                    reextract: bool = False, pool=None) -> tuple[dict, pa.Table | None]:
    """Date this run's undated new articles by corroboration (rasd/anchor.py): returns {article_id: date} of those
    anchored and their events, extracted against that date as one more extract batch (``new-anchored.parquet``, on
    ``pool`` when its workers are running); their ``published_at`` (basis "corroboration") is
    written back to ``articles_path``. Decisions go to ``anchoring.json`` in the run folder. The evidence is the
    run's events of ok articles (``ok_ids``; only the places the undated articles name are read).
    The two extractions per undated article were made by ``extract_batch`` (``anchor-*`` beside ``events-*``,
    computed here only when missing); here the dated reports vote, and only the articles anchored are extracted
    again. Texts come from the extract batches (``new-*``), so the cost follows the new articles, not the warehouse."""
    from rasd.anchor import BASIS, anchor_undated, relative_table, undated_candidates

    cols = ["article_id", "doc_key", "text", "published_at", "status", "duplicate_of", "language", "outlet",
            "title", "ingested_at"]
    parts, rels = [], []
    ex = _extractor(ctx)
    for b in event_batches:
        src = _sibling(Path(b), "events-", "new-")
        if not src.is_file():
            continue
        names = pq.read_schema(src).names
        side = _anchor_path(Path(b))
        if side.is_file():  # computed by extract_batch (on a worker)
            rel = pq.read_table(side)
        else:
            t = pq.read_table(src, columns=[c for c in cols if c in names])
            rel = relative_table(undated_candidates(t.filter(pc.is_null(t["published_at"]))), ex)
        if not rel.num_rows:
            continue
        rels.append(rel)
        # only the candidates' rows: their doc_key, and the text of those anchored (extracted once more)
        t = pq.read_table(src, columns=[c for c in cols if c in names and c != "ingested_at"])
        parts.append(t.filter(pc.is_in(t["article_id"], value_set=pc.unique(rel["article_id"].combine_chunks()))))
    if not rels:
        return {}, None
    rel = pa.concat_tables(rels)
    places = pc.unique(pc.drop_null(rel["place_id"].combine_chunks()))
    evidence = [t.filter(pc.and_(pc.is_in(t["article_id"], value_set=ok_ids), pc.is_in(t["place_id"], value_set=places)))
                for t in _event_chunks(ctx, event_batches, reextract,
                                       ["place_id", "event_date", "date_precision", "event_type", "article_id"])]
    evidence = pa.concat_tables(evidence) if evidence else TABLES["events"].arrow_schema.empty_table()
    basis = pq.read_table(articles_path, columns=["article_id", "published_at_basis"])
    exclude = basis.filter(pc.equal(basis["published_at_basis"], BASIS))["article_id"]
    cands = pa.concat_tables(parts, promote_options="default")
    decisions, _ = anchor_undated(cands, evidence, ex, ctx.settings, exclude=exclude, relative=rel, extract=False)
    (ctx.work / "anchoring.json").write_text(json.dumps(
        [{**asdict(d), "published_at": d.published_at.isoformat() if d.published_at else None} for d in decisions],
        ensure_ascii=False, indent=1), encoding="utf-8")
    dates = {d.article_id: d.published_at for d in decisions if d.published_at is not None}
    if not dates:
        return dates, None
    _write_anchored_dates(articles_path, dates, BASIS)
    # the anchored articles, in decision order, dated: one more extract batch
    order = [d.article_id for d in decisions if d.published_at is not None]
    pos = pc.index_in(pa.array(order, pa.string()), value_set=cands["article_id"].combine_chunks())
    arts = cands.take(pos).select(["article_id", "doc_key", "text", "published_at", "outlet", "title", "language"])
    i = arts.schema.get_field_index("published_at")
    arts = arts.set_column(i, arts.schema.field(i), pa.array([dates[a] for a in order], arts.schema.field(i).type))
    batch = ctx.work / "new-anchored.parquet"
    pq.write_table(arts, batch)
    out = pool.run("extract", batch) if pool is not None and pool.workers > 1 and pool.started else extract_batch(ctx, batch)
    return dates, pq.read_table(out)


def _write_anchored_dates(articles_path: Path, dates: dict, basis_value: str) -> None:
    """Set published_at and its basis of the anchored articles in ``articles_path``, a row group at a time."""
    src = pq.ParquetFile(articles_path)
    schema = src.schema_arrow
    i, j = schema.get_field_index("published_at"), schema.get_field_index("published_at_basis")
    ids = pa.array(sorted(dates), pa.string())
    vals = pa.array([dates[a] for a in ids.to_pylist()], schema.field(i).type)
    tmp = articles_path.with_suffix(".anchored.parquet")
    with pq.ParquetWriter(tmp, schema) as w:
        for rb in src.iter_batches(batch_size=_CHUNK_ROWS):
            t = pa.Table.from_batches([rb], schema=schema)
            pos = pc.index_in(t["article_id"], value_set=ids)
            hit = pc.is_valid(pos)
            if pc.any(hit).as_py():
                t = t.set_column(i, schema.field(i), pc.if_else(hit, pc.take(vals, pos), t["published_at"]))
                t = t.set_column(j, schema.field(j), pc.if_else(hit, pa.scalar(basis_value, schema.field(j).type),
                                                                t["published_at_basis"]))
            w.write_table(t)
    tmp.replace(articles_path)


# ---------------------------------------------------------------- validate (rows), resolve, aggregate


def _gazetteer_ids() -> set[str]:
    from rasd.extract.places import Gazetteer

    return Gazetteer.load().ids()


ROW_CHECKS = "row_checks.json"  # publication cache: the key of the row-level rules its tables passed
_ARTICLE_CHECKED = ["article_id", "published_at", "published_at_basis", "status", "quarantine_reason"]


def _row_rules_key(settings, place_ids: set[str]) -> str:
    """Hash of everything a row-level verdict depends on besides the row itself (suites, parameters, gazetteer,
    check code). ``today`` is left out: it only moves forward, so a row that passed stays passing."""
    import polars

    from rasd.quality import checks, gate

    h = hashlib.sha256(f"{__version__}/{polars.__version__}".encode())
    h.update(json.dumps(checks.parameters(settings, dt.date(2000, 1, 1)), sort_keys=True, default=str).encode())
    for p in sorted(gate.expectations_dir(settings).glob("*.json")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    for mod in (checks, gate):
        h.update(Path(mod.__file__).read_bytes())
    h.update("\n".join(sorted(place_ids)).encode())
    return h.hexdigest()[:16]


def _row_hashes(t: pa.Table):
    """One 64-bit hash per row (all columns), as the row-check cache keeps them."""
    from rasd.publish import row_hashes

    return row_hashes(t, seed=7)


def _with_published_at(events: pa.Table, articles: pa.Table) -> pa.Table:
    pos = pc.index_in(events["article_id"], value_set=articles["article_id"].combine_chunks())
    return events.append_column("_published_at", pc.take(articles["published_at"].combine_chunks(), pos))


def _previous_row_checks(ctx: RunContext, key: str):
    """The current publication when its rows passed the same row-level rules (else None: check everything)."""
    pub = ctx.layout.current_publication()
    meta = pub / "_cache" / ROW_CHECKS if pub else None
    if meta is None or not meta.is_file():
        return None
    try:
        same = json.loads(meta.read_text(encoding="utf-8")).get("key") == key
    except ValueError:
        return None
    return pub if same else None


def _unchanged(current: pa.Table, published: pa.Table | None):
    """Mask of the rows of ``current`` identical (every column) to a row of ``published``."""
    import numpy as np

    if published is None or not published.num_rows or not current.num_rows:
        return np.zeros(current.num_rows, dtype=bool)
    return np.isin(_row_hashes(current), _row_hashes(published))


def validate_rows(ctx: RunContext, articles_path: Path, events_path: Path) -> dict:
    """Row-level expectations on articles and events: failing events go to quarantine, out of the aggregates.

    Incremental: rows identical to rows the current publication published under the same rules (its articles not
    quarantined by the gate, its events, with the same article publication date) passed then and pass again
    (the only moving parameter, today, moves forward); only the other rows, and the events of articles checked
    again, go through the expectations.
    """
    import numpy as np

    from rasd.quality.gate import row_checks

    articles = conform("articles", pq.read_table(articles_path))
    events = pq.read_table(events_path)
    place_ids = _gazetteer_ids()
    key = _row_rules_key(ctx.settings, place_ids)
    (ctx.work / ROW_CHECKS).write_text(json.dumps({"key": key}), encoding="utf-8")
    prev_pub = _previous_row_checks(ctx, key)
    if prev_pub is None:
        quarantine, keep = row_checks({"articles": articles, "events": events}, ctx.settings, place_ids)
        keep_events, checked = keep.get("events"), (articles.num_rows, events.num_rows)
    else:
        prev_articles = read_table(prev_pub, "articles")
        prev_events = read_table(prev_pub, "events")
        prev_articles = conform("articles", prev_articles) if prev_articles is not None else None
        prev_events = conform("events", prev_events) if prev_events is not None else None
        todo_a = ~_unchanged(articles.select(_ARTICLE_CHECKED),
                             prev_articles.select(_ARTICLE_CHECKED) if prev_articles is not None else None)
        ids_a = articles["article_id"].combine_chunks().filter(pa.array(todo_a))
        cur_ev = _with_published_at(conform("events", events), articles)
        prev_ev = _with_published_at(prev_events, prev_articles) if prev_events is not None and prev_articles is not None else None
        todo_e = ~_unchanged(cur_ev, prev_ev) | pc.is_in(events["article_id"], value_set=ids_a).to_numpy(zero_copy_only=False)
        sub_e = events.filter(pa.array(todo_e))
        need = pc.or_(pa.array(todo_a), pc.is_in(articles["article_id"], value_set=sub_e["article_id"].combine_chunks()))
        sub_a = articles.filter(need)
        tables = {"articles": sub_a, "events": sub_e} if sub_e.num_rows else ({"articles": sub_a} if sub_a.num_rows else {})
        if tables:
            quarantine, keep = row_checks(tables, ctx.settings, place_ids)
        else:
            quarantine, keep = TABLES["quarantine"].arrow_schema.empty_table(), {}
        full = np.ones(events.num_rows, dtype=bool)
        if keep.get("events") is not None:
            full[np.flatnonzero(todo_e)] = keep["events"].to_numpy(zero_copy_only=False)
        keep_events, checked = pa.array(full, pa.bool_()), (sub_a.num_rows, sub_e.num_rows)
    kept = _apply_keep(events, keep_events)
    if quarantine.num_rows and "articles" in set(quarantine["table_name"].to_pylist()):
        from rasd.quality.gate import apply_quarantine

        marked = apply_quarantine({"articles": articles}, quarantine, {})["articles"]
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
            "counts": {"events": events.num_rows, "kept": kept.num_rows, "quarantined_rows": quarantine.num_rows,
                       "checked_articles": checked[0], "checked_events": checked[1]}}


def _apply_keep(table: pa.Table, keep: pa.BooleanArray | None) -> pa.Table:
    return table if keep is None else table.filter(keep)


RESOLVED = "resolve.json"  # publication cache: the key of the resolution rules its incidents came from
RESOLVE_STATE = "resolve_state.parquet"  # publication cache: each report's hash, group, day, cluster and incident
RESOLVE_CACHE = (RESOLVED, RESOLVE_STATE)  # written to ctx.work by resolve_incidents; aggregate keeps them in _cache
# Re-resolve only the groups and days a change can reach (rasd.resolve.resolve_incremental: exactly what a full
# resolve gives, docs/resolution.md "Incremental resolution").
INCREMENTAL_RESOLVE = True
MAX_INCREMENTAL_SHARE = 0.5  # above this share of reports to re-resolve, resolve everything (simpler, same cost)


def _resolve_key(settings, merge, split) -> str:
    import rasd.resolve as R

    h = hashlib.sha256(Path(R.__file__).read_bytes())
    rules = ("merge_distance_km", "merge_date_slack_days", "conflict_tolerance", "summary_window_slack_days")
    h.update(json.dumps({k: getattr(settings, k) for k in rules}, sort_keys=True, default=str).encode())
    h.update(json.dumps([sorted(map(list, merge or ())), sorted(split or ())], default=str).encode())
    return h.hexdigest()[:16]


def _incremental_resolution(ctx: RunContext, events: pa.Table, articles: pa.Table, key: str, merge, split):
    """``resolve_incremental`` against the current publication's cache, or None when everything must be resolved:
    switched off, analyst corrections present (they can join reports anywhere), no cache or other rules, or too
    many changes."""
    from rasd.resolve import resolve_incremental

    pub = ctx.layout.current_publication()
    meta = pub / "_cache" / RESOLVED if pub else None
    state_path = pub / "_cache" / RESOLVE_STATE if pub else None
    if not INCREMENTAL_RESOLVE or merge or split or meta is None or not meta.is_file() or not state_path.is_file():
        return None
    try:
        if json.loads(meta.read_text(encoding="utf-8")).get("key") != key:
            return None
    except ValueError:
        return None
    p_inc, p_rep = read_table(pub, "incidents"), read_table(pub, "incident_reports")
    if p_inc is None or p_rep is None:
        return None
    return resolve_incremental(events, articles, ctx.settings, pq.read_table(state_path),
                               conform("incidents", p_inc), conform("incident_reports", p_rep),
                               max_share=MAX_INCREMENTAL_SHARE)


def _sorted_resolution(incidents: pa.Table, reports: pa.Table) -> tuple[pa.Table, pa.Table]:
    """resolve()'s order: incidents by (event_date, undated last; incident_id), bridge rows by incident, role, event."""
    incidents = incidents.sort_by([("event_date", "ascending"), ("incident_id", "ascending")])  # nulls last
    pos = pc.index_in(reports["incident_id"], value_set=incidents["incident_id"].combine_chunks())
    reports = reports.append_column("_pos", pos).sort_by([("_pos", "ascending"), ("role", "ascending"),
                                                          ("event_id", "ascending")]).drop_columns(["_pos"])
    return incidents, reports


def _resolve_inputs(events_path: Path, articles_path: Path) -> tuple[pa.Table, pa.Table]:
    """The columns resolution reads, and only those: never the evidence of events or the texts of articles (at 1M
    articles those are gigabytes; what is read here is ~150 bytes per event and ~60 per article)."""
    from rasd.resolve import ARTICLE_COLUMNS, EVENT_COLUMNS

    have = pq.ParquetFile(events_path).schema_arrow.names
    events = pq.read_table(events_path, columns=[c for c in EVENT_COLUMNS if c in have])
    have = pq.ParquetFile(articles_path).schema_arrow.names
    arts = pq.read_table(articles_path, columns=[c for c in ARTICLE_COLUMNS if c in have])
    schema = TABLES["articles"].arrow_schema  # the contract's types (what conform() gave), so the state's hashes hold
    articles = pa.table({c: arts[c].cast(schema.field(c).type) if c in arts.column_names else
                         pa.nulls(arts.num_rows, schema.field(c).type) for c in ARTICLE_COLUMNS})
    return events, articles


def resolve_incidents(ctx: RunContext, events_path: Path, articles_path: Path) -> dict:
    """Merge reports across articles into incidents (ids stable against the previous publication).

    Incremental: with a previous publication resolved under the same rules, only the groups and days a change can
    reach are resolved again and the other published incidents are carried over (``_incremental_resolution``);
    the result is the same as resolving everything.
    """
    from rasd.resolve import resolve_full

    events, articles = _resolve_inputs(events_path, articles_path)
    merge, split = [], set()
    if ctx.settings.corrections:
        from rasd.corrections import load_corrections

        corr = load_corrections(ctx.settings.corrections)
        merge, split = corr.merge_pairs, corr.split_ids
    key = _resolve_key(ctx.settings, merge, split)
    plan = _incremental_resolution(ctx, events, articles, key, merge, split)
    redone = None
    if plan is not None:
        incidents, reports, state, info = plan
        incidents, reports = _sorted_resolution(incidents, reports)
        resolved_reports, redone = info["resolved"], info.get("redone_ids")
    else:
        previous = read_table(ctx.layout.current_publication(), "incident_reports")
        incidents, reports, state = resolve_full(events, articles, ctx.settings, previous, force_merge=merge,
                                                 force_split=split)
        resolved_reports = events.num_rows
    (ctx.work / RESOLVED).write_text(json.dumps({"key": key, "events": events.num_rows, "resolved": resolved_reports}),
                                     encoding="utf-8")
    pq.write_table(state, ctx.work / RESOLVE_STATE)
    inc_path, rep_path = ctx.work / "incidents.parquet", ctx.work / "incident_reports.parquet"
    pq.write_table(conform("incidents", incidents), inc_path)
    pq.write_table(conform("incident_reports", reports), rep_path)
    out = {"incidents": str(inc_path), "incident_reports": str(rep_path),
           "counts": {"incidents": incidents.num_rows, "reports": reports.num_rows, "resolved_reports": resolved_reports}}
    if redone is not None:  # the incidents resolved again; the others are the published rows, unchanged
        redone_path = ctx.work / "incidents.redone.parquet"
        pq.write_table(pa.table({"incident_id": redone}), redone_path)
        out["redone"] = str(redone_path)
    return out


def validate_incidents(ctx: RunContext, paths: dict) -> dict:
    """Row-level expectations on incidents; failing incidents (and their bridge rows) are quarantined.

    Incremental: incidents identical to ones the current publication published under the same rules are not checked
    again (see ``validate_rows``)."""
    import numpy as np

    from rasd.quality.gate import row_checks

    incidents = pq.read_table(paths["incidents"])
    place_ids = _gazetteer_ids()
    prev_pub = _previous_row_checks(ctx, _row_rules_key(ctx.settings, place_ids))
    prev_inc = read_table(prev_pub, "incidents") if prev_pub is not None else None
    if prev_inc is not None and paths.get("redone"):
        # an incremental resolve carried the other incidents over from the publication: only those it resolved
        # again can differ from a published row
        redone = pq.read_table(paths["redone"])["incident_id"].combine_chunks()
        todo = pc.is_in(incidents["incident_id"], value_set=redone).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(todo)
        prev_redone = prev_inc.filter(pc.is_in(prev_inc["incident_id"], value_set=redone))
        todo[rows] = ~_unchanged(conform("incidents", incidents.take(pa.array(rows))), conform("incidents", prev_redone))
    else:
        todo = ~_unchanged(conform("incidents", incidents), conform("incidents", prev_inc) if prev_inc is not None else None)
    keep_inc = None
    if todo.all():
        quarantine, keep = row_checks({"incidents": incidents}, ctx.settings, place_ids)
        keep_inc = keep.get("incidents")
    elif todo.any():
        quarantine, keep = row_checks({"incidents": incidents.filter(pa.array(todo))}, ctx.settings, place_ids)
        full = np.ones(incidents.num_rows, dtype=bool)
        if keep.get("incidents") is not None:
            full[np.flatnonzero(todo)] = keep["incidents"].to_numpy(zero_copy_only=False)
        keep_inc = pa.array(full, pa.bool_())
    else:
        quarantine = TABLES["quarantine"].arrow_schema.empty_table()
    kept = _apply_keep(incidents, keep_inc)
    reports = pq.read_table(paths["incident_reports"])
    if reports.num_rows:
        reports = reports.filter(pc.is_in(reports["incident_id"], value_set=kept["incident_id"].combine_chunks()))
    pq.write_table(kept, paths["incidents"])
    pq.write_table(reports, paths["incident_reports"])
    q_path = ctx.work / "quarantine.incidents.parquet"
    pq.write_table(conform("quarantine", quarantine), q_path)
    return {**paths, "quarantine_incidents": str(q_path), "counts": {"incidents": kept.num_rows, "quarantined_rows": quarantine.num_rows,
                                                                     "checked": int(todo.sum())}}


def _batches(path: Path, columns: list[str] | None = None, rows: int | None = None):
    """Record batches of a Parquet file (those of ``columns`` it has), as tables of at most ``rows`` rows (default
    ``rasd.publish.READ_BATCH_ROWS``): bounded memory."""
    from rasd.publish import READ_BATCH_ROWS

    f = pq.ParquetFile(path)
    names = f.schema_arrow.names
    cols = [c for c in columns if c in names] if columns is not None else None
    for b in f.iter_batches(batch_size=rows or READ_BATCH_ROWS, columns=cols):
        yield pa.Table.from_batches([b])


def _table_sources(articles_path: Path, events_path: Path, resolved: dict, quarantine_paths: list[Path]) -> dict:
    """Each base table as a re-readable stream of (rows, file code per row): articles and their texts by month of
    publication, events and incidents by month of the event, bridge rows by their incident's month."""
    import numpy as np

    from rasd.publish import month_codes

    def dated(path, name, date_col, columns=None, keep=None):
        def gen():
            for t in _batches(path, columns):
                if keep is not None:
                    t = t.filter(keep(t))
                yield conform(name, t), month_codes(t[date_col])
        return gen

    # the month of each bridge row's incident, looked up once (one hash table of the incident ids, not one per batch)
    inc = pq.read_table(resolved["incidents"], columns=["incident_id", "event_date"])
    inc_codes = month_codes(inc["event_date"])
    rep_ids = pq.read_table(resolved["incident_reports"], columns=["incident_id"])["incident_id"]
    pos = pc.fill_null(pc.index_in(rep_ids, value_set=inc["incident_id"].combine_chunks()), -1)
    pos = pos.to_numpy(zero_copy_only=False).astype(np.int64)
    rep_codes = np.where(pos >= 0, inc_codes[np.clip(pos, 0, None)] if len(inc_codes) else 0, 0)
    del inc, rep_ids, pos

    def reports():
        start = 0
        for t in _batches(Path(resolved["incident_reports"])):
            yield conform("incident_reports", t), rep_codes[start:start + t.num_rows]
            start += t.num_rows

    def quarantine():
        parts = [conform("quarantine", pq.read_table(p)) for p in quarantine_paths]
        t = pa.concat_tables(parts) if parts else TABLES["quarantine"].arrow_schema.empty_table()
        yield t, np.full(t.num_rows, -1, dtype=np.int64)

    return {
        "articles": dated(articles_path, "articles", "published_at", TABLES["articles"].column_names),
        "article_texts": dated(articles_path, "article_texts", "published_at",
                               ["article_id", "doc_key", "text", "published_at"], lambda t: pc.is_valid(t["text"])),
        "events": dated(events_path, "events", "event_date"),
        "incidents": dated(Path(resolved["incidents"]), "incidents", "event_date"),
        "incident_reports": reports,
        "quarantine": quarantine,
    }


DB_REBUILD_GROWTH = 1.5  # rasd.duckdb is rebuilt whole when updates grew it past this x its last whole size; 1.2–3
WRITTEN = "publication.files.json"  # run folder: which table files this run wrote (the others are the previous ones)


def aggregate(ctx: RunContext, articles_path: Path, events_path: Path, resolved: dict, quarantine_paths: list[Path],
              incremental: bool = True) -> dict:
    """Build the staging publication: Parquet tables (a file per month), rasd.duckdb with sql/ tables and views.

    Incremental: files whose rows equal the current publication's are hard-linked from it, and rasd.duckdb is
    its copy with the changed files' rows replaced (``rasd.publish``); the result is the same as a full rebuild
    (``incremental=False``). Streams the work files in batches; DuckDB works under its own memory limit.
    """
    import numpy as np

    from rasd.publish import (BASE_TABLES, PARTITIONS, build_database, database_key, fingerprint_key,
                              previous_partitions, update_database, write_table_files)

    staging = ctx.staging
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / "_cache").mkdir()
    for name in (EXTRACTED, MINHASH, INPUTS, ROW_CHECKS, *RESOLVE_CACHE):  # what the next run reuses instead of recomputing
        if (ctx.work / name).is_file():
            shutil.copy2(ctx.work / name, staging / "_cache" / name)
    prev = ctx.layout.current_publication() if incremental else None
    prev_parts = previous_partitions(prev)
    if prev_parts is None:
        prev = None
    prev_tables = (prev_parts or {}).get("tables", {})
    sources = _table_sources(articles_path, events_path, resolved, quarantine_paths)
    files: dict[str, dict] = {}
    written: dict[str, list[str]] = {}
    for name in BASE_TABLES:
        got = write_table_files(name, sources[name], staging, prev, prev_tables.get(name))
        files[name], written[name] = got["files"], got["written"]
    db_key = database_key(SQL_DIR)
    built = None
    full_bytes = (prev_parts or {}).get("db_full_bytes") or 0
    # deleted rows leave free blocks that DuckDB reuses only in part: past DB_REBUILD_GROWTH x the size of the last
    # whole build, rasd.duckdb is built whole again (compact) instead of updated
    compact = prev is not None and (prev / DB_NAME).is_file() and (prev / DB_NAME).stat().st_size <= DB_REBUILD_GROWTH * full_bytes
    how = "updated"
    if prev is not None and prev_parts.get("db_key") == db_key and compact:
        changes = {n: sorted(set(written[n]) | (set(prev_tables.get(n, {})) - set(files[n]))) for n in BASE_TABLES}
        expected = {n: sum(f["rows"] for f in files[n].values()) for n in BASE_TABLES}
        built = update_database(staging, prev, {n: c for n, c in changes.items() if c}, expected, SQL_DIR, ctx.work)
    if built is None:
        built = build_database(staging, {n: sorted((staging / n).glob("*.parquet")) for n in BASE_TABLES}, SQL_DIR,
                               ctx.work)
        full_bytes = (staging / DB_NAME).stat().st_size
        how = "built"
    for name, t in built.items():
        t = conform(name, t) if name in TABLES else t
        got = write_table_files(name, lambda t=t: iter([(t, np.full(t.num_rows, -1, dtype=np.int64))]), staging, prev,
                                prev_tables.get(name))
        files[name], written[name] = got["files"], got["written"]
    (staging / "_cache" / PARTITIONS).write_text(json.dumps({"key": fingerprint_key(), "db_key": db_key, "db_full_bytes": full_bytes, "tables": files},
                                                            indent=1), encoding="utf-8")
    (ctx.work / WRITTEN).write_text(json.dumps({"previous": prev.name if prev is not None else None, "written": written}),
                                    encoding="utf-8")
    counts = {n: sum(f["rows"] for f in fs.values()) for n, fs in files.items()}
    weekly = built.get("weekly_incidents")
    return {"staging": str(staging), "counts": counts, "weeks": weekly.num_rows if weekly is not None else 0,
            "written": {n: len(w) for n, w in written.items()}, "database": how}


def _rows_to_check(ctx: RunContext, staging: Path, place_ids: set[str]) -> dict | None:
    """Masks of the rows in the table files this run wrote, when every other file is the current publication's and
    its rows passed the same row-level rules (None: check every row). Only row-level expectations are limited
    this way; table-level ones (the blocking ones) always see whole tables."""
    import numpy as np

    meta = ctx.work / WRITTEN
    if not meta.is_file():
        return None
    got = json.loads(meta.read_text(encoding="utf-8"))
    prev = _previous_row_checks(ctx, _row_rules_key(ctx.settings, place_ids))
    if got.get("previous") is None or prev is None or prev.name != got["previous"]:
        return None
    rows = {}
    for name in ("articles", "events", "incidents"):
        written = set(got["written"].get(name, []))
        parts = [np.full(pq.read_metadata(f).num_rows, f.stem in written) for f in sorted((staging / name).rglob("*.parquet"))]
        rows[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    return rows


def validate_tables(ctx: RunContext, staging: Path) -> dict:
    """All suites on the staged tables (table-level criticals block publishing); results kept with the run.

    Incremental: row-level expectations run on the rows of the files this run wrote (``_rows_to_check``)."""
    from rasd.quality.gate import table_checks

    tables = {name: conform(name, read_table(staging, name)) for name in ("articles", "events", "incidents", "weekly_incidents")}
    out_dir = staging / "quality"
    place_ids = _gazetteer_ids()
    report = table_checks(tables, ctx.settings, place_ids, out_dir, quarantine=read_table(staging, "quarantine"),
                          rows=_rows_to_check(ctx, staging, place_ids))
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
    from rasd.parallel import BatchPool
    from rasd.quality.gate import preload

    preload()  # Great Expectations' import (seconds) overlaps the batch steps, not plan (this thread waits on them)

    # ingest and extract batch by batch on settings.workers processes (1 = here); outputs in batch order
    with BatchPool(ctx, ctx.settings.workers, log=log) as pool:
        ingested = pool.map("ingest", manifests)
        cleaned = clean_articles(ctx, ingested)
        ev_batches = pool.map("extract", [Path(b) for b in cleaned["new"]])
        events_path = collect_events(ctx, ev_batches, Path(cleaned["articles"]), cleaned["reextract"], pool)
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
    staging = Path(agg["staging"])
    arts = pq.read_table(staging / "articles", columns=["status", "duplicate_of"]) if (staging / "articles").is_dir() else None
    weekly = pq.read_table(staging / "weekly_incidents", columns=["week_start"]) if c.get("weekly_incidents") else None
    return {
        "run_id": ctx.run_id,
        "articles": arts.num_rows if arts is not None else 0,
        "articles_new": cleaned["counts"]["new"],
        "quarantined_articles": pc.sum(pc.equal(arts["status"], "quarantined")).as_py() or 0 if arts is not None else 0,
        "duplicates": pc.sum(pc.and_(pc.is_valid(arts["duplicate_of"]), pc.not_equal(arts["duplicate_of"], ""))).as_py() or 0
        if arts is not None else 0,
        "events": c.get("events", 0),
        "incidents": c.get("incidents", 0),
        "quarantined_rows": c.get("quarantine", 0),
        "weeks": len(pc.unique(weekly["week_start"])) if weekly is not None else 0,
        "gate": "passed" if gate["passed"] else "failed",
        "warehouse": str(ctx.warehouse),
    }

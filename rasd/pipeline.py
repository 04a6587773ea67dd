"""The weekly pipeline as plain functions over batches; Prefect tasks in flows/ wrap each one.

Steps pass *paths* (Parquet files in the run's work folder), never DataFrames, so the same functions
run in-process, in Prefect tasks or on Dask workers. ``run_local`` chains them without Prefect.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
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


def previous_inputs(layout: Layout, input_dir: Path) -> pa.Table:
    """The identities (``_INPUT_SCHEMA``) of the inputs the current publication holds completely (same input folder
    only; empty otherwise)."""
    pub = layout.current_publication()
    path = pub / "_cache" / INPUTS if pub else None
    if path is None or not path.is_file():
        return _INPUT_SCHEMA.empty_table()
    t = pq.ParquetFile(path).read()  # not pq.read_table: its dataset layer imports pandas (~0.35 CPU s) in plan
    if (t.schema.metadata or {}).get(b"input_dir", b"").decode("utf-8", "surrogateescape") != str(input_dir):
        return _INPUT_SCHEMA.empty_table()  # another folder: the same relative paths may hold other files
    return t.select(_INPUT_SCHEMA.names)


def _known_inputs(plan: pa.Table, prev: pa.Table) -> pa.ChunkedArray:
    """True where an input has an identity equal to one recorded in ``prev`` (same path, size, mtime_ns, and the
    same sidecar with the same size and mtime_ns, or none in both): column by column, a hash table of the previous
    paths only (no key string per input)."""
    pos = pc.index_in(plan["source_path"], value_set=prev["source_path"].combine_chunks())
    known = pc.is_valid(plan["size"])
    known = pc.and_(known, pc.is_valid(pos))
    for c in _INPUT_SCHEMA.names[1:]:
        a, b = plan[c], pc.take(prev[c], pos)
        # equal values, or null in both (Kleene logic: never null, and no Python scalar, which would import pandas)
        same = pc.and_kleene(pc.equal(pc.is_null(a), pc.is_null(b)), pc.or_kleene(pc.is_null(a), pc.equal(a, b)))
        known = pc.and_(known, same)
    return known


def plan_batches(ctx: RunContext) -> list[Path]:
    """Discover inputs and write one manifest per batch of the files to read.

    An input whose (size, mtime_ns), and its sidecar's, equal those recorded with the current publication is
    not read again: its articles are carried over from that publication. A changed or grown file (a JSONL feed
    that gained lines) is read again whole; records already published are then recognised by
    (content_hash, source_path) in ``clean_articles``. Every discovered input and its identity go to
    ``inputs.plan.parquet`` in the run folder (the next publication's input record is built from it).
    """
    from rasd.ingest.discover import decode_path, scan

    found = scan(ctx.input_dir)
    plan = _plan_table(found)
    known = _known_inputs(plan, previous_inputs(ctx.layout, ctx.input_dir))
    read = pc.invert(known)
    plan = plan.append_column("read", read)
    pq.write_table(plan.replace_schema_metadata({"input_dir": str(ctx.input_dir).encode("utf-8", "surrogateescape")}),
                   ctx.work / INPUTS_PLAN)
    to_read = found.filter(read).select(["source_path", "kind", "sidecar"])
    del found, plan, known, read
    size = max(1, ctx.settings.batch_size)
    root = str(ctx.input_dir).rstrip("/")
    out = []
    for n, i in enumerate(range(0, to_read.num_rows, size)):
        part = to_read.slice(i, size)
        items = []
        for sp, kind, side in zip(part["source_path"].to_pylist(), part["kind"].to_pylist(), part["sidecar"].to_pylist()):
            sp = decode_path(sp)
            items.append({"source_path": sp, "path": f"{root}/{sp}", "kind": kind,
                          "sidecar": f"{root}/{decode_path(side)}" if side is not None else None})
        p = ctx.work / f"manifest-{n:05d}.json"
        # ASCII JSON: a file name that is not valid UTF-8 (an archive unpacked from Windows-1256) is a str with
        # lone surrogates, which JSON escapes and restores exactly; UTF-8 output would refuse it.
        p.write_text(json.dumps(items, ensure_ascii=True), encoding="utf-8")
        out.append(p)
    return out


def _plan_table(found: pa.Table) -> pa.Table:
    """The identity columns (``_INPUT_SCHEMA``) of scanned inputs; an input (or sidecar) that could not be stat'ed has
    no identity (null size, no sidecar): it is read, and never recorded as published."""
    ok = found["stat_ok"]

    def text(col: pa.ChunkedArray) -> pa.ChunkedArray:
        try:
            return col.cast(pa.string())
        except pa.ArrowInvalid:  # a name that is not UTF-8: written with visible escapes, as _encodable does
            return pa.chunked_array([pa.array([None if b is None else _encodable(b.decode("utf-8", "surrogatepass"))
                                               for b in col.to_pylist()], pa.string())])

    def known(col):
        return pc.if_else(ok, col, pa.nulls(len(col), col.type))

    return pa.table({"source_path": text(found["source_path"]), "size": known(found["size"]),
                     "mtime_ns": known(found["mtime_ns"]), "sidecar": known(text(found["sidecar"])),
                     "sidecar_size": known(found["sidecar_size"]), "sidecar_mtime_ns": known(found["sidecar_mtime_ns"])},
                    schema=_INPUT_SCHEMA)


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
    texts = [_encodable(records[i]["text"]) for i in rows]  # the text as written to Parquet
    # read_items' records carry normalize(text) (computed for the article_id): valid when the text was written as is
    norms = [getattr(records[i], "normalized", None) if t is records[i]["text"] else None for i, t in zip(rows, texts)]
    if all(x is not None for x in norms):
        sigs, ok = signatures(norms, normalized=True)
    else:
        sigs, ok = signatures(texts)
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
    try:
        # pyarrow refuses a string that is not valid UTF-8 (UnicodeEncodeError): only then is every value checked
        table = pa.Table.from_pydict({f.name: [r.get(f.name) for r in records] for f in schema}, schema=schema)
    except UnicodeEncodeError:
        table = pa.Table.from_pydict({f.name: [_encodable(r.get(f.name)) for r in records] for f in schema}, schema=schema)
    pq.write_table(table, path)


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


_PREV_COLUMNS = ["article_id", "content_hash", "source_path", "duplicate_of", "status"]  # what clean compares


def _table_files(pub: Path, name: str) -> list[Path]:
    """A publication table's files in ``read_table``'s order (the order of its rows)."""
    folder = pub / name
    return sorted(folder.rglob("*.parquet")) if folder.is_dir() else []


def _previous_columns(pub: Path | None) -> pa.Table | None:
    """The published articles' columns de-duplication compares (no text, no titles), or None when there are none."""
    files = _table_files(pub, "articles") if pub is not None else []
    parts = []
    for f in files:
        t = pq.read_table(f, columns=[c for c in _PREV_COLUMNS if c in pq.read_schema(f).names])
        parts.append(t)
    if not parts:
        return None
    t = pa.concat_tables(parts, promote_options="default")
    if not t.num_rows:
        return None
    f = TABLES["articles"].arrow_schema.field
    return pa.table({c: t[c].cast(f(c).type) if c in t.column_names else pa.nulls(t.num_rows, f(c).type)
                     for c in _PREV_COLUMNS})


def _aligned_texts(pub: Path | None, ids: pa.Array) -> pa.Array:
    """The published text of each article id ("" when it has none), in the order of ``ids``."""
    texts = read_table(pub, "article_texts")
    if texts is None or not texts.num_rows:
        return pa.array([""] * len(ids), pa.string())
    pos = pc.index_in(ids, value_set=texts["article_id"].combine_chunks())
    return pc.fill_null(pc.take(texts["text"].combine_chunks(), pos), "")


def _previous_with_texts(pub: Path, schema: pa.Schema):
    """The published articles with their texts, a month file at a time (bounded memory: never every text at once).

    A month file of ``article_texts`` holds the texts of the same month file of ``articles`` (both are split by
    ``published_at``); an article whose text is not there (an older layout) is looked up in every text file."""
    for f in _table_files(pub, "articles"):
        t = _reset_quality_status(conform("articles", pq.read_table(f)))
        if not t.num_rows:
            continue
        ids = t["article_id"].combine_chunks()
        tf = pub / "article_texts" / f.relative_to(pub / "articles")
        texts = pq.read_table(tf, columns=["article_id", "text"]) if tf.is_file() else None
        if texts is not None and texts.num_rows:
            pos = pc.index_in(ids, value_set=texts["article_id"].combine_chunks())
            col = pc.take(texts["text"].combine_chunks(), pos)
        else:
            pos, col = None, pa.nulls(len(ids), pa.string())
        if pos is None or pos.null_count:
            missing = pc.is_null(col) if pos is not None else pa.array([True] * len(ids))
            col = pc.if_else(missing, _aligned_texts(pub, ids), col)
        yield t.append_column("text", pc.fill_null(col, "")).cast(schema)


def _seed_index(idx, pub: Path, prev: pa.Table) -> None:
    """Index the published originals (ok, not duplicates) in their published order, from the signatures stored
    with the publication; only articles missing there (an older publication) are hashed (their texts read then)."""
    import numpy as np

    from rasd.ingest.dedupe import NUM_PERM, read_signatures, signatures

    eligible = pc.and_(pc.equal(prev["status"], "ok"), pc.is_null(prev["duplicate_of"])).combine_chunks()
    ids = prev["article_id"].combine_chunks().filter(eligible)
    n = len(ids)
    if not n:
        return
    cached = pub / "_cache" / MINHASH
    got = read_signatures(pq.ParquetFile(cached).read()) if cached.is_file() else None
    if got is not None and len(got[0]):
        pos = pc.index_in(ids, value_set=got[0])
        if not pos.null_count:  # every original has its stored signature: indexed in place, in published order
            idx.add_signatures(ids.to_pylist(), got[1], pos.to_numpy(zero_copy_only=False))
            return
        pos = pc.fill_null(pos, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        have = pos >= 0
        sigs = np.full((n, NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)
        sigs[have] = got[1][pos[have]]
    else:
        sigs = np.full((n, NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)
        have = np.zeros(n, dtype=bool)
    del got
    missing = np.flatnonzero(~have)
    if len(missing):
        mtexts = _aligned_texts(pub, ids.take(pa.array(missing, pa.int64())))
        msigs, ok = signatures(mtexts.to_pylist())
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
    prev = _previous_columns(prev_pub)
    idx = BatchIndex(threshold=ctx.settings.near_duplicate_threshold)
    schema = _article_schema()
    if prev is not None:
        prev_ids = prev["article_id"].combine_chunks()
        prev_keys = _record_keys(prev).combine_chunks()
        prev_root = pc.coalesce(prev["duplicate_of"], prev["article_id"]).combine_chunks()
        _seed_index(idx, prev_pub, prev)
    # Batches of extractable articles for the extract step: the new ones, and all of them when the rules changed.
    reextract = prev is not None and previous_extractor_version(ctx.layout) != extractor_version()
    batches = _ExtractBatches(ctx.work, ctx.settings.batch_size)
    all_path = ctx.work / "articles.parquet"
    # texts are unique per row: a dictionary page for them is built, then abandoned (CPU for nothing)
    writer = pq.ParquetWriter(all_path, schema, use_dictionary=[c for c in schema.names if c != "text"])
    total = 0
    if prev is not None:
        for part in _previous_with_texts(prev_pub, schema):
            writer.write_table(part)
            total += part.num_rows
            if reextract:
                batches.add(part)
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
_MERGE_ROWS = 131072  # new events merged in memory into the already sorted previous ones (~600 bytes each); above
#                       this, or without a sorted cache, every event goes through the bucket sort; 10k–1M
_SORTED = (b"rasd.sorted", b"article_id,evidence_start")  # schema metadata of an events file in collect_events' order
_ORDER = [("article_id", "ascending"), ("evidence_start", "ascending"), ("_pos", "ascending")]  # nulls last
_NEW_POS = 1 << 62  # positions of this run's new events: after every previous event, as they are read after them


def _event_chunks(ctx: RunContext, event_batches: list[Path], reextract: bool, columns: list[str] | None = None):
    """The run's events as Arrow tables of about ``_CHUNK_ROWS`` rows: previously extracted ones (unless everything
    was re-extracted), then the new batches, in that order."""
    prev = [] if reextract else _previous_event_files(ctx.layout)
    old = (conform("events", t) for f in prev for t in _batches(f, columns or None, _CHUNK_ROWS))
    yield from _coalesced(t.select(columns) if columns else t for t in old)
    yield from _coalesced(t for b in event_batches for t in _batches(Path(b), columns or None, _CHUNK_ROWS))


def _coalesced(tables, rows: int | None = None):
    """``tables`` (one schema) regrouped, in order, into tables of at least ``rows`` rows (but the last): a filter
    against a large value set (``pc.is_in`` hashes it on every call) then runs once per chunk, not once per
    small extract batch."""
    parts, n, rows = [], 0, rows or _CHUNK_ROWS
    for t in tables:
        parts.append(t)
        n += t.num_rows
        if n >= rows:
            yield pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            parts, n = [], 0
    if parts:
        yield pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def _is_sorted(path: Path) -> bool:
    """The file was written by ``collect_events`` in its order (a cache of an older version was not)."""
    return (pq.read_schema(path).metadata or {}).get(_SORTED[0]) == _SORTED[1]


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary-encoding in a work file: not the long texts (an article's text, an event's evidence),
    whose dictionary attempt only costs time before Parquet falls back to plain encoding."""
    return [n for n in schema.names if n not in ("text", "evidence")]


def _ok_article_ids(articles_path: Path) -> pa.Array:
    """Ids of the articles that are ok and not duplicates: only their events are collected."""
    arts = pq.read_table(articles_path, columns=["article_id", "status", "duplicate_of"])
    ok_ids = arts["article_id"].combine_chunks().filter(
        pc.and_(pc.equal(arts["status"], "ok"), pc.is_null(arts["duplicate_of"])).combine_chunks())
    return pc.unique(pc.drop_null(ok_ids))


def _with_pos(t: pa.Table, start: int) -> pa.Table:
    import numpy as np

    return t.append_column("_pos", pa.array(np.arange(start, start + t.num_rows, dtype=np.int64)))


def _merged_events(prev: Path, kept, new: pa.Table):
    """The sorted previous events (``prev``, filtered by ``kept``) with the sorted ``new`` ones merged in, as sorted
    tables. A new event goes after every previous event with a key (article_id, evidence_start) up to its own, so
    one that sorts after a chunk's last previous row waits for the next chunk (rows of that key may follow)."""
    import numpy as np

    pending, pos = new, 0
    for t in _batches(prev, None, _CHUNK_ROWS):
        t = kept(conform("events", t))
        if not t.num_rows:
            continue
        t, pos = _with_pos(t, pos), pos + t.num_rows
        if not pending.num_rows:
            yield t  # already in order
            continue
        both = pa.concat_tables([t, pending]).sort_by(_ORDER)
        last = int(np.flatnonzero(both["_pos"].to_numpy() < _NEW_POS)[-1])
        yield both.slice(0, last + 1)
        pending = both.slice(last + 1)
    if pending.num_rows:
        yield pending


def _bucket_sorted_events(work: Path, chunks):
    """``chunks`` (tables with ``_pos``) sorted through bucket files by the article id's first character (ids are
    hex digests: about 1/16 of the events in memory at once), bucket by bucket: the order of one sort of all."""
    schema = TABLES["events"].arrow_schema.append(pa.field("_pos", pa.int64()))
    buckets: dict[str, tuple[pq.ParquetWriter, Path]] = {}
    pending: dict[str, list[pa.Table]] = {}  # rows waiting for their bucket file (written _BUCKET_ROWS at a time)
    waiting: dict[str, int] = {}

    def flush(k: str) -> None:
        waiting.pop(k, None)
        parts = pending.pop(k, [])
        if not parts:
            return
        if k not in buckets:
            bp = work / f"collect-bucket-{len(buckets):03d}.parquet"
            buckets[k] = (pq.ParquetWriter(bp, schema), bp)
        buckets[k][0].write_table(pa.concat_tables(parts).cast(schema))

    try:
        for t in chunks:
            first = pc.utf8_slice_codeunits(t["article_id"], 0, 1)
            for key in pc.unique(first).to_pylist():
                part = t.filter(pc.equal(first, key)) if key is not None else t.filter(pc.is_null(first))
                k = "\x00null" if key is None else key
                pending.setdefault(k, []).append(part)
                waiting[k] = waiting.get(k, 0) + part.num_rows
                if waiting[k] >= _BUCKET_ROWS:
                    flush(k)
        for k in list(pending):
            flush(k)
    finally:
        paths = {k: bp for k, (_, bp) in buckets.items()}
        for w, _ in buckets.values():
            w.close()
    for k in sorted(paths, key=lambda k: (k == "\x00null", k)):  # nulls last, as sort_by puts them
        yield pq.read_table(paths[k]).sort_by(_ORDER)
        Path(paths[k]).unlink()


def collect_events(ctx: RunContext, event_batches: list[Path], articles_path: Path, reextract: bool = False,
                   pool=None) -> Path:
    """Previously published events (unless everything was re-extracted) + the new batches, corrections applied,
    sorted by (article_id, evidence_start), ties in the order read (previous, new batches, anchored articles).
    ``pool``: the run's ``rasd.parallel.BatchPool``, if still open, extracts the articles anchoring dates.

    The sorted events as extracted (no correction: a quarantined event or a withdrawn correction is judged afresh
    every run) are the next run's cache (``events.extracted.parquet``, marked sorted); ``events.parquet`` is that
    file with the corrections applied (the same file when there are none). Streams: when the previous cache is
    sorted and the new events fit in memory (``_MERGE_ROWS``, a daily run), they are merged into it in one pass;
    otherwise every event goes through sort buckets (``_bucket_sorted_events``)."""
    import numpy as np

    from rasd.publish import link_or_copy

    ok_ids = _ok_article_ids(articles_path)
    dates, anchored = anchor_articles(ctx, articles_path, ok_ids, event_batches, reextract, pool)
    dropped = pa.array(sorted(dates), pa.string())
    corr = None
    if ctx.settings.corrections:
        from rasd.corrections import load_corrections

        corr = load_corrections(ctx.settings.corrections)
        corr = corr if corr else None
    corr_ids = pa.array(sorted(corr.event_ids), pa.string()) if corr is not None else None
    schema = TABLES["events"].arrow_schema

    def kept(t: pa.Table) -> pa.Table:
        """Events of ok articles, not of those anchored now (extracted again), as extracted (no correction)."""
        keep = pc.is_in(t["article_id"], value_set=ok_ids)
        if len(dropped):
            keep = pc.and_(keep, pc.invert(pc.is_in(t["article_id"], value_set=dropped)))
        t = t.filter(keep)
        return conform("events", t.drop_columns(["correction"]).append_column("correction", pa.nulls(t.num_rows, pa.string())))

    def new_chunks():
        yield from map(kept, _coalesced(t for b in event_batches for t in _batches(Path(b), None, _CHUNK_ROWS)))
        if anchored is not None:
            yield conform("events", anchored)

    prev = [] if reextract else _previous_event_files(ctx.layout)
    n_new = sum(pq.read_metadata(b).num_rows for b in event_batches) + (anchored.num_rows if anchored is not None else 0)
    if len(prev) == 1 and _is_sorted(prev[0]) and n_new <= _MERGE_ROWS:
        new = [t for t in new_chunks() if t.num_rows]
        new = _with_pos(pa.concat_tables(new) if new else schema.empty_table(), _NEW_POS).sort_by(_ORDER)
        stream = _merged_events(prev[0], kept, new)
    else:
        def chunks():
            pos = 0
            prev_chunks = map(kept, _coalesced(conform("events", t) for f in prev for t in _batches(f, None, _CHUNK_ROWS)))
            for t in itertools.chain(prev_chunks, new_chunks()):
                if t.num_rows:
                    yield _with_pos(t, pos)
                    pos += t.num_rows
        stream = _bucket_sorted_events(ctx.work, chunks())
    extracted = ctx.work / EXTRACTED
    touched, done = [], 0  # rows a correction names, with their row number in the sorted file
    with pq.ParquetWriter(extracted, schema.with_metadata(dict([_SORTED])), use_dictionary=_dictionary_columns(schema)) as w:
        for t in stream:
            if corr_ids is not None:
                hit = pc.is_in(t["event_id"], value_set=corr_ids)
                if pc.any(hit).as_py():
                    rows = pa.array(np.flatnonzero(hit.to_numpy(zero_copy_only=False)) + done, pa.int64())
                    touched.append(conform("events", t.filter(hit)).append_column("_row", rows))
            w.write_table(conform("events", t))
            done += t.num_rows
    out = ctx.work / "events.parquet"
    out.unlink(missing_ok=True)
    fixed = None
    if corr is not None:
        from rasd.corrections import apply_event_corrections

        # the rows a correction names, corrected together (unknown ids are reported once, for the whole run); a
        # corrected row takes its original's place (corrections never change article_id or evidence_start)
        sub = pa.concat_tables(touched) if touched else schema.append(pa.field("_row", pa.int64())).empty_table()
        fixed = conform("events", apply_event_corrections(sub.drop_columns(["_row"]), corr))
    if fixed is None or not fixed.num_rows:
        # the same rows: one file under both names (neither is written again: later steps write their own files)
        link_or_copy(extracted, out)
        return out
    at = sub["_row"].to_numpy()
    with pq.ParquetWriter(out, schema) as w:
        start = 0
        for t in _batches(extracted, None, _CHUNK_ROWS):
            t, n = conform("events", t), t.num_rows
            mine = np.flatnonzero((at >= start) & (at < start + n))
            if len(mine):
                take = np.arange(n, dtype=np.int64)
                take[at[mine] - start] = n + np.arange(len(mine))
                t = pa.concat_tables([t, fixed.take(pa.array(mine))]).take(pa.array(take))
            w.write_table(t)
            start += n
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
    parts, rels, srcs = [], [], []
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
        # only the candidates' rows, without their text (read below for those anchored, to extract them once more)
        t = pq.read_table(src, columns=[c for c in cols if c in names and c not in ("text", "ingested_at")])
        parts.append(t.filter(pc.is_in(t["article_id"], value_set=pc.unique(rel["article_id"].combine_chunks()))))
        srcs.append(src)
    if not rels:
        return {}, None
    rel = pa.concat_tables(rels)
    places = pc.unique(pc.drop_null(rel["place_id"].combine_chunks()))
    # the evidence: dated day-level reports of ok articles at those places (the only ones that vote)
    evidence = [t.filter(pc.and_(pc.and_(pc.is_in(t["article_id"], value_set=ok_ids), pc.is_in(t["place_id"], value_set=places)),
                                 pc.and_(pc.is_valid(t["event_date"]), pc.equal(t["date_precision"], "day"))))
                for t in _event_chunks(ctx, event_batches, reextract,
                                       ["place_id", "event_date", "date_precision", "event_type", "article_id"])]
    evidence = pa.concat_tables(evidence) if evidence else TABLES["events"].arrow_schema.empty_table()
    basis = pq.read_table(articles_path, columns=["article_id", "published_at_basis"])
    exclude = basis.filter(pc.equal(basis["published_at_basis"], BASIS))["article_id"]
    del basis
    cands = pa.concat_tables(parts, promote_options="default")
    decisions, _ = anchor_undated(cands, evidence, ex, ctx.settings, exclude=exclude, relative=rel, extract=False)
    del evidence
    (ctx.work / "anchoring.json").write_text(json.dumps(
        [{**asdict(d), "published_at": d.published_at.isoformat() if d.published_at else None} for d in decisions],
        ensure_ascii=False, indent=1), encoding="utf-8")
    dates = {d.article_id: d.published_at for d in decisions if d.published_at is not None}
    if not dates:
        return dates, None
    _write_anchored_dates(articles_path, dates, BASIS)
    # the anchored articles, in decision order, dated: one more extract batch
    order = pa.array([d.article_id for d in decisions if d.published_at is not None], pa.string())
    texts = []
    for src, part in zip(srcs, parts):
        if pc.any(pc.is_in(part["article_id"], value_set=order)).as_py():
            t = pq.read_table(src, columns=["article_id", "text"])
            texts.append(t.filter(pc.is_in(t["article_id"], value_set=order)))
    texts = pa.concat_tables(texts)
    arts = cands.take(pc.index_in(order, value_set=cands["article_id"].combine_chunks()))
    arts = arts.append_column(texts.schema.field("text"),
                              texts["text"].take(pc.index_in(order, value_set=texts["article_id"].combine_chunks())))
    arts = arts.select(["article_id", "doc_key", "text", "published_at", "outlet", "title", "language"])
    i = arts.schema.get_field_index("published_at")
    arts = arts.set_column(i, arts.schema.field(i), pa.array([dates[a] for a in order.to_pylist()], arts.schema.field(i).type))
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
    with pq.ParquetWriter(tmp, schema, use_dictionary=_dictionary_columns(schema)) as w:
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


ROW_CHECKS = "row_checks.parquet"  # publication cache: a 64-bit hash of every row that passed the row-level rules
# (articles, events, incidents; over the columns those rules read), the rules' key in the file's metadata
_ARTICLE_CHECKED = ["article_id", "published_at", "published_at_basis", "status", "quarantine_reason"]
_HASHED = {"articles": 0, "events": 1, "incidents": 2}  # ROW_CHECKS's `table` code of each table
_CHECK_ROWS = 200_000  # rows handed to the expectations at a time (pandas views of ~1 kB a row); 20k–1M
# events hashed at a time (~300 B a row with evidence); each batch looks its articles' dates up in a hash table of
# every article id built for it, so larger batches cost less at 1M articles; 32k–512k
_HASH_ROWS = 131_072


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


def _checked_columns(settings, name: str) -> list[str]:
    """The columns whose values decide a row's row-level verdict (``gate.row_rule_columns``; every column when one
    rule's columns are unknown), with ``article_published_at`` last for events. Articles also keep the columns the
    gate marks (status, quarantine_reason) and duplicate_of (the articles view reads it)."""
    from rasd.quality.gate import load_suites, row_rule_columns

    cols = row_rule_columns(load_suites(settings, dt.date(2000, 1, 1)), name)
    table = TABLES[name].column_names
    if cols is None:
        cols = table + (["article_published_at"] if name == "events" else [])
    if name == "articles":
        cols = [c for c in table if c in set(cols) | set(_ARTICLE_CHECKED) | {"duplicate_of"}]
    return cols


def _read_columns(path: Path, name: str, columns: list[str]) -> pa.Table:
    """``columns`` of a work file, cast to the contract (absent ones as nulls)."""
    have = pq.ParquetFile(path).schema_arrow.names
    t = pq.read_table(path, columns=[c for c in columns if c in have])
    return _cast(t, name, columns)


def _bools(values):
    """A boolean Arrow array as numpy (null: False)."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(bool)


def _cast(t: pa.Table, name: str, columns: list[str]) -> pa.Table:
    schema = TABLES[name].arrow_schema
    arrays = []
    for c in columns:
        f = schema.field(c)
        arrays.append(t[c].cast(f.type) if c in t.column_names else pa.nulls(t.num_rows, f.type))
    return pa.Table.from_arrays(arrays, names=columns)


def _with_published_at(events: pa.Table, articles: pa.Table) -> pa.Table:
    pos = pc.index_in(events["article_id"], value_set=articles["article_id"].combine_chunks())
    return events.append_column("_published_at", pc.take(articles["published_at"].combine_chunks(), pos))


def _previous_row_checks(ctx: RunContext, key: str):
    """The current publication when its rows passed the same row-level rules (else None: check everything)."""
    pub = ctx.layout.current_publication()
    path = pub / "_cache" / ROW_CHECKS if pub else None
    if path is None or not path.is_file():
        return None
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    return pub if meta.get(b"key", b"").decode() == key else None


def _previous_hashes(pub: Path | None, name: str):
    """Sorted hashes of the rows of ``name`` that passed in publication ``pub`` (None without one)."""
    import numpy as np

    if pub is None:
        return None
    t = pq.read_table(pub / "_cache" / ROW_CHECKS, filters=[("table", "=", _HASHED[name])], columns=["hash"])
    return np.sort(t["hash"].to_numpy())


def _write_row_checks(path: Path, key: str, hashes: dict) -> None:
    """ROW_CHECKS: {table name: hashes of its rows that passed}."""
    import numpy as np

    parts = [pa.table({"table": pa.array(np.full(len(h), _HASHED[n], dtype=np.int8)),
                       "hash": pa.array(np.asarray(h, dtype=np.uint64))}) for n, h in hashes.items()]
    t = pa.concat_tables(parts) if parts else pa.table({"table": pa.array([], pa.int8()), "hash": pa.array([], pa.uint64())})
    pq.write_table(t.replace_schema_metadata({"key": key}), path)


def _unchanged(hashes, published) -> "np.ndarray":
    """Mask of the hashes found in ``published`` (sorted; None: nothing is)."""
    import numpy as np

    if published is None or not len(published) or not len(hashes):
        return np.zeros(len(hashes), dtype=bool)
    at = np.clip(np.searchsorted(published, hashes), 0, len(published) - 1)
    return published[at] == hashes


def _event_hashes(t: pa.Table, columns: list[str], articles: pa.Table):
    """Row hashes of events over ``columns`` (``article_published_at``: the article's date, from ``articles``)."""
    cols = [c for c in columns if c != "article_published_at"]
    t = _cast(t, "events", cols)
    if "article_published_at" in columns:
        t = _with_published_at(t, articles)
    return _row_hashes(t)


def _quarantine_order(parts: list[pa.Table], suites: dict) -> pa.Table:
    """The quarantine rows of chunked checks in the order one check of everything gives: articles (by expectation,
    then article), events by expectation then event, then events held for their article's failure (by event)."""
    import numpy as np

    if not parts:
        return TABLES["quarantine"].arrow_schema.empty_table()
    q = pa.concat_tables([conform("quarantine", p) for p in parts])
    rank = {}
    for section, suite in ((0, "articles"), (1, "events"), (1, "incidents")):
        for k, e in enumerate(suites[suite]["expectations"]):
            rank[(suite, f"{suite}.{e['meta']['name']}")] = (section, k)
    key = [(0, 0) if t == "articles" else rank.get((t, x), (2, 0))
           for t, x in zip(q["table_name"].to_pylist(), q["expectation"].to_pylist())]
    order = sorted(range(len(key)), key=lambda i: key[i])  # stable: positions stay in order within a key
    return q.take(pa.array(np.asarray(order, dtype=np.int64)))


def _marked_rows(path: Path, name: str, todo, rows: int = _CHECK_ROWS):
    """(positions, full rows) of the rows of a work file marked in ``todo``, ``rows`` at a time; only the row groups
    holding some are read."""
    import numpy as np

    f = pq.ParquetFile(path)
    start, buf, at, n = 0, [], [], 0
    for g in range(f.num_row_groups):
        size = f.metadata.row_group(g).num_rows
        hit = np.flatnonzero(todo[start:start + size])
        if len(hit):
            t = f.read_row_group(g).take(pa.array(hit))
            buf.append(conform(name, t))
            at.append(hit + start)
            n += len(hit)
            if n >= rows:
                yield np.concatenate(at), pa.concat_tables(buf)
                buf, at, n = [], [], 0
        start += size
    if buf:
        yield np.concatenate(at), pa.concat_tables(buf)


def _write_filtered(src: Path, dst: Path, drop) -> int:
    """Copy a work file without the rows marked in ``drop`` (streamed; a hard link when none is). Rows written."""
    import os

    import numpy as np

    f = pq.ParquetFile(src)
    if not drop.any():
        if dst != src:
            dst.unlink(missing_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
        return f.metadata.num_rows
    kept, start = 0, 0
    tmp = dst.with_suffix(".filtering.parquet")
    with pq.ParquetWriter(tmp, f.schema_arrow) as w:
        for g in range(f.num_row_groups):
            size = f.metadata.row_group(g).num_rows
            d = drop[start:start + size]
            t = f.read_row_group(g)
            if d.any():
                t = t.filter(pa.array(~d))
            w.write_table(t)
            kept += t.num_rows
            start += size
    tmp.replace(dst)
    return kept


def _mark_articles(articles_path: Path, marked: pa.Table) -> None:
    """Write status and quarantine_reason of ``marked`` (aligned with the file) into the articles work file,
    a row group at a time (the file holds the texts)."""
    f = pq.ParquetFile(articles_path)
    tmp = articles_path.with_suffix(".marking.parquet")
    start = 0
    with pq.ParquetWriter(tmp, f.schema_arrow) as w:
        for g in range(f.num_row_groups):
            t = f.read_row_group(g)
            for col in ("status", "quarantine_reason"):
                i = t.schema.get_field_index(col)
                t = t.set_column(i, t.schema.field(col), marked[col].slice(start, t.num_rows).cast(t.schema.field(col).type))
            w.write_table(t)
            start += t.num_rows
    tmp.replace(articles_path)


def validate_rows(ctx: RunContext, articles_path: Path, events_path: Path) -> dict:
    """Row-level expectations on articles and events: failing events go to quarantine, out of the aggregates.

    Reads only the columns the row rules use (never the texts), events a row group at a time. Incremental: rows
    whose checked columns hash like a row that passed in the current publication under the same rules
    (``ROW_CHECKS``; events with their article's publication date) pass again (the only moving parameter, today,
    moves forward); only the other rows, and the events of articles checked again, are read whole and go through
    the expectations, ``_CHECK_ROWS`` at a time (the same verdicts and quarantine rows as one check of everything).
    """
    import numpy as np

    from rasd.quality.gate import apply_quarantine, held_for_articles, load_suites, row_checks

    place_ids = _gazetteer_ids()
    key = _row_rules_key(ctx.settings, place_ids)
    suites = load_suites(ctx.settings)
    prev_pub = _previous_row_checks(ctx, key)
    a_cols = _checked_columns(ctx.settings, "articles")
    a_hashed = [c for c in a_cols if c != "duplicate_of"]
    articles = _read_columns(articles_path, "articles", a_cols)
    todo_a = ~_unchanged(_row_hashes(articles.select(a_hashed)), _previous_hashes(prev_pub, "articles"))
    ids_a = articles["article_id"].combine_chunks().filter(pa.array(todo_a))
    parts: list[pa.Table] = []
    article_rows: list[dict] | None = None  # quarantine rows of the articles, once their rules ran

    e_cols = _checked_columns(ctx.settings, "events")
    prev_e = _previous_hashes(prev_pub, "events")
    hashes, todo = [], []
    for t in _batches(events_path, e_cols, _HASH_ROWS):
        h = _event_hashes(t, e_cols, articles)
        hashes.append(h)
        todo.append(~_unchanged(h, prev_e) | _bools(pc.is_in(t["article_id"], value_set=ids_a)))
    hashes = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    todo = np.concatenate(todo) if todo else np.zeros(0, dtype=bool)
    drop = np.zeros(len(todo), dtype=bool)
    seen_a = todo_a.copy()
    for at, sub_e in _marked_rows(events_path, "events", todo):
        # the chunk's articles (for their publication dates); the articles' own rules run with the first chunk
        mine = _bools(pc.is_in(articles["article_id"], value_set=sub_e["article_id"].combine_chunks()))
        first = article_rows is None
        sel = mine | todo_a if first else mine
        seen_a |= sel
        q, keep = row_checks({"articles": articles.filter(pa.array(sel)), "events": sub_e}, ctx.settings, place_ids,
                             rows={"articles": todo_a[sel] if first else np.zeros(int(sel.sum()), dtype=bool)})
        parts.append(q)
        drop[at] = ~keep["events"].to_numpy(zero_copy_only=False)
        if first:  # row_checks held this chunk's events of failing articles itself
            article_rows = [r for r in q.to_pylist() if r["table_name"] == "articles"]
        elif article_rows:  # an article that fails takes its events with it
            held, rows = held_for_articles(article_rows, sub_e)
            drop[at[held]] = True
            if rows:
                parts.append(to_arrow("quarantine", rows))
    if article_rows is None and todo_a.any():  # no event to check
        parts.append(row_checks({"articles": articles.filter(pa.array(todo_a))}, ctx.settings, place_ids)[0])
    quarantine = _quarantine_order(parts, suites)
    bad = set(quarantine.filter(pc.equal(quarantine["table_name"], "articles"))["row_id"].to_pylist())
    if bad:
        marked = apply_quarantine({"articles": articles}, quarantine, {})["articles"]
        if not all(marked[c].equals(articles[c]) for c in ("status", "quarantine_reason")):
            _mark_articles(articles_path, marked)
        articles = marked
    out_events = ctx.work / "events.valid.parquet"
    kept = _write_filtered(events_path, out_events, drop)
    passed_a = _row_hashes(articles.select(a_hashed))
    _write_row_checks(ctx.work / ROW_CHECKS, key, {"articles": passed_a, "events": hashes[~drop]})
    q_path = ctx.work / "quarantine.events.parquet"
    pq.write_table(conform("quarantine", quarantine), q_path)
    return {"events": str(out_events), "quarantine": str(q_path),
            "counts": {"events": len(todo), "kept": kept, "quarantined_rows": quarantine.num_rows,
                       "checked_articles": int(seen_a.sum()), "checked_events": int(todo.sum())}}


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

    Incremental as ``validate_rows``: incidents whose checked columns hash like one that passed in the current
    publication under the same rules are not checked again; the others are read whole and checked."""
    import numpy as np

    from rasd.quality.gate import load_suites, row_checks

    place_ids = _gazetteer_ids()
    key = _row_rules_key(ctx.settings, place_ids)
    prev = _previous_hashes(_previous_row_checks(ctx, key), "incidents")
    cols = _checked_columns(ctx.settings, "incidents")
    inc_path = Path(paths["incidents"])
    hashes, todo = [], []
    for t in _batches(inc_path, cols):
        h = _row_hashes(_cast(t, "incidents", cols))
        hashes.append(h)
        todo.append(~_unchanged(h, prev))
    hashes = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    todo = np.concatenate(todo) if todo else np.zeros(0, dtype=bool)
    drop = np.zeros(len(todo), dtype=bool)
    parts = []
    for at, sub in _marked_rows(inc_path, "incidents", todo):
        q, keep = row_checks({"incidents": sub}, ctx.settings, place_ids)
        parts.append(q)
        drop[at] = ~keep["incidents"].to_numpy(zero_copy_only=False)
    quarantine = _quarantine_order(parts, load_suites(ctx.settings))
    kept = _write_filtered(inc_path, inc_path, drop)
    # bridge rows of dropped incidents (or of none) go with them
    ids = pq.read_table(inc_path, columns=["incident_id"])["incident_id"].combine_chunks()
    rep_path = Path(paths["incident_reports"])
    orphan = ~_bools(pc.is_in(pq.read_table(rep_path, columns=["incident_id"])["incident_id"], value_set=ids))
    _write_filtered(rep_path, rep_path, orphan)
    rc = ctx.work / ROW_CHECKS
    others = {}
    if rc.is_file() and (pq.read_schema(rc).metadata or {}).get(b"key", b"").decode() == key:
        got = pq.read_table(rc)
        for name, code in _HASHED.items():
            if name != "incidents":
                others[name] = got.filter(pc.equal(got["table"], code))["hash"].to_numpy()
    _write_row_checks(rc, key, {**others, "incidents": hashes[~drop]})
    q_path = ctx.work / "quarantine.incidents.parquet"
    pq.write_table(conform("quarantine", quarantine), q_path)
    return {**paths, "quarantine_incidents": str(q_path), "counts": {"incidents": kept, "quarantined_rows": quarantine.num_rows,
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

    from rasd.publish import (BASE_TABLES, PARTITIONS, build_database, database_key, fingerprint_key, link_or_copy,
                              previous_partitions, update_database, write_table_files)

    staging = ctx.staging
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / "_cache").mkdir()
    for name in (EXTRACTED, MINHASH, INPUTS, ROW_CHECKS, *RESOLVE_CACHE):  # what the next run reuses instead of recomputing
        if (ctx.work / name).is_file():  # a new name for the work file (nothing writes it after this step)
            link_or_copy(ctx.work / name, staging / "_cache" / name)
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


_GATE_TABLES = ("articles", "events", "incidents", "weekly_incidents")


def _rows_to_check(ctx: RunContext, staging: Path, place_ids: set[str]) -> dict | None:
    """The table files whose rows the row-level expectations check: those this run wrote, when every other file is
    the current publication's and its rows passed the same row-level rules (None: every file). Table-level
    expectations (the blocking ones) always cover whole tables."""
    meta = ctx.work / WRITTEN
    if not meta.is_file():
        return None
    got = json.loads(meta.read_text(encoding="utf-8"))
    prev = _previous_row_checks(ctx, _row_rules_key(ctx.settings, place_ids))
    if got.get("previous") is None or prev is None or prev.name != got["previous"]:
        return None
    return {name: sorted(p for p in (staging / name).rglob("*.parquet") if p.stem in set(got["written"].get(name, [])))
            for name in ("articles", "events", "incidents")}


def _article_dates(files: list[Path], ids) -> pa.Table:
    """article_id and published_at of the articles with these ids, in table order (streamed)."""
    parts = [t.filter(pc.is_in(t["article_id"], value_set=ids))
             for f in files for t in _batches(f, ["article_id", "published_at"])]
    parts = [conform("articles", t) for t in parts if t.num_rows]
    return pa.concat_tables(parts) if parts else TABLES["articles"].arrow_schema.empty_table()


def validate_tables(ctx: RunContext, staging: Path) -> dict:
    """All suites on the staged tables (table-level criticals block publishing); results kept with the run.

    Table-level expectations of articles, events and incidents run on small summaries DuckDB computes from the
    staged Parquet files (``gate.staged_table_checks``), so whole tables are never loaded; row-level ones run on
    the rows of the files this run wrote (``_rows_to_check``; all files on a first run)."""
    from rasd.quality.gate import staged_table_checks, table_checks

    out_dir = staging / "quality"
    place_ids = _gazetteer_ids()
    files = {name: sorted((staging / name).rglob("*.parquet")) for name in _GATE_TABLES}
    quarantine = read_table(staging, "quarantine")
    check = _rows_to_check(ctx, staging, place_ids) or files
    row_tables = {name: _read_files(check.get(name, []), name) for name in ("articles", "events", "incidents")}
    ids = pc.unique(row_tables["events"]["article_id"].combine_chunks())
    row_tables["article_dates"] = _article_dates(files["articles"], ids)
    report = staged_table_checks(files, row_tables, ctx.settings, place_ids, out_dir, quarantine=quarantine,
                                 temp=ctx.work)
    if report is None:  # a table-level expectation no summary can stand for: whole tables (memory grows with them)
        tables = {name: conform(name, read_table(staging, name)) for name in _GATE_TABLES}
        rows = None if check is files else {n: _written_mask(files[n], check[n]) for n in check}
        report = table_checks(tables, ctx.settings, place_ids, out_dir, quarantine=quarantine, rows=rows)
    shutil.copytree(out_dir, ctx.work / "quality", dirs_exist_ok=True)
    return {"passed": report.passed, "one_line": report.one_line(), "markdown": report.summary_markdown(),
            "failures": report.failures}


def _read_files(paths: list[Path], name: str) -> pa.Table:
    if not paths:
        return TABLES[name].arrow_schema.empty_table()
    return conform(name, pa.concat_tables([pq.read_table(p) for p in paths], promote_options="default"))


def _written_mask(files: list[Path], written: list[Path]):
    import numpy as np

    parts = [np.full(pq.read_metadata(f).num_rows, f in set(written)) for f in files]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


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

"""Build a publication in staging (Parquet + one DuckDB file) and swap it in with one rename.

Each table is a folder of Parquet files, one per month of its date column (``2024-03.parquet``; rows without a
date in ``undated.parquet``; small tables in ``all.parquet``). A file whose rows (content and order) equal the
current publication's file of the same name is hard-linked from it, not written again, and ``rasd.duckdb`` is
a copy of the current one with only the changed files' rows deleted and inserted — so an incremental run
writes what changed, and its publication is the same as a full rebuild's. The current publication is never
modified (links are new names for its files; the DuckDB file is copied before it is changed).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rasd.schema import TABLES, conform
from rasd.warehouse import DB_NAME, PUBLISHED_TABLES, Layout

KEEP_PUBLICATIONS = 3  # publications kept on disk (current + previous); 2–10
PARTITIONS = "partitions.json"  # publication cache: every table file's rows and content fingerprint
ROW_IDS = "row_ids"  # publication cache folder: <table>/<file label>.npy, the 128-bit id of each row of that file
LAYOUT_VERSION = "month-files-1"  # part of the fingerprints' key: a new layout rewrites everything once
ROW_GROUP_ROWS = 65_536  # rows per Parquet row group written; 10k–1M (larger: fewer, bigger reads for BI tools)
BUFFER_BYTES = 256 * 2**20  # bytes of rows buffered across a table's files before the largest is flushed; 64 MB–2 GB
KEEP_BYTES = 512 * 2**20  # bytes of a table's rows kept from the fingerprint pass for the write pass; 0–2 GB
READ_BATCH_ROWS = 32_768  # rows per record batch read from the run's work files; 4k–256k
DUCKDB_MEMORY_LIMIT = "1GB"  # DuckDB's own memory cap while it builds or updates rasd.duckdb (it spills beyond)
BASE_TABLES = ("articles", "article_texts", "events", "incidents", "incident_reports", "quarantine")
UNDATED, WHOLE = "undated", "all"

Source = Callable[[], Iterator[tuple[pa.Table, np.ndarray]]]  # a fresh pass: (batch, file label code per row)


def sql_files(sql_dir: Path) -> list[tuple[str, str, str]]:
    """(name, kind, body) for every sql/*.sql; tables first, then views, each alphabetical."""
    out = []
    for p in sorted(sql_dir.glob("*.sql")):
        body = p.read_text(encoding="utf-8").strip().rstrip(";").strip()
        first = body.splitlines()[0] if body else ""
        kind = "view" if "kind: view" in first else "table"
        out.append((p.stem, kind, body))
    return sorted(out, key=lambda t: (t[1] != "table", t[0]))


# ---------------------------------------------------------------- files by month, fingerprints


def month_codes(dates: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """year*100 + month of each date; 0 for null (the ``undated`` file)."""
    if not len(dates):
        return np.zeros(0, dtype=np.int64)
    code = pc.add(pc.multiply(pc.year(dates), 100), pc.month(dates))
    return pc.fill_null(code, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def label(code: int) -> str:
    return UNDATED if code == 0 else WHOLE if code < 0 else f"{code // 100:04d}-{code % 100:02d}"


def row_hashes(t: pa.Table, seed: int = 11) -> np.ndarray:
    """One 64-bit hash per row over all columns (polars; part of ``fingerprint_key`` through its version)."""
    import polars as pl

    if not t.num_rows:
        return np.empty(0, dtype=np.uint64)
    return pl.from_arrow(t).hash_rows(seed=seed).to_numpy()


_ID_SEED = 202  # second seed of a row id; the first is row_hashes' default (the fingerprint's hash, reused)


def _hashes_and_ids(t: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(``row_hashes(t)``, ``_row_ids(t)``) with one conversion to polars."""
    import polars as pl

    if not t.num_rows:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype="S16")
    df = pl.from_arrow(t)
    h = df.hash_rows(seed=11).to_numpy()
    both = np.stack([h, df.hash_rows(seed=_ID_SEED).to_numpy()], axis=1)
    return h, np.ascontiguousarray(both).view("S16").ravel()


def fingerprint_key() -> str:
    """What a fingerprint depends on besides the rows: the layout, the contract and the hash function."""
    import polars

    h = hashlib.sha256(f"{LAYOUT_VERSION}/{polars.__version__}/{pa.__version__}".encode())
    for name in PUBLISHED_TABLES:
        h.update(str(TABLES[name].arrow_schema).encode())
    return h.hexdigest()[:16]


def _by_code(t: pa.Table, codes: np.ndarray) -> Iterator[tuple[int, pa.Table]]:
    """(code, its rows in order) for each distinct code of a batch: one stable sort and one take per batch, then
    zero-copy slices (a take per code copied the batch's texts once per month it spans)."""
    if not len(codes):
        return
    first = codes[0]
    if (codes == first).all():  # the usual case for small tables and sorted inputs: no copy at all
        yield int(first), t
        return
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    t = t.take(pa.array(order))
    bounds = np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(codes)]):
        yield int(sorted_codes[lo]), t.slice(int(lo), int(hi - lo))


def fingerprints(source: Source, writers: "_FileWriters | None" = None, keep: list | None = None,
                 ids: dict | None = None) -> dict[str, dict]:
    """{file label: {"rows", "fingerprint"}} of a table: a hash of its rows in order, per file; with ``writers``,
    every file is written in the same pass; with ``keep``, the batches are appended to it while they fit in
    KEEP_BYTES (else it is emptied), so that a second pass need not read them again; with ``ids``, it gets
    {label: [row id arrays, in file order]} (``_row_ids``, for rasd.duckdb updates)."""
    acc: dict[int, tuple] = {}
    kept = 0
    for t, codes in source():
        if keep is not None and kept >= 0:
            kept += t.nbytes
            if kept <= KEEP_BYTES:
                keep.append((t, codes))
            else:
                keep.clear()
                kept = -1
        if ids is not None:
            hashes, row_ids = _hashes_and_ids(t)
        else:
            hashes = row_hashes(t)
        for code in np.unique(codes):
            idx = np.flatnonzero(codes == code)
            h, n = acc.get(int(code)) or (hashlib.sha256(), 0)
            h.update(hashes[idx].tobytes())
            acc[int(code)] = (h, n + len(idx))
            if ids is not None:
                ids.setdefault(label(int(code)), []).append(row_ids[idx])
        if writers is not None:
            for code, part in _by_code(t, codes):
                writers.add(label(code), part)
    if writers is not None:
        writers.close()
    return {label(c): {"rows": n, "fingerprint": h.hexdigest()[:32]} for c, (h, n) in sorted(acc.items())}


class _FileWriters:
    """One Parquet file per label under ``folder``; rows buffered per file, flushed in row groups."""

    def __init__(self, folder: Path, schema: pa.Schema):
        self.folder, self.schema = folder, schema
        self.buf: dict[str, list[pa.Table]] = {}
        self.rows: dict[str, int] = {}  # rows and bytes buffered per file
        self.bytes: dict[str, int] = {}
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.nbytes = 0
        # long texts (an article's text, an event's evidence) are almost all distinct: a dictionary attempt only
        # costs time before Parquet falls back to plain encoding (the values read back are the same)
        self.dictionary = [n for n in schema.names if n not in ("text", "evidence")]

    def add(self, name: str, t: pa.Table) -> None:
        self.buf.setdefault(name, []).append(t)
        self.rows[name] = self.rows.get(name, 0) + t.num_rows
        self.bytes[name] = self.bytes.get(name, 0) + t.nbytes
        self.nbytes += t.nbytes
        if self.rows[name] >= ROW_GROUP_ROWS:
            self._flush(name)
        while self.nbytes > BUFFER_BYTES:
            self._flush(max(self.buf, key=self.bytes.__getitem__))

    def _flush(self, name: str) -> None:
        parts = self.buf.pop(name, [])
        self.rows.pop(name, None)
        self.nbytes -= self.bytes.pop(name, 0)
        if not parts:
            return
        w = self.writers.get(name)
        if w is None:
            w = self.writers[name] = pq.ParquetWriter(self.folder / f"{name}.parquet", self.schema, compression="zstd",
                                                      use_dictionary=self.dictionary)
        w.write_table(pa.concat_tables(parts), row_group_size=ROW_GROUP_ROWS)

    def close(self) -> None:
        for name in list(self.buf):
            self._flush(name)
        for w in self.writers.values():
            w.close()


def link_or_copy(src: Path, dst: Path) -> None:
    """``dst`` as a hard link to ``src``: only for files no one writes again (a new name, not a copy)."""
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a copy is as good, only slower
        shutil.copy2(src, dst)


def write_table_files(name: str, source: Source, staging: Path, previous: Path | None, prev_files: dict | None) -> dict:
    """Write table ``name`` into ``staging/name/`` one file per label; files whose fingerprint equals the previous
    publication's are hard-linked from it. Returns {"files": {label: {rows, fingerprint}}, "written": [labels]}."""
    schema = TABLES[name].arrow_schema
    folder = staging / name
    folder.mkdir(parents=True, exist_ok=True)
    prev_files = prev_files or {}
    one_pass = previous is None or not prev_files  # nothing to reuse: fingerprint and write in one pass
    kept: list = []
    ids: dict[str, list] = {}
    files = fingerprints(source, _FileWriters(folder, schema) if one_pass else None, None if one_pass else kept, ids)
    if not files:  # an empty table still has one (empty) file, so readers see its columns
        files = {WHOLE: {"rows": 0, "fingerprint": ""}}
    same = {k for k, v in files.items() if not one_pass and prev_files.get(k) == v
            and (previous / name / f"{k}.parquet").is_file()}
    todo = [k for k in files if k not in same]
    for k in same:
        link_or_copy(previous / name / f"{k}.parquet", folder / f"{k}.parquet")
    # each file's row ids, kept with the publication (the next run's rasd.duckdb update reads them, not the rows)
    id_dir = staging / "_cache" / ROW_IDS / name
    id_dir.mkdir(parents=True, exist_ok=True)
    for k in files:
        prev_ids = previous / "_cache" / ROW_IDS / name / f"{k}.npy" if previous is not None else None
        if k in same and prev_ids is not None and prev_ids.is_file():
            link_or_copy(prev_ids, id_dir / f"{k}.npy")
        else:
            np.save(id_dir / f"{k}.npy", np.concatenate(ids.get(k) or [np.empty(0, dtype="S16")]))
    del ids
    if todo and not one_pass:
        writers = _FileWriters(folder, schema)
        wanted = set(todo)
        for t, codes in (kept or source()):
            hit = np.isin(codes, [c for c in np.unique(codes) if label(int(c)) in wanted])
            if hit.all():
                parts = _by_code(t, codes)
            elif hit.any():
                parts = _by_code(t.filter(pa.array(hit)), codes[hit])
            else:
                continue
            for code, part in parts:
                writers.add(label(code), part)
        writers.close()
    if todo:
        for k in todo:  # an empty table, or nothing came for it
            if not (folder / f"{k}.parquet").exists():
                pq.write_table(schema.empty_table(), folder / f"{k}.parquet", compression="zstd")
    return {"files": files, "written": sorted(todo)}


def previous_partitions(previous: Path | None) -> dict | None:
    """The current publication's file fingerprints, when they were made with the same key."""
    meta = previous / "_cache" / PARTITIONS if previous is not None else None
    if meta is None or not meta.is_file():
        return None
    try:
        got = json.loads(meta.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return got if got.get("key") == fingerprint_key() else None


# ---------------------------------------------------------------- the DuckDB file


def database_key(sql_dir: Path) -> str:
    """What rasd.duckdb's layout depends on: the SQL outputs, the contract, DuckDB's version."""
    import duckdb

    h = hashlib.sha256(f"{LAYOUT_VERSION}/{duckdb.__version__}".encode())
    for name, kind, body in sql_files(sql_dir):
        h.update(f"{name}\0{kind}\0{body}\0".encode())
    for name in PUBLISHED_TABLES:
        h.update(str(TABLES[name].arrow_schema).encode())
    return h.hexdigest()[:16]


def _connect(db: Path, temp: Path | None):
    import duckdb

    con = duckdb.connect(str(db))
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    con.execute("SET preserve_insertion_order = false")
    if temp is not None:
        con.execute(f"SET temp_directory = '{_sql_str(str(temp))}'")
    return con


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _files_sql(paths: list[Path]) -> str:
    return "[" + ", ".join(f"'{_sql_str(str(p))}'" for p in paths) + "]"


def build_database(staging: Path, tables: dict[str, pa.Table | list[Path]], sql_dir: Path,
                   temp: Path | None = None) -> dict[str, pa.Table]:
    """Create staging/rasd.duckdb with the base tables (Arrow tables, or lists of Parquet files) and every sql/
    output; return the SQL-built tables."""
    db = staging / DB_NAME
    if db.exists():
        db.unlink()
    con = _connect(db, temp)
    try:
        for name, t in tables.items():
            if isinstance(t, pa.Table):
                con.register("_src", t)
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _src')
                con.unregister("_src")
            else:
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM read_parquet({_files_sql(t)})')
        built = _sql_outputs(con, sql_dir, create=True)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return built


def _sql_outputs(con, sql_dir: Path, create: bool) -> dict[str, pa.Table]:
    built: dict[str, pa.Table] = {}
    for name, kind, body in sql_files(sql_dir):
        if kind == "table":
            if create:
                con.execute(f'CREATE TABLE "{name}" AS {body}')
            else:
                con.execute(f'DELETE FROM "{name}"')
                con.execute(f'INSERT INTO "{name}" {body}')
            built[name] = con.sql(f'SELECT * FROM "{name}"').to_arrow_table()
        elif create:
            con.execute(f'CREATE VIEW "{name}" AS {body}')
    return built


def _row_ids(t: pa.Table) -> np.ndarray:
    """128 bits per row over all its columns (two seeded row hashes), as 16-byte strings numpy can match."""
    return _hashes_and_ids(t)[1]


def _member(ids: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Mask of ``ids`` found in ``sorted_ids`` (sorted once, searched per file)."""
    if not len(sorted_ids) or not len(ids):
        return np.zeros(len(ids), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return sorted_ids[at] == ids


def _file_ids(p: Path) -> np.ndarray | None:
    """The cached row ids of a published table file (``ROW_IDS``), when they are there and match its row count."""
    f = p.parent.parent / "_cache" / ROW_IDS / p.parent.name / f"{p.stem}.npy"
    if not f.is_file():
        return None
    try:
        got = np.load(f)
    except (OSError, ValueError):
        return None
    return got if got.dtype == np.dtype("S16") and len(got) == pq.read_metadata(p).num_rows else None


def row_changes(name: str, old_files: list[Path], new_files: list[Path]) -> tuple[pa.Table, pa.Table]:
    """(keys of the rows to delete, rows to insert) that turn the rows of ``old_files`` into those of ``new_files``:
    rows found (every column equal) on both sides are left alone, so a month file that gained one row costs one
    insert, not the month. Row ids come from each publication's cache (``ROW_IDS``; hashed from the rows when
    missing), so an old file is read only for the keys of rows it loses, a new one only for rows it gains; one
    file at a time. Keeps the row ids, the keys to delete and the rows to insert."""
    key = list(TABLES[name].key)
    schema = TABLES[name].arrow_schema

    def ids_of(p: Path) -> tuple[np.ndarray, pa.Table | None]:
        got = _file_ids(p)
        if got is not None:
            return got, None
        t = conform(name, pq.read_table(p))
        return _row_ids(t), t

    old = [(p, *ids_of(p)) for p in old_files if p.is_file()]
    new = [(p, *ids_of(p)) for p in new_files if p.is_file()]
    old_sorted = np.sort(np.concatenate([i for _, i, _ in old] or [np.empty(0, dtype="S16")]))
    new_sorted = np.sort(np.concatenate([i for _, i, _ in new] or [np.empty(0, dtype="S16")]))
    key_schema = pa.schema([schema.field(k) for k in key])
    gone, inserts = [key_schema.empty_table()], [schema.empty_table()]
    for p, ids, t in old:
        lost = ~_member(ids, new_sorted)
        if lost.any():
            t = t.select(key) if t is not None else pq.read_table(p, columns=key)
            t = pa.Table.from_arrays([t[k].cast(key_schema.field(k).type) for k in key], schema=key_schema)
            gone.append(t.filter(pa.array(lost)))
    del old
    for p, ids, t in new:
        add = ~_member(ids, old_sorted)
        if add.any():
            t = t if t is not None else conform(name, pq.read_table(p))
            inserts.append(t.filter(pa.array(add)))
    return pa.concat_tables(gone), pa.concat_tables(inserts)


def update_database(staging: Path, previous: Path, changes: dict[str, list[str]], expected_rows: dict[str, int],
                    sql_dir: Path, temp: Path | None = None) -> dict[str, pa.Table] | None:
    """staging/rasd.duckdb as a copy of the previous publication's with the rows of the changed files updated: rows
    only in a file's previous version deleted (by key), rows only in its new version inserted (``row_changes``);
    the SQL tables recomputed. None (and no file) when the result does not hold the expected row counts: build
    it whole instead."""
    db = staging / DB_NAME
    shutil.copyfile(previous / DB_NAME, db)  # the published file is never opened for writing
    con = _connect(db, temp)
    ok = False
    try:
        con.execute("BEGIN")
        # every delete before any insert: a row that moved to another file (a new month) is one row in both lists
        # of its table when both files changed, so it is neither deleted nor inserted
        inserts = {}
        for name, labels in changes.items():
            gone, inserts[name] = row_changes(name, [previous / name / f"{lab}.parquet" for lab in labels],
                                              [staging / name / f"{lab}.parquet" for lab in labels])
            if gone.num_rows:
                on = " AND ".join(f't."{k}" = o."{k}"' for k in TABLES[name].key)
                con.register("_gone", gone)
                con.execute(f'DELETE FROM "{name}" AS t USING _gone AS o WHERE {on}')
                con.unregister("_gone")
        for name, rows in inserts.items():
            if rows.num_rows:
                con.register("_new", rows)
                con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _new')
                con.unregister("_new")
        del inserts
        got = {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in expected_rows}
        if got != expected_rows:
            con.execute("ROLLBACK")
            return None
        built = _sql_outputs(con, sql_dir, create=False)
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        ok = True
        return built
    finally:
        con.close()
        if not ok:
            db.unlink(missing_ok=True)


def write_metadata(staging: Path, meta: dict) -> None:
    (staging / "_publication.json").write_text(json.dumps(meta, indent=2, default=str, ensure_ascii=False), encoding="utf-8")


def swap_in(layout: Layout, staging: Path, run_id: str) -> Path:
    """Make `staging` the current publication with one atomic rename of the `current` pointer."""
    layout.publications.mkdir(parents=True, exist_ok=True)
    final = layout.publications / run_id
    os.replace(staging, final)
    from rasd.pipeline import pause_for_tests

    pause_for_tests("swap")  # test-only hook: a kill here leaves a complete but unpublished folder
    tmp = layout.root / f".current-{run_id}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(final, layout.root), tmp)
    os.replace(tmp, layout.current)  # atomic on POSIX: readers see the old or the new publication, never half
    _fsync_dir(layout.root)
    ensure_stable_links(layout)
    return final


def ensure_stable_links(layout: Layout) -> None:
    """`<warehouse>/<table>` and `<warehouse>/rasd.duckdb` point through `current` (made once)."""
    for name in (*PUBLISHED_TABLES, DB_NAME):
        link = layout.root / name
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link) if link.is_dir() else link.unlink()
            os.symlink(os.path.join("current", name), link)


def cleanup(layout: Layout, keep: int = KEEP_PUBLICATIONS) -> list[Path]:
    """Remove orphaned staging folders and publications older than the last `keep` (never the current one)."""
    removed = []
    if not layout.publications.is_dir():
        return removed
    current = layout.current_publication()
    for p in layout.publications.glob(".staging-*"):
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    if layout.raw.is_dir():  # half-copied raw objects of a killed run (complete ones are renamed into place)
        for p in layout.raw.glob("**/.tmp-*"):
            p.unlink(missing_ok=True)
            removed.append(p)
    for p in layout.root.glob(".current-*"):  # a pointer made by a run killed before its swap
        if p.is_symlink():
            p.unlink()
            removed.append(p)
    pubs = sorted((p for p in layout.publications.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    if current is not None:
        # Run ids sort by start time and runs hold the writer lock, so a folder newer than `current` is one whose
        # run died between moving it into place and swapping the pointer: it was never published.
        for p in [p for p in pubs if p.name > current.name]:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
            pubs.remove(p)
    for p in pubs[:-keep] if keep else pubs:
        if current is None or p.resolve() != current:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

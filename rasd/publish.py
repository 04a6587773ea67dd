"""Build a publication in staging (Parquet + one DuckDB file) and swap it in with one rename."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rasd.warehouse import DB_NAME, PUBLISHED_TABLES, Layout

KEEP_PUBLICATIONS = 3  # publications kept on disk (current + previous); 2–10


def sql_files(sql_dir: Path) -> list[tuple[str, str, str]]:
    """(name, kind, body) for every sql/*.sql; tables first, then views, each alphabetical."""
    out = []
    for p in sorted(sql_dir.glob("*.sql")):
        body = p.read_text(encoding="utf-8").strip().rstrip(";").strip()
        first = body.splitlines()[0] if body else ""
        kind = "view" if "kind: view" in first else "table"
        out.append((p.stem, kind, body))
    return sorted(out, key=lambda t: (t[1] != "table", t[0]))


def write_parquet(table: pa.Table, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-0.parquet", compression="zstd")


def build_database(staging: Path, tables: dict[str, pa.Table], sql_dir: Path) -> dict[str, pa.Table]:
    """Create staging/rasd.duckdb with the base tables and every sql/ output; return the SQL-built tables."""
    import duckdb

    db = staging / DB_NAME
    if db.exists():
        db.unlink()
    built: dict[str, pa.Table] = {}
    con = duckdb.connect(str(db))
    try:
        for name, t in tables.items():
            con.register("_src", t)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _src')
            con.unregister("_src")
        for name, kind, body in sql_files(sql_dir):
            if kind == "table":
                con.execute(f'CREATE TABLE "{name}" AS {body}')
                built[name] = con.sql(f'SELECT * FROM "{name}"').to_arrow_table()
            else:
                con.execute(f'CREATE VIEW "{name}" AS {body}')
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return built


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

"""Warehouse layout, the single-writer lock, and read-only access to the published copy.

```
<warehouse>/
  current -> publications/<run_id>      the one pointer swapped atomically on publish
  <table>  -> current/<table>           stable paths for BI tools (Parquet folders)
  rasd.duckdb -> current/rasd.duckdb    the DuckDB file for SQL users
  publications/<run_id>/                complete, validated publications (the last few are kept)
  raw/<aa>/<sha256>                     every input's bytes, unchanged, by content hash
  runs/<run_id>/                        per-run work files, logs and gate results (failed runs too)
  .lock                                 held by the one writing run
```
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rasd.schema import TABLES

PUBLISHED_TABLES = ("articles", "article_texts", "events", "incidents", "incident_reports", "weekly_incidents", "quarantine")
DB_NAME = "rasd.duckdb"


class WarehouseLocked(RuntimeError):
    pass


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def publications(self) -> Path:
        return self.root / "publications"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def db(self) -> Path:
        return self.root / DB_NAME

    def current_publication(self) -> Path | None:
        """The resolved folder of the current publication, or None before the first publish."""
        if not self.current.is_symlink() and not self.current.exists():
            return None
        target = self.current.resolve()
        return target if target.is_dir() else None


@contextmanager
def writer_lock(layout: Layout, wait_s: float = 0.0):
    """Hold the warehouse's single-writer lock; raise WarehouseLocked with the holder's details."""
    layout.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    held = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown"
                    raise WarehouseLocked(
                        f"warehouse {layout.root} is locked by another rasd run ({holder}); try again when it finishes"
                    ) from None
                time.sleep(0.5)
        held = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode(), 0)
        yield
    finally:
        if held:  # a refused run must not wipe the holder's details
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
        os.close(fd)  # closing releases the flock


def read_table(pub: Path | None, name: str) -> pa.Table | None:
    """A table of a publication as Arrow, or None when absent."""
    if pub is None:
        return None
    folder = pub / name
    if not folder.is_dir():
        return None
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        return TABLES[name].arrow_schema.empty_table() if name in TABLES else None
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def read_only_connection(root: Path):
    """A DuckDB connection to the published file that cannot write or reach outside files."""
    import duckdb

    layout = Layout(Path(root))
    db = layout.db.resolve() if layout.db.exists() else None
    if db is None:
        raise FileNotFoundError(f"no published warehouse at {layout.root} (run `rasd run` first)")
    con = duckdb.connect(str(db), read_only=True, config={"enable_external_access": False})
    con.execute("SET lock_configuration = true")
    return con

"""Helpers for the reliability tests: fingerprint a publication, drive a paused `rasd run` subprocess."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from rasd.warehouse import PUBLISHED_TABLES, Layout, read_only_connection

RASD = Path(sys.executable).parent / "rasd"
ROOT = Path(__file__).resolve().parents[2]
VOLATILE = {"ingested_at"}  # differs between runs by design (when the article was read)


def fingerprint(wh: Path) -> dict:
    """Row counts, figures and a content hash of every published table (through rasd.duckdb, read-only)."""
    con = read_only_connection(wh)
    try:
        out = {}
        for t in PUBLISHED_TABLES:
            cols = [r[0] for r in con.execute(f"describe {t}").fetchall() if r[0] not in VOLATILE]
            rows = con.execute(f'select {", ".join(chr(34) + c + chr(34) for c in cols)} from {t}').fetchall()
            out[t] = (len(rows), hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()[:16])
        out["figures"] = con.execute(
            "select count(*), sum(incidents), sum(fatalities_low), sum(fatalities_best), sum(fatalities_high), sum(wounded)"
            " from weekly_incidents").fetchone()
        out["duplicate_ids"] = {
            t: con.execute(f"select count(*) - count(distinct {k}) from {t}").fetchone()[0]
            for t, k in (("articles", "article_id"), ("events", "event_id"), ("incidents", "incident_id"))}
        return out
    finally:
        con.close()


def code_version() -> str:
    """Hash of everything that shapes a publication (code, rule data, SQL, suites): equal results are only expected
    between runs of the same code (helpers edit rasd/ in parallel while the suite runs)."""
    h = hashlib.sha256()
    for d in ("rasd", "sql", "expectations"):
        for p in sorted((ROOT / d).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(ROOT)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def parquet_counts(wh: Path) -> dict:
    """Row counts read straight from the stable Parquet paths (what a BI tool does), in a fresh DuckDB."""
    con = duckdb.connect()
    try:
        return {t: con.execute(f"select count(*) from read_parquet('{wh / t}/*.parquet')").fetchone()[0]
                for t in PUBLISHED_TABLES}
    finally:
        con.close()


def current_target(wh: Path) -> str:
    return os.readlink(Layout(wh).current)


def env(**extra) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("RASD_TEST_")}
    e.update({"GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
    e.update({k: str(v) for k, v in extra.items()})
    return e


def start_run(input_dir: Path, wh: Path, pause_at: str | None = None, pause_file: Path | None = None,
              **extra_env) -> subprocess.Popen:
    """`rasd run --no-prefect` in a subprocess (optionally pausing at a test hook of rasd.pipeline)."""
    e = env(**extra_env)
    if pause_at:
        e.update(RASD_TEST_PAUSE_AT=pause_at, RASD_TEST_PAUSE_FILE=str(pause_file))
    return subprocess.Popen([str(RASD), "run", "--no-prefect", "--input", str(input_dir), "--warehouse", str(wh)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, cwd=ROOT)


def wait_paused(proc: subprocess.Popen, pause_file: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not pause_file.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"run exited ({proc.returncode}) before pausing:\n{out[-2000:]}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("run did not reach the pause point in time")
        time.sleep(0.05)


def rasd_sql(wh: Path, query: str, fmt: str = "csv") -> subprocess.CompletedProcess:
    return subprocess.run([str(RASD), "sql", query, "--warehouse", str(wh), "--format", fmt],
                          capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120)

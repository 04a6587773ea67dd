"""The resolve step alone (``rasd.pipeline.resolve_incidents``) on a given events/articles file pair: CPU s, peak RSS.

    prep --events E --articles A --out DIR [--fraction F] [--seed S]
        DIR/events.parquet and DIR/articles.parquet with only the columns resolution reads (a run folder's
        events.valid.parquet and articles.parquet hold evidence and texts); --fraction keeps that share of the articles
        (random, seeded) and their events: a smaller corpus over the same dates (e.g. 0.3 of the 1M run ~ 300k).
    prep-warehouse --warehouse WH --out DIR
        from a kept bench warehouse with two publications: DIR/events.parquet + DIR/articles.parquet (the last
        publication's events and articles), DIR/wh_full (no publication) and DIR/wh_incr (current = the publication
        before the last, its _cache copied), for a full and an incremental resolve of the same input.
    run --events E --articles A --out WORK [--warehouse WH] [--no-incremental] [--profile N]
        runs resolve_incidents in this process (previous publication: WH's current, if any; its resolve.json key is
        stamped with this code's key, so WH must be a private copy such as prep-warehouse's wh_incr), prints one JSON
        line (cpu_s, peak_rss_mb sampled every 20 ms, counts) and leaves the outputs in WORK. --no-incremental: a
        full resolve against WH's publication (ids kept from it). --profile N: cProfile (CPU timer), the N top
        functions by cumulative time.
    cmp WORK1 WORK2
        incidents, incident_reports and resolve_state of two runs equal (as sorted tables, and whether in the same
        order)? Exit status 1 when not.

Run with PYTHONPATH set to the tree under test. Wall clock is meaningless on a shared machine: compare CPU s and RSS.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def prep(events: Path, articles: Path, out: Path, fraction: float, seed: int) -> None:
    import numpy as np

    from rasd.resolve import ARTICLE_COLUMNS, EVENT_COLUMNS

    out.mkdir(parents=True, exist_ok=True)
    have = pq.ParquetFile(articles).schema_arrow.names
    art = pq.read_table(articles, columns=[c for c in ARTICLE_COLUMNS if c in have])
    if fraction < 1:
        keep = np.random.default_rng(seed).random(art.num_rows) < fraction
        art = art.filter(pa.array(keep))
    have = pq.ParquetFile(events).schema_arrow.names
    ev = pq.read_table(events, columns=[c for c in EVENT_COLUMNS if c in have])
    if fraction < 1:
        ev = ev.filter(pc.is_in(ev["article_id"], value_set=art["article_id"].combine_chunks()))
    pq.write_table(ev, out / "events.parquet", row_group_size=200_000)
    pq.write_table(art, out / "articles.parquet", row_group_size=200_000)
    print(json.dumps({"events": ev.num_rows, "articles": art.num_rows}))


def prep_warehouse(wh: Path, out: Path) -> None:
    from rasd.warehouse import read_table

    out.mkdir(parents=True, exist_ok=True)
    pubs = sorted(p for p in (wh / "publications").iterdir() if p.is_dir() and not p.name.startswith("."))
    last = pubs[-1]
    pq.write_table(read_table(last, "events"), out / "events.parquet", row_group_size=200_000)
    pq.write_table(read_table(last, "articles"), out / "articles.parquet", row_group_size=200_000)
    for name, target in (("wh_full", None), ("wh_incr", pubs[-2] if len(pubs) > 1 else None)):
        w = out / name
        shutil.rmtree(w, ignore_errors=True)
        (w / "publications").mkdir(parents=True)
        if target is not None:  # a private copy of the base publication: tables linked, _cache copied
            p1 = w / "publications" / "p1"
            p1.mkdir()
            for item in target.iterdir():
                if item.name != "_cache":
                    (p1 / item.name).symlink_to(item.resolve())
            (p1 / "_cache").mkdir()
            for name2 in ("resolve.json", "resolve_state.parquet"):
                shutil.copy(target / "_cache" / name2, p1 / "_cache" / name2)
            (w / "current").symlink_to(p1.resolve())
    print(json.dumps({"publications": [p.name for p in pubs]}))


def run(events: Path, articles: Path, work: Path, warehouse: Path | None, profile: int,
        incremental: bool = True) -> dict:
    import psutil

    from rasd import pipeline as P
    from rasd.settings import load_settings

    settings = load_settings(Path(P.__file__).resolve().parent.parent / "pyproject.toml")
    P.INCREMENTAL_RESOLVE = incremental
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if warehouse is None:
        warehouse = work / "_wh"
        (warehouse / "publications").mkdir(parents=True)
    meta = warehouse / "current" / "_cache" / P.RESOLVED
    if meta.is_file():  # the base state was made by the same rules: stamp it with this code's key
        m = json.loads(meta.read_text())
        m["key"] = P._resolve_key(settings, [], set())
        meta.write_text(json.dumps(m))
    ctx = P.RunContext(run_id="bench", settings=settings, input_dir=work, warehouse=warehouse, work=work,
                       started_at=dt.datetime.now(dt.timezone.utc))
    proc = psutil.Process()
    before = proc.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    c0, w0 = time.process_time(), time.perf_counter()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile(time.process_time)
        res = prof.runcall(P.resolve_incidents, ctx, events, articles)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(profile)
    else:
        res = P.resolve_incidents(ctx, events, articles)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    stop.set()
    t.join()
    out = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "rss_before_mb": round(before / 2**20),
           "peak_rss_mb": round(peak[0] / 2**20),
           "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "counts": res["counts"]}
    print(json.dumps(out))
    return out


def cmp(a: Path, b: Path) -> bool:
    ok = True
    for name in ("incidents.parquet", "incident_reports.parquet", "resolve_state.parquet"):
        ta, tb = pq.read_table(a / name), pq.read_table(b / name)
        keys = [(c, "ascending") for c in ta.column_names if c in ("incident_id", "event_id", "role")]
        if name == "resolve_state.parquet":
            keys = [("event_id", "ascending")]
        sa, sb = ta.sort_by(keys), tb.sort_by(keys)
        same = sa.schema == sb.schema and sa.equals(sb)
        print(name, ta.num_rows, tb.num_rows, "equal" if same else "DIFFERENT",
              "(same order)" if ta.equals(tb) else "(order differs)")
        ok &= same
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prep")
    p.add_argument("--events", type=Path, required=True)
    p.add_argument("--articles", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--fraction", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=7)
    p = sub.add_parser("prep-warehouse")
    p.add_argument("--warehouse", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("run")
    p.add_argument("--events", type=Path, required=True)
    p.add_argument("--articles", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--warehouse", type=Path)
    p.add_argument("--no-incremental", action="store_true")
    p.add_argument("--profile", type=int, default=int(os.environ.get("RASD_BENCH_PROFILE", "0")))
    p = sub.add_parser("cmp")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "prep":
        prep(args.events, args.articles, args.out, args.fraction, args.seed)
    elif args.cmd == "prep-warehouse":
        prep_warehouse(args.warehouse, args.out)
    elif args.cmd == "run":
        run(args.events, args.articles, args.out, args.warehouse, args.profile, not args.no_incremental)
    else:
        return 0 if cmp(args.a, args.b) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

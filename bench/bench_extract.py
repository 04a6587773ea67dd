"""Extraction throughput: Extractor.extract on the seed articles (data/sample), repeated; prints articles/s.

    python bench/bench_extract.py [--seconds 5] [--repeat N] [--corpus DIR [--limit N]]

Single process, single core. Loading (gazetteer, lexicons) is done once before timing, as in a pipeline worker.
Prints the rate by wall clock and by CPU time of this process (time.process_time); on a machine shared
with other work the CPU-time figure is the one to compare. ``--corpus DIR`` also times one pass over the
articles of an input folder (e.g. a generated corpus ``.bench/corpus-s7-n10000/part-0000``), read the way
the pipeline reads them (rasd.ingest: cleaned text, published_at). The first line says which rasd modules
run compiled (extension modules) and which as plain Python, and which Aho-Corasick automaton the scanners
use (rasd._acscan when built, else ahocorasick).
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH and the installed package: another checkout can be timed

from rasd.extract.events import Extractor  # noqa: E402
from rasd.text.normalize import clean_chars  # noqa: E402


def articles() -> list[dict]:
    out = []
    for i, p in enumerate(sorted((ROOT / "data" / "sample").glob("*.txt"))):
        text = clean_chars(p.read_text(encoding="utf-8"))
        out.append({"article_id": f"a{i}", "doc_key": p.stem, "text": text, "published_at": dt.date(2022, 10, 21),
                    "outlet": None, "title": text.splitlines()[0] if text else None, "language": "ar"})
    return out


def compiled_modules() -> tuple[list[str], list[str]]:
    """(compiled, pure) among the extraction modules, as imported in this process."""
    import importlib

    names = ["rasd.extract." + n for n in ("events", "places", "actors", "casualties", "dates", "numbers",
                                           "event_types", "common")] + ["rasd.text.sentences", "rasd.text.normalize"]
    comp, pure = [], []
    for n in names:
        f = getattr(importlib.import_module(n), "__file__", "") or ""
        (pure if f.endswith(".py") else comp).append(n.rsplit(".", 1)[1])
    return comp, pure


def corpus_articles(folder: Path, limit: int) -> list[dict]:
    """Articles of an input folder as the pipeline reads them (cleaned text, published_at)."""
    import tempfile

    from rasd.ingest.discover import discover
    from rasd.ingest.readers import read_items

    with tempfile.TemporaryDirectory() as tmp:
        recs = read_items(discover(folder), folder, Path(tmp) / "raw")
    cols = ("article_id", "doc_key", "text", "published_at", "outlet", "title", "language")
    out = [{c: r.get(c) for c in cols} for r in recs if r.get("status", "ok") == "ok" and r.get("text")]
    return out[:limit] if limit else out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum time to run")
    ap.add_argument("--repeat", type=int, default=0, help="fixed number of passes over the seeds (overrides --seconds)")
    ap.add_argument("--corpus", type=Path, help="also time one pass over the articles of this input folder")
    ap.add_argument("--limit", type=int, default=0, help="at most this many articles of --corpus (0 = all)")
    a = ap.parse_args(argv)
    comp, pure = compiled_modules()
    from rasd.extract.common import new_automaton

    scanner = type(new_automaton()).__module__  # rasd._acscan (built by pip install -e .) or ahocorasick
    print(f"compiled: {', '.join(comp) or 'none'}; pure Python: {', '.join(pure) or 'none'}; "
          f"automaton: {scanner}")
    arts = articles()
    t0 = time.perf_counter()
    ex = Extractor.load()
    load_s = time.perf_counter() - t0
    ex.extract(arts[0])  # warm caches
    n = events = 0
    chars = sum(len(x["text"]) for x in arts)
    t0, c0 = time.perf_counter(), time.process_time()
    passes = 0
    while True:
        for x in arts:
            events += len(ex.extract(x))
        n += len(arts)
        passes += 1
        el = time.perf_counter() - t0
        if (a.repeat and passes >= a.repeat) or (not a.repeat and el >= a.seconds):
            break
    cpu = time.process_time() - c0
    print(f"load {load_s:.2f} s; {n} articles ({chars / len(arts) / 1000:.1f} KB avg) in {el:.2f} s: "
          f"{n / el:,.0f} articles/s per core, {events / passes:.0f} events per pass; "
          f"CPU time {cpu:.2f} s: {n / cpu:,.0f} articles/s per CPU-second")
    if a.corpus:
        big = corpus_articles(a.corpus, a.limit)
        kb = sum(len(x["text"]) for x in big) / max(1, len(big)) / 1000
        t0, c0 = time.perf_counter(), time.process_time()
        ev = sum(len(ex.extract(x)) for x in big)
        el, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{a.corpus}: {len(big)} articles ({kb:.1f} KB avg), {ev} events in {el:.2f} s: "
              f"{len(big) / el:,.0f} articles/s per core; CPU time {cpu:.2f} s: {len(big) / cpu:,.0f} articles/s "
              f"per CPU-second")
    if ex.res.missing:
        print("degraded (missing modules):", "; ".join(ex.res.missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())

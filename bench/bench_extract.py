"""Extraction throughput: Extractor.extract on the seed articles (data/sample), repeated; prints articles/s.

    python bench/bench_extract.py [--seconds 5] [--repeat N]

Single process, single core. Loading (gazetteer, lexicons) is done once before timing, as in a pipeline worker.
Prints the rate by wall clock and by CPU time of this process (time.process_time); on a machine shared
with other work the CPU-time figure is the one to compare.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasd.extract.events import Extractor  # noqa: E402
from rasd.text.normalize import clean_chars  # noqa: E402


def articles() -> list[dict]:
    out = []
    for i, p in enumerate(sorted((ROOT / "data" / "sample").glob("*.txt"))):
        text = clean_chars(p.read_text(encoding="utf-8"))
        out.append({"article_id": f"a{i}", "doc_key": p.stem, "text": text, "published_at": dt.date(2022, 10, 21),
                    "outlet": None, "title": text.splitlines()[0] if text else None, "language": "ar"})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum time to run")
    ap.add_argument("--repeat", type=int, default=0, help="fixed number of passes over the seeds (overrides --seconds)")
    a = ap.parse_args(argv)
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
    if ex.res.missing:
        print("degraded (missing modules):", "; ".join(ex.res.missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())

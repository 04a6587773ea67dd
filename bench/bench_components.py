"""Per-component extraction throughput on the seed articles (data/sample): articles/s per core.

    python bench/bench_components.py [--seconds 1.0]

Seeds are cleaned with rasd.text.clean.clean_text and folded with rasd.text.normalize.fold once;
each component is then timed alone on the folded text (sentences: on the cleaned text) after a
warm-up call, as an extraction worker would run it: best of 5 rounds of CPU time of this process,
so that other load on a shared machine disturbs the figures less. ``Extractor.extract`` is the
whole extraction of an article.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH and the installed package: another checkout can be timed

from rasd.extract.actors import ActorLexicon, find_actors  # noqa: E402
from rasd.extract.casualties import find_casualties  # noqa: E402
from rasd.extract.dates import find_dates  # noqa: E402
from rasd.extract.event_types import TypeLexicon  # noqa: E402
from rasd.extract.events import Extractor  # noqa: E402
from rasd.extract.numbers import find_numbers, tokenize  # noqa: E402
from rasd.extract.places import Gazetteer, find_places  # noqa: E402
from rasd.text.clean import clean_text  # noqa: E402
from rasd.text.normalize import fold  # noqa: E402
from rasd.text.sentences import split_sentences  # noqa: E402

PUB = dt.date(2022, 10, 21)


def rate(fn, items, seconds: float, rounds: int = 5) -> float:
    """Best rate over a few rounds (robust to other load on a shared machine)."""
    for x in items:
        fn(x)  # warm caches
    best = 0.0
    for _ in range(rounds):
        n, t0 = 0, time.process_time()
        while True:
            for x in items:
                fn(x)
            n += len(items)
            el = time.process_time() - t0
            if el >= seconds / rounds:
                break
        best = max(best, n / el)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=1.0, help="time per component")
    a = ap.parse_args(argv)
    cleaned = [clean_text(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "data" / "sample").glob("*.txt"))]
    folded = [fold(c) for c in cleaned]
    gaz, actors, types = Gazetteer.load(), ActorLexicon.load(), TypeLexicon.load()
    ex = Extractor.load()
    arts = [{"article_id": f"a{i}", "doc_key": f"s{i}", "text": c, "published_at": PUB, "outlet": None,
             "title": c.splitlines()[0] if c else None, "language": "ar"} for i, c in enumerate(cleaned)]
    comps = [
        ("fold", fold, cleaned),
        ("split_sentences", split_sentences, cleaned),
        ("tokenize", tokenize, folded),
        ("find_numbers", find_numbers, folded),
        ("find_dates", lambda f: find_dates(f, PUB), folded),
        ("find_places", lambda f: find_places(f, gaz), folded),
        ("find_actors", lambda f: find_actors(f, actors, PUB), folded),
        ("find_casualties", find_casualties, folded),
        ("event_types.scan", types.scan, folded),
        ("Extractor.extract", ex.extract, arts),
    ]
    print(f"{len(cleaned)} seeds, {sum(map(len, cleaned)) / len(cleaned) / 1000:.1f} KB avg (cleaned)")
    for name, fn, items in comps:
        print(f"{name:20s} {rate(fn, items, a.seconds):>10,.0f} articles/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare rasd's date resolution with dateparser on the same expressions.

The expressions are the expected mentions of the golden cases (tests/cases/dates.jsonl): each
comes with the publication date it is resolved against and the right answer. Both systems get
the bare expression (dateparser is a parser, not an extractor, so this is its best case):

* rasd:        find_dates(fold(expr), published_at, ref=...) -> first mention
* dateparser:  dateparser.parse(expr, settings={"RELATIVE_BASE": published_at,
               "PREFER_DATES_FROM": "past"}) with languages=["ar"] and with locales=["ar-SY"]

A result is right when it equals the expected date (day precision) or lies within the scorer's
slack of it (7 days for week, 31 for month precision; ../shared/eval/score.py). Also reported:
expressions per second for each, and rasd's throughput on whole articles of typical length.

Run:  .venv/bin/python bench/dates_vs_dateparser.py [--repeat N] [--corpus DIR_OR_JSONL ...]
(--corpus is for measuring article throughput only; texts are read, never stored).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasd.extract.dates import find_dates  # noqa: E402
from rasd.text.normalize import clean_chars, fold  # noqa: E402

SLACK = {"day": 0, "week": 7, "month": 31}
DEFAULT_BASE = dt.date(2026, 11, 22)  # for cases without a publication date (absolute dates only)


def load_expressions(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        case = json.loads(line)
        ctx = case.get("ctx", {})
        pub = ctx.get("published_at")
        ref = ctx.get("ref")
        for item in case["res"]:
            if "date" not in item or "text" not in item:
                continue
            # an expression cut out of its sentence loses the context some need (e.g. a year named
            # earlier in the text): keep only those that stand on their own
            if pub is None and ref is None and not any(ch.isdigit() for ch in item["text"][-6:]):
                continue
            if item["text"].strip().isdigit():  # "14" of "14 و15 من تشرين الأول" means nothing alone
                continue
            if "ذاته" in item["text"] or "نفسه" in item["text"]:  # "اليوم ذاته" refers to a date before it
                continue
            out.append({"expr": item["text"], "pub": pub, "ref": ref, "date": item["date"],
                        "precision": item.get("precision", "day")})
    return out


def load_gold_expressions(paths: list[str]) -> list[dict]:
    """date_evidence -> event_date of gold events (day precision, article with a publication date).
    Evidence that is no date expression ("إلى ذلك") stays in: both systems miss it alike."""
    out = []
    for p in paths:
        for line in Path(p).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            if not doc.get("published_at"):
                continue
            seen = set()
            for ev in doc.get("events", []):
                expr = clean_chars(ev.get("date_evidence") or "").strip()
                if not expr or ev.get("date_precision") != "day" or expr in seen:
                    continue
                seen.add(expr)
                out.append({"expr": expr, "pub": doc["published_at"], "ref": None,
                            "date": ev["event_date"], "precision": "day"})
    return out


def right(got: dt.date | None, exp: dict) -> bool:
    if got is None:
        return False
    return abs((got - dt.date.fromisoformat(exp["date"])).days) <= SLACK[exp["precision"]]


def run_rasd(e: dict) -> dt.date | None:
    pub = dt.date.fromisoformat(e["pub"]) if e["pub"] else None
    ref = dt.date.fromisoformat(e["ref"]) if e["ref"] else None
    ms = find_dates(fold(e["expr"]), pub, ref=ref)
    return ms[0].date if ms else None


def make_dateparser(kind: str):
    import dateparser

    def run(e: dict) -> dt.date | None:
        base = dt.date.fromisoformat(e["pub"] or e["ref"]) if (e["pub"] or e["ref"]) else DEFAULT_BASE
        settings = {"RELATIVE_BASE": dt.datetime(base.year, base.month, base.day), "PREFER_DATES_FROM": "past"}
        kw = {"languages": ["ar"]} if kind == "ar" else {"locales": ["ar-SY"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = dateparser.parse(e["expr"], settings=settings, **kw)
        return r.date() if r else None

    return run


def measure(name: str, fn, exprs: list[dict], repeat: int) -> dict:
    results = [fn(e) for e in exprs]  # warm-up + answers
    t0 = time.perf_counter()
    for _ in range(repeat):
        for e in exprs:
            fn(e)
    el = time.perf_counter() - t0
    ok = [right(r, e) for r, e in zip(results, exprs)]
    return {"name": name, "right": sum(ok), "n": len(exprs), "accuracy": sum(ok) / len(exprs),
            "per_s": repeat * len(exprs) / el, "results": results, "ok": ok}


def article_texts(paths: list[str]) -> list[str]:
    texts = []
    for p in map(Path, paths):
        files = [p] if p.is_file() else sorted(p.rglob("*.txt")) + sorted(p.rglob("*.jsonl"))
        for f in files:
            if f.suffix == ".jsonl":
                for line in f.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        t = json.loads(line).get("text")
                        if t:
                            texts.append(t)
            else:
                try:
                    texts.append(f.read_text(encoding="utf-8"))
                except UnicodeDecodeError:
                    pass
    return [fold(clean_chars(t)) for t in texts]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=str(ROOT / "tests" / "cases" / "dates.jsonl"))
    ap.add_argument("--repeat", type=int, default=20, help="timing repetitions over the expressions")
    ap.add_argument("--corpus", nargs="*", default=[str(ROOT / "data" / "sample")],
                    help="article folders/JSONL files for rasd's throughput on whole articles")
    ap.add_argument("--gold", nargs="*", default=[],
                    help="gold JSONL files (../shared/corpus/*.gold.jsonl): use their date_evidence instead")
    ap.add_argument("--show", action="store_true", help="list every expression with both answers")
    args = ap.parse_args(argv)

    exprs = load_gold_expressions(args.gold) if args.gold else load_expressions(Path(args.cases))
    source = ", ".join(args.gold) if args.gold else args.cases
    rows = [measure("rasd find_dates", run_rasd, exprs, args.repeat)]
    try:
        rows.append(measure("dateparser languages=ar", make_dateparser("ar"), exprs, max(1, args.repeat // 10)))
        rows.append(measure("dateparser locales=ar-SY", make_dateparser("ar-SY"), exprs, max(1, args.repeat // 10)))
    except ImportError:
        print("dateparser not installed: pip install dateparser (dev extra)")

    # a CPU-speed yardstick, so figures from different machines can be compared
    t0 = time.perf_counter()
    s = 0
    for i in range(1_000_000):
        s += i
    loop = time.perf_counter() - t0

    print(f"{len(exprs)} expressions from {source}")
    print(f"{'system':28} {'right':>7} {'accuracy':>9} {'expr/s':>10}")
    for r in rows:
        print(f"{r['name']:28} {r['right']:>3}/{r['n']:<3} {r['accuracy']:>9.3f} {r['per_s']:>10.0f}")
    if args.show:
        print("\nexpressions where the systems disagree with the expected date:")
        for i, e in enumerate(exprs):
            flags = ["+" if r["ok"][i] else "-" for r in rows]
            if "-" in flags:
                answers = " | ".join(str(r["results"][i]) for r in rows)
                print(f"  {''.join(flags)} {e['expr']!r} pub={e['pub']} want {e['date']} ({e['precision']}): {answers}")

    texts = article_texts(args.corpus)
    if texts:
        pub = dt.date(2022, 10, 20)
        for t in texts:
            find_dates(t, pub)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 2.0:
            for t in texts:
                find_dates(t, pub)
            n += len(texts)
        el = time.perf_counter() - t0
        avg = sum(map(len, texts)) / len(texts)
        print(f"\nrasd find_dates on {len(texts)} articles (avg {avg:.0f} chars): {n / el:.0f} articles/s")
    print(f"CPU yardstick: a 1M-iteration Python loop took {loop:.3f} s on this machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

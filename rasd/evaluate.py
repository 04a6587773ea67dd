"""Accuracy harness: run rasd on a corpus folder and score it against a gold file with ``score.py``.

    python -m rasd.evaluate                              # seeds, dev and dev2 from ../shared
    python -m rasd.evaluate --corpus DIR --gold FILE [--mode fast|full] [--out DIR] [--json]

fast (default): ingest in-process (``rasd.ingest``) → ``Extractor`` → events.parquet + articles.parquet →
``score.py``. full: ``rasd run --input DIR --warehouse TMP`` and score the published Parquet tables.
The shared folder (corpora and scorer) is ``../shared`` next to the repository, or ``$RASD_SHARED``.
Prints one line per set:
``<set>: casualty-event F1 x, killed exact x (n=), event date exact x, events F1 x, published date exact x``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    return Path(os.environ.get("RASD_SHARED") or REPO.parent / "shared")


def default_sets() -> list[tuple[str, Path, Path]]:
    c = shared_dir() / "corpus"
    return [(n, c / n, c / f"{n}.gold.jsonl") for n in ("seeds", "dev", "dev2")]


# ------------------------------------------------------------------------------------------- ingest
def ingest(corpus: Path, workdir: Path, settings=None) -> list[dict]:
    """Article records (with ``text``) for every input of ``corpus``, via rasd.ingest when available."""
    try:
        from rasd.ingest.discover import discover
        from rasd.ingest.readers import read_items

        items = discover(corpus)
        now = dt.datetime.now(dt.timezone.utc)
        return read_items(items, corpus, workdir / "raw", settings, now, now.date())
    except ImportError as e:  # ingest not there yet: a minimal reader of the corpus layout
        print(f"[evaluate] rasd.ingest unavailable ({e}); using the minimal reader", file=sys.stderr)
        return _read_minimal(corpus)


def _read_minimal(corpus: Path) -> list[dict]:
    import hashlib

    from rasd.text.normalize import clean_chars

    try:
        from rasd.text.clean import clean_text
    except ImportError:
        clean_text = None
    recs = []

    def add(key, raw_text, meta):
        text = clean_chars(raw_text)
        if clean_text:
            try:
                text = clean_text(text, meta.get("outlet"))
            except Exception:
                pass
        pub = meta.get("published_at")
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), None)
        recs.append({
            "article_id": hashlib.sha256(text.encode()).hexdigest()[:16], "doc_key": key, "text": text,
            "published_at": dt.date.fromisoformat(pub) if pub else None, "outlet": meta.get("outlet"),
            "title": first, "language": "ar", "url": meta.get("url"), "status": "ok",
        })

    for p in sorted(corpus.iterdir()):
        if p.suffix == ".txt":
            raw = p.read_bytes()
            try:
                t = raw.decode("utf-8")
            except UnicodeDecodeError:
                t = raw.decode("cp1256", errors="replace")
            side = p.with_suffix(".json")
            meta = json.loads(side.read_text(encoding="utf-8")) if side.exists() else {}
            add(meta.get("id") or p.stem, t, meta)
        elif p.suffix == ".jsonl":
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    d = json.loads(line)
                    add(d.get("id"), d.get("text") or "", d)
    return recs


# ------------------------------------------------------------------------------------------- run
def extract_all(articles: list[dict], settings=None) -> tuple[list[dict], float]:
    from rasd.extract.events import Extractor

    ex = Extractor.load(settings)
    t0 = time.perf_counter()
    rows = []
    for a in articles:
        if a.get("status", "ok") != "ok" or not a.get("text"):
            continue
        rows.extend(ex.extract(a))
    return rows, time.perf_counter() - t0


def write_tables(articles: list[dict], events: list[dict], out: Path) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rasd.schema import ARTICLES, to_arrow

    out.mkdir(parents=True, exist_ok=True)
    ev = out / "events.parquet"
    pq.write_table(to_arrow("events", events), ev)
    cols = {c: [a.get(c) for a in articles] for c in ("doc_key", "article_id", "published_at", "title", "outlet")}
    cols["published_at"] = [_as_date(v) for v in cols["published_at"]]
    ar = out / "articles.parquet"
    pq.write_table(pa.table({k: pa.array(v, type=pa.date32() if k == "published_at" else pa.string())
                             for k, v in cols.items()}), ar)
    del ARTICLES
    return ev, ar


def _as_date(v):
    if v is None or isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.datetime):
        return v.date()
    try:
        return dt.date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def score(gold: Path, events: Path, articles: Path) -> dict:
    scorer = shared_dir() / "eval" / "score.py"
    res = subprocess.run([sys.executable, str(scorer), "--gold", str(gold), "--pred", str(events),
                          "--articles", str(articles), "--json"], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def run_full(corpus: Path, out: Path) -> tuple[Path, Path]:
    """`rasd run` into a fresh warehouse under ``out``; returns its events and articles tables."""
    import shutil

    wh = out / "warehouse"
    shutil.rmtree(wh, ignore_errors=True)
    exe = shutil.which("rasd") or str(Path(sys.executable).with_name("rasd"))
    cmd = [exe, "run", "--input", str(corpus), "--warehouse", str(wh)]
    if os.environ.get("RASD_EVAL_NO_PREFECT"):
        cmd.append("--no-prefect")
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:  # Prefect logs go to stderr: show them only when the run failed
        sys.stderr.write(res.stderr[-5000:])
        raise SystemExit(f"rasd run failed ({res.returncode}) on {corpus}")
    cands = [wh / "current", wh]
    for base in cands:
        ev, ar = base / "events", base / "articles"
        for e, a in ((ev, ar), (ev.with_suffix(".parquet"), ar.with_suffix(".parquet"))):
            if e.exists() and a.exists():
                return e, a
    raise SystemExit(f"no events/articles tables under {wh}")


def combined(parts: list[tuple[Path, Path]], out: Path) -> dict:
    """Score several sets as one (their gold files and predicted tables concatenated)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    gold = out / "gold.jsonl"
    gold.write_text("".join(Path(g).read_text(encoding="utf-8") for g, _ in parts), encoding="utf-8")
    for name in ("events", "articles"):
        tables = [pq.read_table(t[name]) for _, t in parts]
        cols = [c for c in tables[0].column_names if all(c in t.column_names for t in tables)]
        t = pa.concat_tables([x.select(cols) for x in tables], promote_options="permissive")
        pq.write_table(t, out / f"{name}.parquet")
    return score(gold, out / "events.parquet", out / "articles.parquet")


def headline(name: str, r: dict) -> str:
    c, k, d, e = r["casualty_events"], r["killed_exact"], r["event_date_exact"], r["events"]
    p = r.get("published_at_exact") or {}
    return (f"{name}: casualty-event F1 {c['f1']}, killed exact {k['rate']} (n={k['n']}), "
            f"event date exact {d['rate']} (n={d['n']}), events F1 {e['f1']} "
            f"(p {e['precision']} r {e['recall']}), published date exact {p.get('rate')} (n={p.get('n')})")


def evaluate(name: str, corpus: Path, gold: Path, mode: str, out: Path, settings=None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    if mode == "full":
        ev, ar = run_full(corpus, out)
        res = score(gold, ev, ar)
    else:
        articles = ingest(corpus, out, settings)
        events, secs = extract_all(articles, settings)
        ev, ar = write_tables(articles, events, out)
        res = score(gold, ev, ar)
        res["extract_seconds"] = round(secs, 4)
        res["n_articles"] = len(articles)
        res["n_events"] = len(events)
    res["tables"] = {"events": str(ev), "articles": str(ar)}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, help="folder of articles (default: seeds, dev and dev2)")
    ap.add_argument("--gold", type=Path, help="gold JSONL for --corpus")
    ap.add_argument("--mode", choices=("fast", "full"), default="fast")
    ap.add_argument("--out", type=Path, help="where to keep the predicted tables (default: a temp folder)")
    ap.add_argument("--json", action="store_true", help="also print the full score of each set as JSON")
    a = ap.parse_args(argv)
    if bool(a.corpus) != bool(a.gold):
        ap.error("--corpus and --gold go together")
    sets = [(a.corpus.name, a.corpus, a.gold)] if a.corpus else default_sets()
    settings = None
    try:
        from rasd.settings import load_settings

        settings = load_settings()
    except Exception:
        pass
    tmp = None
    base = a.out
    if base is None:
        tmp = tempfile.TemporaryDirectory(prefix="rasd-eval-")
        base = Path(tmp.name)
    done = {}
    for name, corpus, gold in sets:
        res = evaluate(name, corpus, gold, a.mode, base / name, settings)
        done[name] = (gold, res["tables"])
        print(headline(name, res), flush=True)
        if a.json:
            print(json.dumps(res, ensure_ascii=False))
    if {"seeds", "dev"} <= done.keys():
        # The targets are on dev with the seeds included: score both together.
        res = combined([done["seeds"], done["dev"]], base / "dev+seeds")
        print(headline("dev+seeds", res))
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

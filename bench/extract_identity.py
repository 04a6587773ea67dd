"""Identity check for extraction changes: Extractor.extract outputs before and after, compared with ==.

    python bench/extract_identity.py inputs --out DIR [--parts 3]     # gather article records once
    python bench/extract_identity.py run --inputs DIR --save REF.pkl  # outputs of the rasd on sys.path
    python bench/extract_identity.py run --inputs DIR --compare REF.pkl

Inputs: the seeds (data/sample), the shared dev corpora (``../shared/corpus/{seeds,dev,dev2}``), the texts of
``tests/cases/*.jsonl`` and the first ``--parts`` folders of a generated corpus (``.bench/corpus-s7-n10000``),
read the way the pipeline reads them (``rasd.ingest`` discover + read_items: cleaned text, published_at).
They are pickled outside the project (``--out``; the dev texts belong to their publishers). Run the reference
with ``PYTHONPATH`` pointing at the reference checkout, then compare the working tree against it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def gather(out: Path, parts: int, corpus: Path) -> None:
    from rasd.evaluate import ingest
    from rasd.text.normalize import clean_chars

    arts: list[dict] = []
    cols = ["article_id", "doc_key", "text", "published_at", "outlet", "title", "language"]

    def add(recs, tag):
        n = 0
        for r in recs:
            if r.get("status", "ok") == "ok" and r.get("text"):
                arts.append({c: r.get(c) for c in cols} | {"_set": tag})
                n += 1
        print(f"{tag}: {n} articles", file=sys.stderr)

    shared = ROOT.parent / "shared" / "corpus"
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("seeds", "dev", "dev2"):
            if (shared / name).is_dir():
                add(ingest(shared / name, Path(tmp) / name), name)
        add(ingest(ROOT / "data" / "sample", Path(tmp) / "sample"), "sample")
        for i in range(parts):
            p = corpus / f"part-{i:04d}"
            if p.is_dir():
                add(ingest(p, Path(tmp) / p.name), p.name)
    cases = []
    for f in sorted((ROOT / "tests" / "cases").glob("*.jsonl")):
        for k, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            d = json.loads(line)
            texts = [d.get("req")] + [x.get("text") for x in (d.get("ctx") or {}).get("dated", []) or []
                                       if isinstance(x, dict)]
            pub = (d.get("ctx") or {}).get("published_at")
            for j, t in enumerate(texts):
                if isinstance(t, str) and t.strip():
                    text = clean_chars(t)
                    for pa in ([dt.date.fromisoformat(pub[:10])] if pub else []) + [None]:
                        cases.append({"article_id": f"{f.stem}-{k}-{j}-{pa}", "doc_key": f"{f.stem}-{k}-{j}",
                                      "text": text, "published_at": pa, "outlet": None,
                                      "title": text.splitlines()[0], "language": "ar", "_set": "cases"})
    arts.extend(cases)
    print(f"cases: {len(cases)} articles", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inputs.pkl").write_bytes(pickle.dumps(arts, protocol=pickle.HIGHEST_PROTOCOL))
    print(f"{len(arts)} articles -> {out / 'inputs.pkl'}")


def run(inputs: Path, save: Path | None, compare: Path | None) -> int:
    from rasd.extract.events import Extractor

    arts = pickle.loads((inputs / "inputs.pkl").read_bytes())
    ex = Extractor.load()
    t0 = time.process_time()
    outs = [ex.extract({k: v for k, v in a.items() if k != "_set"}) for a in arts]
    cpu = time.process_time() - t0
    n_ev = sum(map(len, outs))
    print(f"{len(arts)} articles, {n_ev} events, {cpu:.1f} CPU s ({len(arts) / cpu:,.0f} articles/s)")
    if save:
        save.write_bytes(pickle.dumps(outs, protocol=pickle.HIGHEST_PROTOCOL))
    if compare:
        ref = pickle.loads(compare.read_bytes())
        bad = [i for i, (a, b) in enumerate(zip(ref, outs)) if a != b]
        if len(ref) != len(outs):
            print(f"DIFFERENT article count: {len(ref)} vs {len(outs)}")
            return 1
        if bad:
            print(f"DIFFERENT: {len(bad)} articles differ, e.g.:")
            for i in bad[:5]:
                a = arts[i]
                print(f"  {a['_set']} {a['doc_key']}: ref {len(ref[i])} events, now {len(outs[i])}")
                for r0, r1 in zip(ref[i], outs[i]):
                    for k in r0:
                        if r0[k] != r1.get(k):
                            print(f"    {k}: {r0[k]!r} -> {r1.get(k)!r}")
            return 1
        print("IDENTICAL")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("inputs")
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--parts", type=int, default=3)
    g.add_argument("--corpus", type=Path, default=ROOT / ".bench" / "corpus-s7-n10000")
    r = sub.add_parser("run")
    r.add_argument("--inputs", type=Path, required=True)
    r.add_argument("--save", type=Path)
    r.add_argument("--compare", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "inputs":
        gather(a.out, a.parts, a.corpus)
        return 0
    return run(a.inputs, a.save, a.compare)


if __name__ == "__main__":
    sys.exit(main())

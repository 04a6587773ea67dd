"""Feed fetching against a local HTTP server on 127.0.0.1 (never the internet)."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rasd.ingest.discover import discover
from rasd.ingest.feeds import FeedOptions, FetchError, check_url, fetch_feeds, parse_feed
from rasd.ingest.readers import read_items
from rasd.settings import Settings

REPORT = ("قتل مدنيان وأصيب ثلاثة آخرون بجروح، اليوم الاثنين، جراء قصف مدفعي لقوات النظام استهدف بلدة كنصفرة "
          "في ريف إدلب الجنوبي، بحسب ما أفاد الدفاع المدني السوري الذي قال إن فرقه أسعفت المصابين. ") * 3
PAGE = f"""<html><head><meta charset="utf-8"><title>اشتباكات في اليادودة</title></head><body><article>
<h1>اشتباكات في اليادودة</h1><p>اندلعت اشتباكات عنيفة بين مسلحين محليين وعناصر من قوات النظام في بلدة اليادودة بريف درعا الغربي، ما أدى إلى مقتل عنصرين وإصابة ثلاثة آخرين، وفق مصدر محلي.</p>
<script>alert("x")</script></article></body></html>"""


def rss(base: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>موقع تجريبي</title>
<item><title>قصف على كنصفرة</title><link>{base}/story1.html</link><guid>story-1</guid>
<pubDate>Mon, 08 May 2023 10:00:00 +0300</pubDate><content:encoded><![CDATA[<p>{REPORT}</p>]]></content:encoded></item>
<item><title>اشتباكات في اليادودة</title><link>{base}/page1.html</link><guid>story-2</guid>
<pubDate>Sat, 15 Oct 2022 09:00:00 +0300</pubDate><description>مقتطف قصير</description></item>
</channel></rss>"""


ATOM = f"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title>
<entry><id>tag:example,2024:1</id><title>خبر</title><link href="http://127.0.0.1/x"/><published>2024-07-01T08:00:00Z</published>
<content type="html">&lt;p&gt;{REPORT}&lt;/p&gt;</content></entry></feed>"""

EVIL = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<rss version="2.0"><channel><title>&lol2;</title></channel></rss>"""


class Handler(BaseHTTPRequestHandler):
    hits: dict = {}

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        if self.path == "/feed.xml":
            if self.headers.get("If-None-Match") == '"v1"':
                return self._send(304)
            return self._send(200, rss(base).encode(), {"ETag": '"v1"', "Content-Type": "application/rss+xml"})
        if self.path == "/page1.html":
            return self._send(200, PAGE.encode(), {"Content-Type": "text/html; charset=utf-8"})
        if self.path == "/atom.xml":
            return self._send(200, ATOM.encode())
        if self.path == "/evil.xml":
            return self._send(200, EVIL.encode())
        if self.path == "/big.xml":
            return self._send(200, b"<rss>" + b" " * 300_000 + b"</rss>")
        if self.path == "/to-file":
            return self._send(302, headers={"Location": "file:///etc/passwd"})
        if self.path == "/to-private":
            return self._send(302, headers={"Location": "http://10.0.0.1/feed.xml"})
        if self.path == "/flaky.xml":
            if Handler.hits[self.path] == 1:
                return self._send(503)
            return self._send(200, ATOM.encode())
        if self.path == "/moved.xml":
            return self._send(301, headers={"Location": "/atom.xml"})
        return self._send(404)


@pytest.fixture()
def server():
    Handler.hits = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


OPTS = FeedOptions(timeout_s=5, retries=1, backoff_s=0, delay_s=0, max_bytes=100_000, allow_loopback=True)
NOW = datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)


def sources(tmp_path: Path, *urls) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text("feeds:\n" + "".join(f"  - {u}\n" for u in urls), encoding="utf-8")
    return p


def test_fetch_feed_conditional_and_ingest(tmp_path, server):
    src = sources(tmp_path, f"{server}/feed.xml")
    out, state = tmp_path / "in", tmp_path / "feeds-state.json"
    run = fetch_feeds(src, out, state, OPTS, now=NOW)
    assert [(r.status, r.new_items) for r in run.results] == [("fetched", 2)]
    lines = [json.loads(x) for x in run.output.read_text(encoding="utf-8").splitlines()]
    assert [x["title"] for x in lines] == ["قصف على كنصفرة", "اشتباكات في اليادودة"]
    assert Handler.hits.get("/page1.html") == 1  # teaser item: its page was fetched
    assert Handler.hits.get("/story1.html") is None  # full text in the feed: no page fetch
    assert json.loads(state.read_text())["feeds"][f"{server}/feed.xml"]["etag"] == '"v1"'
    # Second run: the server answers 304 to the ETag; nothing new is written.
    again = fetch_feeds(src, out, state, OPTS, now=NOW.replace(hour=2))
    assert [r.status for r in again.results] == ["not_modified"] and again.output is None
    # The JSONL is ingested like any input.
    recs = read_items(discover(out), out, tmp_path / "raw", Settings(), NOW, NOW.date())
    assert [r["status"] for r in recs] == ["ok", "ok"]
    assert recs[0]["published_at"] == date(2023, 5, 8) and recs[0]["published_at_basis"] == "metadata"
    assert recs[0]["outlet"] == "موقع تجريبي" and recs[0]["doc_key"].startswith("feed-")
    assert "اندلعت اشتباكات عنيفة" in recs[1]["text"] and "alert" not in recs[1]["text"]


def test_seen_items_are_not_written_twice(tmp_path, server):
    src = sources(tmp_path, f"{server}/atom.xml")
    state = tmp_path / "st.json"
    first = fetch_feeds(src, tmp_path / "in", state, OPTS, now=NOW)
    assert first.results[0].new_items == 1
    second = fetch_feeds(src, tmp_path / "in", state, OPTS, now=NOW.replace(hour=3))
    assert second.results[0].status == "fetched" and second.results[0].new_items == 0 and second.output is None


def test_refusals_and_failures_are_reported_not_raised(tmp_path, server):
    src = sources(tmp_path, f"{server}/evil.xml", f"{server}/big.xml", f"{server}/to-file", f"{server}/to-private",
                  f"{server}/missing.xml", "file:///etc/passwd", "ftp://example.org/feed")
    run = fetch_feeds(src, tmp_path / "in", None, OPTS, now=NOW)
    st = {r.url.rsplit("/", 1)[-1]: r for r in run.results}
    assert all(r.status == "error" for r in run.results)
    assert "size cap" in st["big.xml"].error
    assert "scheme 'file'" in st["to-file"].error
    assert "non-public address 10.0.0.1" in st["to-private"].error
    assert "404" in st["missing.xml"].error
    assert "scheme 'file'" in st["passwd"].error and "scheme 'ftp'" in st["feed"].error
    assert run.output is None


def test_retry_and_redirect(tmp_path, server):
    src = sources(tmp_path, f"{server}/flaky.xml", f"{server}/moved.xml")
    run = fetch_feeds(src, tmp_path / "in", None, OPTS, now=NOW)
    assert [r.status for r in run.results] == ["fetched", "fetched"]
    assert Handler.hits["/flaky.xml"] == 2


def test_loopback_needs_the_test_flag(server):
    with pytest.raises(FetchError, match="non-public"):
        check_url(f"{server}/feed.xml")
    check_url(f"{server}/feed.xml", allow_loopback=True)
    with pytest.raises(FetchError):
        check_url("http://[::1]/x")
    with pytest.raises(FetchError):
        check_url("http://169.254.169.254/latest/meta-data")


def test_parse_feed_rejects_entities():
    with pytest.raises(Exception):
        parse_feed(EVIL.encode())
    title, items = parse_feed(ATOM.encode())
    assert title == "Atom" and items[0]["published_at"] == date(2024, 7, 1) and items[0]["url"] == "http://127.0.0.1/x"

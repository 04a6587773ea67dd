"""Main text, title and publication date of an HTML page.

trafilatura extracts the article body (recall-favouring: Arabic news pages put short
paragraphs and datelines in separate blocks that precision mode drops); the date comes
from the page's metadata only (meta tags, JSON-LD, <time>, URL), never guessed from the
body. Scripts, styles, iframes and event-handler attributes never reach the text: the
fallback extractor removes them explicitly.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

log = logging.getLogger(__name__)

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_DROP_TAGS = ("script", "style", "iframe", "noscript", "template", "object", "embed", "svg", "canvas",
              "nav", "footer", "header", "form", "button", "select", "aside")
_BLOCK_TAGS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "article",
               "section", "figcaption", "pre", "table", "ul", "ol", "dd", "dt"}


@dataclass(frozen=True)
class HtmlContent:
    text: str
    title: str | None
    published_at: date | None


def declared_charset(data: bytes) -> str | None:
    """The charset a page declares in its first 4 KB (<meta charset> / http-equiv)."""
    m = _META_CHARSET.search(data[:4096])
    return m.group(1).decode("ascii", "replace") if m else None


def _fallback_text(html: str) -> tuple[str, str | None]:
    """Plain text of the body with active content removed (used when trafilatura finds nothing)."""
    import lxml.html

    try:
        doc = lxml.html.document_fromstring(html)
    except Exception:
        return "", None
    title = None
    t = doc.find(".//title")
    if t is not None and t.text_content().strip():
        title = t.text_content().strip()
    for el in doc.xpath("|".join(f"//{t}" for t in _DROP_TAGS)):
        el.drop_tree()
    body = doc.find("body")
    root = body if body is not None else doc
    parts: list[str] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in _BLOCK_TAGS:
            parts.append("\n")
        if el.text:
            parts.append(el.text)
        if el.tail:
            if el.tag in _BLOCK_TAGS:
                parts.append("\n")
            parts.append(el.tail)
    text = re.sub(r"[ \t]+", " ", "".join(parts))
    text = "\n".join(ln.strip() for ln in text.split("\n"))
    return re.sub(r"\n{2,}", "\n", text).strip(), title


def _parse_date(value) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


# Embedded content whose text must never reach the article (trafilatura keeps the text of these);
# <script> stays for trafilatura, which drops it itself but reads JSON-LD dates from it.
_EMBED_TAGS = ("iframe", "noscript", "object", "embed", "template", "frame", "frameset", "applet")


def _strip_embedded(html: str) -> str:
    import lxml.html

    try:
        doc = lxml.html.document_fromstring(html)
    except Exception:
        return html
    for el in doc.xpath("|".join(f"//{t}" for t in _EMBED_TAGS)):
        el.drop_tree()
    return lxml.html.tostring(doc, encoding="unicode")


def extract_html(html: str, url: str | None = None, ingest_date: date | None = None) -> HtmlContent:
    """Extract main text, title and metadata date; never raises on bad markup."""
    html = _strip_embedded(_XML_DECL.sub("", html, count=1))
    text, title, published = "", None, None
    try:
        import trafilatura

        params = {"extensive_search": False, "original_date": True}
        if ingest_date:
            params["max_date"] = ingest_date.isoformat()
        doc = trafilatura.bare_extraction(
            html, url=url, favor_recall=True, with_metadata=True, include_comments=False,
            include_tables=True, include_images=False, include_links=False, date_extraction_params=params,
        )
        if doc is not None:
            d = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
            text = (d.get("text") or "").strip()
            title = (d.get("title") or "").strip() or None
            published = _parse_date(d.get("date"))
    except Exception as exc:  # malformed markup must not stop ingest; fall back below
        log.warning("trafilatura failed on %s: %s", url or "page", exc)
    if not text:
        text, fb_title = _fallback_text(html)
        title = title or fb_title
    return HtmlContent(text, title, published)

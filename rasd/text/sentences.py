"""Sentence splitting over cleaned (or folded) Arabic news text.

Spans index the text passed in; ``fold`` is one-to-one, so spans over the folded text
slice the cleaned text too. Splits on ``. ! ? ؟ ؛`` and newlines, keeps together:

* decimals and dotted dates/times between digits ("2022.10.20", "3.5", "10:30");
* one-letter abbreviations ("د. أحمد", "U.S.", "ق.م") and a few listed ones ("م." after a year);
* a short quotation that closes on the same line: a full stop inside "…" does not end the
  sentence (reporters quote whole statements: قال إن "… قتل شاب. وأصيب آخر" ), unless it is
  the quotation's last character ("… انتهى الأمر.»" ends the sentence).
Closing quotes and brackets right after a terminator stay with the sentence they close.
"""
from __future__ import annotations

import re

_TERMINATORS = ".!?؟؛\n…"
_CLOSERS = "\"'”»)]}’"
# A quotation longer than this (or crossing a line) is not trusted to be balanced.
_MAX_QUOTE = 400
_OPEN_CLOSE = {"“": "”", "«": "»", "„": "”"}
_ABBREV_RE = re.compile(r"(?:^|[\s(\"'«“.])([A-Za-z\u0621-\u064A])$")


_QUOTE_RE = re.compile('["“«„]')
_TERM_RE = re.compile("[.!?؟؛\n…]")


def _quote_spans(text: str) -> list[tuple[int, int]]:
    """Balanced quotations on one line, at most _MAX_QUOTE long: (open, close) index pairs."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    i = 0
    while True:
        m = _QUOTE_RE.search(text, i)
        if m is None:
            return spans
        i = m.start()
        c = text[i]
        closer = '"' if c == '"' else _OPEN_CLOSE[c]
        j = text.find(closer, i + 1, min(n, i + 1 + _MAX_QUOTE))
        if j >= 0 and text.find("\n", i + 1, j) < 0:
            spans.append((i, j))
            i = j + 1
        else:
            i += 1


def _is_protected(text: str, k: int) -> bool:
    """True when the terminator at k is part of a number, date, time or abbreviation."""
    c = text[k]
    if c == ".":
        prev = text[k - 1] if k else ""
        nxt = text[k + 1] if k + 1 < len(text) else ""
        if prev.isdigit() and nxt.isdigit():
            return True  # 3.5, 2022.10.20
        if _ABBREV_RE.search(text, max(0, k - 3), k):
            return True  # د. / U.S. / ق.م
        if nxt == "." or prev == ".":
            return False
    return False


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) over ``text``, whitespace-stripped, empty ones dropped."""
    n = len(text)
    quotes = _quote_spans(text)
    qi = 0
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _TERM_RE.finditer(text):
        k = m.start()
        if k < start:
            continue
        c = text[k]
        while qi < len(quotes) and quotes[qi][1] < k:
            qi += 1
        # Inside a quotation, unless the terminator closes it ("… انتهى الأمر.»").
        inside = qi < len(quotes) and quotes[qi][0] < k < quotes[qi][1] - 1
        if c == "\n":
            spans.append((start, k))
            start = k + 1
            continue
        if inside or _is_protected(text, k):
            continue
        end = k + 1
        # Runs of terminators ("؟!", "...") and closing quotes/brackets belong to this sentence.
        while end < n and (text[end] in _TERMINATORS and text[end] != "\n" or text[end] in _CLOSERS):
            if text[end] in "\"'" and text.count(text[end], start, end) % 2 == 0:
                break  # an ASCII quote that opens the next sentence
            end += 1
        spans.append((start, end))
        start = end
    spans.append((start, n))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out

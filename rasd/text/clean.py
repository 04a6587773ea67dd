"""Article cleaning: boilerplate lines out (rules in rasd/data/boilerplate.yaml), characters cleaned.

The result is the *cleaned text* stored in the warehouse; evidence offsets refer to it.
Paragraph breaks are kept (one blank line between paragraphs).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from rasd.text.normalize import clean_chars, fold

KINDS = ("line", "caption_marker", "repeated_caption", "repeated_line", "heading_next", "block")


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    pattern: re.Pattern
    stop_words: int = 25
    outlet: str | None = None


def _rule(d: dict, outlet: str | None = None) -> Rule:
    if d["kind"] not in KINDS:
        raise ValueError(f"boilerplate rule {d['id']}: unknown kind {d['kind']!r}")
    return Rule(d["id"], d["kind"], re.compile(d["pattern"]), int(d.get("stop_words", 25)), outlet)


@lru_cache(maxsize=1)
def load_boilerplate() -> dict:
    return yaml.safe_load(resources.files("rasd.data").joinpath("boilerplate.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=64)
def rules_for(outlet_id: str | None) -> tuple[Rule, ...]:
    data = load_boilerplate()
    rules = [_rule(d) for d in data.get("generic") or ()]
    if outlet_id:
        rules += [_rule(d, outlet_id) for d in (data.get("outlets") or {}).get(outlet_id) or ()]
    # Outlet rules are more specific: try them first.
    return tuple(sorted(rules, key=lambda r: r.outlet is None))


def _outlet_id(outlet: str | None) -> str | None:
    if not outlet:
        return None
    from rasd.text.outlets import find_outlet

    o = find_outlet(outlet)
    return o.id if o else None


def _key(line: str) -> str:
    """Matching form of one line (same as rasd.text.normalize.normalize on cleaned text)."""
    return fold(line).strip()


def _match(rule: Rule, key: str) -> bool:
    if rule.kind == "caption_marker":
        return rule.pattern.match(key) is not None
    return rule.pattern.fullmatch(key) is not None


def remove_boilerplate(lines: list[str], rules: tuple[Rule, ...]) -> tuple[list[str], list[tuple[int, str]]]:
    """Drop boilerplate lines; return kept lines and (index, rule id) of every dropped line."""
    keys = [_key(ln) for ln in lines]
    drop: dict[int, str] = {}
    n = len(lines)

    def next_nonempty(i: int) -> int | None:
        j = i + 1
        while j < n and not keys[j]:
            j += 1
        return j if j < n else None

    def prev_kept(i: int) -> int | None:
        j = i - 1
        while j >= 0 and (not keys[j] or j in drop):
            j -= 1
        return j if j >= 0 else None

    i = 0
    while i < n:
        k = keys[i]
        if not k or i in drop:
            i += 1
            continue
        for r in rules:
            if r.kind == "repeated_caption":
                if r.pattern.fullmatch(k):
                    # The copy may follow directly or after a line already dropped ("icon").
                    p, j = prev_kept(i), next_nonempty(i)
                    if p is not None and keys[p] == k:
                        drop[i] = drop[p] = r.id
                        break
                    if j is not None and keys[j] == k:
                        drop[i] = drop[j] = r.id
                        break
                continue
            if r.kind == "repeated_line":
                p = prev_kept(i)
                if p is not None and keys[p] == k and r.pattern.fullmatch(k):
                    drop[i] = r.id
                    break
                continue
            if not _match(r, k):
                continue
            drop[i] = r.id
            if r.kind == "caption_marker":
                rest = r.pattern.sub("", k, count=1).strip()
                p = prev_kept(i)
                if p is not None and rest and keys[p] == rest:
                    drop[p] = r.id
            elif r.kind == "heading_next":
                j = next_nonempty(i)
                if j is not None and len(keys[j].split()) < r.stop_words:
                    drop[j] = r.id
            elif r.kind == "block":
                j = i + 1
                while j < n and (not keys[j] or len(keys[j].split()) < r.stop_words):
                    if keys[j]:
                        drop[j] = r.id
                    j += 1
            break
        i += 1
    kept = [ln for idx, ln in enumerate(lines) if idx not in drop]
    return kept, sorted(drop.items())


_LINE_SEPS = re.compile("[\u2028\u2029\u0085\x0b\x0c]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def clean_text(raw_text: str, outlet: str | None = None) -> str:
    """Remove boilerplate lines (generic + per-outlet rules) and clean characters; keep paragraphs."""
    text = clean_chars(_CONTROLS.sub("", _LINE_SEPS.sub("\n", raw_text)))
    lines = [ln.strip() for ln in text.split("\n")]
    rules = rules_for(_outlet_id(outlet))
    # Removing a line can make two copies of a caption adjacent: repeat until nothing changes.
    for _ in range(4):
        kept, dropped = remove_boilerplate(lines, rules)
        if not dropped:
            break
        lines = kept
    # Collapse runs of blank lines to one paragraph break.
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return clean_chars(out)

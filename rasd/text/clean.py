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


@lru_cache(maxsize=1024)
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


_PREFILTERS: dict[int, tuple[tuple[Rule, ...], tuple[re.Pattern | None, tuple[Rule, ...]]]] = {}


def _prefilter(rules: tuple[Rule, ...]) -> tuple[re.Pattern | None, tuple[Rule, ...]]:
    """Cached ``_build_prefilter`` (by identity: hashing the rules costs more than the lookup saves)."""
    hit = _PREFILTERS.get(id(rules))
    if hit is not None and hit[0] is rules:
        return hit[1]
    if len(_PREFILTERS) > 256:
        _PREFILTERS.clear()
    out = _PREFILTERS[id(rules)] = (rules, _build_prefilter(rules))
    return out[1]


def _build_prefilter(rules: tuple[Rule, ...]) -> tuple[re.Pattern | None, tuple[Rule, ...]]:
    """(one regex, repeated_line rules): a line the regex does not fullmatch matches no rule of another kind.

    The regex is the alternation of the rules' patterns (a caption marker as a prefix), so one call
    replaces a loop over every rule for the many lines that are not boilerplate. None when the patterns
    cannot be combined (numbered groups or global flags): every rule is then tried, as before.
    """
    rep = tuple(r for r in rules if r.kind == "repeated_line")
    alts = []
    for r in rules:
        if r.kind == "repeated_line":
            continue
        if r.pattern.groups or r.pattern.flags & ~re.UNICODE:
            return None, rep
        alts.append(f"(?:{r.pattern.pattern})" + (r"[\s\S]*" if r.kind == "caption_marker" else ""))
    if not alts:
        return re.compile(r"(?!)"), rep
    try:
        return re.compile("|".join(alts)), rep
    except re.error:
        return None, rep


def _remove(lines: list[str], keys: list[str], rules: tuple[Rule, ...],
            memo: dict[str, bool] | None = None) -> tuple[list[int], list[tuple[int, str]]]:
    """Indices of the kept lines, and (index, rule id) of every dropped line; ``keys[i]`` is ``_key(lines[i])``."""
    drop: dict[int, str] = {}
    n = len(lines)
    combined, rep_rules = _prefilter(rules)
    if memo is None:
        memo = {}
    if combined is not None:
        hits = []
        for k in keys:
            hit = memo.get(k)
            if hit is None:
                hit = memo[k] = bool(k) and combined.fullmatch(k) is not None
            hits.append(hit)
        if not any(hits):
            # Only a repeated_line rule could act, and only on a line equal to the previous non-empty one.
            nonempty = [k for k in keys if k]
            if not rep_rules or all(a != b for a, b in zip(nonempty, nonempty[1:])):
                return list(range(n)), []

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
        # A line the prefilter rejects matches no rule but the repeated_line ones.
        candidates = rules if combined is None or hits[i] else rep_rules
        for r in candidates:
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
    if not drop:
        return list(range(n)), []
    return [idx for idx in range(n) if idx not in drop], sorted(drop.items())


def remove_boilerplate(lines: list[str], rules: tuple[Rule, ...]) -> tuple[list[str], list[tuple[int, str]]]:
    """Drop boilerplate lines; return kept lines and (index, rule id) of every dropped line."""
    kept, dropped = _remove(lines, [_key(ln) for ln in lines], rules)
    return [lines[i] for i in kept], dropped


_LINE_SEPS = re.compile("[\u2028\u2029\u0085\x0b\x0c]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_BLANK_RUNS = re.compile(r"\n{3,}")


@lru_cache(maxsize=2)
def _prepare(raw_text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Lines of the character-cleaned text, and their matching keys (``_key`` of each line).

    ``fold`` maps each character to one character and never to or from whitespace, so folding the
    whole text once and splitting it gives the same keys as folding every line. Cached: an article
    is cleaned twice when its outlet has rules of its own.
    """
    text = clean_chars(_CONTROLS.sub("", _LINE_SEPS.sub("\n", raw_text)))
    lines = tuple([ln.strip() for ln in text.split("\n")])
    keys = tuple([k.strip() for k in fold(text).split("\n")])
    return lines, keys


def _rules_key(outlet_id: str | None) -> str | None:
    """The outlet whose rules apply: None when the outlet has no rules of its own (its rules are the generic ones)."""
    return outlet_id if outlet_id and (load_boilerplate().get("outlets") or {}).get(outlet_id) else None


@lru_cache(maxsize=4)
def _clean(raw_text: str, rules_key: str | None) -> str:
    rules = rules_for(rules_key)
    lines, keys = _prepare(raw_text)
    lines, keys = list(lines), list(keys)
    memo: dict[str, bool] = {}
    kept = lines
    # Removing a line can make two copies of a caption adjacent: repeat until nothing changes.
    for _ in range(4):
        idx, dropped = _remove(lines, keys, rules, memo)
        kept = [lines[i] for i in idx]
        if not dropped:
            break
        lines, keys = kept, [keys[i] for i in idx]
    # Collapse runs of blank lines to one paragraph break.
    out = _BLANK_RUNS.sub("\n\n", "\n".join(kept)).strip()
    return clean_chars(out)


def clean_text(raw_text: str, outlet: str | None = None) -> str:
    """Remove boilerplate lines (generic + per-outlet rules) and clean characters; keep paragraphs."""
    # An outlet without rules of its own has the generic rules: the cached result is reused.
    return _clean(raw_text, _rules_key(_outlet_id(outlet)))

"""Recognise an article's outlet from its URL or its own text (datelines, correspondents).

Only authorship contexts count: a dateline ("درعا – نورث برس"), a sign-off or masthead
line, "مراسل عنب بلدي", "قال ... لعنب بلدي", "تحفظت عنب بلدي على اسمه". A plain mention
("وفق موقع تجمع احرار حوران") is the article citing another outlet and is ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from urllib.parse import urlsplit

import yaml

from rasd.text.normalize import clean_chars, fold, normalize


@dataclass(frozen=True)
class Outlet:
    id: str
    name: str
    forms: tuple[str, ...]
    domains: tuple[str, ...]


@lru_cache(maxsize=1)
def load_outlets() -> tuple[Outlet, ...]:
    data = yaml.safe_load(resources.files("rasd.data").joinpath("outlets.yaml").read_text(encoding="utf-8"))
    return tuple(
        Outlet(o["id"], o["name"], tuple(o.get("forms") or ()), tuple(d.lower() for d in o.get("domains") or ()))
        for o in data["outlets"]
    )


@lru_cache(maxsize=1)
def _aliases() -> dict[str, Outlet]:
    out: dict[str, Outlet] = {}
    for o in load_outlets():
        for key in (o.id, o.name, *o.forms, *o.domains):
            out.setdefault(normalize(key), o)
    return out


@lru_cache(maxsize=4096)  # metadata names repeat from article to article
def find_outlet(name_or_id: str | None) -> Outlet | None:
    """The known outlet for an id, English name, Arabic form or domain (None if unknown).

    Metadata names such as "North Press (نورث برس)" or "Enab Baladi" resolve too.
    """
    if not name_or_id:
        return None
    key = normalize(name_or_id)
    al = _aliases()
    if key in al:
        return al[key]
    # "Name (extra)" / "Name (domain)": try each part.
    for part in re.split(r"[()]", key):
        part = part.strip()
        if part in al:
            return al[part]
    return None


def outlet_from_url(url: str | None) -> Outlet | None:
    if not url:
        return None
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return None
    if not host:
        return None
    for o in load_outlets():
        for d in o.domains:
            if host == d or host.endswith("." + d):
                return o
    return None


# Words that may stand between an authorship cue and the outlet's name.
_KIND = r"(?:(?:موقع|شبكه|وكاله|قناه|صحيفه|جريده|مجله|اذاعه|راديو|تلفزيون)\s+)?"
_Q = r"[\"']?\s*"
_DASH = re.compile(r"\s[-:|]\s|[-:]\s*$|^\s*[-:]")


def _form_re(form: str) -> str:
    return r"\s+".join(re.escape(w) for w in form.split())


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[Outlet, re.Pattern, re.Pattern], ...]:
    out = []
    for o in load_outlets():
        alts = []
        told = []
        for f in o.forms:
            fr = _form_re(f)
            alts.append(fr)
            if f.startswith("ال"):
                # "ل" + "المرصد" is written "للمرصد".
                told.append("ل" + _form_re(f[1:]))
        form = "(?:" + "|".join(alts) + ")"
        lil_alt = rf"|(?:{'|'.join(told)})" if told else ""
        cue = re.compile(
            r"(?<!\w)(?:"
            # "مراسل عنب بلدي", "مراسلة نورث برس"
            rf"مراسل(?:ه|و|ي|ون|ين)?\s+{_KIND}{_Q}{form}"
            # "قال ... لعنب بلدي", "لـ موقع تلفزيون سوريا" (tatweel already dropped)
            rf"|ل\s*{_KIND}{_Q}(?:{'|'.join(alts)})"
            + lil_alt +
            # "تحفظت عنب بلدي على اسمه"
            rf"|تحفظ(?:ت)?\s+{_Q}{form}"
            r")(?!\w)"
        ) if alts else None
        bare = re.compile(rf"(?<!\w){form}(?!\w)") if alts else None
        if cue is not None:
            out.append((o, cue, bare))
    return tuple(out)


def _needle(form: str) -> str:
    """A substring of every text that the cue or bare pattern of ``form`` matches: the longest of its words,
    the first one without its first letter when the form starts with "ال" ("للمرصد" is "ل" + "لمرصد")."""
    words = form.split()
    if not words:
        return ""
    words[0] = words[0][1:] if form.startswith("ال") else words[0]
    return max(words, key=len)


@lru_cache(maxsize=1)
def _needle_index() -> tuple[tuple[frozenset[str], ...], tuple[str, ...]]:
    """(needles of each entry of ``_patterns()``, all needles)."""
    per_entry = tuple(frozenset(_needle(f) for f in o.forms) for o, _, _ in _patterns())
    return per_entry, tuple(sorted(set().union(*per_entry)))


def _candidates(folded: str):
    """The (outlet, cue, bare) entries whose forms may occur in ``folded`` (no other can match it)."""
    per_entry, needles = _needle_index()
    found = {n for n in needles if n in folded}
    if not found:
        return
    for entry, ns in zip(_patterns(), per_entry):
        if not ns.isdisjoint(found):
            yield entry


def _names_outlet(line: str, bare: re.Pattern) -> bool:
    """A short line that is an outlet's name, a dateline ("درعا – نورث برس") or a byline."""
    if len(line.split()) > 8 or not bare.search(line):
        return False
    rest = bare.sub("", line).strip(" .:-|\"'")
    return not rest or bool(_DASH.search(line)) or len(rest.split()) <= 1


def is_masthead(line: str) -> bool:
    """True for a line that only names an outlet (masthead, dateline, sign-off), not a headline."""
    folded = fold(clean_chars(line)).strip()
    if len(folded.split()) > 8:
        return False  # too long for any outlet (see _names_outlet)
    return any(_names_outlet(folded, bare) for _, _, bare in _candidates(folded))


def outlet_from_text(text: str, head_lines: int = 8) -> Outlet | None:
    """The outlet that the text presents as its author, or None."""
    folded = fold(clean_chars(text))
    lines = [ln.strip() for ln in folded.split("\n") if ln.strip()]
    # Only short lines can name an outlet (see _names_outlet).
    edge = [ln for ln in lines[:head_lines] + lines[-2:] if len(ln.split()) <= 8]
    scores: dict[str, float] = {}
    by_id = {}
    for o, cue, bare in _candidates(folded):
        s = 3.0 * len(cue.findall(folded))
        # Datelines and mastheads near the top, sign-offs at the end: short lines naming the outlet.
        if any(_names_outlet(ln, bare) for ln in edge):
            s += 10.0
        if s:
            scores[o.id] = s
            by_id[o.id] = o
    if not scores:
        return None
    best = max(sorted(scores), key=lambda k: scores[k])
    return by_id[best]


def recognise_outlet(text: str, url: str | None = None) -> Outlet | None:
    """URL host first (the most reliable), then authorship cues in the text."""
    return outlet_from_url(url) or outlet_from_text(text)

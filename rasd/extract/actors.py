"""Actor mentions in folded Arabic text, from the lexicon in ``rasd/data/actors.yaml``.

One Aho-Corasick automaton over every alias; a match must sit on word boundaries, after at most the
proclitics و/ف + ب/ل/ك and the article ال (ل + ال = لل). Aliases whose meaning changed when the Assad
government fell (2024-12-08: "قوات النظام", "الجيش السوري", "قوى الأمن الداخلي") are resolved with the
article's publication date.
"""
from __future__ import annotations

import datetime as dt
import functools
import operator
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rasd.extract.common import PROCLITICS, compiled_twin, fast_init, new_automaton, word_hits
from rasd.text.normalize import normalize

ACTORS_YAML = Path(__file__).resolve().parent.parent / "data" / "actors.yaml"
_MAX_DAYS = 1024  # publication days whose alias readings are kept (each: at most one entry per alias); 64-65536

@dataclass(frozen=True)
class Actor:
    actor_id: str
    name: str
    inter: int
    aliases_ar: tuple[str, ...]
    valid_from: dt.date | None = None     # inclusive
    valid_to: dt.date | None = None       # exclusive
    undated: bool = False                 # the reading used when the article has no date
    notes: str = ""

    def valid_on(self, day: dt.date | None) -> bool:
        if day is None:
            return True
        return (self.valid_from is None or day >= self.valid_from) and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class ActorMention:
    start: int
    end: int
    text: str
    actor_id: str
    name: str
    inter: int
    alternatives: tuple[str, ...] = field(default=())   # other actor ids the alias means at other dates


class ActorLexicon:
    """All actors and one automaton over their aliases. Build once per process with ``load()``."""

    def __init__(self, actors: list[Actor]):
        self.actors = {a.actor_id: a for a in actors}
        by_alias: dict[str, list[Actor]] = defaultdict(list)
        for a in actors:
            for alias in a.aliases_ar:
                if a not in by_alias[alias]:
                    by_alias[alias].append(a)
        self.by_alias = dict(by_alias)
        self.automaton = new_automaton()
        for alias, acts in self.by_alias.items():
            self.automaton.add_word(alias, (alias, False, tuple(acts)))
        for alias, acts in self.by_alias.items():
            # an alias with the article after ل loses the article's alef: "للنظام" = ل + "النظام"
            bare = alias[2:]
            if alias.startswith("ال") and len(bare) >= 3 and bare not in self.by_alias:
                self.automaton.add_word(bare, (bare, True, tuple(acts)))
        self.automaton.make_automaton()
        # day -> {id(acts): the reading of those actors on that day}: the same few dates recur across a
        # batch, and choosing a reading is most of the cost of an alias hit. Cleared past _MAX_DAYS days.
        self._readings: dict[dt.date | None, dict[int, Actor | None]] = {}

    def readings_on(self, day: dt.date | None) -> dict[int, Actor | None]:
        """The cache of readings for ``day`` (keyed by id() of an automaton value's actors tuple)."""
        r = self._readings.get(day)
        if r is None:
            if len(self._readings) >= _MAX_DAYS:
                self._readings.clear()
            r = self._readings[day] = {}
        return r

    def get(self, actor_id: str) -> Actor | None:
        return self.actors.get(actor_id)

    @classmethod
    def load(cls) -> "ActorLexicon":
        return _load_lexicon()


def _date(v) -> dt.date | None:
    if v in (None, ""):
        return None
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))


@functools.lru_cache(maxsize=1)
def _load_lexicon() -> ActorLexicon:
    data = yaml.load(ACTORS_YAML.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    actors = []
    for e in data["actors"]:
        actors.append(Actor(
            actor_id=e["id"], name=e["name"], inter=int(e["inter"]),
            aliases_ar=tuple(normalize(a) for a in e["aliases_ar"]),
            valid_from=_date(e.get("valid_from")), valid_to=_date(e.get("valid_to")),
            undated=bool(e.get("undated")), notes=str(e.get("notes", "")).strip()))
    return ActorLexicon(actors)


def _choose(acts: tuple[Actor, ...], published_at: dt.date | None) -> Actor | None:
    if published_at is None:
        return next((a for a in acts if a.undated), None) or next(
            (a for a in acts if a.valid_from is None and a.valid_to is None), None) or acts[0]
    return next((a for a in acts if a.valid_on(published_at)), None)


def find_actors(folded: str, lex: ActorLexicon, published_at: dt.date | None) -> list[ActorMention]:
    """Actor mentions in ``folded`` (= fold(cleaned text)): sorted, non-overlapping, longest match first."""
    if isinstance(published_at, dt.datetime):
        published_at = published_at.date()
    found = []
    chosen = lex.readings_on(published_at)  # id(acts) -> reading at published_at (acts live in the automaton)
    procl = PROCLITICS
    for start, end, prefix, (key, stripped, acts) in word_hits(lex.automaton, folded, _key_len, procl):
        if stripped != procl[prefix]:
            continue  # the article belongs to the stripped form only ("للنظام"); "الداعش" is not "داعش"
        k = id(acts)
        if k in chosen:
            actor = chosen[k]
        else:
            actor = chosen[k] = _choose(acts, published_at)
        if actor is None:
            continue
        # sort key: longest match (proclitics included) first, then leftmost
        found.append(((start - end - len(prefix)) * _POS_LIMIT + start, start, end, len(prefix), actor, acts))
    found.sort(key=_first)
    taken = bytearray(len(folded) + 1)
    out = []
    new = _new_mention
    for _, start, end, plen, actor, acts in found:
        s = start - plen
        if taken.find(1, s, end) >= 0:
            continue
        taken[s:end] = b"\x01" * (end - s)
        aid = actor.actor_id
        out.append(new((start, end, folded[start:end], aid, actor.name, actor.inter,
                        tuple(a.actor_id for a in acts if a.actor_id != aid))))
    out.sort(key=_start)
    return out


_POS_LIMIT = 1 << 40                  # above any text offset: (length, start) packed into one sort key
_first = operator.itemgetter(0)
_start = operator.attrgetter("start")


_new_mention = fast_init(ActorMention)


def _key_len(value) -> int:
    return len(value[0])


# The compiled build of this module (setup.py, Cython pure-Python mode), when built from this very source,
# replaces it for every importer (rasd.extract.common.compiled_twin).
_twin = compiled_twin(__name__, __file__)
if _twin is not None:
    sys.modules[__name__] = _twin

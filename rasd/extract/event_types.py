"""Event-type triggers: a lexicon kept as data (``rasd/data/event_types.yaml``) matched with Aho-Corasick.

``TypeLexicon.load()`` reads the YAML once; ``lex.scan(folded)`` returns every trigger, negative and cue word
found in the folded text (offsets are valid in the cleaned text). ``classify`` turns the hits of one sentence
into ACLED (event_type, sub_event_type) the way an ACLED coder would: the weapon decides the sub-event type;
a killing without a weapon word, or an assault, is Battles/Armed clash when the victims are armed (soldiers,
security members, fighters) and Violence against civilians/Attack otherwise.
"""
from __future__ import annotations

import functools
import operator
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import yaml

from rasd.extract.common import compiled_twin, new_automaton, word_hits
from rasd.schema import ACLED_TAXONOMY

DATA = Path(__file__).resolve().parent.parent / "data" / "event_types.yaml"

# Proclitics written before a trigger: conjunctions و/ف, prepositions ب/ل/ك, the article ال (and لل).
_PREFIXES = frozenset(
    p1 + p2 + art
    for p1 in ("", "و", "ف")
    for p2 in ("", "ب", "ل", "ك")
    for art in ("", "ال")
) | {"لل", "ولل", "فلل", "س", "وس"}

VIOLENT_KINDS = ("method", "assault", "outcome", "abduction")




def _is_letter(ch: str) -> bool:
    return ch.isalpha()


class Hit(NamedTuple):
    start: int
    end: int
    stem: str
    cat: str  # "trigger" | "negative" | "stop" | cue name
    group: int = -1  # index into TypeLexicon.groups for triggers


@dataclass(frozen=True)
class Group:
    event_type: str
    sub_event_type: str
    kind: str
    prio: int
    note: str


class TypeLexicon:
    """Trigger groups, negatives and cue lists, compiled into one Aho-Corasick automaton."""

    def __init__(self, doc: dict):
        self.groups: list[Group] = []
        self.automaton = new_automaton()
        entries: dict[str, list[tuple[str, int]]] = {}
        for i, g in enumerate(doc.get("groups", [])):
            grp = Group(g["type"], g["sub"], g["kind"], int(g["prio"]), g.get("note", ""))
            if grp.sub_event_type not in ACLED_TAXONOMY.get(grp.event_type, ()):
                raise ValueError(f"not in the ACLED taxonomy: {grp}")
            self.groups.append(grp)
            for s in g["stems"]:
                whole = s.endswith("_")
                entries.setdefault(s.rstrip("_"), []).append(("trigger", i, whole))
        for s in doc.get("negatives", []):
            entries.setdefault(s, []).append(("negative", -1, False))
        for s in doc.get("stops", []):
            entries.setdefault(s, []).append(("stop", -1, False))
        for cue, words in (doc.get("cues") or {}).items():
            for s in words:
                entries.setdefault(s, []).append((cue, -1, False))
        # Every clitic-prefixed form is its own pattern, so a match only needs one check: that the character
        # before it is not a letter (the match starts a word).
        for st, vals in entries.items():
            for pre in _PREFIXES:
                self.automaton.add_word(pre + st, (st, len(pre), tuple(vals)))
        self.automaton.make_automaton()
        self.stems = entries
        # Context words around mentions (origins, locators, clause openers …), used by rasd.extract.events.
        self.context: dict[str, tuple[str, ...]] = {
            k: tuple(v.get("words", [])) for k, v in (doc.get("context") or {}).items()}

    @classmethod
    def from_path(cls, path: Path = DATA) -> "TypeLexicon":
        return cls(yaml.safe_load(Path(path).read_text(encoding="utf-8")))

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def load() -> "TypeLexicon":
        return TypeLexicon.from_path(DATA)

    def scan(self, folded: str) -> list[Hit]:
        """All stems that start a word (after optional clitics); the longest match wins at one start."""
        n = len(folded)
        isalpha = str.isalpha
        best: dict[tuple[int, str], Hit] = {}
        get = best.get
        new_hit = _new_hit
        # w: the start of the word (clitics included), never after a letter
        for w, end, _, (stem, lead, vals) in word_hits(self.automaton, folded, _key_len, None, False):
            ls = len(stem)
            start = w + lead
            runs_on = None
            for cat, gi, whole in vals:
                if whole:
                    if runs_on is None:
                        runs_on = end < n and isalpha(folded[end])
                    if runs_on:
                        continue
                key = (start, cat)
                prev = get(key)
                if prev is None or ls > prev.end - prev.start:
                    best[key] = new_hit((start, end, stem, cat, gi))
        if not best:
            return []
        hits = best.values()
        stops = [h for h in hits if h.cat == "stop"]
        if stops:
            hits = [h for h in hits if h.cat != "stop" and not any(
                st.start <= h.start and h.end <= st.end for st in stops)]
        # by start, then longest first (two stable C-keyed sorts = one sort by (start, -end))
        out = sorted(hits, key=_END, reverse=True)
        out.sort(key=_START)
        # Drop hits nested inside a longer hit of the same category ("هجوم" inside "هجوم انتحاري").
        res: list[Hit] = []
        last_end: dict[str, int] = {}
        le = last_end.get
        for h in out:
            if h.start < le(h.cat, -1):
                continue
            res.append(h)
            last_end[h.cat] = h.end
        return res


_new_hit = functools.partial(tuple.__new__, Hit)  # Hit(*values) without the Python-level __new__
_START, _END = operator.itemgetter(0), operator.itemgetter(1)


def _key_len(value) -> int:
    stem, lead, _ = value
    return lead + len(stem)


def group_of(lex: TypeLexicon, h: Hit) -> Group:
    return lex.groups[h.group]


@dataclass
class TypeDecision:
    event_type: str
    sub_event_type: str
    kind: str
    trigger: Hit
    strength: float  # 0..1: a weapon or fighting word is strong, a bare casualty word weak


def classify(
    lex: TypeLexicon,
    hits: list[Hit],
    *,
    armed_victims: bool,
    state_actor: bool,
    has_casualties: bool,
) -> list[TypeDecision]:
    """Event types reported by one sentence, main one first (empty when it reports none).

    ``hits`` are the sentence's trigger hits (negatives already applied by the caller).
    ``armed_victims``: the victims are soldiers, security members or fighters.
    ``state_actor``: a state force is the acting party (takeover -> Government regains territory).
    """
    trig = [h for h in hits if h.cat == "trigger"]
    if not trig:
        return []
    by_kind: dict[str, list[Hit]] = {}
    for h in trig:
        by_kind.setdefault(lex.groups[h.group].kind, []).append(h)

    def top(kind: str) -> Hit | None:
        hs = by_kind.get(kind)
        if not hs:
            return None
        return max(hs, key=lambda h: (lex.groups[h.group].prio, -h.start))

    def dec(h: Hit, et=None, sub=None, strength=0.8) -> TypeDecision:
        g = lex.groups[h.group]
        return TypeDecision(et or g.event_type, sub or g.sub_event_type, g.kind, h, strength)

    out: list[TypeDecision] = []
    method = top("method")
    protest, riot = top("protest"), top("riot")
    # Protesters who clash, attack or are hurt riot; the shelling they protest against does not make a riot.
    clash = [h for h in by_kind.get("method", []) if lex.groups[h.group].event_type == "Battles"]
    violent = clash or top("assault") or (top("outcome") if has_casualties or _attack_word(lex, by_kind) else None)
    if (protest or riot) and (riot or violent):
        return [dec(riot or protest, "Riots", "Violent demonstration", 0.7)]
    if protest:
        return [dec(protest, strength=0.7)]
    disrupt = top("disrupt")
    if disrupt and not has_casualties:
        return [dec(disrupt, strength=0.7)]  # an IED defused: the weapon word is not an explosion
    if method:
        g = lex.groups[method.group]
        if g.sub_event_type == "Non-state actor overtakes territory" and state_actor:
            out.append(dec(method, "Battles", "Government regains territory", 0.8))
        else:
            out.append(dec(method, strength=0.9))
        # A clash and shelling/an air strike in one sentence are two events (ACLED codes each).
        if g.event_type == "Battles":
            other = [h for h in by_kind.get("method", []) if lex.groups[h.group].event_type == "Explosions/Remote violence"
                     and lex.groups[h.group].sub_event_type in ("Shelling/artillery/missile attack", "Air/drone strike")]
            if other:
                o = max(other, key=lambda h: lex.groups[h.group].prio)
                out.append(dec(o, strength=0.7))
        elif g.sub_event_type in ("Shelling/artillery/missile attack", "Air/drone strike"):
            clash = [h for h in by_kind.get("method", []) if lex.groups[h.group].sub_event_type == "Armed clash"]
            if clash:
                out.append(dec(clash[0], strength=0.7))
        return out
    assault = top("assault")
    if assault:
        if armed_victims:
            return [dec(assault, "Battles", "Armed clash", 0.8)]
        return [dec(assault, "Violence against civilians", "Attack", 0.7)]
    abduction = top("abduction")
    outcome = top("outcome")
    # A casualty word reports violence when it comes with a figure or a killing method; a bare "توفي" does not.
    if outcome and (has_casualties or _attack_word(lex, by_kind)):
        if armed_victims:
            return [dec(outcome, "Battles", "Armed clash", 0.6)]
        return [dec(outcome, "Violence against civilians", "Attack", 0.6)]
    if abduction:
        if armed_victims:
            return [dec(abduction, "Battles", "Armed clash", 0.6)]
        return [dec(abduction, strength=0.7)]
    for kind in ("arrest", "agreement", "disrupt", "strategic"):
        h = top(kind)
        if h:
            return [dec(h, strength=0.6 if kind != "strategic" else 0.5)]
    return []


def _attack_word(lex: TypeLexicon, by_kind: dict) -> bool:
    """A killing-method word (assassination, gunfire, execution) rather than a bare casualty noun."""
    return any(lex.groups[h.group].prio >= 40 for h in by_kind.get("outcome", []))


# The compiled build of this module (setup.py, Cython pure-Python mode), when built from this very source,
# replaces it for every importer (rasd.extract.common.compiled_twin).
_twin = compiled_twin(__name__, __file__)
if _twin is not None:
    sys.modules[__name__] = _twin

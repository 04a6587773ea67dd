"""The event assembler: one cleaned article in, the events it reports out (rows of ``rasd.schema.EVENTS``).

It composes the mention finders (dates, places, actors, casualties, event-type triggers) the way an ACLED
coder reads an article (``../shared/eval/ANNOTATION.md``). Every word list it reads context with lives in
``rasd/data/event_types.yaml`` (``context:``); only the shape of the patterns is code.

Units. Sentences, cut further at contrastive or additive clauses ("، بينما", "في حين", "بالإضافة إلى",
"وسبق أن") when both sides report something, and where a run-on sentence moves to another day.
Headline-like lines (the first line or a short line with no full stop and no date) only give context.

Which units are events. A unit with an event trigger (or a casualty figure) is a candidate, unless it is a
plan or threat, a statistic ("وثق المرصد مقتل 37 … منذ مطلع العام"), history older than
``max_event_age_days`` or dated by a bare past year (unless it has its own day and a figure), background told
without a date ("وسبق أن"), an ongoing state with no start day ("حظر التجوال مستمر"), a failed agreement,
or a non-conflict context (graduation, fair, earthquake, natural death …; only weapon words survive there).
Triggers right after "بعد/عقب/على خلفية" are background to the unit's own event.

Date. The unit's own date (the one after a verb of occurrence first; not a "منذ …" start, not a future
date); else the paragraph's date; else the article's first event date; else the publication date with
week precision (the coder's convention when no day is given); with no publication date, the text's first
explicit day (and relative dates are read against the text's latest explicit day). Undated events are
not emitted.

Place. The most specific place of the unit that is not an origin ("من أبناء طفس"), a dateline
("درعا – نورث برس"), a news outlet ("شبكة أخبار السويداء", "درعا 24"), a locator ("جاسم شمالي درعا",
"التابعة لبلدة …") or a weak match; "بريف حلب" read as a city becomes its countryside. Else the place
carried from the last event of the paragraph (only its governorate when the unit has another day, or
when the excerpt is cut mid-sentence); else the headline/dateline place. Several sites hit in one unit
(introduced by مدينة/بلدة/قرية/حي… or joined by و) are one event each; a toll given for several sites
is kept once at their common district/governorate, each site getting an event without it.

Casualties. The unit's figures by kind: parts summed, subsets ("بينهم 4 أطفال") ignored, a stated total
kept over its parts, an attacker who blew himself up added, "دون إصابات" read as zero.

Type. ``rasd.extract.event_types.classify``: the weapon decides; a killing with no weapon word or an
assault is Battles/Armed clash when the victims are armed (near the casualty words, not the attacker's
side), Violence against civilians/Attack otherwise; takeovers by state forces are Government regains
territory.

Merging, within the article. Same type, day and place (or two area-level places of one governorate);
a casualty-only follow-up; a definite trigger ("الانفجار", "الهجوم", "القصف") referring back to the last
violent event; an undated report of the same type in the same governorate; an IED and a suicide blast, or
a suicide blast and the assault after it. Figures: equal figures are the same people, a cumulative toll
replaces, other victims ("كما", "في المقابل", "آخرين", a body found) add, a breakdown of a total stated
before it does not, else the larger stands. A summary at governorate/region level is dropped when finer
events of the same day and type account for its figures (a kind of figure they lack passes to a single
finer event).

Confidence = 0.3 + 0.25 × trigger strength + 0.15 (own place) + 0.15 (own date) + 0.1 (a figure)
+ 0.05 (an actor), capped at 1.
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import hashlib
import logging
import re
import sys
from dataclasses import dataclass, field

from rasd.extract.common import compiled_twin
from rasd.extract.event_types import TypeLexicon, classify
from rasd.text.normalize import fold

log = logging.getLogger("rasd.extract.events")  # the same name when the compiled twin runs

_QUAL_RANK = {"exact": 0, "about": 1, "at_least": 2, "more_than": 3, "vague": 4}
_PLACE_RANK = {"neighbourhood": 0, "village": 1, "town": 1, "city": 2, "camp": 1, "site": 1, "landmark": 1,
               "subdistrict": 4, "district": 5, "region": 6, "governorate": 7, "country": 9}
_SENT_END = re.compile(r"(?:[^.]\.|[؟?:])[\"”»)\]]*\s*$")
_CUES = {"settlement", "neighbourhood", "subdistrict", "area"}
_OUTLET_AFTER_RE = re.compile(r"\s?\d{1,3}(?!\d)(?!\s*(?:كم|كيلو|متر|شخص|قتيل|عنصر))")
_SELF_BLAST_RE = re.compile(r'(?:^|\s)و?فجر\s+(?:[\w\u0621-\u064A"]+\s+){1,8}?نفسه(?![\w\u0621-\u064A])')
_DEFINITE_RE = re.compile(r"(?:^|[^\w])[وفبل]{0,2}(?:ال|لل)$")
_MAXPOS = 1 << 62  # re/str endpos meaning "to the end"


# --------------------------------------------------------------------------------------------- patterns
def _alt(words) -> str:
    """Alternation of context words from the lexicon (longest first; a space matches any run of spaces)."""
    ws = sorted({w for w in words if w}, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ws) + ")"


class _Gated:
    """A context pattern behind a cheap necessary condition: every match holds one of ``need`` (the longest
    space-free piece of one of its required words, or a literal it always contains), so a text holding none
    of them has no match and the regex is not run. Same results as the pattern itself."""

    __slots__ = ("rx", "need", "pattern")

    def __init__(self, rx: re.Pattern, need):
        self.rx = rx
        self.pattern = rx.pattern
        self.need = tuple(sorted(set(need)))

    def _absent(self, text: str, pos: int, endpos: int) -> bool:
        for w in self.need:
            if text.find(w, pos, endpos) >= 0:
                return False
        return True

    def search(self, text: str, pos: int = 0, endpos: int = _MAXPOS):
        if self._absent(text, pos, endpos):
            return None
        return self.rx.search(text, pos, endpos)

    def match(self, text: str, pos: int = 0, endpos: int = _MAXPOS):
        if self._absent(text, pos, endpos):
            return None
        return self.rx.match(text, pos, endpos)

    def findall(self, text: str, pos: int = 0, endpos: int = _MAXPOS):
        if self._absent(text, pos, endpos):
            return []
        return self.rx.findall(text, pos, endpos)

    def finditer(self, text: str, pos: int = 0, endpos: int = _MAXPOS):
        if self._absent(text, pos, endpos):
            return iter(())
        return self.rx.finditer(text, pos, endpos)


def _pieces(*word_lists) -> list[str]:
    """The longest space-free piece of each word: a match of the word holds it literally."""
    return [max(w.split(), key=len) for ws in word_lists for w in ws if w and w.split()]


@functools.lru_cache(maxsize=4)
def _patterns(types: TypeLexicon) -> "_Rx":
    """The assembler's context patterns, built from the word lists in ``rasd/data/event_types.yaml``."""
    c = types.context
    w = r"[\w\u0621-\u064A]+"

    # Patterns searched over a whole sentence are gated; those read on a window of 6-25 characters before a
    # mention stay plain regexes (there the gate's own Python call costs more than the regex).
    def gated(pattern: str, *need_lists, need=None) -> _Gated:
        return _Gated(re.compile(pattern), need if need is not None else _pieces(*need_lists))

    return _Rx(
        background=re.compile(rf"(?:^|\s){_alt(c['background_before'])}\s+(?:{w}\s+)?[وفبلك]{{0,2}}(?:ال)?$"),
        join=re.compile(rf"^[\s،,]*(?:و|او)?\s*(?:في|ب|علي)?\s*{_alt(c['settlement_words'])}?\s*$"),
        institution=re.compile(rf"(?:^|\s)[وفبل]?{_alt(c['institution'])}\s+(?:ال\S+\s+)?$"),
        outlet_before=re.compile(rf"{_alt(c['outlet_before'])}\s+[\"']?(?:{_alt(c['outlet_before_mid'])}\s+)?[\"']?$"),
        origin=re.compile(rf"{_alt(c['origin'])}\s+(?:\S+\s+){{0,1}}$"),
        from_before=re.compile(rf"(?:^|\s){_alt(c['from_before'])}\s+{_alt(c['settlement_words'] + ('محافظه',))}?\s*$"),
        between=re.compile(rf"(?:^|\s){_alt(c['between'])}\s+{_alt(c['settlement_words'])}?\s*$"),
        direction=re.compile(rf"(?:{_alt(c['direction'])}\s+(?:{_alt(c['direction'])}\s+)?{_alt(c['settlement_words'])}?"
                             rf"|{_alt(c['locator'])}\s+ل\S*)\s*[\"']?\s*$"),
        subset=re.compile(rf"{_alt(c['subset'])}\s*(?:{w}\s*){{0,1}}$"),
        others=gated(rf"(?:^|\s|،)(?:{_alt(c['others'])}(?:\s|$)|{_alt(c['others_lead'])}[،,])",
                     c['others'], c['others_lead']),
        occur=re.compile(rf"{_alt(c['occurrence'])}\s+(?:{w}\s+)?$"),
        denied=gated(rf"(?:^|\s|،){_alt(c['denied_after'])}(?=\s|$|[،.])", c['denied_after']),
        denial=gated(rf"(?:^|\s){_alt(c['denial_before'])}\s+(?:{w}\s+){{0,2}}{_alt(c['denial_of'])}(?=\s|$)",
                     c['denial_before']),
        clause=re.compile(rf"(?:[،,]\s*|\s){_alt(c['clause'])}\s"),
        earlier=re.compile(rf"^[\s،,]*{_alt(c['earlier'])}\s"),
        since=re.compile(rf"(?:^|\s){_alt(c['since'])}\s*$"),
        land=re.compile(rf"{_alt(c['land'])}\s+[\"']?\s*$"),
        perp=re.compile(rf"{_alt(c['perpetrator_before'])}\s*[\"']?\s*[لب]?$"),
        rif=re.compile(rf"(?:^|\s){_alt(c['countryside'])}\s*[#\"]?\s*$"),
        # a year is "19xx" or "20xx": a text with neither has none
        year=gated(rf"{_alt(c['year_before'])}\s+(?:{w}\s+)?((?:19|20)\d\d)(?!\d)", need=("19", "20")),
    )


@functools.lru_cache(maxsize=1)
def _rx() -> "_Rx":
    return _patterns(TypeLexicon.load())


@dataclass(frozen=True)
class _Rx:
    background: re.Pattern
    join: re.Pattern
    outlet_before: re.Pattern
    institution: re.Pattern
    origin: re.Pattern
    from_before: re.Pattern
    between: re.Pattern
    direction: re.Pattern
    subset: re.Pattern
    others: re.Pattern
    occur: re.Pattern
    denial: re.Pattern
    denied: re.Pattern
    clause: re.Pattern
    earlier: re.Pattern
    since: re.Pattern
    land: re.Pattern
    perp: re.Pattern
    rif: re.Pattern
    year: re.Pattern


# --------------------------------------------------------------------------------------------- loading
@dataclass
class _Resources:
    gaz: object | None
    actors: object | None
    types: TypeLexicon
    find_dates: object | None
    find_places: object | None
    find_actors: object | None
    find_casualties: object | None
    split_sentences: object
    missing: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _resources() -> _Resources:
    missing = []

    def imp(mod, name):
        try:
            m = __import__(mod, fromlist=[name])
            return getattr(m, name)
        except Exception as e:  # a sibling module not there yet or broken: degrade, never raise
            missing.append(f"{mod}.{name}: {e.__class__.__name__}: {e}")
            return None

    find_dates = imp("rasd.extract.dates", "find_dates")
    find_places = imp("rasd.extract.places", "find_places")
    Gaz = imp("rasd.extract.places", "Gazetteer")
    find_actors = imp("rasd.extract.actors", "find_actors")
    Lex = imp("rasd.extract.actors", "ActorLexicon")
    find_cas = imp("rasd.extract.casualties", "find_casualties")
    split = imp("rasd.text.sentences", "split_sentences") or _split_fallback
    gaz = actors = None
    try:
        gaz = Gaz.load() if Gaz else None
    except Exception as e:
        missing.append(f"Gazetteer.load: {e!r}")
    try:
        actors = Lex.load() if Lex else None
    except Exception as e:
        missing.append(f"ActorLexicon.load: {e!r}")
    if missing:
        log.warning("event extraction degraded: %s", "; ".join(missing))
    return _Resources(gaz, actors, TypeLexicon.load(), find_dates, find_places if gaz else None,
                      find_actors if actors else None, find_cas, split, tuple(missing))


def _split_fallback(text: str) -> list[tuple[int, int]]:
    out = []
    for m in re.finditer(r"[^.!؟?\n]+[.!؟?]*", text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


# --------------------------------------------------------------------------------------------- data
@dataclass
class Fig:
    n: int | None
    qualifier: str
    cumulative: bool = False
    body: bool = False  # a body found ("عثر على جثة شاب"): a victim of its own, added to the event


@dataclass
class Cand:
    start: int
    end: int
    sent: int
    para: int
    event_type: str
    sub_event_type: str
    kind: str
    strength: float
    date: dt.date | None
    precision: str
    date_src: str  # own | para | anchor | published | none
    place: object | None
    place_src: str  # own | para | article | none
    loc_ar: str | None
    geo_precision: int | None
    actor1: str | None = None
    actor2: str | None = None
    figs: dict = field(default_factory=dict)  # kind -> Fig
    multi: bool = False  # one of several places hit in one sentence
    ftxt: str = ""  # folded text of the clause (for additive cues when merging)
    parts: dict = field(default_factory=dict)  # kind -> a smaller figure seen after the total (a possible part)
    anaphoric: bool = False  # the trigger is definite ("الهجوم", "الانفجار"): it refers to an event already told
    prio: int = 0


def _place_attr(p, name, default=None):
    return getattr(p, name, default) if p is not None else default


# --------------------------------------------------------------------------------------------- extractor
class Extractor:
    """Loads the lexicons and gazetteer once per process; ``extract(article)`` never raises."""

    def __init__(self, res: _Resources, max_age_days: int = 400):
        self.res = res
        self.max_age = max_age_days

    @classmethod
    def load(cls, settings=None) -> "Extractor":
        age = getattr(settings, "max_event_age_days", None) or 400
        return cls(_resources(), int(age))

    # ------------------------------------------------------------------ public
    def extract(self, article: dict) -> list[dict]:
        try:
            lang = (article.get("language") or "ar")
            if lang != "ar":
                return []
            text = article.get("text") or ""
            if not isinstance(text, str) or not text.strip():
                return []
            cands = self._candidates(article, text)
            return self._rows(article, text, cands)
        except Exception:  # the assembler must never take a batch down
            key = article.get("doc_key") or article.get("article_id") if isinstance(article, dict) else type(article)
            log.exception("event extraction failed for %s", key)
            return []

    # ------------------------------------------------------------------ mentions
    def _mentions(self, folded: str, published: dt.date | None):
        r = self.res

        def safe(fn, *a, **k):
            if fn is None:
                return []
            try:
                return list(fn(*a, **k) or [])
            except Exception:
                log.exception("mention finder %s failed", getattr(fn, "__name__", fn))
                return []

        self_ref = None  # the text's own latest explicit day, when there is no publication date
        if published is not None or r.find_dates is None:
            dates = safe(r.find_dates, folded, published)
        else:
            # No publication date: read the article against its own latest explicit day ("الجمعة 14 من
            # تشرين الأول" -> the latest year that day was a Friday), so that "صباح الجمعة"/"أمس" resolve.
            today = dt.date.today()
            dates = safe(r.find_dates, folded, None, ref=today)
            explicit = [m.date for m in dates if m.precision == "day" and m.kind in ("absolute", "weekday")
                        and m.date <= today]
            if explicit:
                dates = safe(r.find_dates, folded, max(explicit))
                self_ref = max(explicit)
        places = []
        if r.find_places is not None:
            places = safe(r.find_places, folded, r.gaz)
        actors = safe(r.find_actors, folded, r.actors, published) if r.find_actors else []
        cas = safe(r.find_casualties, folded)
        hits = r.types.scan(folded)
        key = lambda m: m.start  # noqa: E731
        return (sorted(dates, key=key), sorted(places, key=key), sorted(actors, key=key),
                sorted(cas, key=key), hits, self_ref)

    # ------------------------------------------------------------------ candidates
    def _candidates(self, article: dict, text: str) -> list[Cand]:
        rx = _rx()
        folded = fold(text)
        published = article.get("published_at")
        if isinstance(published, dt.datetime):
            published = published.date()
        if isinstance(published, str):
            try:
                published = dt.date.fromisoformat(published[:10])
            except ValueError:
                published = None
        if not isinstance(published, dt.date):
            published = None
        # Hashtag marks ("بريف #الرقة") are not part of words; a space keeps every offset.
        dates, places, actors, cas, hits, self_ref = self._mentions(folded.replace("#", " ") if "#" in folded else folded,
                                                          published)
        sents = [(s, e) for s, e in self.res.split_sentences(text) if e > s]
        if not sents:
            return []
        sents = _clauses(sents, folded, hits, cas)
        lex = self.res.types
        title = fold((article.get("title") or "").strip())

        starts_of = {id(ms): [m.start for m in ms] for ms in (dates, places, actors, cas)}

        def within(ms, s, e):
            starts = starts_of[id(ms)]
            i, j = bisect.bisect_left(starts, s), bisect.bisect_left(starts, e)
            return ms[i:j]

        hit_starts = [h.start for h in hits]
        newline_pos = [m.start() for m in re.finditer("\n", text)]

        def para_of(pos):
            return bisect.bisect_left(newline_pos, pos)

        first_line_end = self._first_line_end(text)
        first_own = next((m for m in dates if m.precision == "day"), None) if published is None else None
        ref_pub = published or self_ref  # what "history" is measured against
        prev_open_hist = False
        anchor: tuple | None = None  # (date, precision) of the article's first event
        para_date: dict[int, tuple] = {}
        para_place: dict[int, object] = {}
        last_place = None
        article_place = self._article_place(places)
        cands: list[Cand] = []

        si = -1
        while si + 1 < len(sents):
            si += 1
            s, e = sents[si]
            ftxt = folded[s:e]
            para = para_of(s)
            i0, i1 = bisect.bisect_left(hit_starts, s), bisect.bisect_left(hit_starts, e)
            shits = hits[i0:i1]
            sdates = within(dates, s, e)
            scas = within(cas, s, e)
            cats = {h.cat for h in shits}
            if not scas and "trigger" not in cats:
                # No event here; a date still sets the paragraph's date context.
                if sdates and not self._headline_like(text[s:e], ftxt, title, sdates):
                    dp, hist = self._sentence_date(sdates, ref_pub, folded)
                    if dp:
                        para_date[para] = dp
                    prev_open_hist = hist
                else:
                    prev_open_hist = False
                continue
            splaces = [p for p in within(places, s, e) if getattr(p, "end", 0) <= e]
            sactors = within(actors, s, e)

            # Dates of this sentence: drop future ones and mark history.
            date_pick, historic = self._sentence_date(sdates, ref_pub, folded)
            cut = self._day_change_cut(date_pick, sdates, shits, scas, folded, s,
                                       para_date[para][0] if para in para_date else (anchor[0] if anchor else None))
            if cut:
                sents[si:si + 1] = [(s, cut), (cut, e)]
                si -= 1
                continue
            if not date_pick and prev_open_hist and si > 0 and folded[sents[si - 1][0]:sents[si - 1][1]].rstrip().endswith(("،", ",")):
                historic = True  # a line that continues a sentence about history ("…عام 2018،\nانتهت بفرض اتفاق")
            if not date_pick and ref_pub is not None:
                # A bare old year ("في عام 2018", "صيف العام 2018") marks history the article only recalls.
                years = [int(y) for y in rx.year.findall(ftxt)]
                if years and max(years) < ref_pub.year:
                    historic = True  # dated by a past year only: not codable as an event
            headline_like = self._headline_like(text[s:e], ftxt, title, sdates, first_line=(e <= first_line_end),
                                                whole_line=(s == 0 or text[s - 1] == "\n") and (e >= len(text) or text[e:e + 1] == "\n"))
            if date_pick and not headline_like and date_pick[2] == "own":
                para_date[para] = date_pick
            prev_open_hist = historic
            if headline_like:
                continue

            trig = [h for h in shits if h.cat == "trigger"
                    and not rx.background.search(folded[max(0, h.start - 22):h.start])]
            if trig and not scas:  # "عدم مشاركة أي عنصر من جيش النظام في الاشتباكات": a denial, not an event
                den = rx.denial.search(folded, s, e)
                if den is not None:
                    trig = [h for h in trig if h.start < den.start()]
                den = rx.denied.search(folded, s, e)  # "…، الأمر الذي نفاه المصدر": a denied claim
                if den is not None:
                    trig = [h for h in trig if h.start > den.end()]
            if not trig and not scas:
                continue
            if "non_conflict" in cats or ("negative" in cats and not any(m.n for m in scas if m.kind in ("killed", "wounded"))):
                # Graduations, fairs, anniversaries: only a weapon word (or a toll) still reports violence there.
                trig = [h for h in trig if lex.groups[h.group].kind == "method" and lex.groups[h.group].prio >= 70]
            if not trig and not scas:
                continue
            own_place_ms = self._event_places(splaces, folded, s, toll=bool(scas))
            # The excerpt is cut mid-sentence before the place is told: only the governorate is known.
            cut_off = not own_place_ms and si == len(sents) - 1 and not _SENT_END.search(text[s:e]) and (
                e >= len(text.rstrip()))
            figs = self._figures(scas, folded, s)
            blasts = _self_detonations(folded, s, e, scas)
            if blasts and figs.get("killed") and figs["killed"].n:
                k = figs["killed"]
                figs["killed"] = Fig(k.n + blasts, k.qualifier, k.cumulative)
            has_cas = any(f.n or f.qualifier == "vague" for k, f in figs.items() if k in ("killed", "wounded"))
            if "future" in cats and not has_cas:
                # "كانت تخطط لتنفيذ هجمات", "تعتزم شن هجوم": only what is reported before the plan happened.
                fut = min(h.start for h in shits if h.cat == "future")
                trig = [h for h in trig if h.start < fut]
                if not trig:
                    continue
            if self._aggregate(shits, sdates):
                continue
            if historic and not (date_pick and date_pick[1] == "day" and has_cas):
                continue
            if not date_pick and rx.earlier.match(ftxt):
                continue

            armed = self._armed_victims(shits, scas, folded)
            state = any(getattr(a, "inter", None) in (1, "1") for a in sactors[:1])
            decisions = classify(lex, trig, armed_victims=armed, state_actor=state, has_casualties=has_cas)

            if (decisions and decisions[0].event_type == "Strategic developments" and decisions[0].sub_event_type == "Other"
                    and "ongoing" in cats and not date_pick):
                continue  # "حظر التجوال مستمر": a state of affairs with no start day, not an event
            if decisions and decisions[0].sub_event_type == "Agreement" and "agreement_neg" in cats:
                continue  # "فشل المفاوضات", "اتفاق خرقته القوات": no agreement was made
            if cut_off and not has_cas:
                continue  # cut before its place and with no figure: nothing codable
            # Date
            if date_pick:
                d, prec, src = date_pick
            elif para in para_date:
                d, prec, _ = para_date[para]
                src = "para"
            elif anchor:
                d, prec = anchor
                src = "anchor"
            elif published:
                d, prec, src = published, "week", "published"
            elif first_own is not None:
                d, prec, src = first_own.date, first_own.precision, "anchor"  # no publication date: the text's own
            else:
                d, prec, src = None, "day", "none"

            # A sentence that only adds casualties to the event just reported merges into it.
            if not decisions:
                if scas and cands and not own_place_ms and src != "own":
                    changed = self._add_figs(cands[-1], figs, ftxt, adjacent=cands[-1].sent >= si - 2)
                    if cands[-1].sent >= si - 1 or changed:
                        cands[-1].end = max(cands[-1].end, e)  # the evidence reaches the figure's sentence
                continue
            if (decisions[0].kind == "outcome" and cands and not own_place_ms and src != "own"
                    and cands[-1].sent >= si - 2 and self._followup(cands[-1], figs)):
                if self._add_figs(cands[-1], figs, ftxt, adjacent=True):
                    cands[-1].end = max(cands[-1].end, e)
                continue

            if not own_place_ms and decisions[0].event_type in ("Protests", "Riots"):
                # "خرج المئات من أبناء مدينة السويداء في وقفة": residents protest in their own town.
                own_place_ms = self._event_places(splaces, folded, s, allow_origin=True)
            # Place
            if own_place_ms:
                plist, psrc = own_place_ms, "own"
            elif para in para_place or last_place is not None:
                carried, cd = para_place.get(para) or last_place
                if (src == "own" and cd != d) or cut_off:
                    # Another day is another incident, maybe elsewhere: keep only the governorate.
                    carried = _governorate_of(carried, self.res.gaz) or carried
                plist, psrc = [carried], "para"
            elif article_place is not None:
                plist, psrc = [article_place], "article"
            else:
                plist, psrc = [None], "none"

            a1, a2 = self._actors(sactors, shits, decisions[0], folded, s)
            multi = len(plist) > 1
            for dn, dec in enumerate(decisions):
                # A toll for several places together stays once, on their coarsest common place.
                if multi and dn == 0 and any(f.n for f in figs.values()):
                    common = self._common_place(plist)
                    if common is not None:
                        cands.append(self._cand(s, e, si, para, dec, d, prec, src, common, "own", text,
                                                a1, a2, dict(figs), multi=True, folded=folded))
                    for p in plist:
                        cands.append(self._cand(s, e, si, para, dec, d, prec, src, p, psrc, text, a1, a2, {}, multi=True, folded=folded))
                    continue
                for p in plist:
                    cands.append(self._cand(s, e, si, para, dec, d, prec, src, p, psrc, text, a1, a2,
                                            dict(figs) if dn == 0 and not multi else ({} if dn else dict(figs)),
                                            multi=multi, folded=folded))
            if anchor is None and d is not None and src in ("own", "para"):
                anchor = (d, prec)
            if own_place_ms:
                # Only a sentence that reports an event sets the place later sentences inherit.
                para_place[para] = (own_place_ms[0], d)
                last_place = (own_place_ms[0], d)
        return self._merge(cands)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _article_place(places):
        """The dateline's or the headline's place: the first place of the article."""
        return places[0] if places else None

    @staticmethod
    def _headline_like(raw: str, ftxt: str, title: str, sdates, first_line: bool = False,
                       whole_line: bool = True) -> bool:
        """Headlines, datelines and captions without a date give context only (the body reports the event)."""
        if sdates:
            return False
        t = ftxt.strip()
        if (first_line or (title and t == title)) and not re.search(r"[^.]\.[\"”»)\]]*\s*$", raw):
            return True  # a headline does not end with a full stop; a lead sentence does
        if t.count(" ") < 11 and not _SENT_END.search(raw) and whole_line and not raw.rstrip().endswith(("،", ",")):
            return True  # a short line with no sentence end: a sub-heading, a caption, a link
        return False

    @staticmethod
    def _first_line_end(text: str) -> int:
        i = 0
        while i < len(text) and text[i].isspace():
            i += 1
        j = text.find("\n", i)
        return len(text) if j < 0 else j

    @staticmethod
    def _day_change_cut(date_pick, sdates, shits, scas, folded, s, ctx_date) -> int | None:
        """Where a run-on sentence moves to another day ("…عند دوار تل شهاب، الأمر ذاته حصل يوم أمس السبت، إذ عثر…").

        When the sentence reports something before its first date and the date differs from the day being
        told, the part before it belongs to that day: cut at the first comma after the last earlier report.
        """
        if not date_pick or date_pick[2] != "own" or ctx_date is None or ctx_date == date_pick[0]:
            return None
        m0 = sdates[0]
        pre = [h.end for h in shits if h.cat == "trigger" and h.start < m0.start] + [c.end for c in scas if c.start < m0.start]
        post = [h for h in shits if h.cat == "trigger" and h.start > m0.end] + [c for c in scas if c.start > m0.end]
        if not pre or not post:
            return None
        k = folded.find("،", max(pre), m0.start)
        if k < 0:
            k = folded.find(",", max(pre), m0.start)
        return k if k > s else None

    def _sentence_date(self, sdates, published, folded=""):
        """(date, precision, "own") of the sentence, or None; and whether all its dates are history."""
        rx = _rx()
        if not sdates:
            return None, False
        keep, hist = [], 0
        for m in sdates:
            d = getattr(m, "date", None)
            if d is None:
                continue
            if rx.since.search(folded, max(0, m.start - 6), m.start):
                continue  # "منذ صباح الجمعة": when something ongoing began, not the day of this report
            if published is not None:
                if d > published + dt.timedelta(days=1) and not getattr(m, "year_explicit", False):
                    continue  # a future date: a plan, a deadline ("الجمعة المقبلة")
                # a future date with its year written ("3 آذار 2099") is kept: most likely a typo, and the
                # quality gate holds the event for review instead of it silently taking another date
                if (published - d).days > self.max_age:
                    hist += 1
                    continue
            keep.append(m)
        if not keep:
            return None, hist > 0
        day = [m for m in keep if m.precision == "day"]
        occ = [m for m in day if rx.occur.search(folded[max(0, m.start - 25):m.start])]
        m = (occ or day or keep)[0]
        return (m.date, m.precision, "own"), False

    def _event_places(self, splaces, folded, s, toll: bool = False, allow_origin: bool = False):
        """Places where the sentence's event happened, best first; several when several sites were hit.

        Origins ("من أبناء طفس", "قادمة من بصرى"), locators ("جاسم شمالي درعا": درعا) and weak matches
        without a settlement word are dropped. Separate sites must be introduced by a settlement word
        (مدينة/بلدة/قرية/حي/منطقة/ناحية) or joined by و to one that is.
        """
        rx = _rx()
        if not splaces:
            return []
        cand = []
        for p in splaces:
            if getattr(p, "is_locator", False):
                continue
            if getattr(p, "weak", False) and getattr(p, "cue", None) not in _CUES:
                continue
            if (_OUTLET_AFTER_RE.match(folded, p.end) or rx.outlet_before.search(folded, max(0, p.start - 22), p.start)
                    or rx.institution.search(folded, max(0, p.start - 16), p.start)):
                continue  # "السويداء 24", "شبكة أخبار السويداء": a news network named after the place
            before = folded[max(0, p.start - 25):p.start]
            if not allow_origin and (rx.from_before.search(before) or rx.origin.search(before)):
                continue
            cand.append(p)
        if not cand:
            return []
        cand = [_countryside_of(p, folded) for p in cand]
        specific = [p for p in cand if not _is_qualifier(p, cand)] or cand
        if len(specific) == 1:
            return [specific[0]]  # one place: no sites to tell apart, nothing to rank
        # Several sites: cued places and those joined to them by و; with a toll, also two names joined by a
        # bare و ("148 قتيلا في طرطوس وجبلة"): the toll then stays once at their common place.
        paired = set()
        if toll:
            for a, b in zip(specific, specific[1:]):
                if re.fullmatch(r"\s*و\s*", folded[a.end:b.start]) and not rx.between.search(
                        folded[max(0, a.start - 20):a.start]):
                    paired.update((id(a), id(b)))
        sites, seen = [], set()
        prev = None
        for p in specific:
            pid = getattr(p, "place_id", None) or getattr(p, "name_en", None)
            cued = (getattr(p, "cue", None) in _CUES and (getattr(p, "geo_precision", 1) or 1) <= 2) or (
                getattr(p, "cue", None) == "governorate") or id(p) in paired
            joined = prev is not None and rx.join.match(folded[prev.end:p.start] or "") is not None and (
                (getattr(p, "geo_precision", 1) or 1) <= 2)
            between = rx.between.search(folded[max(0, p.start - 20):p.start]) or (
                prev is not None and rx.between.search(folded[max(0, prev.start - 20):prev.start]))
            if (cued or joined) and pid not in seen and not between:
                sites.append(p)
                seen.add(pid)
                prev = p
            elif cued or joined:
                prev = p
        # "حي الفيلات جنوبي مدينة دير الزور": a place after a direction word locates the one before it.
        located = [p for p in sites if rx.direction.search(folded[max(0, p.start - 22):p.start])]
        sites = [p for p in sites if p not in located]
        if len(sites) > 1:
            # "مزارع تل كردي والريحان شمال شرق مدينة دوما": farmland of places located by a town is one location.
            tail = [p for p in splaces if p.start > sites[-1].end and p.start - sites[-1].end < 40 and (
                getattr(p, "is_locator", False) or rx.direction.search(folded[max(0, p.start - 22):p.start]))]
            if tail and rx.land.search(folded[max(0, sites[0].start - 15):sites[0].start]):
                sites = sites[:1]
        if len(sites) > 1:
            return sites

        def rank(p):
            gp = getattr(p, "geo_precision", 1) or 1
            if _is_dateline(folded, p):
                gp += 10  # "واشنطن - دمشق في 13 ديسمبر/ وام /", "درعا – نورث برس": where the report was filed
            elif rx.direction.search(folded[max(0, p.start - 24):p.start]) and any(
                    q is not p and q.end <= p.start and p.start - q.end < 35 for q in specific):
                gp += 5  # "قرية جعيدين التابعة لبلدة المنصورة": the town only locates the village
            pt = getattr(p, "place_type", "")
            r = _PLACE_RANK.get(pt, 3)
            if pt == "region" and gp >= 3:
                r = 8  # "جنوبي سوريا", "الساحل السوري": coarser than a governorate
            strong = 0 if getattr(p, "cue", None) in _CUES else (1 if not getattr(p, "weak", False) else 2)
            return (gp, strong, r)

        best = min(specific, key=lambda p: (rank(p), specific.index(p)))
        return [best]

    def _common_place(self, plist):
        """Coarsest common place of several places (their shared district or governorate), as a stand-in."""
        a2 = {getattr(p, "admin2", None) for p in plist}
        a1 = {getattr(p, "admin1", None) for p in plist}
        if None in a1:
            return None
        base = plist[0]
        if len(a1) > 1:
            # Places in several governorates ("طرطوس وجبلة"): the toll is kept once, at the first one's
            # governorate level, named after all of them.
            g = _governorate_of(base, self.res.gaz) if (base.geo_precision or 1) < 3 else base
            return _Coarse(start=base.start, end=base.end, text=" / ".join(getattr(p, "text", "") for p in plist),
                           place_id=None, name_en=" / ".join(sorted(x for x in a1 if x)), name_ar=None,
                           place_type="region", admin1=base.admin1, admin2=None, admin3=None,
                           lat=getattr(g, "lat", None), lon=getattr(g, "lon", None), geo_precision=3)
        lat = sum(getattr(p, "lat", 0) or 0 for p in plist) / len(plist)
        lon = sum(getattr(p, "lon", 0) or 0 for p in plist) / len(plist)
        level = 2 if len(a2) == 1 and None not in a2 else 3
        return _Coarse(
            start=base.start, end=base.end, text=" / ".join(getattr(p, "text", "") for p in plist),
            place_id=None, name_en=(base.admin2 if level == 2 else base.admin1), name_ar=None,
            place_type="district" if level == 2 else "governorate", admin1=base.admin1,
            admin2=base.admin2 if level == 2 else None, admin3=None, lat=lat, lon=lon, geo_precision=level,
        )

    def _figures(self, scas, folded, s) -> dict:
        """Casualty figures of one sentence by kind: parts summed, subsets ignored, totals kept."""
        rx = _rx()
        by: dict[str, list] = {}
        for m in scas:
            before = folded[max(0, m.start - 18):m.start]
            if rx.subset.search(before):
                continue
            by.setdefault(m.kind, []).append(m)
        out = {}
        for kind, ms in by.items():
            cum = [m for m in ms if getattr(m, "cumulative", False) and m.n]
            if any(m.n for m in ms):
                ms = [m for m in ms if m.n != 0]  # "دون إصابات" next to a figure is not a zero toll
            if cum:
                m = cum[-1]
                out[kind] = Fig(m.n, m.qualifier or "exact", True)
                continue
            nums = [m for m in ms if m.n is not None]
            if not nums:
                out[kind] = Fig(None, "vague")
                continue
            vals = [m.n for m in nums]
            total = sum(vals)
            first = nums[0].n
            if len(nums) > 1 and first * 2 == total and all(m.n < first for m in nums[1:]):
                n = first  # a stated total followed by its parts ("7 أشخاص هم: سيدة و3 مواطنين و…")
            else:
                n = total
            quals = [m.qualifier or "exact" for m in nums]
            q = max(quals, key=lambda x: _QUAL_RANK.get(x, 0)) if len(nums) > 1 else quals[0]
            if q == "vague":
                q = "exact"
            body = kind == "killed" and all(_BODY_RE.search(folded[max(0, m.start - 1):m.end + 1]) for m in nums)
            out[kind] = Fig(n, q, body=body)
        return out

    @staticmethod
    def _aggregate(shits, sdates) -> bool:
        """Statistics ("وثق ... منذ مطلع العام"): an aggregate cue with no date before it."""
        agg = [h for h in shits if h.cat == "aggregate"]
        if not agg:
            return False
        first = agg[0].start
        return not any(m.start < first and getattr(m, "precision", "") == "day" for m in sdates)

    @staticmethod
    def _armed_victims(shits, scas, folded) -> bool:
        """Are the victims soldiers, security members or fighters (ACLED: Battles), not civilians?

        The casualty finder's victim class decides; else the victim words right after a casualty or attack
        word ("مقتل عنصرين", "هجوم على حاجز"); a massacre is against civilians.
        """
        anchors = [(m.start, m.end) for m in scas]
        victim_words = []
        for h in shits:
            cat = h.cat
            if cat == "massacre":
                return False
            if cat == "trigger":
                anchors.append((h.start, h.end))
            elif cat == "military" or cat == "civilian":
                victim_words.append(h)
        mil = civ = 0
        if victim_words:
            perp = _rx().perp
            for h in victim_words:
                p = h.start
                if not any(a - 30 <= p <= b + 30 for a, b in anchors):
                    continue
                if h.cat == "civilian":
                    civ += 1
                elif perp.search(folded[max(0, p - 14):p]) is None:  # "من قبل قوات الاحتلال": the attacker
                    mil += 1
        for m in scas:
            v = getattr(m, "victims", None)
            if v == "fighters":
                mil += 2
            elif v == "civilians":
                civ += 2
        return mil > 0 and mil >= civ

    def _actors(self, sactors, shits, dec, folded, s):
        """actor1 = the perpetrator, actor2 = the target, from the actor lexicon's mentions in the sentence.

        A named party after "من قبل/نفذه/شنه/لـ" (by) is the perpetrator; "مجهولون" is an unidentified armed
        group; civilians are never the perpetrator; Violence against civilians has civilians as its target.
        """
        rx = _rx()
        civ, armed, perp = [], [], []
        for a in sactors:
            n = getattr(a, "name", None)
            if not n:
                continue
            if getattr(a, "inter", None) == 7 or n.startswith("Civilians"):
                civ.append(n)
                continue
            if rx.perp.search(folded[max(0, a.start - 14):a.start]):
                perp.append(n)
            armed.append(n)
        unknown = any(h.cat == "unknown_perp" for h in shits)
        if perp:
            a1 = perp[0]
        elif unknown:
            a1 = "Unidentified armed group"
        else:
            a1 = armed[0] if armed else None
        rest = [n for n in armed if n != a1]
        a2 = rest[0] if rest else None
        if a2 is None and civ and dec.event_type != "Protests":
            a2 = civ[0]
        if dec.event_type == "Violence against civilians" and (a2 is None or a2 in armed):
            a2 = civ[0] if civ else "Civilians (Syria)"
        if dec.event_type in ("Protests", "Riots") and a1 is None:
            a1 = "Protesters (Syria)" if dec.event_type == "Protests" else "Rioters (Syria)"
        return a1, a2

    def _followup(self, prev: Cand, figs) -> bool:
        return prev.event_type != "Strategic developments" or not prev.figs

    def _add_figs(self, c: Cand, figs: dict, ftxt: str, adjacent: bool) -> bool:
        """Join a later report's figures to an event: equal figures are the same people; a cumulative toll
        replaces; other victims ("كما قتل آخر", a body found) add; otherwise the larger figure stands. A smaller
        figure that is a part of the stated total is remembered, so that "45 … بينما 25 آخرين" after a total
        of 70 is read as its breakdown, not as 25 more. True when the event's figures changed."""
        before = {k: (f.n, f.qualifier) for k, f in c.figs.items()}
        self._join_figs(c, figs, ftxt, adjacent)
        return before != {k: (f.n, f.qualifier) for k, f in c.figs.items()}

    def _join_figs(self, c: Cand, figs: dict, ftxt: str, adjacent: bool) -> None:
        rx = _rx()
        others = bool(rx.others.search(ftxt))
        for k, f in figs.items():
            old = c.figs.get(k)
            if old is None or (old.n is None and f.n is not None):
                c.figs[k] = f
            elif f.n is None:
                continue
            elif f.cumulative:
                c.figs[k] = f
            elif old.n == f.n:
                continue
            elif (others and adjacent) or f.body:
                part = c.parts.pop(k, None)
                if part is not None and part + f.n <= old.n:
                    continue  # the rest of a breakdown of the total already stated
                c.figs[k] = Fig(old.n + f.n, old.qualifier if old.qualifier != "exact" else f.qualifier)
            elif f.n > old.n:
                c.figs[k] = f
            else:
                c.parts[k] = f.n

    def _cand(self, s, e, si, para, dec, d, prec, src, place, psrc, text, a1, a2, figs, multi=False,
              folded: str = "") -> Cand:
        loc_ar = None
        if place is not None:
            loc_ar = getattr(place, "text", None)
            if loc_ar and getattr(place, "end", None) is not None and not isinstance(place, _Coarse):
                loc_ar = text[place.start:place.end]
        g = self.res.types.groups[dec.trigger.group]
        tr = dec.trigger
        ana = g.kind in ("method", "assault", "protest") and not tr.stem.startswith("الطيران") and (
            tr.stem.startswith("ال") or _DEFINITE_RE.search(folded, max(0, tr.start - 5), tr.start) is not None)
        return Cand(s, e, si, para, dec.event_type, dec.sub_event_type, dec.kind, dec.strength, d, prec, src,
                    place, psrc, loc_ar, _place_attr(place, "geo_precision", None), a1, a2, figs, multi,
                    anaphoric=ana, prio=g.prio, ftxt=folded[s:e] if folded else fold(text[s:e]))

    # ------------------------------------------------------------------ merging
    def _merge(self, cands: list[Cand]) -> list[Cand]:
        out: list[Cand] = []
        for c in cands:
            target = None
            if c.anaphoric:
                target = self._antecedent(out, c)
            for o in reversed(out) if target is None else ():
                if (self._same(o, c) or self._followup_of(o, c) or self._undated_same(o, c)
                        or self._restatement(o, c)):
                    target = o
                    break
            if target is None:
                out.append(c)
                continue
            figs_changed = self._add_figs(target, c.figs, c.ftxt, adjacent=c.sent - target.sent <= 2)
            better_date = _DATE_RANK[c.date_src] < _DATE_RANK[target.date_src]
            if better_date:
                target.date, target.precision, target.date_src = c.date, c.precision, c.date_src
            if self._better_place(c, target, better_date):
                target.place, target.place_src, target.loc_ar, target.geo_precision = c.place, c.place_src, c.loc_ar, c.geo_precision
            if (target.kind == "outcome" and c.kind != "outcome") or (
                    (target.event_type == c.event_type or c.sub_event_type == "Suicide bomb") and c.prio > target.prio):
                target.event_type, target.sub_event_type, target.kind, target.prio = (
                    c.event_type, c.sub_event_type, c.kind, c.prio)
            if c.anaphoric and c.place_src == "own" and c.place is not None and _finer(c, target):
                target.place, target.place_src, target.loc_ar, target.geo_precision = c.place, c.place_src, c.loc_ar, c.geo_precision
            # the evidence reaches the sentence a figure came from, so that every number is in its evidence
            if (c.sent - target.sent <= 1 or figs_changed) and c.start >= target.start:
                target.end = max(target.end, c.end)
            target.strength = max(target.strength, c.strength)
        return self._absorb_coarse(out)

    @staticmethod
    def _better_place(c: Cand, target: Cand, better_date: bool) -> bool:
        """Should the merged event take c's place? A country-level place gives way to any governorate's;
        an own place beats a carried one; a finer own place beats a coarser one."""
        if c.place is None:
            return False
        if target.place is None:
            return True
        if _place_attr(target.place, "admin1") is None and _place_attr(c.place, "admin1") is not None:
            return True
        if c.place_src != "own":
            return False
        if target.place_src != "own":
            return True
        if better_date and not c.anaphoric and _finer(c, target):
            return True
        return (c.geo_precision or 1) < (target.geo_precision or 1)

    @staticmethod
    def _absorb_coarse(cands: list[Cand]) -> list[Cand]:
        """Drop a governorate/region-level event that a finer same-day, same-type event already reports.

        A lead ("قتل شخصان في محافظة درعا") summarises the incidents the body then locates; it stays only
        when it carries a figure the finer events do not (a toll for several sites, kept at the coarse place).
        """
        def coarse(c):
            return _place_attr(c.place, "place_type", "") in ("governorate", "district", "subdistrict", "region")

        out = []
        for c in cands:
            if c.place is None or not coarse(c):
                out.append(c)
                continue
            fine = [f for f in cands if f is not c and f.place is not None
                    and (f.geo_precision or 1) < (c.geo_precision or 1)
                    and (f.event_type == c.event_type or {f.event_type, c.event_type} <= _KILLING_TYPES)
                    and _place_attr(f.place, "admin1") == _place_attr(c.place, "admin1")
                    and (f.date == c.date or c.date_src in ("published", "anchor"))]
            if not fine:
                out.append(c)
                continue
            keep = False
            for k, fig in c.figs.items():
                tot = sum((f.figs[k].n or 0) for f in fine if k in f.figs)
                if fig.n and tot < fig.n:
                    keep = True  # a toll the located events do not account for
            if c.figs and not any(f.figs for f in fine):
                keep = True  # "أصيب محتجون" over located events that give no figure: a report of its own
            if not keep:
                # The finer report inherits what only the summary said ("قتلى وجرحى": vague figures).
                for k, fig in c.figs.items():
                    if len(fine) == 1 and k not in fine[0].figs:
                        fine[0].figs[k] = fig
                continue
            out.append(c)
        return out

    @staticmethod
    def _antecedent(out: list[Cand], c: Cand) -> Cand | None:
        """The event a definite trigger ("الهجوم", "الانفجار") refers back to: the last violent one, close by."""
        for o in reversed(out):
            if o.sent == c.sent and (o.multi or c.multi):
                continue  # several sites of one sentence stay apart
            if o.event_type == "Strategic developments" or (
                    (o.event_type in ("Protests", "Riots")) != (c.event_type in ("Protests", "Riots"))):
                continue
            if c.sent - o.sent > 4:
                return None
            if o.event_type != c.event_type and {o.event_type, c.event_type} - _KILLING_TYPES:
                return None  # "الاعتداءات" after a shelling report is another attack
            if c.date_src == "own" and c.date != o.date:
                return None
            if c.place_src == "own" and o.place is not None and c.place is not None:
                if _place_attr(o.place, "admin1") != _place_attr(c.place, "admin1"):
                    return None
                if (o.geo_precision or 1) == 1 and (c.geo_precision or 1) == 1 and not _same_area(o, c):
                    return None  # "الطائرات استهدفت … البوكمال" after a strike on another town: another site
            return o
        return None

    @staticmethod
    def _followup_of(a: Cand, b: Cand) -> bool:
        """b only reports casualties (no weapon or fighting word) right after a's violent event."""
        if b.kind != "outcome" or a.event_type in ("Strategic developments", "Protests"):
            return False
        same_place = a.place is not None and b.place is not None and (
            (_place_attr(a.place, "place_id") or 1) == (_place_attr(b.place, "place_id") or 2))
        window = 5 if (same_place or any(f.cumulative for f in b.figs.values())) else 2
        if b.sent - a.sent > window:
            return False
        if b.date != a.date and b.date_src == "own" and a.date_src != "published":
            return False
        if b.place_src != "own" or a.place is None or b.place is None:
            return True
        # A casualty report with a finer place of its own is a new incident, not a follow-up.
        if (b.geo_precision or 1) < (a.geo_precision or 1):
            return False
        return _same_area(a, b)

    @staticmethod
    def _restatement(a: Cand, b: Cand) -> bool:
        """The same toll told again a little later ("استشهد ثلاثة مدنيين …" then "ما أدى إلى استشهاد ثلاثة
        مدنيين"), same type and day: the same incident, even where the second names another place
        (the attackers' area, the source's town). Only figures of two or more identify an incident."""
        if a.event_type != b.event_type or a.date != b.date or not 0 < b.sent - a.sent <= 3:
            return False
        if b.date_src == "own" and a.date_src == "own" and a.date != b.date:
            return False
        for k in ("killed", "wounded"):
            fa, fb = a.figs.get(k), b.figs.get(k)
            if fa and fb and fa.n and fb.n and fa.n == fb.n and fa.n >= 2:
                return True
        return False

    @staticmethod
    def _undated_same(a: Cand, b: Cand) -> bool:
        """One report has no date of its own (publication date): same type in the same governorate merges."""
        if (a.date_src == "published") == (b.date_src == "published"):
            return False
        if a.event_type != b.event_type or a.multi or b.multi:
            return False
        if a.sub_event_type != b.sub_event_type and not _same_blast(a, b):
            return False
        undated = a if a.date_src == "published" else b
        if _place_attr(undated.place, "admin1") is None and (undated.geo_precision or 1) >= 3:
            return True  # "الساحل السوري", "شمال شرق سوريا": a standfirst over the events that follow
        if a.place_src == "own" and b.place_src == "own" and a.place is not None and b.place is not None and not (
                _same_area(a, b)):
            return False
        return _place_attr(a.place, "admin1") is not None and _place_attr(a.place, "admin1") == _place_attr(b.place, "admin1")

    @staticmethod
    def _same(a: Cand, b: Cand) -> bool:
        if a.event_type != b.event_type and not _same_blast(a, b):
            return False
        if a.sub_event_type != b.sub_event_type and not _same_blast(a, b):
            return False
        if a.date != b.date:
            return False
        if a.multi and b.multi and a.sent == b.sent:
            return False
        pa, pb = a.place, b.place
        if pa is None or pb is None:
            return pa is pb or b.place_src != "own" or a.place_src != "own"
        ida, idb = getattr(pa, "place_id", None), getattr(pb, "place_id", None)
        if ida and ida == idb:
            return True
        if (getattr(pa, "name_en", None) or 1) == (getattr(pb, "name_en", None) or 2):
            return True
        # One is a region containing the other and came from context.
        if a.place_src != "own" or b.place_src != "own":
            return getattr(pa, "admin1", None) == getattr(pb, "admin1", None) and (
                (a.geo_precision or 1) > 1 or (b.geo_precision or 1) > 1)
        # Two area-level descriptions in one governorate ("ريف الحسكة الشرقي", "ناحية الهول"): one location.
        return (getattr(pa, "admin1", None) is not None and getattr(pa, "admin1", None) == getattr(pb, "admin1", None)
                and (a.geo_precision or 1) > 1 and (b.geo_precision or 1) > 1 and a.sent != b.sent)

    # ------------------------------------------------------------------ rows
    def _rows(self, article: dict, text: str, cands: list[Cand]) -> list[dict]:
        rows = []
        aid = str(article.get("article_id") or article.get("doc_key") or "")
        seen_ids = set()
        for c in cands:
            if c.date is None:
                continue  # nothing dates it (no date in the text, no publication date): not codable
            if c.event_type == "Strategic developments" and c.sub_event_type == "Other" and (
                    c.date_src in ("published", "none") or c.precision != "day"):
                continue  # troop movements are coded only with a place and a day
            s, e = c.start, c.end
            while s < e and (text[s].isspace() or text[s] in "،,؛;"):
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            key = f"{aid}:{s}:{e}"
            eid = hashlib.sha256(key.encode()).hexdigest()[:16]
            if eid in seen_ids:
                key += f":{_place_attr(c.place, 'place_id', '')}:{c.event_type}:{c.sub_event_type}:{len(rows)}"
                eid = hashlib.sha256(key.encode()).hexdigest()[:16]
            seen_ids.add(eid)
            p = c.place
            k, w, d = c.figs.get("killed"), c.figs.get("wounded"), c.figs.get("detained")
            conf = 0.3 + 0.25 * c.strength + (0.15 if c.place_src == "own" else 0) + (0.15 if c.date_src == "own" else 0)
            conf += 0.1 if (k or w or d) else 0
            conf += 0.05 if c.actor1 else 0
            rows.append({
                "event_id": eid,
                "article_id": aid,
                "doc_key": str(article.get("doc_key") or aid),
                "event_date": c.date,
                "date_precision": c.precision if c.precision in ("day", "week", "month") else "month",
                "event_type": c.event_type,
                "sub_event_type": c.sub_event_type,
                "actor1": c.actor1,
                "actor2": c.actor2,
                "location": _place_attr(p, "name_en"),
                "location_ar": c.loc_ar,
                "place_id": _place_attr(p, "place_id"),
                "admin1": _place_attr(p, "admin1"),
                "admin2": _place_attr(p, "admin2"),
                "admin3": _place_attr(p, "admin3"),
                "lat": _place_attr(p, "lat"),
                "lon": _place_attr(p, "lon"),
                "geo_precision": c.geo_precision,
                "fatalities": k.n if k else None,
                "fatalities_qualifier": k.qualifier if k else None,
                "wounded": w.n if w else None,
                "wounded_qualifier": w.qualifier if w else None,
                "detained": d.n if d else None,
                "detained_qualifier": d.qualifier if d else None,
                "evidence": text[s:e],
                "evidence_start": s,
                "evidence_end": e,
                "confidence": round(min(1.0, conf), 3),
                "correction": None,
            })
        return rows


_DATE_RANK = {"own": 0, "para": 1, "anchor": 2, "published": 3, "none": 4}
_BLAST = {"Remote explosive/landmine/IED", "Suicide bomb"}
_KILLING_TYPES = {"Battles", "Violence against civilians"}


def _same_blast(a: Cand, b: Cand) -> bool:
    """An IED and a suicide blast, or a bare "explosion" and any strike, in one place on one day: one incident."""
    if {a.sub_event_type, b.sub_event_type} == {"Suicide bomb", "Armed clash"}:
        return True  # attackers storm in after the suicide blast: ACLED codes one suicide bomb event
    if a.event_type != "Explosions/Remote violence" or b.event_type != a.event_type:
        return False
    if {a.sub_event_type, b.sub_event_type} <= _BLAST:
        return True
    return min(a.prio, b.prio) <= 50


def _finer(c: Cand, t: Cand) -> bool:
    gc, gt = c.geo_precision or 1, t.geo_precision or 1
    if gc != gt:
        return gc < gt
    return _PLACE_RANK.get(_place_attr(c.place, "place_type", ""), 3) < _PLACE_RANK.get(_place_attr(t.place, "place_type", ""), 3)


def _same_area(a: Cand, b: Cand) -> bool:
    pa, pb = a.place, b.place
    ida, idb = getattr(pa, "place_id", None), getattr(pb, "place_id", None)
    if ida and ida == idb:
        return True
    if getattr(pa, "admin1", None) != getattr(pb, "admin1", None):
        return False
    return (a.geo_precision or 1) > 1 or (b.geo_precision or 1) > 1 or getattr(pa, "admin2", 1) == getattr(pb, "admin2", 2)


@dataclass
class _Coarse:
    """A stand-in place for a toll spanning several places (their common district or governorate)."""
    start: int
    end: int
    text: str
    place_id: str | None
    name_en: str | None
    name_ar: str | None
    place_type: str
    admin1: str | None
    admin2: str | None
    admin3: str | None
    lat: float | None
    lon: float | None
    geo_precision: int




def _clauses(sents, folded, hits, cas):
    rx = _rx()
    starts_h = [h.start for h in hits if h.cat == "trigger"]
    starts_c = [m.start for m in cas]

    def has_event(a, b):
        i = bisect.bisect_left(starts_h, a)
        j = bisect.bisect_left(starts_c, a)
        return (i < len(starts_h) and starts_h[i] < b) or (j < len(starts_c) and starts_c[j] < b)

    out = []
    all_cuts = _clause_starts(folded, rx.clause)
    for s, e in sents:
        i, j = bisect.bisect_right(all_cuts, s), bisect.bisect_left(all_cuts, e)
        cuts = all_cuts[i:j]
        a = s
        for c in cuts:
            if has_event(a, c) and has_event(c, e):
                out.append((a, c))
                a = c
        out.append((a, e))
    return [(a, b) for a, b in out if b > a]


@functools.lru_cache(maxsize=4)
def _clause_firsts(types: TypeLexicon) -> tuple[str, ...]:
    """The first space-free piece of each clause opener ("في حين" -> "في"): a match's word starts with one."""
    return tuple(sorted({w.split()[0] for w in types.context["clause"] if w.split()}))


def _clause_starts(folded: str, clause) -> list[int]:
    """Where ``clause`` matches in ``folded``, as ``finditer`` reports them (non-overlapping, left to right),
    trying the regex only on the separators right before an occurrence of an opener word.

    A match is a separator ("،" then spaces, or one space) and then the opener word, so its word starts
    right after a run of spaces (maybe after one comma): the starts tried are exactly that run.
    """
    occ = set()
    for w in _clause_firsts(TypeLexicon.load()):
        i = folded.find(w)
        while i >= 0:
            occ.add(i)
            i = folded.find(w, i + 1)
    out: list[int] = []
    min_start = 0
    match = clause.match
    for q in sorted(occ):
        if q <= min_start:
            continue
        p = q
        while p > min_start and folded[p - 1].isspace():
            p -= 1
        if p > min_start and folded[p - 1] in "،,":
            p -= 1
        for st in range(p, q):
            m = match(folded, st)
            if m is not None:
                out.append(st)
                min_start = m.end()
                break
    return out


# "جثة شاب", "جثتين", "جثث": bodies of victims not told before ("جثته" is the victim's own body).
_BODY_RE = re.compile(r"(?:^|\s)(?:[وب]?ال)?(?:جثه(?=\s)|جثتين|جثتي(?=\s)|جثث(?=\s))")


def _countryside_of(p, folded: str):
    """"بريف حلب" read as the city when the place finder missed the countryside: a region around it."""
    rx = _rx()
    if (getattr(p, "geo_precision", 1) or 1) != 1 or getattr(p, "place_type", "") not in ("city", "town"):
        return p
    if not rx.rif.search(folded[max(0, p.start - 8):p.start]):
        return p
    return _Coarse(start=p.start, end=p.end, text=getattr(p, "text", ""), place_id=None,
                   name_en=f"{p.name_en} countryside", name_ar=None, place_type="region", admin1=p.admin1,
                   admin2=getattr(p, "admin2", None), admin3=None, lat=p.lat, lon=p.lon, geo_precision=2)


def _governorate_of(p, gaz=None):
    """A governorate-level stand-in for a place (its admin1, at the governorate's point in the gazetteer)."""
    a1 = getattr(p, "admin1", None)
    if not a1 or (getattr(p, "geo_precision", 1) or 1) >= 3:
        return p if a1 else None
    lat, lon, pid = getattr(p, "lat", None), getattr(p, "lon", None), None
    code = getattr(p, "admin1_pcode", None)
    g = None
    try:
        g = gaz.get(code) if (gaz is not None and code) else None
    except Exception:
        g = None
    if g is not None:
        lat, lon, pid = getattr(g, "lat", lat), getattr(g, "lon", lon), code
    return _Coarse(start=p.start, end=p.end, text=getattr(p, "text", ""), place_id=pid,
                   name_en=f"{a1} Governorate", name_ar=None, place_type="governorate", admin1=a1, admin2=None,
                   admin3=None, lat=lat, lon=lon, geo_precision=3)


def _is_dateline(folded: str, p) -> bool:
    """A place at the start of a line joined by a dash or slash to another name: the dateline."""
    ls = folded.rfind("\n", 0, p.start) + 1
    head = folded[ls:p.start]
    if len(head) > 40 or len(head.split()) > 4:  # str.split() words = runs of \S
        return False
    return _DASH_END_RE.search(head) is not None or _DASH_START_RE.match(folded, p.end, p.end + 4) is not None


_DASH_END_RE = re.compile(r"[-–/]\s*$")
_DASH_START_RE = re.compile(r"\s*[-–/]")


def _self_detonations(folded: str, s: int, e: int, cas) -> int:
    """Attackers who "blew themselves up" (فجر نفسه) not already counted by a casualty mention (ANNOTATION: killed)."""
    n = 0
    if folded.find("نفسه", s, e) < 0:
        return 0  # every match ends in "نفسه"
    for m in _SELF_BLAST_RE.finditer(folded, s, e):
        if not any(c.start < m.end() and m.start() < c.end for c in cas):
            n += 1
    return n


def _is_qualifier(p, others) -> bool:
    """True when p is the governorate/district/region of another mentioned place (Daraa in "جاسم شمالي درعا")."""
    pt = getattr(p, "place_type", "")
    gp = getattr(p, "geo_precision", 1) or 1
    for o in others:
        if o is p:
            continue
        ogp = getattr(o, "geo_precision", 1) or 1
        if pt in ("governorate", "district", "subdistrict", "region") or gp > 1:
            if ogp <= gp and getattr(o, "admin1", None) == getattr(p, "admin1", None) and _PLACE_RANK.get(
                    getattr(o, "place_type", ""), 3) < _PLACE_RANK.get(pt, 3) + (1 if gp > 1 else 0):
                return True
        # A city named right after a village as its qualifier ("قرية X التابعة لمدينة Y", "X قرب Y").
    return False


# The compiled build of this module (setup.py, Cython pure-Python mode), when built from this very source,
# replaces it for every importer (rasd.extract.common.compiled_twin).
_twin = compiled_twin(__name__, __file__)
if _twin is not None:
    sys.modules[__name__] = _twin

"""Casualty figures (killed, wounded, detained) in folded Arabic news text.

``find_casualties(folded, start, end)`` returns one ``CasualtyMention`` per trigger that has a
figure: a number of people, a person noun whose own number counts (شاب = 1, عنصرين = 2), a
vague quantity (العشرات, عدد من, قتلى وجرحى) or an anaphoric pronoun (ما أدى لمقتلهم). Offsets
index the folded text, hence the cleaned text. The lexicon is ``rasd/data/casualties.yaml``
(numbers: ``rasd/data/numbers.yaml``), loaded once.

Rules (each has a unit test in tests/test_casualties.py or a golden case):

* Where the figure is looked for depends on the trigger: after a verbal noun or a verb
  (مقتل 5 أشخاص, قتل شابان, اعتقلت قوات الأمن شابين), before a plural/dual verb
  (أربعة مقاتلين قتلوا), before a count noun (70 قتيلا, أكثر من 140 جريحا).
* A number must count people: followed by a person noun, by "من" (5 من عناصر), or directly
  after the trigger with no noun (ارتفع عدد القتلى إلى 40). Numbers that are dates, ages,
  durations, distances, money or percentages, and numbers followed by a thing (50 صاروخا,
  3 سيارات) are never figures.
* Coordinated parts after one trigger are summed: "مقتل شابين من جاسم وشاب من طفس" = 3.
* A figure introduced by بينهم/منهم/معظمهم… is a part of a total already given and is skipped.
* Combined killed+wounded with one figure ("قتل وأصيب 5 أشخاص", "200 شهيد وجريح",
  "بين قتيل وجريح"): the text gives no split, so both kinds are reported vague (n None) and
  ``combined_n`` carries the stated total.
* A pronoun on a verbal noun (مقتله، مقتلهما، مقتلهم، إصابتهم) takes its number from the
  suffix or from the nearest earlier figure; if that figure was already counted in the same
  sentence it adds nothing (in a later sentence it is a repeat, merged by the assembler).
* A count noun right after a figure reports it ("ارتقاء 3 شهداء" is one mention); a count noun
  of another kind is just the noun ("إعدام 4 أسرى" = 4 killed, not detained).
* Generic heads (جرائم قتل، تهمة القتل، عمليات اعتقال) give only a number of people after them;
  "12 حالة اعتقال" = 12 detained.
* After a verb, a short "في …" adverbial may precede a numbered subject
  ("استشهد في اليوم الخامس 6 مواطنين").
* "حصيلة"/"ارتفاع" before a figure in the same sentence marks it ``cumulative``.
* "دون وقوع إصابات" and similar give killed 0 and wounded 0.
* A trigger right after an attempt/aim/threat word (محاولة اغتيال، بهدف قتل) gives nothing.
* Deaths with a natural cause in the clause (زلزال، حادث تصادم، نوبة قلبية) give nothing unless a
  violence cue is present; توفي/وفاة always need a violence cue (بانفجار، متأثرا بجراحه، برصاص).
* A verb after its subject agrees with it: a singular verb takes one person (وطفل استشهد),
  a plural verb never a single one; "سقطوا قتلى" takes the subject before the verb.
* A named victim right after a trigger (a definite rank/role: تصفية الملازم …, المدعو …, or an
  opening quote) or before a singular verb (الشاب "فلان" قتل) counts as 1.
* Ranges "ما بين 10 و15" give the lower bound, at_least (rasd.extract.numbers).
* SOHR writes مقتل as "مـ ـقـ ـتـ ـل" to dodge filters; after ``clean_chars`` that is
  "م ق ت ل": runs of single letters that spell a trigger are read as that trigger.

Mentions are not deduplicated: a figure repeated later in the article (headline and body) comes
back twice; the event assembler merges them. Known limits: a victim named only by a proper noun
after a verb ("قتل يوسف الداغر") is not counted; diacritic-less -يين nouns (مدنيين) are read as
plural (vague) unless "اثنين" follows.
"""
from __future__ import annotations

import operator
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress

import yaml

from rasd.extract.common import compiled_twin, fast_init, new_automaton
from rasd.extract.numbers import _FORM, DATA_DIR, FormCache, NumTok, number_lexicon, scan_numbers, tokenize
from rasd.text.normalize import normalize

KINDS = ("killed", "wounded", "detained")


@dataclass(frozen=True)
class CasualtyMention:
    kind: str  # "killed" | "wounded" | "detained"
    n: int | None  # None when vague
    qualifier: str  # exact|at_least|more_than|about|vague
    start: int
    end: int
    text: str
    cumulative: bool = False  # a toll update: the new total replaces earlier figures
    victims: str | None = None  # "civilians" | "fighters" when the noun says so
    combined_n: int | None = None  # a killed+wounded total given without a split
    trigger: str = ""  # the trigger word as found (folded)


# --- lexicon ---------------------------------------------------------------------------------

_SUFFIXES = {"ه": 1, "ها": 1, "هما": 2, "هم": None, "هن": None}
_TERMINATORS = frozenset({".", "!", "?", "؟", "؛", "\n", "…"})
_COMMAS = frozenset({"،", ",", ":", "-", '"', "'", "(", ")", "/"})
# Words after which the figure search stops: clause boundaries and prepositions that start an
# adverbial (a figure after them belongs to something else).
_BREAKERS = frozenset({
    "في", "مع", "جراء", "اثر", "بعد", "خلال", "عند", "الي", "علي", "عن", "حيث", "بينما", "فيما",
    "كما", "كذلك", "بسبب", "نتيجه", "اضافه", "التي", "الذي", "الذين", "اللذين", "اللتين", "والذي",
    "والتي", "والذين", "قبل", "منذ", "وقال", "قال", "واضاف", "اضاف", "وذكر", "ذكر", "وافاد", "افاد",
    "ان", "انه", "لكن", "لان", "اذ", "ثم", "او", "وسط", "بحسب", "وفق", "حسب", "نحو", "اما",
    "بالقرب", "قرب", "اثناء", "برصاص", "بنيران", "بقصف", "بانفجار", "بغاره",
})
_ATTACKER_ADJ = frozenset({"مجهولون", "مجهولين", "ملثمون", "ملثمين", "مجهول"})
_TIME_WORDS = frozenset({
    "اليوم", "امس", "مساء", "صباح", "فجر", "ليل", "ليله", "ظهر", "عصر", "الجمعه", "السبت", "الاحد",
    "الاثنين", "الثلاثاء", "الاربعاء", "الخميس", "يوم", "صباحا", "مساء", "ليلا", "فجرا", "ظهرا",
})
_RELATIVES = frozenset({"الذين", "اللذين", "اللتين", "اللواتي", "اللاتي", "الذي", "التي", "والذين", "والذي", "والتي"})


_new_mention = fast_init(CasualtyMention)  # CasualtyMention from a tuple of all its fields in order


@dataclass(frozen=True)
class _Trig:
    kind: str
    pos: str  # action | verb | count | weak | suffixed
    count: int | None = None  # count nouns: 1 / 2 / None (plural); suffixed: suffix number
    agree: str = "sg"  # verbs: sg | du | pl


@dataclass(frozen=True)
class _CasLex:
    triggers: dict[str, _Trig]
    phrases: dict[tuple[str, str], _Trig]
    phrase_firsts: frozenset[str]
    persons: dict[str, tuple[int | None, str | None]]  # form -> (1|2|None, victims)
    named_one: frozenset[str]
    non_persons: frozenset[str]
    part_markers: frozenset[str]
    cumulative: frozenset[str]
    negations: frozenset[str]
    neg_nouns: frozenset[str]
    neg_window: int
    max_len: int  # longest trigger form, for split-letter joining
    extra_firsts: frozenset[str]  # non-trigger words that start a rule (phrases, نفسه, negated nouns)
    irrealis: frozenset[str]  # attempt/aim/threat words that cancel the next trigger
    figure_only: frozenset[str]  # plural count nouns that need a figure
    generic: frozenset[str]  # nouns that make the next trigger generic (جرائم قتل)
    natural: frozenset[str]  # non-conflict causes of death
    violence: frozenset[str]  # cues that a death came from violence
    cumulative_all: frozenset[str]  # cumulative cues with و/ف/ال/ل variants


def _n(s: str) -> str:
    return normalize(str(s))


@lru_cache(maxsize=1)
def casualty_lexicon() -> _CasLex:
    """Load rasd/data/casualties.yaml once."""
    raw = yaml.safe_load((DATA_DIR / "casualties.yaml").read_text(encoding="utf-8"))
    triggers: dict[str, _Trig] = {}
    phrases: dict[tuple[str, str], _Trig] = {}
    for kind, spec in raw["kinds"].items():
        for form in spec.get("action") or {}:
            if form != "قتل":
                triggers.setdefault(_n(form), _Trig(kind, "action"))
        for agree, forms in (spec.get("verb") or {}).items():
            if agree == "notes":
                continue
            for form in forms:
                triggers.setdefault(_n(form), _Trig(kind, "verb", agree=agree))
        for num, forms in (spec.get("count") or {}).items():
            if num == "notes":
                continue
            for form in forms:
                triggers.setdefault(_n(form), _Trig(kind, "count", count={"sg": 1, "du": 2, "pl": None}[num]))
        for form in spec.get("weak") or {}:
            triggers.setdefault(_n(form), _Trig(kind, "weak"))
        for ph in spec.get("phrases") or []:
            a, b = _n(ph["form"]).split()
            phrases[(a, b)] = _Trig(kind, ph["pos"])
        for base in (spec.get("suffixed") or {}).get("forms", []):
            base = _n(base)
            stem = base[:-1] + "ت" if base.endswith("ه") else base
            for suf, cnt in _SUFFIXES.items():
                triggers.setdefault(stem + suf, _Trig(kind, "suffixed", count=cnt))
            if base.endswith("ه"):  # dual + pronoun: جثتيهما
                triggers.setdefault(stem + "يهما", _Trig(kind, "suffixed", count=2))
    persons: dict[str, tuple[int | None, str | None]] = {}
    for p in raw["persons"]:
        for num, key in ((1, "sg"), (2, "du"), (None, "pl")):
            for form in p.get(key) or []:
                persons.setdefault(_n(form), (num, p.get("victims")))
    kin = raw.get("kin") or {}
    for num, key in ((1, "sg"), (2, "du"), (None, "pl")):
        for stem in kin.get(key) or []:
            for suf in kin.get("suffixes") or []:
                persons.setdefault(_n(stem) + suf, (num, None))
    neg = raw["no_casualties"]
    firsts = {a for a, _ in phrases}
    neg_nouns = {_n(f) for f in neg["nouns"]}
    extra = {c + f for c in ("", "و", "ف") for f in firsts} | {"نفسه", "نفسها", "انفسهم"} | neg_nouns
    cum = {_n(f) for f in raw["cumulative_cues"]["forms"]}
    cum_all = {p + f for p in ("", "و", "ف", "ال", "وال", "ل", "لل") for f in cum}
    irr = {_n(f) for f in raw["irrealis"]["forms"]}
    return _CasLex(
        irrealis=frozenset(p + f for p in ("", "و", "ف", "ب", "ل", "وب", "ول") for f in irr),
        figure_only=frozenset(_n(f) for f in raw["count_figure_only"]["forms"]),
        generic=frozenset(p + _n(f) for p in ("", "و", "ف", "ب", "ل", "ال", "وال", "بال") for f in raw["generic_heads"]["forms"]),
        natural=frozenset(c + _n(f) for c in ("", "و", "ب", "ل", "لل", "بال") for f in raw["natural_causes"]["forms"]),
        violence=frozenset(_n(f) for f in raw["violence_cues"]["forms"]),
        extra_firsts=frozenset(extra),
        cumulative_all=frozenset(cum_all),
        triggers=triggers,
        phrases=phrases,
        phrase_firsts=frozenset(a for a, _ in phrases),
        persons=persons,
        named_one=frozenset(_n(f) for f in raw["named_one"]["forms"]),
        non_persons=frozenset(_n(f) for f in raw["non_persons"]["forms"]),
        part_markers=frozenset(_n(f) for f in raw["part_markers"]["forms"]),
        cumulative=frozenset(_n(f) for f in raw["cumulative_cues"]["forms"]),
        negations=frozenset(c + _n(f) for c in ("", "و", "ف") for f in neg["negations"]),
        neg_nouns=frozenset(_n(f) for f in neg["nouns"]),
        neg_window=int(neg.get("window", 3)),
        max_len=max(len(f) for f in triggers),
    )


_CONJ = ("", "و", "ف")
_PREP = ("", "ب", "ل", "ك")


@lru_cache(maxsize=1)
def _prefixes() -> tuple[tuple[str, bool], ...]:
    """Clitic prefixes (and whether they include the article ال), longest first."""
    out = set()
    for c in _CONJ:
        for p in _PREP:
            out.add((c + p, False))
            out.add((c + ("لل" if p == "ل" else p + "ال"), True))
    out.discard(("", False))
    return tuple(sorted(out, key=lambda x: -len(x[0])))


def _analyse_form(form: str):
    """(trigger, person, definite, stem) for a token, trying clitic-stripped readings.

    Exact forms win over stripped ones (وفاه is "death", not و + فاه).
    """
    lex = casualty_lexicon()
    trig = lex.triggers.get(form)
    pers = lex.persons.get(form)
    if trig is not None or pers is not None:
        return trig, pers, form.startswith("ال"), form
    for pfx, definite in _prefixes():
        if form.startswith(pfx) and len(form) - len(pfx) >= 2:
            stem = form[len(pfx):]
            t = lex.triggers.get(stem)
            if t is not None and (not definite or t.pos == "count"):
                return t, None, definite, stem
            p = lex.persons.get(stem)
            if p is not None:
                return None, p, definite, stem
    return None, None, form.startswith("ال"), form


_ANALYSES = FormCache(_analyse_form, 200_000)
_analyse = _ANALYSES.__getitem__  # (trigger, person, definite, stem) of a form, cached


def _stem_of_form(form: str) -> str:
    """The form without one conjunction/preposition clitic (for non-person/part word lists)."""
    lex = casualty_lexicon()
    if form in lex.non_persons or form in lex.part_markers:
        return form
    for pfx, _ in _prefixes():
        if form.startswith(pfx) and len(form) - len(pfx) >= 2:
            s = form[len(pfx):]
            if s in lex.non_persons or s in lex.part_markers:
                return s
    return form


_stem_of = FormCache(_stem_of_form, 200_000).__getitem__
_PERSON = operator.itemgetter(1)


def _seed_flag(form: str) -> bool:
    """The token can start a rule: a trigger, or a phrase's first word, نفسه, a negated noun (extra_firsts)."""
    return _analyse(form)[0] is not None or form in casualty_lexicon().extra_firsts


_SEED_FLAGS = FormCache(_seed_flag, 200_000)


# --- figures ---------------------------------------------------------------------------------

@dataclass
class _Fig:
    i0: int
    i1: int
    n: int | None
    qual: str
    victims: str | None
    noun: bool  # has a person noun or "من ..." (not a bare number)
    part: bool
    used: bool = False
    count_noun: str = ""  # kind of the count trigger that is its noun (قتلى، شهداء، أسرى), if any


def _merge_split_letters(folded: str, toks: list, lex: _CasLex) -> list:
    """Join runs of one-letter tokens that spell a trigger ("م ق ت ل" -> مقتل)."""
    out = []
    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if len(t[2]) == 1 and "\u0621" <= t[2] <= "\u064a" and i + 1 < n:
            best = None
            joined = t[2]
            j = i + 1
            while j < n and j - i < 8 and toks[j][0] == toks[j - 1][1] + 1 and "\u0621" <= toks[j][2][0] <= "\u064a":
                joined += toks[j][2]
                if len(joined) > lex.max_len + 4:
                    break
                if _analyse(joined)[0] is not None:
                    best = (j, joined)
                if len(toks[j][2]) > 1:
                    break
                j += 1
            if best is not None:
                out.append((t[0], toks[best[0]][1], best[1]))
                i = best[0] + 1
                continue
        out.append(t)
        i += 1
    return out


def _figures(toks: list, nums: list[NumTok], lex: _CasLex, analyses: list) -> tuple[dict[int, _Fig], list[_Fig]]:
    """Candidate victim figures, left to right: numbers (with their noun), vague quantities,
    أحد + noun, and bare person nouns (شاب = 1, عنصرين = 2, مدنيون = vague)."""
    n = len(toks)
    numlex = number_lexicon()
    by_start: dict[int, NumTok] = {nt.i0: nt for nt in nums}
    covered = set()
    for nt in nums:
        covered.update(range(nt.i0, nt.i1 + 1))
    figs: list[_Fig] = []
    # Only numbers and person nouns can start a figure.
    # analyses[k][1] (the person reading) is a tuple (truthy) or None
    cands = sorted(set(by_start).union(compress(range(n), map(_PERSON, analyses))))
    nxt_free = 0
    for i in cands:
        if i < nxt_free:
            continue
        nt = by_start.get(i)
        if nt is not None:
            i1 = nt.i1
            value, qual = nt.value, nt.qualifier
            ok = nt.role == "count"
            noun = False
            count_noun = ""
            victims = None
            j = i1 + 1
            if ok and j < n:
                f = toks[j][2]
                trig, pers, definite, stem = _analyse(f)
                if pers is not None and trig is None:
                    noun, victims, i1 = True, pers[1], j
                    while i1 + 1 < n and _is_apposition(toks[i1 + 1][2]):
                        i1 += 1  # "3 عسكريين سوريين"
                elif trig is not None and trig.pos == "count":
                    # "ارتقاء 3 شهداء", "سقوط عدد من القتلى": the count noun reports the figure itself.
                    noun, i1, count_noun = True, j, trig.kind
                elif f == "من" and j + 1 < n:
                    f2 = toks[j + 1][2]
                    if _stem_of(f2) in lex.non_persons:
                        ok = False
                    elif f2 not in _TERMINATORS and f2 not in _COMMAS and not ("0" <= f2[0] <= "9"):
                        p2 = _analyse(f2)[1]
                        noun, i1 = True, j + 1
                        victims = p2[1] if p2 else None
                elif _stem_of(f) in lex.non_persons:
                    ok = False
                elif nt.value == 1 and nt.words and trig is None:
                    # أحد + construct noun: "أحد حراس المبنى", "إحدى السيدات" (not "أحد المنازل")
                    if "\u0621" <= f[0] <= "\u064a" and f not in _BREAKERS:
                        noun, i1 = True, j
            if ok and value == 1 and nt.words and not noun and toks[nt.core0][2] in numlex.one_of:
                ok = False  # bare أحد
            if ok:
                # trailing "اثنين" after a dual/ambiguous noun, "على الأقل"/"تقريبا" after the noun
                k = i1 + 1
                if noun and k < n and toks[k][2] in ("اثنين", "اثنان", "اثنتين", "اثنتان"):
                    value, i1, k = 2, k, k + 1
                if qual == "exact" and k + 1 < n and (toks[k][2], toks[k + 1][2]) in numlex.after:
                    qual, i1 = numlex.after[(toks[k][2], toks[k + 1][2])], k + 1
                elif qual == "exact" and k < n and (toks[k][2],) in numlex.after:
                    qual, i1 = numlex.after[(toks[k][2],)], k
                figs.append(_Fig(i, i1, value, qual, victims, noun, _is_part(toks, i, lex), count_noun=count_noun))
                nxt_free = i1 + 1
                continue
            nxt_free = nt.i1 + 1
            continue
        if i in covered:
            continue
        trig, pers, definite, stem = analyses[i]
        if pers is not None and trig is None and not definite:
            cnt, victims = pers
            i1 = i
            if i + 1 < n and toks[i + 1][2] in _ATTACKER_ADJ:
                nxt_free = i + 2  # "مسلحون مجهولون": the attackers, not victims
                continue
            if cnt is None and i + 1 < n and toks[i + 1][2] in ("اثنين", "اثنان"):
                cnt, i1 = 2, i + 1
            elif cnt == 2 and i + 1 < n and toks[i + 1][2] in ("اثنين", "اثنان", "اثنتين", "اثنتان"):
                i1 = i + 1
            while i1 + 1 < n and _is_apposition(toks[i1 + 1][2]):
                i1 += 1  # "جنديان أمريكيان", "شابان شقيقان": one group, not two
            qual = "exact" if cnt else "vague"
            if cnt and i1 + 2 < n and (toks[i1 + 1][2], toks[i1 + 2][2]) in numlex.after:
                qual, i1 = numlex.after[(toks[i1 + 1][2], toks[i1 + 2][2])], i1 + 2  # "قتل شخص على الأقل"
            figs.append(_Fig(i, i1, cnt, qual, victims, True, _is_part(toks, i, lex)))
            nxt_free = i1 + 1
    return {f.i0: f for f in figs}, figs


def _between_follows(toks, analyses, i: int, n: int) -> bool:
    """ "… بين قتيل وجريح" within a few words after token i."""
    for k in range(i + 1, min(n - 1, i + 5)):
        if toks[k][2] == "بين" and analyses[k + 1][0] is not None and analyses[k + 1][0].pos == "count":
            return True
    return False


def _is_apposition(form: str) -> bool:
    """An indefinite person noun with no conjunction right after another: an adjective/apposition."""
    trig, pers, definite, stem = _analyse(form)
    return pers is not None and trig is None and not definite and stem == form


def _is_part(toks, i: int, lex: _CasLex) -> bool:
    for k in (i - 1, i - 2):
        if k >= 0 and _stem_of(toks[k][2]) in lex.part_markers:
            return True
        if k >= 0 and (toks[k][2] in _TERMINATORS):
            return False
    return False


# --- main ------------------------------------------------------------------------------------

# Text around a trigger word that can hold its figure (characters): a figure before a verb or a
# count noun is at most a few words back; an antecedent of مقتلهم or a toll cue lies further back.
_BEFORE, _BEFORE_LONG, _AFTER = 90, 320, 140
_SENT_END = re.compile(r"[!?؟؛\n]|\.(?![0-9])")
_SPLIT_RE = re.compile(r"(?<![\u0621-\u064a])[\u0621-\u064a] [\u0621-\u064a] ")
# Every _SPLIT_RE match at p holds " X " at p + 1; this literal-led pattern is found ~10x faster, so the
# lookbehind pattern runs only from just before its first hit (identical matches).
_SPLIT_HINT = re.compile(r" [\u0621-\u064a] ")
_LETTER = re.compile(r"[\u0621-\u064a]")
_SPACE = " \n\t"


@lru_cache(maxsize=1)
def _automaton():
    """Aho-Corasick over every trigger surface; hits are checked against whole words."""
    lex = casualty_lexicon()
    a = new_automaton()
    keys = set(lex.triggers) | {f for f in lex.extra_firsts if len(f) >= 3} | {"نفسه", "نفسها"}
    for k in keys:
        a.add_word(k, len(k))
    a.make_automaton()
    return a


def _seeds(folded: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """(word start, word end, chars to look back) for each whole word that can start a rule."""
    lex = casualty_lexicon()
    out = []
    last = -1
    extra = lex.extra_firsts
    # a letter is "\u0621" <= c <= "\u064a" (tested inline: this loop sees every trigger-key hit of the text)
    for e, length in _automaton().iter(folded, start, end):
        we = e + 1
        if we < end and "\u0621" <= folded[we] <= "\u064a":
            continue  # not the end of a word (a longer key will match there)
        ws = we - length
        k = 0
        while ws > start and "\u0621" <= folded[ws - 1] <= "\u064a" and k < 4:
            ws -= 1
            k += 1
        if ws > start and "\u0621" <= folded[ws - 1] <= "\u064a" or ws == last:
            continue
        form = folded[ws:we]
        trig = _analyse(form)[0]
        if trig is None and form not in extra:
            continue
        last = ws
        back = _BEFORE_LONG if trig is not None and trig.pos == "suffixed" else _BEFORE
        out.append((ws, we, back))
    h = _SPLIT_HINT.search(folded, start, end)
    if h is not None:
        for m in _SPLIT_RE.finditer(folded, max(start, h.start() - 1), end):
            out.append((m.start(), m.end(), _BEFORE))
    out.sort()
    return out


_END_CHARS = "!?؟؛\n"  # _SENT_END's one-character ends besides "."


def _after_last_end(folded: str, s: int, e: int) -> int:
    """Just after the last _SENT_END match in folded[s:e] (e is its end: a "." at e - 1 ends), else s."""
    best = -1
    for ch in _END_CHARS:
        k = folded.rfind(ch, s, e)
        if k > best:
            best = k
    k = folded.rfind(".", max(s, best + 1), e)
    while k >= 0 and k + 1 < e and "0" <= folded[k + 1] <= "9":  # "3.5": not an end
        k = folded.rfind(".", max(s, best + 1), k)
    best = max(best, k)
    return best + 1 if best >= 0 else s


def _first_end(folded: str, s: int, e: int) -> int:
    """Position of the first _SENT_END match in folded[s:e] (e is its end), else -1."""
    first = e
    for ch in _END_CHARS:
        k = folded.find(ch, s, first)
        if k >= 0:
            first = k
    k = folded.find(".", s, first)
    while k >= 0 and k + 1 < e and "0" <= folded[k + 1] <= "9":
        k = folded.find(".", k + 1, first)
    if k >= 0:
        first = k
    return first if first < e else -1


def find_casualties(folded: str, start: int = 0, end: int | None = None) -> list[CasualtyMention]:
    """Casualty mentions in folded[start:end] (a sentence, a window or the whole article).

    Only the text around trigger words is tokenised (linear, fast on long articles); a region
    reaches far enough for a figure before its verb, an antecedent or a toll cue.
    """
    end = len(folded) if end is None else min(end, len(folded))
    start = max(0, start)
    if start >= end:
        return []
    seeds = _seeds(folded, start, end)
    if not seeds:
        return []
    # Every cumulative cue word contains one of these strings: none in the text, no toll anywhere.
    cue = any(folded.find(h, start, end) >= 0 for h in _cue_hints())
    regions: list[list[int]] = []
    for ws, we, back in seeds:
        s, e = max(start, ws - back), min(end, we + _AFTER)
        # A figure never crosses a sentence end (only pronouns look further back).
        if back == _BEFORE:
            s = _after_last_end(folded, s, ws)
        k = _first_end(folded, we, e)
        if k >= 0:
            e = k + 1
        if regions and s <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], e)
        else:
            regions.append([s, e])
    out: list[CasualtyMention] = []
    for s, e in regions:
        # Do not cut a word or number in two at the region's edges.
        if s > start and folded[s - 1].isalnum() and folded[s].isalnum():
            while s < e and folded[s] not in _SPACE:
                s += 1
        if e < end and folded[e].isalnum() and folded[e - 1].isalnum():
            while e > s and folded[e - 1] not in _SPACE:
                e -= 1
        out.extend(_find_in_region(folded, s, e, start, cue))
    return out


def _find_in_region(folded: str, start: int, end: int, lo: int = 0, cue: bool = True) -> list[CasualtyMention]:
    """Mentions in folded[start:end]; ``cue=False`` when folded[lo:end] holds no cumulative cue (no toll)."""
    lex = casualty_lexicon()
    toks = tokenize(folded, start, end)
    if not toks:
        return []
    h = _SPLIT_HINT.search(folded, start, end)
    if h is not None and _SPLIT_RE.search(folded, max(start, h.start() - 1), end):
        toks = _merge_split_letters(folded, toks, lex)
    n = len(toks)
    forms = list(map(_FORM, toks))
    trig_idx = list(compress(range(n), map(_SEED_FLAGS.__getitem__, forms)))
    if not trig_idx:
        return []
    analyses = list(map(_ANALYSES.__getitem__, forms))
    nums = scan_numbers(toks)
    fig_at, figs = _figures(toks, nums, lex, analyses)
    has_natural = not lex.natural.isdisjoint(forms)
    num_at = {nt.i0: nt for nt in nums}
    num_end = {nt.i1: nt for nt in nums}
    ends_at = {f.i1: f for f in figs}
    used_trig: set[int] = set()
    out: list[CasualtyMention] = []

    def is_trigger(k: int) -> bool:
        return analyses[k][0] is not None

    last_tok: dict[str, int] = {}

    def emit(kind, n_, qual, i0, i1, cum_from, victims=None, combined=None, trig_i=None):
        s, e = toks[i0][0], toks[i1][1]
        last_tok[kind] = i1
        out.append(_new_mention((
            kind, n_, qual if n_ is not None or qual == "vague" else "vague", s, e, folded[s:e],
            cue and _cumulative(folded, toks[cum_from][0], lo, lex), victims, combined,
            toks[trig_i][2] if trig_i is not None else "",
        )))

    def forward(t_end: int, max_skip: int = 4, allow_bare: bool = True, allow_named: bool = True,
                verb: bool = False):
        """First usable figure after token t_end, or a named person (1), or None.

        Up to ``max_skip`` words may stand between (the subject of an active verb: "اعتقلت قوات
        الأمن شابين"); commas and time words ("، اليوم السبت،") are free. After a verb, a short
        adverbial "في …" may come first ("استشهد في اليوم الخامس للهدنة 6 مواطنين"); a figure
        behind it must be a number of people.
        """
        k = t_end + 1
        skipped = 0
        crossed = False
        while k < n and skipped <= max_skip and k - t_end <= 12:
            f = toks[k][2]
            if f in _TERMINATORS:
                return None
            if f in _COMMAS and f != '"' or f in _TIME_WORDS:
                k += 1
                continue
            fig = fig_at.get(k)
            if fig is not None:
                if fig.part or fig.used:
                    return None
                if not fig.noun and not (allow_bare and skipped == 0):
                    return None
                if crossed and fig.n is None:
                    return None
                nxt = fig_at.get(fig.i1 + 1)
                if fig.n is None and fig.i0 == fig.i1 and nxt is not None and nxt.n is not None and not nxt.used:
                    return nxt  # "اختطف مسلحون ثلاثة مدنيين": the bare plural was the subject
                return fig
            if k in num_at or (k in num_end and num_end[k].role != "count"):
                return None  # a date/age/measure number, or a number blocked by a thing noun
            a = analyses[k]
            if a[0] is not None and a[0].pos != "weak":
                return None
            if skipped == 0 and allow_named and (f in lex.named_one or f == '"'):
                return _Fig(k, k, 1, "exact", _victims_named(f), True, False)
            if verb and not crossed and f in ("في", "خلال"):
                crossed = True
            elif f in _BREAKERS or _stem_of(f) in lex.part_markers:
                return None
            skipped += 1
            k += 1
        return None

    def backward(t: int, max_skip: int = 8):
        """Nearest unused figure ending before token t in the same clause (quotes and commas free)."""
        k = t - 1
        skipped = 0
        while k >= 0 and skipped <= max_skip:
            f = toks[k][2]
            if f in _TERMINATORS or (k != t - 1 and is_trigger(k)):
                return None
            if f in _COMMAS:
                k -= 1
                continue
            fig = ends_at.get(k)
            if fig is not None and fig.noun:
                if fig.used or fig.part:
                    return None
                return fig
            if f in _RELATIVES or f in _BREAKERS:
                return None
            skipped += 1
            k -= 1
        return None

    def same_sentence(a: int, b: int) -> bool:
        return not any(toks[k][2] in _TERMINATORS for k in range(a + 1, b))

    def named_before(t: int):
        k, skipped = t - 1, 0
        while k >= 0 and skipped <= 6:
            f = toks[k][2]
            if f in _TERMINATORS or is_trigger(k) or f in _BREAKERS or f in _RELATIVES or k in fig_at:
                return None
            if f in lex.named_one and f not in ("الاول", "الثاني", "الاخر", "الاخير"):
                return _Fig(k, k, 1, "exact", _victims_named(f), True, False)
            if f not in _COMMAS:
                skipped += 1
            k -= 1
        return None

    def coordinated(fig: _Fig) -> list[_Fig]:
        """Parts joined by و after a figure: "شابين من جاسم وشاب من طفس"."""
        parts = [fig]
        k = fig.i1 + 1
        gap = 0
        while k < n and gap <= 4:
            f = toks[k][2]
            if f in _TERMINATORS or is_trigger(k) or f in _BREAKERS or f.startswith(("بال", "وفي")):
                break  # "مصرع 16 بالحسكة و78 في القنيطرة": parts in other places are other events
            nf = fig_at.get(k)
            if nf is not None and (f.startswith("و") or (k > 0 and toks[k - 1][2] == "و")):
                # A plural with no number ("78 مسلحا من المعارضة وعناصر مرتبطة") describes, it does not add.
                if nf.part or nf.used or not nf.noun or nf.n is None:
                    break
                parts.append(nf)
                k = nf.i1 + 1
                gap = 0
                continue
            if nf is not None or k in num_at:
                break
            if f in _COMMAS and not (k + 1 < n and toks[k + 1][2].startswith("و")):
                break
            gap += 1
            k += 1
        return parts

    def combine(parts: list[_Fig]) -> tuple[int | None, str, str | None]:
        vals = [p.n for p in parts]
        qual = next((p.qual for p in parts if p.qual != "exact"), "exact")
        vics = {p.victims for p in parts}
        victims = vics.pop() if len(vics) == 1 else None
        if any(v is None for v in vals):
            return None, "vague", victims
        return sum(vals), qual, victims

    for t in trig_idx:
        if t in used_trig:
            continue
        form = toks[t][2]
        trig, _pers, definite, stem = analyses[t]
        # Negated casualties: "دون وقوع إصابات" -> 0 killed, 0 wounded.
        if stem in lex.neg_nouns and not definite and any(
            toks[k][2] in lex.negations for k in range(max(0, t - lex.neg_window), t)
        ):
            k0 = max(k for k in range(max(0, t - lex.neg_window), t) if toks[k][2] in lex.negations)
            if has_natural and not _violent_death(toks, t, "", lex):
                continue  # "زلزال … دون وقوع إصابات": not a conflict event
            i1 = t + 1 if t + 1 < n and toks[t + 1][2] in ("بشريه", "بشرية", "في") else t
            emit("killed", 0, "exact", k0, i1, k0, trig_i=t)
            emit("wounded", 0, "exact", k0, i1, k0, trig_i=t)
            continue
        # Phrases: أودى بحياة، القضاء على، لقي حتفه، القبض على …
        if trig is None:
            ph = None
            # The subject may stand inside the phrase: "أودى الانفجار بحياة 3 عمال".
            for gap in (1, 2, 3):
                if t + gap < n:
                    ph = lex.phrases.get((_strip_conj(form), toks[t + gap][2]))
                    if ph is not None:
                        break
            if ph is not None:
                used_trig.add(t + gap)
                trig = ph
                t_end = t + gap
            elif form in ("نفسه", "نفسها"):
                # "فجّر نفسه": the attacker who blew himself up is killed.
                for k in range(t - 1, max(-1, t - 14), -1):
                    if toks[k][2] in _TERMINATORS:
                        break
                    if _strip_conj(toks[k][2]) in ("فجر", "فجرت", "يفجر", "تفجير", "بتفجير"):
                        emit("killed", 1, "exact", k, t, k, "fighters", trig_i=k)
                        break
                continue
            else:
                continue
        else:
            t_end = t
        kind, pos = trig.kind, trig.pos
        if t > 0 and toks[t - 1][2] in lex.irrealis:
            continue  # "محاولة اغتيال", "بهدف قتل": nobody was (yet) killed
        if kind == "killed" and (has_natural or stem in _NEEDS_VIOLENCE) and not _violent_death(toks, t, stem, lex):
            continue  # "توفي رجل بنوبة قلبية", "ضحايا الزلزال": not a conflict death

        if pos == "count":
            # A count phrase (الخسائر البشرية) is read like a definite noun at its last word.
            _count_noun(t_end, trig, definite or t_end > t, toks, analyses, lex, num_end, ends_at, fig_at,
                        used_trig, emit, backward)
            continue

        if pos == "suffixed":
            # The pronoun refers back to victims. Within one sentence they are counted once
            # ("قتل 3 أشخاص … ما أدى لمقتلهم"); in a later sentence the figure is repeated and the
            # event assembler, which merges repeated figures, decides.
            lt = last_tok.get(kind)
            if trig.count is not None and lt is not None and lt < t and same_sentence(lt, t):
                continue
            ante = None
            for k in range(t - 1, max(-1, t - 40), -1):
                fg = ends_at.get(k)
                if fg is not None and fg.noun and not fg.part:
                    ante = fg
                    break
            if ante is not None and ante.used and same_sentence(ante.i1, t):
                continue
            if trig.count is None:
                if ante is not None:
                    ante.used = True
                    emit(kind, ante.n, ante.qual if ante.n is not None else "vague", t, t, t,
                         ante.victims, trig_i=t)
                else:
                    emit(kind, None, "vague", t, t, t, trig_i=t)
            else:
                if ante is not None and ante.n == trig.count:
                    ante.used = True
                emit(kind, trig.count, "exact", t, t, t, ante.victims if ante else None, trig_i=t)
            continue

        fig = None
        parts: list[_Fig] = []
        # "وثق المرصد 12 حالة اعتقال": a number of cases is a number of people.
        if t > 1 and toks[t - 1][2] in ("حالات", "حاله", "حالتي", "حالتا") and t - 2 in num_end:
            nt = num_end[t - 2]
            if nt.role == "count":
                fig = _Fig(nt.i0, t - 1, nt.value, nt.qualifier, None, True, _is_part(toks, nt.i0, lex))
                parts = [fig]
        # A phrase with its subject inside: "لقي شخص مصرعه", "أودى الانفجار بحياة …".
        for k in range(t + 1, t_end if fig is None else t + 1):
            g = fig_at.get(k)
            if g is not None and g.noun and not g.used and not g.part:
                fig = g
                break
        if fig is None and pos == "verb" and trig.agree in ("du", "pl"):
            fig = backward(t)
        elif fig is None and pos == "verb" and (t_end + 1 >= n or t_end + 1 not in fig_at):
            # Subject first with a singular verb: "وطفل استشهد برصاص قناص", "أحد عناصر الفرع، قتل".
            # A verb after its subject agrees in number, so only a figure of one person fits.
            fig = backward(t, max_skip=8)
            if fig is not None and fig.n != 1:
                fig = None
        if fig is not None:
            parts = [fig]
            # Coordinated subjects before the verb: "أربعة عناصر من الشرطة، وطفل قتلوا".
            k, gap = parts[0].i0 - 1, 0
            while toks[parts[0].i0][2].startswith("و") and k >= 0 and gap <= 4:
                f = toks[k][2]
                if f in _TERMINATORS or is_trigger(k) or f in _BREAKERS:
                    break
                prev = ends_at.get(k)
                if prev is not None:
                    if prev.used or prev.part or not prev.noun or prev.n is None:
                        break
                    parts.insert(0, prev)
                    k, gap = prev.i0 - 1, 0
                    continue
                if f not in _COMMAS:
                    gap += 1
                k -= 1
            if trig.agree == "pl" and sum(p.n or 0 for p in parts) == 1:
                fig, parts = None, []  # "طفل … قتلوا": a plural verb does not take a single subject
        # Combined "قتل وجرح 5", "مقتل وإصابة أربعة": one figure after both triggers. Not when the
        # first verb already has its subject ("مدنيا قتل وأصيب آخر").
        combined_with = None
        if fig is None and t_end + 1 < n:
            a2 = analyses[t_end + 1]
            f2 = toks[t_end + 1][2]
            if a2[0] is not None and f2.startswith("و") and a2[0].kind != kind and a2[0].pos in ("action", "verb"):
                combined_with = a2[0].kind
                used_trig.add(t_end + 1)
                t_end += 1
        if fig is None:
            fig = forward(t_end, allow_bare=(pos != "weak"), allow_named=(pos != "weak"), verb=(pos == "verb"))
            if fig is not None and pos == "verb" and trig.agree == "pl" and fig.n == 1:
                fig = None
        if fig is None and pos == "verb" and trig.agree == "sg" and combined_with is None:
            # A named victim before a singular verb: 'الشاب "فلان الفلاني" قتل متأثرا بجراحه'.
            fig = named_before(t)
        generic = t > 0 and toks[t - 1][2] in lex.generic
        if generic and fig is not None and fig.n is None:
            fig = None
        if fig is None:
            if combined_with is not None and not generic:
                emit(kind, None, "vague", t, t_end, t, trig_i=t)
                emit(combined_with, None, "vague", t, t_end, t, trig_i=t)
            continue
        if pos == "weak" and (not fig.noun or _between_follows(toks, analyses, fig.i1, n)):
            continue
        if fig.count_noun == kind and combined_with is None:
            continue  # the count noun after the figure reports it (and any "وجريح" combination)
        if fig.count_noun:
            used_trig.add(fig.i1)  # "إعدام 4 أسرى": killed; the captives' noun is not a new mention
        if fig.i0 > t:
            parts = coordinated(fig)
        elif not parts or parts[-1] is not fig:
            parts = [fig]
        for p in parts:
            p.used = True
        val, qual, victims = combine(parts)
        i0 = min(t, parts[0].i0)
        i1 = max(t_end, parts[-1].i1)
        if combined_with is not None:
            emit(kind, None, "vague", i0, i1, i0, victims, val, trig_i=t)
            emit(combined_with, None, "vague", i0, i1, i0, victims, val, trig_i=t)
        else:
            emit(kind, val, qual, i0, i1, min(t, parts[0].i0), victims, trig_i=t)
    out.sort(key=lambda m: (m.start, KINDS.index(m.kind)))
    return out


_NEEDS_VIOLENCE = frozenset({"توفي", "توفيت", "توفيا", "توفيتا", "توفوا", "وفاه", "وفاته", "وفاتها", "وفاتهما", "وفاتهم"})


def _violent_death(toks, t: int, stem: str, lex: _CasLex) -> bool:
    """False for deaths the clause attributes to a natural cause, or توفي/وفاة with no violence cue."""
    lo, hi = max(0, t - 10), min(len(toks), t + 11)
    natural = violent = False
    for k in range(lo, hi):
        f = toks[k][2]
        if f in _TERMINATORS:
            if k < t:
                natural = violent = False
                continue
            break
        if f in lex.natural:
            natural = True
        elif f in lex.violence or _strip_conj(f) in lex.violence:
            violent = True
        elif k != t:
            a = _analyse(f)[0]
            if a is not None and a.kind == "killed" and a.pos in ("action", "count", "verb") and f not in _NEEDS_VIOLENCE:
                violent = True  # "من بين العدد الكلي للقتلى، توفي 45 شخصا"
    if violent:
        return True
    return not natural and stem not in _NEEDS_VIOLENCE


def _strip_conj(form: str) -> str:
    return form[1:] if len(form) > 3 and form[0] in "وف" else form


def _victims_named(form: str) -> str | None:
    if form in ("الطفل", "الطفله", "المواطن", "المواطنه", "السيده", "الناشط", "الصحفي", "الاعلامي", "الطبيب", "المعلم", "المدرس"):
        return "civilians"
    if form in ("الملازم", "النقيب", "الرايد", "المقدم", "العقيد", "العميد", "الرقيب", "المجند", "القيادي", "العنصر", "المسلح", "المهاجم", "الانتحاري"):
        return "fighters"
    return None


@lru_cache(maxsize=1)
def _cue_hints() -> tuple[str, ...]:
    """The cumulative cue forms that contain no other cue form (each cue word, with its clitics, contains one)."""
    forms = sorted(casualty_lexicon().cumulative, key=len)
    return tuple(f for i, f in enumerate(forms) if not any(g in f for g in forms[:i]))


def _cumulative(folded: str, pos: int, lo: int, lex: _CasLex) -> bool:
    """A cumulative cue (حصيلة، ارتفع، بلغ) earlier in the same sentence, within 250 characters."""
    s = max(lo, pos - 250)
    chunk = folded[s:pos]
    rfind = chunk.rfind
    cut = max(rfind("."), rfind("!"), rfind("?"), rfind("؟"), rfind("؛"), rfind("\n"))
    if cut >= 0:
        chunk = chunk[cut + 1:]
    return not lex.cumulative_all.isdisjoint(chunk.split())


def _count_noun(t, trig, definite, toks, analyses, lex, num_end, ends_at, fig_at, used_trig, emit, backward):
    """Count nouns (قتيل، قتلى، شهداء، جرحى، أسرى): the figure precedes them."""
    kind = trig.kind
    n = len(toks)
    # Figure right before: "70 قتيلا", "أكثر من 140 جريحا", "الــ 52 شهيدا", "عشرات القتلى", "عدد من القتلى"
    k = t - 1
    nt = None
    if k >= 0 and toks[k][2] == "من" and k - 1 in num_end and num_end[k - 1].qualifier == "vague":
        nt = num_end[k - 1]
    elif k >= 0 and k in num_end:
        nt = num_end[k]
    if nt is not None and nt.role == "count" and definite and nt.value == 1 and nt.words:
        return  # "أحد المعتقلين", "أحد القتلى": one member of a group already known
    if nt is not None and nt.role == "count":
        fig = fig_at.get(nt.i0)
        if fig is not None:
            if fig.used or fig.part:
                return
            fig.used = True
        # "200 شهيد وجريح": one figure for two kinds
        other = None
        if t + 1 < n:
            a2 = analyses[t + 1]
            if a2[0] is not None and a2[0].pos == "count" and toks[t + 1][2].startswith("و") and a2[0].kind != kind:
                other = a2[0].kind
                used_trig.add(t + 1)
        i1 = t + 1 if other else t
        if other and nt.value is not None:
            emit(kind, None, "vague", nt.i0, i1, nt.i0, combined=nt.value, trig_i=t)
            emit(other, None, "vague", nt.i0, i1, nt.i0, combined=nt.value, trig_i=t)
            return
        emit(kind, nt.value, nt.qualifier, nt.i0, t, nt.i0, trig_i=t)
        if nt.qualifier == "vague":
            # "عدد من القتلى والإصابات والأسرى": the quantity covers the whole list.
            j = t + 1
            while j < n and toks[j][2].startswith("و") and analyses[j][0] is not None and analyses[j][0].pos == "count":
                used_trig.add(j)
                emit(analyses[j][0].kind, None, "vague", j, j, j, trig_i=j)
                j += 1
        return
    # "بين قتيل وجريح": a figure earlier in the clause covers both kinds.
    if k >= 0 and toks[k][2] == "بين" and t + 1 < n and analyses[t + 1][0] is not None and analyses[t + 1][0].pos == "count":
        other = analyses[t + 1][0].kind
        used_trig.add(t + 1)
        fig = None
        for kk in range(k - 1, max(-1, k - 12), -1):
            if toks[kk][2] in _TERMINATORS:
                break
            g = ends_at.get(kk) or fig_at.get(kk)
            if g is not None and not g.used and not g.part:
                fig = g
                break
        if fig is not None:
            fig.used = True
        comb = fig.n if fig is not None else None
        i0 = fig.i0 if fig is not None else k
        emit(kind, None, "vague", i0, t + 1, i0, fig.victims if fig else None, comb, trig_i=t)
        emit(other, None, "vague", i0, t + 1, i0, fig.victims if fig else None, comb, trig_i=t)
        return
    if definite or (k >= 0 and _strip_conj(toks[k][2]) in ("عدد", "اعداد", "حصيله", "العدد", "ارقام")):
        # "ارتفعت حصيلة القتلى إلى 40", "بلغ عدد الجرحى 15": a bare figure shortly after.
        for j in range(t + 1, min(n, t + 5)):
            f = toks[j][2]
            if f in _TERMINATORS:
                break
            fig = fig_at.get(j)
            if fig is not None:
                if fig.used or fig.part or (fig.n is None and not fig.noun):
                    break
                fig.used = True
                emit(kind, fig.n, fig.qual, t, fig.i1, fig.i0, fig.victims, trig_i=t)
                return
            if j in num_end and num_end[j].role != "count":
                break
            if f not in ("الي", "ل", "نحو", "الان", "حتي") and f not in lex.cumulative_all and not f.startswith("ال"):
                break
        # "الأسرى … والذين يبلغ عددهم ستة": the figure comes with عددهم later in the sentence.
        for j in range(t + 1, min(n, t + 25)):
            f = toks[j][2]
            if f in _TERMINATORS:
                break
            if f in ("عددهم", "عددهن", "وعددهم"):
                for jj in range(j + 1, min(n, j + 4)):
                    fig = fig_at.get(jj)
                    if fig is not None and not fig.used:
                        fig.used = True
                        emit(kind, fig.n, fig.qual, t, fig.i1, t, fig.victims, trig_i=t)
                        return
                break
        return
    # "7 من العناصر سقطوا قتلى": the victims are the subject of the verb before the noun.
    if k >= 0 and toks[k][2] in ("سقطوا", "سقط", "سقطت", "سقطا", "وسقط", "وسقطوا", "سقطن"):
        fig = backward(k)
        if fig is not None:
            fig.used = True
            emit(kind, fig.n, fig.qual, fig.i0, t, fig.i0, fig.victims, trig_i=t)
            return
    # No figure: the noun's own number (قتيل = 1, قتيلان = 2, قتلى = vague).
    cnt = trig.count
    if cnt is None and _analyse(toks[t][2])[3] in lex.figure_only:
        return
    emit(kind, cnt, "exact" if cnt else "vague", t, t, t, trig_i=t)


# The compiled build of this module (setup.py, Cython pure-Python mode), when built from this very source,
# replaces it for every importer (rasd.extract.common.compiled_twin).
_twin = compiled_twin(__name__, __file__)
if _twin is not None:
    sys.modules[__name__] = _twin

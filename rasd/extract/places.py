"""Place mentions in folded Arabic text, resolved against the vendored OCHA gazetteer.

``Gazetteer.load()`` reads ``rasd/data/gazetteer/syria_places.csv`` and ``rasd/data/places.yaml`` once and
builds one Aho-Corasick automaton over every normalised name, alias, site and region (including the
generated "ريف X" / "ريف X الغربي" forms). ``find_places`` scans folded text with it and keeps matches
that sit on Arabic word boundaries, resolves names shared by several places from context, and drops
names that are ordinary words unless a place cue (قرية، بلدة، حي…) or a locator ("… شمالي درعا") backs them.
"""
from __future__ import annotations

import bisect
import csv
import functools
import math
import operator
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from rasd.extract.common import PROCLITICS, compiled_twin, fast_init, new_automaton, word_hits
from rasd.text.normalize import normalize

DATA = Path(__file__).resolve().parent.parent / "data"
GAZETTEER_CSV = DATA / "gazetteer" / "syria_places.csv"
COMMON_NAMES = DATA / "gazetteer" / "common_names.tsv"
CLITIC_WORDS = DATA / "gazetteer" / "clitic_words.tsv"
PLACES_YAML = DATA / "places.yaml"

PLACE_TYPES = ("governorate", "district", "subdistrict", "city", "town", "village", "neighbourhood", "region", "site")

STRONG, WEAK, STOP = 0, 1, 2

# Preference when a surface form still names several kinds of place: a governorate's name on its own
# ("في درعا") is read as its capital city; a subdistrict named like its seat is the seat town.
_TYPE_RANK = {"city": 0, "region": 1, "site": 1, "town": 2, "village": 3, "neighbourhood": 4,
              "subdistrict": 5, "district": 6, "governorate": 7}

# Gazetteer names that begin with a place-type word ("مدينة حمص"): the word is a cue, not part of the name.
_LEADING_CUE = ("مدينه ", "قريه ", "بلده ")


@dataclass(frozen=True)
class Place:
    place_id: str
    name_en: str
    name_ar: str
    place_type: str
    admin1: str | None
    admin2: str | None
    admin3: str | None
    admin1_pcode: str | None
    lat: float
    lon: float
    admin2_pcode: str | None = None
    admin3_pcode: str | None = None
    alt_names_ar: tuple[str, ...] = ()
    parent_id: str | None = None      # neighbourhoods: the city they belong to


@dataclass(frozen=True)
class PlaceMention:
    start: int
    end: int
    text: str
    place_id: str | None
    name_en: str
    name_ar: str
    place_type: str
    admin1: str | None
    admin2: str | None
    admin3: str | None
    lat: float
    lon: float
    geo_precision: int
    candidates: tuple[str, ...] = ()
    admin1_pcode: str | None = None
    detail_id: str | None = None      # neighbourhood, site or region id when place_id is its town (or None)
    cue: str | None = None            # settlement|neighbourhood|subdistrict|area|governorate|None
    near: bool = False                # "قرب/محيط/أطراف …": the event is near the place (geo_precision 2)
    is_locator: bool = False          # locates the previous mention ("جاسم شمالي درعا": درعا), not a place of its own
    weak: bool = False                # accepted through context only (a common-word or shared name)


@dataclass(frozen=True)
class _Target:
    """One thing a surface form can mean: a gazetteer place, an alias point, a site or a region."""

    tid: str
    place_id: str | None
    name_en: str
    name_ar: str
    place_type: str
    admin1: str | None
    admin2: str | None
    admin3: str | None
    admin1_pcode: str | None
    lat: float
    lon: float
    precision: int
    detail_id: str | None = None
    explicit: bool = False            # an alias from places.yaml (preferred over a same-named village)


@dataclass(frozen=True)
class _Entry:
    target: _Target
    level: int                        # STRONG | WEAK | STOP
    needs_article: bool               # key is a name with its article "ال" removed (for "للحراك")


def _within(a: _Target, b: _Target, limit_km: float) -> bool:
    """Are two targets closer than limit_km (cheap box test first)?"""
    if abs(a.lat - b.lat) * 111 > limit_km or abs(a.lon - b.lon) * 90 > limit_km:
        return False
    return km(a.lat, a.lon, b.lat, b.lon) < limit_km


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlon = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return math.degrees(math.atan2(dlon, math.radians(lat2 - lat1))) % 360


def _with_lam(name: str) -> str:
    """ل + name: "ل" + "الرقه" is written "للرقه" (the article's alef drops)."""
    return "لل" + name[2:] if name.startswith("ال") else "ل" + name


_WORD = re.compile(r"[^\W\d_]+")


class Gazetteer:
    """The gazetteer plus places.yaml, indexed for matching. Build once per process with ``load()``."""

    def __init__(self, places: dict[str, Place], targets: dict[str, _Target], keys: dict[str, list[_Entry]],
                 config: dict, admin1_lookup: dict[str, str], seat_of: dict[str, str] | None = None,
                 countryside: dict[str, tuple[str, str]] | None = None, clitic_words: set[str] | None = None):
        self._places = places
        self.seat_of = seat_of or {}            # subdistrict P-code -> its seat town's P-code
        self.countryside = countryside or {}    # governorate P-code -> ("ريف X" id, "ريف X <dir>" id prefix)
        self.clitic_words = clitic_words or set()
        self.targets = targets
        self.keys = keys
        self.config = config
        self.admin1_lookup = admin1_lookup
        cues = config.get("cues", {})
        self.cue_words: dict[str, str] = {}
        for kind in ("settlement", "settlement_weak", "neighbourhood", "subdistrict", "area", "governorate"):
            for w in cues.get(kind, []):
                self.cue_words[w] = kind
        self.near_words = set(cues.get("near", []))
        # the same words with proclitics attached ("وببلدة", "لمدينة", "بالقرب"): one dict lookup per word
        clitics = [c + p for c in ("", "و", "ف") for p in ("", "ب", "ل", "ك")]
        self.cue_forms = {c + w: kind for w, kind in self.cue_words.items() for c in clitics}
        self.near_forms = {c + w for w in self.near_words for c in clitics}
        self.direction_forms = {c + w for w in cues.get("direction", []) if " " not in w for c in clitics}
        self.governorate_first = set(config.get("governorate_first", []))
        self.not_place_words = {c + w for w in cues.get("not_place", []) for c in ("", "و", "ف")}
        # what find_places reads in the 3 words (within 60 characters) before each name: rasd/_acscan.c
        # longest_words' context argument, and places._hit_context's
        self.context_words = (self.cue_forms, self.not_place_words, self.near_forms, self.direction_forms,
                              self.clitic_words, 3, 60, _PUNCT)
        self.automaton = new_automaton()
        for key, entries in keys.items():
            plain = tuple(e for e in entries if not e.needs_article)
            article = tuple(e for e in entries if e.needs_article)
            self.automaton.add_word(key, (len(key), key, plain, article))
        self.automaton.make_automaton()
        # Per-surface-form facts that do not depend on the article, filled on first use by find_places:
        # (key, article?) -> _FormInfo and (key, article?, cue) -> _CueInfo.
        self._form_info: dict[tuple, _FormInfo] = {}
        self._cue_info: dict[tuple, _CueInfo] = {}

    # -- public lookups ------------------------------------------------------------------------
    def get(self, place_id: str) -> Place | None:
        return self._places.get(place_id)

    def ids(self) -> set[str]:
        return set(self._places)

    def admin1_pcode(self, name: str | None) -> str | None:
        """P-code of a governorate given as P-code, English (OCHA or common) or Arabic name."""
        if not name:
            return None
        return self.admin1_lookup.get(name) or self.admin1_lookup.get(name.lower()) or self.admin1_lookup.get(normalize(name))

    @classmethod
    def load(cls) -> "Gazetteer":
        return _load_gazetteer()


@functools.lru_cache(maxsize=1)
def _load_gazetteer() -> Gazetteer:
    config = yaml.load(PLACES_YAML.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    names_en = config.get("names_en", {})
    gov_en = config.get("admin1_common_en", {})
    zipf: dict[str, float] = {}
    for line in COMMON_NAMES.read_text(encoding="utf-8").splitlines()[1:]:
        if "\t" in line:
            k, v = line.split("\t")
            zipf[k] = float(v)

    places: dict[str, Place] = {}
    rows = list(csv.DictReader(GAZETTEER_CSV.open(encoding="utf-8", newline="")))
    city_by_admin2: dict[str, str] = {}
    for r in rows:
        if r["place_type"] == "city":
            city_by_admin2.setdefault(r["admin2_pcode"], r["place_id"])
    for r in rows:
        pt = r["place_type"]
        parent = None
        if pt == "neighbourhood":
            parent = city_by_admin2.get(r["admin2_pcode"])
        alts = tuple(a for a in r["alt_names_ar"].split("|") if a)
        places[r["place_id"]] = Place(
            place_id=r["place_id"], name_en=names_en.get(r["place_id"], r["name_en"]), name_ar=r["name_ar"],
            place_type=pt, admin1=r["admin1_en"] or None, admin2=r["admin2_en"] or None, admin3=r["admin3_en"] or None,
            admin1_pcode=r["admin1_pcode"] or None, lat=float(r["lat"]), lon=float(r["lon"]),
            admin2_pcode=r["admin2_pcode"] or None, admin3_pcode=r["admin3_pcode"] or None,
            alt_names_ar=alts, parent_id=parent)

    admin1_en = {p.place_id: p.admin1 for p in places.values() if p.place_type == "governorate"}
    admin1_lookup: dict[str, str] = {}
    for p in places.values():
        if p.place_type == "governorate":
            for n in (p.place_id, p.name_en, p.name_en.lower(), normalize(p.name_ar), gov_en.get(p.place_id, "")):
                if n:
                    admin1_lookup[n] = p.place_id
                    admin1_lookup[n.lower()] = p.place_id

    targets: dict[str, _Target] = {}
    keys: dict[str, list[_Entry]] = defaultdict(list)
    weakness = config.get("weakness", {})
    stop_names = {a for e in config.get("stop_names", []) for a in e["ar"]}
    weak_names = {a for e in config.get("weak_names", []) for a in e["ar"]}
    strong_names = set(config.get("strong_names", []))

    def level_for(key: str, place_type: str) -> int:
        if key in strong_names:
            return STRONG
        if key in stop_names:
            return STOP
        if key in weak_names:
            return WEAK
        if len(key.replace(" ", "")) <= 2:
            return STOP
        th = weakness.get(f"{place_type}_multiword" if " " in key else place_type)
        if not th:
            return STRONG
        z = zipf.get(key, 0.0)
        if z >= th["stop"]:
            return STOP
        if z >= th["weak"]:
            return WEAK
        return STRONG

    def add_key(key: str, target: _Target, level: int | None = None) -> None:
        key = normalize(key)
        for cue in _LEADING_CUE:
            if key.startswith(cue) and target.place_type not in ("region", "site"):
                key = key[len(cue):]
        if len(key) < 3:
            return
        lvl = level_for(key, target.place_type) if level is None else level
        if not any(e.target.tid == target.tid and not e.needs_article for e in keys[key]):
            keys[key].append(_Entry(target, lvl, False))
        if key.startswith("ال") and len(key) >= 5:
            bare = key[2:]
            if not any(e.target.tid == target.tid and e.needs_article for e in keys[bare]):
                keys[bare].append(_Entry(target, lvl, True))

    def place_target(p: Place, tid: str | None = None, lat: float | None = None, lon: float | None = None,
                     explicit: bool = False) -> _Target:
        if p.place_type == "neighbourhood" and p.parent_id:
            city = places[p.parent_id]
            return _Target(tid or p.place_id, city.place_id, city.name_en, city.name_ar, "neighbourhood",
                           p.admin1, p.admin2, p.admin3, p.admin1_pcode, lat or p.lat, lon or p.lon, 1,
                           detail_id=p.place_id, explicit=explicit)
        prec = {"governorate": 3, "district": 2, "subdistrict": 2}.get(p.place_type, 1)
        name_en = p.name_en
        if p.place_type == "governorate":
            name_en = f"{gov_en.get(p.place_id, p.name_en)} Governorate"
        return _Target(tid or p.place_id, p.place_id, name_en, p.name_ar, p.place_type, p.admin1, p.admin2,
                       p.admin3, p.admin1_pcode, lat if lat is not None else p.lat, lon if lon is not None else p.lon,
                       prec, detail_id=(tid if tid and tid != p.place_id else None), explicit=explicit)

    # 1. gazetteer names
    for p in places.values():
        t = place_target(p)
        targets[t.tid] = t
        names = [p.name_ar, *p.alt_names_ar]
        if p.place_type in ("district", "subdistrict") and p.name_ar.startswith("مركز "):
            names = names[1:]  # "مركز درعا" is never written in news; its alias "درعا" is in alt_names_ar
        for n in names:
            add_key(n, t)

    # 2. aliases to gazetteer places
    for i, a in enumerate(config.get("aliases", [])):
        p = places[a["place_id"]]
        tid = f"{p.place_id}@{i}" if "lat" in a else p.place_id
        # an alias with its own point (a district of a city) keeps the city as its location
        t = replace(place_target(p, tid=tid, lat=a.get("lat"), lon=a.get("lon"), explicit=True), detail_id=None)
        targets[tid] = t
        for s in a["ar"]:
            add_key(s, t, level=STOP if s in stop_names else (WEAK if s in weak_names else STRONG))

    # 3. sites and fixed regions
    for kind, items in (("site", config.get("sites", [])), ("region", config.get("regions", []))):
        for s in items:
            pc = s.get("admin1_pcode")
            t = _Target(s["id"], None, s["name_en"], s["ar"][0], kind, admin1_en.get(pc), None, None, pc,
                        float(s["lat"]), float(s["lon"]), int(s.get("precision", 2)), detail_id=s["id"], explicit=True)
            targets[t.tid] = t
            for a in s["ar"]:
                add_key(a, t, level=STOP if a in stop_names else STRONG)

    # 4. generated countryside regions: "ريف X", "ريف X الغربي", "الريف الغربي لX"
    countryside = _add_countryside(places, config, targets, add_key, admin1_en)

    # 5. "الريف الغربي" with no place named, or "ريف المحافظة الغربي": the article's governorate (resolved
    # in find_places from context).
    for dir_ar, d in config.get("directions", {}).items():
        t = _Target(f"G_{d['en']}", None, f"{d['en']} countryside", f"الريف {dir_ar}", "region", None, None, None,
                    None, 0.0, 0.0, 2, detail_id=f"G_{d['en']}")
        targets[t.tid] = t
        for form in (f"الريف {dir_ar}", f"الريف {dir_ar} للمحافظه", f"ريف المحافظه {dir_ar}"):
            add_key(form, t, STRONG)
    t = _Target("G_", None, "countryside", "ريف المحافظه", "region", None, None, None, None, 0.0, 0.0, 2, detail_id="G_")
    targets[t.tid] = t
    add_key("ريف المحافظه", t, STRONG)

    seat_of = {}
    for p in places.values():
        if p.place_type == "town" and p.admin3_pcode:
            unit = places.get(p.admin3_pcode)
            if unit and _bare(normalize(unit.name_ar)) == _bare(normalize(p.name_ar)):
                seat_of[p.admin3_pcode] = p.place_id
    clitic_words = set()
    for line in CLITIC_WORDS.read_text(encoding="utf-8").splitlines()[1:]:
        if "\t" in line:
            clitic_words.add(line.split("\t")[0])
    return Gazetteer(places, targets, dict(keys), config, admin1_lookup, seat_of, countryside, clitic_words)


def _bare(name: str) -> str:
    return name[2:] if name.startswith("ال") else name


def _add_countryside(places, config, targets, add_key, admin1_en) -> dict[str, tuple[str, str]]:
    """Generate the countryside regions; return governorate P-code -> (its "ريف X" id, prefix of "ريف X <dir>" ids)."""
    gov_en = config.get("admin1_common_en", {})
    directions = config.get("directions", {})
    communities_by: dict[str, list[Place]] = defaultdict(list)
    for p in places.values():
        if p.place_type in ("city", "town", "village"):
            communities_by[p.admin1_pcode].append(p)
            communities_by[p.admin2_pcode].append(p)
            communities_by[p.admin3_pcode].append(p)
    seat_of_gov = {}
    for p in places.values():
        if p.place_type == "city" and normalize(p.name_ar) == normalize(places[p.admin1_pcode].name_ar):
            seat_of_gov[p.admin1_pcode] = p
    seat_of_gov.setdefault("SY03", places["C1001"])  # Rural Damascus surrounds Damascus city

    bases = []  # (arabic names, english name, admin1 pcode, reference point place, community pool, fallback place)
    for pc, gov in ((k, v) for k, v in places.items() if v.place_type == "governorate"):
        if pc == "SY01":
            continue  # "ريف دمشق" is the governorate Rural Damascus; directions are generated below for SY03
        ref = seat_of_gov.get(pc)
        names = [normalize(gov.name_ar)] if pc != "SY03" else ["دمشق"]
        if ref:
            names += [normalize(a) for a in ref.alt_names_ar]
        en = "Damascus" if pc == "SY03" else gov_en.get(pc, gov.name_en)
        bases.append((names, en, pc, ref or gov, communities_by[pc], gov, pc == "SY03"))
    for p in places.values():
        if p.place_type not in ("city", "town") or p in [b[3] for b in bases]:
            continue
        if any(p.place_id == s.place_id for s in seat_of_gov.values()):
            continue
        unit = places.get(p.admin2_pcode if p.place_type == "city" else p.admin3_pcode)
        pool = communities_by[p.admin2_pcode if p.place_type == "city" else p.admin3_pcode]
        names = [normalize(p.name_ar)] + [normalize(a) for a in p.alt_names_ar]
        bases.append((names, p.name_en, p.admin1_pcode, p, pool, unit or p, False))

    countryside: dict[str, tuple[str, str]] = {}
    for names, en, pc, ref, pool, fallback, is_rural_damascus in bases:
        a1 = admin1_en.get(pc)
        base_id = f"R_{ref.place_id}"
        is_gov = fallback.place_type == "governorate"
        if is_gov:
            countryside[pc] = ("SY03" if is_rural_damascus else base_id, base_id)
        undirected = None
        if not is_rural_damascus:
            # "ريف درعا" = the governorate's countryside (its centroid); "ريف السلمية" = around that town
            pt = fallback if is_gov else ref
            undirected = _Target(base_id, None, f"{en} countryside", f"ريف {names[0]}", "region", a1, None, None, pc,
                                 pt.lat, pt.lon, 2, detail_id=base_id)
            targets[base_id] = undirected
        around = [(c, _bearing(ref.lat, ref.lon, c.lat, c.lon)) for c in pool
                  if c.place_id != ref.place_id and km(ref.lat, ref.lon, c.lat, c.lon) > 4]
        for dir_ar, d in directions.items():
            pts = pool
            if d.get("bearing") is not None:
                pts = [c for c, b in around if abs((b - d["bearing"] + 180) % 360 - 180) <= 50]
            if d.get("bearing") is None or len(pts) < 2:
                lat, lon = fallback.lat, fallback.lon
            else:
                lat = sum(c.lat for c in pts) / len(pts)
                lon = sum(c.lon for c in pts) / len(pts)
            tid = f"{base_id}_{d['en']}"
            t = _Target(tid, None, f"{d['en']} {en} countryside", f"ريف {names[0]} {dir_ar}", "region", a1, None, None,
                        pc, round(lat, 4), round(lon, 4), 2, detail_id=tid)
            targets[tid] = t
            for n in names:
                add_key(f"ريف {n} {dir_ar}", t, STRONG)
                add_key(f"الريف {dir_ar} {_with_lam(n)}", t, STRONG)
                add_key(f"الريف {dir_ar} من {n}", t, STRONG)
                if is_gov:  # governorates: "ريف محافظة درعا الغربي"
                    add_key(f"ريف محافظه {n} {dir_ar}", t, STRONG)
                    add_key(f"الريف {dir_ar} لمحافظه {n}", t, STRONG)
                    add_key(f"الريف {dir_ar} من محافظه {n}", t, STRONG)
        if undirected:
            for n in names:
                add_key(f"ريف {n}", undirected, STRONG)
                if is_gov:
                    add_key(f"ريف محافظه {n}", undirected, STRONG)
    countryside["SY01"] = countryside["SY03"]
    return countryside


# ---------------------------------------------------------------------------------------------
# Matching

_SEP = r"[\s،,\(\)\-\"'/:؛]*"
_DIRECTION_WORDS = ("شمال", "شمالي", "جنوب", "جنوبي", "شرق", "شرقي", "غرب", "غربي", "الشمالي", "الجنوبي", "الشرقي",
                    "الغربي", "قرب", "بالقرب", "ضمن", "التابعه", "التابع", "وسط", "محيط", "اطراف")
_LOCATOR_WORDS = _DIRECTION_WORDS + ("في", "من", "الى", "عند", "بمحافظه", "محافظه", "لمحافظه", "منطقه", "بمنطقه",
                                     "مدينه", "بمدينه", "لمدينه", "بلده", "ببلده", "الواقعه", "الواقع", "ريف", "بريف")
# Between a place and the place that locates it: only these words ("جاسم شمالي درعا", "X بريف حماة",
# "قرية X التابعة لناحية Y", "حي الفيلات جنوبي مدينة دير الزور").
_LOCATOR_GAP = re.compile(rf"^{_SEP}(?:(?:{'|'.join(_LOCATOR_WORDS)}){_SEP}){{0,4}}$")
_STRONG_CUES = ("settlement", "neighbourhood", "subdistrict", "governorate")


class _Raw:
    """One gazetteer match in the text, annotated and resolved by find_places (a plain class: ~40 are
    made per article, and only the first fields differ from the defaults when they are made)."""

    cue: str | None = None
    near: bool = False
    not_place: bool = False
    clitic_word: bool = False
    chosen: _Target | None = None
    level: int = STRONG
    candidates: tuple = ()
    locator: "_Raw | None" = None
    strong_locator: bool = False
    is_locator: bool = False
    accepted: bool = True
    weak: bool = False
    filtered: tuple = ()
    info: "_CueInfo | None" = None

    def __init__(self, start: int, end: int, key: str, entries: tuple, prefix: str, article: bool,
                 form: "_FormInfo", cue: str | None = None, not_place: bool = False, near: bool = False,
                 clitic_word: bool = False):
        self.start = start
        self.end = end
        self.key = key
        self.entries = entries
        self.prefix = prefix
        self.article = article            # entries are those of the name read with its article (key + "ال")
        self.form = form
        self.cue = cue                    # the place cue right before it (قرية، حي…), see _hit_context
        self.not_place = not_place
        self.near = near
        self.clitic_word = clitic_word


class _FormInfo:
    """What a surface form's entries say, whatever the article: candidate ids, strong/region readings."""

    __slots__ = ("candidates", "has_strong", "has_region", "_others")

    def __init__(self, entries):
        self.candidates = tuple(dict.fromkeys(e.target.place_id or e.target.tid for e in entries
                                              if not e.target.tid.startswith("G_")))
        self.has_strong = any(e.level == STRONG for e in entries)
        self.has_region = any(e.target.place_type == "region" for e in entries)
        self._others: dict[str, tuple[str, ...]] = {}

    def others(self, chosen: str) -> tuple[str, ...]:
        """The candidates other than the chosen one."""
        o = self._others.get(chosen)
        if o is None:
            o = self._others[chosen] = tuple(c for c in self.candidates if c != chosen)
        return o


class _CueInfo:
    """A surface form's entries once filtered by the cue before it, and the pass-1 facts they give."""

    __slots__ = ("filtered", "sure_pc", "anchor", "admin1s", "points", "ranked")

    def __init__(self, r: "_Raw", gaz: "Gazetteer"):
        entries = tuple(_filter_by_cue(r, gaz))
        self.filtered = entries
        self.points = tuple((e.target.tid, e.target.lat, e.target.lon) for e in entries)
        self.admin1s = frozenset(e.target.admin1_pcode for e in entries if e.target.admin1_pcode)
        self.sure_pc = None             # the one governorate this form can mean (strong names only)
        self.anchor = None              # the one place this strong form means
        if len(entries) == 1:
            e = entries[0]
            if e.level == STRONG:
                self.anchor = e.target
                self.sure_pc = e.target.admin1_pcode or None
        else:
            best_rank = min(_rank(e) for e in entries)
            top = [e for e in entries if _rank(e) == best_rank]
            a1s = {e.target.admin1_pcode for e in top}
            if len(a1s) == 1 and min(e.level for e in top) == STRONG:
                self.sure_pc = next(iter(a1s)) or None
            if len({e.target.tid for e in entries}) == 1 and entries[0].level == STRONG:
                self.anchor = entries[0].target
        # (explicit rank, type rank, level, target, entry) for scoring shared names; the explicit rank comes
        # first in the score, so only the entries with the best one can win.
        ranked = [(*_rank(e), e.level, e.target, e) for e in entries]
        top0 = min(x[0] for x in ranked)
        self.ranked = tuple(x for x in ranked if x[0] == top0)


_PUNCT = "\"'.,،؛:()[]-/!?«»"
_POS_LIMIT = 1 << 40                  # above any text offset: (length, start) packed into one sort key
_first = operator.itemgetter(0)


def _prev_words(folded: str, pos: int, n: int, window: int = 60, strip: str = _PUNCT) -> list[str]:
    """Up to n words before pos, nearest first (punctuation and quotes skipped), within ``window`` characters.
    rasd/_acscan.c ``prev_words`` is its compiled twin (same results)."""
    # Fast path: the last n whitespace-separated pieces are all words once stripped.
    parts = folded[max(0, pos - window):pos].rsplit(None, n)
    if len(parts) > n:
        del parts[0]
    words = [w.strip(strip) for w in reversed(parts)]
    if all(words):
        return words
    words = []
    for w in reversed(folded[max(0, pos - window):pos].split()):
        w = w.strip(strip)
        if w:
            words.append(w)
            if len(words) == n:
                break
    return words


def _raw_matches(folded: str, gaz: Gazetteer) -> list[_Raw]:
    """The gazetteer's whole-word matches in ``folded``, longest first, without overlaps, by start."""
    scan = getattr(gaz.automaton, "longest_words", None)
    context = gaz.context_words
    if scan is not None:
        hits = scan(folded, PROCLITICS, '"', context)
    else:
        hits = [h + _hit_context(folded, h, *context) for h in _raw_hits(folded, gaz.automaton)]
    forms = gaz._form_info
    kept = []
    for start, end, key, ok, prefix, with_article, cue, not_place, near, clitic_word in hits:
        form = forms.get((key, with_article))
        if form is None:
            form = forms[(key, with_article)] = _FormInfo(ok)
        kept.append(_Raw(start, end, key, ok, prefix, with_article, form, cue, not_place, near, clitic_word))
    return kept


def _hit_context(folded: str, hit: tuple, cue_forms, not_place_words, near_forms, direction_forms, clitic_words,
                 n_words: int, window: int, strip: str) -> tuple:
    """(cue, not_place, near, clitic_word) of a kept hit from the words before it (and its proclitic): the
    pure-Python twin of rasd/_acscan.c place_context."""
    start, _, key, _, prefix = hit[:5]
    cue, not_place, near = None, False, False
    words = _prev_words(folded, start - len(prefix), n_words, window, strip)
    if words:
        w0 = words[0]
        cue = cue_forms.get(w0)
        not_place = w0 in not_place_words
        near = not near_forms.isdisjoint(words) or w0 in direction_forms
    # "لبنان" is not ل + the village "بنان"
    return cue, not_place, near, len(prefix) == 1 and (prefix + key) in clitic_words


def _raw_hits(folded: str, automaton) -> list[tuple]:
    """(start, end, key, entries, prefix, with_article) of the kept matches, by start. The pure-Python twin of
    rasd/_acscan.c ``Automaton.longest_words`` (used when the compiled scanner is not built; same results)."""
    # Quote marks around names (بريف "الحسكة"، مدينتي “الهول” و”الشدادي”) are skipped while matching; spans are
    # mapped back to the text's own offsets.
    if '"' in folded:
        view = folded.replace('"', "")
        # a view offset v maps back to v + (quotes removed before it)
        # (v + bisect_right(shifted, v), inlined below)
        shifted = [m.start() - k for k, m in enumerate(re.finditer('"', folded))]
    else:
        view, shifted = folded, None
    after = bisect.bisect_right
    raws = []
    # must end at a word end and start at a word start, after at most proclitics + article
    procl = PROCLITICS
    for start, end, prefix, (klen, key, plain, article) in word_hits(automaton, view, _first, procl):
        with_article = procl[prefix]
        ok = article if with_article else plain
        if ok:
            if shifted is not None:
                start, end = start + after(shifted, start), end + after(shifted, end - 1)
                if prefix and folded[start - len(prefix):start] != prefix:
                    prefix = ""  # و"الشدادي": the proclitic stands before the quote
            # sort key: longest match (proclitics included) first, then leftmost
            raws.append(((start - end - len(prefix)) * _POS_LIMIT + start, start, end, key, ok, prefix, with_article))
    # longest match (proclitics included) wins, then leftmost; no overlaps
    raws.sort(key=_first)
    taken = bytearray(len(folded) + 1)
    kept = []
    for _, start, end, key, ok, prefix, with_article in raws:
        s = start - len(prefix)
        if taken.find(1, s, end) >= 0:
            continue
        taken[s:end] = b"\x01" * (end - s)
        kept.append((start, end, key, ok, prefix, with_article))
    kept.sort(key=_first)
    return kept


_COORD_GAP = re.compile(r"[\s،,\"']*")


def _annotate_context(folded: str, raws: list[_Raw], gaz: Gazetteer) -> None:
    # cue, not_place, near and clitic_word come with the raws (_hit_context)
    prev_raw = None
    n = len(folded)
    for r in raws:
        if not r.not_place and r.end < n and folded[r.end] == '"':
            r.not_place = _inside_quoted_name(folded, r, gaz)
        # "بلدتي خان أرنبة وحضر", "قريتي دير بلوط والمحمدية": the cue carries over a coordination
        if (r.cue is None and prev_raw is not None and prev_raw.cue and r.prefix.startswith("و")
                and _COORD_GAP.fullmatch(folded, prev_raw.end, r.start - len(r.prefix))):
            r.cue = prev_raw.cue
        prev_raw = r
    # Locators: a place right after another one, joined only by "في/شمالي/بريف/محافظة…", locates it.
    for a, b in zip(raws, raws[1:]):
        bs = b.start - len(b.prefix)
        if b.prefix[:1] in ("و", "ف") or bs - a.end > 40 or b.cue == "neighbourhood" or b.not_place:
            continue
        binfo = b.form
        if not binfo.has_strong:
            continue  # "جنوبي المدينة": a common word does not locate anything
        gap = folded[a.end:bs]
        # a locator word, a bracket, or "ب" on the second name ("بريف حماة") must join them; a bare
        # comma or space is a list ("جاسم، نوى").
        if _locator_gap(gap):
            words = _WORD.findall(gap)
            if words or "(" in gap or b.prefix.startswith("ب"):
                a.locator = b
                b.is_locator = True
                a.strong_locator = ("(" in gap or any(w in _DIRECTION_WORDS for w in words) or binfo.has_region)


@functools.lru_cache(maxsize=4096)
def _locator_gap(gap: str) -> bool:
    return _LOCATOR_GAP.match(gap) is not None


def _inside_quoted_name(folded: str, r: _Raw, gaz: Gazetteer) -> bool:
    """'"اياد جعاره"': a quoted name whose first word is not a place cue is a person or a group."""
    if r.end >= len(folded) or folded[r.end] != '"':
        return False
    left = folded.rfind('"', max(0, r.start - 40), r.start - len(r.prefix))
    if left < 0:
        return False
    words = _WORD.findall(folded[left + 1:r.start - len(r.prefix)])
    return bool(words) and not any(w in gaz.cue_forms for w in words)


def _filter_by_cue(r: _Raw, gaz: Gazetteer | None = None) -> list[_Entry]:
    entries = r.entries
    if r.cue is None and gaz is not None and r.key in gaz.governorate_first:
        return [e for e in entries if e.target.place_type == "governorate"] or entries
    by_type = lambda types: [e for e in entries if e.target.place_type in types]  # noqa: E731
    if r.cue == "governorate":
        return by_type({"governorate"}) or entries
    if r.cue == "subdistrict":
        return by_type({"subdistrict"}) or by_type({"town", "city"}) or entries
    if r.cue == "neighbourhood":
        return by_type({"neighbourhood"}) or [e for e in entries if e.target.explicit] or by_type(
            {"village", "town", "city"}) or entries
    if r.cue in ("settlement", "settlement_weak"):
        return by_type({"city", "town", "village", "neighbourhood", "site"}) or entries
    if r.cue == "area":
        return by_type({"city", "town", "village", "district", "subdistrict", "region", "site"}) or entries
    return entries


def _rank(e: _Entry) -> tuple:
    return (0 if e.target.explicit else 1, _TYPE_RANK.get(e.target.place_type, 9))


def find_places(folded: str, gaz: Gazetteer, hint_admin1: str | None = None) -> list[PlaceMention]:
    """All place mentions in ``folded`` (= fold(cleaned text)), sorted, non-overlapping, longest match first.

    ``hint_admin1`` (P-code, English or Arabic governorate name, e.g. from the outlet or the dateline) helps to
    choose between places that share a name.
    """
    raws = _raw_matches(folded, gaz)
    if not raws:
        return []
    _annotate_context(folded, raws, gaz)
    hint = gaz.admin1_pcode(hint_admin1)
    cue_cache = gaz._cue_info
    # Pass 1: mentions that can only mean one governorate, and strong names, give the article's context.
    sure: list[tuple[_Raw, str]] = []          # (mention, admin1 P-code)
    sure_of: dict[int, str] = {}
    anchors: list[_Target] = []
    for r in raws:
        k = (r.key, r.article, r.cue)
        info = cue_cache.get(k)
        if info is None:
            info = cue_cache[k] = _CueInfo(r, gaz)
        r.info = info
        r.filtered = info.filtered
        if r.not_place or r.clitic_word:
            continue
        if info.anchor is not None:
            anchors.append(info.anchor)
        if info.sure_pc:
            sure.append((r, info.sure_pc))
    anchors = [(a.tid, a.lat, a.lon) for a in {a.tid: a for a in anchors}.values() if a.precision == 1]
    sure_count: dict[str, int] = defaultdict(int)
    for r, pc in sure:
        sure_count[pc] += 1
        sure_of[id(r)] = pc
    context = set(sure_count) | ({hint} if hint else set())

    def named_elsewhere(r: _Raw, pc: str | None) -> bool:
        """Is governorate pc named in the text by another mention (or the hint)?"""
        if pc is None:
            return False
        return pc == hint or sure_count.get(pc, 0) - (sure_of.get(id(r)) == pc) > 0

    def nothing_else_known(r: _Raw) -> bool:
        return not hint and len(sure) - (id(r) in sure_of) == 0

    # Pass 2: choose a target for every mention and decide whether weak names stand.
    best_of: dict[_CueInfo, _Entry] = {}     # choice for a form with no locator (depends on the article only)
    seat_of = gaz.seat_of
    for ri, r in enumerate(raws):
        entries = r.filtered
        r.candidates = r.form.candidates
        loc = r.locator
        if loc is None:
            loc_a1 = _NO_ADMIN1
        elif loc.chosen is not None:
            loc_a1 = {loc.chosen.admin1_pcode} if loc.chosen.admin1_pcode else set()
        else:
            loc_a1 = loc.info.admin1s
        if len(entries) == 1:
            best = entries[0]
        elif loc is None and r.info in best_of:
            best = best_of[r.info]  # the same name again: same context, same choice
        else:
            loc_points = loc.info.points if loc else ()
            # min() over (explicit alias first, score, type rank, level): an explicit alias or site beats a
            # same-named village; the score prefers the locator's governorate, places near the locator, the
            # governorates the article names and places near its unambiguous places.
            best = bestk = None
            for rank0, rank1, level, t, e in r.info.ranked:
                s = 0.0
                a1 = t.admin1_pcode
                if a1 and a1 in loc_a1:
                    s -= 10
                if t.precision == 1:
                    tid, lat, lon = t.tid, t.lat, t.lon
                    if loc_points and _near_other(tid, lat, lon, loc_points, 40):
                        s -= 2
                    if a1 in context:
                        s -= 4
                    if anchors and _near_other(tid, lat, lon, anchors, 25):
                        s -= 3
                elif a1 in context:
                    s -= 4
                key = (rank0, s, rank1, level)
                if bestk is None or key < bestk:
                    best, bestk = e, key
            if loc is None:
                best_of[r.info] = best
        t = best.target
        # a subdistrict named on its own is its seat town ("درباسية" -> the town al-Darbasiyah)
        if t.place_type == "subdistrict" and r.cue != "subdistrict" and t.place_id in seat_of:
            t = gaz.targets.get(seat_of[t.place_id], t)
        if t.tid.startswith("G_"):
            t = _generic_countryside(gaz, r, raws, sure, hint, t)
        r.chosen = t
        r.level = best.level
        if t is None:
            r.accepted = False
            continue
        level = STOP if r.clitic_word else best.level
        if level == STRONG and not r.not_place and t.place_type != "neighbourhood" and not (
                r.strong_locator and loc_a1 and len(r.candidates) > 1):
            continue  # the common case: a strong, unambiguous name
        loc_ok = t.admin1_pcode is not None and t.admin1_pcode in loc_a1
        strong_cue = r.cue in _STRONG_CUES
        # a weak name's governorate must agree with the rest of the article (or nothing else is known)
        admin_consistent = loc_ok or named_elsewhere(r, t.admin1_pcode) or nothing_else_known(r)
        if r.not_place and r.cue is None:
            r.accepted = False
        elif r.strong_locator and loc_a1 and not loc_ok and t.place_type != "region" and (
                level != STRONG or len(r.candidates) > 1 or t.place_type == "neighbourhood"):
            # "قرية عري غربي إدلب" when no عري lies in Idlib: the locator rules the candidates out
            r.accepted = False
        elif r.cue == "neighbourhood" and t.place_type in ("village", "town"):
            # "حي العالية" is a district of a town OCHA does not split into neighbourhoods, not a village
            r.accepted = False
        elif t.place_type == "neighbourhood":
            # a neighbourhood name ("الكرك", "تشرين") stands only in its own city's news: its governorate is the
            # one of the nearest place named before it (or of its locator)
            prev_a1 = next((o.chosen.admin1_pcode for o in reversed(raws[:ri])
                            if o.accepted and o.chosen is not None and o.chosen.place_type != "neighbourhood"
                            and o.chosen.admin1_pcode), None)
            admin_ok = loc_ok or (prev_a1 == t.admin1_pcode if prev_a1 else named_elsewhere(r, t.admin1_pcode))
            if r.cue == "neighbourhood" or loc is not None:
                r.accepted = admin_ok and (level != STOP or r.cue == "neighbourhood" or r.strong_locator)
            else:
                r.accepted = level == STRONG and any(
                    o is not r and o.chosen is not None and o.chosen.place_type != "neighbourhood"
                    and o.chosen.place_id == t.place_id for o in raws)
            r.weak = True
        elif level == STOP:
            r.accepted = (strong_cue and admin_consistent) or (r.strong_locator and loc_ok)
            r.weak = True
        elif level == WEAK:
            r.accepted = (strong_cue and admin_consistent) or loc_ok or named_elsewhere(r, t.admin1_pcode)
            r.weak = True

    out = []
    new = _new_mention
    others = _FormInfo.others
    for r in raws:
        if not r.accepted or r.chosen is None:
            continue
        t = r.chosen
        prec = t.precision
        if (r.near or r.cue == "area") and t.place_type in ("city", "town", "village", "neighbourhood"):
            prec = 2
        out.append(new((
            r.start, r.end, folded[r.start:r.end], t.place_id, t.name_en, t.name_ar, t.place_type, t.admin1,
            t.admin2, t.admin3, t.lat, t.lon, prec, others(r.form, t.place_id or t.tid),
            t.admin1_pcode, t.detail_id, r.cue, r.near, r.is_locator and _locates_accepted(raws, r), r.weak)))
    return out


_new_mention = fast_init(PlaceMention)
_NO_ADMIN1: frozenset = frozenset()


def _near_other(tid, lat: float, lon: float, points, radius_km: float) -> bool:
    """Some other place of ``points`` ((id, lat, lon)) lies within ``radius_km`` (cheap box test first)."""
    for ptid, plat, plon in points:
        if (ptid != tid and abs(lat - plat) * 111 <= radius_km and abs(lon - plon) * 90 <= radius_km
                and km(lat, lon, plat, plon) < radius_km):
            return True
    return False


def _generic_countryside(gaz: Gazetteer, r: _Raw, raws: list[_Raw], sure, hint, t: _Target) -> _Target | None:
    """"الريف الشرقي" / "ريف المحافظة": the countryside of the governorate the text is about at that point."""
    pc = None
    for o, p in reversed(sure):          # nearest preceding mention that names one governorate
        if o.start < r.start:
            pc = p
            break
    pc = pc or hint or (sure[0][1] if sure else None)
    if pc not in gaz.countryside:
        return None
    undirected, prefix = gaz.countryside[pc]
    direction = t.tid[2:]
    return gaz.targets.get(f"{prefix}_{direction}" if direction else undirected)


def _locates_accepted(raws: list[_Raw], r: _Raw) -> bool:
    return any(o.locator is r and o.accepted for o in raws)


# The compiled build of this module (setup.py, Cython pure-Python mode), when built from this very source,
# replaces it for every importer (rasd.extract.common.compiled_twin).
_twin = compiled_twin(__name__, __file__)
if _twin is not None:
    sys.modules[__name__] = _twin

"""The fast ingest helpers (whole-string regex counts instead of per-character loops) give exactly the results of
the straightforward per-character definitions kept here as references, on text of every kind.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasd.ingest import decode
from rasd.text import clean, lang

ROOT = Path(__file__).resolve().parent.parent
SLOW = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------ references: the per-character definitions

_AR = re.compile("[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_WORD = re.compile(r"[^\s\d.,;:!?()\[\]{}\"'«»“”<>/\\|@#%&*+=_~^`-]+")
_EN = frozenset("the of and to in is was for on that with by at from as were has have said killed".split())


def ref_bad_controls(text):
    return sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch not in "\t\n\r\f\v")


def ref_looks_clean(text):
    if ref_bad_controls(text) > len(text) // 1000 or "\ufffd" in text:
        return False
    words = [w for w in _WORD.findall(text) if not w.isascii()]
    if not words:
        return True
    bad = 0
    for w in words:
        scripts = set()
        sym = False
        for c in w:
            if c.isascii():
                if c.isalpha():
                    scripts.add("LATIN")
            elif _AR.match(c):
                if c.isalpha():
                    scripts.add("ar")
            elif unicodedata.category(c)[0] in "LM":
                scripts.add(unicodedata.name(c, "?").split(" ")[0])
            elif "\u0080" <= c <= "\u00bf" or "\u2500" <= c <= "\u25ff" or c in "\u00d7\u00f7":
                sym = True
        if len(scripts) > 1 or (sym and scripts):
            bad += 1
    return bad <= max(1, 0.05 * len(words))


def ref_arabic_share(text):
    letters = [c for c in text if unicodedata.category(c).startswith("L")]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _AR.match(c)) / len(letters)


def ref_detect_language(text, min_arabic_share=0.5):
    letters = [c for c in text if unicodedata.category(c).startswith("L")]
    if not letters:
        return "und"
    if ref_arabic_share(text) >= min_arabic_share:
        return "ar"
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    if latin / len(letters) >= 0.5:
        words = re.findall(r"[a-z]+", text.lower())
        if words and sum(1 for w in words if w in _EN) / len(words) >= 0.05:
            return "en"
    return "other"


# ------------------------------------------------------------------ inputs

def _samples() -> list[str]:
    out = []
    for d in ("data/sample", "tests/fixtures"):
        for p in sorted((ROOT / d).rglob("*")):
            if p.is_file() and p.suffix in (".txt", ".html", ".jsonl", ".md"):
                out.append(p.read_bytes().decode("utf-8", "replace"))
    base = out[0] if out else "قتل مدنيان في قصف على بلدة كنصفرة."
    out += [
        "", " ", "\n\n", "abc", "ABC the of killed", "Deux civils ont été tués dans un bombardement.",
        "12345 - 678", "قصف on the town of Idlib said the report", base.encode("utf-8").decode("cp1256", "replace"),
        base.encode("cp1256", "replace").decode("iso8859_6", "replace"), base.encode("cp1256", "replace").decode("latin-1"),
        base.encode("cp1256", "replace").decode("mac_arabic", "replace"), base + "\x00\x01\x1a" * 3, base + "\ud800x",
        "\ue000\U000f0000\U0010fffd\U0001f600 😀 𝐀𝐁𝐂 \U0001df00" + base, "ضظ] ^تف مرحبا", "aé bü الكتاب×", "ÿ" * 50,
        "ــ" + base.replace(" ", "\u00a0"), "word" * 5000 + "عربي", "x" * 3000 + "é",
        "Ω" * 10 + " عربي Ωعربي", "ع\u0301ربي كتابe ملفé", "\u2028\u2029\x0b\x0c\x85 " + base,
    ]
    return out


_CHARS = st.characters(blacklist_categories=())
_MIXED = st.text(alphabet=st.one_of(
    st.characters(min_codepoint=0x0600, max_codepoint=0x06FF), st.characters(max_codepoint=0x7F),
    st.characters(min_codepoint=0x80, max_codepoint=0x2FF), st.characters(min_codepoint=0x2500, max_codepoint=0x25FF),
    st.sampled_from(" \n\t،.«»“”0123456789\ufffd\x00\x1a\ud800\ue000\U0001f600\U0001d400\ufeff\u200f"),
    _CHARS), max_size=300)


# ------------------------------------------------------------------ the checks

def _check(text):
    assert decode._bad_controls(text) == ref_bad_controls(text), text
    assert decode._looks_clean(text) == ref_looks_clean(text), text
    assert lang.arabic_share(text) == ref_arabic_share(text), text
    for share in (0.2, 0.5, 0.8):
        assert lang.detect_language(text, share) == ref_detect_language(text, share), text


def test_fast_helpers_equal_the_references_on_samples():
    for text in _samples():
        _check(text)


@SLOW
@given(_MIXED)
def test_fast_helpers_equal_the_references_on_mixed_text(text):
    _check(text)


@SLOW
@given(st.text(alphabet=_CHARS, max_size=200))
def test_fast_helpers_equal_the_references_on_any_unicode(text):
    _check(text)


def test_looks_clean_needs_the_word_count_only_with_two_bad_words():
    # 2 mixed-script words among 30 Arabic ones is over 5 %; among 50 it is not.
    assert not decode._looks_clean("كتابe ملفé " + "عربي " * 30)
    assert decode._looks_clean("كتابe ملفé " + "عربي " * 50)


# ------------------------------------------------------------------ normalisation, boilerplate and outlets

from rasd.text import outlets  # noqa: E402
from rasd.text import normalize as _norm  # noqa: E402
from rasd.text.normalize import clean_chars, fold, normalize  # noqa: E402


def ref_remove_boilerplate(lines, rules):
    keys = [fold(ln).strip() for ln in lines]
    drop = {}
    n = len(lines)

    def next_nonempty(i):
        j = i + 1
        while j < n and not keys[j]:
            j += 1
        return j if j < n else None

    def prev_kept(i):
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
            hit = r.pattern.match(k) if r.kind == "caption_marker" else r.pattern.fullmatch(k)
            if not hit:
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
    return [ln for idx, ln in enumerate(lines) if idx not in drop], sorted(drop.items())


def ref_clean_text(raw_text, outlet=None):
    text = clean_chars(re.sub("[\x00-\x08\x0e-\x1f\x7f-\x9f]", "", re.sub("[\u2028\u2029\u0085\x0b\x0c]", "\n", raw_text)))
    lines = [ln.strip() for ln in text.split("\n")]
    o = outlets.find_outlet(outlet) if outlet else None
    rules = clean.rules_for(o.id if o else None)
    for _ in range(4):
        kept, dropped = ref_remove_boilerplate(lines, rules)
        if not dropped:
            break
        lines = kept
    return clean_chars(re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip())


def ref_is_masthead(line):
    folded = fold(clean_chars(line)).strip()
    return any(outlets._names_outlet(folded, bare) for _, _, bare in outlets._patterns())


def ref_outlet_from_text(text, head_lines=8):
    folded = fold(clean_chars(text))
    lines = [ln.strip() for ln in folded.split("\n") if ln.strip()]
    scores, by_id = {}, {}
    for o, cue, bare in outlets._patterns():
        s = 3.0 * len(cue.findall(folded))
        if any(outlets._names_outlet(ln, bare) for ln in lines[:head_lines] + lines[-2:]):
            s += 10.0
        if s:
            scores[o.id], by_id[o.id] = s, o
    return by_id[max(sorted(scores), key=lambda k: scores[k])] if scores else None


def _boilerplate_lines() -> list[str]:
    data = clean.load_boilerplate()
    out = []
    for r in list(data["generic"]) + [r for rs in (data.get("outlets") or {}).values() for r in rs]:
        out += r["examples"]
    return out


_BP = _boilerplate_lines()
_OUTLET_LINES = [f for o in outlets.load_outlets() for f in o.forms] + [
    "درعا – نورث برس", "مراسل عنب بلدي", "قال مصدر لعنب بلدي", "للمرصد السوري لحقوق الانسان", "تلفزيون سوريا",
    "وكالة سانا", "عنب بلدي - إدلب", "المصدر: زمان الوصل"]
_LINE = st.one_of(st.sampled_from(_BP + _OUTLET_LINES + ["", " ", "قتل شاب في درعا", "(ناشطون)", "icon", "×"]),
                  st.text(alphabet=st.characters(min_codepoint=0x0600, max_codepoint=0x06FF) | st.sampled_from(" \t-:|()"),
                          max_size=40),
                  _MIXED)
_DOC = st.lists(_LINE, max_size=25).map("\n".join)


def ref_clean_chars(text):
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _norm._DROP.sub("", text)
    return _norm._SPACES.sub(" ", text)


def ref_fold(text):
    return re.sub("[A-Z]+", lambda m: m.group(0).lower(), text.translate(_norm._FOLD_TABLE))


def _check_text(text):
    assert clean_chars(text) == ref_clean_chars(text), text
    assert fold(text) == ref_fold(text), text
    assert normalize(text) == ref_fold(ref_clean_chars(text)).strip(), text
    for outlet in (None, "Enab Baladi", "نورث برس"):
        clean._clean.cache_clear()
        assert clean.clean_text(text, outlet) == ref_clean_text(text, outlet), (text, outlet)
    assert outlets.outlet_from_text(text) == ref_outlet_from_text(text), text
    for line in text.split("\n")[:5]:
        assert outlets.is_masthead(line) == ref_is_masthead(line), line


def test_cleaning_and_outlets_equal_the_references_on_samples():
    for text in _samples():
        _check_text(text)
    lines = _BP + _OUTLET_LINES
    for i in range(len(lines)):
        _check_text("\n".join(lines[i:] + lines[:i]))
        _check_text("\n\n".join([lines[i], lines[i], "قتل شاب في درعا", lines[i]]))


@SLOW
@given(_DOC)
def test_cleaning_and_outlets_equal_the_references_on_line_mixes(text):
    _check_text(text)


@SLOW
@given(_MIXED)
def test_normalisation_equals_the_reference_on_any_text(text):
    assert clean_chars(text) == ref_clean_chars(text)
    assert fold(text) == ref_fold(text)


def test_the_boilerplate_rules_combine_into_one_prefilter():
    for outlet_id in (None, "enab-baladi"):
        combined, rep = clean._prefilter(clean.rules_for(outlet_id))
        assert combined is not None
        assert [r.kind for r in rep] == ["repeated_line"]


def test_the_character_classes_hold_exactly_the_characters_of_their_predicates():
    counters = [(decode._bad_counter(), decode._is_bad_control)]
    counters += list(zip(lang._counters(), (lang._is_arabic_letter, lang._is_other_letter, lang._is_latin_letter)))
    bmp = "".join(chr(c) for c in range(0x10000))
    astral = "".join(chr(c) for c in range(0x10000, 0x110000, 97)) + "\U0001d400\U0001df00\U000f0000\U0010ffff"
    for counter, pred in counters:
        assert counter.count(bmp) == sum(1 for ch in bmp if pred(ch))
        assert counter.count(astral) == sum(1 for ch in astral if pred(ch))
        assert all(counter.count(ch) == pred(ch) for ch in bmp)


def test_has_astral():
    for s in ("", "abc", "عربي", "\ud800x", "\udfff\ud800", "\ud800\udc00", "ÿ"):
        assert not lang.has_astral(s)
    for s in ("😀", "abc\U0001d400", "عربي\U0010ffff"):
        assert lang.has_astral(s)


# ------------------------------------------------------------------ MinHash shingles of a whole batch (numpy word split)

from rasd.ingest import dedupe  # noqa: E402


def _split_shingles(texts):
    joined, lo, hi, counts = dedupe._batch_shingles(texts)
    out, j = [], 0
    for c in counts.tolist():
        out.append([joined[a:b] for a, b in zip(lo[j:j + c].tolist(), hi[j:j + c].tolist())])
        j += c
    assert j == len(lo)
    return out


def _check_shingles(texts):
    # _shingle_bytes is the per-word definition (regex words, b" ".join of k of them)
    assert _split_shingles(texts) == [dedupe._shingle_bytes(t) for t in texts], texts


def test_batch_shingles_equal_the_per_word_shingles_on_samples():
    samples = [t for t in _samples() if "\ud800" not in t]  # signatures get Parquet's text: valid UTF-8
    samples += ["", "a", "a b c d e", "a b c d e f", "x_y 12 ٣٤ ١٢ 𝔘𝔫𝔦 \U0001f600 ok", "أ.ب،ج", "\n\n"]
    _check_shingles(samples)
    for t in samples:
        _check_shingles([t])
    _check_shingles([])


@SLOW
@given(st.lists(_MIXED.filter(lambda t: "\ud800" not in t), max_size=6))
def test_batch_shingles_equal_the_per_word_shingles_on_mixed_text(texts):
    _check_shingles(texts)


@SLOW
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80), max_size=4))
def test_batch_shingles_equal_the_per_word_shingles_on_any_unicode(texts):
    _check_shingles(texts)


def test_signatures_equal_per_text_signatures_across_permutation_blocks(monkeypatch):
    """A batch is permuted in blocks of about _CHUNK shingles: the rows do not depend on how texts fall in blocks."""
    import numpy as np

    texts = [t for t in _samples() if "\ud800" not in t][:12] + ["", "واحد اثنان ثلاثة أربعة خمسة ستة"]
    whole, ok = dedupe.signatures(texts)
    monkeypatch.setattr(dedupe, "_CHUNK", 7)
    small, ok2 = dedupe.signatures(texts)
    one = [dedupe.signatures([t]) for t in texts]
    assert np.array_equal(whole, small) and np.array_equal(ok, ok2)
    for i, (s, o) in enumerate(one):
        assert o[0] == ok[i] and np.array_equal(s[0], whole[i])
    assert not ok[texts.index("")] and (whole[texts.index("")] == 0xFFFFFFFF).all()

"""Small helpers shared by the extractors."""
from __future__ import annotations

import hashlib
import importlib
import logging
from dataclasses import fields
from pathlib import Path

try:  # the compiled scanner (rasd/_acscan.c, built by `pip install -e .`); same results as pyahocorasick
    from rasd._acscan import Automaton as _Automaton
except ImportError:  # not built (no C compiler): pyahocorasick
    from ahocorasick import Automaton as _Automaton


def new_automaton():
    """An empty Aho-Corasick automaton: add_word(key, value), make_automaton(), iter(text[, start[, end]])
    -> (end index, value), by end index and, at one end, longest key first (pyahocorasick's order)."""
    return _Automaton()


def word_hits(automaton, text: str, key_len, prefixes=None, word_end: bool = True):
    """(start, end, prefix, value) for each key of ``automaton`` found in ``text`` as a whole word: it does not
    run on into a letter (when ``word_end``), and it starts a word or follows at most 4 letters that start
    the word and are one of ``prefixes`` (the Arabic proclitics, PROCLITICS; None: nothing may precede).
    ``key_len(value)`` is the key's length (used by the pyahocorasick fallback only). In automaton order."""
    it = getattr(automaton, "iter_words", None)
    if it is not None:
        return it(text, prefixes, word_end)
    return _word_hits(automaton, text, key_len, prefixes, word_end)


def _word_hits(automaton, text, key_len, prefixes, word_end):
    # the same test as rasd/_acscan.c whole_word()
    isalpha = str.isalpha
    n = len(text)
    for end_idx, value in automaton.iter(text):
        end = end_idx + 1
        if word_end and end < n and isalpha(text[end]):
            continue
        start = end - key_len(value)
        if not start or not isalpha(text[start - 1]):
            prefix = ""
        else:
            if prefixes is None:
                continue
            ws = start - 1
            while ws > 0 and isalpha(text[ws - 1]) and start - ws <= 4:
                ws -= 1
            prefix = text[ws:start]
            if prefix not in prefixes or (ws > 0 and isalpha(text[ws - 1])):
                continue
        yield start, end, prefix, value


def fast_init(cls):
    """A constructor for a frozen dataclass from all its field values in order, without the per-field
    ``object.__setattr__`` of the generated ``__init__`` (same object, several times cheaper)."""
    names = tuple(f.name for f in fields(cls))
    new = object.__new__

    def make(values: tuple):
        o = new(cls)
        o.__dict__.update(zip(names, values))
        return o

    return make


def _proclitics() -> dict[str, bool]:
    # Valid proclitic strings before a name: optional و, optional ب/ل/ك, optional article ال (ل + ال is written
    # لل); ف only alone or before the article ("فجاسم", "فالحراك"): "فل…", "فب…" begin ordinary words and
    # surnames (فلحوط). Value: whether the string ends in the article.
    out: dict[str, bool] = {}
    for c in ("", "و", "ف"):
        for p in ("", "ب", "ل", "ك"):
            if c == "ف" and p:
                continue
            for a in ("", "ال"):
                out[c + ("لل" if (p == "ل" and a) else p + a)] = bool(a)
    return out


PROCLITICS: dict[str, bool] = _proclitics()


def proclitic_before(text: str, start: int, end: int, max_len: int = 4) -> str | None:
    """The proclitics glued before the match ``text[start:end]`` ("" at a word start), or None when the
    match is not a whole word: it runs on into letters, or the letters before it are not proclitics."""
    isalpha = str.isalpha
    if end < len(text) and isalpha(text[end]):
        return None
    if not start or not isalpha(text[start - 1]):
        return ""
    ws = start - 1
    while ws > 0 and isalpha(text[ws - 1]) and start - ws <= max_len:
        ws -= 1
    prefix = text[ws:start]
    if prefix not in PROCLITICS or (ws > 0 and isalpha(text[ws - 1])):
        return None
    return prefix


# ------------------------------------------------------------------------------------------ compiled twins
def source_digest(path) -> str:
    """sha256 of a module's source file: what a compiled twin was built from (setup.py records it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def compiled_twin(name: str, path: str):
    """The compiled build of module ``name`` (``<package>._cy_<module>``, made by setup.py with Cython from this
    very source), or None when it is not built or was built from another version of the source: a stale
    build is never used. The pure module then replaces itself with it in ``sys.modules`` (same code, same
    results, fewer interpreter instructions); tests/test_twins.py checks that both give the same events."""
    pkg, _, mod = name.rpartition(".")
    if mod.startswith("_cy_") or not pkg:
        return None  # this is the twin itself
    try:
        twin = importlib.import_module(f"{pkg}._cy_{mod}")
    except ImportError:
        return None
    built_from = getattr(twin, "_BUILT_FROM", None)
    if built_from != source_digest(path):
        logging.getLogger(__name__).warning(
            "%s: the compiled build is stale (source changed since it was built): running the pure module; "
            "rebuild with `make` or `python setup.py build_ext --inplace`", name)
        return None
    return twin

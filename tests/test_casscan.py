"""The compiled casualty/number tokenizer (rasd/_casscan.c) gives exactly what the regex path gives.

Tokens of the seed articles, the texts of the test cases (raw and folded) and edge strings (digit groups with
separators, Latin, astral characters, Unicode spaces, CR/LF) must be equal lists of (start, end, form), on
whole texts and on random [start:end] windows, including out-of-range bounds (clamped like re's pos/endpos).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rasd.extract import casualties, numbers
from rasd.text.normalize import clean_chars, fold

casscan = pytest.importorskip("rasd._casscan", reason="compiled tokenizer not built (pip install -e .)")

ROOT = Path(__file__).resolve().parent.parent
EDGE = [
    "", " ", "\n", "\n\n", "ـ", "آأ\u0670\u0671ۓ۔", "1.2.3 4,5 6- 7-8 -9 a.b ab12cd ١٢", "12..3 1: :1 3. .5",
    "2022/10/20،10:30", "\u00a0x\u2003y\r\nz\t\x0bw\x1c", "\U0001d538حلب\U0001f600", "ABC abc Abc", "قتل٣شاب",
    "مـ ـقـ ـتـ ـل 5 أشخاص", "x" * 40 + "1" * 20,
]


def _texts() -> list[str]:
    raw = [clean_chars(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "data" / "sample").glob("*.txt"))]
    for p in sorted((ROOT / "tests" / "cases").glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                req = json.loads(line).get("req")
                if isinstance(req, str):
                    raw.append(req)
    return raw + [fold(t) for t in raw] + EDGE


def test_compiled_tokenizer_is_used():
    assert numbers.tokenize is casscan.tokenize
    assert casualties.tokenize is casscan.tokenize


def test_tokens_equal_regex_on_whole_texts():
    texts = _texts()
    assert len(texts) > 100
    for t in texts:
        assert casscan.tokenize(t) == numbers._tokenize(t), t[:60]
        assert casscan.tokenize(t, 0, None) == numbers._tokenize(t, 0, None)


def test_tokens_equal_regex_on_windows():
    rnd = random.Random(7)
    for t in _texts():
        for _ in range(6):
            a, b = rnd.randint(-3, len(t) + 3), rnd.randint(-3, len(t) + 3)
            assert casscan.tokenize(t, a, b) == numbers._tokenize(t, a, b), (t[:60], a, b)
        for a in range(min(len(t), 12)):  # windows that cut a word or a digit group
            assert casscan.tokenize(t, a, len(t) - a) == numbers._tokenize(t, a, len(t) - a)


def test_tokenizer_bad_input():
    with pytest.raises(TypeError):
        casscan.tokenize(b"bytes")
    with pytest.raises(TypeError):
        casscan.tokenize("x", "0")


def test_built_module_is_not_stale():
    # The .so of an editable install sits next to its source; an edited _casscan.c needs `pip install -e .`.
    src = ROOT / "rasd" / "_casscan.c"
    so = Path(casscan.__file__)
    if so.parent == src.parent:
        assert so.stat().st_mtime >= src.stat().st_mtime, "rasd/_casscan.c changed: rebuild (pip install -e .)"


def test_casualties_and_numbers_same_with_regex_tokenizer(monkeypatch):
    # The whole casualty and number readings do not depend on which tokenizer runs.
    texts = [fold(t) for t in _texts()[:400]]
    compiled = [(casualties.find_casualties(t), numbers.find_numbers(t)) for t in texts]
    monkeypatch.setattr(numbers, "tokenize", numbers._tokenize)
    monkeypatch.setattr(casualties, "tokenize", numbers._tokenize)
    pure = [(casualties.find_casualties(t), numbers.find_numbers(t)) for t in texts]
    assert sum(len(c) for c, _ in compiled) > 50
    assert compiled == pure

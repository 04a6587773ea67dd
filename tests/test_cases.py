"""Golden cases kept as data (quantulum3-style), replayed by one test.

Each ``tests/cases/<name>.jsonl`` line is ``{"req": text, "ctx": {...}, "res": [...], "note": "..."}``.
``tests/runners/<name>.py`` defines ``run(req, ctx) -> list[dict]``. Each expected item must match
an actual item on every key it gives (in order), and every item with ``start``/``end``/``text``
must round-trip: ``req[start:end] == text``.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "cases"


def _load():
    for path in sorted(CASES.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("//"):
                yield pytest.param(path.stem, json.loads(line), id=f"{path.stem}:{n}")


@pytest.mark.parametrize("name,case", list(_load()))
def test_golden_case(name, case):
    runner = importlib.import_module(f"runners.{name}")
    req, ctx, expected = case["req"], case.get("ctx", {}), case["res"]
    actual = runner.run(req, ctx)
    for item in actual:
        if {"start", "end", "text"} <= item.keys():
            assert req[item["start"] : item["end"]] == item["text"], f"span does not round-trip: {item}"
    assert len(actual) == len(expected), f"expected {expected}\n  got {actual}"
    for exp, act in zip(expected, actual):
        for k, v in exp.items():
            assert act.get(k) == v, f"{k}: expected {v!r}, got {act.get(k)!r}\n  item {act}"

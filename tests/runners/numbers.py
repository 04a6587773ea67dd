"""Golden-case runner for rasd.extract.numbers.find_numbers.

`req` is cleaned text (clean_chars output); the runner folds it (one-to-one, so offsets slice req).
"""
from __future__ import annotations

from rasd.extract.numbers import find_numbers
from rasd.text.normalize import fold


def run(req: str, ctx: dict) -> list[dict]:
    return [
        {
            "value": m.value,
            "qualifier": m.qualifier,
            "role": m.role,
            "start": m.start,
            "end": m.end,
            "text": req[m.start : m.end],
        }
        for m in find_numbers(fold(req))
    ]

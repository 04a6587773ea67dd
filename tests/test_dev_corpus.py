"""Ingest of the shared dev corpora (read from ../shared at test time, never copied into the project)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from rasd.ingest.discover import discover
from rasd.ingest.readers import read_items
from rasd.settings import load_settings

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/corpus not present")


@pytest.mark.parametrize("name", ["dev", "dev2", "seeds"])
def test_dev_corpus_ingests_every_article_with_its_key_outlet_and_date(name, tmp_path):
    gold = {d["doc_id"]: d for d in map(json.loads, (SHARED / f"{name}.gold.jsonl").read_text(encoding="utf-8").splitlines())}
    now = dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc)
    recs = read_items(discover(SHARED / name), SHARED / name, tmp_path / "raw", load_settings(), now, now.date())
    by_key = {r["doc_key"]: r for r in recs}
    assert set(by_key) == set(gold)
    assert all(r["status"] == "ok" for r in recs)
    for key, g in gold.items():
        r = by_key[key]
        if g.get("published_at"):
            assert r["published_at"] == dt.date.fromisoformat(g["published_at"]), key
        if name != "seeds":
            assert r["outlet"], key

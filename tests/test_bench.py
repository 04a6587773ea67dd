"""Benchmark harness (issue 7): the corpus generator is deterministic and produces the intended mix; the harness
runs end to end (slow: two pipeline runs in fresh processes)."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import generate_corpus as gc  # noqa: E402


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_generator_is_deterministic(tmp_path):
    a = gc.generate(tmp_path / "a", 50, seed=3, jsonl_records=10)
    b = gc.generate(tmp_path / "b", 50, seed=3, jsonl_records=10)
    assert a == b
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    c = gc.generate(tmp_path / "c", 50, seed=4, jsonl_records=10)
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")
    assert c["articles"] == 50


def test_generator_mix_at_tiny_size(tmp_path):
    s = gc.generate(tmp_path, 50, seed=7, jsonl_records=10)
    assert s["articles"] == s["txt_files"] + s["jsonl_records_written"] == 50
    assert s["txt_files"] == 30 and s["jsonl_records_written"] == 20 and s["jsonl_files"] == 2  # 60 % / 40 %
    assert s["roles"]["dup"] >= 1 and s["roles"]["near"] >= 1 and s["roles"]["bad"] == 1
    assert s["roles"]["ok"] >= 44
    assert (tmp_path / ".corpus.json").is_file()
    assert all(p.parent.name == "part-0000" for p in tmp_path.rglob("*.txt"))

    plan = gc.Plan(7, gc.dt.date(2023, 1, 2), gc.dt.date(2025, 12, 28))
    texts = [plan.text(i) for i in range(50)]
    for i in range(50):
        role = plan.role(i)
        if role == "dup":
            assert texts[i] == texts[plan.source(i)]
        elif role == "near":
            src = texts[plan.source(i)]
            assert texts[i] != src and abs(len(texts[i]) - len(src)) < 0.2 * len(src)
    # Arabic reporting with figures, places and dates
    ok = [t for i, t in enumerate(texts) if plan.role(i) == "ok"]
    assert all(t.count("\n\n") >= 3 for t in ok)
    assert sum(any(w in t for w in ("قُتل", "مقتل", "اعتقل", "أصيب", "جثث", "اغتال")) for t in ok) == len(ok)
    rows = [json.loads(line) for f in tmp_path.rglob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()
            if line.endswith("}")]
    assert rows and all({"id", "url", "outlet", "published_at"} <= set(r) for r in rows)


def test_generator_bad_kinds_and_continuation(tmp_path):
    s = gc.generate(tmp_path / "c", 700, seed=7, jsonl_records=100)
    assert s["roles"]["bad"] == 7 and 18 <= s["roles"]["dup"] <= 21 and 18 <= s["roles"]["near"] <= 21
    assert set(s["bad_kinds"]) >= {"empty", "binary", "undecodable", "malformed_sidecar"}
    # --start continues the numbering: a separate increment never collides with the corpus's files
    inc = gc.generate(tmp_path / "inc", 20, seed=7, start=700, jsonl_records=100)
    names = {p.name for p in (tmp_path / "c").rglob("*") if p.is_file()}
    assert inc["articles"] == 20 and not names & {p.name for p in (tmp_path / "inc").rglob("*") if p.is_file() and p.name != ".corpus.json"}


@pytest.mark.slow
def test_harness_end_to_end(tmp_path):
    import run_bench

    rc = run_bench.main(["--size", "30", "--incremental", "10", "--jsonl-records", "10", "--out", str(tmp_path), "--no-docs"])
    assert rc == 0
    rep = json.loads(next(tmp_path.glob("report-n30-*.json")).read_text(encoding="utf-8"))
    for run in ("base", "incremental"):
        rows = [r for r in rep[run]["stages"] if r["stage"] != "pool"]  # "pool": the workers' CPU, when workers > 1
        assert [r["stage"] for r in rows] == ["imports", *run_bench.STAGES]
        assert all(r["wall_s"] >= 0 and r["peak_rss_mb"] > 0 for r in rows)
        assert rep[run]["gate_passed"]
    assert rep["base"]["summary"]["articles"] == 30
    assert rep["incremental"]["summary"]["articles_new"] == 10
    assert rep["floor"]["bytes"] > 0 and rep["sizes"]["rasd.duckdb"] > 0
    md = next(tmp_path.glob("report-n30-*.md")).read_text(encoding="utf-8")
    assert "Raw floor" in md and "× floor" in md and "Incremental run" in md
    assert not list(tmp_path.glob("warehouse-*"))  # removed without --keep

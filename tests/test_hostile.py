"""Hostile and broken input: one corpus (generated here, see helpers/hostile.py), one real run, each outcome checked.

The run is `rasd run --no-prefect` in a subprocess whose HOME, TMPDIR and working folder are empty folders of the
test, so "nothing outside the warehouse is written" is checked on everything the process could touch by default.
Also here: security of `rasd sql` through the CLI, HTML escaping of article text, hostile feeds.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from helpers import hostile as H
from helpers.pubcheck import RASD, ROOT, code_version, env, fingerprint, rasd_sql
from rasd.pipeline import run_local
from rasd.settings import load_settings
from rasd.warehouse import read_only_connection

slow = pytest.mark.slow  # tests on the hostile run: a ~50 MB corpus and a whole pipeline run (CI runs them too)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    inp, wh = root / "in", root / "wh"
    home, cwd, tmp = root / "home", root / "cwd", root / "tmp"
    for d in (home, cwd, tmp):
        d.mkdir()
    expect = H.build(inp)
    before_input = H.snapshot(inp)
    before_root = sorted(p.name for p in root.iterdir())
    passwd = os.stat("/etc/passwd").st_mtime_ns
    r = subprocess.run([str(RASD), "run", "--no-prefect", "--input", str(inp), "--warehouse", str(wh)],
                       capture_output=True, text=True, cwd=cwd, timeout=900,
                       env=env(HOME=home, TMPDIR=tmp, XDG_CACHE_HOME=home / ".cache", XDG_CONFIG_HOME=home / ".config"))
    con = read_only_connection(wh)
    arts = {r[0]: r for r in con.execute(
        "select source_path, article_id, doc_key, status, quarantine_reason, language, duplicate_of, published_at"
        " from articles").fetchall()}
    con.close()
    return {"root": root, "in": inp, "wh": wh, "home": home, "cwd": cwd, "tmp": tmp, "expect": expect, "result": r,
            "before_input": before_input, "before_root": before_root, "passwd": passwd, "arts": arts}


def _q(run, sql, params=()):
    con = read_only_connection(run["wh"])
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _id(run, source_path):
    return run["arts"][source_path][1]


@slow
def test_run_completes_on_hostile_input(run):
    r = run["result"]
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "rasd run complete" in r.stdout


@slow
def test_every_input_is_accounted_for_in_articles(run):
    # one row per input file (sidecars are metadata of their article; JSONL: one row per non-blank line)
    got = set(run["arts"]) - {"pipe.txt"}  # a FIFO is not a file: skipped, or quarantined (see the FIFO test)
    assert got == set(run["expect"]), got ^ set(run["expect"])
    assert len(run["arts"]) == len(_q(run, "select * from articles"))


@slow
def test_each_input_gets_its_expected_status_and_reason(run):
    problems = []
    for sp, exp in run["expect"].items():
        row = run["arts"].get(sp)
        if row is None:
            problems.append(f"{sp}: missing")
            continue
        status, reason = row[3], row[4] or ""
        want = {"ok_or_quarantined": {"ok", "quarantined"}}.get(exp.status, {exp.status})
        if status not in want:
            problems.append(f"{sp}: status {status!r} (reason {reason!r}), expected {exp.status}")
        elif status == "quarantined" and exp.reason and not any(k in reason for k in exp.reason):
            problems.append(f"{sp}: reason {reason!r} names none of {exp.reason}")
        elif status == "quarantined" and not reason:
            problems.append(f"{sp}: quarantined without a reason")
    assert not problems, "\n".join(problems)


@slow
def test_nothing_outside_the_warehouse_is_written(run):
    assert H.snapshot(run["in"]) == run["before_input"]  # inputs never modified (content, mtime, mode)
    assert sorted(p.name for p in run["root"].iterdir()) == sorted({*run["before_root"], "wh"})
    leftovers = {d.name: sorted(p.relative_to(d).as_posix() for p in d.rglob("*")) for d in (run["home"], run["cwd"], run["tmp"])}
    assert leftovers == {"home": [], "cwd": [], "tmp": []}, leftovers
    assert os.stat("/etc/passwd").st_mtime_ns == run["passwd"]
    # no path in the warehouse came from an input's id (ids never become paths)
    names = [p.relative_to(run["wh"]).as_posix() for p in run["wh"].rglob("*")]
    assert not [n for n in names if "passwd" in n or "evil" in n or "\x1b" in n]


@slow
def test_hostile_ids_are_neutralised(run):
    keys = {sp: row[2] for sp, row in run["arts"].items()}
    for k in keys.values():
        assert k and not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u202e\u202a\u2066" for c in k), repr(k)
        bare = re.sub(r"\\u[0-9a-f]{4}", "", k)  # undecodable code points are shown as \\uXXXX escapes
        assert "/" not in bare and "\\" not in bare and ".." not in bare, k
    assert keys["traversal.txt"] != "../../etc/passwd" and "passwd" in keys["traversal.txt"]


@slow
def test_undecodable_file_names_newlines_and_lone_surrogates_do_not_crash(run):
    name = H.visible(os.fsdecode(b"cp1256-\xe4\xd9.txt"))
    for sp in (name, "new\nline.txt", "surrogate.txt"):
        row = run["arts"][sp]
        assert row[3] == "ok", row
        assert _q(run, "select count(*) from events where article_id = ?", [row[1]])[0][0] >= 1, sp
    # stored as valid UTF-8 with the bad code points visible, never silently merged with another key
    assert run["arts"]["surrogate.txt"][2] == "\\ud800x"


@slow
def test_symlink_outside_the_input_is_not_read(run):
    row = run["arts"]["leak.txt"]
    texts = _q(run, "select text from article_texts where article_id = ?", [row[1]])
    assert row[3] == "quarantined" and not any("root:" in (t or "") for (t,) in texts), (row, texts[:1])


@slow
def test_a_fifo_in_the_input_is_skipped_not_opened(run):
    # the run finished (a FIFO opened for reading would block it forever) and the FIFO is not an article
    assert run["result"].returncode == 0
    assert "pipe.txt" not in run["arts"] or run["arts"]["pipe.txt"][3] == "quarantined"


@slow
def test_html_scripts_iframes_and_handlers_never_reach_the_cleaned_text(run):
    (text,) = _q(run, "select text from article_texts where article_id = ?", [_id(run, "scripted.html")])[0]
    assert "قتل رجل وأصيب طفلان" in text  # the article itself is kept
    for bad in ("alert", "pwned", "cookie", "inline-script-body", "evil.example", "javascript:", "onerror", "onclick",
                "onload", "<script", "svg-script", "document."):
        assert bad not in text, bad
    for (ev,) in _q(run, "select evidence from events where article_id = ?", [_id(run, "scripted.html")]):
        assert "alert" not in ev and "<" not in ev


@slow
def test_iframe_and_noscript_fallback_text_is_not_article_text(run):
    (text,) = _q(run, "select text from article_texts where article_id = ?", [_id(run, "scripted.html")])[0]
    assert "iframe-fallback-text" not in text and "noscript-body" not in text


@slow
def test_absurd_figure_is_quarantined_by_the_gate_not_published(run):
    aid = _id(run, "absurd.txt")
    assert run["arts"]["absurd.txt"][3] == "ok"
    q = _q(run, "select expectation, detail from quarantine where table_name = 'events' and article_id = ?", [aid])
    assert q and any("plausible" in e and "10000000" in d for e, d in q), q
    assert not _q(run, "select * from events where fatalities >= 10000000 or wounded >= 10000000")
    (mx,) = _q(run, "select max(greatest(fatalities_high, fatalities_best)) from incidents")[0]
    assert mx is None or mx <= load_settings().max_plausible_figure
    (wk,) = _q(run, "select coalesce(max(fatalities_high), 0) from weekly_incidents")[0]
    assert wk < 10000000


@pytest.mark.parametrize("source_path,expectation", [("future.txt", "published_at_not_in_future"),
                                                     ("old.txt", "published_at_not_before_earliest")])
@slow
def test_publication_dates_in_the_future_or_1900_are_quarantined_with_the_reason(run, source_path, expectation):
    aid = _id(run, source_path)
    q = _q(run, "select expectation from quarantine where table_name = 'articles' and row_id = ?", [aid])
    assert any(expectation in e for (e,) in q), q
    assert not _q(run, "select * from events where article_id = ?", [aid])  # its events go with it
    status, reason = run["arts"][source_path][3:5]
    assert status == "quarantined" and expectation in (reason or ""), (status, reason)


@slow
def test_event_dates_in_1900_or_the_future_are_never_published(run):
    assert not _q(run, "select * from events where event_date < date '1990-01-01' or event_date > current_date")
    assert not _q(run, "select * from incidents where event_date < date '1990-01-01' or event_date > current_date")
    assert not _q(run, "select * from weekly_incidents where week_start < date '1990-01-01' or week_start > current_date")


@slow
def test_an_event_dated_in_the_future_is_not_silently_redated(run):
    rows = _q(run, "select event_date, evidence from events where article_id = ? and evidence like '%2099%'",
              [_id(run, "textdates.txt")])
    assert not rows, rows


@slow
def test_non_arabic_articles_are_kept_flagged_and_not_extracted(run):
    for sp in ("english.txt", "french.txt"):
        row = run["arts"][sp]
        assert row[3] == "ok" and row[5] not in (None, "ar"), row
        assert not _q(run, "select * from events where article_id = ?", [row[1]]), sp
    assert run["arts"]["english.txt"][5] == "en"


@slow
def test_the_same_article_1000_times_is_one_article_and_999_duplicates(run):
    copies = {sp: row for sp, row in run["arts"].items() if sp.startswith("copies/")}
    assert len(copies) == H.N_COPIES
    originals = [row for row in copies.values() if row[6] is None]
    assert len(originals) == 1 and originals[0][3] == "ok"
    first = originals[0][1]
    assert originals[0][0] == "copies/copy-0000.txt"  # the first in input order
    assert all(row[6] == first for row in copies.values() if row[1] != first)
    assert len({row[1] for row in copies.values()}) == H.N_COPIES  # one id per input
    ids = [row[1] for row in copies.values()]
    (n_events,) = _q(run, f"select count(*) from events where article_id in ({','.join('?' * len(ids))})", ids)[0]
    (n_first,) = _q(run, "select count(*) from events where article_id = ?", [first])[0]
    assert n_events == n_first and n_first >= 1


@slow
def test_rerun_on_hostile_input_adds_nothing_and_keeps_every_number(run, tmp_path):
    import shutil

    wh = tmp_path / "wh"
    shutil.copytree(run["wh"], wh, symlinks=True)
    before, v0 = fingerprint(wh), code_version()
    summary = run_local(load_settings(), run["in"], wh, log=lambda *a: None)
    if code_version() != v0 or _published_code(wh) != _published_code(run["wh"]):
        pytest.skip("rasd's code changed between the runs (parallel development); cannot compare")
    assert summary["articles_new"] == 0
    assert fingerprint(wh) == before


def _published_code(wh: Path) -> str | None:
    import json

    meta = json.loads((wh / "current" / "_publication.json").read_text(encoding="utf-8"))
    return meta.get("extractor_version")


# ---------------------------------------------------------------- rendering article text as HTML


@slow
def test_data_docs_show_article_text_only_escaped(run):
    """An article quoting <script>alert(1)</script> fails a warning expectation, so GX Data Docs show its evidence."""
    docs = run["wh"] / "current" / "quality" / "data_docs"
    pages = [p for p in docs.rglob("*.html")]
    assert pages
    raw = escaped = 0
    for p in pages:
        s = p.read_text(encoding="utf-8", errors="replace")
        raw += s.count("<script>alert(1)</script>") + s.count("alert('onload-handler')")
        escaped += s.count("&lt;script&gt;alert(1)&lt;/script&gt;")
    assert raw == 0
    assert escaped >= 1  # the hostile evidence is shown, as text


def test_gate_markdown_summary_escapes_examples():
    from rasd.quality.gate import GateReport

    f = {"suite": "events", "expectation": "evidence_has_no_markup", "severity": "warning", "level": "row",
         "unexpected_count": 1, "examples": [{"evidence": "قتل <script>alert(1)</script> <img src=x onerror=alert(2)>"}],
         "rows": [0], "error": None, "detail_columns": ["evidence"]}
    md = GateReport(passed=True, failures=[f]).summary_markdown()
    assert "<script>" not in md and "<img" not in md and "&lt;script&gt;" in md


def test_gate_markdown_summary_neutralises_markdown_links_and_images():
    import re

    from rasd.quality.gate import GateReport

    f = {"suite": "events", "expectation": "evidence_has_no_markup", "severity": "warning", "level": "row",
         "unexpected_count": 1, "examples": [{"evidence": "قتل [هنا](javascript:alert(1)) ![x](http://evil.example/t.png)"}],
         "rows": [0], "error": None, "detail_columns": ["evidence"]}
    md = GateReport(passed=True, failures=[f]).summary_markdown()
    assert not re.search(r"!?\[[^\]]*\]\([^)]*\)", md), md


# ---------------------------------------------------------------- rasd sql through the CLI


@pytest.mark.parametrize("query", [
    "create table z(a int)",
    "insert into articles select * from articles",
    "delete from events",
    "drop view weekly_acled",
    "copy events to '{out}/copy.csv'",
    "copy (select 1) to '{out}/copy.parquet' (format parquet)",
    "export database '{out}/export'",
    "attach '{out}/other.duckdb' as other",
    "select * from read_csv('/etc/passwd')",
    "select * from read_text('/etc/passwd')",
    "select * from read_parquet('{wh}/events/*.parquet')",
    "select * from glob('/etc/*')",
    "select * from read_blob('/etc/passwd')",
    "select * from '/etc/passwd'",
    "attach ':memory:' as m",
    "install httpfs",
    "load httpfs",
    "set enable_external_access = true",
    "set lock_configuration = false",
    "select 1; copy events to '{out}/second.csv'",
])
@slow
def test_rasd_sql_refuses_writes_and_outside_access(run, tmp_path, query):
    out = tmp_path / "out"
    out.mkdir()
    r = rasd_sql(run["wh"], query.format(out=out, wh=run["wh"]))
    assert r.returncode != 0, r.stdout[:500]
    assert r.stderr.strip().startswith("rasd: query failed:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "root:" not in r.stdout
    assert list(out.iterdir()) == []


@slow
def test_rasd_sql_still_reads_and_leaves_the_database_unchanged(run):
    import hashlib

    db = (run["wh"] / "rasd.duckdb").resolve()
    before = (db.stat().st_mtime_ns, hashlib.sha256(db.read_bytes()).hexdigest(), sorted(p.name for p in db.parent.iterdir()))
    r = rasd_sql(run["wh"], "select count(*) from articles")
    assert r.returncode == 0 and int(r.stdout.splitlines()[1]) == len(run["expect"])
    # accepted but harmless: a temp table lives in memory, CHECKPOINT is a no-op on a read-only database
    for q in ("create temp table x as select 1", "checkpoint"):
        rasd_sql(run["wh"], q)
    after = (db.stat().st_mtime_ns, hashlib.sha256(db.read_bytes()).hexdigest(), sorted(p.name for p in db.parent.iterdir()))
    assert before == after


# ---------------------------------------------------------------- hostile feeds (rasd/ingest/feeds.py)

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>t</title><description>&lol9;</description></item></channel></rss>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>x</title><item><guid>1</guid><description>&xxe;</description></item></channel></rss>"""
PARAM = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>
<rss version="2.0"><channel><title>x</title></channel></rss>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/rss.dtd">
<rss version="2.0"><channel><title>x</title></channel></rss>"""


@pytest.mark.parametrize("doc", [BOMB, XXE, PARAM, DTD_ONLY], ids=["billion-laughs", "external-entity", "parameter-entity", "external-dtd"])
def test_feed_parser_refuses_entities_and_dtds(doc):
    from rasd.ingest.feeds import parse_feed

    with pytest.raises(Exception) as ei:
        parse_feed(doc)
    assert "root:" not in str(ei.value)


# ---------------------------------------------------------------- JSON nesting bombs (ingest, unit level)


def _nesting_bomb_inputs(root: Path) -> None:
    import json

    good = {"text": H.REPORT, "published_at": "2022-10-17"}
    bomb = "[" * 200_000 + "]" * 200_000  # json.loads raises RecursionError, not JSONDecodeError
    lines = [json.dumps({"id": "nb-1", **good}, ensure_ascii=False), bomb, json.dumps({"id": "nb-3", **good}, ensure_ascii=False)]
    (root / "nested.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "side.txt").write_text(H.REPORT, encoding="utf-8")
    (root / "side.json").write_text('{"id": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")


def _read_all(root: Path) -> dict:
    from rasd.ingest.discover import discover
    from rasd.ingest.readers import read_items

    return {r["source_path"]: r for r in read_items(discover(root), root, root.parent / "raw")}


def test_a_json_nesting_bomb_in_a_sidecar_quarantines_only_its_article(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    _nesting_bomb_inputs(inp)
    recs = _read_all(inp)
    assert recs["side.txt"]["status"] == "quarantined" and recs["side.txt"]["quarantine_reason"]


def test_a_json_nesting_bomb_line_loses_only_that_line(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    _nesting_bomb_inputs(inp)
    recs = _read_all(inp)
    assert recs["nested.jsonl#L1"]["status"] == "ok" and recs["nested.jsonl#L3"]["status"] == "ok"
    assert recs["nested.jsonl#L2"]["status"] == "quarantined"

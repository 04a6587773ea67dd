"""plan_batches and the columnar discovery (rasd.ingest.discover.scan) against the object-per-input reference."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pyarrow.parquet as pq

from rasd import pipeline as P
from rasd.ingest.discover import TEXT_SUFFIXES, InputItem, discover, scan
from rasd.settings import Settings

T0 = dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc)


def _reference_discover(input_dir: Path) -> list[InputItem]:
    """The session-3 discover (one InputItem per input, pathlib), kept to check the columnar one against."""
    root = Path(input_dir)
    real_root = root.resolve()

    def hidden(name):
        return name.startswith(".") or name.startswith("~$") or name.endswith("~")

    def inside(p):
        try:
            return p.resolve().is_relative_to(real_root)
        except (OSError, RuntimeError):
            return False

    files = []
    stack = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if hidden(e.name):
                continue
            r = f"{rel}{e.name}"
            if e.is_symlink():
                p = Path(e.path)
                if not inside(p):
                    files.append((r, p, True))
                elif p.is_file():
                    files.append((r, p, False))
            elif e.is_dir(follow_symlinks=False):
                stack.append((Path(e.path), r + "/"))
            elif e.is_file(follow_symlinks=False):
                files.append((r, Path(e.path), False))
    by_dir_stem = {}
    for r, p, out in files:
        if not out and r[-5:].lower() == ".json":
            d, _, name = r.rpartition("/")
            by_dir_stem.setdefault((d, name[:-5]), []).append((r, p))
    sidecars, items = set(), []
    for r, p, out in files:
        d, _, name = r.rpartition("/")
        stem, dot, suffix = name.rpartition(".")
        if not dot or not stem:
            stem, suffix = name, ""
        kind = "link" if out else TEXT_SUFFIXES.get("." + suffix.lower() if suffix else "")
        sidecar = None
        if kind in ("txt", "html"):
            cands = sorted(by_dir_stem.get((d, stem), []))
            if cands:
                sidecar = cands[0][1]
                sidecars.add(cands[0][0])
        items.append(InputItem(r, p, kind or "other", sidecar))
    items = [i for i in items if i.source_path not in sidecars]
    items.sort(key=lambda i: i.source_path)
    return items


def _hostile(root: Path, outside: Path) -> None:
    """Names and layouts that each once broke a discovery: order of "a-c" against "a/…", hidden and backup files,
    sidecars in two letter cases, links in and out of the folder, a folder link, a name that is not UTF-8."""
    (root / "a").mkdir(parents=True)
    for rel, text in {"a/b.txt": "نص", "a-c.txt": "x", "a.txt": "y", "a/b.json": "{}", "a/b.JSON": "{}",
                      "z.html": "<p>", "z.Json": "{}", "z.json": "{}", "feed.ndjson": "{}\n", "notes.md": "m",
                      "noext": "n", "dot.": "d", "x.tar.txt": "t", "x.tar.json": "{}", "orphan.json": "{}",
                      ".hidden.txt": "h", "~$lock.txt": "l", "backup.txt~": "b", "مقال ١.txt": "ع", "عربي.json": "{}",
                      "عربي.htm": "<p>", "deep/er/f.text": "f", "deep/er/f.json": "{}"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "x.txt").write_text("g", encoding="utf-8")
    outside.mkdir()
    (outside / "secret.txt").write_text("s", encoding="utf-8")
    (root / "in-link.txt").symlink_to(root / "a.txt")
    (root / "out-link.txt").symlink_to(outside / "secret.txt")
    (root / "dir-link").symlink_to(root / "a")
    (root / "broken.txt").symlink_to(root / "missing.txt")
    (root / "out-dir").symlink_to(outside)
    try:
        with open(os.path.join(os.fsencode(root), b"caf\xe9.txt"), "wb") as fh:  # Windows-1256/Latin-1 name
            fh.write(b"c")
    except OSError:  # a file system that refuses non-UTF-8 names
        pass


def test_scan_finds_what_the_reference_discover_finds(tmp_path):
    root = tmp_path / "in"
    _hostile(root, tmp_path / "outside")
    assert discover(root) == _reference_discover(root)
    t = scan(root)
    ref = _reference_discover(root)
    assert t.num_rows == len(ref)
    # identities: one stat per file, following links inside the folder, not those leaving it
    for row, it in zip(t.to_pylist(), ref):
        st = os.stat(it.path, follow_symlinks=it.kind != "link")
        assert (row["size"], row["mtime_ns"]) == (st.st_size, st.st_mtime_ns), it.source_path
        if it.sidecar is None:
            assert row["sidecar"] is None and row["sidecar_size"] is None
        else:
            sst = os.stat(it.sidecar)
            assert (row["sidecar_size"], row["sidecar_mtime_ns"]) == (sst.st_size, sst.st_mtime_ns)
        assert row["stat_ok"]


def test_scan_of_an_empty_folder(tmp_path):
    assert scan(tmp_path).num_rows == 0
    assert discover(tmp_path) == []


def _ctx(root: Path, wh: Path, run: str, batch_size: int = 2) -> P.RunContext:
    work = wh / "runs" / run
    work.mkdir(parents=True)
    return P.RunContext(run, Settings().replace(batch_size=batch_size), root.resolve(), wh, work, T0)


def _publish_inputs(ctx: P.RunContext, wh: Path, name: str) -> None:
    """What a publication records (clean_articles' inputs.parquet from the plan), made current."""
    P._write_inputs_record(ctx, set())
    pub = wh / "publications" / name
    (pub / "_cache").mkdir(parents=True)
    (ctx.work / P.INPUTS).replace(pub / "_cache" / P.INPUTS)
    cur = wh / "current"
    if cur.is_symlink():
        cur.unlink()
    cur.symlink_to(pub)


def _manifest_paths(manifests: list[Path]) -> list[str]:
    return [d["source_path"] for m in manifests for d in json.loads(m.read_text(encoding="utf-8"))]


def test_plan_reads_only_new_and_changed_inputs(tmp_path):
    root, wh = tmp_path / "in", tmp_path / "wh"
    root.mkdir()
    for i in range(5):
        (root / f"a{i}.txt").write_text(f"نص {i}", encoding="utf-8")
    (root / "a1.json").write_text('{"title": "x"}', encoding="utf-8")
    (root / "feed.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    ctx = _ctx(root, wh, "r1")
    first = P.plan_batches(ctx)
    assert [len(json.loads(m.read_text())) for m in first] == [2, 2, 2]  # batch_size 2
    assert _manifest_paths(first) == ["a0.txt", "a1.txt", "a2.txt", "a3.txt", "a4.txt", "feed.jsonl"]
    d = json.loads(first[0].read_text())[1]
    assert d == {"source_path": "a1.txt", "path": str(root.resolve() / "a1.txt"), "kind": "txt",
                 "sidecar": str(root.resolve() / "a1.json")}
    _publish_inputs(ctx, wh, "p1")

    ctx2 = _ctx(root, wh, "r2")
    assert P.plan_batches(ctx2) == []  # nothing changed: nothing read
    plan = pq.read_table(ctx2.work / P.INPUTS_PLAN)
    assert plan["read"].to_pylist() == [False] * 6

    st = os.stat(root / "a2.txt")
    (root / "a2.txt").write_text("نص آخر أطول", encoding="utf-8")  # changed content
    os.utime(root / "a3.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched only
    os.utime(root / "a1.json", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # its sidecar changed
    (root / "a4.txt").unlink()  # deleted
    (root / "b.txt").write_text("جديد", encoding="utf-8")  # new
    with open(root / "feed.jsonl", "a", encoding="utf-8") as fh:  # a feed that grew
        fh.write('{"text": "y"}\n')
    ctx3 = _ctx(root, wh, "r3")
    got = _manifest_paths(P.plan_batches(ctx3))
    assert got == ["a1.txt", "a2.txt", "a3.txt", "b.txt", "feed.jsonl"]
    plan = pq.read_table(ctx3.work / P.INPUTS_PLAN)
    assert plan["source_path"].to_pylist() == ["a0.txt", "a1.txt", "a2.txt", "a3.txt", "b.txt", "feed.jsonl"]
    assert plan["read"].to_pylist() == [False, True, True, True, True, True]
    assert plan.schema.metadata[b"input_dir"] == str(root.resolve()).encode()


def test_plan_of_another_folder_reads_everything(tmp_path):
    root, other, wh = tmp_path / "in", tmp_path / "other", tmp_path / "wh"
    for r in (root, other):
        r.mkdir()
        (r / "a.txt").write_text("نص", encoding="utf-8")
    os.utime(other / "a.txt", ns=(0, os.stat(root / "a.txt").st_mtime_ns))
    ctx = _ctx(root, wh, "r1")
    P.plan_batches(ctx)
    _publish_inputs(ctx, wh, "p1")
    # same relative path, size and mtime, but the publication recorded another folder: read
    assert _manifest_paths(P.plan_batches(_ctx(other, wh, "r2"))) == ["a.txt"]
    assert P.plan_batches(_ctx(root, wh, "r3")) == []


"""End-to-end benchmark of the pipeline (issue 7): per stage and end to end, against a raw floor.

    python bench/run_bench.py --size 10000 [--incremental 1000] [--out .bench] [--seed 7] [--keep]
        [--profile extract] [--no-docs] [--docs docs/benchmarks.md]

1. Generates (or reuses, when ``<out>/corpus-s<seed>-n<size>/.corpus.json`` matches) a corpus with
   ``bench/generate_corpus.py``, and an increment of ``--incremental`` articles published in the week after it.
2. RAW FLOOR: reads every input byte and regex-scans it (``re.findall`` of a casualty word), no processing.
3. BASE RUN in a fresh Python process, into a new warehouse: the steps of ``rasd.pipeline.run_steps``
   called one by one inside ``writer_lock`` (no Prefect), each timed: wall, CPU (user+sys), peak RSS (sampled
   from /proc every 50 ms, for the process alone and with its worker processes; ``ru_maxrss`` for the process;
   CPU includes the workers'), articles/s and its multiple of the floor.
4. INCREMENTAL RUN, another fresh process: the increment is moved into the same input folder (as a daily
   feed would add files) and the pipeline re-runs against the base warehouse; the increment is moved back after.
5. Output sizes (Parquet per table, rasd.duckdb, raw layer), load average, machine; a Markdown + JSON report
   in ``<out>/``, appended to ``docs/benchmarks.md`` unless ``--no-docs``.

Prefect is not involved (the same functions its tasks call), so flow start-up is not in these figures; Python
start-up, imports and rule loading are (``process`` row). With ``--profile STAGE`` that stage of the base run
runs under cProfile (its timings are then inflated) and the top 15 functions go into the report.
The warehouse is deleted at the end unless ``--keep``; the corpus stays in ``<out>`` for reuse (``--drop-corpus``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

STAGES = ("start", "plan", "ingest", "clean", "extract", "collect", "validate_rows", "resolve", "validate_incidents",
          "aggregate", "validate_tables", "publish")
FLOOR_RE = re.compile(r"(?:قتل|مقتل|قتلى|أصيب|اعتقل)\w*")
INCR_NAME = "zz-increment"  # the increment's folder name inside the corpus during the incremental run


# ---------------------------------------------------------------- measuring


class RssSampler:
    """Resident set size of this process and of its child processes (the worker pool), sampled every ``interval``
    seconds: ``peak`` (this process) and ``peak_total`` (this process + its live children at the same instant) since
    the last reset. It also keeps the last CPU seconds seen of every child, so a stage's CPU includes its workers'."""

    def __init__(self, interval: float = 0.05):
        import psutil

        self.interval = interval
        self.proc = psutil.Process()
        self.child_cpu: dict[int, float] = {}  # pid -> CPU seconds (user+sys) at its last sample
        self._procs: dict = {}
        self._lock = threading.Lock()
        self.peak = self.peak_total = 0
        self.reset()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def now(self) -> int:
        return self.proc.memory_info().rss

    def sample(self) -> tuple[int, int]:
        """(RSS of this process, RSS of this process + live children); records the children's CPU."""
        import psutil

        own = self.now()
        total = own
        for pid in _descendants(self.proc.pid):
            try:
                c = self._procs.get(pid) or self._procs.setdefault(pid, psutil.Process(pid))
                with c.oneshot():
                    total += c.memory_info().rss
                    t = c.cpu_times()
                    cpu = t.user + t.system
            except psutil.Error:  # exited between listing and reading
                continue
            with self._lock:
                self.child_cpu[c.pid] = max(cpu, self.child_cpu.get(c.pid, 0.0))
        self.peak, self.peak_total = max(self.peak, own), max(self.peak_total, total)
        return own, total

    def children_cpu(self) -> float:
        self.sample()
        with self._lock:
            return sum(self.child_cpu.values())

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def reset(self):
        self.peak = self.peak_total = self.now()
        self.sample()

    def stop(self):
        self._stop.set()


def _descendants(pid: int) -> list[int]:
    """Child processes, recursively, from /proc/PID/task/*/children (cheap: no scan of every process)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def _cpu() -> float:
    """CPU seconds of this process (user+sys); its workers' come from ``RssSampler.children_cpu``."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Stages:
    def __init__(self, profile: str | None = None):
        self.rows: list[dict] = []
        self.rss = RssSampler()
        self.profile = profile
        self.profile_text: str | None = None

    def run(self, name: str, fn, counts=None):
        prof = None
        if self.profile == name:
            import cProfile

            prof = cProfile.Profile()
        self.rss.reset()
        t0, c0, w0 = time.perf_counter(), _cpu(), self.rss.children_cpu()
        if prof:
            prof.enable()
        try:
            out = fn()
        finally:
            if prof:
                prof.disable()
        wall, own = time.perf_counter() - t0, _cpu() - c0
        workers = self.rss.children_cpu() - w0
        row = {"stage": name, "wall_s": round(wall, 3), "cpu_s": round(own + workers, 3), "workers_cpu_s": round(workers, 3),
               "peak_rss_mb": round(self.rss.peak / 2**20, 1), "peak_rss_total_mb": round(self.rss.peak_total / 2**20, 1)}
        if counts:
            row["counts"] = counts(out)
        self.rows.append(row)
        print(f"  {name:<19} {wall:8.2f} s wall {row['cpu_s']:8.2f} s cpu ({workers:.2f} in workers) {row['peak_rss_mb']:8.1f} MB "
              f"(+ workers {row['peak_rss_total_mb']:8.1f} MB)", file=sys.stderr, flush=True)
        if prof:
            import io
            import pstats

            buf = io.StringIO()
            st = pstats.Stats(prof, stream=buf)
            st.sort_stats("tottime").print_stats(15)
            buf.write("\n---- by cumulative time ----\n")
            st.sort_stats("cumulative").print_stats(15)
            self.profile_text = _trim_profile(buf.getvalue())
        return out


def _trim_profile(text: str) -> str:
    keep = []
    for line in text.splitlines():
        line = re.sub(r"\S*/site-packages/", "", line)
        line = re.sub(r"\S*/lib/python3\.\d+/", "", line)
        line = line.replace(str(ROOT) + "/", "")
        if line.strip():
            keep.append(line.rstrip())
    return "\n".join(keep)


def run_pipeline(input_dir: Path, warehouse: Path, profile: str | None) -> dict:
    """Child process: the steps of rasd.pipeline.run_steps, one by one, measured."""
    t_imp, c_imp = time.perf_counter(), _cpu()
    from rasd import pipeline as P
    from rasd.settings import load_settings
    from rasd.warehouse import Layout, writer_lock

    settings = load_settings(ROOT / "pyproject.toml")
    import_s, import_cpu = time.perf_counter() - t_imp, _cpu() - c_imp
    st = Stages(profile)
    st.rows.append({"stage": "imports", "wall_s": round(import_s, 3), "cpu_s": round(import_cpu, 3),
                    "peak_rss_mb": round(st.rss.now() / 2**20, 1)})
    result: dict = {"settings": {"batch_size": settings.batch_size}, "load_before": os.getloadavg()}
    t0 = time.perf_counter()
    with writer_lock(Layout(Path(warehouse))):
        ctx = st.run("start", lambda: P.start_run(settings, input_dir, warehouse))
        manifests = st.run("plan", lambda: P.plan_batches(ctx), lambda m: {"batches": len(m)})
        from rasd.quality.gate import preload

        preload()  # as run_steps does: Great Expectations' import overlaps the batch steps
        # ingest and extract on settings.workers processes (RASD_WORKERS / --workers), as rasd run does; each
        # stage's CPU includes the worker processes' (sampled from /proc), its RSS is this process's and, in
        # "peak RSS + workers", the sum over this process and its workers at the same instant.
        from rasd.parallel import BatchPool

        with BatchPool(ctx, settings.workers, log=lambda *a: None) as pool:
            ingested = st.run("ingest", lambda: pool.map("ingest", manifests))
            cleaned = st.run("clean", lambda: P.clean_articles(ctx, ingested), lambda c: c["counts"])
            ev = st.run("extract", lambda: pool.map("extract", [Path(b) for b in cleaned["new"]]),
                        lambda e: {"batches": len(e)})
            workers = pool.workers
            # as run_steps: the pool extracts the articles anchoring dates, then closes
            events_path = st.run("collect", lambda: P.collect_events(ctx, ev, Path(cleaned["articles"]),
                                                                     cleaned["reextract"], pool))
        result["settings"]["workers"] = workers
        vr = st.run("validate_rows", lambda: P.validate_rows(ctx, Path(cleaned["articles"]), events_path), lambda r: r["counts"])
        resolved = st.run("resolve", lambda: P.resolve_incidents(ctx, Path(vr["events"]), Path(cleaned["articles"])),
                          lambda r: r["counts"])
        resolved = st.run("validate_incidents", lambda: P.validate_incidents(ctx, resolved), lambda r: r["counts"])
        agg = st.run("aggregate", lambda: P.aggregate(ctx, Path(cleaned["articles"]), Path(vr["events"]), resolved,
                                                       [Path(vr["quarantine"]), Path(resolved["quarantine_incidents"])]),
                     lambda a: a["counts"])
        gate = st.run("validate_tables", lambda: P.validate_tables(ctx, Path(agg["staging"])),
                      lambda g: {"passed": g["passed"]})
        summary = P.summarize(ctx, cleaned, agg, gate)
        if gate["passed"]:
            st.run("publish", lambda: P.publish(ctx, Path(agg["staging"]), summary))
        else:
            P.discard(ctx, Path(agg["staging"]))
    st.rss.stop()
    result.update({
        "pipeline_wall_s": round(time.perf_counter() - t0, 3), "stages": st.rows, "summary": summary,
        "gate": gate["one_line"], "gate_passed": gate["passed"], "run_id": ctx.run_id,
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_total_mb": round(max(r.get("peak_rss_total_mb", 0) for r in st.rows), 1),
        "cpu_s": round(_cpu() + st.rss.children_cpu(), 3), "load_after": os.getloadavg(), "profile": st.profile_text,
        "extractor_version": P.extractor_version(),
    })
    return result


def raw_floor(folders: list[Path]) -> dict:
    """Read every (non-hidden) file and regex-scan its text: the cost of touching the bytes at all."""
    t0, c0 = time.perf_counter(), _cpu()
    n_files = n_bytes = hits = 0
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                with open(os.path.join(dirpath, name), "rb") as fh:
                    data = fh.read()
                n_files += 1
                n_bytes += len(data)
                hits += len(FLOOR_RE.findall(data.decode("utf-8", "replace")))
    return {"files": n_files, "bytes": n_bytes, "matches": hits, "wall_s": round(time.perf_counter() - t0, 3),
            "cpu_s": round(_cpu() - c0, 3)}


def dir_bytes(p: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(p):
        for n in filenames:
            fp = os.path.join(dirpath, n)
            if not os.path.islink(fp):
                total += os.path.getsize(fp)
    return total


def output_sizes(warehouse: Path) -> dict:
    from rasd.warehouse import Layout

    lay = Layout(warehouse)
    pub = lay.current_publication()
    out: dict = {}
    if pub is None:
        return out
    for child in sorted(pub.iterdir()):
        if child.is_dir() and not child.name.startswith(("_", ".")) and child.name != "quality":
            out[f"{child.name}.parquet"] = dir_bytes(child)
    db = pub / "rasd.duckdb"
    out["rasd.duckdb"] = db.stat().st_size if db.exists() else 0
    out["publication_total"] = dir_bytes(pub)
    out["raw_layer"] = dir_bytes(lay.raw)
    out["warehouse_total"] = dir_bytes(warehouse)
    return out


# ---------------------------------------------------------------- orchestration


def ensure_corpus(folder: Path, size: int, seed: int, start: int, d_from: dt.date, d_to: dt.date, jsonl_records: int) -> dict:
    from generate_corpus import GENERATOR, generate

    meta = folder / ".corpus.json"
    want = {"seed": seed, "start": start, "size": size, "date_from": d_from.isoformat(), "date_to": d_to.isoformat(),
            "jsonl_records": jsonl_records, "generator": GENERATOR}
    if meta.is_file():
        have = json.loads(meta.read_text(encoding="utf-8"))
        if all(have.get(k) == v for k, v in want.items()) and not (folder / INCR_NAME).exists():
            have["reused"] = True
            return have
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    s = generate(folder, size, seed, start, d_from, d_to, jsonl_records, log=lambda m: print("  " + m, file=sys.stderr))
    s["generate_s"] = round(time.perf_counter() - t0, 2)
    s["reused"] = False
    return s


def child(input_dir: Path, warehouse: Path, profile: str | None, out_json: Path) -> dict:
    """Run the measured pipeline in a fresh interpreter (cold imports and rule loading, clean RSS)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", str(input_dir), str(warehouse), str(out_json)]
    if profile:
        cmd += ["--profile", profile]
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, env=env, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not out_json.is_file():
        raise SystemExit(f"benchmark run failed (exit {proc.returncode}); see the output above")
    res = json.loads(out_json.read_text(encoding="utf-8"))
    res["process_wall_s"] = round(wall, 3)
    res["process_cpu_s"] = round((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), 3)
    return res


def machine() -> dict:
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    git = ""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "rasd"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        git = head + (" + uncommitted changes in rasd/" if dirty else "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_gb": mem, "python": platform.python_version(),
            "platform": platform.platform(), "git": git}


# ---------------------------------------------------------------- report


def _rate(n: int, s: float) -> str:
    return f"{n / s:,.0f}" if s > 0 else "–"


def _stage_table(run: dict, articles: int, floor_s: float) -> list[str]:
    lines = ["| stage | wall s | CPU s (in workers) | peak RSS MB | peak RSS + workers MB | articles/s | × floor | counts |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in run["stages"]:
        counts = ", ".join(f"{k}={v}" for k, v in (r.get("counts") or {}).items())
        mult = f"{r['wall_s'] / floor_s:,.1f}" if floor_s > 0 else "–"
        w = r.get("workers_cpu_s") or 0
        lines.append(f"| {r['stage']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f}{f' ({w:.2f})' if w else ''} | {r['peak_rss_mb']:,.0f} | "
                     f"{r.get('peak_rss_total_mb', r['peak_rss_mb']):,.0f} | {_rate(articles, r['wall_s'])} | {mult} | {counts} |")
    pw = run["process_wall_s"]
    lines.append(f"| **end to end** (process: start-up, imports, rules, all stages) | **{pw:.2f}** | {run['process_cpu_s']:.2f} | "
                 f"{run['ru_maxrss_mb']:,.0f} (ru_maxrss) | {run.get('peak_rss_total_mb', 0):,.0f} | **{_rate(articles, pw)}** | "
                 f"{pw / floor_s:,.1f} | gate {'passed' if run['gate_passed'] else 'FAILED'} |")
    return lines


def _load_note(loads: list) -> str:
    worst = max(l[0] for l in loads)
    s = ", ".join(f"{a:.2f}/{b:.2f}/{c:.2f}" for a, b, c in loads)
    note = f"load average (1/5/15 min) before/after runs: {s}"
    cores = os.cpu_count() or 1
    if worst > 0.75 * cores:
        note += (f" — **other jobs were running on this {cores}-core machine** (1-min load up to {worst:.1f}), so wall "
                 "times are pessimistic; CPU seconds are the steadier figure")
    return note


def render(rep: dict) -> str:
    m, base, inc = rep["machine"], rep["base"], rep.get("incremental")
    fl = rep["floor"]
    n = rep["corpus"]["articles"]
    out = [f"### {rep['size']:,} articles — {rep['date']}", ""]
    out.append(f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gb']} GB RAM, Python {m['python']}; code {m['git']}; "
               f"extractor_version {base.get('extractor_version')}; batch_size {base['settings']['batch_size']}.")
    out.append(f"{_load_note(rep['loads'])}.")
    c = rep["corpus"]
    out.append(f"Corpus (seed {c['seed']}, {'reused' if c.get('reused') else 'generated in %.1f s' % c.get('generate_s', 0)}): "
               f"{c['articles']:,} articles, {c['bytes'] / 1e6:,.1f} MB, {c['txt_files']:,} .txt ({c['sidecars']:,} sidecars), "
               f"{c['jsonl_records_written']:,} records in {c['jsonl_files']:,} .jsonl; roles {c['roles']}; bad {c['bad_kinds']}.")
    out.append("")
    out.append(f"**Raw floor** (read {fl['files']:,} files, {fl['bytes'] / 1e6:,.1f} MB, and `re.findall` a casualty word; "
               f"page cache warm, as for the runs): **{fl['wall_s']:.2f} s** wall, {fl['cpu_s']:.2f} s CPU "
               f"= {_rate(n, fl['wall_s'])} articles/s.")
    out.append("")
    s = base["summary"]
    out.append(f"**Base run** (fresh warehouse): {s['articles']:,} article rows ({s['quarantined_articles']:,} quarantined, "
               f"{s['duplicates']:,} duplicates), {s['events']:,} events, {s['incidents']:,} incidents, {s['weeks']} weeks; "
               f"gate: {base['gate']}")
    out.append("")
    out += _stage_table(base, n, fl["wall_s"])
    out.append("")
    if inc:
        fi = rep["floor_incremental"]
        k = rep["corpus_incremental"]["articles"]
        s = inc["summary"]
        out.append(f"**Incremental run**: {k:,} new articles (published the week after the corpus) added to the same input "
                   f"folder, into the warehouse of the base run. Floor for the new files alone: {fi['wall_s']:.2f} s; "
                   f"× floor below is against the whole folder's floor ({fl['wall_s']:.2f} s), since every run rediscovers "
                   f"the folder (it reads only the inputs that are new or changed since the last publication). Result: {s['articles']:,} article rows (+{s['articles_new']:,}), {s['events']:,} events, "
                   f"{s['incidents']:,} incidents; gate: {inc['gate']}")
        out.append("")
        out += _stage_table(inc, k, fl["wall_s"])
        out.append("")
    sz = rep["sizes"]
    out.append("Outputs after the " + ("incremental" if inc else "base") + " run: " + ", ".join(
        f"{k} {v / 1e6:,.1f} MB" for k, v in sz.items()) + ".")
    if rep.get("sizes_base"):
        out.append("After the base run: " + ", ".join(f"{k} {v / 1e6:,.1f} MB" for k, v in rep["sizes_base"].items()) + ".")
    if base.get("profile"):
        out += ["", f"cProfile of stage `{rep['profile_stage']}` (its wall time above is inflated by the profiler):", "",
                "```", base["profile"], "```"]
    out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--incremental", type=int, default=1000, help="new articles for the incremental run; 0 = none")
    ap.add_argument("--out", type=Path, default=ROOT / ".bench")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jsonl-records", type=int, default=100)
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes for ingest/extract (RASD_WORKERS; default: the settings' default, all CPUs)")
    ap.add_argument("--keep", action="store_true", help="keep the warehouse (the corpus is always kept for reuse)")
    ap.add_argument("--drop-corpus", action="store_true", help="delete the generated corpus at the end")
    ap.add_argument("--profile", choices=STAGES, help="run this stage of the base run under cProfile")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown file to append the report to")
    ap.add_argument("--no-docs", action="store_true", help="do not append to --docs")
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a._child:
        inp, wh, out_json = map(Path, a._child)
        res = run_pipeline(inp, wh, a.profile)
        Path(out_json).write_text(json.dumps(res, ensure_ascii=False, default=str), encoding="utf-8")
        return 0

    if a.workers is not None:
        os.environ["RASD_WORKERS"] = str(a.workers)  # the child runs load_settings, which reads it
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rep: dict = {"size": a.size, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "machine": machine(), "loads": [os.getloadavg()], "profile_stage": a.profile}
    d_from, d_to = dt.date(2023, 1, 2), dt.date(2025, 12, 28)
    corpus = out / f"corpus-s{a.seed}-n{a.size}"
    incr = out / f"incr-s{a.seed}-n{a.size}-k{a.incremental}"
    print(f"corpus {corpus}", file=sys.stderr)
    rep["corpus"] = ensure_corpus(corpus, a.size, a.seed, 0, d_from, d_to, a.jsonl_records)
    if a.incremental:
        # the next week's feed: articles that follow the corpus, published in the 7 days after it
        rep["corpus_incremental"] = ensure_corpus(incr, a.incremental, a.seed, a.size, d_to + dt.timedelta(days=1),
                                                  d_to + dt.timedelta(days=7), a.jsonl_records)
    print("raw floor", file=sys.stderr)
    raw_floor([corpus])  # one untimed pass so that floor and runs both see a warm page cache
    rep["floor"] = raw_floor([corpus])
    wh = out / f"warehouse-n{a.size}-{stamp}"
    try:
        print(f"base run → {wh}", file=sys.stderr)
        rep["base"] = child(corpus, wh, a.profile, out / f".run-base-{stamp}.json")
        rep["loads"] += [tuple(rep["base"]["load_before"]), tuple(rep["base"]["load_after"])]
        rep["sizes_base"] = output_sizes(wh) if a.incremental else None
        # partial report: the base figures survive an interrupted incremental run
        (out / f"report-n{a.size}-{stamp}.partial.json").write_text(json.dumps(rep, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        if a.incremental:
            rep["floor_incremental"] = raw_floor([incr])
            inside = corpus / INCR_NAME
            incr.rename(inside)
            try:
                print("incremental run", file=sys.stderr)
                rep["incremental"] = child(corpus, wh, None, out / f".run-incr-{stamp}.json")
            finally:
                inside.rename(incr)
            rep["loads"] += [tuple(rep["incremental"]["load_before"]), tuple(rep["incremental"]["load_after"])]
        rep["sizes"] = output_sizes(wh)
    finally:
        if not a.keep and wh.exists():
            shutil.rmtree(wh, ignore_errors=True)
        for f in out.glob(f".run-*-{stamp}.json"):
            f.unlink()
    if a.drop_corpus:
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(incr, ignore_errors=True)
    (out / f"report-n{a.size}-{stamp}.partial.json").unlink(missing_ok=True)
    md = render(rep)
    (out / f"report-n{a.size}-{stamp}.json").write_text(json.dumps(rep, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    (out / f"report-n{a.size}-{stamp}.md").write_text(md, encoding="utf-8")
    if not a.no_docs:
        docs = a.docs
        if not docs.exists():
            docs.write_text("# Benchmarks\n\n## Measured runs (appended by `bench/run_bench.py`)\n\n", encoding="utf-8")
        with open(docs, "a", encoding="utf-8") as fh:
            fh.write("\n" + md)
    print(md)
    print(f"report: {out / f'report-n{a.size}-{stamp}.md'}", file=sys.stderr)
    return 0 if rep["base"]["gate_passed"] and (not rep.get("incremental") or rep["incremental"]["gate_passed"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())

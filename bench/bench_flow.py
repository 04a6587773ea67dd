"""Prefect's share of a `rasd run` (issue 7): wall time from process start to exit, through the real flow, split
into phases, against the same steps in-process (`rasd run --no-prefect`).

    python bench/bench_flow.py [--scenario sample,incremental] [--mode inproc,ephemeral,server] [--repeat 3]
        [--out .bench] [--base-warehouse .bench/base-wh-10k] [--corpus .bench/corpus-s7-n10000]
        [--increment .bench/incr-s7-n10000-k1000] [--code DIR] [--label NAME]

Scenarios:
* ``sample``: ``data/sample`` (5 articles) into a new warehouse: nearly all of it is start-up and overhead.
* ``incremental``: the increment (1,000 articles) moved into the corpus folder, as a daily feed adds files, and
  ``rasd run`` into a fresh copy of a warehouse built from that corpus (``bench/run_bench.py --incremental 0 --keep``);
  the increment is moved back afterwards.

Modes:
* ``inproc``: ``rasd run --no-prefect`` (the pipeline's own cost: the reference).
* ``ephemeral``: no ``PREFECT_API_URL``: Prefect's temporary server is started by the run (``PREFECT_HOME`` is a
  bench folder kept between runs, so its database exists: "warm"); ``ephemeral-cold``: a new ``PREFECT_HOME`` each run.
* ``server``: a ``prefect server start`` started once by this script in the background (its own ``PREFECT_HOME``),
  ``PREFECT_API_URL`` pointing at it: the setup of a scheduled deployment. Its CPU during each run is reported.

Each run is a fresh process (``python bench/bench_flow.py --_child ...``, which calls the ``rasd`` command's own
``app``) with hooks that record, on one monotonic clock shared with this process: the interpreter start, the imports
of ``prefect``, ``flows.weekly`` and ``great_expectations``, the temporary server's start and stop, each Prefect
task run (engine wall and the task function inside it), each flow function, each pipeline step (``rasd.pipeline``
functions) and the worker pool's start. The report gives per run: total wall and CPU (the process and every
descendant, the temporary server included), load average before/after, and the phases

    start-up  = process start → first pipeline step (plan) begins
    steps     = plan begins → publish ends
    end       = publish ends → process exit (artifacts, flow completion, server stop, interpreter exit)

plus the task count and mean per-task engine overhead (task run wall − task function wall). ``--repeat`` runs each
(scenario, mode) that many times, interleaved; the summary takes the minimum of each figure. The machine is shared:
always read a wall figure with the load average next to it.
"""
from __future__ import annotations

import argparse
import atexit
import datetime as dt
import functools
import importlib.abc
import importlib.machinery
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCR_NAME = "zz-increment"  # as in bench/run_bench.py

STEPS = ("start_run", "plan_batches", "ingest_batch", "clean_articles", "extract_batch", "collect_events",
         "validate_rows", "resolve_incidents", "validate_incidents", "aggregate", "validate_tables", "publish")


# ================================================================ inside the measured process (--_child)


class _Rec:
    """Intervals (name, t0, t1, extra) on the monotonic clock; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items: list[list] = []
        self.marks: dict[str, float] = {}
        self.mark_cpu: dict[str, float] = {}  # this process's CPU seconds at each mark

    def mark(self, name: str) -> None:
        with self.lock:
            self.marks.setdefault(name, time.monotonic())
            self.mark_cpu.setdefault(name, time.process_time())

    def add(self, name: str, t0: float, t1: float, extra: str = "", c0: float | None = None) -> None:
        """An interval; ``c0``: this process's CPU seconds (all threads) at its start, for its CPU share."""
        c1 = time.process_time()
        with self.lock:
            self.items.append([name, t0, t1, extra, c0 if c0 is not None else c1, c1])

    def wrap(self, name: str, fn, extra=None):
        @functools.wraps(fn)
        def inner(*a, **k):
            t0, c0 = time.monotonic(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                self.add(name, t0, time.monotonic(), extra(*a, **k) if extra else "", c0)
        return inner


REC = _Rec()


def _patch_pipeline(mod):
    for n in STEPS:
        if hasattr(mod, n):
            setattr(mod, n, REC.wrap(f"step:{n}", getattr(mod, n)))


def _patch_parallel(mod):
    BP = mod.BatchPool
    real_exec, real_run = BP._executor, BP.run

    def _executor(self):
        if self._pool is not None:
            return real_exec(self)
        t0 = time.monotonic()
        try:
            return real_exec(self)
        finally:
            REC.add("pool_start", t0, time.monotonic(), str(self.workers))

    BP._executor = _executor
    BP.run = REC.wrap("pooled", real_run, extra=lambda self, step, path: step)


def _timed_engine(attr: str, kind: str, param: str):
    """A patcher that records each call of ``mod.<attr>(<param>, …)`` (its first argument, positional or by keyword)
    as a ``kind`` span named after that argument's ``name``."""

    def patch(mod):
        real = getattr(mod, attr)

        @functools.wraps(real)
        def timed(*a, **k):
            t0 = time.monotonic()
            try:
                return real(*a, **k)
            finally:
                REC.add(kind, t0, time.monotonic(), (a[0] if a else k[param]).name)

        setattr(mod, attr, timed)

    return patch


_patch_task_engine = _timed_engine("run_task_sync", "task", "task")
_patch_flow_engine = _timed_engine("run_flow", "flow_run", "flow")


def _patch_flows_weekly(mod):
    from prefect import Task

    for name, obj in list(vars(mod).items()):
        if isinstance(obj, Task):
            obj.fn = REC.wrap("taskfn", obj.fn, extra=lambda *a, _n=obj.name, **k: _n)
    # A flow's function cannot be wrapped (Prefect validates its parameters against the annotations, resolved in the
    # function's own module): the outer flow's body is taken to begin when it loads the settings.
    if hasattr(mod, "load_settings"):
        real = mod.load_settings

        @functools.wraps(real)
        def load_settings(*a, **k):
            REC.mark("flow_body_start")
            return real(*a, **k)

        mod.load_settings = load_settings


def _patch_server(mod):
    S = mod.SubprocessASGIServer
    real_start, real_stop = S.start, S.stop

    def start(self, *a, **k):
        if self.running:
            return real_start(self, *a, **k)
        t0 = time.monotonic()
        try:
            return real_start(self, *a, **k)
        finally:
            REC.add("server_start", t0, time.monotonic(), "prefect ephemeral")

    def stop(self, *a, **k):
        t0 = time.monotonic()
        try:
            return real_stop(self, *a, **k)
        finally:
            REC.add("server_stop", t0, time.monotonic(), "prefect ephemeral")

    S.start, S.stop = start, stop


def _patch_client(mod):
    A, S = mod.PrefectHttpxAsyncClient, mod.PrefectHttpxSyncClient
    real_a, real_s = A.send, S.send

    async def asend(self, request, *a, **k):
        t0 = time.monotonic()
        try:
            return await real_a(self, request, *a, **k)
        finally:
            REC.add("http", t0, time.monotonic(), f"{request.method} {request.url.path}")

    def ssend(self, request, *a, **k):
        t0 = time.monotonic()
        try:
            return real_s(self, request, *a, **k)
        finally:
            REC.add("http", t0, time.monotonic(), f"{request.method} {request.url.path}")

    A.send, S.send = asend, ssend


def _patch_own_server(mod):
    # flows/ephemeral.py: the temporary server started by `rasd run` itself, when present
    S = mod.TemporaryServer
    for n in ("launch", "wait_ready", "stop"):
        setattr(S, n, REC.wrap(f"own_server:{n}", getattr(S, n)))


# modules timed on import; those with a patch are patched right after they are executed
_IMPORTS = {"prefect": None, "flows.weekly": _patch_flows_weekly, "great_expectations": None,
            "rasd.pipeline": _patch_pipeline, "rasd.parallel": _patch_parallel, "prefect.task_engine": _patch_task_engine,
            "prefect.flow_engine": _patch_flow_engine, "prefect.server.api.server": _patch_server,
            "flows.ephemeral": _patch_own_server, "prefect.client.base": _patch_client}


class _Loader(importlib.abc.Loader):
    def __init__(self, real, name):
        self.real, self.name = real, name

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        t0, c0 = time.monotonic(), time.process_time()
        try:
            self.real.exec_module(module)
        finally:
            REC.add("import", t0, time.monotonic(), self.name, c0)
        patch = _IMPORTS.get(self.name)
        if patch:
            patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _IMPORTS:
            return None
        for f in sys.meta_path:
            if f is self or not hasattr(f, "find_spec"):
                continue
            spec = f.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, name)
                return spec
        return None


def _child(out_json: str, rasd_args: list[str]) -> int:
    REC.mark("main")

    def _write():  # registered first, so it runs last of the atexit handlers (after Prefect's server stop)
        REC.mark("atexit_last")
        me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        Path(out_json).write_text(json.dumps({
            "marks": REC.marks, "mark_cpu": REC.mark_cpu, "items": REC.items, "rc": rc[0], "error": err[0],
            "cpu_self_s": me.ru_utime + me.ru_stime, "cpu_children_s": ch.ru_utime + ch.ru_stime,
            "maxrss_mb": me.ru_maxrss / 1024}), encoding="utf-8")

    rc, err = [None], [None]
    atexit.register(_write)
    sys.meta_path.insert(0, _Finder())
    sys.argv = ["rasd", *rasd_args]
    import rasd.cli
    from rasd.cli import main

    fast_exit = getattr(rasd.cli, "_exit_without_teardown", None)
    if fast_exit is not None:  # the command's last exit handler ends the process: write the figures first

        def _write_then_exit():
            _write()
            fast_exit()

        rasd.cli._exit_without_teardown = _write_then_exit
    REC.mark("cli_imported")
    try:
        main()  # as the `rasd` command: typer's standalone mode ends with SystemExit
        rc[0] = 0
    except SystemExit as e:
        rc[0] = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - recorded for the report
        rc[0] = getattr(e, "exit_code", 1)
        err[0] = f"{type(e).__name__}: {e}"[:2000]
    REC.mark("cli_returned")
    return rc[0] or 0


# ================================================================ the driver


def _load() -> tuple[float, float, float]:
    return tuple(round(x, 2) for x in os.getloadavg())


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _proc_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (uvicorn workers, if any)."""
    total = _proc_cpu(pid) or 0.0
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return total + sum(_tree_cpu(int(k)) for k in kids)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`prefect server start` in the background for the ``server`` mode (started and stopped by this script)."""

    def __init__(self, out: Path, python: str, code: Path):
        self.home = out / "prefect-home-server"
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.log = open(out / "prefect-server.log", "ab")
        env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_UI_ENABLED": "false",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
        env.pop("PREFECT_API_URL", None)
        t0 = time.monotonic()
        self.proc = subprocess.Popen([python, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--log-level", "WARNING"],
                                     env=env, cwd=str(code), stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = t0 + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"prefect server exited with {self.proc.returncode}; see {out / 'prefect-server.log'}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("prefect server did not become healthy in 600 s")
        self.start_s = time.monotonic() - t0
        print(f"prefect server on {self.url} (pid {self.proc.pid}) healthy in {self.start_s:.1f}s", file=sys.stderr)

    def cpu(self) -> float:
        return _tree_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and anything it started
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _phases(res: dict, t_spawn: float, t_exit: float) -> dict:
    """Derived figures of one run, in seconds. Named intervals are [start offset from spawn, wall, CPU of the run's
    own process during it (all its threads)]. Phases: wall and the run's own process's CPU."""
    items, marks, mcpu = res["items"], res["marks"], res.get("mark_cpu", {})
    rel = lambda t: round(t - t_spawn, 3)  # noqa: E731
    cpu = lambda i: round(i[5] - i[4], 3) if len(i) >= 6 else None  # noqa: E731
    first = lambda name, extra=None: next((i for i in sorted(items, key=lambda i: i[1])  # noqa: E731
                                           if i[0] == name and (extra is None or i[3] == extra)), None)
    out = {"total_s": round(t_exit - t_spawn, 3), "interpreter_s": rel(marks["main"])}
    for mod in ("prefect", "flows.weekly", "great_expectations", "prefect.server.api.server", "rasd.pipeline"):
        it = first("import", mod)
        if it:
            out[f"import {mod}"] = [rel(it[1]), round(it[2] - it[1], 3), cpu(it)]
    for name in ("server_start", "server_stop", "pool_start", "own_server:launch", "own_server:wait_ready",
                 "own_server:stop"):
        it = first(name)
        if it:
            out[name] = [rel(it[1]), round(it[2] - it[1], 3), cpu(it)]
    plan, pub = first("step:plan_batches"), [i for i in items if i[0] == "step:publish"]
    if plan and pub:
        out["startup_s"] = rel(plan[1])
        out["steps_s"] = round(pub[-1][2] - plan[1], 3)
        out["end_s"] = round(t_exit - pub[-1][2], 3)
        if len(plan) >= 6:
            out["startup_cpu_s"] = round(plan[4], 3)  # process CPU from its start (interpreter start-up included)
            out["steps_cpu_s"] = round(pub[-1][5] - plan[4], 3)
            out["end_cpu_s"] = round(res["cpu_self_s"] - pub[-1][5], 3)
    tasks = [i for i in items if i[0] == "task"]
    fns = [i for i in items if i[0] == "taskfn"]
    if tasks:
        out["tasks"] = len(tasks)
        out["task_engine_s"] = round(sum(i[2] - i[1] for i in tasks) - sum(i[2] - i[1] for i in fns), 3)
        out["task_overhead_mean_ms"] = round(1000 * out["task_engine_s"] / len(tasks), 1)
        out["first_task_called"] = rel(min(i[1] for i in tasks))
    flows = sorted((i for i in items if i[0] == "flow_run"), key=lambda i: i[1])
    if flows:
        out["flow_runs"] = {f[3]: [rel(f[1]), rel(f[2])] for f in flows}  # [called, returned]
    http = sorted((i for i in items if i[0] == "http"), key=lambda i: i[1])
    if http:  # Prefect API requests (REST; events and logs over websocket are not in it)
        out["api_requests"] = len(http)
        out["api_wall_s"] = round(sum(i[2] - i[1] for i in http), 3)
        out["api_calls"] = [[rel(i[1]), round(i[2] - i[1], 3), i[3]] for i in http]
    for m in ("flow_body_start", "cli_returned", "atexit_last"):
        if m in marks:
            out[m] = rel(marks[m])
    steps, steps_cpu = {}, {}
    for i in items:
        if i[0].startswith("step:"):
            steps[i[0][5:]] = round(steps.get(i[0][5:], 0) + i[2] - i[1], 3)
            if len(i) >= 6:
                steps_cpu[i[0][5:]] = round(steps_cpu.get(i[0][5:], 0) + i[5] - i[4], 3)
    out["step_wall_s"] = steps
    if steps_cpu:
        out["step_cpu_s"] = steps_cpu  # the run's own process only (batches on worker processes are not in it)
    return out


def _prepare(scenario: str, a, run_dir: Path) -> tuple[list[str], Path, callable]:
    """rasd arguments, the warehouse, and an undo for one run of a scenario."""
    wh = run_dir / "wh"
    if scenario == "sample":
        return ["--input", str(a.code / "data" / "sample"), "--warehouse", str(wh)], wh, lambda: None
    shutil.copytree(a.base_warehouse, wh, symlinks=True)
    inside = a.corpus / INCR_NAME
    if inside.exists():
        raise SystemExit(f"{inside} exists: an earlier run was interrupted; move it back to {a.increment}")
    a.increment.rename(inside)
    return ["--input", str(a.corpus), "--warehouse", str(wh)], wh, lambda: inside.rename(a.increment)


def run_once(scenario: str, mode: str, a, server: Server | None, n: int) -> dict:
    run_dir = a.out / "flow-runs" / f"{a.label}-{scenario}-{mode}-{n}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    args, wh, undo = _prepare(scenario, a, run_dir)
    if mode == "inproc":
        args.append("--no-prefect")
    env = {**os.environ, "PYTHONPATH": str(a.code)}
    env.pop("PREFECT_API_URL", None)
    if mode == "ephemeral":
        env["PREFECT_HOME"] = str(a.out / "prefect-home-ephemeral")
    elif mode == "ephemeral-cold":
        env["PREFECT_HOME"] = str(run_dir / "prefect-home")
    elif mode == "server":
        env["PREFECT_HOME"] = str(a.out / "prefect-home-client")
        env["PREFECT_API_URL"] = server.url
    out_json = run_dir / "child.json"
    cmd = [a.python, str(Path(__file__).resolve()), "--_child", str(out_json), "--", "run", *args]
    load0, cpu0 = _load(), _children_cpu()
    srv0 = server.cpu() if server and mode == "server" else None
    t_spawn = time.monotonic()
    try:
        with open(run_dir / "output.txt", "wb") as log:
            proc = subprocess.run(cmd, env=env, cwd=str(a.code), stdout=log, stderr=subprocess.STDOUT, timeout=1800)
        t_exit = time.monotonic()
    finally:
        undo()
    cpu = _children_cpu() - cpu0
    srv = round(server.cpu() - srv0, 2) if srv0 is not None else None
    res = json.loads(out_json.read_text(encoding="utf-8"))
    row = {"scenario": scenario, "mode": mode, "n": n, "rc": proc.returncode, "error": res.get("error"),
           "load_before": load0, "load_after": _load(), "cpu_s": round(cpu, 2),
           "cpu_main_s": round(res["cpu_self_s"], 2), "server_cpu_s": srv, **_phases(res, t_spawn, t_exit)}
    if proc.returncode != 0:
        row["tail"] = (run_dir / "output.txt").read_text(errors="replace")[-1500:]
    shutil.rmtree(wh, ignore_errors=True)
    if mode == "ephemeral-cold":
        shutil.rmtree(run_dir / "prefect-home", ignore_errors=True)
    print(json.dumps({k: row[k] for k in ("scenario", "mode", "n", "rc", "total_s", "startup_s", "steps_s", "end_s",
                                            "cpu_s", "load_before") if k in row}), file=sys.stderr, flush=True)
    return row


SUMMARY = ("total_s", "startup_s", "steps_s", "end_s", "cpu_s", "cpu_main_s", "startup_cpu_s", "steps_cpu_s",
           "end_cpu_s", "server_cpu_s", "task_engine_s", "task_overhead_mean_ms")


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.1f}" if isinstance(v, (int, float)) else str(v)


def timeline(rows: list[dict]) -> str:
    """The run with the least total wall of each (scenario, mode): when each start-up item began and how long it took
    (seconds from process start: "at+wall/cpu")."""
    out = ["| scenario | mode | code | total | interpreter | import flows.weekly (Prefect, rasd) | import GX | "
           "import Prefect server pkg | temporary server | flow called | first task | steps | end | API requests |",
           "|---|---|---|---:|---:|---|---|---|---|---:|---:|---:|---:|---:|"]
    keys = sorted({(r["scenario"], r["mode"], r.get("label", "")) for r in rows},
                  key=lambda k: (k[0], MODES.index(k[1]), k[2]))
    for sc, mo, lb in keys:
        rs = [r for r in rows if r["scenario"] == sc and r["mode"] == mo and r.get("label", "") == lb and r["rc"] == 0]
        if not rs:
            continue
        r = min(rs, key=lambda r: r["total_s"])
        iv = lambda k: "–" if not r.get(k) else f"{r[k][0]:.1f}+{r[k][1]:.1f}/{_fmt(r[k][2] if len(r[k]) > 2 else None)}"  # noqa: E731
        if r.get("own_server:launch") and r.get("own_server:wait_ready"):
            ready = r["own_server:wait_ready"][0] + r["own_server:wait_ready"][1]
            srv = f"launched {r['own_server:launch'][0]:.1f}, ready {ready:.1f} (waited {r['own_server:wait_ready'][1]:.1f})"
        elif r.get("server_start"):
            srv = f"{iv('server_start')}"
        else:
            srv = "–"
        called = (r.get("flow_runs") or {}).get("weekly_incidents", [None])[0]
        out.append(f"| {sc} | {mo} | {lb} | {r['total_s']:.1f} | {r['interpreter_s']:.1f} | {iv('import flows.weekly')} | "
                   f"{iv('import great_expectations')} | {iv('import prefect.server.api.server')} | {srv} | "
                   f"{_fmt(called)} | {_fmt(r.get('startup_s'))} | {_fmt(r.get('steps_s'))} | {_fmt(r.get('end_s'))} | "
                   f"{r.get('api_requests', '–')} |")
    return "\n".join(out)


def summarize(rows: list[dict]) -> str:
    out = [f"| scenario | mode | code | runs | {' | '.join(SUMMARY)} | tasks | loads before (1-min) |",
           "|---|---|---|---:|" + "---:|" * len(SUMMARY) + "---:|---|"]
    keys = sorted({(r["scenario"], r["mode"], r.get("label", "")) for r in rows},
                  key=lambda k: (k[0], MODES.index(k[1]), k[2]))
    for sc, mo, lb in keys:
        rs = [r for r in rows if r["scenario"] == sc and r["mode"] == mo and r.get("label", "") == lb and r["rc"] == 0]
        if not rs:
            out.append(f"| {sc} | {mo} | {lb} | 0 ok | " + " | ".join("–" for _ in SUMMARY) + " | – | – |")
            continue
        cells = []
        for k in SUMMARY:
            v = [r[k] for r in rs if r.get(k) is not None]
            cells.append(f"{min(v):.2f}" if v else "–")
        out.append(f"| {sc} | {mo} | {lb} | {len(rs)} | {' | '.join(cells)} | {rs[0].get('tasks', '–')} | "
                   f"{', '.join(str(r['load_before'][0]) for r in rs)} |")
    return "\n".join(out)


MODES = ("inproc", "ephemeral", "ephemeral-cold", "server")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="sample,incremental")
    ap.add_argument("--mode", default="inproc,ephemeral,server")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / ".bench")
    ap.add_argument("--base-warehouse", type=Path, default=None, help="default: <out>/base-wh-10k")
    ap.add_argument("--corpus", type=Path, default=None, help="default: <out>/corpus-s7-n10000")
    ap.add_argument("--increment", type=Path, default=None, help="default: <out>/incr-s7-n10000-k1000")
    ap.add_argument("--code", type=Path, default=ROOT, help="rasd checkout to measure (PYTHONPATH and cwd of the runs)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--label", default="run")
    ap.add_argument("--api-url", help="for the server mode: a running Prefect server's API URL instead of starting one")
    ap.add_argument("--recompute", type=Path, nargs="*", help="re-derive the figures of earlier reports (their runs' "
                    "child.json files are kept) and print one summary of them all")
    a = ap.parse_args(argv)
    if a.recompute:
        rows = []
        for rep in a.recompute:
            for r in json.loads(rep.read_text(encoding="utf-8"))["rows"]:
                child = rep.parent / "flow-runs" / f"{rep.stem.split('-')[1]}-{r['scenario']}-{r['mode']}-{r['n']}" / "child.json"
                res = json.loads(child.read_text(encoding="utf-8"))
                t_spawn = res["marks"]["main"] - r["interpreter_s"]
                keep = {k: r[k] for k in ("scenario", "mode", "n", "rc", "error", "load_before", "load_after", "cpu_s",
                                           "cpu_main_s", "server_cpu_s")}
                rows.append({**keep, "label": rep.stem.split("-")[1], **_phases(res, t_spawn, t_spawn + r["total_s"])})
        print(summarize(rows) + "\n\n" + timeline(rows))
        return 0
    a.out, a.code = a.out.resolve(), a.code.resolve()
    a.base_warehouse = (a.base_warehouse or a.out / "base-wh-10k").resolve()
    a.corpus = (a.corpus or a.out / "corpus-s7-n10000").resolve()
    a.increment = (a.increment or a.out / "incr-s7-n10000-k1000").resolve()
    scenarios, modes = a.scenario.split(","), a.mode.split(",")
    for m in modes:
        if m not in MODES:
            raise SystemExit(f"unknown mode {m!r}; one of {MODES}")
    if a.api_url:  # a server started elsewhere: its CPU is not measured
        from types import SimpleNamespace

        server = SimpleNamespace(url=a.api_url, start_s=None, cpu=lambda: 0.0, stop=lambda: None)
    else:
        server = Server(a.out, a.python, a.code) if "server" in modes else None
    rows = []
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report = a.out / f"flow-{a.label}-{stamp}.json"
    try:
        for n in range(a.repeat):
            for sc in scenarios:
                for mo in modes:
                    rows.append(run_once(sc, mo, a, server, n))
                    report.write_text(json.dumps({"rows": rows, "server_start_s": server and server.start_s,
                                                  "code": str(a.code)}, indent=1), encoding="utf-8")
    finally:
        if server:
            server.stop()
    text = summarize(rows) + "\n\n" + timeline(rows)
    report.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nreport: {report}", file=sys.stderr)
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--_child":
        sys.exit(_child(sys.argv[2], sys.argv[4:]))
    sys.exit(main())

"""The per-batch steps (``ingest_batch``, ``extract_batch``) on a pool of worker processes (issue 7).

Both steps read one Parquet/JSON file and write one, so batches are independent: :class:`BatchPool` runs them on a
``concurrent.futures.ProcessPoolExecutor`` and returns the output paths *in batch order*, so everything after them
(clean, collect, ...) sees exactly what the serial run sees and the published tables are byte-identical.

* Workers are started with the ``spawn`` method (never ``fork``: the parent may already run threads — Prefect's
  task threads, an RSS sampler — and forking a threaded process can deadlock), and each is initialised once:
  it receives the run context and loads the extraction rules (``Extractor.load``), so a batch costs only its own work.
* At most ``2 × workers`` batches are submitted at a time (bounded memory and queue, whatever the number of batches).
* The first failing batch (in batch order) raises its own exception in the caller; queued batches after it are
  cancelled, running ones finish. A worker that dies (OOM killer) raises :class:`PipelineError` naming the batch.
* A worker exits by itself when its parent dies (SIGKILL of the run), so a killed run leaves no processes behind.
* ``workers=1``, or a single batch, runs in the calling process (no pool, no start-up cost) — as before issue 7.
* As with any ``spawn`` pool, a script that runs a pipeline must guard its entry point with
  ``if __name__ == "__main__":`` (workers import the parent's main module); the ``rasd`` command, pytest and
  Prefect's runners do.

The test-only pause hook (``pause_for_tests("extract")``) is honoured by the *calling* process before extraction
is dispatched; workers never pause (a SIGKILLed run must be the process that paused).

This module never imports Prefect; flows/weekly.py and rasd.pipeline.run_steps both use it.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Sequence

from rasd.settings import available_cpus

STEPS = {"ingest": "ingest_batch", "extract": "extract_batch"}  # step name -> function of rasd.pipeline
START_METHOD = "spawn"
_PAUSE_VARS = ("RASD_TEST_PAUSE_AT", "RASD_TEST_PAUSE_FILE")

_ctx = None  # the run context, set once per worker by _init_worker


def effective_workers(workers: int | None, n_batches: int | None = None) -> int:
    """Worker processes worth starting: ``workers`` (0/None = all available CPUs), at most one per batch."""
    w = available_cpus() if not workers or workers < 1 else int(workers)
    if n_batches is not None:
        w = min(w, max(1, n_batches))
    return max(1, w)


# ---------------------------------------------------------------- inside a worker process


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:  # re-parented: the run was killed; do not finish its batches
            os._exit(1)


def _init_worker(ctx, parent_pid: int) -> None:
    """Once per worker: keep the run context, load the rules the steps use, never pause for tests."""
    global _ctx
    for k in _PAUSE_VARS:
        os.environ.pop(k, None)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="rasd-parent-watch").start()
    _ctx = ctx
    import rasd.ingest.readers  # noqa: F401 - import (and cache) once, not per batch
    from rasd.extract.events import Extractor

    Extractor.load(ctx.settings)  # rule data are cached per process; extract_batch's own load is then free


def _run_step(step: str, path: str) -> str:
    from rasd import pipeline

    return str(getattr(pipeline, STEPS[step])(_ctx, Path(path)))


def _ping(_: int = 0) -> int:
    return os.getpid()


# ---------------------------------------------------------------- in the calling process


class BatchPool:
    """Worker processes for one run; ``map`` runs a step over batches in order. Use as a context manager.

    The pool starts lazily (the first ``map``/``submit`` that needs more than one process) and is shared by the
    ingest and extract steps of the run, so workers start and load the rules once per run.
    """

    def __init__(self, ctx, workers: int | None = None, log: Callable[[str], None] | None = None):
        self.ctx = ctx
        self.workers = effective_workers(workers if workers is not None else getattr(ctx.settings, "workers", None))
        self.log = log
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.started_in: float | None = None  # seconds the pool took to start its workers

    # -- lifecycle
    def __enter__(self) -> "BatchPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close(cancel=exc[0] is not None)

    def close(self, cancel: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=cancel)

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                t0 = time.perf_counter()
                mp = multiprocessing.get_context(START_METHOD)
                self._pool = ProcessPoolExecutor(self.workers, mp_context=mp, initializer=_init_worker,
                                                 initargs=(self.ctx, os.getpid()))
                # start every worker now (and fail here, not mid-step, if they cannot start)
                list(self._pool.map(_ping, range(self.workers)))
                self.started_in = time.perf_counter() - t0
                if self.log:
                    self.log(f"started {self.workers} worker processes in {self.started_in:.2f}s")
            return self._pool

    # -- running steps
    @property
    def started(self) -> bool:
        """Worker processes are running (a batch sent now costs no start-up)."""
        return self._pool is not None

    def parallel_for(self, n_batches: int) -> bool:
        return self.workers > 1 and n_batches > 1

    def submit(self, step: str, path: Path | str) -> Future:
        """One batch on the pool (for callers that schedule batches themselves, e.g. Prefect task threads)."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; one of {sorted(STEPS)}")
        return self._executor().submit(_run_step, step, str(path))

    def run(self, step: str, path: Path | str) -> Path:
        """One batch on the pool, waiting for its output path."""
        try:
            return Path(self.submit(step, path).result())
        except BrokenProcessPool as e:
            self._broken()
            raise _worker_died(step, [path]) from e

    def map(self, step: str, paths: Sequence[Path | str]) -> list[Path]:
        """Run ``step`` over ``paths``; output paths in the order of ``paths``. In-process unless it pays off."""
        from rasd import pipeline

        paths = [Path(p) for p in paths]
        if not self.parallel_for(len(paths)):
            fn = getattr(pipeline, STEPS[step])
            return [fn(self.ctx, p) for p in paths]
        if step == "extract":
            pipeline.pause_for_tests("extract")  # in the run's own process, where the serial run pauses
        pool = self._executor()
        limit = 2 * self.workers  # batches submitted at once: bounded memory, every worker kept busy
        results: list[Path | None] = [None] * len(paths)
        running: dict[Future, int] = {}
        failed: dict[int, BaseException] = {}
        nxt = 0
        try:
            while nxt < len(paths) or running:
                while nxt < len(paths) and len(running) < limit and not failed:
                    running[pool.submit(_run_step, step, str(paths[nxt]))] = nxt
                    nxt += 1
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    i = running.pop(f)
                    if f.cancelled():
                        continue
                    e = f.exception()
                    if e is None:
                        results[i] = Path(f.result())
                    else:
                        failed[i] = e
                if failed:  # stop feeding; drop queued batches after the first failure, let the others finish
                    first = min(failed)
                    for f, i in list(running.items()):
                        if i > first and f.cancel():
                            running.pop(f)
        except BaseException:
            for f in running:
                f.cancel()
            raise
        if failed:
            i = min(failed)
            e = failed[i]
            if isinstance(e, BrokenProcessPool):
                self._broken()
                raise _worker_died(step, [paths[j] for j in sorted(failed)]) from e
            raise e
        return results  # type: ignore[return-value]

    def _broken(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _worker_died(step: str, paths: Sequence[Path | str]):
    from rasd.pipeline import PipelineError

    names = ", ".join(Path(p).name for p in paths[:3])
    return PipelineError(f"a worker process died during {step} (batch {names}); killed for memory? "
                         f"try fewer workers (RASD_WORKERS) or a smaller batch_size")


# ---------------------------------------------------------------- pools shared by a run's task threads (Prefect)

_shared: dict[str, BatchPool] = {}
_shared_lock = threading.Lock()


def register(run_id: str, pool: BatchPool) -> None:
    with _shared_lock:
        _shared[run_id] = pool


def unregister(run_id: str) -> None:
    with _shared_lock:
        _shared.pop(run_id, None)


def shared(run_id: str) -> BatchPool | None:
    """The pool registered for this run in *this* process (None on a Dask worker or with workers=1)."""
    with _shared_lock:
        return _shared.get(run_id)


__all__ = ["BatchPool", "STEPS", "available_cpus", "effective_workers", "register", "shared", "unregister"]

"""The weekly_incidents Prefect flow: thin tasks over batches, each calling a plain function of rasd.pipeline."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from rasd import parallel
from rasd import pipeline as P
from rasd.quality.gate import preload
from rasd.settings import load_settings
from rasd.warehouse import Layout, writer_lock

TASK = dict(retries=2, retry_delay_seconds=2, cache_policy=NONE)
def _timed(step: str, fn, *args):
    log = get_run_logger()
    t0 = time.perf_counter()
    out = fn(*args)
    counts = out.get("counts", {}) if isinstance(out, dict) else {}
    log.info("%s done in %.2fs %s", step, time.perf_counter() - t0, counts or "")
    return out


@task(name="plan", **TASK)
def plan_task(ctx: P.RunContext) -> list[Path]:
    """Discover inputs and write batch manifests."""
    manifests = P.plan_batches(ctx)
    get_run_logger().info("planned %d batch(es) from %s", len(manifests), ctx.input_dir)
    return manifests


def _batch(step: str, ctx: P.RunContext, path: Path, pooled: bool) -> Path:
    """One batch in this task's thread, or on the run's worker processes (rasd.parallel) when the flow started them."""
    pool = parallel.shared(ctx.run_id) if pooled else None
    if pool is None:  # workers=1, one batch, or a Dask worker (its own process: no pool registered there)
        return getattr(P, parallel.STEPS[step])(ctx, path)
    return pool.run(step, path)


@task(name="ingest", **TASK)
def ingest_task(ctx: P.RunContext, manifest: Path, pooled: bool = False) -> Path:
    """Read, decode, archive and clean one batch of inputs."""
    return _timed(f"ingest {manifest.name}", _batch, "ingest", ctx, manifest, pooled)


@task(name="clean", **TASK)
def clean_task(ctx: P.RunContext, ingested: list[Path]) -> dict:
    """De-duplicate against the batch and the published warehouse; keep what is new."""
    return _timed("clean", P.clean_articles, ctx, ingested)


@task(name="extract", **TASK)
def extract_task(ctx: P.RunContext, batch: Path, pooled: bool = False) -> Path:
    """Extract events from one batch of new articles."""
    return _timed(f"extract {Path(batch).name}", _batch, "extract", ctx, Path(batch), pooled)


@task(name="collect-events", **TASK)
def collect_task(ctx: P.RunContext, batches: list[Path], articles: Path, reextract: bool) -> Path:
    """Gather published and new events; anchor undated articles (on the run's workers when open); apply corrections."""
    return _timed("collect-events", P.collect_events, ctx, batches, articles, reextract, parallel.shared(ctx.run_id))


@task(name="validate-rows", **TASK)
def validate_rows_task(ctx: P.RunContext, articles: Path, events: Path) -> dict:
    """Row-level expectations: quarantine failing events."""
    return _timed("validate-rows", P.validate_rows, ctx, articles, events)


@task(name="resolve", **TASK)
def resolve_task(ctx: P.RunContext, events: Path, articles: Path) -> dict:
    """Merge reports across outlets into incidents, then check incident rows."""
    resolved = _timed("resolve", P.resolve_incidents, ctx, events, articles)
    return _timed("validate-incidents", P.validate_incidents, ctx, resolved)


@task(name="aggregate", **TASK)
def aggregate_task(ctx: P.RunContext, articles: Path, events: Path, resolved: dict, quarantine: list[Path]) -> dict:
    """Build the staging publication with sql/ tables and views."""
    return _timed("aggregate", P.aggregate, ctx, articles, events, resolved, quarantine)


@task(name="validate", retries=0, cache_policy=NONE)
def validate_task(ctx: P.RunContext, staging: Path) -> dict:
    """Run the Great Expectations suites on the staged tables."""
    gate = _timed("validate", P.validate_tables, ctx, staging)
    create_markdown_artifact(key="quality-gate", markdown=gate["markdown"], description="rasd quality gate")
    return gate


@task(name="publish", retries=0, cache_policy=NONE)
def publish_task(ctx: P.RunContext, staging: Path, summary: dict) -> str:
    """Swap the validated publication in atomically."""
    return str(_timed("publish", P.publish, ctx, staging, summary))


def _pipeline(ctx: P.RunContext) -> dict:
    """ingest → clean → extract → resolve → validate → aggregate → publish, over batches, as tasks of the calling flow."""
    t0 = time.perf_counter()
    manifests = plan_task(ctx)
    preload()  # Great Expectations' import overlaps the batch steps (this process mostly waits on them)
    pool = parallel.shared(ctx.run_id)
    pooled = pool is not None and pool.parallel_for(len(manifests))
    ingested = ingest_task.map(unmapped(ctx), manifests, unmapped(pooled)).result()
    cleaned = clean_task(ctx, ingested)
    pooled = pool is not None and pool.parallel_for(len(cleaned["new"]))
    if pooled:
        P.pause_for_tests("extract")  # workers never pause: the flow's process does, as in the serial run
    ev_batches = extract_task.map(unmapped(ctx), [Path(b) for b in cleaned["new"]], unmapped(pooled)).result()
    events = collect_task(ctx, ev_batches, Path(cleaned["articles"]), cleaned["reextract"])
    if pool is not None:
        pool.close()  # free the workers' memory before resolve and the gate
    vr = validate_rows_task(ctx, Path(cleaned["articles"]), events)
    resolved = resolve_task(ctx, Path(vr["events"]), Path(cleaned["articles"]))
    agg = aggregate_task(ctx, Path(cleaned["articles"]), Path(vr["events"]), resolved,
                         [Path(vr["quarantine"]), Path(resolved["quarantine_incidents"])])
    gate = validate_task(ctx, Path(agg["staging"]))
    summary = P.summarize(ctx, cleaned, agg, gate)
    if not gate["passed"]:
        P.discard(ctx, Path(agg["staging"]))
        raise P.GateFailed(gate["one_line"])
    publish_task(ctx, Path(agg["staging"]), summary)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    rows = P.weekly_rows(Layout(ctx.warehouse).current_publication())
    create_table_artifact(key="weekly-incidents", table=rows or [{"note": "no incidents"}],
                          description=f"rasd weekly incidents, run {ctx.run_id}")
    return summary


@flow(name="weekly-incidents-pipeline")
def pipeline_flow(ctx: P.RunContext) -> dict:
    """The pipeline as a subflow: the run's way onto a Dask cluster (its task runner is set per run)."""
    return _pipeline(ctx)


@flow(name="weekly_incidents")
def weekly_incidents(
    input_dir: str = "data/sample",
    warehouse: str = "warehouse",
    since: str | None = None,
    dask_address: str | None = None,
    corrections: str | None = None,
    workers: int | None = None,
) -> dict:
    """The rasd weekly run: lock the warehouse, run the pipeline (in-process or on Dask), publish atomically.

    Without a Dask address, the ingest and extract batch tasks run their batches on ``workers`` local worker
    processes (rasd.parallel; default: all CPUs available, 1 = in the task threads)."""
    settings = load_settings(input_dir=input_dir, warehouse=warehouse, dask_address=dask_address, corrections=corrections,
                             workers=workers)
    since_d = dt.date.fromisoformat(since) if since else None
    with writer_lock(Layout(Path(settings.warehouse))):
        ctx = P.start_run(settings, Path(settings.input_dir), Path(settings.warehouse), since_d)
        get_run_logger().info("run %s: %s -> %s", ctx.run_id, ctx.input_dir, ctx.warehouse)
        if settings.dask_address:
            from prefect_dask import DaskTaskRunner

            return pipeline_flow.with_options(task_runner=DaskTaskRunner(address=settings.dask_address))(ctx)
        # Batch tasks stay Prefect tasks (one per batch: retries, logs, states) of this flow run, in its threads; their
        # work goes to the run's worker processes, started once (lazily, when a step has more than one batch). No
        # subflow here: it would cost a second flow run (9 more API requests and its start-up) for nothing.
        with parallel.BatchPool(ctx, settings.workers, log=get_run_logger().info) as pool:
            parallel.register(ctx.run_id, pool)
            try:
                return _pipeline(ctx)
            finally:
                parallel.unregister(ctx.run_id)

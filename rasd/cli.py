"""The `rasd` command line. Prefect is imported only by the commands that run flows."""
from __future__ import annotations

import atexit
import csv
import datetime as dt
import io
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="rasd: Arabic conflict reports → weekly incident tables.")

EXAMPLE_QUERY = "select week_start, admin1, event_type, incidents, fatalities_best from weekly_incidents order by week_start"


def _quiet_env() -> None:
    # Prefect's temporary server can take >20 s on a cold first start.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls from a closed network
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")


def _fail(msg: str, code: int = 1) -> None:
    typer.secho(f"rasd: {msg}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@app.command()
def run(
    input: Path = typer.Option(..., "--input", "-i", help="Folder of articles (.txt/.html with .json sidecars, .jsonl), read recursively."),
    warehouse: Optional[Path] = typer.Option(None, "--warehouse", "-w", help="Warehouse folder (default from [tool.rasd])."),
    since: Optional[str] = typer.Option(None, help="Only add articles published on or after this date (YYYY-MM-DD)."),
    dask_address: Optional[str] = typer.Option(None, help="tcp://HOST:PORT of a Dask scheduler to run batch tasks on."),
    corrections: Optional[Path] = typer.Option(None, help="Analyst corrections file (CSV or YAML)."),
    workers: Optional[int] = typer.Option(None, min=0, help="Worker processes for the ingest and extract batches "
                                          "(default: RASD_WORKERS or workers in pyproject, else all CPUs; 1 = none; 0 = all)."),
    no_prefect: bool = typer.Option(False, "--no-prefect", help="Run the same steps in-process without Prefect (debugging)."),
) -> None:
    """Run the whole pipeline (a Prefect flow) on INPUT and publish into the warehouse."""
    from rasd.settings import load_settings

    if not input.is_dir():
        _fail(f"input folder not found: {input}", 2)
    if since:
        try:
            dt.date.fromisoformat(since)
        except ValueError:
            _fail(f"--since must be a date YYYY-MM-DD, got {since!r}", 2)
    settings = load_settings(input_dir=input.resolve(), warehouse=warehouse.resolve() if warehouse else None,
                             dask_address=dask_address, corrections=corrections.resolve() if corrections else None,
                             workers=workers)
    from rasd.pipeline import PipelineError
    from rasd.warehouse import WarehouseLocked

    try:
        if no_prefect:
            from rasd.pipeline import run_local

            summary = run_local(settings, settings.input_dir, settings.warehouse,
                                dt.date.fromisoformat(since) if since else None)
        else:
            _quiet_env()
            from flows import ephemeral

            # Prefect's temporary server (no PREFECT_API_URL) starts first: its ~10 s overlap the imports below
            server = ephemeral.launch()
            from flows.weekly import preload, weekly_incidents

            if server is not None and server.adopt():
                from prefect.logging import get_logger
                from prefect.settings import get_current_settings

                get_logger("prefect").info("Starting temporary server on %s (set PREFECT_API_URL to use a running "
                                           "Prefect server instead)", server.api_url.removesuffix("/api"))
                preload(background=False)  # this process is idle until the server answers
                server.wait_ready(get_current_settings().server.ephemeral.startup_timeout_seconds)
            summary = weekly_incidents(input_dir=str(settings.input_dir), warehouse=str(settings.warehouse), since=since,
                                       dask_address=settings.dask_address,
                                       corrections=str(settings.corrections) if settings.corrections else None,
                                       workers=settings.workers)
    except (PipelineError, WarehouseLocked) as e:
        _fail(str(e))
    except OSError as e:  # e.g. a full disk while building the publication: one line, not a traceback
        _fail(f"I/O error: {e}")
    _print_summary(summary)


def _print_summary(s: dict) -> None:
    w = s["warehouse"]
    typer.echo("")
    typer.secho("rasd run complete", bold=True)
    typer.echo(f"  articles read       {s['articles']} ({s['articles_new']} new, {s['quarantined_articles']} quarantined, {s['duplicates']} duplicates)")
    typer.echo(f"  events              {s['events']}")
    typer.echo(f"  incidents           {s['incidents']}")
    typer.echo(f"  rows quarantined    {s['quarantined_rows']} (quality gate: {s['gate']})")
    typer.echo(f"  weeks published     {s['weeks']}")
    typer.echo(f"  outputs             {w}/<table>/*.parquet and {w}/rasd.duckdb")
    typer.echo(f"  try                 rasd sql \"{EXAMPLE_QUERY}\"" + (f" --warehouse {w}" if Path(w) != Path.cwd() / "warehouse" else ""))


@app.command()
def sql(
    query: str = typer.Argument(..., help="SQL to run (read-only) against the published warehouse."),
    warehouse: Optional[Path] = typer.Option(None, "--warehouse", "-w", help="Warehouse folder."),
    format: str = typer.Option("table", "--format", "-f", help="table | csv | json"),
) -> None:
    """Run read-only SQL against the published warehouse (tables and views of rasd.duckdb)."""
    from rasd.settings import load_settings
    from rasd.warehouse import read_only_connection

    if format not in ("table", "csv", "json"):
        _fail("--format must be table, csv or json", 2)
    wh = warehouse or load_settings().warehouse
    try:
        con = read_only_connection(wh)
    except FileNotFoundError as e:
        _fail(str(e))
    try:
        cur = con.execute(query)
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall() if cols else []
    except Exception as e:  # duckdb errors: show the message only
        _fail(f"query failed: {str(e).splitlines()[0]}")
    finally:
        con.close()
    _emit(cols, rows, format)


def _jsonable(v):
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if hasattr(v, "__float__") and not isinstance(v, (int, float, bool)):
        return float(v)
    return v


def _emit(cols: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps([{c: _jsonable(v) for c, v in zip(cols, r)} for r in rows], ensure_ascii=False, indent=1))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows([[_jsonable(v) for v in r] for r in rows])
        typer.echo(buf.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(show_lines=False)
        for c in cols:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*["" if v is None else str(_jsonable(v)) for v in r])
        Console(width=max(120, min(240, 20 * max(1, len(cols))))).print(t)
        typer.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


@app.command()
def fetch(
    sources: Path = typer.Option(..., "--sources", "-s", help="YAML file with `feeds:` (a list of URLs or {url, outlet})."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder the fetched articles are written to (JSONL), e.g. your --input folder."),
    state: Optional[Path] = typer.Option(None, help="State file for ETag/Last-Modified and items already fetched (default: <out>/.feeds-state.json)."),
) -> None:
    """Fetch RSS/Atom feeds politely (conditional requests, timeouts, size cap) into a JSONL file for `rasd run`."""
    from rasd.ingest.feeds import fetch_feeds

    if not sources.is_file():
        _fail(f"sources file not found: {sources}", 2)
    out.mkdir(parents=True, exist_ok=True)
    res = fetch_feeds(sources, out, state or out / ".feeds-state.json")
    for r in res.results:
        typer.echo(f"  {r.status:13} {r.new_items:5} new  {r.url}" + (f"  ({r.error})" if r.error else ""))
    typer.echo(f"written: {res.output}" if res.output else "no new items")
    if res.results and all(r.status == "error" for r in res.results):
        raise typer.Exit(1)


@app.command()
def serve(
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="Folder the scheduled runs read."),
    warehouse: Optional[Path] = typer.Option(None, "--warehouse", "-w", help="Warehouse folder."),
) -> None:
    """Serve the weekly (Monday 06:00 Asia/Damascus) and daily incremental schedules against a Prefect server."""
    _quiet_env()
    from prefect import serve as prefect_serve
    from prefect.schedules import Cron

    from flows.weekly import weekly_incidents
    from rasd.settings import load_settings

    s = load_settings(input_dir=input.resolve() if input else None, warehouse=warehouse.resolve() if warehouse else None)
    params = {"input_dir": str(s.input_dir), "warehouse": str(s.warehouse)}
    weekly = weekly_incidents.to_deployment(name="weekly", schedules=[Cron("0 6 * * 1", timezone="Asia/Damascus")], parameters=params)
    daily = weekly_incidents.to_deployment(name="daily-incremental", schedules=[Cron("0 5 * * *", timezone="Asia/Damascus")], parameters=params)
    prefect_serve(weekly, daily)


@app.command()
def schema(markdown: bool = typer.Option(True, "--markdown/--json", help="Print as Markdown (warehouse/README.md body) or JSON.")) -> None:
    """Print the published warehouse contract."""
    from rasd import schema as S

    if markdown:
        typer.echo(S.markdown())
    else:
        typer.echo(json.dumps({t.name: [{"name": c.name, "type": str(c.type), "nullable": c.nullable, "unit": c.unit,
                                         "description": c.description} for c in t.columns] for t in S.TABLES.values()},
                              ensure_ascii=False, indent=1))


def _exit_without_teardown(code: list[int]) -> None:
    """The last exit handler: every other one (Prefect's log and event flushing, the temporary server's stop, the
    worker pool's, logging's) has run and every file is written, so skip the interpreter's teardown, which otherwise
    frees every object of Prefect, Great Expectations and pandas one by one (~1.3 s of CPU) before exiting."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code[0])


def main() -> None:
    code = [1]  # the exit code typer's SystemExit carries, for the last exit handler
    atexit.register(_exit_without_teardown, code)  # registered first, so it runs last
    try:
        app()  # typer's standalone mode always ends with SystemExit
    except SystemExit as e:
        code[0] = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        raise
    except KeyboardInterrupt:
        code[0] = 130
        raise


if __name__ == "__main__":
    sys.exit(main())

"""The quality gate: expectation suites from ``expectations/*.json`` run with Great Expectations.

``row_checks`` runs the row-level expectations and returns the rows to quarantine;
``table_checks`` runs every suite, keeps the validation results (JSON) and GX Data Docs
(HTML), and says whether the run may publish. GX is imported only inside ``_validate``
(it takes seconds to import); nothing else in rasd pays for it.
"""
from __future__ import annotations

import copy
import datetime as dt
import html
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from rasd.quality import checks
from rasd.schema import QUARANTINE, to_arrow

log = logging.getLogger(__name__)

SUITES = ("articles", "events", "incidents", "weekly_incidents")
ROW_KEY = {"articles": "article_id", "events": "event_id", "incidents": "incident_id", "weekly_incidents": "weekly_key"}
SEVERITIES = ("critical", "warning")
LEVELS = ("row", "table")
MAX_EXAMPLES = 5
QUALITY_REASON_PREFIX = "quality: "  # articles quarantined by the gate (re-judged every run), not by ingest


# --------------------------------------------------------------------------- suites

def expectations_dir(settings=None) -> Path:
    """settings.expectations_dir, else the repository's ``expectations/`` folder."""
    configured = getattr(settings, "expectations_dir", None)
    if configured:
        return Path(configured)
    here = Path(__file__).resolve().parents[2] / "expectations"  # editable install / source checkout
    if here.is_dir():
        return here
    from rasd.settings import find_pyproject

    pp = find_pyproject()
    return (pp.parent if pp else Path.cwd()) / "expectations"


def _substitute(value, params: dict):
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if name not in params:
            raise ValueError(f"unknown placeholder {value!r} in an expectation suite")
        return params[name]
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


def load_suites(settings, today: dt.date | None = None, directory: Path | None = None) -> dict[str, dict]:
    """Read and check the suite files, with ``$placeholders`` replaced by settings values."""
    directory = directory or expectations_dir(settings)
    params = checks.parameters(settings, today)
    suites = {}
    for name in SUITES:
        path = directory / f"{name}.json"
        spec = json.loads(path.read_text(encoding="utf-8"))
        seen = set()
        for e in spec["expectations"]:
            meta = e.get("meta", {})
            where = f"{path.name}: {meta.get('name') or e.get('type')}"
            if not meta.get("name") or meta["name"] in seen:
                raise ValueError(f"{where}: every expectation needs a unique meta.name")
            if meta.get("severity") not in SEVERITIES or meta.get("level") not in LEVELS or not meta.get("notes"):
                raise ValueError(f"{where}: meta needs severity critical|warning, level row|table and notes")
            seen.add(meta["name"])
            e["kwargs"] = _substitute(e["kwargs"], params)
        suites[name] = spec
    return suites


# --------------------------------------------------------------------------- GX run

def _escape_deep(value):
    """HTML-escape every string in a result structure (Data Docs does not escape data values)."""
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, list):
        return [_escape_deep(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_escape_deep(v) for v in value)
    if isinstance(value, dict):
        return {k: _escape_deep(v) for k, v in value.items()}
    return value


def _validate(views: dict, suites: dict[str, dict], levels: tuple[str, ...], docs_dir: Path | None = None) -> dict[str, dict]:
    """Run each suite (only expectations whose meta.level is in ``levels``) on its pandas view.

    Returns suite name -> GX validation result as a JSON dict. With ``docs_dir``, also
    renders GX Data Docs there (from an HTML-escaped copy of the results).
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before the import: GX reads it when it starts
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),  # no temp-folder docs site
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_pandas("rasd")
    results: dict[str, dict] = {}
    for name, spec in suites.items():
        if name not in views:
            continue
        selected = [e for e in spec["expectations"] if e["meta"]["level"] in levels]
        if not selected:
            continue
        configs = [
            ExpectationConfiguration(
                type=e["type"], kwargs=e["kwargs"], meta=e["meta"], severity=e["meta"]["severity"],
                notes=e["meta"]["notes"],
            ).to_domain_obj()
            for e in selected
        ]
        suite = context.suites.add(ExpectationSuite(name=name, expectations=configs, meta={"notes": spec.get("notes", "")}))
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(f"{name}_all")
        vd = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        result = vd.run(
            batch_parameters={"dataframe": views[name]},
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [ROW_KEY[name], "_row"],
                "return_unexpected_index_query": False,
            },
        )
        results[name] = result.to_json_dict()
    if docs_dir is not None:
        _render_docs(context, docs_dir)
    return results


def _render_docs(context, docs_dir: Path) -> None:
    """Build Data Docs into docs_dir from escaped copies of the stored results."""
    store = context.validation_results_store
    for key in store.list_keys():
        res = store.get(key)
        for r in res.results:
            r.result = _escape_deep(copy.deepcopy(r.result))
            if r.exception_info:
                r.exception_info = _escape_deep(copy.deepcopy(r.exception_info))
        store.set(key, res)
    context.add_data_docs_site(
        "rasd",
        {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
        },
    )
    context.build_data_docs(site_names=["rasd"])


# --------------------------------------------------------------------------- results

def _failures(results: dict[str, dict], suites: dict[str, dict]) -> list[dict]:
    """Every failed expectation as {suite, expectation, severity, level, unexpected_count, examples, rows, error}."""
    out = []
    for name, res in results.items():
        for r in res.get("results", []):
            if r.get("success"):
                continue
            cfg = r["expectation_config"]
            meta = cfg.get("meta") or {}
            result = r.get("result") or {}
            exc = r.get("exception_info") or {}
            error = exc.get("exception_message") if exc.get("raised_exception") else None
            index = result.get("unexpected_index_list") or []
            rows = [i.get("_row") for i in index if isinstance(i, dict) and i.get("_row") is not None]
            if index:
                examples = [{k: checks.format_value(v) for k, v in i.items() if k != "_row"} for i in index[:MAX_EXAMPLES]]
            elif error:
                examples = [error]
            else:
                examples = [{"observed_value": checks.format_value(result.get("observed_value"))}]
            out.append({
                "suite": name,
                "expectation": meta.get("name", cfg.get("type")),
                "type": cfg.get("type"),
                "severity": meta.get("severity", "critical"),
                "level": meta.get("level", "table"),
                "unexpected_count": result.get("unexpected_count", len(rows)),
                "examples": examples,
                "rows": [int(x) for x in rows],
                "error": error,
                "detail_columns": _detail_columns(cfg.get("kwargs", {}), meta),
            })
    return out


def _detail_columns(kwargs: dict, meta: dict) -> list[str]:
    cols = []
    for k in ("column", "column_A", "column_B"):
        if k in kwargs:
            cols.append(kwargs[k])
    cols += list(kwargs.get("column_list", []))
    for c in meta.get("detail_columns", []):
        if c not in cols:
            cols.append(c)
    return cols


def _detail(row, columns: list[str]) -> str:
    return ", ".join(f"{c}={checks.format_value(row.get(c))}" for c in columns if c in row)


# --------------------------------------------------------------------------- API

def row_checks(tables: dict[str, pa.Table], settings, place_ids: set[str], *, today: dt.date | None = None):
    """Run the row-level expectations; return (quarantine table, keep masks).

    Every row failing a CRITICAL row-level expectation gets one quarantine row per
    failed expectation; events of a failing article are quarantined too (expectation
    ``articles.<name>``). ``keep`` maps table name -> ``pa.BooleanArray`` aligned with
    the input table (``table.filter(keep[name])``). For articles, False means "mark
    quarantined", not "delete": every input stays accounted for.
    """
    t0 = time.perf_counter()
    suites = load_suites(settings, today)
    views = checks.build_views({k: v for k, v in tables.items() if k in ("articles", "events", "incidents")}, settings, place_ids)
    results = _validate(views, suites, levels=("row",))
    rows: list[dict] = []
    drop = {name: set() for name in views}
    for f in _failures(results, suites):
        if f["severity"] != "critical" or f["level"] != "row":
            continue
        if f["error"]:
            raise RuntimeError(f"quality expectation {f['suite']}.{f['expectation']} could not run: {f['error']}")
        df = views[f["suite"]]
        for i in f["rows"]:
            drop[f["suite"]].add(i)
            rows.append(_quarantine_row(f["suite"], df.iloc[i], f, f"{f['suite']}.{f['expectation']}"))
    # An article that fails (e.g. a future published_at) takes its events with it.
    if "articles" in views and "events" in views and drop["articles"]:
        bad: dict[str, list[dict]] = {}
        for r in rows:
            if r["table_name"] == "articles":
                bad.setdefault(r["row_id"], []).append(r)
        ev = views["events"]
        for i, aid in enumerate(ev["article_id"]):
            for r in bad.get(aid, []):
                drop["events"].add(i)
                rows.append({
                    "table_name": "events", "row_id": ev["event_id"].iat[i], "article_id": aid,
                    "expectation": r["expectation"], "severity": "critical",
                    "detail": f"article {aid}: {r['detail']}", "evidence": ev["evidence"].iat[i],
                })
    keep = {name: pa.array([i not in drop[name] for i in range(len(df))], pa.bool_()) for name, df in views.items()}
    quarantine = to_arrow("quarantine", rows) if rows else QUARANTINE.arrow_schema.empty_table()
    log.info("row checks: %d quarantine rows in %.1fs", len(rows), time.perf_counter() - t0)
    return quarantine, keep


def apply_quarantine(tables: dict[str, pa.Table], quarantine: pa.Table, keep: dict) -> dict[str, pa.Table]:
    """The tables without quarantined rows (a convenience for the pipeline).

    events and incidents are filtered with ``keep``; articles stay (every input is
    accounted for) but failing ones get status "quarantined" and a quarantine_reason;
    with ``incident_reports`` present, its rows for dropped events go and incidents left
    without any report are dropped too. (Re-resolving incidents from the kept events is
    more exact: a partly bad incident keeps figures from its dropped reports here.)
    """
    out = dict(tables)
    for name in ("events", "incidents"):
        if name in out and name in keep:
            out[name] = out[name].filter(keep[name])
    if "articles" in out and quarantine.num_rows:
        reasons: dict[str, str] = {}
        for r in quarantine.to_pylist():
            if r["table_name"] == "articles":
                reasons.setdefault(r["row_id"], f"{QUALITY_REASON_PREFIX}{r['expectation']} ({r['detail']})")
        arts = out["articles"]
        ids = arts["article_id"].to_pylist()
        status = [("quarantined" if a in reasons else s) for a, s in zip(ids, arts["status"].to_pylist())]
        reason = [reasons.get(a, q) for a, q in zip(ids, arts["quarantine_reason"].to_pylist())]
        arts = arts.set_column(arts.schema.get_field_index("status"), "status", pa.array(status, pa.string()))
        arts = arts.set_column(arts.schema.get_field_index("quarantine_reason"), "quarantine_reason", pa.array(reason, pa.string()))
        out["articles"] = arts
    if "incident_reports" in out and "events" in out:
        kept_events = set(out["events"]["event_id"].to_pylist())
        bridge = out["incident_reports"]
        bridge = bridge.filter(pa.array([e in kept_events for e in bridge["event_id"].to_pylist()], pa.bool_()))
        out["incident_reports"] = bridge
        if "incidents" in out:
            alive = set(bridge["incident_id"].to_pylist())
            inc = out["incidents"]
            out["incidents"] = inc.filter(pa.array([i in alive for i in inc["incident_id"].to_pylist()], pa.bool_()))
    return out


def _md_escape(text: str) -> str:
    """Article text inside the Markdown artifact: no HTML, links, images or table breaks can come from it."""
    text = html.escape(text)
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~-])", r"\\\1", text)


def _quarantine_row(suite: str, row, failure: dict, expectation: str) -> dict:
    key = ROW_KEY[suite]
    article_id = row.get("article_id")
    evidence = row.get("evidence") if suite == "events" else None
    return {
        "table_name": suite,
        "row_id": checks.format_value(row.get(key)),
        "article_id": None if checks._is_missing(article_id) else str(article_id),
        "expectation": expectation,
        "severity": failure["severity"],
        "detail": _detail(row, failure["detail_columns"]),
        "evidence": None if checks._is_missing(evidence) else str(evidence),
    }


@dataclass
class GateReport:
    passed: bool
    failures: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    results_dir: Path | None = None
    docs_index: Path | None = None

    @property
    def blocking(self) -> list[dict]:
        return [f for f in self.failures if f["severity"] == "critical" and (f["level"] == "table" or f["error"])]

    def one_line(self) -> str:
        if self.passed:
            return "quality gate passed"
        parts = []
        blocking = self.blocking
        for f in blocking[:3]:
            ex = f["examples"][0] if f["examples"] else ""
            if isinstance(ex, dict):
                ex = ", ".join(f"{k}={v}" for k, v in ex.items())
            parts.append(f"{f['suite']}.{f['expectation']} (e.g. {ex})" if ex else f"{f['suite']}.{f['expectation']}")
        more = f"; and {len(blocking) - 3} more" if len(blocking) > 3 else ""
        return "quality gate failed: " + "; ".join(parts) + more

    def summary_markdown(self) -> str:
        c = self.counts
        lines = [
            f"## Quality gate: {'passed' if self.passed else 'FAILED'}",
            "",
            f"{c.get('expectations', 0)} expectations evaluated on "
            + ", ".join(f"{t} {n}" for t, n in c.get("rows", {}).items())
            + f" rows; {c.get('failed_critical', 0)} critical and {c.get('failed_warning', 0)} warning expectations failed.",
        ]
        if c.get("quarantined"):
            lines.append("")
            lines.append("Quarantined rows: " + ", ".join(f"{t} {n}" for t, n in c["quarantined"].items()) + ".")
        if self.failures:
            lines += ["", "| suite | expectation | severity | level | rows | example |", "|---|---|---|---|---|---|"]
            for f in sorted(self.failures, key=lambda f: (f["severity"] != "critical", f["level"] != "table", f["suite"])):
                ex = f["examples"][0] if f["examples"] else ""
                if isinstance(ex, dict):
                    ex = ", ".join(f"{k}={v}" for k, v in ex.items())
                ex = _md_escape(str(ex).replace("\n", " ")[:120])
                lines.append(f"| {f['suite']} | {f['expectation']} | {f['severity']} | {f['level']} | {f['unexpected_count']} | {ex} |")
        if self.docs_index:
            lines += ["", f"Data Docs: `{self.docs_index}`"]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "failures": [{k: v for k, v in f.items() if k != "detail_columns"} for f in self.failures],
            "counts": self.counts,
            "docs_index": str(self.docs_index) if self.docs_index else None,
        }


def table_checks(tables: dict[str, pa.Table], settings, place_ids: set[str], out_dir: Path, *,
                 quarantine: pa.Table | None = None, today: dt.date | None = None) -> GateReport:
    """Run every suite; write out_dir/validation/*.json and out_dir/data_docs/; return the report.

    ``passed`` is False when any critical table-level expectation fails (the run must
    not publish). Row-level failures still present are reported (critical ones mean a
    quarantined row reached this step) but do not block.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    val_dir, docs_dir = out_dir / "validation", out_dir / "data_docs"
    for d in (val_dir, docs_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    suites = load_suites(settings, today)
    if quarantine is None:
        quarantine = tables.get("quarantine")
    held = set()
    if quarantine is not None and quarantine.num_rows:
        held = {i for t, i, s in zip(*(quarantine[c].to_pylist() for c in ("table_name", "row_id", "severity")))
                if t == "incidents" and s == "critical"}
    views = checks.build_views(tables, settings, place_ids, held_incidents=held)
    results = _validate(views, suites, levels=LEVELS, docs_dir=docs_dir)
    for name, res in results.items():
        (val_dir / f"{name}.json").write_text(json.dumps(res, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    failures = [{k: v for k, v in f.items() if k != "rows"} for f in _failures(results, suites)]
    report = GateReport(passed=True, failures=failures)
    passed = not report.blocking
    counts = {
        "rows": {name: len(df) for name, df in views.items()},
        "expectations": sum(len(r.get("results", [])) for r in results.values()),
        "failed_critical": sum(f["severity"] == "critical" for f in failures),
        "failed_warning": sum(f["severity"] == "warning" for f in failures),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if quarantine is not None and quarantine.num_rows:
        names = quarantine.column("table_name").to_pylist()
        ids = quarantine.column("row_id").to_pylist()
        counts["quarantined"] = {t: len({i for n, i in zip(names, ids) if n == t}) for t in dict.fromkeys(names)}
    index = docs_dir / "index.html"
    report = GateReport(passed=passed, failures=failures, counts=counts, results_dir=val_dir,
                        docs_index=index if index.exists() else None)
    (val_dir / "summary.json").write_text(json.dumps(report.to_dict(), indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    log.info("table checks: %s in %.1fs", "passed" if passed else "FAILED", counts["seconds"])
    return report

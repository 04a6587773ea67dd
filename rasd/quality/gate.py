"""The quality gate: expectation suites from ``expectations/*.json`` run with Great Expectations.

``row_checks`` runs the row-level expectations and returns the rows to quarantine;
``table_checks`` runs every suite, keeps the validation results (JSON) and GX Data Docs
(HTML), and says whether the run may publish. GX is imported only inside ``_validate``
(it takes seconds to import); nothing else in rasd pays for it, and a run calls ``preload`` early so that
the import happens on a background thread while ingest and extraction run.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import logging
import os
import re
import shutil
import sys
import threading
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

_preload: threading.Thread | None = None


def _import_gx() -> None:
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before the import: GX reads it when it starts
    try:
        import great_expectations  # noqa: F401
        from great_expectations.core.expectation_suite import ExpectationSuite  # noqa: F401
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration  # noqa: F401
    except Exception:  # the import is retried (and fails loudly) where it is used
        log.debug("background import of great_expectations failed", exc_info=True)


def preload(background: bool = True) -> None:
    """Import Great Expectations (~5 s of CPU) ahead of time, once per process: on a daemon thread while the batch
    steps keep this process idle (``_validate``'s own import then waits for it through Python's import lock instead
    of starting over), or right here when the caller is waiting anyway (``background=False``)."""
    global _preload
    if not background:
        if _preload is not None:
            _preload.join()
        elif "great_expectations" not in sys.modules:
            _import_gx()
        return
    if _preload is None and "great_expectations" not in sys.modules:
        _preload = threading.Thread(target=_import_gx, name="rasd-gx-import", daemon=True)
        _preload.start()

# Expectation types whose verdict on a row is a function of that row's values in the expectation's columns
# (and its row_condition columns) alone. GX gives such an expectation the same verdict on one representative
# row per distinct combination of those values as on the whole table, so the gate runs them on the
# representatives and maps the unexpected ones back to every row with the same values (docs/quality.md).
ROWWISE_TYPES = frozenset({
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_null",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list",
    "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal",
    "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_to_be_in_set",
    "expect_column_pair_values_a_to_be_greater_than_b",
})
# Uniqueness: a row is unexpected when another row has the same key, so GX runs on every row sharing its key
# with another one (pandas ``duplicated(keep=False)``, the test GX itself applies) — usually none.
UNIQUE_TYPES = frozenset({"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"})
SMALL_BATCH = 128  # distinct combinations up to which an expectation joins the "small" batch (cheap for any type)
FULL_SHARE = 0.25  # above this share of distinct combinations per validated row, GX runs on all validated rows


def _condition_columns(cond) -> list[str]:
    out = []
    if isinstance(cond, dict):
        col = cond.get("column")
        if isinstance(col, dict) and isinstance(col.get("name"), str):
            out.append(col["name"])
        for v in cond.values():
            if isinstance(v, (dict, list)):
                out += _condition_columns(v)
    elif isinstance(cond, list):
        for v in cond:
            out += _condition_columns(v)
    return out


def expectation_columns(e: dict) -> list[str] | None:
    """Every column an expectation reads (its columns and its row_condition's); None when that is unknown."""
    k = e["kwargs"]
    cols = [k[c] for c in ("column", "column_A", "column_B") if c in k]
    cols += list(k.get("column_list", []))
    cond = k.get("row_condition")
    if cond is not None:
        if not isinstance(cond, dict):
            return None  # a condition string: its columns are not known here
        cols += _condition_columns(cond)
    return list(dict.fromkeys(cols)) or None


def row_rule_columns(suites: dict[str, dict], name: str) -> list[str] | None:
    """The columns of table ``name`` its row-level expectations read (computed view columns replaced by the table
    columns they are made from, ``checks.COMPUTED_FROM``; ``article_published_at`` for the article's date), plus
    its key, in the table's column order; None when some expectation's columns are not known (read everything)."""
    from rasd.schema import TABLES

    table = TABLES[name].column_names
    derived = checks.COMPUTED_FROM.get(name, {})
    cols = {ROW_KEY[name]}
    for e in suites[name]["expectations"]:
        if e["meta"]["level"] != "row":
            continue
        used = expectation_columns(e)
        if used is None:
            return None
        for c in used:
            if c in table:
                cols.add(c)
            elif c in derived:
                cols.update(derived[c])
            else:
                return None
        for c in e["meta"].get("detail_columns", []):  # the quarantine row's detail, read with the row
            if c in table:
                cols.add(c)
    return [c for c in table if c in cols] + sorted(cols - set(table))


class _Codes:
    """Integer codes of a view's columns (one pandas factorize per column, nulls one code), and of column tuples."""

    def __init__(self, df):
        self.df = df
        self.cache: dict[str, tuple] = {}

    def column(self, col: str):
        c = self.cache.get(col)
        if c is None:
            import pandas as pd

            codes, uniques = pd.factorize(self.df[col], use_na_sentinel=False)
            c = self.cache[col] = (codes.astype("int64"), max(len(uniques), 1))
        return c

    def groups(self, cols: list[str]):
        import pandas as pd

        g, n = self.column(cols[0])
        for col in cols[1:]:
            c, m = self.column(col)
            g, uniques = pd.factorize(g * m + c)
            n = max(len(uniques), 1)
        return g, n


@dataclass
class _Plan:
    """How one expectation is run: on which batch, and how its unexpected rows map back to the table."""
    e: dict
    kind: str  # rowwise | unique | full
    batch: str  # small | distinct | rows
    reps: object = None  # row positions GX needs to see
    groups: object = None  # rowwise: group id of every row of the view
    n_groups: int = 0
    frame: object = None  # a table-level summary frame this expectation runs on instead of the view (``summaries``)


def _plan(df, exps: list[dict], validate) -> list[_Plan]:
    """Which expectation runs on which batch, and the representative rows each one needs."""
    import numpy as np

    codes = _Codes(df)
    n = max(len(validate), 1)
    plans = []
    for e in exps:
        cols = expectation_columns(e)
        known = cols is not None and all(c in df.columns for c in cols) and "mostly" not in e["kwargs"]
        if known and e["type"] in UNIQUE_TYPES:
            dup = df.duplicated(subset=cols, keep=False).to_numpy()
            reps = np.flatnonzero(dup)
            plans.append(_Plan(e, "unique", "small" if len(reps) <= SMALL_BATCH else "distinct", reps))
        elif known and e["type"] in ROWWISE_TYPES:
            g, ng = codes.groups(cols)
            rep = np.zeros(ng, dtype="int64")
            present = np.zeros(ng, dtype=bool)
            rep[g[validate]] = validate  # some validated row of each combination (any one will do)
            present[g[validate]] = True
            reps = np.sort(rep[present])
            batch = "small" if len(reps) <= SMALL_BATCH else "distinct" if len(reps) <= FULL_SHARE * n else "rows"
            plans.append(_Plan(e, "rowwise", batch, reps, g, ng))
        else:  # anything else (or a column GX will report missing): GX on every validated row
            plans.append(_Plan(e, "full", "rows", validate))
    return plans


def _batch_rows(plans: list[_Plan], n_rows: int):
    """A small set of rows holding a representative of every value combination each plan needs (greedy)."""
    import numpy as np

    chosen = np.zeros(n_rows, dtype=bool)
    for p in sorted(plans, key=lambda p: -len(p.reps)):
        if p.kind == "rowwise" and chosen.any():
            covered = np.zeros(p.n_groups, dtype=bool)
            covered[p.groups[chosen]] = True
            chosen[p.reps[~covered[p.groups[p.reps]]]] = True
        else:
            chosen[p.reps] = True
    return np.flatnonzero(chosen)


def _gx_context():
    """An ephemeral GX context with a pandas data source (one per ``_validate`` call, or shared by the chunks of
    ``staged_table_checks`` so that their Data Docs are rendered once, together)."""
    if _preload is not None:
        _preload.join()
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before the import: GX reads it when it starts
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),  # no temp-folder docs site
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    return context, context.data_sources.add_pandas("rasd")


def _validate(views: dict, suites: dict[str, dict], levels: tuple[str, ...], docs_dir: Path | None = None,
              rows: dict | None = None, summaries: dict | None = None, gx_context=None,
              tag: str = "") -> tuple[dict[str, dict], dict[tuple[str, str], object]]:
    """Run each suite (only expectations whose meta.level is in ``levels``) on its pandas view.

    Row-level expectations are checked on the rows ``rows[suite]`` (positions; all rows when absent),
    table-level ones always on the whole view, or, for a suite in ``summaries`` ({suite: [(frame, expectation
    names)]}, ``checks.table_summaries``), on those small frames: one row per distinct value combination with its
    row count (``_count``) and first keys, or every row sharing a key with another one. Returns (suite name -> GX
    validation result as a JSON dict, (suite, expectation name) -> positions of the unexpected rows of the view,
    or of the summary frame). With ``docs_dir``, also renders GX Data Docs there (from an HTML-escaped copy of the
    results). ``gx_context`` (``_gx_context()``) is used instead of a new context (the caller renders its docs);
    ``tag`` then tells its batches apart (`<suite> (<label>, <tag>)`). A view whose ``attrs["row_offset"]`` is set
    holds rows of a table from that position on: its ``_row`` column (and so GX's unexpected index lists) are
    positions in the table, the returned positions are positions in the view.
    """
    import numpy as np

    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from great_expectations.validator.v1_validator import Validator

    keep_results = docs_dir is not None or gx_context is not None  # for Data Docs
    context, source = gx_context or _gx_context()
    store = context.validation_results_store
    results: dict[str, dict] = {}
    unexpected: dict[tuple[str, str], object] = {}
    for name, spec in suites.items():
        if name not in views:
            continue
        selected = [e for e in spec["expectations"] if e["meta"]["level"] in levels]
        if not selected:
            continue
        df = views[name]
        everything = np.arange(len(df))
        subset = (rows or {}).get(name)
        subset = everything if subset is None else np.asarray(subset, dtype="int64")
        summary = {} if "table" not in levels else {
            n: (k, frame) for k, (frame, names) in enumerate((summaries or {}).get(name, [])) for n in names}
        plans = []
        for level in ("row", "table"):
            exps = [e for e in selected if e["meta"]["level"] == level and e["meta"]["name"] not in summary]
            if exps:
                plans += _plan(df, exps, subset if level == "row" else everything)
        if len(subset) != len(df) or summary:  # GX must not see rows outside the subset for row-level expectations
            for p in plans:
                if p.e["meta"]["level"] == "table":
                    p.batch = f"table {p.batch}"
        for e in selected:
            if e["meta"]["name"] in summary:
                k, frame = summary[e["meta"]["name"]]
                plans.append(_Plan(e, "full", f"table summary {k + 1}", np.arange(len(frame)), frame=frame))
        order = {e["meta"]["name"]: k for k, e in enumerate(selected)}
        merged = None
        batches = list(dict.fromkeys(p.batch for p in plans))
        for label in batches:
            part = [p for p in plans if p.batch == label]
            src = part[0].frame if part[0].frame is not None else df
            if label.endswith("rows") or part[0].frame is not None:
                at = np.unique(np.concatenate([p.reps for p in part]))
            else:
                at = _batch_rows(part, len(df))
            needed = list(dict.fromkeys(
                [c for p in part for c in (expectation_columns(p.e) or []) if c in src.columns]
                + [c for c in (ROW_KEY[name], "_row") if c in src.columns]
                + ([] if all(expectation_columns(p.e) for p in part) else
                   [c for c in src.columns if c not in ("_count", "_keys", "_kpos")])))
            frame = src[needed].iloc[at] if len(at) < len(src) else src[needed]  # columns first: take fewer
            frame = frame.reset_index(drop=True)
            configs = [
                ExpectationConfiguration(
                    type=p.e["type"], kwargs=p.e["kwargs"], meta=p.e["meta"], severity=p.e["meta"]["severity"],
                    notes=p.e["meta"]["notes"],
                ).to_domain_obj()
                for p in part
            ]
            suite_name = (name if len(batches) == 1 else f"{name} ({label})") if not tag else f"{name} ({label}, {tag})"
            suite = context.suites.add(ExpectationSuite(name=suite_name, expectations=configs,
                                                        meta={"notes": spec.get("notes", "")}))
            batch = source.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe(f"{suite_name}_all")
            result_format = {
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [c for c in (ROW_KEY[name], "_row") if c in frame.columns],
                "return_unexpected_index_query": False,
            }
            before = set(store.list_keys())
            if keep_results:
                vd = context.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch, suite=suite))
                result = vd.run(batch_parameters={"dataframe": frame}, result_format=result_format)
            else:  # the same validation without storing its result (serialized to JSON twice) for Data Docs
                result = Validator(batch_definition=batch, batch_parameters={"dataframe": frame},
                                   result_format=result_format).validate_expectation_suite(suite)
            by_name = {p.e["meta"]["name"]: p for p in part}
            for r in result.results:
                p = by_name[r.expectation_config.meta["name"]]
                found = _unexpected_rows(p, r.result or {}, subset if p.e["meta"]["level"] == "row" else everything,
                                         0 if p.frame is not None else int(df.attrs.get("row_offset", 0)))
                unexpected[(name, p.e["meta"]["name"])] = found
                if r.result is not None:
                    if p.frame is not None and "_count" in p.frame.columns:
                        validated = p.frame.attrs.get("table_rows", int(p.frame["_count"].sum()))
                        bad = int(p.frame["_count"].to_numpy()[found].sum())
                    elif p.frame is not None:
                        validated, bad = p.frame.attrs.get("table_rows", len(p.frame)), len(found)
                    else:
                        validated, bad = len(subset) if p.e["meta"]["level"] == "row" else len(df), len(found)
                    r.result["rasd_rows"] = {
                        "validated": int(validated),
                        "unexpected": int(bad),
                        "gx_batch_rows": int(len(frame)),
                        "validated_on": {"rowwise": "one row per distinct value combination",
                                         "unique": "every row sharing its key with another row",
                                         "full": "every validated row"}[p.kind] if p.frame is None else
                        ("every row sharing its key with another row (a summary of the table)"
                         if p.e["type"] in UNIQUE_TYPES else
                         "one row per distinct value combination (a summary of the table)"),
                    }
            for key in set(store.list_keys()) - before:  # the stored copy (Data Docs) gets the same additions
                store.set(key, result)
            part_json = result.to_json_dict()
            if merged is None:
                merged = part_json
            else:
                merged["results"] += part_json["results"]
        merged["results"].sort(key=lambda r: order.get(((r.get("expectation_config") or {}).get("meta") or {}).get("name"), 0))
        _restate(merged)
        merged.setdefault("meta", {})["rasd_batches"] = [f"{b}, {tag}" for b in batches] if tag else batches
        results[name] = merged
    if docs_dir is not None and gx_context is None:
        _render_docs(context, docs_dir)
    return results, unexpected


def _unexpected_rows(p: _Plan, result: dict, validated, offset: int = 0):
    """Positions (in the view) of the rows GX's verdict makes unexpected (``_row`` minus the view's ``offset``)."""
    import numpy as np

    index = result.get("unexpected_index_list") or []
    found = np.array(sorted({int(i["_row"]) - offset for i in index
                             if isinstance(i, dict) and i.get("_row") is not None}), dtype="int64")
    if p.kind != "rowwise" or not len(found):
        return found
    bad = np.zeros(p.n_groups, dtype=bool)
    bad[p.groups[found]] = True
    return validated[bad[p.groups[validated]]]


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


def _render_docs(context, docs_dir: Path) -> None:
    """Build Data Docs into docs_dir from escaped copies of the stored results."""
    store = context.validation_results_store
    for key in store.list_keys():
        res = store.get(key)  # a new object, deserialized from the stored JSON: escaping it leaves the store's copy
        for r in res.results:
            r.result = _escape_deep(r.result)
            if r.exception_info:
                r.exception_info = _escape_deep(r.exception_info)
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

def _failures(results: dict[str, dict], suites: dict[str, dict], unexpected: dict | None = None,
              views: dict | None = None, frames: dict | None = None) -> list[dict]:
    """Every failed expectation as {suite, expectation, severity, level, unexpected_count, examples, rows, error}.

    ``rows`` (positions in the suite's view) and ``unexpected_count`` are rows of the table (from
    ``unexpected``, which maps GX's verdict on the representatives back to every row); examples are the first
    unexpected rows' keys.
    """
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
            found = (unexpected or {}).get((name, meta.get("name")))
            if found is not None:
                rows = [int(x) for x in found]
            else:
                rows = [int(i.get("_row")) for i in index if isinstance(i, dict) and i.get("_row") is not None]
            key = ROW_KEY.get(name)
            view = (views or {}).get(name)
            frame = (frames or {}).get((name, meta.get("name")))
            count = None
            if frame is not None:  # a summary row stands for _count rows of the table
                count = int(frame["_count"].to_numpy()[rows].sum()) if "_count" in frame.columns else len(rows)
            if rows and frame is not None and "_count" in frame.columns:
                pairs = sorted((int(p), k) for i in rows for p, k in zip(frame["_kpos"].iat[i], frame["_keys"].iat[i]))
                examples = [{key: checks.format_value(k)} for _, k in pairs[:MAX_EXAMPLES]]
            elif rows and frame is not None:
                examples = [{key: checks.format_value(frame[key].iat[i])} for i in rows[:MAX_EXAMPLES]]
            elif rows and view is not None and key in view.columns:
                examples = [{key: checks.format_value(view[key].iat[i])} for i in rows[:MAX_EXAMPLES]]
            elif index:
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
                "unexpected_count": count if count is not None else len(rows) if found is not None
                else result.get("unexpected_count", len(rows)),
                "examples": examples,
                "rows": rows,
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

def _positions(spec, view, name: str):
    """Positions of the rows to validate: from a boolean mask aligned with the table, or a collection of keys."""
    import numpy as np

    if spec is None:
        return None
    if isinstance(spec, (pa.Array, pa.ChunkedArray)):
        spec = spec.to_numpy(zero_copy_only=False)
    if not len(spec):
        return np.zeros(0, dtype="int64")
    if isinstance(spec, (set, frozenset, dict)) or isinstance(next(iter(spec)), str):
        return np.flatnonzero(view[ROW_KEY[name]].isin(set(spec)).to_numpy())
    mask = np.asarray(spec, dtype=bool)
    if len(mask) != len(view):
        raise ValueError(f"rows[{name!r}]: a mask of {len(mask)} rows for a table of {len(view)}")
    return np.flatnonzero(mask)


def _row_positions(rows: dict | None, views: dict) -> dict | None:
    if not rows:
        return None
    return {name: p for name, p in ((n, _positions(rows.get(n), v, n)) for n, v in views.items()) if p is not None}


def row_checks(tables: dict[str, pa.Table], settings, place_ids: set[str], *, today: dt.date | None = None,
               rows: dict | None = None):
    """Run the row-level expectations; return (quarantine table, keep masks).

    Every row failing a CRITICAL row-level expectation gets one quarantine row per
    failed expectation; events of a failing article are quarantined too (expectation
    ``articles.<name>``). ``keep`` maps table name -> ``pa.BooleanArray`` aligned with
    the input table (``table.filter(keep[name])``). For articles, False means "mark
    quarantined", not "delete": every input stays accounted for.

    ``rows`` (optional) limits the checks to some rows, e.g. the new ones of an incremental run:
    ``{table: boolean mask aligned with the table | collection of keys}``; rows outside it are kept
    as they are (they were validated before). Tables not named in it are checked in full.
    """
    import numpy as np

    t0 = time.perf_counter()
    suites = load_suites(settings, today)
    views = checks.build_views({k: v for k, v in tables.items() if k in ("articles", "events", "incidents")}, settings, place_ids)
    results, unexpected = _validate(views, suites, levels=("row",), rows=_row_positions(rows, views))
    out: list[dict] = []
    drop = {name: np.zeros(len(df), dtype=bool) for name, df in views.items()}
    for f in _failures(results, suites, unexpected, views):
        if f["severity"] != "critical" or f["level"] != "row":
            continue
        if f["error"]:
            raise RuntimeError(f"quality expectation {f['suite']}.{f['expectation']} could not run: {f['error']}")
        df = views[f["suite"]]
        drop[f["suite"]][f["rows"]] = True
        for i in f["rows"]:
            out.append(_quarantine_row(f["suite"], df.iloc[i], f, f"{f['suite']}.{f['expectation']}"))
    # An article that fails (e.g. a future published_at) takes its events with it.
    if "articles" in views and "events" in views and drop["articles"].any():
        held, rows = held_for_articles([r for r in out if r["table_name"] == "articles"], tables["events"])
        drop["events"][held] = True
        out += rows
    keep = {name: pa.array(~d, pa.bool_()) for name, d in drop.items()}
    quarantine = to_arrow("quarantine", out) if out else QUARANTINE.arrow_schema.empty_table()
    log.info("row checks: %d quarantine rows in %.1fs", len(out), time.perf_counter() - t0)
    return quarantine, keep


def held_for_articles(article_rows: list[dict], events: pa.Table):
    """Events of failing articles: (their positions in ``events``, one quarantine row per event and failure of its
    article, expectation ``articles.<name>``), in event order."""
    import numpy as np
    import pyarrow.compute as pc

    bad: dict[str, list[dict]] = {}
    for r in article_rows:
        if r["table_name"] == "articles":
            bad.setdefault(r["row_id"], []).append(r)
    if not bad or not events.num_rows:
        return np.zeros(0, dtype="int64"), []
    hit = pc.fill_null(pc.is_in(events["article_id"], value_set=pa.array(list(bad), pa.string())), False)
    held = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
    sub = events.select(["event_id", "article_id", "evidence"]).take(pa.array(held)).to_pylist()
    out = []
    for ev in sub:
        aid = ev["article_id"]
        for r in bad[aid]:
            out.append({
                "table_name": "events", "row_id": ev["event_id"], "article_id": aid,
                "expectation": r["expectation"], "severity": "critical",
                "detail": f"article {aid}: {r['detail']}", "evidence": ev["evidence"],
            })
    return held, out


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
        # an article already quarantined before the gate (by ingest: "undecodable", ...) keeps its own reason
        held = [s == "quarantined" and q is not None and not str(q).startswith(QUALITY_REASON_PREFIX)
                for s, q in zip(arts["status"].to_pylist(), arts["quarantine_reason"].to_pylist())]
        reason = [q if h else reasons.get(a, q) for a, q, h in zip(ids, arts["quarantine_reason"].to_pylist(), held)]
        arts = arts.set_column(arts.schema.get_field_index("status"), "status", pa.array(status, pa.string()))
        arts = arts.set_column(arts.schema.get_field_index("quarantine_reason"), "quarantine_reason", pa.array(reason, pa.string()))
        out["articles"] = arts
    if "incident_reports" in out and "events" in out:
        import pyarrow.compute as pc

        bridge = out["incident_reports"]
        kept = pc.is_in(bridge["event_id"], value_set=out["events"]["event_id"].combine_chunks())
        bridge = bridge.filter(pc.fill_null(kept, False))
        out["incident_reports"] = bridge
        if "incidents" in out:
            inc = out["incidents"]
            alive = pc.is_in(inc["incident_id"], value_set=bridge["incident_id"].combine_chunks())
            out["incidents"] = inc.filter(pc.fill_null(alive, False))
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
                 quarantine: pa.Table | None = None, today: dt.date | None = None, rows: dict | None = None) -> GateReport:
    """Run every suite; write out_dir/validation/*.json and out_dir/data_docs/; return the report.

    ``passed`` is False when any critical table-level expectation fails (the run must
    not publish). Row-level failures still present are reported (critical ones mean a
    quarantined row reached this step) but do not block.

    ``rows`` (as for ``row_checks``) limits the row-level expectations to some rows (the new and
    affected ones of an incremental run); table-level expectations always see whole tables.
    """
    t0 = time.perf_counter()
    val_dir, docs_dir = _result_dirs(Path(out_dir))
    suites = load_suites(settings, today)
    if quarantine is None:
        quarantine = tables.get("quarantine")
    views = checks.build_views(tables, settings, place_ids, held_incidents=_held_incidents(quarantine))
    results, unexpected = _validate(views, suites, levels=LEVELS, docs_dir=docs_dir, rows=_row_positions(rows, views))
    return _report(results, suites, unexpected, views, val_dir, docs_dir, quarantine,
                   {name: len(df) for name, df in views.items()}, t0)


# --------------------------------------------------------------------------- staged publication (bounded memory)

SUMMARY_SUITES = ("articles", "events", "incidents")
NULL_SENSITIVE_TYPES = frozenset({"expect_column_values_to_be_null", "expect_column_values_to_not_be_null"})


def table_summaries(con, files: dict[str, list], suites: dict[str, dict]) -> dict | None:
    """The table-level expectations of articles, events and incidents as small frames over the staged files
    (DuckDB reads only the columns they use): {suite: [(frame, expectation names)]}, for ``_validate``.

    Row-wise expectations (``ROWWISE_TYPES``) of a suite share one frame: a row per distinct combination of their
    columns with ``_count`` (rows of the table), the first key and the first ``MAX_EXAMPLES`` keys and positions
    (``_keys``, ``_kpos``) — GX's verdict on a combination is its verdict on each of those rows. A uniqueness
    expectation gets the rows sharing their key with another row, in table order (what ``_plan`` gives GX).
    None when some table-level expectation is of another kind (the caller then validates whole tables)."""
    import numpy as np
    import pandas as pd

    plan: dict[str, tuple[list, list]] = {}
    for name in SUMMARY_SUITES:
        rowwise, unique = [], []
        for e in suites[name]["expectations"]:
            if e["meta"]["level"] != "table":
                continue
            cols = expectation_columns(e)
            if cols is None or "mostly" in e["kwargs"]:
                return None
            if e["type"] in UNIQUE_TYPES:
                unique.append((e, cols))
            elif e["type"] in ROWWISE_TYPES:
                rowwise.append((e, cols))
            else:
                return None
        plan[name] = (rowwise, unique)
    needed = {n: [c for _, cols in r + u for c in cols] for n, (r, u) in plan.items()}
    rel = checks.summary_relations(con, files, needed)
    out: dict[str, list] = {}
    for name, (rowwise, unique) in plan.items():
        key = ROW_KEY[name]
        have = set(con.sql(f"SELECT * FROM ({rel[name]}) LIMIT 0").to_arrow_table().column_names)
        if any(c not in have for _, cols in rowwise + unique for c in cols):
            return None  # a column GX would report missing: validate the whole table
        frames = []
        cols = list(dict.fromkeys(c for _, cs in rowwise for c in cs))
        # One GX batch instead of several (GX's cost is per batch): the duplicated rows join the combinations frame,
        # every combination column null for them and the key null for the combinations, when each expectation
        # ignores rows whose columns are all null (GX's column-map expectations skip nulls; not the *_be_null ones)
        merge = bool(rowwise and unique) and not set(cols) & {key, *(c for _, cs in unique for c in cs)} and all(
            e["type"] not in NULL_SENSITIVE_TYPES and "row_condition" not in e["kwargs"]
            and e["kwargs"].get("ignore_row_if") != "neither" for e, _ in rowwise)
        if rowwise:
            q = ", ".join(f'"{c}"' for c in cols)
            first = f'CAST(NULL AS VARCHAR) AS "{key}", ' if merge else f'arg_min("{key}", _pos) AS "{key}", '
            t = con.sql(f"""
                SELECT {q}, {"" if key in cols else first}count(*) AS _count,
                       list("{key}" ORDER BY _pos)[1:{MAX_EXAMPLES}] AS _keys,
                       list(_pos ORDER BY _pos)[1:{MAX_EXAMPLES}] AS _kpos
                FROM ({rel[name]}) GROUP BY ALL ORDER BY min(_pos)""").to_arrow_table()
            frames.append((t, [e["meta"]["name"] for e, _ in rowwise]))
        for e, ucols in unique:
            q = ", ".join(f'"{c}"' for c in ucols)
            on = " AND ".join(f't."{c}" IS NOT DISTINCT FROM d."{c}"' for c in ucols)
            extra = f', 1 AS _count, [t."{key}"] AS _keys, [t._pos] AS _kpos' if merge else ""
            t = con.sql(f"""
                WITH t AS ({rel[name]}),
                     d AS (SELECT {q} FROM t GROUP BY ALL HAVING count(*) > 1)
                SELECT {", ".join(dict.fromkeys([*(f't."{c}"' for c in ucols), f't."{key}"']))}{extra}
                FROM t SEMI JOIN d ON {on} ORDER BY t._pos""").to_arrow_table()
            frames.append((t, [e["meta"]["name"]]))
        if merge:
            frames = [(pa.concat_tables([f for f, _ in frames], promote_options="permissive"),
                       [n for _, names in frames for n in names])]
        out[name] = []
        total = con.sql(f"SELECT count(*) FROM ({rel[name]})").fetchall()[0][0]
        for t, names in frames:
            df = t.to_pandas(date_as_object=True)
            df.index = pd.RangeIndex(len(df))
            df["_row"] = np.arange(len(df))
            df.attrs["table_rows"] = int(total)
            out[name].append((df, names))
    return out


def staged_table_checks(files: dict[str, list], row_tables, settings, place_ids: set[str],
                        out_dir: Path, *, quarantine: pa.Table | None = None, today: dt.date | None = None,
                        temp: Path | None = None) -> GateReport | None:
    """``table_checks`` over a staged publication without loading whole tables: table-level expectations of
    articles, events and incidents on summary frames DuckDB computes from their Parquet ``files``
    (``table_summaries``), weekly_incidents whole with its sums recomputed by DuckDB, and row-level expectations on
    ``row_tables`` only (the rows to check again; events with an ``articles`` table holding at least their articles'
    article_id and published_at). None when the suites hold a table-level expectation that needs whole tables.

    ``row_tables`` may also be an iterable of such dicts: consecutive chunks of the rows to check, each table's rows
    in table order (bounded memory). The row-level expectations then run chunk by chunk and their results are merged
    (``_merge_results``, ``_merge_failures``): success, row counts, failures, examples and the gate summary are
    those of one check of all rows; GX's own per-batch statistics are summed over the chunks' batches."""
    import duckdb

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    suites = load_suites(settings, today)
    held = _held_incidents(quarantine)
    con = duckdb.connect()
    try:
        con.execute("SET memory_limit = '1GB'")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET threads = 1")  # small aggregate queries: threads cost more CPU than they save
        if temp is not None:
            con.execute(f"SET temp_directory = '{str(temp)}'")
        summaries = table_summaries(con, files, suites)
        if summaries is None:
            return None
        expected = checks.weekly_expected(con, files.get("incidents", []), held)
    finally:
        con.close()
    val_dir, docs_dir = _result_dirs(out_dir)
    place_ids = set(place_ids or ())
    chunks = iter([row_tables] if isinstance(row_tables, dict) else row_tables)
    first = next(chunks, None) or {}
    following = next(chunks, None)
    tag = "" if following is None else "chunk 1"
    views = _chunk_views(first, settings, place_ids, {}, every=True)
    views["weekly_incidents"] = checks.weekly_view(_read_all(files.get("weekly_incidents", []), "weekly_incidents"),
                                                   None, held, expected=expected)
    views["weekly_incidents"]["_row"] = range(len(views["weekly_incidents"]))
    context = _gx_context()
    results, unexpected = _validate(views, suites, levels=LEVELS, summaries=summaries, gx_context=context, tag=tag)
    frames = {(n, x): f for n, parts in summaries.items() for f, names in parts for x in names}
    failures = _failures(results, suites, unexpected, views, frames)
    offsets = {n: len(v) for n, v in views.items()}
    k, part = 1, None
    while following is not None:  # row-level expectations on the next rows, merged into the results so far
        k += 1
        part, following = following, next(chunks, None)
        views = _chunk_views(part, settings, place_ids, offsets)
        if views:
            got, found = _validate(views, suites, levels=("row",), gx_context=context, tag=f"chunk {k}")
            failures = _merge_failures(failures, _failures(got, suites, found, views),
                                       {n: offsets[n] - len(v) for n, v in views.items()})
            _merge_results(results, got)
    failures = _order_failures(failures, results)
    del views, first, part  # the docs renderer needs memory, not these
    _render_docs(context[0], docs_dir)
    rows = {n: _file_rows(files.get(n, [])) for n in SUMMARY_SUITES}
    rows["weekly_incidents"] = offsets["weekly_incidents"]
    return _report(results, suites, {}, {}, val_dir, docs_dir, quarantine, rows, t0, frames, failures=failures)


def _chunk_views(tables: dict, settings, place_ids: set[str], offsets: dict, every: bool = False) -> dict:
    """The articles, events and incidents views of one chunk of rows (``every``: also empty ones), their ``_row``
    numbered from ``offsets[table]`` (rows of the table in the chunks before), which this advances."""
    arts, evs, incs = (tables.get(n) for n in ("articles", "events", "incidents"))
    lookup = tables.get("article_dates", arts)
    views = {}
    for name, t in (("articles", arts), ("events", evs), ("incidents", incs)):
        if not every and (t is None or not t.num_rows):
            continue
        if name == "articles":
            df = checks.articles_view(arts, None)
        elif name == "events":
            df = checks.events_view(evs, lookup, settings, place_ids)
        else:
            df = checks.incidents_view(incs, place_ids)
        start = offsets.get(name, 0)
        df["_row"] = range(start, start + len(df))
        if start:
            df.attrs["row_offset"] = start
        offsets[name] = start + len(df)
        views[name] = df
    return views


_SUMMED = ("element_count", "missing_count", "unexpected_count")
_LISTED = ("unexpected_list", "unexpected_index_list")
_PARTIAL = ("partial_unexpected_list", "partial_unexpected_index_list")
_GX_PARTIAL = 20  # GX's default partial_unexpected_count (the gate does not set it)


def _merge_results(results: dict, more: dict) -> None:
    """Fold the row-level results of a later chunk (``_validate`` output) into ``results``, in place: per
    expectation success of both, ``rasd_rows`` summed, GX's counts summed and its lists concatenated (partial lists
    cut to GX's 20), percentages recomputed; the suite's statistics and success recomputed."""
    for name, res in more.items():
        merged = results[name]
        by_name = {((r.get("expectation_config") or {}).get("meta") or {}).get("name"): r for r in merged["results"]}
        for r in res["results"]:
            a = by_name[((r.get("expectation_config") or {}).get("meta") or {}).get("name")]
            a["success"] = bool(a.get("success")) and bool(r.get("success"))
            if (r.get("exception_info") or {}).get("raised_exception") and not (a.get("exception_info") or {}).get("raised_exception"):
                a["exception_info"] = r["exception_info"]
            ra, rb = a.get("result"), r.get("result")
            if not rb:
                continue
            if not ra:
                a["result"] = rb
                continue
            for key in _SUMMED:
                if key in ra and key in rb:
                    ra[key] = int(ra[key]) + int(rb[key])
            for key in _LISTED:
                if key in ra and key in rb:
                    ra[key] = list(ra[key]) + list(rb[key])
            for key in _PARTIAL:
                if key in ra and key in rb:
                    ra[key] = (list(ra[key]) + list(rb[key]))[:_GX_PARTIAL]
            if "partial_unexpected_counts" in ra and "partial_unexpected_counts" in rb:
                counts: dict = {}
                for c in list(ra["partial_unexpected_counts"]) + list(rb["partial_unexpected_counts"]):
                    v = c.get("value")
                    key = json.dumps(v, sort_keys=True, default=str)
                    counts[key] = (v, counts.get(key, (v, 0))[1] + int(c.get("count", 0)))
                ra["partial_unexpected_counts"] = [{"value": v, "count": n} for v, n in sorted(
                    counts.values(), key=lambda x: (-x[1], json.dumps(x[0], sort_keys=True, default=str)))][:_GX_PARTIAL]
            n, missing, bad = ra.get("element_count"), ra.get("missing_count"), ra.get("unexpected_count")
            if n is not None and bad is not None:
                ra["unexpected_percent_total"] = 100.0 * bad / n if n else None
                if missing is not None:
                    ra["missing_percent"] = 100.0 * missing / n if n else None
                    present = n - missing
                    for key in ("unexpected_percent", "unexpected_percent_nonmissing"):
                        if key in ra:
                            ra[key] = 100.0 * bad / present if present else None
            if "rasd_rows" in ra and "rasd_rows" in rb:
                for key in ("validated", "unexpected", "gx_batch_rows"):
                    ra["rasd_rows"][key] = int(ra["rasd_rows"][key]) + int(rb["rasd_rows"][key])
        _restate(merged)
        merged.setdefault("meta", {}).setdefault("rasd_batches", []).extend((res.get("meta") or {}).get("rasd_batches", []))


def _restate(merged: dict) -> None:
    """A merged suite result's statistics and success, recomputed from its expectation results."""
    results = merged["results"]
    n_ok = sum(bool(r.get("success")) for r in results)
    merged.setdefault("statistics", {}).update(
        evaluated_expectations=len(results), successful_expectations=n_ok, unsuccessful_expectations=len(results) - n_ok,
        success_percent=100.0 * n_ok / len(results) if results else None)
    merged["success"] = n_ok == len(results)


def _merge_failures(failures: list[dict], more: list[dict], offsets: dict) -> list[dict]:
    """``failures`` with a later chunk's: counts summed, rows (shifted by the chunk's ``offsets``) appended, examples
    the first ``MAX_EXAMPLES`` (chunks come in table order, so these are the table's first unexpected rows)."""
    out = {(f["suite"], f["expectation"]): f for f in failures}
    for f in more:
        rows = [r + offsets.get(f["suite"], 0) for r in f["rows"]]
        a = out.get((f["suite"], f["expectation"]))
        if a is None:
            out[(f["suite"], f["expectation"])] = {**f, "rows": rows}
            continue
        a["unexpected_count"] += f["unexpected_count"]
        a["rows"] = a["rows"] + rows
        a["examples"] = (a["examples"] + f["examples"])[:MAX_EXAMPLES]
        a["error"] = a["error"] or f["error"]
    return list(out.values())


def _order_failures(failures: list[dict], results: dict) -> list[dict]:
    """Failures in ``_failures``' order: suites as in ``results``, then each suite's result order."""
    rank = {}
    for i, (name, res) in enumerate(results.items()):
        for j, r in enumerate(res.get("results", [])):
            rank[(name, ((r.get("expectation_config") or {}).get("meta") or {}).get("name"))] = (i, j)
    return sorted(failures, key=lambda f: rank.get((f["suite"], f["expectation"]), (len(rank), 0)))


def _held_incidents(quarantine: pa.Table | None) -> set[str]:
    """Incidents quarantined as critical: never aggregated, so left out of the recomputed weekly sums."""
    if quarantine is None or not quarantine.num_rows:
        return set()
    return {i for t, i, s in zip(*(quarantine[c].to_pylist() for c in ("table_name", "row_id", "severity")))
            if t == "incidents" and s == "critical"}


def _file_rows(paths: list) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def _read_all(paths: list, name: str) -> pa.Table:
    import pyarrow.parquet as pq

    from rasd.schema import TABLES, conform

    if not paths:
        return TABLES[name].arrow_schema.empty_table()
    return conform(name, pa.concat_tables([pq.read_table(p) for p in paths], promote_options="default"))


def _result_dirs(out_dir: Path) -> tuple[Path, Path]:
    val_dir, docs_dir = out_dir / "validation", out_dir / "data_docs"
    for d in (val_dir, docs_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    return val_dir, docs_dir


def _report(results, suites, unexpected, views, val_dir: Path, docs_dir: Path, quarantine, rows: dict, t0: float,
            frames: dict | None = None, failures: list[dict] | None = None) -> GateReport:
    """Write validation/*.json and summary.json; the report (``passed`` unless a critical table-level expectation
    failed or a critical one errored). ``failures``: already found (``_failures``), else found here."""
    for name, res in results.items():
        (val_dir / f"{name}.json").write_text(json.dumps(res, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    if failures is None:
        failures = _failures(results, suites, unexpected, views, frames)
    failures = [{k: v for k, v in f.items() if k != "rows"} for f in failures]
    passed = not GateReport(passed=True, failures=failures).blocking
    counts = {
        "rows": rows,
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

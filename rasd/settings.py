"""One settings object, built at entry points from ``[tool.rasd]`` in pyproject.toml and ``RASD_*`` env vars.

Precedence: explicit overrides (CLI flags) > environment (``RASD_<FIELD>``) > pyproject > defaults.
Every tunable states its unit and safe range next to it.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    # Paths
    input_dir: Path = Path("data/sample")
    warehouse: Path = Path("warehouse")
    corrections: Path | None = None  # CSV or YAML of analyst corrections; none by default

    # Ingest
    batch_size: int = 500  # articles per task batch; 50–5000 (memory grows with it)
    max_file_bytes: int = 5_000_000  # bytes; larger inputs are quarantined; 10_000–100_000_000
    near_duplicate_threshold: float = 0.85  # MinHash Jaccard on word 5-shingles; 0.7–0.95
    min_arabic_share: float = 0.5  # share of letters that are Arabic for language "ar"; 0.2–0.8

    # Extraction
    max_event_age_days: int = 400  # days before publication an event may lie; 30–3650
    # Undated articles anchored by corroboration (rasd/anchor.py, docs/resolution.md):
    anchor_min_score: float = 1.0  # matching dated reports (1 per event of the same type, 0.5 other type) a publication date needs; 0.5–3
    anchor_margin: float = 0.5  # score by which the best date must beat the runner-up; 0.25–2 (ties never anchor)

    # Resolution
    merge_distance_km: float = 5.0  # km between two places that can be the same incident; 0–15
    merge_date_slack_days: int = 1  # days apart two day-precise reports can be; 0–3
    conflict_tolerance: float = 0.2  # relative spread of figures above which reports "conflict"; 0–1
    summary_window_slack_days: int = 3  # days a week/month summary's period is widened on each side to find the daily incidents it covers; 0–7

    # Quality gate
    max_plausible_figure: int = 500  # people per event above which a figure needs review; 50–5000
    earliest_date: str = "2011-03-01"  # ISO date; nothing before the conflict began
    event_window_days: int = 400  # days before publication an event_date may be; 30–3650
    publication_slack_days: int = 1  # days after today (UTC) a published_at may lie (time zones); 0–2
    expectations_dir: Path | None = None  # folder of the GX suite JSON files; None = the repo's expectations/

    # Orchestration
    task_retries: int = 2  # retries per batch task; 0–5
    task_retry_delay_s: int = 2  # seconds; 0–60
    dask_address: str | None = None  # tcp://host:port of an existing Dask scheduler; None = in-process
    # worker processes for the per-batch steps (ingest, extract); 1 = all in the run's own process (as before);
    # 1–CPUs available (more only adds memory: ~110 MB per worker once its rules are loaded, plus its caches);
    # 0 = all available; default: all available (os.sched_getaffinity)
    workers: int = field(default_factory=lambda: available_cpus())

    extra: dict = field(default_factory=dict)

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def available_cpus() -> int:
    """CPUs this process may run on, at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # honours taskset/cgroup cpusets, unlike os.cpu_count()
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _coerce(value, annotation: str):
    if value is None:
        return None
    if "Path" in annotation:
        return Path(value)
    if annotation.startswith("int"):
        return int(value)
    if annotation.startswith("float"):
        return float(value)
    return value


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        p = d / "pyproject.toml"
        if p.is_file():
            try:
                if "rasd" in tomllib.loads(p.read_text(encoding="utf-8")).get("tool", {}):
                    return p
            except tomllib.TOMLDecodeError:
                return None
    return None


def load_settings(pyproject: Path | None = None, env: dict | None = None, **overrides) -> Settings:
    """Build the settings object; call at entry points only."""
    env = os.environ if env is None else env
    values: dict = {}
    pp = pyproject or find_pyproject()
    base = pp.parent if pp else Path.cwd()
    if pp:
        values.update(tomllib.loads(pp.read_text(encoding="utf-8")).get("tool", {}).get("rasd", {}))
    known = {f.name: f for f in fields(Settings) if f.name != "extra"}
    for name in known:
        key = f"RASD_{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    kwargs = {}
    for name, value in values.items():
        if name in known:
            kwargs[name] = _coerce(value, str(known[name].type))
    for name in ("input_dir", "warehouse", "corrections", "expectations_dir"):
        p = kwargs.get(name)
        if isinstance(p, Path) and not p.is_absolute() and name not in overrides:
            kwargs[name] = base / p
    return Settings(**kwargs)

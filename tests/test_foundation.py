"""Foundation: contract, settings, normalisation, layering, publishing, lock and read-only SQL."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from rasd import schema as S
from rasd.publish import build_database, cleanup, swap_in
from rasd.settings import load_settings
from rasd.text.normalize import clean_chars, fold, normalize
from rasd.warehouse import Layout, WarehouseLocked, read_only_connection, read_table, writer_lock

ROOT = Path(__file__).resolve().parent.parent


def test_warehouse_readme_is_generated_from_schema():
    assert (ROOT / "warehouse" / "README.md").read_text(encoding="utf-8") == S.markdown() + "\n"


def test_contract_has_the_minimum_columns():
    need = {
        "articles": "article_id doc_key source_path url outlet title published_at published_at_basis language n_chars duplicate_of status quarantine_reason ingested_at",
        "events": "event_id article_id doc_key event_date date_precision event_type sub_event_type actor1 actor2 location location_ar place_id admin1 admin2 admin3 lat lon geo_precision fatalities fatalities_qualifier wounded wounded_qualifier detained evidence evidence_start evidence_end confidence",
        "incidents": "incident_id event_date date_precision event_type sub_event_type actor1 actor2 location place_id admin1 admin2 lat lon fatalities_low fatalities_best fatalities_high wounded_best detained_best n_reports n_outlets conflicting",
        "incident_reports": "incident_id event_id article_id",
        "weekly_incidents": "week_start iso_year iso_week admin1 admin2 event_type incidents fatalities_low fatalities_best fatalities_high wounded n_reports",
    }
    for table, cols in need.items():
        assert set(cols.split()) <= set(S.TABLES[table].column_names), table
    for t in S.TABLES.values():  # BI-friendly: no nested types
        assert not any(pa.types.is_nested(c.type) for c in t.columns)


def test_conform_casts_and_fills_missing_columns():
    t = S.conform("incidents", pa.table({"incident_id": ["a"], "event_type": ["Battles"], "sub_event_type": ["Armed clash"],
                                          "date_precision": ["day"], "n_reports": [1], "n_outlets": [1], "conflicting": [False]}))
    assert t.schema == S.TABLES["incidents"].arrow_schema
    assert t["fatalities_best"].to_pylist() == [None]


def test_settings_precedence(tmp_path):
    pp = tmp_path / "pyproject.toml"
    pp.write_text('[tool.rasd]\nwarehouse = "wh"\nbatch_size = 7\nmerge_distance_km = 3.5\n')
    s = load_settings(pp, env={})
    assert s.warehouse == tmp_path / "wh" and s.batch_size == 7 and s.merge_distance_km == 3.5
    s = load_settings(pp, env={"RASD_BATCH_SIZE": "9"})
    assert s.batch_size == 9
    s = load_settings(pp, env={"RASD_BATCH_SIZE": "9"}, batch_size=11)
    assert s.batch_size == 11


@pytest.mark.parametrize("raw,expected", [
    ("أنخل", "انخل"), ("إنخل", "انخل"), ("آذار", "اذار"), ("مقتلُ", "مقتل"), ("مـقـتـل", "مقتل"),
    ("١٤ تشرين", "14 تشرين"), ("۱۲", "12"), ("درعا البلدة", "درعا البلده"), ("على", "علي"),
    ("“اللواء الثامن”", '"اللواء الثامن"'), ("\ufefb", "لا"),  # presentation-form lam-alef folds by NFKC
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_fold_is_length_preserving():
    text = clean_chars("قُتل ٤ عناصر من “الفرقة الرابعة” في إنخل، صباح الأحد – Reuters")
    assert len(fold(text)) == len(text)


def test_rasd_package_never_imports_prefect():
    code = (
        "import sys, pkgutil, importlib, rasd\n"
        "for m in pkgutil.walk_packages(rasd.__path__, 'rasd.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('prefect', 'great_expectations')]\n"
        "print(bad[:3]); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def _publish(layout: Layout, run_id: str, value: int, sql_dir: Path) -> Path:
    staging = layout.publications / f".staging-{run_id}"
    staging.mkdir(parents=True)
    build_database(staging, {"t": pa.table({"v": [value]})}, sql_dir)
    (staging / "t").mkdir()
    return swap_in(layout, staging, run_id)


def test_publish_swaps_atomically_and_keeps_readers_working(tmp_path):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "doubled.sql").write_text("-- kind: view\n-- test view\nselect v * 2 as v2 from t;\n")
    layout = Layout(tmp_path / "wh")
    _publish(layout, "20260101T000000Z-aaaaaa", 1, sql_dir)
    reader = read_only_connection(layout.root)
    assert reader.execute("select v2 from doubled").fetchone() == (2,)
    _publish(layout, "20260102T000000Z-bbbbbb", 5, sql_dir)
    # the old reader still sees its complete publication; a new one sees the new publication
    assert reader.execute("select v from t").fetchone() == (1,)
    assert read_only_connection(layout.root).execute("select v2 from doubled").fetchone() == (10,)
    assert (layout.root / "rasd.duckdb").resolve().parent.name == "20260102T000000Z-bbbbbb"
    # an orphaned staging folder and old publications are cleaned, never the current one
    (layout.publications / ".staging-dead").mkdir()
    for i in range(3, 7):
        _publish(layout, f"2026010{i}T000000Z-cccccc", i, sql_dir)
    cleanup(layout, keep=2)
    names = sorted(p.name for p in layout.publications.iterdir())
    assert names == ["20260105T000000Z-cccccc", "20260106T000000Z-cccccc"]


def test_read_only_sql_cannot_write_or_escape(tmp_path):
    layout = Layout(tmp_path / "wh")
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    _publish(layout, "r1", 1, sql_dir)
    con = read_only_connection(layout.root)
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    for q in ("create table z(a int)", "insert into t values (3)", f"copy t to '{tmp_path}/x.csv'",
              f"attach '{tmp_path}/other.duckdb'", f"select * from read_csv('{outside}')",
              "set enable_external_access = true"):
        with pytest.raises(Exception):
            con.execute(q)
    assert not (tmp_path / "x.csv").exists()


def test_writer_lock_refuses_a_second_writer(tmp_path):
    layout = Layout(tmp_path / "wh")
    with writer_lock(layout):
        err = []
        t = threading.Thread(target=lambda: _try_lock(layout, err))
        t.start()
        t.join()
        assert err and "locked by another rasd run" in err[0]
    with writer_lock(layout):  # released after the first holder
        pass


def _try_lock(layout, err):
    # flock locks are per open file description, so a second open in another thread conflicts like a second process
    try:
        with writer_lock(layout):
            pass
    except WarehouseLocked as e:
        err.append(str(e))


def test_read_table_missing_publication():
    assert read_table(None, "events") is None

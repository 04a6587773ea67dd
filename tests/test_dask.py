"""Scale-out: the same flow with its batch tasks on a Dask cluster publishes the same numbers as in-process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rasd.warehouse import PUBLISHED_TABLES, read_only_connection

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
RASD = Path(sys.executable).parent / "rasd"

QUERIES = {
    **{t: f"select count(*) from {t}" for t in PUBLISHED_TABLES if t != "articles"},
    "event_ids": "select list(event_id order by event_id) from events",
    "incident_ids": "select list(incident_id order by incident_id) from incidents",
    "weekly": "select list((week_start, admin1, event_type, incidents, fatalities_low, fatalities_best, fatalities_high) "
              "order by week_start, admin1, event_type) from weekly_incidents",
}


def _numbers(wh: Path) -> dict:
    con = read_only_connection(wh)
    try:
        return {k: con.execute(q).fetchone()[0] for k, q in QUERIES.items()}
    finally:
        con.close()


@pytest.mark.slow
def test_dask_cluster_publishes_the_same_numbers_as_in_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    env = {**os.environ, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "240"}
    local = subprocess.run([str(RASD), "run", "--input", str(SAMPLE), "--warehouse", str(tmp_path / "local"), "--no-prefect"],
                           capture_output=True, text=True, env=env, timeout=900)
    assert local.returncode == 0, local.stderr[-2000:]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert len(cluster.workers) == 2
        r = subprocess.run([str(RASD), "run", "--input", str(SAMPLE), "--warehouse", str(tmp_path / "dask"),
                            "--dask-address", cluster.scheduler_address],
                           capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "Connecting to an existing Dask cluster" in r.stdout + r.stderr
    assert _numbers(tmp_path / "dask") == _numbers(tmp_path / "local")

"""Start-up and exit of `rasd run` through Prefect: the temporary server the run starts itself, one flow run per
run, and an exit that keeps exit codes and output whole although it skips the interpreter's teardown."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
RASD = Path(sys.executable).parent / "rasd"


def _env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="240",
               PYTHONPATH=str(ROOT), **{k: str(v) for k, v in extra.items()})
    return env


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_run_without_a_server_starts_one_temporary_server_and_stops_it(tmp_path):
    wh = tmp_path / "wh"
    r = subprocess.run([str(RASD), "run", "--input", str(SAMPLE), "--warehouse", str(wh)], capture_output=True,
                       text=True, env=_env(tmp_path), timeout=900, cwd=ROOT)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "rasd run complete" in r.stdout and "weeks published     3" in r.stdout
    # one server, started by rasd itself (Prefect would announce its own with the same words)
    started = re.findall(r"Starting temporary server on http://127\.0\.0\.1:(\d+)", out)
    assert len(started) == 1, out[-3000:]
    assert not _listening(int(started[0]))  # stopped when the run ended
    # the batch tasks belong to the run's one flow run: no subflow without Dask
    flow_runs = set(re.findall(r"Flow run '([^']+)' - Finished in state Completed", out))
    assert len(flow_runs) == 1, out[-3000:]
    assert (wh / "rasd.duckdb").exists()


def test_a_server_named_by_the_prefect_profile_is_used_and_the_temporary_one_stopped(tmp_path):
    home = tmp_path / "prefect"
    home.mkdir()
    (home / "profiles.toml").write_text('active = "remote"\n\n[profiles.remote]\n'
                                        'PREFECT_API_URL = "http://127.0.0.1:9/api"\n', encoding="utf-8")
    script = (
        "import json, os\n"
        "from flows import ephemeral\n"
        "s = ephemeral.launch()\n"
        "proc = s.proc\n"
        "adopted = s.adopt()\n"
        "from prefect.settings import get_current_settings\n"
        "print(json.dumps({'adopted': adopted, 'exit': proc.poll(), 'env': os.environ.get('PREFECT_API_URL'),\n"
        "                  'api': get_current_settings().api.url}))\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(tmp_path),
                       timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["adopted"] is False
    assert got["exit"] is not None  # the temporary server was stopped (and reaped)
    assert got["env"] is None and got["api"] == "http://127.0.0.1:9/api"


def test_no_temporary_server_when_the_environment_names_one(monkeypatch):
    from flows import ephemeral

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert ephemeral.launch() is None


def test_exit_codes_and_piped_output_survive_the_fast_exit(tmp_path):
    env = _env(tmp_path)
    r = subprocess.run([str(RASD), "run", "--input", str(tmp_path / "missing"), "--warehouse", str(tmp_path / "wh")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and r.stderr.strip().startswith("rasd: input folder not found")
    r = subprocess.run([str(RASD), "sql", "select 1", "--warehouse", str(tmp_path / "none")], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 1
    r = subprocess.run([str(RASD), "schema", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0
    tables = json.loads(r.stdout)  # the whole document reached the pipe before the process ended
    assert "weekly_incidents" in tables and "events" in tables

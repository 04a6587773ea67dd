"""Faults that really happen: SIGKILL mid-run, two runs at once, a failing write, flaky and broken tasks.

One base warehouse (4 of the 5 sample articles) is published once per module; every fault test works on a copy
of it and adds the 5th article, so "what an uninterrupted run publishes" is one reference run on another copy.
Runs that must be killed are `rasd run --no-prefect` subprocesses paused at a test-only hook of rasd.pipeline
(RASD_TEST_PAUSE_AT / RASD_TEST_PAUSE_FILE), so the kill lands at a precise step every time.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.pubcheck import (RASD, ROOT, code_version, current_target, env, fingerprint, parquet_counts, rasd_sql,
                              start_run, wait_paused)
from rasd import pipeline as P
from rasd.pipeline import run_local
from rasd.settings import load_settings
from rasd.warehouse import Layout, WarehouseLocked, read_only_connection, writer_lock

SAMPLE = ROOT / "data" / "sample"
slow = pytest.mark.slow  # tests on the shared published warehouses: whole pipeline runs (CI runs them too)

EXTRA = "قتل رجل برصاص مجهولين في مدينة الصنمين بريف درعا الشمالي، مساء السبت 15 تشرين الأول 2022.\n"


def _quiet(*a, **k):
    pass


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    files = sorted(SAMPLE.iterdir())
    base, full = root / "base", root / "full"
    base.mkdir()
    full.mkdir()
    for f in files[:-1]:
        shutil.copy2(f, base / f.name)
    for f in files:
        shutil.copy2(f, full / f.name)
    return base, full


@pytest.fixture(scope="module")
def base_wh(inputs, tmp_path_factory):
    """A warehouse whose current publication holds the first 4 sample articles (the 'previous publication')."""
    wh = tmp_path_factory.mktemp("base") / "wh"
    run_local(load_settings(), inputs[0], wh, log=_quiet)
    return wh


def _copy(wh: Path, dest: Path) -> Path:
    shutil.copytree(wh, dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def reference(inputs, base_wh, tmp_path_factory):
    """What one uninterrupted run adding the 5th article publishes."""
    wh = _copy(base_wh, tmp_path_factory.mktemp("ref") / "wh")
    v0 = code_version()
    run_local(load_settings(), inputs[1], wh, log=_quiet)
    return {**fingerprint(wh), "_code": (v0, code_version())}


def _publication_dirs(wh: Path) -> list[str]:
    return sorted(p.name for p in (wh / "publications").iterdir())


@pytest.fixture(scope="module")
def interrupted(inputs, base_wh, tmp_path_factory):
    """Kill a run during extraction, start a second run meanwhile, kill another run during its publishing swap,
    then re-run with readers polling; record every observation for the tests below."""
    procs: list[subprocess.Popen] = []
    try:
        return _interrupt(inputs, base_wh, tmp_path_factory.mktemp("kill"), procs)
    finally:
        for p in procs:  # never leave a paused run (holding the lock) behind a failed fixture
            if p.poll() is None:
                p.kill()
                p.wait(timeout=60)


def _interrupt(inputs, base_wh, tmp: Path, procs: list) -> dict:
    wh = _copy(base_wh, tmp / "wh")
    before, target = fingerprint(wh), current_target(wh)
    obs: dict = {"wh": wh, "before": before, "target": target}

    # 1. SIGKILL during extraction (a second run is attempted while the first holds the lock).
    flag = tmp / "pause-extract"
    proc = start_run(inputs[1], wh, "extract", flag)
    procs.append(proc)
    wait_paused(proc, flag)
    obs["while_extract"] = (current_target(wh), fingerprint(wh), parquet_counts(wh), rasd_sql(wh, "select count(*) from incidents"))
    second = subprocess.run([str(RASD), "run", "--no-prefect", "--input", str(inputs[1]), "--warehouse", str(wh)],
                            capture_output=True, text=True, env=env(), cwd=ROOT, timeout=300)
    obs["second_run"] = second
    try:
        with writer_lock(Layout(wh)):
            obs["in_process_lock"] = "acquired"
    except WarehouseLocked as e:
        obs["in_process_lock"] = str(e)
    obs["paused_pid"] = proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    obs["killed_extract_rc"] = proc.returncode
    obs["after_extract"] = (current_target(wh), fingerprint(wh), parquet_counts(wh))

    # 2. SIGKILL while publishing: the staging folder is already moved into publications/, the pointer not swapped.
    flag = tmp / "pause-swap"
    proc = start_run(inputs[1], wh, "swap", flag)
    procs.append(proc)
    wait_paused(proc, flag)
    obs["dirs_while_swap"] = _publication_dirs(wh)
    obs["while_swap"] = (current_target(wh), fingerprint(wh), parquet_counts(wh), rasd_sql(wh, "select count(*) from incidents"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    obs["killed_swap_rc"] = proc.returncode
    obs["after_swap"] = (current_target(wh), fingerprint(wh), parquet_counts(wh))
    obs["dirs_after_swap_kill"] = _publication_dirs(wh)

    # 3. Re-run to completion while readers keep querying (rasd.duckdb read-only and the Parquet paths).
    reads: list = []
    errors: list = []
    stop = threading.Event()

    def reader(once: bool = False):
        while once or not stop.is_set():
            once = False
            try:
                con = read_only_connection(wh)
                n_db = con.execute("select count(*) from articles").fetchone()[0]
                con.close()
                reads.append((n_db, parquet_counts(wh)["articles"]))
            except Exception as e:  # noqa: BLE001 - any reader failure is a finding
                errors.append(repr(e))
            if not stop.is_set():
                time.sleep(0.02)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    v0 = code_version()
    rerun = subprocess.run([str(RASD), "run", "--no-prefect", "--input", str(inputs[1]), "--warehouse", str(wh)],
                           capture_output=True, text=True, env=env(), cwd=ROOT, timeout=600)
    stop.set()
    t.join(timeout=30)
    reader(once=True)  # a read that starts after the run ended (the thread's last one may straddle the swap)
    obs.update(rerun=rerun, reads=reads, reader_errors=errors, after={**fingerprint(wh), "_code": (v0, code_version())})
    obs["dirs_after"] = _publication_dirs(wh)
    obs["root_after"] = sorted(p.name for p in wh.iterdir())
    obs["sql_after"] = rasd_sql(wh, "select count(*) from articles")
    return obs


def _same_as_before(obs: dict, key: str) -> None:
    target, fp, pq_counts = obs[key][:3]
    assert target == obs["target"], key
    assert fp == obs["before"], key
    assert pq_counts == {t: fp[t][0] for t in pq_counts}, key


@slow
def test_kill_during_extraction_leaves_previous_publication_intact(interrupted):
    obs = interrupted
    _same_as_before(obs, "while_extract")
    assert obs["while_extract"][3].returncode == 0, obs["while_extract"][3].stderr
    assert obs["killed_extract_rc"] == -signal.SIGKILL
    _same_as_before(obs, "after_extract")


@slow
def test_second_concurrent_run_refuses_with_a_clear_message(interrupted):
    r = interrupted["second_run"]
    assert r.returncode != 0
    msg = r.stderr.strip()
    assert "locked by another rasd run" in msg and len(msg.splitlines()) == 1, msg
    assert f'"pid": {interrupted["paused_pid"]}' in msg  # names the holder
    # a refused run leaves the holder's details for the next one to read
    assert f'"pid": {interrupted["paused_pid"]}' in interrupted["in_process_lock"]


@slow
def test_kill_during_publishing_swap_leaves_previous_publication_intact(interrupted):
    obs = interrupted
    # the complete new folder was already in publications/ (the kill landed between the two renames)
    assert len(obs["dirs_while_swap"]) == 2, obs["dirs_while_swap"]
    _same_as_before(obs, "while_swap")
    assert obs["while_swap"][3].returncode == 0
    assert obs["killed_swap_rc"] == -signal.SIGKILL
    _same_as_before(obs, "after_swap")


@slow
def test_rerun_after_kills_publishes_exactly_the_uninterrupted_result(interrupted, reference):
    obs = interrupted
    assert obs["rerun"].returncode == 0, obs["rerun"].stderr[-3000:]
    codes = {*obs["after"]["_code"], *reference["_code"]}
    if len(codes) > 1:
        pytest.skip("rasd's code changed while these runs were made (parallel development); cannot compare")
    assert obs["after"] == reference
    assert all(v == 0 for v in obs["after"]["duplicate_ids"].values())
    assert obs["after"]["articles"][0] == 5


@slow
def test_no_orphaned_staging_or_unpublished_folders(interrupted):
    obs = interrupted
    # previous + new publication only: the killed runs' staging and never-swapped folder are gone
    assert len(obs["dirs_after"]) == 2 and obs["target"].split("/")[-1] in obs["dirs_after"], obs["dirs_after"]
    assert not [n for n in obs["dirs_after"] if n.startswith(".")]
    assert not [n for n in obs["root_after"] if n.startswith(".current-")]
    assert obs["sql_after"].returncode == 0 and obs["sql_after"].stdout.splitlines()[1] == "5"


@slow
def test_readers_keep_working_while_a_run_publishes(interrupted):
    obs = interrupted
    assert not obs["reader_errors"], obs["reader_errors"][:3]
    assert len(obs["reads"]) > 10
    # every read saw a whole publication: the old one (4 articles) or the new one (5), never a mix
    assert {n for r in obs["reads"] for n in r} <= {4, 5}
    assert obs["reads"][-1] == (5, 5)


# ---------------------------------------------------------------- a write failure while publishing


def _prepared_staging(ctx: P.RunContext, source_pub: Path) -> Path:
    staging = ctx.staging
    shutil.copytree(source_pub, staging, symlinks=True)
    return staging


@slow
@pytest.mark.parametrize("fail_at", ["move", "pointer"])
def test_write_failure_while_publishing_exits_nonzero_and_keeps_previous(base_wh, tmp_path, monkeypatch, fail_at):
    """The CLI path (lock, start_run, publish) with the disk failing at each of the two renames of swap_in."""
    from typer.testing import CliRunner

    from rasd import cli, publish

    wh = _copy(base_wh, tmp_path / "wh")
    before, target = fingerprint(wh), current_target(wh)
    real_replace = os.replace

    def failing_replace(src, dst):
        src = Path(src)
        if (fail_at == "move" and src.name.startswith(".staging-")) or (fail_at == "pointer" and src.name.startswith(".current-")):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    def steps(ctx, log=print):  # the real publish step on a complete staged publication
        staging = _prepared_staging(ctx, Layout(wh).current_publication())
        P.publish(ctx, staging, {})
        raise AssertionError("publish should have failed")

    monkeypatch.setattr(publish.os, "replace", failing_replace)
    monkeypatch.setattr(P, "run_steps", steps)
    result = CliRunner().invoke(cli.app, ["run", "--no-prefect", "--input", str(SAMPLE), "--warehouse", str(wh)])
    assert result.exit_code != 0
    out = (result.stderr if hasattr(result, "stderr") else result.output).strip()
    assert "publishing failed" in out and "No space left on device" in out and len(out.splitlines()) == 1, out
    assert current_target(wh) == target and fingerprint(wh) == before
    monkeypatch.undo()
    # the next run's start cleans what the failed publish left (staging, a moved folder or a temporary pointer)
    with writer_lock(Layout(wh)):
        P.start_run(load_settings(), SAMPLE, wh)
    assert _publication_dirs(wh) == [target.split("/")[-1]]
    assert not list(wh.glob(".current-*"))


# ---------------------------------------------------------------- flaky and broken tasks (Prefect)


@pytest.mark.slow
def test_prefect_retries_a_transient_failure_and_names_the_article_of_a_permanent_one(inputs, base_wh, tmp_path):
    """The only Prefect flow run of this module: a transient error in every extract batch's first attempt is
    retried; an article whose extraction always fails fails the run, named, and nothing is published."""
    wh = _copy(base_wh, tmp_path / "wh")
    before, target = fingerprint(wh), current_target(wh)
    inp = tmp_path / "in"
    shutil.copytree(inputs[1], inp)
    (inp / "broken-one.txt").write_text(EXTRA, encoding="utf-8")
    e = env(RASD_BATCH_SIZE=1, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=240, PREFECT_HOME=tmp_path / "prefect",
            PREFECT_LOGGING_LEVEL="WARNING")
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "helpers" / "faulty_flow.py"), str(inp), str(wh), "broken-one"],
                       capture_output=True, text=True, env=e, cwd=ROOT, timeout=900)
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(line[-1][len("RESULT "):])
    attempts = res["attempts"]
    # one batch per article to extract (the two new ones; all six if the extraction rules changed meanwhile)
    healthy = [v for v in attempts.values() if v[-1] == "ok"]
    broken = [v for v in attempts.values() if v[-1] != "ok"]
    # healthy batches: the first attempt hit the transient error, the retry succeeded
    assert healthy and all(v == ["transient OSError", "ok"] for v in healthy), attempts
    # the broken batch: retried twice (retries=2) and failed every time, naming the article
    assert len(broken) == 1 and broken[0][0] == "transient OSError" and len(broken[0]) == 3, attempts
    assert all("broken-one" in o for o in broken[0][1:]), attempts
    assert res.get("error_type") == "PipelineError", res
    assert "broken-one" in res["error"] and "simulated permanent extractor bug" in res["error"]
    assert current_target(wh) == target and fingerprint(wh) == before


# ---------------------------------------------------------------- fast unit-level checks (no pipeline run)


def _tiny_publication(wh: Path, run_id: str) -> Path:
    """A minimal complete publication swapped in with the real swap_in (as in test_foundation)."""
    import pyarrow as pa

    from rasd.publish import build_database, swap_in

    layout = Layout(wh)
    staging = layout.publications / f".staging-{run_id}"
    staging.mkdir(parents=True)
    no_sql = wh.parent / "no-sql"
    no_sql.mkdir(exist_ok=True)
    build_database(staging, {"t": pa.table({"v": [1]})}, no_sql)
    return swap_in(layout, staging, run_id)


def test_a_refused_writer_keeps_the_holders_details(tmp_path):
    layout = Layout(tmp_path / "wh")
    with writer_lock(layout):
        msgs = []
        for _ in range(2):  # the second refusal must still name the holder
            with pytest.raises(WarehouseLocked) as ei:
                with writer_lock(layout):
                    pass
            msgs.append(str(ei.value))
        assert all(f'"pid": {os.getpid()}' in m for m in msgs), msgs


def test_an_io_error_while_building_the_publication_is_one_line_and_cleaned_next_time(tmp_path, monkeypatch):
    """A full disk while staging (before publish): `rasd run` exits non-zero with one line; the staging left
    behind is removed by the next run; the previous publication stays current."""
    from typer.testing import CliRunner

    from rasd import cli

    wh = tmp_path / "wh"
    prev = _tiny_publication(wh, "20200101T000000Z-aaaaaa")
    left = {}

    def steps(ctx, log=print):
        ctx.staging.mkdir(parents=True)
        (ctx.staging / "events").mkdir()
        left["staging"] = ctx.staging
        raise OSError(errno.ENOSPC, "No space left on device", str(ctx.staging / "events" / "part-0.parquet"))

    monkeypatch.setattr(P, "run_steps", steps)
    result = CliRunner().invoke(cli.app, ["run", "--no-prefect", "--input", str(SAMPLE), "--warehouse", str(wh)])
    assert result.exit_code != 0
    out = result.stderr.strip() if hasattr(result, "stderr") else result.output.strip()
    assert out.startswith("rasd: I/O error") and "No space left on device" in out and len(out.splitlines()) == 1, out
    assert Layout(wh).current_publication() == prev and left["staging"].exists()
    monkeypatch.undo()
    with writer_lock(Layout(wh)):
        P.start_run(load_settings(), SAMPLE, wh)
    assert not left["staging"].exists() and Layout(wh).current_publication() == prev


def test_an_io_error_after_the_pointer_swap_does_not_claim_the_old_publication(tmp_path, monkeypatch):
    from rasd import publish

    wh = tmp_path / "wh"
    _tiny_publication(wh, "20200101T000000Z-aaaaaa")
    with writer_lock(Layout(wh)):
        ctx = P.start_run(load_settings(), SAMPLE, wh)
        ctx.staging.mkdir(parents=True)

        def broken_links(layout):
            raise OSError(errno.EROFS, "Read-only file system", str(layout.root / "events"))

        monkeypatch.setattr(publish, "ensure_stable_links", broken_links)
        with pytest.raises(P.PipelineError) as ei:
            P.publish(ctx, ctx.staging, {})
    assert f"published run {ctx.run_id}" in str(ei.value)
    assert Layout(wh).current_publication().name == ctx.run_id


def test_the_pause_hook_is_inert_unless_both_variables_are_set(tmp_path, monkeypatch):
    flag = tmp_path / "flag"
    monkeypatch.setenv("RASD_TEST_PAUSE_AT", "extract")
    monkeypatch.delenv("RASD_TEST_PAUSE_FILE", raising=False)
    P.pause_for_tests("extract")  # returns at once
    monkeypatch.setenv("RASD_TEST_PAUSE_FILE", str(flag))
    P.pause_for_tests("publish")  # another point: returns at once
    assert not flag.exists()


def test_cleanup_removes_what_killed_runs_leave(tmp_path):
    """Half-copied raw objects, temporary pointers, staging folders and never-swapped publications go; the current
    publication and complete raw objects stay."""
    from rasd.publish import cleanup

    wh = tmp_path / "wh"
    layout = Layout(wh)
    cur = _tiny_publication(wh, "20200101T000000Z-aaaaaa")
    (layout.raw / "ab").mkdir(parents=True)
    keep = layout.raw / "ab" / ("ab" + "0" * 62)
    keep.write_bytes(b"complete")
    junk = [layout.raw / "ab" / ".tmp-1x2y", layout.raw / ".tmp-big"]
    for j in junk:
        j.write_bytes(b"half")
    (layout.publications / ".staging-20200102T000000Z-bbbbbb").mkdir()
    (layout.publications / "20200103T000000Z-cccccc").mkdir()  # moved into place, pointer never swapped
    os.symlink("publications/20200103T000000Z-cccccc", wh / ".current-20200103T000000Z-cccccc")
    cleanup(layout)
    assert sorted(p.name for p in layout.publications.iterdir()) == [cur.name]
    assert layout.current_publication() == cur and keep.exists()
    assert not any(j.exists() for j in junk) and not list(wh.glob(".current-*"))

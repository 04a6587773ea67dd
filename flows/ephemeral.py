"""Prefect's temporary API server, started by `rasd run` as its first action instead of by the first flow call.

With no ``PREFECT_API_URL``, Prefect 3 starts a temporary server (uvicorn serving ``prefect.server`` in a
subprocess, ~10 s: mostly that process importing Prefect's server) when a flow first needs the API, after the
run's own process has imported Prefect, rasd and, to launch it, Prefect's whole server package (~6 s of CPU).
`rasd run` launches the same command with the same environment before importing anything of Prefect, imports
what the run needs while the server starts, then points Prefect at it (``PREFECT_API_URL``, as a running server)
and stops it when the run ends, as Prefect does with its own. This module never imports Prefect before ``adopt``.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Prefect's own SubprocessASGIServer sets these for its temporary server (no UI; marks it as ephemeral)
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
PORT_IN_USE = 3  # uvicorn's exit code when its port was taken between choosing and binding it
POLL_S = 0.05  # seconds between health checks while the server starts; 0.02–0.5
STOP_WAIT_S = 5  # seconds the server gets to exit on SIGTERM before SIGKILL (as Prefect's); 1–30


def _prefect_dir() -> Path:
    spec = importlib.util.find_spec("prefect")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("prefect is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TemporaryServer:
    """One temporary Prefect server for this process: ``launch`` → (imports) → ``adopt`` → ``wait_ready`` → ``stop``."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.launched_at: float | None = None
        self.ready_in: float | None = None  # seconds from launch until the API answered

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def launch(self) -> None:
        self.port = _free_port()
        self.launched_at = self.launched_at or time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(_prefect_dir().parent), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env={**os.environ, **SERVER_ENV})
        atexit.register(self.stop)

    def adopt(self) -> bool:
        """Point this process's Prefect at the server; False (and the server stopped) when Prefect's settings name a
        server already (a profile or prefect.toml setting PREFECT_API_URL): the run then uses that one, as before."""
        from prefect.context import refresh_global_settings_context
        from prefect.settings import get_current_settings

        if get_current_settings().api.url:
            self.stop()
            return False
        os.environ["PREFECT_API_URL"] = self.api_url
        refresh_global_settings_context()  # Prefect's settings were read at its import, before the variable was set
        return True

    def wait_ready(self, timeout_s: float) -> None:
        """Wait until the API answers /health; relaunch on another port if uvicorn could not bind its port."""
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 never goes via a proxy
        deadline = self.launched_at + timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code == PORT_IN_USE:
                self.launch()
                os.environ["PREFECT_API_URL"] = self.api_url
                from prefect.context import refresh_global_settings_context

                refresh_global_settings_context()
                continue
            if code is not None:
                raise RuntimeError(f"Prefect's temporary server exited with code {code} while starting")
            try:
                with no_proxy.open(self.api_url + "/health", timeout=2) as r:
                    if r.status == 200:
                        self.ready_in = time.monotonic() - self.launched_at
                        return
            except OSError:
                pass
            time.sleep(POLL_S)
        raise RuntimeError(f"Prefect's temporary server did not answer within {timeout_s:.0f} s "
                           "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def launch() -> TemporaryServer | None:
    """Start the temporary server now, unless the environment names a Prefect server (``PREFECT_API_URL``)."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    server = TemporaryServer()
    server.launch()
    return server

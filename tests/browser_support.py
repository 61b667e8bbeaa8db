"""Helpers for the browser tests: a throw-away JupyterLab server and Chromium through Playwright.

Nothing here touches the repository: the server serves a temporary folder, with its own
Jupyter config/data/runtime folders, its own JupyterLab settings and workspaces, so no
user setting and no saved layout changes what the tests see.  The extensions installed in
the virtualenv (nbgrader's Validate, ipywidgets' manager) stay enabled: they are configured
in ``sys.prefix`` (``.venv/etc/jupyter``, ``.venv/share/jupyter``), which Jupyter always reads.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# JupyterLab user settings for a quiet, deterministic page: every cell stays in the DOM
# (no windowing), no news or update checks, no "autosave" racing the test's own save.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Fatal(Exception):
    """Raised by a polled condition that can never become true (e.g. the server exited)."""


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.25,
             what: "str | Callable[[], str]" = "condition") -> object:
    """Poll ``condition`` until it returns something truthy; raise TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Fatal:
            raise
        except Exception as error:  # noqa: BLE001 - keep polling, report the last error
            last_error = error
        time.sleep(interval)
    if callable(what):  # described when it fails, with the state at that moment
        try:
            what = what()
        except Exception as error:  # noqa: BLE001
            what = f"<{error!r}>"
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


class JupyterLab:
    """``python -m jupyter lab`` serving ``root_dir`` on a free loopback port, with a random token."""

    def __init__(self, root_dir: Path, home: Path, log_path: Path):
        self.root_dir = Path(root_dir)
        self.home = Path(home)
        self.log_path = Path(log_path)
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.process: Optional[subprocess.Popen] = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, folder in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                             ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
                             ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"), ("IPYTHONDIR", "ipython")]:
            path = self.home / folder
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTER_CONFIG_PATH", None)
        env["PYTHONUNBUFFERED"] = "1"
        # The kernel is the virtualenv's python3 (ipykernel's own spec, found next to sys.executable).
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        for relative, content in LAB_SETTINGS.items():
            path = self.home / "lab-settings" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content), encoding="utf-8")
        return env

    def start(self, timeout: float = 120) -> "JupyterLab":
        command = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            f"--port={self.port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.open_browser=False",
            f"--LabApp.workspaces_dir={self.home / 'lab-workspaces'}",
            f"--LabApp.user_settings_dir={self.home / 'lab-settings'}",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # CI containers run as root
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")
        # A session of its own: at the end the whole group (server and kernels) is stopped by its id.
        self.process = subprocess.Popen(command, cwd=self.root_dir, env=self.environment(),
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(self._ready, timeout, interval=0.5, what=f"JupyterLab on port {self.port} (log: {self.log_path})")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise Fatal(f"JupyterLab exited with {self.process.returncode}; log:\n{self.log_tail()}")
        try:
            return self.api("GET", "/api/status") is not None
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def api(self, method: str, path: str, body: Optional[dict] = None, timeout: float = 10):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
            return json.loads(text) if text else {}

    def lab_url(self, notebook: str, workspace: str) -> str:
        """The notebook in a workspace of its own (``?reset``: no layout is restored)."""
        return f"{self.base_url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={self.token}"

    def shutdown_kernels(self) -> None:
        """Shut down every session (and its kernel), then any kernel left."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except Exception:  # noqa: BLE001 - best effort; the process group is stopped anyway
            pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.shutdown_kernels()
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Kernels left in the group (if the server died first) go too.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._log:
            self._log.close()
        self.process = None

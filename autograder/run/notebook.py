"""Execute one submission's notebook in a fresh, limited kernel (nbclient underneath).

:func:`execute_notebook` never raises for anything the learner's code does: a cell timeout,
the whole-notebook deadline, a dead kernel (``os._exit``, a segfault, the memory cap) all come
back as a status and a one-sentence reason, with the cells that did run kept.

Kernels come from a :class:`Zygote` (a fork server that has already imported PyTorch) when one
is given, otherwise from ``python -m autograder.run.kernel``.  Either way each submission gets a
new process, in a cgroup of its own where the machine allows it; when the submission ends,
every process in that group is killed.
"""
from __future__ import annotations

import asyncio
import atexit
import dataclasses
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from autograder.run.limits import SubmissionCgroup, support as cgroup_support
from autograder.run.sandbox import stage_folder


@dataclasses.dataclass
class Limits:
    """What one submission may use."""

    cell_timeout: float = 60.0  # seconds per cell
    notebook_timeout: float = 300.0  # seconds for the whole notebook
    memory_mb: int = 3072  # memory cap of the kernel and everything it starts
    threads: int = 1  # CPU threads for torch / BLAS in the kernel
    max_processes: int = 64  # processes and threads of one submission (cgroup pids.max)
    max_output_chars: int = 20_000  # per output kept in the executed notebook

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Execution:
    notebook: nbformat.NotebookNode
    status: str  # "ok", "timeout", "memory", "crashed"
    reason: Optional[str]
    start_seconds: float  # kernel start
    run_seconds: float  # executing cells
    killed_processes: int = 0  # processes still alive at the end, ended by the grader
    timed_out_cell: Optional[int] = None  # the index of the cell that ran past the cell time limit


# --------------------------------------------------------------------------- the fork server


class Zygote:
    """A running ``python -m autograder.run.zygote``; :meth:`spawn` forks a kernel or an
    evidence step from it.  It is driven over a socket pair this process created."""

    def __init__(self, command_prefix: Optional[list[str]] = None, env: Optional[dict] = None,
                 start_timeout: float = 300.0):
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = [*(command_prefix or []), sys.executable, "-m", "autograder.run.zygote",
                   "--control", str(theirs.fileno())]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env=env, start_new_session=True,
                                        pass_fds=[theirs.fileno()])
        theirs.close()
        self.lock = threading.Lock()
        self.control.settimeout(start_timeout)
        try:
            ready = json.loads(self.control.recv(1 << 16) or b"{}").get("ready")
        except (OSError, ValueError):
            ready = False
        if not ready:
            self.close()
            raise RuntimeError("the grading fork server did not start")
        self.control.settimeout(60)

    def spawn(self, request: dict, fds: tuple[int, ...] = ()) -> int:
        """Fork a child for ``request``; ``fds`` (pipe ends) are handed to it and to nothing else."""
        with self.lock:
            socket.send_fds(self.control, [json.dumps(request).encode()], list(fds))
            answer = json.loads(self.control.recv(1 << 16) or b"{}")
        if "pid" not in answer:
            raise RuntimeError(f"the fork server refused: {answer.get('error', 'no answer')}")
        return int(answer["pid"])

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.control.close()


class ForkedProcess:
    """Enough of ``subprocess.Popen`` for jupyter_client, for a kernel forked by the zygote
    (its parent is the zygote, which reaps it; this process can only watch and signal it)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is not None:
            return self.returncode
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
            if state in {"Z", "X"}:
                self.returncode = -9
        except (FileNotFoundError, ProcessLookupError, IndexError):
            self.returncode = -9
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """Launch the kernel by asking the zygote to fork one, instead of starting Python anew."""

    zygote: Optional[Zygote] = None
    request: dict = {}

    async def launch_kernel(self, cmd, **kwargs):
        request = dict(self.request)
        request["connection_file"] = self.parent.connection_file
        if request.get("uid") is not None:  # the sandboxed kernel's user must read it
            os.chown(request["connection_file"], request["uid"], request["uid"])
        request["cwd"] = str(kwargs.get("cwd") or os.getcwd())
        pid = self.zygote.spawn(request)
        self.process = ForkedProcess(pid)
        self.pid = pid
        self.pgid = pid  # the child calls setsid()
        self.cwd = request["cwd"]
        return self.connection_info


class GradingKernelManager(AsyncKernelManager):
    """A kernel manager for one submission: its kernel is forked by the zygote when there is
    one, or started as ``python -m autograder.run.kernel`` with the given limits."""

    def __init__(self, limits: Limits, workdir: Path, cgroup: Optional[SubmissionCgroup],
                 zygote: Optional[Zygote] = None, sandbox_uid: Optional[int] = None,
                 sockets: Optional[Path] = None, **kwargs):
        if sandbox_uid is not None:
            # No network in the sandbox: the kernel's sockets are files, in a folder of their own
            # that the grader seals before connecting (see _async_post_start_kernel).
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", str((sockets or workdir) / "kernel"))
            kwargs.setdefault("connection_file", str(workdir / "kernel.json"))
        super().__init__(kernel_name="python3", **kwargs)
        self._sockets = sockets if sandbox_uid is not None else None
        self._limits = limits
        self._workdir = workdir
        self._cgroup = cgroup
        self._env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYTHONHASHSEED": "0",
                     "BNLAB_GRADING": "1", "HOME": str(workdir), "TMPDIR": str(workdir)}
        if zygote is not None:
            provisioner = ForkProvisioner(kernel_id="bnlab", kernel_spec=self.kernel_spec, parent=self)
            provisioner.zygote = zygote
            provisioner.request = {"env": self._env, "limits": limits.as_dict(), "uid": sandbox_uid,
                                   "cgroups": cgroup.procs_files if cgroup else []}
            self.provisioner = provisioner

    async def _async_post_start_kernel(self, **kw) -> None:
        """Seal the kernel's sockets, then connect (jupyter_client connects its control socket here).

        ZeroMQ reconnects by path whenever a connection drops (the kernel died, a socket closed): in
        a folder learner code can write, a socket replaced by a symlink would make the grader (root)
        connect to any socket on the machine.  So the kernel binds its sockets in a folder of their
        own; once they are all there, and before anything connects, the folder becomes root's (0711)
        and each entry must be a socket: from then on no learner code can replace one."""
        if self._sockets is not None:
            paths = [Path(f"{self.ip}-{port}") for port in
                     (self.shell_port, self.iopub_port, self.stdin_port, self.hb_port, self.control_port)]
            deadline = time.monotonic() + 120
            while not all(os.path.lexists(path) for path in paths):
                if time.monotonic() > deadline or not await self.is_alive():
                    raise RuntimeError("Kernel died before it opened its sockets")
                await asyncio.sleep(0.05)
            os.chown(self._sockets, 0, 0, follow_symlinks=False)
            os.chmod(self._sockets, 0o711)
            if not all(stat.S_ISSOCK(os.lstat(path).st_mode) for path in paths):
                raise RuntimeError("Kernel died: its sockets were replaced")
        await super()._async_post_start_kernel(**kw)

    @property
    def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
        limits = self._limits
        argv = [sys.executable, "-m", "autograder.run.kernel", "--memory-mb", str(limits.memory_mb),
                "--threads", str(limits.threads), "--max-processes", str(limits.max_processes)]
        for procs in (self._cgroup.procs_files if self._cgroup else []):
            argv += ["--cgroup-procs", procs]
        argv += ["--", "-f", "{connection_file}", "--HistoryManager.enabled=False"]
        return KernelSpec(argv=argv, display_name="bnlab grading", language="python", env=self._env)


# --------------------------------------------------------------------------- running a notebook


def _kill_group(pid: Optional[int]) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def ran_out_of_memory(notebook) -> bool:
    """Did a cell fail because the memory cap was reached?"""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            if output.get("ename") == "MemoryError" or "can't allocate memory" in str(output.get("evalue", "")):
                return True
    return False


def _close_sockets(client: NotebookClient, km: AsyncKernelManager) -> None:
    """Close this submission's ZeroMQ sockets and context now: left to the garbage collector,
    a context's termination can block a worker thread for ever."""
    try:
        if client.kc is not None:
            client.kc.stop_channels()
    except Exception:
        pass
    try:
        km._close_control_socket()
    except Exception:
        pass
    try:
        if getattr(km, "_created_context", False) and not km.context.closed:
            km.context.destroy(linger=0)
    except Exception:
        pass


async def _run_cells(client: NotebookClient, running: list) -> None:
    """Every cell in order; ``running[0]`` is the index of the one that runs."""
    for index, cell in enumerate(client.nb.cells):
        running[0] = index
        await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)


NOTEBOOK_TIMEOUT = "The notebook did not finish within {:g} s; cells after that point were not run."
CRASHED = "The kernel died while running the notebook (os._exit, a crash, or too much memory)."


async def _execute(notebook, workdir: Path, limits: Limits, zygote: Optional[Zygote],
                   cgroup: Optional[SubmissionCgroup], sandbox_uid: Optional[int]) -> Execution:
    sockets = None
    if sandbox_uid is not None:  # beside the stage's folder, in the grader's own (root's) folder
        sockets = stage_folder(workdir.parent, f"{workdir.name}-sockets", sandbox_uid)
    km = GradingKernelManager(limits, workdir, cgroup, zygote=zygote, sandbox_uid=sandbox_uid, sockets=sockets)
    client = NotebookClient(notebook, km=km, timeout=limits.cell_timeout, allow_errors=True,
                            interrupt_on_timeout=False, record_timing=False, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}}, startup_timeout=120)
    status, reason = "ok", None
    started = time.perf_counter()
    start_seconds = run_seconds = 0.0
    pid = None
    running: list = [None]
    timed_out_cell = None
    try:
        async with client.async_setup_kernel(cwd=str(workdir), stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL):
            pid = km.provisioner.pid if km.provisioner else None
            start_seconds = time.perf_counter() - started
            run_started = time.perf_counter()
            try:
                await asyncio.wait_for(_run_cells(client, running), timeout=limits.notebook_timeout)
            except CellTimeoutError:  # first: it is a TimeoutError, which is asyncio's since Python 3.11
                timed_out_cell = running[0]
                status, reason = "timeout", (f"A cell ran longer than {limits.cell_timeout:g} s (an endless loop or "
                                             f"a very long computation); it was stopped there.")
            except asyncio.TimeoutError:
                status, reason = "timeout", NOTEBOOK_TIMEOUT.format(limits.notebook_timeout)
            except DeadKernelError:
                # wait_for cancels the running cell at the deadline, and nbclient can answer the
                # cancellation with DeadKernelError instead of letting TimeoutError through.
                if time.perf_counter() - run_started >= limits.notebook_timeout - 0.5:
                    status, reason = "timeout", NOTEBOOK_TIMEOUT.format(limits.notebook_timeout)
                else:
                    status, reason = "crashed", CRASHED
            run_seconds = time.perf_counter() - run_started
            if status != "ok":
                _kill_group(pid)  # don't wait for a polite shutdown of a stuck kernel
    except DeadKernelError:
        if status == "ok":  # a kernel stopped for a timeout is not a crash
            status, reason = "crashed", CRASHED
            run_seconds = time.perf_counter() - started - start_seconds
    except RuntimeError as error:
        if status == "ok" and ("Kernel died" in str(error) or "Kernel didn't respond" in str(error)):
            status, reason = "crashed", "The kernel could not start or died at once."
        elif status == "ok":
            raise
    finally:
        _kill_group(pid)
        atexit.unregister(client._cleanup_kernel)  # nbclient's own exit hook would fail on a dead kernel
        _close_sockets(client, km)
    killed = cgroup.kill_all() if cgroup else 0
    if (status in {"ok", "crashed"} and ran_out_of_memory(notebook)) or (
            status == "crashed" and cgroup is not None and cgroup.hit_memory_limit()):
        status, reason = "memory", f"The notebook needed more than the {limits.memory_mb} MiB memory cap."
    return Execution(notebook=notebook, status=status, reason=reason, start_seconds=start_seconds,
                     run_seconds=run_seconds, killed_processes=killed, timed_out_cell=timed_out_cell)


def execute_notebook(notebook: nbformat.NotebookNode, workdir: Path, limits: Limits,
                     zygote: Optional[Zygote] = None, sandbox_uid: Optional[int] = None) -> Execution:
    """Run every cell of ``notebook`` (in place) in a fresh kernel whose working folder is ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    cgroup = SubmissionCgroup(limits.memory_mb, limits.max_processes) if cgroup_support().available else None
    try:
        return asyncio.run(_execute(notebook, workdir, limits, zygote, cgroup, sandbox_uid))
    finally:
        if cgroup is not None:
            cgroup.remove()

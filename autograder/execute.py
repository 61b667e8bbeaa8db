"""Execute one submission's notebook in a fresh, limited kernel (nbclient underneath).

:func:`execute_notebook` never raises for anything the learner's code does: a cell timeout,
the whole-notebook deadline, a dead kernel (``os._exit``, a segfault, the memory cap) all come
back as a status and a one-sentence reason, with the cells that did run kept.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError


@dataclasses.dataclass
class Limits:
    """What one submission may use."""

    cell_timeout: float = 60.0  # seconds per cell
    notebook_timeout: float = 300.0  # seconds for the whole notebook
    memory_mb: int = 3072  # address-space cap of the kernel and its children
    threads: int = 1  # CPU threads for torch / BLAS in the kernel
    max_processes: int = 64
    max_output_chars: int = 20_000  # per output kept in the executed notebook


@dataclasses.dataclass
class Execution:
    notebook: nbformat.NotebookNode
    status: str  # "ok", "timeout", "memory", "crashed"
    reason: Optional[str]
    start_seconds: float  # kernel start
    run_seconds: float  # executing cells


class GradingKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel is ``python -m autograder.kernel`` with the given limits."""

    def __init__(self, limits: Limits, workdir: Path, **kwargs):
        super().__init__(kernel_name="python3", **kwargs)
        self._limits = limits
        self._workdir = workdir

    @property
    def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
        limits = self._limits
        argv = [sys.executable, "-m", "autograder.kernel", "--memory-mb", str(limits.memory_mb),
                "--threads", str(limits.threads), "--max-processes", str(limits.max_processes),
                "--", "-f", "{connection_file}", "--HistoryManager.enabled=False"]
        env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYTHONHASHSEED": "0",
               "BNLAB_GRADING": "1", "HOME": str(self._workdir)}
        return KernelSpec(argv=argv, display_name="bnlab grading", language="python", env=env)


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


async def _execute(notebook: nbformat.NotebookNode, workdir: Path, limits: Limits) -> Execution:
    km = GradingKernelManager(limits, workdir)
    client = NotebookClient(notebook, km=km, timeout=limits.cell_timeout, allow_errors=True,
                            interrupt_on_timeout=False, record_timing=False, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}}, startup_timeout=120)
    status, reason = "ok", None
    started = time.perf_counter()
    start_seconds = 0.0
    pid = None
    try:
        async with client.async_setup_kernel(cwd=str(workdir), stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL):
            pid = km.provisioner.pid if km.provisioner else None
            start_seconds = time.perf_counter() - started
            run_started = time.perf_counter()
            try:
                await asyncio.wait_for(_run_cells(client), timeout=limits.notebook_timeout)
            except asyncio.TimeoutError:
                status, reason = "timeout", (f"The notebook did not finish within {limits.notebook_timeout:g} s; "
                                             f"cells after that point were not run.")
            except CellTimeoutError:
                status, reason = "timeout", (f"A cell ran longer than {limits.cell_timeout:g} s (an endless loop or "
                                             f"a very long computation); it was stopped there.")
            except DeadKernelError:
                status, reason = "crashed", "The kernel died while running the notebook (os._exit, a crash, or too much memory)."
            run_seconds = time.perf_counter() - run_started
    except DeadKernelError:
        status, reason = "crashed", "The kernel died while running the notebook (os._exit, a crash, or too much memory)."
        run_seconds = time.perf_counter() - started - start_seconds
    except RuntimeError as error:
        if "Kernel died before replying to kernel_info" in str(error) or "Kernel didn't respond" in str(error):
            status, reason = "crashed", "The kernel could not start."
        else:
            raise
        run_seconds = 0.0
    finally:
        _kill_group(pid)  # anything the learner's code left running, in the kernel's process group
    if status in {"ok", "crashed"} and ran_out_of_memory(notebook):
        status, reason = "memory", f"The notebook used more than the {limits.memory_mb} MiB memory cap."
    return Execution(notebook=notebook, status=status, reason=reason, start_seconds=start_seconds,
                     run_seconds=run_seconds)


async def _run_cells(client: NotebookClient) -> None:
    for index, cell in enumerate(client.nb.cells):
        await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)


def execute_notebook(notebook: nbformat.NotebookNode, workdir: Path, limits: Limits) -> Execution:
    """Run every cell of ``notebook`` (in place) in a fresh kernel whose working folder is ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_execute(notebook, workdir, limits))

"""Per-submission control groups: a memory cap, a process cap, and "end every process".

Linux control groups count every process a submission starts, detached ones included
(``setsid``, double forks), so ending the group ends them all.  bnlab uses the cgroup v1
``memory`` and ``pids`` controllers or the unified v2 hierarchy, whichever this machine
mounts writable.  Where neither is available (an unprivileged container, macOS), grading
carries on with rlimits and process groups alone, and says so.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Optional

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(controller: str) -> Optional[Path]:
    """The folder of this process's cgroup for ``controller`` (v1), or the v2 folder."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = CGROUP_ROOT / controller / path.lstrip("/")
            return folder if folder.is_dir() else CGROUP_ROOT / controller
    return None


def _writable(folder: Optional[Path]) -> bool:
    if folder is None or not folder.is_dir():
        return False
    probe = folder / f"bnlab-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


class CgroupSupport:
    """Which cgroup controllers this machine lets the grader use (probed once)."""

    def __init__(self):
        self.memory = _own_cgroup("memory")
        self.pids = _own_cgroup("pids")
        self.memory = self.memory if _writable(self.memory) else None
        self.pids = self.pids if _writable(self.pids) else None

    @property
    def available(self) -> bool:
        return self.pids is not None

    def describe(self) -> str:
        parts = []
        parts.append("per-submission process cap and kill-all (cgroup pids)" if self.pids else
                     "no cgroup pids controller: processes are ended by process group only")
        parts.append("per-submission memory cap (cgroup memory)" if self.memory else
                     "no cgroup memory controller: memory is capped by RLIMIT_AS only")
        return "; ".join(parts)


_support: Optional[CgroupSupport] = None


def support() -> CgroupSupport:
    global _support
    if _support is None:
        _support = CgroupSupport()
        remove_stale_cgroups(_support)
    return _support


def remove_stale_cgroups(found: CgroupSupport) -> None:
    """End what a grader killed mid-run left behind (cgroups named after a dead grader's pid)."""
    for parent in (found.pids, found.memory):
        if parent is None:
            continue
        for folder in parent.glob("bnlab-*-*"):
            try:
                owner = int(folder.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
                group = SubmissionCgroup.__new__(SubmissionCgroup)
                group.folders, group.memory_folder = [folder], None
                group.remove()


class SubmissionCgroup:
    """One submission's cgroups; ``procs_files`` are what a new process writes its pid to."""

    def __init__(self, memory_mb: int, max_processes: int):
        self.name = f"bnlab-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.folders: list[Path] = []
        found = support()
        if found.pids is not None:
            folder = found.pids / self.name
            folder.mkdir()
            (folder / "pids.max").write_text(str(max_processes) if max_processes else "max")
            self.folders.append(folder)
        self.memory_folder = None
        if found.memory is not None and memory_mb:
            folder = found.memory / self.name
            folder.mkdir()
            limit = memory_mb * 1024 * 1024
            (folder / "memory.limit_in_bytes").write_text(str(limit))
            swap = folder / "memory.memsw.limit_in_bytes"
            if swap.exists():
                try:
                    swap.write_text(str(limit))
                except OSError:
                    pass
            self.folders.append(folder)
            self.memory_folder = folder

    @property
    def procs_files(self) -> list[str]:
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return found

    def hit_memory_limit(self) -> bool:
        if self.memory_folder is None:
            return False
        try:
            control = (self.memory_folder / "memory.oom_control").read_text()
            return any(line.startswith("oom_kill ") and int(line.split()[1]) > 0 for line in control.splitlines())
        except (OSError, ValueError):
            return False

    def kill_all(self, timeout: float = 5.0) -> int:
        """SIGKILL every process in the group until none is left; return how many were killed."""
        killed = 0
        deadline = time.monotonic() + timeout
        while True:
            remaining = self.pids()
            if not remaining or time.monotonic() > deadline:
                return killed
            for pid in remaining:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill_all()
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)

"""The evidence step, from the grader's side: a fresh sandboxed process, two pipes, a deadline.

:func:`run_evidence` forks the step (:mod:`autograder.run.evidence`) from the fork server, or
starts ``python -m autograder.run.kernel --evidence``, hands it the two pipe ends the grader
created, and speaks the step's protocol: the answers out, ``{"ran"}`` back, the cases out (made
only now, by ``make_cases``), ``{"evidence"}`` back.  Every read and write has the stage's
deadline (and after a progress line the cell's: the notebook's cell time limit for each answer
cell and for each exercise's calls into the learner's objects), every read a byte cap, so a
step that never answers, floods the pipe or dies costs its submission a reason, never a worker.  When it returns, every process of the step is
gone (its cgroup, its process group, and every process of the sandbox user).
"""
from __future__ import annotations

import dataclasses
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from autograder.run.limits import SubmissionCgroup, support as cgroup_support
from autograder.run.notebook import ForkedProcess, Limits, Zygote
from autograder.run.sandbox import end_user_processes

MAX_EVIDENCE_BYTES = 16 * 1024 * 1024


class StageProblem(Exception):
    """The step gave no usable answer; ``status`` and ``reason`` say why, in the learner's words."""

    def __init__(self, status: str, reason: str, seconds: float = 0.0):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.seconds = seconds  # how long the step ran before it was given up


@dataclasses.dataclass
class EvidenceRun:
    ran: dict  # answer grade_id -> None or "ExceptionName: message" (as the step reported it)
    cases: dict  # exercise -> {"visible": cases, "hidden": cases} (the grader's own)
    evidence: dict  # exercise -> {"visible": gathered, "hidden": gathered} (untrusted plain data)
    seconds: float = 0.0


class _Channel:
    """The grader's ends of the two pipes, with a deadline for everything."""

    def __init__(self, to_step: int, from_step: int, deadline: float):
        self.to_step, self.from_step, self.deadline = to_step, from_step, deadline
        self.cell_deadline = float("inf")  # the current answer cell's, or exercise's, time limit
        self.current: Optional[dict] = None  # the step's last progress line
        os.set_blocking(to_step, False)
        os.set_blocking(from_step, False)
        self.buffer = b""

    def _left(self) -> float:
        left = min(self.deadline, self.cell_deadline) - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def send(self, message: dict) -> None:
        view = memoryview((json.dumps(message) + "\n").encode())
        while view:
            _, writable, _ = select.select([], [self.to_step], [], self._left())
            if writable:
                try:
                    view = view[os.write(self.to_step, view[:1 << 16]):]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    raise EOFError

    def receive(self) -> object:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_EVIDENCE_BYTES:
                raise OverflowError
            readable, _, _ = select.select([self.from_step], [], [], self._left())
            if readable:
                try:
                    chunk = os.read(self.from_step, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise EOFError
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
            raise ValueError("not JSON")

    def answer(self, key: str, cell_timeout: float) -> dict:
        """The step's next message with ``key``, after its progress lines: each gives the cell it
        names ``cell_timeout`` seconds (learner code can write progress lines of its own; they
        buy it nothing past the deadline of the whole step)."""
        while True:
            message = self.receive()
            if isinstance(message, dict) and len(message) == 1 and isinstance(
                    message.get("running", message.get("checking")), str):
                self.current = message
                self.cell_deadline = time.monotonic() + cell_timeout
                continue
            self.current, self.cell_deadline = None, float("inf")
            if not isinstance(message, dict) or not isinstance(message.get(key), dict):
                raise ValueError("not the protocol")
            return message

    def close(self) -> None:
        for fd in (self.to_step, self.from_step):
            try:
                os.close(fd)
            except OSError:
                pass


def _start(workdir: Path, limits: Limits, zygote: Optional[Zygote], uid: Optional[int],
           cgroup: Optional[SubmissionCgroup], step_in: int, step_out: int):
    env = {"MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "BNLAB_GRADING": "1", "HOME": str(workdir),
           "TMPDIR": str(workdir)}
    if zygote is not None:
        pid = zygote.spawn({"cwd": str(workdir), "env": env, "limits": limits.as_dict(), "uid": uid,
                            "cgroups": cgroup.procs_files if cgroup else [], "evidence": True},
                           fds=(step_in, step_out))
        return ForkedProcess(pid)
    argv = [sys.executable, "-m", "autograder.run.kernel", "--memory-mb", str(limits.memory_mb),
            "--threads", str(limits.threads), "--max-processes", str(limits.max_processes)]
    for procs in (cgroup.procs_files if cgroup else []):
        argv += ["--cgroup-procs", procs]
    argv += ["--evidence", str(step_in), str(step_out)]
    return subprocess.Popen(argv, cwd=workdir, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            pass_fds=(step_in, step_out))


def run_evidence(request: dict, make_cases: Callable[[], dict], workdir: Path, limits: Limits,
                 zygote: Optional[Zygote] = None, uid: Optional[int] = None,
                 timeout: float = 120.0) -> EvidenceRun:
    """Run the evidence step for ``request`` (preludes, answers, exercises) in ``workdir``.

    Raises :class:`StageProblem` when the step gives no usable answer.
    """
    started = time.monotonic()
    step_in, to_step = os.pipe()
    from_step, step_out = os.pipe()
    cgroup = SubmissionCgroup(limits.memory_mb, limits.max_processes) if cgroup_support().available else None
    channel = _Channel(to_step, from_step, started + timeout)
    process = None
    try:
        try:
            process = _start(workdir, limits, zygote, uid, cgroup, step_in, step_out)
        finally:
            os.close(step_in)
            os.close(step_out)
        try:
            channel.send(request)
            ran = channel.answer("ran", limits.cell_timeout)
            cases = make_cases()
            channel.send({"cases": cases})
            answer = channel.answer("evidence", limits.cell_timeout)
        except TimeoutError:
            current, limit = channel.current or {}, limits.cell_timeout
            if time.monotonic() < channel.deadline and "running" in current:
                raise StageProblem("timeout", f"Your answer cell {current['running'][:80]} ran longer than {limit:g} s "
                                              f"when the checks ran it again (an endless loop or a very long "
                                              f"computation); nothing was counted.")
            if time.monotonic() < channel.deadline and "checking" in current:
                raise StageProblem("timeout", f"The checks of {current['checking'][:80]} called your code and it ran "
                                              f"longer than {limit:g} s (an endless loop or a very slow forward "
                                              f"pass); nothing was counted.")
            raise StageProblem("timeout", f"Checking your answers took longer than {timeout:g} s (an endless loop "
                                          f"or a very slow answer).")
        except OverflowError:
            raise StageProblem("crashed", "Your answer code flooded the checker with more than "
                                          f"{MAX_EVIDENCE_BYTES // 2**20} MiB of output; nothing was counted.")
        except (EOFError, ValueError):
            if cgroup is not None and cgroup.hit_memory_limit():
                raise StageProblem("memory", f"Checking your answers needed more than the {limits.memory_mb} MiB "
                                             f"memory cap.")
            raise StageProblem("crashed", "Your answer code stopped the checker before it could finish (it exited, "
                                          "crashed or wrote over the checker's answer).")
        ran_by_id = {str(key)[:200]: (value[:300] if isinstance(value, str) else None)
                     for key, value in ran["ran"].items()}
        return EvidenceRun(ran=ran_by_id, cases=cases, evidence=answer["evidence"],
                           seconds=time.monotonic() - started)
    except StageProblem as problem:
        problem.seconds = time.monotonic() - started
        raise
    finally:
        channel.close()
        if process is not None:
            try:
                os.killpg(process.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            if isinstance(process, subprocess.Popen):
                process.wait()
        if cgroup is not None:
            cgroup.kill_all()
            cgroup.remove()
        if uid is not None:
            end_user_processes(uid)

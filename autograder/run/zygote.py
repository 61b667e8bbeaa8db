"""A fork server for grading kernels: pay for ``import torch`` once, not once per submission.

The zygote is a process that imports what every submission needs (PyTorch, NumPy,
matplotlib, ipykernel, the lessons' ``utils``) and then waits.  For each submission the
grader asks it for a kernel; it forks a child that

1. starts a new session (its own process group), joins the submission's cgroup when there
   is one, applies the rlimits, drops to the sandbox user when asked;
2. changes to the submission's scratch folder, seeds ``random``, NumPy and PyTorch;
3. becomes an ordinary ipykernel on the connection file the grader wrote.

Nothing of one submission is in the zygote, so nothing is shared between submissions: each
child starts from the same freshly imported state.  The protocol runs over a SOCK_SEQPACKET
socket the grader created (``--control FD``): one JSON message ``{"connection_file", "cwd", "env",
"limits", "cgroups", "uid", "evidence": bool}`` in, with the two pipe ends of an evidence step
attached as descriptors (SCM_RIGHTS); ``{"pid": N}`` or ``{"error": "..."}`` out.  The
request and result of an evidence step never touch a file.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Optional

PRELOAD = ["numpy", "torch", "torch.nn", "torch.nn.functional", "matplotlib", "matplotlib.figure",
           "matplotlib_inline.backend_inline", "ipykernel.kernelapp", "ipykernel.ipkernel", "IPython",
           "ipywidgets", "nbformat", "sklearn.datasets", "utils.widgets", "utils.device", "utils.models",
           "utils.data", "utils.answers"]


def preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only costs time later
            pass


def die_with_parent(parent: Optional[int] = None) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (the grader killed mid-run).

    Linux clears the request when the process changes user (``setuid``): a kernel makes it as
    its sandbox user, after the switch.  ``parent``: the pid the parent had; if it is gone
    already (it died before the request was made), end now."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _reap(signum, frame) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the submission's kernel or evidence step.  Never returns."""
    parent = os.getppid()
    try:
        os.setsid()
        from autograder.run.kernel import apply_limits, join_cgroups, seed_and_configure

        join_cgroups(request.get("cgroups", []))
        devnull = os.open(os.devnull, os.O_RDWR)
        if request.get("evidence"):
            log = devnull
        else:  # the kernel's own messages: a new file in the stage's fresh folder (for whoever debugs
            try:  # a run by hand), unless the submission brought a file of that name: then nowhere
                log = os.open(os.path.join(request["cwd"], ".bnlab-process.log"),
                              os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except OSError:
                log = devnull
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        keep = sorted(fds)
        for low, high in zip([2] + keep, keep + [1024]):
            os.closerange(low + 1, high)
        limits = request.get("limits", {})
        threads = int(limits.get("threads", 1))
        max_processes = 0 if request.get("cgroups") else int(limits.get("max_processes", 0))
        apply_limits(int(limits.get("memory_mb", 0)), threads, max_processes, int(limits.get("max_file_mb", 256)))
        uid = request.get("uid")
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        die_with_parent(parent)  # the kernel ends with the fork server, which ends with the grader
        os.environ.update(request.get("env", {}))
        os.chdir(request["cwd"])
        sys.path.insert(0, request["cwd"])
        seed_and_configure(threads)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if request.get("evidence"):
            from autograder.run.evidence import main as evidence_main

            evidence_main(fds[0], fds[1])
        from ipykernel.kernelapp import IPKernelApp

        sys.argv = ["ipykernel", "-f", request["connection_file"], "--HistoryManager.enabled=False"]
        IPKernelApp.launch_instance(argv=sys.argv[1:])
    finally:
        os._exit(0)


def serve(control: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control.send(json.dumps({"ready": True}).encode())
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
        except InterruptedError:
            continue
        if not message:
            return  # the grader is gone
        try:
            request = json.loads(message)
        except json.JSONDecodeError as error:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": f"bad request: {error}"}).encode())
            continue
        pid = os.fork()
        if pid == 0:
            control.close()
            _child(request, fds)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"pid": pid}).encode())


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--control", type=int, required=True, help="the grader's control socket (a descriptor)")
    args = parser.parse_args()
    die_with_parent()
    from autograder.run.kernel import THREAD_VARIABLES

    for name in THREAD_VARIABLES:  # the libraries preloaded below size their thread pools now, once
        os.environ.setdefault(name, "1")
    preload()
    serve(socket.socket(fileno=args.control))


if __name__ == "__main__":
    main()

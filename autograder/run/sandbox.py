"""Isolation of learners' code: bubblewrap namespaces and one unprivileged user per worker.

The grader starts its fork server (:mod:`autograder.run.zygote`) inside a bubblewrap sandbox:

- no network (a new network namespace: even the machine's loopback listeners are out of reach;
  kernels talk to the grader over jupyter_client's ``ipc`` transport, files in the scratch folder);
- the whole file system read-only, with the course folder, ``/root``, ``/tmp``, ``OUT`` and the
  submissions hidden under empty tmpfs mounts; only the interpreter, the installed packages and
  the learner-facing ``utils``/``autograder`` are bound back (read-only);
- one writable folder, the scratch root; each submission gets its own folder in it, owned by
  the submission's user and closed to the others.

Each kernel and each evidence step drops from root to an unprivileged user id of its own
(one per worker slot), so a submission can neither signal the grader nor touch another
submission's files, and the kernel's per-user process limit applies.

Where bubblewrap, root or namespaces are missing, :func:`probe` says why and grading carries on
with the limits alone; the run says so in its output and in the report.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

FIRST_UID = 61000  # sandbox users: a block of 64 per grader run, from 61000
UID_BLOCK, UID_BLOCKS = 64, 1000
UID_LOCKS = Path("/run/bnlab-uids") if os.path.isdir("/run") else Path(tempfile.gettempdir()) / "bnlab-uids"


class UidBlock:
    """Sandbox user ids ``first .. first + count - 1``, held for this grader run alone.

    Runs that overlap on one machine (two instructors, a test suite, Dask workers side by side)
    must never share a user: one run's learner code could then signal another's, and each run
    kills every process of its users after each stage.  Each block of 64 ids has a lock file
    (root's folder, ``flock``); a run takes the first free blocks from a place that depends on
    its pid, and the kernel releases them when the run ends, however it ends.  A run that takes
    a block first ends every process its users still have: what learner code a killed run left
    running (a double-forked child, say) never shares a user with the next submissions."""

    def __init__(self, count: int):
        self.count = max(1, count)
        blocks = -(-self.count // UID_BLOCK)
        self._fds: list[int] = []
        start = os.getpid() % UID_BLOCKS
        try:
            UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
        except OSError:  # not root: there is no sandbox, the ids are not used
            self.first = FIRST_UID + start * UID_BLOCK
            return
        for offset in range(UID_BLOCKS):
            first_block = (start + offset) % UID_BLOCKS
            if first_block + blocks <= UID_BLOCKS and self._take(range(first_block, first_block + blocks)):
                self.first = FIRST_UID + first_block * UID_BLOCK
                for uid in range(self.first, self.first + self.count):
                    end_user_processes(uid)
                return
        raise RuntimeError(f"every block of sandbox user ids ({FIRST_UID} and up) is held by another grader run")

    def _take(self, blocks: range) -> bool:
        taken = []
        for block in blocks:
            fd = os.open(UID_LOCKS / f"{block}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                for other in taken:
                    os.close(other)
                return False
            taken.append(fd)
        self._fds = taken
        return True

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


@dataclasses.dataclass
class Isolation:
    available: bool
    description: str


def probe() -> Isolation:
    """Can this machine run the sandbox?"""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation(False, "bubblewrap (bwrap) is not installed: learners' code runs without isolation")
    if os.geteuid() != 0:
        return Isolation(False, "the grader is not running as root, so it cannot give each submission its own "
                                "user: learners' code runs without isolation")
    try:
        result = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-net", "--dev", "/dev", "--proc", "/proc",
                                 "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Isolation(False, f"bubblewrap could not start ({error}): learners' code runs without isolation")
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        return Isolation(False, f"bubblewrap cannot create namespaces here ({message}): learners' code runs "
                                f"without isolation")
    return Isolation(True, "bubblewrap sandbox: no network, read-only file system with the course, OUT and the "
                           "submissions hidden, a scratch folder per submission, one unprivileged user per worker")


def _needed_paths() -> list[Path]:
    """Folders the interpreter and the learner-facing packages live in."""
    import autograder
    import utils

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent,
             Path(autograder.__file__).resolve().parent, Path(utils.__file__).resolve().parent}
    return sorted(paths)


def bwrap_prefix(course_root: Path, hidden: list[Path], scratch_root: Path) -> list[str]:
    """The bubblewrap command line that wraps the fork server."""
    args = ["bwrap", "--die-with-parent", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    # Hide: everything in /tmp, /root, the course, the grader's inputs and outputs.  Parents are
    # mounted before their children (a tmpfs on /tmp would hide one on a course inside /tmp).
    covers = [Path("/tmp"), Path("/var/tmp"), Path("/root"), course_root.resolve(), Path.home()]
    covers += [path.resolve() for path in hidden if path.exists()]
    seen: list[Path] = []
    for cover in sorted(set(covers), key=lambda path: len(path.parts)):
        if not cover.is_dir() or cover == Path("/"):
            continue
        seen.append(cover)
        args += ["--tmpfs", str(cover)]
    # Bind back what the kernels need, read-only: the first folder below the *deepest* cover
    # (binding below a shallower one would bring back what a deeper cover hides).
    bound: set[Path] = set()
    for path in _needed_paths():
        parents = [cover for cover in seen if cover in path.parents]
        if not parents:
            continue
        cover = max(parents, key=lambda folder: len(folder.parts))
        top = cover / path.relative_to(cover).parts[0]
        if top not in bound:
            bound.add(top)
            args += ["--ro-bind", str(top), str(top)]
    args += ["--bind", str(scratch_root), str(scratch_root), "--chdir", str(scratch_root)]
    if Path("/sys/fs/cgroup").is_dir():  # the fork server (root) puts each child in its cgroup
        args += ["--bind", "/sys/fs/cgroup", "/sys/fs/cgroup"]
    return args


SCRATCH_PREFIX = "bnlab-"
SCRATCH_MB_PER_SLOT = 1024


def make_scratch_root(slots: int, isolated: bool) -> Path:
    """The run's scratch root: every submission's folders go below it.

    With the sandbox it is a tmpfs of its own (``SCRATCH_MB_PER_SLOT`` per worker slot), so that
    learner code writing file after file fills that, not the machine's disk: its writes end in
    ``No space left on device`` (and count against the submission's memory cgroup), while the
    grader's outputs, gradebook and the other runs stay writable.  Its name carries the grader's
    pid: a root left mounted by a grader that was killed is unmounted by the next run
    (:func:`remove_stale_scratch`).  A short path: the kernels' ipc sockets live in it, and a
    socket path has at most 107 bytes."""
    base = "/tmp" if os.path.isdir("/tmp") else None
    root = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))
    root.chmod(0o711)
    if isolated:
        remove_stale_scratch(root.parent)
        size = SCRATCH_MB_PER_SLOT * max(1, slots)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}m,mode=0711,nosuid,nodev", "tmpfs", str(root)],
                       stdin=subprocess.DEVNULL, capture_output=True, check=False)
    return root


def _scratch_mounts(parent: Path) -> list[Path]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "tmpfs":
            path = Path(fields[1].encode().decode("unicode_escape"))
            if path.parent == parent and path.name.startswith(SCRATCH_PREFIX):
                found.append(path)
    return found


def remove_stale_scratch(parent: Path) -> None:
    """Unmount and remove the scratch roots of graders that are gone (killed before they could)."""
    for path in _scratch_mounts(parent):
        pid = path.name[len(SCRATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            remove_scratch_root(path)


def remove_scratch_root(root: Path) -> None:
    """Unmount the run's tmpfs (if it is one) and delete the folder."""
    if root in _scratch_mounts(root.parent):
        subprocess.run(["umount", "--lazy", str(root)], stdin=subprocess.DEVNULL, capture_output=True, check=False)
    remove_folder(root)


def sandbox_env(scratch_root: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "LANG", "LC_ALL", "TERM"}}
    env.update({"HOME": str(scratch_root), "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def submission_folder(scratch_root: Optional[Path]) -> Path:
    """The grader's own folder for one submission: root's, closed to listing and writing, so that
    no learner code can rename, replace or plant anything beside a stage's folder."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="s-", dir=scratch_root))
    folder.chmod(0o711)
    return folder


def stage_folder(parent: Path, name: str, uid: Optional[int]) -> Path:
    """A new, empty folder for one stage, created now (after every process of the previous
    stage is gone), that only the submission's user can enter."""
    folder = parent / name
    folder.mkdir(mode=0o700)  # fails if it exists: a stage never reuses a folder
    if uid is not None:
        os.chown(folder, uid, uid, follow_symlinks=False)
    return folder


def remove_folder(folder: Path) -> None:
    """Delete a folder learner code wrote in, never following a symlink (``shutil.rmtree`` works
    through file descriptors), even when the tree is deeper than Python's recursion limit (where
    ``shutil.rmtree`` raises RecursionError, coreutils' ``rm`` finishes the job)."""
    try:
        shutil.rmtree(folder, ignore_errors=True)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--", str(folder)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)


def end_user_processes(uid: int) -> None:
    """SIGKILL every process of the sandbox user ``uid`` (detached, double-forked, in other
    process groups: all of them), from a short-lived child that becomes that user."""
    import signal

    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(1000):  # until none is left (one may fork while we kill)
                os.kill(-1, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
        os._exit(0)
    os.waitpid(pid, 0)

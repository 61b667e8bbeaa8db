"""Grading slots on one machine: what each submission's run needs, prepared once.

A slot grades one submission at a time.  The slots of one machine (the local run's
``--workers``, or one ``bnlab worker``) share

- one fork server (:class:`autograder.run.notebook.Zygote`) with PyTorch imported, started
  inside the sandbox when the machine has one (:mod:`autograder.run.sandbox`);
- one scratch root under ``/tmp`` (short paths: the kernels' ipc sockets live in it);

and each slot has its own unprivileged sandbox user.  The fork server must be started from a
thread that lives as long as the slots (it dies with the thread that started it), so build
:class:`Slots` in the main thread or an event loop's thread, never in a pool thread.
"""
from __future__ import annotations

import contextlib
import queue
from pathlib import Path
from typing import Iterator, Optional

from autograder.run import sandbox
from autograder.run.notebook import Zygote
from autograder.submission.grade import Slot


class Slots:
    """``count`` slots sharing one fork server; :meth:`acquire` lends one to a submission.

    ``hidden`` are folders learner code must not see (OUT, the submissions); the course
    folder, ``/tmp`` and ``/root`` are always hidden.  ``start_zygote=False`` defers the fork
    server to the first :meth:`acquire` (a run with nothing to grade never starts one).
    """

    def __init__(self, count: int, course_root: Optional[Path], hidden: Optional[list[Path]] = None,
                 start_zygote: bool = True):
        self.count = max(1, count)
        self.isolation = sandbox.probe()
        self.scratch_root = sandbox.make_scratch_root(self.count, self.isolation.available)
        self._course_root = course_root
        self._hidden = list(hidden or [])
        self.zygote: Optional[Zygote] = None
        self._free: "queue.Queue[Slot]" = queue.Queue()
        self._uids = sandbox.UidBlock(self.count)
        for index in range(self.count):
            uid = self._uids.first + index if self.isolation.available else None
            self._free.put(Slot(zygote=None, uid=uid, scratch_root=self.scratch_root))
        if start_zygote:
            self.start()

    @property
    def sandbox_users(self) -> Optional[list[int]]:
        """[first, last] of this run's sandbox user ids, or None without a sandbox."""
        if not self.isolation.available:
            return None
        return [self._uids.first, self._uids.first + self.count - 1]

    def start(self) -> None:
        """Start the fork server (PyTorch imported once, in the sandbox when there is one)."""
        if self.zygote is not None:
            return
        if self.isolation.available:
            # On a worker without the course folder, /tmp stands in for it (it is hidden anyway).
            course = self._course_root or Path("/tmp")
            self.zygote = Zygote(sandbox.bwrap_prefix(course, self._hidden, self.scratch_root),
                                 env=sandbox.sandbox_env(self.scratch_root))
        else:
            self.zygote = Zygote()

    @contextlib.contextmanager
    def acquire(self) -> Iterator[Slot]:
        slot = self._free.get()
        try:
            slot.zygote = self.zygote
            yield slot
        finally:
            self._free.put(slot)

    def close(self) -> None:
        """End the fork server (and with it every kernel still running) and remove the scratch root."""
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None
        sandbox.remove_scratch_root(self.scratch_root)
        self._uids.release()


__all__ = ["Slots"]

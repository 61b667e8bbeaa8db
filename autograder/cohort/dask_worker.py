"""A Dask worker that grades: the preload that prepares its slots once, and the task it runs.

``bnlab worker tcp://HOST:PORT --slots N`` starts an ordinary Dask worker with this module as
its preload; for people who manage their own workers the same is

    dask worker tcp://HOST:PORT --nthreads N --resources grading_slot=N --preload autograder.cohort.dask_worker

At start-up (:func:`dask_setup`, in the worker's event loop thread, before it joins the
scheduler) the worker probes the sandbox, starts its fork server with PyTorch imported (in the
sandbox when there is one) and makes N slots (:mod:`autograder.cohort.slots`), one sandbox
user each.  The client asks for one ``grading_slot`` per submission, so each slot grades one
submission at a time.

What a task receives and returns is plain data: the prepared submission (the restored notebook,
the exercises, hashes) and the limits in; what the sandboxed stages produced (the executed
notebook, the evidence, statuses, timings) out.  The worker never sees the gradebook, ``OUT``
or a shared file system; the client (:mod:`autograder.cohort.cluster`) judges and records.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from autograder.cohort.identity import code_sha256, identity
from autograder.cohort.slots import Slots

SLOT = "grading_slot"
logger = logging.getLogger("bnlab.worker")
_slots: Optional[Slots] = None


def _course_root():
    from autograder.course.build import CourseError, find_root

    try:
        return find_root()
    except CourseError:
        return None  # a worker with bnlab installed from a wheel has no course folder


def dask_setup(worker) -> None:
    """Dask's preload hook, before the worker joins the scheduler: make its grading slots (the
    fork server starts here).  A worker whose slots cannot be made joins without any, so no
    submission is sent to it, and says why in its log."""
    global _slots
    count = int(worker.state.total_resources.get(SLOT, 0))
    if not count:
        logger.warning("this worker has no %r resource, so no submission will be sent to it: start it with "
                       "`bnlab worker ADDRESS --slots N` or `--resources %s=N`", SLOT, SLOT)
        return
    try:
        _slots = Slots(count, _course_root(), hidden=[Path(worker.local_directory)])
    except Exception:
        logger.exception("bnlab: the grading slots could not be prepared; this worker will grade nothing")
        for resources in (worker.state.total_resources, worker.state.available_resources):
            resources.pop(SLOT, None)
        return
    logger.info("bnlab: %d grading slot(s) ready (%s)", count, _slots.isolation.description)


def dask_teardown(worker) -> None:
    global _slots
    if _slots is not None:
        _slots.close()
        _slots = None


def worker_identity() -> dict:
    """What the client checks before sending this worker anything (see autograder.cohort.identity)."""
    described = {**identity(), "slots": 0, "isolation": None, "isolated": False}
    if _slots is not None:
        described.update(slots=_slots.count, isolation=_slots.isolation.description,
                         isolated=_slots.isolation.available)
    return described


def run_submission(prepared, limits) -> dict:
    """The task: run one prepared submission's learner code in one of this worker's slots
    (:func:`autograder.submission.grade.run_stages`); the Ran it returns is plain data."""
    from distributed import get_worker

    from autograder.submission.grade import run_stages

    if _slots is None:
        raise RuntimeError("this Dask worker was started without bnlab's preload: start it with "
                           "`bnlab worker ADDRESS` or `dask worker ADDRESS --preload autograder.cohort.dask_worker`")
    with _slots.acquire() as slot:
        ran = run_stages(prepared, limits, slot)
    return {"ran": ran, "worker": get_worker().address, "code": code_sha256()}


__all__ = ["SLOT", "dask_setup", "dask_teardown", "worker_identity", "run_submission"]

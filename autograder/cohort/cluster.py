"""Grading on a Dask distributed cluster: the client's side of ``bnlab grade --cluster``.

The client (this process) keeps everything that needs the gradebook or ``OUT``:

    client:  prepare (read the file, nbgrader's restore from the gradebook)   -> plain data
    worker:  run_stages (the notebook, then the evidence step, in the sandbox) -> plain data
    client:  finish (the judge, the scores), then the single writer records it

Each submission is one Dask task asking for one ``grading_slot`` (see
:mod:`autograder.cohort.dask_worker`), with the prepared submission inside the task itself:
when a worker is lost mid-submission the scheduler still holds it and runs it again on another
worker, and the client records only the one result it receives.

A submission whose task kills every worker it lands on is given up by Dask after
``distributed.scheduler.allowed-failures`` tries (``KilledWorker``; 3 by default, set on the
scheduler).  Dask counts a lost worker against every task it held, also the ones only waiting
there for a free slot, so a right answer queued behind the culprit can be given up with it.  A
submission Dask gives up on is therefore tried once more at the end, alone on the cluster (no
other submission in flight), and recorded ``crashed`` only if it stops its workers then too.
At most twice as many submissions as the cluster has slots are in flight, so the client's
memory does not grow with the cohort.
"""
from __future__ import annotations

import logging
import time
import uuid
import warnings
from typing import Iterator, Optional

from autograder.course.build import CourseError
from autograder.cohort.identity import describe_difference, identity
from autograder.cohort.record import grader_failed as _failed
from autograder.cohort.dask_worker import SLOT
from autograder.run.sandbox import Isolation
from autograder.submission.result import Result

CONNECT_TIMEOUT = 15  # seconds to reach the scheduler
WORKERS_TIMEOUT = 120  # seconds to wait for a first grading worker


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__


def _quiet_dask_logs() -> None:
    """Dask logs every lost worker and retried task; the progress bar and the records say it."""
    for name in ("distributed", "distributed.client", "distributed.scheduler", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _given_up(future) -> bool:
    """Whether Dask gave this task up because workers it was on were lost (``KilledWorker``)."""
    return future.status == "error" and type(future.exception()).__name__ == "KilledWorker"


class ClusterPool:
    """A connection to a Dask scheduler whose workers run ``bnlab worker``."""

    def __init__(self, address: str, connect_timeout: float = CONNECT_TIMEOUT,
                 workers_timeout: float = WORKERS_TIMEOUT):
        _quiet_dask_logs()
        try:
            from distributed import Client
        except ImportError as error:
            raise CourseError(f"--cluster needs dask.distributed ({error}); pip install distributed")
        self.address = address
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # version notes between client and scheduler
                self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise CourseError(f"cannot reach the Dask scheduler at {address} ({_one_line(error)}); start it "
                              f"(`dask scheduler`) or check --cluster")
        try:
            self.workers = self._check_workers(workers_timeout)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ workers

    def _grading_workers(self) -> dict[str, dict]:
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # distributed before 2025 has no n_workers
            info = self.client.scheduler_info()
        return {address: worker for address, worker in info["workers"].items()
                if worker.get("resources", {}).get(SLOT)}

    def _check_workers(self, timeout: float) -> dict[str, dict]:
        """Wait for grading workers, then refuse any whose bnlab differs from this client's."""
        from autograder.cohort.dask_worker import worker_identity

        deadline = time.monotonic() + timeout
        workers = self._grading_workers()
        while not workers:
            if time.monotonic() > deadline:
                raise CourseError(f"the Dask cluster at {self.address} has no grading worker after {timeout:.0f} s: "
                                  f"start one with `bnlab worker {self.address}`")
            time.sleep(0.5)
            workers = self._grading_workers()
        answers = self.client.run(worker_identity, workers=list(workers), on_error="return")
        ours = identity()
        for address, theirs in sorted(answers.items()):
            if isinstance(theirs, BaseException):
                raise CourseError(f"worker {address} cannot run bnlab's grading ({_one_line(theirs)}): install the "
                                  f"same bnlab on every worker")
            if any(theirs.get(key) != ours[key] for key in ("bnlab", "code", "environment")):
                raise CourseError(describe_difference(address, theirs, ours))
            workers[address]["bnlab"] = theirs
        return workers

    @property
    def total_slots(self) -> int:
        return int(sum(worker["resources"][SLOT] for worker in self.workers.values()))

    @property
    def isolation(self) -> Isolation:
        """The cluster's isolation: available only if every worker has the sandbox."""
        described = [worker["bnlab"] for worker in self.workers.values()]
        if all(item.get("isolated") for item in described):
            return Isolation(True, f"on {len(described)} Dask worker(s): {described[0]['isolation']}")
        without = [address for address, worker in self.workers.items() if not worker["bnlab"].get("isolated")]
        return Isolation(False, f"Dask worker(s) {', '.join(without)} have no sandbox: learners' code runs there "
                                f"without isolation")

    def describe_workers(self) -> dict:
        return {address: {"slots": worker["resources"][SLOT], "isolation": worker["bnlab"].get("isolation")}
                for address, worker in self.workers.items()}

    # ------------------------------------------------------------------ grading

    def grade(self, todo: list, db_url: str, limits, environment: str = "") -> Iterator[tuple[Result, Optional[str]]]:
        """Grade ``todo`` ((student_id, instructor, path) triples) on the cluster; yield (result,
        worker) as each submission ends.  Prepare and finish run here, the learner's code there."""
        from distributed import as_completed

        from autograder.cohort.dask_worker import run_submission
        from autograder.submission.grade import finish, prepare

        window = max(2, 2 * self.total_slots)
        items = iter(todo)
        in_flight: dict[str, tuple] = {}
        ready: list[tuple[Result, Optional[str]]] = []
        completed = as_completed(loop=self.client.loop)
        ours = identity()["code"]

        suspects: list[tuple] = []  # given up on by Dask: tried again at the end, alone

        def submit(student_id, instructor, prepared) -> None:
            key = f"bnlab-grade-{uuid.uuid4().hex}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "large graph": the notebook travels in the task
                future = self.client.submit(run_submission, prepared, limits, key=key, pure=False,
                                            resources={SLOT: 1}, retries=0)
            in_flight[future.key] = (student_id, instructor, prepared, future)
            completed.add(future)

        def top_up() -> None:
            while len(in_flight) < window:
                item = next(items, None)
                if item is None:
                    return
                student_id, instructor, path = item
                try:
                    prepared = prepare(path, instructor, db_url, student_id)
                except Exception as error:
                    ready.append((_failed(student_id, instructor, error), "client"))
                    continue
                if prepared.problem is not None:  # an unreadable file: nothing to run, judged here
                    ready.append((finish(prepared, None, instructor, environment), "client"))
                    continue
                submit(student_id, instructor, prepared)

        try:
            top_up()
            while ready or in_flight:
                while ready:
                    yield ready.pop(0)
                if not in_flight:
                    top_up()
                    continue
                future = next(completed)
                student_id, instructor, prepared, _ = in_flight.pop(future.key)
                if _given_up(future):
                    suspects.append((student_id, instructor, prepared))
                else:
                    yield self._finished(future, student_id, instructor, prepared, environment, finish, ours)
                del future
                top_up()
            # Alone on the cluster, a lost worker is this submission's doing (or the machine's).
            for student_id, instructor, prepared in suspects:
                submit(student_id, instructor, prepared)
                future = next(completed)
                in_flight.pop(future.key)
                yield self._finished(future, student_id, instructor, prepared, environment, finish, ours)
                del future
        finally:
            leftover = [entry[3] for entry in in_flight.values()]
            if leftover:
                self.client.cancel(leftover)

    @staticmethod
    def _finished(future, student_id, instructor, prepared, environment: str, finish,
                  ours: str) -> tuple[Result, Optional[str]]:
        try:
            answer = future.result()
        except Exception as error:
            if _given_up(future):
                reason = ("Grading this submission stopped every grading worker it ran on, each time it was tried, "
                          "also when it was tried alone on the cluster; it was not graded.")
                given_up = _failed(student_id, instructor, error, status="crashed", reason=reason)
                # Recorded with its hash: a rerun skips it (it would stop workers again); --force retries it.
                given_up.submission_sha256, given_up.environment_sha256 = prepared.submission_sha256, environment
                return given_up, None
            return _failed(student_id, instructor, error), None
        if answer.get("code") != ours:
            raise CourseError(f"worker {answer.get('worker')} joined with another bnlab (code "
                              f"{str(answer.get('code'))[:12]}, this client {ours[:12]}): install the same bnlab on "
                              f"every worker; grades recorded so far are kept")
        try:
            # The environment was checked equal on every worker: the client's stands for theirs.
            return finish(prepared, answer["ran"], instructor, environment), answer["worker"]
        except Exception as error:
            return _failed(student_id, instructor, error), answer["worker"]

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            try:
                client.close(timeout=10)
            except Exception:
                pass
            self.client = None


__all__ = ["ClusterPool", "SLOT"]

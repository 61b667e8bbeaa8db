"""Grade a cohort: find submissions, grade them on a pool of workers, record each result once.

Layout of ``OUT`` (all written by the grader's single writer, the main thread):

    OUT/results/<assignment>/<student>.json   one record per submission, written atomically;
                                              the source of truth for resuming
    OUT/autograded/<student>/<A>/<A>.ipynb    the executed notebook (nbgrader's layout)
    OUT/gradebook.db                          nbgrader's gradebook (instructor cells + scores), or --db URL
    OUT/feedback/<student>/<A>.html           what each learner reads
    OUT/grades.json, OUT/grades.csv           the whole cohort, rebuilt from results/
    OUT/report.html                           the class overview for the instructor
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

from autograder.course.build import CourseError, assignments as course_assignments, generate, instructor_version
from autograder.run.notebook import Limits
from autograder.submission.grade import grade_submission
from autograder.submission.result import CellResult, Result
from autograder.cohort.find import find_submissions, unpack_if_zip
from autograder.cohort.identity import environment_sha256
from autograder.cohort.record import (
    LOCAL_WORKER, Recorder, _atomic_write, check_gradebook, grader_failed, load_results, shown_url, sqlite_url,
)
from autograder.cohort.slots import Slots

# --------------------------------------------------------------------------- the run

def _unknown_assignment(student_id: str, assignment: str, known: list[str]) -> Result:
    return Result(student_id=student_id, assignment=assignment, status="unknown_assignment",
                  reason=f"The course has no assignment named {assignment!r} (it has {', '.join(known)}).",
                  score=0.0, max_score=0.0, cells={})


def _missing_notebook(student_id: str, instructor) -> Result:
    reason = f"No {instructor.assignment}.ipynb was found in the submission folder."
    return Result(student_id=student_id, assignment=instructor.assignment, status="missing", reason=reason,
                  score=0.0, max_score=instructor.max_score, instructor_sha256=instructor.sha256,
                  cells={g: CellResult(0.0, p, f"Not graded: {reason}") for g, p in instructor.graded_cells.items()})


SIGNAL_CHECK = 0.5  # seconds


def grade_locally(todo: list, slots: Slots, db_url: str, limits: Limits,
                  environment: str) -> Iterator[tuple[Result, str]]:
    """Grade ``todo`` ((student_id, instructor, path) triples) on this machine's slots, one thread
    per slot; yield (result, worker) as each submission ends, in the caller's thread."""
    if not todo:
        return
    slots.start()  # in the caller's thread: the fork server lives as long as it does

    def job(student_id, instructor, path):
        with slots.acquire() as slot:
            try:
                return grade_submission(path, instructor, db_url, student_id, limits, environment, slot=slot)
            except Exception as error:
                return grader_failed(student_id, instructor, error)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=slots.count, thread_name_prefix="grade")
    # A window of submissions in flight, not the whole cohort: a finished future holds its result
    # (the executed notebook with its figures), so holding every future would make the grader's
    # memory grow with the cohort.
    window = 2 * slots.count
    items = iter(todo)
    pending: set = set()
    try:
        while True:
            while len(pending) < window and (item := next(items, None)) is not None:
                pending.add(pool.submit(job, *item))
            if not pending:
                return
            # A timed wait: a signal (Ctrl-C, SIGTERM) the kernel hands to a slot's thread is only
            # seen by this one when it wakes, and a submission can take minutes.
            done, pending = concurrent.futures.wait(pending, timeout=SIGNAL_CHECK,
                                                    return_when=concurrent.futures.FIRST_COMPLETED)
            while done:
                yield done.pop().result(), LOCAL_WORKER
    finally:
        # On Ctrl-C: queued submissions are dropped, running kernels end with the fork server.
        pool.shutdown(wait=False, cancel_futures=True)
        slots.close()
        pool.shutdown(wait=True)


def grade_cohort(root: Path, submitted: Path, out: Path, *, assignments: Optional[list[str]] = None,
                 workers: Optional[int] = None, force: bool = False, timeout: float = 60,
                 notebook_timeout: float = 300, memory_mb: int = 3072, progress: bool = True,
                 zip_regexp: Optional[str] = None, db_url: Optional[str] = None,
                 cluster: Optional[str] = None) -> list[dict]:
    """Grade every submission under ``submitted`` (folder or zip) into ``out``; return grades.json's records.

    ``db_url``: the gradebook (default ``OUT/gradebook.db``; any database nbgrader's gradebook
    supports).  ``cluster``: a Dask scheduler's address; the submissions are then graded on its
    workers (:mod:`autograder.cohort.cluster`) and this process stays the single writer.

    Raises CourseError for the instructor's own mistakes, before anything is written.
    """
    from autograder.cohort.report import print_summary, progress_display, write_outputs

    if not submitted.exists():
        raise CourseError(f"submitted folder {submitted} does not exist")
    known = course_assignments(root)
    for name in assignments or []:
        if name not in known:
            raise CourseError(f"unknown assignment {name!r}; the course has {', '.join(known)}")
    if out.exists() and not out.is_dir():
        raise CourseError(f"--out {out} exists and is not a folder")
    db_url = db_url or sqlite_url(out)
    check_gradebook(db_url)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise CourseError(f"cannot write to --out {out}: {error.strerror}")
    pool = None
    if cluster:
        from autograder.cohort.cluster import ClusterPool

        pool = ClusterPool(cluster)  # CourseError when unreachable or its workers' bnlab differs

    work = Path(tempfile.mkdtemp(prefix="bnlab-cohort-"))
    slots: Optional[Slots] = None
    try:
        folder = unpack_if_zip(submitted, work, known, zip_regexp)
        if not folder.is_dir():
            raise CourseError(f"{submitted} is neither a folder nor a zip file")
        entries = find_submissions(folder)
        if assignments:
            entries = [entry for entry in entries if entry[1] in assignments]
        wanted = sorted({a for _, a, _ in entries if a in known})
        instructors = {}
        for name in wanted:  # once per run, not per submission
            generate(root, name, work / "release", db_url)
            instructors[name] = instructor_version(root, name)
        environment = environment_sha256()
        limits = Limits(cell_timeout=timeout, notebook_timeout=notebook_timeout, memory_mb=memory_mb)
        previous = {} if force else load_results(out)

        recorder = Recorder(out, db_url)
        todo = []
        skipped = 0
        for student_id, assignment, path in entries:
            if assignment not in known:
                recorder.record(_unknown_assignment(student_id, assignment, known), known_assignment=False)
                continue
            instructor = instructors[assignment]
            if path is None:
                recorder.record(_missing_notebook(student_id, instructor), known_assignment=True)
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            old = previous.get((student_id, assignment))
            if old and old.get("submission_sha256") == digest and old.get("instructor_sha256") == instructor.sha256:
                skipped += 1
                continue
            todo.append((student_id, instructor, path))

        from autograder.run.limits import support as cgroup_support

        if pool is not None:
            isolation = pool.isolation
            run_info = {"cluster": cluster, "workers": pool.describe_workers(),
                        "slots": pool.total_slots}
            graded = pool.grade(todo, db_url, limits, environment)
        else:
            workers = max(1, workers or os.cpu_count() or 1)
            slots = Slots(workers, root, [out, submitted.resolve(), work], start_zygote=False)
            isolation = slots.isolation
            run_info = {"cgroups": cgroup_support().describe(), "workers": workers,
                        "sandbox_users": slots.sandbox_users}
            graded = grade_locally(todo, slots, db_url, limits, environment)
        if progress or not isolation.available:
            print(("isolation: " if isolation.available else "WARNING: ") + isolation.description, file=sys.stderr)
        run_info = {"isolation": {"available": isolation.available, "description": isolation.description},
                    "limits": limits.as_dict(), **run_info, "environment_sha256": environment,
                    "gradebook": shown_url(db_url)}
        _atomic_write(out / "run.json", json.dumps(run_info, indent=1))

        counts: Counter = Counter()
        with progress_display(len(todo), skipped, enabled=progress) as bar:
            for result, worker in graded:
                recorder.record(result, known_assignment=True, worker=worker)
                counts[result.status] += 1
                bar.advance(counts)
        recorder.close()
        records = write_outputs(out, root)
        if progress:
            print_summary(records, skipped)
        return records
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if slots is not None:
            slots.close()
        if pool is not None:
            pool.close()


__all__ = ["grade_cohort", "grade_locally"]

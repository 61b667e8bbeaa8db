"""Grade a cohort: find submissions, grade them on a pool of workers, record each result once.

Layout of ``OUT`` (all written by the grader's single writer, the main thread):

    OUT/results/<assignment>/<student>.json   one record per submission, written atomically;
                                              the source of truth for resuming
    OUT/autograded/<student>/<A>/<A>.ipynb    the executed notebook (nbgrader's layout)
    OUT/gradebook.db                          nbgrader's gradebook (instructor cells + scores)
    OUT/feedback/<student>/<A>.html           what each learner reads
    OUT/grades.json, OUT/grades.csv           the whole cohort, rebuilt from results/
    OUT/report.html                           the class overview for the instructor
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import queue
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Optional


from autograder.course.build import CourseError, assignments as course_assignments, generate, instructor_version
from autograder.run import sandbox
from autograder.run.notebook import Limits, Zygote
from autograder.submission.grade import Slot, grade_submission
from autograder.submission.result import CellResult, Result
from autograder.cohort.find import find_submissions, unpack_if_zip
from autograder.cohort.record import Recorder, _atomic_write, check_gradebook, environment_sha256, load_results

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


def grade_cohort(root: Path, submitted: Path, out: Path, *, assignments: Optional[list[str]] = None,
                 workers: Optional[int] = None, force: bool = False, timeout: float = 60,
                 notebook_timeout: float = 300, memory_mb: int = 3072, progress: bool = True,
                 zip_regexp: Optional[str] = None) -> list[dict]:
    """Grade every submission under ``submitted`` (folder or zip) into ``out``; return grades.json's records.

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
    check_gradebook(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise CourseError(f"cannot write to --out {out}: {error.strerror}")

    work = Path(tempfile.mkdtemp(prefix="bnlab-cohort-"))
    scratch_root: Optional[Path] = None
    try:
        folder = unpack_if_zip(submitted, work, known, zip_regexp)
        if not folder.is_dir():
            raise CourseError(f"{submitted} is neither a folder nor a zip file")
        entries = find_submissions(folder)
        if assignments:
            entries = [entry for entry in entries if entry[1] in assignments]
        db_url = f"sqlite:///{out / 'gradebook.db'}"
        wanted = sorted({a for _, a, _ in entries if a in known})
        instructors = {}
        for name in wanted:
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

        workers = max(1, workers or os.cpu_count() or 1)
        isolation = sandbox.probe()
        if progress or not isolation.available:
            print(("isolation: " if isolation.available else "WARNING: ") + isolation.description, file=sys.stderr)
        from autograder.run.limits import support as cgroup_support

        run_info = {"isolation": {"available": isolation.available, "description": isolation.description},
                    "limits": limits.as_dict(), "cgroups": cgroup_support().describe(), "workers": workers,
                    "environment_sha256": environment}
        _atomic_write(out / "run.json", json.dumps(run_info, indent=1))
        # A short path: the kernels' ipc sockets live in it, and a socket path has at most 107 bytes.
        scratch_root = Path(tempfile.mkdtemp(prefix="bnlab-", dir="/tmp" if os.path.isdir("/tmp") else None))
        scratch_root.chmod(0o711)
        zygote = None
        if todo:
            zygote = Zygote(sandbox.bwrap_prefix(root, [out, submitted.resolve(), work], scratch_root),
                            env=sandbox.sandbox_env(scratch_root)) if isolation.available else Zygote()
        slots: "queue.Queue[Optional[int]]" = queue.Queue()
        for slot in range(workers):
            slots.put(sandbox.first_uid() + slot if isolation.available else None)

        def job(student_id, instructor, path):
            uid = slots.get()
            try:
                return grade_submission(path, instructor, db_url, student_id, limits, environment,
                                        slot=Slot(zygote=zygote, uid=uid, scratch_root=scratch_root))
            except Exception as error:  # a grader bug must not stop the batch: record it
                return Result(student_id=student_id, assignment=instructor.assignment, status="error",
                              reason=f"The grader failed on this submission ({type(error).__name__}: {error}).",
                              score=0.0, max_score=instructor.max_score, instructor_sha256=instructor.sha256,
                              cells={g: CellResult(0.0, p, "Not graded: the grader failed; your instructor has "
                                                            "been told.") for g, p in instructor.graded_cells.items()})
            finally:
                slots.put(uid)

        counts: Counter = Counter()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")
        try:
            with progress_display(len(todo), skipped, enabled=progress) as bar:
                futures = [pool.submit(job, *item) for item in todo]
                for future in concurrent.futures.as_completed(futures):
                    result = future.result()
                    recorder.record(result, known_assignment=True)
                    counts[result.status] += 1
                    bar.advance(counts)
        finally:
            # On Ctrl-C: queued submissions are dropped, running kernels end with the fork server.
            pool.shutdown(wait=False, cancel_futures=True)
            if zygote is not None:
                zygote.close()
        pool.shutdown(wait=True)
        records = write_outputs(out, root)
        if progress:
            print_summary(records, skipped)
        return records
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if scratch_root is not None:
            shutil.rmtree(scratch_root, ignore_errors=True)


__all__ = ["grade_cohort"]

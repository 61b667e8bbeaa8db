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
import importlib.metadata
import json
import os
import platform
import queue
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import warnings
import zipfile
from collections import Counter
from pathlib import Path
from typing import Optional

import nbformat

from autograder.course import CourseError, assignments as course_assignments, generate, instructor_version
from autograder import sandbox
from autograder.execute import Limits, Zygote
from autograder.grading import CellResult, Result, grade_submission

COURSE_ID = "bnlab"
ENVIRONMENT_PACKAGES = ["torch", "numpy", "nbgrader", "nbclient", "ipykernel", "jupyter_client", "nbformat", "bnlab"]


def environment_sha256() -> str:
    """A hash of the Python version and the versions of the packages that decide a grade."""
    versions = [platform.python_version()]
    for name in ENVIRONMENT_PACKAGES:
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name}==missing")
    return hashlib.sha256("\n".join(versions).encode()).hexdigest()


def safe_name(student_id: str) -> str:
    """A file name for any student id (spaces, non-ASCII letters, slashes)."""
    return urllib.parse.quote(student_id, safe="") or "_"


# --------------------------------------------------------------------------- finding submissions

def unpack_if_zip(submitted: Path, work: Path, known: Optional[list[str]] = None,
                  zip_regexp: Optional[str] = None) -> Path:
    """``bnlab grade`` accepts an LMS zip as well as a folder: unpack the zip safely; notebooks
    not in the submitted layout are laid out by their names (autograder.collect)."""
    from autograder.collect import lay_out
    if submitted.is_file() and zipfile.is_zipfile(submitted):
        target = work / "unzipped"
        with zipfile.ZipFile(submitted) as archive:
            for member in archive.infolist():
                name = Path(member.filename)
                if member.is_dir() or name.is_absolute() or ".." in name.parts:
                    continue
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
        return lay_out(target, work, known or [], zip_regexp)
    return lay_out(submitted, work, known or [], zip_regexp)


def find_submissions(submitted: Path) -> list[tuple[str, str, Optional[Path]]]:
    """(student_id, assignment, notebook path or None) for nbgrader's submitted layout
    ``<student_id>/<assignment>/<assignment>.ipynb``.  A student folder whose assignment
    folder holds no such notebook is listed with ``None``."""
    found = []
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            notebook = assignment_dir / f"{assignment_dir.name}.ipynb"
            found.append((student_dir.name, assignment_dir.name, notebook if notebook.is_file() else None))
    return found


# --------------------------------------------------------------------------- the gradebook

def check_gradebook(out: Path) -> None:
    """Refuse a gradebook that belongs to another course (before anything is written)."""
    path = out / "gradebook.db"
    if not path.exists():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            courses = {row[0] for row in connection.execute("SELECT id FROM course")}
    except sqlite3.DatabaseError as error:
        raise CourseError(f"{path} is not an nbgrader gradebook ({error}); use another --out")
    # nbgrader's preprocessors open the gradebook without a course id, which adds "default_course".
    others = courses - {COURSE_ID, "default_course"}
    if others:
        raise CourseError(f"{path} belongs to course {', '.join(sorted(others))}, not {COURSE_ID}; use another --out")


class Recorder:
    """The single writer: gradebook rows, result files, executed notebooks, feedback."""

    def __init__(self, out: Path, db_url: str):
        from nbgrader.api import Gradebook

        self.out = out
        self.gradebook = Gradebook(db_url, COURSE_ID)

    def close(self) -> None:
        self.gradebook.close()

    def result_path(self, assignment: str, student_id: str) -> Path:
        return self.out / "results" / assignment / f"{safe_name(student_id)}.json"

    def record(self, result: Result, known_assignment: bool) -> None:
        """Write everything about one result; the result file comes last and marks it recorded
        (a run killed before that point regrades the submission, and the gradebook rows are
        updated in place, never duplicated)."""
        from autograder.report import write_feedback

        started = time.perf_counter()
        if result.notebook is not None:
            notebook_path = self.out / "autograded" / safe_name(result.student_id) / result.assignment / f"{result.assignment}.ipynb"
            notebook_path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(notebook_path, nbformat.writes(result.notebook))
        if known_assignment:
            self._record_gradebook(result)
        write_feedback(self.out, result)
        result.timings["bookkeeping"] = time.perf_counter() - started
        path = self.result_path(result.assignment, result.student_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(result.as_dict(), indent=1, ensure_ascii=False))

    def _record_gradebook(self, result: Result) -> None:
        gb = self.gradebook
        with warnings.catch_warnings():
            # nbgrader's own relationship bookkeeping warns on every new submission; it is harmless.
            warnings.simplefilter("ignore")
            self._write_grades(gb, result)

    @staticmethod
    def _write_grades(gb, result: Result) -> None:
        try:
            gb.update_or_create_student(result.student_id)
            gb.update_or_create_submission(result.assignment, result.student_id)
            for grade_id, cell in result.cells.items():
                grade = gb.find_grade(grade_id, result.assignment, result.assignment, result.student_id)
                grade.auto_score = cell.score
                grade.needs_manual_grade = grade.manual_score is not None
            gb.db.commit()
        except Exception:
            gb.db.rollback()
            raise


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def load_results(out: Path) -> dict[tuple[str, str], dict]:
    records = {}
    for path in (out / "results").glob("*/*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a torn file from a kill is regraded
        records[(record["student_id"], record["assignment"])] = record
    return records


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
    from autograder.report import print_summary, progress_display, write_outputs

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
        from autograder.limits import support as cgroup_support

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
                return grade_submission(path, instructor, db_url, student_id, limits, environment, zygote=zygote,
                                        sandbox_uid=uid, scratch_root=scratch_root)
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


__all__ = ["grade_cohort", "find_submissions", "environment_sha256", "safe_name", "load_results"]

"""The single writer's side of a cohort: the gradebook, one result file per submission, resuming."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import sqlite3
import time
import warnings
from pathlib import Path

import nbformat

from autograder.course.build import CourseError
from autograder.cohort.feedback import safe_name, write_feedback
from autograder.submission.result import Result

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



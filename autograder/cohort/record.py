"""The single writer's side of a cohort: the gradebook, one result file per submission, resuming."""
from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Optional

import nbformat

from autograder.course.build import CourseError
from autograder.cohort.feedback import safe_name, write_feedback
from autograder.cohort.identity import ENVIRONMENT_PACKAGES, environment_sha256  # noqa: F401  (re-exported)
from autograder.submission.result import CellResult, Result

COURSE_ID = "bnlab"


def sqlite_url(out: Path) -> str:
    """The default gradebook: ``OUT/gradebook.db``."""
    return f"sqlite:///{out / 'gradebook.db'}"


def shown_url(db_url: str) -> str:
    """The database URL as the instructor may read it (no password)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return db_url


def _first_line(error: BaseException) -> str:
    """The message of a database error, one line, without SQLAlchemy's background link."""
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def check_gradebook(db_url: str) -> None:
    """Refuse, before anything is written, a gradebook that cannot be opened or belongs to
    another course: a SQLite file (the default ``OUT/gradebook.db``) or any database URL
    SQLAlchemy and nbgrader's gradebook support (``postgresql://user@host:port/dbname``)."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.engine import make_url

    shown = shown_url(db_url)
    try:
        url = make_url(db_url)
    except Exception as error:
        raise CourseError(f"--db {db_url!r} is not a database URL ({_first_line(error)}); "
                          f"e.g. postgresql://user@host:5432/gradebook")
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return  # a new SQLite gradebook: nbgrader creates it
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 10}
                               if url.get_backend_name() == "postgresql" else {})
    except Exception as error:  # e.g. the driver is not installed
        raise CourseError(f"cannot use the gradebook database {shown}: {_first_line(error)}")
    try:
        with engine.connect() as connection:
            if "course" not in inspect(connection).get_table_names():
                if url.get_backend_name() == "sqlite" and inspect(connection).get_table_names():
                    raise CourseError(f"{url.database} is not an nbgrader gradebook; use another --out")
                return  # an empty database: nbgrader creates its tables
            courses = {row[0] for row in connection.execute(text("SELECT id FROM course"))}
    except CourseError:
        raise
    except Exception as error:
        if url.get_backend_name() == "sqlite":
            raise CourseError(f"{url.database} is not an nbgrader gradebook ({_first_line(error)}); use another --out")
        raise CourseError(f"cannot open the gradebook database {shown}: {_first_line(error)}")
    finally:
        engine.dispose()
    # nbgrader's preprocessors open the gradebook without a course id, which adds "default_course".
    others = courses - {COURSE_ID, "default_course"}
    if others:
        where = url.database if url.get_backend_name() == "sqlite" else shown
        raise CourseError(f"{where} belongs to course {', '.join(sorted(others))}, not {COURSE_ID}; "
                          f"use another {'--out' if url.get_backend_name() == 'sqlite' else '--db'}")


LOCAL_WORKER = f"local:{socket.gethostname()}"


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

    def record(self, result: Result, known_assignment: bool, worker: Optional[str] = LOCAL_WORKER) -> None:
        """Write everything about one result; the result file comes last and marks it recorded
        (a run killed before that point regrades the submission, and the gradebook rows are
        updated in place, never duplicated).  ``worker`` says where it was graded: ``local:HOST``,
        a Dask worker's address, ``client`` (a broken file, told apart before any worker), or
        None (it was given up on)."""
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
        _atomic_write(path, json.dumps({**result.as_dict(), "worker": worker}, indent=1, ensure_ascii=False))

    def _record_gradebook(self, result: Result) -> None:
        gb = self.gradebook
        with warnings.catch_warnings():
            # nbgrader's own relationship bookkeeping warns on every new submission; it is harmless.
            warnings.simplefilter("ignore")
            self._write_grades(gb, result)

    @staticmethod
    def _write_grades(gb, result: Result) -> None:
        from sqlalchemy.exc import IntegrityError

        try:
            Recorder._write_grades_once(gb, result)
        except IntegrityError:
            # Another run writing to the same database (PostgreSQL) created the same student or
            # submission between our look-up and our insert: it exists now, so update it.
            Recorder._write_grades_once(gb, result)

    @staticmethod
    def _write_grades_once(gb, result: Result) -> None:
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


def grader_failed(student_id: str, instructor, error: BaseException, status: str = "error",
                  reason: Optional[str] = None) -> Result:
    """A grader bug (or a submission given up on) must not stop the batch: it is recorded with a
    status (``error`` by default) and a one-sentence reason."""
    message = " ".join(str(error).split())[:200] or type(error).__name__
    reason = reason or f"The grader failed on this submission ({type(error).__name__}: {message})."
    feedback = ("Not graded: the grader failed; your instructor has been told." if status == "error"
                else f"Not graded: {reason}")
    return Result(student_id=student_id, assignment=instructor.assignment, status=status, reason=reason,
                  score=0.0, max_score=instructor.max_score, instructor_sha256=instructor.sha256,
                  cells={g: CellResult(0.0, p, feedback) for g, p in instructor.graded_cells.items()})


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



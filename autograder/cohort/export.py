"""Grades handed back to an LMS: a gradebook file built from what ``bnlab grade`` recorded.

    bnlab export OUT --format canvas [--roster CANVAS_EXPORT.csv] [--to FILE]
    bnlab export OUT --format csv [--to FILE]

The grades are read from ``OUT/results/<A>/<student>.json`` (one record per submission, what
``bnlab grade`` writes) or, when that folder is absent, from ``OUT/grades.json``.

``canvas`` writes the CSV that Canvas's Gradebook > Import takes: the columns ``Student``,
``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per assignment, and a
``Points Possible`` row under the header (Canvas creates an assignment for a column it does not
know, with those points).  A learner is matched by ``SIS Login ID``, which is the student id
bnlab recorded (on a JupyterHub, the hub user name, which is usually the LMS login).  With
``--roster`` (the CSV of Canvas's Gradebook > Export), the other columns come from Canvas and
learners are matched by ``SIS Login ID``, ``SIS User ID`` or ``ID``, in that order; a recorded
learner who is not on the roster is left out and named on stderr, so the import never creates
nor misfiles anyone.  A learner without a record for an assignment gets an empty cell (Canvas
leaves that grade as it is).

``csv`` writes one row per learner: ``student_id``, then per assignment its score, its maximum
and its status (``graded``, ``timeout``...), and the total.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Optional

from autograder.course.build import CourseError

FORMATS = ("canvas", "csv")
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
ROSTER_KEYS = ("SIS Login ID", "SIS User ID", "ID")


def recorded_grades(out: Path) -> list[dict]:
    """The records of ``OUT/results/`` (or ``OUT/grades.json``), sorted by student and assignment."""
    out = Path(out)
    results = out / "results"
    records: list[dict] = []
    if results.is_dir():
        from autograder.cohort.record import load_results

        records = list(load_results(out).values())
    elif (out / "grades.json").is_file():
        try:
            records = json.loads((out / "grades.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise CourseError(f"{out / 'grades.json'} cannot be read ({error}); run `bnlab grade` again")
    else:
        raise CourseError(f"{out} has no grades (neither results/ nor grades.json): "
                          f"run `bnlab grade SUBMITTED --out {out}` first")
    return sorted(records, key=lambda r: (r["student_id"], r["assignment"]))


def _points(score: float) -> str:
    return f"{score:g}"


def _table(records: list[dict]) -> tuple[list[str], dict[str, float], dict[str, dict[str, dict]]]:
    """(assignments, assignment -> max score, student -> assignment -> record)."""
    assignments = sorted({r["assignment"] for r in records})
    max_scores = {a: max((r["max_score"] for r in records if r["assignment"] == a), default=0) for a in assignments}
    by_student: dict[str, dict[str, dict]] = {}
    for record in records:
        by_student.setdefault(record["student_id"], {})[record["assignment"]] = record
    return assignments, max_scores, by_student


def _read_roster(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CourseError(f"--roster {path} cannot be read ({error.strerror})")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not set(ROSTER_KEYS) & set(rows[0]):
        raise CourseError(f"--roster {path} is not a Canvas gradebook export: it needs a header with "
                          f"{', '.join(repr(k) for k in ROSTER_KEYS)}")
    # Canvas puts "Points Possible" (and sometimes "Student, Test") rows under the header.
    return [row for row in rows if (row.get("Student") or "").strip() not in {"Points Possible", "Student, Test"}]


def canvas_csv(records: list[dict], roster: Optional[list[dict[str, str]]] = None) -> tuple[str, list[str]]:
    """The Canvas import file, and the recorded student ids left out (not on the roster)."""
    assignments, max_scores, by_student = _table(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CANVAS_IDENTITY, *assignments])
    writer.writerow(["Points Possible", "", "", "", "", *(_points(max_scores[a]) for a in assignments)])
    left_out: list[str] = []
    if roster is None:
        for student_id, grades in sorted(by_student.items()):
            writer.writerow([student_id, "", "", student_id, "",
                             *(_points(grades[a]["score"]) if a in grades else "" for a in assignments)])
        return buffer.getvalue(), left_out
    matched: set[str] = set()
    for row in roster:
        student_id = next((row[key].strip() for key in ROSTER_KEYS if (row.get(key) or "").strip() in by_student),
                          None)
        grades = by_student.get(student_id, {}) if student_id else {}
        if student_id:
            matched.add(student_id)
        writer.writerow([*(row.get(key, "") for key in CANVAS_IDENTITY),
                         *(_points(grades[a]["score"]) if a in grades else "" for a in assignments)])
    left_out = sorted(set(by_student) - matched)
    return buffer.getvalue(), left_out


def plain_csv(records: list[dict]) -> str:
    """One row per learner: per assignment score, max_score and status, then the total."""
    assignments, max_scores, by_student = _table(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["student_id"]
    for assignment in assignments:
        header += [f"{assignment} score", f"{assignment} max_score", f"{assignment} status"]
    writer.writerow([*header, "total", "total max_score"])
    total_max = sum(max_scores.values())
    for student_id, grades in sorted(by_student.items()):
        row = [student_id]
        for assignment in assignments:
            record = grades.get(assignment)
            row += ([_points(record["score"]), _points(record["max_score"]), record["status"]] if record
                    else ["", _points(max_scores[assignment]), "not submitted"])
        total = sum(record["score"] for record in grades.values())
        writer.writerow([*row, _points(total), _points(total_max)])
    return buffer.getvalue()


def export_grades(out: Path, fmt: str = "canvas", to: Optional[Path] = None,
                  roster: Optional[Path] = None) -> Path:
    """Write the gradebook file for ``fmt`` (``canvas`` or ``csv``) and return its path
    (default ``OUT/canvas_grades.csv`` or ``OUT/gradebook.csv``)."""
    if fmt not in FORMATS:
        raise CourseError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if roster is not None and fmt != "canvas":
        raise CourseError("--roster is for --format canvas (a Canvas gradebook export)")
    out = Path(out)
    records = recorded_grades(out)
    if fmt == "canvas":
        text, left_out = canvas_csv(records, _read_roster(Path(roster)) if roster else None)
        if left_out:
            print(f"bnlab: not on the roster, left out of the import: {', '.join(left_out)}", file=sys.stderr)
    else:
        text = plain_csv(records)
    path = Path(to) if to else out / ("canvas_grades.csv" if fmt == "canvas" else "gradebook.csv")
    if not path.parent.is_dir():
        raise CourseError(f"cannot write {path}: the folder {path.parent} does not exist")
    path.write_text(text, encoding="utf-8")
    return path


__all__ = ["export_grades", "canvas_csv", "plain_csv", "recorded_grades", "FORMATS"]

"""Hand bnlab's feedback back to learners through nbgrader's feedback exchange.

    python deploy/hub/release_feedback.py A [A...] --course ~instructor/bnlab-course [--exchange DIR]

``bnlab grade COURSE/submitted --out COURSE/graded`` wrote each learner's feedback page to
``COURSE/graded/feedback/<student>/<A>.html`` (their diagnoses, then their notebook as graded,
hidden tests removed).  nbgrader's ``release_feedback`` takes it from
``COURSE/feedback/<student>/<A>/<A>.html`` next to the submission's ``timestamp.txt`` and
``submission_secret.txt`` (from ``COURSE/submitted/<student>/<A>/``, where ``bnlab collect`` put
them).  This script lays the pages out that way and runs ``nbgrader release_feedback``; learners
then press *Fetch Feedback* in the Assignments panel.  Run as root, it hands the course folder
back to its owner (the instructor), so the formgrader can open the gradebook.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.cohort.feedback import safe_name

COURSE_ID = "bnlab"


def lay_out_feedback(course: Path, assignment: str) -> list[str]:
    """Copy graded/feedback/<student>/<A>.html to feedback/<student>/<A>/<A>.html with the
    submission's timestamp and secret; return the students whose feedback is ready."""
    ready = []
    submitted = course / "submitted"
    for submission in sorted(submitted.glob(f"*/{assignment}")):
        student = submission.parent.name
        page = course / "graded" / "feedback" / safe_name(student) / f"{assignment}.html"
        if not page.is_file() or not (submission / "timestamp.txt").is_file():
            print(f"no feedback for {student} on {assignment} (graded: {page.is_file()})", file=sys.stderr)
            continue
        target = course / "feedback" / student / assignment
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, target / f"{assignment}.html")
        for name in ("timestamp.txt", "submission_secret.txt"):
            if (submission / name).is_file():
                shutil.copyfile(submission / name, target / name)
        ready.append(student)
    return ready


def hand_back(course: Path) -> None:
    """chown -R the course folder to its owner (when run as root)."""
    if os.geteuid() != 0:
        return
    owner = course.stat()
    for folder, folders, files in os.walk(course):
        for name in [folder, *(os.path.join(folder, f) for f in folders + files)]:
            os.lchown(name, owner.st_uid, owner.st_gid)


def release_feedback(course: Path, assignments: list[str], exchange: str | None = None) -> dict[str, list[str]]:
    released = {}
    for assignment in assignments:
        ready = lay_out_feedback(course, assignment)
        command = [sys.executable, "-m", "nbgrader", "release_feedback", assignment,
                   f"--CourseDirectory.root={course}", f"--CourseDirectory.course_id={COURSE_ID}",
                   "--CourseDirectory.feedback_directory=feedback"]
        if exchange:
            command.append(f"--Exchange.root={exchange}")
        result = subprocess.run(command, cwd=course, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"nbgrader release_feedback {assignment} failed:\n{result.stderr[-2000:]}")
        released[assignment] = ready
    hand_back(course)
    return released


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="+")
    parser.add_argument("--course", required=True, help="the instructor's course folder (submitted/, graded/)")
    parser.add_argument("--exchange", default=os.environ.get("BNLAB_EXCHANGE"),
                        help="nbgrader's exchange (default: $BNLAB_EXCHANGE, else nbgrader's configured one)")
    args = parser.parse_args(argv)
    for assignment, students in release_feedback(Path(args.course).resolve(), args.assignments, args.exchange).items():
        print(f"{assignment}: feedback released for {len(students)} learner(s)"
              + (f" ({', '.join(students)})" if students else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

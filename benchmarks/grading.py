"""How long grading a cohort takes: `bnlab grade` against `nbgrader autograde` run serially.

    python benchmarks/grading.py [--students 40] [--workers N] [--assignment 03_layer_placement]

Builds a cohort of correct submissions (the instructor's solution notebook under different
student ids), grades it with plain `nbgrader autograde` (serial, nbgrader's own Execute), then
with `bnlab grade`, both on this machine in one run, and prints

- the two wall times and their ratio (bnlab / nbgrader; lower is better, the target is 0.4);
- bnlab's mean time per submission, split into prepare (read + nbgrader restore), start
  (kernel), execution (the notebook), evidence (the sandboxed evidence step: answer cells again,
  the learner's objects called on the judge's cases), judge (verdicts from the evidence, scores)
  and bookkeeping (gradebook, feedback).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course.build import ensure_tools_on_path, source_notebook, write_notebook  # noqa: E402


def make_cohort(folder: Path, assignment: str, students: int) -> None:
    notebook = source_notebook(ROOT, assignment)
    for index in range(students):
        write_notebook(notebook, folder / f"student{index:03d}" / assignment / f"{assignment}.ipynb")


def time_nbgrader(work: Path, assignment: str, students: int) -> float:
    """A plain nbgrader course: source/, submitted/, its own gradebook; autograde all, serially."""
    course = work / "nbgrader-course"
    (course / "source" / assignment).mkdir(parents=True)
    write_notebook(source_notebook(ROOT, assignment), course / "source" / assignment / f"{assignment}.ipynb")
    make_cohort(course / "submitted", assignment, students)
    common = [f"--CourseDirectory.root={course}", "--CourseDirectory.course_id=bench"]
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", *common],
                   check=True, capture_output=True, cwd=course)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force", *common],
                   check=True, capture_output=True, cwd=course)
    return time.perf_counter() - started


def time_bnlab(work: Path, assignment: str, students: int, workers: int) -> tuple[float, list[dict]]:
    submitted = work / "bnlab-submitted"
    make_cohort(submitted, assignment, students)
    out = work / "bnlab-out"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(submitted), "--out", str(out),
                    "--workers", str(workers), "--quiet"], check=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    records = [json.loads(p.read_text()) for p in (out / "results" / assignment).glob("*.json")]
    assert all(r["score"] == r["max_score"] for r in records), "a correct submission lost points"
    return elapsed, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--assignment", default="03_layer_placement")
    parser.add_argument("--skip-nbgrader", action="store_true", help="time bnlab only")
    args = parser.parse_args()
    ensure_tools_on_path()
    work = Path(tempfile.mkdtemp(prefix="bnlab-bench-"))
    try:
        print(f"cohort: {args.students} correct submissions of {args.assignment}; {os.cpu_count()} CPUs; "
              f"bnlab workers: {args.workers}", flush=True)
        bnlab_seconds, records = time_bnlab(work, args.assignment, args.students, args.workers)
        print(f"bnlab grade:              {bnlab_seconds:7.1f} s  ({bnlab_seconds / args.students:.2f} s per submission)",
              flush=True)
        if not args.skip_nbgrader:
            nbgrader_seconds = time_nbgrader(work, args.assignment, args.students)
            print(f"nbgrader autograde:       {nbgrader_seconds:7.1f} s  "
                  f"({nbgrader_seconds / args.students:.2f} s per submission, serial)")
            print(f"ratio bnlab / nbgrader:   {bnlab_seconds / nbgrader_seconds:7.2f}  (lower is better; 0.33 before the judge)")
        print("bnlab, mean seconds per submission (each in its worker; workers overlap):")
        for part in ("prepare", "start", "execution", "evidence", "judge", "bookkeeping"):
            values = [r["timings"].get(part, 0.0) for r in records]
            print(f"  {part:<12} {statistics.mean(values):6.2f}  (median {statistics.median(values):.2f}, "
                  f"max {max(values):.2f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

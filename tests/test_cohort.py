"""The cohort engine: parallel equals serial, resuming after a kill, the report, and the
instructor's own mistakes."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.course.build import source_notebook
from conftest import ROOT, grade, released, run_bnlab, with_answers, write_submission

ASSIGNMENT = "03_layer_placement"
CORPUS = ROOT / "tests" / "corpus"


def _cohort(folder: Path, size: int = 6) -> Path:
    """A small mixed class: right answers, typical mistakes, an untouched notebook, the solution."""
    mlp = ["sequential", "after_relu", "thrown_away", "tensor_methods", "hard_coded", "eval_in_forward",
           "module_dict", "on_input"]
    cnn = ["sequential", "after_relu", "batchnorm1d", "named_functional"]
    base = released(ASSIGNMENT)
    for index in range(size - 2):
        answers = {"bn_mlp": (CORPUS / "bn_mlp" / f"{mlp[index % len(mlp)]}.py").read_text(),
                   "bn_cnn": (CORPUS / "bn_cnn" / f"{cnn[index % len(cnn)]}.py").read_text()}
        write_submission(folder, f"learner{index:02d}", ASSIGNMENT, with_answers(base, answers))
    write_submission(folder, "untouched", ASSIGNMENT, base)
    write_submission(folder, "solution", ASSIGNMENT, source_notebook(ROOT, ASSIGNMENT))
    return folder


def _comparable(records: dict) -> dict:
    return {key: {field: record[field] for field in ("status", "reason", "score", "max_score", "cells", "hashes")}
            for key, record in records.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The cohort graded once, uninterrupted, serially."""
    submitted = _cohort(tmp_path_factory.mktemp("submitted"), size=8)
    out = tmp_path_factory.mktemp("serial")
    return submitted, out, grade(submitted, out, "--workers", "1")


@pytest.mark.slow
def test_parallel_and_serial_grades_are_identical(reference, tmp_path):
    submitted, _, serial = reference
    parallel = grade(submitted, tmp_path / "parallel", "--workers", "2")
    assert _comparable(parallel) == _comparable(serial)
    assert {record["status"] for record in serial.values()} == {"graded"}
    scores = {student: record["score"] for (student, _), record in serial.items()}
    assert scores["solution"] == 8 and scores["untouched"] == 0
    assert scores["learner00"] == 8  # sequential + sequential


@pytest.mark.slow
def test_resume_after_sigkill_loses_nothing_and_duplicates_nothing(reference, tmp_path):
    submitted, _, uninterrupted = reference
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", str(submitted), "--out", str(out),
                                "--workers", "2", "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and len(list((out / "results").glob("*/*.json"))) < 3:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    recorded_before = {p.name for p in (out / "results").glob("*/*.json")}
    assert 3 <= len(recorded_before) < len(uninterrupted), "the kill should land mid-run"
    assert _processes_left_by(process.pid) == set(), "kernels outlived the killed grader"

    result = run_bnlab("grade", str(submitted), "--out", str(out), "--workers", "2")
    assert f"{len(recorded_before)} submission(s) unchanged" in result.stdout
    resumed = {(r["student_id"], r["assignment"]): r for r in json.loads((out / "grades.json").read_text())}
    assert _comparable(resumed) == _comparable(uninterrupted)
    with sqlite3.connect(out / "gradebook.db") as db:
        submissions = db.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()[0]
        grades = db.execute("SELECT COUNT(*) FROM grade").fetchone()[0]
    assert submissions == len(uninterrupted)
    assert grades == 2 * len(uninterrupted)  # two graded cells each, no duplicates


def _grader_processes(grader_pid: int) -> set[int]:
    """Processes alive in the per-submission cgroups of a grader (named after its pid)."""
    from autograder.run.limits import CgroupSupport

    found = CgroupSupport()  # not limits.support(): that ends a dead grader's leftovers first
    alive = set()
    for folder in [f for parent in (found.pids, found.memory) if parent is not None
                   for f in parent.glob(f"bnlab-{grader_pid}-*")]:
        try:
            alive.update(int(pid) for pid in (folder / "cgroup.procs").read_text().split())
        except OSError:
            pass
    return alive


def _processes_left_by(grader_pid: int, wait: float = 10.0) -> set[int]:
    """Processes of a grader's submissions still alive ``wait`` seconds after it ended."""
    deadline = time.monotonic() + wait
    while True:
        alive = _grader_processes(grader_pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@pytest.mark.slow
def test_sigterm_ends_the_run_as_ctrl_c_does(tmp_path):
    """`kill` (or a batch system's time limit) mid-run: the grader says so and exits, the
    submissions' kernels are gone, the scratch tmpfs is unmounted, what was recorded stays."""
    slow = "import time\ntime.sleep(300)\n"
    base = released(ASSIGNMENT)
    for index in range(3):
        write_submission(tmp_path / "submitted", f"slow{index}", ASSIGNMENT,
                         with_answers(base, {"bn_mlp": slow, "bn_cnn": slow}))
    process = subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", str(tmp_path / "submitted"),
                                "--out", str(tmp_path / "out"), "--workers", "2", "--timeout", "300", "--quiet"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(_grader_processes(process.pid)) < 2:
            time.sleep(0.2)
        assert len(_grader_processes(process.pid)) >= 2, "both slots should be running a kernel"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)  # not the 300 s the running cells would take
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "interrupted; grades recorded so far are kept" in stderr
    assert _processes_left_by(process.pid, wait=0) == set(), "kernels outlived the stopped grader"
    assert not list(Path("/tmp").glob(f"bnlab-{process.pid}-*")), "the scratch root was left behind"


@pytest.mark.slow
def test_rerun_skips_unchanged_and_regrades_changed(reference, tmp_path):
    submitted, _, _ = reference
    out = tmp_path / "out"
    grade(submitted, out, "--workers", "2")
    changed = submitted / "untouched" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    original = changed.read_bytes()
    try:
        write_submission(submitted, "untouched", ASSIGNMENT, source_notebook(ROOT, ASSIGNMENT))
        result = run_bnlab("grade", str(submitted), "--out", str(out), "--workers", "2")
        assert "7 submission(s) unchanged" in result.stdout
        records = {(r["student_id"]): r for r in json.loads((out / "grades.json").read_text())}
        assert records["untouched"]["score"] == 8
        forced = run_bnlab("grade", str(submitted), "--out", str(out), "--workers", "2", "--force")
        assert "unchanged" not in forced.stdout
    finally:
        changed.write_bytes(original)


@pytest.mark.slow
def test_report_shows_histogram_pass_rates_and_frequent_diagnoses(reference):
    _, out, _ = reference
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<svg role='img'" in report  # the score histogram (tests/test_report.py checks the rest)
    assert "Item analysis" in report and "bn_mlp_test" in report and "bn_cnn_test" in report
    assert "BatchNorm1d comes after the ReLU" in report
    assert "Not answered yet" in report


@pytest.mark.slow
def test_summary_and_progress_are_printed(reference, tmp_path):
    submitted, _, _ = reference
    result = run_bnlab("grade", str(submitted), "--out", str(tmp_path / "out"), "--workers", "2",
                       "--assignment", ASSIGNMENT)
    assert "bnlab grade: summary" in result.stdout
    assert "graded" in result.stdout


def test_unwritable_out_is_refused_with_nothing_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_bnlab("grade", str(tmp_path), "--out", str(blocker / "out"), check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot write to --out" in result.stderr


def test_gradebook_of_another_course_is_refused(tmp_path):
    from autograder.course.build import ensure_tools_on_path
    from nbgrader.api import Gradebook

    ensure_tools_on_path()
    out = tmp_path / "out"
    out.mkdir()
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "someone-elses-course"):
        pass
    write_submission(tmp_path / "submitted", "alice", ASSIGNMENT, released(ASSIGNMENT))
    result = run_bnlab("grade", str(tmp_path / "submitted"), "--out", str(out), check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "someone-elses-course" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["gradebook.db"]

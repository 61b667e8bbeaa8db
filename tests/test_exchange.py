"""Release, fetch, submit, collect and grade through nbgrader's exchange, as on one shared machine:
a temporary exchange folder, the instructor's `bnlab release` / `bnlab collect`, and two learners
who fetch and submit with nbgrader's own commands from their own home folders."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course.exchange import learner_config
from conftest import ROOT, grade, run_bnlab, with_answers

ASSIGNMENT = "03_layer_placement"
CORPUS = ROOT / "tests" / "corpus"


def learner(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run an nbgrader command as the learner whose home folder is ``home`` (in that folder)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "NBGRADER"))}
    env["HOME"] = str(home)
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=home, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_release_fetch_submit_collect_grade(tmp_path):
    exchange = tmp_path / "exchange"
    released = run_bnlab("release", ASSIGNMENT, "--exchange", str(exchange))
    assert (exchange / "bnlab" / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file(), released.stdout

    # Releasing again without --force is the instructor's mistake: one line, non-zero exit.
    again = run_bnlab("release", ASSIGNMENT, "--exchange", str(exchange), "--no-build", check=False)
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1 and "--force" in again.stderr

    # Each learner's Jupyter knows the course and the exchange from its nbgrader_config.py (as the
    # Assignments panel does); the student id is given explicitly, as all learners share one unix user here.
    copies = {}
    for student in ("alice", "bob"):
        home = tmp_path / "home" / student
        (home / ".jupyter").mkdir(parents=True)
        (home / ".jupyter" / "nbgrader_config.py").write_text(learner_config(exchange))
        learner(home, "fetch_assignment", ASSIGNMENT)
        copies[student] = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert copies[student].read_bytes() == (ROOT / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()

    answers = {"bn_mlp": (CORPUS / "bn_mlp" / "sequential.py").read_text(encoding="utf-8"),
               "bn_cnn": (CORPUS / "bn_cnn" / "sequential.py").read_text(encoding="utf-8")}
    nbformat.write(with_answers(nbformat.read(copies["alice"], as_version=4), answers), copies["alice"])

    for student in ("alice", "bob"):
        learner(tmp_path / "home" / student, "submit", ASSIGNMENT, f"--student={student}")

    submitted = tmp_path / "submitted"
    collected = run_bnlab("collect", ASSIGNMENT, "--exchange", str(exchange), "--to", str(submitted))
    assert "alice, bob" in collected.stdout
    for student in ("alice", "bob"):
        assert (submitted / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()

    grades = grade(submitted, tmp_path / "out")
    alice, bob = grades[("alice", ASSIGNMENT)], grades[("bob", ASSIGNMENT)]
    assert alice["status"] == "graded" and alice["max_score"] > 0
    assert alice["score"] == alice["max_score"], alice["cells"]
    assert bob["score"] == 0 and bob["max_score"] == alice["max_score"], bob["cells"]


def test_collect_from_an_exchange_without_the_course_is_a_one_line_error(tmp_path):
    result = run_bnlab("collect", ASSIGNMENT, "--exchange", str(tmp_path / "nowhere"), "--to",
                       str(tmp_path / "submitted"), check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "no bnlab course in the exchange" in result.stderr


def test_release_of_an_unknown_assignment_is_a_one_line_error(tmp_path):
    result = run_bnlab("release", "99_nope", "--exchange", str(tmp_path / "exchange"), check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "unknown assignment '99_nope'" in result.stderr
    assert not (tmp_path / "exchange").exists()


def test_release_collect_bundle_have_help():
    for command in ("release", "collect", "bundle"):
        result = run_bnlab(command, "--help")
        assert "usage: bnlab" in result.stdout and command in result.stdout


def test_bundle_into_a_missing_folder_is_a_one_line_error(tmp_path):
    result = run_bnlab("bundle", "--out", str(tmp_path / "missing" / "b.zip"), check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "does not exist" in result.stderr

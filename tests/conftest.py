"""Shared fixtures: the course root, building submissions, running the real `bnlab` command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


def run_bnlab(*args: str, check: bool = True, timeout: float = 3000) -> subprocess.CompletedProcess:
    """Run the installed `bnlab` command line as an instructor would."""
    command = [sys.executable, "-m", "autograder.cli", *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"bnlab {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def released(assignment: str) -> nbformat.NotebookNode:
    """The learner's copy of a lesson, as committed in lessons/."""
    return nbformat.read(ROOT / "lessons" / assignment / f"{assignment}.ipynb", as_version=4)


def with_answers(notebook: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose answer cells (by grade_id) hold the given sources."""
    notebook = nbformat.from_dict(json.loads(nbformat.writes(notebook)))
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def write_submission(submitted: Path, student_id: str, assignment: str, notebook) -> Path:
    """Put a notebook where nbgrader's submitted layout expects it."""
    path = submitted / student_id / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, (bytes, str)):
        path.write_bytes(notebook if isinstance(notebook, bytes) else notebook.encode())
    else:
        nbformat.write(notebook, path)
    return path


def grade(submitted: Path, out: Path, *extra: str) -> dict[tuple[str, str], dict]:
    """Run `bnlab grade` and return grades.json keyed by (student_id, assignment)."""
    run_bnlab("grade", str(submitted), "--out", str(out), "--quiet", *extra)
    records = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    return {(record["student_id"], record["assignment"]): record for record in records}


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


os.environ.setdefault("PYTHONUNBUFFERED", "1")


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session, shared by every browser test: Playwright's sync API
    runs its event loop in the test's thread, so a second ``sync_playwright()`` cannot start
    while a first one is open."""
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'", pytrace=False)
    from browser_support import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make browser` does)", pytrace=False)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()

"""The lessons as learners and instructors meet them: built from solutions/, nothing leaked,
the solutions run clean and earn full marks, the untouched lessons earn nothing."""
from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest

from autograder.course.build import assignments, source_notebook
from conftest import ROOT, grade, released, run_bnlab, write_submission

ASSIGNMENTS = assignments(ROOT)


def test_lessons_are_built_from_solutions():
    """`bnlab check` rebuilds every lesson and fails when lessons/ is stale."""
    result = run_bnlab("check", check=False)
    assert result.returncode == 0, result.stderr


def test_check_detects_a_stale_lesson(tmp_path):
    """Editing a source without rebuilding is caught."""
    subprocess.run(["cp", "-r", str(ROOT / "solutions"), str(ROOT / "lessons"), str(ROOT / "nbgrader_config.py"),
                    str(tmp_path)], check=True)
    assignment = ASSIGNMENTS[0]
    source = tmp_path / "solutions" / assignment / f"{assignment}.py"
    source.write_text(source.read_text(encoding="utf-8") + "\n# %% [markdown]\n# A new paragraph.\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(tmp_path), "check"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert f"stale for {assignment}" in result.stderr


def _solution_regions(text: str, begin: str, end: str) -> list[str]:
    return re.findall(rf"{begin}\n(.*?)\n\s*{end}", text, flags=re.S)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_lesson_leaks_no_solution_or_hidden_test(assignment):
    lesson = (ROOT / "lessons" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in lesson
    notebook = nbformat.reads(lesson, as_version=4)
    lesson_code = "\n".join(cell.source for cell in notebook.cells)
    source = "\n".join(cell.source for cell in source_notebook(ROOT, assignment).cells)
    hidden = _solution_regions(source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    solutions = _solution_regions(source, "### BEGIN SOLUTION", "### END SOLUTION")
    assert hidden or solutions
    for region in hidden + solutions:
        for line in region.splitlines():
            line = line.strip()
            if len(line) > 25 and not line.startswith("#"):
                assert line not in lesson_code, f"{assignment} leaks {line!r}"
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "outputs committed"


def test_sources_are_text_without_outputs():
    for assignment in ASSIGNMENTS:
        assert (ROOT / "solutions" / assignment / f"{assignment}.py").is_file()
    tracked = subprocess.run(["git", "ls-files", "solutions"], cwd=ROOT, capture_output=True, text=True).stdout
    assert ".ipynb" not in tracked, "solution notebooks are built, not committed"


@pytest.fixture(scope="module")
def solved_and_untouched(tmp_path_factory):
    """Every lesson submitted twice: the instructor's solution, and the learner's copy untouched."""
    submitted = tmp_path_factory.mktemp("submitted")
    for assignment in ASSIGNMENTS:
        write_submission(submitted, "solution", assignment, source_notebook(ROOT, assignment))
        write_submission(submitted, "untouched", assignment, released(assignment))
    out = tmp_path_factory.mktemp("out")
    return grade(submitted, out, "--workers", "2"), out


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_earns_full_marks(solved_and_untouched, assignment):
    records, _ = solved_and_untouched
    record = records[("solution", assignment)]
    assert record["status"] == "graded", record["reason"]
    assert record["max_score"] > 0
    assert record["score"] == record["max_score"], record["cells"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_executes_without_error(solved_and_untouched, assignment):
    _, out = solved_and_untouched
    executed = nbformat.read(out / "autograded" / "solution" / assignment / f"{assignment}.ipynb", as_version=4)
    errors = [(index, output.get("ename"), output.get("evalue")) for index, cell in enumerate(executed.cells)
              if cell.cell_type == "code" for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    assert all(cell.execution_count for cell in executed.cells if cell.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_lesson_earns_nothing_and_says_not_answered(solved_and_untouched, assignment):
    records, _ = solved_and_untouched
    record = records[("untouched", assignment)]
    assert record["score"] == 0
    for cell in record["cells"].values():
        assert "Not answered yet" in cell["feedback"]


@pytest.mark.slow
def test_outputs_for_instructor(solved_and_untouched):
    """grades.csv has a row per submission and a column per graded cell; feedback pages and the
    gradebook exist; the gradebook holds the same scores."""
    records, out = solved_and_untouched
    lines = (out / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + len(records)
    header = lines[0].split(",")
    for (_, assignment), record in records.items():
        for grade_id in record["cells"]:
            assert f"{assignment}:{grade_id}" in header
    for student in ("solution", "untouched"):
        for assignment in ASSIGNMENTS:
            page = (out / "feedback" / student / f"{assignment}.html").read_text(encoding="utf-8")
            assert assignment in page
            assert "BEGIN HIDDEN TESTS" not in page and ".hidden(globals())" not in page
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "bnlab") as gradebook:
        for assignment in ASSIGNMENTS:
            submission = gradebook.find_submission(assignment, "solution")
            assert submission.score == records[("solution", assignment)]["score"]
            assert gradebook.find_submission(assignment, "untouched").score == 0

"""Scores: each exercise's test cell from the judge's verdicts, other graded cells from the run."""
from __future__ import annotations

import re
from typing import Optional

import nbformat

from autograder.course.build import InstructorVersion
from autograder.submission.result import CellResult

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return ""


def diagnosis_from_error(output) -> str:
    """The plain-words feedback for a failed test cell's error output."""
    name, value = output.get("ename", "Error"), ANSI.sub("", str(output.get("evalue", "")))
    if name == "CheckFailed":
        return value
    if name == "NotImplementedError":
        return "Not answered yet: the answer cell still raises NotImplementedError; replace it with your code."
    if name == "ModuleNotFoundError" and "autograder" in value:
        return "The checks could not be loaded: install bnlab (see the README) and run the notebook again."
    return f"The test stopped with {name}: {value}"[:600]


def score_cells(notebook: nbformat.NotebookNode, instructor: InstructorVersion, stopped: Optional[str]) -> dict:
    """Score each of the instructor's graded cells from the executed notebook.

    A test cell earns its points when it ran and raised no error.  Output on stderr (PyTorch
    warnings, prints to sys.stderr) is not a failure.
    """
    by_id = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id and grade_id not in by_id:
            by_id[grade_id] = cell
    cells = {}
    for grade_id, points in instructor.graded_cells.items():
        answer_problem = _answer_problem(by_id, instructor, grade_id)
        cell = by_id.get(grade_id)
        if cell is None or cell.cell_type != "code":
            cells[grade_id] = CellResult(0.0, points, "This test cell is missing from the notebook.")
            continue
        errors = [output for output in cell.get("outputs", []) if output.get("output_type") == "error"]
        if errors:
            cells[grade_id] = CellResult(0.0, points, answer_problem or diagnosis_from_error(errors[-1]))
        elif cell.get("execution_count") is None:
            cells[grade_id] = CellResult(0.0, points, f"This test did not run: {stopped or 'the notebook stopped before it.'}")
        else:
            passed_lines = [line.strip() for output in cell.get("outputs", []) for line in _text(output).splitlines()
                            if line.strip().startswith("✓")]
            cells[grade_id] = CellResult(points, points, "\n".join(passed_lines) or "All checks passed.")
    return cells


def answer_for(instructor: InstructorVersion, test_id: str) -> Optional[str]:
    """The answer cell a test cell checks: the longest answer grade_id that prefixes it."""
    candidates = [answer for answer in instructor.answer_cells if test_id.startswith(answer)]
    return max(candidates, key=len) if candidates else None


def _answer_problem(by_id: dict, instructor: InstructorVersion, test_id: str) -> Optional[str]:
    """A diagnosis when the answer cell itself failed (not answered, or raised)."""
    answer_id = answer_for(instructor, test_id)
    cell = by_id.get(answer_id) if answer_id else None
    if cell is None or cell.cell_type != "code":
        return None
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            if output.get("ename") == "NotImplementedError":
                return (f"Not answered yet: the answer cell {answer_id} still raises NotImplementedError; "
                        f"replace it with your code.")
            value = ANSI.sub("", str(output.get("evalue", "")))
            return f"Your answer cell {answer_id} raised {output.get('ename')}: {value}"[:600]
    return None

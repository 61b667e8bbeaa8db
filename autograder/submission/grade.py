"""Grade one submission: read it, restore the instructor's cells, execute, score.

:func:`grade_submission` is a plain function from a notebook file to a :class:`Result`; it
writes nothing but the executed notebook it is asked to keep.  The cohort layer
(:mod:`autograder.cohort.run`) adds the queue, the gradebook, the reports and resuming.

Scores come from the instructor's version: which cells are graded and how many points each
is worth are read from it, never from the submission's metadata.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

import nbformat
from nbgrader.preprocessors import (
    CheckCellMetadata, ClearOutput, DeduplicateIds, LimitOutput, OverwriteCells, OverwriteKernelspec,
)

from autograder.course.build import InstructorVersion
from autograder.run.notebook import Limits, Zygote, execute_notebook, run_trusted
from autograder.run.sandbox import prepare_scratch

MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclasses.dataclass
class CellResult:
    score: float
    max_score: float
    feedback: str

    def as_dict(self) -> dict:
        return {"score": self.score, "max_score": self.max_score, "feedback": self.feedback}


@dataclasses.dataclass
class Result:
    """The grade of one (student, assignment)."""

    student_id: str
    assignment: str
    status: str  # "graded", or one word for what went wrong
    reason: Optional[str]  # None, or one sentence
    score: float
    max_score: float
    cells: dict[str, CellResult]
    submission_sha256: str = ""
    instructor_sha256: str = ""
    environment_sha256: str = ""
    timings: dict = dataclasses.field(default_factory=dict)
    notebook: Optional[nbformat.NotebookNode] = dataclasses.field(default=None, repr=False)

    def as_dict(self) -> dict:
        """The record in grades.json (the executed notebook is kept separately)."""
        return {
            "student_id": self.student_id, "assignment": self.assignment, "status": self.status,
            "reason": self.reason, "score": self.score, "max_score": self.max_score,
            "cells": {grade_id: cell.as_dict() for grade_id, cell in self.cells.items()},
            "submission_sha256": self.submission_sha256, "instructor_sha256": self.instructor_sha256,
            "environment_sha256": self.environment_sha256,
            "timings": {name: round(value, 3) for name, value in self.timings.items()},
        }

    @classmethod
    def from_dict(cls, record: dict) -> "Result":
        cells = {grade_id: CellResult(**cell) for grade_id, cell in record["cells"].items()}
        fields = {key: record[key] for key in ("student_id", "assignment", "status", "reason", "score",
                                                "max_score", "submission_sha256", "instructor_sha256",
                                                "environment_sha256", "timings") if key in record}
        return cls(cells=cells, **fields)


class Unreadable(Exception):
    """The submission cannot be read as a notebook; ``status`` and ``reason`` say why."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read a notebook file, telling apart the ways a file can fail to be one."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise Unreadable("unreadable", f"The notebook file could not be read ({error.strerror}).")
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise Unreadable("too_large", f"The notebook file is {len(data) / 2**20:.0f} MiB; the limit is "
                                      f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MiB (clear large outputs and resubmit).")
    if not data.strip():
        raise Unreadable("empty", "The notebook file is empty.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("unreadable", "The file is not UTF-8 text: it may be binary or saved in another encoding.")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise Unreadable("malformed", f"The notebook is not valid JSON (line {error.lineno}): it may be truncated "
                                      f"or edited outside Jupyter.")
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise Unreadable("malformed", "The file is JSON but not a Jupyter notebook.")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook, relax_add_props=True)
    except Exception as error:  # nbformat raises many kinds for broken structure
        message = str(error).splitlines()[0][:160]
        raise Unreadable("malformed", f"The notebook's structure is invalid ({message}).")
    return notebook


def sanitize_metadata(notebook: nbformat.NotebookNode, instructor: InstructorVersion) -> None:
    """Make the submission's nbgrader metadata the instructor's, before nbgrader's restore.

    nbgrader trusts the metadata it restores by, and a learner can edit it: nbgrader then
    raises on duplicated, unknown or re-flagged cells.  Here every cell whose grade_id the
    instructor's version has gets the instructor's metadata (flags, points); a second cell with
    the same grade_id, or a grade_id the instructor does not have, becomes a plain cell; an
    answer cell whose metadata was stripped is found again as the code cell just before its
    test cell (or, if there is none, an empty answer is put there).
    """
    known = {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]
             for cell in instructor.notebook.cells if "nbgrader" in cell.metadata}
    seen: set[str] = set()
    for cell in notebook.cells:
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta = cell.metadata["nbgrader"]
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(grade_id, str) or grade_id not in known or grade_id in seen:
            del cell.metadata["nbgrader"]
            continue
        seen.add(grade_id)
        cell.metadata["nbgrader"] = nbformat.from_dict(json.loads(json.dumps(known[grade_id])))
    if len(notebook.cells) == len(instructor.notebook.cells):
        # Same number of cells as the lesson: metadata stripped from a cell is found by position.
        for cell, source_cell in zip(notebook.cells, instructor.notebook.cells):
            grade_id = source_cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id and grade_id not in seen and "nbgrader" not in cell.metadata:
                cell.metadata["nbgrader"] = nbformat.from_dict(json.loads(json.dumps(known[grade_id])))
                seen.add(grade_id)
    for answer in instructor.answer_cells:
        if answer in seen:
            continue
        tests = [index for index, cell in enumerate(notebook.cells)
                 if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith(answer + "_test")]
        meta = nbformat.from_dict(json.loads(json.dumps(known[answer])))
        if not tests:  # both gone: an empty answer, after which nbgrader re-inserts the test cell
            notebook.cells.append(nbformat.v4.new_code_cell("", metadata={"nbgrader": meta}))
            continue
        index = tests[0]
        before = notebook.cells[index - 1] if index > 0 else None
        if before is not None and before.cell_type == "code" and "nbgrader" not in before.metadata:
            before.metadata["nbgrader"] = meta
        else:
            notebook.cells.insert(index, nbformat.v4.new_code_cell("", metadata={"nbgrader": meta}))


def restore_instructor_cells(notebook: nbformat.NotebookNode, instructor: InstructorVersion, db_url: str,
                             student_id: str) -> nbformat.NotebookNode:
    """nbgrader's sanitizing steps: clear outputs, de-duplicate cells, restore the kernelspec and
    every locked/test cell (hidden tests included) from the gradebook, re-adding deleted ones."""
    sanitize_metadata(notebook, instructor)
    resources = {"nbgrader": {"db_url": db_url, "assignment": instructor.assignment,
                              "notebook": instructor.assignment, "student": student_id}}
    overwrite = OverwriteCells()
    overwrite.add_missing_cells = True
    for preprocessor in (ClearOutput(), DeduplicateIds(), OverwriteKernelspec(), overwrite, CheckCellMetadata()):
        notebook, resources = preprocessor.preprocess(notebook, resources)
    return notebook


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


def limit_outputs(notebook: nbformat.NotebookNode, max_chars: int) -> None:
    """Cap what is stored of each output (a learner may print megabytes)."""
    notebook, _ = LimitOutput().preprocess(notebook, {})
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and len(output.get("text", "")) > max_chars:
                cut = len(output["text"]) - max_chars
                output["text"] = output["text"][:max_chars] + f"\n... [{cut} more characters not kept]\n"
            for key, value in list(output.get("data", {}).items()):
                if isinstance(value, str) and len(value) > 4 * max_chars and not key.startswith("image/"):
                    output["data"][key] = value[:max_chars] + " ... [cut]"


def answer_sources(notebook: nbformat.NotebookNode, instructor: InstructorVersion) -> list[tuple[str, str]]:
    """The learner's answer cells, by the instructor's grade_ids, in the instructor's order
    (after :func:`sanitize_metadata`, which finds answer cells whose metadata was stripped)."""
    sources = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in instructor.answer_cells and grade_id not in sources:
            sources[grade_id] = cell.source
    return [(answer, sources[answer]) for answer in instructor.answer_cells if answer in sources]


def trusted_request(notebook: nbformat.NotebookNode, instructor: InstructorVersion) -> dict:
    """What the trusted re-check needs: the exercises to check and the learner's answers."""
    import secrets

    from autograder.checks import exercise_module

    exercises = []
    for test_id in instructor.graded_cells:
        answer = answer_for(instructor, test_id)
        if answer is None:
            continue
        try:
            exercise_module(answer)
        except ImportError:
            continue
        exercises.append({"answer": answer, "test": test_id})
    return {"token": secrets.token_hex(16), "exercises": exercises,
            "answers": answer_sources(notebook, instructor)}


def grade_submission(path: Path, instructor: InstructorVersion, db_url: str, student_id: str,
                     limits: Limits = Limits(), environment_sha256: str = "", zygote: Optional[Zygote] = None,
                     sandbox_uid: Optional[int] = None, scratch_root: Optional[Path] = None) -> Result:
    """Grade the notebook at ``path`` against the instructor's version of its assignment."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    max_score = instructor.max_score
    result = Result(student_id=student_id, assignment=instructor.assignment, status="graded", reason=None,
                    score=0.0, max_score=max_score, cells={}, instructor_sha256=instructor.sha256,
                    environment_sha256=environment_sha256, timings=timings)
    try:
        result.submission_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        pass

    def unscored(feedback: str) -> dict:
        return {grade_id: CellResult(0.0, points, feedback) for grade_id, points in instructor.graded_cells.items()}

    try:
        notebook = read_submission(path)
        notebook = restore_instructor_cells(notebook, instructor, db_url, student_id)
    except Unreadable as problem:
        result.status, result.reason = problem.status, problem.reason
        result.cells = unscored(f"Not graded: {problem.reason}")
        timings["bookkeeping"] = time.perf_counter() - started
        return result
    except Exception as error:  # nbgrader refused the notebook (e.g. invalid nbgrader metadata)
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        result.status, result.reason = "malformed", f"The notebook could not be prepared for grading ({message})."
        result.cells = unscored(f"Not graded: {result.reason}")
        timings["bookkeeping"] = time.perf_counter() - started
        return result
    request = trusted_request(notebook, instructor)
    timings["prepare"] = time.perf_counter() - started

    scratch = Path(tempfile.mkdtemp(prefix="s-", dir=scratch_root))
    try:
        kernel_dir, check_dir = scratch / "notebook", scratch / "check"
        for folder in (scratch, kernel_dir, check_dir):
            prepare_scratch(folder, sandbox_uid)
        for extra in path.parent.iterdir():  # data files that came with the submission
            if extra.is_file() and extra.suffix != ".ipynb" and extra.stat().st_size < 16 * 2**20:
                shutil.copy(extra, kernel_dir / extra.name)
                if sandbox_uid is not None:
                    os.chown(kernel_dir / extra.name, sandbox_uid, sandbox_uid)
        execution = execute_notebook(notebook, kernel_dir, limits, zygote=zygote, sandbox_uid=sandbox_uid)
        timings["start"] = execution.start_seconds
        timings["execution"] = execution.run_seconds
        checks_started = time.perf_counter()
        trusted, trusted_problem = (run_trusted(request, check_dir, limits, zygote=zygote, sandbox_uid=sandbox_uid,
                                                timeout=min(limits.notebook_timeout, 120.0))
                                    if request["exercises"] else ({"verdicts": {}}, ""))
    finally:
        if os.environ.get("BNLAB_KEEP_SCRATCH"):
            print(f"kept scratch folder {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    limit_outputs(execution.notebook, limits.max_output_chars)
    in_notebook = score_cells(execution.notebook, instructor, execution.reason)
    result.cells = decide_scores(in_notebook, request, trusted, trusted_problem)
    result.score = sum(cell.score for cell in result.cells.values())
    if execution.status != "ok":
        result.status, result.reason = execution.status, execution.reason
    elif trusted is None:
        result.status = "timeout" if "longer than" in trusted_problem else (
            "memory" if "memory" in trusted_problem else "crashed")
        result.reason = trusted_problem
    result.notebook = execution.notebook
    timings["checks"] = time.perf_counter() - checks_started
    return result


def decide_scores(in_notebook: dict[str, CellResult], request: dict, trusted: Optional[dict],
                  trusted_problem: str) -> dict[str, CellResult]:
    """Each exercise's test cell is scored by the trusted re-check; the in-notebook run only
    supplies the learner-facing lines of a passing check.  Cells no check module covers keep
    their in-notebook score."""
    cells = dict(in_notebook)
    for exercise in request["exercises"]:
        test = exercise["test"]
        points = in_notebook[test].max_score
        if trusted is None:
            cells[test] = CellResult(0.0, points, f"Not scored: {trusted_problem}")
            continue
        verdict = trusted["verdicts"].get(test, {"passed": False, "feedback": "This exercise was not checked."})
        if verdict["passed"]:
            notebook_lines = in_notebook[test].feedback if in_notebook[test].score == points else ""
            cells[test] = CellResult(points, points, notebook_lines or verdict["feedback"])
        else:
            cells[test] = CellResult(0.0, points, verdict["feedback"])
    return cells


__all__ = ["Result", "CellResult", "Unreadable", "read_submission", "restore_instructor_cells", "score_cells",
           "grade_submission", "Limits"]

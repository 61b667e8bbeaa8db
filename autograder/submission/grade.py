"""Grade one submission: prepare it, run it in the sandbox, judge the evidence, score.

Three steps, each a plain function of plain data, so that they can run in different places
(the cohort runs all three in a worker thread; a Dask cluster prepares and finishes on the
client, which holds the gradebook, and runs the middle step on a worker):

:func:`prepare` (no learner code)
    read the file, restore the instructor's cells with nbgrader, pick out the answer cells.
:func:`run_stages` (learner code, sandboxed)
    1. the notebook, in a fresh kernel, for the learner's feedback;
    2. the evidence step, in a fresh process and a fresh folder made after every process of
       stage 1 is gone: the answer cells again (but one that ran past the cell time limit in
       stage 1), then the exercises' ``collect`` on cases the grader makes only once the answers
       have run (hidden ones from a new random seed).
:func:`finish` (no learner code)
    each exercise's ``judge`` on the evidence, the scores, the Result.

Scores come from the instructor's version: which cells are graded and how many points each
is worth are read from it, never from the submission's metadata.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Optional

import nbformat

from autograder.checks import VISIBLE_SEED, exercise_module
from autograder.course.build import InstructorVersion
from autograder.judge.decide import verdict
from autograder.run.notebook import Limits, Zygote, execute_notebook
from autograder.run.sandbox import end_user_processes, remove_folder, stage_folder, submission_folder
from autograder.run.stage import StageProblem, run_evidence
from autograder.submission.read import Unreadable, read_submission
from autograder.submission.restore import answer_sources, limit_outputs, restore_instructor_cells
from autograder.submission.result import CellResult, Result
from autograder.submission.score import answer_for, score_cells

MAX_EXTRA_BYTES = 16 * 2**20


@dataclasses.dataclass
class Prepared:
    """A submission ready to run: plain data (it may travel to another machine)."""

    student_id: str
    assignment: str
    submission_sha256: str
    notebook: Optional[dict] = None  # the restored notebook (nbformat's JSON)
    exercises: list = dataclasses.field(default_factory=list)  # [{"answer": grade_id, "test": grade_id}]
    answers: list = dataclasses.field(default_factory=list)  # [[grade_id, source]] in the instructor's order
    extras: dict = dataclasses.field(default_factory=dict)  # data files that came with it: name -> base64
    problem: Optional[dict] = None  # {"status", "reason"}: the file could not be prepared
    seconds: float = 0.0


@dataclasses.dataclass
class Slot:
    """Where a submission's learner code runs: a fork server, a sandbox user, a scratch root."""

    zygote: Optional[Zygote] = None
    uid: Optional[int] = None
    scratch_root: Optional[Path] = None


@dataclasses.dataclass
class Ran:
    """What the sandboxed stages gave back: plain data."""

    notebook: Optional[dict]  # the executed notebook (the learner's feedback)
    status: str  # "ok", "timeout", "memory", "crashed"
    reason: Optional[str]
    ran: dict = dataclasses.field(default_factory=dict)  # answer grade_id -> problem (from the step)
    cases: dict = dataclasses.field(default_factory=dict)
    evidence: dict = dataclasses.field(default_factory=dict)
    evidence_problem: Optional[dict] = None  # {"status", "reason"} when the step gave nothing usable
    skipped: dict = dataclasses.field(default_factory=dict)  # answer grade_id -> why the step did not run it
    timings: dict = dataclasses.field(default_factory=dict)


def exercises_of(instructor: InstructorVersion) -> list[dict]:
    """The instructor's graded test cells that an exercise module checks."""
    found = []
    for test_id in instructor.graded_cells:
        answer = answer_for(instructor, test_id)
        if answer is None:
            continue
        try:
            exercise_module(answer)
        except ImportError:
            continue
        found.append({"answer": answer, "test": test_id})
    return found


def prepare(path: Path, instructor: InstructorVersion, db_url: str, student_id: str) -> Prepared:
    """Read ``path`` and restore the instructor's cells (nbgrader, from the gradebook)."""
    started = time.perf_counter()
    prepared = Prepared(student_id=student_id, assignment=instructor.assignment, submission_sha256="")
    try:
        prepared.submission_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        pass
    try:
        notebook = read_submission(path)
        notebook = restore_instructor_cells(notebook, instructor, db_url, student_id)
    except Unreadable as problem:
        prepared.problem = {"status": problem.status, "reason": problem.reason}
    except Exception as error:  # nbgrader refused the notebook (e.g. invalid nbgrader metadata)
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        prepared.problem = {"status": "malformed",
                            "reason": f"The notebook could not be prepared for grading ({message})."}
    else:
        prepared.notebook = dict(nbformat.from_dict(notebook))
        prepared.exercises = exercises_of(instructor)
        prepared.answers = [list(pair) for pair in answer_sources(notebook, instructor)]
        for extra in sorted(path.parent.iterdir()):  # data files that came with the submission
            if extra.is_file() and not extra.is_symlink() and extra.suffix != ".ipynb" \
                    and extra.stat().st_size < MAX_EXTRA_BYTES:
                prepared.extras[extra.name] = base64.b64encode(extra.read_bytes()).decode("ascii")
    prepared.seconds = time.perf_counter() - started
    return prepared


def make_cases(exercises: list[dict]) -> dict:
    """The judge's inputs for each exercise: the visible ones, and hidden ones from a seed drawn now."""
    seed = secrets.randbits(62)
    cases = {}
    for exercise in exercises:
        module = exercise_module(exercise["answer"])
        cases[exercise["answer"]] = {"visible": module.cases(VISIBLE_SEED, False), "hidden": module.cases(seed, True)}
    return cases


def _timed_out_answer(execution, prepared: Prepared, limits: Limits) -> dict:
    """The answer cell that ran past the cell time limit in the notebook, if one did: the evidence
    step would only run it into the same limit again.  The other answer cells run as usual."""
    if execution.timed_out_cell is None:
        return {}
    cell = execution.notebook.cells[execution.timed_out_cell]
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if grade_id not in {answer for answer, _ in prepared.answers}:
        return {}
    return {grade_id: f"your answer cell {grade_id} ran longer than {limits.cell_timeout:g} s in the notebook (an "
                      f"endless loop or a very long computation), so the checks did not run it again."}


def run_stages(prepared: Prepared, limits: Limits, slot: Slot = Slot()) -> Ran:
    """Run the learner's code: the notebook, then the evidence step, each in a fresh folder."""
    folder = submission_folder(slot.scratch_root)
    timings: dict[str, float] = {}
    try:
        kernel_dir = stage_folder(folder, "notebook", slot.uid)
        for name, data in prepared.extras.items():  # before any learner code runs in this folder
            target = kernel_dir / Path(name).name
            target.write_bytes(base64.b64decode(data))
            if slot.uid is not None:
                os.chown(target, slot.uid, slot.uid, follow_symlinks=False)
        notebook = nbformat.from_dict(prepared.notebook)
        execution = execute_notebook(notebook, kernel_dir, limits, zygote=slot.zygote, sandbox_uid=slot.uid)
        if slot.uid is not None:
            end_user_processes(slot.uid)  # whatever stage 1 left running is gone before stage 2 exists
        timings["start"] = execution.start_seconds
        timings["execution"] = execution.run_seconds
        limit_outputs(execution.notebook, limits.max_output_chars)
        ran = Ran(notebook=dict(execution.notebook), status=execution.status, reason=execution.reason,
                  timings=timings, skipped=_timed_out_answer(execution, prepared, limits))
        exercises = [exercise for exercise in prepared.exercises if exercise["answer"] not in ran.skipped]
        if exercises:
            evidence_dir = stage_folder(folder, "evidence", slot.uid)
            modules = [exercise_module(exercise["answer"]) for exercise in exercises]
            preludes = list(dict.fromkeys(getattr(module, "PRELUDE", "") for module in modules))
            request = {"preludes": preludes,
                       "answers": [pair for pair in prepared.answers if pair[0] not in ran.skipped],
                       "exercises": [exercise["answer"] for exercise in exercises]}
            try:
                step = run_evidence(request, lambda: make_cases(exercises), evidence_dir, limits,
                                    zygote=slot.zygote, uid=slot.uid, timeout=min(limits.notebook_timeout, 120.0))
                ran.ran, ran.cases, ran.evidence = step.ran, step.cases, step.evidence
                timings["evidence"] = step.seconds
            except StageProblem as problem:
                ran.evidence_problem = {"status": problem.status, "reason": problem.reason}
                timings["evidence"] = problem.seconds
        return ran
    finally:
        if os.environ.get("BNLAB_KEEP_SCRATCH"):
            print(f"kept scratch folder {folder}")
        else:
            remove_folder(folder)


def _exercise_cell(exercise: dict, ran: Ran, points: float) -> CellResult:
    """An exercise's test cell, from the judge's verdicts on the visible and the hidden cases."""
    answer = exercise["answer"]
    if answer in ran.skipped:
        return CellResult(0.0, points, f"Not scored: {ran.skipped[answer]}")
    if ran.evidence_problem is not None:
        return CellResult(0.0, points, f"Not scored: {ran.evidence_problem['reason']}")
    module = exercise_module(answer)
    lines = []
    for which in ("visible", "hidden"):
        cases = ran.cases.get(answer, {}).get(which)
        gathered = ran.evidence.get(answer, {}).get(which) if isinstance(ran.evidence.get(answer), dict) else None
        found = verdict(module, cases, gathered)
        if not found.passed:
            feedback = found.feedback
            problem = ran.ran.get(answer)
            if problem and problem.startswith("NotImplementedError"):
                feedback = (f"Not answered yet: the answer cell {answer} still raises NotImplementedError; "
                            f"replace it with your code.")
            elif problem:
                feedback = f"Your answer cell {answer} raised {problem}. " + feedback
            return CellResult(0.0, points, feedback)
        lines += found.lines
    return CellResult(points, points, "\n".join(f"✓ {line}" for line in lines) or "All checks passed.")


def finish(prepared: Prepared, ran: Optional[Ran], instructor: InstructorVersion,
           environment_sha256: str = "") -> Result:
    """The Result: the judge's verdicts for the exercises, the run's statuses."""
    started = time.perf_counter()
    result = Result(student_id=prepared.student_id, assignment=instructor.assignment, status="graded", reason=None,
                    score=0.0, max_score=instructor.max_score, cells={}, submission_sha256=prepared.submission_sha256,
                    instructor_sha256=instructor.sha256, environment_sha256=environment_sha256,
                    timings={"prepare": prepared.seconds})
    if prepared.problem is not None or ran is None:
        problem = prepared.problem or {"status": "error", "reason": "The submission was not run."}
        result.status, result.reason = problem["status"], problem["reason"]
        result.cells = {grade_id: CellResult(0.0, points, f"Not graded: {problem['reason']}")
                        for grade_id, points in instructor.graded_cells.items()}
        return result
    result.timings.update(ran.timings)
    executed = nbformat.from_dict(ran.notebook)
    cells = score_cells(executed, instructor, ran.reason)
    for exercise in prepared.exercises:
        test = exercise["test"]
        cells[test] = _exercise_cell(exercise, ran, instructor.graded_cells[test])
    result.cells = cells
    result.score = sum(cell.score for cell in cells.values())
    if ran.status != "ok":
        result.status, result.reason = ran.status, ran.reason
    elif ran.evidence_problem is not None:
        result.status, result.reason = ran.evidence_problem["status"], ran.evidence_problem["reason"]
    result.notebook = executed
    result.timings["judge"] = time.perf_counter() - started
    return result


def grade_submission(path: Path, instructor: InstructorVersion, db_url: str, student_id: str,
                     limits: Limits = Limits(), environment_sha256: str = "", slot: Slot = Slot()) -> Result:
    """Grade the notebook at ``path`` against the instructor's version of its assignment."""
    prepared = prepare(path, instructor, db_url, student_id)
    ran = run_stages(prepared, limits, slot) if prepared.problem is None else None
    return finish(prepared, ran, instructor, environment_sha256)


__all__ = ["Prepared", "Ran", "Slot", "prepare", "run_stages", "finish", "grade_submission", "Result", "CellResult",
           "Limits"]

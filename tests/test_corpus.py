"""Every learner-style answer in tests/corpus/<grade_id>/ gets its expected verdict from `bnlab grade`.

Each case file's first line is ``# expect: pass`` (full points for that exercise's test cell) or
``# expect: fail: <fragment>`` (zero points, and the learner's diagnosis contains the fragment).
All cases of one lesson are graded in one cohort run: student i's notebook holds case i of each
of the lesson's exercises.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from autograder.course.build import assignments, instructor_version
from conftest import ROOT, grade, released, with_answers, write_submission

CORPUS = ROOT / "tests" / "corpus"


def _exercise_lessons() -> dict[str, str]:
    owner = {}
    for assignment in assignments(ROOT):
        for answer in instructor_version(ROOT, assignment).answer_cells:
            owner[answer] = assignment
    return owner


def _cases() -> list[tuple[str, str, Path]]:
    owner = _exercise_lessons()
    cases = []
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.py")):
            cases.append((owner.get(folder.name, "?"), folder.name, path))
    return cases


CASES = _cases()


def _expectation(path: Path) -> tuple[str, str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path} must start with '# expect: pass' or '# expect: fail: ...'"
    verdict = first[len("# expect: "):]
    if verdict == "pass":
        return "pass", ""
    assert verdict.startswith("fail: "), f"{path}: unknown expectation {verdict!r}"
    return "fail", verdict[len("fail: "):]


@pytest.fixture(scope="session")
def corpus_grades(tmp_path_factory):
    """``graded(assignment)`` grades that lesson's whole corpus once (one cohort run) and returns
    {(grade_id, case name): the student's record}."""
    cache: dict[str, dict] = {}

    def graded(assignment: str) -> dict:
        if assignment in cache:
            return cache[assignment]
        exercises: dict[str, list[Path]] = {}
        for owner, exercise, path in CASES:
            if owner == assignment:
                exercises.setdefault(exercise, []).append(path)
        submitted = tmp_path_factory.mktemp(f"corpus-{assignment}")
        where = {}
        base = released(assignment)
        for index in range(max(len(paths) for paths in exercises.values())):
            student = f"corpus-{index:02d}"
            answers = {}
            for exercise, paths in exercises.items():
                path = paths[index % len(paths)]
                answers[exercise] = path.read_text(encoding="utf-8")
                if index < len(paths):
                    where[(exercise, path.stem)] = student
            write_submission(submitted, student, assignment, with_answers(base, answers))
        records = grade(submitted, tmp_path_factory.mktemp(f"corpus-{assignment}-out"), "--workers", "2")
        cache[assignment] = {key: records[(student, assignment)] for key, student in where.items()}
        return cache[assignment]

    return graded


@pytest.mark.slow
@pytest.mark.parametrize("assignment,exercise,path", CASES, ids=[f"{e}/{p.stem}" for _, e, p in CASES])
def test_corpus_case_gets_expected_verdict(corpus_grades, assignment, exercise, path):
    assert assignment != "?", f"no lesson has an answer cell with grade_id {exercise!r}"
    verdict, fragment = _expectation(path)
    record = corpus_grades(assignment)[(exercise, path.stem)]
    cell = record["cells"][f"{exercise}_test"]
    if verdict == "pass":
        assert cell["score"] == cell["max_score"] > 0, f"a right answer lost points: {cell['feedback']}"
    else:
        assert cell["score"] == 0, f"a wrong answer earned {cell['score']} points"
        assert fragment in cell["feedback"], f"diagnosis {cell['feedback']!r} should mention {fragment!r}"
        assert "Traceback" not in cell["feedback"] and "AssertionError" not in cell["feedback"]


def test_every_exercise_has_a_corpus_with_right_and_wrong_answers():
    owner = _exercise_lessons()
    for exercise in owner:
        verdicts = [_expectation(p)[0] for p in (CORPUS / exercise).glob("*.py")]
        assert verdicts.count("pass") >= 2, f"{exercise}: needs right answers in several styles"
        assert verdicts.count("fail") >= 3, f"{exercise}: needs the typical mistakes"
    assert len(list((CORPUS / "bn_mlp").glob("*.py"))) >= 25

"""Every corpus case gets its expected verdict from the judge, in process (seconds, not minutes).

The same cases are graded end to end by ``bnlab grade`` in test_corpus.py; this runs each
exercise's ``collect`` (in a fresh namespace holding the lesson's prelude and the case) and
``judge`` on the visible cases and on hidden cases from several seeds, as the grader does.
"""
from __future__ import annotations

import pytest

from autograder.checks import VISIBLE_SEED, exercise_module, gather, roundtrip
from autograder.judge.decide import verdict
from test_corpus import CASES, _expectation

HIDDEN_SEEDS = (12345, 2**40 + 7)


def judged(exercise: str, source: str) -> tuple[bool, str]:
    """(passed, feedback) as the grader would decide it, for one answer source."""
    module = exercise_module(exercise)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(module.PRELUDE, "<prelude>", "exec"), namespace)
    try:
        exec(compile(source, "<answer cell>", "exec"), namespace)
    except Exception:
        pass  # the answer cell raised: the checks say so
    for seed, hidden in [(VISIBLE_SEED, False), *[(seed, True) for seed in HIDDEN_SEEDS]]:
        cases = roundtrip(module.cases(seed, hidden))
        result = verdict(module, cases, roundtrip(gather(module, namespace, cases)))
        if not result.passed:
            return False, result.feedback
    return True, ""


@pytest.mark.parametrize("assignment,exercise,path", CASES, ids=[f"{e}/{p.stem}" for _, e, p in CASES])
def test_judge_gives_the_expected_verdict(assignment, exercise, path):
    expected, fragment = _expectation(path)
    passed, feedback = judged(exercise, path.read_text(encoding="utf-8"))
    if expected == "pass":
        assert passed, f"a right answer failed: {feedback}"
    else:
        assert not passed, "a wrong answer passed"
        assert fragment in feedback, f"diagnosis {feedback!r} should mention {fragment!r}"

"""The judge: an exercise's verdict from its cases and the evidence the sandbox returned.

This runs in the grader's own process, which never imports or runs learner code: the evidence
is plain data (:mod:`autograder.judge.wire`), and each exercise's ``judge`` function compares it
with a reference it computes itself from the cases and the learner's own parameters.
"""
from __future__ import annotations

import dataclasses
from types import ModuleType

from autograder.judge import wire
from autograder.judge.verdict import CheckFailed


@dataclasses.dataclass
class Verdict:
    passed: bool
    feedback: str
    lines: list[str] = dataclasses.field(default_factory=list)  # what passed, one line each


def judge_gathered(module: ModuleType, cases: dict, gathered: object) -> list[str]:
    """The ✓ lines when everything holds; raises CheckFailed (the diagnosis) or Malformed otherwise.

    ``gathered`` is what :func:`autograder.checks.gather` returned in the sandbox:
    ``{"evidence": ...}``, ``{"failed": diagnosis}`` or ``{"crashed": error}``.
    """
    if not isinstance(gathered, dict) or len(gathered) != 1:
        raise wire.Malformed("the evidence is not of the documented form")
    if "failed" in gathered:
        if not isinstance(gathered["failed"], str):
            raise wire.Malformed("a diagnosis that is not text")
        raise CheckFailed(gathered["failed"][:2000])
    if "crashed" in gathered:
        problem = gathered["crashed"]
        raise CheckFailed(f"The checks could not run your code: {wire.describe(problem)}"[:800])
    lines = module.judge(cases, wire.field(gathered, "evidence"))
    return [str(line) for line in (lines or [])]


def verdict(module: ModuleType, cases: dict, gathered: object) -> Verdict:
    """Never raises: a diagnosis, unreadable evidence and a judge bug all become a failed verdict."""
    try:
        return Verdict(True, "All checks passed.", judge_gathered(module, cases, gathered))
    except CheckFailed as failure:
        return Verdict(False, str(failure.message))
    except wire.Malformed as problem:
        return Verdict(False, f"The evidence from your code could not be read ({problem}); nothing was counted.")
    except Exception as error:  # a bug in a judge, or evidence it did not foresee
        return Verdict(False, f"The checks stopped with {type(error).__name__}: {error}"[:400])

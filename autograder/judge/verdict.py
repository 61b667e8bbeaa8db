"""Diagnoses: how a check says, in plain words, what is wrong."""
from __future__ import annotations

from typing import Any

from autograder.judge import wire


class CheckFailed(AssertionError):
    """A check did not hold. ``str(error)`` is the diagnosis for the learner."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def _render_traceback_(self):
        # IPython calls this instead of printing a traceback: the learner sees only the diagnosis.
        return [f"\x1b[31m✗ {self.message}\x1b[0m"]


def fail(message: str) -> None:
    """Stop the check with a diagnosis for the learner."""
    __tracebackhide__ = True
    raise CheckFailed(message)


def require(condition: bool, message: str) -> None:
    """``fail(message)`` unless ``condition`` holds."""
    __tracebackhide__ = True
    if not condition:
        raise CheckFailed(message)


def not_answered(what: str) -> str:
    return f"Not answered yet: {what} still raises NotImplementedError; replace it with your code."


def require_no_error(outcome: Any, what: str) -> None:
    """Fail with the learner's own exception when ``outcome`` (evidence) is an error."""
    __tracebackhide__ = True
    if wire.kind(outcome) == "error":
        if outcome.get("type") == "NotImplementedError":
            fail(not_answered(what))
        fail(f"{what} raised {outcome.get('type')}: {outcome.get('message')}")

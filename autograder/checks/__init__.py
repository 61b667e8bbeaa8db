"""Behavioural checks for bnlab's graded exercises.

One module per exercise, named after the answer cell's nbgrader grade_id
(``autograder/checks/bn_mlp.py`` for the ``bn_mlp`` cell).  Each module exposes

``PRELUDE``
    Python source that recreates what the lesson gives the learner before the answer cell
    (imports, provided classes).  The trusted re-check runs it, then the learner's answer
    cells, then the checks, in a fresh interpreter.
``visible(namespace)``
    The checks a learner sees in the notebook's test cell.
``hidden(namespace)``
    The further checks nbgrader hides from the learner's copy.

Both take the namespace the answer was run in (``globals()`` in a notebook) and return
``None`` when everything holds.  The first problem raises :class:`CheckFailed` whose message
is the plain-words diagnosis the learner reads: what was expected, what was found, what to do.

No module here holds a reference answer a learner could call instead of writing their own.
"""
from __future__ import annotations

import builtins
import contextlib
import importlib
import inspect
import io
import warnings
from typing import Any, Callable, Iterator, Optional

__all__ = ["CheckFailed", "fail", "require", "lookup", "exercise_module", "quietly"]


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


def lookup(namespace: dict, name: str, kind: str = "function") -> Any:
    """The object the learner defined as ``name``, or a diagnosis saying how to define it.

    ``kind`` is "function" or "class" and only shapes the message.
    """
    __tracebackhide__ = True
    if name not in namespace:
        fail(f"{name} is not defined: name your {kind} {name} and run its cell before this test.")
    value = namespace[name]
    if kind == "class" and not inspect.isclass(value):
        fail(f"{name} should be a class (class {name}(nn.Module): ...), but it is a {type(value).__name__}.")
    if kind == "function" and not callable(value):
        fail(f"{name} should be a function (def {name}(...): ...), but it is a {type(value).__name__}.")
    return value


def exercise_module(grade_id: str):
    """The checks module for an exercise's answer cell ``grade_id``."""
    return importlib.import_module(f"{__name__}.{grade_id}")


# Set by the trusted re-check (autograder.trusted): puts back whatever learner code patched.
_after_learner_code: Optional[Callable[[], None]] = None


@contextlib.contextmanager
def quietly() -> Iterator[io.StringIO]:
    """Run learner code without letting its prints and warnings flood the check's output.

    In the trusted re-check, anything the learner's code patched while it ran (builtins,
    torch functions, nn classes, these checks) is put back when it returns.
    """
    buffer = io.StringIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                yield buffer
    finally:
        if _after_learner_code is not None:
            _after_learner_code()


def call_learner(function: Callable, *args, what: str, **kwargs) -> Any:
    """Call learner code; an exception becomes a diagnosis naming ``what`` failed and why."""
    __tracebackhide__ = True
    try:
        with quietly():
            return function(*args, **kwargs)
    except CheckFailed:
        raise
    except NotImplementedError:
        fail(f"Not answered yet: {what} still raises NotImplementedError; replace it with your code.")
    except Exception as error:  # the learner's code raised: say so in words
        fail(f"{what} raised {type(error).__name__}: {error}")


def passed(message: str) -> None:
    """Tell the learner a check passed (one line in the test cell's output)."""
    builtins.print(f"✓ {message}")

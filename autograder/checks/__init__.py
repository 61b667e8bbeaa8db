"""Behavioural checks for bnlab's graded exercises: evidence in the sandbox, a verdict outside.

One module per exercise, named after the answer cell's nbgrader grade_id
(``autograder/checks/bn_mlp.py`` for the ``bn_mlp`` cell).  Each module states its contract in
its docstring (every default the checks rely on) and exposes

``PRELUDE``
    Python source that recreates what the lesson gives the learner before the answer cell.
``cases(seed, hidden) -> dict``
    Judge side: the inputs the learner's objects are called on, as plain data
    (:mod:`autograder.judge.wire`).  The grader draws ``seed`` after the answer cells ran, so
    the sandbox never sees it before it receives the inputs.
``collect(namespace, cases) -> dict``
    Sandbox side: calls the learner's objects on the cases and describes what they did as
    plain data (outputs, gradients, buffers before and after, parameters, exceptions as text).
    It runs in the learner's process and can be patched by the learner: nothing in it decides.
``judge(cases, evidence) -> list[str]``
    Judge side: compares the evidence with a reference computed from the cases and the
    learner's own parameters, tries the catalogue of typical mistakes for a diagnosis, and
    raises :class:`CheckFailed` with it; returns the lines to show when everything holds.
``visible, hidden = notebook_checks(__name__)``
    What the notebook's test cells call: the same collect and judge, in the learner's kernel,
    so a learner sees the grader's diagnoses (no trust needed there).

The grader (``autograder.submission``) runs ``collect`` in a sandboxed process on the visible
cases and on hidden cases from a fresh seed, and ``judge`` in its own process, which never
imports or runs learner code.  No module here holds a reference answer a learner could call.
"""
from __future__ import annotations

import builtins
import contextlib
import importlib
import inspect
import io
import json
import sys
import warnings
from typing import Any, Callable, Iterator, Optional

from autograder.judge import wire
from autograder.judge.decide import judge_gathered
from autograder.judge.verdict import CheckFailed, fail, require

__all__ = ["CheckFailed", "fail", "require", "lookup", "exercise_module", "quietly", "call", "gather",
           "notebook_checks", "VISIBLE_SEED"]

VISIBLE_SEED = 0
NOTEBOOK_HIDDEN_SEED = 1


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


@contextlib.contextmanager
def quietly() -> Iterator[io.StringIO]:
    """Run learner code without letting its prints and warnings flood the output."""
    buffer = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer


def call(function: Callable, *args, **kwargs) -> tuple[Any, Optional[dict]]:
    """Call learner code quietly: (its result, None), or (None, the exception as plain data).

    Everything is caught, SystemExit and KeyboardInterrupt included: they are the learner's answer.
    """
    try:
        with quietly():
            return function(*args, **kwargs), None
    except BaseException as error:  # noqa: B902 - learner code may raise anything
        return None, wire.error(error)


def gather(module, namespace: dict, cases: dict) -> dict:
    """Sandbox side: the exercise's evidence, or the diagnosis that stopped it (a name not
    defined, not a class...), or the exception that broke the evidence step itself."""
    try:
        return {"evidence": module.collect(namespace, cases)}
    except CheckFailed as failure:
        return {"failed": str(failure.message)}
    except BaseException as error:  # noqa: B902
        return {"crashed": wire.error(error)}


def roundtrip_safe(gathered: dict) -> dict:
    """``gathered`` if it is plain data (JSON), else the error that makes it not."""
    try:
        return json.loads(json.dumps(gathered, allow_nan=False))
    except (TypeError, ValueError) as error:
        return {"crashed": wire.error(error)}


def roundtrip(data: Any) -> Any:
    """What the judge would receive: the same data through JSON (as from the sandbox)."""
    return json.loads(json.dumps(data, allow_nan=False))


def notebook_checks(module_name: str) -> tuple[Callable[[dict], None], Callable[[dict], None]]:
    """The visible and hidden test functions of an exercise, for the notebook's test cell."""
    module = sys.modules[module_name]

    def run(namespace: dict, seed: int, hidden: bool) -> None:
        __tracebackhide__ = True
        cases = roundtrip(module.cases(seed, hidden))
        evidence = roundtrip(gather(module, namespace, cases))
        for line in judge_gathered(module, cases, evidence):
            builtins.print(f"✓ {line}")

    def visible(namespace: dict) -> None:
        """The checks the learner sees in the notebook's test cell."""
        __tracebackhide__ = True
        run(namespace, VISIBLE_SEED, False)

    def hidden(namespace: dict) -> None:
        """The further checks (other inputs) that nbgrader hides from the learner's copy."""
        __tracebackhide__ = True
        run(namespace, NOTEBOOK_HIDDEN_SEED, True)

    return visible, hidden

"""Trusted re-checks: the scores come from here, not from the learner's kernel.

The notebook's own test cells run inside the learner's kernel, where the learner's code ran
first and could have changed anything (an IPython exception handler, a patched
``torch.allclose``, a ``BatchNorm1d`` that does nothing).  They stay as the learner's
feedback.  The score of each exercise is decided here instead:

1. a fresh interpreter (forked from the zygote, or a new ``python -m autograder.trusted``),
   inside the same sandbox and limits as the kernel;
2. the checks modules are imported and the state of ``builtins``, ``torch``, ``torch.nn``,
   ``torch.nn.functional``, ``torch.Tensor``, the ``nn`` layer classes and ``autograder`` is
   recorded, *before* any learner code runs;
3. the exercises' ``PRELUDE`` and the learner's answer cells (their source only, in the
   instructor's order) run as plain Python: no IPython, no hooks, no outputs, no metadata;
4. before each check, and after every call into learner code (``autograder.checks.quietly``),
   the recorded state is put back, so a patch made by the learner's code is undone before a
   check relies on what it patched;
5. the verdicts travel back as plain JSON (never pickle), tagged with a token the learner's
   code was not given.
"""
from __future__ import annotations

import builtins
import importlib
import inspect
import io
import json
import os
import sys
import types
from typing import Any

_PROTECTED_MODULES = ["builtins", "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.testing",
                      "torch.linalg", "math", "numpy", "autograder", "autograder.checks",
                      "autograder.checks._placement", "autograder.trace"]


class Snapshot:
    """The attributes of the modules and classes a check relies on, to put back after learner code."""

    def __init__(self, extra_modules: list[str]):
        self.modules: dict[types.ModuleType, dict[str, Any]] = {}
        self.classes: dict[type, dict[str, Any]] = {}
        for name in _PROTECTED_MODULES + extra_modules:
            module = sys.modules.get(name) or importlib.import_module(name)
            self.modules[module] = dict(vars(module))
        import torch
        from torch import nn

        classes = {torch.Tensor, torch._C.TensorBase}
        for value in vars(nn).values():
            if inspect.isclass(value) and issubclass(value, nn.Module):
                classes.add(value)
        for cls in classes:
            self.classes[cls] = dict(vars(cls))

    def restore(self) -> None:
        for module, saved in self.modules.items():
            current = vars(module)
            for key in [key for key in current if key not in saved]:
                try:
                    del current[key]
                except (KeyError, TypeError):
                    pass
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value:
                    try:
                        current[key] = value
                    except TypeError:
                        pass
        for cls, saved in self.classes.items():
            current = vars(cls)
            for key in [key for key in current if key not in saved]:
                try:
                    delattr(cls, key)
                except (AttributeError, TypeError):
                    pass
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value:
                    try:
                        setattr(cls, key, value)
                    except (AttributeError, TypeError):
                        pass


_MISSING = object()


def run_request(request: dict) -> dict:
    """Run the learner's answer cells and the trusted checks; return {test_id: verdict}.

    ``request``: {"token", "exercises": [{"answer": grade_id, "test": grade_id}], "answers":
    [[grade_id, source], ...] in notebook order}.
    """
    import autograder.checks as checks_package

    modules = {}
    for exercise in request["exercises"]:
        modules[exercise["answer"]] = checks_package.exercise_module(exercise["answer"])
    # Bind everything the checks call before a single line of learner code runs.
    checks = {answer: (module.visible, module.hidden) for answer, module in modules.items()}
    CheckFailed = checks_package.CheckFailed
    snapshot = Snapshot([module.__name__ for module in modules.values()])
    checks_package._after_learner_code = snapshot.restore
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    problems: dict[str, str] = {}
    real_stdout, real_stderr = sys.stdout, sys.stderr
    for module in modules.values():
        exec(compile(getattr(module, "PRELUDE", ""), "<prelude>", "exec"), namespace)
    for grade_id, source in request["answers"]:
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        try:
            exec(compile(source, f"<answer cell {grade_id}>", "exec"), namespace)
        except BaseException as error:  # SystemExit and KeyboardInterrupt from learner code too
            problems[grade_id] = f"{type(error).__name__}: {error}"[:300]
        finally:
            sys.stdout, sys.stderr = real_stdout, real_stderr
            snapshot.restore()
    verdicts = {}
    for exercise in request["exercises"]:
        answer, test = exercise["answer"], exercise["test"]
        visible, hidden = checks[answer]
        snapshot.restore()
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        try:
            visible(namespace)
            snapshot.restore()
            hidden(namespace)
            verdict = {"passed": True, "feedback": "All checks passed."}
        except CheckFailed as failure:
            verdict = {"passed": False, "feedback": str(failure.message)}
        except BaseException as error:
            verdict = {"passed": False, "feedback": f"The checks stopped with {type(error).__name__}: {error}"[:400]}
        finally:
            sys.stdout, sys.stderr = real_stdout, real_stderr
            snapshot.restore()
        if not verdict["passed"] and problems.get(answer):
            problem = problems[answer]
            if problem.startswith("NotImplementedError"):
                verdict["feedback"] = (f"Not answered yet: the answer cell {answer} still raises "
                                       f"NotImplementedError; replace it with your code.")
            else:
                verdict["feedback"] = f"Your answer cell {answer} raised {problem}. " + verdict["feedback"]
        verdicts[test] = verdict
    return {"token": request["token"], "verdicts": verdicts}


def serve_file(request_path: str, result_path: str) -> None:
    """Read a request file, write the verdicts to a result file (used by the zygote's children)."""
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    os.unlink(request_path)  # the learner's code never sees the token on disk
    result = run_request(request)
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


def main() -> None:
    serve_file(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()

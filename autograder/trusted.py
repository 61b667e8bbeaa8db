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
                      "torch.linalg", "math", "numpy", "json", "json.encoder", "json.decoder", "os", "io",
                      "autograder", "autograder.checks",
                      "autograder.trusted"]

# Audit events (PEP 578) refused to learner code once it may run: the ways to reach the
# checker's own frames and objects (frames, tracebacks' frames, the garbage collector, tracing)
# and to poke memory (ctypes, /proc/self/mem).  PyTorch itself uses some of them (its lazy CUDA
# seeding formats a stack trace), so they are refused only when they come from learner code:
# code compiled from an answer cell or from a file in the scratch folder.  Code compiled from
# other source under a real file's name (a disguise) is refused outright.  Rewriting the
# checker's functions and the protected classes is refused to everyone, except back to what
# they were (that is how Snapshot.restore undoes a patch).
_FRAME_EVENTS = ("sys._getframe", "sys._current_frames", "sys._current_exceptions", "sys.settrace",
                 "sys.setprofile", "sys._getframemodulename", "gc.", "ctypes.", "sys.addaudithook")
_FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_locals", "f_globals",
                     "__globals__"}
_FUNCTION_INTERNALS = ("__code__", "__defaults__", "__kwdefaults__")
_PASS_THROUGH = ("/traceback.py", "/inspect.py", "/linecache.py", "/ctypes/__init__.py", "/contextlib.py",
                 "/functools.py", "/gc.py")
LEARNER_FILENAME = "<answer cell"


def install_guard(snapshot: "Snapshot", scratch: str) -> None:
    """An audit hook that refuses the events above from now on, for this whole process (an
    audit hook cannot be removed)."""
    originals = {}
    for function, code, defaults, kwdefaults in snapshot.functions:
        originals[(id(function), "__code__")] = code
        originals[(id(function), "__defaults__")] = defaults
        originals[(id(function), "__kwdefaults__")] = kwdefaults
    protected_functions = {id(function) for function, *_ in snapshot.functions}
    class_values = {(id(cls), key): value for cls, items in snapshot.classes for key, value in items}
    protected_classes = {id(cls) for cls, _ in snapshot.classes}
    busy = [False]
    getframe = sys._getframe

    def learner_is_asking() -> bool:
        """Is the first frame above the event, past stdlib helpers, learner code?"""
        frame = getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(LEARNER_FILENAME) or filename.startswith(scratch):
                return True
            if not filename.endswith(_PASS_THROUGH):
                return False
            frame = frame.f_back
        return False

    def refuse(what: str) -> None:
        raise RuntimeError(f"{what} is not available while your answer is being checked")

    def hook(event: str, args: tuple) -> None:
        if busy[0]:
            return
        busy[0] = True
        try:
            if event.startswith(_FRAME_EVENTS) or (
                    event == "object.__getattr__" and len(args) >= 2 and args[1] in _FRAME_ATTRIBUTES):
                if learner_is_asking():
                    refuse(event if event != "object.__getattr__" else args[1])
            elif event == "open" and args and isinstance(args[0], str) and args[0].startswith(("/proc", "/dev/mem")):
                if learner_is_asking():
                    refuse(args[0])
            elif event == "compile" and len(args) >= 2 and isinstance(args[1], str) and not args[1].startswith("<"):
                source = args[0] if isinstance(args[0], bytes) else str(args[0]).encode()
                try:
                    genuine = open(args[1], "rb").read() == source
                except OSError:
                    genuine = False
                if not genuine and not args[1].startswith(scratch):
                    refuse(f"compiling code under the name {args[1]!r}")
            elif event in ("object.__setattr__", "object.__delattr__") and len(args) >= 2:
                target, name = args[0], args[1]
                value = args[2] if event == "object.__setattr__" and len(args) > 2 else None
                if id(target) in protected_functions and name in _FUNCTION_INTERNALS:
                    original = originals[(id(target), name)]
                    # (setting None is reported as a deletion)
                    if (event == "object.__delattr__" and original is not None) or (
                            event == "object.__setattr__" and value is not original):
                        refuse(f"changing {name} of the checks")
                elif id(target) in protected_classes:
                    key = (id(target), name)
                    restoring = (event == "object.__setattr__" and key in class_values and value is class_values[key]) \
                        or (event == "object.__delattr__" and key not in class_values)
                    if not restoring:
                        refuse(f"changing {getattr(target, '__name__', 'a class')}.{name}")
        finally:
            busy[0] = False

    sys.addaudithook(hook)


class Snapshot:
    """The attributes of the modules and classes a check relies on, to put back after learner code."""

    def __init__(self, extra_modules: list[str]):
        # Tuples, not dicts: learner code that reaches this object cannot edit what is put back.
        modules = []
        for name in _PROTECTED_MODULES + extra_modules:
            module = sys.modules.get(name) or importlib.import_module(name)
            modules.append((module, tuple(vars(module).items())))
        import torch
        from torch import nn

        classes = {torch.Tensor, torch._C.TensorBase}
        for value in vars(nn).values():
            if inspect.isclass(value) and issubclass(value, nn.Module):
                classes.add(value)
        self.protected_classes = tuple(classes)
        self.modules = tuple(modules)
        self.classes = tuple((cls, tuple(vars(cls).items())) for cls in classes)
        functions = []
        for _, items in self.modules:
            for _, value in items:
                if isinstance(value, types.FunctionType):
                    functions.append((value, value.__code__, value.__defaults__, value.__kwdefaults__))
        for cls in classes:
            for value in vars(cls).values():
                if isinstance(value, types.FunctionType):
                    functions.append((value, value.__code__, value.__defaults__, value.__kwdefaults__))
        self.functions = tuple(functions)

    def restore(self) -> None:
        for function, code, defaults, kwdefaults in self.functions:
            function.__code__, function.__defaults__, function.__kwdefaults__ = code, defaults, kwdefaults
        for module, items in self.modules:
            saved = dict(items)
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
        for cls, items in self.classes:
            saved = dict(items)
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
    install_guard(snapshot, os.getcwd())
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    problems: dict[str, str] = {}
    real_stdout, real_stderr = sys.stdout, sys.stderr
    for module in modules.values():
        exec(compile(getattr(module, "PRELUDE", ""), "<prelude>", "exec"), namespace)
    for grade_id, source in request["answers"]:
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        try:
            exec(compile(source, f"{LEARNER_FILENAME} {grade_id}>", "exec"), namespace)
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
    # Opened before any learner code runs, written with functions bound now.
    descriptor = os.open(result_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    write, encode = os.write, json.JSONEncoder(ensure_ascii=True).encode
    result = run_request(request)
    write(descriptor, encode(result).encode("ascii"))
    os.close(descriptor)


def main() -> None:
    serve_file(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()

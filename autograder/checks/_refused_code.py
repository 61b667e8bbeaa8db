"""Sandbox side: Python functions a learner's function may not call, refused while it runs.

Two kinds, recorded with the refused built-ins (``calls``) as evidence:

- **the grader's own references.** The learner's environment holds this package (the notebook's
  visible tests import it), so ``from autograder.checks._bn_reference import training`` would
  hand a learner the judge's reference computation as an answer.
- **helpers that do the exercise** (``torch.nn.utils.fusion.fuse_conv_bn_weights`` for folding).

A profile hook recognises them by code object, so a function captured in an earlier cell, or a
new function built from its code, is seen too.  Like the built-in rule this rests on evidence
the learner's code could forge (it can remove the hook, or paste the source into its own cell):
it closes the casual route, not a determined one (docs/grading.md).
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types
from typing import Iterator, Optional

from autograder.judge.verdict import fail

PREFIX = "autograder."
# The reference computations the judges use, which would pass as answers if called.
REFERENCES = {
    "autograder.checks._bn_reference": ("batch_stats", "unbiased_var", "training", "inference", "running_update"),
    "autograder.checks.bn_backward": ("_forward", "autograd_reference"),
    "autograder.checks.bn2d_forward": ("_normalize",),
    "autograder.checks.fold_conv_bn": ("_eval_block",),
}
_references: dict[types.CodeType, str] = {}


def grader_references() -> dict[types.CodeType, str]:
    """code object -> label, for every function of :data:`REFERENCES`."""
    if not _references:
        for module_name, names in REFERENCES.items():
            module = importlib.import_module(module_name)
            for name in names:
                _references[getattr(module, name).__code__] = f"{module_name}.{name}"
    return _references


@contextlib.contextmanager
def refusing_code(calls: list, codes: Optional[dict] = None) -> Iterator[None]:
    """While active, a call to a grader reference (or to a function of ``codes``) raises and is recorded."""
    watched = {**grader_references(), **(codes or {})}
    previous = sys.getprofile()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in watched:
            label = watched[frame.f_code]
            calls.append(label)
            sys.setprofile(None)
            raise RuntimeError(f"{label} is not allowed here")

    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)


# --------------------------------------------------------------------------- judge side

def require_not_grader_code(what: str, label: str) -> None:
    """The diagnosis for a call the evidence says reached the grader's own reference."""
    if label.startswith(PREFIX):
        fail(f"{what} called {label}, the grader's own reference computation; write the computation "
             f"yourself instead of calling the grader's code.")

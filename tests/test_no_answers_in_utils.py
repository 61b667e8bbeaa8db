"""`utils` is the learners' package: none of its functions may hand a learner a graded answer."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from torch import nn

import utils
from autograder.checks import CheckFailed, bn_cnn, bn_mlp


def _zero_argument_functions():
    for info in pkgutil.iter_modules(utils.__path__):
        module = importlib.import_module(f"utils.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            required = [p for p in inspect.signature(function).parameters.values()
                        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            if not required and any(word in name for word in ("mlp", "model", "cnn", "net")):
                yield f"{module.__name__}.{name}", function


def _classes():
    for info in pkgutil.iter_modules(utils.__path__):
        module = importlib.import_module(f"utils.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, nn.Module):
                yield f"{module.__name__}.{name}", cls


def passes(exercise, class_name: str, factory) -> bool:
    """Would a learner who wraps ``factory()`` in the exercise's class get the visible checks' pass?"""

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = factory()

        def forward(self, x):
            return self.inner(x)

    try:
        exercise.visible({class_name: Wrapped})
    except CheckFailed:
        return False
    return True


def test_the_guard_itself_recognizes_an_answer():
    answer = lambda: nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())
    assert passes(bn_mlp, "BatchNormMLP", answer)


@pytest.mark.parametrize("name,factory", list(_zero_argument_functions()) + list(_classes()))
def test_no_utils_model_passes_the_bn_exercises(name, factory):
    try:
        made = factory()
    except Exception:
        return
    if isinstance(made, nn.Module):
        assert not passes(bn_mlp, "BatchNormMLP", factory), f"{name} is the answer to bn_mlp"
        assert not passes(bn_cnn, "BatchNormCNN", factory), f"{name} is the answer to bn_cnn"

"""Sandbox side shared by lesson 02's checks (bn_forward, bn_inference, running_stats).

What runs in the learner's process, next to the learner's code: PyTorch's normalization
built-ins made to raise while the learner's function runs (their calls are recorded as
evidence, which the learner's code could forge: nothing here decides), and the learner's
function called on fresh copies of a case's tensors.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from autograder.checks import call
from autograder.checks._refused_code import refusing_code
from autograder.judge import wire

__all__ = ["ForbiddenBuiltin", "forbid_normalization_builtins", "as_input", "call_from_scratch",
           "evidence_of_call"]

_KERNEL_WORDS = ("batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm")


class ForbiddenBuiltin(RuntimeError):
    """Raised by a normalization built-in while the learner's function runs."""


def _module_forwards() -> list[tuple[type, object]]:
    """(class, original forward) for every torch.nn normalization layer class that defines forward."""
    classes = set()
    for value in vars(nn).values():
        if isinstance(value, type) and issubclass(value, nn.Module) and "Norm" in value.__name__:
            for klass in value.__mro__:
                if klass.__module__.startswith("torch.nn.modules") and "Norm" in klass.__name__:
                    classes.add(klass)
    return [(klass, klass.__dict__["forward"]) for klass in classes if "forward" in klass.__dict__]


def _function_targets() -> list[tuple[object, str]]:
    """(owner, attribute) pairs for the functional normalization built-ins."""
    targets = []
    for owner, names in ((F, dir(F)), (torch, dir(torch))):
        for name in names:
            if any(word in name for word in _KERNEL_WORDS) or name == "local_response_norm":
                if callable(getattr(owner, name, None)):
                    targets.append((owner, name))
    return targets


class _KernelWatch(TorchDispatchMode):
    """Records (and refuses) normalization kernels reached by any route, e.g. torch.ops.aten."""

    def __init__(self, calls: list[str]):
        super().__init__()
        self.calls = calls

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Otherwise torch wraps __torch_dispatch__ in torch._dynamo.disable, and the first op
        # under the mode imports torch._dynamo: seconds per submission, for nothing here.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__
        if any(word in name for word in _KERNEL_WORDS):
            self.calls.append(f"torch.ops.aten.{name.split('.')[0]}")
            raise ForbiddenBuiltin(f"{name} is a normalization built-in; it is not allowed here")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbid_normalization_builtins(calls: list[str]) -> Iterator[None]:
    """While active, PyTorch's normalization built-ins raise ForbiddenBuiltin and are appended to ``calls``.

    Covers torch.nn.functional.{batch,layer,instance,group,rms}_norm, torch.batch_norm,
    torch.native_batch_norm and friends, and the forward of every nn.*Norm* layer; a dispatch
    mode catches the same kernels reached any other way, and the grader's own references are refused
    too (:mod:`._refused_code`).  Everything is restored in ``finally``.
    """
    saved_functions = [(owner, name, getattr(owner, name)) for owner, name in _function_targets()]
    saved_forwards = _module_forwards()

    def refusing(label):
        def refuse(*args, **kwargs):
            calls.append(label)
            raise ForbiddenBuiltin(f"{label} is a normalization built-in; it is not allowed here")
        return refuse

    def refusing_forward():
        def refuse(module, *args, **kwargs):
            label = f"nn.{type(module).__name__}"
            calls.append(label)
            raise ForbiddenBuiltin(f"{label} is a normalization built-in; it is not allowed here")
        return refuse

    try:
        for owner, name, _ in saved_functions:
            prefix = "torch.nn.functional" if owner is F else "torch"
            setattr(owner, name, refusing(f"{prefix}.{name}"))
        for klass, _ in saved_forwards:
            klass.forward = refusing_forward()
        with _KernelWatch(calls), refusing_code(calls):
            yield
    finally:
        for owner, name, original in saved_functions:
            setattr(owner, name, original)
        for klass, original in saved_forwards:
            klass.forward = original


def as_input(encoded, layout: str = "plain") -> torch.Tensor:
    """A case's tensor for the learner: a fresh tensor, or a non-contiguous view of one."""
    tensor = wire.as_tensor(encoded)
    if layout == "transposed":                         # same values, strides of a transposed view
        tensor = tensor.t().contiguous().t()
    return tensor


def call_from_scratch(fn, *args, **kwargs) -> tuple[object, Optional[dict], list[str]]:
    """(result, error, built-ins reached): the learner's function with normalization built-ins refused."""
    calls: list[str] = []
    with forbid_normalization_builtins(calls):
        result, error = call(fn, *args, **kwargs)
    return result, error, calls[:8]


def evidence_of_call(fn, case: dict, names: tuple[str, ...]) -> dict:
    """Call fn on fresh copies of the case's tensors: what it returned, the built-ins it reached,
    and its inputs after the call (to see changes in place)."""
    layout = case.get("layout", "plain")
    inputs = {name: as_input(case[name], layout if name == "x" else "plain") for name in names}
    kwargs = {} if case.get("eps") is None else {"eps": case["eps"]}
    result, error, calls = call_from_scratch(fn, *inputs.values(), **kwargs)
    return {"result": error if error is not None else wire.value(result), "builtins": calls,
            "after": {name: wire.tensor(tensor) for name, tensor in inputs.items()}}

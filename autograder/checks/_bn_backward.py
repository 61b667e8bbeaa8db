"""Shared by the checks of lesson 06_backward_and_alternatives (bn_backward, bn2d_forward, fold_conv_bn).

``refusing(calls, autograd=..., normalization=..., extra=...)`` is the sandbox side's "from
scratch" guard: while it is active, PyTorch's normalization built-ins and (optionally) autograd
raise :class:`Refused` and their names are appended to ``calls``.  Nothing is patched: a
``TorchFunctionMode`` sees every torch-level call (``F.batch_norm``, ``nn.BatchNorm*``'s forward,
``torch.batch_norm``, ``Tensor.backward``, ``torch.autograd.grad`` and what ``torch.func`` and
``torch.autograd.functional`` build on it, forward-mode ``make_dual``), and a ``TorchDispatchMode``
sees the kernels however they are reached (``torch.ops.aten.native_batch_norm``).  Learner code
that switches the modes off could hide its calls: this evidence can be forged (docs/grading.md).

The judge side helpers compare float64 tensors and say where two first differ.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterable, Iterator, Optional

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from autograder.checks._refused_code import refusing_code

NORMALIZATION_WORDS = ("batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm",
                       "local_response_norm")
AUTOGRAD_WORDS = ("make_dual",)


class Refused(RuntimeError):
    """Raised by a refused built-in while the learner's function runs."""


def _autograd_functions() -> set:
    return {torch.Tensor.backward, torch.autograd.grad, torch.autograd.backward}


def _label(func) -> str:
    name = getattr(func, "__name__", None) or str(func)
    if func is torch.Tensor.backward:
        return "Tensor.backward()"
    if func is torch.autograd.grad:
        return "torch.autograd.grad"
    if func is torch.autograd.backward:
        return "torch.autograd.backward"
    module = getattr(func, "__module__", "") or ""
    if module.startswith("torch.nn.functional"):
        return f"torch.nn.functional.{name}"
    if "make_dual" in name:
        return "forward-mode autograd (make_dual, torch.func.jvp/jacfwd)"
    return f"torch.{name}"


class _FunctionWatch(TorchFunctionMode):
    def __init__(self, calls: list, autograd: bool, normalization: bool, extra: Iterable):
        super().__init__()
        self.calls, self.autograd, self.normalization = calls, autograd, normalization
        self.extra = set(extra)
        self.autograd_functions = _autograd_functions()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "") or ""
        refused = (func in self.extra
                   or (self.autograd and (func in self.autograd_functions
                                          or any(word in name for word in AUTOGRAD_WORDS)))
                   or (self.normalization and any(word in name for word in NORMALIZATION_WORDS)))
        if refused:
            label = _label(func)
            self.calls.append(label)
            raise Refused(f"{label} is not allowed here")
        return func(*args, **(kwargs or {}))


class _KernelWatch(TorchDispatchMode):
    def __init__(self, calls: list):
        super().__init__()
        self.calls = calls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__
        if any(word in name for word in NORMALIZATION_WORDS):
            label = f"torch.ops.aten.{name.split('.')[0]}"
            self.calls.append(label)
            raise Refused(f"{label} is not allowed here")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def refusing(calls: list, autograd: bool = True, normalization: bool = True, extra: Iterable = (),
             codes: Optional[dict] = None) -> Iterator[None]:
    """While active, the refused built-ins raise :class:`Refused` and are appended to ``calls``, as do
    the grader's own references and the Python functions of ``codes`` (see :mod:`._refused_code`)."""
    with _FunctionWatch(calls, autograd, normalization, extra), refusing_code(calls, codes):
        if normalization:
            with _KernelWatch(calls):
                yield
        else:
            yield


# --------------------------------------------------------------------------- judge side

def close(got: torch.Tensor, expected: torch.Tensor, rtol: float) -> bool:
    """Same shape, all finite where expected is, and max |got - expected| <= rtol * max(1, max |expected|)."""
    if tuple(got.shape) != tuple(expected.shape):
        return False
    got, expected = got.to(torch.float64), expected.to(torch.float64)
    if not torch.isfinite(got).all():
        return False
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    return bool(((got - expected).abs() <= rtol * scale).all())


def first_difference(got: torch.Tensor, expected: torch.Tensor) -> str:
    """"at [i, j] you returned a where the reference gives b" for the largest difference."""
    difference = (got.to(torch.float64) - expected.to(torch.float64)).abs()
    difference = torch.nan_to_num(difference, nan=math.inf)
    index = tuple(int(i) for i in torch.nonzero(difference == difference.max())[0])
    where = ", ".join(map(str, index))
    return f"at [{where}] you returned {got[index].item():.6g} where it should be {expected[index].item():.6g}"

"""Follow what a model's forward pass actually computes.

``trace_forward(model, x)`` runs the forward pass once under a ``TorchFunctionMode`` that
records every torch-level operation (``F.linear``, ``F.batch_norm``, ``torch.relu``,
``Tensor.sigmoid``...) with the tensors it read and wrote, and forward hooks that say which
``nn.Module`` each operation ran inside.  From that record it rebuilds the *data path*: the
chain of operations that leads from the input to the output.  Checks compare that path with
what an exercise asks for, whatever style the learner wrote the model in (``nn.Sequential``,
named submodules, ``ModuleDict``, functional calls, tensor methods, helper functions).

What is recorded is what ran, not what the model declares: a BatchNorm that is defined but
never called, or called and thrown away, is not on the path.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

# Operations that reshape or copy without changing what is computed; the path skips them.
NEUTRAL_OPS = {
    "view", "reshape", "flatten", "contiguous", "clone", "squeeze", "unsqueeze", "float",
    "to", "type", "detach", "identity", "__getitem__", "expand_as", "view_as", "reshape_as",
    "double", "cpu", "cuda", "requires_grad_",
}

# Canonical names for the operations the checks care about.
CANONICAL = {
    "linear": "linear",
    "conv1d": "conv", "conv2d": "conv", "conv3d": "conv",
    "batch_norm": "batch_norm",
    "layer_norm": "layer_norm", "group_norm": "group_norm", "instance_norm": "instance_norm",
    "relu": "relu", "relu_": "relu",
    "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
    "tanh": "tanh", "tanh_": "tanh",
    "dropout": "dropout",
    "adaptive_avg_pool2d": "avg_pool", "avg_pool2d": "avg_pool", "max_pool2d": "max_pool",
    "mean": "mean",
}


@dataclasses.dataclass
class Step:
    """One operation that ran during the forward pass."""

    op: str  # canonical name ("linear", "batch_norm", "relu", ...) or the raw function name
    raw: str  # the function's own name
    inputs: list[int]  # indexes of the steps whose outputs it read (-1: the model's input)
    module: Optional[nn.Module]  # the innermost module it ran inside, if any
    args: tuple  # the call's positional arguments (tensors as they were)
    kwargs: dict
    output: Any  # what it returned (a later in-place op may change it: see ``value``)
    value: Optional[torch.Tensor] = None  # a copy of the output as it was when the op returned
    output_before: Optional[torch.Tensor] = None  # for in-place ops: the input before


@dataclasses.dataclass
class Trace:
    """What one forward pass computed."""

    steps: list[Step]
    output: Any
    path: list[Step]  # from the input to the output, neutral ops removed
    branches: bool  # some step on the path reads two input-derived tensors (e.g. a residual add)
    depends_on_input: bool

    def unused(self, op: str) -> list[Step]:
        """Steps of kind ``op`` that ran but whose result never reached the output."""
        on_path = {id(step) for step in self.path}
        return [step for step in self.steps if step.op == op and id(step) not in on_path]


def _function_name(func: Callable) -> str:
    name = getattr(func, "__name__", None) or str(func)
    return name


class _Recorder(TorchFunctionMode):
    def __init__(self, module_stack: list):
        super().__init__()
        self.module_stack = module_stack
        self.steps: list[Step] = []
        self.producer: dict[int, int] = {}  # id(tensor) -> index of the step that last wrote it
        self.keep_alive: list = []  # hold tensors so their ids stay unique during the trace

    def _sources(self, values) -> list[int]:
        found = []
        for value in values:
            if isinstance(value, torch.Tensor):
                index = self.producer.get(id(value))
                if index is not None and index not in found:
                    found.append(index)
            elif isinstance(value, (list, tuple)):
                for index in self._sources(value):
                    if index not in found:
                        found.append(index)
        return found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        raw = _function_name(func)
        if raw in {"__get__", "__set__", "size", "dim", "numel", "__len__", "shape", "dtype", "device"}:
            return func(*args, **kwargs)
        sources = self._sources(list(args) + list(kwargs.values()))
        in_place = (raw.endswith("_") and not raw.endswith("__")) or kwargs.get("inplace") is True
        before = None
        if in_place and args and isinstance(args[0], torch.Tensor):
            before = args[0].detach().clone()
        result = func(*args, **kwargs)
        if not sources:
            return result  # parameter-only arithmetic, not part of the data flow
        module = self.module_stack[-1] if self.module_stack else None
        op = CANONICAL.get(raw, raw)
        value = result.detach().clone() if isinstance(result, torch.Tensor) else None
        step = Step(op=op, raw=raw, inputs=sources, module=module, args=tuple(args), kwargs=dict(kwargs),
                    output=result, value=value, output_before=before)
        self.steps.append(step)
        index = len(self.steps) - 1
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        for value in outputs:
            if isinstance(value, torch.Tensor):
                self.producer[id(value)] = index
                self.keep_alive.append(value)
        return result


def trace_forward(model: nn.Module, x: torch.Tensor) -> Trace:
    """Run ``model(x)`` once and record what it computed (see the module docstring).

    The model's train/eval mode is left as it is; the caller sets it.
    """
    module_stack: list[nn.Module] = []
    handles = []

    def pre_hook(module, inputs):
        module_stack.append(module)

    def post_hook(module, inputs, output):
        if module_stack and module_stack[-1] is module:
            module_stack.pop()

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook, always_call=True))
    recorder = _Recorder(module_stack)
    start = x
    try:
        with recorder:
            # The input is the path's origin: mark it as produced by step -1.
            recorder.producer[id(start)] = -1
            recorder.keep_alive.append(start)
            output = model(start)
    finally:
        for handle in handles:
            handle.remove()
    steps = recorder.steps
    path: list[Step] = []
    branches = False
    depends = False
    final = recorder.producer.get(id(output)) if isinstance(output, torch.Tensor) else None
    if final is not None:
        depends = True
        index = final
        while index is not None and index >= 0:
            step = steps[index]
            if step.op not in NEUTRAL_OPS:
                path.append(step)
            if len(step.inputs) > 1:
                branches = True
            index = step.inputs[0] if step.inputs else None
        path.reverse()
    return Trace(steps=steps, output=output, path=path, branches=branches, depends_on_input=depends)


def batch_normalized(values: torch.Tensor, weight, bias, eps: float) -> torch.Tensor:
    """Training-mode batch normalization of ``values`` (N, C, *), per channel, for comparison."""
    dims = [0] + list(range(2, values.dim()))
    mean = values.mean(dim=dims, keepdim=True)
    var = values.var(dim=dims, unbiased=False, keepdim=True)
    shape = [1, -1] + [1] * (values.dim() - 2)
    out = (values - mean) / torch.sqrt(var + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out

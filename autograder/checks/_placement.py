"""Shared checks for "insert a BatchNorm layer here" exercises (bn_mlp, bn_cnn).

An exercise describes the forward computation it expects as a list of :class:`Stage`;
:func:`check_bn_stack` traces the learner's model (``autograder.trace``) and explains, in
plain words, the first way the computation that actually ran differs from it.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import torch
from torch import nn

from autograder.checks import CheckFailed, call_learner, fail, lookup, quietly, require
from autograder.trace import Trace, batch_normalized, trace_forward

NORMALIZATIONS = {"batch_norm", "layer_norm", "group_norm", "instance_norm"}
HAND_NORMALIZATION_OPS = {"sub", "__sub__", "div", "__truediv__", "std", "var", "var_mean", "std_mean", "rsqrt", "sqrt"}
ALL_BN_CLASSES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclasses.dataclass
class Stage:
    """One stage of the expected forward computation."""

    op: str  # canonical op name from autograder.trace ("linear", "conv", "batch_norm", "relu", ...)
    label: str  # how the learner reads it: "Linear(20, 64)", "BatchNorm1d(64)", "ReLU"
    weight_shape: Optional[tuple] = None  # for linear / conv: the weight's shape


def _labels(stages: list[Stage]) -> str:
    return " -> ".join(stage.label for stage in stages)


def _found_labels(trace: Trace) -> str:
    names = []
    for step in trace.path:
        if step.op in {"linear", "conv"} and len(step.args) > 1 and isinstance(step.args[1], torch.Tensor):
            shape = tuple(step.args[1].shape)
            if step.op == "linear":
                names.append(f"Linear({shape[1]}, {shape[0]})")
            else:
                names.append(f"Conv{len(shape) - 2}d({shape[1]}, {shape[0]}, ...)")
        elif step.op == "batch_norm":
            names.append(type(step.module).__name__ if step.module is not None else "F.batch_norm")
        elif step.op in {"relu", "sigmoid", "tanh"}:
            names.append({"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}[step.op])
        else:
            names.append(step.raw)
    return " -> ".join(names) if names else "nothing that depends on the input"


def build_model(namespace: dict, class_name: str) -> nn.Module:
    """Look up the learner's class and construct it with no arguments."""
    __tracebackhide__ = True
    cls = lookup(namespace, class_name, kind="class")
    require(issubclass(cls, nn.Module),
            f"{class_name} should subclass nn.Module (class {class_name}(nn.Module): ...), "
            f"but its bases are {', '.join(base.__name__ for base in cls.__bases__)}.")
    model = call_learner(cls, what=f"{class_name}() (constructing it with no arguments)")
    require(isinstance(model, nn.Module), f"{class_name}() did not return an nn.Module.")
    return model


def run_forward(model: nn.Module, x: torch.Tensor, class_name: str, bn_class: type) -> torch.Tensor:
    """``model(x)`` in training mode, with a diagnosis when it fails."""
    __tracebackhide__ = True
    wrong_kind = [m for m in model.modules() if isinstance(m, ALL_BN_CLASSES) and not isinstance(m, bn_class)]
    try:
        with quietly():
            model.train()
            output = model(x)
    except Exception as error:
        if wrong_kind:
            fail(_wrong_kind_message(type(wrong_kind[0]).__name__, bn_class))
        fail(f"{class_name}()(x) raised {type(error).__name__} for an input of shape {tuple(x.shape)}: {error}")
    require(type(output) is torch.Tensor,
            f"{class_name}'s forward returned a {type(output).__name__}; it should return a tensor.")
    return output


def _wrong_kind_message(found: str, bn_class: type) -> str:
    uses = {"BatchNorm1d": "features of shape (N, C) or (N, C, L)", "BatchNorm2d": "conv feature maps (N, C, H, W)",
            "BatchNorm3d": "volumetric data (N, C, D, H, W)"}
    return (f"You used {found}, which is for {uses.get(found, 'other shapes')}; here it normalizes "
            f"{uses[bn_class.__name__]}: use nn.{bn_class.__name__}.")


def check_bn_stack(model: nn.Module, x: torch.Tensor, *, class_name: str, stages: list[Stage],
                   bn_class: type, num_features: int, after_label: str, activation_label: str,
                   layer_kind: str) -> Trace:
    """Trace ``model(x)`` in training mode and check it computes exactly ``stages``.

    ``stages`` contains one ``batch_norm`` stage (the layer the learner inserts).
    Returns the trace for further checks.
    """
    __tracebackhide__ = True
    bn_name = f"{bn_class.__name__}({num_features})"
    model.train()
    try:
        with quietly():
            trace = trace_forward(model, x)
    except Exception as error:
        fail(f"{class_name}()(x) raised {type(error).__name__}: {error}")
    if not trace.depends_on_input:
        fail(f"{class_name}'s output does not depend on its input: forward must return the layers applied to x, "
             f"not a fixed tensor.")
    path_norms = [step for step in trace.path if step.op in NORMALIZATIONS]
    unused_bn = trace.unused("batch_norm")
    if not path_norms:
        if unused_bn:
            fail(f"Your {bn_name} runs but its result is thrown away: assign it (x = self.bn(x)) and pass that "
                 f"on to the {activation_label}.")
        declared = [m for m in model.modules() if isinstance(m, ALL_BN_CLASSES)]
        if declared:
            fail(f"Your model defines {type(declared[0]).__name__} but forward never uses it: call it on the output "
                 f"of {after_label}, before the {activation_label}.")
        if any(step.raw in HAND_NORMALIZATION_OPS for step in trace.path):
            fail(f"You normalize by hand; the exercise asks for the layer nn.{bn_name}, between {after_label} and "
                 f"the {activation_label}.")
        fail(f"No {bn_name} normalizes the hidden layer: add nn.{bn_name} between {after_label} and the "
             f"{activation_label}.")
    kinds = {step.op for step in path_norms}
    if kinds != {"batch_norm"}:
        other = next(step for step in path_norms if step.op != "batch_norm")
        name = type(other.module).__name__ if other.module is not None else other.raw
        fail(f"You normalize with {name}; the exercise asks for nn.{bn_name}, which normalizes each feature "
             f"over the batch.")
    if len(path_norms) > 1:
        fail(f"Your forward normalizes {len(path_norms)} times; the exercise asks for exactly one {bn_name}, "
             f"between {after_label} and the {activation_label}.")
    bn_step = path_norms[0]
    if bn_step.module is None or not isinstance(bn_step.module, ALL_BN_CLASSES):
        fail(f"You call F.batch_norm directly; create an nn.{bn_name} layer in __init__ and call it in forward.")
    if not isinstance(bn_step.module, bn_class):
        fail(_wrong_kind_message(type(bn_step.module).__name__, bn_class))

    found = [step.op for step in trace.path]
    expected = [stage.op for stage in stages]
    bn_at = expected.index("batch_norm")
    if found != expected:
        without_bn = [op for op in found if op != "batch_norm"]
        expected_without_bn = expected[:bn_at] + expected[bn_at + 1:]
        if without_bn == expected_without_bn:
            position = found.index("batch_norm")
            fail(_misplaced_message(position, stages, bn_class.__name__, layer_kind))
        fail(f"Your forward computes {_found_labels(trace)}; the exercise asks for {_labels(stages)}.")

    for step, stage in zip(trace.path, stages):
        if stage.weight_shape is not None:
            weight = step.args[1] if len(step.args) > 1 else step.kwargs.get("weight")
            shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else None
            if shape != stage.weight_shape:
                fail(f"Your forward computes {_found_labels(trace)}; the exercise asks for {_labels(stages)}.")

    module = bn_step.module
    require(module.num_features == num_features,
            f"Your {type(module).__name__} has num_features={module.num_features}; it must equal the channels "
            f"coming out of {after_label}: {num_features}.")
    _check_batch_statistics(bn_step, bn_name)
    for step in trace.path:
        _check_activation(step)
    return trace


def _misplaced_message(position: int, stages: list[Stage], bn_kind: str, layer_kind: str) -> str:
    """Where the learner's BN sits (``position`` in the path) and where it should go."""
    move = f"move it between the {layer_kind} layer and the activation"
    others = [stage for stage in stages if stage.op != "batch_norm"]
    if position == 0:
        return f"{bn_kind} normalizes the input, before the first {others[0].label}: {move}."
    before = others[position - 1]
    if position == len(others):
        return f"{bn_kind} is on the output, after the final {before.label}: {move}."
    after = others[position]
    if position == len(others) - 1 and after.op in {"sigmoid", "softmax"}:
        return (f"{bn_kind} is on the output, just before the final {after.label}; there it forces the outputs "
                f"towards the same value: {move}.")
    if before.op in {"relu", "tanh", "sigmoid"}:
        return f"{bn_kind} comes after the {before.label}: {move}."
    return f"{bn_kind} comes after {before.label} and before {after.label}: {move}."


def _check_batch_statistics(step, bn_name: str) -> None:
    __tracebackhide__ = True
    values = step.output_before if step.output_before is not None else step.args[0]
    output = step.value
    module = step.module
    expected = batch_normalized(values.detach(), None if module.weight is None else module.weight.detach(),
                                None if module.bias is None else module.bias.detach(), module.eps)
    ok = type(output) is torch.Tensor and output.shape == expected.shape and torch.allclose(
        output.detach(), expected, atol=1e-4, rtol=1e-4)
    if not ok:
        training_flag = step.args[5] if len(step.args) > 5 else step.kwargs.get("training")
        if training_flag is False or not module.training:
            fail(f"Your {bn_name} normalizes with its running statistics, as in eval mode; in training mode it "
                 f"must use the batch's mean and variance: don't put it in eval mode (no .eval() or "
                 f"training=False for that layer while the model trains).")
        fail(f"Your {bn_name}'s output is not the batch-normalized input: let nn.{bn_name} normalize with the "
             f"batch's statistics, unchanged.")


def _check_activation(step) -> None:
    __tracebackhide__ = True
    if step.op not in {"relu", "sigmoid"}:
        return
    source = step.output_before if step.output_before is not None else step.args[0]
    reference: Callable = torch.relu if step.op == "relu" else torch.sigmoid
    if type(source) is torch.Tensor and type(step.value) is torch.Tensor:
        if not torch.allclose(step.value, reference(source.detach()), atol=1e-6):
            fail(f"The {step.op} in your forward does not compute {step.op}(x).")


def check_probabilities(output: torch.Tensor, batch: int, class_name: str) -> None:
    __tracebackhide__ = True
    require(tuple(output.shape) == (batch, 1),
            f"{class_name} returned shape {tuple(output.shape)} for {batch} examples; expected ({batch}, 1): "
            f"one probability per example.")
    require(bool(torch.isfinite(output).all()) and bool(((output > 0) & (output < 1)).all()),
            f"{class_name} returned values outside (0, 1); the output should be probabilities (end with a Sigmoid).")


def check_input_dependence(model: nn.Module, make_input: Callable[[int], torch.Tensor], class_name: str) -> None:
    """Different inputs must give different outputs (a hard-coded output fails)."""
    __tracebackhide__ = True
    with quietly():
        model.train()
        first = model(make_input(1))
        second = model(make_input(2))
    require(type(first) is torch.Tensor and type(second) is torch.Tensor and first.shape == second.shape,
            f"{class_name} returned outputs of different kinds for two batches of the same shape.")
    require(not torch.allclose(first.detach(), second.detach()),
            f"{class_name} returns the same output for different inputs: compute it from x.")


def check_gradient_reaches_bn(model: nn.Module, x: torch.Tensor, bn_name: str) -> None:
    """Training must be able to learn the BN's gamma and beta."""
    __tracebackhide__ = True
    model.train()
    model.zero_grad(set_to_none=True)
    with quietly():
        output = model(x)
    try:
        output.float().sum().backward()
    except RuntimeError as error:
        fail(f"Backpropagating through your model failed ({error}); don't detach tensors or use torch.no_grad() "
             f"inside forward.")
    bns = [m for m in model.modules() if isinstance(m, ALL_BN_CLASSES) and m.weight is not None]
    require(any(m.weight.grad is not None and bool(m.weight.grad.abs().sum() > 0) for m in bns),
            f"No gradient reaches your {bn_name}'s gamma: its result must be part of the computation that "
            f"produces the output, with gradients enabled.")


def check_eval_mode(model: nn.Module, x: torch.Tensor, class_name: str, bn_class: type) -> torch.Tensor:
    """In eval mode the model uses running statistics: one example alone gives the same answer as in a batch."""
    __tracebackhide__ = True
    with quietly():
        model.train()
        model(x)  # update the running statistics once
        model.eval()
        try:
            batch_out = model(x)
            single = model(x[:1])
        except Exception as error:
            fail(f"{class_name} fails in eval mode ({type(error).__name__}: {error}); "
                 f"at inference BatchNorm uses its running statistics and must work for any batch size.")
    require(type(batch_out) is torch.Tensor and type(single) is torch.Tensor,
            f"{class_name}'s forward should return a tensor in eval mode too.")
    require(torch.allclose(batch_out[:1].detach(), single.detach(), atol=1e-5),
            f"In eval mode {class_name}'s prediction for an example depends on the rest of the batch: "
            f"the {bn_class.__name__} should use its running statistics after model.eval().")
    model.train()
    return batch_out


__all__ = ["Stage", "build_model", "run_forward", "check_bn_stack", "check_probabilities",
           "check_input_dependence", "check_gradient_reaches_bn", "check_eval_mode", "CheckFailed"]

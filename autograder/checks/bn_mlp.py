"""Checks for ``bn_mlp`` (lesson 03): ``class BatchNormMLP(nn.Module)``.

Contract: constructible with no arguments; forward maps a float tensor (N, 20) to
probabilities (N, 1) by Linear(20 -> 64) -> BatchNorm1d(64) -> ReLU -> Linear(64 -> 1) -> Sigmoid,
with the BatchNorm normalizing with batch statistics in training mode.
"""
from __future__ import annotations

import torch
from torch import nn

from autograder.checks import passed
from autograder.checks._placement import (
    Stage, build_model, check_bn_stack, check_eval_mode, check_gradient_reaches_bn, check_input_dependence,
    check_probabilities, run_forward,
)

CLASS = "BatchNormMLP"
PRELUDE = "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
STAGES = [
    Stage("linear", "Linear(20, 64)", (64, 20)),
    Stage("batch_norm", "BatchNorm1d(64)"),
    Stage("relu", "ReLU"),
    Stage("linear", "Linear(64, 1)", (1, 64)),
    Stage("sigmoid", "Sigmoid"),
]


def _batch(seed: int, n: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    # Shifted and scaled so that the hidden pre-activations are far from normalized.
    return torch.randn(n, 20, generator=generator) * 3.0 + 2.0


def _check(namespace: dict, batch: torch.Tensor) -> nn.Module:
    __tracebackhide__ = True
    model = build_model(namespace, CLASS)
    output = run_forward(model, batch, CLASS, nn.BatchNorm1d)
    check_bn_stack(model, batch, class_name=CLASS, stages=STAGES, bn_class=nn.BatchNorm1d, num_features=64,
                   after_label="Linear(20, 64)", activation_label="ReLU", layer_kind="Linear")
    check_probabilities(output, len(batch), CLASS)
    return model


def visible(namespace: dict) -> None:
    """BatchNormMLP computes Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid."""
    __tracebackhide__ = True
    torch.manual_seed(0)
    _check(namespace, _batch(0))
    passed(f"{CLASS} maps (N, 20) to probabilities (N, 1) through "
           "Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid")


def hidden(namespace: dict) -> None:
    """The same with other batch sizes and data, in eval mode, and with gradients."""
    __tracebackhide__ = True
    torch.manual_seed(1)
    for seed, size in [(11, 2), (12, 64)]:
        model = _check(namespace, _batch(seed, size))
    check_input_dependence(model, lambda seed: _batch(100 + seed, 16), CLASS)
    check_gradient_reaches_bn(model, _batch(13, 16), "BatchNorm1d(64)")
    check_eval_mode(model, _batch(14, 16), CLASS, nn.BatchNorm1d)
    passed(f"{CLASS} also holds for other batches, learns gamma and beta, and uses running statistics in eval mode")
